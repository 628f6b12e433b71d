#include "store.h"

#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "schema.h"
#include "stats.h"
#include "store_vfs.h"
#include "tag.h"

/* Statements prepared once per handle: the callback hot path must not
 * re-parse SQL per request. */
enum stmt_id {
    S_CHANNEL_GET,
    S_CHANNEL_ADD,
    S_CHANNEL_ALL,
    S_EVENT_FIND,
    S_EVENT_ADD,
    S_FAN_GET,
    S_FAN_SUBSCRIBE,
    S_FAN_UNSUBSCRIBE,
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_CHANNEL_GET] = "SELECT scene, name, promoter, reply, scan_reply, tag, created_at "
                      "FROM channels WHERE scene = ?1",
    [S_CHANNEL_ADD] = "INSERT INTO channels(scene, name, promoter, reply, scan_reply, tag, "
                      "created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_CHANNEL_ALL] = "SELECT scene, name, promoter, reply, scan_reply, tag, created_at "
                      "FROM channels WHERE archived_at IS NULL ORDER BY created_at, scene",
    [S_EVENT_FIND] = "SELECT reply FROM events WHERE dedup_key = ?1",
    [S_EVENT_ADD] = "INSERT INTO events(dedup_key, kind, openid, create_time, received_at, "
                    "msg_type, event, event_key, scene, is_new_fan, reply) "
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
                    "ON CONFLICT(dedup_key) DO NOTHING",
    [S_FAN_GET] = "SELECT first_sub_at IS NOT NULL, last_scene, subscribed, last_sub_at "
                  "FROM fans WHERE openid = ?1",
    [S_FAN_SUBSCRIBE] =
        "INSERT INTO fans(openid, first_scene, first_sub_at, last_scene, last_sub_at, "
        "subscribed, subscribe_count) VALUES(?1, ?2, ?3, ?2, ?3, 1, 1) "
        "ON CONFLICT(openid) DO UPDATE SET "
        "first_scene = CASE WHEN first_sub_at IS NULL THEN ?2 ELSE first_scene END, "
        "first_sub_at = COALESCE(first_sub_at, ?3), last_scene = ?2, last_sub_at = ?3, "
        "subscribed = 1, unsub_at = NULL, subscribe_count = subscribe_count + 1",
    [S_FAN_UNSUBSCRIBE] = "UPDATE fans SET subscribed = 0, unsub_at = ?2 WHERE openid = ?1",
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
};

#define STORE_MAX_HOOKS 8

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmt[S_COUNT];
    struct store_hook_slot hook_slot[STORE_MAX_HOOKS]; /* one per event_hooks[] row */
};

static const char *const ev_kind_names[] = {"subscribe", "SCAN", "unsubscribe", "message", "other"};

const char *ev_kind_name(enum ev_kind k)
{
    return (unsigned)k < WXS_ARRAY_LEN(ev_kind_names) ? ev_kind_names[k] : "?";
}

sqlite3 *store_db(struct store *st)
{
    return st->db;
}

const char *store_errmsg(struct store *st)
{
    return sqlite3_errmsg(st->db);
}

static int exec_sql(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* The version of a migration is the number its file name starts with. */
static int migration_version(const struct schema_migration *m)
{
    int v = 0;
    for (const char *p = m->name; *p >= '0' && *p <= '9' && v < 100000; p++)
        v = v * 10 + (*p - '0');
    return v;
}

/* Apply the embedded migrations numbered above PRAGMA user_version in one
 * write transaction with the version bump: a crash never leaves a
 * half-applied migration recorded as done, and several processes opening a
 * fresh database at once serialise on the write lock instead of racing. */
static int store_migrate(sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int version = 0, newest = 0;
    char sql[64], why[480];
    if (exec_sql(db, "BEGIN IMMEDIATE", why, sizeof(why)) < 0)
        return snprintf(err, errlen, "migrations: %s", why), -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
        goto fail_db;
    if (sqlite3_step(s) == SQLITE_ROW)
        version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    for (size_t i = 0; i < schema_migration_count; i++)
        if (migration_version(&schema_migrations[i]) > newest)
            newest = migration_version(&schema_migrations[i]);
    if (version > newest) {
        snprintf(err, errlen, "database schema version %d is newer than this build (%d)", version,
                 newest);
        goto fail;
    }
    for (size_t i = 0; i < schema_migration_count; i++) {
        const struct schema_migration *m = &schema_migrations[i];
        int v = migration_version(m);
        if (v <= version)
            continue;
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v);
        if (exec_sql(db, m->sql, why, sizeof(why)) < 0 || exec_sql(db, sql, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "migration %s: %s", m->name, why);
            goto fail;
        }
        version = v;
        log_debug("store: applied migration %s", m->name);
    }
    if (exec_sql(db, "COMMIT", why, sizeof(why)) < 0) {
        snprintf(err, errlen, "migrations: %s", why);
        goto fail;
    }
    return 0;
fail_db:
    snprintf(err, errlen, "migrations: %s", sqlite3_errmsg(db));
fail:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* Before SQLite's first use: no global memory statistics (they take a
 * process-wide mutex around every allocation SQLite makes, on every
 * thread; nothing here reads them). Refused once SQLite is initialised. */
static pthread_once_t sqlite_once = PTHREAD_ONCE_INIT;

static void sqlite_configure(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int store_open(struct store **out, const char *path, enum store_sync sync, char *err, size_t errlen)
{
    pthread_once(&sqlite_once, sqlite_configure);
    struct store *st = calloc(1, sizeof(*st));
    if (!st)
        return snprintf(err, errlen, "out of memory"), -1;
    char why[512];
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    const char *vfs = store_vfs_register() == SQLITE_OK ? STORE_VFS_NAME : NULL;
    if (sqlite3_open_v2(path, &st->db, flags, vfs) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, st->db ? sqlite3_errmsg(st->db) : "cannot open");
        goto fail;
    }
    sqlite3_busy_timeout(st->db, 5000);
    sqlite3_extended_result_codes(st->db, 1);
    if (exec_sql(st->db, "PRAGMA journal_mode = WAL", why, sizeof(why)) < 0 ||
        exec_sql(st->db,
                 sync == STORE_SYNC_FULL ? "PRAGMA synchronous = FULL"
                                         : "PRAGMA synchronous = NORMAL",
                 why, sizeof(why)) < 0 ||
        exec_sql(st->db, "PRAGMA foreign_keys = ON", why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        goto fail;
    }
    if (store_migrate(st->db, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        goto fail;
    }
    for (int i = 0; i < S_COUNT; i++) {
        if (sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, errlen, "%s: prepare: %s", path, sqlite3_errmsg(st->db));
            goto fail;
        }
    }
    *out = st;
    return 0;
fail:
    store_close(st);
    return -1;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < STORE_MAX_HOOKS; i++)
        if (st->hook_slot[i].free_state)
            st->hook_slot[i].free_state(st->hook_slot[i].state);
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmt[i]);
    sqlite3_close(st->db);
    free(st);
}

/* Writable means a real commit goes through: BEGIN IMMEDIATE alone would
 * not notice a full disk, and a read-only check would not notice anything. */
bool store_writable(struct store *st)
{
    char why[256];
    return exec_sql(st->db,
                    "INSERT OR REPLACE INTO health(id, checked_at) VALUES(1, strftime('%s','now'))",
                    why, sizeof(why)) == 0;
}

static int step_done(struct store *st, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        log_debug("store: %s", sqlite3_errmsg(st->db));
        return -1;
    }
    return 0;
}

int store_tx(struct store *st, int (*fn)(struct store *st, void *arg), void *arg)
{
    if (step_done(st, st->stmt[S_BEGIN]) < 0)
        return -1;
    if (fn(st, arg) < 0 || step_done(st, st->stmt[S_COMMIT]) < 0) {
        step_done(st, st->stmt[S_ROLLBACK]);
        return -1;
    }
    return 0;
}

/* ---- channels ---- */

void channel_clear(struct channel *c)
{
    free(c->scene);
    free(c->name);
    free(c->promoter);
    free(c->reply);
    free(c->scan_reply);
    free(c->tag);
    memset(c, 0, sizeof(*c));
}

static int check_text(const char *field, const char *v, size_t min, size_t max, char *err,
                      size_t errlen)
{
    size_t n = v ? strlen(v) : 0;
    if (n < min || n > max) {
        snprintf(err, errlen, "%s: length %zu is outside %zu..%zu bytes", field, n, min, max);
        return -1;
    }
    if (v && !util_utf8_valid(v, n)) {
        snprintf(err, errlen, "%s: not valid UTF-8", field);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch < 0x20 && ch != '\n' && ch != '\t') {
            snprintf(err, errlen, "%s: control character at byte %zu", field, i + 1);
            return -1;
        }
    }
    return 0;
}

int channel_validate(const struct channel *c, char *err, size_t errlen)
{
    if (check_text("scene", c->scene, 1, 64, err, errlen) < 0 ||
        check_text("name", c->name, 1, 128, err, errlen) < 0 ||
        check_text("promoter", c->promoter, 0, 128, err, errlen) < 0 ||
        check_text("reply", c->reply, 0, 2048, err, errlen) < 0 ||
        check_text("scan_reply", c->scan_reply, 0, 2048, err, errlen) < 0 ||
        check_text("tag", c->tag, 0, 30, err, errlen) < 0)
        return -1;
    for (const char *p = c->scene; *p; p++) {
        if ((unsigned char)*p <= ' ') {
            snprintf(err, errlen, "scene: blanks and control characters are not allowed");
            return -1;
        }
    }
    return 0;
}

char *store_col_strdup(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? strdup((const char *)t) : NULL;
}

static int channel_from_row(sqlite3_stmt *s, struct channel *out)
{
    memset(out, 0, sizeof(*out));
    out->scene = store_col_strdup(s, 0);
    out->name = store_col_strdup(s, 1);
    out->promoter = store_col_strdup(s, 2);
    out->reply = store_col_strdup(s, 3);
    out->scan_reply = store_col_strdup(s, 4);
    out->tag = store_col_strdup(s, 5);
    out->created_at = sqlite3_column_int64(s, 6);
    if (!out->scene || !out->name) {
        channel_clear(out);
        return -1;
    }
    return 0;
}

int store_channel_get(struct store *st, const char *scene, struct channel *out)
{
    sqlite3_stmt *s = st->stmt[S_CHANNEL_GET];
    int ret = 1;
    sqlite3_bind_text(s, 1, scene, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        ret = channel_from_row(s, out);
    else if (rc != SQLITE_DONE)
        ret = -1;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

static void bind_opt_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static void bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

int store_channel_add(struct store *st, const struct channel *c, char *err, size_t errlen)
{
    sqlite3_stmt *s = st->stmt[S_CHANNEL_ADD];
    sqlite3_bind_text(s, 1, c->scene, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, c->name, -1, SQLITE_STATIC);
    bind_opt_text(s, 3, c->promoter);
    bind_text_or_null(s, 4, c->reply); /* "" = answer "success", NULL = default */
    bind_text_or_null(s, 5, c->scan_reply);
    bind_opt_text(s, 6, c->tag);
    sqlite3_bind_int64(s, 7, c->created_at ? c->created_at : util_now());
    int rc = sqlite3_step(s);
    int xrc = sqlite3_extended_errcode(st->db);
    if (rc != SQLITE_DONE) {
        if (xrc == SQLITE_CONSTRAINT_PRIMARYKEY || xrc == SQLITE_CONSTRAINT_UNIQUE)
            snprintf(err, errlen, "channel %s exists", c->scene);
        else
            snprintf(err, errlen, "%s", sqlite3_errmsg(st->db));
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* A one-off statement with a text ?1 and an optional integer ?2. */
static int exec_text_int(struct store *st, const char *sql, const char *text, int64_t n)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(s) >= 2)
        sqlite3_bind_int64(s, 2, n);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

int store_channel_archive(struct store *st, const char *scene, int64_t at)
{
    return exec_text_int(st, "UPDATE channels SET archived_at = ?2 WHERE scene = ?1", scene, at);
}

int store_channel_rename_archived(struct store *st, const char *scene)
{
    return exec_text_int(st,
                         "UPDATE channels SET scene = scene || '~archived-' || archived_at "
                         "WHERE scene = ?1 AND archived_at IS NOT NULL",
                         scene, 0);
}

int store_channel_foreach(struct store *st, int (*fn)(const struct channel *c, void *arg),
                          void *arg)
{
    sqlite3_stmt *s = st->stmt[S_CHANNEL_ALL];
    int rc, ret = 0;
    while (ret == 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct channel c;
        if (channel_from_row(s, &c) < 0) {
            ret = -1;
            break;
        }
        ret = fn(&c, arg) < 0 ? -1 : 0;
        channel_clear(&c);
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = -1;
    sqlite3_reset(s);
    return ret;
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

/* Same-transaction side effects of a stored event, in order. A module adds
 * its row here; each gets every first-delivered event. */
static const store_event_hook event_hooks[] = {
    NULL,             /* keeps the array non-empty */
    tag_outbox_hook,  /* tag.c: tag outbox rows for tagged channels */
    stats_event_hook, /* stats.c: statistics rollups */
};
_Static_assert(WXS_ARRAY_LEN(event_hooks) <= STORE_MAX_HOOKS, "raise STORE_MAX_HOOKS");

static int fan_load(struct store *st, const char *openid, struct fan_state *f)
{
    sqlite3_stmt *s = st->stmt[S_FAN_GET];
    memset(f, 0, sizeof(*f));
    sqlite3_bind_text(s, 1, openid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        f->known = true;
        f->subscribed_before = sqlite3_column_int(s, 0) != 0;
        f->last_scene = store_col_strdup(s, 1);
        f->subscribed = sqlite3_column_int(s, 2) != 0;
        f->last_sub_at = sqlite3_column_int64(s, 3);
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return (rc == SQLITE_ROW || rc == SQLITE_DONE) ? 0 : -1;
}

/* 1 = already stored (prior reply copied out), 0 = new, -1 = error. */
static int event_find(struct store *st, struct event_rec *r)
{
    sqlite3_stmt *s = st->stmt[S_EVENT_FIND];
    sqlite3_bind_text(s, 1, r->dedup_key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s), ret = 0;
    if (rc == SQLITE_ROW) {
        r->duplicate = true;
        r->prior_reply = store_col_strdup(s, 0);
        ret = 1;
    } else if (rc != SQLITE_DONE) {
        ret = -1;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

/* 0 = inserted, 1 = the dedup key was already stored (nothing written),
 * -1 = error. */
static int event_insert(struct store *st, struct event_rec *r, const char *scene, bool is_new)
{
    sqlite3_stmt *s = st->stmt[S_EVENT_ADD];
    sqlite3_bind_text(s, 1, r->dedup_key, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 2, (int)r->kind);
    sqlite3_bind_text(s, 3, r->openid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, r->create_time);
    sqlite3_bind_int64(s, 5, r->received_at);
    sqlite3_bind_text(s, 6, r->msg_type, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 7, r->event ? r->event : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 8, r->event_key ? r->event_key : "", -1, SQLITE_STATIC);
    if (scene)
        sqlite3_bind_text(s, 9, scene, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 9);
    sqlite3_bind_int(s, 10, is_new);
    if (r->reply)
        sqlite3_bind_text(s, 11, r->reply, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 11);
    if (step_done(st, s) < 0)
        return -1;
    if (sqlite3_changes(st->db) == 0)
        return 1;
    r->event_id = sqlite3_last_insert_rowid(st->db);
    return 0;
}

static int fan_update(struct store *st, const struct event_rec *r)
{
    sqlite3_stmt *s;
    if (r->kind == EV_SUBSCRIBE) {
        s = st->stmt[S_FAN_SUBSCRIBE];
        sqlite3_bind_text(s, 1, r->openid, -1, SQLITE_STATIC);
        if (r->scene)
            sqlite3_bind_text(s, 2, r->scene, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(s, 2);
        sqlite3_bind_int64(s, 3, r->create_time);
        return step_done(st, s);
    }
    if (r->kind == EV_UNSUBSCRIBE) {
        s = st->stmt[S_FAN_UNSUBSCRIBE];
        sqlite3_bind_text(s, 1, r->openid, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, r->create_time);
        return step_done(st, s);
    }
    return 0;
}

/* One event inside the open transaction: attribution, insert, fan. The
 * insert is its own dedup check (ON CONFLICT DO NOTHING on the UNIQUE
 * dedup_key): a SELECT before it cost every push 1.7 % (callgrind), while
 * a retry, the rare case, only pays a fan lookup before reading the first
 * delivery's reply. */
static int commit_one(struct store *st, struct event_rec *r)
{
    struct fan_state fan = {0};
    int ret = -1;
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
    for (size_t i = 0; i < WXS_ARRAY_LEN(event_hooks); i++) {
        ev.slot = &st->hook_slot[i];
        if (event_hooks[i] && event_hooks[i](st->db, &ev) < 0)
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
    for (size_t i = 0; i < WXS_ARRAY_LEN(event_hooks); i++) {
        struct store_hook_slot *slot = &st->hook_slot[i];
        if (slot->end_batch && slot->state && slot->end_batch(slot->state, commit) < 0)
            ret = -1, commit = false; /* the rest only drop theirs */
    }
    return ret;
}

int store_batch_begin(struct store *st)
{
    return step_done(st, st->stmt[S_BEGIN]);
}

int store_batch_add(struct store *st, struct event_rec *r)
{
    r->duplicate = false;
    r->prior_reply = NULL;
    r->event_id = 0;
    return commit_one(st, r);
}

int store_batch_flush(struct store *st)
{
    return hooks_end_batch(st, true);
}

int store_batch_commit(struct store *st)
{
    return hooks_end_batch(st, true) < 0 || step_done(st, st->stmt[S_COMMIT]) < 0 ? -1 : 0;
}

void store_batch_abort(struct store *st)
{
    hooks_end_batch(st, false);
    step_done(st, st->stmt[S_ROLLBACK]);
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
    log_warn("store: commit of %zu events failed: %s", n, sqlite3_errmsg(st->db));
    store_batch_abort(st);
    for (size_t i = 0; i < n; i++) {
        free(recs[i].prior_reply);
        recs[i].prior_reply = NULL;
        recs[i].duplicate = false;
    }
    return -1;
}
