#include "reply.h"

#include <string.h>

int reply_expand(struct buf *out, const char *tmpl, const char *scene, const char *channel)
{
    static const struct {
        const char *token;
        size_t len;
    } vars[] = {{"{scene}", 7}, {"{channel}", 9}};
    const char *p = tmpl;
    while (*p) {
        const char *brace = strchr(p, '{');
        if (!brace)
            return buf_puts(out, p);
        if (buf_append(out, p, (size_t)(brace - p)) < 0)
            return -1;
        size_t i;
        for (i = 0; i < WXS_ARRAY_LEN(vars); i++)
            if (strncmp(brace, vars[i].token, vars[i].len) == 0)
                break;
        if (i == WXS_ARRAY_LEN(vars)) {
            if (buf_append(out, "{", 1) < 0)
                return -1;
            p = brace + 1;
            continue;
        }
        const char *v = i == 0 ? scene : channel;
        if (buf_puts(out, v ? v : "") < 0)
            return -1;
        p = brace + vars[i].len;
    }
    if (!out->data) /* empty template: still a valid empty string */
        return buf_append(out, "", 0);
    return 0;
}

/* "a]]>b" becomes <![CDATA[a]]]]><![CDATA[>b]]>: the first section ends
 * after "]]", the second starts with ">". */
int reply_cdata(struct buf *out, const char *s)
{
    if (buf_puts(out, "<![CDATA[") < 0)
        return -1;
    const char *p = s, *hit;
    while ((hit = strstr(p, "]]>")) != NULL) {
        if (buf_append(out, p, (size_t)(hit - p) + 2) < 0 || buf_puts(out, "]]><![CDATA[") < 0)
            return -1;
        p = hit + 2;
    }
    return (buf_puts(out, p) < 0 || buf_puts(out, "]]>") < 0) ? -1 : 0;
}

int reply_text_xml(struct buf *out, const char *to, const char *from, int64_t create_time,
                   const char *content)
{
    char t[24];
    size_t tlen = (size_t)(util_put_i64(t, t + sizeof(t), create_time) - t);
    if (buf_puts(out, "<xml><ToUserName>") < 0 || reply_cdata(out, to) < 0 ||
        buf_puts(out, "</ToUserName><FromUserName>") < 0 || reply_cdata(out, from) < 0 ||
        buf_puts(out, "</FromUserName><CreateTime>") < 0 || buf_append(out, t, tlen) < 0 ||
        buf_puts(out, "</CreateTime>") < 0 ||
        buf_puts(out, "<MsgType><![CDATA[text]]></MsgType><Content>") < 0 ||
        reply_cdata(out, content) < 0 || buf_puts(out, "</Content></xml>") < 0)
        return -1;
    return 0;
}
