/* wxapi's pure parts: percent-encoding of tickets and secrets, and the
 * reading of API answers ({errcode, errmsg} by code, "\/" escapes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "wxapi.h"

static void test_urlencode_table(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},
        {"abcXYZ019-._~", "abcXYZ019-._~"},
        {"+", "%2B"},
        {"/", "%2F"},
        {"=", "%3D"},
        {"gQH+/8A==", "gQH%2B%2F8A%3D%3D"},
        {"a b&c?d#e%f", "a%20b%26c%3Fd%23e%25f"},
        {"\xe4\xb8\xad", "%E4%B8%AD"}, /* UTF-8 bytes, upper-case hex */
        {"\x7f\x01", "%7F%01"},
    };
    (void)state;
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        struct buf b = {0};
        assert_int_equal(wxapi_urlencode(&b, cases[i].in), 0);
        assert_non_null(b.data);
        assert_string_equal(b.data, cases[i].out);
        buf_free(&b);
    }
}

static void test_urlencode_appends(void **state)
{
    struct buf b = {0};
    (void)state;
    assert_int_equal(buf_puts(&b, "ticket="), 0);
    assert_int_equal(wxapi_urlencode(&b, "a+b"), 0);
    assert_string_equal(b.data, "ticket=a%2Bb");
    buf_free(&b);
}

static void test_parse_unescapes_slashes(void **state)
{
    static const char body[] = "{\"ticket\":\"gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2"
                               "taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==\","
                               "\"expire_seconds\":60,"
                               "\"url\":\"http:\\/\\/weixin.qq.com\\/q\\/kZgfwMTm72WWPkovabbI\"}";
    struct wxapi_error e = {0};
    json_t *root = NULL;
    (void)state;
    assert_int_equal(wxapi_parse_answer("qr", body, strlen(body), &root, &e), 0);
    assert_string_equal(json_string_value(json_object_get(root, "url")),
                        "http://weixin.qq.com/q/kZgfwMTm72WWPkovabbI");
    assert_int_equal(json_integer_value(json_object_get(root, "expire_seconds")), 60);
    json_decref(root);
}

/* Each answer and how it must be classified. */
static void test_parse_answer_table(void **state)
{
    static const struct {
        const char *body;
        int rc;
        long errcode;
        const char *in_msg; /* must appear in the message */
    } cases[] = {
        {"{\"errcode\":0,\"errmsg\":\"ok\"}", 0, 0, NULL},
        {"{\"access_token\":\"T\",\"expires_in\":7200}", 0, 0, NULL},
        {"{\"errcode\":40001,\"errmsg\":\"invalid credential, access_token is invalid or not "
         "latest rid: 5f3a\"}",
         WXAPI_EAPI, 40001, "rid: 5f3a"},
        {"{\"errcode\":45009,\"errmsg\":\"reach max api daily quota limit rid: 1\"}", WXAPI_EAPI,
         45009, "quota"},
        {"{\"errcode\":\"42001\",\"errmsg\":\"access_token expired hint: [x]\"}", WXAPI_EAPI, 42001,
         "42001"},
        {"{\"errcode\":-1,\"errmsg\":\"system error\"}", WXAPI_EAPI, -1, "busy"},
        {"{\"errcode\":40053}", WXAPI_EAPI, 40053, "no errmsg"},
        {"{\"errcode\":true}", WXAPI_EPROTO, 0, "errcode"},
        {"{\"errcode\":0,\"ticket\":\"tru", WXAPI_EPROTO, 0, "not a JSON object"},
        {"<html>502</html>", WXAPI_EPROTO, 0, "not a JSON object"},
        {"[1,2]", WXAPI_EPROTO, 0, "wrong type"},
        {"", WXAPI_EPROTO, 0, "not a JSON object"},
    };
    (void)state;
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        struct wxapi_error e = {0};
        json_t *root = NULL;
        int rc = wxapi_parse_answer("cgi-bin/x", cases[i].body, strlen(cases[i].body), &root, &e);
        if (rc != cases[i].rc)
            fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, e.msg);
        if (rc == 0) {
            assert_non_null(root);
            json_decref(root);
            continue;
        }
        assert_null(root);
        assert_int_equal(e.rc, cases[i].rc);
        if (cases[i].rc == WXAPI_EAPI)
            assert_int_equal(e.errcode, cases[i].errcode);
        assert_non_null(strstr(e.msg, "cgi-bin/x"));
        if (!strstr(e.msg, cases[i].in_msg))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, cases[i].in_msg);
    }
}

static void test_token_errcodes(void **state)
{
    (void)state;
    assert_true(wxapi_errcode_is_token(40001));
    assert_true(wxapi_errcode_is_token(40014));
    assert_true(wxapi_errcode_is_token(42001));
    assert_false(wxapi_errcode_is_token(45009));
    assert_false(wxapi_errcode_is_token(-1));
    assert_false(wxapi_errcode_is_token(40013));
    assert_non_null(strstr(wxapi_errcode_hint(45009), "quota"));
    assert_null(wxapi_errcode_hint(12345));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urlencode_table),         cmocka_unit_test(test_urlencode_appends),
        cmocka_unit_test(test_parse_unescapes_slashes), cmocka_unit_test(test_parse_answer_table),
        cmocka_unit_test(test_token_errcodes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
