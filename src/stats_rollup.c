/* The statistics hook: the rollups moved inside the store's commit
 * transaction, event by event (stats_event_hook), and for writers of the
 * fans table outside the event path (stats_fan_changed).
 *
 * Per event: the zone's day (a memo of the offset, see hook_day), the
 * counter deltas summed in memory per rollup row (struct agg), and for a
 * scan one upsert of the scanner's stats_scanners row. At the end of the
 * batch the summed deltas are written sorted by key (table, day, scene,
 * prev_day): every writer takes the rollup rows' locks in that one order,
 * so writers that do not serialise (several instances on PostgreSQL) can
 * wait for each other but never deadlock on them. The order holds per
 * write-out: a transaction that writes out more than once (the server's
 * store_batch_flush() while a batch is still filling) orders each one.
 *
 * What this needs of the backend:
 *   DB_CAP_C_FUNCTIONS  wxs_scan_add(), run inside the scanner row's upsert
 *                       (one seek, one write). Without it
 *                       (count_scan_locked): read the row (SELECT days ...
 *                       FOR UPDATE: a row lock), edit it in C with
 *                       scandays_add(), write it back (UPDATE, or INSERT
 *                       for a new scanner, read again on a conflict with a
 *                       concurrent insert).
 *   DB_CAP_DATA_VERSION keeps the zone memo across batches (the version is
 *                       read once per batch under DB_CAP_SERIAL_WRITES, per
 *                       event elsewhere); without it the memo is read again
 *                       in every batch. */
#include "stats.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stats_internal.h"
#include "stats_scandays.h"

enum hook_q {
    H_OFFSET,
    H_DAILY_UPD,
    H_DAILY,
    H_FIRST_UPD,
    H_FIRST,
    H_CHURN,
    H_SCAN,
    H_SCAN_READ,
    H_SCAN_SET,
    H_SCAN_NEW,
    H_STALE,
    H_SCAN_BATCH_READ,
    H_SCAN_BATCH_WRITE,
    H_DAILY_MANY,
    H_FIRST_MANY,
    H_CHURN_MANY,
    H_COUNT
};

static const struct db_query hook_q[H_COUNT] = {
    [H_OFFSET] = {"stats.tz_offset",
                  "SELECT utc_offset, from_utc, (SELECT min(from_utc) FROM stats_tz "
                  "WHERE from_utc > ?1) FROM stats_tz WHERE from_utc <= ?1 "
                  "ORDER BY from_utc DESC LIMIT 1"},
    /* the row is usually there already: a plain UPDATE first is half the
     * work of the upsert (which tries the insert, then updates) */
    [H_DAILY_UPD] = {"stats.daily_add",
                     "UPDATE stats_daily SET scans = scans + ?3, new_fans = new_fans + ?4, "
                     "returning_fans = returning_fans + ?5, unsubscribes = unsubscribes + ?6, "
                     "quick_unsubs = quick_unsubs + ?7, retained = retained + ?8, "
                     "first_scanners = first_scanners + ?9 WHERE day = ?1 AND scene = ?2"},
    [H_DAILY] = {"stats.daily_upsert",
                 "INSERT INTO stats_daily(day, scene, scans, new_fans, returning_fans, "
                 "unsubscribes, quick_unsubs, retained, first_scanners) "
                 "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                 "ON CONFLICT(day, scene) DO UPDATE SET "
                 "scans = stats_daily.scans + excluded.scans, "
                 "new_fans = stats_daily.new_fans + excluded.new_fans, "
                 "returning_fans = stats_daily.returning_fans + excluded.returning_fans, "
                 "unsubscribes = stats_daily.unsubscribes + excluded.unsubscribes, "
                 "quick_unsubs = stats_daily.quick_unsubs + excluded.quick_unsubs, "
                 "retained = stats_daily.retained + excluded.retained, "
                 "first_scanners = stats_daily.first_scanners + excluded.first_scanners"},
    [H_FIRST_UPD] = {"stats.scan_first_add", "UPDATE stats_scan_first SET n = n + ?4 "
                                             "WHERE day = ?1 AND scene = ?2 AND prev_day = ?3"},
    [H_FIRST] = {"stats.scan_first_upsert",
                 "INSERT INTO stats_scan_first(day, scene, prev_day, n) VALUES(?1, ?2, ?3, ?4) "
                 "ON CONFLICT(day, scene, prev_day) DO UPDATE SET "
                 "n = stats_scan_first.n + excluded.n"},
    /* a churn row is more often new (one per subscribe day that lost a
     * fan today): the upsert alone */
    [H_CHURN] = {"stats.churn_upsert",
                 "INSERT INTO stats_churn(unsub_day, scene, sub_day, n) VALUES(?1, ?2, ?3, ?4) "
                 "ON CONFLICT(unsub_day, scene, sub_day) DO UPDATE SET "
                 "n = stats_churn.n + excluded.n"},
    /* a scan day: a new scanner's row, or wxs_scan_add() on the scanner's
     * row (one seek, one write; see count_scan()) */
    [H_SCAN] = {"stats.scanner_upsert", "INSERT INTO stats_scanners(openid, days) VALUES(?1, ?2) "
                                        "ON CONFLICT(openid) DO UPDATE SET "
                                        "days = wxs_scan_add(stats_scanners.days, ?3, ?4)"},
    /* the same without C functions: the row locked, edited in C, written */
    [H_SCAN_READ] = {"stats.scanner_lock",
                     "SELECT days FROM stats_scanners WHERE openid = ?1 FOR UPDATE"},
    [H_SCAN_SET] = {"stats.scanner_set", "UPDATE stats_scanners SET days = ?2 WHERE openid = ?1"},
    [H_SCAN_NEW] = {"stats.scanner_new", "INSERT INTO stats_scanners(openid, days) "
                                         "VALUES(?1, ?2) ON CONFLICT(openid) DO NOTHING"},
    /* the rollups no longer match the events: the next stats_open rebuilds
     * them (zone_current() compares this name with the configured zone) */
    [H_STALE] = {"stats.mark_stale",
                 "UPDATE stats_meta SET value = '(rebuild)' WHERE key = 'timezone'"},
    /* DB_CAP_ARRAYS, a batch applied whole (store_batch.c): the rows of
     * every openid of the batch read at its first scan (the openids'
     * locks are held: no row lock needed), edited in memory, the changed
     * ones written in one statement at the end of the batch */
    [H_SCAN_BATCH_READ] =
        {"stats.scanners_read",
         "SELECT openid, days FROM stats_scanners WHERE openid = ANY(?1::text[])"},
    [H_SCAN_BATCH_WRITE] = {"stats.scanners_write",
                            "INSERT INTO stats_scanners(openid, days) "
                            "SELECT * FROM unnest(?1::text[], ?2::text[]) "
                            "ON CONFLICT(openid) DO UPDATE SET days = excluded.days"},
    /* DB_CAP_ARRAYS: a table's summed rows in one statement, in the
     * write-out's key order (unnest keeps the arrays' order) */
    [H_DAILY_MANY] = {"stats.daily_upsert_many",
                      "INSERT INTO stats_daily(day, scene, scans, new_fans, returning_fans, "
                      "unsubscribes, quick_unsubs, retained, first_scanners) "
                      "SELECT * FROM unnest(?1::bigint[], ?2::text[], ?3::bigint[], ?4::bigint[], "
                      "?5::bigint[], ?6::bigint[], ?7::bigint[], ?8::bigint[], ?9::bigint[]) "
                      "ON CONFLICT(day, scene) DO UPDATE SET "
                      "scans = stats_daily.scans + excluded.scans, "
                      "new_fans = stats_daily.new_fans + excluded.new_fans, "
                      "returning_fans = stats_daily.returning_fans + excluded.returning_fans, "
                      "unsubscribes = stats_daily.unsubscribes + excluded.unsubscribes, "
                      "quick_unsubs = stats_daily.quick_unsubs + excluded.quick_unsubs, "
                      "retained = stats_daily.retained + excluded.retained, "
                      "first_scanners = stats_daily.first_scanners + excluded.first_scanners"},
    [H_FIRST_MANY] = {"stats.scan_first_upsert_many",
                      "INSERT INTO stats_scan_first(day, scene, prev_day, n) "
                      "SELECT * FROM unnest(?1::bigint[], ?2::text[], ?3::bigint[], ?4::bigint[]) "
                      "ON CONFLICT(day, scene, prev_day) DO UPDATE SET "
                      "n = stats_scan_first.n + excluded.n"},
    [H_CHURN_MANY] = {"stats.churn_upsert_many",
                      "INSERT INTO stats_churn(unsub_day, scene, sub_day, n) "
                      "SELECT * FROM unnest(?1::bigint[], ?2::text[], ?3::bigint[], ?4::bigint[]) "
                      "ON CONFLICT(unsub_day, scene, sub_day) DO UPDATE SET "
                      "n = stats_churn.n + excluded.n"},
};

/* The zone's offset around the last event: events of a commit are close in
 * time, so one lookup per commit serves them all. Valid while the
 * database's data version (which moves on every commit, ours or another
 * process's: a rebuild or stats_disable) is the one it was read at, or
 * for the batch where the backend has no data version. */
struct tz_memo {
    bool valid, off_rollups; /* off_rollups: stats_tz is empty (rollups switched off) */
    int64_t lo, hi;          /* offset holds for lo <= t < hi */
    int32_t offset;
};

struct daily_delta {
    int64_t scans, new_fans, returning_fans, unsubscribes, quick_unsubs, retained;
    int64_t first_scanners; /* see first_add() */
};

/* The counter deltas of one batch, summed per row before they are written:
 * the events of a batch share rows (today's row of a scene, and above all
 * the any-scene row of stats_scan_first that every new scanner of the day
 * moves), so the batch pays one write per row instead of one per event.
 * An open-addressing table keyed by (table, day, scene, prev_day); the
 * enum's order is the tables' order in the write-out. */
enum agg_table {
    AGG_DAILY, /* stats_daily (day, scene) */
    AGG_FIRST, /* stats_scan_first (day, scene, prev_day): d.scans is n */
    AGG_CHURN, /* stats_churn (unsub_day = day, scene, sub_day = prev_day): d.scans is n */
};

struct agg_ent {
    bool used;
    uint8_t table;
    int64_t day, prev_day; /* prev_day: 0 for AGG_DAILY */
    char *scene;
    struct daily_delta d;
};

struct agg {
    struct agg_ent *e;
    size_t cap, n;          /* cap: a power of two, or 0 */
    struct agg_ent **order; /* the write-out's sort, order_cap entries */
    size_t order_cap;
};

/* A scanner's row during a batch applied whole: as read, then as edited. */
struct scan_ent {
    bool exists, dirty;
    struct buf days;
};

/* The batch's scanner rows, parallel to its sorted openids. */
struct scan_cache {
    const char *const *openids; /* the batch's (store_batch.c), NULL = not loaded */
    size_t n, cap;
    struct scan_ent *e;
};

/* Per connection (kept in the hook's slot; a one-off for stats_fan_changed). */
struct hook_state {
    struct db *db;
    unsigned caps;              /* db_caps(db) */
    struct db_stmt *s[H_COUNT]; /* db_stmt(hook_q[i]), looked up once */
    struct tz_memo memo;
    uint64_t version;  /* the data version the memo is of */
    bool version_read; /* ... read in this batch (see memo_fresh()) */
    struct agg agg;
    bool in_scan;        /* count_scan() is stepping H_SCAN: wxs_scan_add() may run */
    bool scan_seen;      /* wxs_scan_add() ran: the scanner had a row */
    bool scan_damaged;   /* ... which it could not read, and replaced */
    struct buf scan_row; /* a new scanner's row */
    struct buf scan_tmp; /* wxs_scan_add(): the row with the scene's day added */
    struct buf scan_out; /* the row with both days added, without C functions */
    struct scan_cache sc;
    const char *const *batch_openids; /* of the running event (event_applied) */
    size_t batch_nopenids;
    /* sent ahead by hook_begin_batch(), read at the first need */
    const char *const *sc_sent; /* the scanners' rows of these openids */
    bool memo_sent;             /* the zone's offset around memo_sent_t */
    int64_t memo_sent_t;
};

#define AGG_KEEP_CAP 1024 /* a table grown past this by one big batch is let go */

static void agg_clear(struct agg *a)
{
    for (size_t i = 0; i < a->cap && a->n; i++) {
        if (a->e[i].used) {
            free(a->e[i].scene);
            a->n--;
        }
        a->e[i].used = false;
    }
    a->n = 0;
    if (a->cap > AGG_KEEP_CAP) {
        free(a->e);
        free(a->order);
        *a = (struct agg){0};
    }
}

static uint64_t agg_hash(uint8_t table, int64_t day, const char *scene, int64_t prev_day)
{
    uint64_t h = 1469598103934665603u ^ table;
    for (const unsigned char *p = (const unsigned char *)scene; *p; p++)
        h = (h ^ *p) * 1099511628211u;
    h = (h ^ (uint64_t)day) * 1099511628211u;
    h = (h ^ (uint64_t)prev_day) * 1099511628211u;
    return h ^ (h >> 29);
}

static struct agg_ent *agg_find(struct agg *a, uint8_t table, int64_t day, const char *scene,
                                int64_t prev_day, uint64_t h)
{
    size_t mask = a->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct agg_ent *e = &a->e[i];
        if (!e->used || (e->table == table && e->day == day && e->prev_day == prev_day &&
                         strcmp(e->scene, scene) == 0))
            return e;
    }
}

static int agg_grow(struct agg *a)
{
    size_t cap = a->cap ? a->cap * 2 : 64;
    struct agg_ent *old = a->e, *e = calloc(cap, sizeof(*e));
    if (!e)
        return -1;
    size_t old_cap = a->cap;
    a->e = e;
    a->cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        struct agg_ent *o = &old[i];
        if (o->used)
            *agg_find(a, o->table, o->day, o->scene, o->prev_day,
                      agg_hash(o->table, o->day, o->scene, o->prev_day)) = *o;
    }
    free(old);
    return 0;
}

/* The entry for the row, created with zero deltas; NULL when out of memory. */
static struct agg_ent *agg_get(struct agg *a, uint8_t table, int64_t day, const char *scene,
                               int64_t prev_day)
{
    if ((a->n + 1) * 2 > a->cap && agg_grow(a) < 0)
        return NULL;
    struct agg_ent *e =
        agg_find(a, table, day, scene, prev_day, agg_hash(table, day, scene, prev_day));
    if (!e->used) {
        char *copy = strdup(scene);
        if (!copy)
            return NULL;
        *e = (struct agg_ent){
            .used = true, .table = table, .day = day, .prev_day = prev_day, .scene = copy};
        a->n++;
    }
    return e;
}

/* The key order of the write-out: table, day, scene (bytes), prev_day. */
static int agg_key_cmp(const struct agg_ent *x, const struct agg_ent *y)
{
    if (x->table != y->table)
        return x->table < y->table ? -1 : 1;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    int c = strcmp(x->scene, y->scene);
    if (c)
        return c;
    return (x->prev_day > y->prev_day) - (x->prev_day < y->prev_day);
}

static int agg_cmp(const void *pa, const void *pb)
{
    return agg_key_cmp(*(const struct agg_ent *const *)pa, *(const struct agg_ent *const *)pb);
}

#define AGG_INSERTION_SORT_MAX 32 /* a batch's usual dozen rows: no qsort call */

/* The used entries in key order, into a->order (n of them); -1 when out of
 * memory. */
static int agg_sort(struct agg *a, size_t *n)
{
    if (a->order_cap < a->n) {
        struct agg_ent **o = realloc(a->order, a->cap * sizeof(*o));
        if (!o)
            return -1;
        a->order = o;
        a->order_cap = a->cap;
    }
    struct agg_ent **v = a->order;
    *n = 0;
    for (size_t i = 0; i < a->cap && *n < a->n; i++)
        if (a->e[i].used)
            v[(*n)++] = &a->e[i];
    if (*n > AGG_INSERTION_SORT_MAX) {
        qsort(v, *n, sizeof(*v), agg_cmp);
        return 0;
    }
    for (size_t i = 1; i < *n; i++) {
        struct agg_ent *x = v[i];
        size_t j = i;
        for (; j > 0 && agg_key_cmp(v[j - 1], x) > 0; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
    return 0;
}

static void hook_state_free(void *p)
{
    struct hook_state *hs = p;
    if (!hs)
        return;
    agg_clear(&hs->agg);
    free(hs->agg.e);
    free(hs->agg.order);
    buf_free(&hs->scan_row);
    buf_free(&hs->scan_tmp);
    buf_free(&hs->scan_out);
    for (size_t i = 0; i < hs->sc.cap; i++)
        buf_free(&hs->sc.e[i].days);
    free(hs->sc.e);
    free(hs);
}

static struct hook_state *hook_state_new(struct db *db)
{
    struct hook_state *hs = calloc(1, sizeof(*hs));
    if (!hs)
        return NULL;
    hs->db = db;
    hs->caps = db_caps(db);
    return hs;
}

/* The connection's statement for hook_q[i] (prepared on its first use);
 * NULL on error, which the db_* calls turn into a failed step. */
static struct db_stmt *stmt(struct hook_state *hs, enum hook_q i)
{
    if (!hs->s[i])
        hs->s[i] = db_stmt(hs->db, &hook_q[i]);
    return hs->s[i];
}

static int hook_end_batch(void *state, bool commit);
static int sql_scan_add(void *ctx, int argc, const struct db_value *argv, struct db_value *out,
                        struct buf *scratch, const char **errmsg);

/* A batch applied whole starts (store_hook_slot.begin_batch): the zone's
 * offset around its first event and its openids' scanner rows are sent
 * ahead, read with the batch's own reads in one round trip. */
static int hook_begin_batch(void *state, const char *const *openids, size_t n, int64_t t)
{
    struct hook_state *hs = state;
    struct db_stmt *o = stmt(hs, H_OFFSET), *s = stmt(hs, H_SCAN_BATCH_READ);
    if (!(hs->caps & DB_CAP_ARRAYS))
        return 0;
    db_reset(o);
    db_reset(s);
    hs->memo_sent_t = tz_clamp(t);
    db_bind_int64(o, 1, hs->memo_sent_t);
    db_bind_text_array(s, 1, openids, n);
    if (db_send(o) < 0 || db_send(s) < 0)
        return -1;
    hs->memo_sent = true;
    hs->sc_sent = openids;
    return 0;
}

/* The slot's state, made on the first event of this connection. */
static struct hook_state *hook_state_get(struct db *db, struct store_hook_slot *slot)
{
    if (!slot)
        return NULL;
    if (slot->state)
        return slot->state;
    struct hook_state *hs = hook_state_new(db);
    if (!hs)
        return NULL;
    if ((hs->caps & DB_CAP_C_FUNCTIONS) &&
        db_function(db, "wxs_scan_add", 3, false, sql_scan_add, hs) < 0) {
        hook_state_free(hs);
        return NULL;
    }
    slot->state = hs;
    slot->free_state = hook_state_free;
    slot->end_batch = hook_end_batch;
    slot->begin_batch = hook_begin_batch;
    return hs;
}

static int memo_load(struct hook_state *hs, int64_t t)
{
    struct db_stmt *s = stmt(hs, H_OFFSET);
    struct tz_memo *m = &hs->memo;
    if (!hs->memo_sent) /* else bound and sent by hook_begin_batch() */
        db_bind_int64(s, 1, t);
    hs->memo_sent = false;
    int rc = db_step(s);
    *m = (struct tz_memo){.valid = rc == DB_ROW || rc == DB_DONE, .off_rollups = rc == DB_DONE};
    if (rc == DB_ROW) {
        m->offset = db_col_int(s, 0);
        m->lo = db_col_int64(s, 1);
        m->hi = db_col_null(s, 2) ? INT64_MAX : db_col_int64(s, 2);
    }
    db_reset(s);
    return m->valid ? 0 : -1;
}

/* Whether the memo still holds: the data version is where it was. A batch
 * holds the write lock, and under DB_CAP_SERIAL_WRITES nobody else commits
 * meanwhile: the version is read once per batch there, per event elsewhere;
 * without DB_CAP_DATA_VERSION the memo lasts the batch (hook_end_batch). */
static bool memo_fresh(struct hook_state *hs)
{
    uint64_t v;
    if (!(hs->caps & DB_CAP_DATA_VERSION) ||
        (hs->version_read && (hs->caps & DB_CAP_SERIAL_WRITES)))
        return hs->memo.valid;
    if (db_data_version(hs->db, &v) < 0)
        return hs->memo.valid = false;
    hs->version_read = true;
    if (v != hs->version) {
        hs->version = v;
        hs->memo.valid = false;
    }
    return hs->memo.valid;
}

/* 0 = *day set, 1 = rollups not maintained (stats_tz empty), -1 = error. */
static int hook_day(struct hook_state *hs, int64_t t, int64_t *day)
{
    struct tz_memo *m = &hs->memo;
    t = tz_clamp(t);
    if (hs->memo_sent && memo_load(hs, hs->memo_sent_t) < 0) /* the answer sent for */
        return -1;
    if (!(memo_fresh(hs) && (m->off_rollups || (t >= m->lo && t < m->hi))) && memo_load(hs, t) < 0)
        return -1;
    if (m->off_rollups)
        return 1;
    *day = tz_local_day(t, m->offset);
    return 0;
}

/* Add to a counter row: UPDATE, and the upsert when nothing was updated.
 * v = the key's day, then the rest of the parameters from ?3 on. */
static int bump(struct hook_state *hs, enum hook_q upd, enum hook_q ins, const int64_t *v, int nv,
                const char *scene)
{
    if (!(hs->caps & DB_CAP_SERIAL_WRITES)) { /* the upsert alone, its answer read later */
        struct db_stmt *s = stmt(hs, ins);
        db_bind_int64(s, 1, v[0]);
        db_bind_text(s, 2, scene);
        for (int i = 1; i < nv; i++)
            db_bind_int64(s, i + 2, v[i]);
        return db_run_later(s) < 0 ? -1 : 0;
    }
    for (int k = 0; k < 2; k++) {
        struct db_stmt *s = stmt(hs, k ? ins : upd);
        db_bind_int64(s, 1, v[0]);
        db_bind_text(s, 2, scene);
        for (int i = 1; i < nv; i++)
            db_bind_int64(s, i + 2, v[i]);
        if (db_run(s) < 0)
            return -1;
        if (db_changes(hs->db) > 0)
            return 0;
    }
    return 0;
}

static bool daily_zero(const struct daily_delta *d)
{
    return !(d->scans || d->new_fans || d->returning_fans || d->unsubscribes || d->quick_unsubs ||
             d->retained || d->first_scanners);
}

/* One summed row; rows whose deltas cancel out are not written (a rebuild
 * would not have them either). */
static int row_write(struct hook_state *hs, const struct agg_ent *e)
{
    const struct daily_delta *d = &e->d;
    if (e->table == AGG_DAILY) {
        if (daily_zero(d))
            return 0;
        const int64_t v[] = {e->day,          d->scans,        d->new_fans, d->returning_fans,
                             d->unsubscribes, d->quick_unsubs, d->retained, d->first_scanners};
        return bump(hs, H_DAILY_UPD, H_DAILY, v, 8, e->scene);
    }
    if (!d->scans)
        return 0;
    if (e->table == AGG_FIRST) {
        const int64_t v[] = {e->day, e->prev_day, d->scans};
        return bump(hs, H_FIRST_UPD, H_FIRST, v, 3, e->scene);
    }
    struct db_stmt *s = stmt(hs, H_CHURN);
    db_bind_int64(s, 1, e->day);
    db_bind_text(s, 2, e->scene);
    db_bind_int64(s, 3, e->prev_day);
    db_bind_int64(s, 4, d->scans);
    return db_run_later(s) < 0 ? -1 : 0;
}

static int count_first_scan(struct hook_state *hs, const char *scene, int64_t day);
static int scan_edit(struct hook_state *hs, const char *t, size_t n, const char *scene, int64_t day,
                     struct buf *scratch, const char **out, size_t *outn);

static void scan_cache_clear(struct scan_cache *c)
{
    c->openids = NULL;
    c->n = 0;
}

/* The changed scanner rows of the batch in one statement, its answer read
 * later. */
static int scan_cache_write(struct hook_state *hs)
{
    struct scan_cache *c = &hs->sc;
    const char **ids = NULL, **days = NULL;
    size_t n = 0;
    int ret = -1;
    if (!c->openids)
        return 0;
    if (!(ids = malloc(c->n * sizeof(*ids))) || !(days = malloc(c->n * sizeof(*days))))
        goto done;
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].dirty) {
            ids[n] = c->openids[i];
            days[n++] = c->e[i].days.data;
        }
    ret = 0;
    if (n) {
        struct db_stmt *s = stmt(hs, H_SCAN_BATCH_WRITE);
        db_bind_text_array(s, 1, ids, n);
        db_bind_text_array(s, 2, days, n);
        ret = db_run_later(s) < 0 ? -1 : 0;
    }
done:
    free(ids);
    free(days);
    return ret;
}

static int cmp_openid(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The rows of every openid of the batch, read once at its first scan. */
static int scan_cache_load(struct hook_state *hs)
{
    struct scan_cache *c = &hs->sc;
    size_t n = hs->batch_nopenids;
    if (n > c->cap) {
        struct scan_ent *e = realloc(c->e, n * sizeof(*e));
        if (!e)
            return -1;
        memset(e + c->cap, 0, (n - c->cap) * sizeof(*e));
        c->e = e;
        c->cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        c->e[i].exists = c->e[i].dirty = false;
        buf_reset(&c->e[i].days);
    }
    struct db_stmt *s = stmt(hs, H_SCAN_BATCH_READ);
    if (hs->sc_sent != hs->batch_openids) { /* else sent by hook_begin_batch() */
        db_reset(s);
        db_bind_text_array(s, 1, (const char **)hs->batch_openids, n);
    }
    hs->sc_sent = NULL;
    int rc;
    while ((rc = db_step(s)) == DB_ROW) {
        const char *id = db_col_text(s, 0), *days = db_col_text(s, 1);
        const char *const *p =
            id ? bsearch(&id, hs->batch_openids, n, sizeof(*p), cmp_openid) : NULL;
        if (!p || !days)
            continue;
        struct scan_ent *e = &c->e[p - hs->batch_openids];
        e->exists = true;
        if (buf_puts(&e->days, days) < 0) {
            rc = DB_ENOMEM;
            break;
        }
    }
    db_reset(s);
    if (rc != DB_DONE)
        return -1;
    c->openids = hs->batch_openids;
    c->n = n;
    return 0;
}

/* count_scan() in a batch applied whole: the row in memory edited with
 * scan_edit() (a new scanner's row is the scan's alone). 1 when the
 * openid is not one of the batch's (the caller goes the per-event way). */
static int count_scan_cached(struct hook_state *hs, const char *scene, const char *openid,
                             int64_t day)
{
    struct scan_cache *c = &hs->sc;
    if (c->openids != hs->batch_openids && scan_cache_load(hs) < 0)
        return -1;
    const char *const *p = bsearch(&openid, c->openids, c->n, sizeof(*p), cmp_openid);
    if (!p)
        return 1;
    struct scan_ent *e = &c->e[p - c->openids];
    const char *out;
    size_t outn;
    if (!e->exists) {
        if (buf_append(&e->days, hs->scan_row.data, hs->scan_row.len) < 0)
            return -1;
        e->exists = e->dirty = true;
        return count_first_scan(hs, scene, day);
    }
    buf_reset(&hs->scan_out);
    if (scan_edit(hs, e->days.data, e->days.len, scene, day, &hs->scan_out, &out, &outn) < 0)
        return -1;
    if (out == e->days.data)
        return 0;
    struct buf tmp = {0};
    if (buf_append(&tmp, out, outn) < 0)
        return -1;
    buf_free(&e->days);
    e->days = tmp;
    e->dirty = true;
    return 0;
}

/* DB_CAP_ARRAYS: the sorted rows v[0..n) (one table's run of the
 * write-out) in one statement, rows whose deltas cancel out left out. */
static int rows_write_many(struct hook_state *hs, struct agg_ent *const *v, size_t n)
{
    enum agg_table t = v[0]->table;
    int64_t *col[9] = {0};
    const char **scenes = malloc(n * sizeof(*scenes));
    int ncols = t == AGG_DAILY ? 8 : 3, ret = -1;
    size_t m = 0;
    for (int k = 0; k < ncols; k++)
        if (!(col[k] = malloc(n * sizeof(*col[k]))))
            goto done;
    if (!scenes)
        goto done;
    for (size_t i = 0; i < n; i++) {
        const struct daily_delta *d = &v[i]->d;
        if (t == AGG_DAILY ? daily_zero(d) : !d->scans)
            continue;
        scenes[m] = v[i]->scene;
        col[0][m] = v[i]->day;
        if (t == AGG_DAILY) {
            const int64_t x[] = {d->scans,        d->new_fans, d->returning_fans, d->unsubscribes,
                                 d->quick_unsubs, d->retained, d->first_scanners};
            for (int k = 0; k < 7; k++)
                col[k + 1][m] = x[k];
        } else {
            col[1][m] = v[i]->prev_day;
            col[2][m] = d->scans;
        }
        m++;
    }
    ret = 0;
    if (m) {
        struct db_stmt *s = stmt(hs, t == AGG_DAILY   ? H_DAILY_MANY
                                     : t == AGG_FIRST ? H_FIRST_MANY
                                                      : H_CHURN_MANY);
        db_bind_int64_array(s, 1, col[0], m);
        db_bind_text_array(s, 2, scenes, m);
        for (int k = 1; k < ncols; k++)
            db_bind_int64_array(s, k + 2, col[k], m);
        ret = db_run_later(s) < 0 ? -1 : 0;
    }
done:
    for (int k = 0; k < ncols; k++)
        free(col[k]);
    free(scenes);
    return ret;
}

/* The write-out: row by row, or with DB_CAP_ARRAYS one statement per
 * table. */
static int rows_write(struct hook_state *hs, struct agg_ent *const *v, size_t n)
{
    int ret = 0;
    if (!(hs->caps & DB_CAP_ARRAYS)) {
        for (size_t i = 0; ret == 0 && i < n; i++)
            ret = row_write(hs, v[i]);
        return ret;
    }
    for (size_t i = 0, j; ret == 0 && i < n; i = j) {
        for (j = i + 1; j < n && v[j]->table == v[i]->table; j++)
            ;
        ret = rows_write_many(hs, v + i, j - i);
    }
    return ret;
}

/* Store, at the end of a batch (or of a part of it: store_batch_flush):
 * write the summed deltas in key order (commit), or drop them (the batch
 * is rolled back). */
static int hook_end_batch(void *state, bool commit)
{
    struct hook_state *hs = state;
    struct agg *a = &hs->agg;
    size_t n = 0;
    int ret = commit ? scan_cache_write(hs) : 0;
    scan_cache_clear(&hs->sc);
    if (hs->sc_sent) /* sent ahead, never needed: the answer is dropped */
        db_reset(stmt(hs, H_SCAN_BATCH_READ));
    if (hs->memo_sent)
        db_reset(stmt(hs, H_OFFSET));
    hs->sc_sent = NULL;
    hs->memo_sent = false;
    if (ret == 0 && commit && a->n)
        ret = agg_sort(a, &n);
    if (ret == 0 && n)
        ret = rows_write(hs, a->order, n);
    agg_clear(a);
    hs->version_read = false;
    if (!(hs->caps & DB_CAP_DATA_VERSION))
        hs->memo.valid = false;
    return ret;
}

static int daily_add(struct hook_state *hs, int64_t day, const char *scene,
                     const struct daily_delta *d)
{
    struct agg_ent *e = agg_get(&hs->agg, AGG_DAILY, day, scene, 0);
    if (!e)
        return -1;
    e->d.scans += d->scans;
    e->d.new_fans += d->new_fans;
    e->d.returning_fans += d->returning_fans;
    e->d.unsubscribes += d->unsubscribes;
    e->d.quick_unsubs += d->quick_unsubs;
    e->d.retained += d->retained;
    e->d.first_scanners += d->first_scanners;
    return 0;
}

/* A scanner counted on day under its previous scan day of the scope. A
 * scene's scanners with no earlier day (prev_day = SCANDAYS_NONE) are
 * counted in that scene's stats_daily row (first_scanners), which the batch
 * writes anyway, rather than in a stats_scan_first row of their own. */
static int first_add(struct hook_state *hs, int64_t day, const char *scene, int64_t prev_day,
                     int64_t n)
{
    if (prev_day == SCANDAYS_NONE && *scene)
        return daily_add(hs, day, scene, &(struct daily_delta){.first_scanners = n});
    struct agg_ent *e = agg_get(&hs->agg, AGG_FIRST, day, scene, prev_day);
    if (!e)
        return -1;
    e->d.scans += n;
    return 0;
}

/* A subscribe made on sub_day through scene ended on unsub_day. */
static int churn_add(struct hook_state *hs, int64_t unsub_day, const char *scene, int64_t sub_day)
{
    struct agg_ent *e = agg_get(&hs->agg, AGG_CHURN, unsub_day, scene, sub_day);
    if (!e)
        return -1;
    e->d.scans++;
    return 0;
}

static const char *scene_key(const char *scene)
{
    return scene ? scene : ""; /* '' = organic in stats_daily / stats_churn */
}

static bool has_scene(const char *scene)
{
    return scene && *scene;
}

/* A new day of the scope between prev and succ (SCANDAYS_NONE: none): the
 * day counts under prev, and succ moves from under prev to under day. */
static int scan_counted(struct hook_state *hs, const char *scope, int64_t day, int64_t prev,
                        int64_t succ)
{
    if (first_add(hs, day, scope, prev, 1) < 0)
        return -1;
    if (succ == SCANDAYS_NONE)
        return 0;
    return first_add(hs, succ, scope, prev, -1) < 0 || first_add(hs, succ, scope, day, 1) < 0 ? -1
                                                                                              : 0;
}

/* A scanner with no earlier day of the scene nor of any scene. */
static int count_first_scan(struct hook_state *hs, const char *scene, int64_t day)
{
    return scan_counted(hs, scene, day, SCANDAYS_NONE, SCANDAYS_NONE) < 0 ||
                   scan_counted(hs, "", day, SCANDAYS_NONE, SCANDAYS_NONE) < 0
               ? -1
               : 0;
}

static struct db_value text_value(const char *p, size_t n)
{
    return (struct db_value){.type = DB_TEXT, .p = p, .n = n};
}

/* SQL wxs_scan_add(days, scene, day), ctx the connection's hook state:
 * the scanner's row with day added to the scene and to any scene, the
 * moved distinct-scanner counts summed into the running hook. A day the
 * scanner already has on the scene is on any scene too: the row stays as
 * it is. */
/* The scanner's row t (n bytes) with day added to the scene and to any
 * scene, the moved distinct-scanner counts summed into the running hook:
 * *out, *outn point to t (nothing to add), hs->scan_tmp, scratch or, for a
 * row this code cannot read, hs->scan_row. A day the scanner already has
 * on the scene is on any scene too: the row stays as it is. */
static int scan_edit(struct hook_state *hs, const char *t, size_t n, const char *scene, int64_t day,
                     struct buf *scratch, const char **out, size_t *outn)
{
    int64_t prev, succ;
    if (!t || !scandays_valid(t, n)) {
        /* A row this code did not write (a hand edit, a bad restore): the
         * event is still stored. The row becomes this scan's alone, the scan
         * counts as the scanner's first, and count_scan() marks the rollups
         * for a rebuild from the events. */
        hs->scan_damaged = true;
        if (count_first_scan(hs, scene, day) < 0)
            return -1;
        *out = hs->scan_row.data, *outn = hs->scan_row.len;
        return 0;
    }
    struct buf *one = &hs->scan_tmp;
    int rc = scandays_add(t, n, scene, day, one, &prev, &succ);
    if (rc == 1) {
        *out = t, *outn = n;
        return 0;
    }
    if (rc < 0 || scan_counted(hs, scene, day, prev, succ) < 0)
        return -1;
    rc = scandays_add(one->data, one->len, "", day, scratch, &prev, &succ);
    if (rc < 0 || (rc == 0 && scan_counted(hs, "", day, prev, succ) < 0))
        return -1;
    if (rc == 1)
        *out = one->data, *outn = one->len;
    else
        *out = scratch->data, *outn = scratch->len;
    return 0;
}

/* SQL wxs_scan_add(days, scene, day), ctx the connection's hook state:
 * scan_edit() inside the scanner row's upsert. */
static int sql_scan_add(void *ctx, int argc, const struct db_value *argv, struct db_value *out,
                        struct buf *scratch, const char **errmsg)
{
    struct hook_state *hs = ctx;
    const struct db_value *row = &argv[0];
    const char *scene = argv[1].type == DB_TEXT ? argv[1].p : NULL;
    const char *t = row->type == DB_TEXT || row->type == DB_BLOB ? row->p : NULL;
    const char *p;
    size_t n;
    (void)argc;
    if (!hs->in_scan || !scene) {
        *errmsg = "wxs_scan_add: outside the statistics hook";
        return -1;
    }
    hs->scan_seen = true;
    if (scan_edit(hs, t, row->n, scene, argv[2].i, scratch, &p, &n) < 0)
        return -1;
    *out = text_value(p, n);
    return 0;
}

/* count_scan() without C functions (PostgreSQL): the scanner's row read
 * under its row lock (FOR UPDATE: another instance scanning the same
 * openid waits), edited with scan_edit(), written back if it changed; a
 * new scanner's row inserted, or read again when a concurrent insert of
 * the same openid won. */
static int count_scan_locked(struct hook_state *hs, const char *scene, const char *openid,
                             int64_t day)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        struct db_stmt *r = stmt(hs, H_SCAN_READ);
        db_bind_text(r, 1, openid);
        int rc = db_step(r);
        if (rc == DB_ROW) {
            const char *t = db_col_text(r, 0), *p;
            size_t n;
            buf_reset(&hs->scan_out);
            rc = scan_edit(hs, t, t ? strlen(t) : 0, scene, day, &hs->scan_out, &p, &n);
            bool changed = rc == 0 && p != t;
            db_reset(r); /* p is t only when unchanged; else one of hs's buffers */
            if (rc < 0)
                return -1;
            if (!changed)
                return 0;
            struct db_stmt *w = stmt(hs, H_SCAN_SET);
            db_bind_text(w, 1, openid);
            db_bind_textn(w, 2, p, n);
            return db_run_later(w) < 0 ? -1 : 0;
        }
        db_reset(r);
        if (rc != DB_DONE)
            return -1;
        struct db_stmt *ins = stmt(hs, H_SCAN_NEW);
        db_bind_text(ins, 1, openid);
        db_bind_textn(ins, 2, hs->scan_row.data, hs->scan_row.len);
        if (db_run(ins) < 0)
            return -1;
        if (db_changes(hs->db) == 1)
            return count_first_scan(hs, scene, day);
    }
    log_warn("stats: the scan days of %s: inserted and gone three times over", openid);
    return -1; /* cannot happen under the openid's lock (store_fan_lock) */
}

/* A scan of a scene: its day added to the scanner's stats_scanners row, for
 * the scene and for any scene, and the distinct-scanner counts it moves
 * (under the scanner's previous day of each; a day that arrives after a
 * later one, events committed out of order, moves its successor too). One
 * upsert: a new scanner's row is inserted whole (first days of both), a
 * known scanner's is updated by wxs_scan_add(). */
static int count_scan(struct hook_state *hs, const char *scene, const char *openid, int64_t day)
{
    struct db_stmt *s = (hs->caps & DB_CAP_C_FUNCTIONS) ? stmt(hs, H_SCAN) : NULL;
    struct buf *row = &hs->scan_row;
    buf_reset(row);
    if (scandays_append(row, "", day) < 0 || scandays_append(row, scene, day) < 0)
        return -1;
    hs->scan_seen = hs->scan_damaged = false;
    int cached = (hs->caps & DB_CAP_ARRAYS) && hs->batch_openids
                     ? count_scan_cached(hs, scene, openid, day)
                     : 1;
    if (cached < 0)
        return -1;
    if (cached == 0) {
        hs->scan_seen = true; /* counted there, first scan or not */
    } else if (!(hs->caps & DB_CAP_C_FUNCTIONS)) {
        if (count_scan_locked(hs, scene, openid, day) < 0)
            return -1;
        hs->scan_seen = true; /* counted there, first scan or not */
    } else {
        db_bind_text(s, 1, openid);
        db_bind_textn(s, 2, row->data, row->len);
        db_bind_text(s, 3, scene);
        db_bind_int64(s, 4, day);
        hs->in_scan = true;
        int rc = db_run(s);
        hs->in_scan = false;
        if (rc < 0)
            return -1;
    }
    if (hs->scan_damaged) {
        log_warn("stats: the scan days of %s could not be read and were replaced; the "
                 "statistics are rebuilt from the events at the next start (or `wxscene stats "
                 "--rebuild`)",
                 openid);
        return db_run(stmt(hs, H_STALE)) < 0 ? -1 : 0;
    }
    return hs->scan_seen ? 0 : count_first_scan(hs, scene, day);
}

/* The fan's previous latest subscribe no longer counts as retained. */
static int retained_drop(struct hook_state *hs, const char *scene, int64_t sub_at)
{
    int64_t day;
    int rc = hook_day(hs, sub_at, &day);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    return daily_add(hs, day, scene_key(scene), &(struct daily_delta){.retained = -1});
}

static int on_subscribe(struct hook_state *hs, const struct event_applied *ev, int64_t day)
{
    const struct event_rec *r = ev->rec;
    bool scanned = has_scene(r->scene);
    struct daily_delta d = {.scans = scanned,
                            .new_fans = ev->is_new_fan,
                            .returning_fans = !ev->is_new_fan,
                            .retained = 1};
    if (daily_add(hs, day, scanned ? r->scene : "", &d) < 0)
        return -1;
    if (scanned && count_scan(hs, r->scene, r->openid, day) < 0)
        return -1;
    if (ev->fan_was_subscribed && ev->prev_last_sub_at != 0)
        return retained_drop(hs, ev->prev_last_scene, ev->prev_last_sub_at);
    return 0;
}

static int on_scan(struct hook_state *hs, const struct event_applied *ev, int64_t day)
{
    const struct event_rec *r = ev->rec;
    if (!has_scene(r->scene))
        return 0;
    if (daily_add(hs, day, r->scene, &(struct daily_delta){.scans = 1}) < 0)
        return -1;
    return count_scan(hs, r->scene, r->openid, day);
}

/* Only the unsubscribe of a fan who was subscribed (through a subscribe we
 * saw) counts: it ends that subscribe, which is charged to its scene. */
static int on_unsubscribe(struct hook_state *hs, const struct event_applied *ev, int64_t day)
{
    const struct event_rec *r = ev->rec;
    int64_t sub_day;
    if (!ev->fan_was_subscribed || ev->prev_last_sub_at == 0)
        return 0;
    const char *key = scene_key(ev->prev_last_scene);
    int64_t held = r->create_time - ev->prev_last_sub_at;
    int rc = hook_day(hs, ev->prev_last_sub_at, &sub_day);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    struct daily_delta quit = {.unsubscribes = 1};
    struct daily_delta lost = {.retained = -1,
                               .quick_unsubs = held >= 0 && held < STATS_QUICK_UNSUB_SECS};
    return daily_add(hs, day, key, &quit) < 0 || daily_add(hs, sub_day, key, &lost) < 0 ||
                   churn_add(hs, day, key, sub_day) < 0
               ? -1
               : 0;
}

typedef int (*kind_handler)(struct hook_state *hs, const struct event_applied *ev, int64_t day);

static const kind_handler kind_handlers[] = {
    [EV_SUBSCRIBE] = on_subscribe, [EV_SCAN] = on_scan, [EV_UNSUBSCRIBE] = on_unsubscribe,
    [EV_MESSAGE] = NULL,           [EV_OTHER] = NULL,
};

/* Runs for every first-delivered event inside the commit: a zone lookup
 * (memoised), a few sums in memory, and for a scan one upsert (measured in
 * docs/stats-benchmark.md). */
int stats_event_hook(struct db *db, const struct event_applied *ev)
{
    unsigned kind = (unsigned)ev->rec->kind;
    int64_t day;
    if (kind >= WXS_ARRAY_LEN(kind_handlers) || !kind_handlers[kind])
        return 0;
    struct hook_state *hs = hook_state_get(db, ev->slot);
    if (!hs)
        return -1;
    hs->batch_openids = ev->batch_openids;
    hs->batch_nopenids = ev->batch_nopenids;
    int rc = hook_day(hs, ev->rec->create_time, &day);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    return kind_handlers[kind](hs, ev, day);
}

int stats_fan_changed(struct db *db, const char *old_scene, int64_t old_sub_at, bool old_subscribed,
                      const char *new_scene, int64_t new_sub_at, bool new_subscribed)
{
    struct hook_state *hs = hook_state_new(db);
    int64_t day;
    int ret = -1;
    if (!hs)
        return -1;
    if (old_subscribed && old_sub_at != 0 && retained_drop(hs, old_scene, old_sub_at) < 0)
        goto done;
    if (new_subscribed && new_sub_at != 0) {
        int rc = hook_day(hs, new_sub_at, &day);
        if (rc < 0 || (rc == 0 && daily_add(hs, day, scene_key(new_scene),
                                            &(struct daily_delta){.retained = 1}) < 0))
            goto done;
    }
    ret = hook_end_batch(hs, true); /* the same write-out as a batch of events */
done:
    hook_state_free(hs);
    return ret;
}
