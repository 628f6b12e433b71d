#include "store_ckpt.h"

#include "db_sqlite.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

struct store_ckpt {
    sqlite3 *writer;      /* the store's connection (the commit thread's) */
    struct db *writer_db; /* the same, as db.h knows it */
    sqlite3 *db;          /* the helper's own connection */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool wanted, stop, started;
    int inline_at; /* WAL pages for the next inline pass (commit thread only) */
    _Atomic uint64_t passes, inline_passes;
};

/* Runs on the loop thread after every commit, with the WAL's size in
 * pages: wake the helper, or checkpoint here when it is far behind. */
static void wake_helper(struct store_ckpt *c)
{
    pthread_mutex_lock(&c->mu);
    if (!c->wanted) {
        c->wanted = true;
        pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

/* Runs on the commit thread after every commit, with the WAL's size in
 * pages: wake the helper, or checkpoint here when it is far behind. */
static int on_wal(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct store_ckpt *c = arg;
    if (pages < STORE_CKPT_HARD_PAGES)
        c->inline_at = STORE_CKPT_HARD_PAGES; /* the WAL was reset */
    if (pages >= c->inline_at) {
        /* Without waiting for readers: RESTART would sleep in the busy
         * handler until every reader ended (a statistics report on an
         * admin worker runs for a second over a large store) while the
         * commit thread and every push of its batch wait: push p99 went
         * from 4 ms to 600 ms (bench/admin_under_load.sh). Without a
         * handler it copies what it can and answers SQLITE_BUSY.
         *
         * While readers keep the WAL from restarting (statistics reports
         * back to back), a pass on every commit cost two fsyncs each and
         * halved the pushes (27k/s -> 16k/s): after a BUSY the next pass
         * here waits for STORE_CKPT_PAGES more pages, and the helper
         * copies meanwhile. */
        sqlite3_busy_handler(db, NULL, NULL);
        int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
        sqlite3_busy_timeout(db, db_sqlite_busy_timeout(c->writer_db));
        c->inline_passes++;
        c->inline_at = rc == SQLITE_BUSY ? pages + STORE_CKPT_PAGES : STORE_CKPT_HARD_PAGES;
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            log_warn("store: checkpoint: %s", sqlite3_errmsg(db));
        return SQLITE_OK;
    }
    if (pages >= STORE_CKPT_PAGES)
        wake_helper(c);
    return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
    struct store_ckpt *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->wanted && !c->stop)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->stop)
            break;
        c->wanted = false;
        pthread_mutex_unlock(&c->mu);
        int rc = sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            log_warn("store: background checkpoint: %s", sqlite3_errmsg(c->db));
        c->passes++;
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* The helper's connection: same file, same synchronous level (it decides
 * the fsyncs of the checkpoint). */
static int ckpt_open(struct store_ckpt *c, char *err, size_t errlen)
{
    const char *path = sqlite3_db_filename(c->writer, "main");
    sqlite3_stmt *s = NULL;
    int sync = 1;
    if (sqlite3_prepare_v2(c->writer, "PRAGMA synchronous", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        sync = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    char sql[48];
    snprintf(sql, sizeof(sql), "PRAGMA synchronous = %d", sync);
    if (!path || !*path ||
        sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "checkpointer: cannot open %s: %s", path ? path : "?",
                 c->db ? sqlite3_errmsg(c->db) : "out of memory");
        return -1;
    }
    sqlite3_busy_timeout(c->db, 1000);
    return 0;
}

int store_ckpt_start(struct store_ckpt **out, struct store *st, char *err, size_t errlen)
{
    struct store_ckpt *c = calloc(1, sizeof(*c));
    if (!c)
        return snprintf(err, errlen, "out of memory"), -1;
    c->writer = db_sqlite_handle(store_db(st));
    c->writer_db = store_db(st);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    if (ckpt_open(c, err, errlen) < 0)
        goto fail;
    if (pthread_create(&c->thread, NULL, ckpt_main, c) != 0) {
        snprintf(err, errlen, "checkpointer: cannot start a thread");
        goto fail;
    }
    c->started = true;
    sqlite3_wal_hook(c->writer, on_wal, c); /* replaces SQLite's automatic checkpoint */
    *out = c;
    return 0;
fail:
    store_ckpt_stop(c);
    return -1;
}

void store_ckpt_stop(struct store_ckpt *c)
{
    if (!c)
        return;
    if (c->started) {
        sqlite3_wal_autocheckpoint(c->writer, 1000); /* SQLite's default, hook removed */
        pthread_mutex_lock(&c->mu);
        c->stop = true;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
    }
    sqlite3_close(c->db);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

uint64_t store_ckpt_passes(const struct store_ckpt *c)
{
    return c ? c->passes : 0;
}

uint64_t store_ckpt_inline(const struct store_ckpt *c)
{
    return c ? c->inline_passes : 0;
}
