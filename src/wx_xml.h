/* wx_xml: the pushed XML, parsed safely into a plain struct. libxml2 with
 * no DTD, no entities, no network; any DOCTYPE/ENTITY declaration is
 * rejected before parsing; the tree is dropped before returning. */
#ifndef WXS_WX_XML_H
#define WXS_WX_XML_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util.h"

/* Field limits (bytes). A longer identity field is an error; a longer
 * Content is truncated (we never need all of it). */
#define WX_XML_ID_MAX      128  /* ToUserName, FromUserName */
#define WX_XML_TYPE_MAX    32   /* MsgType */
#define WX_XML_EVENT_MAX   64   /* Event */
#define WX_XML_KEY_MAX     512  /* EventKey */
#define WX_XML_TICKET_MAX  512  /* Ticket */
#define WX_XML_CONTENT_MAX 2048 /* Content (truncated) */

/* Bounds on the parse's work: within them any body costs libxml2 a few
 * milliseconds at most, whatever [server] max_body_bytes allows; a body
 * beyond any of them is refused before or while libxml2 reads it. WeChat's
 * pushes are far inside every one (wx_xml.c says why each is what it is). */
#define WX_XML_PARSE_MAX    65536 /* bytes of XML, a safe-mode Encrypt aside */
#define WX_XML_ENCRYPT_MAX  88000 /* bytes of a safe-mode envelope's Encrypt */
#define WX_XML_ELEMENTS_MAX 512   /* elements in a push */
#define WX_XML_ATTRS_MAX    16    /* attributes (and xmlns) of one element */
#define WX_XML_DEPTH_MAX    16    /* <xml> is depth 1 */

struct wx_msg {
    char to[WX_XML_ID_MAX + 1];
    char from[WX_XML_ID_MAX + 1];
    int64_t create_time;
    char msg_type[WX_XML_TYPE_MAX + 1];
    char event[WX_XML_EVENT_MAX + 1];
    char event_key[WX_XML_KEY_MAX + 1];
    char ticket[WX_XML_TICKET_MAX + 1];
    char *content;   /* Content cut to WX_XML_CONTENT_MAX bytes, malloc'd or NULL */
    char msg_id[24]; /* decimal MsgId, "" when absent */
    char *encrypt;   /* Encrypt element (safe/compat), malloc'd or NULL */
    size_t encrypt_len;
    bool has_create_time;
};

/* Parse body. need_plain: ToUserName, FromUserName, CreateTime, MsgType are
 * required (a plaintext push or a decrypted one); otherwise only Encrypt is
 * (a safe-mode envelope). Returns 0, or -1 with a reason in err
 * ("DOCTYPE not allowed", "not well-formed XML at line 3", "missing
 * FromUserName", "more than 512 elements", ...). Free with wx_msg_clear(). */
int wx_xml_parse(const char *body, size_t len, bool need_plain, struct wx_msg *out, char *err,
                 size_t errlen) WXS_MUSTCHECK;
void wx_msg_clear(struct wx_msg *m);

/* Why a body of len bytes is refused whatever it holds (it is over the size
 * bounds), or NULL. wx_xml_parse() checks it first; the server also asks
 * before copying a body out of its buffers. */
const char *wx_xml_too_large(size_t len, bool need_plain);

/* A reusable parser (one libxml2 context, no tree built): the server keeps
 * one per thread. wx_xml_parse() above is the same with a temporary one. */
struct wx_xml_parser;
int wx_xml_parser_new(struct wx_xml_parser **out) WXS_MUSTCHECK;
void wx_xml_parser_free(struct wx_xml_parser *p);
/* on: never take the envelope shortcut (tests compare the two); how many
 * envelopes took it. */
void wx_xml_parser_full_only(struct wx_xml_parser *p, bool on);
size_t wx_xml_parser_shortcuts(const struct wx_xml_parser *p);
int wx_xml_parser_parse(struct wx_xml_parser *p, const char *body, size_t len, bool need_plain,
                        struct wx_msg *out, char *err, size_t errlen) WXS_MUSTCHECK;

/* Once per process, before any parse (xmlInitParser + silenced errors). */
void wx_xml_global_init(void);
#endif
