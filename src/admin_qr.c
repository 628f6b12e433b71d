#include "admin_qr.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "loop_wake.h"
#include "qr.h"
#include "store.h"
#include "wxapi.h"

#define ADMIN_QR_QUEUE_MAX 64

struct qr_job {
    uint64_t id;
    json_t *request;
    admin_qr_done_fn done;
    void *arg;
    int status;   /* result, set by the worker */
    json_t *body; /* result, set by the worker */
    struct qr_job *next;
};

struct job_list {
    struct qr_job *head, *tail;
    size_t n;
};

struct admin_qr {
    const struct cfg *cfg;
    struct loop_wake wake; /* "a job is done", to the loop */
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct job_list todo; /* loop -> worker */
    struct job_list done; /* worker -> loop */
    size_t in_flight;
    bool stopping;
    uint64_t next_id;
    /* worker-thread only */
    struct store *st;
    struct wxapi *api;
};

static void list_push(struct job_list *l, struct qr_job *j)
{
    j->next = NULL;
    if (l->tail)
        l->tail->next = j;
    else
        l->head = j;
    l->tail = j;
    l->n++;
}

static struct qr_job *list_pop(struct job_list *l)
{
    struct qr_job *j = l->head;
    if (j) {
        l->head = j->next;
        if (!l->head)
            l->tail = NULL;
        l->n--;
    }
    return j;
}

static json_t *error_body(const char *msg, const char *field, long errcode)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    if (o && field)
        json_object_set_new(o, "field", json_string(field));
    if (o && errcode)
        json_object_set_new(o, "errcode", json_integer(errcode));
    return o;
}

/* The worker's own store handle and API client, opened on first use so a
 * server that never creates codes needs no API credentials. */
static int worker_open(struct admin_qr *q, char *err, size_t errlen)
{
    if (q->api)
        return 0;
    if (!q->st && store_open(&q->st, q->cfg->store_path, q->cfg->synchronous, err, errlen) < 0)
        return -1;
    return wxapi_new(&q->api, q->cfg, q->st, err, errlen);
}

static int status_of(const struct qr_error *e)
{
    switch (e->rc) {
    case QR_EINVALID:
        return 400;
    case QR_ECONFLICT:
        return 409;
    case QR_EAPI:
        return 502;
    default:
        return 500;
    }
}

/* One create, entirely on the worker thread. */
static void worker_run(struct admin_qr *q, struct qr_job *j)
{
    struct qr_request rq;
    struct qr_error e = {0};
    struct qr_code code = {0};
    char err[512];
    if (qr_request_from_json(j->request, &rq, &e) < 0) {
        j->status = 400;
        j->body = error_body(e.msg, e.field, 0);
        return;
    }
    if (worker_open(q, err, sizeof(err)) < 0) {
        j->status = 503;
        j->body = error_body(err, NULL, 0);
        return;
    }
    if (qr_create(q->st, q->api, &rq, NULL, &code, &e) < 0) {
        j->status = status_of(&e);
        j->body = error_body(e.msg, e.rc == QR_EINVALID ? e.field : NULL,
                             e.rc == QR_EAPI ? e.api.errcode : 0);
        log_info("admin: qrcode %s: %s", rq.scene ? rq.scene : "(allocate)", e.msg);
        return;
    }
    j->status = code.reused ? 200 : 201;
    j->body = qr_code_to_json(&code);
    qr_code_clear(&code);
}

static void *worker_main(void *arg)
{
    struct admin_qr *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->todo.head && !q->stopping)
            pthread_cond_wait(&q->cond, &q->mu);
        if (q->stopping)
            break;
        struct qr_job *j = list_pop(&q->todo);
        q->in_flight++;
        pthread_mutex_unlock(&q->mu);
        worker_run(q, j);
        pthread_mutex_lock(&q->mu);
        q->in_flight--;
        list_push(&q->done, j);
        loop_wake_signal(&q->wake);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static void deliver(struct qr_job *j)
{
    if (!j->body) {
        j->status = 500;
        j->body = error_body("out of memory", NULL, 0);
    }
    j->done(j->arg, j->status, j->body);
    json_decref(j->request);
    free(j);
}

/* Loop thread: hand every finished job to its callback. */
static void on_wake(void *arg)
{
    struct admin_qr *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->mu);
        struct qr_job *j = list_pop(&q->done);
        pthread_mutex_unlock(&q->mu);
        if (!j)
            break;
        deliver(j);
    }
}

int admin_qr_new(struct admin_qr **out, struct event_base *base, const struct cfg *cfg, char *err,
                 size_t errlen)
{
    struct admin_qr *q = calloc(1, sizeof(*q));
    if (!q)
        return snprintf(err, errlen, "out of memory"), -1;
    q->cfg = cfg;
    loop_wake_clear(&q->wake);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cond, NULL);
    if (loop_wake_init(&q->wake, base, -1, on_wake, q, "admin qr", err, errlen) < 0)
        goto fail;
    if (pthread_create(&q->thread, NULL, worker_main, q) != 0) {
        snprintf(err, errlen, "admin qr: cannot start the worker thread");
        goto fail;
    }
    q->started = true;
    *out = q;
    return 0;
fail:
    admin_qr_free(q);
    return -1;
}

uint64_t admin_qr_submit(struct admin_qr *q, json_t *request, admin_qr_done_fn done, void *arg)
{
    struct qr_job *j = calloc(1, sizeof(*j));
    uint64_t id = 0;
    if (!j) {
        json_decref(request);
        return 0;
    }
    pthread_mutex_lock(&q->mu);
    if (!q->stopping && q->todo.n + q->in_flight < ADMIN_QR_QUEUE_MAX) {
        id = j->id = ++q->next_id;
        j->request = request;
        j->done = done;
        j->arg = arg;
        list_push(&q->todo, j);
        pthread_cond_signal(&q->cond);
    }
    pthread_mutex_unlock(&q->mu);
    if (!id) {
        json_decref(request);
        free(j);
    }
    return id;
}

size_t admin_qr_pending(const struct admin_qr *q)
{
    pthread_mutex_t *mu = (pthread_mutex_t *)&q->mu;
    pthread_mutex_lock(mu);
    size_t n = q->todo.n + q->in_flight + q->done.n;
    pthread_mutex_unlock(mu);
    return n;
}

static void answer_unavailable(struct job_list *l)
{
    struct qr_job *j;
    while ((j = list_pop(l)) != NULL) {
        if (!j->body) {
            j->status = 503;
            j->body = error_body("server is stopping", NULL, 0);
        }
        deliver(j);
    }
}

void admin_qr_free(struct admin_qr *q)
{
    if (!q)
        return;
    if (q->started) {
        pthread_mutex_lock(&q->mu);
        q->stopping = true;
        pthread_cond_signal(&q->cond);
        pthread_mutex_unlock(&q->mu);
        pthread_join(q->thread, NULL);
    }
    answer_unavailable(&q->done); /* finished: their real answer */
    answer_unavailable(&q->todo); /* never started: 503 */
    loop_wake_free(&q->wake);
    wxapi_free(q->api);
    store_close(q->st);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->mu);
    free(q);
}
