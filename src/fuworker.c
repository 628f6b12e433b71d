#include "fuworker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "followup.h"
#include "log.h"
#include "store.h"

struct fuworker {
    const struct cfg *cfg;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled on stop; waits use CLOCK_MONOTONIC */
    atomic_bool stop;
    char last_error[sizeof(((struct followup_report *)0)->error)];
};

/* One line when a sweep did something, and a failure once until it changes. */
static void report(struct fuworker *fw, const struct followup_report *r)
{
    if (r->calls || r->parked || r->interrupted)
        log_info("followup: %llu sent, %llu parked (%llu interrupted), %llu to retry in %llu "
                 "calls; %llu pending",
                 (unsigned long long)r->sent, (unsigned long long)(r->parked + r->interrupted),
                 (unsigned long long)r->interrupted, (unsigned long long)r->retried,
                 (unsigned long long)r->calls, (unsigned long long)r->pending);
    if (r->error[0] && (r->calls || strcmp(r->error, fw->last_error) != 0))
        log_warn("followup: %s (%llu messages wait for a later try)", r->error,
                 (unsigned long long)r->pending);
    util_strlcpy(fw->last_error, r->error, sizeof(fw->last_error));
}

/* Sleep up to the interval; false once a stop was asked for. */
static bool wait_interval(struct fuworker *fw)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)fw->cfg->followup_interval;
    pthread_mutex_lock(&fw->mu);
    while (!atomic_load(&fw->stop)) {
        if (pthread_cond_timedwait(&fw->cv, &fw->mu, &until) != 0)
            break; /* timed out */
    }
    pthread_mutex_unlock(&fw->mu);
    return !atomic_load(&fw->stop);
}

static void *worker_main(void *arg)
{
    struct fuworker *fw = arg;
    struct store *st = NULL;
    struct followup_runner *fr = NULL;
    char err[1024];
    if (store_open_cfg(&st, fw->cfg, err, sizeof(err)) < 0 ||
        followup_runner_new(&fr, fw->cfg, st, err, sizeof(err)) < 0) {
        log_error("followup: worker not started: %s", err);
        goto done;
    }
    do {
        struct followup_report rep;
        if (followup_run(fr, &fw->stop, &rep) < 0)
            log_error("followup: %s", rep.error);
        else
            report(fw, &rep);
    } while (wait_interval(fw));
done:
    followup_runner_free(fr);
    store_close(st);
    return NULL;
}

int fuworker_start(struct fuworker **out, const struct cfg *cfg, char *err, size_t errlen)
{
    struct fuworker *fw = calloc(1, sizeof(*fw));
    pthread_condattr_t ca;
    if (!fw)
        return snprintf(err, errlen, "followup worker: out of memory"), -1;
    fw->cfg = cfg;
    atomic_init(&fw->stop, false);
    pthread_mutex_init(&fw->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&fw->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&fw->thread, NULL, worker_main, fw);
    if (rc != 0) {
        snprintf(err, errlen, "followup worker: cannot start a thread: %s", strerror(rc));
        fuworker_free(fw);
        return -1;
    }
    fw->started = true;
    *out = fw;
    return 0;
}

void fuworker_stop(struct fuworker *fw)
{
    if (!fw)
        return;
    pthread_mutex_lock(&fw->mu);
    atomic_store(&fw->stop, true);
    pthread_cond_signal(&fw->cv);
    pthread_mutex_unlock(&fw->mu);
}

void fuworker_free(struct fuworker *fw)
{
    if (!fw)
        return;
    fuworker_stop(fw);
    if (fw->started)
        pthread_join(fw->thread, NULL);
    pthread_cond_destroy(&fw->cv);
    pthread_mutex_destroy(&fw->mu);
    free(fw);
}
