/* store_ckpt against a real SQLite file: with the checkpointer attached,
 * group commits no longer checkpoint by themselves, the helper thread does,
 * the WAL is reset instead of growing, every committed event is in the
 * database, and SQLite's automatic checkpoint is back after stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "db_sqlite.h"
#include "store.h"
#include "stats.h"
#include "tag.h"
#include "store_ckpt.h"

struct fixture {
    char dir[64];
    char path[96];
    char wal[112];
    struct store *st;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[256];
    snprintf(f->dir, sizeof(f->dir), "/tmp/wxs-unit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
    snprintf(f->wal, sizeof(f->wal), "%s-wal", f->path);
    assert_int_equal(store_open(&f->st, f->path, STORE_SYNC_NORMAL, err, sizeof(err)), 0);
    assert_int_equal(store_hook_add(f->st, tag_outbox_hook), 0);
    assert_int_equal(store_hook_add(f->st, stats_event_hook), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char p[128];
    store_close(f->st);
    unlink(f->path);
    unlink(f->wal);
    snprintf(p, sizeof(p), "%s-shm", f->path);
    unlink(p);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* n distinct subscribe events in batches of 50, openids from base spread
 * over the key space as real ones are (each commit touches many pages). */
static void commit_events(struct store *st, int base, int n)
{
    struct event_rec recs[50];
    char keys[50][64], ids[50][32];
    for (int done = 0; done < n;) {
        int k = n - done < 50 ? n - done : 50;
        for (int i = 0; i < k; i++) {
            int id = base + done + i;
            snprintf(ids[i], sizeof(ids[i]), "o%08x%d", (unsigned)id * 2654435761u, id);
            snprintf(keys[i], sizeof(keys[i]), "e|%s|%d|subscribe|qrscene_7", ids[i], id);
            recs[i] = (struct event_rec){.dedup_key = keys[i],
                                         .kind = EV_SUBSCRIBE,
                                         .openid = ids[i],
                                         .create_time = 1700000000 + id,
                                         .msg_type = "event",
                                         .event = "subscribe",
                                         .event_key = "qrscene_7",
                                         .scene = "7",
                                         .reply = "Welcome",
                                         .received_at = 1700000000 + id};
        }
        assert_int_equal(store_commit_events(st, recs, (size_t)k), 0);
        for (int i = 0; i < k; i++)
            free(recs[i].prior_reply);
        done += k;
    }
}

static int64_t count_events(struct store *st)
{
    sqlite3_stmt *s;
    int64_t n = -1;
    assert_int_equal(sqlite3_prepare_v2(db_sqlite_handle(store_db(st)),
                                        "SELECT count(*) FROM events", -1, &s, NULL),
                     SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
}

/* Frames in the WAL right now (a PASSIVE checkpoint of nothing reports it). */
static int wal_frames(struct store *st)
{
    int log = -1, ckpt = -1;
    sqlite3_wal_checkpoint_v2(db_sqlite_handle(store_db(st)), "main", SQLITE_CHECKPOINT_PASSIVE,
                              &log, &ckpt);
    return log;
}

/* Until the helper has made at_least passes and then stayed idle for
 * 100 ms: a pass that was already running during the last commit is
 * followed by one that sees it, and only a pass that copied everything lets
 * the next commit start the WAL over. A loaded CI machine can take seconds
 * per pass: while passes keep coming, wait up to 20 s; when none is due
 * (a WAL under the helper's threshold), give up after 3 quiet seconds. */
static void wait_for_passes(struct store_ckpt *c, uint64_t at_least)
{
    uint64_t last = store_ckpt_passes(c);
    int quiet = 0;
    for (int i = 0; i < 2000 && (last < at_least || quiet < 10) && quiet < 300; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        uint64_t now = store_ckpt_passes(c);
        quiet = now == last ? quiet + 1 : 0;
        last = now;
    }
}

static void test_helper_checkpoints_and_wal_is_reused(void **state)
{
    struct fixture *f = *state;
    struct store_ckpt *c = NULL;
    char err[256];
    assert_int_equal(store_ckpt_start(&c, f->st, err, sizeof(err)), 0);
    /* Enough events to pass STORE_CKPT_PAGES several times over. */
    commit_events(f->st, 0, 6000);
    wait_for_passes(c, 1);
    assert_true(store_ckpt_passes(c) >= 1);
    assert_int_equal(store_ckpt_inline(c), 0);
    /* Once the helper has caught up, the next commit starts the WAL over:
     * its file stops growing while the events keep coming. */
    commit_events(f->st, 6000, 50);
    wait_for_passes(c, store_ckpt_passes(c) + 1);
    struct stat before, after;
    assert_int_equal(stat(f->wal, &before), 0);
    for (int round = 0; round < 5; round++) {
        commit_events(f->st, 10000 + round * 2000, 2000);
        wait_for_passes(c, store_ckpt_passes(c) + 1);
    }
    assert_int_equal(stat(f->wal, &after), 0);
    assert_true(after.st_size <= before.st_size + 4 * 1024 * 1024);
    assert_true(wal_frames(f->st) < STORE_CKPT_HARD_PAGES);
    assert_int_equal(count_events(f->st), 6000 + 50 + 5 * 2000);
    store_ckpt_stop(c);
}

/* WAL frames as the file holds them (no checkpoint call, unlike
 * wal_frames(), so the inline passes counted are the writer's own). */
static long wal_file_frames(const struct fixture *f)
{
    struct stat sb;
    return stat(f->wal, &sb) == 0 && sb.st_size > 32 ? (sb.st_size - 32) / (24 + 4096) : 0;
}

/* A reader holding its snapshot (a statistics report) keeps the WAL from
 * starting over. Past STORE_CKPT_HARD_PAGES the commit thread checkpoints
 * in place, but after a pass that could not finish it waits for
 * STORE_CKPT_PAGES more pages: not one pass (two fsyncs) per commit. Once
 * the reader is gone the WAL starts over again. */
static void test_inline_passes_are_spaced_while_a_reader_holds_the_wal(void **state)
{
    struct fixture *f = *state;
    struct store_ckpt *c = NULL;
    sqlite3 *reader;
    sqlite3_stmt *s;
    char err[256];
    assert_int_equal(store_ckpt_start(&c, f->st, err, sizeof(err)), 0);
    commit_events(f->st, 0, 50); /* the schema is in the database */
    assert_int_equal(sqlite3_open_v2(f->path, &reader, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(reader, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(reader, "SELECT count(*) FROM events", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(s, 0), 50);
    sqlite3_finalize(s);
    int id = 50, past_hard = 0;
    while (wal_file_frames(f) < STORE_CKPT_HARD_PAGES + 3 * STORE_CKPT_PAGES) {
        commit_events(f->st, id, 50);
        id += 50;
        past_hard += wal_file_frames(f) >= STORE_CKPT_HARD_PAGES;
        assert_true(id < 400000);
    }
    uint64_t passes = store_ckpt_inline(c);
    long grown = wal_file_frames(f) - STORE_CKPT_HARD_PAGES;
    /* One pass when the mark is crossed, then at most one per
     * STORE_CKPT_PAGES of growth (each commit here adds ~120 pages). */
    assert_true(passes >= 1);
    assert_true(passes <= (uint64_t)(grown / STORE_CKPT_PAGES) + 2);
    assert_true(past_hard > 2 * (int)passes);
    /* The reader still sees its snapshot: nothing was reset under it. */
    assert_int_equal(sqlite3_prepare_v2(reader, "SELECT count(*) FROM events", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(s, 0), 50);
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_exec(reader, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(reader);
    /* Reader gone: the helper catches up and the next commits start over. */
    for (int round = 0; round < 5 && wal_frames(f->st) >= STORE_CKPT_HARD_PAGES; round++) {
        wait_for_passes(c, store_ckpt_passes(c) + 1);
        commit_events(f->st, id, 50);
        id += 50;
    }
    assert_true(wal_frames(f->st) < STORE_CKPT_HARD_PAGES);
    assert_int_equal(count_events(f->st), id);
    store_ckpt_stop(c);
}

static void test_stop_gives_back_automatic_checkpoints(void **state)
{
    struct fixture *f = *state;
    struct store_ckpt *c = NULL;
    char err[256];
    assert_int_equal(store_ckpt_start(&c, f->st, err, sizeof(err)), 0);
    store_ckpt_stop(c);
    commit_events(f->st, 0, 6000);
    /* SQLite's own checkpoint (1000 pages) ran inside the commits. */
    assert_true(wal_frames(f->st) < 1500);
    assert_int_equal(count_events(f->st), 6000);
    store_ckpt_stop(NULL);
}

static void test_start_fails_cleanly_without_a_file(void **state)
{
    struct store *mem = NULL;
    struct store_ckpt *c = NULL;
    char err[256] = "";
    assert_int_equal(store_open(&mem, ":memory:", STORE_SYNC_NORMAL, err, sizeof(err)), 0);
    assert_int_equal(store_ckpt_start(&c, mem, err, sizeof(err)), -1);
    assert_null(c);
    assert_non_null(strstr(err, "checkpointer"));
    store_close(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_helper_checkpoints_and_wal_is_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inline_passes_are_spaced_while_a_reader_holds_the_wal,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_gives_back_automatic_checkpoints, setup,
                                        teardown),
        cmocka_unit_test(test_start_fails_cleanly_without_a_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
