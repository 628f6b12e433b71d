#include "store.h"

#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "schema.h"
#include "store_internal.h"

/* The store's statements, prepared on a connection's first use of each:
 * the callback hot path must not re-parse SQL per request. */
static const struct db_query q_event_find = {"store.event_find",
                                             "SELECT reply FROM events WHERE dedup_key = ?1"};
/* The insert is its own dedup check (see commit_one()). SQLite runs it
 * without the RETURNING (db_sqlite.c's override, DB_CAP_INSERT_ID). */
static const struct db_query q_event_add = {
    "store.event_add", "INSERT INTO events(dedup_key, kind, openid, create_time, received_at, "
                       "msg_type, event, event_key, scene, is_new_fan, reply) "
                       "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
                       "ON CONFLICT(dedup_key) DO NOTHING RETURNING id"};
static const struct db_query q_fan_get = {
    "store.fan_get", "SELECT first_sub_at IS NOT NULL, last_scene, subscribed, last_sub_at "
                     "FROM fans WHERE openid = ?1"};
static const struct db_query q_fan_subscribe = {
    "store.fan_subscribe",
    "INSERT INTO fans(openid, first_scene, first_sub_at, last_scene, last_sub_at, "
    "subscribed, subscribe_count) VALUES(?1, ?2, ?3, ?2, ?3, 1, 1) "
    "ON CONFLICT(openid) DO UPDATE SET "
    "first_scene = CASE WHEN fans.first_sub_at IS NULL THEN ?2 ELSE fans.first_scene END, "
    "first_sub_at = COALESCE(fans.first_sub_at, ?3), last_scene = ?2, last_sub_at = ?3, "
    "subscribed = 1, unsub_at = NULL, subscribe_count = fans.subscribe_count + 1"};
/* Without DB_CAP_SERIAL_WRITES (several instances on PostgreSQL), the
 * events of one openid are applied one transaction at a time: a lock on
 * the openid, taken first for every event (so each transaction takes the
 * openid's rows, fan and scan days, after it: one order, no deadlock
 * between two instances over one fan) and held to the commit, so the
 * read -> decide -> write of attribution and of the statistics never sees
 * a fan another instance is changing (a row lock would not do: a new fan
 * has no row yet). The common text is never run; the PostgreSQL
 * override (db_pgsql_sql.c) is an advisory transaction lock. Two batches
 * that take the locks of the same two openids in opposite orders deadlock:
 * PostgreSQL aborts one (DB_EBUSY), which answers 503, and WeChat retries. */
static const struct db_query q_fan_lock = {"store.fan_lock", "SELECT 1 WHERE ?1 IS NOT NULL"};
static const struct db_query q_fan_unsubscribe = {
    "store.fan_unsubscribe", "UPDATE fans SET subscribed = 0, unsub_at = ?2 WHERE openid = ?1"};
/* Writable means a real commit goes through: BEGIN IMMEDIATE alone would
 * not notice a full disk, and a read-only check would not notice anything.
 * seq changes on every probe, so the row's page is always written. */
static const struct db_query q_health = {
    "store.health", "INSERT INTO health(id, checked_at, seq) VALUES(1, ?1, 1) "
                    "ON CONFLICT(id) DO UPDATE SET checked_at = excluded.checked_at, "
                    "seq = health.seq + 1"};

struct store {
    struct db *db;
    store_event_hook hook[STORE_MAX_HOOKS];
    struct store_hook_slot hook_slot[STORE_MAX_HOOKS]; /* one per hook[] entry */
    size_t nhooks;
    struct store_batch *batch; /* DB_CAP_ARRAYS: the events queued for store_batch_commit */
    struct channel_cache *chcache;
    void (*chcache_free)(struct channel_cache *c);
};

static const char *const ev_kind_names[] = {"subscribe", "SCAN", "unsubscribe", "message", "other"};

const char *ev_kind_name(enum ev_kind k)
{
    return (unsigned)k < WXS_ARRAY_LEN(ev_kind_names) ? ev_kind_names[k] : "?";
}

struct db *store_db(struct store *st)
{
    return st->db;
}

const char *store_errmsg(struct store *st)
{
    return db_errmsg(st->db);
}

static const struct db_query q_size = {
    "store.size", "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"};

int store_size_bytes(struct store *st, int64_t *out)
{
    return db_one_int64(st->db, &q_size, out);
}

struct channel_cache *store_channel_cache(struct store *st)
{
    return st->chcache;
}

void store_set_channel_cache(struct store *st, struct channel_cache *c,
                             void (*free_fn)(struct channel_cache *c))
{
    st->chcache = c;
    st->chcache_free = free_fn;
}

int store_batch_prefetch(struct store *st)
{
    return store_batch_send(st->db, st->batch, st->hook_slot, st->nhooks);
}

bool store_batch_whole(struct store *st)
{
    return (db_caps(st->db) & DB_CAP_ARRAYS) != 0;
}

int store_hook_add(struct store *st, store_event_hook hook)
{
    if (st->nhooks >= STORE_MAX_HOOKS)
        return -1;
    st->hook[st->nhooks++] = hook;
    return 0;
}

static int open_backend(struct store **out, const char *backend, const char *target,
                        enum store_sync sync, char *err, size_t errlen)
{
    struct store *st = calloc(1, sizeof(*st));
    if (!st)
        return snprintf(err, errlen, "out of memory"), -1;
    char why[480];
    bool pg = strcmp(backend, "postgresql") == 0;
    struct db_options opt = {.sync = sync == STORE_SYNC_FULL ? DB_SYNC_FULL : DB_SYNC_NORMAL};
    if (db_open(&st->db, backend, target, &opt, err, errlen) < 0)
        goto fail;
    if (db_migrate(st->db, pg ? schema_pg_migrations : schema_migrations,
                   pg ? schema_pg_migration_count : schema_migration_count, why, sizeof(why)) < 0) {
        /* never the conninfo: it may hold a password */
        snprintf(err, errlen, "%s: %s", pg ? "postgresql" : target, why);
        goto fail;
    }
    *out = st;
    return 0;
fail:
    store_close(st);
    return -1;
}

int store_open(struct store **out, const char *path, enum store_sync sync, char *err, size_t errlen)
{
    return open_backend(out, "sqlite", path, sync, err, errlen);
}

int store_open_cfg(struct store **out, const struct cfg *cfg, char *err, size_t errlen)
{
    if (cfg->backend == STORE_POSTGRESQL)
        return open_backend(out, "postgresql", cfg->store_url, cfg->synchronous, err, errlen);
    return open_backend(out, "sqlite", cfg->store_path, cfg->synchronous, err, errlen);
}

/* A libpq conninfo starts with one of its keywords and '='. */
static bool is_conninfo(const char *s)
{
    static const char *const keys[] = {"host",
                                       "hostaddr",
                                       "port",
                                       "dbname",
                                       "user",
                                       "password",
                                       "passfile",
                                       "service",
                                       "sslmode",
                                       "options",
                                       "application_name",
                                       "target_session_attrs",
                                       "connect_timeout"};
    while (*s == ' ')
        s++;
    for (size_t i = 0; i < WXS_ARRAY_LEN(keys); i++) {
        size_t n = strlen(keys[i]);
        const char *p = s + n;
        if (strncmp(s, keys[i], n) != 0)
            continue;
        while (*p == ' ')
            p++;
        if (*p == '=')
            return true;
    }
    return false;
}

int store_open_url(struct store **out, const char *url, enum store_sync sync, char *err,
                   size_t errlen)
{
    if (strncmp(url, "sqlite:", 7) == 0)
        url += 7;
    else if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0 ||
             is_conninfo(url))
        return open_backend(out, "postgresql", url, sync, err, errlen);
    if (!*url)
        return snprintf(err, errlen, "an empty store address"), -1;
    return open_backend(out, "sqlite", url, sync, err, errlen);
}

bool store_embedded(struct store *st)
{
    return (db_caps(st->db) & DB_CAP_EMBEDDED) != 0;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < STORE_MAX_HOOKS; i++)
        if (st->hook_slot[i].free_state)
            st->hook_slot[i].free_state(st->hook_slot[i].state);
    store_batch_free(st->batch);
    if (st->chcache_free)
        st->chcache_free(st->chcache);
    db_close(st->db);
    free(st);
}

bool store_writable(struct store *st)
{
    struct db_stmt *s = db_stmt(st->db, &q_health);
    db_bind_int64(s, 1, util_now());
    return db_run(s) == 0;
}

int store_fan_subscribed(struct store *st, const char *openid)
{
    static const struct db_query q = {"store.fan_subscribed",
                                      "SELECT subscribed FROM fans WHERE openid = ?1"};
    struct db_stmt *s = db_stmt(st->db, &q);
    db_bind_text(s, 1, openid);
    int rc = db_step(s), ret = rc == DB_ROW ? (db_col_int(s, 0) != 0) : rc == DB_DONE ? 0 : -1;
    db_reset(s);
    return ret;
}

int store_tx(struct store *st, int (*fn)(struct store *st, void *arg), void *arg)
{
    if (db_begin(st->db, DB_TX_WRITE) < 0)
        return -1;
    if (fn(st, arg) < 0 || db_commit(st->db) < 0) {
        db_rollback(st->db);
        return -1;
    }
    return 0;
}

/* ---- events ---- */

/* The fan as it was before this event: drives first-touch and unsubscribe
 * attribution. */
struct fan_state {
    bool known;             /* has a fans row */
    bool subscribed_before; /* a subscribe (or backfill) was recorded */
    bool subscribed;        /* subscribed as of the last event */
    char *last_scene;       /* malloc'd, NULL = organic/unknown */
    int64_t last_sub_at;
};

static int fan_load(struct store *st, const char *openid, struct fan_state *f)
{
    memset(f, 0, sizeof(*f));
    struct db_stmt *s = db_stmt(st->db, &q_fan_get);
    db_bind_text(s, 1, openid);
    int rc = db_step(s);
    if (rc == DB_ROW) {
        f->known = true;
        f->subscribed_before = db_col_int(s, 0) != 0;
        f->last_scene = db_col_strdup(s, 1);
        f->subscribed = db_col_int(s, 2) != 0;
        f->last_sub_at = db_col_int64(s, 3);
    }
    db_reset(s);
    return rc >= 0 ? 0 : -1;
}

/* 1 = already stored (prior reply copied out), 0 = new, -1 = error. */
static int event_find(struct store *st, struct event_rec *r)
{
    struct db_stmt *s = db_stmt(st->db, &q_event_find);
    db_bind_text(s, 1, r->dedup_key);
    int rc = db_step(s), ret = 0;
    if (rc == DB_ROW) {
        r->duplicate = true;
        r->prior_reply = db_col_strdup(s, 0);
        ret = 1;
    } else if (rc != DB_DONE) {
        ret = -1;
    }
    db_reset(s);
    return ret;
}

/* 0 = inserted, 1 = the dedup key was already stored (nothing written),
 * -1 = error. */
static int event_insert(struct store *st, struct event_rec *r, const char *scene, bool is_new)
{
    struct db_stmt *s = db_stmt(st->db, &q_event_add);
    db_bind_text(s, 1, r->dedup_key);
    db_bind_int64(s, 2, (int)r->kind);
    db_bind_text(s, 3, r->openid);
    db_bind_int64(s, 4, r->create_time);
    db_bind_int64(s, 5, r->received_at);
    db_bind_text(s, 6, r->msg_type);
    db_bind_text(s, 7, r->event ? r->event : "");
    db_bind_text(s, 8, r->event_key ? r->event_key : "");
    db_bind_text(s, 9, scene);
    db_bind_int64(s, 10, is_new);
    db_bind_text(s, 11, r->reply);
    int rc = db_step(s), ret = 1;
    if (rc == DB_ROW) {
        r->event_id = db_col_int64(s, 0);
        ret = 0;
    } else if (rc == DB_DONE && (db_caps(st->db) & DB_CAP_INSERT_ID) && db_changes(st->db) == 1) {
        r->event_id = db_last_insert_id(st->db); /* the override without RETURNING */
        ret = 0;
    } else if (rc < 0) {
        log_debug("store: %s", db_errmsg(st->db));
        ret = -1;
    }
    db_reset(s);
    return ret;
}

static int fan_update(struct store *st, const struct event_rec *r)
{
    struct db_stmt *s;
    if (r->kind == EV_SUBSCRIBE) {
        s = db_stmt(st->db, &q_fan_subscribe);
        db_bind_text(s, 1, r->openid);
        db_bind_text(s, 2, r->scene);
        db_bind_int64(s, 3, r->create_time);
        return db_run_later(s) < 0 ? -1 : 0;
    }
    if (r->kind == EV_UNSUBSCRIBE) {
        s = db_stmt(st->db, &q_fan_unsubscribe);
        db_bind_text(s, 1, r->openid);
        db_bind_int64(s, 2, r->create_time);
        return db_run_later(s) < 0 ? -1 : 0;
    }
    return 0;
}

/* One event inside the open transaction: attribution, insert, fan. The
 * insert is its own dedup check (ON CONFLICT DO NOTHING on the UNIQUE
 * dedup_key): a SELECT before it cost every push 1.7 % (callgrind), while
 * a retry, the rare case, only pays a fan lookup before reading the first
 * delivery's reply. */
int store_fan_lock(struct db *db, const char *openid)
{
    if (db_caps(db) & DB_CAP_SERIAL_WRITES)
        return 0; /* the write transaction is the lock */
    struct db_stmt *l = db_stmt(db, &q_fan_lock);
    db_bind_text(l, 1, openid);
    return db_run_later(l) < 0 ? -1 : 0; /* waited for by the fan's read that follows */
}

static int commit_one(struct store *st, struct event_rec *r)
{
    struct fan_state fan = {0};
    int ret = -1;
    if (store_fan_lock(st->db, r->openid) < 0) /* before any of the openid's rows */
        return -1;
    if ((r->kind == EV_SUBSCRIBE || r->kind == EV_UNSUBSCRIBE) && fan_load(st, r->openid, &fan) < 0)
        goto done;
    bool is_new = r->kind == EV_SUBSCRIBE && !fan.subscribed_before;
    const char *scene = r->kind == EV_UNSUBSCRIBE ? fan.last_scene : r->scene;
    int ins = event_insert(st, r, scene, is_new);
    if (ins == 1) {
        ret = event_find(st, r) == 1 ? 0 : -1; /* a retry: answer with the first reply */
        goto done;
    }
    if (ins < 0 || fan_update(st, r) < 0)
        goto done;
    struct event_applied ev = {.rec = r,
                               .scene = scene,
                               .is_new_fan = is_new,
                               .fan_known = fan.known,
                               .fan_was_subscribed = fan.known && fan.subscribed,
                               .prev_last_scene = fan.last_scene,
                               .prev_last_sub_at = fan.last_sub_at};
    for (size_t i = 0; i < st->nhooks; i++) {
        ev.slot = &st->hook_slot[i];
        if (st->hook[i](st->db, &ev) < 0)
            goto done;
    }
    ret = 0;
done:
    free(fan.last_scene);
    return ret;
}

/* Every hook's end of batch (see struct store_hook_slot). */
static int hooks_end_batch(struct store *st, bool commit)
{
    int ret = 0;
    for (size_t i = 0; i < st->nhooks; i++) {
        struct store_hook_slot *slot = &st->hook_slot[i];
        if (slot->end_batch && slot->state && slot->end_batch(slot->state, commit) < 0)
            ret = -1, commit = false; /* the rest only drop theirs */
    }
    return ret;
}

int store_batch_begin(struct store *st)
{
    return db_begin(st->db, DB_TX_WRITE) < 0 ? -1 : 0;
}

int store_batch_add(struct store *st, struct event_rec *r)
{
    r->duplicate = false;
    r->prior_reply = NULL;
    r->event_id = 0;
    if (store_batch_whole(st)) /* applied as one batch at the commit */
        return store_batch_queue(&st->batch, r);
    return commit_one(st, r);
}

int store_batch_flush(struct store *st)
{
    /* Without serial writes, every row lock a hook's write-out takes must
     * come after every per-openid lock of the transaction (q_fan_lock): a
     * write-out before the batch's last event could hold a rollup row
     * another instance needs while waiting for an openid that instance
     * holds. So the rollups go out once, at the commit, in key order. */
    if (!(db_caps(st->db) & DB_CAP_SERIAL_WRITES))
        return 0;
    return hooks_end_batch(st, true);
}

int store_batch_commit(struct store *st)
{
    if (store_batch_apply(st->db, st->batch, st->hook, st->hook_slot, st->nhooks) < 0)
        return -1;
    if (hooks_end_batch(st, true) < 0)
        return -1;
    /* a batch applied whole sends its writes and COMMIT in one round trip
     * (a lost connection is then "uncertain": answered 503 all the same) */
    return (store_batch_whole(st) ? db_commit_pipelined(st->db) : db_commit(st->db)) < 0 ? -1 : 0;
}

void store_batch_abort(struct store *st)
{
    store_batch_drop(st->batch);
    hooks_end_batch(st, false);
    db_rollback(st->db);
}

int store_commit_events(struct store *st, struct event_rec *recs, size_t n)
{
    if (store_batch_begin(st) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) { /* the failure path frees them all */
        recs[i].duplicate = false;
        recs[i].prior_reply = NULL;
        recs[i].event_id = 0;
    }
    for (size_t i = 0; i < n; i++)
        if (store_batch_add(st, &recs[i]) < 0)
            goto fail;
    if (store_batch_commit(st) < 0)
        goto fail;
    return 0;
fail:
    log_warn("store: commit of %zu events failed: %s", n, db_errmsg(st->db));
    store_batch_abort(st);
    for (size_t i = 0; i < n; i++) {
        free(recs[i].prior_reply);
        recs[i].prior_reply = NULL;
        recs[i].duplicate = false;
    }
    return -1;
}
