#include "fuworker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "followup.h"
#include "log.h"
#include "pworker.h"
#include "store.h"

struct fuworker {
    const struct cfg *cfg;
    struct pworker *pw;
    /* the thread's alone, between open and close */
    struct store *st;
    struct followup_runner *fr;
    char last_error[sizeof(((struct followup_report *)0)->error)];
};

/* One line when a sweep did something, and a failure once until it changes. */
static void report(struct fuworker *fw, const struct followup_report *r)
{
    if (r->calls || r->parked || r->interrupted)
        log_info("followup: %llu sent, %llu parked (%llu interrupted), %llu to retry in %llu "
                 "calls; %llu pending",
                 (unsigned long long)r->sent, (unsigned long long)(r->parked + r->interrupted),
                 (unsigned long long)r->interrupted, (unsigned long long)r->retried,
                 (unsigned long long)r->calls, (unsigned long long)r->pending);
    if (r->error[0] && (r->calls || strcmp(r->error, fw->last_error) != 0))
        log_warn("followup: %s (%llu messages wait for a later try)", r->error,
                 (unsigned long long)r->pending);
    util_strlcpy(fw->last_error, r->error, sizeof(fw->last_error));
}

/* The thread's own connection and API handle, opened on the thread. */
static int fu_open(void *arg, char *err, size_t errlen)
{
    struct fuworker *fw = arg;
    if (store_open_cfg(&fw->st, fw->cfg, err, errlen) < 0 ||
        followup_runner_new(&fw->fr, fw->cfg, fw->st, err, errlen) < 0)
        return -1;
    return 0;
}

static void fu_sweep(void *arg, const atomic_bool *stop)
{
    struct fuworker *fw = arg;
    struct followup_report rep;
    if (followup_run(fw->fr, stop, &rep) < 0)
        log_error("followup: %s", rep.error);
    else
        report(fw, &rep);
}

static void fu_close(void *arg)
{
    struct fuworker *fw = arg;
    followup_runner_free(fw->fr);
    fw->fr = NULL;
    store_close(fw->st);
    fw->st = NULL;
}

static const struct pworker_ops fu_ops = {
    .open = fu_open,
    .run = fu_sweep,
    .close = fu_close,
};

int fuworker_start(struct fuworker **out, const struct cfg *cfg, char *err, size_t errlen)
{
    struct fuworker *fw = calloc(1, sizeof(*fw));
    if (!fw)
        return snprintf(err, errlen, "followup worker: out of memory"), -1;
    fw->cfg = cfg;
    if (pworker_start(&fw->pw, "followup", (uint64_t)cfg->followup_interval * 1000, &fu_ops, fw,
                      err, errlen) < 0) {
        free(fw);
        return -1;
    }
    *out = fw;
    return 0;
}

void fuworker_stop(struct fuworker *fw)
{
    if (fw)
        pworker_stop(fw->pw);
}

void fuworker_free(struct fuworker *fw)
{
    if (!fw)
        return;
    pworker_free(fw->pw);
    free(fw);
}
