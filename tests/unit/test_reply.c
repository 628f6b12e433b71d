/* reply: templates and CDATA escaping; the output must parse back to the
 * same text with libxml2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/parser.h>

#include "reply.h"

static const struct {
    const char *tmpl, *scene, *channel, *want;
} expand_cases[] = {
    {"Welcome from channel {scene}", "42", NULL, "Welcome from channel 42"},
    {"{channel}: {scene}{scene}", "7", "Shop", "Shop: 77"},
    {"{unknown} {scene", "1", "c", "{unknown} {scene"},
    {"no vars", "1", "c", "no vars"},
    {"{channel}", "1", NULL, ""},
    {"", "1", "c", ""},
    {"中文 {channel}", "1", "店", "中文 店"},
};

static void test_expand(void **state)
{
    for (size_t i = 0; i < sizeof(expand_cases) / sizeof(expand_cases[0]); i++) {
        struct buf b = {0};
        assert_int_equal(
            reply_expand(&b, expand_cases[i].tmpl, expand_cases[i].scene, expand_cases[i].channel),
            0);
        assert_string_equal(b.data, expand_cases[i].want);
        buf_free(&b);
    }
}

static char *content_of(const char *xml)
{
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), NULL, NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    char *out = NULL;
    for (xmlNode *n = xmlDocGetRootElement(doc)->children; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, "Content") == 0)
            out = (char *)xmlNodeGetContent(n);
    xmlFreeDoc(doc);
    return out;
}

static const char *const texts[] = {
    "plain", "a]]>b", "]]>", "]]>]]>", "x]]]]>y", "]]", "<tag>&amp;", "", "中文]]>结尾",
};

static void test_cdata_roundtrip(void **state)
{
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct buf b = {0};
        assert_int_equal(reply_text_xml(&b, "oUser", "gh_acc", 12345678, texts[i]), 0);
        char *got = content_of(b.data);
        assert_non_null(got);
        assert_string_equal(got, texts[i]);
        xmlFree(got);
        buf_free(&b);
    }
}

static void test_golden(void **state)
{
    struct buf b = {0};
    assert_int_equal(reply_text_xml(&b, "toUser", "fromUser", 12345678, "你好"), 0);
    assert_string_equal(b.data, "<xml><ToUserName><![CDATA[toUser]]></ToUserName>"
                                "<FromUserName><![CDATA[fromUser]]></FromUserName>"
                                "<CreateTime>12345678</CreateTime>"
                                "<MsgType><![CDATA[text]]></MsgType>"
                                "<Content><![CDATA[你好]]></Content></xml>");
    buf_reset(&b);
    assert_int_equal(reply_cdata(&b, "a]]>b"), 0);
    assert_string_equal(b.data, "<![CDATA[a]]]]><![CDATA[>b]]>");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_cdata_roundtrip),
        cmocka_unit_test(test_golden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
