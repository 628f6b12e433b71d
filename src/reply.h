/* reply: passive reply bodies. Templates with {scene} and {channel}, and the
 * text-reply XML with CDATA sections that stay valid whatever the text
 * holds ("]]>" is split across two sections). */
#ifndef WXS_REPLY_H
#define WXS_REPLY_H
#include <stdint.h>
#include "util.h"

/* Expand {scene} and {channel} in tmpl (other braces are kept as they are);
 * NULL values expand to "". Appends to out. */
int reply_expand(struct buf *out, const char *tmpl, const char *scene,
                 const char *channel) WXS_MUSTCHECK;

/* Append s as one or more CDATA sections. */
int reply_cdata(struct buf *out, const char *s) WXS_MUSTCHECK;

/* The passive text reply: To = the fan's openid, From = the account. */
int reply_text_xml(struct buf *out, const char *to, const char *from, int64_t create_time,
                   const char *content) WXS_MUSTCHECK;
#endif
