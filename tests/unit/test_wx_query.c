/* wx_query: the callback's query string, table-driven (evhttp's rules:
 * key=value arguments, %-decoding with '+' as space, case-insensitive keys,
 * first occurrence wins; a value decoding to a NUL is refused). fuzz/
 * fuzz_query.c checks it against evhttp on arbitrary input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "wx_query.h"

static const struct {
    const char *qs;
    int rc;
    const char *signature, *timestamp, *nonce, *echostr;
} cases[] = {
    {"signature=abc&timestamp=123&nonce=n1&echostr=e", 0, "abc", "123", "n1", "e"},
    {NULL, 0, NULL, NULL, NULL, NULL},
    {"", 0, NULL, NULL, NULL, NULL},
    {"openid=o&nonce=a+b%20c%41", 0, NULL, NULL, "a b cA", NULL},
    {"SIGNATURE=x&Nonce=y", 0, "x", NULL, "y", NULL},
    {"nonce=first&nonce=second", 0, NULL, NULL, "first", NULL},
    {"signature=1&", 0, "1", NULL, NULL, NULL},
    {"signature=a=b", 0, "a=b", NULL, NULL, NULL},
    {"nonce=%4&timestamp=%zz%", 0, NULL, "%zz%", "%4", NULL},
    {"echostr=", 0, NULL, NULL, NULL, ""},
    {"signature", -1, NULL, NULL, NULL, NULL},
    {"=1", -1, NULL, NULL, NULL, NULL},
    {"a=1&&b=2", -1, NULL, NULL, NULL, NULL},
    {"&a=1", -1, NULL, NULL, NULL, NULL},
    /* a value that decodes to a NUL is refused, not cut short */
    {"echostr=ab%00cd", WX_QUERY_NUL, NULL, NULL, NULL, NULL},
    {"signature=abc&timestamp=1%00junk&nonce=n", WX_QUERY_NUL, NULL, NULL, NULL, NULL},
    {"signature=abc%00", WX_QUERY_NUL, NULL, NULL, NULL, NULL},
    {"openid=o%00&nonce=n", WX_QUERY_NUL, NULL, NULL, NULL, NULL},
    {"nonce=1&nonce=2%00", WX_QUERY_NUL, NULL, NULL, NULL, NULL},
    {"nonce=%00", WX_QUERY_NUL, NULL, NULL, NULL, NULL},
    {"echostr=%2500&nonce=%0", 0, NULL, NULL, "%0", "%00"},
    {"a%00=1&nonce=n", 0, NULL, NULL, "n", NULL},
    {"nonce=%01%7f", 0, NULL, NULL, "\x01\x7f", NULL},
};

static void check_str(const char *got, const char *want, size_t i)
{
    if (!want) {
        if (got)
            fail_msg("case %zu: got '%s', want none", i, got);
        return;
    }
    if (!got || strcmp(got, want) != 0)
        fail_msg("case %zu: got '%s', want '%s'", i, got ? got : "(none)", want);
}

static void test_table(void **state)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wx_query q;
        int rc = wx_query_parse(&q, cases[i].qs);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): rc %d, want %d", i, cases[i].qs, rc, cases[i].rc);
        if (rc == 0) {
            check_str(q.signature, cases[i].signature, i);
            check_str(q.timestamp, cases[i].timestamp, i);
            check_str(q.nonce, cases[i].nonce, i);
            check_str(q.echostr, cases[i].echostr, i);
        }
        wx_query_clear(&q);
        assert_null(q.signature);
    }
}

/* A query longer than the inline buffer decodes into the heap. */
static void test_long_query(void **state)
{
    char qs[4096], want[2048];
    memset(want, 'x', sizeof(want) - 1);
    want[sizeof(want) - 1] = '\0';
    int n = snprintf(qs, sizeof(qs), "openid=o&echostr=%s&nonce=%%41", want);
    assert_true(n > WX_QUERY_INLINE && n < (int)sizeof(qs));
    struct wx_query q;
    assert_int_equal(wx_query_parse(&q, qs), 0);
    assert_non_null(q.heap);
    assert_string_equal(q.echostr, want);
    assert_string_equal(q.nonce, "A");
    wx_query_clear(&q);
    assert_null(q.heap);
    /* the same with a NUL in its last value: refused, nothing left over */
    n = snprintf(qs, sizeof(qs), "openid=o&echostr=%s&nonce=%%41%%00", want);
    assert_true(n > WX_QUERY_INLINE && n < (int)sizeof(qs));
    assert_int_equal(wx_query_parse(&q, qs), WX_QUERY_NUL);
    assert_null(q.heap);
    assert_null(q.echostr);
    wx_query_clear(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_long_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
