#include "admin.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <sys/queue.h>

#include "admin_console.h"
#include "admin_api.h"
#include "admin_qr.h"
#include "assets.h"
#include "campaign.h"
#include "channel.h"
#include "chreply.h"
#include "dbwork.h"
#include "followup.h"
#include "health.h"
#include "http_accept.h"
#include "http_deadline.h"
#include "http_framing.h"
#include "log.h"
#include "qr.h"
#include "stats_output.h"
#include "store.h"
#include "tag.h"
#include "token.h"
#include "tz.h"

/* A channel import (20,000 rows of up to ~800 bytes); any other body is
 * refused above ADMIN_MAX_JSON once read (libevent 2.1 has no hook
 * between the headers and the body to bound it per path). */
#define ADMIN_MAX_BODY    (16 << 20)
#define ADMIN_MAX_JSON    65536
#define ADMIN_MAX_HEADERS 16384

struct admin {
    const struct cfg *cfg;
    struct server *srv;
    struct event_base *base;
    struct evhttp *http;
    struct dbwork *work; /* /api/stats and /api/channels, off the loop */
    struct http_deadline *deadline;
    struct http_accept *accept;       /* pauses accepting when out of descriptors */
    struct admin_qr *qr;              /* POST /api/qrcodes worker */
    struct evhttp_bound_socket *sock; /* NULL once draining */
    uint64_t requests_by_status[6];   /* this listener's answers, index status/100 */
    uint64_t accept_errors;
    uint64_t inflight; /* requests accepted and not yet fully answered */
    bool draining;
    void (*drain_done)(void *);
    void *drain_arg;
    struct event *drain_ev;
};

/* ---- replies ---- */

/* code: the stable key of an error answer that has no more precise one
 * (docs/admin-api.md "Error codes"). */
static const struct {
    int status;
    const char *reason, *code;
} reasons[] = {
    {200, "OK", NULL},
    {201, "Created", NULL},
    {304, "Not Modified", NULL},
    {400, "Bad Request", "bad_request"},
    {401, "Unauthorized", "unauthorized"},
    {403, "Forbidden", "forbidden"},
    {404, "Not Found", "not_found"},
    {405, "Method Not Allowed", "method_not_allowed"},
    {409, "Conflict", "conflict"},
    {413, "Payload Too Large", "too_large"},
    {500, "Internal Server Error", "internal"},
    {503, "Service Unavailable", "unavailable"},
};

static const char *code_of(int status)
{
    for (size_t i = 0; i < WXS_ARRAY_LEN(reasons); i++)
        if (reasons[i].status == status)
            return reasons[i].code;
    return "error";
}

static const char *reason_of(int status)
{
    for (size_t i = 0; i < WXS_ARRAY_LEN(reasons); i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "Error";
}

/* The path as the access log shows it: a promoter link's token is a
 * credential (anyone holding it sees the page), so /p/... is logged
 * without it. */
static const char *logged_path(const char *path)
{
    if (!path)
        return "?";
    size_t n = strlen(path);
    bool json = n > 5 && strcmp(path + n - 5, ".json") == 0;
    if (strncmp(path, "/p/", 3) != 0 || memchr(path + 3, '.', n - 3 - (json ? 5 : 0)))
        return path; /* not a link, or one of the page's files (a token has no '.') */
    return json ? "/p/(token).json" : "/p/(token)";
}

static void reply(struct areq *r, int status, const char *ctype, const char *body, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    unsigned cls = (unsigned)status / 100;
    evhttp_add_header(h, "Content-Type", ctype);
    if (!evhttp_find_header(h, "Cache-Control"))
        evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    if (!evhttp_find_header(h, "Content-Security-Policy")) /* an API answer runs nothing */
        evhttp_add_header(h, "Content-Security-Policy",
                          "default-src 'none'; frame-ancestors 'none'");
    if (r->close)
        evhttp_add_header(h, "Connection", "close");
    http_framing_add_body(r->req, body, len);
    r->a->requests_by_status[cls < 6 ? cls : 0]++;
    log_info("admin: %s %s %d %.3fms", r->method, logged_path(r->path), status,
             (double)(util_mono_us() - r->start_us) / 1000.0);
    http_deadline_send_reply(r->a->deadline, r->req, status, reason_of(status));
}

/* evhttp answered a request itself: logged and counted like ours. */
static void on_evhttp_answer(void *arg, int status, const char *why)
{
    struct admin *a = arg;
    unsigned cls = (unsigned)status / 100;
    a->requests_by_status[cls < 6 ? cls : 0]++;
    log_info("admin: ? ? %d ? evhttp: %s", status, why);
}

static void reply_json(struct areq *r, int status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (!s) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        reply(r, 500, "application/json", oom, sizeof(oom) - 1);
    } else {
        reply(r, status, "application/json", s, strlen(s));
    }
    free(s);
    json_decref(j);
}

static void reply_error(struct areq *r, int status, const char *msg)
{
    reply_json(r, status, json_pack("{s:s, s:s}", "error", msg, "code", code_of(status)));
}

/* ---- open endpoints ---- */

/* A request held until its answer comes back to the loop thread. */
static struct areq *areq_hold(const struct areq *r)
{
    struct areq *held = malloc(sizeof(*held));
    if (held)
        *held = *r;
    return held;
}

static void health_answer(void *arg, int status, const char *body)
{
    struct areq *r = arg;
    reply(r, status, "text/plain; charset=utf-8", body, strlen(body));
    free(r);
}

static void h_health(struct areq *r)
{
    struct areq *held = r->a->srv ? areq_hold(r) : NULL;
    if (!held)
        return reply(r, 503, "text/plain; charset=utf-8", "no store\n", 9);
    health_check(server_health(r->a->srv), r->a, health_answer, held);
}

/* ---- the console's files (src/assets, embedded) ---- */

/* The pages load only their own files from this origin: no inline script or
 * style, so an injected tag or on* attribute cannot run (CONTRACT, "Web
 * console"). blob: images are the QR previews fetched with the token. */
#define CONSOLE_CSP                                                                                \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "                \
    "img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

static const struct {
    const char *ext;
    const char *ctype;
} asset_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".json", "application/json"},
};

static const char *asset_type(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < WXS_ARRAY_LEN(asset_types); i++) {
        size_t e = strlen(asset_types[i].ext);
        if (n > e && strcmp(name + n - e, asset_types[i].ext) == 0)
            return asset_types[i].ctype;
    }
    return "application/octet-stream";
}

static const struct asset *asset_find(const char *name)
{
    for (const struct asset *as = assets; as->name; as++)
        if (strcmp(as->name, name) == 0)
            return as;
    return NULL;
}

/* Does If-None-Match name this ETag (a list, or "*")? */
static bool etag_matches(struct evhttp_request *req, const char *etag)
{
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
    if (!inm)
        return false;
    return strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL;
}

/* One embedded file: revalidated on every use (no-cache) so a new build is
 * picked up at once, 304 when the browser already has these bytes. */
static void reply_asset(struct areq *r, const char *name)
{
    const struct asset *as = asset_find(name);
    if (!as)
        return reply_error(r, 404, "not found");
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(h, "ETag", as->etag);
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_add_header(h, "Content-Security-Policy", CONSOLE_CSP);
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    if (etag_matches(r->req, as->etag))
        return reply(r, 304, asset_type(as->name), "", 0);
    reply(r, 200, asset_type(as->name), (const char *)as->data, as->size);
}

static void h_index(struct areq *r)
{
    reply_asset(r, "index.html");
}

#define ASSET_PATH "/assets/"

/* GET /assets/NAME: a file of src/assets by its plain name. */
static void h_asset(struct areq *r)
{
    reply_asset(r, r->path + strlen(ASSET_PATH));
}

/* ---- /metrics ---- */

static const char *const status_labels[6] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
static const char *const kind_labels[5] = {"subscribe", "scan", "unsubscribe", "message", "other"};

static const struct counter {
    const char *name, *help;
    size_t off;
} counters[] = {
    {"wxscene_dedup_hits_total", "Retried deliveries answered from the store.",
     offsetof(struct server_stats, dedup_hits)},
    {"wxscene_store_commit_failures_total", "Group commits that failed (answered 503).",
     offsetof(struct server_stats, commit_failures)},
    {"wxscene_store_committed_events_total", "Events in successful group commits.",
     offsetof(struct server_stats, committed_events)},
    {"wxscene_signature_failures_total", "Requests rejected for their signature.",
     offsetof(struct server_stats, sig_failures)},
    {"wxscene_bad_requests_total", "Requests rejected as malformed.",
     offsetof(struct server_stats, bad_requests)},
    {"wxscene_accept_errors_total",
     "Failed accept() calls of the callback listener (mostly out of file descriptors); each "
     "pauses accepting for 100 ms.",
     offsetof(struct server_stats, accept_errors)},
};

static int metric_head(struct buf *b, const char *name, const char *type, const char *help)
{
    return buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int metrics_requests(struct buf *b, const char *name, const char *help,
                            const uint64_t by_status[6])
{
    if (metric_head(b, name, "counter", help) < 0)
        return -1;
    for (size_t i = 0; i < 6; i++)
        if (buf_printf(b, "%s{code=\"%s\"} %llu\n", name, status_labels[i],
                       (unsigned long long)by_status[i]) < 0)
            return -1;
    return 0;
}

static int metrics_server(struct buf *b, const struct server_stats *s)
{
    static const char ev[] = "wxscene_events_total", rp[] = "wxscene_replies_total";
    int bad =
        metrics_requests(b, "wxscene_http_requests_total",
                         "Callback listener answers by status class.", s->requests_by_status) < 0 ||
        metric_head(b, ev, "counter", "Events stored (first deliveries) by kind.") < 0;
    for (size_t i = 0; !bad && i < WXS_ARRAY_LEN(kind_labels); i++)
        bad = buf_printf(b, "%s{kind=\"%s\"} %llu\n", ev, kind_labels[i],
                         (unsigned long long)s->events_by_kind[i]) < 0;
    bad = bad || metric_head(b, rp, "counter", "Answers to pushes by type.") < 0 ||
          buf_printf(b, "%s{type=\"text\"} %llu\n%s{type=\"success\"} %llu\n", rp,
                     (unsigned long long)s->replies_text, rp,
                     (unsigned long long)s->replies_success) < 0 ||
          buf_printf(b, "%s{type=\"news\"} %llu\n%s{type=\"image\"} %llu\n", rp,
                     (unsigned long long)s->replies_news, rp,
                     (unsigned long long)s->replies_image) < 0;
    for (size_t i = 0; !bad && i < WXS_ARRAY_LEN(counters); i++)
        bad = metric_head(b, counters[i].name, "counter", counters[i].help) < 0 ||
              buf_printf(
                  b, "%s %llu\n", counters[i].name,
                  (unsigned long long)*(const uint64_t *)((const char *)s + counters[i].off)) < 0;
    return bad ? -1 : 0;
}

static int metrics_histogram(struct buf *b, const struct server_stats *s)
{
    static const char h[] = "wxscene_store_commit_duration_seconds";
    int bad = metric_head(b, h, "histogram", "Group commit latency of the store.") < 0;
    size_t n = WXS_ARRAY_LEN(s->commit_us_buckets);
    for (size_t i = 0; !bad && i < n; i++) {
        char le[32];
        if (i + 1 == n)
            snprintf(le, sizeof(le), "+Inf");
        else
            snprintf(le, sizeof(le), "%g", server_commit_bucket_bounds_s[i]);
        bad = buf_printf(b, "%s_bucket{le=\"%s\"} %llu\n", h, le,
                         (unsigned long long)s->commit_us_buckets[i]) < 0;
    }
    return bad || buf_printf(b, "%s_sum %.6f\n%s_count %llu\n", h, (double)s->commit_us_sum / 1e6,
                             h, (unsigned long long)s->commits) < 0
               ? -1
               : 0;
}

/* What /metrics reads from the database, read by the worker (the loop
 * never queries): the tag outbox and the store's size. */
struct mjob {
    struct dbwork_job job;
    struct areq r;
    bool ok;
    int64_t tag_pending, tag_parked, store_bytes;
    struct followup_counts fu; /* the follow-up outbox by state */
};

static int metric_gauge(struct buf *b, const char *name, const char *help, int64_t v)
{
    return metric_head(b, name, "gauge", help) < 0 ||
                   buf_printf(b, "%s %lld\n", name, (long long)v) < 0
               ? -1
               : 0;
}

static int metrics_process(struct buf *b, const struct admin *a)
{
    uint64_t refreshes, failures;
    token_counters(&refreshes, &failures);
    const struct cfg *c = a->cfg;
    static const char *const modes[] = {"plain", "compat", "safe"};
    return metric_head(b, "wxscene_build_info", "gauge", "Always 1; the labels say what runs.") <
                       0 ||
                   buf_printf(
                       b, "wxscene_build_info{version=\"%s\",backend=\"%s\",mode=\"%s\"} 1\n",
                       WXSCENE_VERSION, c->backend == STORE_POSTGRESQL ? "postgresql" : "sqlite",
                       modes[c->mode]) < 0 ||
                   metric_head(b, "wxscene_token_refreshes_total", "counter",
                               "access_token refreshes by this process that got a token.") < 0 ||
                   buf_printf(b, "wxscene_token_refreshes_total %llu\n",
                              (unsigned long long)refreshes) < 0 ||
                   metric_head(b, "wxscene_token_refresh_failures_total", "counter",
                               "access_token refreshes by this process that failed.") < 0 ||
                   buf_printf(b, "wxscene_token_refresh_failures_total %llu\n",
                              (unsigned long long)failures) < 0
               ? -1
               : 0;
}

/* The follow-up outbox by state (followup.h): pending and sending wait,
 * parked need an operator, sent is the running total. */
static int metrics_followups(struct buf *b, const struct followup_counts *c)
{
    static const char name[] = "wxscene_followup_queue";
    return metric_head(b, name, "gauge",
                       "Follow-up outbox rows (one per subscribe) by state (parked: see wxscene "
                       "followup status).") < 0 ||
                   buf_printf(b,
                              "%s{state=\"pending\"} %lld\n%s{state=\"sending\"} %lld\n"
                              "%s{state=\"sent\"} %lld\n%s{state=\"parked\"} %lld\n",
                              name, (long long)c->pending, name, (long long)c->sending, name,
                              (long long)c->sent, name, (long long)c->parked) < 0 ||
                   metric_gauge(b, "wxscene_followup_messages_sent",
                                "Follow-up messages WeChat accepted (all time).",
                                c->messages_sent) < 0 ||
                   metric_gauge(b, "wxscene_followup_messages_uncertain",
                                "Follow-up messages whose call got no answer or was cut by a "
                                "crash: may have arrived, never resent.",
                                c->uncertain) < 0
               ? -1
               : 0;
}

static int metrics_store(struct buf *b, const struct mjob *m)
{
    if (!m || !m->ok) /* the worker could not say: the gauges are absent */
        return 0;
    return metric_gauge(b, "wxscene_tag_queue_pending",
                        "Tag outbox rows waiting to be sent (pending or sending).",
                        m->tag_pending) < 0 ||
                   metric_gauge(b, "wxscene_tag_queue_parked",
                                "Tag outbox rows parked until an operator acts (tag sync "
                                "--retry-parked).",
                                m->tag_parked) < 0 ||
                   metrics_followups(b, &m->fu) < 0 ||
                   metric_gauge(b, "wxscene_store_size_bytes",
                                "Size of the store: the SQLite database file, or the PostgreSQL "
                                "database.",
                                m->store_bytes) < 0
               ? -1
               : 0;
}

/* Loop thread: the whole text, counters read here, gauges from m. */
static void metrics_answer(struct areq *r, const struct mjob *m)
{
    struct buf b = {0};
    int bad = 0;
    if (r->a->srv) {
        const struct server_stats *s = server_get_stats(r->a->srv);
        bad = metrics_server(&b, s) < 0 || metrics_histogram(&b, s) < 0;
    }
    bad = bad || metrics_process(&b, r->a) < 0 || metrics_store(&b, m) < 0;
    bad = bad || metrics_requests(&b, "wxscene_admin_http_requests_total",
                                  "Admin listener answers by status class (before this one).",
                                  r->a->requests_by_status) < 0;
    bad = bad ||
          metric_head(&b, "wxscene_admin_accept_errors_total", "counter",
                      "Failed accept() calls of the admin listener (mostly out of file "
                      "descriptors); each pauses accepting for 100 ms.") < 0 ||
          buf_printf(&b, "wxscene_admin_accept_errors_total %llu\n",
                     (unsigned long long)r->a->accept_errors) < 0;
    if (bad)
        reply(r, 500, "text/plain; charset=utf-8", "out of memory\n", 14);
    else
        reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
    buf_free(&b);
}

static void mjob_run(struct dbwork_job *dj, struct store *st, void *stats)
{
    struct mjob *m = (struct mjob *)((char *)dj - offsetof(struct mjob, job));
    (void)stats;
    m->ok = st && tag_queue_counts(st, &m->tag_pending, &m->tag_parked) == 0 &&
            followup_counts(st, &m->fu) == 0 && store_size_bytes(st, &m->store_bytes) == 0;
}

static void mjob_done(struct dbwork_job *dj, bool ran)
{
    struct mjob *m = (struct mjob *)((char *)dj - offsetof(struct mjob, job));
    m->ok = m->ok && ran;
    metrics_answer(&m->r, m);
    free(m);
}

/* The gauges need the database: through the worker; when it is busy or
 * stopping, the counters still go out, without them. */
static void h_metrics(struct areq *r)
{
    struct mjob *m = calloc(1, sizeof(*m));
    if (!m)
        return metrics_answer(r, NULL);
    *m = (struct mjob){.job = {.run = mjob_run, .done = mjob_done}, .r = *r};
    if (dbwork_submit(r->a->work, &m->job) < 0) {
        free(m);
        metrics_answer(r, NULL);
    }
}

/* ---- /api/stats ---- */

/* A query parameter, NULL when absent or empty (the form sends empties). */
static const char *qparam(const struct evkeyvalq *q, const char *name)
{
    const char *v = evhttp_find_header(q, name);
    return v && *v ? v : NULL;
}

/* ---- the worker: requests that read or write the database ---- */

static void ajob_json(struct ajob *j, int status, json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    buf_reset(&j->out);
    j->ctype = "application/json";
    if (!s || buf_puts(&j->out, s) < 0) {
        buf_reset(&j->out);
        j->status = 500;
        if (buf_puts(&j->out, "{\"error\":\"out of memory\"}") < 0)
            j->status = 500;
    } else {
        j->status = status;
    }
    free(s);
    json_decref(v);
}

static void ajob_error(struct ajob *j, int status, const char *msg)
{
    ajob_json(j, status, json_pack("{s:s, s:s}", "error", msg, "code", code_of(status)));
}

/* 400 (or status) naming a field: {"error", "field", "code"}. */
static void ajob_field(struct ajob *j, int status, const char *field, const char *code,
                       const char *msg)
{
    ajob_json(j, status, json_pack("{s:s, s:s?, s:s}", "error", msg, "field", field, "code", code));
}

static void ajob_free(struct ajob *j)
{
    free(j->query);
    json_decref(j->body);
    buf_free(&j->out);
    buf_free(&j->in);
    free(j);
}

static void ajob_run(struct dbwork_job *dj, struct store *st, void *stats)
{
    struct ajob *j = (struct ajob *)((char *)dj - offsetof(struct ajob, job));
    if (!st || !stats)
        return ajob_error(j, 503, "the store is not available (see the server log)");
    j->run(j, st, stats);
}

static void ajob_done(struct dbwork_job *dj, bool ran)
{
    struct ajob *j = (struct ajob *)((char *)dj - offsetof(struct ajob, job));
    if (!ran) {
        reply_error(&j->r, 503, "the server is stopping");
    } else {
        struct evkeyvalq *h = evhttp_request_get_output_headers(j->r.req);
        if (j->disposition[0])
            evhttp_add_header(h, "Content-Disposition", j->disposition);
        for (const char *const *p = j->headers; p && p[0]; p += 2)
            evhttp_add_header(h, p[0], p[1]);
        reply(&j->r, j->status, j->ctype, j->out.data ? j->out.data : "", j->out.len);
    }
    ajob_free(j);
}

/* Hand the request to the worker (query and body are taken); 503 when the
 * worker is busy or stopping. */
static void ajob_submit_in(struct areq *r,
                           void (*run)(struct ajob *, struct store *, struct stats *), char *query,
                           json_t *body, bool with_body)
{
    struct ajob *j = calloc(1, sizeof(*j));
    if (!j) {
        free(query);
        json_decref(body);
        return reply_error(r, 500, "out of memory");
    }
    *j = (struct ajob){.job = {.run = ajob_run, .done = ajob_done},
                       .r = *r,
                       .run = run,
                       .query = query,
                       .body = body,
                       .status = 500,
                       .ctype = "application/json",
                       .cfg = r->a->cfg};
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t n = evbuffer_get_length(in);
    if (with_body && n &&
        (buf_append(&j->in, (const char *)evbuffer_pullup(in, -1), n) < 0 ||
         buf_append(&j->in, "", 0) < 0)) {
        ajob_free(j);
        return reply_error(r, 500, "out of memory");
    }
    if (dbwork_submit(r->a->work, &j->job) < 0) {
        ajob_free(j);
        reply_error(r, 503, "too many requests in progress; retry later");
    }
}

static void ajob_submit(struct areq *r, void (*run)(struct ajob *, struct store *, struct stats *),
                        char *query, json_t *body)
{
    ajob_submit_in(r, run, query, body, false);
}

/* Worker state: a statistics handle on the worker's connection. */
static int work_open(struct store *st, const struct cfg *cfg, void **out, char *err, size_t errlen)
{
    struct stats *stats;
    if (stats_open(&stats, st, cfg->timezone, cfg->retention_days, NULL, err, errlen) < 0)
        return -1;
    *out = stats;
    return 0;
}

static void work_close(void *stats)
{
    stats_close(stats);
}

static const struct dbwork_state work_state = {work_open, work_close};

static void stats_csv_reply(struct ajob *j, const struct stats_report *rep, bool bom)
{
    char since[16], until[16];
    buf_reset(&j->out);
    if (stats_report_csv(rep, bom, &j->out) < 0)
        return ajob_error(j, 500, "out of memory");
    tz_format_date(rep->since, since, sizeof(since));
    tz_format_date(rep->until, until, sizeof(until));
    snprintf(j->disposition, sizeof(j->disposition),
             "attachment; filename=\"wxscene-%s-%s-%s.csv\"", stats_by_name(rep->by), since, until);
    j->status = 200;
    j->ctype = "text/csv; charset=utf-8";
}

static void run_stats(struct ajob *j, struct store *st, struct stats *stats)
{
    struct evkeyvalq q = {0};
    struct stats_report *rep = NULL;
    enum stats_by by = STATS_BY_CHANNEL;
    char err[512];
    int64_t d0, d1;
    int qrc;
    if (evhttp_parse_query_str(j->query ? j->query : "", &q) < 0) {
        ajob_error(j, 400, "the query string is malformed");
        goto done;
    }
    const char *by_s = qparam(&q, "by"), *fmt = qparam(&q, "format"), *bom = qparam(&q, "bom");
    const char *scene = qparam(&q, "scene"), *promoter = qparam(&q, "promoter");
    const char *campaign = qparam(&q, "campaign");
    if (by_s && stats_parse_by(by_s, &by) < 0) {
        snprintf(err, sizeof(err), "by: '%s' is not channel, promoter, day or campaign", by_s);
        ajob_error(j, 400, err);
    } else if (campaign && ((by != STATS_BY_DAY && by != STATS_BY_CHANNEL) || scene || promoter)) {
        ajob_field(j, 400, "campaign", "campaign_scope",
                   "campaign: filters the report by=day or by=channel, without scene or promoter");
    } else if (fmt && strcmp(fmt, "json") != 0 && strcmp(fmt, "csv") != 0) {
        snprintf(err, sizeof(err), "format: '%s' is not json or csv", fmt);
        ajob_error(j, 400, err);
    } else if (stats_range(stats, by, qparam(&q, "since"), qparam(&q, "until"), "since", "until",
                           &d0, &d1, err, sizeof(err)) < 0) {
        ajob_error(j, 400, err);
    } else if ((scene || promoter) && by != STATS_BY_DAY) {
        ajob_json(j, 400,
                  json_pack("{s:s, s:s, s:s}", "error", "scene and promoter need by=day", "field",
                            scene ? "scene" : "promoter", "code", "scope_needs_day"));
    } else if ((qrc = campaign ? stats_query_in(stats, by, d0, d1, campaign, &rep, err, sizeof(err))
                               : stats_query_scoped(stats, by, scene, promoter, d0, d1, &rep, err,
                                                    sizeof(err))) == STATS_ENOCAMPAIGN) {
        ajob_field(j, 404, "campaign", "campaign_unknown", err);
    } else if (qrc < 0) {
        log_warn("admin: %s", err);
        ajob_error(j, 500, "the statistics query failed (see the server log)");
    } else if (fmt && strcmp(fmt, "csv") == 0) {
        stats_csv_reply(j, rep, bom && strcmp(bom, "0") != 0);
    } else {
        ajob_json(j, 200, stats_report_json(rep));
    }
done:
    stats_report_free(rep);
    evhttp_clear_headers(&q);
}

static void h_stats(struct areq *r)
{
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
    char *copy = strdup(query ? query : "");
    if (!copy)
        return reply_error(r, 500, "out of memory");
    ajob_submit(r, run_stats, copy, NULL);
}

/* ---- /api/channels ---- */

/* o with "campaign": the channel's campaign's name, or null. NULL (o
 * freed) on error. */
static json_t *with_campaign(struct store *st, json_t *o, const char *scene)
{
    char *name = NULL;
    if (o && (campaign_of_channel(st, scene, &name) < 0 ||
              json_object_set_new(o, "campaign", name ? json_string(name) : json_null()) < 0)) {
        json_decref(o);
        o = NULL;
    }
    free(name);
    return o;
}

struct list_ctx {
    struct store *st;
    json_t *arr;
};

static int list_one(const struct channel *c, void *arg)
{
    struct list_ctx *x = arg;
    return json_array_append_new(x->arr, with_campaign(x->st, channel_to_json(c), c->scene));
}

static json_t *channel_one_json(const struct channel *c);

static int list_one_all(const struct channel *c, void *arg)
{
    struct list_ctx *x = arg;
    return json_array_append_new(x->arr, with_campaign(x->st, channel_one_json(c), c->scene));
}

static void run_channels_list(struct ajob *j, struct store *st, struct stats *stats)
{
    json_t *arr = json_array();
    bool all = admin_query_flag(j->query, "archived");
    struct list_ctx x = {st, arr};
    (void)stats;
    if (!arr ||
        (all ? channel_foreach_all(st, list_one_all, &x) : channel_foreach(st, list_one, &x)) < 0) {
        log_warn("admin: channel list: %s", store_errmsg(st));
        json_decref(arr);
        return ajob_error(j, 500, "cannot list the channels (see the server log)");
    }
    ajob_json(j, 200, arr);
}

static void h_channels_list(struct areq *r)
{
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
    char *copy = query ? strdup(query) : NULL;
    if (query && !copy)
        return reply_error(r, 500, "out of memory");
    ajob_submit(r, run_channels_list, copy, NULL);
}

static json_t *read_json_body(struct areq *r, char *err, size_t errlen)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t len = evbuffer_get_length(in);
    json_error_t jerr;
    if (len == 0)
        return snprintf(err, errlen, "empty body: send a JSON object"), NULL;
    if (len > ADMIN_MAX_JSON)
        return snprintf(err, errlen, "the body is larger than %d bytes", ADMIN_MAX_JSON), NULL;
    const char *p = (const char *)evbuffer_pullup(in, -1);
    json_t *j = p ? json_loadb(p, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
    if (!j)
        snprintf(err, errlen, "body is not valid JSON: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
    else if (!json_is_object(j))
        snprintf(err, errlen, "body must be a JSON object"), json_decref(j), j = NULL;
    return j;
}

/* A refusal of channel.h as the API answers it: {"error": "FIELD: why",
 * "field": FIELD (null for a key no channel has), "code": "FIELD_KIND",
 * "params": {"min", "max", "length"} for a length}. */
static void ajob_why(struct ajob *j, int status, const struct channel_why *w)
{
    json_t *o = json_pack("{s:s, s:s?, s:s}", "error", w->msg, "field", w->field, "code", w->code);
    if (o && (w->min || w->max) &&
        json_object_set_new(o, "params",
                            json_pack("{s:I, s:I, s:I}", "min", (json_int_t)w->min, "max",
                                      (json_int_t)w->max, "length", (json_int_t)w->len)) < 0) {
        json_decref(o);
        o = NULL;
    }
    ajob_json(j, status, o);
}

/* "campaign" (a name; "" or null: none) taken out of a channel's JSON
 * body, which channel.c reads without it. 0 with *out (malloc'd; NULL
 * when the key is absent, "" for none), or -1 with err said. */
static int take_campaign(json_t *body, char **out, char *err, size_t errlen)
{
    json_t *v = json_object_get(body, "campaign");
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_null(v) &&
        (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)))
        return snprintf(err, errlen, "campaign: must be a campaign's name, \"\" or null"), -1;
    if (!(*out = strdup(json_is_null(v) ? "" : json_string_value(v))))
        return snprintf(err, errlen, "out of memory"), -1;
    json_object_del(body, "campaign");
    return 0;
}

/* A campaign_set_channel() refusal (the channel's other fields were
 * accepted): an unknown campaign, or a channel gone or archived. */
static void campaign_fail(struct ajob *j, struct store *st, int rc, const char *err)
{
    if (rc == CAMPAIGN_ENOTFOUND) {
        ajob_field(j, 400, "campaign", "campaign_unknown", err);
    } else if (rc == CAMPAIGN_ENOCHANNEL && channel_state(st, j->query) == CHANNEL_ABSENT) {
        ajob_field(j, 404, "scene", "not_found", err);
    } else if (rc == CAMPAIGN_ENOCHANNEL) {
        ajob_field(j, 409, "scene", "archived", err);
    } else {
        log_warn("admin: channel campaign: %s", err);
        ajob_error(j, 500, "the store failed (see the server log)");
    }
}

static void run_channels_add(struct ajob *j, struct store *st, struct stats *stats)
{
    struct channel c, got = {0};
    struct channel_scene scene;
    struct channel_why w = {0};
    char err[512], *campaign = NULL;
    int rc;
    if (take_campaign(j->body, &campaign, err, sizeof(err)) < 0) {
        ajob_field(j, 400, "campaign", "campaign_type", err);
    } else if (channel_from_json_why(j->body, &c, &scene, &w) < 0) {
        ajob_why(j, 400, &w);
    } else if ((rc = campaign_channel_add(st, &c, campaign, err, sizeof(err))) == CHANNEL_EEXISTS) {
        ajob_json(j, 409,
                  json_pack("{s:s, s:s, s:s, s:{s:s}}", "error", err, "field", "scene", "code",
                            "scene_exists", "params", "scene", c.scene));
    } else if (rc == CAMPAIGN_ENOTFOUND) {
        ajob_field(j, 400, "campaign", "campaign_unknown", err);
    } else if (rc < 0) {
        log_warn("admin: channel add: %s", err);
        ajob_error(j, 500, err);
    } else if (channel_get(st, c.scene, &got) != 0) {
        log_warn("admin: channel add: read back: %s", store_errmsg(st));
        ajob_error(j, 500, "the channel was added but cannot be read back");
    } else {
        ajob_json(j, 201, with_campaign(st, channel_to_json(&got), got.scene));
    }
    channel_clear(&got);
    free(campaign);
}

static void h_channels_add(struct areq *r)
{
    char err[512];
    json_t *body = read_json_body(r, err, sizeof(err));
    if (!body)
        return reply_error(r, 400, err);
    ajob_submit(r, run_channels_add, NULL, body);
}

/* ---- /api/channels/{scene} ---- */

#define CHANNEL_PATH "/api/channels/"

static int hex_digit(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The {scene} path segment, percent-encoded UTF-8 (a scene_str may hold
 * any character a URL cannot carry as it is): decoded strictly, every '%'
 * followed by two hex digits, no NUL, 1..64 bytes of valid UTF-8 (what a
 * channel's scene can be). Caller frees; NULL with "scene: why" in err. */
static char *segment_decode(const char *seg, const char *what, size_t max, char *err, size_t errlen)
{
    char out[256];
    size_t n = 0;
    for (const char *p = seg; *p; p++) {
        int ch = (unsigned char)*p;
        if (ch == '%') {
            int hi = hex_digit(p[1]), lo = hi < 0 ? -1 : hex_digit(p[2]);
            if (lo < 0) {
                snprintf(err, errlen,
                         "%s: bad percent-encoding at byte %zu of the path segment (want %%XX, "
                         "two hex digits)",
                         what, (size_t)(p - seg) + 1);
                return NULL;
            }
            ch = hi * 16 + lo;
            p += 2;
        }
        if (ch == 0)
            return snprintf(err, errlen, "%s: %%00 (a NUL byte) is not allowed", what), NULL;
        if (n == max || n + 1 == sizeof(out)) {
            snprintf(err, errlen, "%s: longer than %zu bytes once percent-decoded", what, max);
            return NULL;
        }
        out[n++] = (char)ch;
    }
    out[n] = '\0';
    if (!util_utf8_valid(out, n))
        return snprintf(err, errlen, "%s: not valid UTF-8 once percent-decoded", what), NULL;
    char *dup = strdup(out);
    if (!dup)
        snprintf(err, errlen, "out of memory");
    return dup;
}

static char *scene_from_path(const char *seg, char *err, size_t errlen)
{
    return segment_decode(seg, "scene", CHANNEL_SCENE_MAX, err, errlen);
}

/* One channel as the API shows it: channel_to_json() and archived_at
 * (epoch seconds, null while active). NULL when out of memory. */
static json_t *channel_one_json(const struct channel *c)
{
    json_t *j = channel_to_json(c);
    if (j && json_object_set_new(j, "archived_at",
                                 c->archived_at ? json_integer(c->archived_at) : json_null()) < 0) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* One channel as GET and PATCH answer it: channel_one_json() and its
 * reply kind (chreply_json_add: reply_kind, news, image). */
static void ajob_channel(struct ajob *j, struct store *st, int status, const struct channel *c)
{
    json_t *out = with_campaign(st, channel_one_json(c), c->scene);
    if (out && chreply_json_add(st, c->scene, out) < 0) {
        log_warn("admin: channel reply kind: %s", store_errmsg(st));
        json_decref(out);
        return ajob_error(j, 500, "cannot read the channel (see the server log)");
    }
    ajob_json(j, status, out);
}

static void ajob_not_found(struct ajob *j, const char *scene)
{
    char err[160];
    snprintf(err, sizeof(err), "channel %s does not exist", scene);
    ajob_json(j, 404,
              json_pack("{s:s, s:s, s:s, s:{s:s}}", "error", err, "field", "scene", "code",
                        "not_found", "params", "scene", scene));
}

static void run_channel_get(struct ajob *j, struct store *st, struct stats *stats)
{
    struct channel c = {0};
    int rc = channel_get(st, j->query, &c);
    (void)stats;
    if (rc < 0) {
        log_warn("admin: channel get: %s", store_errmsg(st));
        ajob_error(j, 500, "cannot read the channel (see the server log)");
    } else if (rc == 1) {
        ajob_not_found(j, j->query);
    } else {
        ajob_channel(j, st, 200, &c);
    }
    channel_clear(&c);
}

struct patch_tx {
    const char *scene, *campaign;
    struct channel c, got;
    unsigned set;
    const struct chreply_change *kind;
    struct channel_why w;
    int rc, crc; /* channel_edit_why's (or the state's), campaign_set_channel's */
    char err[512];
};

/* The channel's fields (channel_edit_why), its reply kind and its
 * campaign in one transaction; a change of the kind or the campaign alone
 * still needs the channel active. */
static int patch_tx(struct store *st, void *arg)
{
    struct patch_tx *p = arg;
    if (p->set) {
        p->rc = channel_edit_why(st, p->scene, &p->c, p->set, &p->got, &p->w);
    } else {
        int state = channel_state(st, p->scene);
        p->rc = state < 0                   ? -1
                : state == CHANNEL_ABSENT   ? CHANNEL_ENOTFOUND
                : state == CHANNEL_ARCHIVED ? CHANNEL_EARCHIVED
                                            : channel_get(st, p->scene, &p->got);
        if (p->rc == 1)
            p->rc = CHANNEL_ENOTFOUND;
        if (p->rc == CHANNEL_EARCHIVED) {
            p->w.field = "scene";
            snprintf(p->w.code, sizeof(p->w.code), "channel_archived");
            snprintf(p->w.msg, sizeof(p->w.msg), "channel %s is archived: it cannot be edited",
                     p->scene);
        } else if (p->rc == -1) {
            snprintf(p->w.msg, sizeof(p->w.msg), "%s", store_errmsg(st));
        }
    }
    if (p->rc == 0 && chreply_apply(st, p->scene, p->kind) < 0)
        p->rc = -1, snprintf(p->w.msg, sizeof(p->w.msg), "%s", store_errmsg(st));
    if (p->rc == 0 && p->campaign &&
        (p->crc = campaign_set_channel(st, p->scene, p->campaign, p->err, sizeof(p->err))) < 0)
        return -1;
    return p->rc < 0 ? -1 : 0;
}

/* PATCH: the same channel_edit() as `wxscene channel edit`, so the same
 * rules and messages; "reply_kind", "news" and "image_media_id" change the
 * reply's kind (chreply_change_from_json; code FIELD_invalid); "campaign"
 * is set in the same transaction. */
static void run_channel_patch(struct ajob *j, struct store *st, struct stats *stats)
{
    struct chreply_change kind = {0};
    struct patch_tx p = {.scene = j->query, .kind = &kind};
    char err[512], *campaign = NULL;
    (void)stats;
    if (take_campaign(j->body, &campaign, err, sizeof(err)) < 0) {
        ajob_field(j, 400, "campaign", "campaign_type", err);
        return;
    }
    p.campaign = campaign;
    if (chreply_change_from_json(j->body, &kind, &p.w.field, p.w.msg, sizeof(p.w.msg)) < 0) {
        snprintf(p.w.code, sizeof(p.w.code), "%s_invalid", p.w.field ? p.w.field : "body");
        ajob_why(j, 400, &p.w);
        free(campaign); /* kind.taken: the callee's own on failure */
        return;
    }
    /* "campaign" or the reply kind alone change nothing else */
    bool fields =
        !json_is_object(j->body) || json_object_size(j->body) > 0 || (!kind.set && !campaign);
    if (fields && channel_change_from_json_why(j->body, j->query, &p.c, &p.set, &p.w) < 0) {
        ajob_why(j, 400, &p.w);
        goto done;
    }
    if (store_tx(st, patch_tx, &p) < 0 && p.rc == 0 && p.crc == 0)
        p.rc = -1, snprintf(p.w.msg, sizeof(p.w.msg), "%s", store_errmsg(st));
    if (p.rc == 0 && p.crc < 0) {
        campaign_fail(j, st, p.crc, p.err);
    } else if (p.rc == 0) {
        ajob_channel(j, st, 200, &p.got);
    } else if (p.rc == CHANNEL_ENOTFOUND) {
        ajob_not_found(j, j->query);
    } else if (p.rc == CHANNEL_EARCHIVED) {
        ajob_why(j, 409, &p.w);
    } else if (p.rc == CHANNEL_EINVALID) {
        ajob_why(j, 400, &p.w);
    } else {
        log_warn("admin: channel edit: %s", p.w.msg);
        ajob_error(j, 500, "cannot edit the channel (see the server log)");
    }
done:
    json_decref(kind.taken);
    channel_clear(&p.got);
    free(campaign);
}

/* DELETE = `wxscene channel archive`: the channel keeps its row and its
 * history, its permanent scene_id is retired (qr_channel_archive). */
static void run_channel_delete(struct ajob *j, struct store *st, struct stats *stats)
{
    struct channel c = {0};
    struct qr_error e;
    uint64_t retired = 0;
    int state = channel_state(st, j->query);
    json_t *out;
    (void)stats;
    if (state < 0) {
        log_warn("admin: channel archive: %s", store_errmsg(st));
        return ajob_error(j, 500, "cannot read the channel (see the server log)");
    }
    if (state == CHANNEL_ABSENT)
        return ajob_not_found(j, j->query);
    if (qr_channel_archive(st, j->query, &retired, &e) < 0) {
        if (e.rc == QR_ECONFLICT) /* archive_tx: the one conflict */
            return ajob_json(j, 409,
                             json_pack("{s:s, s:s, s:s}", "error", e.msg, "field", "scene", "code",
                                       "already_archived"));
        if (e.rc == QR_EINVALID) /* gone since channel_state() */
            return ajob_not_found(j, j->query);
        log_warn("admin: channel archive: %s", e.msg);
        return ajob_error(j, 500, "cannot archive the channel (see the server log)");
    }
    if (channel_get(st, j->query, &c) != 0) {
        log_warn("admin: channel archive: read back: %s", store_errmsg(st));
        return ajob_error(j, 500, "the channel was archived but cannot be read back");
    }
    out = with_campaign(st, channel_one_json(&c), c.scene);
    if (out && json_object_set_new(out, "retired_scene_id",
                                   retired ? json_integer((json_int_t)retired) : json_null()) < 0) {
        json_decref(out);
        out = NULL;
    }
    ajob_json(j, 200, out);
    channel_clear(&c);
}

/* The route's scene, decoded on the loop (a bad one is a 400 at once);
 * the body (PATCH) is taken. */
static void channel_one_submit(struct areq *r,
                               void (*run)(struct ajob *, struct store *, struct stats *),
                               json_t *body)
{
    char err[256];
    char *scene = scene_from_path(r->path + strlen(CHANNEL_PATH), err, sizeof(err));
    if (!scene) {
        json_decref(body);
        return reply_json(
            r, 400,
            json_pack("{s:s, s:s, s:s}", "error", err, "field", "scene", "code", "scene_invalid"));
    }
    ajob_submit(r, run, scene, body);
}

static void h_channel_get(struct areq *r)
{
    channel_one_submit(r, run_channel_get, NULL);
}

static void h_channel_patch(struct areq *r)
{
    char err[512];
    json_t *body = read_json_body(r, err, sizeof(err));
    if (!body)
        return reply_error(r, 400, err);
    channel_one_submit(r, run_channel_patch, body);
}

static void h_channel_delete(struct areq *r)
{
    channel_one_submit(r, run_channel_delete, NULL);
}

/* ---- /api/campaigns ---- */

static int campaign_one(const struct campaign *c, void *arg)
{
    return json_array_append_new(arg, campaign_to_json(c));
}

static void run_campaigns_list(struct ajob *j, struct store *st, struct stats *stats)
{
    json_t *arr = json_array();
    (void)stats;
    if (!arr || campaign_foreach(st, campaign_one, arr) < 0) {
        log_warn("admin: campaign list: %s", store_errmsg(st));
        json_decref(arr);
        return ajob_error(j, 500, "cannot list the campaigns (see the server log)");
    }
    ajob_json(j, 200, arr);
}

static void h_campaigns_list(struct areq *r)
{
    ajob_submit(r, run_campaigns_list, NULL, NULL);
}

/* POST: the same campaign_add() as `wxscene campaign add`. */
static void run_campaigns_add(struct ajob *j, struct store *st, struct stats *stats)
{
    struct campaign c = {0};
    const char *name, *note, *field;
    char err[512];
    int rc;
    (void)stats;
    if (campaign_from_json(j->body, &name, &note, &field, err, sizeof(err)) < 0) {
        ajob_field(j, 400, field, "campaign_invalid", err);
    } else if ((rc = campaign_add(st, name, note, &c, err, sizeof(err))) == CAMPAIGN_EEXISTS) {
        ajob_field(j, 409, "name", "campaign_exists", err);
    } else if (rc < 0) {
        log_warn("admin: campaign add: %s", err);
        ajob_error(j, 500, "the store failed (see the server log)");
    } else {
        ajob_json(j, 201, campaign_to_json(&c));
    }
    campaign_clear(&c);
}

static void h_campaigns_add(struct areq *r)
{
    char err[512];
    json_t *body = read_json_body(r, err, sizeof(err));
    if (!body)
        return reply_error(r, 400, err);
    ajob_submit(r, run_campaigns_add, NULL, body);
}

/* POST /api/qrcodes: the WeChat API call runs on the admin_qr worker; the
 * request waits in a heap copy of its areq until the worker's answer comes
 * back on this thread. */
static void qrcode_done(void *arg, int status, json_t *body)
{
    struct areq *r = arg;
    reply_json(r, status, body);
    free(r);
}

static void h_qrcodes_add(struct areq *r)
{
    char err[512];
    json_t *body = read_json_body(r, err, sizeof(err));
    struct areq *held = body ? areq_hold(r) : NULL;
    if (!body)
        return reply_error(r, 400, err);
    if (!held) {
        json_decref(body);
        return reply_error(r, 500, "out of memory");
    }
    if (admin_qr_submit(r->a->qr, body, qrcode_done, held) == 0) {
        free(held);
        reply_error(r, 503, "too many QR code requests in progress; retry later");
    }
}

/* ---- dispatch ---- */

/* segment: path is a prefix followed by one non-empty segment (no '/'). */
static const struct route {
    enum evhttp_cmd_type method;
    const char *path;
    void (*fn)(struct areq *r);
    bool segment;
    bool rest; /* path is a prefix followed by anything non-empty */
} routes[] = {
    /* the console's (admin_console.c, admin_promoter.c), before
     * /api/channels/{scene} so that its fixed names win */
    {EVHTTP_REQ_GET, "/api/config", admin_h_config, false, false},
    {EVHTTP_REQ_GET, "/api/channels/template.csv", admin_h_template, false, false},
    {EVHTTP_REQ_POST, "/api/channels/import", admin_h_import, false, false},
    {EVHTTP_REQ_GET, "/api/qrcodes", admin_h_qrcodes_list, false, false},
    {EVHTTP_REQ_GET, "/api/qrcodes/perm", admin_h_qrcodes_perm, false, false},
    {EVHTTP_REQ_POST, "/api/qrcodes/zip", admin_h_qrcodes_zip, false, false},
    {EVHTTP_REQ_GET, "/api/qrcodes/", admin_h_qrcode_image, false, true},
    {EVHTTP_REQ_GET, "/api/promoters", admin_h_promoters, false, false},
    {EVHTTP_REQ_POST, "/api/promoters/", admin_h_link_make, false, true},
    {EVHTTP_REQ_DELETE, "/api/promoters/", admin_h_link_revoke, false, true},
    {EVHTTP_REQ_GET, "/p/", admin_h_public, true, false},
    {EVHTTP_REQ_GET, "/healthz", h_health, false, false},
    {EVHTTP_REQ_GET, "/metrics", h_metrics, false, false},
    {EVHTTP_REQ_GET, "/", h_index, false, false},
    {EVHTTP_REQ_GET, "/api/stats", h_stats, false, false},
    {EVHTTP_REQ_GET, "/api/channels", h_channels_list, false, false},
    {EVHTTP_REQ_POST, "/api/channels", h_channels_add, false, false},
    {EVHTTP_REQ_GET, CHANNEL_PATH, h_channel_get, true, false},
    {EVHTTP_REQ_PATCH, CHANNEL_PATH, h_channel_patch, true, false},
    {EVHTTP_REQ_DELETE, CHANNEL_PATH, h_channel_delete, true, false},
    {EVHTTP_REQ_POST, "/api/qrcodes", h_qrcodes_add, false, false},
    {EVHTTP_REQ_GET, ASSET_PATH, h_asset, true, false},
    {EVHTTP_REQ_GET, "/api/campaigns", h_campaigns_list, false, false},
    {EVHTTP_REQ_POST, "/api/campaigns", h_campaigns_add, false, false},
};

static bool route_matches(const struct route *rt, const char *path)
{
    size_t n = strlen(rt->path);
    if (rt->rest)
        return strncmp(rt->path, path, n) == 0 && path[n];
    if (!rt->segment)
        return strcmp(rt->path, path) == 0;
    return strncmp(rt->path, path, n) == 0 && path[n] && !strchr(path + n, '/');
}

static const char *method_name(enum evhttp_cmd_type m)
{
    static const struct {
        enum evhttp_cmd_type m;
        const char *name;
    } names[] = {{EVHTTP_REQ_GET, "GET"},
                 {EVHTTP_REQ_POST, "POST"},
                 {EVHTTP_REQ_PATCH, "PATCH"},
                 {EVHTTP_REQ_DELETE, "DELETE"}};
    for (size_t i = 0; i < WXS_ARRAY_LEN(names); i++)
        if (names[i].m == m)
            return names[i].name;
    return "OTHER";
}

/* "Authorization: Bearer TOKEN", the token compared in constant time. */
static bool authorized(const struct admin *a, struct evhttp_request *req)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    const char *tok = h + 7;
    while (*tok == ' ')
        tok++;
    return util_secure_eq(tok, strlen(tok), a->cfg->admin_token, strlen(a->cfg->admin_token));
}

/* Routes by path then method; /api/... is checked for the token first, so an
 * unauthenticated client learns nothing about which API paths exist. */
static void drain_finish(struct admin *a)
{
    void (*done)(void *) = a->drain_done;
    a->drain_done = NULL;
    if (done)
        done(a->drain_arg);
}

/* evhttp wrote the whole answer (not called for a connection it failed:
 * the drain timer covers those). */
static void on_request_done(struct evhttp_request *req, void *arg)
{
    struct admin *a = arg;
    (void)req;
    a->inflight--;
    if (a->draining && a->inflight == 0)
        drain_finish(a);
}

static const struct admin_ops admin_ops;

static void on_request(struct evhttp_request *req, void *arg)
{
    struct admin *a = arg;
    a->inflight++;
    evhttp_request_set_on_complete_cb(req, on_request_done, a);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    struct areq r = {.a = a,
                     .ops = &admin_ops,
                     .req = req,
                     .method = method_name(m),
                     .path = uri ? evhttp_uri_get_path(uri) : NULL,
                     .start_us = util_mono_us()};
    bool path_known = false;
    const char *why = http_framing_check(req, &r.close);
    if (why)
        return reply_error(&r, 400, why);
    if (m == EVHTTP_REQ_CONNECT) /* its target is host:port, not a path */
        return reply_error(&r, 405, "method not allowed");
    if (!r.path || !*r.path)
        return reply_error(&r, 400, "no path");
    if (strncmp(r.path, "/api/", 5) == 0 && strcmp(r.path, "/api/config") != 0) {
        if (!a->cfg->admin_token[0])
            return reply_error(&r, 403, "the admin API is disabled: set [admin] token");
        if (!authorized(a, req)) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                              "Bearer realm=\"wxscene\"");
            return reply_error(&r, 401, "missing or wrong bearer token");
        }
    }
    /* only an import may be larger than a JSON body */
    if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) > ADMIN_MAX_JSON &&
        strcmp(r.path, "/api/channels/import") != 0)
        return reply_error(&r, 413, "the body is larger than 65536 bytes");
    for (size_t i = 0; i < WXS_ARRAY_LEN(routes); i++) {
        if (!route_matches(&routes[i], r.path))
            continue;
        path_known = true;
        if (routes[i].method == m)
            return routes[i].fn(&r);
    }
    if (path_known)
        return reply_error(&r, 405, "method not allowed");
    reply_error(&r, 404, "not found");
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct admin *a = arg;
    (void)fd, (void)what;
    if (a->drain_done) {
        log_warn("admin: drain: %llu requests still open after %llds; closing",
                 (unsigned long long)a->inflight, (long long)a->cfg->request_timeout + 1);
        drain_finish(a);
    }
}

void admin_drain(struct admin *a, void (*done)(void *arg), void *arg)
{
    if (!a) {
        done(arg);
        return;
    }
    if (a->draining)
        return;
    a->draining = true;
    if (a->sock) {
        http_accept_free(a->accept);
        a->accept = NULL;
        evhttp_del_accept_socket(a->http, a->sock);
        a->sock = NULL;
    }
    a->drain_done = done;
    a->drain_arg = arg;
    if (a->inflight == 0) {
        drain_finish(a);
        return;
    }
    /* The deadline fails any request unanswered after request_timeout, so
     * none outlives this by much; the timer only covers the ones evhttp
     * dropped without telling (a client gone mid-answer). */
    struct timeval tv = {.tv_sec = a->cfg->request_timeout + 1};
    a->drain_ev = evtimer_new(a->base, on_drain_timeout, a);
    if (a->drain_ev)
        evtimer_add(a->drain_ev, &tv);
}

void admin_free(struct admin *a)
{
    if (!a)
        return;
    if (a->drain_ev)
        event_free(a->drain_ev);
    admin_qr_free(a->qr); /* answers its held requests before evhttp frees them */
    dbwork_free(a->work); /* the same */
    if (a->srv)
        health_cancel(server_health(a->srv), a);
    http_accept_free(a->accept);
    if (a->http)
        evhttp_free(a->http);
    http_deadline_free(a->deadline);
    free(a);
}

static int admin_bind(struct admin *a, struct event_base *base, char *err, size_t errlen)
{
    char host[256];
    uint16_t port;
    if (cfg_split_hostport(a->cfg->admin_listen, host, sizeof(host), &port) < 0)
        return snprintf(err, errlen, "[admin] listen: bad address %s", a->cfg->admin_listen), -1;
    struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(a->http, host, port);
    a->sock = sock;
    if (!sock)
        return snprintf(err, errlen, "[admin] listen: cannot bind %s: %m", a->cfg->admin_listen),
               -1;
    if (http_accept_guard(&a->accept, base, sock, "admin", &a->accept_errors) < 0)
        return snprintf(err, errlen, "out of memory"), -1;
    return 0;
}

int admin_new(struct admin **out, struct event_base *base, const struct cfg *cfg,
              struct server *srv, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->admin_listen[0])
        return 0;
    struct admin *a = calloc(1, sizeof(*a));
    if (!a)
        return snprintf(err, errlen, "out of memory"), -1;
    *a = (struct admin){.cfg = cfg, .srv = srv, .base = base};
    if (!(a->http = evhttp_new(base)) ||
        http_deadline_attach(&a->deadline, base, a->http, cfg->request_timeout) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    http_deadline_on_own_answer(a->deadline, on_evhttp_answer, a);
    evhttp_set_max_body_size(a->http, ADMIN_MAX_BODY);
    evhttp_set_max_headers_size(a->http, ADMIN_MAX_HEADERS);
    evhttp_set_timeout(a->http, (int)cfg->request_timeout);
    evhttp_set_allowed_methods(a->http, HTTP_FRAMING_ALL_METHODS); /* others: 405 here */
    evhttp_set_gencb(a->http, on_request, a);
    if (admin_bind(a, base, err, errlen) < 0 || admin_qr_new(&a->qr, base, cfg, err, errlen) < 0 ||
        dbwork_new(&a->work, base, cfg, "admin", 5000, &work_state, err, errlen) < 0)
        goto fail;
    if (!cfg->admin_token[0])
        log_warn("admin: [admin] token is empty: /api/... answers 403");
    *out = a;
    return 0;
fail:
    admin_free(a);
    return -1;
}

/* ---- the services a route's module sees (admin_api.h) ---- */

static const struct cfg *areq_cfg(const struct areq *r)
{
    return r->a->cfg;
}

static const struct admin_ops admin_ops = {
    .reply = reply,
    .reply_json = reply_json,
    .submit = ajob_submit_in,
    .ajob_json = ajob_json,
    .read_json = read_json_body,
    .segment_decode = segment_decode,
    .cfg = areq_cfg,
};
