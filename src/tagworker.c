#include "tagworker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pworker.h"
#include "store.h"
#include "tag.h"

struct tagworker {
    const struct cfg *cfg;
    struct pworker *pw;
    /* the thread's alone, between open and close */
    struct store *st;
    struct tag_runner *tr;
    char last_error[sizeof(((struct tag_report *)0)->error)];
};

/* One line when a sweep did something, and a failure once until it changes
 * (a tag blocked for hours must not write a line every 5 seconds). */
static void report(struct tagworker *tw, const struct tag_report *r)
{
    if (r->calls || r->parked || r->reclaimed)
        log_info("tag: %llu tagged, %llu parked, %llu to retry in %llu calls (%llu taken back); "
                 "%llu pending",
                 (unsigned long long)r->tagged, (unsigned long long)r->parked,
                 (unsigned long long)r->retried, (unsigned long long)r->calls,
                 (unsigned long long)r->reclaimed, (unsigned long long)r->pending);
    if (r->error[0] && (r->calls || strcmp(r->error, tw->last_error) != 0))
        log_warn("tag: %s (%llu fans wait for a later try)", r->error,
                 (unsigned long long)r->pending);
    util_strlcpy(tw->last_error, r->error, sizeof(tw->last_error));
}

/* The thread's own connection and API handle, opened on the thread. */
static int tag_open(void *arg, char *err, size_t errlen)
{
    struct tagworker *tw = arg;
    if (store_open_cfg(&tw->st, tw->cfg, err, errlen) < 0 ||
        tag_runner_new(&tw->tr, tw->cfg, tw->st, NULL, err, errlen) < 0)
        return -1;
    return 0;
}

static void tag_sweep(void *arg, const atomic_bool *stop)
{
    struct tagworker *tw = arg;
    struct tag_report rep;
    if (tag_run(tw->tr, stop, &rep) < 0)
        log_error("tag: %s", rep.error);
    else
        report(tw, &rep);
}

static void tag_close(void *arg)
{
    struct tagworker *tw = arg;
    tag_runner_free(tw->tr);
    tw->tr = NULL;
    store_close(tw->st);
    tw->st = NULL;
}

static const struct pworker_ops tag_ops = {
    .open = tag_open,
    .run = tag_sweep,
    .close = tag_close,
};

int tagworker_start(struct tagworker **out, const struct cfg *cfg, char *err, size_t errlen)
{
    struct tagworker *tw = calloc(1, sizeof(*tw));
    if (!tw)
        return snprintf(err, errlen, "tag worker: out of memory"), -1;
    tw->cfg = cfg;
    if (pworker_start(&tw->pw, "tag", (uint64_t)cfg->tag_interval * 1000, &tag_ops, tw, err,
                      errlen) < 0) {
        free(tw);
        return -1;
    }
    *out = tw;
    return 0;
}

void tagworker_stop(struct tagworker *tw)
{
    if (tw)
        pworker_stop(tw->pw);
}

void tagworker_free(struct tagworker *tw)
{
    if (!tw)
        return;
    pworker_free(tw->pw);
    free(tw);
}
