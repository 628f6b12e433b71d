#include "server.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>

#include "channel.h"
#include "http_accept.h"
#include "http_deadline.h"
#include "http_framing.h"
#include "log.h"
#include "netmask.h"
#include "followup.h"
#include "reply.h"
#include "route.h"
#include "gcommit.h"
#include "health.h"
#include "stats.h"
#include "store_ckpt.h"
#include "tag.h"
#include "wx_crypt.h"
#include "wx_query.h"
#include "wx_sign.h"
#include "wx_xml.h"

const double server_commit_bucket_bounds_s[12] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                  0.01,   0.025,   0.05,   0.1,   0.5,    1e308};

/* A push waiting for the group commit. Owned by the batch; the request
 * stays valid until we answer it (evhttp keeps a request whose connection
 * died until the user's reply, then frees it). */
struct pending {
    struct evhttp_request *req;
    struct wx_msg msg;
    struct route_out route;
    bool encrypted; /* answer with an encrypted envelope */
    uint64_t start_us;
};

/* A batch's pushes sit in chunks that never move: the commit thread works
 * on the first ones while the loop appends more. Chunks are kept for the
 * next batch. */
#define BATCH_CHUNK 16
struct batch_chunk {
    struct batch_chunk *next;
    struct pending p[BATCH_CHUNK];
    struct event_rec recs[BATCH_CHUNK];
};

/* The config a batch routes with (its [reply] texts): the one loaded at
 * start, or the last SIGHUP's. Counted: the commit thread may still route
 * a batch with the previous one while the loop installs the next. */
struct live_cfg {
    const struct cfg *cfg;
    struct cfg *owned; /* a reload's, freed with the last reference; NULL = borrowed */
    int refs;          /* under server.live_mu */
};

struct batch {
    struct live_cfg *live;    /* taken by the commit thread, dropped when answered */
    struct batch_chunk *head; /* NULL until the first push */
    struct batch_chunk *tail; /* the chunk the next push goes into */
    size_t n;
    /* the commit thread's own, reset by the loop before gcommit_open() */
    struct batch_chunk *cur; /* the chunk of item `at` */
    size_t at;
    bool begun, failed;
    int64_t now;
    int lane;      /* the commit lane it went to */
    bool inflight; /* opened on its lane, not yet answered */
};

/* Commit lanes (a commit thread and its connection each). One where
 * the store serialises writers anyway (SQLite); two where it does not
 * (PostgreSQL): one batch is built and its reads answered while the
 * other commits, each on its own server session. */
#ifndef SERVER_LANES
#define SERVER_LANES 2 /* -DSERVER_LANES=1: one lane everywhere (benchmarks) */
#endif
/* While one lane commits, the pushes wait for this many before an idle
 * lane takes them (a batch costs a dozen statements whatever its size:
 * measured, half the batches were of a push or two without it); a lane
 * that finishes takes whatever waits. */
#ifndef SERVER_LANE_MIN
#define SERVER_LANE_MIN 16
#endif

struct server {
    const struct cfg *cfg;
    struct netmask_list *proxies; /* [server] trusted_proxies */
    pthread_mutex_t live_mu;
    struct live_cfg *live; /* what the next batch routes with */
    struct event_base *base;
    struct evhttp *http;
    struct http_deadline *deadline; /* request_timeout as a whole-request limit */
    struct evhttp_bound_socket *sock;
    /* pauses accepting when out of descriptors */
    struct http_accept *accept;
    struct wx_crypt *crypt;    /* NULL in plain mode */
    struct wx_xml_parser *xml; /* one reusable libxml2 context */
    struct store_ckpt *ckpt;   /* WAL checkpoints on a helper thread, or NULL */
    struct event *commit_ev;
    struct event *drain_ev;
    /* Two batches: the loop fills b[fill] (handing each push to the commit
     * thread when the batch is open there) while the other one may be
     * committing. */
    struct batch b[SERVER_LANES + 1]; /* one per lane in flight, one filling */
    int fill;
    struct batch *open;               /* b[fill] while it is open on the commit thread */
    struct gcommit *gc[SERVER_LANES]; /* the commit threads and their connections */
    int nlanes;
    struct health *health; /* /healthz of both listeners, off the loop */
    bool closing;          /* server_free: answer, never submit again */
    bool seal_at_open;     /* the commit store applies a batch whole (store_batch_whole) */
    uint64_t inflight;     /* requests accepted and not yet fully answered */
    bool draining;
    void (*drain_done)(void *);
    void *drain_arg;
    struct server_stats stats;
    struct log_batch logs; /* the commit's request lines, written after its replies */
    bool answering_batch;  /* inside on_committed's reply loop */
    time_t date_at;        /* the second date[] was formatted for */
    char date[40];         /* RFC 1123, for the Date header */
};

/* ---- the edge: one reply and one log line per request ---- */

struct reqinfo {
    const char *kind; /* event kind for the log, or "-" */
    const char *why;  /* rejection reason for the log, or NULL */
    uint64_t start_us;
    bool close; /* answer with Connection: close (http_framing_check) */
};

static void on_request_done(struct evhttp_request *req, void *arg)
{
    struct server *srv = arg;
    srv->inflight--;
    if (srv->draining && srv->inflight == 0 && srv->drain_done) {
        void (*done)(void *) = srv->drain_done;
        srv->drain_done = NULL;
        done(srv->drain_arg);
    }
}

static void count_status(struct server *srv, int status)
{
    unsigned i = (unsigned)status / 100;
    srv->stats.requests_by_status[i < 6 ? i : 0]++;
}

/* The rightmost address of X-Forwarded-For that is not a trusted proxy
 * (each proxy appends the address it got the request from), into out. */
static bool forwarded_for(const struct server *srv, const char *xff, char *out, size_t outlen)
{
    size_t end = strlen(xff);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        const char *e = xff + start;
        size_t len = end - start;
        while (len && (*e == ' ' || *e == '\t'))
            e++, len--;
        while (len && (e[len - 1] == ' ' || e[len - 1] == '\t'))
            len--;
        if (len == 0 || len >= outlen)
            return false;
        memcpy(out, e, len);
        out[len] = '\0';
        if (!netmask_is_addr(out))
            return false;
        if (start == 0 || !netmask_list_match(srv->proxies, out))
            return true;
        end = start - 1;
    }
    return false;
}

/* Who sent the request: the peer, or, when the peer is a trusted proxy
 * (nginx in front), the address it says it got the request from:
 * X-Real-IP, else X-Forwarded-For. A header that is not an address is
 * ignored (the peer is logged): it is outside text either way. */
static void client_addr(const struct server *srv, struct evhttp_request *req, char *out,
                        size_t outlen)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    char *peer = NULL;
    ev_uint16_t port = 0;
    if (conn)
        evhttp_connection_get_peer(conn, &peer, &port);
    snprintf(out, outlen, "%s", peer && *peer ? peer : "-");
    if (!peer || !netmask_list_match(srv->proxies, peer))
        return;
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *real = evhttp_find_header(h, "X-Real-IP");
    const char *xff = evhttp_find_header(h, "X-Forwarded-For");
    char addr[64];
    if (real && netmask_is_addr(real))
        snprintf(out, outlen, "%s", real);
    else if (!real && xff && forwarded_for(srv, xff, addr, sizeof(addr)))
        snprintf(out, outlen, "%s", addr);
}

static void log_request(struct server *srv, struct evhttp_request *req, int status,
                        const struct reqinfo *ri)
{
    const char *m;
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:
        m = "GET";
        break;
    case EVHTTP_REQ_POST:
        m = "POST";
        break;
    default:
        m = "OTHER";
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    uint64_t us = util_mono_us() - ri->start_us;
    /* "%s %s %d %llu.%03llums %s%s%s" by hand: once per request */
    char line[2048], *p = line, *end = line + sizeof(line);
    char frac[3] = {(char)('0' + us % 1000 / 100), (char)('0' + us % 100 / 10),
                    (char)('0' + us % 10)};
    p = util_puts(util_puts(p, end, m), end, " ");
    p = util_puts(util_puts(p, end, path && *path ? path : "?"), end, " ");
    p = util_put_i64(p, end, status);
    p = util_put_i64(util_puts(p, end, " "), end, (int64_t)(us / 1000));
    p = util_puts(util_put(util_puts(p, end, "."), end, frac, 3), end, "ms ");
    p = util_puts(p, end, ri->kind);
    if (ri->why)
        p = util_puts(util_puts(p, end, " "), end, ri->why);
    char client[64];
    client_addr(srv, req, client, sizeof(client));
    p = util_puts(util_puts(p, end, " client "), end, client);
    log_batch_addn(&srv->logs, LOG_INFO, line, (size_t)(p - line));
}

/* The Date header, formatted once a second: evhttp formats it for every
 * reply that lacks one (gmtime_r and a printf, 3,400 instructions). */
static const char *http_date(struct server *srv)
{
    time_t now = time(NULL);
    if (now != srv->date_at) {
        static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
        static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
        struct tm tm;
        gmtime_r(&now, &tm); /* names by hand: strftime's depend on the locale */
        snprintf(srv->date, sizeof(srv->date), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                 days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
        srv->date_at = now;
    }
    return srv->date;
}

static void reply_body(struct server *srv, struct evhttp_request *req, int status,
                       const char *ctype, const char *body, size_t len, const struct reqinfo *ri)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "Date", http_date(srv));
    if (srv->draining || ri->close)
        evhttp_add_header(h, "Connection", "close");
    http_framing_add_body(req, body, len);
    count_status(srv, status);
    log_request(srv, req, status, ri);
    if (!srv->answering_batch)
        log_batch_flush(&srv->logs);
    static const char *const reasons[] = {[200] = "OK",
                                          [400] = "Bad Request",
                                          [401] = "Unauthorized",
                                          [404] = "Not Found",
                                          [405] = "Method Not Allowed",
                                          [413] = "Payload Too Large",
                                          [503] = "Service Unavailable"};
    const char *reason = status < (int)WXS_ARRAY_LEN(reasons) ? reasons[status] : NULL;
    http_deadline_send_reply(srv->deadline, req, status, reason ? reason : "Error");
}

/* evhttp answered a request itself (a request line or headers it cannot
 * parse, a body over max_body_bytes, ...): logged and counted like ours,
 * though neither method nor path is known. */
static void on_evhttp_answer(void *arg, int status, const char *why)
{
    struct server *srv = arg;
    count_status(srv, status);
    if (status == 400)
        srv->stats.bad_requests++;
    log_batch_add(&srv->logs, LOG_INFO, "? ? %d ? - evhttp: %s", status, why);
    if (!srv->answering_batch)
        log_batch_flush(&srv->logs);
}

static void reply_error(struct server *srv, struct evhttp_request *req, int status, const char *why,
                        struct reqinfo *ri)
{
    char body[320];
    int n = snprintf(body, sizeof(body), "%s\n", why);
    if (status == 401)
        srv->stats.sig_failures++;
    else if (status == 400)
        srv->stats.bad_requests++;
    ri->why = why;
    reply_body(srv, req, status, "text/plain; charset=utf-8", body,
               (size_t)(n < (int)sizeof(body) ? n : (int)sizeof(body) - 1), ri);
}

/* ---- query and signature ---- */

/* The query string's six values (wx_query: evhttp's decoding rules, no
 * allocation for a short query); WX_QUERY_NUL when a value holds a NUL. */
static int query_parse(struct evhttp_request *req, struct wx_query *q)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    return wx_query_parse(q, uri ? evhttp_uri_get_query(uri) : NULL);
}

/* NULL when the URL signature and timestamp are acceptable, else why not. */
static const char *check_signature(const struct server *srv, const struct wx_query *q)
{
    int64_t ts;
    if (!q->signature || !q->timestamp || !q->nonce || !*q->nonce)
        return "missing signature, timestamp or nonce";
    if (util_parse_i64(q->timestamp, 0, INT64_C(99999999999), &ts) < 0)
        return "malformed timestamp";
    if (!wx_sign_check(srv->cfg->token, q->timestamp, q->nonce, q->signature))
        return "wrong signature";
    int64_t skew = util_now() - ts;
    if (srv->cfg->timestamp_window &&
        (skew > srv->cfg->timestamp_window || -skew > srv->cfg->timestamp_window))
        return "timestamp outside the window";
    return NULL;
}

/* ---- GET: URL verification ---- */

static void handle_get(struct server *srv, struct evhttp_request *req, const struct wx_query *q,
                       struct reqinfo *ri)
{
    ri->kind = "verify";
    if (!q->echostr)
        reply_error(srv, req, 400, "missing echostr", ri);
    else
        reply_body(srv, req, 200, "text/plain; charset=utf-8", q->echostr, strlen(q->echostr), ri);
}

/* ---- POST: pushes ---- */

/* Open b on commit lane `lane` with the pushes it holds. */
static void batch_open(struct server *srv, struct batch *b, int lane)
{
    b->cur = b->head;
    b->at = 0;
    b->begun = b->failed = false;
    b->lane = lane;
    b->inflight = true;
    srv->open = b;
    gcommit_open(srv->gc[lane], b, b->n);
    /* sealed after this loop turn's reads */
    event_active(srv->commit_ev, EV_TIMEOUT, 0);
}

/* How many commit lanes have no batch. */
static int lanes_idle(const struct server *srv)
{
    int n = 0;
    for (int l = 0; l < srv->nlanes; l++)
        n += !gcommit_busy(srv->gc[l]);
    return n;
}

/* A commit lane with no batch, or -1. */
static int lane_idle(const struct server *srv)
{
    for (int l = 0; l < srv->nlanes; l++)
        if (!gcommit_busy(srv->gc[l]))
            return l;
    return -1;
}

static void batch_seal(struct server *srv);

/* An open batch that holds its share of the requests in flight is
 * sealed at once, mid-turn: the pushes after it fill the next batch,
 * which an idle lane takes at SERVER_LANE_MIN. Without it, the replies of
 * one batch came back as one burst read in one loop turn, and every batch
 * held nearly all the clients' requests: one lane committed while the
 * other idled and a third of the machine waited (measured with wrk -c64:
 * batches of 50, 35 % idle; split, 20 per batch, 13 % idle and 35-53 %
 * more pushes per second: docs/benchmarks.md, "Both lanes at work"). A batch
 * that waits for a lane is not capped: under more load than the lanes
 * keep up with, batches grow as before. */
static bool batch_full(const struct server *srv, const struct batch *b)
{
    return srv->nlanes > 1 && b->n >= SERVER_LANE_MIN &&
           b->n >= srv->inflight / (uint64_t)srv->nlanes;
}

static int batch_push(struct server *srv, struct pending *p)
{
    struct batch *b = &srv->b[srv->fill]; /* never the one committing */
    size_t k = b->n % BATCH_CHUNK;
    if (!b->head || (k == 0 && b->n > 0)) {
        struct batch_chunk *c = b->head ? b->tail->next : NULL;
        if (!c) {
            if (!(c = malloc(sizeof(*c))))
                return -1;
            c->next = NULL;
            if (b->head)
                b->tail->next = c;
            else
                b->head = c;
        }
        b->tail = c;
    }
    b->tail->p[k] = *p;
    b->n++;
    int lane;
    if (b->n == 1 && !srv->closing && lanes_idle(srv) == srv->nlanes)
        batch_open(srv, b, 0);
    else if (b->n == SERVER_LANE_MIN && !b->inflight && srv->seal_at_open && !srv->closing &&
             (lane = lane_idle(srv)) >= 0)
        batch_open(srv, b, lane); /* another lane is busy: not for a push or two */
    else if (srv->open == b && srv->seal_at_open) {
        gcommit_more_quiet(srv->gc[b->lane], b->n); /* nothing to do before the seal */
        if (batch_full(srv, b))
            batch_seal(srv);
    } else if (srv->open == b)
        gcommit_more(srv->gc[b->lane], b->n);
    return 0;
}

/* Decrypt a safe-mode envelope into m (a plaintext push parsed again).
 * Returns 0, or the HTTP status to answer with why set. Once msg_signature
 * holds, every later failure (base64, length, padding, AppID, the decrypted
 * XML) gets the same 400 body, so the answer is no oracle for any of them;
 * the official code goes to the log only. */
static int unwrap_encrypted(struct server *srv, const struct wx_query *q, struct wx_msg *m,
                            const char **why)
{
    char *plain = NULL;
    size_t plen = 0;
    char err[256];
    if (!srv->crypt)
        return *why = "encrypted push but [wechat] mode = plain", 400;
    if (!q->msg_signature)
        return *why = "missing msg_signature", 401;
    int rc = wx_crypt_decrypt(srv->crypt, q->msg_signature, q->timestamp, q->nonce, m->encrypt,
                              m->encrypt_len, &plain, &plen);
    if (rc != WXC_OK) {
        log_info("decrypt failed: %d %s", rc, wx_crypt_strerror(rc)); /* the official code */
        if (rc == WXC_VALIDATE_SIGNATURE)
            return *why = "wrong msg_signature", 401;
        return *why = "cannot decrypt the message", 400;
    }
    wx_msg_clear(m);
    int ret = wx_xml_parser_parse(srv->xml, plain, plen, true, m, err, sizeof(err));
    free(plain);
    if (ret < 0) {
        log_info("decrypt failed: %d %s: decrypted XML rejected: %s", WXC_PARSE_XML,
                 wx_crypt_strerror(WXC_PARSE_XML), err);
        return *why = "cannot decrypt the message", 400;
    }
    return 0;
}

/* Copy the body out of evhttp (bounded by evhttp_set_max_body_size). */
static int read_body(struct evhttp_request *req, char **body, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    *len = evbuffer_get_length(in);
    unsigned char *p = evbuffer_pullup(in, -1);
    *body = (char *)p;
    return (*len == 0 || p) ? 0 : -1;
}

static void handle_post(struct server *srv, struct evhttp_request *req, const struct wx_query *q,
                        struct reqinfo *ri)
{
    struct pending p = {.req = req, .start_us = ri->start_us};
    char err[256];
    const char *why = err;
    int status = 400;
    char *body;
    size_t len;
    bool encrypted = q->encrypt_type && strcmp(q->encrypt_type, "aes") == 0;
    size_t in_len = evbuffer_get_length(evhttp_request_get_input_buffer(req));
    const char *big = wx_xml_too_large(in_len, !encrypted);
    ri->kind = "push";
    if ((size_t)srv->cfg->max_body_bytes < in_len)
        return reply_error(srv, req, 413, "body too large", ri);
    if (big) /* no push is that large: refused before read_body() copies it */
        return reply_error(srv, req, 400, big, ri);
    if (read_body(req, &body, &len) < 0 || len == 0) {
        snprintf(err, sizeof(err), "empty body");
        goto fail;
    }
    if (srv->cfg->mode == WX_MODE_SAFE && !encrypted) {
        snprintf(err, sizeof(err), "plaintext push but [wechat] mode = safe");
        goto fail;
    }
    if (wx_xml_parser_parse(srv->xml, body, len, !encrypted, &p.msg, err, sizeof(err)) < 0)
        goto fail;
    if (encrypted && (status = unwrap_encrypted(srv, q, &p.msg, &why)) != 0)
        goto fail;
    p.encrypted = encrypted;
    p.route.scene_off = -1; /* routed on the commit thread */
    if (batch_push(srv, &p) < 0) {
        status = 503, why = "out of memory";
        goto fail;
    }
    return;
fail:
    wx_msg_clear(&p.msg);
    buf_free(&p.route.reply);
    reply_error(srv, req, status ? status : 400, why, ri);
}

/* ---- group commit ---- */

static void rec_from_pending(struct event_rec *r, const struct pending *p, int64_t now)
{
    memset(r, 0, sizeof(*r));
    r->dedup_key = p->route.dedup_key;
    r->kind = p->route.kind;
    r->openid = p->msg.from;
    r->create_time = p->msg.create_time;
    r->msg_type = p->msg.msg_type;
    r->event = p->msg.event;
    r->event_key = p->msg.event_key;
    r->scene = route_scene(&p->route, &p->msg);
    r->reply = p->route.has_reply ? p->route.reply.data : NULL;
    r->received_at = now;
    r->untagged = p->route.untagged;
    r->followups = p->route.followups_read ? p->route.followups : NULL;
}

/* The answer to one committed push: the passive reply of its stored kind
 * (text, news or image; encrypted when the push was), or "success". */
static void answer_pending(struct server *srv, struct pending *p, const char *text)
{
    struct reqinfo ri = {.kind = ev_kind_name(p->route.kind), .start_us = p->start_us};
    struct buf xml = {0}, env = {0};
    if (!text || !*text) {
        srv->stats.replies_success++;
        reply_body(srv, p->req, 200, "text/plain; charset=utf-8", "success", 7, &ri);
        return;
    }
    if (reply_xml(&xml, p->msg.from, p->msg.to, util_now(), text) < 0)
        goto oom;
    if (p->encrypted) {
        char ts[24], nonce[11];
        *util_put_i64(ts, ts + sizeof(ts) - 1, util_now()) = '\0';
        if (util_random_alnum(nonce, 10) < 0 ||
            wx_crypt_encrypt_reply(srv->crypt, xml.data, xml.len, ts, nonce, NULL, &env) < 0)
            goto oom;
        reply_body(srv, p->req, 200, "application/xml; charset=utf-8", env.data, env.len, &ri);
    } else {
        reply_body(srv, p->req, 200, "application/xml; charset=utf-8", xml.data, xml.len, &ri);
    }
    enum reply_kind kind = reply_stored_kind(text);
    if (kind == REPLY_NEWS)
        srv->stats.replies_news++;
    else if (kind == REPLY_IMAGE)
        srv->stats.replies_image++;
    else
        srv->stats.replies_text++;
    buf_free(&xml);
    buf_free(&env);
    return;
oom:
    buf_free(&xml);
    buf_free(&env);
    reply_error(srv, p->req, 503, "cannot build the reply", &ri);
}

static void observe_commit(struct server *srv, uint64_t us, size_t n, bool ok)
{
    struct server_stats *s = &srv->stats;
    s->commits++;
    s->commit_us_sum += us;
    for (size_t i = 0; i < WXS_ARRAY_LEN(s->commit_us_buckets); i++)
        if ((double)us / 1e6 <= server_commit_bucket_bounds_s[i])
            s->commit_us_buckets[i]++;
    if (!ok)
        s->commit_failures++;
    else
        s->committed_events += n;
}

/* End of a loop turn: seal the open batch (the commit thread commits it)
 * and fill the other one meanwhile. */
static void batch_seal(struct server *srv)
{
    if (!srv->open)
        return;
    gcommit_seal(srv->gc[srv->open->lane]);
    srv->open = NULL;
    /* the next to fill: one not in flight (answered and empty; or the one
     * on_committed() is answering, empty when it returns) */
    for (int k = 0; k < srv->nlanes + 1; k++)
        if (!srv->b[k].inflight) {
            srv->fill = k;
            break;
        }
}

/* Commit thread: the batch failed (nothing of it is stored): roll back
 * what it wrote, once. */
static void batch_fail(struct batch *b, struct store *st, const char *what, size_t i)
{
    if (b->failed)
        return;
    log_warn("store: a batch failed (%s, at its push %zu): %s", what, i, store_errmsg(st));
    if (b->begun)
        store_batch_abort(st);
    b->begun = false;
    b->failed = true;
}

static struct live_cfg *live_get(struct server *srv)
{
    pthread_mutex_lock(&srv->live_mu);
    struct live_cfg *l = srv->live;
    l->refs++;
    pthread_mutex_unlock(&srv->live_mu);
    return l;
}

static void live_put(struct server *srv, struct live_cfg *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&srv->live_mu);
    int left = --l->refs;
    pthread_mutex_unlock(&srv->live_mu);
    if (left == 0) {
        cfg_free(l->owned);
        free(l);
    }
}

int server_reload(struct server *srv, struct cfg *cfg)
{
    struct live_cfg *l = calloc(1, sizeof(*l));
    if (!l)
        return -1;
    *l = (struct live_cfg){.cfg = cfg, .owned = cfg, .refs = 1};
    pthread_mutex_lock(&srv->live_mu);
    struct live_cfg *old = srv->live;
    srv->live = l;
    pthread_mutex_unlock(&srv->live_mu);
    live_put(srv, old);
    return 0;
}

/* Commit thread: route and store items [from, to) of the batch in its
 * transaction (the channel lookups read what this transaction sees); at
 * the seal, commit. After a failure the rest is only recorded (each push
 * is answered 503). Touches only the batch's items, its own fields, the
 * batch's config (a reload never changes it under the batch) and the
 * thread's own connection. */
/* Commit thread, a store that applies a batch whole (PostgreSQL: a batch
 * costs a few statements, not a few per push): at the seal, each of the n
 * pushes is routed twice, first to note the scenes whose channel rows the
 * routing reads and to queue the events (whose keys routing does not
 * change), then for real with those rows. The channel rows and the
 * batch's own reads (store_batch_prefetch) travel in one round trip; the
 * batch is stored at the commit. */
static bool commit_whole(struct server *srv, struct store *st, struct batch *b, size_t n)
{
    const char *what = "routing";
    size_t i = 0;
    b->begun = store_batch_begin(st) == 0;
    if (!b->begun || channel_cache_collect(st) < 0) {
        what = b->begun ? "routing (out of memory)" : "BEGIN";
        goto fail;
    }
    for (int pass = 0; pass < 2; pass++) {
        i = 0;
        for (struct batch_chunk *c = b->head; i < n; c = c->next) {
            for (size_t k = 0; k < BATCH_CHUNK && i < n; k++, i++) {
                struct pending *p = &c->p[k];
                buf_free(&p->route.reply); /* the first pass's */
                if (route_message(b->live->cfg, st, &p->msg, &p->route) < 0)
                    goto fail;
                rec_from_pending(&c->recs[k], p, b->now);
                if (pass == 0 && store_batch_add(st, &c->recs[k]) < 0) {
                    what = "storing";
                    goto fail;
                }
            }
        }
        if (pass == 0 && (store_batch_prefetch(st) < 0 || channel_cache_load(st) < 0)) {
            what = "reading the channels";
            goto fail;
        }
    }
    channel_cache_end(st);
    if (store_batch_commit(st) < 0) {
        batch_fail(b, st, "COMMIT", n);
        return false;
    }
    return true;
fail:
    channel_cache_end(st);
    batch_fail(b, st, what, i + 1);
    /* every record as on_committed() reads it (no prior reply: the batch
     * was not applied) */
    i = 0;
    for (struct batch_chunk *c = b->head; i < n; c = c->next)
        for (size_t k = 0; k < BATCH_CHUNK && i < n; k++, i++)
            rec_from_pending(&c->recs[k], &c->p[k], b->now);
    return false;
}

static bool commit_work(void *arg, struct store *st, void *batch, size_t from, size_t to,
                        bool sealed)
{
    struct server *srv = arg;
    struct batch *b = batch;
    if (from == 0) {
        b->now = util_now();
        b->live = live_get(srv);
    }
    if (store_batch_whole(st))
        return sealed ? commit_whole(srv, st, b, to) : true;
    for (size_t i = from; i < to; i++, b->at++) {
        if (b->at == BATCH_CHUNK)
            b->cur = b->cur->next, b->at = 0;
        struct pending *p = &b->cur->p[b->at];
        struct event_rec *r = &b->cur->recs[b->at];
        if (!b->failed && !b->begun && !(b->begun = store_batch_begin(st) == 0))
            batch_fail(b, st, "BEGIN", i + 1);
        if (!b->failed && route_message(b->live->cfg, st, &p->msg, &p->route) < 0)
            batch_fail(b, st, "routing", i + 1);
        rec_from_pending(r, p, b->now);
        if (!b->failed && store_batch_add(st, r) < 0)
            batch_fail(b, st, "storing", i + 1);
    }
    /* The rollup rows of the pushes so far are written now, while the loop
     * still parses: the seal leaves the commit less to do. */
    if (!sealed && !b->failed && store_batch_flush(st) < 0)
        batch_fail(b, st, "writing the rollups", to);
    if (sealed && !b->failed && store_batch_commit(st) < 0)
        batch_fail(b, st, "COMMIT", to);
    return !b->failed;
}

/* Runs once per loop turn after every read of the turn. */
static void on_commit(evutil_socket_t fd, short what, void *arg)
{
    batch_seal(arg);
}

/* The commit thread is done with a batch (loop thread): answer every push
 * of it (the reply, or 503 when nothing was stored). */
static void on_committed(void *arg, void *batch, bool ok, uint64_t us)
{
    struct server *srv = arg;
    struct batch *b = batch;
    size_t n = b->n;
    observe_commit(srv, us, n, ok);
    bool stored = false;
    b->inflight = false;
    /* What gathered meanwhile goes to the commit thread before this batch
     * is answered: the thread works while the loop writes replies. */
    struct batch *next = &srv->b[srv->fill];
    if (next->n && !next->inflight && !srv->closing)
        batch_open(srv, next, b->lane);
    /* A store that applies a batch whole reads nothing before the seal:
     * sealed now, the commit thread starts on it while these replies are
     * written (the pushes that come meanwhile fill the other batch). */
    if (srv->open && srv->seal_at_open)
        batch_seal(srv);
    srv->answering_batch = true;
    size_t i = 0;
    for (struct batch_chunk *c = b->head; i < n; c = c->next) {
        for (size_t k = 0; k < BATCH_CHUNK && i < n; k++, i++) {
            struct pending *p = &c->p[k];
            struct event_rec *r = &c->recs[k];
            if (!ok) {
                struct reqinfo ri = {.kind = ev_kind_name(p->route.kind), .start_us = p->start_us};
                reply_error(srv, p->req, 503, "store unavailable", &ri);
            } else if (r->duplicate) {
                srv->stats.dedup_hits++;
                answer_pending(srv, p, r->prior_reply);
            } else {
                stored = true;
                srv->stats.events_by_kind[p->route.kind]++;
                answer_pending(srv, p, r->reply);
            }
            free(r->prior_reply);
            wx_msg_clear(&p->msg);
            buf_free(&p->route.reply);
        }
    }
    health_note_commit(srv->health, ok, stored);
    live_put(srv, b->live);
    b->live = NULL;
    b->n = 0;
    b->tail = b->head;
    srv->answering_batch = false;
    log_batch_flush(&srv->logs); /* the batch's lines in one write */
}

/* ---- dispatch ---- */

struct health *server_health(struct server *srv)
{
    return srv->health;
}

/* A probe waiting for the health module's answer. */
struct health_req {
    struct server *srv;
    struct evhttp_request *req;
    struct reqinfo ri;
};

static void health_answer(void *arg, int status, const char *body)
{
    struct health_req *hr = arg;
    reply_body(hr->srv, hr->req, status, "text/plain; charset=utf-8", body, strlen(body), &hr->ri);
    free(hr);
}

static void handle_health(struct server *srv, struct evhttp_request *req, struct reqinfo *ri)
{
    struct health_req *hr = malloc(sizeof(*hr));
    ri->kind = "health";
    if (!hr)
        return reply_error(srv, req, 503, "out of memory", ri);
    *hr = (struct health_req){.srv = srv, .req = req, .ri = *ri};
    health_check(srv->health, srv, health_answer, hr);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct server *srv = arg;
    struct reqinfo ri = {.kind = "-", .start_us = util_mono_us()};
    struct wx_query q;
    const char *why;
    srv->inflight++;
    evhttp_request_set_on_complete_cb(req, on_request_done, srv);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if ((why = http_framing_check(req, &ri.close)) != NULL)
        return reply_error(srv, req, 400, why, &ri);
    if (path && strcmp(path, "/healthz") == 0 && cmd == EVHTTP_REQ_GET)
        return handle_health(srv, req, &ri);
    if (cmd == EVHTTP_REQ_CONNECT) /* its target is host:port, not a path */
        return reply_error(srv, req, 405, "method not allowed", &ri);
    if (!path || strcmp(path, srv->cfg->callback_path) != 0)
        return reply_error(srv, req, 404, "not found", &ri);
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_POST)
        return reply_error(srv, req, 405, "method not allowed", &ri);
    int qrc = query_parse(req, &q);
    if (qrc == WX_QUERY_NUL) {
        reply_error(srv, req, 400, "a query value holds a NUL byte (%00)", &ri);
    } else if (qrc < 0) {
        reply_error(srv, req, 401, "malformed query string", &ri);
    } else if ((why = check_signature(srv, &q)) != NULL) {
        reply_error(srv, req, 401, why, &ri);
    } else if (cmd == EVHTTP_REQ_GET) {
        handle_get(srv, req, &q, &ri);
    } else {
        handle_post(srv, req, &q, &ri);
    }
    wx_query_clear(&q);
}

static int server_bind(struct server *srv, char *err, size_t errlen)
{
    char host[256];
    uint16_t port;
    if (cfg_split_hostport(srv->cfg->listen, host, sizeof(host), &port) < 0) {
        snprintf(err, errlen, "[server] listen: bad address %s", srv->cfg->listen);
        return -1;
    }
    srv->sock = evhttp_bind_socket_with_handle(srv->http, host, port);
    if (!srv->sock) {
        snprintf(err, errlen, "[server] listen: cannot bind %s: %m", srv->cfg->listen);
        return -1;
    }
    if (http_accept_guard(&srv->accept, srv->base, srv->sock, "callback",
                          &srv->stats.accept_errors) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int server_crypt(struct server *srv, char *err, size_t errlen)
{
    const struct cfg *c = srv->cfg;
    if (c->mode == WX_MODE_PLAIN)
        return 0;
    char why[256];
    if (wx_crypt_new(&srv->crypt, c->token, c->encoding_aes_key, c->encoding_aes_key_prev, c->appid,
                     why, sizeof(why)) != WXC_OK) {
        snprintf(err, errlen, "[wechat] encoding_aes_key: %s", why);
        return -1;
    }
    return 0;
}

/* Same-transaction side effects of every stored push, in order: the tag
 * outbox rows (tag.c), the follow-up outbox rows (followup.c), then the
 * statistics rollups (stats.c). */
static const store_event_hook commit_hooks[] = {
    tag_outbox_hook,
    followup_outbox_hook,
    stats_event_hook,
};

int server_new(struct server **out, struct event_base *base, const struct cfg *cfg, char *err,
               size_t errlen)
{
    struct server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return snprintf(err, errlen, "out of memory"), -1;
    srv->cfg = cfg;
    srv->base = base;
    if (netmask_list_parse(cfg->trusted_proxies, &srv->proxies, err, errlen) < 0) {
        free(srv);
        return -1;
    }
    pthread_mutex_init(&srv->live_mu, NULL);
    if (!(srv->live = calloc(1, sizeof(*srv->live)))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    *srv->live = (struct live_cfg){.cfg = cfg, .refs = 1};
    struct store *commit_st;
    if (gcommit_new(&srv->gc[0], base, cfg, commit_hooks, WXS_ARRAY_LEN(commit_hooks), commit_work,
                    on_committed, srv, &commit_st, err, errlen) < 0)
        goto fail;
    srv->nlanes = 1;
    srv->seal_at_open = store_batch_whole(commit_st);
    for (int l = 1; srv->seal_at_open && l < SERVER_LANES; l++, srv->nlanes++) {
        struct store *lane_st;
        if (gcommit_new(&srv->gc[l], base, cfg, commit_hooks, WXS_ARRAY_LEN(commit_hooks),
                        commit_work, on_committed, srv, &lane_st, err, errlen) < 0)
            goto fail;
    }
    if (health_new(&srv->health, base, cfg, err, errlen) < 0)
        goto fail;
    char why[256];
    if (store_embedded(commit_st) && store_ckpt_start(&srv->ckpt, commit_st, why, sizeof(why)) < 0)
        log_warn("%s; checkpoints stay on the commit thread", why);
    if (server_crypt(srv, err, errlen) < 0)
        goto fail;
    if (wx_xml_parser_new(&srv->xml) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    srv->commit_ev = event_new(base, -1, 0, on_commit, srv);
    srv->http = evhttp_new(base);
    if (!srv->commit_ev || !srv->http || event_priority_set(srv->commit_ev, 2) < 0) {
        snprintf(err, errlen, "cannot set up the event loop (priorities?)");
        goto fail;
    }
    evhttp_set_max_body_size(srv->http, (ev_ssize_t)cfg->max_body_bytes);
    evhttp_set_max_headers_size(srv->http, 16384);
    evhttp_set_timeout(srv->http, (int)cfg->request_timeout);
    if (http_deadline_attach(&srv->deadline, base, srv->http, cfg->request_timeout) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    http_deadline_on_own_answer(srv->deadline, on_evhttp_answer, srv);
    evhttp_set_allowed_methods(srv->http, HTTP_FRAMING_ALL_METHODS); /* others: 405 here */
    evhttp_set_gencb(srv->http, on_request, srv);
    if (server_bind(srv, err, errlen) < 0)
        goto fail;
    *out = srv;
    return 0;
fail:
    server_free(srv);
    return -1;
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;
    if (srv->drain_done) {
        log_warn("drain: %llu requests still open after %llds; closing",
                 (unsigned long long)srv->inflight, (long long)srv->cfg->request_timeout);
        void (*done)(void *) = srv->drain_done;
        srv->drain_done = NULL;
        done(srv->drain_arg);
    }
}

void server_drain(struct server *srv, void (*done)(void *arg), void *arg)
{
    if (srv->draining)
        return;
    srv->draining = true;
    if (srv->sock) {
        http_accept_free(srv->accept);
        srv->accept = NULL;
        evhttp_del_accept_socket(srv->http, srv->sock);
        srv->sock = NULL;
    }
    srv->drain_done = done;
    srv->drain_arg = arg;
    if (srv->inflight == 0) {
        srv->drain_done = NULL;
        done(arg);
        return;
    }
    struct timeval tv = {.tv_sec = srv->cfg->request_timeout};
    srv->drain_ev = evtimer_new(srv->base, on_drain_timeout, srv);
    if (srv->drain_ev)
        evtimer_add(srv->drain_ev, &tv);
}

const struct server_stats *server_get_stats(const struct server *srv)
{
    return &srv->stats;
}

void server_free(struct server *srv)
{
    if (!srv)
        return;
    srv->closing = true;
    if (srv->gc[0])
        batch_seal(srv);
    for (int l = 0; l < srv->nlanes; l++)
        gcommit_stop(srv->gc[l]); /* answers a batch in flight while its requests live */
    store_ckpt_stop(srv->ckpt);   /* detaches from the commit connection */
    for (int l = 0; l < SERVER_LANES; l++)
        gcommit_free(srv->gc[l]);
    health_free(srv->health);      /* answers its waiting probes while their requests live */
    http_accept_free(srv->accept); /* before evhttp_free frees its listener */
    if (srv->http)
        evhttp_free(srv->http);
    http_deadline_free(srv->deadline); /* after evhttp_free: its close callbacks */
    log_batch_free(&srv->logs);
    if (srv->commit_ev)
        event_free(srv->commit_ev);
    if (srv->drain_ev)
        event_free(srv->drain_ev);
    for (int k = 0; k < SERVER_LANES + 1; k++) {
        size_t i = 0, n = srv->b[k].n; /* never committed, never answered */
        for (struct batch_chunk *c = srv->b[k].head, *next; c; c = next, i += BATCH_CHUNK) {
            for (size_t j = 0; j < BATCH_CHUNK && i + j < n; j++) {
                wx_msg_clear(&c->p[j].msg);
                buf_free(&c->p[j].route.reply);
            }
            next = c->next;
            free(c);
        }
    }
    wx_crypt_free(srv->crypt);
    wx_xml_parser_free(srv->xml);
    live_put(srv, srv->live);
    pthread_mutex_destroy(&srv->live_mu);
    netmask_list_free(srv->proxies);
    free(srv);
}
