/* pworker: the periodic thread under the tag and follow-up workers. A real
 * worker thread with a run function that counts its runs; the test waits
 * on conditions with generous deadlines (the suite runs under ASan on a
 * loaded machine) and asserts only orders and counts, never durations,
 * except "returns within a minute" where the thing waited out is an hour.
 *
 * run() executes on the worker's thread and never asserts (a cmocka
 * failure there would longjmp across threads): it records, the test
 * thread checks. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "pworker.h"

#define HOUR_MS  (3600u * 1000u)
#define DEADLINE 60 /* seconds: a condition not met by then is a failure */

struct probe {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int opens, runs, closes;
    bool saw_stop;      /* a run saw *stop set */
    bool hold;          /* runs wait here until released */
    bool in_run;        /* a run is waiting on hold */
    int fail_open;      /* open() fails */
    bool run_ended;     /* the last run returned */
    bool ended_at_free; /* run_ended when pworker_free returned */
};

static void probe_init(struct probe *p)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
}

static void probe_done(struct probe *p)
{
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

static int p_open(void *arg, char *err, size_t errlen)
{
    struct probe *p = arg;
    pthread_mutex_lock(&p->mu);
    p->opens++;
    int fail = p->fail_open;
    pthread_mutex_unlock(&p->mu);
    if (fail)
        return snprintf(err, errlen, "probe: cannot open"), -1;
    return 0;
}

/* Counts, then (when held) waits for release, polling stop so a run
 * "between two slow steps" sees it as tag_run does. */
static void p_run(void *arg, const atomic_bool *stop)
{
    struct probe *p = arg;
    pthread_mutex_lock(&p->mu);
    p->runs++;
    p->run_ended = false;
    while (p->hold) {
        struct timespec t;
        p->in_run = true;
        pthread_cond_broadcast(&p->cv);
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_nsec += 10 * 1000000L;
        if (t.tv_nsec >= 1000000000L)
            t.tv_sec++, t.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&p->cv, &p->mu, &t);
        if (atomic_load(stop) && !p->saw_stop) {
            p->saw_stop = true;
            pthread_cond_broadcast(&p->cv);
        }
    }
    p->in_run = false;
    p->run_ended = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void p_close(void *arg)
{
    struct probe *p = arg;
    pthread_mutex_lock(&p->mu);
    p->closes++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static const struct pworker_ops probe_ops = {
    .open = p_open,
    .run = p_run,
    .close = p_close,
};

/* Wait until *field >= want (or the bool is set, want 1); false at the
 * deadline. */
static bool wait_for(struct probe *p, const int *field, int want)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += DEADLINE;
    bool ok = true;
    pthread_mutex_lock(&p->mu);
    while (*field < want && ok)
        ok = pthread_cond_timedwait(&p->cv, &p->mu, &until) == 0 || *field >= want;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

static bool wait_flag(struct probe *p, const bool *flag)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += DEADLINE;
    bool ok = true;
    pthread_mutex_lock(&p->mu);
    while (!*flag && ok)
        ok = pthread_cond_timedwait(&p->cv, &p->mu, &until) == 0 || *flag;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

static int runs_now(struct probe *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->runs;
    pthread_mutex_unlock(&p->mu);
    return n;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct pworker *start(struct probe *p, uint64_t interval_ms)
{
    struct pworker *w = NULL;
    char err[256];
    assert_int_equal(pworker_start(&w, "probe", interval_ms, &probe_ops, p, err, sizeof(err)), 0);
    assert_non_null(w);
    return w;
}

/* A run at start, then one per interval without anyone asking. */
static void test_runs_every_interval(void **state)
{
    struct probe p;
    probe_init(&p);
    struct pworker *w = start(&p, 20);
    assert_true(wait_for(&p, &p.runs, 4));
    pworker_free(w);
    assert_int_equal(p.opens, 1);
    assert_int_equal(p.closes, 1);
    probe_done(&p);
}

/* With an hour's interval, only a kick brings the second run (and each
 * kick one more). */
static void test_kick_wakes_early(void **state)
{
    struct probe p;
    probe_init(&p);
    struct pworker *w = start(&p, HOUR_MS);
    assert_true(wait_for(&p, &p.runs, 1));
    pworker_kick(w);
    assert_true(wait_for(&p, &p.runs, 2));
    pworker_kick(w);
    assert_true(wait_for(&p, &p.runs, 3));
    pworker_free(w);
    assert_int_equal(p.runs, 3);
    probe_done(&p);
}

/* A kick that comes while a run is in flight is not lost: the wait after
 * that run ends at once. */
static void test_kick_during_run(void **state)
{
    struct probe p;
    probe_init(&p);
    p.hold = true;
    struct pworker *w = start(&p, HOUR_MS);
    assert_true(wait_flag(&p, &p.in_run));
    pworker_kick(w);
    pthread_mutex_lock(&p.mu);
    p.hold = false;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    assert_true(wait_for(&p, &p.runs, 2));
    pworker_free(w);
    assert_int_equal(p.runs, 2);
    probe_done(&p);
}

/* Stopping a worker that waits out an hour returns well within it. */
static void test_stop_during_interval(void **state)
{
    struct probe p;
    probe_init(&p);
    struct pworker *w = start(&p, HOUR_MS);
    assert_true(wait_for(&p, &p.runs, 1));
    double t0 = now_s();
    pworker_free(w);
    assert_true(now_s() - t0 < DEADLINE);
    assert_int_equal(p.runs, 1);
    assert_int_equal(p.closes, 1);
    probe_done(&p);
}

struct freer {
    struct pworker *w;
    struct probe *p;
};

static void *free_thread(void *arg)
{
    struct freer *f = arg;
    pworker_free(f->w);
    pthread_mutex_lock(&f->p->mu);
    f->p->ended_at_free = f->p->run_ended && f->p->closes == 1;
    pthread_mutex_unlock(&f->p->mu);
    return NULL;
}

/* pworker_free during a run: the run sees stop, and free returns only
 * after that run (and close) ended, never under its feet. */
static void test_stop_waits_for_run(void **state)
{
    struct probe p;
    probe_init(&p);
    p.hold = true;
    struct pworker *w = start(&p, HOUR_MS);
    assert_true(wait_flag(&p, &p.in_run));
    struct freer f = {w, &p};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, free_thread, &f), 0);
    assert_true(wait_flag(&p, &p.saw_stop));
    pthread_mutex_lock(&p.mu);
    p.hold = false;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(p.ended_at_free);
    assert_int_equal(p.runs, 1);
    probe_done(&p);
}

/* A failed open: no run, close still called, the thread ends by itself
 * and free (or stop first) is fine. */
static void test_open_fails(void **state)
{
    struct probe p;
    probe_init(&p);
    p.fail_open = 1;
    struct pworker *w = start(&p, 20);
    assert_true(wait_for(&p, &p.closes, 1));
    pworker_kick(w);
    pworker_stop(w);
    pworker_free(w);
    assert_int_equal(runs_now(&p), 0);
    assert_int_equal(p.opens, 1);
    probe_done(&p);
}

static void test_null_is_fine(void **state)
{
    pworker_kick(NULL);
    pworker_stop(NULL);
    pworker_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_every_interval), cmocka_unit_test(test_kick_wakes_early),
        cmocka_unit_test(test_kick_during_run),     cmocka_unit_test(test_stop_during_interval),
        cmocka_unit_test(test_stop_waits_for_run),  cmocka_unit_test(test_open_fails),
        cmocka_unit_test(test_null_is_fine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
