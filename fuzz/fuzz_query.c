/* libFuzzer target for the callback's query handling, built from the same
 * public pieces server.c uses (its query_parse/check_signature are static):
 * evhttp parses the request URI (EVHTTP_URI_NONCONFORMANT, as evhttp does
 * for a request line) and the query string, the signature fields are
 * looked up, the timestamp goes through util_parse_i64 and the signature
 * through wx_sign_check / wx_sign_verify.
 *
 * wx_query_parse (the callback's own reader of the query) must agree with
 * evhttp_parse_query_str + evhttp_find_header on every input: same
 * accept/reject, the same six values; except that a query with "%00" in
 * any value is refused (WX_QUERY_NUL) where evhttp accepts it cut short.
 *
 * Invariants checked on every input:
 *   - a signature computed by wx_sign_compute over the fuzzed fields always
 *     verifies, in lower and in upper case, and never with one digit changed;
 *   - the fuzzed signature verifies only if it equals the computed one;
 *   - the timestamp parser accepts only values within its range.
 * The raw input is also split into up to four parts whose last one is used
 * as a signature, to reach wx_sign_verify's argument checks.
 * Build: fuzz/run.sh (CMake target fuzz_query in build-fuzz/).
 * Seeds: fuzz/corpus/query/. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "util.h"
#include "wx_query.h"
#include "wx_sign.h"

#define TOKEN          "fuzztoken"
#define FUZZ_MAX_INPUT (16 * 1024)

static void check_signature_fields(const char *ts, const char *nonce, const char *sig)
{
    const char *parts[] = {TOKEN, ts, nonce};
    char good[WX_SIGN_HEX_LEN + 1];
    int64_t t;
    if (util_parse_i64(ts, 0, INT64_C(99999999999), &t) == 0 && (t < 0 || t > INT64_C(99999999999)))
        abort();
    if (wx_sign_compute(parts, 3, good) != 0) {
        if (wx_sign_check(TOKEN, ts, nonce, sig))
            abort();
        return;
    }
    if (*ts && *nonce && !wx_sign_check(TOKEN, ts, nonce, good))
        abort();
    bool fuzzed_ok = wx_sign_check(TOKEN, ts, nonce, sig);
    if (fuzzed_ok && strcasecmp(sig, good) != 0)
        abort();
    char upper[WX_SIGN_HEX_LEN + 1], bad[WX_SIGN_HEX_LEN + 1];
    for (size_t i = 0; i <= WX_SIGN_HEX_LEN; i++)
        upper[i] = (char)toupper((unsigned char)good[i]);
    memcpy(bad, good, sizeof(bad));
    size_t at = (unsigned char)nonce[0] % WX_SIGN_HEX_LEN;
    bad[at] = bad[at] == '0' ? '1' : '0';
    if (*ts && *nonce && !wx_sign_check(TOKEN, ts, nonce, upper))
        abort();
    if (wx_sign_check(TOKEN, ts, nonce, bad))
        abort();
}

static bool same_value(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* True when some argument's value (after its first '=') holds "%00", read
 * the simplest way, apart from wx_query's own scan. */
static bool some_value_has_nul(const char *qs)
{
    for (const char *arg = qs; *arg;) {
        const char *amp = strchr(arg, '&');
        size_t n = amp ? (size_t)(amp - arg) : strlen(arg);
        const char *eq = memchr(arg, '=', n);
        for (const char *p = eq; p && p + 3 <= arg + n; p++)
            if (p[0] == '%' && p[1] == '0' && p[2] == '0')
                return true;
        if (!amp)
            break;
        arg = amp + 1;
    }
    return false;
}

/* wx_query_parse against evhttp's reader of the same query string: the
 * same answer, except that a query evhttp accepts with a NUL in a value
 * is refused (WX_QUERY_NUL), and only such a query (one evhttp rejects
 * may be either error: each stops at its first bad argument). */
static void check_wx_query(const char *qs, int evhttp_rc, struct evkeyvalq *kv)
{
    static const char *const names[] = {"signature", "timestamp",    "nonce",
                                        "echostr",   "encrypt_type", "msg_signature"};
    struct wx_query q;
    int rc = wx_query_parse(&q, qs);
    if (evhttp_rc != 0 && rc == 0)
        abort();
    if (evhttp_rc == 0 && (rc == WX_QUERY_NUL) != some_value_has_nul(qs))
        abort();
    if (evhttp_rc == 0 && rc != 0 && rc != WX_QUERY_NUL)
        abort();
    if (rc == 0) {
        const char *mine[] = {q.signature, q.timestamp,    q.nonce,
                              q.echostr,   q.encrypt_type, q.msg_signature};
        for (size_t i = 0; i < 6; i++)
            if (!same_value(mine[i], evhttp_find_header(kv, names[i])))
                abort();
    }
    wx_query_clear(&q);
}

/* The query string as the server sees it. */
static void fuzz_uri(const char *s)
{
    struct evhttp_uri *uri = evhttp_uri_parse_with_flags(s, EVHTTP_URI_NONCONFORMANT);
    const char *qs = uri ? evhttp_uri_get_query(uri) : NULL;
    struct evkeyvalq kv;
    TAILQ_INIT(&kv);
    int rc = qs ? evhttp_parse_query_str(qs, &kv) : 0;
    if (qs)
        check_wx_query(qs, rc, &kv);
    if (qs && rc == 0) {
        const char *sig = evhttp_find_header(&kv, "signature");
        const char *ts = evhttp_find_header(&kv, "timestamp");
        const char *nonce = evhttp_find_header(&kv, "nonce");
        const char *msig = evhttp_find_header(&kv, "msg_signature");
        const char *enc = evhttp_find_header(&kv, "echostr");
        if (sig && ts && nonce)
            check_signature_fields(ts, nonce, sig);
        if (msig && ts && nonce && enc) {
            const char *parts[] = {TOKEN, ts, nonce, enc};
            (void)wx_sign_verify(parts, 4, msig);
        }
    }
    evhttp_clear_headers(&kv);
    if (uri)
        evhttp_uri_free(uri);
}

/* Up to four NUL-separated parts, the last used as the signature. */
static void fuzz_parts(char *s, size_t n)
{
    const char *parts[5] = {0};
    size_t k = 0;
    parts[k++] = s;
    for (size_t i = 0; i < n && k < 5; i++)
        if (s[i] == '\0')
            parts[k++] = s + i + 1;
    if (k >= 2)
        (void)wx_sign_verify(parts, k - 1, parts[k - 1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    char *s = malloc(size + 5);
    if (!s)
        return 0;
    memcpy(s, "/wx?", 4);
    memcpy(s + 4, data, size);
    s[size + 4] = '\0';
    fuzz_uri(s);
    fuzz_parts(s + 4, size);
    free(s);
    return 0;
}
