#include "gcommit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop_wake.h"

/* A waiting thread is woken once this many items are ready (or at the
 * seal): a wake-up costs the loop a futex call and the thread a switch, so
 * items are handed over a few at a time. */
#define GCOMMIT_WAKE_EVERY 8

struct gcommit {
    struct store *st;      /* the thread's connection */
    struct loop_wake wake; /* "a batch is done", to the loop */
    pthread_t thread;
    bool started;
    gcommit_work_fn work;
    gcommit_done_fn done;
    void *arg;
    bool busy;          /* opened, not yet delivered (the loop's view) */
    pthread_mutex_t mu; /* guards the rest */
    pthread_cond_t cond;
    void *batch;   /* the open or committing batch */
    bool open;     /* batch is the thread's until it is finished */
    size_t ready;  /* items the loop has handed over */
    size_t taken;  /* items the thread has worked on or is working on */
    bool sealed;   /* no more items */
    bool waiting;  /* the thread sleeps on cond */
    bool finished; /* worked on and sealed, not yet delivered */
    bool ok;
    uint64_t us; /* the thread's time on the batch */
    bool stopping;
};

static bool has_work(const struct gcommit *g)
{
    return g->open && (g->ready > g->taken || g->sealed);
}

static void *gcommit_main(void *arg)
{
    struct gcommit *g = arg;
    pthread_mutex_lock(&g->mu);
    for (;;) {
        while (!has_work(g) && !g->stopping) {
            g->waiting = true;
            pthread_cond_wait(&g->cond, &g->mu);
            g->waiting = false;
        }
        if (!has_work(g))
            break;
        size_t from = g->taken, to = g->ready;
        bool sealed = g->sealed;
        void *batch = g->batch;
        g->taken = to;
        pthread_mutex_unlock(&g->mu);
        uint64_t t0 = util_mono_us();
        bool ok = g->work(g->arg, g->st, batch, from, to, sealed);
        uint64_t us = util_mono_us() - t0;
        pthread_mutex_lock(&g->mu);
        g->us += us;
        if (sealed) {
            g->open = false;
            g->ok = ok;
            g->finished = true;
            pthread_cond_broadcast(&g->cond);
            loop_wake_signal(&g->wake);
        }
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* Loop thread: hand a finished batch to done(); done may open the next. */
static void deliver(void *arg)
{
    struct gcommit *g = arg;
    pthread_mutex_lock(&g->mu);
    bool finished = g->finished;
    void *batch = g->batch;
    bool ok = g->ok;
    uint64_t us = g->us;
    g->finished = false;
    pthread_mutex_unlock(&g->mu);
    if (!finished)
        return;
    g->busy = false;
    g->done(g->arg, batch, ok, us);
}

int gcommit_new(struct gcommit **out, struct event_base *base, const struct cfg *cfg,
                gcommit_work_fn work, gcommit_done_fn done, void *arg, struct store **st_out,
                char *err, size_t errlen)
{
    struct gcommit *g = calloc(1, sizeof(*g));
    if (!g)
        return snprintf(err, errlen, "out of memory"), -1;
    g->work = work;
    g->done = done;
    g->arg = arg;
    loop_wake_clear(&g->wake);
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cond, NULL);
    if (store_open(&g->st, cfg->store_path, cfg->synchronous, err, errlen) < 0)
        goto fail;
    sqlite3_busy_timeout(store_db(g->st), 1000);
    /* Highest priority: a durable batch is answered before the loop turn's
     * other reads are handled, so its senders' next pushes come sooner (the
     * clients wait for their replies; the batch's round trip is the limit).
     * Measured: +2.5 % req/s under wrk -c64. */
    if (loop_wake_init(&g->wake, base, 0, deliver, g, "group commit", err, errlen) < 0)
        goto fail;
    if (pthread_create(&g->thread, NULL, gcommit_main, g) != 0) {
        snprintf(err, errlen, "group commit: cannot start the thread");
        goto fail;
    }
    g->started = true;
    *st_out = g->st;
    *out = g;
    return 0;
fail:
    gcommit_free(g);
    return -1;
}

bool gcommit_busy(const struct gcommit *g)
{
    return g->busy;
}

void gcommit_open(struct gcommit *g, void *batch, size_t n)
{
    pthread_mutex_lock(&g->mu);
    g->batch = batch;
    g->open = true;
    g->ready = n;
    g->taken = 0;
    g->sealed = false;
    g->us = 0;
    g->busy = true;
    pthread_cond_signal(&g->cond);
    pthread_mutex_unlock(&g->mu);
}

void gcommit_more(struct gcommit *g, size_t n)
{
    pthread_mutex_lock(&g->mu);
    g->ready = n;
    if (g->waiting && n - g->taken >= GCOMMIT_WAKE_EVERY)
        pthread_cond_signal(&g->cond);
    pthread_mutex_unlock(&g->mu);
}

void gcommit_seal(struct gcommit *g)
{
    pthread_mutex_lock(&g->mu);
    g->sealed = true;
    pthread_cond_signal(&g->cond);
    pthread_mutex_unlock(&g->mu);
}

void gcommit_stop(struct gcommit *g)
{
    if (!g || !g->started)
        return;
    pthread_mutex_lock(&g->mu);
    if (g->open)
        g->sealed = true;
    pthread_cond_signal(&g->cond);
    while (g->busy && !g->finished)
        pthread_cond_wait(&g->cond, &g->mu);
    g->stopping = true;
    pthread_cond_signal(&g->cond);
    pthread_mutex_unlock(&g->mu);
    pthread_join(g->thread, NULL);
    g->started = false;
    if (g->busy)
        deliver(g);
}

void gcommit_free(struct gcommit *g)
{
    if (!g)
        return;
    gcommit_stop(g);
    loop_wake_free(&g->wake);
    store_close(g->st);
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->mu);
    free(g);
}
