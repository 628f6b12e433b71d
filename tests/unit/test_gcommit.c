/* gcommit: the group commit as wxscened runs it. A real SQLite file, a real
 * libevent loop and the commit thread of src/gcommit.c, driven the way
 * server.c drives it: a batch is opened with its first pushes, more are
 * handed over while the thread stores them, the batch is sealed, and done()
 * comes back on the loop thread. The work function is server.c's
 * commit_work() over the batch API (route, store_batch_begin/add/flush/
 * commit/abort), the event hooks are the server's (tag outbox, then the
 * statistics rollups), registered on the committer's own connection.
 *
 * The commit thread never asserts (a cmocka failure there would longjmp
 * across threads): it records what happened in the batch, and the test
 * checks it on the loop thread once done() has run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <stdatomic.h>

#include <cmocka.h>
#include <event2/event.h>

#include "channel.h"
#include "db_sqlite.h"
#include "gcommit.h"
#include "route.h"
#include "stats.h"
#include "store.h"
#include "tag.h"

/* server.c commit_hooks[], in its order. */
static const store_event_hook commit_hooks[] = {
    tag_outbox_hook,
    stats_event_hook,
};

#define T0        INT64_C(1780000000) /* 2026-05-29 04:26:40 in Asia/Shanghai */
#define MAX_ITEMS 32
#define MAX_CALLS 32

/* One push as server.c holds it: the parsed message, its routing and the
 * record the store fills in. */
struct item {
    struct wx_msg msg;
    struct route_out route;
    struct event_rec rec;
};

enum flush_mode {
    FLUSH_AT_CALLS, /* as server.c: after each unsealed work call */
    FLUSH_EACH_ADD, /* after every store_batch_add */
    FLUSH_NEVER,    /* only the commit writes the hooks' deltas */
};

struct work_call {
    size_t from, to;
    bool sealed;
};

struct tbatch {
    struct item it[MAX_ITEMS];
    size_t n;
    enum flush_mode flush;
    /* the commit thread's (read by the test after done) */
    bool begun, failed;
    size_t failed_at; /* 1-based push where the batch failed, 0 = none */
    struct work_call calls[MAX_CALLS];
    size_t ncalls;
    bool too_many_calls;
    /* the loop's */
    int ndone;
    bool ok;
    bool done_on_loop_thread;
    int done_order; /* 1 = the first batch delivered */
};

struct fixture {
    char dir[64], path[96];
    struct cfg cfg;
    struct store *st; /* the test's own connection: reads, rebuilds */
    struct stats *stats;
    struct event_base *base;
    struct gcommit *gc;
    struct store *gst; /* the committer's connection */
    pthread_t loop_thread;
    _Atomic size_t worked; /* items of the open batch the thread is done with */
    struct tbatch *next;   /* opened and sealed from done(), as on_committed() does */
    int delivered;         /* done() calls so far */
    bool timed_out;
};

/* ---- the server's work and done, over the test's batch ---- */

static void batch_fail(struct tbatch *b, struct store *st, size_t i)
{
    if (b->failed)
        return;
    if (b->begun)
        store_batch_abort(st);
    b->begun = false;
    b->failed = true;
    b->failed_at = i;
}

/* server.c rec_from_pending(), with received_at = CreateTime so two runs of
 * the same pushes store the same rows. */
static void rec_from_item(struct item *it)
{
    struct event_rec *r = &it->rec;
    memset(r, 0, sizeof(*r));
    r->dedup_key = it->route.dedup_key;
    r->kind = it->route.kind;
    r->openid = it->msg.from;
    r->create_time = it->msg.create_time;
    r->msg_type = it->msg.msg_type;
    r->event = it->msg.event;
    r->event_key = it->msg.event_key;
    r->scene = route_scene(&it->route, &it->msg);
    r->reply = it->route.has_reply ? it->route.reply.data : NULL;
    r->received_at = it->msg.create_time;
    r->untagged = it->route.untagged;
}

/* server.c commit_work(): route and store items [from, to) in the open
 * transaction, flush the hooks' deltas while more may come, commit at the
 * seal; after a failure the rest is skipped. */
static bool work(void *arg, struct store *st, void *batch, size_t from, size_t to, bool sealed)
{
    struct fixture *fx = arg;
    struct tbatch *b = batch;
    if (b->ncalls < MAX_CALLS)
        b->calls[b->ncalls++] = (struct work_call){from, to, sealed};
    else
        b->too_many_calls = true;
    for (size_t i = from; i < to; i++) {
        struct item *it = &b->it[i];
        if (!b->failed && !b->begun && !(b->begun = store_batch_begin(st) == 0))
            batch_fail(b, st, i + 1);
        if (!b->failed && route_message(&fx->cfg, st, &it->msg, &it->route) < 0)
            batch_fail(b, st, i + 1);
        rec_from_item(it);
        if (!b->failed && store_batch_add(st, &it->rec) < 0)
            batch_fail(b, st, i + 1);
        if (b->flush == FLUSH_EACH_ADD && !b->failed && store_batch_flush(st) < 0)
            batch_fail(b, st, i + 1);
    }
    if (!sealed && b->flush == FLUSH_AT_CALLS && !b->failed && store_batch_flush(st) < 0)
        batch_fail(b, st, to);
    if (sealed && !b->failed && store_batch_commit(st) < 0)
        batch_fail(b, st, to);
    atomic_store(&fx->worked, to);
    return !b->failed;
}

static void done(void *arg, void *batch, bool ok, uint64_t us)
{
    struct fixture *fx = arg;
    struct tbatch *b = batch;
    b->ndone++;
    b->ok = ok;
    b->done_on_loop_thread = pthread_equal(pthread_self(), fx->loop_thread);
    b->done_order = ++fx->delivered;
    struct tbatch *next = fx->next;
    if (next) {
        fx->next = NULL;
        atomic_store(&fx->worked, 0);
        gcommit_open(fx->gc, next, next->n);
        gcommit_seal(fx->gc);
    }
}

/* ---- pushes ---- */

static struct item *push(struct tbatch *b, const char *from, int64_t t, const char *type,
                         const char *event, const char *key)
{
    assert_true(b->n < MAX_ITEMS);
    struct item *it = &b->it[b->n++];
    struct wx_msg *m = &it->msg;
    memset(it, 0, sizeof(*it));
    snprintf(m->to, sizeof(m->to), "gh_test");
    snprintf(m->from, sizeof(m->from), "%s", from);
    m->create_time = t;
    m->has_create_time = true;
    snprintf(m->msg_type, sizeof(m->msg_type), "%s", type);
    snprintf(m->event, sizeof(m->event), "%s", event);
    snprintf(m->event_key, sizeof(m->event_key), "%s", key);
    if (strcmp(type, "event") != 0)
        snprintf(m->msg_id, sizeof(m->msg_id), "%lld", (long long)(t * 10));
    return it;
}

static void ev(struct tbatch *b, const char *from, int64_t t, const char *event, const char *key)
{
    push(b, from, t, "event", event, key);
}

static void text(struct tbatch *b, const char *from, int64_t t)
{
    push(b, from, t, "text", "", "");
}

static struct tbatch *batch_new(enum flush_mode flush)
{
    struct tbatch *b = calloc(1, sizeof(*b));
    assert_non_null(b);
    b->flush = flush;
    return b;
}

static void batch_free(struct tbatch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->it[i].rec.prior_reply);
        buf_free(&b->it[i].route.reply);
        wx_msg_clear(&b->it[i].msg);
    }
    free(b);
}

/* ---- fixture ---- */

static int fx_setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    char err[512];
    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/wxs-test-gcommit-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof(fx->path), "%s/t.db", fx->dir);
    fx->cfg.store_path = fx->path;
    fx->cfg.synchronous = STORE_SYNC_NORMAL;
    fx->cfg.reply_subscribe = "Welcome!";
    fx->cfg.reply_unknown_scene = "Unknown {scene}";
    /* as wxscened: the main connection and the rollups' zone first */
    assert_int_equal(store_open(&fx->st, fx->path, STORE_SYNC_NORMAL, err, sizeof(err)), 0);
    assert_int_equal(stats_open(&fx->stats, fx->st, "Asia/Shanghai", 7, NULL, err, sizeof(err)), 0);
    struct channel c = {.scene = "42",
                        .name = "Store",
                        .reply = "Hi {channel} {scene}",
                        .scan_reply = "Back at {channel}",
                        .tag = "vip"};
    assert_int_equal(channel_add(fx->st, &c, err, sizeof(err)), 0);
    fx->base = event_base_new();
    assert_non_null(fx->base);
    assert_int_equal(event_base_priority_init(fx->base, 3), 0);
    fx->loop_thread = pthread_self();
    if (gcommit_new(&fx->gc, fx->base, &fx->cfg, commit_hooks, 2, work, done, fx, &fx->gst, err,
                    sizeof(err)) < 0)
        fail_msg("gcommit_new: %s", err);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fixture *fx = *state;
    char cmd[128];
    gcommit_free(fx->gc);
    event_base_free(fx->base);
    stats_close(fx->stats);
    store_close(fx->st);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
    assert_int_equal(system(cmd), 0);
    free(fx);
    return 0;
}

/* ---- driving the loop and the thread ---- */

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct fixture *fx = arg;
    fx->timed_out = true;
}

/* Run the loop until `delivered` done() calls have been made in all (a
 * minute at most: a hang is a failure, not a timeout of ctest). */
static void loop_until_delivered(struct fixture *fx, int delivered)
{
    struct timeval tv = {.tv_sec = 60};
    struct event *deadline = evtimer_new(fx->base, on_deadline, fx);
    assert_non_null(deadline);
    assert_int_equal(evtimer_add(deadline, &tv), 0);
    while (fx->delivered < delivered && !fx->timed_out)
        assert_true(event_base_loop(fx->base, EVLOOP_ONCE) >= 0);
    event_free(deadline);
    assert_false(fx->timed_out);
    /* and nothing more is delivered for it */
    assert_true(event_base_loop(fx->base, EVLOOP_NONBLOCK) >= 0);
    assert_int_equal(fx->delivered, delivered);
}

/* Wait until the commit thread has stored n items of the open batch (the
 * loop goes on parsing meanwhile in wxscened; here it just waits). */
static void wait_worked(struct fixture *fx, size_t n)
{
    for (int i = 0; i < 60000 && atomic_load(&fx->worked) < n; i++)
        usleep(1000);
    assert_int_equal(atomic_load(&fx->worked), n);
}

static void open_batch(struct fixture *fx, struct tbatch *b, size_t n)
{
    atomic_store(&fx->worked, 0);
    assert_false(gcommit_busy(fx->gc));
    gcommit_open(fx->gc, b, n);
    assert_true(gcommit_busy(fx->gc));
}

/* ---- reading the database (from the test's connection) ---- */

static int64_t count(struct fixture *fx, const char *sql)
{
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db_sqlite_handle(store_db(fx->st)), sql, -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static void exec_on(struct store *st, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db_sqlite_handle(store_db(st)), sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
}

static const char *const rollup_queries[] = {
    "SELECT 'd', day, scene, scans, new_fans, returning_fans, unsubscribes, quick_unsubs, "
    "retained, first_scanners FROM stats_daily WHERE scans OR new_fans OR returning_fans OR "
    "unsubscribes OR quick_unsubs OR retained OR first_scanners ORDER BY 2, 3",
    "SELECT 'c', sub_day, scene, unsub_day, n FROM stats_churn WHERE n ORDER BY 2, 3, 4",
    "SELECT 'f', day, scene, prev_day, n FROM stats_scan_first WHERE n ORDER BY 2, 3, 4",
};

static const char *const store_queries[] = {
    "SELECT 'e', id, dedup_key, kind, openid, create_time, received_at, msg_type, event, "
    "event_key, scene, is_new_fan, reply FROM events ORDER BY id",
    "SELECT 'n', * FROM fans ORDER BY openid",
    "SELECT 't', openid, tag, state, event_id, reason, created_at, updated_at FROM tag_outbox "
    "ORDER BY openid, tag",
    "SELECT 's', openid, days FROM stats_scanners ORDER BY openid",
};

/* The rows of the given queries as text (malloc'd). */
static char *dump(struct fixture *fx, const char *const *q, size_t nq)
{
    size_t cap = 1 << 20, len = 0;
    char *out = calloc(1, cap);
    assert_non_null(out);
    for (size_t i = 0; i < nq; i++) {
        sqlite3_stmt *s;
        assert_int_equal(sqlite3_prepare_v2(db_sqlite_handle(store_db(fx->st)), q[i], -1, &s, NULL),
                         SQLITE_OK);
        while (sqlite3_step(s) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(s); c++) {
                const char *v = (const char *)sqlite3_column_text(s, c);
                len += (size_t)snprintf(out + len, cap - len, "%s%c", v ? v : "NULL",
                                        c + 1 < sqlite3_column_count(s) ? '|' : '\n');
                assert_true(len < cap);
            }
        }
        sqlite3_finalize(s);
    }
    return out;
}

static char *dump_all(struct fixture *fx)
{
    char *a = dump(fx, store_queries, 4), *b = dump(fx, rollup_queries, 3);
    char *out = malloc(strlen(a) + strlen(b) + 1);
    assert_non_null(out);
    strcpy(stpcpy(out, a), b);
    free(a);
    free(b);
    return out;
}

/* What the hooks wrote equals what a rebuild computes from the stored
 * events and fans. */
static void assert_rollups_equal_rebuild(struct fixture *fx)
{
    char err[256];
    char *hook = dump(fx, rollup_queries, 3);
    assert_int_equal(stats_rebuild(fx->stats, err, sizeof(err)), 0);
    char *rebuilt = dump(fx, rollup_queries, 3);
    assert_string_equal(hook, rebuilt);
    free(hook);
    free(rebuilt);
}

/* The stats_daily row of scene on T0's day, "scans,new,returning,unsubs,
 * quick,retained,first_scanners" (or "none"). */
static void assert_daily(struct fixture *fx, const char *scene, const char *want)
{
    sqlite3_stmt *s;
    char got[128] = "none";
    assert_int_equal(
        sqlite3_prepare_v2(db_sqlite_handle(store_db(fx->st)),
                           "SELECT scans || ',' || new_fans || ',' || returning_fans || ',' || "
                           "unsubscribes || ',' || quick_unsubs || ',' || retained || ',' || "
                           "first_scanners FROM stats_daily WHERE scene = ?1 AND day = "
                           "(SELECT max(day) FROM stats_daily)",
                           -1, &s, NULL),
        SQLITE_OK);
    sqlite3_bind_text(s, 1, scene, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW)
        snprintf(got, sizeof(got), "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    print_message("stats_daily '%s': %s\n", scene, got);
    assert_string_equal(got, want);
}

static void assert_first(const struct item *it, const char *reply)
{
    assert_false(it->rec.duplicate);
    assert_true(it->rec.event_id > 0);
    if (reply)
        assert_string_equal(it->rec.reply, reply);
    else
        assert_null(it->rec.reply);
}

static void assert_retry(const struct item *it, const char *first_reply)
{
    assert_true(it->rec.duplicate);
    if (first_reply)
        assert_string_equal(it->rec.prior_reply, first_reply);
    else
        assert_null(it->rec.prior_reply);
}

/* ---- the scenario ---- */

/* Fourteen pushes: two scene subscribes, an organic one, eight more scene
 * subscribes, a SCAN by a fan of this batch, an unsubscribe of a fan of this
 * batch, a text message. */
static struct tbatch *batch_a(enum flush_mode flush)
{
    struct tbatch *b = batch_new(flush);
    char id[16];
    ev(b, "oA", T0, "subscribe", "qrscene_42");
    ev(b, "oB", T0 + 1, "subscribe", "qrscene_42");
    ev(b, "oC", T0 + 2, "subscribe", "");
    for (int i = 0; i < 8; i++) {
        snprintf(id, sizeof(id), "oF%d", i);
        ev(b, id, T0 + 10 + i, "subscribe", "qrscene_42");
    }
    ev(b, "oA", T0 + 30, "SCAN", "42");
    ev(b, "oB", T0 + 40, "unsubscribe", "");
    text(b, "oE", T0 + 50);
    return b;
}

/* Retries of a subscribe and of the message of batch A around the same
 * fan's new subscribe. */
static struct tbatch *batch_b(enum flush_mode flush)
{
    struct tbatch *b = batch_new(flush);
    ev(b, "oB", T0 + 1, "subscribe", "qrscene_42");
    ev(b, "oB", T0 + 100, "subscribe", "qrscene_42");
    text(b, "oE", T0 + 50);
    return b;
}

/* Batch A fed in three steps (3, then 9 more: the thread is woken every 8,
 * then the last 2 with the seal), batch B opened and sealed from A's
 * done(), the way on_committed() opens the batch that gathered meanwhile. */
static void run_a_then_b(struct fixture *fx, struct tbatch *a, struct tbatch *b)
{
    open_batch(fx, a, 3);
    wait_worked(fx, 3);
    gcommit_more(fx->gc, 12);
    wait_worked(fx, 12);
    gcommit_more(fx->gc, 14);
    fx->next = b;
    gcommit_seal(fx->gc);
    loop_until_delivered(fx, 2);
}

static void test_batches_fed_in_steps_commit_in_order(void **state)
{
    struct fixture *fx = *state;
    struct tbatch *a = batch_a(FLUSH_AT_CALLS), *b = batch_b(FLUSH_AT_CALLS);
    run_a_then_b(fx, a, b);

    /* each batch delivered once, in order, on the loop thread, committed */
    assert_int_equal(a->ndone, 1);
    assert_int_equal(b->ndone, 1);
    assert_int_equal(a->done_order, 1);
    assert_int_equal(b->done_order, 2);
    assert_true(a->done_on_loop_thread);
    assert_true(b->done_on_loop_thread);
    assert_true(a->ok);
    assert_true(b->ok);
    assert_int_equal(a->failed_at, 0);
    assert_false(gcommit_busy(fx->gc));

    /* A was stored while it was fed: items [0,3) then [3,12) before the
     * seal, the rest up to 14 with (or before) the seal; each item once */
    assert_false(a->too_many_calls);
    assert_true(a->ncalls >= 3);
    assert_int_equal(a->calls[0].from, 0);
    assert_int_equal(a->calls[0].to, 3);
    assert_false(a->calls[0].sealed);
    assert_int_equal(a->calls[1].from, 3);
    assert_int_equal(a->calls[1].to, 12);
    assert_false(a->calls[1].sealed);
    for (size_t k = 1; k < a->ncalls; k++)
        assert_int_equal(a->calls[k].from, a->calls[k - 1].to);
    assert_int_equal(a->calls[a->ncalls - 1].to, 14);
    for (size_t k = 0; k < a->ncalls; k++)
        assert_int_equal(a->calls[k].sealed, k == a->ncalls - 1);

    /* A's answers: every push a first delivery with its routed reply */
    assert_first(&a->it[0], "Hi Store 42");
    assert_first(&a->it[1], "Hi Store 42");
    assert_first(&a->it[2], "Welcome!");
    for (int i = 3; i < 11; i++)
        assert_first(&a->it[i], "Hi Store 42");
    assert_first(&a->it[11], "Back at Store");
    assert_first(&a->it[12], NULL);
    assert_first(&a->it[13], NULL);
    for (int i = 1; i < 14; i++) /* stored in the order handed over */
        assert_true(a->it[i].rec.event_id > a->it[i - 1].rec.event_id);

    /* B: the retries answered with the first delivery's reply */
    assert_retry(&b->it[0], "Hi Store 42");
    assert_first(&b->it[1], "Hi Store 42");
    assert_true(b->it[1].rec.event_id > a->it[13].rec.event_id);
    assert_retry(&b->it[2], NULL);

    assert_int_equal(count(fx, "SELECT count(*) FROM events"), 15);
    assert_int_equal(count(fx, "SELECT count(*) FROM events WHERE openid = 'oB'"), 3);
    assert_int_equal(count(fx, "SELECT count(*) FROM fans WHERE openid = 'oB' AND subscribed = 1 "
                               "AND subscribe_count = 2 AND first_scene = '42'"),
                     1);
    /* the tag hook ran on the committer's connection: one row per fan of
     * the tagged channel, oB's cancelled by its unsubscribe and re-armed */
    assert_int_equal(count(fx, "SELECT count(*) FROM tag_outbox WHERE tag = 'vip' AND "
                               "state = 'pending'"),
                     10);
    assert_int_equal(count(fx, "SELECT count(*) FROM tag_outbox"), 10);

    /* the rollups of the 13 events (the message has none): scene 42 had 12
     * scans (11 subscribes + 1 SCAN), 10 new fans, oB back once, oB's quick
     * unsubscribe, 10 retained, 10 distinct scanners; the organic row one
     * new, retained fan */
    assert_daily(fx, "42", "12,10,1,1,1,10,10");
    assert_daily(fx, "", "0,1,0,0,0,1,0");
    assert_int_equal(count(fx, "SELECT count(*) FROM stats_daily"), 2);
    assert_rollups_equal_rebuild(fx);
    batch_free(a);
    batch_free(b);
}

/* A retry in a later batch, after the channel's reply changed: the first
 * reply, not the one routing gives now. */
static void test_retry_in_later_batch_gets_first_reply(void **state)
{
    struct fixture *fx = *state;
    struct tbatch *a = batch_new(FLUSH_AT_CALLS), *c = batch_new(FLUSH_AT_CALLS);
    ev(a, "oR", T0, "subscribe", "qrscene_42");
    open_batch(fx, a, 1);
    gcommit_seal(fx->gc);
    loop_until_delivered(fx, 1);
    assert_true(a->ok);
    assert_first(&a->it[0], "Hi Store 42");

    exec_on(fx->st, "UPDATE channels SET reply = 'Changed {scene}' WHERE scene = '42'");
    ev(c, "oR", T0, "subscribe", "qrscene_42");
    ev(c, "oS", T0 + 1, "subscribe", "qrscene_42");
    open_batch(fx, c, 2);
    gcommit_seal(fx->gc);
    loop_until_delivered(fx, 2);
    assert_true(c->ok);
    assert_retry(&c->it[0], "Hi Store 42");
    assert_first(&c->it[1], "Changed 42");
    assert_int_equal(count(fx, "SELECT count(*) FROM events"), 2);
    assert_daily(fx, "42", "2,2,0,0,0,2,2");
    batch_free(a);
    batch_free(c);
}

/* A push that fails in the middle of a batch (the first pushes stored and
 * their rollups flushed by an earlier work call, the push before it stored
 * with its rollups still held back) rolls the whole batch back: nothing of
 * it in any table, done(ok = false). The next batch commits, its pushes are
 * first deliveries, and no rollup of the failed batch reaches it. */
static void test_failure_mid_batch_rolls_back_all(void **state)
{
    struct fixture *fx = *state;
    struct tbatch *p = batch_new(FLUSH_AT_CALLS), *bad = batch_new(FLUSH_AT_CALLS),
                  *again = batch_new(FLUSH_AT_CALLS);
    /* something stored first, so "unchanged" compares real rows */
    ev(p, "oP", T0, "subscribe", "qrscene_42");
    ev(p, "oP", T0 + 5, "SCAN", "42");
    open_batch(fx, p, 2);
    gcommit_seal(fx->gc);
    loop_until_delivered(fx, 1);
    assert_true(p->ok);
    char *before = dump_all(fx);

    /* on the committer's connection, idle between batches */
    exec_on(fx->gst, "CREATE TEMP TRIGGER boom BEFORE INSERT ON main.events "
                     "WHEN NEW.openid = 'oBad' BEGIN SELECT RAISE(ABORT, 'boom'); END");
    ev(bad, "oG1", T0 + 10, "subscribe", "qrscene_42");
    ev(bad, "oP", T0 + 11, "unsubscribe", "");
    ev(bad, "oG3", T0 + 12, "subscribe", "qrscene_42");
    ev(bad, "oBad", T0 + 12, "subscribe", "qrscene_42");
    ev(bad, "oG2", T0 + 13, "subscribe", "");
    open_batch(fx, bad, 2);
    wait_worked(fx, 2);      /* oG1 and oP stored, their deltas flushed */
    gcommit_more(fx->gc, 5); /* oG3's deltas are still held when oBad fails */
    gcommit_seal(fx->gc);
    loop_until_delivered(fx, 2);
    assert_int_equal(bad->ndone, 1);
    assert_false(bad->ok);
    assert_true(bad->done_on_loop_thread);
    assert_int_equal(bad->failed_at, 4);
    char *after = dump_all(fx);
    assert_string_equal(before, after);
    free(after);

    exec_on(fx->gst, "DROP TRIGGER temp.boom");
    ev(again, "oG1", T0 + 10, "subscribe", "qrscene_42");
    ev(again, "oP", T0 + 11, "unsubscribe", "");
    ev(again, "oG2", T0 + 13, "subscribe", "");
    open_batch(fx, again, 1);
    wait_worked(fx, 1);
    gcommit_more(fx->gc, 3);
    gcommit_seal(fx->gc);
    loop_until_delivered(fx, 3);
    assert_true(again->ok);
    assert_int_equal(again->failed_at, 0);
    assert_first(&again->it[0], "Hi Store 42");
    assert_first(&again->it[1], NULL);
    assert_first(&again->it[2], "Welcome!");
    assert_int_equal(count(fx, "SELECT count(*) FROM events"), 5);
    assert_int_equal(count(fx, "SELECT count(*) FROM events WHERE openid = 'oBad'"), 0);
    /* 42: oP's subscribe and SCAN, oG1's subscribe; oP left after 11 s */
    assert_daily(fx, "42", "3,2,0,1,1,1,2");
    assert_daily(fx, "", "0,1,0,0,0,1,0");
    assert_int_equal(count(fx, "SELECT count(*) FROM tag_outbox WHERE state = 'pending'"), 1);
    assert_rollups_equal_rebuild(fx);
    free(before);
    batch_free(p);
    batch_free(bad);
    batch_free(again);
}

/* The same pushes stored with store_batch_flush() after every add, as the
 * server does (after each unsealed work call), and never before the commit:
 * the same rows in every table, and the rollups a rebuild computes. */
static void test_flush_between_adds_same_results(void **state)
{
    static const enum flush_mode modes[] = {FLUSH_EACH_ADD, FLUSH_AT_CALLS, FLUSH_NEVER};
    char *first = NULL;
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        struct fixture *fx = NULL;
        print_message("flush mode %d\n", (int)modes[m]);
        fx_setup((void **)&fx);
        struct tbatch *a = batch_a(modes[m]), *b = batch_b(modes[m]);
        run_a_then_b(fx, a, b);
        assert_true(a->ok);
        assert_true(b->ok);
        assert_daily(fx, "42", "12,10,1,1,1,10,10");
        char *rows = dump_all(fx);
        if (!first)
            first = rows;
        else {
            assert_string_equal(first, rows);
            free(rows);
        }
        assert_rollups_equal_rebuild(fx);
        batch_free(a);
        batch_free(b);
        fx_teardown((void **)&fx);
    }
    free(first);
}

/* gcommit_stop() with a batch open and not sealed (the server stopping
 * mid-turn): the batch is sealed, committed and its done() delivered on the
 * caller's thread before stop returns, once. */
static void test_stop_delivers_open_batch(void **state)
{
    struct fixture *fx = *state;
    struct tbatch *b = batch_new(FLUSH_AT_CALLS);
    char id[16];
    for (int i = 0; i < 7; i++) {
        snprintf(id, sizeof(id), "oStop%d", i);
        ev(b, id, T0 + i, "subscribe", "qrscene_42");
    }
    open_batch(fx, b, 5);
    wait_worked(fx, 5);
    gcommit_more(fx->gc, 7); /* fewer than 8: the thread is not woken */
    gcommit_stop(fx->gc);
    assert_int_equal(b->ndone, 1);
    assert_true(b->ok);
    assert_true(b->done_on_loop_thread);
    assert_false(gcommit_busy(fx->gc));
    assert_true(b->calls[b->ncalls - 1].sealed);
    assert_int_equal(b->calls[b->ncalls - 1].to, 7);
    assert_int_equal(count(fx, "SELECT count(*) FROM events WHERE openid LIKE 'oStop%'"), 7);
    assert_daily(fx, "42", "7,7,0,0,0,7,7");
    /* the wake-up it left in the pipe delivers nothing more */
    assert_true(event_base_loop(fx->base, EVLOOP_NONBLOCK) >= 0);
    assert_int_equal(b->ndone, 1);
    gcommit_stop(fx->gc); /* a second stop is a no-op */
    assert_int_equal(b->ndone, 1);
    batch_free(b);
}

/* gcommit_stop() right after the seal, before the loop ran: the batch's
 * done() still comes, once, before stop returns. */
static void test_stop_delivers_sealed_batch(void **state)
{
    struct fixture *fx = *state;
    struct tbatch *b = batch_new(FLUSH_AT_CALLS);
    ev(b, "oSealed", T0, "subscribe", "qrscene_42");
    text(b, "oSealed", T0 + 1);
    open_batch(fx, b, 2);
    gcommit_seal(fx->gc);
    gcommit_stop(fx->gc);
    assert_int_equal(b->ndone, 1);
    assert_true(b->ok);
    assert_true(b->done_on_loop_thread);
    assert_true(event_base_loop(fx->base, EVLOOP_NONBLOCK) >= 0);
    assert_int_equal(b->ndone, 1);
    assert_int_equal(count(fx, "SELECT count(*) FROM events WHERE openid = 'oSealed'"), 2);
    batch_free(b);
}

/* gcommit_stop() with nothing open delivers nothing. */
static void test_stop_idle_delivers_nothing(void **state)
{
    struct fixture *fx = *state;
    gcommit_stop(fx->gc);
    assert_true(event_base_loop(fx->base, EVLOOP_NONBLOCK) >= 0);
    assert_int_equal(fx->delivered, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batches_fed_in_steps_commit_in_order, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_retry_in_later_batch_gets_first_reply, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_failure_mid_batch_rolls_back_all, fx_setup,
                                        fx_teardown),
        cmocka_unit_test(test_flush_between_adds_same_results),
        cmocka_unit_test_setup_teardown(test_stop_delivers_open_batch, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stop_delivers_sealed_batch, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_stop_idle_delivers_nothing, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
