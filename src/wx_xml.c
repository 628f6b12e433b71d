#include "wx_xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

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
}

/* Any markup declaration ("<!" other than a comment or CDATA section) means
 * a DTD: refuse it before libxml2 sees it, so no entity is ever declared,
 * let alone expanded (billion laughs, XXE). Processing instructions other
 * than the XML declaration are refused too (xml-stylesheet and friends). */
static const char *find_forbidden(const char *p, size_t len)
{
    const char *end = p + len;
    for (const char *q = memchr(p, '<', len); q; q = memchr(q + 1, '<', (size_t)(end - q - 1))) {
        size_t left = (size_t)(end - q);
        if (left < 2)
            break;
        if (q[1] == '!') {
            if (left >= 4 && memcmp(q, "<!--", 4) == 0)
                continue;
            if (left >= 9 && memcmp(q, "<![CDATA[", 9) == 0) {
                const char *close = memmem(q, left, "]]>", 3);
                if (!close)
                    return NULL; /* unterminated: libxml2 will say not well-formed */
                q = close;
                continue;
            }
            return "DOCTYPE/DTD declarations are not allowed";
        }
        if (q[1] == '?' &&
            !(q == p && left >= 6 && memcmp(q, "<?xml", 5) == 0 && strchr(" \t\r\n", q[5]) != NULL))
            return "processing instructions are not allowed";
        if (left < 2)
            break;
    }
    return NULL;
}

struct field {
    const char *name;
    size_t offset;
    size_t cap; /* array size; 0 = special */
    bool truncate;
};

#define FIELD(n, f, t)                                                                             \
    {                                                                                              \
        n, offsetof(struct wx_msg, f), sizeof(((struct wx_msg *)0)->f), t                          \
    }
static const struct field fields[] = {
    FIELD("ToUserName", to, false),      FIELD("FromUserName", from, false),
    FIELD("MsgType", msg_type, false),   FIELD("Event", event, false),
    FIELD("EventKey", event_key, false), FIELD("Ticket", ticket, false),
    FIELD("Content", content, true),     FIELD("MsgId", msg_id, false),
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
        if (!f->truncate) {
            snprintf(err, errlen, "%s longer than %zu bytes", f->name, f->cap - 1);
            return -1;
        }
        n = utf8_cut(v, f->cap - 1);
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

static int set_encrypt(struct wx_msg *m, const char *v, char *err, size_t errlen)
{
    free(m->encrypt);
    m->encrypt_len = strlen(v);
    if (!(m->encrypt = strdup(v))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Copy one child element's text into the struct; unknown elements are
 * ignored (WeChat adds fields over time). */
static int take_element(struct wx_msg *m, xmlNode *n, char *err, size_t errlen)
{
    const char *name = (const char *)n->name;
    xmlChar *text = xmlNodeGetContent(n);
    const char *v = text ? (const char *)text : "";
    int ret = 0;
    if (strcmp(name, "CreateTime") == 0) {
        ret = set_create_time(m, v, err, errlen);
    } else if (strcmp(name, "Encrypt") == 0) {
        ret = set_encrypt(m, v, err, errlen);
    } else {
        for (size_t i = 0; i < WXS_ARRAY_LEN(fields); i++) {
            if (strcmp(name, fields[i].name) == 0) {
                ret = set_field(m, &fields[i], v, err, errlen);
                break;
            }
        }
    }
    xmlFree(text);
    return ret;
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
    } else if (strcmp(m->msg_type, "event") == 0 && !m->event[0]) {
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

int wx_xml_parse(const char *body, size_t len, bool need_plain, struct wx_msg *out, char *err,
                 size_t errlen)
{
    xmlDoc *doc = NULL;
    int ret = -1;
    memset(out, 0, sizeof(*out));
    const char *bad = find_forbidden(body, len);
    if (bad) {
        snprintf(err, errlen, "%s", bad);
        return -1;
    }
    if (len > INT32_MAX) {
        snprintf(err, errlen, "body too large");
        return -1;
    }
    doc = xmlReadMemory(body, (int)len, NULL, NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                            XML_PARSE_NOCDATA);
    if (!doc) {
        const xmlError *e = xmlGetLastError();
        snprintf(err, errlen, "not well-formed XML%s%d", e ? " at line " : "", e ? e->line : 0);
        if (!e)
            snprintf(err, errlen, "not well-formed XML");
        goto done;
    }
    if (doc->intSubset || doc->extSubset) {
        snprintf(err, errlen, "DOCTYPE/DTD declarations are not allowed");
        goto done;
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!root || strcmp((const char *)root->name, "xml") != 0) {
        snprintf(err, errlen, "root element is not <xml>");
        goto done;
    }
    for (xmlNode *n = root->children; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && take_element(out, n, err, errlen) < 0)
            goto done;
    ret = check_required(out, need_plain, err, errlen);
done:
    xmlFreeDoc(doc);
    if (ret < 0)
        wx_msg_clear(out);
    return ret;
}
