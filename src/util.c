#include "util.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

/* Grow to hold need more bytes plus a NUL; doubling keeps appends amortised O(1). */
static int buf_reserve(struct buf *b, size_t need)
{
    if (need > SIZE_MAX - b->len - 1)
        return -1;
    size_t want = b->len + need + 1;
    if (want <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof(small))
        return buf_append(b, small, (size_t)n);
    if (buf_reserve(b, (size_t)n) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int util_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int util_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s)
        return -1;
    const char *d = (*s == '-') ? s + 1 : s;
    if (*d < '0' || *d > '9')
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

char *util_put(char *p, char *end, const char *s, size_t n)
{
    size_t room = (size_t)(end - p);
    if (n > room)
        n = room;
    memcpy(p, s, n);
    return p + n;
}

char *util_puts(char *p, char *end, const char *s)
{
    return util_put(p, end, s, strlen(s));
}

char *util_put_i64(char *p, char *end, int64_t v)
{
    char tmp[24], *t = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do
        *--t = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--t = '-';
    return util_put(p, end, t, (size_t)(tmp + sizeof(tmp) - t));
}

size_t util_strlcpy(char *dst, const char *src, size_t dstlen)
{
    size_t n = strlen(src);
    if (dstlen) {
        size_t c = n < dstlen - 1 ? n : dstlen - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

bool util_secure_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

int64_t util_now(void)
{
    return (int64_t)time(NULL);
}

uint64_t util_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* RAND_bytes is ~6,000 instructions a call whatever the size (OpenSSL 3's
 * DRBG behind a provider and locks), and a safe-mode reply asks for 16 +
 * 32 bytes. Small requests are served from a per-thread pool of RAND_bytes
 * output, refilled 512 bytes at a time: the same generator's bytes, each
 * handed out once and wiped from the pool as it goes. A forked child starts
 * with an empty pool, so it never repeats its parent's bytes. */
#define RAND_POOL_BYTES 512
static _Thread_local unsigned char rand_pool[RAND_POOL_BYTES];
static _Thread_local size_t rand_left; /* the unused bytes are the last rand_left */
static pthread_once_t rand_fork_once = PTHREAD_ONCE_INIT;

static void rand_pool_drop(void)
{
    OPENSSL_cleanse(rand_pool, sizeof(rand_pool));
    rand_left = 0;
}

static void rand_fork_hook(void)
{
    pthread_atfork(NULL, NULL, rand_pool_drop);
}

int util_random(void *p, size_t n)
{
    if (n > INT_MAX)
        return -1;
    if (n > RAND_POOL_BYTES / 8)
        return RAND_bytes(p, (int)n) == 1 ? 0 : -1;
    pthread_once(&rand_fork_once, rand_fork_hook);
    if (rand_left < n) {
        if (RAND_bytes(rand_pool, RAND_POOL_BYTES) != 1) {
            rand_pool_drop();
            return -1;
        }
        rand_left = RAND_POOL_BYTES;
    }
    unsigned char *from = rand_pool + RAND_POOL_BYTES - rand_left;
    memcpy(p, from, n);
    OPENSSL_cleanse(from, n);
    rand_left -= n;
    return 0;
}

int util_random_alnum(char *out, size_t n)
{
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    size_t i = 0;
    while (i < n) {
        unsigned char r[32];
        if (util_random(r, sizeof(r)) < 0)
            return -1;
        for (size_t k = 0; k < sizeof(r) && i < n; k++)
            if (r[k] < 248) /* 248 = 4 * 62: no modulo bias */
                out[i++] = alnum[r[k] % 62];
    }
    out[n] = '\0';
    return 0;
}

size_t util_utf8_seq(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t len;
    uint32_t cp;
    if (n == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if ((c & 0xE0) == 0xC0)
        len = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
        len = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

bool util_utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0, k; i < n; i += k)
        if ((k = util_utf8_seq(s + i, n - i)) == 0)
            return false;
    return true;
}

void util_user_name(unsigned uid, char *out, size_t outlen)
{
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &res) == 0 && res)
        snprintf(out, outlen, "%s (uid %u)", res->pw_name, uid);
    else
        snprintf(out, outlen, "uid %u", uid);
}
