/* A batch applied whole on PostgreSQL (store_batch.c: every lock, fan and
 * dedup key of the batch in one read, the events in one multi-row insert,
 * the fans, scanners and rollups in one statement each) against the same
 * batches applied event by event on SQLite (store.c's commit_one): after
 * each batch every table the commit writes must read the same on both,
 * and every event must get the same answer (new, or a duplicate with the
 * first delivery's reply). The batches hold what the per-batch decisions
 * must get right: an openid twice and three times in one batch, a push
 * repeated inside the batch, a duplicate of an earlier batch, a fan who
 * subscribes, leaves and comes back in one batch, an unsubscribe of an
 * unknown fan, scans on several days, and faults in the middle (a trigger
 * failing the events insert, then the rollups' write): the whole batch is
 * refused and nothing of it stays, and its retry is stored whole.
 *
 * Runs under tests/pg/cluster.sh (ctest's pg.test_store_batch), which sets
 * WXS_TEST_PG_URL; without it only the SQLite half runs (unit.*). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "channel.h"
#include "db.h"
#include "stats.h"
#include "store.h"
#include "tag.h"
#include "util.h"

struct side {
    struct store *st;
    struct stats *stats;
};

struct fixture {
    char dir[64], path[96];
    struct side lite, pg;
    bool have_pg;
};

static void side_open(struct side *s, const char *url)
{
    char err[512];
    if (store_open_url(&s->st, url, STORE_SYNC_NORMAL, err, sizeof(err)) < 0)
        fail_msg("open %s: %s", url, err);
    assert_int_equal(store_hook_add(s->st, tag_outbox_hook), 0);
    assert_int_equal(store_hook_add(s->st, stats_event_hook), 0);
    bool rebuilt = false;
    if (stats_open(&s->stats, s->st, "Asia/Shanghai", 0, &rebuilt, err, sizeof(err)) < 0)
        fail_msg("stats_open: %s", err);
    struct channel ch = {.scene = "42", .name = "Store 42", .tag = "store42"};
    if (channel_add(s->st, &ch, err, sizeof(err)) < 0)
        fail_msg("channel_add: %s", err);
}

static void exec_ok(struct store *st, const char *sql)
{
    if (db_exec(store_db(st), sql) < 0)
        fail_msg("%s: %s", sql, store_errmsg(st));
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char url[1200], err[512];
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/wxs-test-batch-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof(fx->path), "%s/t.db", fx->dir);
    side_open(&fx->lite, fx->path);
    const char *pg = getenv("WXS_TEST_PG_URL");
    if (pg && *pg) {
        struct db *a = NULL;
        if (db_open(&a, "postgresql", pg, &(struct db_options){0}, err, sizeof(err)) < 0)
            fail_msg("%s", err);
        if (db_exec(a, "DROP DATABASE IF EXISTS wxs_test_batch WITH (FORCE)") < 0 ||
            db_exec(a, "CREATE DATABASE wxs_test_batch") < 0)
            fail_msg("%s", db_errmsg(a));
        db_close(a);
        snprintf(url, sizeof(url), "%s dbname=wxs_test_batch", pg);
        side_open(&fx->pg, url);
        assert_true(store_batch_whole(fx->pg.st)); /* the path under test */
        fx->have_pg = true;
    }
    assert_false(store_batch_whole(fx->lite.st));
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    char p[128];
    struct side *sides[] = {&fx->lite, &fx->pg};
    for (int i = 0; i < 2; i++) {
        stats_close(sides[i]->stats);
        store_close(sides[i]->st);
    }
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
    const char *scene; /* NULL: organic / none */
    const char *tag;   /* distinguishes two pushes of one second ("" = none) */
};

/* What a batch answered, event by event: "new", or "dup:<reply>". */
static void run_batch(struct store *st, const struct ev *evs, size_t n, int expect_rc,
                      struct buf *answers)
{
    static const char *const names[] = {"subscribe", "SCAN", "unsubscribe", "", "CLICK"};
    struct event_rec recs[32];
    char keys[32][128], replies[32][64];
    assert_true(n <= 32);
    for (size_t i = 0; i < n; i++) {
        const struct ev *e = &evs[i];
        snprintf(keys[i], sizeof(keys[i]), "e|%lld|%s|%s|%s%s", (long long)e->t, e->openid,
                 names[e->kind], e->scene ? e->scene : "", e->tag ? e->tag : "");
        snprintf(replies[i], sizeof(replies[i]), "reply %zu to %s", i, e->openid);
        recs[i] = (struct event_rec){.dedup_key = keys[i],
                                     .kind = e->kind,
                                     .openid = e->openid,
                                     .create_time = e->t,
                                     .msg_type = "event",
                                     .event = names[e->kind],
                                     .event_key = e->scene ? e->scene : "",
                                     .scene = e->scene,
                                     .reply = replies[i],
                                     .received_at = 1760000000};
    }
    int rc = store_commit_events(st, recs, n);
    if (rc != expect_rc)
        fail_msg("commit: %d, expected %d (%s)", rc, expect_rc, store_errmsg(st));
    buf_reset(answers);
    for (size_t i = 0; i < n; i++) {
        const struct event_rec *r = &recs[i];
        int w = r->duplicate ? buf_printf(answers, "%zu dup:%s\n", i,
                                          r->prior_reply ? r->prior_reply : "(null)")
                             : buf_printf(answers, "%zu new\n", i);
        assert_int_equal(w, 0);
        free(recs[i].prior_reply);
    }
}

/* Every row the commit writes, as text, in an order both backends give. */
static void dump(struct store *st, struct buf *out)
{
    static const struct {
        int ncols;
        const char *sql;
    } queries[] = {
        {10, "SELECT dedup_key, kind, openid, create_time, msg_type, event, event_key, scene, "
             "is_new_fan, reply FROM events ORDER BY id"},
        {9, "SELECT openid, first_scene, first_sub_at, last_scene, last_sub_at, subscribed, "
            "unsub_at, subscribe_count, source FROM fans ORDER BY openid"},
        {9, "SELECT day, scene, scans, new_fans, returning_fans, unsubscribes, quick_unsubs, "
            "retained, first_scanners FROM stats_daily ORDER BY day, scene"},
        {4, "SELECT day, scene, prev_day, n FROM stats_scan_first ORDER BY day, scene, prev_day"},
        {4, "SELECT unsub_day, scene, sub_day, n FROM stats_churn "
            "ORDER BY unsub_day, scene, sub_day"},
        {2, "SELECT openid, days FROM stats_scanners ORDER BY openid"},
        {4, "SELECT o.openid, o.tag, o.state, e.dedup_key FROM tag_outbox o "
            "LEFT JOIN events e ON e.id = o.event_id ORDER BY o.openid, o.tag"},
    };
    buf_reset(out);
    for (size_t q = 0; q < WXS_ARRAY_LEN(queries); q++) {
        struct db_stmt *s = db_prepare(store_db(st), queries[q].sql);
        int rc;
        assert_int_equal(buf_printf(out, "-- %zu\n", q), 0);
        while ((rc = db_step(s)) == DB_ROW) {
            for (int c = 0; c < queries[q].ncols; c++) {
                const char *v = db_col_text(s, c);
                assert_int_equal(buf_printf(out, "%s|", v ? v : "NULL"), 0);
            }
            assert_int_equal(buf_puts(out, "\n"), 0);
        }
        if (rc != DB_DONE)
            fail_msg("%s: %s", queries[q].sql, store_errmsg(st));
        db_finalize(s);
    }
}

/* The first line where the dumps part, with its table's header. */
static void rows_differ(const char *a, const char *b)
{
    const char *head = a;
    size_t i = 0;
    while (a[i] && a[i] == b[i])
        if (a[i++] == '\n' && strncmp(a + i, "-- ", 3) == 0)
            head = a + i;
    while (i > 0 && a[i - 1] != '\n')
        i--;
    fail_msg("rows differ in table %.5s at\n  sqlite:     %.200s\n  postgresql: %.200s", head,
             a + i, b + i);
}

/* The same batch on both stores: the same answers and the same rows. */
static void both(struct fixture *fx, const struct ev *evs, size_t n, int expect_rc)
{
    struct buf a1 = {0}, a2 = {0}, d1 = {0}, d2 = {0};
    run_batch(fx->lite.st, evs, n, expect_rc, &a1);
    dump(fx->lite.st, &d1);
    if (fx->have_pg) {
        run_batch(fx->pg.st, evs, n, expect_rc, &a2);
        dump(fx->pg.st, &d2);
        if (expect_rc == 0 && strcmp(a1.data, a2.data) != 0)
            fail_msg("answers differ\n-- sqlite:\n%s-- postgresql:\n%s", a1.data, a2.data);
        if (strcmp(d1.data, d2.data) != 0)
            rows_differ(d1.data, d2.data);
    }
    buf_free(&a1);
    buf_free(&a2);
    buf_free(&d1);
    buf_free(&d2);
}

#define DAY 86400
#define T0  1760000000 /* 2025-10-09 16:53 in Shanghai */

static const struct ev batch1[] = {
    {"oA", T0, EV_SUBSCRIBE, "42", NULL},
    {"oB", T0 + 1, EV_SUBSCRIBE, "43", NULL},
    {"oA", T0 + 2, EV_SCAN, "42", NULL},        /* oA again in the batch */
    {"oA", T0, EV_SUBSCRIBE, "42", NULL},       /* the first push repeated */
    {"oC", T0 + 3, EV_UNSUBSCRIBE, NULL, NULL}, /* an unknown fan leaves */
    {"oB", T0 + 60, EV_UNSUBSCRIBE, NULL, NULL},
    {"oB", T0 + 120, EV_SUBSCRIBE, "44", NULL}, /* back in the same batch */
    {"oD", T0 + 4, EV_SCAN, "42", NULL},        /* a scan by a non-fan */
    {"oA", T0 + 5, EV_SCAN, "43", NULL},        /* a third time, another scene */
};

static const struct ev batch2[] = {
    {"oA", T0, EV_SUBSCRIBE, "42", NULL}, /* a duplicate of batch 1 */
    {"oB", T0 + DAY, EV_SCAN, "43", NULL},
    {"oE", T0 + DAY, EV_SUBSCRIBE, NULL, NULL}, /* organic */
    {"oA", T0 + DAY + 9, EV_UNSUBSCRIBE, NULL, NULL},
    {"oD", T0 - DAY, EV_SCAN, "42", NULL},      /* a day before its first scan */
    {"oB", T0 + 120, EV_SUBSCRIBE, "44", NULL}, /* a duplicate, not the first of the batch */
    {"oF", T0 + DAY, EV_SUBSCRIBE, "42", NULL},
};

/* A batch whose middle fails: nothing of it may stay. */
static const struct ev batch3[] = {
    {"oG", T0 + 2 * DAY, EV_SUBSCRIBE, "42", NULL},
    {"oA", T0 + 2 * DAY, EV_SUBSCRIBE, "42", NULL}, /* a returning fan */
    {"oF", T0 + 2 * DAY, EV_SCAN, "42", "boom"},    /* the trigger's row */
    {"oB", T0 + 2 * DAY, EV_UNSUBSCRIBE, NULL, NULL},
    {"oF", T0 + DAY, EV_SUBSCRIBE, "42", NULL}, /* a duplicate of batch 2 */
};

static const char *const boom_sqlite[] = {
    "CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.dedup_key LIKE '%boom%' "
    "BEGIN SELECT RAISE(ABORT, 'boom'); END",
    "DROP TRIGGER boom",
    "CREATE TRIGGER boom BEFORE INSERT ON stats_daily WHEN NEW.day >= 20372 "
    "BEGIN SELECT RAISE(ABORT, 'boom'); END",
    "CREATE TRIGGER boom2 BEFORE UPDATE ON stats_daily WHEN NEW.day >= 20372 "
    "BEGIN SELECT RAISE(ABORT, 'boom'); END",
    "DROP TRIGGER boom; DROP TRIGGER boom2",
};

static const char *const boom_pg[] = {
    "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF NEW.dedup_key LIKE '%boom%' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$; "
    "CREATE TRIGGER boom BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION boom()",
    "DROP TRIGGER boom ON events; DROP FUNCTION boom()",
    "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF NEW.day >= 20372 THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$; "
    "CREATE TRIGGER boom BEFORE INSERT ON stats_daily FOR EACH ROW EXECUTE FUNCTION boom()",
    "CREATE TRIGGER boom2 BEFORE UPDATE ON stats_daily FOR EACH ROW EXECUTE FUNCTION boom()",
    "DROP TRIGGER boom ON stats_daily; DROP TRIGGER boom2 ON stats_daily; DROP FUNCTION boom()",
};

static void on_both(struct fixture *fx, int i)
{
    exec_ok(fx->lite.st, boom_sqlite[i]);
    if (fx->have_pg)
        exec_ok(fx->pg.st, boom_pg[i]);
}

/* The rows of a store, to compare before and after a refused batch. */
static char *snapshot(struct store *st)
{
    struct buf b = {0};
    dump(st, &b);
    return b.data;
}

static void refused_keeps_nothing(struct fixture *fx, const struct ev *evs, size_t n)
{
    char *l0 = snapshot(fx->lite.st), *p0 = fx->have_pg ? snapshot(fx->pg.st) : NULL;
    both(fx, evs, n, -1);
    char *l1 = snapshot(fx->lite.st), *p1 = fx->have_pg ? snapshot(fx->pg.st) : NULL;
    assert_string_equal(l0, l1);
    if (fx->have_pg)
        assert_string_equal(p0, p1);
    free(l0), free(l1), free(p0), free(p1);
}

static void test_batches(void **state)
{
    struct fixture *fx = *state;
    both(fx, batch1, WXS_ARRAY_LEN(batch1), 0);
    both(fx, batch2, WXS_ARRAY_LEN(batch2), 0);
    /* a fault at the events insert, then at the rollups (the last write
     * before COMMIT): refused whole, then stored whole */
    on_both(fx, 0);
    refused_keeps_nothing(fx, batch3, WXS_ARRAY_LEN(batch3));
    on_both(fx, 1);
    on_both(fx, 2);
    on_both(fx, 3);
    refused_keeps_nothing(fx, batch3, WXS_ARRAY_LEN(batch3));
    on_both(fx, 4);
    both(fx, batch3, WXS_ARRAY_LEN(batch3), 0);
    /* the same batch again: every event a duplicate, nothing written */
    both(fx, batch3, WXS_ARRAY_LEN(batch3), 0);
}

/* Many openids in one batch, each several times, in an order that is not
 * the locks' (sorted) order. */
static void test_big_batch(void **state)
{
    struct fixture *fx = *state;
    static char ids[30][16], scenes[30][8];
    struct ev evs[30];
    for (int i = 0; i < 30; i++) {
        snprintf(ids[i], sizeof(ids[i]), "oZ%d", (i * 7) % 11);
        snprintf(scenes[i], sizeof(scenes[i]), "%d", 40 + i % 4);
        enum ev_kind k = i % 5 == 3 ? EV_UNSUBSCRIBE : i % 3 ? EV_SCAN : EV_SUBSCRIBE;
        evs[i] = (struct ev){ids[i], T0 + 3 * DAY + i * 3600, k,
                             k == EV_UNSUBSCRIBE ? NULL : scenes[i], NULL};
    }
    both(fx, evs, 30, 0);
    both(fx, evs, 30, 0); /* all duplicates */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_big_batch),
    };
    if (!getenv("WXS_TEST_PG_URL") || !*getenv("WXS_TEST_PG_URL"))
        printf("store_batch: PostgreSQL half skipped: WXS_TEST_PG_URL is not set (ctest's "
               "pg.test_store_batch runs this binary under tests/pg/cluster.sh)\n");
    return cmocka_run_group_tests_name("store_batch", tests, setup, teardown);
}
