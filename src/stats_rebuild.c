/* The rollups recomputed set-wise from the events and fans tables, the
 * zone table they are built for (stats_tz, stats_meta 'timezone'), and
 * switching them off.
 *
 * SQLite's words, each by its query name so another backend overrides it
 * (db_ops.overrides; PostgreSQL's are in db_pgsql_sql.c): the rebuild
 * statements "stats.rebuild_*" use group_concat, length(CAST(x AS BLOB)),
 * sums of comparisons and two temp tables, temp.stats_rebuild_unsub and
 * temp.stats_rebuild_scan (a WITHOUT ROWID one); and wxs_stats_day(), a C
 * function here (DB_CAP_C_FUNCTIONS), an SQL function from stats_tz on a
 * backend without C functions (schema/pg/013_stats_day_sql.sql). */
#include "stats.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "stats_internal.h"

static const struct db_query q_tz_clear = {"stats.tz_clear", "DELETE FROM stats_tz"};
static const struct db_query q_tz_add = {
    "stats.tz_add", "INSERT INTO stats_tz(from_utc, utc_offset) VALUES(?1, ?2)"};
static const struct db_query q_zone_set = {
    "stats.zone_set", "UPDATE stats_meta SET value = ?1 WHERE key = 'timezone'"};
static const struct db_query q_zone_table = {
    "stats.zone_table", "SELECT from_utc, utc_offset, (SELECT value FROM stats_meta WHERE "
                        "key = 'timezone') FROM stats_tz ORDER BY from_utc"};

/* Nothing else writes the rollups or their sources while they are
 * recomputed: on SQLite the write transaction's lock already says so; a
 * backend whose writers do not serialise takes its table locks here
 * (db_pgsql_sql.c). */
static const struct db_query q_rebuild_lock = {"stats.rebuild_lock", "SELECT 1"};

/* The same numbers as the hook, computed set-wise from the tables: the
 * unsubscribes that count are those whose previous subscribe/unsubscribe
 * event of the openid (in commit order) was a subscribe; retained comes
 * from the fans table itself. wxs_stats_day() is the zone's day number.
 * Run in this order. */
static const struct db_query q_rebuild[] = {
    {"stats.rebuild_clear_daily", "DELETE FROM stats_daily"},
    {"stats.rebuild_clear_churn", "DELETE FROM stats_churn"},
    {"stats.rebuild_clear_scanners", "DELETE FROM stats_scanners"},
    {"stats.rebuild_clear_scan_first", "DELETE FROM stats_scan_first"},
    {"stats.rebuild_daily",
     "INSERT INTO stats_daily(day, scene, scans, new_fans, returning_fans) "
     "SELECT wxs_stats_day(create_time), coalesce(scene, ''), sum(coalesce(scene, '') <> ''), "
     "sum(kind = 0 AND is_new_fan <> 0), sum(kind = 0 AND is_new_fan = 0) FROM events "
     "WHERE kind = 0 OR (kind = 1 AND coalesce(scene, '') <> '') GROUP BY 1, 2"},
    {"stats.rebuild_unsub_table",
     "CREATE TEMP TABLE stats_rebuild_unsub AS "
     "SELECT coalesce(scene, '') AS scene, wxs_stats_day(create_time) AS day, "
     "wxs_stats_day(ptime) AS sub_day, (create_time - ptime BETWEEN 0 AND 599) AS quick "
     "FROM (SELECT kind, scene, create_time, lag(kind) OVER w AS pkind, "
     "lag(create_time) OVER w AS ptime FROM events WHERE kind IN (0, 2) "
     "WINDOW w AS (PARTITION BY openid ORDER BY id)) "
     "WHERE kind = 2 AND pkind = 0 AND ptime <> 0"},
    {"stats.rebuild_unsubscribes",
     "INSERT INTO stats_daily(day, scene, unsubscribes) SELECT day, scene, count(*) "
     "FROM temp.stats_rebuild_unsub WHERE 1 GROUP BY 1, 2 ON CONFLICT(day, scene) "
     "DO UPDATE SET unsubscribes = stats_daily.unsubscribes + excluded.unsubscribes"},
    {"stats.rebuild_quick_unsubs",
     "INSERT INTO stats_daily(day, scene, quick_unsubs) SELECT sub_day, scene, count(*) "
     "FROM temp.stats_rebuild_unsub WHERE quick GROUP BY 1, 2 ON CONFLICT(day, scene) "
     "DO UPDATE SET quick_unsubs = stats_daily.quick_unsubs + excluded.quick_unsubs"},
    {"stats.rebuild_churn",
     "INSERT INTO stats_churn(sub_day, scene, unsub_day, n) SELECT sub_day, scene, day, count(*) "
     "FROM temp.stats_rebuild_unsub GROUP BY 1, 2, 3"},
    {"stats.rebuild_unsub_drop", "DROP TABLE temp.stats_rebuild_unsub"},
    {"stats.rebuild_retained",
     "INSERT INTO stats_daily(day, scene, retained) "
     "SELECT wxs_stats_day(last_sub_at), coalesce(last_scene, ''), count(*) FROM fans "
     "WHERE subscribed <> 0 AND coalesce(last_sub_at, 0) <> 0 GROUP BY 1, 2 "
     "ON CONFLICT(day, scene) DO UPDATE SET retained = stats_daily.retained + excluded.retained"},
    /* every (openid, scope, day) scanned once, for the three below */
    {"stats.rebuild_scan_table",
     "CREATE TEMP TABLE stats_rebuild_scan(openid TEXT, scene TEXT, day INTEGER, "
     "PRIMARY KEY (openid, scene, day)) WITHOUT ROWID"},
    {"stats.rebuild_scan_scene",
     "INSERT INTO temp.stats_rebuild_scan(scene, openid, day) "
     "SELECT scene, openid, wxs_stats_day(create_time) FROM events "
     "WHERE kind IN (0, 1) AND coalesce(scene, '') <> '' ON CONFLICT DO NOTHING"},
    {"stats.rebuild_scan_any",
     "INSERT INTO temp.stats_rebuild_scan(scene, openid, day) "
     "SELECT '', openid, wxs_stats_day(create_time) FROM events "
     "WHERE kind IN (0, 1) AND coalesce(scene, '') <> '' ON CONFLICT DO NOTHING"},
    /* the rows in the hook's format (stats_scandays.h; as migration 010
     * writes them) */
    {"stats.rebuild_scanners",
     "INSERT INTO stats_scanners(openid, days) "
     "SELECT openid, group_concat(scope, '') FROM (SELECT openid, scene, "
     "length(CAST(scene AS BLOB)) || ':' || scene || group_concat(',' || day, '') || ';' AS scope "
     "FROM (SELECT openid, scene, day FROM temp.stats_rebuild_scan ORDER BY openid, scene, day) "
     "GROUP BY openid, scene ORDER BY openid, scene) GROUP BY openid"},
    /* each scan day counted under the scanner's previous one (first_add()
     * in stats_rollup.c): a scene's first days in stats_daily, the rest in
     * stats_scan_first */
    {"stats.rebuild_scan_first",
     "INSERT INTO stats_scan_first(day, scene, prev_day, n) "
     "SELECT day, scene, prev, count(*) FROM (SELECT day, scene, coalesce(lag(day) OVER "
     "(PARTITION BY openid, scene ORDER BY day), -2147483648) AS prev "
     "FROM temp.stats_rebuild_scan) "
     "WHERE scene = '' OR prev <> -2147483648 GROUP BY 1, 2, 3"},
    {"stats.rebuild_first_scanners",
     "INSERT INTO stats_daily(day, scene, first_scanners) "
     "SELECT day, scene, count(*) FROM (SELECT min(day) AS day, scene FROM temp.stats_rebuild_scan "
     "WHERE scene <> '' GROUP BY openid, scene) GROUP BY 1, 2 ON CONFLICT(day, scene) "
     "DO UPDATE SET first_scanners = stats_daily.first_scanners + excluded.first_scanners"},
    {"stats.rebuild_scan_drop", "DROP TABLE temp.stats_rebuild_scan"},
};

/* After a failure the temp tables may be left: dropped before the next
 * rebuild creates them again. */
static const struct db_query q_rebuild_cleanup[] = {
    {"stats.rebuild_unsub_cleanup", "DROP TABLE IF EXISTS temp.stats_rebuild_unsub"},
    {"stats.rebuild_scan_cleanup", "DROP TABLE IF EXISTS temp.stats_rebuild_scan"},
};

/* SQL wxs_stats_day(t): the zone's day number of UTC time t (NULL stays
 * NULL). ctx is the handle's zone. */
static int sql_day(void *ctx, int argc, const struct db_value *argv, struct db_value *out,
                   struct buf *scratch, const char **errmsg)
{
    (void)argc, (void)scratch, (void)errmsg;
    if (argv[0].type != DB_NULL)
        *out = (struct db_value){.type = DB_INT, .i = tz_day(ctx, argv[0].i)};
    return 0;
}

/* What wxs_stats_day() becomes between rebuilds: the zone it pointed to
 * belongs to a handle that may be closed before the connection is. */
static int sql_day_unbound(void *ctx, int argc, const struct db_value *argv, struct db_value *out,
                           struct buf *scratch, const char **errmsg)
{
    (void)ctx, (void)argc, (void)argv, (void)out, (void)scratch;
    *errmsg = "wxs_stats_day: only inside a statistics rebuild";
    return -1;
}

/* Replace stats_tz with the zone's table and record the zone's name. */
static int write_zone(struct stats *s)
{
    if (db_run(db_stmt(s->db, &q_tz_clear)) < 0)
        return -1;
    for (size_t i = 0; i < tz_count(s->tz); i++) {
        int64_t from;
        int32_t off;
        struct db_stmt *ins = db_stmt(s->db, &q_tz_add);
        tz_transition(s->tz, i, &from, &off);
        db_bind_int64(ins, 1, from);
        db_bind_int64(ins, 2, off);
        if (db_run(ins) < 0)
            return -1;
    }
    struct db_stmt *meta = db_stmt(s->db, &q_zone_set);
    db_bind_text(meta, 1, s->tzname);
    return db_run(meta) < 0 ? -1 : 0;
}

/* True when the rollups were built for exactly this zone table (false on
 * any error: the rebuild that follows reports it). */
static bool zone_current(struct stats *s)
{
    struct db_stmt *q = db_stmt(s->db, &q_zone_table);
    bool same = q != NULL;
    size_t i = 0;
    int rc = DB_DONE;
    while (same && (rc = db_step(q)) == DB_ROW) {
        int64_t from;
        int32_t off;
        const char *name = db_col_text(q, 2);
        if (i >= tz_count(s->tz) || !name || strcmp(name, s->tzname) != 0) {
            same = false;
            break;
        }
        tz_transition(s->tz, i++, &from, &off);
        same = from == db_col_int64(q, 0) && off == db_col_int(q, 1);
    }
    db_reset(q);
    return same && rc == DB_DONE && i == tz_count(s->tz);
}

struct rebuild_arg {
    struct stats *s;
    bool only_if_stale;
    bool done;
    char why[256]; /* the failing call's message, taken before the cleanup */
};

static int rebuild_statements(struct stats *s)
{
    for (size_t i = 0; i < WXS_ARRAY_LEN(q_rebuild); i++)
        if (db_run(db_stmt(s->db, &q_rebuild[i])) < 0)
            return -1;
    return 0;
}

static int rebuild_tx(struct store *st, void *p)
{
    struct rebuild_arg *a = p;
    struct stats *s = a->s;
    bool c_fn = (db_caps(s->db) & DB_CAP_C_FUNCTIONS) != 0; /* else SQL's (schema/pg/013) */
    (void)st;
    if (db_run(db_stmt(s->db, &q_rebuild_lock)) < 0) {
        snprintf(a->why, sizeof(a->why), "%s", db_errmsg(s->db));
        return -1;
    }
    if (a->only_if_stale && zone_current(s))
        return 0; /* someone else rebuilt it while we waited for the lock */
    int ret = c_fn ? db_function(s->db, "wxs_stats_day", 1, true, sql_day, s->tz) : 0;
    if (ret == 0)
        ret = write_zone(s);
    if (ret == 0)
        ret = rebuild_statements(s);
    if (ret < 0)
        snprintf(a->why, sizeof(a->why), "%s", db_errmsg(s->db));
    for (size_t i = 0; i < WXS_ARRAY_LEN(q_rebuild_cleanup); i++)
        if (db_run(db_stmt(s->db, &q_rebuild_cleanup[i])) < 0 && ret == 0) {
            snprintf(a->why, sizeof(a->why), "%s", db_errmsg(s->db));
            ret = -1;
        }
    if (c_fn && db_function(s->db, "wxs_stats_day", 1, true, sql_day_unbound, NULL) < 0 &&
        ret == 0) {
        snprintf(a->why, sizeof(a->why), "%s", db_errmsg(s->db));
        ret = -1;
    }
    a->done = ret == 0;
    return ret;
}

static int rebuild(struct stats *s, bool only_if_stale, bool *done, char *err, size_t errlen)
{
    struct rebuild_arg a = {.s = s, .only_if_stale = only_if_stale};
    uint64_t t0 = util_mono_us();
    if (store_tx(s->st, rebuild_tx, &a) < 0) {
        snprintf(err, errlen, "rebuilding the statistics rollups: %s",
                 a.why[0] ? a.why : store_errmsg(s->st));
        return -1;
    }
    if (a.done)
        log_info("stats: rollups rebuilt for time zone %s in %.1f ms", s->tzname,
                 (double)(util_mono_us() - t0) / 1000.0);
    if (done)
        *done = a.done;
    return 0;
}

int stats_rebuild_stale(struct stats *s, bool *done, char *err, size_t errlen)
{
    *done = false;
    return zone_current(s) ? 0 : rebuild(s, true, done, err, errlen);
}

int stats_rebuild(struct stats *s, char *err, size_t errlen)
{
    return rebuild(s, false, NULL, err, errlen);
}

int stats_disable(struct store *st)
{
    struct db *db = store_db(st);
    if (db_begin(db, DB_TX_WRITE) < 0)
        return -1;
    int rc = db_run(db_stmt(db, &q_tz_clear));
    if (rc == 0) {
        struct db_stmt *meta = db_stmt(db, &q_zone_set);
        db_bind_text(meta, 1, "");
        rc = db_run(meta);
    }
    if (rc < 0 || db_commit(db) < 0) {
        db_rollback(db);
        return -1;
    }
    return 0;
}
