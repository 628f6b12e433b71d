#include "followup.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "channel.h"
#include "log.h"
#include "wxapi.h"

#define FOLLOWUP_LEASE_S 300 /* a claim's lease: far above any call (api_timeout) */

/* ---- a channel's follow-ups ---- */

static const struct db_query q_count = {
    "followup.count", "SELECT count(*), coalesce(max(pos), 0) FROM followup_msgs WHERE "
                      "scene = ?1 AND removed_at IS NULL"};
static const struct db_query q_insert = {
    "followup.insert", "INSERT INTO followup_msgs(scene, pos, kind, body, media_file, created_at) "
                       "VALUES(?1, ?2, ?3, ?4, ?5, ?6)"};
/* A removed message keeps its row: queued fans still get it. */
static const struct db_query q_delete = {
    "followup.delete", "UPDATE followup_msgs SET removed_at = ?3 WHERE scene = ?1 AND pos = ?2 "
                       "AND removed_at IS NULL"};
/* Positions move up one at a time in ascending order, so the unique index
 * never holds two live rows at once on either backend. */
static const struct db_query q_later = {
    "followup.later", "SELECT pos FROM followup_msgs WHERE scene = ?1 AND pos > ?2 AND "
                      "removed_at IS NULL ORDER BY pos"};
static const struct db_query q_move = {
    "followup.move", "UPDATE followup_msgs SET pos = pos - 1 WHERE scene = ?1 AND pos = ?2 AND "
                     "removed_at IS NULL"};
static const struct db_query q_forget = {
    "followup.forget", "UPDATE followup_msgs SET removed_at = ?2 WHERE scene = ?1 AND removed_at "
                       "IS NULL"};
/* channels.followup_ids (schema/017): the live ids in order, for the
 * push path (followup_outbox_hook()). */
static const struct db_query q_live_ids = {
    "followup.live_ids",
    "SELECT id FROM followup_msgs WHERE scene = ?1 AND removed_at IS NULL ORDER BY pos"};
static const struct db_query q_ids_set = {"followup.ids_set",
                                          "UPDATE channels SET followup_ids = ?2 WHERE scene = ?1"};
static const struct db_query q_list = {
    "followup.list", "SELECT pos, kind, body, media_file FROM followup_msgs WHERE scene = ?1 AND "
                     "removed_at IS NULL ORDER BY pos"};

/* Every change of a channel's follow-ups ends here, in its transaction:
 * the channel row's copy of the live ids ("12,13,14", NULL = none) is what
 * the push path queues (followup_outbox_hook()), so it must never lag. */
static int ids_sync(struct db *db, const char *scene)
{
    char ids[CHANNEL_FOLLOWUP_IDS_MAX] = "";
    char *p = ids, *end = ids + sizeof(ids) - 1;
    struct db_stmt *s = db_stmt(db, &q_live_ids);
    int rc, n = 0;
    db_bind_text(s, 1, scene);
    while ((rc = db_step(s)) == DB_ROW && n++ < FOLLOWUP_MAX)
        p = util_put_i64(util_puts(p, end, n > 1 ? "," : ""), end, db_col_int64(s, 0));
    *p = '\0';
    db_reset(s);
    if (rc != DB_DONE && rc != DB_ROW)
        return -1;
    s = db_stmt(db, &q_ids_set);
    db_bind_text(s, 1, scene);
    db_bind_text_opt(s, 2, ids[0] ? ids : NULL);
    return db_run(s) < 0 ? -1 : 0;
}

int followup_text_validate(const char *text, char *err, size_t errlen)
{
    size_t n = text ? strlen(text) : 0;
    if (n < 1 || n > FOLLOWUP_TEXT_MAX)
        return snprintf(err, errlen, "text: length %zu is outside 1..%d bytes", n,
                        FOLLOWUP_TEXT_MAX),
               -1;
    if (!util_utf8_valid(text, n))
        return snprintf(err, errlen, "text: not valid UTF-8"), -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
            return snprintf(err, errlen, "text: control character at byte %zu", i + 1), -1;
    }
    return 0;
}

struct add_ctx {
    const char *scene, *body, *media_file;
    enum reply_kind kind;
    int pos, rc;
    char *err;
    size_t errlen;
};

static int add_tx(struct store *st, void *arg)
{
    struct add_ctx *a = arg;
    struct db *db = store_db(st);
    int state = channel_state(st, a->scene);
    if (state != CHANNEL_ACTIVE) {
        a->rc = state < 0 ? -1 : FOLLOWUP_ENOTFOUND;
        snprintf(a->err, a->errlen, state < 0 ? "%s" : "channel %s %s",
                 state < 0 ? store_errmsg(st) : a->scene,
                 state == CHANNEL_ARCHIVED ? "is archived" : "does not exist");
        return -1;
    }
    struct db_stmt *s = db_stmt(db, &q_count);
    db_bind_text(s, 1, a->scene);
    int rc = db_step(s);
    int64_t n = rc == DB_ROW ? db_col_int64(s, 0) : 0, max = rc == DB_ROW ? db_col_int64(s, 1) : 0;
    db_reset(s);
    if (rc != DB_ROW)
        return a->rc = -1, snprintf(a->err, a->errlen, "%s", store_errmsg(st)), -1;
    if (n >= FOLLOWUP_MAX) {
        snprintf(a->err, a->errlen,
                 "channel %s has %d follow-ups already (the most); remove one "
                 "first",
                 a->scene, FOLLOWUP_MAX);
        return a->rc = FOLLOWUP_EFULL, -1;
    }
    a->pos = (int)max + 1;
    s = db_stmt(db, &q_insert);
    db_bind_text(s, 1, a->scene);
    db_bind_int64(s, 2, a->pos);
    db_bind_text(s, 3, reply_kind_name(a->kind));
    db_bind_text(s, 4, a->body);
    db_bind_text_opt(s, 5, a->media_file);
    db_bind_int64(s, 6, util_now());
    if (db_run(s) < 0 || ids_sync(db, a->scene) < 0)
        return a->rc = -1, snprintf(a->err, a->errlen, "%s", store_errmsg(st)), -1;
    return a->rc = 0;
}

int followup_add(struct store *st, const char *scene, enum reply_kind kind, const char *body,
                 const char *media_file, int *pos, char *err, size_t errlen)
{
    struct add_ctx a = {.scene = scene,
                        .body = body,
                        .media_file = media_file,
                        .kind = kind,
                        .err = err,
                        .errlen = errlen};
    if (store_tx(st, add_tx, &a) < 0 && a.rc == 0)
        a.rc = -1, snprintf(err, errlen, "%s", store_errmsg(st));
    *pos = a.pos;
    return a.rc;
}

struct remove_ctx {
    const char *scene;
    int n, rc;
    char *err;
    size_t errlen;
};

static int remove_tx(struct store *st, void *arg)
{
    struct remove_ctx *r = arg;
    struct db *db = store_db(st);
    struct db_stmt *s = db_stmt(db, &q_delete);
    int64_t later[FOLLOWUP_MAX];
    size_t nl = 0;
    db_bind_text(s, 1, r->scene);
    db_bind_int64(s, 2, r->n);
    db_bind_int64(s, 3, util_now());
    if (db_run(s) < 0)
        goto fail;
    if (db_changes(db) != 1) {
        snprintf(r->err, r->errlen, "channel %s has no follow-up %d", r->scene, r->n);
        return r->rc = FOLLOWUP_ENOTFOUND, -1;
    }
    s = db_stmt(db, &q_later);
    db_bind_text(s, 1, r->scene);
    db_bind_int64(s, 2, r->n);
    int rc;
    while ((rc = db_step(s)) == DB_ROW && nl < FOLLOWUP_MAX)
        later[nl++] = db_col_int64(s, 0);
    db_reset(s);
    if (rc < 0)
        goto fail;
    for (size_t i = 0; i < nl; i++) {
        s = db_stmt(db, &q_move);
        db_bind_text(s, 1, r->scene);
        db_bind_int64(s, 2, later[i]);
        if (db_run(s) < 0)
            goto fail;
    }
    if (ids_sync(db, r->scene) < 0)
        goto fail;
    return r->rc = 0;
fail:
    snprintf(r->err, r->errlen, "%s", store_errmsg(st));
    return r->rc = -1, -1;
}

int followup_remove(struct store *st, const char *scene, int n, char *err, size_t errlen)
{
    struct remove_ctx r = {.scene = scene, .n = n, .err = err, .errlen = errlen};
    if (store_tx(st, remove_tx, &r) < 0 && r.rc == 0)
        r.rc = -1, snprintf(err, errlen, "%s", store_errmsg(st));
    return r.rc;
}

int followup_forget(struct store *st, const char *scene)
{
    struct db_stmt *s = db_stmt(store_db(st), &q_forget);
    db_bind_text(s, 1, scene);
    db_bind_int64(s, 2, util_now());
    return db_run(s) < 0 || ids_sync(store_db(st), scene) < 0 ? -1 : 0;
}

int followup_foreach(struct store *st, const char *scene,
                     int (*fn)(const struct followup *f, void *arg), void *arg)
{
    struct db_stmt *s = db_stmt(store_db(st), &q_list);
    int rc, ret = 0;
    db_bind_text(s, 1, scene);
    while (ret == 0 && (rc = db_step(s)) == DB_ROW) {
        int kind = reply_kind_from_name(db_col_text(s, 1));
        struct followup f = {.pos = db_col_int(s, 0),
                             .kind = kind < 0 ? REPLY_TEXT : (enum reply_kind)kind,
                             .body = db_col_text(s, 2) ? db_col_text(s, 2) : "",
                             .media_file = db_col_text(s, 3)};
        ret = fn(&f, arg) < 0 ? -1 : 0;
    }
    if (ret == 0 && rc != DB_DONE)
        ret = -1;
    db_reset(s);
    return ret;
}

json_t *followup_message_json(const char *openid, const char *body)
{
    struct reply_news n;
    const char *media_id;
    char *copy = NULL;
    json_t *j = NULL;
    switch (reply_stored_kind(body)) {
    case REPLY_TEXT:
        j = json_pack("{s:s, s:s, s:{s:s}}", "touser", openid, "msgtype", "text", "text", "content",
                      body);
        break;
    case REPLY_NEWS:
        if (reply_decode_news(body, &n, &copy) == 0)
            j = json_pack("{s:s, s:s, s:{s:[{s:s, s:s, s:s, s:s}]}}", "touser", openid, "msgtype",
                          "news", "news", "articles", "title", n.title, "description",
                          n.description, "url", n.url, "picurl", n.picurl);
        break;
    case REPLY_IMAGE:
        if (reply_decode_image(body, &media_id, &copy) == 0)
            j = json_pack("{s:s, s:s, s:{s:s}}", "touser", openid, "msgtype", "image", "image",
                          "media_id", media_id);
        break;
    }
    free(copy);
    return j;
}

/* ---- the outbox writer ---- */

/* One row per subscribe: the ids of the channel's live messages, none
 * when it has no follow-ups. The callback's router reads them off the
 * channel row it loads for the reply anyway (channels.followup_ids,
 * event_rec.followups), in the event's transaction: a channel without
 * follow-ups then costs no statement, one with them a row held for the
 * batch's multi-row INSERT below (docs/benchmarks.md: -5k and -8k
 * instructions per push). Callers that did not read the channel
 * (followups NULL) get this look-up. In order without an ORDER BY: a
 * message is appended at the end with a larger id and removals only move
 * later ones up, so id order is pos order whichever way the rows are read
 * (the sub-select with ORDER BY this once was made SQLite build and free a
 * temporary b-tree per push: 40k instructions). PostgreSQL says it with
 * string_agg (db_pgsql_sql.c). */
static const struct db_query q_arm = {
    "followup.arm",
    "INSERT INTO followup_outbox(event_id, openid, scene, msgs, total, state, created_at, "
    "updated_at) SELECT ?1, ?2, ?4, group_concat(id, ','), count(*), 'pending', ?3, ?3 FROM "
    "followup_msgs WHERE scene = ?4 AND removed_at IS NULL HAVING count(*) > 0"};
/* Rows of the fast path (the ids the caller read off the channel row in
 * this transaction: channels.followup_ids, event_rec.followups) are held
 * in the hook's slot and written at the batch's end, in event order, by
 * one multi-row INSERT per FU_CHUNK rows: one statement run per batch
 * instead of one per subscribe, still in the event's transaction (a
 * rolled-back batch drops them). */
#define FU_CHUNK 16
#define FU_COLS  6
struct fu_row {
    int64_t event_id, at, total;
    char *openid, *scene, *msgs;
};
struct fu_state {
    struct db *db;
    struct fu_row *rows;
    size_t n, cap;
};

static char q_multi_sql[FU_CHUNK][FU_CHUNK * 48 + 160];
static char q_multi_name[FU_CHUNK][24];
static struct db_query q_multi[FU_CHUNK];
static pthread_once_t q_multi_once = PTHREAD_ONCE_INIT;

/* q_multi[k - 1]: the INSERT of k rows. */
static void q_multi_init(void)
{
    for (int k = 1; k <= FU_CHUNK; k++) {
        char *sql = q_multi_sql[k - 1], *end = sql + sizeof(q_multi_sql[0]) - 1;
        char *p = util_puts(sql, end,
                            "INSERT INTO followup_outbox(event_id, openid, scene, msgs, total, "
                            "state, created_at, updated_at) VALUES");
        for (int i = 0; i < k; i++) {
            int b = i * FU_COLS;
            p = util_puts(p, end, i ? ",(?" : "(?");
            for (int c = 1; c <= 5; c++)
                p = util_puts(util_put_i64(p, end, b + c), end, c < 5 ? ",?" : ",'pending',?");
            p = util_puts(util_put_i64(p, end, b + 6), end, ",?");
            p = util_puts(util_put_i64(p, end, b + 6), end, ")");
        }
        *p = '\0';
        snprintf(q_multi_name[k - 1], sizeof(q_multi_name[0]), "followup.arm%d", k);
        q_multi[k - 1] = (struct db_query){q_multi_name[k - 1], sql};
    }
}

static void fu_rows_clear(struct fu_state *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        free(fs->rows[i].openid);
        free(fs->rows[i].scene);
        free(fs->rows[i].msgs);
    }
    fs->n = 0;
}

static void fu_state_free(void *p)
{
    struct fu_state *fs = p;
    if (!fs)
        return;
    fu_rows_clear(fs);
    free(fs->rows);
    free(fs);
}

/* The batch's held-back rows, in order (commit), or dropped. */
static int fu_end_batch(void *state, bool commit)
{
    struct fu_state *fs = state;
    int ret = 0;
    for (size_t at = 0; commit && ret == 0 && at < fs->n;) {
        size_t k = fs->n - at < FU_CHUNK ? fs->n - at : FU_CHUNK;
        struct db_stmt *s = db_stmt(fs->db, &q_multi[k - 1]);
        for (size_t i = 0; i < k; i++) {
            const struct fu_row *r = &fs->rows[at + i];
            int b = (int)i * FU_COLS;
            db_bind_int64(s, b + 1, r->event_id);
            db_bind_text(s, b + 2, r->openid);
            db_bind_text(s, b + 3, r->scene);
            db_bind_text(s, b + 4, r->msgs);
            db_bind_int64(s, b + 5, r->total);
            db_bind_int64(s, b + 6, r->at);
        }
        /* nobody reads the rows back in the batch: on PostgreSQL they go
         * out in the batch's pipeline, no round trip of their own */
        if ((ret = db_run_later(s)) < 0)
            log_warn("followup: outbox: %s", db_errmsg(fs->db));
        at += k;
    }
    fu_rows_clear(fs);
    return ret < 0 ? -1 : 0;
}

/* The connection's held rows (made on its first fast-path subscribe, with
 * the multi-row statements' texts once per process); NULL when out of
 * memory: the caller then takes the look-up path. */
static struct fu_state *fu_state_get(struct db *db, struct store_hook_slot *slot)
{
    if (slot->state)
        return slot->state;
    struct fu_state *fs = calloc(1, sizeof(*fs));
    if (!fs || pthread_once(&q_multi_once, q_multi_init) != 0) {
        free(fs);
        return NULL;
    }
    fs->db = db;
    slot->state = fs;
    slot->free_state = fu_state_free;
    slot->end_batch = fu_end_batch;
    return fs;
}

/* How many ids a non-empty list "12,13,14" holds. */
static int64_t ids_count(const char *ids)
{
    int64_t n = 1;
    for (; *ids; ids++)
        n += *ids == ',';
    return n;
}

/* Hold a fast-path row for the batch's end; -1 when out of memory. */
static int fu_hold(struct fu_state *fs, const struct event_rec *r, const char *scene)
{
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 64;
        struct fu_row *rows = realloc(fs->rows, cap * sizeof(*rows));
        if (!rows)
            return -1;
        fs->rows = rows;
        fs->cap = cap;
    }
    struct fu_row *row = &fs->rows[fs->n];
    *row = (struct fu_row){.event_id = r->event_id,
                           .at = r->received_at,
                           .total = ids_count(r->followups),
                           .openid = strdup(r->openid),
                           .scene = strdup(scene),
                           .msgs = strdup(r->followups)};
    fs->n++; /* freed by fu_rows_clear() even when a copy failed */
    return row->openid && row->scene && row->msgs ? 0 : -1;
}

int followup_outbox_hook(struct db *db, const struct event_applied *ev)
{
    const struct event_rec *r = ev->rec;
    if (r->kind != EV_SUBSCRIBE || !ev->scene || (r->followups && !*r->followups))
        return 0;
    struct fu_state *fs = r->followups && ev->slot ? fu_state_get(db, ev->slot) : NULL;
    if (fs) {
        if (fu_hold(fs, r, ev->scene) < 0) {
            log_warn("followup: outbox: out of memory");
            return -1;
        }
        return 0;
    }
    /* the look-up's row comes after the rows held so far: id order is
     * event order */
    if (ev->slot && ev->slot->state && fu_end_batch(ev->slot->state, true) < 0)
        return -1;
    struct db_stmt *s = db_stmt(db, &q_arm);
    db_bind_int64(s, 1, r->event_id);
    db_bind_text(s, 2, r->openid);
    db_bind_int64(s, 3, r->received_at);
    db_bind_text(s, 4, ev->scene);
    /* its answer is not read: on PostgreSQL it rides with the batch's
     * writes (a failure fails the batch there) */
    if (db_run_later(s) < 0) {
        log_warn("followup: outbox: %s", db_errmsg(db));
        return -1;
    }
    return 0;
}

/* ---- the runner ---- */

static const struct db_query q_owners = {
    "followup.owners",
    "SELECT DISTINCT owner_host, owner_pid FROM followup_outbox WHERE state = 'sending'"};
/* A dead owner's (or a lapsed lease's) message in flight may have been
 * delivered: counted uncertain, never sent again; the next one follows. */
static const struct db_query q_interrupted = {
    "followup.interrupted",
    "UPDATE followup_outbox SET state = CASE WHEN done + 1 >= total THEN 'sent' ELSE 'pending' "
    "END, done = done + 1, uncertain = uncertain + 1, reason = 'interrupted: the sender stopped "
    "during a call; that message is not resent (it may have arrived)', owner_host = NULL, "
    "owner_pid = NULL, claim_until = NULL, updated_at = ?3 WHERE state = 'sending' AND "
    "((owner_host = ?1 AND owner_pid = ?2) OR claim_until < ?3)"};
static const struct db_query q_expire = {
    "followup.expire",
    "UPDATE followup_outbox SET state = 'parked', reason = 'window: more than 48 h after the "
    "subscribe (WeChat answers 45015)', updated_at = ?1 WHERE state = 'pending' AND "
    "created_at < ?2"};
/* The oldest due row whose fan has no earlier row in flight or waiting
 * after a failure (followup_outbox_busy: its WHERE word for word), claimed
 * in the same statement (PostgreSQL: db_pgsql_sql.c adds FOR
 * UPDATE SKIP LOCKED to the sub-select). */
static const struct db_query q_claim = {
    "followup.claim",
    "UPDATE followup_outbox SET state = 'sending', attempts = attempts + 1, owner_host = ?1, "
    "owner_pid = ?2, claim_until = ?3, updated_at = ?4 WHERE state = 'pending' AND id = "
    "(SELECT o.id FROM followup_outbox o WHERE o.state = 'pending' AND o.next_try <= ?4 AND "
    "NOT EXISTS (SELECT 1 FROM followup_outbox p WHERE p.openid = o.openid AND p.id < o.id AND "
    "(p.state = 'sending' OR (p.state = 'pending' AND p.attempts > 0))) ORDER BY o.id LIMIT 1) "
    "RETURNING id, openid, msgs, total, done, attempts"};
static const struct db_query q_body = {"followup.body",
                                       "SELECT body FROM followup_msgs WHERE id = ?1"};
/* One message dealt with (sent, or uncertain: ?3 = 1): the claim goes on,
 * or the row is done. (The CAST gives PostgreSQL the parameter's type,
 * which a CASE with a NULL branch does not.) */
static const struct db_query q_step = {
    "followup.step",
    "UPDATE followup_outbox SET done = done + 1, uncertain = uncertain + ?3, last_error = ?4, "
    "state = CASE WHEN done + 1 >= total THEN 'sent' ELSE 'sending' END, owner_host = CASE WHEN "
    "done + 1 >= total THEN NULL ELSE owner_host END, owner_pid = CASE WHEN done + 1 >= total "
    "THEN NULL ELSE owner_pid END, claim_until = CASE WHEN done + 1 >= total THEN NULL ELSE "
    "CAST(?5 AS BIGINT) END, updated_at = ?2 WHERE id = ?1 AND state = 'sending'"};
static const struct db_query q_park = {
    "followup.park", "UPDATE followup_outbox SET state = 'parked', reason = ?3, last_error = ?4, "
                     "owner_host = NULL, owner_pid = NULL, claim_until = NULL, updated_at = ?2 "
                     "WHERE id = ?1 AND state = 'sending'"};
static const struct db_query q_retry = {
    "followup.retry", "UPDATE followup_outbox SET state = 'pending', next_try = ?3, last_error = "
                      "?4, owner_host = NULL, owner_pid = NULL, claim_until = NULL, updated_at = "
                      "?2 WHERE id = ?1 AND state = 'sending'"};
static const struct db_query q_counts = {
    "followup.counts", "SELECT state, count(*), coalesce(sum(done - uncertain), 0), "
                       "coalesce(sum(uncertain), 0) FROM followup_outbox GROUP BY state"};
static const struct db_query q_reasons = {
    "followup.reasons", "SELECT coalesce(reason, ''), count(*) FROM followup_outbox WHERE state "
                        "= 'parked' GROUP BY 1 ORDER BY 2 DESC, 1"};

struct followup_runner {
    const struct cfg *cfg;
    struct store *st;
    struct db *db;
    struct wxapi *api;
    char host[256];
    int64_t pid;
};

int followup_runner_new(struct followup_runner **out, const struct cfg *cfg, struct store *st,
                        char *err, size_t errlen)
{
    struct followup_runner *fr = calloc(1, sizeof(*fr));
    if (!fr)
        return snprintf(err, errlen, "out of memory"), -1;
    fr->cfg = cfg;
    fr->st = st;
    fr->db = store_db(st);
    fr->pid = (int64_t)getpid();
    if (gethostname(fr->host, sizeof(fr->host) - 1) < 0)
        util_strlcpy(fr->host, "localhost", sizeof(fr->host));
    if (wxapi_new(&fr->api, cfg, st, err, errlen) < 0) {
        free(fr);
        return -1;
    }
    *out = fr;
    return 0;
}

void followup_runner_free(struct followup_runner *fr)
{
    if (!fr)
        return;
    wxapi_free(fr->api);
    free(fr);
}

enum followup_verdict followup_classify(int rc, long errcode, bool unsent, const char **reason)
{
    static const struct {
        long code;
        const char *reason;
    } parks[] = {
        {45015, "45015: outside the 48 h window (or the fan unsubscribed)"},
        {45047, "45047: more customer-service messages than WeChat allows for one interaction"},
        {40003, "40003: invalid openid"},
    };
    *reason = NULL;
    if (rc == WXAPI_OK)
        return FOLLOWUP_V_SENT;
    if (rc == WXAPI_EAPI) {
        if (errcode == -1 || errcode == 45009 || wxapi_errcode_is_token(errcode))
            return FOLLOWUP_V_RETRY;
        for (size_t i = 0; i < WXS_ARRAY_LEN(parks); i++)
            if (parks[i].code == errcode)
                return *reason = parks[i].reason, FOLLOWUP_V_PARK;
        return *reason = "refused: WeChat refused the message (see last_error)", FOLLOWUP_V_PARK;
    }
    if (rc == WXAPI_ETOKEN || rc == WXAPI_EINTERNAL || (rc == WXAPI_ENET && unsent))
        return FOLLOWUP_V_RETRY;
    *reason = "uncertain: no usable answer after the request went out; not resent (it may have "
              "arrived)";
    return FOLLOWUP_V_UNCERTAIN;
}

/* Seconds before the next try after `attempts` tries: base doubling, capped. */
static int64_t backoff(int64_t attempts, int64_t base, int64_t max)
{
    int64_t d = base;
    for (int64_t i = 1; i < attempts && d < max; i++)
        d *= 2;
    return d < max ? d : max;
}

static bool owner_gone(const struct followup_runner *fr, const char *host, int64_t pid)
{
    if (!host || strcmp(host, fr->host) != 0)
        return false;
    if (pid == fr->pid)
        return true;
    return pid > 0 && pid <= INT32_MAX && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* Settle what a dead owner held (or a lapsed lease shows), and park what
 * is past the 48 h window. */
static int sweep_claims(struct followup_runner *fr, int64_t now, struct followup_report *rep)
{
    struct {
        char host[256];
        int64_t pid;
    } gone[16];
    size_t ng = 0;
    struct db_stmt *s = db_stmt(fr->db, &q_owners);
    int rc;
    while ((rc = db_step(s)) == DB_ROW)
        if (ng < WXS_ARRAY_LEN(gone) && owner_gone(fr, db_col_text(s, 0), db_col_int64(s, 1))) {
            util_strlcpy(gone[ng].host, db_col_text(s, 0), sizeof(gone[ng].host));
            gone[ng++].pid = db_col_int64(s, 1);
        }
    db_reset(s);
    if (rc < 0)
        return -1;
    for (size_t i = 0; i <= ng; i++) { /* the last pass: lapsed leases only */
        s = db_stmt(fr->db, &q_interrupted);
        db_bind_text(s, 1, i < ng ? gone[i].host : "");
        db_bind_int64(s, 2, i < ng ? gone[i].pid : -1);
        db_bind_int64(s, 3, now);
        if (db_run(s) < 0)
            return -1;
        rep->interrupted += (uint64_t)db_changes(fr->db);
    }
    s = db_stmt(fr->db, &q_expire);
    db_bind_int64(s, 1, now);
    db_bind_int64(s, 2, now - FOLLOWUP_WINDOW_S);
    if (db_run(s) < 0)
        return -1;
    rep->parked += (uint64_t)db_changes(fr->db);
    return 0;
}

struct claimed {
    int64_t id, attempts, total, done;
    char openid[130];
    char *msgs; /* "12,13,14" */
};

/* 1 claimed (c filled; caller frees c->msgs), 0 nothing due, -1 error. */
static int claim(struct followup_runner *fr, int64_t now, struct claimed *c)
{
    struct db_stmt *s = db_stmt(fr->db, &q_claim);
    db_bind_text(s, 1, fr->host);
    db_bind_int64(s, 2, fr->pid);
    db_bind_int64(s, 3, now + FOLLOWUP_LEASE_S);
    db_bind_int64(s, 4, now);
    int rc = db_step(s), ret = 0;
    if (rc == DB_ROW) {
        c->id = db_col_int64(s, 0);
        util_strlcpy(c->openid, db_col_text(s, 1) ? db_col_text(s, 1) : "", sizeof(c->openid));
        c->msgs = db_col_strdup(s, 2);
        c->total = db_col_int64(s, 3);
        c->done = db_col_int64(s, 4);
        c->attempts = db_col_int64(s, 5);
        ret = c->msgs ? 1 : -1;
    } else if (rc != DB_DONE) {
        ret = -1;
    }
    db_reset(s);
    return ret;
}

/* The id of message i (0-based) of "12,13,14", or -1. */
static int64_t msg_id(const char *msgs, int64_t i)
{
    const char *p = msgs;
    for (; i > 0 && p; i--)
        if ((p = strchr(p, ',')))
            p++;
    uint64_t v;
    char num[24];
    if (!p)
        return -1;
    size_t n = strcspn(p, ",");
    if (n == 0 || n >= sizeof(num))
        return -1;
    memcpy(num, p, n);
    num[n] = '\0';
    return util_parse_u64(num, 1, INT64_MAX, &v) < 0 ? -1 : (int64_t)v;
}

/* The stored body of message id (malloc'd), or NULL (gone, or an error). */
static char *msg_body(struct followup_runner *fr, int64_t id)
{
    struct db_stmt *s = db_stmt(fr->db, &q_body);
    db_bind_int64(s, 1, id);
    char *body = db_step(s) == DB_ROW ? db_col_strdup(s, 0) : NULL;
    db_reset(s);
    return body;
}

/* Record what the call of message c->done did. 1 when the claim goes on
 * with the next message, 0 when the row left 'sending', -1 on error. */
static int record(struct followup_runner *fr, struct claimed *c, enum followup_verdict v,
                  const char *reason, const char *error, struct followup_report *rep)
{
    int64_t now = util_now();
    bool step = v == FOLLOWUP_V_SENT || v == FOLLOWUP_V_UNCERTAIN;
    char why[400];
    struct db_stmt *s = db_stmt(fr->db, step ? &q_step : v == FOLLOWUP_V_PARK ? &q_park : &q_retry);
    db_bind_int64(s, 1, c->id);
    db_bind_int64(s, 2, now);
    if (step) {
        db_bind_int64(s, 3, v == FOLLOWUP_V_UNCERTAIN);
        db_bind_text_opt(s, 4, error);
        db_bind_int64(s, 5, now + FOLLOWUP_LEASE_S);
        if (v == FOLLOWUP_V_SENT)
            rep->sent++;
        else
            rep->uncertain++,
                log_warn("followup: message %lld of %lld to %s: %s — %s", (long long)c->done + 1,
                         (long long)c->total, c->openid, reason, error ? error : "");
    } else if (v == FOLLOWUP_V_PARK) {
        snprintf(why, sizeof(why), "%s (message %lld of %lld)", reason, (long long)c->done + 1,
                 (long long)c->total);
        db_bind_text(s, 3, why);
        db_bind_text_opt(s, 4, error);
        rep->parked++;
        log_warn("followup: %s parked: %s%s%s", c->openid, why, error ? " — " : "",
                 error ? error : "");
    } else {
        db_bind_int64(
            s, 3,
            now + backoff(c->attempts, fr->cfg->followup_retry_base, fr->cfg->followup_retry_max));
        db_bind_text_opt(s, 4, error);
        rep->retried++;
        util_strlcpy(rep->error, error ? error : "", sizeof(rep->error));
    }
    if (db_run(s) < 0)
        return -1;
    return step && ++c->done < c->total ? 1 : 0;
}

/* Send message c->done of a claimed row and record the outcome. A fan who
 * unsubscribed since is not written to (WeChat would answer 45015): the
 * row is parked here, not on the push path, which would need an index of
 * every row by openid to find the fan's. */
static int send_one(struct followup_runner *fr, struct claimed *c, struct followup_report *rep)
{
    int subscribed = store_fan_subscribed(fr->st, c->openid);
    if (subscribed < 0)
        return -1;
    if (subscribed == 0)
        return record(fr, c, FOLLOWUP_V_PARK, "unsubscribed: the fan left before it was sent", NULL,
                      rep);
    int64_t id = msg_id(c->msgs, c->done);
    char *body = id > 0 ? msg_body(fr, id) : NULL;
    json_t *msg = body ? followup_message_json(c->openid, body) : NULL, *resp = NULL;
    free(body);
    if (!msg)
        return record(fr, c, FOLLOWUP_V_PARK, "malformed: the stored message cannot be sent", NULL,
                      rep);
    rep->calls++;
    int rc = wxapi_post(fr->api, "cgi-bin/message/custom/send", msg, false, &resp);
    json_decref(msg);
    json_decref(resp);
    const struct wxapi_error *e = wxapi_last_error(fr->api);
    const char *reason;
    enum followup_verdict v =
        followup_classify(rc, rc == WXAPI_EAPI ? e->errcode : 0, e->unsent, &reason);
    return record(fr, c, v, reason, rc == 0 ? NULL : e->msg, rep);
}

int followup_run(struct followup_runner *fr, const atomic_bool *stop, struct followup_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    int rc = sweep_claims(fr, util_now(), rep);
    while (rc == 0 && !(stop && atomic_load(stop))) {
        struct claimed c = {0};
        int got = claim(fr, util_now(), &c);
        if (got <= 0) {
            rc = got;
            break;
        }
        /* a fan's messages back to back, in order, under one claim */
        while ((rc = send_one(fr, &c, rep)) == 1 && !(stop && atomic_load(stop)))
            ;
        free(c.msgs);
        rc = rc < 0 ? -1 : 0;
    }
    if (rc < 0) {
        snprintf(rep->error, sizeof(rep->error), "%s", db_errmsg(fr->db));
        return -1;
    }
    struct followup_counts n;
    if (followup_counts(fr->st, &n) == 0)
        rep->pending = (uint64_t)(n.pending + n.sending);
    return 0;
}

int followup_counts(struct store *st, struct followup_counts *c)
{
    static const char *const states[] = {"pending", "sending", "sent", "parked"};
    struct db_stmt *s = db_stmt(store_db(st), &q_counts);
    int rc;
    memset(c, 0, sizeof(*c));
    while ((rc = db_step(s)) == DB_ROW) {
        const char *state = db_col_text(s, 0);
        int64_t *slot[] = {&c->pending, &c->sending, &c->sent, &c->parked};
        for (size_t i = 0; state && i < WXS_ARRAY_LEN(states); i++)
            if (strcmp(state, states[i]) == 0)
                *slot[i] = db_col_int64(s, 1);
        c->messages_sent += db_col_int64(s, 2);
        c->uncertain += db_col_int64(s, 3);
    }
    db_reset(s);
    return rc == DB_DONE ? 0 : -1;
}

int followup_parked_reasons(struct store *st, int (*fn)(const char *reason, int64_t n, void *arg),
                            void *arg)
{
    struct db_stmt *s = db_stmt(store_db(st), &q_reasons);
    int rc, ret = 0;
    while (ret == 0 && (rc = db_step(s)) == DB_ROW)
        ret = fn(db_col_text(s, 0) ? db_col_text(s, 0) : "", db_col_int64(s, 1), arg) < 0 ? -1 : 0;
    if (ret == 0 && rc != DB_DONE)
        ret = -1;
    db_reset(s);
    return ret;
}
