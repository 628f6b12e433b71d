#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level log_threshold = LOG_INFO;

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

static size_t log_format(char *line, enum log_level lvl, const char *fmt, va_list ap)
{
    size_t n = log_prefix(line, lvl);
    int m = vsnprintf(line + n, LOG_LINE_MAX - n, fmt, ap);
    if (m < 0)
        return 0;
    n += (size_t)m;
    if (n > LOG_LINE_MAX - 2)
        n = LOG_LINE_MAX - 2;
    line[n++] = '\n';
    return n;
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
    n += len;
    line[n++] = '\n';
    batch_put(b, line, n);
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
