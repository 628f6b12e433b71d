#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Set by the loop thread (start, SIGHUP), read by every thread. */
static _Atomic enum log_level log_threshold = LOG_INFO;

void log_set_level(enum log_level lvl)
{
    log_threshold = lvl;
}

int log_parse_level(const char *s, enum log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (size_t i = 0; i < WXS_ARRAY_LEN(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

/* Format one line, newline included, into line[LOG_LINE_MAX]; 0 = none. */
#define LOG_LINE_MAX 2048
static size_t log_prefix(char *line, enum log_level lvl)
{
    static const char *const tags[] = {"DEBUG ", "INFO ", "WARN ", "ERROR "};
    /* the stamp changes once a second: formatted again only then, per thread */
    static _Thread_local time_t stamp_at = -1;
    static _Thread_local char stamp[32];
    static _Thread_local size_t stamp_len;
    time_t now = time(NULL);
    if (now != stamp_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        stamp_len = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ ", &tm);
        stamp_at = now;
    }
    size_t n = stamp_len;
    memcpy(line, stamp, n);
    size_t t = strlen(tags[lvl]);
    memcpy(line + n, tags[lvl], t);
    return n + t;
}

/* ---- escaping: what reaches a line from outside cannot forge one ---- */

/* Eight bytes at a time: nonzero when one of w's bytes is below 0x20 or
 * above 0x7e (a carry or borrow starts only at such a byte, so none is
 * missed and none is invented in a word without one). */
#define LOG_ONES UINT64_C(0x0101010101010101)
static inline uint64_t log_word_unsafe(uint64_t w)
{
    return (w | (w + LOG_ONES) | (w - 0x20 * LOG_ONES)) & (0x80 * LOG_ONES);
}

static bool log_byte_safe(unsigned char c)
{
    return c >= 0x20 && c < 0x7f;
}

/* The length of the run of printable ASCII that starts s[0..n). */
static size_t log_ascii_run(const char *s, size_t n)
{
    size_t i = 0;
    for (uint64_t w; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        if (log_word_unsafe(w))
            break;
    }
    while (i < n && log_byte_safe((unsigned char)s[i]))
        i++;
    return i;
}

/* How many bytes at s[0..n) may stay as they are: a run of printable
 * ASCII, or one UTF-8 character that is not a C1 control (U+0080..U+009F,
 * which some terminals obey like ESC). 0 = escape s[0]. */
static size_t log_keep(const char *s, size_t n)
{
    size_t k = log_ascii_run(s, n);
    if (k > 0)
        return k;
    k = util_utf8_seq(s, n);
    if (k < 2 || ((unsigned char)s[0] == 0xC2 && (unsigned char)s[1] < 0xA0))
        return 0;
    return k;
}

/* The offset of the first byte of s[0..n) that needs escaping, or n. The
 * common line (ASCII, or valid UTF-8 such as Chinese) is only scanned. */
static size_t log_unsafe_at(const char *s, size_t n)
{
    size_t i = 0, k;
    while (i < n && (k = log_keep(s + i, n - i)) > 0)
        i += k;
    return i;
}

/* Write s[0..n) into out[0..cap) with every byte that log_keep() rejects as
 * \xNN; whole characters and whole escapes only. Returns the length. */
static size_t log_escape(char *out, size_t cap, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0, k; i < n; i += k) {
        if ((k = log_keep(s + i, n - i)) == 0) {
            if (o + 4 > cap)
                break;
            unsigned char c = (unsigned char)s[i];
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
            k = 1;
            continue;
        }
        if (o + k > cap) {
            if ((unsigned char)s[i] >= 0x80 || o == cap)
                break;   /* a character is kept whole or not at all */
            k = cap - o; /* an ASCII run is cut */
        }
        memcpy(out + o, s + i, k);
        o += k;
    }
    return o;
}

/* The message at line[at..at+m) made safe, cut to fit, and the newline:
 * returns the line's length. Control bytes (CR and LF above all), DEL and
 * broken UTF-8 are written as \xNN, so a value from outside cannot start a
 * line of its own nor reach a terminal as an escape sequence. */
static size_t log_finish(char *line, size_t at, size_t m)
{
    size_t room = LOG_LINE_MAX - 1 - at; /* the newline's byte kept free */
    if (m > room)
        m = room;
    size_t bad = log_unsafe_at(line + at, m);
    if (bad < m) {
        char tail[LOG_LINE_MAX];
        memcpy(tail, line + at + bad, m - bad);
        m = bad + log_escape(line + at + bad, room - bad, tail, m - bad);
    }
    line[at + m] = '\n';
    return at + m + 1;
}

static size_t log_format(char *line, enum log_level lvl, const char *fmt, va_list ap)
{
    size_t n = log_prefix(line, lvl);
    int m = vsnprintf(line + n, LOG_LINE_MAX - n, fmt, ap);
    if (m < 0)
        return 0;
    return log_finish(line, n, (size_t)m);
}

/* One write(2)-sized line per call so concurrent processes do not interleave. */
void log_msg(enum log_level lvl, const char *fmt, ...)
{
    if (lvl < log_threshold)
        return;
    char line[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    size_t n = log_format(line, lvl, fmt, ap);
    va_end(ap);
    if (n)
        fwrite(line, 1, n, stderr);
}

/* One finished line into the batch (flushed first when it would overflow). */
static void batch_put(struct log_batch *b, const char *line, size_t n)
{
    if (b->lines.len + n > LOG_BATCH_MAX)
        log_batch_flush(b);
    if (buf_append(&b->lines, line, n) < 0)
        fwrite(line, 1, n, stderr); /* out of memory: the line still goes out */
}

void log_batch_add(struct log_batch *b, enum log_level lvl, const char *fmt, ...)
{
    if (lvl < log_threshold)
        return;
    char line[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    size_t n = log_format(line, lvl, fmt, ap);
    va_end(ap);
    if (n == 0)
        return;
    batch_put(b, line, n);
}

void log_batch_addn(struct log_batch *b, enum log_level lvl, const char *msg, size_t len)
{
    if (lvl < log_threshold)
        return;
    char line[LOG_LINE_MAX];
    size_t n = log_prefix(line, lvl);
    if (len > LOG_LINE_MAX - 1 - n)
        len = LOG_LINE_MAX - 1 - n;
    memcpy(line + n, msg, len);
    batch_put(b, line, log_finish(line, n, len));
}

void log_batch_flush(struct log_batch *b)
{
    if (b->lines.len == 0)
        return;
    fwrite(b->lines.data, 1, b->lines.len, stderr);
    buf_reset(&b->lines);
}

void log_batch_free(struct log_batch *b)
{
    log_batch_flush(b);
    buf_free(&b->lines);
}

int log_open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    fflush(stderr);
    int rc = dup2(fd, STDERR_FILENO);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc < 0 ? -1 : 0;
}
