/* admin: the private admin listener ([admin] listen), a second evhttp on
 * the callback server's event_base. GET /healthz, GET /metrics (Prometheus
 * text), GET / (the dashboard, src/assets/index.html), and behind a bearer
 * token ([admin] token, compared in constant time) GET /api/stats,
 * GET|POST /api/channels, and the web console's API (admin_console.h:
 * GET /api/config and GET /p/... need no token). With an empty token
 * /api/... answers 403 (disabled); a missing or wrong token is 401. One
 * log line per request. */
#ifndef WXS_ADMIN_H
#define WXS_ADMIN_H
#include <event2/event.h>
#include "cfg.h"
#include "server.h"

struct admin;

/* Bind [admin] listen on base; an empty listen sets *out = NULL and
 * returns 0 (no admin listener). Borrowed: cfg and srv (its counters and
 * health probe; NULL = none) must outlive the admin listener. It runs on
 * the loop thread and never touches the database there: the API's queries
 * and writes run on a worker thread with its own connection (dbwork.h). */
int admin_new(struct admin **out, struct event_base *base, const struct cfg *cfg,
              struct server *srv, char *err, size_t errlen) WXS_MUSTCHECK;
/* SIGTERM: stop accepting admin connections and call done(arg) once every
 * request already accepted (a QR code being created on WeChat included)
 * has been answered, or after [server] request_timeout + 1 s. NULL calls
 * done at once. */
void admin_drain(struct admin *a, void (*done)(void *arg), void *arg);
void admin_free(struct admin *a);
#endif
