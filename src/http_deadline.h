/* http_deadline: an absolute time limit for receiving one HTTP request on
 * an evhttp listener. libevent 2.1's evhttp_set_timeout() is an inactivity
 * timeout that every received byte re-arms, so a client sending one header
 * byte per second keeps a connection (and its memory) forever: slowloris.
 * With a deadline attached, a request whose first byte arrived more than
 * timeout seconds ago and that has not been answered yet is failed exactly
 * as evhttp fails its own read timeouts (the connection is closed; a request
 * already handed to the application is detached, so a later reply is
 * dropped safely). Idle connections stay evhttp's job (its own timeout). */
#ifndef WXS_HTTP_DEADLINE_H
#define WXS_HTTP_DEADLINE_H
#include <stdint.h>
#include <event2/event.h>
#include <event2/http.h>
#include "util.h"

struct http_deadline;

/* Install the deadline on http (through evhttp_set_bevcb, which must not be
 * used otherwise). Borrowed: base and http must outlive *out. Free it after
 * evhttp_free(http). */
int http_deadline_attach(struct http_deadline **out, struct event_base *base, struct evhttp *http,
                         int64_t timeout_s) WXS_MUSTCHECK;
void http_deadline_free(struct http_deadline *d);

/* Connections closed for missing their deadline so far (for /metrics). */
uint64_t http_deadline_closed(const struct http_deadline *d);

/* evhttp answers some requests itself, and the application never hears of
 * them: 400 for a request line or headers it cannot parse, 413 for a body
 * over the limit or a chunked body it cannot parse, 417 for an Expect it
 * does not know. As this module already watches each connection's output
 * (evhttp_set_bevcb has room for one user), it reports those: once
 * http_deadline_on_own_answer() is set, cb(arg, status, why) runs as
 * evhttp queues a final answer that the application did not send (why:
 * what evhttp answers that status for, a static string). The application
 * sends its own through http_deadline_send_reply(). */
void http_deadline_on_own_answer(struct http_deadline *d,
                                 void (*cb)(void *arg, int status, const char *why), void *arg);
/* evhttp_send_reply(req, status, reason, NULL), not reported as evhttp's. */
void http_deadline_send_reply(struct http_deadline *d, struct evhttp_request *req, int status,
                              const char *reason);
#endif
