#include "health.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "dbwork.h"
#include "log.h"
#include "store.h"

#define HEALTH_PROBE_WAIT_MS 2000 /* the probe's wait for the write lock */

static const char body_ok[] = "ok\n", body_down[] = "store not writable\n";

struct waiter {
    const void *owner;
    health_cb cb;
    void *arg;
    struct waiter *next;
};

struct health {
    struct dbwork *probe;
    struct dbwork_job job; /* the probe write; one at a time */
    bool job_busy;
    bool job_ok; /* set by the probe thread */
    struct waiter *waiting;
    uint64_t proved_at; /* monotonic us of the last commit that stored an event, 0 = none */
};

int health_new(struct health **out, struct event_base *base, const struct cfg *cfg, char *err,
               size_t errlen)
{
    struct health *h = calloc(1, sizeof(*h));
    if (!h)
        return snprintf(err, errlen, "out of memory"), -1;
    if (dbwork_new(&h->probe, base, cfg, "health probe", HEALTH_PROBE_WAIT_MS, NULL, err, errlen) <
        0) {
        free(h);
        return -1;
    }
    *out = h;
    return 0;
}

void health_note_commit(struct health *h, bool ok, bool stored)
{
    if (!ok)
        h->proved_at = 0;
    else if (stored)
        h->proved_at = util_mono_us();
}

/* Hand the answer to every waiter (of owner, or all when owner is NULL). */
static void answer(struct health *h, const void *owner, bool ok)
{
    struct waiter **pp = &h->waiting;
    while (*pp) {
        struct waiter *w = *pp;
        if (owner && w->owner != owner) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        w->cb(w->arg, ok ? 200 : 503, ok ? body_ok : body_down);
        free(w);
    }
}

/* Probe thread: a real write through the health row. */
static void probe_run(struct dbwork_job *j, struct store *st, void *unused)
{
    struct health *h = (struct health *)((char *)j - offsetof(struct health, job));
    h->job_ok = st && store_writable(st);
    if (!h->job_ok && st)
        log_warn("healthz: the store is not writable: %s", store_errmsg(st));
}

static void probe_done(struct dbwork_job *j, bool ran)
{
    struct health *h = (struct health *)((char *)j - offsetof(struct health, job));
    h->job_busy = false;
    answer(h, NULL, ran && h->job_ok);
}

void health_check(struct health *h, const void *owner, health_cb cb, void *arg)
{
    if (h->proved_at && util_mono_us() - h->proved_at < HEALTH_FRESH_US)
        return cb(arg, 200, body_ok);
    struct waiter *w = malloc(sizeof(*w));
    if (!w)
        return cb(arg, 503, body_down);
    *w = (struct waiter){.owner = owner, .cb = cb, .arg = arg, .next = h->waiting};
    h->waiting = w;
    if (h->job_busy)
        return; /* the probe in flight answers this one too */
    h->job = (struct dbwork_job){.run = probe_run, .done = probe_done};
    if (dbwork_submit(h->probe, &h->job) < 0)
        return answer(h, NULL, false);
    h->job_busy = true;
}

void health_cancel(struct health *h, const void *owner)
{
    if (h)
        answer(h, owner, false);
}

void health_free(struct health *h)
{
    if (!h)
        return;
    dbwork_free(h->probe); /* delivers the probe in flight, if any */
    answer(h, NULL, false);
    free(h);
}
