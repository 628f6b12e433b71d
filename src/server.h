/* server: the callback listener (evhttp). GET URL verification, POST pushes
 * (plain, compat, safe), /healthz; every answer per the CONTRACT. Events are
 * committed in groups: all pushes read in one event-loop turn share one
 * transaction, committed by a lowest-priority event after the turn's reads,
 * and only then answered. */
#ifndef WXS_SERVER_H
#define WXS_SERVER_H
#include <event2/event.h>
#include "cfg.h"
#include "store.h"
#include "util.h"

struct server;

/* Counters exported through /metrics (read by the admin listener). */
struct server_stats {
    uint64_t requests_by_status[6]; /* index status/100 (1xx..5xx); [0] = other */
    uint64_t events_by_kind[5];     /* enum ev_kind */
    uint64_t replies_text;          /* passive text replies sent */
    uint64_t replies_news;          /* passive news (article card) replies sent */
    uint64_t replies_image;         /* passive image replies sent */
    uint64_t replies_success;       /* "success" acknowledgements */
    uint64_t dedup_hits;            /* retried deliveries answered from the store */
    uint64_t commits;               /* group commits */
    uint64_t commit_failures;
    uint64_t committed_events;
    /* store commit latency histogram (microseconds), cumulative buckets */
    uint64_t commit_us_buckets[12];
    uint64_t commit_us_sum;
    uint64_t sig_failures;
    uint64_t bad_requests;
    uint64_t accept_errors; /* failed accept() calls (out of descriptors), see http_accept.h */
};
extern const double server_commit_bucket_bounds_s[12]; /* upper bounds in seconds; last = +Inf */

/* The base must have been created with 3 priorities (event_base_priority_init
 * (base, 3)); the commit event runs at the lowest. Binds [server] listen.
 * The loop thread never touches the database: pushes are stored by the
 * group-commit thread, probes by the health module's. Borrowed: cfg must
 * outlive the server. */
int server_new(struct server **out, struct event_base *base, const struct cfg *cfg, char *err,
               size_t errlen) WXS_MUSTCHECK;
void server_free(struct server *srv);

/* Stop accepting, answer what is in flight, then call done(arg) once no
 * request is left (or after [server] request_timeout). */
void server_drain(struct server *srv, void (*done)(void *arg), void *arg);

/* SIGHUP (loop thread): batches from now on route with cfg's [reply] texts;
 * a batch already routing keeps the config it began with. Takes cfg on
 * success (the server frees it once no batch uses it); -1 = out of memory,
 * cfg stays the caller's. Everything else keeps server_new()'s config. */
int server_reload(struct server *srv, struct cfg *cfg) WXS_MUSTCHECK;

const struct server_stats *server_get_stats(const struct server *srv);

/* /healthz of both listeners (see health.h). */
struct health *server_health(struct server *srv);
#endif
