#include "tagworker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store.h"
#include "tag.h"

struct tagworker {
    const struct cfg *cfg;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled on stop; waits use CLOCK_MONOTONIC */
    atomic_bool stop;
    char last_error[sizeof(((struct tag_report *)0)->error)];
};

/* One line when a sweep did something, and a failure once until it changes
 * (a tag blocked for hours must not write a line every 5 seconds). */
static void report(struct tagworker *tw, const struct tag_report *r)
{
    if (r->calls || r->parked || r->reclaimed)
        log_info("tag: %llu tagged, %llu parked, %llu to retry in %llu calls (%llu taken back); "
                 "%llu pending",
                 (unsigned long long)r->tagged, (unsigned long long)r->parked,
                 (unsigned long long)r->retried, (unsigned long long)r->calls,
                 (unsigned long long)r->reclaimed, (unsigned long long)r->pending);
    if (r->error[0] && (r->calls || strcmp(r->error, tw->last_error) != 0))
        log_warn("tag: %s (%llu fans wait for a later try)", r->error,
                 (unsigned long long)r->pending);
    util_strlcpy(tw->last_error, r->error, sizeof(tw->last_error));
}

/* Sleep up to the interval; false once a stop was asked for. */
static bool wait_interval(struct tagworker *tw)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)tw->cfg->tag_interval;
    pthread_mutex_lock(&tw->mu);
    while (!atomic_load(&tw->stop)) {
        if (pthread_cond_timedwait(&tw->cv, &tw->mu, &until) != 0)
            break; /* timed out */
    }
    pthread_mutex_unlock(&tw->mu);
    return !atomic_load(&tw->stop);
}

/* The thread: its own connection and API handle, a sweep at start (claims
 * left by a killed predecessor are taken back at once), then one per
 * interval. */
static void *worker_main(void *arg)
{
    struct tagworker *tw = arg;
    struct store *st = NULL;
    struct tag_runner *tr = NULL;
    char err[1024];
    if (store_open_cfg(&st, tw->cfg, err, sizeof(err)) < 0 ||
        tag_runner_new(&tr, tw->cfg, st, NULL, err, sizeof(err)) < 0) {
        log_error("tag: worker not started: %s", err);
        goto done;
    }
    do {
        struct tag_report rep;
        if (tag_run(tr, &tw->stop, &rep) < 0)
            log_error("tag: %s", rep.error);
        else
            report(tw, &rep);
    } while (wait_interval(tw));
done:
    tag_runner_free(tr);
    store_close(st);
    return NULL;
}

int tagworker_start(struct tagworker **out, const struct cfg *cfg, char *err, size_t errlen)
{
    struct tagworker *tw = calloc(1, sizeof(*tw));
    pthread_condattr_t ca;
    if (!tw)
        return snprintf(err, errlen, "tag worker: out of memory"), -1;
    tw->cfg = cfg;
    atomic_init(&tw->stop, false);
    pthread_mutex_init(&tw->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&tw->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&tw->thread, NULL, worker_main, tw);
    if (rc != 0) {
        snprintf(err, errlen, "tag worker: cannot start a thread: %s", strerror(rc));
        tagworker_free(tw);
        return -1;
    }
    tw->started = true;
    *out = tw;
    return 0;
}

void tagworker_stop(struct tagworker *tw)
{
    if (!tw)
        return;
    pthread_mutex_lock(&tw->mu);
    atomic_store(&tw->stop, true);
    pthread_cond_signal(&tw->cv);
    pthread_mutex_unlock(&tw->mu);
}

void tagworker_free(struct tagworker *tw)
{
    if (!tw)
        return;
    tagworker_stop(tw);
    if (tw->started)
        pthread_join(tw->thread, NULL);
    pthread_cond_destroy(&tw->cv);
    pthread_mutex_destroy(&tw->mu);
    free(tw);
}
