/* wx_query: the callback URL's query string, read exactly as
 * evhttp_parse_query_str() + evhttp_find_header() read it (every argument
 * must be key=value with a non-empty key, or the whole query is malformed;
 * an empty query or a trailing '&' is fine; values are %-decoded with '+'
 * as a space, keys are not decoded and match ASCII case-insensitively; the
 * first occurrence wins), but only the six parameters the callback uses
 * are kept, decoded into one buffer: evhttp allocates three blocks for every
 * parameter, which was 2.4 % of a push (callgrind). One deliberate
 * difference: a value holding "%00" is refused (WX_QUERY_NUL) where evhttp
 * would return it cut at the NUL. fuzz/fuzz_query.c checks the equivalence. */
#ifndef WXS_WX_QUERY_H
#define WXS_WX_QUERY_H
#include "util.h"

#define WX_QUERY_INLINE 512 /* decoded values up to this size need no allocation */

struct wx_query {
    /* NULL when absent; valid until wx_query_clear() */
    const char *signature, *timestamp, *nonce, *echostr, *encrypt_type, *msg_signature;
    char *heap; /* the decoded values of a long query, else NULL */
    char inline_buf[WX_QUERY_INLINE];
};

/* Parse qs (NULL = no query). 0, WX_QUERY_MALFORMED (or out of memory), or
 * WX_QUERY_NUL when any value, ours or not, decodes to contain a NUL byte
 * (where evhttp would cut it short: "echostr=ab%00cd" read as "ab",
 * "nonce=1%00junk" as "1"); call wx_query_clear() either way. */
#define WX_QUERY_MALFORMED (-1)
#define WX_QUERY_NUL       (-2)
int wx_query_parse(struct wx_query *q, const char *qs) WXS_MUSTCHECK;
void wx_query_clear(struct wx_query *q);
#endif
