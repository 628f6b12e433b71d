#include "admin_qr.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbwork.h"
#include "log.h"
#include "qr.h"
#include "store.h"
#include "wxapi.h"

#define ADMIN_QR_QUEUE_MAX 64

struct qr_job {
    struct dbwork_job job;
    json_t *request;
    admin_qr_done_fn done;
    void *arg;
    int status;   /* result, set by the worker */
    json_t *body; /* result, set by the worker */
};

struct admin_qr {
    struct dbwork *w;
    uint64_t next_id;
};

/* The worker's state beside its store connection: the API client, made on
 * the first create (so a server that never creates codes needs no API
 * credentials) and kept for the next. */
struct qr_state {
    const struct cfg *cfg;
    struct wxapi *api;
};

static int state_open(struct store *st, const struct cfg *cfg, void **out, char *err, size_t errlen)
{
    struct qr_state *s = calloc(1, sizeof(*s));
    if (!s)
        return snprintf(err, errlen, "out of memory"), -1;
    (void)st;
    s->cfg = cfg;
    *out = s;
    return 0;
}

static void state_close(void *state)
{
    struct qr_state *s = state;
    wxapi_free(s->api);
    free(s);
}

static const struct dbwork_state qr_state_ops = {state_open, state_close};

/* {"error", "field"?, "errcode"?, "code"}: code FIELD_invalid for bad
 * input, wechat_error when WeChat refused, else qr_conflict (409) or
 * unavailable. */
static json_t *error_body(const char *msg, const char *field, long errcode)
{
    char code[48];
    snprintf(code, sizeof(code), "%s%s",
             field     ? field
             : errcode ? "wechat_error"
                       : "unavailable",
             field ? "_invalid" : "");
    json_t *o = json_pack("{s:s, s:s}", "error", msg, "code", code);
    if (o && field)
        json_object_set_new(o, "field", json_string(field));
    if (o && errcode)
        json_object_set_new(o, "errcode", json_integer(errcode));
    return o;
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
static void job_run(struct dbwork_job *dj, struct store *st, void *state)
{
    struct qr_job *j = (struct qr_job *)((char *)dj - offsetof(struct qr_job, job));
    struct qr_state *s = state;
    struct qr_request rq;
    struct qr_error e = {0};
    struct qr_code code = {0};
    char err[512];
    if (qr_request_from_json(j->request, &rq, &e) < 0) {
        j->status = 400;
        j->body = error_body(e.msg, e.field, 0);
        return;
    }
    if (!st || !s) {
        j->status = 503;
        j->body = error_body("the store is not available (see the server log)", NULL, 0);
        return;
    }
    if (!s->api && wxapi_new(&s->api, s->cfg, st, err, sizeof(err)) < 0) {
        j->status = 503;
        j->body = error_body(err, NULL, 0);
        return;
    }
    if (qr_create(st, s->api, &rq, NULL, &code, &e) < 0) {
        j->status = status_of(&e);
        j->body = error_body(e.msg, e.rc == QR_EINVALID ? e.field : NULL,
                             e.rc == QR_EAPI ? e.api.errcode : 0);
        if (j->body && e.rc == QR_ECONFLICT)
            json_object_set_new(j->body, "code", json_string("qr_conflict"));
        else if (j->body && e.rc == QR_EINTERNAL)
            json_object_set_new(j->body, "code", json_string("internal"));
        log_info("admin: qrcode %s: %s", rq.scene ? rq.scene : "(allocate)", e.msg);
        return;
    }
    j->status = code.reused ? 200 : 201;
    j->body = qr_code_to_json(&code);
    qr_code_clear(&code);
}

/* Loop thread, once per job: its answer, or 503 when the worker stopped
 * before running it. */
static void job_done(struct dbwork_job *dj, bool ran)
{
    struct qr_job *j = (struct qr_job *)((char *)dj - offsetof(struct qr_job, job));
    if (!ran && !j->body) {
        j->status = 503;
        j->body = error_body("server is stopping", NULL, 0);
    }
    if (!j->body) {
        j->status = 500;
        j->body = error_body("out of memory", NULL, 0);
    }
    j->done(j->arg, j->status, j->body);
    json_decref(j->request);
    free(j);
}

int admin_qr_new(struct admin_qr **out, struct event_base *base, const struct cfg *cfg, char *err,
                 size_t errlen)
{
    struct admin_qr *q = calloc(1, sizeof(*q));
    if (!q)
        return snprintf(err, errlen, "out of memory"), -1;
    if (dbwork_new(&q->w, base, cfg, "admin qr", 5000, &qr_state_ops, err, errlen) < 0) {
        free(q);
        return -1;
    }
    *out = q;
    return 0;
}

uint64_t admin_qr_submit(struct admin_qr *q, json_t *request, admin_qr_done_fn done, void *arg)
{
    struct qr_job *j = calloc(1, sizeof(*j));
    if (!j || dbwork_pending(q->w) >= ADMIN_QR_QUEUE_MAX) {
        json_decref(request);
        free(j);
        return 0;
    }
    *j = (struct qr_job){
        .job = {.run = job_run, .done = job_done}, .request = request, .done = done, .arg = arg};
    if (dbwork_submit(q->w, &j->job) < 0) {
        json_decref(request);
        free(j);
        return 0;
    }
    return ++q->next_id;
}

size_t admin_qr_pending(struct admin_qr *q)
{
    return dbwork_pending(q->w);
}

void admin_qr_free(struct admin_qr *q)
{
    if (!q)
        return;
    dbwork_free(q->w);
    free(q);
}
