#include "reply.h"

#include <stdio.h>
#include <stdlib.h>
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

/* ---- reply kinds ---- */

static const char *const kind_names[] = {"text", "news", "image"};

const char *reply_kind_name(enum reply_kind k)
{
    return (size_t)k < WXS_ARRAY_LEN(kind_names) ? kind_names[k] : "text";
}

int reply_kind_from_name(const char *name)
{
    for (size_t i = 0; name && i < WXS_ARRAY_LEN(kind_names); i++)
        if (strcmp(name, kind_names[i]) == 0)
            return (int)i;
    return -1;
}

/* UTF-8 code points of a valid UTF-8 string. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* A text field of an article: min..max characters of UTF-8, no control
 * character (tab and newline only where multiline). */
static int check_chars(const char *field, const char *v, size_t min, size_t max, bool multiline,
                       char *err, size_t errlen)
{
    const char *s = v ? v : "";
    if (!util_utf8_valid(s, strlen(s)))
        return snprintf(err, errlen, "%s: not valid UTF-8", field), -1;
    size_t n = utf8_chars(s);
    if (n < min || n > max) {
        snprintf(err, errlen, "%s: %zu characters, outside %zu..%zu", field, n, min, max);
        return -1;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p < 0x20 && !(multiline && (*p == '\n' || *p == '\t'))) || *p == 0x7f) {
            snprintf(err, errlen, "%s: control character at byte %zu", field,
                     (size_t)(p - (const unsigned char *)s) + 1);
            return -1;
        }
    }
    return 0;
}

/* An http(s) URL with a host, printable ASCII without blanks (a link a
 * phone opens; non-ASCII must be percent-encoded). */
static int check_url(const char *field, const char *v, bool required, char *err, size_t errlen)
{
    if (!v || !*v) {
        if (required)
            return snprintf(err, errlen, "%s: required (an http:// or https:// URL)", field), -1;
        return 0;
    }
    size_t n = strlen(v);
    if (n > REPLY_URL_MAX)
        return snprintf(err, errlen, "%s: %zu bytes, longer than %d", field, n, REPLY_URL_MAX), -1;
    size_t scheme = strncmp(v, "https://", 8) == 0 ? 8 : strncmp(v, "http://", 7) == 0 ? 7 : 0;
    if (!scheme)
        return snprintf(err, errlen, "%s: must start with http:// or https://", field), -1;
    if (!v[scheme] || v[scheme] == '/' || v[scheme] == '?' || v[scheme] == '#')
        return snprintf(err, errlen, "%s: no host after the scheme", field), -1;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= ' ' || *p >= 0x7f) {
            snprintf(err, errlen,
                     "%s: blank, control or non-ASCII character at byte %zu (percent-encode it)",
                     field, (size_t)(p - (const unsigned char *)v) + 1);
            return -1;
        }
    return 0;
}

int reply_news_validate(const struct reply_news *n, const char **field, char *err, size_t errlen)
{
    const char *f = "title";
    int rc = check_chars("news_title", n->title, 1, REPLY_NEWS_TITLE_MAX, false, err, errlen);
    if (rc == 0 && (f = "description", 1))
        rc = check_chars("news_description", n->description, 0, REPLY_NEWS_DESC_MAX, true, err,
                         errlen);
    if (rc == 0 && (f = "picurl", 1))
        rc = check_url("news_picurl", n->picurl, false, err, errlen);
    if (rc == 0 && (f = "url", 1))
        rc = check_url("news_url", n->url, true, err, errlen);
    if (rc < 0 && field)
        *field = f;
    return rc;
}

int reply_media_id_validate(const char *media_id, char *err, size_t errlen)
{
    size_t n = media_id ? strlen(media_id) : 0;
    if (n < 1 || n > REPLY_MEDIA_ID_MAX)
        return snprintf(err, errlen, "media_id: length %zu is outside 1..%d bytes", n,
                        REPLY_MEDIA_ID_MAX),
               -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)media_id[i] <= ' ' || (unsigned char)media_id[i] >= 0x7f)
            return snprintf(err, errlen, "media_id: not printable ASCII at byte %zu", i + 1), -1;
    return 0;
}

static int put_field(struct buf *out, const char *v)
{
    char sep = REPLY_SEP;
    return buf_append(out, &sep, 1) < 0 || buf_puts(out, v ? v : "") < 0 ? -1 : 0;
}

int reply_encode_news(struct buf *out, const struct reply_news *n)
{
    char tag = REPLY_TAG;
    if (buf_append(out, &tag, 1) < 0 || buf_puts(out, "news") < 0 || put_field(out, n->title) < 0 ||
        put_field(out, n->description) < 0 || put_field(out, n->picurl) < 0 ||
        put_field(out, n->url) < 0)
        return -1;
    return 0;
}

int reply_encode_image(struct buf *out, const char *media_id)
{
    char tag = REPLY_TAG;
    if (buf_append(out, &tag, 1) < 0 || buf_puts(out, "image") < 0 || put_field(out, media_id) < 0)
        return -1;
    return 0;
}

enum reply_kind reply_stored_kind(const char *stored)
{
    if (!stored || stored[0] != REPLY_TAG)
        return REPLY_TEXT;
    size_t n = strcspn(stored + 1, "\x1f");
    if (n == 4 && strncmp(stored + 1, "news", 4) == 0)
        return REPLY_NEWS;
    if (n == 5 && strncmp(stored + 1, "image", 5) == 0)
        return REPLY_IMAGE;
    return REPLY_TEXT;
}

/* Split a tagged reply of kind `kind` into exactly nf fields. */
static int decode_fields(const char *stored, enum reply_kind kind, const char **f, size_t nf,
                         char **copy)
{
    *copy = NULL;
    if (reply_stored_kind(stored) != kind)
        return -1;
    char *c = strdup(stored);
    if (!c)
        return -1;
    char *p = strchr(c, REPLY_SEP);
    size_t i = 0;
    while (p && i < nf) {
        *p++ = '\0';
        f[i++] = p;
        p = strchr(p, REPLY_SEP);
    }
    if (i != nf || p) {
        free(c);
        return -1;
    }
    *copy = c;
    return 0;
}

int reply_decode_news(const char *stored, struct reply_news *n, char **copy)
{
    const char *f[4];
    if (decode_fields(stored, REPLY_NEWS, f, 4, copy) < 0)
        return -1;
    *n = (struct reply_news){.title = f[0], .description = f[1], .picurl = f[2], .url = f[3]};
    return 0;
}

int reply_decode_image(const char *stored, const char **media_id, char **copy)
{
    return decode_fields(stored, REPLY_IMAGE, media_id, 1, copy);
}

/* <xml><ToUserName>..</ToUserName><FromUserName>..</FromUserName>
 * <CreateTime>..</CreateTime><MsgType><![CDATA[type]]></MsgType>: the head
 * every passive reply shares. */
static int xml_head(struct buf *out, const char *to, const char *from, int64_t create_time,
                    const char *type)
{
    char t[24];
    size_t tlen = (size_t)(util_put_i64(t, t + sizeof(t), create_time) - t);
    if (buf_puts(out, "<xml><ToUserName>") < 0 || reply_cdata(out, to) < 0 ||
        buf_puts(out, "</ToUserName><FromUserName>") < 0 || reply_cdata(out, from) < 0 ||
        buf_puts(out, "</FromUserName><CreateTime>") < 0 || buf_append(out, t, tlen) < 0 ||
        buf_puts(out, "</CreateTime><MsgType>") < 0 || reply_cdata(out, type) < 0 ||
        buf_puts(out, "</MsgType>") < 0)
        return -1;
    return 0;
}

/* <name>CDATA(v)</name> */
static int xml_elem(struct buf *out, const char *name, const char *v)
{
    if (buf_printf(out, "<%s>", name) < 0 || reply_cdata(out, v ? v : "") < 0 ||
        buf_printf(out, "</%s>", name) < 0)
        return -1;
    return 0;
}

int reply_news_xml(struct buf *out, const char *to, const char *from, int64_t create_time,
                   const struct reply_news *n)
{
    if (xml_head(out, to, from, create_time, "news") < 0 ||
        buf_puts(out, "<ArticleCount>1</ArticleCount><Articles><item>") < 0 ||
        xml_elem(out, "Title", n->title) < 0 || xml_elem(out, "Description", n->description) < 0 ||
        xml_elem(out, "PicUrl", n->picurl) < 0 || xml_elem(out, "Url", n->url) < 0 ||
        buf_puts(out, "</item></Articles></xml>") < 0)
        return -1;
    return 0;
}

int reply_image_xml(struct buf *out, const char *to, const char *from, int64_t create_time,
                    const char *media_id)
{
    if (xml_head(out, to, from, create_time, "image") < 0 || buf_puts(out, "<Image>") < 0 ||
        xml_elem(out, "MediaId", media_id) < 0 || buf_puts(out, "</Image></xml>") < 0)
        return -1;
    return 0;
}

int reply_xml(struct buf *out, const char *to, const char *from, int64_t create_time,
              const char *stored)
{
    struct reply_news n;
    const char *media_id;
    char *copy = NULL;
    int rc = -1;
    switch (reply_stored_kind(stored)) {
    case REPLY_TEXT:
        return reply_text_xml(out, to, from, create_time, stored);
    case REPLY_NEWS:
        if (reply_decode_news(stored, &n, &copy) == 0)
            rc = reply_news_xml(out, to, from, create_time, &n);
        break;
    case REPLY_IMAGE:
        if (reply_decode_image(stored, &media_id, &copy) == 0)
            rc = reply_image_xml(out, to, from, create_time, media_id);
        break;
    }
    free(copy);
    return rc;
}
