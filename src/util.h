/* util: small helpers shared by every module (bounded buffers, whole-string
 * number parsing, time). Nothing here allocates behind the caller's back
 * except struct buf, whose owner frees it with buf_free(). */
#ifndef WXS_UTIL_H
#define WXS_UTIL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WXS_MUSTCHECK    __attribute__((warn_unused_result))
#define WXS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define WXS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Growable byte buffer, always NUL-terminated when len > 0 or after any
 * append. A failed append leaves the contents as they were and returns -1. */
struct buf {
    char *data;
    size_t len;
    size_t cap;
};
int buf_append(struct buf *b, const void *p, size_t n) WXS_MUSTCHECK;
int buf_puts(struct buf *b, const char *s) WXS_MUSTCHECK;
int buf_printf(struct buf *b, const char *fmt, ...) WXS_PRINTF(2, 3) WXS_MUSTCHECK;
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

/* Whole-string decimal parsing (memcached safe_strtoul): no sign unless
 * allowed, no leading/trailing junk, no empty string, range checked.
 * Return 0 and set *out, or -1. */
int util_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) WXS_MUSTCHECK;
int util_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out) WXS_MUSTCHECK;

/* Copy at most dstlen-1 bytes and NUL-terminate; returns strlen(src) so the
 * caller can detect truncation (like strlcpy). */
size_t util_strlcpy(char *dst, const char *src, size_t dstlen);

/* Building a short string on a hot path without printf (a vsnprintf is a
 * few thousand instructions): each appends at p, never writes at or past
 * end, and returns the new p (end when it was cut short). The caller
 * terminates the string. */
char *util_put(char *p, char *end, const char *s, size_t n);
char *util_puts(char *p, char *end, const char *s);
char *util_put_i64(char *p, char *end, int64_t v);

/* Constant-time equality of two byte strings of possibly different length
 * (the length difference itself is not secret). */
bool util_secure_eq(const char *a, size_t alen, const char *b, size_t blen);

/* Seconds since the epoch / monotonic microseconds. */
/* "name (uid N)" of a user id, for messages about who owns a file. */
void util_user_name(unsigned uid, char *out, size_t outlen);

int64_t util_now(void);
uint64_t util_mono_us(void);

/* Fill p with n bytes from the OpenSSL CSPRNG (small requests through a
 * per-thread pool of its output); -1 on failure. */
int util_random(void *p, size_t n) WXS_MUSTCHECK;
/* n random characters from [A-Za-z0-9], NUL-terminated (out has n+1). */
int util_random_alnum(char *out, size_t n) WXS_MUSTCHECK;

/* True when s is n bytes of valid UTF-8 (no overlongs, no surrogates). */
bool util_utf8_valid(const char *s, size_t n);
/* The length (1..4) of the valid UTF-8 sequence that starts s[0..n), or 0
 * when it is not one (or n is 0). */
size_t util_utf8_seq(const char *s, size_t n);

#endif
