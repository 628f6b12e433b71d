/* admin_internal: what admin.c shares with the modules whose handlers its
 * route table lists (admin_console.c, admin_promoter.c). Not for anything
 * outside the admin listener. */
#ifndef WXS_ADMIN_INTERNAL_H
#define WXS_ADMIN_INTERNAL_H
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

/* One request at the edge: every handler ends in exactly one reply. */
struct areq {
    struct admin *a;
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

/* The answer (one log line, counted); ctype and body are copied. */
void admin_reply(struct areq *r, int status, const char *ctype, const char *body, size_t len);
/* j is dumped and released (NULL = 500). */
void admin_reply_json(struct areq *r, int status, json_t *j);
/* Run `run` on the admin worker (query, body taken); 503 when it is busy. */
void admin_ajob_submit(struct areq *r, void (*run)(struct ajob *, struct store *, struct stats *),
                       char *query, json_t *body);
/* The same with the request's raw body copied into j->in (NUL-terminated
 * past its length). */
void admin_ajob_submit_body(struct areq *r,
                            void (*run)(struct ajob *, struct store *, struct stats *), char *query);
/* The worker's JSON answer (v taken; NULL = 500 out of memory). */
void admin_ajob_json(struct ajob *j, int status, json_t *v);
/* The request's JSON object body (at most 64 KiB); NULL with err. */
json_t *admin_read_json(struct areq *r, char *err, size_t errlen);
/* A path segment percent-decoded strictly (as /api/channels/{scene}):
 * 1..max (< 256) bytes of UTF-8, no NUL. Caller frees; NULL with
 * "WHAT: why" in err. */
char *admin_segment_decode(const char *seg, const char *what, size_t max, char *err,
                           size_t errlen);
/* A channel as GET /api/channels/{scene} shows it (archived_at). */
json_t *admin_channel_json(const struct channel *c);
const struct cfg *admin_cfg(const struct areq *r);
#endif
