/* stats and tz: the zone table against glibc's own reading of the TZ
 * database, civil dates, and the rollups on a real SQLite file: what the
 * store hook maintains event by event equals what stats_rebuild() computes
 * set-wise, in a zone with DST, for events arriving in any order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "channel.h"
#include "db_sqlite.h"
#include "stats.h"
#include "stats_output.h"
#include "store.h"
#include "tag.h"
#include "tz.h"

/* ---- tz ---- */

static const char *const zones[] = {
    "Asia/Shanghai",    "America/New_York", "Europe/London",     "Australia/Sydney", "Asia/Kolkata",
    "America/Santiago", "Pacific/Chatham",  "Africa/Casablanca", "America/St_Johns", "UTC",
};

/* glibc's localtime_r under TZ=zone is the reference (this test process is
 * single-threaded, so switching TZ here is fine; the library never does). */
static void test_tz_matches_glibc(void **state)
{
    unsigned seed = 6;
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        struct tz *tz;
        char err[256];
        assert_int_equal(tz_load(&tz, zones[z], err, sizeof(err)), 0);
        setenv("TZ", zones[z], 1);
        tzset();
        for (int i = 0; i < 20000; i++) {
            /* 1902..2200, with extra weight on the years people use */
            int64_t t = i % 2 ? (int64_t)(rand_r(&seed) % 400000000) + 1600000000
                              : (int64_t)rand_r(&seed) * 4 - 2100000000;
            time_t tt = (time_t)t;
            struct tm tm;
            assert_non_null(localtime_r(&tt, &tm));
            if (tz_offset(tz, t) != tm.tm_gmtoff)
                fail_msg("%s at %lld: tz %d, glibc %ld", zones[z], (long long)t, tz_offset(tz, t),
                         tm.tm_gmtoff);
            int64_t day = tz_days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
                                             (unsigned)tm.tm_mday);
            assert_int_equal(tz_day(tz, t), day);
            char want[32], got[32];
            strftime(want, sizeof(want), "%Y-%m-%d %H:%M:%S", &tm);
            tz_format_time(tz, t, got, sizeof(got));
            assert_string_equal(got, want);
        }
        tz_free(tz);
    }
    unsetenv("TZ");
    tzset();
}

/* A QR code's expiry as the account reads it (qr list, qr batch's index). */
static void test_tz_format_time(void **state)
{
    (void)state;
    struct tz *sh;
    char err[256], out[32];
    assert_int_equal(tz_load(&sh, "Asia/Shanghai", err, sizeof(err)), 0);
    tz_format_time(sh, 1764547200, out, sizeof(out)); /* 2025-12-01 00:00:00 UTC */
    assert_string_equal(out, "2025-12-01 08:00:00");
    tz_format_time(sh, 1764547200 - 8 * 3600 - 1, out, sizeof(out));
    assert_string_equal(out, "2025-11-30 23:59:59");
    tz_free(sh);
}

static void test_tz_bad_names(void **state)
{
    static const char *const bad[] = {
        "", "Mars/Olympus", "../etc/passwd", "/etc/localtime", "Asia/Shang hai", "Asia/../../etc"};
    char err[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct tz *tz = NULL;
        assert_int_equal(tz_load(&tz, bad[i], err, sizeof(err)), -1);
        assert_null(tz);
        assert_true(strlen(err) > 0);
    }
    unsigned char junk[64] = "TZif2 but not really";
    struct tz *tz = NULL;
    assert_int_equal(tz_from_tzif(&tz, junk, sizeof(junk), err, sizeof(err)), -1);
}

/* Without tzdata, common zones still load with today's rules. */
static void test_tz_builtin_fallback(void **state)
{
    struct tz *sh, *ny;
    char err[256];
    setenv("TZDIR", "/nonexistent", 1);
    assert_int_equal(tz_load(&sh, "Asia/Shanghai", err, sizeof(err)), 0);
    assert_int_equal(tz_load(&ny, "America/New_York", err, sizeof(err)), 0);
    assert_int_equal(tz_load(&sh, "Europe/Paris", err, sizeof(err)) == 0, 0); /* not built in */
    unsetenv("TZDIR");
    assert_int_equal(tz_offset(sh, 1780000000), 8 * 3600);
    assert_int_equal(tz_offset(ny, 1772953199), -18000); /* 2026-03-08 01:59:59 EST */
    assert_int_equal(tz_offset(ny, 1772953200), -14400); /* 03:00 EDT */
    assert_int_equal(tz_offset(ny, 1793512800), -18000); /* 2026-11-01 01:00 EST */
    tz_free(sh);
    tz_free(ny);
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* A v2 file with no transitions at all: the footer rule is everything. */
static void test_tz_footer_only(void **state)
{
    static const char footer[] = "\nEST5EDT,M3.2.0,M11.1.0\n";
    unsigned char f[256] = {0};
    size_t n = 0;
    for (int part = 0; part < 2; part++) { /* v1 header+data, then v2 header+data */
        memcpy(f + n, "TZif2", 5);
        put32(f + n + 36, 1); /* typecnt */
        put32(f + n + 40, 4); /* charcnt */
        n += 44;
        put32(f + n, (uint32_t)-18000); /* type 0: -5h, std */
        n += 6;
        memcpy(f + n, "EST", 4);
        n += 4;
    }
    memcpy(f + n, footer, sizeof(footer) - 1);
    n += sizeof(footer) - 1;
    struct tz *tz;
    char err[128];
    assert_int_equal(tz_from_tzif(&tz, f, n, err, sizeof(err)), 0);
    /* 2026-03-08 06:59:59Z is 01:59:59 EST, one second later 03:00 EDT */
    assert_int_equal(tz_offset(tz, 1772953199), -18000);
    assert_int_equal(tz_offset(tz, 1772953200), -14400);
    /* 2026-11-01 05:59:59Z is 01:59:59 EDT, then 01:00 EST */
    assert_int_equal(tz_offset(tz, 1793512799), -14400);
    assert_int_equal(tz_offset(tz, 1793512800), -18000);
    assert_int_equal(tz_offset(tz, 0), -18000);
    tz_free(tz);
}

static void test_dates(void **state)
{
    static const struct {
        const char *s;
        int rc;
        int64_t day;
    } cases[] = {
        {"1970-01-01", 0, 0},  {"2026-11-24", 0, 20781},   {"2024-02-29", 0, 19782},
        {"2026-02-29", -1, 0}, {"2026-02-30", -1, 0},      {"2026-13-01", -1, 0},
        {"2026-00-10", -1, 0}, {"2026-1-01", -1, 0},       {"2026-01-01 ", -1, 0},
        {"1969-12-31", -1, 0}, {"9999-12-31", 0, 2932896}, {"", -1, 0},
        {"2026/01/01", -1, 0}, {"+026-01-01", -1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t d = -1;
        char back[16];
        assert_int_equal(tz_parse_date(cases[i].s, &d), cases[i].rc);
        if (cases[i].rc != 0)
            continue;
        assert_int_equal(d, cases[i].day);
        tz_format_date(d, back, sizeof(back));
        assert_string_equal(back, cases[i].s);
    }
    for (int64_t d = -800000; d < 3000000; d += 997) {
        int64_t y;
        unsigned m, dd;
        tz_civil_from_days(d, &y, &m, &dd);
        assert_int_equal(tz_days_from_civil(y, m, dd), d);
    }
}

/* ---- rollups on a real database ---- */

struct fixture {
    char dir[64], path[96];
    struct store *st;
    struct stats *stats;
};

static int fx_setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char err[256];
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/wxs-test-stats-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof(fx->path), "%s/t.db", fx->dir);
    assert_int_equal(store_open(&fx->st, fx->path, STORE_SYNC_NORMAL, err, sizeof(err)), 0);
    assert_int_equal(store_hook_add(fx->st, tag_outbox_hook), 0);
    assert_int_equal(store_hook_add(fx->st, stats_event_hook), 0);
    bool rebuilt = false;
    assert_int_equal(
        stats_open(&fx->stats, fx->st, "America/New_York", 7, &rebuilt, err, sizeof(err)), 0);
    assert_true(rebuilt); /* a new database is built for the zone once */
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fixture *fx = *state;
    char p[128];
    stats_close(fx->stats);
    store_close(fx->st);
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", fx->path, sfx[i]);
        unlink(p);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

struct ev {
    const char *openid;
    int64_t t;
    enum ev_kind kind;
    const char *scene;
};

static int commit(struct store *st, const struct ev *evs, size_t n)
{
    struct event_rec recs[64];
    char keys[64][96];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++) {
        static const char *const names[] = {"subscribe", "SCAN", "unsubscribe", "", "CLICK"};
        snprintf(keys[i], sizeof(keys[i]), "%s|%lld|%s|%s", evs[i].openid, (long long)evs[i].t,
                 names[evs[i].kind], evs[i].scene ? evs[i].scene : "");
        recs[i] = (struct event_rec){.dedup_key = keys[i],
                                     .kind = evs[i].kind,
                                     .openid = evs[i].openid,
                                     .create_time = evs[i].t,
                                     .msg_type = "event",
                                     .event = names[evs[i].kind],
                                     .event_key = "",
                                     .scene = evs[i].scene,
                                     .received_at = evs[i].t};
    }
    int rc = store_commit_events(st, recs, n);
    for (size_t i = 0; i < n; i++)
        free(recs[i].prior_reply);
    return rc;
}

/* stats_scanners decoded by its documented format ("<bytes>:<scope>", then
 * ",<day>" per day, then ";", per scope): fn(arg, scope, openid, day) per
 * day, each scope's days checked ascending and unique. */
static void scanners_decode(sqlite3 *db, void (*fn)(void *, const char *, const char *, long long),
                            void *arg)
{
    sqlite3_stmt *s;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT openid, days FROM stats_scanners", -1, &s, NULL), SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *openid = (const char *)sqlite3_column_text(s, 0);
        const char *t = (const char *)sqlite3_column_text(s, 1);
        size_t n = (size_t)sqlite3_column_bytes(s, 1), i = 0;
        while (i < n) {
            char *end, scope[128];
            size_t slen = strtoul(t + i, &end, 10);
            assert_true(*end == ':' && slen < sizeof(scope));
            i = (size_t)(end - t) + 1;
            memcpy(scope, t + i, slen);
            scope[slen] = 0;
            i += slen;
            long long prev = LLONG_MIN;
            assert_true(i < n && t[i] == ',');
            while (i < n && t[i] == ',') {
                long long d = strtoll(t + i + 1, &end, 10);
                i = (size_t)(end - t);
                assert_true(d > prev);
                prev = d;
                fn(arg, scope, openid, d);
            }
            assert_true(i < n && t[i] == ';');
            i++;
        }
    }
    sqlite3_finalize(s);
}

struct lines {
    char *v[4096];
    size_t n;
};

static void add_line(void *arg, const char *scope, const char *openid, long long day)
{
    struct lines *l = arg;
    char line[256];
    snprintf(line, sizeof(line), "s,%s,%s,%lld\n", scope, openid, day);
    assert_true(l->n < sizeof(l->v) / sizeof(l->v[0]));
    l->v[l->n++] = strdup(line);
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* stats_scanners as sorted "s,<scope>,<openid>,<day>" lines. */
static size_t scanners_text(sqlite3 *db, char *out, size_t cap)
{
    struct lines l = {.n = 0};
    size_t len = 0;
    scanners_decode(db, add_line, &l);
    qsort(l.v, l.n, sizeof(l.v[0]), cmp_line);
    for (size_t k = 0; k < l.n; k++) {
        len += (size_t)snprintf(out + len, cap - len, "%s", l.v[k]);
        assert_true(len < cap);
        free(l.v[k]);
    }
    return len;
}

static void add_scan_day(void *arg, const char *scope, const char *openid, long long day)
{
    sqlite3_stmt *ins = arg;
    sqlite3_bind_text(ins, 1, openid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ins, 2, scope, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(ins, 3, day);
    assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
    sqlite3_reset(ins);
}

/* Back to the layout before migration 010: a row per (openid, scope, day)
 * in stats_scan_days. */
static void scanners_downgrade(sqlite3 *db)
{
    sqlite3_stmt *ins;
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE stats_scan_days (openid TEXT NOT NULL, scene TEXT "
                                  "NOT NULL, day INTEGER NOT NULL, PRIMARY KEY (openid, scene, "
                                  "day)) WITHOUT ROWID",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "INSERT INTO stats_scan_days VALUES(?, ?, ?)", -1, &ins, NULL),
        SQLITE_OK);
    scanners_decode(db, add_scan_day, ins);
    sqlite3_finalize(ins);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE stats_scanners", NULL, NULL, NULL), SQLITE_OK);
}

/* Every non-zero rollup row as text, in key order. */
static char *snapshot(sqlite3 *db)
{
    static const char *const q[] = {
        "SELECT 'd', day, scene, scans, new_fans, returning_fans, unsubscribes, quick_unsubs, "
        "retained, first_scanners FROM stats_daily WHERE scans OR new_fans OR returning_fans OR "
        "unsubscribes OR quick_unsubs OR retained OR first_scanners ORDER BY 2, 3",
        "SELECT 'c', sub_day, scene, unsub_day, n FROM stats_churn WHERE n ORDER BY 2, 3, 4",
        "SELECT 'f', day, scene, prev_day, n FROM stats_scan_first WHERE n ORDER BY 2, 3, 4",
    };
    size_t cap = 1 << 20, len = 0;
    char *out = calloc(1, cap);
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
        sqlite3_stmt *s;
        assert_int_equal(sqlite3_prepare_v2(db, q[i], -1, &s, NULL), SQLITE_OK);
        while (sqlite3_step(s) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(s); c++) {
                const char *v = (const char *)sqlite3_column_text(s, c);
                len += (size_t)snprintf(out + len, cap - len, "%s%c", v ? v : "NULL",
                                        c + 1 < sqlite3_column_count(s) ? ',' : '\n');
                assert_true(len < cap);
            }
        }
        sqlite3_finalize(s);
    }
    len += scanners_text(db, out + len, cap - len);
    return out;
}

/* Random subscribe/SCAN/unsubscribe traffic over 10 days around the 2026
 * DST change in New York, committed in batches in shuffled time order. */
static void test_hook_equals_rebuild(void **state)
{
    struct fixture *fx = *state;
    static const char *const scenes[] = {"1", "2", "shop-a", NULL};
    char openids[30][8];
    bool sub[30] = {0};
    unsigned seed = 42;
    int64_t base = 1772600000; /* 2026-03-04 */
    for (int i = 0; i < 30; i++)
        snprintf(openids[i], sizeof(openids[i]), "o%d", i);
    for (int batch = 0; batch < 40; batch++) {
        struct ev evs[16];
        for (int i = 0; i < 16; i++) {
            int who = rand_r(&seed) % 30;
            const char *scene = scenes[rand_r(&seed) % 4];
            int64_t t = base + rand_r(&seed) % (10 * 86400);
            enum ev_kind k = !sub[who]           ? EV_SUBSCRIBE
                             : rand_r(&seed) % 3 ? EV_SCAN
                                                 : EV_UNSUBSCRIBE;
            if (k == EV_SCAN && !scene)
                scene = "1";
            if (k == EV_UNSUBSCRIBE)
                scene = NULL;
            if (rand_r(&seed) % 10 == 0)
                k = EV_OTHER;
            sub[who] = k == EV_SUBSCRIBE ? true : k == EV_UNSUBSCRIBE ? false : sub[who];
            evs[i] = (struct ev){openids[who], t, k, scene};
        }
        assert_int_equal(commit(fx->st, evs, 16), 0);
    }
    char *hook = snapshot(db_sqlite_handle(store_db(fx->st))), err[256];
    assert_true(strlen(hook) > 1000);
    assert_int_equal(stats_rebuild(fx->stats, err, sizeof(err)), 0);
    char *rebuilt = snapshot(db_sqlite_handle(store_db(fx->st)));
    assert_string_equal(hook, rebuilt);
    free(hook);
    free(rebuilt);
}

/* A database from before migration 009 kept a scene's first-ever scanners
 * as stats_scan_first rows (prev_day = -2147483648), and before 010 a row
 * per scan day in stats_scan_days; the migrations move them into
 * stats_daily.first_scanners and stats_scanners, and the rollups are then
 * the ones the hook writes today. */
static void test_upgrade_moves_first_scanners(void **state)
{
    struct fixture *fx = *state;
    int64_t t = 1780000000, d = 86400;
    struct ev evs[] = {
        {"f1", t, EV_SUBSCRIBE, "a"},          {"f2", t + 5, EV_SUBSCRIBE, "a"},
        {"f1", t + d, EV_SCAN, "a"},           {"f3", t + d, EV_SCAN, "b"},
        {"f1", t + 2 * d, EV_SCAN, "b"},       {"f2", t + 3 * d, EV_UNSUBSCRIBE, NULL},
        {"f4", t + 3 * d, EV_SUBSCRIBE, NULL}, {"f3", t - d, EV_SCAN, "b"}};
    assert_int_equal(commit(fx->st, evs, 8), 0);
    char *now = snapshot(db_sqlite_handle(store_db(fx->st))), err[256];
    assert_non_null(strstr(now, ",a,")); /* rows for both scenes are there */
    scanners_downgrade(db_sqlite_handle(store_db(fx->st)));
    assert_int_equal(
        sqlite3_exec(
            db_sqlite_handle(store_db(fx->st)),
            "INSERT INTO stats_scan_first(day, scene, prev_day, n) SELECT day, scene, "
            "-2147483648, first_scanners FROM stats_daily WHERE first_scanners <> 0; "
            "ALTER TABLE stats_daily DROP COLUMN first_scanners; "
            "ALTER TABLE health DROP COLUMN seq; "
            "DROP INDEX channels_campaign; ALTER TABLE channels DROP COLUMN campaign_id; "
            "ALTER TABLE channels DROP COLUMN followup_ids; "
            "DROP TABLE campaigns; DROP TABLE channel_replies; DROP TABLE media; "
            "DROP TABLE followup_msgs; DROP TABLE followup_outbox; PRAGMA user_version = 8",
            NULL, NULL, NULL),
        SQLITE_OK);
    stats_close(fx->stats);
    store_close(fx->st);
    fx->stats = NULL;
    fx->st = NULL;
    assert_int_equal(store_open(&fx->st, fx->path, STORE_SYNC_NORMAL, err, sizeof(err)), 0);
    assert_int_equal(store_hook_add(fx->st, tag_outbox_hook), 0);
    assert_int_equal(store_hook_add(fx->st, stats_event_hook), 0);
    bool rebuilt = true;
    assert_int_equal(
        stats_open(&fx->stats, fx->st, "America/New_York", 7, &rebuilt, err, sizeof(err)), 0);
    assert_false(rebuilt); /* the migration, not a rebuild, made what follows */
    char *migrated = snapshot(db_sqlite_handle(store_db(fx->st)));
    assert_string_equal(now, migrated);
    free(now);
    free(migrated);
}

static long long one_value(sqlite3 *db, const char *sql, char *text, size_t textlen)
{
    sqlite3_stmt *s;
    long long v = -1;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW) {
        v = sqlite3_column_int64(s, 0);
        if (text)
            snprintf(text, textlen, "%s", (const char *)sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    return v;
}

/* A stats_scanners row this code did not write (a hand edit, a bad restore)
 * does not stop events from being stored: the batch commits, the row is
 * replaced by a readable one, the rollups are marked, and the next
 * stats_open rebuilds them from the events. */
static void test_damaged_scanner_row(void **state)
{
    struct fixture *fx = *state;
    sqlite3 *db = db_sqlite_handle(store_db(fx->st));
    int64_t t = 1780000000, d = 86400;
    char err[256], zone[64];
    struct ev first[] = {{"victim", t, EV_SCAN, "a"}, {"other", t, EV_SCAN, "a"}};
    assert_int_equal(commit(fx->st, first, 2), 0);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE stats_scanners SET days = days || '9x' "
                                  "WHERE openid = 'victim'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    struct ev next[] = {{"other", t + d, EV_SCAN, "b"}, {"victim", t + d, EV_SCAN, "zzz"}};
    assert_int_equal(commit(fx->st, next, 2), 0);
    assert_int_equal(one_value(db, "SELECT count(*) FROM events", NULL, 0), 4);
    one_value(db, "SELECT value FROM stats_meta WHERE key = 'timezone'", zone, sizeof(zone));
    assert_string_equal(zone, "(rebuild)");
    struct ev more[] = {{"victim", t + 2 * d, EV_SCAN, "a"}};
    assert_int_equal(commit(fx->st, more, 1), 0); /* the replaced row reads again */
    free(snapshot(db));                           /* every row decodes */
    stats_close(fx->stats);
    fx->stats = NULL;
    bool rebuilt = false;
    assert_int_equal(
        stats_open(&fx->stats, fx->st, "America/New_York", 7, &rebuilt, err, sizeof(err)), 0);
    assert_true(rebuilt);
    char *reopened = snapshot(db);
    assert_int_equal(stats_rebuild(fx->stats, err, sizeof(err)), 0);
    char *again = snapshot(db);
    assert_string_equal(reopened, again);
    assert_non_null(strstr(again, "s,a,victim,")); /* the first scan is back */
    free(reopened);
    free(again);
}

/* One batch with more distinct rollup rows than the delta table keeps
 * between batches (it grows, is let go after the batch, and grows again):
 * the rollups still equal the rebuild's. */
static void test_big_batch_then_small(void **state)
{
    struct fixture *fx = *state;
    enum { N = 700 };
    struct event_rec *recs = calloc(N, sizeof(*recs));
    char(*keys)[80] = calloc(N, sizeof(*keys)), (*ids)[24] = calloc(N, sizeof(*ids)),
    (*scenes)[24] = calloc(N, sizeof(*scenes));
    assert_non_null(recs);
    for (int round = 0; round < 2; round++) {
        size_t n = round ? 5 : N;
        for (size_t i = 0; i < n; i++) {
            int64_t t = 1780000000 + (int64_t)(i % 9) * 86400 + round * 7;
            snprintf(ids[i], sizeof(ids[i]), "b%zu", i % 300);
            snprintf(scenes[i], sizeof(scenes[i]), "s%zu", i);
            snprintf(keys[i], sizeof(keys[i]), "e|%lld|%s|%d", (long long)t, ids[i], round);
            recs[i] = (struct event_rec){.dedup_key = keys[i],
                                         .kind = i % 3 ? EV_SCAN : EV_SUBSCRIBE,
                                         .openid = ids[i],
                                         .create_time = t,
                                         .msg_type = "event",
                                         .event = i % 3 ? "SCAN" : "subscribe",
                                         .event_key = "",
                                         .scene = scenes[i],
                                         .received_at = t};
        }
        assert_int_equal(store_commit_events(fx->st, recs, n), 0);
        for (size_t i = 0; i < n; i++)
            free(recs[i].prior_reply);
    }
    char *hook = snapshot(db_sqlite_handle(store_db(fx->st))), err[256];
    assert_int_equal(stats_rebuild(fx->stats, err, sizeof(err)), 0);
    char *rebuilt = snapshot(db_sqlite_handle(store_db(fx->st)));
    assert_string_equal(hook, rebuilt);
    free(hook);
    free(rebuilt);
    free(recs);
    free(keys);
    free(ids);
    free(scenes);
}

/* A writer of the fans table outside the event path (the backfill) keeps
 * retained exact through stats_fan_changed(): a new fan, a fan moved to
 * another scene and day, and one moved to the same row (the deltas cancel)
 * leave the rollups a rebuild computes. */
static void test_fan_changed_equals_rebuild(void **state)
{
    struct fixture *fx = *state;
    sqlite3 *db = db_sqlite_handle(store_db(fx->st));
    int64_t t = 1780000000, d = 86400;
    struct ev evs[] = {{"g1", t, EV_SUBSCRIBE, "a"}, {"g2", t + 5, EV_SUBSCRIBE, "a"}};
    assert_int_equal(commit(fx->st, evs, 2), 0);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "INSERT INTO fans(openid, first_scene, first_sub_at, last_scene, "
                     "last_sub_at, subscribed, source) VALUES ('g3', 'b', 1779900000, 'b', "
                     "1779900000, 1, 'backfill'); "
                     "UPDATE fans SET last_scene = 'b', last_sub_at = 1779800000 WHERE openid = "
                     "'g1'; UPDATE fans SET last_sub_at = 1780000006 WHERE openid = 'g2'",
                     NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_equal(stats_fan_changed(store_db(fx->st), NULL, 0, false, "b", 1779900000, true), 0);
    assert_int_equal(stats_fan_changed(store_db(fx->st), "a", t, true, "b", t - 2 * d, true), 0);
    assert_int_equal(stats_fan_changed(store_db(fx->st), "a", t + 5, true, "a", t + 6, true), 0);
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    char *hook = snapshot(db), err[256];
    assert_non_null(strstr(hook, ",b,"));
    assert_int_equal(stats_rebuild(fx->stats, err, sizeof(err)), 0);
    char *rebuilt = snapshot(db);
    assert_string_equal(hook, rebuilt);
    free(hook);
    free(rebuilt);
}

/* Deltas summed for a batch that is rolled back must not reach the next
 * batch: the rollups stay what a rebuild computes from what was stored. */
static void test_rolled_back_batch_leaves_no_deltas(void **state)
{
    struct fixture *fx = *state;
    sqlite3 *db = db_sqlite_handle(store_db(fx->st));
    int64_t t = 1780000000;
    struct ev ok1[] = {{"r1", t, EV_SUBSCRIBE, "a"}, {"r2", t + 5, EV_SUBSCRIBE, "a"}};
    assert_int_equal(commit(fx->st, ok1, 2), 0);
    /* the third event of this batch fails after two were applied */
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TEMP TRIGGER boom BEFORE INSERT ON main.events "
                                  "WHEN NEW.openid = 'rbad' BEGIN SELECT RAISE(ABORT, 'boom'); END",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    struct ev bad[] = {{"r3", t + 10, EV_SUBSCRIBE, "a"},
                       {"r1", t + 11, EV_SCAN, "b"},
                       {"rbad", t + 12, EV_SUBSCRIBE, "a"}};
    assert_int_equal(commit(fx->st, bad, 3), -1);
    assert_int_equal(sqlite3_exec(db, "DROP TRIGGER temp.boom", NULL, NULL, NULL), SQLITE_OK);
    struct ev ok2[] = {{"r4", t + 20, EV_SUBSCRIBE, "a"}, {"r2", t + 21, EV_SCAN, "b"}};
    assert_int_equal(commit(fx->st, ok2, 2), 0);
    char *hook = snapshot(db), err[256];
    assert_non_null(strstr(hook, "d,")); /* the rows are there */
    assert_int_equal(stats_rebuild(fx->stats, err, sizeof(err)), 0);
    char *rebuilt = snapshot(db);
    assert_string_equal(hook, rebuilt);
    free(hook);
    free(rebuilt);
}

static const struct stats_row *find_row(const struct stats_report *r, const char *promoter)
{
    for (size_t i = 0; i < r->nrows; i++)
        if (r->rows[i].promoter && strcmp(r->rows[i].promoter, promoter) == 0)
            return &r->rows[i];
    return NULL;
}

/* Promoter flags: one promoter whose fans come and go within minutes, one
 * whose fans keep re-subscribing, one with ordinary fans. */
static void test_promoter_flags(void **state)
{
    struct fixture *fx = *state;
    char err[256], id[16];
    const struct channel chans[] = {
        {.scene = "q", .name = "Quick", .promoter = "P-quick"},
        {.scene = "c", .name = "Cycle", .promoter = "P-cycle"},
        {.scene = "n", .name = "Normal", .promoter = "P-normal"},
    };
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(channel_add(fx->st, &chans[i], err, sizeof(err)), 0);
    int64_t t = 1780000000; /* 2026-05-28 */
    for (int i = 0; i < 8; i++) {
        char *o = strdup((snprintf(id, sizeof(id), "q%d", i), id));
        struct ev evs[] = {{o, t + i * 1000, EV_SUBSCRIBE, "q"},
                           {o, t + i * 1000 + 120, EV_UNSUBSCRIBE, NULL}};
        assert_int_equal(commit(fx->st, evs, i < 6 ? 2 : 1), 0);
        free(o);
    }
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 2; i++) {
            char *o = strdup((snprintf(id, sizeof(id), "c%d", i), id));
            struct ev evs[] = {{o, t + round * 86400 + i * 10, EV_SUBSCRIBE, "c"},
                               {o, t + round * 86400 + 40000 + i * 10, EV_UNSUBSCRIBE, NULL}};
            assert_int_equal(commit(fx->st, evs, 2), 0);
            free(o);
        }
    }
    for (int i = 0; i < 10; i++) {
        char *o = strdup((snprintf(id, sizeof(id), "n%d", i), id));
        struct ev evs[] = {{o, t + i * 100, EV_SUBSCRIBE, "n"}};
        assert_int_equal(commit(fx->st, evs, 1), 0);
        free(o);
    }
    struct stats_report *r;
    int64_t d0, d1;
    assert_int_equal(stats_range(fx->stats, STATS_BY_PROMOTER, "2026-05-20", "2026-06-10", "since",
                                 "until", &d0, &d1, err, sizeof(err)),
                     0);
    assert_int_equal(stats_query(fx->stats, STATS_BY_PROMOTER, d0, d1, &r, err, sizeof(err)), 0);
    const struct stats_row *q = find_row(r, "P-quick"), *c = find_row(r, "P-cycle"),
                           *n = find_row(r, "P-normal");
    assert_non_null(q);
    assert_non_null(c);
    assert_non_null(n);
    assert_int_equal(q->quick_unsubs, 6);
    assert_int_equal(q->c.new_fans, 8);
    assert_int_equal(q->flags, STATS_FLAG_QUICK_UNSUBS);
    assert_int_equal(c->c.new_fans, 2);
    assert_int_equal(c->c.returning_fans, 6);
    assert_int_equal(c->quick_unsubs, 0);
    assert_int_equal(c->flags, STATS_FLAG_RESUB_CYCLING);
    assert_int_equal(n->flags, 0);
    assert_int_equal(n->c.retained_fans, 10);
    assert_int_equal(n->retention_eligible, 10);
    assert_int_equal(n->retention_retained, 10);
    /* all 8 cycle subscribes ended the same day: none retained after 7 days */
    assert_int_equal(c->retention_eligible, 8);
    assert_int_equal(c->retention_retained, 0);
    assert_string_equal(r->rows[0].promoter, "P-normal"); /* ranked by net fans */
    struct buf why = {0};
    assert_int_equal(stats_flag_reasons(r, q, &why), 0);
    assert_string_equal(why.data, "6 of 8 subscribes were undone within 10 minutes");
    buf_free(&why);
    stats_report_free(r);
}

/* A disabled hook writes nothing; reopening rebuilds to the same numbers. */
static void test_disable_then_reopen(void **state)
{
    struct fixture *fx = *state;
    char err[256];
    struct ev a[] = {{"x1", 1780000000, EV_SUBSCRIBE, "9"}, {"x2", 1780000100, EV_SCAN, "9"}};
    assert_int_equal(commit(fx->st, a, 2), 0);
    char *before = snapshot(db_sqlite_handle(store_db(fx->st)));
    assert_int_equal(stats_disable(fx->st), 0);
    char *off = snapshot(db_sqlite_handle(store_db(fx->st)));
    struct ev b[] = {{"x3", 1780000200, EV_SUBSCRIBE, "9"}};
    assert_int_equal(commit(fx->st, b, 1), 0);
    char *still = snapshot(db_sqlite_handle(store_db(fx->st)));
    assert_string_equal(before, off);
    assert_string_equal(off, still);
    free(still);
    stats_close(fx->stats);
    bool rebuilt = false;
    assert_int_equal(
        stats_open(&fx->stats, fx->st, "America/New_York", 7, &rebuilt, err, sizeof(err)), 0);
    assert_true(rebuilt);
    char *after = snapshot(db_sqlite_handle(store_db(fx->st)));
    assert_string_not_equal(before, after); /* x3 is in now */
    assert_non_null(strstr(after, "s,9,x3,"));
    free(before);
    free(off);
    free(after);
}

/* ---- the write-out's order ---- */

/* A TEMP trigger per rollup table logs each row the hook writes (the
 * UPDATE and the upsert's DO UPDATE fire the update trigger, an insert the
 * insert one), with the table's rank in the write-out (stats_daily,
 * stats_scan_first, stats_churn) and the row's key. */
static void write_log_install(sqlite3 *db)
{
    static const char *const sql =
        "CREATE TEMP TABLE write_log(seq INTEGER PRIMARY KEY, tbl INTEGER, day INTEGER, "
        "scene TEXT, prev INTEGER);"
        "CREATE TEMP TRIGGER log_d_ins AFTER INSERT ON main.stats_daily BEGIN "
        "INSERT INTO write_log(tbl, day, scene, prev) VALUES(0, NEW.day, NEW.scene, 0); END;"
        "CREATE TEMP TRIGGER log_d_upd AFTER UPDATE ON main.stats_daily BEGIN "
        "INSERT INTO write_log(tbl, day, scene, prev) VALUES(0, NEW.day, NEW.scene, 0); END;"
        "CREATE TEMP TRIGGER log_f_ins AFTER INSERT ON main.stats_scan_first BEGIN "
        "INSERT INTO write_log(tbl, day, scene, prev) "
        "VALUES(1, NEW.day, NEW.scene, NEW.prev_day); END;"
        "CREATE TEMP TRIGGER log_f_upd AFTER UPDATE ON main.stats_scan_first BEGIN "
        "INSERT INTO write_log(tbl, day, scene, prev) "
        "VALUES(1, NEW.day, NEW.scene, NEW.prev_day); END;"
        "CREATE TEMP TRIGGER log_c_ins AFTER INSERT ON main.stats_churn BEGIN "
        "INSERT INTO write_log(tbl, day, scene, prev) "
        "VALUES(2, NEW.unsub_day, NEW.scene, NEW.sub_day); END;"
        "CREATE TEMP TRIGGER log_c_upd AFTER UPDATE ON main.stats_churn BEGIN "
        "INSERT INTO write_log(tbl, day, scene, prev) "
        "VALUES(2, NEW.unsub_day, NEW.scene, NEW.sub_day); END;";
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
}

struct logged {
    long long tbl, day, prev;
    char scene[32];
};

static int logged_cmp(const struct logged *a, const struct logged *b)
{
    if (a->tbl != b->tbl)
        return a->tbl < b->tbl ? -1 : 1;
    if (a->day != b->day)
        return a->day < b->day ? -1 : 1;
    int c = strcmp(a->scene, b->scene);
    if (c)
        return c;
    return (a->prev > b->prev) - (a->prev < b->prev);
}

/* The rows a batch moves are written sorted by key (table, day, scene,
 * prev_day), whatever order their hash table holds them in: two writers
 * that do not serialise then lock them in the same order and cannot
 * deadlock. 30 scenes on 10 days: a scan, a subscribe and an unsubscribe
 * each, so all three tables get many rows. */
static void test_rollup_rows_written_in_key_order(void **state)
{
    struct fixture *fx = *state;
    sqlite3 *db = db_sqlite_handle(store_db(fx->st));
    int64_t t0 = 1780000000, d = 86400;
    char ids[60][8], scenes[30][8];
    struct ev setup[30], batch[60];
    for (int i = 0; i < 30; i++) {
        snprintf(ids[i], sizeof(ids[i]), "u%02d", i);
        snprintf(ids[30 + i], sizeof(ids[30 + i]), "v%02d", i);
        snprintf(scenes[i], sizeof(scenes[i]), "k%02d", (i * 7) % 30);
        setup[i] = (struct ev){ids[i], t0 + (i % 10) * d + i, EV_SUBSCRIBE, scenes[i]};
    }
    assert_int_equal(commit(fx->st, setup, 30), 0);
    for (int i = 0; i < 30; i++) {
        int64_t t = t0 + 10 * d + ((i * 3) % 10) * d + i;
        batch[2 * i] = (struct ev){ids[i], t, i % 2 ? EV_UNSUBSCRIBE : EV_SCAN,
                                   i % 2 ? NULL : scenes[(i * 11) % 30]};
        batch[2 * i + 1] = (struct ev){ids[30 + i], t + 60, EV_SUBSCRIBE, scenes[(i * 13) % 30]};
    }
    write_log_install(db);
    assert_int_equal(commit(fx->st, batch, 60), 0);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT tbl, day, scene, prev FROM temp.write_log "
                                        "ORDER BY seq",
                                        -1, &s, NULL),
                     SQLITE_OK);
    struct logged prev = {0}, cur;
    int n = 0, per_table[3] = {0};
    while (sqlite3_step(s) == SQLITE_ROW) {
        cur = (struct logged){.tbl = sqlite3_column_int64(s, 0),
                              .day = sqlite3_column_int64(s, 1),
                              .prev = sqlite3_column_int64(s, 3)};
        snprintf(cur.scene, sizeof(cur.scene), "%s", (const char *)sqlite3_column_text(s, 2));
        if (n > 0 && logged_cmp(&prev, &cur) >= 0)
            fail_msg("write %d (table %lld, day %lld, scene '%s', prev %lld) is not after "
                     "(table %lld, day %lld, scene '%s', prev %lld)",
                     n, cur.tbl, cur.day, cur.scene, cur.prev, prev.tbl, prev.day, prev.scene,
                     prev.prev);
        per_table[cur.tbl]++;
        prev = cur;
        n++;
    }
    sqlite3_finalize(s);
    assert_true(per_table[0] >= 40); /* stats_daily */
    assert_true(per_table[1] >= 5);  /* stats_scan_first */
    assert_true(per_table[2] >= 10); /* stats_churn */
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TRIGGER temp.log_d_ins; DROP TRIGGER temp.log_d_upd; "
                                  "DROP TRIGGER temp.log_f_ins; DROP TRIGGER temp.log_f_upd; "
                                  "DROP TRIGGER temp.log_c_ins; DROP TRIGGER temp.log_c_upd; "
                                  "DROP TABLE temp.write_log",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    char *hook = snapshot(db), err[256];
    assert_int_equal(stats_rebuild(fx->stats, err, sizeof(err)), 0);
    char *rebuilt = snapshot(db);
    assert_string_equal(hook, rebuilt); /* and the numbers are still the rebuild's */
    free(hook);
    free(rebuilt);
}

/* ---- ranges ---- */

static json_t *report_json(struct stats *stats, enum stats_by by, const char *since,
                           const char *until)
{
    struct stats_report *r;
    int64_t d0, d1;
    char err[256];
    if (stats_range(stats, by, since, until, "since", "until", &d0, &d1, err, sizeof(err)) < 0)
        fail_msg("%s..%s: %s", since, until, err);
    assert_int_equal(stats_query(stats, by, d0, d1, &r, err, sizeof(err)), 0);
    json_t *j = stats_report_json(r);
    assert_non_null(j);
    stats_report_free(r);
    return j;
}

/* A range of any length is answered with the numbers of a range that just
 * covers the data (only the days that can hold data are read), and its
 * JSON still says what was asked; by day lists those days. */
static void test_range_of_any_length(void **state)
{
    struct fixture *fx = *state;
    int64_t t = 1780000000, d = 86400; /* 2026-05-28 */
    const struct channel ch = {.scene = "a", .name = "A", .promoter = "P"};
    char err[256];
    assert_int_equal(channel_add(fx->st, &ch, err, sizeof(err)), 0);
    struct ev evs[] = {{"w1", t, EV_SUBSCRIBE, "a"},    {"w2", t + d, EV_SUBSCRIBE, "b"},
                       {"w1", t + 2 * d, EV_SCAN, "b"}, {"w2", t + 3 * d, EV_UNSUBSCRIBE, NULL},
                       {"w3", t + 3 * d, EV_SCAN, "a"}, {"w4", t + 4 * d, EV_SUBSCRIBE, NULL},
                       {"w1", t - 30 * d, EV_SCAN, "a"}};
    assert_int_equal(commit(fx->st, evs, 7), 0);
    static const enum stats_by views[] = {STATS_BY_CHANNEL, STATS_BY_PROMOTER, STATS_BY_DAY};
    for (size_t v = 0; v < 3; v++) {
        json_t *all = report_json(fx->stats, views[v], "2000-01-01", "2100-01-01");
        json_t *cover = report_json(fx->stats, views[v], "2026-04-01", "2026-06-30");
        assert_string_equal(json_string_value(json_object_get(all, "since")), "2000-01-01");
        assert_string_equal(json_string_value(json_object_get(all, "until")), "2100-01-01");
        assert_true(json_equal(json_object_get(all, "totals"), json_object_get(cover, "totals")));
        if (views[v] != STATS_BY_DAY) {
            const char *key = views[v] == STATS_BY_CHANNEL ? "channels" : "promoters";
            assert_true(json_equal(json_object_get(all, key), json_object_get(cover, key)));
        } else {
            /* the first day with data .. today (2026-04-28 .. the test's today) */
            json_t *days = json_object_get(all, "days");
            assert_string_equal(json_string_value(json_object_get(json_array_get(days, 0), "date")),
                                "2026-04-28");
            assert_int_equal((int64_t)json_array_size(days), stats_today(fx->stats) - 20571 + 1);
            json_t *cdays = json_object_get(cover, "days");
            for (size_t i = 0; i < json_array_size(cdays) - 27; i++) /* 04-28 .. 06-30 */
                assert_true(json_equal(json_array_get(days, i), json_array_get(cdays, i + 27)));
        }
        json_decref(all);
        json_decref(cover);
    }
    /* by day, a range whose days holding data are more than it lists */
    struct ev far[] = {{"w5", t + 20 * 365 * d, EV_SUBSCRIBE, "a"}};
    assert_int_equal(commit(fx->st, far, 1), 0);
    int64_t d0, d1;
    assert_int_equal(stats_range(fx->stats, STATS_BY_DAY, "2000-01-01", "2100-01-01", "since",
                                 "until", &d0, &d1, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "at most 3700"));
    assert_int_equal(stats_range(fx->stats, STATS_BY_CHANNEL, "2000-01-01", "2100-01-01", "since",
                                 "until", &d0, &d1, err, sizeof(err)),
                     0);
    assert_int_equal(stats_range(fx->stats, STATS_BY_DAY, "2030-01-01", "2040-01-01", "since",
                                 "until", &d0, &d1, err, sizeof(err)),
                     0); /* 3653 days */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tz_matches_glibc),
        cmocka_unit_test(test_tz_bad_names),
        cmocka_unit_test(test_tz_format_time),
        cmocka_unit_test(test_tz_footer_only),
        cmocka_unit_test(test_tz_builtin_fallback),
        cmocka_unit_test(test_dates),
        cmocka_unit_test_setup_teardown(test_hook_equals_rebuild, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rolled_back_batch_leaves_no_deltas, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_moves_first_scanners, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_big_batch_then_small, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_damaged_scanner_row, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_fan_changed_equals_rebuild, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_promoter_flags, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_disable_then_reopen, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_rollup_rows_written_in_key_order, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_range_of_any_length, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
