#include "http_accept.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/listener.h>

#include "log.h"

struct http_accept {
    struct http_accept *next; /* in guards */
    struct evconnlistener *lev;
    struct event *resume;
    const char *name;
    uint64_t *errors;
    uint64_t unlogged;     /* failures since the last log line */
    uint64_t logged_at_us; /* monotonic time of that line; 0 = none yet */
};

/* evconnlistener calls its error callback with the argument of its accept
 * callback, which evhttp_bind_listener sets to the evhttp, and libevent 2.1
 * offers no way to wrap that callback or to hang data on an evhttp or a
 * listener: so a guard is found by its listener in this list, the
 * module's one mutable global (touched on the loop thread only, a handful
 * of entries, looked up only when accept() has failed). */
static struct http_accept *guards;

static struct http_accept *guard_of(const struct evconnlistener *lev)
{
    struct http_accept *g = guards;
    while (g && g->lev != lev)
        g = g->next;
    return g;
}

/* The pause is over: listen again (a full queue fails again at once, and
 * pauses again; a descriptor freed meanwhile lets the next one in). */
static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct http_accept *g = arg;
    evconnlistener_enable(g->lev);
}

/* One line per HTTP_ACCEPT_LOG_S at most: the first failure at once, then
 * how many there were since. */
static void log_failure(struct http_accept *g, int err)
{
    uint64_t now = util_mono_us();
    g->unlogged++;
    if (g->logged_at_us && now - g->logged_at_us < (uint64_t)HTTP_ACCEPT_LOG_S * 1000000u)
        return;
    if (!g->logged_at_us)
        log_warn("%s listener: cannot accept connections: %s; accepting pauses %d ms after each "
                 "failure (logged at most every %d s)",
                 g->name, strerror(err), HTTP_ACCEPT_PAUSE_MS, HTTP_ACCEPT_LOG_S);
    else
        log_warn("%s listener: cannot accept connections: %s (%llu times in %llu s)", g->name,
                 strerror(err), (unsigned long long)g->unlogged,
                 (unsigned long long)((now - g->logged_at_us) / 1000000u));
    g->logged_at_us = now;
    g->unlogged = 0;
}

/* evconnlistener's error callback: accept() failed with an error other
 * than EAGAIN, EINTR or ECONNABORTED (those it retries itself). */
static void on_accept_error(struct evconnlistener *lev, void *http)
{
    int err = errno;
    struct http_accept *g = guard_of(lev);
    const struct timeval pause = {.tv_sec = 0, .tv_usec = HTTP_ACCEPT_PAUSE_MS * 1000};
    if (!g)
        return; /* cannot happen: the callback is unset before a guard goes */
    (*g->errors)++;
    evconnlistener_disable(lev);
    evtimer_add(g->resume, &pause);
    log_failure(g, err);
}

int http_accept_guard(struct http_accept **out, struct event_base *base,
                      struct evhttp_bound_socket *sock, const char *name, uint64_t *errors)
{
    struct http_accept *g = calloc(1, sizeof(*g));
    if (!g)
        return -1;
    g->lev = evhttp_bound_socket_get_listener(sock);
    g->name = name;
    g->errors = errors;
    if (!g->lev || !(g->resume = evtimer_new(base, on_resume, g))) {
        free(g);
        return -1;
    }
    evconnlistener_set_error_cb(g->lev, on_accept_error);
    g->next = guards;
    guards = g;
    *out = g;
    return 0;
}

void http_accept_free(struct http_accept *g)
{
    if (!g)
        return;
    struct http_accept **p = &guards;
    while (*p != g)
        p = &(*p)->next;
    *p = g->next;
    evconnlistener_set_error_cb(g->lev, NULL);
    event_free(g->resume);
    free(g);
}
