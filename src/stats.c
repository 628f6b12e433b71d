#include "db_sqlite.h"
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "log.h"
#include "tz.h"

#define QUICK_UNSUB_SECS 600 /* "subscribe-unsubscribe pair within minutes" */
#define DEFAULT_DAYS     30

struct stats {
    struct store *st;
    sqlite3 *db;
    struct tz *tz;
    char *tzname;
    int64_t retention_days;
};

/* ==== the hook: rollups inside the commit transaction ==== */

enum hook_stmt {
    H_OFFSET,
    H_DAILY,
    H_CHURN,
    H_SCAN,
    H_FIRST,
    H_DAILY_UPD,
    H_FIRST_UPD,
    H_STALE,
    H_COUNT
};

static const char *const hook_sql[H_COUNT] = {
    [H_OFFSET] = "SELECT utc_offset, from_utc, (SELECT min(from_utc) FROM stats_tz "
                 "WHERE from_utc > ?1) FROM stats_tz WHERE from_utc <= ?1 "
                 "ORDER BY from_utc DESC LIMIT 1",
    [H_DAILY] = "INSERT INTO stats_daily(day, scene, scans, new_fans, returning_fans, "
                "unsubscribes, quick_unsubs, retained, first_scanners) "
                "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                "ON CONFLICT(day, scene) DO UPDATE SET scans = scans + excluded.scans, "
                "new_fans = new_fans + excluded.new_fans, "
                "returning_fans = returning_fans + excluded.returning_fans, "
                "unsubscribes = unsubscribes + excluded.unsubscribes, "
                "quick_unsubs = quick_unsubs + excluded.quick_unsubs, "
                "retained = retained + excluded.retained, "
                "first_scanners = first_scanners + excluded.first_scanners",
    [H_CHURN] = "INSERT INTO stats_churn(sub_day, scene, unsub_day, n) VALUES(?1, ?2, ?3, 1) "
                "ON CONFLICT(unsub_day, scene, sub_day) DO UPDATE SET n = n + 1",
    /* a scan day: a new scanner's row, or wxs_scan_add() on the scanner's
     * row (one seek, one write; see count_scan()) */
    [H_SCAN] = "INSERT INTO stats_scanners(openid, days) VALUES(?1, ?2) "
               "ON CONFLICT(openid) DO UPDATE SET days = wxs_scan_add(days, ?3, ?4)",
    [H_FIRST] = "INSERT INTO stats_scan_first(day, scene, prev_day, n) VALUES(?1, ?2, ?3, ?4) "
                "ON CONFLICT(day, scene, prev_day) DO UPDATE SET n = n + excluded.n",
    /* the row is usually there already: a plain UPDATE first is half the
     * work of the upsert (which tries the insert, then updates) */
    [H_DAILY_UPD] = "UPDATE stats_daily SET scans = scans + ?3, new_fans = new_fans + ?4, "
                    "returning_fans = returning_fans + ?5, unsubscribes = unsubscribes + ?6, "
                    "quick_unsubs = quick_unsubs + ?7, retained = retained + ?8, "
                    "first_scanners = first_scanners + ?9 "
                    "WHERE day = ?1 AND scene = ?2",
    [H_FIRST_UPD] = "UPDATE stats_scan_first SET n = n + ?4 "
                    "WHERE day = ?1 AND scene = ?2 AND prev_day = ?3",
    /* the rollups no longer match the events: the next stats_open rebuilds
     * them (zone_current() compares this name with the configured zone) */
    [H_STALE] = "UPDATE stats_meta SET value = '(rebuild)' WHERE key = 'timezone'",
};

#define NO_SCAN_DAY INT64_C(-2147483648) /* stats_scan_first.prev_day: none before */

/* The zone's offset around the last event: events of a commit are close in
 * time, so one lookup per commit serves them all. Valid while the
 * database's data version (which moves on every commit, ours or another
 * process's: a rebuild or stats_disable) is the one it was read at. */
struct tz_memo {
    bool valid, off_rollups; /* off_rollups: stats_tz is empty (rollups switched off) */
    unsigned version;
    int64_t lo, hi; /* offset holds for lo <= t < hi */
    int32_t offset;
};

struct daily_delta {
    int64_t scans, new_fans, returning_fans, unsubscribes, quick_unsubs, retained;
    int64_t first_scanners; /* see first_add() */
};

/* The counter deltas of one commit, summed per row before they are written:
 * the events of a batch share rows (today's row of a scene, and above all
 * the any-scene row of stats_scan_first that every new scanner of the day
 * moves), so the batch pays one upsert per row instead of one per event.
 * An open-addressing table keyed by (table, day, scene, prev_day). */
enum agg_table { AGG_DAILY, AGG_FIRST };

struct agg_ent {
    bool used;
    uint8_t table;
    int64_t day, prev_day; /* prev_day: AGG_FIRST only */
    char *scene;
    struct daily_delta d; /* AGG_FIRST: d.scans is n */
};

struct agg {
    struct agg_ent *e;
    size_t cap, n; /* cap: a power of two, or 0 */
};

/* Statements prepared once per store handle (kept in the hook's slot). */
struct hook_state {
    sqlite3 *db;
    sqlite3_stmt *s[H_COUNT];
    struct tz_memo memo;
    struct agg agg;
    bool scan_seen;      /* wxs_scan_add() ran: the scanner had a row */
    bool scan_damaged;   /* ... which it could not read, and replaced */
    struct buf scan_row; /* a new scanner's row */
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
        a->e = NULL;
        a->cap = 0;
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

static void hook_state_free(void *p)
{
    struct hook_state *hs = p;
    if (!hs)
        return;
    for (int i = 0; i < H_COUNT; i++)
        sqlite3_finalize(hs->s[i]);
    agg_clear(&hs->agg);
    free(hs->agg.e);
    buf_free(&hs->scan_row);
    free(hs);
}

static int hook_state_new(sqlite3 *db, struct hook_state **out)
{
    struct hook_state *hs = calloc(1, sizeof(*hs));
    if (!hs)
        return -1;
    hs->db = db;
    *out = hs;
    return 0;
}

/* A hook statement, prepared on its first use: the store's hook keeps them
 * for the connection's life, while a one-off state (stats_fan_changed, once
 * per backfilled fan) prepares only the two or three it runs. NULL on
 * error (SQLite reports NULL statements as misuse, never touches them). */
static sqlite3_stmt *stmt(struct hook_state *hs, enum hook_stmt i)
{
    if (!hs->s[i] && sqlite3_prepare_v3(hs->db, hook_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                        &hs->s[i], NULL) != SQLITE_OK) {
        sqlite3_finalize(hs->s[i]);
        hs->s[i] = NULL;
    }
    return hs->s[i];
}

static int hook_end_batch(void *state, bool commit);
static void sql_scan_add(sqlite3_context *ctx, int argc, sqlite3_value **argv);

/* The slot's statements, prepared on the first event of this handle. */
static struct hook_state *hook_state_get(sqlite3 *db, struct store_hook_slot *slot)
{
    struct hook_state *hs;
    if (!slot)
        return NULL;
    if (slot->state)
        return slot->state;
    if (hook_state_new(db, &hs) < 0)
        return NULL;
    if (sqlite3_create_function_v2(db, "wxs_scan_add", 3, SQLITE_UTF8 | SQLITE_DIRECTONLY, NULL,
                                   sql_scan_add, NULL, NULL, NULL) != SQLITE_OK) {
        hook_state_free(hs);
        return NULL;
    }
    slot->state = hs;
    slot->free_state = hook_state_free;
    slot->end_batch = hook_end_batch;
    return hs;
}

static int run(sqlite3_stmt *s)
{
    if (!s)
        return -1;
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

static int memo_load(struct hook_state *hs, int64_t t, unsigned version)
{
    sqlite3_stmt *s = stmt(hs, H_OFFSET);
    struct tz_memo *m = &hs->memo;
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, t);
    int rc = sqlite3_step(s);
    *m = (struct tz_memo){.valid = rc == SQLITE_ROW || rc == SQLITE_DONE,
                          .off_rollups = rc == SQLITE_DONE,
                          .version = version};
    if (rc == SQLITE_ROW) {
        m->offset = sqlite3_column_int(s, 0);
        m->lo = sqlite3_column_int64(s, 1);
        m->hi = sqlite3_column_type(s, 2) == SQLITE_NULL ? INT64_MAX : sqlite3_column_int64(s, 2);
    }
    sqlite3_reset(s);
    return m->valid ? 0 : -1;
}

/* 0 = *day set, 1 = rollups not maintained (stats_tz empty), -1 = error. */
static int hook_day(struct hook_state *hs, int64_t t, int64_t *day)
{
    struct tz_memo *m = &hs->memo;
    unsigned version = 0;
    t = tz_clamp(t);
    sqlite3_file_control(hs->db, "main", SQLITE_FCNTL_DATA_VERSION, &version);
    bool fresh = m->valid && m->version == version;
    if (!(fresh && (m->off_rollups || (t >= m->lo && t < m->hi))) && memo_load(hs, t, version) < 0)
        return -1;
    if (m->off_rollups)
        return 1;
    *day = tz_local_day(t, m->offset);
    return 0;
}

/* Add to a counter row: UPDATE, and the upsert when nothing was updated. */
static int bump(struct hook_state *hs, enum hook_stmt upd, enum hook_stmt ins, const int64_t *v,
                int nv, const char *scene)
{
    for (int k = 0; k < 2; k++) {
        sqlite3_stmt *s = stmt(hs, k ? ins : upd);
        sqlite3_bind_int64(s, 1, v[0]);
        sqlite3_bind_text(s, 2, scene, -1, SQLITE_STATIC);
        for (int i = 1; i < nv; i++)
            sqlite3_bind_int64(s, i + 2, v[i]);
        if (run(s) < 0)
            return -1;
        if (sqlite3_changes(hs->db) > 0)
            return 0;
    }
    return 0;
}

static int daily_write(struct hook_state *hs, int64_t day, const char *scene,
                       const struct daily_delta *d)
{
    const int64_t v[] = {day,
                         d->scans,
                         d->new_fans,
                         d->returning_fans,
                         d->unsubscribes,
                         d->quick_unsubs,
                         d->retained,
                         d->first_scanners};
    return bump(hs, H_DAILY_UPD, H_DAILY, v, 8, scene);
}

static int first_write(struct hook_state *hs, int64_t day, const char *scene, int64_t prev_day,
                       int64_t n)
{
    const int64_t v[] = {day, prev_day, n};
    return bump(hs, H_FIRST_UPD, H_FIRST, v, 3, scene);
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
 * scene's scanners with no earlier day (prev_day = NO_SCAN_DAY) are
 * counted in that scene's stats_daily row (first_scanners), which the batch
 * writes anyway, rather than in a stats_scan_first row of their own. */
static int first_add(struct hook_state *hs, int64_t day, const char *scene, int64_t prev_day,
                     int64_t n)
{
    if (prev_day == NO_SCAN_DAY && *scene)
        return daily_add(hs, day, scene, &(struct daily_delta){.first_scanners = n});
    struct agg_ent *e = agg_get(&hs->agg, AGG_FIRST, day, scene, prev_day);
    if (!e)
        return -1;
    e->d.scans += n;
    return 0;
}

/* Store, at the end of a batch: write the summed deltas (commit) or drop
 * them (the batch is rolled back). Rows whose deltas cancel out are not
 * written (a rebuild would not have them either). */
static int hook_end_batch(void *state, bool commit)
{
    struct hook_state *hs = state;
    struct agg *a = &hs->agg;
    int ret = 0;
    for (size_t i = 0, left = a->n; commit && ret == 0 && i < a->cap && left; i++) {
        const struct agg_ent *e = &a->e[i];
        const struct daily_delta *d = &e->d;
        if (!e->used)
            continue;
        left--;
        if (e->table == AGG_FIRST) {
            if (d->scans)
                ret = first_write(hs, e->day, e->scene, e->prev_day, d->scans);
        } else if (d->scans || d->new_fans || d->returning_fans || d->unsubscribes ||
                   d->quick_unsubs || d->retained || d->first_scanners) {
            ret = daily_write(hs, e->day, e->scene, d);
        }
    }
    agg_clear(a);
    return ret;
}

static const char *scene_key(const char *scene)
{
    return scene ? scene : ""; /* '' = organic in stats_daily / stats_churn */
}

static bool has_scene(const char *scene)
{
    return scene && *scene;
}

static int scan_counted(struct hook_state *hs, const char *scope, int64_t day, int64_t prev,
                        int64_t succ)
{
    if (first_add(hs, day, scope, prev, 1) < 0)
        return -1;
    if (succ == NO_SCAN_DAY)
        return 0;
    return first_add(hs, succ, scope, prev, -1) < 0 || first_add(hs, succ, scope, day, 1) < 0 ? -1
                                                                                              : 0;
}

/* ---- a scanner's scan days: stats_scanners.days ----
 * One row per openid: per scope (a scene, or '' for any scene), in scope
 * order (bytes, shorter first: '' leads), "<bytes>:<scope>", then
 * ",<day>" for each day the openid scanned it, ascending, then ";".
 * Migration 010 and the rebuild write the same text with SQL. */

struct scan_scope {
    size_t at, end;   /* the scope's text "<bytes>:<scope>,<day>...", end at its ';' */
    size_t days;      /* where its ",<day>" list starts */
    const char *name; /* its name (not NUL-terminated) */
    size_t len;
};

/* The next scope of t at *at; 1 = one read, 0 = end, -1 = malformed. */
static int scope_next(const char *t, size_t n, size_t *at, struct scan_scope *sc)
{
    size_t i = *at, len = 0;
    if (i == n)
        return 0;
    if (t[i] < '0' || t[i] > '9')
        return -1;
    while (i < n && t[i] >= '0' && t[i] <= '9' && len < 1000000)
        len = len * 10 + (size_t)(t[i++] - '0');
    if (i == n || t[i] != ':' || n - i - 1 < len)
        return -1;
    sc->at = *at;
    sc->name = t + i + 1;
    sc->len = len;
    i += 1 + len;
    sc->days = i;
    while (i < n && t[i] == ',') {
        i++;
        if (i < n && t[i] == '-')
            i++;
        size_t digits = i;
        while (i < n && t[i] >= '0' && t[i] <= '9')
            i++;
        if (i == digits || i - digits > 18)
            return -1;
    }
    if (i == n || t[i] != ';')
        return -1;
    sc->end = i;
    *at = i + 1;
    return 1;
}

/* Where day goes in the scope's day list: found (already there), its
 * predecessor and successor (NO_SCAN_DAY: none) and the offset to insert
 * ",<day>" at (before its successor, so a sorted list stays sorted). */
static void scope_place(const char *t, const struct scan_scope *sc, int64_t day, bool *found,
                        int64_t *prev, int64_t *succ, size_t *ins)
{
    *found = false;
    *prev = *succ = NO_SCAN_DAY;
    *ins = sc->end;
    for (size_t i = sc->days; i < sc->end;) {
        size_t item = i++; /* the ',' (scope_next checked the digits) */
        bool neg = t[i] == '-';
        int64_t d = 0;
        for (i += neg; i < sc->end && t[i] >= '0' && t[i] <= '9'; i++)
            d = d * 10 + (t[i] - '0');
        if (neg)
            d = -d;
        if (d == day)
            *found = true;
        else if (d < day && (*prev == NO_SCAN_DAY || d > *prev))
            *prev = d;
        else if (d > day && (*succ == NO_SCAN_DAY || d < *succ)) {
            *succ = d;
            if (*ins == sc->end)
                *ins = item;
        }
    }
}

static int scope_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

/* One scope of the format with a single day: "<bytes>:<scope>,<day>;"
 * (without printf: a new scanner's row is two of these per scan event). */
static int scope_append(struct buf *out, const char *scope, int64_t day)
{
    char num[48], *end = num + sizeof(num);
    size_t slen = strlen(scope);
    char *p = util_puts(util_put_i64(num, end, (int64_t)slen), end, ":");
    if (buf_append(out, num, (size_t)(p - num)) < 0 || buf_append(out, scope, slen) < 0)
        return -1;
    p = util_puts(util_put_i64(util_puts(num, end, ","), end, day), end, ";");
    return buf_append(out, num, (size_t)(p - num));
}

/* A scanner with no earlier day of the scene nor of any scene. */
static int count_first_scan(struct hook_state *hs, const char *scene, int64_t day)
{
    return scan_counted(hs, scene, day, NO_SCAN_DAY, NO_SCAN_DAY) < 0 ||
                   scan_counted(hs, "", day, NO_SCAN_DAY, NO_SCAN_DAY) < 0
               ? -1
               : 0;
}

/* The whole row reads as the format says. */
static bool row_valid(const char *t, size_t n)
{
    size_t at = 0;
    struct scan_scope sc;
    int rc;
    while ((rc = scope_next(t, n, &at, &sc)) == 1)
        ;
    return rc == 0;
}

/* Add day to scope in t (n bytes, row_valid) into out, and count it
 * (scan_counted). 0 = added, 1 = the day was there already (out
 * untouched), -1 = out of memory. */
static int scan_add(struct hook_state *hs, const char *t, size_t n, const char *scope, int64_t day,
                    struct buf *out)
{
    size_t slen = strlen(scope), at = 0, ins = n;
    struct scan_scope sc;
    int rc;
    while ((rc = scope_next(t, n, &at, &sc)) == 1) {
        int c = scope_cmp(sc.name, sc.len, scope, slen);
        if (c == 0) {
            bool found;
            int64_t prev, succ;
            scope_place(t, &sc, day, &found, &prev, &succ, &ins);
            if (found)
                return 1;
            buf_reset(out);
            if (buf_append(out, t, ins) < 0 || buf_printf(out, ",%lld", (long long)day) < 0 ||
                buf_append(out, t + ins, n - ins) < 0)
                return -1;
            return scan_counted(hs, scope, day, prev, succ);
        }
        if (c > 0 && ins == n)
            ins = sc.at; /* a new scope goes before the first one after it */
    }
    if (rc < 0)
        return -1;
    buf_reset(out);
    if (buf_append(out, t, ins) < 0 || scope_append(out, scope, day) < 0 ||
        buf_append(out, t + ins, n - ins) < 0)
        return -1;
    return scan_counted(hs, scope, day, NO_SCAN_DAY, NO_SCAN_DAY);
}

/* The statistics hook whose count_scan() is stepping H_SCAN on this thread:
 * wxs_scan_add() counts into it. */
static _Thread_local struct hook_state *scan_hs;

/* SQL wxs_scan_add(days, scene, day): the scanner's row with day added to
 * the scene and to any scene, the moved distinct-scanner counts summed
 * into the running hook. A day the scanner already has on the scene is on
 * any scene too: the row stays as it is. */
static void sql_scan_add(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    struct hook_state *hs = scan_hs;
    const char *t = (const char *)sqlite3_value_text(argv[0]);
    size_t n = (size_t)sqlite3_value_bytes(argv[0]);
    const char *scene = (const char *)sqlite3_value_text(argv[1]);
    int64_t day = sqlite3_value_int64(argv[2]);
    struct buf one = {0}, two = {0};
    int rc;
    (void)argc;
    if (!hs || !scene) {
        sqlite3_result_error(ctx, "wxs_scan_add: outside the statistics hook", -1);
        return;
    }
    hs->scan_seen = true;
    if (!t || !row_valid(t, n)) {
        /* A row this code did not write (a hand edit, a bad restore): the
         * event is still stored. The row becomes this scan's alone, the scan
         * counts as the scanner's first, and count_scan() marks the rollups
         * for a rebuild from the events. */
        hs->scan_damaged = true;
        if (count_first_scan(hs, scene, day) < 0)
            sqlite3_result_error_nomem(ctx);
        else
            sqlite3_result_text(ctx, hs->scan_row.data, (int)hs->scan_row.len, SQLITE_TRANSIENT);
        return;
    }
    rc = scan_add(hs, t, n, scene, day, &one);
    if (rc == 0) {
        rc = scan_add(hs, one.data, one.len, "", day, &two);
        if (rc == 1)
            sqlite3_result_text(ctx, one.data, (int)one.len, SQLITE_TRANSIENT);
        else if (rc == 0)
            sqlite3_result_text(ctx, two.data, (int)two.len, SQLITE_TRANSIENT);
    } else if (rc == 1) {
        sqlite3_result_value(ctx, argv[0]);
    }
    if (rc < 0)
        sqlite3_result_error_nomem(ctx);
    buf_free(&one);
    buf_free(&two);
}

/* A scan of a scene: its day added to the scanner's stats_scanners row, for
 * the scene and for any scene, and the distinct-scanner counts it moves
 * (under the scanner's previous day of each; a day that arrives after a
 * later one, events committed out of order, moves its successor too). One
 * upsert: a new scanner's row is inserted whole (first days of both), a
 * known scanner's is updated by wxs_scan_add(). */
static int count_scan(struct hook_state *hs, const char *scene, const char *openid, int64_t day)
{
    sqlite3_stmt *s = stmt(hs, H_SCAN);
    struct buf *row = &hs->scan_row;
    buf_reset(row);
    if (!s || scope_append(row, "", day) < 0 || scope_append(row, scene, day) < 0)
        return -1;
    sqlite3_bind_text(s, 1, openid, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, row->data, (int)row->len, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, scene, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, day);
    hs->scan_seen = hs->scan_damaged = false;
    scan_hs = hs;
    int rc = run(s);
    scan_hs = NULL;
    if (rc < 0)
        return -1;
    if (hs->scan_damaged) {
        log_warn("stats: the scan days of %s could not be read and were replaced; the "
                 "statistics are rebuilt from the events at the next start (or `wxscene stats "
                 "--rebuild`)",
                 openid);
        return run(stmt(hs, H_STALE));
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
                               .quick_unsubs = held >= 0 && held < QUICK_UNSUB_SECS};
    sqlite3_stmt *s = stmt(hs, H_CHURN);
    if (daily_add(hs, day, key, &quit) < 0 || daily_add(hs, sub_day, key, &lost) < 0)
        return -1;
    sqlite3_bind_int64(s, 1, sub_day);
    sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, day);
    return run(s);
}

typedef int (*kind_handler)(struct hook_state *hs, const struct event_applied *ev, int64_t day);

static const kind_handler kind_handlers[] = {
    [EV_SUBSCRIBE] = on_subscribe, [EV_SCAN] = on_scan, [EV_UNSUBSCRIBE] = on_unsubscribe,
    [EV_MESSAGE] = NULL,           [EV_OTHER] = NULL,
};

/* Runs for every first-delivered event inside the commit: a few indexed
 * upserts on small tables (measured in docs/stats-benchmark.md). */
int stats_event_hook(struct db *dbh, const struct event_applied *ev)
{
    sqlite3 *db = db_sqlite_handle(dbh);
    unsigned kind = (unsigned)ev->rec->kind;
    int64_t day;
    if (kind >= WXS_ARRAY_LEN(kind_handlers) || !kind_handlers[kind])
        return 0;
    struct hook_state *hs = hook_state_get(db, ev->slot);
    if (!hs)
        return -1;
    int rc = hook_day(hs, ev->rec->create_time, &day);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    return kind_handlers[kind](hs, ev, day);
}

int stats_fan_changed(struct db *dbh, const char *old_scene, int64_t old_sub_at,
                      bool old_subscribed, const char *new_scene, int64_t new_sub_at,
                      bool new_subscribed)
{
    sqlite3 *db = db_sqlite_handle(dbh);
    struct hook_state *hs;
    int64_t day;
    int ret = -1;
    if (hook_state_new(db, &hs) < 0)
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

/* ==== rebuild ==== */

/* The same numbers as the hook, computed set-wise from the tables: the
 * unsubscribes that count are those whose previous subscribe/unsubscribe
 * event of the openid (in commit order) was a subscribe; retained comes
 * from the fans table itself. wxs_stats_day() is the zone's day number. */
static const char *const rebuild_sql[] = {
    "DELETE FROM stats_daily",
    "DELETE FROM stats_churn",
    "DELETE FROM stats_scanners",
    "DELETE FROM stats_scan_first",
    "INSERT INTO stats_daily(day, scene, scans, new_fans, returning_fans) "
    "SELECT wxs_stats_day(create_time), coalesce(scene, ''), sum(coalesce(scene, '') <> ''), "
    "sum(kind = 0 AND is_new_fan <> 0), sum(kind = 0 AND is_new_fan = 0) FROM events "
    "WHERE kind = 0 OR (kind = 1 AND coalesce(scene, '') <> '') GROUP BY 1, 2",
    "CREATE TEMP TABLE stats_rebuild_unsub AS "
    "SELECT coalesce(scene, '') AS scene, wxs_stats_day(create_time) AS day, "
    "wxs_stats_day(ptime) AS sub_day, (create_time - ptime BETWEEN 0 AND 599) AS quick "
    "FROM (SELECT kind, scene, create_time, lag(kind) OVER w AS pkind, "
    "lag(create_time) OVER w AS ptime FROM events WHERE kind IN (0, 2) "
    "WINDOW w AS (PARTITION BY openid ORDER BY id)) "
    "WHERE kind = 2 AND pkind = 0 AND ptime <> 0",
    "INSERT INTO stats_daily(day, scene, unsubscribes) SELECT day, scene, count(*) "
    "FROM temp.stats_rebuild_unsub WHERE 1 GROUP BY 1, 2 ON CONFLICT(day, scene) "
    "DO UPDATE SET unsubscribes = unsubscribes + excluded.unsubscribes",
    "INSERT INTO stats_daily(day, scene, quick_unsubs) SELECT sub_day, scene, count(*) "
    "FROM temp.stats_rebuild_unsub WHERE quick GROUP BY 1, 2 ON CONFLICT(day, scene) "
    "DO UPDATE SET quick_unsubs = quick_unsubs + excluded.quick_unsubs",
    "INSERT INTO stats_churn(sub_day, scene, unsub_day, n) SELECT sub_day, scene, day, count(*) "
    "FROM temp.stats_rebuild_unsub GROUP BY 1, 2, 3",
    "DROP TABLE temp.stats_rebuild_unsub",
    "INSERT INTO stats_daily(day, scene, retained) "
    "SELECT wxs_stats_day(last_sub_at), coalesce(last_scene, ''), count(*) FROM fans "
    "WHERE subscribed <> 0 AND coalesce(last_sub_at, 0) <> 0 GROUP BY 1, 2 "
    "ON CONFLICT(day, scene) DO UPDATE SET retained = retained + excluded.retained",
    /* every (openid, scope, day) scanned once, for the three below */
    "CREATE TEMP TABLE stats_rebuild_scan(openid TEXT, scene TEXT, day INTEGER, "
    "PRIMARY KEY (openid, scene, day)) WITHOUT ROWID",
    "INSERT OR IGNORE INTO temp.stats_rebuild_scan(scene, openid, day) "
    "SELECT scene, openid, wxs_stats_day(create_time) FROM events "
    "WHERE kind IN (0, 1) AND coalesce(scene, '') <> ''",
    "INSERT OR IGNORE INTO temp.stats_rebuild_scan(scene, openid, day) "
    "SELECT '', openid, wxs_stats_day(create_time) FROM events "
    "WHERE kind IN (0, 1) AND coalesce(scene, '') <> ''",
    /* the rows in the hook's format (as migration 010 writes them) */
    "INSERT INTO stats_scanners(openid, days) "
    "SELECT openid, group_concat(scope, '') FROM (SELECT openid, scene, "
    "length(CAST(scene AS BLOB)) || ':' || scene || group_concat(',' || day, '') || ';' AS scope "
    "FROM (SELECT openid, scene, day FROM temp.stats_rebuild_scan ORDER BY openid, scene, day) "
    "GROUP BY openid, scene ORDER BY openid, scene) GROUP BY openid",
    /* each scan day counted under the scanner's previous one (first_add()):
     * a scene's first days in stats_daily, the rest in stats_scan_first */
    "INSERT INTO stats_scan_first(day, scene, prev_day, n) "
    "SELECT day, scene, prev, count(*) FROM (SELECT day, scene, coalesce(lag(day) OVER "
    "(PARTITION BY openid, scene ORDER BY day), -2147483648) AS prev FROM temp.stats_rebuild_scan) "
    "WHERE scene = '' OR prev <> -2147483648 GROUP BY 1, 2, 3",
    "INSERT INTO stats_daily(day, scene, first_scanners) "
    "SELECT day, scene, count(*) FROM (SELECT min(day) AS day, scene FROM temp.stats_rebuild_scan "
    "WHERE scene <> '' GROUP BY openid, scene) GROUP BY 1, 2 ON CONFLICT(day, scene) "
    "DO UPDATE SET first_scanners = first_scanners + excluded.first_scanners",
    "DROP TABLE temp.stats_rebuild_scan",
};

static void sql_day(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const struct tz *z = sqlite3_user_data(ctx);
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
        sqlite3_result_null(ctx);
    else
        sqlite3_result_int64(ctx, tz_day(z, sqlite3_value_int64(argv[0])));
}

static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* Replace stats_tz with the zone's table and record the zone's name. */
static int write_zone(struct stats *s)
{
    sqlite3_stmt *ins = NULL, *meta = NULL;
    int ret = -1;
    if (exec(s->db, "DELETE FROM stats_tz") < 0 ||
        sqlite3_prepare_v2(s->db, "INSERT INTO stats_tz(from_utc, utc_offset) VALUES(?1, ?2)", -1,
                           &ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "UPDATE stats_meta SET value = ?1 WHERE key = 'timezone'", -1,
                           &meta, NULL) != SQLITE_OK)
        goto done;
    for (size_t i = 0; i < tz_count(s->tz); i++) {
        int64_t from;
        int32_t off;
        tz_transition(s->tz, i, &from, &off);
        sqlite3_bind_int64(ins, 1, from);
        sqlite3_bind_int(ins, 2, off);
        if (run(ins) < 0)
            goto done;
    }
    sqlite3_bind_text(meta, 1, s->tzname, -1, SQLITE_STATIC);
    ret = run(meta);
done:
    sqlite3_finalize(ins);
    sqlite3_finalize(meta);
    return ret;
}

/* True when the rollups were built for exactly this zone table. */
static bool zone_current(struct stats *s)
{
    sqlite3_stmt *q = NULL;
    bool same = false;
    size_t i = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT from_utc, utc_offset, (SELECT value FROM stats_meta WHERE "
                           "key = 'timezone') FROM stats_tz ORDER BY from_utc",
                           -1, &q, NULL) != SQLITE_OK)
        return false;
    same = true;
    while (same && sqlite3_step(q) == SQLITE_ROW) {
        int64_t from;
        int32_t off;
        const unsigned char *name = sqlite3_column_text(q, 2);
        if (i >= tz_count(s->tz) || !name || strcmp((const char *)name, s->tzname) != 0) {
            same = false;
            break;
        }
        tz_transition(s->tz, i++, &from, &off);
        same = from == sqlite3_column_int64(q, 0) && off == sqlite3_column_int(q, 1);
    }
    sqlite3_finalize(q);
    return same && i == tz_count(s->tz);
}

struct rebuild_arg {
    struct stats *s;
    bool only_if_stale;
    bool done;
};

static int rebuild_tx(struct store *st, void *p)
{
    struct rebuild_arg *a = p;
    struct stats *s = a->s;
    if (a->only_if_stale && zone_current(s))
        return 0; /* someone else rebuilt it while we waited for the lock */
    if (sqlite3_create_function_v2(s->db, "wxs_stats_day", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                   s->tz, sql_day, NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    int ret = write_zone(s);
    for (size_t i = 0; ret == 0 && i < WXS_ARRAY_LEN(rebuild_sql); i++)
        ret = exec(s->db, rebuild_sql[i]);
    if (ret < 0)
        log_warn("stats: rebuild: %s", sqlite3_errmsg(s->db));
    sqlite3_exec(s->db, "DROP TABLE IF EXISTS temp.stats_rebuild_unsub", NULL, NULL, NULL);
    sqlite3_exec(s->db, "DROP TABLE IF EXISTS temp.stats_rebuild_scan", NULL, NULL, NULL);
    sqlite3_create_function_v2(s->db, "wxs_stats_day", 1, SQLITE_UTF8, NULL, NULL, NULL, NULL,
                               NULL);
    a->done = ret == 0;
    return ret;
}

static int rebuild(struct stats *s, bool only_if_stale, bool *done, char *err, size_t errlen)
{
    struct rebuild_arg a = {.s = s, .only_if_stale = only_if_stale};
    uint64_t t0 = util_mono_us();
    if (store_tx(s->st, rebuild_tx, &a) < 0) {
        snprintf(err, errlen, "rebuilding the statistics rollups: %s", sqlite3_errmsg(s->db));
        return -1;
    }
    if (a.done)
        log_info("stats: rollups rebuilt for time zone %s in %.1f ms", s->tzname,
                 (double)(util_mono_us() - t0) / 1000.0);
    if (done)
        *done = a.done;
    return 0;
}

int stats_rebuild(struct stats *s, char *err, size_t errlen)
{
    return rebuild(s, false, NULL, err, errlen);
}

int stats_disable(struct store *st)
{
    if (exec(db_sqlite_handle(store_db(st)),
             "BEGIN IMMEDIATE; DELETE FROM stats_tz; "
             "UPDATE stats_meta SET value = '' WHERE key = 'timezone'; COMMIT") == 0)
        return 0;
    exec(db_sqlite_handle(store_db(st)), "ROLLBACK");
    return -1;
}

void stats_close(struct stats *s)
{
    if (!s)
        return;
    tz_free(s->tz);
    free(s->tzname);
    free(s);
}

int stats_open(struct stats **out, struct store *st, const char *tzname, int64_t retention_days,
               bool *rebuilt, char *err, size_t errlen)
{
    char why[256];
    bool done = false;
    struct stats *s = calloc(1, sizeof(*s));
    if (!s || !(s->tzname = strdup(tzname))) {
        free(s);
        return snprintf(err, errlen, "out of memory"), -1;
    }
    s->st = st;
    s->db = db_sqlite_handle(store_db(st));
    s->retention_days = retention_days;
    if (tz_load(&s->tz, tzname, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "[stats] timezone: %s", why);
        goto fail;
    }
    if (!zone_current(s) && rebuild(s, true, &done, err, errlen) < 0)
        goto fail;
    if (rebuilt)
        *rebuilt = done;
    *out = s;
    return 0;
fail:
    stats_close(s);
    return -1;
}

/* ==== ranges ==== */

static const char *const by_names[] = {
    [STATS_BY_CHANNEL] = "channel",
    [STATS_BY_PROMOTER] = "promoter",
    [STATS_BY_DAY] = "day",
};

int stats_parse_by(const char *s, enum stats_by *out)
{
    for (size_t i = 0; i < WXS_ARRAY_LEN(by_names); i++) {
        if (strcmp(s, by_names[i]) == 0) {
            *out = (enum stats_by)i;
            return 0;
        }
    }
    return -1;
}

const char *stats_by_name(enum stats_by by)
{
    return (unsigned)by < WXS_ARRAY_LEN(by_names) ? by_names[by] : "?";
}

int64_t stats_today(const struct stats *s)
{
    return tz_day(s->tz, util_now());
}

static int parse_day(const char *what, const char *v, int64_t *day, char *err, size_t errlen)
{
    if (tz_parse_date(v, day) == 0)
        return 0;
    snprintf(err, errlen, "%s: '%s' is not a date as YYYY-MM-DD (a real day, 1970 or later)", what,
             v);
    return -1;
}

int stats_range(const struct stats *s, const char *since, const char *until, const char *what_since,
                const char *what_until, int64_t *d0, int64_t *d1, char *err, size_t errlen)
{
    int64_t a, b = stats_today(s);
    if (until && parse_day(what_until, until, &b, err, errlen) < 0)
        return -1;
    a = b - (DEFAULT_DAYS - 1);
    if (since && parse_day(what_since, since, &a, err, errlen) < 0)
        return -1;
    if (a > b) {
        char as[16], bs[16];
        tz_format_date(a, as, sizeof(as));
        tz_format_date(b, bs, sizeof(bs));
        snprintf(err, errlen, "%s %s is after %s %s", what_since, as, what_until, bs);
        return -1;
    }
    if (b - a + 1 > STATS_MAX_RANGE_DAYS) {
        snprintf(err, errlen, "the range %s..%s spans %lld days; at most %d are allowed",
                 since ? since : "", until ? until : "", (long long)(b - a + 1),
                 STATS_MAX_RANGE_DAYS);
        return -1;
    }
    *d0 = a;
    *d1 = b;
    return 0;
}

/* ==== queries ==== */

/* Per scene: the daily counters, distinct scanners (the scene's first-ever
 * scanners of the range in stats_daily, plus its stats_scan_first rows
 * with prev_day < since), and for retention the subscribes old enough
 * (day <= ?3) and those of them lost within retention_days (?4). '' is the
 * organic row in stats_daily and the any-scene scanners in
 * stats_scan_first (which keeps all of that scope's rows). */
static const char scene_sql[] =
    "WITH d AS (SELECT scene, sum(scans) AS sc, sum(new_fans) AS nf, sum(returning_fans) AS rf, "
    "sum(unsubscribes) AS un, sum(retained) AS rt, sum(quick_unsubs) AS q, "
    "sum(first_scanners) AS fs, "
    "sum(CASE WHEN day <= ?3 THEN new_fans + returning_fans ELSE 0 END) AS el "
    "FROM stats_daily WHERE day BETWEEN ?1 AND ?2 GROUP BY scene), "
    "u AS (SELECT scene, sum(n) AS n FROM stats_scan_first "
    "WHERE day BETWEEN ?1 AND ?2 AND prev_day < ?1 GROUP BY scene), "
    "l AS (SELECT scene, sum(n) AS n FROM stats_churn WHERE unsub_day BETWEEN ?1 AND ?3 + ?4 "
    "AND sub_day BETWEEN ?1 AND ?3 AND unsub_day - sub_day < ?4 GROUP BY scene), "
    "k AS (SELECT scene FROM d UNION SELECT scene FROM u UNION "
    "SELECT scene FROM channels WHERE archived_at IS NULL UNION SELECT '') "
    "SELECT k.scene, c.name, c.promoter, coalesce(d.sc, 0), coalesce(u.n, 0) + coalesce(d.fs, 0), "
    "coalesce(d.nf, 0), coalesce(d.rf, 0), coalesce(d.un, 0), coalesce(d.rt, 0), "
    "coalesce(d.q, 0), coalesce(d.el, 0), coalesce(l.n, 0) FROM k "
    "LEFT JOIN d ON d.scene = k.scene LEFT JOIN u ON u.scene = k.scene "
    "LEFT JOIN l ON l.scene = k.scene LEFT JOIN channels c ON c.scene = k.scene";

static const char day_sql[] =
    "SELECT day, sum(scans), sum(new_fans), sum(returning_fans), sum(unsubscribes), "
    "sum(retained) FROM stats_daily WHERE day BETWEEN ?1 AND ?2 GROUP BY day";

static const char day_unique_sql[] =
    "SELECT day, sum(n) FROM stats_scan_first WHERE day BETWEEN ?1 AND ?2 AND scene = '' "
    "GROUP BY day";

static const char total_unique_sql[] =
    "SELECT coalesce(sum(n), 0) FROM stats_scan_first "
    "WHERE day BETWEEN ?1 AND ?2 AND prev_day < ?1 AND scene = ''";

static void row_clear(struct stats_row *r)
{
    free(r->scene);
    free(r->name);
    free(r->promoter);
}

void stats_report_free(struct stats_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nrows; i++)
        row_clear(&r->rows[i]);
    free(r->rows);
    free(r);
}

static struct stats_row *row_new(struct stats_report *r, size_t *cap)
{
    if (r->nrows == *cap) {
        size_t n = *cap ? *cap * 2 : 64;
        struct stats_row *rows = realloc(r->rows, n * sizeof(*rows));
        if (!rows)
            return NULL;
        r->rows = rows;
        *cap = n;
    }
    struct stats_row *row = &r->rows[r->nrows++];
    memset(row, 0, sizeof(*row));
    return row;
}

static int dup_col(sqlite3_stmt *q, int i, char **out)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    *out = NULL;
    if (!t)
        return 0;
    return (*out = strdup((const char *)t)) ? 0 : -1;
}

static void counts_add(struct stats_counts *to, const struct stats_counts *c)
{
    to->scans += c->scans;
    to->unique_scanners += c->unique_scanners;
    to->new_fans += c->new_fans;
    to->returning_fans += c->returning_fans;
    to->unsubscribes += c->unsubscribes;
    to->net_fans += c->net_fans;
    to->retained_fans += c->retained_fans;
}

/* One row of scene_sql; the '' row is organic and carries the any-scene
 * distinct scanners in *all_unique instead. */
static int scene_row(sqlite3_stmt *q, struct stats_row *row, int64_t *all_unique)
{
    const char *scene = (const char *)sqlite3_column_text(q, 0);
    bool organic = !scene || !*scene;
    if ((!organic && dup_col(q, 0, &row->scene) < 0) || dup_col(q, 1, &row->name) < 0 ||
        dup_col(q, 2, &row->promoter) < 0)
        return -1;
    struct stats_counts *c = &row->c;
    c->scans = sqlite3_column_int64(q, 3);
    c->unique_scanners = organic ? 0 : sqlite3_column_int64(q, 4);
    if (organic)
        *all_unique = sqlite3_column_int64(q, 4);
    c->new_fans = sqlite3_column_int64(q, 5);
    c->returning_fans = sqlite3_column_int64(q, 6);
    c->unsubscribes = sqlite3_column_int64(q, 7);
    c->net_fans = c->new_fans + c->returning_fans - c->unsubscribes;
    c->retained_fans = sqlite3_column_int64(q, 8);
    row->quick_unsubs = sqlite3_column_int64(q, 9);
    row->retention_eligible = sqlite3_column_int64(q, 10);
    row->retention_retained = row->retention_eligible - sqlite3_column_int64(q, 11);
    return 0;
}

static int prepare(struct stats *s, const char *sql, sqlite3_stmt **q, char *err, size_t errlen)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, q, NULL) == SQLITE_OK)
        return 0;
    snprintf(err, errlen, "statistics query: %s", sqlite3_errmsg(s->db));
    return -1;
}

static int step_error(struct stats *s, sqlite3_stmt *q, char *err, size_t errlen)
{
    snprintf(err, errlen, "statistics query: %s", sqlite3_errmsg(s->db));
    sqlite3_finalize(q);
    return -1;
}

/* Every scene row of the range (channel view; the promoter view folds them). */
static int query_scenes(struct stats *s, struct stats_report *r, int64_t *all_unique, char *err,
                        size_t errlen)
{
    sqlite3_stmt *q;
    size_t cap = 0;
    int rc;
    int64_t matured = stats_today(s) - r->retention_days;
    if (prepare(s, scene_sql, &q, err, errlen) < 0)
        return -1;
    sqlite3_bind_int64(q, 1, r->since);
    sqlite3_bind_int64(q, 2, r->until);
    sqlite3_bind_int64(q, 3, matured < r->until ? matured : r->until);
    sqlite3_bind_int64(q, 4, r->retention_days);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct stats_row *row = row_new(r, &cap);
        if (!row || scene_row(q, row, all_unique) < 0) {
            sqlite3_finalize(q);
            return snprintf(err, errlen, "out of memory"), -1;
        }
    }
    if (rc != SQLITE_DONE)
        return step_error(s, q, err, errlen);
    sqlite3_finalize(q);
    return 0;
}

/* Ranking: most net fans first, then new fans, scans, scene. */
static int cmp_rank(const void *a, const void *b)
{
    const struct stats_row *x = a, *y = b;
    if (x->c.net_fans != y->c.net_fans)
        return x->c.net_fans > y->c.net_fans ? -1 : 1;
    if (x->c.new_fans != y->c.new_fans)
        return x->c.new_fans > y->c.new_fans ? -1 : 1;
    if (x->c.scans != y->c.scans)
        return x->c.scans > y->c.scans ? -1 : 1;
    const char *xs = x->scene ? x->scene : x->promoter, *ys = y->scene ? y->scene : y->promoter;
    if (!xs || !ys)
        return xs ? -1 : ys ? 1 : 0;
    return strcmp(xs, ys);
}

static int by_channel(struct stats *s, struct stats_report *r, char *err, size_t errlen)
{
    int64_t all_unique = 0;
    if (query_scenes(s, r, &all_unique, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < r->nrows; i++)
        counts_add(&r->totals, &r->rows[i].c);
    r->totals.unique_scanners = all_unique;
    qsort(r->rows, r->nrows, sizeof(*r->rows), cmp_rank);
    return 0;
}

/* ---- promoters ---- */

static int64_t flag_quick(const struct stats_row *r)
{
    return r->quick_unsubs;
}

static int64_t flag_returning(const struct stats_row *r)
{
    return r->c.returning_fans;
}

/* Patterns that deserve a look before paying a promoter: a share of the
 * fans brought (new + returning subscribes) of at least min_pct, and at
 * least min_count of them so one odd fan does not flag anyone. */
static const struct flag_rule {
    const char *name;
    int64_t (*count)(const struct stats_row *r);
    int64_t min_count, min_pct;
    const char *what;
} flag_rules[STATS_FLAG_COUNT] = {
    {"quick_unsubscribes", flag_quick, 5, 20, "were undone within 10 minutes"},
    {"resubscribe_cycling", flag_returning, 5, 50, "came from fans who had subscribed before"},
};

const char *stats_flag_name(unsigned i)
{
    return i < STATS_FLAG_COUNT ? flag_rules[i].name : "?";
}

static int64_t fans_brought(const struct stats_row *r)
{
    return r->c.new_fans + r->c.returning_fans;
}

static unsigned flags_of(const struct stats_row *r)
{
    unsigned flags = 0;
    for (unsigned i = 0; i < STATS_FLAG_COUNT; i++) {
        int64_t n = flag_rules[i].count(r);
        if (n >= flag_rules[i].min_count && n * 100 >= flag_rules[i].min_pct * fans_brought(r))
            flags |= 1u << i;
    }
    return flags;
}

int stats_flag_reasons(const struct stats_report *r, const struct stats_row *row, struct buf *out)
{
    for (unsigned i = 0; i < STATS_FLAG_COUNT; i++) {
        if (!(row->flags & (1u << i)))
            continue;
        if (buf_printf(out, "%s%lld of %lld subscribes %s", out->len ? "; " : "",
                       (long long)flag_rules[i].count(row), (long long)fans_brought(row),
                       flag_rules[i].what) < 0)
            return -1;
    }
    return 0;
}

static int cmp_promoter(const void *a, const void *b)
{
    const struct stats_row *x = a, *y = b;
    if (!x->promoter || !y->promoter)
        return x->promoter ? -1 : y->promoter ? 1 : 0;
    return strcmp(x->promoter, y->promoter);
}

/* Fold scene rows (sorted by promoter) into one row per promoter, in
 * place; scenes without a promoter (organic, unknown, none set) drop out. */
static void fold_promoters(struct stats_report *r)
{
    size_t out = 0;
    qsort(r->rows, r->nrows, sizeof(*r->rows), cmp_promoter);
    for (size_t i = 0; i < r->nrows; i++) {
        struct stats_row *in = &r->rows[i];
        struct stats_row *acc = out ? &r->rows[out - 1] : NULL;
        if (!in->promoter || !in->scene) {
            row_clear(in);
            continue;
        }
        if (acc && strcmp(acc->promoter, in->promoter) == 0) {
            counts_add(&acc->c, &in->c);
            acc->channels++;
            acc->quick_unsubs += in->quick_unsubs;
            acc->retention_eligible += in->retention_eligible;
            acc->retention_retained += in->retention_retained;
            row_clear(in);
            continue;
        }
        free(in->scene);
        free(in->name);
        in->scene = in->name = NULL;
        in->channels = 1;
        in->c.unique_scanners = 0; /* not additive across channels: not reported */
        r->rows[out++] = *in;
    }
    r->nrows = out;
}

static int by_promoter(struct stats *s, struct stats_report *r, char *err, size_t errlen)
{
    int64_t all_unique = 0;
    if (query_scenes(s, r, &all_unique, err, errlen) < 0)
        return -1;
    fold_promoters(r);
    for (size_t i = 0; i < r->nrows; i++) {
        struct stats_row *row = &r->rows[i];
        row->flags = flags_of(row);
        counts_add(&r->totals, &row->c);
        r->quick_unsubs += row->quick_unsubs;
        r->retention_eligible += row->retention_eligible;
        r->retention_retained += row->retention_retained;
    }
    qsort(r->rows, r->nrows, sizeof(*r->rows), cmp_rank);
    return 0;
}

/* ---- days ---- */

static int day_counts(struct stats *s, struct stats_report *r, char *err, size_t errlen)
{
    sqlite3_stmt *q;
    int rc;
    if (prepare(s, day_sql, &q, err, errlen) < 0)
        return -1;
    sqlite3_bind_int64(q, 1, r->since);
    sqlite3_bind_int64(q, 2, r->until);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct stats_counts *c = &r->rows[sqlite3_column_int64(q, 0) - r->since].c;
        c->scans = sqlite3_column_int64(q, 1);
        c->new_fans = sqlite3_column_int64(q, 2);
        c->returning_fans = sqlite3_column_int64(q, 3);
        c->unsubscribes = sqlite3_column_int64(q, 4);
        c->net_fans = c->new_fans + c->returning_fans - c->unsubscribes;
        c->retained_fans = sqlite3_column_int64(q, 5);
    }
    if (rc != SQLITE_DONE)
        return step_error(s, q, err, errlen);
    sqlite3_finalize(q);
    return 0;
}

static int day_uniques(struct stats *s, struct stats_report *r, char *err, size_t errlen)
{
    sqlite3_stmt *q;
    int rc;
    if (prepare(s, day_unique_sql, &q, err, errlen) < 0)
        return -1;
    sqlite3_bind_int64(q, 1, r->since);
    sqlite3_bind_int64(q, 2, r->until);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW)
        r->rows[sqlite3_column_int64(q, 0) - r->since].c.unique_scanners =
            sqlite3_column_int64(q, 1);
    if (rc != SQLITE_DONE)
        return step_error(s, q, err, errlen);
    sqlite3_finalize(q);
    return 0;
}

static int total_unique(struct stats *s, struct stats_report *r, char *err, size_t errlen)
{
    sqlite3_stmt *q;
    if (prepare(s, total_unique_sql, &q, err, errlen) < 0)
        return -1;
    sqlite3_bind_int64(q, 1, r->since);
    sqlite3_bind_int64(q, 2, r->until);
    if (sqlite3_step(q) != SQLITE_ROW)
        return step_error(s, q, err, errlen);
    r->totals.unique_scanners = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return 0;
}

static int by_day(struct stats *s, struct stats_report *r, char *err, size_t errlen)
{
    size_t n = (size_t)(r->until - r->since + 1);
    if (!(r->rows = calloc(n, sizeof(*r->rows))))
        return snprintf(err, errlen, "out of memory"), -1;
    r->nrows = n;
    for (size_t i = 0; i < n; i++)
        r->rows[i].day = r->since + (int64_t)i;
    if (day_counts(s, r, err, errlen) < 0 || day_uniques(s, r, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        counts_add(&r->totals, &r->rows[i].c);
    return total_unique(s, r, err, errlen);
}

static int (*const by_query[])(struct stats *s, struct stats_report *r, char *err,
                               size_t errlen) = {
    [STATS_BY_CHANNEL] = by_channel,
    [STATS_BY_PROMOTER] = by_promoter,
    [STATS_BY_DAY] = by_day,
};

int stats_query(struct stats *s, enum stats_by by, int64_t since, int64_t until,
                struct stats_report **out, char *err, size_t errlen)
{
    if ((unsigned)by >= WXS_ARRAY_LEN(by_query) || since > until ||
        until - since + 1 > STATS_MAX_RANGE_DAYS)
        return snprintf(err, errlen, "bad statistics range"), -1;
    struct stats_report *r = calloc(1, sizeof(*r));
    if (!r)
        return snprintf(err, errlen, "out of memory"), -1;
    r->by = by;
    r->since = since;
    r->until = until;
    r->retention_days = s->retention_days;
    /* one read transaction: every query of the report sees the same commit */
    if (exec(s->db, "BEGIN") < 0) {
        snprintf(err, errlen, "statistics query: %s", sqlite3_errmsg(s->db));
        stats_report_free(r);
        return -1;
    }
    int rc = by_query[by](s, r, err, errlen);
    exec(s->db, "COMMIT");
    if (rc < 0) {
        stats_report_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

/* ==== output ==== */

static const struct count_field {
    const char *name;
    size_t off;
} count_fields[] = {
    {"scans", offsetof(struct stats_counts, scans)},
    {"unique_scanners", offsetof(struct stats_counts, unique_scanners)},
    {"new_fans", offsetof(struct stats_counts, new_fans)},
    {"returning_fans", offsetof(struct stats_counts, returning_fans)},
    {"unsubscribes", offsetof(struct stats_counts, unsubscribes)},
    {"net_fans", offsetof(struct stats_counts, net_fans)},
    {"retained_fans", offsetof(struct stats_counts, retained_fans)},
};

static int64_t count_at(const struct stats_counts *c, size_t i)
{
    return *(const int64_t *)((const char *)c + count_fields[i].off);
}

/* Promoters have no unique_scanners (a fan scanning two of a promoter's
 * codes would count twice in a sum; the exact figure is per channel). */
static bool field_shown(enum stats_by by, size_t i)
{
    return !(by == STATS_BY_PROMOTER &&
             count_fields[i].off == offsetof(struct stats_counts, unique_scanners));
}

static int counts_json(json_t *o, enum stats_by by, const struct stats_counts *c)
{
    for (size_t i = 0; i < WXS_ARRAY_LEN(count_fields); i++)
        if (field_shown(by, i) &&
            json_object_set_new(o, count_fields[i].name, json_integer(count_at(c, i))) < 0)
            return -1;
    return 0;
}

static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *retention_json(int64_t days, int64_t eligible, int64_t retained)
{
    return json_pack("{s:I, s:I, s:I, s:o}", "days", (json_int_t)days, "eligible",
                     (json_int_t)eligible, "retained", (json_int_t)retained, "rate",
                     eligible ? json_real((double)retained / (double)eligible) : json_null());
}

static json_t *flags_json(const struct stats_row *row)
{
    json_t *a = json_array();
    for (unsigned i = 0; a && i < STATS_FLAG_COUNT; i++)
        if ((row->flags & (1u << i)) && json_array_append_new(a, json_string(flag_rules[i].name)))
            return json_decref(a), NULL;
    return a;
}

static json_t *row_json(const struct stats_report *r, const struct stats_row *row)
{
    char date[16];
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = 0;
    if (r->by == STATS_BY_CHANNEL) {
        bad |= json_object_set_new(o, "scene", jstr(row->scene));
        bad |= json_object_set_new(o, "name", jstr(row->name));
        bad |= json_object_set_new(o, "promoter", jstr(row->promoter));
    } else if (r->by == STATS_BY_PROMOTER) {
        bad |= json_object_set_new(o, "promoter", jstr(row->promoter));
        bad |= json_object_set_new(o, "channels", json_integer(row->channels));
    } else {
        tz_format_date(row->day, date, sizeof(date));
        bad |= json_object_set_new(o, "date", json_string(date));
    }
    bad |= counts_json(o, r->by, &row->c);
    if (r->by == STATS_BY_PROMOTER) {
        struct buf why = {0};
        bad |= json_object_set_new(o, "fans_brought", json_integer(fans_brought(row)));
        bad |= json_object_set_new(o, "quick_unsubscribes", json_integer(row->quick_unsubs));
        bad |= json_object_set_new(
            o, "retention",
            retention_json(r->retention_days, row->retention_eligible, row->retention_retained));
        bad |= json_object_set_new(o, "suspicious", json_boolean(row->flags != 0));
        bad |= json_object_set_new(o, "flags", flags_json(row));
        bad |= stats_flag_reasons(r, row, &why);
        bad |= json_object_set_new(o, "flag_reasons", json_string(why.len ? why.data : ""));
        buf_free(&why);
    }
    if (bad)
        return json_decref(o), NULL;
    return o;
}

static const char *const rows_key[] = {
    [STATS_BY_CHANNEL] = "channels",
    [STATS_BY_PROMOTER] = "promoters",
    [STATS_BY_DAY] = "days",
};

json_t *stats_report_json(const struct stats_report *r)
{
    char since[16], until[16];
    tz_format_date(r->since, since, sizeof(since));
    tz_format_date(r->until, until, sizeof(until));
    json_t *o = json_pack("{s:s, s:s}", "since", since, "until", until);
    json_t *rows = json_array(), *totals = json_object();
    int bad = !o || !rows || !totals;
    for (size_t i = 0; !bad && i < r->nrows; i++)
        bad = json_array_append_new(rows, row_json(r, &r->rows[i])) < 0;
    bad = bad || counts_json(totals, r->by, &r->totals) < 0;
    if (!bad && r->by == STATS_BY_PROMOTER)
        bad =
            json_object_set_new(o, "retention_days", json_integer(r->retention_days)) < 0 ||
            json_object_set_new(totals, "fans_brought",
                                json_integer(r->totals.new_fans + r->totals.returning_fans)) < 0 ||
            json_object_set_new(totals, "quick_unsubscribes", json_integer(r->quick_unsubs)) < 0 ||
            json_object_set_new(totals, "retention",
                                retention_json(r->retention_days, r->retention_eligible,
                                               r->retention_retained)) < 0;
    if (!bad && json_object_set(o, rows_key[r->by], rows) == 0 &&
        json_object_set(o, "totals", totals) == 0) {
        json_decref(rows);
        json_decref(totals);
        return o;
    }
    json_decref(rows);
    json_decref(totals);
    json_decref(o);
    return NULL;
}

/* ---- CSV ---- */

static int csv_str(struct buf *b, bool first, const char *s)
{
    return (!first && buf_puts(b, ",") < 0) || csv_field(b, s ? s : "") < 0 ? -1 : 0;
}

static int csv_int(struct buf *b, int64_t v)
{
    return buf_puts(b, ",") < 0 || csv_number(b, v) < 0 ? -1 : 0;
}

static int csv_header(const struct stats_report *r, struct buf *b)
{
    static const char *const lead[] = {
        [STATS_BY_CHANNEL] = "scene,name,promoter",
        [STATS_BY_PROMOTER] = "promoter,channels",
        [STATS_BY_DAY] = "date",
    };
    if (buf_puts(b, lead[r->by]) < 0)
        return -1;
    for (size_t i = 0; i < WXS_ARRAY_LEN(count_fields); i++)
        if (field_shown(r->by, i) && buf_printf(b, ",%s", count_fields[i].name) < 0)
            return -1;
    if (r->by == STATS_BY_PROMOTER &&
        buf_puts(b, ",fans_brought,quick_unsubscribes,retention_days,retention_eligible,"
                    "retention_retained,retention_rate,suspicious,flags") < 0)
        return -1;
    return buf_puts(b, "\r\n");
}

static int csv_promoter_tail(const struct stats_report *r, const struct stats_row *row,
                             struct buf *b)
{
    struct buf flags = {0};
    int bad = 0;
    for (unsigned i = 0; !bad && i < STATS_FLAG_COUNT; i++)
        if (row->flags & (1u << i))
            bad = buf_printf(&flags, "%s%s", flags.len ? " " : "", flag_rules[i].name) < 0;
    bad = bad || csv_int(b, fans_brought(row)) < 0 || csv_int(b, row->quick_unsubs) < 0 ||
          csv_int(b, r->retention_days) < 0 || csv_int(b, row->retention_eligible) < 0 ||
          csv_int(b, row->retention_retained) < 0;
    if (!bad && row->retention_eligible)
        bad = buf_printf(b, ",%.4f",
                         (double)row->retention_retained / (double)row->retention_eligible) < 0;
    else if (!bad)
        bad = buf_puts(b, ",") < 0;
    bad = bad || buf_puts(b, row->flags ? ",yes" : ",no") < 0 ||
          csv_str(b, false, flags.len ? flags.data : "") < 0;
    buf_free(&flags);
    return bad ? -1 : 0;
}

static int csv_row(const struct stats_report *r, const struct stats_row *row, struct buf *b)
{
    char date[16];
    int bad;
    if (r->by == STATS_BY_CHANNEL)
        bad = csv_str(b, true, row->scene) < 0 ||
              csv_str(b, false, row->scene ? row->name : "(organic)") < 0 ||
              csv_str(b, false, row->promoter) < 0;
    else if (r->by == STATS_BY_PROMOTER)
        bad = csv_str(b, true, row->promoter) < 0 || csv_int(b, row->channels) < 0;
    else
        bad = (tz_format_date(row->day, date, sizeof(date)), csv_str(b, true, date) < 0);
    for (size_t i = 0; !bad && i < WXS_ARRAY_LEN(count_fields); i++)
        bad = field_shown(r->by, i) && csv_int(b, count_at(&row->c, i)) < 0;
    if (!bad && r->by == STATS_BY_PROMOTER)
        bad = csv_promoter_tail(r, row, b) < 0;
    return bad || buf_puts(b, "\r\n") < 0 ? -1 : 0;
}

int stats_report_csv(const struct stats_report *r, bool bom, struct buf *out)
{
    if (bom && buf_puts(out, "\xEF\xBB\xBF") < 0)
        return -1;
    if (csv_header(r, out) < 0)
        return -1;
    for (size_t i = 0; i < r->nrows; i++)
        if (csv_row(r, &r->rows[i], out) < 0)
            return -1;
    return 0;
}
