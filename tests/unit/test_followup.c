/* followup: what each answer of message/custom/send does to a row
 * (followup_classify), the request body of each kind, the text rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "followup.h"
#include "wxapi.h"

static const struct {
    int rc;
    long errcode;
    bool unsent;
    enum followup_verdict want;
    const char *reason_prefix; /* NULL: no reason */
} cases[] = {
    {WXAPI_OK, 0, false, FOLLOWUP_V_SENT, NULL},
    {WXAPI_EAPI, -1, false, FOLLOWUP_V_RETRY, NULL},
    {WXAPI_EAPI, 40001, false, FOLLOWUP_V_RETRY, NULL},
    {WXAPI_EAPI, 40014, false, FOLLOWUP_V_RETRY, NULL},
    {WXAPI_EAPI, 42001, false, FOLLOWUP_V_RETRY, NULL},
    {WXAPI_EAPI, 45009, false, FOLLOWUP_V_RETRY, NULL},
    {WXAPI_EAPI, 45015, false, FOLLOWUP_V_PARK, "45015"},
    {WXAPI_EAPI, 45047, false, FOLLOWUP_V_PARK, "45047"},
    {WXAPI_EAPI, 40003, false, FOLLOWUP_V_PARK, "40003"},
    {WXAPI_EAPI, 40007, false, FOLLOWUP_V_PARK, "refused"},
    {WXAPI_ETOKEN, 0, false, FOLLOWUP_V_RETRY, NULL},
    {WXAPI_EINTERNAL, 0, false, FOLLOWUP_V_RETRY, NULL},
    {WXAPI_ENET, 0, true, FOLLOWUP_V_RETRY, NULL},             /* connection refused */
    {WXAPI_ENET, 0, false, FOLLOWUP_V_UNCERTAIN, "uncertain"}, /* timed out after sending */
    {WXAPI_EHTTP, 0, false, FOLLOWUP_V_UNCERTAIN, "uncertain"},
    {WXAPI_EPROTO, 0, false, FOLLOWUP_V_UNCERTAIN, "uncertain"},
};

static void test_classify(void **state)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *reason = "x";
        enum followup_verdict v =
            followup_classify(cases[i].rc, cases[i].errcode, cases[i].unsent, &reason);
        assert_int_equal(v, cases[i].want);
        if (!cases[i].reason_prefix) {
            assert_null(reason);
        } else {
            assert_non_null(reason);
            assert_memory_equal(reason, cases[i].reason_prefix, strlen(cases[i].reason_prefix));
        }
    }
}

static char *dump(json_t *j)
{
    assert_non_null(j);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

static void test_message_json(void **state)
{
    struct buf b = {0};
    char *s = dump(followup_message_json("oFan", "领券 ]]> \"x\""));
    assert_string_equal(s, "{\"msgtype\":\"text\",\"text\":{\"content\":\"领券 ]]> \\\"x\\\"\"},"
                           "\"touser\":\"oFan\"}");
    free(s);
    struct reply_news n = {"T", "D", "https://p/x.png", "https://u/"};
    assert_int_equal(reply_encode_news(&b, &n), 0);
    s = dump(followup_message_json("oFan", b.data));
    assert_string_equal(s,
                        "{\"msgtype\":\"news\",\"news\":{\"articles\":[{\"description\":\"D\","
                        "\"picurl\":\"https://p/x.png\",\"title\":\"T\",\"url\":\"https://u/\"}]},"
                        "\"touser\":\"oFan\"}");
    free(s);
    buf_reset(&b);
    assert_int_equal(reply_encode_image(&b, "MEDIA_1"), 0);
    s = dump(followup_message_json("oFan", b.data));
    assert_string_equal(s, "{\"image\":{\"media_id\":\"MEDIA_1\"},\"msgtype\":\"image\","
                           "\"touser\":\"oFan\"}");
    free(s);
    buf_free(&b);
    assert_null(followup_message_json("oFan", "\x01news\x1fonly"));
}

static void test_text_rules(void **state)
{
    char err[128];
    assert_int_equal(followup_text_validate("回复 1 领券\n第二行\t", err, sizeof(err)), 0);
    assert_int_equal(followup_text_validate("", err, sizeof(err)), -1);
    assert_int_equal(followup_text_validate("a\x01", err, sizeof(err)), -1);
    assert_int_equal(followup_text_validate("\xff", err, sizeof(err)), -1);
    char big[FOLLOWUP_TEXT_MAX + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(followup_text_validate(big, err, sizeof(err)), -1);
    big[FOLLOWUP_TEXT_MAX] = '\0';
    assert_int_equal(followup_text_validate(big, err, sizeof(err)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_message_json),
        cmocka_unit_test(test_text_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
