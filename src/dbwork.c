#include "dbwork.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "loop_wake.h"

#define DBWORK_QUEUE_MAX 256

struct job_list {
    struct dbwork_job *head, *tail;
    size_t n;
};

struct dbwork {
    const struct cfg *cfg;
    const char *who;
    int busy_timeout_ms;
    const struct dbwork_state *state_ops;
    struct loop_wake wake; /* "a job is done", to the loop */
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct job_list todo; /* loop -> worker */
    struct job_list done; /* worker -> loop */
    size_t running;
    bool stopping;
    /* worker thread only */
    struct store *st;
    void *state;
};

static void list_push(struct job_list *l, struct dbwork_job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    l->n++;
}

static struct dbwork_job *list_pop(struct job_list *l)
{
    struct dbwork_job *j = l->head;
    if (j) {
        l->head = j->next;
        if (!l->head)
            l->tail = NULL;
        l->n--;
    }
    return j;
}

/* The worker's connection, opened on its thread (and reopened on the next
 * job after a failure, so a store that comes back is used again). */
static struct store *worker_store(struct dbwork *w)
{
    char err[512];
    if (w->st)
        return w->st;
    if (store_open_cfg(&w->st, w->cfg, err, sizeof(err)) < 0) {
        log_warn("%s: cannot open the store: %s", w->who, err);
        return NULL;
    }
    db_set_busy_timeout(store_db(w->st), w->busy_timeout_ms);
    if (w->state_ops && w->state_ops->open(w->st, w->cfg, &w->state, err, sizeof(err)) < 0) {
        log_warn("%s: %s", w->who, err);
        store_close(w->st);
        w->st = NULL;
    }
    return w->st;
}

/* The worker yields the CPU to the pushes. A statistics report over a
 * large store is seconds of CPU; at the same priority it takes its share
 * of a small machine from the loop and commit threads (2 cores: pushes
 * fell from 27k/s to 9k/s while /api/stats ran in a loop). Nice 10 weighs
 * about a tenth of the callback's threads when they compete, and the whole
 * CPU when they do not. Linux applies setpriority() to one thread. */
#define DBWORK_NICE 10

static void *worker_main(void *arg)
{
    struct dbwork *w = arg;
    struct sched_param sp = {0};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0 &&
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), DBWORK_NICE) < 0)
        log_debug("%s: cannot lower the worker's priority", w->who);
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->todo.head && !w->stopping)
            pthread_cond_wait(&w->cond, &w->mu);
        if (w->stopping)
            break;
        struct dbwork_job *j = list_pop(&w->todo);
        w->running++;
        pthread_mutex_unlock(&w->mu);
        struct store *st = worker_store(w); /* before reading the state it opens */
        j->run(j, st, st ? w->state : NULL);
        j->ran = true;
        pthread_mutex_lock(&w->mu);
        w->running--;
        list_push(&w->done, j);
        loop_wake_signal(&w->wake);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Loop thread: hand every finished job to its done(). */
static void on_wake(void *arg)
{
    struct dbwork *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        struct dbwork_job *j = list_pop(&w->done);
        pthread_mutex_unlock(&w->mu);
        if (!j)
            break;
        j->done(j, j->ran);
    }
}

int dbwork_new(struct dbwork **out, struct event_base *base, const struct cfg *cfg, const char *who,
               int busy_timeout_ms, const struct dbwork_state *state, char *err, size_t errlen)
{
    struct dbwork *w = calloc(1, sizeof(*w));
    if (!w)
        return snprintf(err, errlen, "out of memory"), -1;
    w->cfg = cfg;
    w->who = who;
    w->busy_timeout_ms = busy_timeout_ms;
    w->state_ops = state;
    loop_wake_clear(&w->wake);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (loop_wake_init(&w->wake, base, -1, on_wake, w, who, err, errlen) < 0)
        goto fail;
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        snprintf(err, errlen, "%s: cannot start the worker thread", who);
        goto fail;
    }
    w->started = true;
    *out = w;
    return 0;
fail:
    dbwork_free(w);
    return -1;
}

int dbwork_submit(struct dbwork *w, struct dbwork_job *j)
{
    int rc = -1;
    j->ran = false;
    pthread_mutex_lock(&w->mu);
    if (!w->stopping && w->todo.n + w->running + w->done.n < DBWORK_QUEUE_MAX) {
        list_push(&w->todo, j);
        pthread_cond_signal(&w->cond);
        rc = 0;
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

size_t dbwork_pending(struct dbwork *w)
{
    pthread_mutex_lock(&w->mu);
    size_t n = w->todo.n + w->running + w->done.n;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void dbwork_free(struct dbwork *w)
{
    if (!w)
        return;
    if (w->started) {
        pthread_mutex_lock(&w->mu);
        w->stopping = true;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
    }
    on_wake(w); /* finished: their real answer */
    struct dbwork_job *j;
    while ((j = list_pop(&w->todo)) != NULL) /* never started */
        j->done(j, false);
    loop_wake_free(&w->wake);
    if (w->state_ops && w->state)
        w->state_ops->close(w->state);
    store_close(w->st);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
