#include "wx_xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlversion.h>

/* libxml2 reports through its own callbacks; we report through err. */
static void xml_silent(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

void wx_xml_global_init(void)
{
    xmlInitParser();
    xmlSetGenericErrorFunc(NULL, xml_silent);
}

void wx_msg_clear(struct wx_msg *m)
{
    free(m->encrypt);
    m->encrypt = NULL;
    m->encrypt_len = 0;
    free(m->content);
    m->content = NULL;
}

/* The first s (n >= 1 bytes) in [p, p + len), or NULL: memchr for its
 * first byte, which is rare in a push ('<', ']'), then a compare. glibc's
 * memmem sets up a general search each call (~1,400 instructions for the
 * seven CDATA sections of a push). */
static const char *find_str(const char *p, size_t len, const char *s, size_t n)
{
    const char *end = p + len;
    for (const char *q = p; (size_t)(end - q) >= n; q++) {
        if (!(q = memchr(q, s[0], (size_t)(end - q) - n + 1)))
            return NULL;
        if (memcmp(q, s, n) == 0)
            return q;
    }
    return NULL;
}

/* Whether libxml2 will read the body as UTF-8, so the byte scans below see
 * the characters it parses. It picks UTF-16, UCS-4 or EBCDIC from the first
 * four bytes (a BOM, NULs, "Lo\xa7\x94"), none of which can open a UTF-8
 * document: that starts with '<', white space or the UTF-8 BOM, and has no
 * NUL. The encoding declaration is ignored (XML_PARSE_IGNORE_ENC). WeChat
 * sends UTF-8. */
static bool is_utf8_start(const char *p, size_t len)
{
    unsigned char c = (unsigned char)p[0];
    if (c != '<' && c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != 0xEF)
        return false;
    return len < 4 ? !memchr(p, '\0', len) : p[1] && p[2] && p[3];
}

/* ---- bounds on the parse's work ----
 * With [server] max_body_bytes at its maximum (16 MB) a body could keep
 * libxml2 2.9 busy, and the event loop with it, for seconds to minutes
 * (release build, the parser alone):
 * - attributes: xmlParseStartTag2() checks each one of a start tag against
 *   every earlier one. 150,000 (1.4 MB) took 4.9 s, 7.3 s in the server;
 *   xmlns declarations go the same way (1.9 s).
 * - elements: a few hundred ns each (<a/> x 350,000: 33 ms), and distinct
 *   names fill libxml2's name dictionary, whose hash stops growing:
 *   290,000 of them (1.4 MB) 129 ms, 2.9 million (16 MB) 67 s.
 * - bytes: libxml2 reads CDATA at ~85 instructions a byte, an entity
 *   reference ~120 a byte (with sax_text() taking each on its own); 16 MB
 *   of text, CDATA or comments took 100-190 ms.
 * So a push may have at most:
 * - WX_XML_ATTRS_MAX (16) attributes on an element. WeChat sends none; a
 *   relay's namespace declarations fit. 16 x 16 checks cost nothing.
 * - WX_XML_ELEMENTS_MAX (512) elements. WeChat's richest pushes (a mass
 *   send's MASSSENDJOBFINISH, one CopyrightCheckResult item of nine
 *   elements per article) have about a hundred.
 * - WX_XML_DEPTH_MAX (16) levels (checked in sax_start()). WeChat nests
 *   five (xml, CopyrightCheckResult, ResultList, item, field); libxml2
 *   stops at 256 by itself.
 * - WX_XML_PARSE_MAX (64 KiB) of XML for libxml2 to read: the default
 *   max_body_bytes, so with it no body is refused for its size that was
 *   not before. A push is typically under 1 KB, a text message of
 *   thousands of characters some KB (Content is cut to 2 KB anyway). The
 *   costliest 64 KiB (entity references) are 8 million instructions,
 *   about 1 ms.
 * - WX_XML_ENCRYPT_MAX (88,000) bytes of Encrypt in a safe-mode envelope
 *   in WeChat's form (envelope_value()), on top of WX_XML_PARSE_MAX:
 *   libxml2 never reads it (the shortcut hands it "@") unless the
 *   envelope is broken elsewhere. It is what the largest push within
 *   these bounds encrypts to (base64 of random(16), length(4), the push,
 *   an AppID of up to 64 bytes, up to 32 bytes of padding), so every
 *   envelope whose push can be accepted is; a longer one could only
 *   decrypt to a push refused here.
 * The counts are taken by prescan() before libxml2 runs, from the bytes
 * (which are the characters: is_utf8_start()), in one pass over the '<'
 * that was there already; a normal push pays an increment and a compare
 * per start tag. */

#define STR_(x) #x
#define STR(x)  STR_(x)
#define TOO_LARGE                                                                                  \
    "XML over " STR(WX_XML_PARSE_MAX) " bytes (a safe-mode Encrypt of up to " STR(                 \
        WX_XML_ENCRYPT_MAX) " aside)"
_Static_assert(WX_XML_ENCRYPT_MAX >= (16 + 4 + WX_XML_PARSE_MAX + 64 + 32 + 2) / 3 * 4,
               "an envelope must hold the largest push");

/* Whether the start tag at q, whose '<' is followed by the next one at
 * stop (or the end), has more than WX_XML_ATTRS_MAX attributes. Values
 * cannot hold '<', so every attribute's '=' lies before stop; the first
 * one's lies before any '>' (the tag's end, or one in a value). A tag
 * whose first '=' follows a '>' has none, and otherwise the '=' before
 * stop bound the count from above (text after the tag may add some: only
 * tags with an attribute are ever counted, and WeChat sends none). */
static bool too_many_attributes(const char *q, const char *stop)
{
    const char *eq = memchr(q, '=', (size_t)(stop - q));
    if (!eq || memchr(q, '>', (size_t)(eq - q)))
        return false;
    size_t n = 1;
    while ((eq = memchr(eq + 1, '=', (size_t)(stop - eq - 1))) != NULL)
        if (++n > WX_XML_ATTRS_MAX)
            return true;
    return false;
}

/* A tag with more than WX_XML_ATTRS_MAX attributes spans at least this
 * many bytes from its '<' (each is a name, '=' and two quotes): shorter
 * spans, every tag of a real push, are not looked into. */
#define ATTRS_SPAN (4 * WX_XML_ATTRS_MAX)

/* The start tag at q: one more element, and its attributes. *next = the
 * '<' after it, or NULL. */
static const char *check_start_tag(const char *q, const char *end, size_t *elements,
                                   const char **next)
{
    *next = memchr(q + 1, '<', (size_t)(end - q - 1));
    const char *stop = *next ? *next : end;
    if (++*elements > WX_XML_ELEMENTS_MAX)
        return "more than " STR(WX_XML_ELEMENTS_MAX) " elements";
    if ((size_t)(stop - q) >= ATTRS_SPAN && too_many_attributes(q, stop))
        return "more than " STR(WX_XML_ATTRS_MAX) " attributes in an element";
    return NULL;
}

/* What libxml2 must not be given, checked on the body's bytes before it
 * is: more than the bounds above allow, or any markup declaration ("<!"
 * other than a comment or CDATA section), which means a DTD: refused so no
 * entity is ever declared, let alone expanded (billion laughs, XXE).
 * Processing instructions other than the XML declaration are refused too
 * (xml-stylesheet and friends). Comments and CDATA sections end where
 * libxml2 ends them, at the first "-->" / "]]>", so every '<' it reads as
 * a tag is looked at here. NULL when none of it. */
const char *wx_xml_too_large(size_t len, bool need_plain)
{
    return len > WX_XML_PARSE_MAX + (need_plain ? 0 : WX_XML_ENCRYPT_MAX) ? TOO_LARGE : NULL;
}

static const char *prescan(const char *p, size_t len, bool need_plain)
{
    const char *bad = wx_xml_too_large(len, need_plain);
    if (bad)
        return bad;
    if (len && !is_utf8_start(p, len))
        return "not UTF-8 XML (WeChat sends UTF-8)";
    const char *end = p + len;
    size_t elements = 0;
    for (const char *q = memchr(p, '<', len), *next; q; q = next) {
        size_t left = (size_t)(end - q);
        const char *from = q + 1, *close;
        if (left < 2)
            break;
        if (q[1] == '!') {
            if (left >= 4 && memcmp(q, "<!--", 4) == 0)
                close = find_str(q + 4, left - 4, "-->", 3);
            else if (left >= 9 && memcmp(q, "<![CDATA[", 9) == 0)
                close = find_str(q + 9, left - 9, "]]>", 3);
            else
                return "DOCTYPE/DTD declarations are not allowed";
            if (!close)
                return NULL; /* unterminated: libxml2 will say not well-formed */
            from = close + 1;
        } else if (q[1] == '?') {
            if (!(q == p && left >= 6 && memcmp(q, "<?xml", 5) == 0 &&
                  strchr(" \t\r\n", q[5]) != NULL))
                return "processing instructions are not allowed";
        } else if (q[1] != '/') {
            if ((bad = check_start_tag(q, end, &elements, &next)) != NULL)
                return bad;
            continue;
        }
        next = memchr(from, '<', (size_t)(end - from));
    }
    return NULL;
}

struct field {
    const char *name;
    size_t offset;
    size_t cap; /* array size */
};

#define FIELD(n, f)                                                                                \
    {                                                                                              \
        n, offsetof(struct wx_msg, f), sizeof(((struct wx_msg *)0)->f)                             \
    }
static const struct field fields[] = {
    FIELD("ToUserName", to), FIELD("FromUserName", from),  FIELD("MsgType", msg_type),
    FIELD("Event", event),   FIELD("EventKey", event_key), FIELD("Ticket", ticket),
    FIELD("MsgId", msg_id),
};
#undef FIELD

/* Cut at a UTF-8 boundary so a truncated Content stays valid text. */
static size_t utf8_cut(const char *s, size_t n)
{
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

static int set_field(struct wx_msg *m, const struct field *f, const char *v, char *err,
                     size_t errlen)
{
    char *dst = (char *)m + f->offset;
    size_t n = strlen(v);
    if (n >= f->cap) {
        snprintf(err, errlen, "%s longer than %zu bytes", f->name, f->cap - 1);
        return -1;
    }
    memcpy(dst, v, n);
    dst[n] = '\0';
    return 0;
}

static int set_create_time(struct wx_msg *m, const char *v, char *err, size_t errlen)
{
    if (util_parse_i64(v, 0, INT64_C(99999999999), &m->create_time) < 0) {
        snprintf(err, errlen, "CreateTime '%.32s' is not a valid time", v);
        return -1;
    }
    m->has_create_time = true;
    return 0;
}

/* *dst = the first n bytes of v, malloc'd (an element seen twice: the
 * last one counts). */
static int set_string(char **dst, const char *v, size_t n, char *err, size_t errlen)
{
    free(*dst);
    if (!(*dst = strndup(v, n))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Content is kept off the struct (a text message's is up to 2 KB; events
 * have none), cut at a UTF-8 boundary so it stays valid text. */
static int set_content(struct wx_msg *m, const char *v, char *err, size_t errlen)
{
    size_t n = strlen(v);
    return set_string(&m->content, v, n > WX_XML_CONTENT_MAX ? utf8_cut(v, WX_XML_CONTENT_MAX) : n,
                      err, errlen);
}

static int set_encrypt(struct wx_msg *m, const char *v, char *err, size_t errlen)
{
    m->encrypt_len = strlen(v);
    return set_string(&m->encrypt, v, m->encrypt_len, err, errlen);
}

/* Copy one child element's text into the struct; unknown elements are
 * ignored (WeChat adds fields over time). */
static int take_element(struct wx_msg *m, const char *name, const char *v, char *err, size_t errlen)
{
    if (strcmp(name, "CreateTime") == 0)
        return set_create_time(m, v, err, errlen);
    if (strcmp(name, "Encrypt") == 0)
        return set_encrypt(m, v, err, errlen);
    if (strcmp(name, "Content") == 0)
        return set_content(m, v, err, errlen);
    for (size_t i = 0; i < WXS_ARRAY_LEN(fields); i++)
        if (strcmp(name, fields[i].name) == 0)
            return set_field(m, &fields[i], v, err, errlen);
    return 0;
}

static int check_required(const struct wx_msg *m, bool need_plain, char *err, size_t errlen)
{
    const char *missing = NULL;
    if (!need_plain) {
        if (!m->encrypt || !m->encrypt_len)
            missing = "Encrypt";
    } else if (!m->to[0]) {
        missing = "ToUserName";
    } else if (!m->from[0]) {
        missing = "FromUserName";
    } else if (!m->has_create_time) {
        missing = "CreateTime";
    } else if (!m->msg_type[0]) {
        missing = "MsgType";
    } else if (strcasecmp(m->msg_type, "event") == 0 && !m->event[0]) { /* case: route.c */
        missing = "Event";
    }
    if (missing) {
        snprintf(err, errlen, "missing %s", missing);
        return -1;
    }
    if (m->msg_id[0]) {
        uint64_t id;
        if (util_parse_u64(m->msg_id, 0, UINT64_MAX, &id) < 0) {
            snprintf(err, errlen, "MsgId is not a number");
            return -1;
        }
    }
    return 0;
}

/* ---- SAX: fill the struct while parsing, never build a tree ---- */

/* Parse state, reached from the libxml2 context's _private. */
struct sax_state {
    struct wx_msg *m;
    int depth;       /* 1 = <xml>, 2 = a field */
    char name[32];   /* the field being read ("" = unknown/too long name) */
    struct buf text; /* its text so far (all text and CDATA inside it) */
    size_t text_cap; /* accumulation bound: the body length */
    char *err;
    size_t errlen;
    bool failed;
};

struct wx_xml_parser {
    xmlParserCtxtPtr ctxt;
    xmlSAXHandler sax;
    struct sax_state state;
    struct buf envelope; /* the envelope with its Encrypt value cut out */
    bool full_only;      /* never take the envelope shortcut (tests) */
    size_t shortcuts;    /* envelopes parsed through it */
};

static struct sax_state *sax_of(void *ctx)
{
    return ((xmlParserCtxtPtr)ctx)->_private;
}

static void sax_fail(void *ctx, struct sax_state *st)
{
    st->failed = true;
    xmlStopParser((xmlParserCtxtPtr)ctx);
}

static void sax_start(void *ctx, const xmlChar *localname, const xmlChar *prefix,
                      const xmlChar *uri, int nns, const xmlChar **ns, int nattr, int ndef,
                      const xmlChar **attrs)
{
    struct sax_state *st = sax_of(ctx);
    const char *name = (const char *)localname;
    st->depth++;
    if (st->depth > WX_XML_DEPTH_MAX) {
        snprintf(st->err, st->errlen, "elements nested deeper than " STR(WX_XML_DEPTH_MAX));
        sax_fail(ctx, st);
    } else if (st->depth == 1 && strcmp(name, "xml") != 0) {
        snprintf(st->err, st->errlen, "root element is not <xml>");
        sax_fail(ctx, st);
    } else if (st->depth == 2) {
        if (util_strlcpy(st->name, name, sizeof(st->name)) >= sizeof(st->name))
            st->name[0] = '\0';
        buf_reset(&st->text);
    }
}

static void sax_text(void *ctx, const xmlChar *ch, int len)
{
    struct sax_state *st = sax_of(ctx);
    if (st->depth < 2 || !st->name[0] || st->failed)
        return;
    if (st->text.len + (size_t)len > st->text_cap || buf_append(&st->text, ch, (size_t)len) < 0) {
        snprintf(st->err, st->errlen, "%s too long", st->name);
        sax_fail(ctx, st);
    }
}

static void sax_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    struct sax_state *st = sax_of(ctx);
    if (st->depth == 2 && st->name[0] && !st->failed &&
        take_element(st->m, st->name, st->text.data ? st->text.data : "", st->err, st->errlen) < 0)
        sax_fail(ctx, st);
    st->depth--;
}

/* Belt and braces: prescan() already refused any DTD. */
static void sax_subset(void *ctx, const xmlChar *name, const xmlChar *eid, const xmlChar *sid)
{
    struct sax_state *st = sax_of(ctx);
    snprintf(st->err, st->errlen, "DOCTYPE/DTD declarations are not allowed");
    sax_fail(ctx, st);
}

/* The first fatal error ends the parse. libxml2 would go on (callbacks
 * off) to the end of the body, and after a character not allowed in a
 * CDATA section or comment it reads the rest of that section as markup,
 * which prescan() skipped without counting: a 7,000-attribute tag behind
 * "<![CDATA[\x0f" cost 13 ms. The error stays the context's last, so the
 * answer is still "not well-formed XML at line N" (N is the first error's
 * line now, not the last's). */
static void sax_error(void *ctx, xmlErrorPtr e)
{
    if (e->level == XML_ERR_FATAL)
        xmlStopParser(ctx);
}

int wx_xml_parser_new(struct wx_xml_parser **out)
{
    struct wx_xml_parser *p = calloc(1, sizeof(*p));
    if (!p)
        return -1;
    xmlSAXVersion(&p->sax, 2);
    p->sax.startDocument = NULL; /* no document object */
    p->sax.endDocument = NULL;
    p->sax.internalSubset = sax_subset;
    p->sax.externalSubset = sax_subset;
    p->sax.entityDecl = NULL;
    p->sax.resolveEntity = NULL;
    p->sax.startElementNs = sax_start;
    p->sax.endElementNs = sax_end;
    p->sax.characters = sax_text;
    p->sax.cdataBlock = sax_text;
    p->sax.ignorableWhitespace = sax_text;
    p->sax.processingInstruction = NULL;
    p->sax.comment = NULL;
    p->sax.serror = sax_error;
    p->ctxt = xmlNewParserCtxt();
    if (!p->ctxt) {
        free(p);
        return -1;
    }
    *p->ctxt->sax = p->sax;
    p->ctxt->userData = p->ctxt;
    p->ctxt->_private = &p->state;
    *out = p;
    return 0;
}

void wx_xml_parser_free(struct wx_xml_parser *p)
{
    if (!p)
        return;
    xmlFreeParserCtxt(p->ctxt);
    buf_free(&p->state.text);
    buf_free(&p->envelope);
    free(p);
}

/* XML_PARSE_IGNORE_ENC: the body is UTF-8 whatever its declaration says
 * (is_utf8_start() has the reason). */
#define SAX_OPTIONS                                                                                \
    (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA |               \
     XML_PARSE_IGNORE_ENC)

/* xmlCtxtReadMemory() step by step, with one difference: libxml2 before
 * 2.11 copies the whole body into the input buffer but still gives it a
 * no-op read callback, and the parser then "grows" that buffer (a realloc
 * check and a callback) every few dozen bytes: a third of the parse
 * (callgrind). With the callback cleared the parser reads the copy as a push
 * parser would. Newer versions read memory differently: left as they are. */
static int sax_feed(xmlParserCtxtPtr ctxt, const char *body, size_t len)
{
#if LIBXML_VERSION < 21100
    xmlCtxtReset(ctxt);
    /* The copy's buffer would be 2 * xmlDefaultBufferSize (8 KB), a size
     * glibc's malloc serves only after merging its fast bins: that and its
     * free cost more instructions than the parse of a push (callgrind).
     * Sized to the body instead; the setting only sizes new buffers. */
    int dflt = xmlDefaultBufferSize;
    if (len < 8192)
        xmlDefaultBufferSize = (int)len / 2 + 1;
    xmlParserInputBufferPtr in =
        xmlParserInputBufferCreateMem(body, (int)len, XML_CHAR_ENCODING_NONE);
    xmlDefaultBufferSize = dflt;
    xmlParserInputPtr stream = in ? xmlNewIOInputStream(ctxt, in, XML_CHAR_ENCODING_NONE) : NULL;
    if (!stream) {
        xmlFreeParserInputBuffer(in);
        return -1;
    }
    in->readcallback = NULL; /* the whole body is in the buffer already */
    inputPush(ctxt, stream);
    xmlCtxtUseOptions(ctxt, SAX_OPTIONS);
    xmlParseDocument(ctxt);
    return 0;
#else
    xmlCtxtReadMemory(ctxt, body, (int)len, NULL, NULL, SAX_OPTIONS);
    return 0;
#endif
}

/* Run libxml2 over body with our SAX callbacks; 0 when well-formed and every
 * field was accepted. */
static int sax_run(struct wx_xml_parser *p, const char *body, size_t len)
{
    struct sax_state *st = &p->state;
    if (sax_feed(p->ctxt, body, len) < 0) {
        snprintf(st->err, st->errlen, "out of memory");
        return -1;
    }
    p->ctxt->_private = st; /* reset keeps it; restated so the invariant is local */
    if (st->failed)
        return -1;
    if (!p->ctxt->wellFormed || st->depth != 0) {
        const xmlError *e = xmlCtxtGetLastError(p->ctxt);
        if (e && e->line > 0)
            snprintf(st->err, st->errlen, "not well-formed XML at line %d", e->line);
        else
            snprintf(st->err, st->errlen, "not well-formed XML");
        return -1;
    }
    return 0;
}

/* ---- safe-mode envelopes: the Encrypt value not read char by char ----
 * libxml2 2.9 reads a CDATA section one character at a time (~90
 * instructions a byte), so the ~600 bytes of base64 in an envelope's
 * Encrypt cost twice the rest of a safe push's parsing. An envelope as
 * WeChat sends it (it starts with "<xml>", has no '@' and no '&', one
 * "<Encrypt", and Encrypt's content is one CDATA section of base64
 * characters) is parsed by libxml2 with that section's content replaced
 * by "@". The markup is byte for byte the same (base64 characters and '@'
 * are plain text wherever they stand), libxml2 checks all of it, and
 * Encrypt must come back as exactly "@": nothing else in the document can
 * produce an '@', so the value taken is the one the full parse gives.
 * Anything else, and any failure, takes the full parse, so every answer
 * and error is the full parse's (fuzz_xml compares the two). */

static bool is_base64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
}

/* The base64 inside "<Encrypt><![CDATA[...]]></Encrypt>", or NULL when
 * the shortcut does not apply. */
static const char *envelope_value(const char *body, size_t len, size_t *vlen)
{
    static const char open[] = "<Encrypt><![CDATA[", close[] = "]]></Encrypt>";
    if (len < 5 || memcmp(body, "<xml>", 5) != 0 || memchr(body, '@', len) ||
        memchr(body, '&', len))
        return NULL;
    const char *end = body + len;
    const char *e = find_str(body, len, "<Encrypt", 8);
    if (!e || find_str(e + 8, (size_t)(end - e - 8), "<Encrypt", 8) ||
        (size_t)(end - e) < sizeof(open) - 1 + sizeof(close) - 1 ||
        memcmp(e, open, sizeof(open) - 1) != 0)
        return NULL;
    const char *v = e + sizeof(open) - 1, *q = v;
    while (q < end && is_base64(*q))
        q++;
    /* A longer value cannot hold a push within the bounds: it takes the
     * full parse, to be refused there as too large (long before libxml2's
     * own XML_MAX_TEXT_LENGTH). */
    if (q == v || (size_t)(q - v) > WX_XML_ENCRYPT_MAX || (size_t)(end - q) < sizeof(close) - 1 ||
        memcmp(q, close, sizeof(close) - 1) != 0)
        return NULL;
    *vlen = (size_t)(q - v);
    return v;
}

static int sax_parse(struct wx_xml_parser *p, const char *body, size_t len, bool need_plain,
                     struct wx_msg *out, char *err, size_t errlen);

/* The envelope with its Encrypt value v (envelope_value()) replaced by
 * "@", parsed. 0 = parsed through the shortcut, -1 = take the full parse. */
static int parse_envelope_short(struct wx_xml_parser *p, const char *body, size_t len,
                                const char *v, size_t vlen, struct wx_msg *out, char *err,
                                size_t errlen)
{
    struct buf *b = &p->envelope;
    buf_reset(b);
    if (buf_append(b, body, (size_t)(v - body)) < 0 || buf_append(b, "@", 1) < 0 ||
        buf_append(b, v + vlen, len - (size_t)(v - body) - vlen) < 0)
        return -1;
    char *value = NULL;
    if (sax_parse(p, b->data, b->len, false, out, err, errlen) < 0 || out->encrypt_len != 1 ||
        out->encrypt[0] != '@' || !(value = strndup(v, vlen))) {
        wx_msg_clear(out);
        return -1;
    }
    free(out->encrypt);
    out->encrypt = value;
    out->encrypt_len = vlen;
    p->shortcuts++;
    return 0;
}

void wx_xml_parser_full_only(struct wx_xml_parser *p, bool on)
{
    p->full_only = on;
}

size_t wx_xml_parser_shortcuts(const struct wx_xml_parser *p)
{
    return p->shortcuts;
}

/* The bounds, then the shortcut for an envelope in WeChat's form, else the
 * full parse. Whether the Encrypt is exempt from WX_XML_PARSE_MAX depends
 * on the form only, not on the path taken, so full_only answers the same. */
int wx_xml_parser_parse(struct wx_xml_parser *p, const char *body, size_t len, bool need_plain,
                        struct wx_msg *out, char *err, size_t errlen)
{
    size_t vlen = 0;
    const char *v = NULL, *bad = prescan(body, len, need_plain);
    if (!bad && !need_plain && !(v = envelope_value(body, len, &vlen)))
        vlen = 0;
    if (!bad && len - vlen > WX_XML_PARSE_MAX)
        bad = TOO_LARGE;
    if (bad) {
        memset(out, 0, sizeof(*out));
        snprintf(err, errlen, "%s", bad);
        return -1;
    }
    if (v && !p->full_only && parse_envelope_short(p, body, len, v, vlen, out, err, errlen) == 0)
        return 0;
    return sax_parse(p, body, len, need_plain, out, err, errlen);
}

/* libxml2 over body (prescan() has passed), into out. */
static int sax_parse(struct wx_xml_parser *p, const char *body, size_t len, bool need_plain,
                     struct wx_msg *out, char *err, size_t errlen)
{
    struct sax_state *st = &p->state;
    int ret = -1;
    memset(out, 0, sizeof(*out));
    if (len == 0 || len > INT32_MAX) {
        snprintf(err, errlen, len ? "body too large" : "not well-formed XML: empty body");
        return -1;
    }
    st->m = out;
    st->depth = 0;
    st->name[0] = '\0';
    st->text_cap = len;
    st->err = err;
    st->errlen = errlen;
    st->failed = false;
    buf_reset(&st->text);
    if (sax_run(p, body, len) == 0)
        ret = check_required(out, need_plain, err, errlen);
    st->m = NULL;
    if (ret < 0)
        wx_msg_clear(out);
    return ret;
}

int wx_xml_parse(const char *body, size_t len, bool need_plain, struct wx_msg *out, char *err,
                 size_t errlen)
{
    struct wx_xml_parser *p;
    memset(out, 0, sizeof(*out));
    if (wx_xml_parser_new(&p) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int ret = wx_xml_parser_parse(p, body, len, need_plain, out, err, errlen);
    wx_xml_parser_free(p);
    return ret;
}
