/* log: one line per event on stderr, "2026-11-24T12:00:00Z LEVEL msg".
 * The level threshold is process-wide, set at startup and by a SIGHUP
 * reload (the only global in the library, atomic, like syslog's mask).
 *
 * Every message is escaped here, whatever its format and arguments: a
 * control byte (CR, LF, ESC, TAB ...), DEL, a C1 control and a byte of
 * invalid UTF-8 are written as \xNN, so a value from outside (a path, an
 * XML field, an error message quoting one) can neither start a forged line
 * nor reach a terminal as an escape sequence. Valid UTF-8 such as Chinese
 * stays readable; a backslash is not escaped, so the \xNN form is a hint
 * to the reader, not a reversible encoding. A line is cut at 2 KiB. */
#ifndef WXS_LOG_H
#define WXS_LOG_H
#include "util.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
void log_set_level(enum log_level lvl);
int log_parse_level(const char *s, enum log_level *out);
void log_msg(enum log_level lvl, const char *fmt, ...) WXS_PRINTF(2, 3);

/* Send stderr, and so every log line, to path (appended, created 0640):
 * dup2() over descriptor 2 replaces it at once for every thread, so a
 * SIGHUP after logrotate moved the file reopens it by calling this again.
 * -1 with errno set when the file cannot be opened (stderr unchanged). */
int log_open_file(const char *path) WXS_MUSTCHECK;
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Lines gathered during one event-loop turn and written together by
 * log_batch_flush(), in one write(2) when they fit LOG_BATCH_MAX: the
 * server's one line per request would otherwise cost a system call each.
 * Lines stay whole and in order; the caller owns the batch, zero-initialised,
 * and frees it with log_batch_free(). */
#define LOG_BATCH_MAX 65536
struct log_batch {
    struct buf lines;
};
void log_batch_add(struct log_batch *b, enum log_level lvl, const char *fmt, ...) WXS_PRINTF(3, 4);
/* The same for a message the caller built (no format). */
void log_batch_addn(struct log_batch *b, enum log_level lvl, const char *msg, size_t len);
void log_batch_flush(struct log_batch *b);
void log_batch_free(struct log_batch *b);
#endif
