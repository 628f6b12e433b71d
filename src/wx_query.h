/* wx_query: the callback URL's query string, read exactly as
 * evhttp_parse_query_str() + evhttp_find_header() read it (every argument
 * must be key=value with a non-empty key, or the whole query is malformed;
 * an empty query or a trailing '&' is fine; values are %-decoded with '+'
 * as a space, keys are not decoded and match ASCII case-insensitively; the
 * first occurrence wins), but only the six parameters the callback uses
 * are kept, decoded into one buffer: evhttp allocates three blocks for every
 * parameter, which was 2.4 % of a push (callgrind). fuzz/fuzz_query.c checks
 * the equivalence. */
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

/* Parse qs (NULL = no query). 0, or -1 when malformed (or out of memory);
 * call wx_query_clear() either way. */
int wx_query_parse(struct wx_query *q, const char *qs) WXS_MUSTCHECK;
void wx_query_clear(struct wx_query *q);
#endif
