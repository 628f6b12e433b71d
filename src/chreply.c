#include "chreply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db.h"

static const struct db_query q_get = {
    "chreply.get", "SELECT kind, title, description, picurl, url, media_id, media_file, "
                   "updated_at FROM channel_replies WHERE scene = ?1"};
static const struct db_query q_put = {
    "chreply.put",
    "INSERT INTO channel_replies(scene, kind, title, description, picurl, url, media_id, "
    "media_file, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(scene) DO "
    "UPDATE SET kind = excluded.kind, title = excluded.title, description = "
    "excluded.description, picurl = excluded.picurl, url = excluded.url, media_id = "
    "excluded.media_id, media_file = excluded.media_file, updated_at = excluded.updated_at"};
static const struct db_query q_del = {"chreply.del",
                                      "DELETE FROM channel_replies WHERE scene = ?1"};

void chreply_clear(struct chreply *r)
{
    free(r->title);
    free(r->description);
    free(r->picurl);
    free(r->url);
    free(r->media_id);
    free(r->media_file);
    memset(r, 0, sizeof(*r));
}

/* Column i as a malloc'd string; *lost set when it was there but memory was not. */
static char *col(struct db_stmt *s, int i, bool *lost)
{
    char *v = db_col_strdup(s, i);
    if (!v && !db_col_null(s, i))
        *lost = true;
    return v;
}

int chreply_get(struct store *st, const char *scene, struct chreply *out)
{
    struct db_stmt *s = db_stmt(store_db(st), &q_get);
    int ret = 1;
    bool lost = false;
    memset(out, 0, sizeof(*out));
    db_bind_text(s, 1, scene);
    int rc = db_step(s);
    if (rc == DB_ROW) {
        const char *k = db_col_text(s, 0);
        out->kind = k && strcmp(k, "image") == 0 ? REPLY_IMAGE : REPLY_NEWS;
        out->title = col(s, 1, &lost);
        out->description = col(s, 2, &lost);
        out->picurl = col(s, 3, &lost);
        out->url = col(s, 4, &lost);
        out->media_id = col(s, 5, &lost);
        out->media_file = col(s, 6, &lost);
        out->updated_at = db_col_int64(s, 7);
        ret = lost ? -1 : 0;
        if (lost)
            chreply_clear(out);
    } else if (rc != DB_DONE) {
        ret = -1;
    }
    db_reset(s);
    return ret;
}

/* One upsert of the row; NULL fields are stored as NULL. */
static int put(struct store *st, const char *scene, const char *kind, const struct reply_news *n,
               const char *media_id, const char *file)
{
    struct db_stmt *s = db_stmt(store_db(st), &q_put);
    db_bind_text(s, 1, scene);
    db_bind_text(s, 2, kind);
    db_bind_text_opt(s, 3, n ? n->title : NULL);
    db_bind_text_opt(s, 4, n ? n->description : NULL);
    db_bind_text_opt(s, 5, n ? n->picurl : NULL);
    db_bind_text_opt(s, 6, n ? n->url : NULL);
    db_bind_text_opt(s, 7, media_id);
    db_bind_text_opt(s, 8, file);
    db_bind_int64(s, 9, util_now());
    return db_run(s) < 0 ? -1 : 0;
}

int chreply_set_news(struct store *st, const char *scene, const struct reply_news *n)
{
    return put(st, scene, "news", n, NULL, NULL);
}

int chreply_set_image(struct store *st, const char *scene, const char *media_id, const char *file)
{
    return put(st, scene, "image", NULL, media_id, file);
}

int chreply_set_text(struct store *st, const char *scene)
{
    struct db_stmt *s = db_stmt(store_db(st), &q_del);
    db_bind_text(s, 1, scene);
    return db_run(s) < 0 ? -1 : 0;
}

int chreply_encode(const struct chreply *r, const char *scene, const char *channel, struct buf *out)
{
    if (r->kind == REPLY_IMAGE)
        return reply_encode_image(out, r->media_id);
    struct buf title = {0}, desc = {0};
    int rc = -1;
    if (reply_expand(&title, r->title ? r->title : "", scene, channel) == 0 &&
        reply_expand(&desc, r->description ? r->description : "", scene, channel) == 0) {
        struct reply_news n = {title.data, desc.data, r->picurl, r->url};
        rc = reply_encode_news(out, &n);
    }
    buf_free(&title);
    buf_free(&desc);
    return rc;
}

int chreply_json_add(struct store *st, const char *scene, json_t *obj)
{
    struct chreply r;
    int rc = chreply_get(st, scene, &r);
    if (rc < 0)
        return -1;
    json_t *news = json_null(), *image = json_null();
    enum reply_kind kind = rc == 1 ? REPLY_TEXT : r.kind;
    if (kind == REPLY_NEWS)
        news = json_pack("{s:s?, s:s?, s:s?, s:s?}", "title", r.title, "description", r.description,
                         "picurl", r.picurl, "url", r.url);
    else if (kind == REPLY_IMAGE)
        image = json_pack("{s:s?, s:s?}", "media_id", r.media_id, "file", r.media_file);
    int bad = !news || !image ||
              json_object_set_new(obj, "reply_kind", json_string(reply_kind_name(kind))) < 0;
    bad = bad || json_object_set_new(obj, "news", news) < 0;
    bad = bad || json_object_set_new(obj, "image", image) < 0;
    if (rc == 0)
        chreply_clear(&r);
    return bad ? -1 : 0;
}

/* A string member of a news object, or NULL for absent/null; -1 when mistyped. */
static int news_member(const json_t *o, const char *key, const char **out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return snprintf(err, errlen, "news.%s: must be a string without NUL", key), -1;
    *out = json_string_value(v);
    return 0;
}

/* The "news" object of a PATCH: every key known, then validated. */
static int news_from_json(const json_t *o, struct reply_news *n, const char **field, char *err,
                          size_t errlen)
{
    static const char *const keys[] = {"title", "description", "picurl", "url"};
    const char *key;
    json_t *v;
    *field = "news";
    if (!json_is_object(o))
        return snprintf(err, errlen, "news: must be an object {title, url, description, picurl}"),
               -1;
    json_object_foreach((json_t *)o, key, v)
    {
        size_t i = 0;
        while (i < WXS_ARRAY_LEN(keys) && strcmp(key, keys[i]) != 0)
            i++;
        if (i == WXS_ARRAY_LEN(keys))
            return snprintf(err, errlen,
                            "news: unknown field '%.64s' (expected title, description, picurl, "
                            "url)",
                            key),
                   -1;
    }
    if (news_member(o, "title", &n->title, err, errlen) < 0 ||
        news_member(o, "description", &n->description, err, errlen) < 0 ||
        news_member(o, "picurl", &n->picurl, err, errlen) < 0 ||
        news_member(o, "url", &n->url, err, errlen) < 0)
        return -1;
    return reply_news_validate(n, NULL, err, errlen);
}

/* Move key from obj into taken (so the strings stay alive); the value or NULL. */
static json_t *take(json_t *obj, json_t *taken, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return NULL;
    json_object_set(taken, key, v);
    json_object_del(obj, key);
    return json_object_get(taken, key);
}

/* The kind the body's keys ask for (news, image_media_id, reply_kind, reply). */
static int change_kind(json_t *kind_v, json_t *news_v, json_t *media_v, bool has_reply,
                       struct chreply_change *ch, const char **field, char *err, size_t errlen)
{
    int named = -1;
    if (kind_v) {
        *field = "reply_kind";
        named = json_is_string(kind_v) ? reply_kind_from_name(json_string_value(kind_v)) : -1;
        if (named < 0)
            return snprintf(err, errlen, "reply_kind: must be \"text\", \"news\" or \"image\""), -1;
    }
    int implied = news_v ? REPLY_NEWS : media_v ? REPLY_IMAGE : -1;
    if (news_v && media_v)
        return *field = "news",
               snprintf(err, errlen, "news: give news or image_media_id, not both"), -1;
    if (named >= 0 && named != (implied >= 0 ? implied : REPLY_TEXT)) {
        *field = "reply_kind";
        return snprintf(err, errlen, "reply_kind: \"%s\" needs %s", reply_kind_name(named),
                        named == REPLY_NEWS    ? "a \"news\" object"
                        : named == REPLY_IMAGE ? "\"image_media_id\""
                                               : "no news or image_media_id"),
               -1;
    }
    ch->set = named >= 0 || implied >= 0 || has_reply;
    ch->kind = implied >= 0 ? (enum reply_kind)implied : REPLY_TEXT;
    return 0;
}

int chreply_change_from_json(json_t *obj, struct chreply_change *ch, const char **field, char *err,
                             size_t errlen)
{
    memset(ch, 0, sizeof(*ch));
    if (!json_is_object(obj))
        return 0; /* channel_change_from_json() says what is wrong */
    if (!(ch->taken = json_object()))
        return snprintf(err, errlen, "out of memory"), -1;
    json_t *kind_v = take(obj, ch->taken, "reply_kind"), *news_v = take(obj, ch->taken, "news"),
           *media_v = take(obj, ch->taken, "image_media_id");
    int rc = change_kind(kind_v, news_v, media_v, json_object_get(obj, "reply") != NULL, ch, field,
                         err, errlen);
    if (rc == 0 && news_v)
        rc = news_from_json(news_v, &ch->news, field, err, errlen);
    if (rc == 0 && media_v) {
        *field = "image_media_id";
        ch->media_id = json_string_value(media_v);
        rc = reply_media_id_validate(ch->media_id, err, errlen);
    }
    if (rc < 0) {
        json_decref(ch->taken);
        ch->taken = NULL;
    }
    return rc;
}

int chreply_apply(struct store *st, const char *scene, const struct chreply_change *ch)
{
    if (!ch->set)
        return 0;
    switch (ch->kind) {
    case REPLY_NEWS:
        return chreply_set_news(st, scene, &ch->news);
    case REPLY_IMAGE:
        return chreply_set_image(st, scene, ch->media_id, NULL);
    default:
        return chreply_set_text(st, scene);
    }
}
