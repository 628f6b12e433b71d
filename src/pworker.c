#include "pworker.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

struct pworker {
    char name[32];
    const struct pworker_ops *ops;
    void *arg;
    uint64_t interval_ms;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled on stop and kick; waits use CLOCK_MONOTONIC */
    bool kicked;       /* under mu: a kick not yet consumed by a wait */
    atomic_bool stop;
};

/* The deadline interval_ms from now on the monotonic clock (a wall-clock
 * step must neither stall nor rush the worker). */
static struct timespec deadline_after(uint64_t ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Sleep up to the interval or until kicked (a kick that came during the
 * run ends the wait at once); false once a stop was asked for. */
static bool wait_interval(struct pworker *w)
{
    struct timespec until = deadline_after(w->interval_ms);
    pthread_mutex_lock(&w->mu);
    while (!atomic_load(&w->stop) && !w->kicked) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &until) != 0)
            break; /* timed out */
    }
    w->kicked = false;
    pthread_mutex_unlock(&w->mu);
    return !atomic_load(&w->stop);
}

/* The thread: open, a run at start (work a killed predecessor left is
 * taken up at once), then one per interval, close. */
static void *worker_main(void *arg)
{
    struct pworker *w = arg;
    char err[1024];
    if (w->ops->open && w->ops->open(w->arg, err, sizeof(err)) < 0) {
        log_error("%s: worker not started: %s", w->name, err);
        goto done;
    }
    do
        w->ops->run(w->arg, &w->stop);
    while (wait_interval(w));
done:
    if (w->ops->close)
        w->ops->close(w->arg);
    return NULL;
}

int pworker_start(struct pworker **out, const char *name, uint64_t interval_ms,
                  const struct pworker_ops *ops, void *arg, char *err, size_t errlen)
{
    struct pworker *w = calloc(1, sizeof(*w));
    pthread_condattr_t ca;
    if (!w)
        return snprintf(err, errlen, "%s worker: out of memory", name), -1;
    util_strlcpy(w->name, name, sizeof(w->name));
    w->ops = ops;
    w->arg = arg;
    w->interval_ms = interval_ms ? interval_ms : 1;
    atomic_init(&w->stop, false);
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0) {
        snprintf(err, errlen, "%s worker: cannot start a thread: %s", name, strerror(rc));
        pworker_free(w);
        return -1;
    }
    w->started = true;
    *out = w;
    return 0;
}

void pworker_kick(struct pworker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->kicked = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void pworker_stop(struct pworker *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->stop, true);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void pworker_free(struct pworker *w)
{
    if (!w)
        return;
    pworker_stop(w);
    if (w->started)
        pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
