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

/* ---- reply kinds (text, news, image) ----
 * What a push is answered with is stored with its event as one string
 * (events.reply), so a retry is answered from what the first delivery was
 * answered with even when the channel changed since. A text reply is that
 * text as it always was; a news or image reply is the byte REPLY_TAG,
 * the kind's name, then its fields, each after REPLY_SEP. Neither byte
 * can begin a text reply: XML 1.0 cannot carry them (a push's scene) and
 * every configured text refuses control characters (channel_validate). */
#define REPLY_TAG '\x01'
#define REPLY_SEP '\x1f'

enum reply_kind {
    REPLY_TEXT = 0,
    REPLY_NEWS = 1,
    REPLY_IMAGE = 2,
};

/* The kind's name as the CLI, the admin API and the tables spell it
 * ("text", "news", "image"); reply_kind_from_name: -1 for another name. */
const char *reply_kind_name(enum reply_kind k);
int reply_kind_from_name(const char *name);

/* One news article (passive reply: one article; protocol doc 7b). */
struct reply_news {
    const char *title;       /* 1..REPLY_NEWS_TITLE_MAX characters */
    const char *description; /* NULL or 0..REPLY_NEWS_DESC_MAX characters */
    const char *picurl;      /* NULL or an http(s) URL of a JPG/PNG */
    const char *url;         /* the article's http(s) link */
};
#define REPLY_NEWS_TITLE_MAX 64   /* characters (UTF-8 code points) */
#define REPLY_NEWS_DESC_MAX  120  /* characters */
#define REPLY_URL_MAX        1024 /* bytes */
#define REPLY_MEDIA_ID_MAX   128  /* bytes of a media_id */

/* Check an article: lengths above, UTF-8 without control characters (tab
 * and newline allowed in the description), URLs http:// or https:// with a
 * host and no blank. 0, or -1 with "news_FIELD: why" in err and *field =
 * "title" | "description" | "picurl" | "url" when field is not NULL. */
int reply_news_validate(const struct reply_news *n, const char **field, char *err,
                        size_t errlen) WXS_MUSTCHECK;

/* A media_id as WeChat returns it: 1..REPLY_MEDIA_ID_MAX printable ASCII
 * bytes. 0, or -1 with "media_id: why". */
int reply_media_id_validate(const char *media_id, char *err, size_t errlen) WXS_MUSTCHECK;

/* Append the stored form of a news or image reply (see above). */
int reply_encode_news(struct buf *out, const struct reply_news *n) WXS_MUSTCHECK;
int reply_encode_image(struct buf *out, const char *media_id) WXS_MUSTCHECK;

/* The kind of a stored reply (REPLY_TEXT for any text). */
enum reply_kind reply_stored_kind(const char *stored);

/* The passive reply XML for a stored reply of any kind (the text as
 * reply_text_xml() writes it, a news card or an image). -1 when out of
 * memory or when a tagged reply is malformed. */
int reply_xml(struct buf *out, const char *to, const char *from, int64_t create_time,
              const char *stored) WXS_MUSTCHECK;

/* The news and image passive replies; every string goes into CDATA. */
int reply_news_xml(struct buf *out, const char *to, const char *from, int64_t create_time,
                   const struct reply_news *n) WXS_MUSTCHECK;
int reply_image_xml(struct buf *out, const char *to, const char *from, int64_t create_time,
                    const char *media_id) WXS_MUSTCHECK;

/* Split a stored news or image reply into its fields: *copy is a malloc'd
 * copy the pointers point into (caller frees it). -1 for a text or a
 * malformed reply, or when out of memory. */
int reply_decode_news(const char *stored, struct reply_news *n, char **copy) WXS_MUSTCHECK;
int reply_decode_image(const char *stored, const char **media_id, char **copy) WXS_MUSTCHECK;
#endif
