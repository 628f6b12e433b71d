/* libFuzzer target for the push parser, the code every pushed body meets
 * first. Each input is parsed both ways (a plaintext push and a safe-mode
 * envelope) by the server's long-lived reusable parser (wx_xml_parser_parse,
 * one libxml2 context for every input, as in the server) and by a fresh one
 * (wx_xml_parse): both must agree, so no state leaks from one input into the
 * next. On success the struct must hold NUL-terminated fields within their
 * limits, and a plaintext push must survive the trip the server makes with
 * it: its fields go into a passive reply (reply_text_xml), which must itself
 * parse back to the same values (CDATA splitting, "]]>" in EventKey, UTF-8
 * cut points). And the bounds on the parse's work (wx_xml.h) must hold as
 * libxml2 itself sees the input: whatever got past the pre-scan has at most
 * WX_XML_ELEMENTS_MAX elements and WX_XML_ATTRS_MAX attributes on any one,
 * counted by a second libxml2 parse that, like wx_xml's, ends at the first
 * fatal error (check_bounds). Any violation aborts.
 * Build: fuzz/run.sh (CMake target fuzz_xml in build-fuzz/), or by hand:
 *   clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc fuzz/fuzz_xml.c
 *   src/wx_xml.c src/reply.c src/util.c $(pkg-config --cflags --libs libxml-2.0 libcrypto)
 * Seeds: fuzz/corpus/xml/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "reply.h"
#include "util.h"
#include "wx_xml.h"

#define FUZZ_MAX_INPUT (128 * 1024)

static void check_field(const char *f, size_t cap)
{
    if (strnlen(f, cap) >= cap)
        abort();
}

static void check_msg(const struct wx_msg *m)
{
    check_field(m->to, sizeof(m->to));
    check_field(m->from, sizeof(m->from));
    check_field(m->msg_type, sizeof(m->msg_type));
    check_field(m->event, sizeof(m->event));
    check_field(m->event_key, sizeof(m->event_key));
    check_field(m->ticket, sizeof(m->ticket));
    if (m->content && strlen(m->content) > WX_XML_CONTENT_MAX)
        abort();
    check_field(m->msg_id, sizeof(m->msg_id));
    if (m->encrypt && strlen(m->encrypt) != m->encrypt_len)
        abort();
    if (m->content && !util_utf8_valid(m->content, strlen(m->content)))
        abort(); /* truncation must cut at a character boundary */
}

/* XML 1.0 turns CR into LF when parsing, so a value with CR cannot come
 * back byte for byte; everything else must. */
static int has_cr(const char *s)
{
    return strchr(s, '\r') != NULL;
}

/* The reply the server would send for m, parsed again. */
static void check_reply_roundtrip(const struct wx_msg *m)
{
    struct buf xml = {0};
    struct wx_msg back;
    char err[256];
    if (has_cr(m->from) || has_cr(m->to) || has_cr(m->event_key))
        return;
    if (reply_text_xml(&xml, m->from, m->to, m->create_time, m->event_key) < 0)
        abort();
    if (wx_xml_parse(xml.data, xml.len, true, &back, err, sizeof(err)) < 0)
        abort();
    if (strcmp(back.to, m->from) != 0 || strcmp(back.from, m->to) != 0 ||
        strcmp(back.content ? back.content : "", m->event_key) != 0 ||
        back.create_time != m->create_time || strcmp(back.msg_type, "text") != 0)
        abort();
    wx_msg_clear(&back);
    buf_free(&xml);
}

static int same_msg(const struct wx_msg *a, const struct wx_msg *b)
{
    return strcmp(a->to, b->to) == 0 && strcmp(a->from, b->from) == 0 &&
           a->create_time == b->create_time && a->has_create_time == b->has_create_time &&
           strcmp(a->msg_type, b->msg_type) == 0 && strcmp(a->event, b->event) == 0 &&
           strcmp(a->event_key, b->event_key) == 0 && strcmp(a->ticket, b->ticket) == 0 &&
           strcmp(a->content ? a->content : "", b->content ? b->content : "") == 0 &&
           !a->content == !b->content && strcmp(a->msg_id, b->msg_id) == 0 &&
           a->encrypt_len == b->encrypt_len &&
           (!a->encrypt || memcmp(a->encrypt, b->encrypt, a->encrypt_len) == 0);
}

/* The long-lived parser and a fresh one must give the same answer. */
static void check_reuse(struct wx_xml_parser *p, const uint8_t *data, size_t size, bool plain)
{
    struct wx_msg a, b;
    char err[256];
    int ra = wx_xml_parser_parse(p, (const char *)data, size, plain, &a, err, sizeof(err));
    int rb = wx_xml_parse((const char *)data, size, plain, &b, err, sizeof(err));
    if (ra != rb || (ra == 0 && !same_msg(&a, &b)))
        abort();
    if (ra == 0) {
        wx_msg_clear(&a);
        wx_msg_clear(&b);
    }
}

/* An envelope through the shortcut and through the full parse: the same
 * answer, the same value, the same error. */
static void check_shortcut(struct wx_xml_parser *p, struct wx_xml_parser *full, const uint8_t *data,
                           size_t size)
{
    struct wx_msg a, b;
    char ea[256], eb[256];
    int ra = wx_xml_parser_parse(p, (const char *)data, size, false, &a, ea, sizeof(ea));
    int rb = wx_xml_parser_parse(full, (const char *)data, size, false, &b, eb, sizeof(eb));
    if (ra != rb || (ra == 0 && !same_msg(&a, &b)) || (ra < 0 && strcmp(ea, eb) != 0))
        abort();
    if (ra == 0) {
        wx_msg_clear(&a);
        wx_msg_clear(&b);
    }
}

/* What libxml2 makes of an input, counted in SAX callbacks. */
struct counts {
    size_t elements, depth, max_depth, max_attrs;
};

static void count_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                        const xmlChar *uri, int nns, const xmlChar **ns, int nattr, int ndef,
                        const xmlChar **attrs)
{
    struct counts *c = ((xmlParserCtxtPtr)ctx)->_private;
    c->elements++;
    if (++c->depth > c->max_depth)
        c->max_depth = c->depth;
    if ((size_t)(nns + nattr) > c->max_attrs)
        c->max_attrs = (size_t)(nns + nattr);
}

static void count_end(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                      const xmlChar *uri)
{
    struct counts *c = ((xmlParserCtxtPtr)ctx)->_private;
    c->depth--;
}

/* The reasons prescan() gives: libxml2 never ran on those inputs. */
static bool prescan_refused(const char *err)
{
    static const char *const reasons[] = {"XML over ", "not UTF-8", "DOCTYPE",
                                          "processing instructions", "more than "};
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (strncmp(err, reasons[i], strlen(reasons[i])) == 0)
            return true;
    return false;
}

/* The first fatal error ends the count, as it ends wx_xml's parse. */
static void count_error(void *ctx, xmlErrorPtr e)
{
    if (e->level == XML_ERR_FATAL)
        xmlStopParser(ctx);
}

/* An input wx_xml let libxml2 read (accepted, or refused by libxml2 or a
 * field check) is within the element and attribute bounds as libxml2
 * counts them up to its first fatal error; an accepted one within the
 * depth bound too. (A start tag that itself fails is not counted here:
 * its attributes are libxml2's work all the same, which prescan() counts
 * from the bytes.) */
static void check_bounds(const uint8_t *data, size_t size, int ret, const char *err)
{
    static xmlParserCtxtPtr ctxt;
    struct counts c = {0};
    if (ret < 0 && prescan_refused(err))
        return;
    if (!ctxt) {
        xmlSAXHandler sax;
        memset(&sax, 0, sizeof(sax)); /* no tree, no DTD, only the counts */
        sax.initialized = XML_SAX2_MAGIC;
        sax.startElementNs = count_start;
        sax.endElementNs = count_end;
        sax.serror = count_error;
        if (!(ctxt = xmlNewParserCtxt()))
            abort();
        *ctxt->sax = sax;
    }
    ctxt->userData = ctxt;
    ctxt->_private = &c;
    xmlCtxtReadMemory(ctxt, (const char *)data, (int)size, NULL, NULL,
                      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                          XML_PARSE_IGNORE_ENC);
    if (c.elements > WX_XML_ELEMENTS_MAX || c.max_attrs > WX_XML_ATTRS_MAX ||
        (ret == 0 && c.max_depth > WX_XML_DEPTH_MAX))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct wx_xml_parser *parser, *full;
    struct wx_msg m;
    char err[256];
    if (!parser) {
        wx_xml_global_init();
        if (wx_xml_parser_new(&parser) < 0 || wx_xml_parser_new(&full) < 0)
            abort();
        wx_xml_parser_full_only(full, true);
    }
    if (size > FUZZ_MAX_INPUT)
        return 0;
    check_reuse(parser, data, size, true);
    check_reuse(parser, data, size, false);
    check_shortcut(parser, full, data, size);
    int ret = wx_xml_parser_parse(parser, (const char *)data, size, true, &m, err, sizeof(err));
    check_bounds(data, size, ret, err);
    if (ret == 0) {
        check_msg(&m);
        if (!m.to[0] || !m.from[0] || !m.msg_type[0] || !m.has_create_time)
            abort();
        check_reply_roundtrip(&m);
        wx_msg_clear(&m);
    } else if (!err[0] || !memchr(err, '\0', sizeof(err))) {
        abort(); /* a rejection always says why */
    }
    ret = wx_xml_parser_parse(parser, (const char *)data, size, false, &m, err, sizeof(err));
    check_bounds(data, size, ret, err);
    if (ret == 0) {
        check_msg(&m);
        if (!m.encrypt || !m.encrypt_len)
            abort();
        wx_msg_clear(&m);
    }
    return 0;
}
