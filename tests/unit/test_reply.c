/* reply: templates and CDATA escaping; the output must parse back to the
 * same text with libxml2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The text of root's descendant at path ("Articles/item/Title"), or NULL. */
static char *text_at(xmlDoc *doc, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    xmlNode *n = xmlDocGetRootElement(doc);
    for (char *seg = buf, *next; seg && n; seg = next) {
        next = strchr(seg, '/');
        if (next)
            *next++ = '\0';
        xmlNode *c = n->children;
        while (c && !(c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, seg) == 0))
            c = c->next;
        n = c;
    }
    return n ? (char *)xmlNodeGetContent(n) : NULL;
}

static void assert_text_at(xmlDoc *doc, const char *path, const char *want)
{
    char *got = text_at(doc, path);
    assert_non_null(got);
    assert_string_equal(got, want);
    xmlFree(got);
}

/* Every awkward text survives a news card: parsed back by libxml2, each
 * field is what went in, through the stored form and reply_xml(). */
static void test_news_roundtrip(void **state)
{
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct reply_news n = {texts[i], texts[(i + 1) % 9], "https://a.example/p.png?a=1&b=2",
                               "http://b.example/x?y=]]>"};
        struct buf stored = {0}, xml = {0};
        assert_int_equal(reply_encode_news(&stored, &n), 0);
        assert_int_equal(reply_stored_kind(stored.data), REPLY_NEWS);
        assert_int_equal(reply_xml(&xml, "oUser", "gh_acc", 7, stored.data), 0);
        xmlDoc *doc = xmlReadMemory(xml.data, (int)xml.len, NULL, NULL, XML_PARSE_NONET);
        assert_non_null(doc);
        assert_text_at(doc, "MsgType", "news");
        assert_text_at(doc, "ToUserName", "oUser");
        assert_text_at(doc, "ArticleCount", "1");
        assert_text_at(doc, "Articles/item/Title", n.title);
        assert_text_at(doc, "Articles/item/Description", n.description);
        assert_text_at(doc, "Articles/item/PicUrl", n.picurl);
        assert_text_at(doc, "Articles/item/Url", n.url);
        xmlFreeDoc(doc);
        buf_free(&stored);
        buf_free(&xml);
    }
}

static void test_news_image_golden(void **state)
{
    struct buf b = {0};
    struct reply_news n = {"标题", "", "", "https://x.cn/"};
    assert_int_equal(reply_news_xml(&b, "to", "from", 5, &n), 0);
    assert_string_equal(b.data, "<xml><ToUserName><![CDATA[to]]></ToUserName>"
                                "<FromUserName><![CDATA[from]]></FromUserName>"
                                "<CreateTime>5</CreateTime><MsgType><![CDATA[news]]></MsgType>"
                                "<ArticleCount>1</ArticleCount><Articles><item>"
                                "<Title><![CDATA[标题]]></Title>"
                                "<Description><![CDATA[]]></Description>"
                                "<PicUrl><![CDATA[]]></PicUrl>"
                                "<Url><![CDATA[https://x.cn/]]></Url></item></Articles></xml>");
    buf_reset(&b);
    assert_int_equal(reply_image_xml(&b, "to", "from", 5, "MEDIA_1"), 0);
    assert_string_equal(b.data, "<xml><ToUserName><![CDATA[to]]></ToUserName>"
                                "<FromUserName><![CDATA[from]]></FromUserName>"
                                "<CreateTime>5</CreateTime><MsgType><![CDATA[image]]></MsgType>"
                                "<Image><MediaId><![CDATA[MEDIA_1]]></MediaId></Image></xml>");
    buf_free(&b);
}

static void test_stored_forms(void **state)
{
    struct buf b = {0};
    const char *mid;
    char *copy = NULL;
    assert_int_equal(reply_encode_image(&b, "M1"), 0);
    assert_string_equal(b.data, "\x01image\x1fM1");
    assert_int_equal(reply_stored_kind(b.data), REPLY_IMAGE);
    assert_int_equal(reply_decode_image(b.data, &mid, &copy), 0);
    assert_string_equal(mid, "M1");
    free(copy);
    /* texts, old rows and malformed tags */
    assert_int_equal(reply_stored_kind("Welcome"), REPLY_TEXT);
    assert_int_equal(reply_stored_kind("news"), REPLY_TEXT);
    assert_int_equal(reply_stored_kind(NULL), REPLY_TEXT);
    assert_int_equal(reply_stored_kind("\x01video\x1fx"), REPLY_TEXT);
    struct reply_news n;
    assert_int_equal(reply_decode_news("\x01news\x1ft\x1f"
                                       "d\x1fp",
                                       &n, &copy),
                     -1);
    assert_null(copy);
    assert_int_equal(reply_decode_news("\x01news\x1ft\x1f"
                                       "d\x1fp\x1fu\x1f"
                                       "extra",
                                       &n, &copy),
                     -1);
    assert_int_equal(reply_decode_image("\x01image", &mid, &copy), -1);
    buf_reset(&b);
    assert_int_equal(reply_xml(&b, "a", "b", 1, "\x01news\x1fonly"), -1);
    buf_free(&b);
}

static const struct {
    struct reply_news n;
    const char *field; /* NULL = valid */
} news_cases[] = {
    {{"t", NULL, NULL, "https://a.b/"}, NULL},
    {{"中文标题", "描述\n第二行\t", "http://p.cn/a.png", "http://a.b/?q=1#f"}, NULL},
    {{"", NULL, NULL, "https://a.b/"}, "title"},
    {{NULL, NULL, NULL, "https://a.b/"}, "title"},
    {{"a\x01", NULL, NULL, "https://a.b/"}, "title"},
    {{"a\nb", NULL, NULL, "https://a.b/"}, "title"},
    {{"\xff", NULL, NULL, "https://a.b/"}, "title"},
    {{"t", "d\x7f", NULL, "https://a.b/"}, "description"},
    {{"t", NULL, "ftp://p/", "https://a.b/"}, "picurl"},
    {{"t", NULL, NULL, NULL}, "url"},
    {{"t", NULL, NULL, "https://"}, "url"},
    {{"t", NULL, NULL, "https:///x"}, "url"},
    {{"t", NULL, NULL, "HTTPS://a.b/"}, "url"},
    {{"t", NULL, NULL, "https://a.b/中"}, "url"},
    {{"t", NULL, NULL, "https://a.b/\x1f"}, "url"},
    {{"t", NULL, NULL, "javascript:alert(1)"}, "url"},
};

static void test_news_validate(void **state)
{
    char err[256];
    for (size_t i = 0; i < sizeof(news_cases) / sizeof(news_cases[0]); i++) {
        const char *field = NULL;
        int rc = reply_news_validate(&news_cases[i].n, &field, err, sizeof(err));
        if (!news_cases[i].field) {
            assert_int_equal(rc, 0);
            continue;
        }
        assert_int_equal(rc, -1);
        assert_non_null(field);
        assert_string_equal(field, news_cases[i].field);
        assert_non_null(strstr(err, news_cases[i].field));
    }
    /* lengths count characters, as a marketer does: 64 Chinese characters fit */
    char title[64 * 3 + 4] = "";
    for (int i = 0; i < 64; i++)
        strcat(title, "字");
    struct reply_news n = {title, NULL, NULL, "https://a.b/"};
    assert_int_equal(reply_news_validate(&n, NULL, err, sizeof(err)), 0);
    strcat(title, "字");
    assert_int_equal(reply_news_validate(&n, NULL, err, sizeof(err)), -1);
    assert_int_equal(reply_media_id_validate("MEDIA_x-1", err, sizeof(err)), 0);
    assert_int_equal(reply_media_id_validate("", err, sizeof(err)), -1);
    assert_int_equal(reply_media_id_validate("a b", err, sizeof(err)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_cdata_roundtrip),
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_news_roundtrip),
        cmocka_unit_test(test_news_image_golden),
        cmocka_unit_test(test_stored_forms),
        cmocka_unit_test(test_news_validate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
