/* pworker: a periodic worker, the thread the tag and follow-up workers
 * (tagworker.h, fuworker.h) both run. It calls the owner's run function
 * once at start and then once per interval (measured from the end of the
 * last run), earlier when kicked, until asked to stop; the owner keeps
 * what a run needs (its own store connection, its runner) behind arg.
 * Open and close run on the worker's thread, so what they open is the
 * thread's alone. */
#ifndef WXS_PWORKER_H
#define WXS_PWORKER_H
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct pworker;

/* What a worker does. The table is borrowed and must outlive the worker. */
struct pworker_ops {
    /* Before the first run, on the thread; may be NULL. On failure it
     * returns -1 with err set: the worker logs "NAME: worker not started:
     * ERR", never runs, and its thread ends (the server goes on). */
    int (*open)(void *arg, char *err, size_t errlen);
    /* One sweep. stop becomes true when the worker is asked to stop: a run
     * checks it between two slow steps and returns soon after. */
    void (*run)(void *arg, const atomic_bool *stop);
    /* After the last run (and after a failed open), on the thread; may be
     * NULL. */
    void (*close)(void *arg);
};

/* Start the thread. name ("tag", "followup") prefixes its log lines and
 * errors; it is copied. interval_ms >= 1. ops and arg are borrowed until
 * pworker_free returns. */
int pworker_start(struct pworker **out, const char *name, uint64_t interval_ms,
                  const struct pworker_ops *ops, void *arg, char *err, size_t errlen) WXS_MUSTCHECK;

/* Run once more soon: wakes a worker waiting out its interval; a kick
 * during a run makes the next wait end at once. NULL is fine. */
void pworker_kick(struct pworker *w);

/* Ask the worker to stop; returns at once (a run in flight sees stop and
 * ends first). NULL is fine. */
void pworker_stop(struct pworker *w);

/* Stop, wait for the thread (its run in flight and close) and free. NULL is
 * fine. */
void pworker_free(struct pworker *w);
#endif
