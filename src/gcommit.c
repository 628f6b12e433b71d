#include "gcommit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loop_wake.h"

struct gcommit {
    struct store *st;      /* the thread's connection */
    struct loop_wake wake; /* "a batch is done", to the loop */
    pthread_t thread;
    bool started;
    gcommit_work_fn work;
    gcommit_done_fn done;
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    void *batch;   /* set by the loop, worked on by the thread */
    bool busy;     /* submitted, not yet delivered (the loop's view) */
    bool pending;  /* submitted, not yet taken by the thread */
    bool finished; /* worked on, not yet delivered */
    bool ok;
    uint64_t us;
    bool stopping;
};

static void *gcommit_main(void *arg)
{
    struct gcommit *g = arg;
    pthread_mutex_lock(&g->mu);
    for (;;) {
        while (!g->pending && !g->stopping)
            pthread_cond_wait(&g->cond, &g->mu);
        if (!g->pending)
            break;
        g->pending = false;
        void *batch = g->batch;
        pthread_mutex_unlock(&g->mu);
        uint64_t t0 = util_mono_us();
        bool ok = g->work(g->arg, g->st, batch);
        uint64_t us = util_mono_us() - t0;
        pthread_mutex_lock(&g->mu);
        g->ok = ok;
        g->us = us;
        g->finished = true;
        pthread_cond_broadcast(&g->cond);
        loop_wake_signal(&g->wake);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* Loop thread: hand a finished batch to done(); done may submit the next. */
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

void gcommit_submit(struct gcommit *g, void *batch)
{
    pthread_mutex_lock(&g->mu);
    g->batch = batch;
    g->pending = true;
    g->busy = true;
    pthread_cond_signal(&g->cond);
    pthread_mutex_unlock(&g->mu);
}

void gcommit_stop(struct gcommit *g)
{
    if (!g || !g->started)
        return;
    pthread_mutex_lock(&g->mu);
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
