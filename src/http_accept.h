/* http_accept: what an evhttp listener does when accept() fails, above all
 * for want of a file descriptor (EMFILE, ENFILE). libevent's evconnlistener
 * logs "Error from accept() call" and returns to the loop, where the
 * listening socket, its queue still full, is readable again at once: a
 * busy loop at 100 % CPU writing that line some 17 MB a second for as
 * long as the connections are held. With a guard the listener instead
 * stops accepting for HTTP_ACCEPT_PAUSE_MS after each failure and tries
 * again by itself, so it recovers as soon as descriptors are free (the
 * waiting clients stay in the kernel's queue meanwhile); the failure is
 * logged once per HTTP_ACCEPT_LOG_S with a count, and counted for /metrics.
 * (nginx and Go's net/http pause the same way.) */
#ifndef WXS_HTTP_ACCEPT_H
#define WXS_HTTP_ACCEPT_H
#include <stdint.h>
#include <event2/event.h>
#include <event2/http.h>
#include "util.h"

#define HTTP_ACCEPT_PAUSE_MS 100
#define HTTP_ACCEPT_LOG_S    10

struct http_accept;

/* Guard sock's listener; name ("callback", "admin") goes into the log line;
 * every failed accept() adds one to *errors. Borrowed: base, sock and
 * errors must outlive *out; free it before sock goes away
 * (evhttp_del_accept_socket, evhttp_free). */
int http_accept_guard(struct http_accept **out, struct event_base *base,
                      struct evhttp_bound_socket *sock, const char *name,
                      uint64_t *errors) WXS_MUSTCHECK;
void http_accept_free(struct http_accept *g);
#endif
