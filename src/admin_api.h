/* admin_api: what a handler of the admin listener's route table sees (the
 * console's modules, admin_console.c and admin_promoter.c): the request,
 * the worker job, and the listener's services as a table of functions the
 * listener (admin.c) fills, so that the handlers' modules do not depend on
 * admin.c, which lists them. Not for anything outside the admin listener. */
#ifndef WXS_ADMIN_API_H
#define WXS_ADMIN_API_H
#include <stdbool.h>
#include <stdint.h>
#include <event2/http.h>
#include <jansson.h>
#include "cfg.h"
#include "channel.h"
#include "dbwork.h"
#include "stats.h"
#include "store.h"
#include "util.h"

struct admin;
struct admin_ops;

/* One request at the edge: every handler ends in exactly one reply. */
struct areq {
    struct admin *a;
    const struct admin_ops *ops; /* the listener's services (below) */
    struct evhttp_request *req;
    const char *method;
    const char *path;
    uint64_t start_us;
    bool close; /* answer with Connection: close (http_framing_check) */
};

/* The loop parses what it can; the worker (its own connection and
 * statistics handle) queries and builds the whole answer; the loop sends
 * it. */
struct ajob {
    struct dbwork_job job;
    struct areq r; /* answered in ajob_done() */
    void (*run)(struct ajob *j, struct store *st, struct stats *stats);
    char *query;  /* the query string, or the decoded path segment, malloc'd */
    json_t *body; /* the parsed JSON body (POST), owned */
    /* the answer */
    int status;
    const char *ctype;
    struct buf out;
    char disposition[256]; /* Content-Disposition, "" = none */
    /* for the console modules: the raw body (import), extra headers */
    struct buf in;
    const char *const *headers; /* NULL-terminated name, value pairs (static) */
    const struct cfg *cfg;
};

/* The listener's services. */
struct admin_ops {
    /* The answer (one log line, counted); ctype and body are copied. */
    void (*reply)(struct areq *r, int status, const char *ctype, const char *body, size_t len);
    /* j is dumped and released (NULL = 500). */
    void (*reply_json)(struct areq *r, int status, json_t *j);
    /* Run `run` on the admin worker (query, body taken); 503 when it is
     * busy. with_body: the request's raw body is copied into j->in
     * (NUL-terminated past its length). */
    void (*submit)(struct areq *r, void (*run)(struct ajob *, struct store *, struct stats *),
                   char *query, json_t *body, bool with_body);
    /* The worker's JSON answer (v taken; NULL = 500 out of memory). */
    void (*ajob_json)(struct ajob *j, int status, json_t *v);
    /* The request's JSON object body (at most 64 KiB); NULL with err. */
    json_t *(*read_json)(struct areq *r, char *err, size_t errlen);
    /* A path segment percent-decoded strictly (as /api/channels/{scene}):
     * 1..max (< 256) bytes of UTF-8, no NUL. Caller frees; NULL with
     * "WHAT: why" in err. */
    char *(*segment_decode)(const char *seg, const char *what, size_t max, char *err,
                            size_t errlen);
    const struct cfg *(*cfg)(const struct areq *r);
};

static inline void admin_reply(struct areq *r, int status, const char *ctype, const char *body,
                               size_t len)
{
    r->ops->reply(r, status, ctype, body, len);
}

static inline void admin_reply_json(struct areq *r, int status, json_t *j)
{
    r->ops->reply_json(r, status, j);
}

static inline void admin_ajob_submit(struct areq *r,
                                     void (*run)(struct ajob *, struct store *, struct stats *),
                                     char *query, json_t *body)
{
    r->ops->submit(r, run, query, body, false);
}

static inline void
admin_ajob_submit_body(struct areq *r, void (*run)(struct ajob *, struct store *, struct stats *),
                       char *query)
{
    r->ops->submit(r, run, query, NULL, true);
}

static inline void admin_ajob_json(struct ajob *j, int status, json_t *v)
{
    j->r.ops->ajob_json(j, status, v);
}

static inline json_t *admin_read_json(struct areq *r, char *err, size_t errlen)
{
    return r->ops->read_json(r, err, errlen);
}

static inline char *admin_segment_decode(const struct areq *r, const char *seg, const char *what,
                                         size_t max, char *err, size_t errlen)
{
    return r->ops->segment_decode(seg, what, max, err, errlen);
}

static inline const struct cfg *admin_cfg(const struct areq *r)
{
    return r->ops->cfg(r);
}
#endif
