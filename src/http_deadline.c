#include "http_deadline.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "log.h"

/* One watched connection. Created with its bufferevent (evhttp's bevcb);
 * adopted when the loop next runs its timer, once evhttp has built the
 * connection, by registering a close callback that frees it. Until then we
 * hold a reference on the bufferevent so it cannot vanish under us. */
struct conn {
    struct http_deadline *d;
    struct bufferevent *bev;
    struct event *timer;
    struct evbuffer_cb_entry *in_cb, *out_cb;
    uint64_t started_us; /* first byte of the request being received; 0 = none */
    bool adopted;        /* close callback set; our reference dropped */
    LIST_ENTRY(conn) link;
};

struct http_deadline {
    struct event_base *base;
    struct timeval timeout;
    uint64_t timeout_us;
    uint64_t closed;
    LIST_HEAD(, conn) conns;
    void (*own_answer)(void *arg, int status, const char *why); /* http_deadline_on_own_answer */
    void *own_answer_arg;
    bool app_replying; /* inside http_deadline_send_reply */
};

static void conn_free(struct conn *c)
{
    if (c->in_cb)
        evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->in_cb);
    if (c->out_cb)
        evbuffer_remove_cb_entry(bufferevent_get_output(c->bev), c->out_cb);
    if (c->timer)
        event_free(c->timer);
    LIST_REMOVE(c, link);
    if (!c->adopted)
        bufferevent_decref(c->bev);
    free(c);
}

/* Bytes arrived: the first ones after an answer start the clock. */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct conn *c = arg;
    if (info->n_added == 0 || c->started_us)
        return;
    c->started_us = util_mono_us();
    if (c->adopted && !evtimer_pending(c->timer, NULL))
        evtimer_add(c->timer, &c->d->timeout);
}

/* What evhttp 2.1 answers each status for by itself. */
static const char *own_answer_why(int status)
{
    switch (status) {
    case 400:
        return "a request line, headers or body framing it cannot parse";
    case 413:
        return "a body over the limit, or a chunked body it cannot parse";
    case 417:
        return "an Expect other than 100-continue";
    case 501:
        return "a method it does not allow";
    default:
        return "its own answer";
    }
}

/* Bytes queued outside http_deadline_send_reply() are evhttp's own: its
 * status line is one add of its own ("HTTP/1.1 413 ...\r\n", headers and
 * body come in others), so the first bytes of an add tell a final answer
 * (not "100 Continue", nor a header or a body). */
static void report_own_answer(struct http_deadline *d, struct evbuffer *buf,
                              const struct evbuffer_cb_info *info)
{
    char line[13];
    struct evbuffer_ptr at;
    if (info->n_added < sizeof(line) ||
        evbuffer_ptr_set(buf, &at, info->orig_size, EVBUFFER_PTR_SET) < 0 ||
        evbuffer_copyout_from(buf, &at, line, sizeof(line)) != (ev_ssize_t)sizeof(line))
        return;
    if (memcmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ' || line[12] != ' ')
        return;
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (line[i] < '0' || line[i] > '9')
            return;
        status = status * 10 + (line[i] - '0');
    }
    if (status >= 200)
        d->own_answer(d->own_answer_arg, status, own_answer_why(status));
}

/* An answer was queued: the request was received in time. */
static void on_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct conn *c = arg;
    if (!info->n_added)
        return;
    c->started_us = 0;
    if (c->d->own_answer && !c->d->app_replying)
        report_own_answer(c->d, buf, info);
}

/* The timer is lazy: it runs at most once per timeout and re-arms for
 * what is left of the current request's time. Failing the connection goes
 * through evhttp's own error callback, as its read timeout would, which
 * frees the connection (and, through the close callback, c). */
static void adopt(struct conn *c);

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    if (!c->adopted)
        return adopt(c);
    if (!c->started_us)
        return;
    uint64_t age = util_mono_us() - c->started_us;
    if (age < c->d->timeout_us) {
        uint64_t left = c->d->timeout_us - age;
        struct timeval tv = {.tv_sec = (time_t)(left / 1000000),
                             .tv_usec = (suseconds_t)(left % 1000000)};
        evtimer_add(c->timer, &tv);
        return;
    }
    bufferevent_event_cb eventcb = NULL;
    void *evcon = NULL;
    bufferevent_getcb(c->bev, NULL, NULL, &eventcb, &evcon);
    if (!eventcb)
        return;
    c->d->closed++;
    log_info("closing a connection whose request took over %llds to arrive",
             (long long)c->d->timeout.tv_sec);
    eventcb(c->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT, evcon);
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
    conn_free(arg);
}

/* The first run of the timer, activated by on_new_bev: evhttp has built
 * the connection by now, so its close callback can take over our ref. */
static void adopt(struct conn *c)
{
    bufferevent_event_cb eventcb = NULL;
    void *evcon = NULL;
    bufferevent_getcb(c->bev, NULL, NULL, &eventcb, &evcon);
    if (!eventcb || !evcon) { /* evhttp already let go of it */
        conn_free(c);
        return;
    }
    evhttp_connection_set_closecb(evcon, on_close, c);
    c->adopted = true;
    bufferevent_decref(c->bev);
    if (c->started_us)
        evtimer_add(c->timer, &c->d->timeout);
}

/* evhttp's bevcb: our bufferevent for each accepted connection. On any
 * failure the connection is simply not watched (evhttp makes its own). */
static struct bufferevent *on_new_bev(struct event_base *base, void *arg)
{
    struct http_deadline *d = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    struct conn *c = bev ? calloc(1, sizeof(*c)) : NULL;
    if (!c)
        return bev;
    c->d = d;
    c->bev = bev;
    c->timer = evtimer_new(base, on_timer, c);
    c->in_cb = evbuffer_add_cb(bufferevent_get_input(bev), on_input, c);
    c->out_cb = evbuffer_add_cb(bufferevent_get_output(bev), on_output, c);
    bufferevent_incref(bev);
    LIST_INSERT_HEAD(&d->conns, c, link);
    if (!c->timer || !c->in_cb || !c->out_cb)
        conn_free(c);
    else
        event_active(c->timer, EV_TIMEOUT, 0);
    return bev;
}

int http_deadline_attach(struct http_deadline **out, struct event_base *base, struct evhttp *http,
                         int64_t timeout_s)
{
    struct http_deadline *d = calloc(1, sizeof(*d));
    if (!d)
        return -1;
    d->base = base;
    d->timeout.tv_sec = (time_t)timeout_s;
    d->timeout_us = (uint64_t)timeout_s * 1000000u;
    LIST_INIT(&d->conns);
    evhttp_set_bevcb(http, on_new_bev, d);
    *out = d;
    return 0;
}

uint64_t http_deadline_closed(const struct http_deadline *d)
{
    return d ? d->closed : 0;
}

void http_deadline_free(struct http_deadline *d)
{
    if (!d)
        return;
    while (!LIST_EMPTY(&d->conns))
        conn_free(LIST_FIRST(&d->conns));
    free(d);
}

void http_deadline_on_own_answer(struct http_deadline *d,
                                 void (*cb)(void *arg, int status, const char *why), void *arg)
{
    d->own_answer = cb;
    d->own_answer_arg = arg;
}

void http_deadline_send_reply(struct http_deadline *d, struct evhttp_request *req, int status,
                              const char *reason)
{
    d->app_replying = true;
    evhttp_send_reply(req, status, reason, NULL);
    d->app_replying = false;
}
