#include "wx_query.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    size_t len;
    size_t offset;
} params[] = {
#define P(n)                                                                                       \
    {                                                                                              \
#n, sizeof(#n) - 1, offsetof(struct wx_query, n)                                           \
    }
    P(signature), P(timestamp), P(nonce), P(echostr), P(encrypt_type), P(msg_signature),
#undef P
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* evhttp_decode_uri_internal() with decode_plus: "%XX" with two hex digits
 * becomes the byte, '+' a space, anything else is copied. */
static char *decode(const char *v, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < n && hexval(v[i + 1]) >= 0 && hexval(v[i + 2]) >= 0) {
            c = (char)(hexval(v[i + 1]) * 16 + hexval(v[i + 2]));
            i += 2;
        }
        *out++ = c;
    }
    *out++ = '\0';
    return out;
}

static bool key_is(const char *k, size_t klen, const char *name, size_t nlen)
{
    if (klen != nlen)
        return false;
    for (size_t i = 0; i < klen; i++) {
        char a = k[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (a != name[i])
            return false;
    }
    return true;
}

/* True when [v, end) holds "%00". memchr, not memmem: glibc's memmem sets
 * up a two-way search per call, ~200 instructions for a short value. */
static bool has_nul_escape(const char *v, const char *end)
{
    for (const char *p = v; (p = memchr(p, '%', (size_t)(end - p))) != NULL; p++)
        if (end - p >= 3 && p[1] == '0' && p[2] == '0')
            return true;
    return false;
}

/* One "key=value" argument [arg, end): keep its value if it is one of ours
 * and the first of its name. WX_QUERY_MALFORMED when it is not key=value,
 * WX_QUERY_NUL when its value decodes to a NUL ("%00", the only way to
 * one), which a C string would silently cut short. */
static int take(struct wx_query *q, const char *arg, const char *end, char **out)
{
    const char *eq = memchr(arg, '=', (size_t)(end - arg));
    if (!eq || eq == arg)
        return WX_QUERY_MALFORMED;
    if (has_nul_escape(eq + 1, end))
        return WX_QUERY_NUL;
    for (size_t i = 0; i < WXS_ARRAY_LEN(params); i++) {
        const char **slot = (const char **)((char *)q + params[i].offset);
        if (!*slot && key_is(arg, (size_t)(eq - arg), params[i].name, params[i].len)) {
            *slot = *out;
            *out = decode(eq + 1, (size_t)(end - eq - 1), *out);
            break;
        }
    }
    return 0;
}

int wx_query_parse(struct wx_query *q, const char *qs)
{
    memset(q, 0, offsetof(struct wx_query, inline_buf));
    if (!qs || !*qs)
        return 0;
    size_t n = strlen(qs);
    char *out = q->inline_buf;
    if (n + 1 > sizeof(q->inline_buf)) {
        if (!(q->heap = malloc(n + 1)))
            return WX_QUERY_MALFORMED;
        out = q->heap;
    }
    for (const char *arg = qs; *arg;) {
        const char *amp = strchr(arg, '&');
        const char *end = amp ? amp : qs + n;
        int rc = take(q, arg, end, &out);
        if (rc < 0) {
            wx_query_clear(q);
            return rc;
        }
        arg = amp ? amp + 1 : end;
    }
    return 0;
}

void wx_query_clear(struct wx_query *q)
{
    free(q->heap);
    memset(q, 0, offsetof(struct wx_query, inline_buf));
}
