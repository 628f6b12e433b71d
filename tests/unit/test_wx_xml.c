/* wx_xml: protocol vectors V7 and hostile inputs (table-driven). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"
#include "wx_xml.h"

#define SUB_QR                                                                                     \
    "<xml><ToUserName><![CDATA[toUser]]></ToUserName>\n"                                           \
    "<FromUserName><![CDATA[FromUser]]></FromUserName>\n"                                          \
    "<CreateTime>123456789</CreateTime>\n"                                                         \
    "<MsgType><![CDATA[event]]></MsgType>\n"                                                       \
    "<Event><![CDATA[subscribe]]></Event>\n"                                                       \
    "<EventKey><![CDATA[qrscene_123123]]></EventKey>\n"                                            \
    "<Ticket><![CDATA[TICKET]]></Ticket>\n"                                                        \
    "</xml>"
#define SCAN                                                                                       \
    "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n"                                         \
    "<FromUserName><![CDATA[FromUser]]></FromUserName>\n"                                          \
    "<CreateTime>123456789</CreateTime>\n"                                                         \
    "<MsgType><![CDATA[event]]></MsgType>\n"                                                       \
    "<Event><![CDATA[SCAN]]></Event>\n"                                                            \
    "<EventKey><![CDATA[123123]]></EventKey>\n"                                                    \
    "<Ticket><![CDATA[TICKET]]></Ticket>\n"                                                        \
    "</xml>"
#define SUB_PLAIN                                                                                  \
    "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n"                                         \
    "<FromUserName><![CDATA[FromUser]]></FromUserName>\n"                                          \
    "<CreateTime>123456789</CreateTime>\n"                                                         \
    "<MsgType><![CDATA[event]]></MsgType>\n"                                                       \
    "<Event><![CDATA[subscribe]]></Event>\n"                                                       \
    "</xml>"
#define TEXT                                                                                       \
    "<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n"                                         \
    "<FromUserName><![CDATA[fromUser]]></FromUserName>\n"                                          \
    "<CreateTime>1348831860</CreateTime>\n"                                                        \
    "<MsgType><![CDATA[text]]></MsgType>\n"                                                        \
    "<Content><![CDATA[this is a test]]></Content>\n"                                              \
    "<MsgId>1234567890123456</MsgId>\n"                                                            \
    "</xml>"

static const struct good_case {
    const char *name, *xml;
    const char *from, *msg_type, *event, *event_key, *msg_id, *dedup;
    int64_t create_time;
} good[] = {
    {"subscribe qrscene", SUB_QR, "FromUser", "event", "subscribe", "qrscene_123123", "",
     "e|123456789|FromUser|subscribe|qrscene_123123", 123456789},
    {"SCAN", SCAN, "FromUser", "event", "SCAN", "123123", "", "e|123456789|FromUser|SCAN|123123",
     123456789},
    {"plain subscribe", SUB_PLAIN, "FromUser", "event", "subscribe", "", "",
     "e|123456789|FromUser|subscribe|", 123456789},
    {"text", TEXT, "fromUser", "text", "", "", "1234567890123456", "m|1234567890123456",
     1348831860},
    {"xml declaration and comment",
     "<?xml version=\"1.0\" encoding=\"UTF-8\"?><!-- hi --><xml><ToUserName>a</ToUserName>"
     "<FromUserName>b</FromUserName><CreateTime>5</CreateTime><MsgType>event</MsgType>"
     "<Event>unsubscribe</Event><Unknown>x</Unknown></xml>",
     "b", "event", "unsubscribe", "", "", "e|5|b|unsubscribe|", 5},
    {"text without MsgId",
     "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>7</CreateTime>"
     "<MsgType>image</MsgType></xml>",
     "b", "image", "", "", "", "m|b|7", 7},
    /* the declaration is ignored: every body is read as UTF-8 */
    {"declared UTF-16, sent as UTF-8",
     "<?xml version=\"1.0\" encoding=\"UTF-16\"?><xml><ToUserName>a</ToUserName>"
     "<FromUserName>\xe4\xbd\xa0</FromUserName><CreateTime>8</CreateTime><MsgType>text</MsgType>"
     "</xml>",
     "\xe4\xbd\xa0", "text", "", "", "", "m|\xe4\xbd\xa0|8", 8},
};

static void test_good(void **state)
{
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        const struct good_case *c = &good[i];
        struct wx_msg m;
        char err[256] = "", key[ROUTE_DEDUP_MAX];
        print_message("case: %s\n", c->name);
        assert_int_equal(wx_xml_parse(c->xml, strlen(c->xml), true, &m, err, sizeof(err)), 0);
        assert_string_equal(m.from, c->from);
        assert_string_equal(m.msg_type, c->msg_type);
        assert_string_equal(m.event, c->event);
        assert_string_equal(m.event_key, c->event_key);
        assert_string_equal(m.msg_id, c->msg_id);
        assert_int_equal(m.create_time, c->create_time);
        route_dedup_key(&m, key, sizeof(key));
        assert_string_equal(key, c->dedup);
        wx_msg_clear(&m);
    }
}

static const struct bad_case {
    const char *name, *xml, *reason;
} bad[] = {
    {"doctype", "<!DOCTYPE xml><xml/>", "DOCTYPE"},
    {"internal subset",
     "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a "
     "\"b\">]><xml><ToUserName>&a;</ToUserName></xml>",
     "DOCTYPE"},
    {"entity decl after comment", "<!-- c --><!ENTITY x SYSTEM \"file:///etc/passwd\"><xml/>",
     "DOCTYPE"},
    {"xxe system", "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><xml>&x;</xml>",
     "DOCTYPE"},
    {"stylesheet PI", "<?xml-stylesheet href=\"http://x/\"?><xml/>", "processing"},
    {"not well-formed", "<xml><ToUserName>a</xml>", "not well-formed"},
    {"undeclared entity", "<xml><ToUserName>&x;</ToUserName></xml>", "not well-formed"},
    {"wrong root", "<foo><ToUserName>a</ToUserName></foo>", "root"},
    {"missing from",
     "<xml><ToUserName>a</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>",
     "missing FromUserName"},
    {"missing event",
     "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
     "<MsgType>event</MsgType></xml>",
     "missing Event"},
    {"missing event, MsgType re-cased",
     "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
     "<MsgType>Event</MsgType></xml>",
     "missing Event"},
    {"negative time",
     "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>-1</CreateTime>"
     "<MsgType>text</MsgType></xml>",
     "CreateTime"},
    {"overflowing time",
     "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>"
     "<CreateTime>99999999999999999999999</CreateTime><MsgType>text</MsgType></xml>",
     "CreateTime"},
    {"bad msgid",
     "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
     "<MsgType>text</MsgType><MsgId>12x</MsgId></xml>",
     "MsgId"},
    {"invalid utf-8", "<xml><ToUserName>\xff\xfe</ToUserName></xml>", "not well-formed"},
    {"empty", "", "not well-formed"},
    /* UTF-8 only: libxml2 would switch on a BOM, NULs or EBCDIC's "<?xm"
     * (and on a declaration, which it is told to ignore) */
    {"UTF-16 BOM", "\xff\xfe<\x01", "not UTF-8"},
    {"UTF-16BE BOM", "\xfe\xff\x01<", "not UTF-8"},
    {"EBCDIC", "\x4c\x6f\xa7\x94", "not UTF-8"},
    /* libxml2 reads nothing after the first fatal error (there, a control
     * character): the error reported is on line 1, not the duplicate
     * attribute on line 3 it would go on to */
    {"stops at the first error in CDATA",
     "<xml><a><![CDATA[\x0f\n\n<F a=\"\" a=\"\"/>]]></a>\n</xml>", "not well-formed XML at line 1"},
    {"stops at the first error in a comment", "<xml><!-- \x0f -->\n\n<F a=\"\" a=\"\"/>\n</xml>",
     "not well-formed XML at line 1"},
    {"declared latin-1",
     "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><xml><ToUserName>a</ToUserName>"
     "<FromUserName>o\xe9</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>",
     "not well-formed"},
};

/* Bodies with NULs: UTF-16 and UCS-4 without a BOM. */
static void test_not_utf8(void **state)
{
    static const struct {
        const char *xml;
        size_t len;
    } cases[] = {
        {"<\0x\0m\0l\0/\0>\0", 12},
        {"\0<\0x\0m\0l\0/\0>", 12},
        {"<\0\0\0x\0\0\0", 8},
        {"\0\0\0<\0\0\0x", 8},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct wx_msg m;
        char err[256] = "";
        assert_int_equal(wx_xml_parse(cases[i].xml, cases[i].len, false, &m, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "not UTF-8"));
    }
}

static void test_bad(void **state)
{
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct wx_msg m;
        char err[256] = "";
        print_message("case: %s\n", bad[i].name);
        assert_int_equal(wx_xml_parse(bad[i].xml, strlen(bad[i].xml), true, &m, err, sizeof(err)),
                         -1);
        assert_non_null(strstr(err, bad[i].reason));
    }
}

/* ---- bounds on the parse's work (wx_xml.h) ---- */

#define PUSH_FIELDS                                                                                \
    "<ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"           \
    "<MsgType>text</MsgType>"
#define PUSH_HEAD     "<xml>" PUSH_FIELDS
#define PUSH_ELEMENTS 5 /* <xml> and the four fields */

/* body = head, n x unit ('#' = its index), n x close, tail; with fill, the
 * unit is repeated until the body is fill bytes. */
static const struct bound_case {
    const char *name, *head, *unit, *close, *tail;
    size_t n, fill;
    const char *reason; /* NULL: accepted */
} bounds[] = {
    {"16 attributes", PUSH_HEAD "<F", " a#=\"\"", "", "/></xml>", WX_XML_ATTRS_MAX, 0, NULL},
    {"17 attributes", PUSH_HEAD "<F", " a#=\"\"", "", "/></xml>", WX_XML_ATTRS_MAX + 1, 0,
     "more than 16 attributes"},
    {"17 attributes on <xml>", "<xml", " a#='x'", "", ">" PUSH_FIELDS "</xml>",
     WX_XML_ATTRS_MAX + 1, 0, "more than 16 attributes"},
    {"17 xmlns", PUSH_HEAD "<F", " xmlns:n#=\"u\"", "", "/></xml>", WX_XML_ATTRS_MAX + 1, 0,
     "more than 16 attributes"},
    {"'>' in values", PUSH_HEAD "<F", " a#=\">\"", "", "/></xml>", WX_XML_ATTRS_MAX + 1, 0,
     "more than 16 attributes"},
    {"attribute flood (6,000)", PUSH_HEAD "<F", " a#=\"\"", "", "/></xml>", 6000, 0,
     "more than 16 attributes"},
    {"'=' in text is no attribute", PUSH_HEAD "<Content>", "a=b ", "", "</Content></xml>", 100, 0,
     NULL},
    {"a comment cannot hide a tag", PUSH_HEAD "<!-- <![CDATA[ --><F", " a#=\"\"", "",
     "/><!-- ]]> --></xml>", WX_XML_ATTRS_MAX + 1, 0, "more than 16 attributes"},
    {"512 elements", PUSH_HEAD, "<e/>", "", "</xml>", WX_XML_ELEMENTS_MAX - PUSH_ELEMENTS, 0, NULL},
    {"513 elements", PUSH_HEAD, "<e#/>", "", "</xml>", WX_XML_ELEMENTS_MAX - PUSH_ELEMENTS + 1, 0,
     "more than 512 elements"},
    {"element flood (16,000)", PUSH_HEAD, "<e/>", "", "</xml>", 16000, 0, "more than 512 elements"},
    {"tags in a comment are text", PUSH_HEAD "<!--", "<e/>", "", "--></xml>", 2000, 0, NULL},
    {"tags in CDATA are text", PUSH_HEAD "<Content><![CDATA[", "<e a='' b=''/>", "",
     "]]></Content></xml>", 2000, 0, NULL},
    {"depth 16", PUSH_HEAD, "<d>", "</d>", "</xml>", WX_XML_DEPTH_MAX - 1, 0, NULL},
    {"depth 17", PUSH_HEAD, "<d>", "</d>", "</xml>", WX_XML_DEPTH_MAX, 0, "nested deeper than 16"},
    {"64 KiB", PUSH_HEAD "<Content>", "a", "", "</Content></xml>", 0, WX_XML_PARSE_MAX, NULL},
    {"64 KiB + 1", PUSH_HEAD "<Content>", "a", "", "</Content></xml>", 0, WX_XML_PARSE_MAX + 1,
     "XML over 65536 bytes"},
    {"1.4 MB attribute flood", "<xml><F", " a#=\"\"", "", "/></xml>", 150000, 0,
     "XML over 65536 bytes"},
};

static void put_unit(struct buf *b, const char *unit, size_t i)
{
    for (const char *u = unit; *u; u++) {
        char num[24];
        if (*u != '#')
            assert_int_equal(buf_append(b, u, 1), 0);
        else
            assert_int_equal(
                buf_append(b, num, (size_t)(util_put_i64(num, num + 24, (int64_t)i) - num)), 0);
    }
}

static void build(struct buf *b, const struct bound_case *c)
{
    size_t tail = strlen(c->tail), i;
    buf_reset(b);
    assert_int_equal(buf_puts(b, c->head), 0);
    for (i = 0; i < c->n || (c->fill && b->len + tail < c->fill); i++)
        put_unit(b, c->unit, i);
    while (i-- > 0)
        assert_int_equal(buf_puts(b, c->close), 0);
    assert_int_equal(buf_puts(b, c->tail), 0);
    if (c->fill)
        assert_int_equal(b->len, c->fill);
}

/* Each bound takes what is at it and refuses what is over it with its
 * reason; a plaintext push and a safe-mode envelope the same. */
static void test_bounds(void **state)
{
    struct wx_xml_parser *p;
    struct buf b = {0};
    assert_int_equal(wx_xml_parser_new(&p), 0);
    for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
        const struct bound_case *c = &bounds[i];
        build(&b, c);
        print_message("case: %s (%zu bytes)\n", c->name, b.len);
        for (int plain = 1; plain >= 0; plain--) {
            struct wx_msg m;
            char err[256] = "";
            int ret = wx_xml_parser_parse(p, b.data, b.len, plain, &m, err, sizeof(err));
            if (!c->reason && plain) {
                assert_int_equal(ret, 0);
                wx_msg_clear(&m);
            } else if (!c->reason) {
                assert_string_equal(err, "missing Encrypt");
            } else {
                assert_int_equal(ret, -1);
                assert_non_null(strstr(err, c->reason));
            }
        }
    }
    buf_free(&b);
    wx_xml_parser_free(p);
    /* what the server asks before copying a body out */
    assert_null(wx_xml_too_large(WX_XML_PARSE_MAX, true));
    assert_non_null(wx_xml_too_large(WX_XML_PARSE_MAX + 1, true));
    assert_null(wx_xml_too_large(WX_XML_PARSE_MAX + WX_XML_ENCRYPT_MAX, false));
    assert_non_null(wx_xml_too_large(WX_XML_PARSE_MAX + WX_XML_ENCRYPT_MAX + 1, false));
}

static void test_limits(void **state)
{
    char xml[4096], err[256];
    struct wx_msg m;
    char key[WX_XML_KEY_MAX + 2];
    memset(key, '7', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    snprintf(
        xml, sizeof(xml),
        "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1"
        "</CreateTime><MsgType>event</MsgType><Event>SCAN</Event><EventKey>%s</EventKey></xml>",
        key);
    assert_int_equal(wx_xml_parse(xml, strlen(xml), true, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "EventKey longer"));

    /* Content is truncated at a UTF-8 boundary instead of rejected. */
    struct buf b = {0};
    assert_int_equal(buf_puts(&b, "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName>"
                                  "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>"),
                     0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_puts(&b, "\xe4\xbd\xa0"), 0); /* 3000 bytes */
    assert_int_equal(buf_puts(&b, "</Content></xml>"), 0);
    assert_int_equal(wx_xml_parse(b.data, b.len, true, &m, err, sizeof(err)), 0);
    assert_non_null(m.content);
    assert_int_equal(strlen(m.content) % 3, 0);
    assert_true(strlen(m.content) <= WX_XML_CONTENT_MAX);
    assert_true(util_utf8_valid(m.content, strlen(m.content)));
    wx_msg_clear(&m);
    buf_free(&b);
}

static void test_envelope(void **state)
{
    const char *env = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[abc+/=]]>"
                      "</Encrypt></xml>";
    struct wx_msg m;
    char err[256];
    assert_int_equal(wx_xml_parse(env, strlen(env), false, &m, err, sizeof(err)), 0);
    assert_string_equal(m.encrypt, "abc+/=");
    assert_int_equal(m.encrypt_len, 6);
    wx_msg_clear(&m);
    assert_int_equal(wx_xml_parse(env, strlen(env), true, &m, err, sizeof(err)), -1);
    const char *noenc = "<xml><ToUserName>gh</ToUserName></xml>";
    assert_int_equal(wx_xml_parse(noenc, strlen(noenc), false, &m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "missing Encrypt"));
}

/* Envelopes through the shortcut (Encrypt's base64 not fed to libxml2)
 * and through the full parse give the same answer, value and error; the
 * shortcut is taken for WeChat's form and not for look-alikes. */
static void test_envelope_shortcut(void **state)
{
    static const struct {
        const char *xml;
        bool shortcut;
    } cases[] = {
        {"<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[QUJD+/9=]]></Encrypt>"
         "<AgentID><![CDATA[1]]></AgentID></xml>",
         true},
        {"<xml><Encrypt><![CDATA[QUJD]]></Encrypt></xml>", true},
        /* the value must come back as the placeholder: here it does not */
        {"<xml><!--<Encrypt><![CDATA[QUJD]]></Encrypt>--><a:Encrypt xmlns:a=\"u\">x</a:Encrypt>"
         "</xml>",
         false},
        {"<xml><Encrypt><![CDATA[QUJD]]></Encrypt><Encrypt>x</Encrypt></xml>", false},
        {"<xml><Encrypt>x</Encrypt><Encrypt><![CDATA[QUJD]]></Encrypt></xml>", false},
        {"<xml><![CDATA[<Encrypt><![CDATA[QUJD]]></Encrypt></xml>", false},
        /* not the shortcut's form: the full parse decides */
        {"<xml><!--<Encrypt><![CDATA[QUJD]]></Encrypt>--><a:Encrypt xmlns:a=\"u\">&#64;</a:Encrypt>"
         "</xml>",
         false},
        {"<xml><!--<Encrypt><![CDATA[QUJD]]></Encrypt>--><a:Encrypt xmlns:a=\"u\">@</a:Encrypt>"
         "</xml>",
         false},
        {"<xml><Encrypt><![CDATA[QU JD]]></Encrypt></xml>", false},
        {"<xml><Encrypt><![CDATA[QUJD\r\n]]></Encrypt></xml>", false},
        {"<?xml version=\"1.0\"?><xml><Encrypt><![CDATA[QUJD]]></Encrypt></xml>", false},
        {"<xml><Encrypt><![CDATA[]]></Encrypt></xml>", false},
        {"<xml><Encrypt><![CDATA[QUJD]]></Encrypt>", false},
        {"<xml><Encrypt><![CDATA[QUJD]]></Encrypt></xml><x/>", false},
        {"<xml><Encrypt><![CDATA[QUJD]]></Encrypt></xmL>", false},
        {"<xml><a>@</a><Encrypt><![CDATA[QUJD]]></Encrypt></xml>", false},
    };
    struct wx_xml_parser *p, *full;
    assert_int_equal(wx_xml_parser_new(&p), 0);
    assert_int_equal(wx_xml_parser_new(&full), 0);
    wx_xml_parser_full_only(full, true);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *x = cases[i].xml;
        struct wx_msg a, b;
        char ea[256] = "", eb[256] = "";
        size_t before = wx_xml_parser_shortcuts(p);
        int ra = wx_xml_parser_parse(p, x, strlen(x), false, &a, ea, sizeof(ea));
        int rb = wx_xml_parser_parse(full, x, strlen(x), false, &b, eb, sizeof(eb));
        print_message("case %zu: %d %s\n", i, ra, ra ? ea : a.encrypt);
        assert_int_equal(ra, rb);
        assert_int_equal(wx_xml_parser_shortcuts(p) - before, cases[i].shortcut ? 1 : 0);
        if (ra == 0) {
            assert_int_equal(a.encrypt_len, b.encrypt_len);
            assert_memory_equal(a.encrypt, b.encrypt, a.encrypt_len);
            assert_string_equal(a.to, b.to);
        } else {
            assert_string_equal(ea, eb);
        }
        wx_msg_clear(&a);
        wx_msg_clear(&b);
    }
    /* An Encrypt of up to WX_XML_ENCRYPT_MAX bytes in WeChat's form is not
     * counted in WX_XML_PARSE_MAX (here 60,000 bytes of comment besides
     * it), by either parser; one byte more, or out of that form, and the
     * whole body is counted. */
    static const struct {
        size_t vlen;
        const char *after;
        bool ok;
    } big[] = {
        {WX_XML_ENCRYPT_MAX, "", true},
        {WX_XML_ENCRYPT_MAX + 1, "", false},
        {WX_XML_ENCRYPT_MAX, " ", false},
    };
    for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
        struct buf x = {0};
        struct wx_msg a, b;
        char ea[256] = "", eb[256] = "";
        assert_int_equal(buf_puts(&x, "<xml><!--"), 0);
        for (int k = 0; k < 60000; k++)
            assert_int_equal(buf_append(&x, "c", 1), 0);
        assert_int_equal(buf_puts(&x, "--><Encrypt><![CDATA["), 0);
        for (size_t k = 0; k < big[i].vlen; k++)
            assert_int_equal(buf_append(&x, "A", 1), 0);
        assert_int_equal(buf_puts(&x, big[i].after), 0);
        assert_int_equal(buf_puts(&x, "]]></Encrypt></xml>"), 0);
        size_t before = wx_xml_parser_shortcuts(p);
        int ra = wx_xml_parser_parse(p, x.data, x.len, false, &a, ea, sizeof(ea));
        int rb = wx_xml_parser_parse(full, x.data, x.len, false, &b, eb, sizeof(eb));
        print_message("big %zu: %d %s\n", i, ra, ea);
        assert_int_equal(wx_xml_parser_shortcuts(p) - before, big[i].ok ? 1 : 0);
        if (big[i].ok) {
            assert_int_equal(ra, 0);
            assert_int_equal(rb, 0);
            assert_int_equal(a.encrypt_len, big[i].vlen);
            assert_int_equal(b.encrypt_len, big[i].vlen);
            wx_msg_clear(&a);
            wx_msg_clear(&b);
        } else {
            assert_int_equal(ra, -1);
            assert_int_equal(rb, -1);
            assert_non_null(strstr(ea, "XML over 65536 bytes"));
            assert_string_equal(ea, eb);
        }
        buf_free(&x);
    }
    assert_int_equal(wx_xml_parser_shortcuts(full), 0);
    wx_xml_parser_free(p);
    wx_xml_parser_free(full);
}

int main(void)
{
    wx_xml_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_not_utf8),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_envelope_shortcut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
