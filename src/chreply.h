/* chreply: a channel's subscribe reply kind (issue 20). A channel answers a
 * subscribe (and a SCAN without its own scan reply) with its text
 * (channels.reply, the default), a news card or an image; the news and
 * image replies live in channel_replies, one row per channel, so switching
 * back to text (`--reply TEXT`, PATCH "reply_kind": "text") deletes the row
 * and finds the text where it was. The route reads the row on the commit
 * thread and stores the reply it built with the event (reply.h's stored
 * form), which is what answers a retry. */
#ifndef WXS_CHREPLY_H
#define WXS_CHREPLY_H
#include <stdint.h>
#include "reply.h"
#include "store.h"
#include "util.h"

struct json_t;

struct chreply {
    enum reply_kind kind;                     /* REPLY_NEWS or REPLY_IMAGE */
    char *title, *description, *picurl, *url; /* news */
    char *media_id, *media_file;              /* image */
    int64_t updated_at;
};
void chreply_clear(struct chreply *r);

/* 0 found (*out filled; caller chreply_clear()s), 1 none (the reply is
 * text), -1 error (store_errmsg()). */
int chreply_get(struct store *st, const char *scene, struct chreply *out) WXS_MUSTCHECK;

/* Make the channel's reply a news card (validate it first) or an image
 * (media_id from media_image_id(); file: its name for the operator). 0 or
 * -1 (store_errmsg()). */
int chreply_set_news(struct store *st, const char *scene, const struct reply_news *n) WXS_MUSTCHECK;
int chreply_set_image(struct store *st, const char *scene, const char *media_id,
                      const char *file) WXS_MUSTCHECK;
/* Back to text: the channel answers with channels.reply again. 0 or -1. */
int chreply_set_text(struct store *st, const char *scene) WXS_MUSTCHECK;

/* The stored reply (reply.h) for r: a news card with {scene} and
 * {channel} expanded in its title and description, or the image. */
int chreply_encode(const struct chreply *r, const char *scene, const char *channel,
                   struct buf *out) WXS_MUSTCHECK;

/* Add "reply_kind" ("text" | "news" | "image"), "news" ({"title",
 * "description", "picurl", "url"} or null) and "image" ({"media_id",
 * "file"} or null) to a channel's JSON object, from the channel_replies
 * row of scene. 0, or -1 (store_errmsg(), or out of memory). */
int chreply_json_add(struct store *st, const char *scene, struct json_t *obj) WXS_MUSTCHECK;

/* What a PATCH body asks of the reply kind, read (and removed) from obj
 * before the channel's own fields go to channel_change_from_json():
 * "reply_kind": "text" | "news" | "image", "news": {...} (implies news),
 * "image_media_id": "..." (implies image: a permanent material already
 * uploaded, e.g. by `wxscene channel edit --reply-image`), and "reply" (a
 * text) implies text. */
struct chreply_change {
    bool set; /* the body changes the kind */
    enum reply_kind kind;
    struct reply_news news; /* REPLY_NEWS: strings borrowed from the body */
    const char *media_id;   /* REPLY_IMAGE */
    struct json_t *taken;   /* the keys removed from obj (keeps the strings alive) */
};
/* 0, or -1 with "FIELD: why" in err and *field = FIELD. On success
 * caller json_decref()s ch->taken. */
int chreply_change_from_json(struct json_t *obj, struct chreply_change *ch, const char **field,
                             char *err, size_t errlen) WXS_MUSTCHECK;
/* Apply a change read above (inside the caller's transaction). 0 or -1. */
int chreply_apply(struct store *st, const char *scene,
                  const struct chreply_change *ch) WXS_MUSTCHECK;
#endif
