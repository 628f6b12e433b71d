#include "campaign.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "channel.h"
#include "db.h"

#define CAMPAIGN_COLUMNS                                                                           \
    "g.id, g.name, g.note, g.created_at, "                                                         \
    "(SELECT count(*) FROM channels c WHERE c.campaign_id = g.id AND c.archived_at IS NULL)"

/* DO NOTHING rather than a unique violation: on PostgreSQL an error would
 * abort the caller's transaction. */
static const struct db_query q_add = {
    "campaign.add", "INSERT INTO campaigns(name, note, created_at) VALUES(?1, ?2, ?3) "
                    "ON CONFLICT(name) DO NOTHING RETURNING id"};
static const struct db_query q_get = {"campaign.get", "SELECT " CAMPAIGN_COLUMNS
                                                      " FROM campaigns g WHERE g.name = ?1"};
static const struct db_query q_all = {"campaign.all", "SELECT " CAMPAIGN_COLUMNS
                                                      " FROM campaigns g ORDER BY g.name"};
static const struct db_query q_channel_state = {
    "campaign.channel_state", "SELECT archived_at IS NOT NULL FROM channels WHERE scene = ?1"};
static const struct db_query q_set = {"campaign.set_channel",
                                      "UPDATE channels SET campaign_id = ?2 WHERE scene = ?1"};
static const struct db_query q_of = {
    "campaign.of_channel", "SELECT g.name FROM channels c JOIN campaigns g ON g.id = c.campaign_id "
                           "WHERE c.scene = ?1"};

void campaign_clear(struct campaign *c)
{
    free(c->name);
    free(c->note);
    memset(c, 0, sizeof(*c));
}

/* Length, UTF-8 and control characters (tab and newline where allowed). */
static int check_text(const char *field, const char *v, size_t min, size_t max, bool lines,
                      char *err, size_t errlen)
{
    size_t n = strlen(v);
    if (n < min || n > max)
        return snprintf(err, errlen, "%s: length %zu is outside %zu..%zu bytes", field, n, min,
                        max),
               -1;
    if (!util_utf8_valid(v, n))
        return snprintf(err, errlen, "%s: not valid UTF-8", field), -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if ((ch < 0x20 && !(lines && (ch == '\n' || ch == '\t'))) || ch == 0x7f)
            return snprintf(err, errlen, "%s: control character at byte %zu", field, i + 1), -1;
    }
    return 0;
}

int campaign_validate(const char *name, const char *note, const char **field, char *err,
                      size_t errlen)
{
    char *tidy = channel_text_tidy(name ? name : "");
    const char *bad = NULL;
    if (!tidy)
        return snprintf(err, errlen, "out of memory"), -1;
    if (check_text("name", tidy, 1, CAMPAIGN_NAME_MAX, false, err, errlen) < 0)
        bad = "name";
    else if (note && check_text("note", note, 0, CAMPAIGN_NOTE_MAX, true, err, errlen) < 0)
        bad = "note";
    free(tidy);
    if (field)
        *field = bad;
    return bad ? CAMPAIGN_EINVALID : 0;
}

static int from_row(struct db_stmt *s, struct campaign *c)
{
    memset(c, 0, sizeof(*c));
    c->id = db_col_int64(s, 0);
    c->name = db_col_strdup(s, 1);
    c->note = db_col_strdup(s, 2);
    c->created_at = db_col_int64(s, 3);
    c->channels = db_col_int64(s, 4);
    if (!c->name || (!c->note && !db_col_null(s, 2))) {
        campaign_clear(c);
        return -1;
    }
    return 0;
}

int campaign_get(struct store *st, const char *name, struct campaign *out)
{
    char *tidy = channel_text_tidy(name);
    if (!tidy)
        return -1;
    struct db_stmt *s = db_stmt(store_db(st), &q_get);
    db_bind_text(s, 1, tidy);
    int rc = db_step(s);
    rc = rc == DB_ROW ? (from_row(s, out) < 0 ? -1 : 0) : rc == DB_DONE ? 1 : -1;
    db_reset(s);
    free(tidy);
    return rc;
}

int campaign_add(struct store *st, const char *name, const char *note, struct campaign *out,
                 char *err, size_t errlen)
{
    struct db *db = store_db(st);
    char *tidy = NULL;
    int rc = campaign_validate(name, note, NULL, err, errlen);
    if (rc < 0)
        return rc;
    if (!(tidy = channel_text_tidy(name)))
        return snprintf(err, errlen, "out of memory"), -1;
    struct db_stmt *s = db_stmt(db, &q_add);
    db_bind_text(s, 1, tidy);
    db_bind_text_opt(s, 2, note);
    db_bind_int64(s, 3, util_now());
    rc = db_step(s);
    if (rc < 0)
        snprintf(err, errlen, "%s", db_errmsg(db));
    db_reset(s);
    if (rc == DB_DONE) {
        snprintf(err, errlen, "campaign %s exists", tidy);
        rc = CAMPAIGN_EEXISTS;
    } else if (rc == DB_ROW) {
        rc = out && campaign_get(st, tidy, out) != 0 ? -1 : 0;
        if (rc < 0)
            snprintf(err, errlen, "%s", db_errmsg(db));
    } else {
        rc = -1;
    }
    free(tidy);
    return rc;
}

int campaign_foreach(struct store *st, int (*fn)(const struct campaign *c, void *arg), void *arg)
{
    struct db_stmt *s = db_stmt(store_db(st), &q_all);
    struct campaign c;
    int rc;
    while ((rc = db_step(s)) == DB_ROW) {
        if (from_row(s, &c) < 0) {
            rc = -1;
            break;
        }
        int stop = fn(&c, arg);
        campaign_clear(&c);
        if (stop < 0) {
            rc = -1;
            break;
        }
    }
    db_reset(s);
    return rc == DB_DONE ? 0 : -1;
}

/* The channel must exist and be active: an archived channel keeps its
 * history as it was, campaign included. */
static int active_channel_check(struct db *db, const char *scene, char *err, size_t errlen)
{
    struct db_stmt *s = db_stmt(db, &q_channel_state);
    db_bind_text(s, 1, scene);
    int rc = db_step(s);
    int archived = rc == DB_ROW ? db_col_int(s, 0) : 0;
    if (rc < 0)
        snprintf(err, errlen, "%s", db_errmsg(db));
    db_reset(s);
    if (rc < 0)
        return -1;
    if (rc == DB_DONE)
        return snprintf(err, errlen, "channel %s does not exist", scene), CAMPAIGN_ENOCHANNEL;
    if (archived)
        return snprintf(err, errlen, "channel %s is archived: its campaign cannot change", scene),
               CAMPAIGN_ENOCHANNEL;
    return 0;
}

int campaign_set_channel(struct store *st, const char *scene, const char *name, char *err,
                         size_t errlen)
{
    struct db *db = store_db(st);
    struct campaign g = {0};
    int rc = active_channel_check(db, scene, err, errlen);
    if (rc < 0)
        return rc;
    if (name && *name) {
        rc = campaign_get(st, name, &g);
        if (rc < 0)
            return snprintf(err, errlen, "%s", db_errmsg(db)), -1;
        if (rc == 1)
            return snprintf(err, errlen,
                            "campaign %s does not exist (create it first: wxscene campaign add "
                            "NAME)",
                            name),
                   CAMPAIGN_ENOTFOUND;
    }
    struct db_stmt *s = db_stmt(db, &q_set);
    db_bind_text(s, 1, scene);
    if (g.id)
        db_bind_int64(s, 2, g.id);
    else
        db_bind_null(s, 2);
    rc = db_run(s) < 0 ? -1 : 0;
    if (rc < 0)
        snprintf(err, errlen, "%s", db_errmsg(db));
    campaign_clear(&g);
    return rc;
}

/* One transaction for a channel's fields and its campaign. */
struct channel_tx {
    const char *scene, *campaign;
    const struct channel *c;
    unsigned set; /* 0: add */
    bool add;
    struct channel *out;
    const char **field;
    int rc;
    char *err;
    size_t errlen;
};

static int channel_tx_run(struct store *st, void *arg)
{
    struct channel_tx *t = arg;
    if (t->add)
        t->rc = channel_add(st, t->c, t->err, t->errlen);
    else if (t->set)
        t->rc = channel_edit(st, t->scene, t->c, t->set, NULL, t->field, t->err, t->errlen);
    if (t->rc == 0 && t->campaign)
        t->rc = campaign_set_channel(st, t->scene, t->campaign, t->err, t->errlen);
    if (t->rc == 0 && t->out && channel_get(st, t->scene, t->out) != 0) {
        snprintf(t->err, t->errlen, "%s", store_errmsg(st));
        t->rc = -1;
    }
    return t->rc < 0 ? -1 : 0;
}

static int channel_tx(struct store *st, struct channel_tx *t)
{
    if (t->field)
        *t->field = NULL;
    if (t->out)
        memset(t->out, 0, sizeof(*t->out));
    if (store_tx(st, channel_tx_run, t) < 0 && t->rc == 0) {
        snprintf(t->err, t->errlen, "%s", store_errmsg(st));
        t->rc = -1;
    }
    if (t->rc < 0 && t->out)
        channel_clear(t->out);
    return t->rc;
}

int campaign_channel_add(struct store *st, const struct channel *c, const char *campaign, char *err,
                         size_t errlen)
{
    struct channel_tx t = {
        .scene = c->scene, .campaign = campaign, .c = c, .add = true, .err = err, .errlen = errlen};
    return channel_tx(st, &t);
}

int campaign_channel_edit(struct store *st, const char *scene, const struct channel *c,
                          unsigned set, const char *campaign, struct channel *out,
                          const char **field, char *err, size_t errlen)
{
    struct channel_tx t = {.scene = scene,
                           .campaign = campaign,
                           .c = c,
                           .set = set,
                           .out = out,
                           .field = field,
                           .err = err,
                           .errlen = errlen};
    if (!set && !campaign)
        return snprintf(err, errlen, "nothing to change"), CHANNEL_EINVALID;
    return channel_tx(st, &t);
}

int campaign_of_channel(struct store *st, const char *scene, char **name)
{
    struct db_stmt *s = db_stmt(store_db(st), &q_of);
    db_bind_text(s, 1, scene);
    int rc = db_step(s);
    *name = NULL;
    if (rc == DB_ROW && !(*name = db_col_strdup(s, 0)))
        rc = -1;
    db_reset(s);
    return rc == DB_ROW || rc == DB_DONE ? 0 : -1;
}

json_t *campaign_to_json(const struct campaign *c)
{
    return json_pack("{s:s, s:o, s:I, s:I}", "name", c->name, "note",
                     c->note ? json_string(c->note) : json_null(), "channels",
                     (json_int_t)c->channels, "created_at", (json_int_t)c->created_at);
}

int campaign_from_json(const struct json_t *obj, const char **name, const char **note,
                       const char **field, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    *name = *note = *field = NULL;
    if (!json_is_object(obj))
        return snprintf(err, errlen, "the body must be a JSON object"), CAMPAIGN_EINVALID;
    json_object_foreach((json_t *)obj, key, v)
    {
        bool is_name = strcmp(key, "name") == 0, is_note = strcmp(key, "note") == 0;
        *field = key;
        if (!is_name && !is_note)
            return snprintf(err, errlen, "%s: not a campaign field (name, note)", key),
                   CAMPAIGN_EINVALID;
        if (is_note && json_is_null(v))
            continue;
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
            return snprintf(err, errlen, "%s: must be a string%s", key, is_note ? " or null" : ""),
                   CAMPAIGN_EINVALID;
        *(is_name ? name : note) = json_string_value(v);
    }
    *field = "name";
    if (!*name)
        return snprintf(err, errlen, "name: required"), CAMPAIGN_EINVALID;
    return campaign_validate(*name, *note, field, err, errlen);
}
