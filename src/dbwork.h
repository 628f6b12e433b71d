/* dbwork: database work off the event loop. A thread with its own store
 * connection runs the jobs the loop submits, one at a time, in order, and
 * hands each back to the loop thread (through a loop_wake pipe), where its
 * done() answers the request it belongs to. So a slow statistics query or
 * a writer waiting for SQLite's write lock (the group commit holds it
 * through most of each cycle under load) never stalls the callback
 * listener's loop. The job struct is the caller's (embed it and recover
 * the outer struct in run/done); it must stay put until done() ran. */
#ifndef WXS_DBWORK_H
#define WXS_DBWORK_H
#include <stdbool.h>
#include <stddef.h>
#include <event2/event.h>
#include "cfg.h"
#include "store.h"
#include "util.h"

struct dbwork;
struct dbwork_job;

/* Worker thread: do the job's database work on st (the worker's own
 * connection; NULL when it could not be opened: the job must answer 503). */
typedef void (*dbwork_run_fn)(struct dbwork_job *j, struct store *st, void *worker_arg);
/* Loop thread, exactly once per accepted job; ran = false when the worker
 * stopped before running it (answer 503). */
typedef void (*dbwork_done_fn)(struct dbwork_job *j, bool ran);

struct dbwork_job {
    dbwork_run_fn run;
    dbwork_done_fn done;
    bool ran;
    struct dbwork_job *next;
};

/* Optional per-worker state opened on the worker thread after its store
 * (e.g. a statistics handle): open returns < 0 with err set to refuse. */
struct dbwork_state {
    int (*open)(struct store *st, const struct cfg *cfg, void **out, char *err, size_t errlen);
    void (*close)(void *state);
};

/* Start the thread; `who` names it in logs. The store connection is opened
 * on the thread at start ([store] path) with a write-lock wait of
 * busy_timeout_ms. cfg, who and state are borrowed. */
int dbwork_new(struct dbwork **out, struct event_base *base, const struct cfg *cfg, const char *who,
               int busy_timeout_ms, const struct dbwork_state *state, char *err,
               size_t errlen) WXS_MUSTCHECK;

/* Queue a job (its run and done set). 0, or -1 when the queue is full or
 * the worker is stopping: then done is never called (answer 503). */
int dbwork_submit(struct dbwork *w, struct dbwork_job *j) WXS_MUSTCHECK;

/* Jobs queued, running or waiting for their done(). */
size_t dbwork_pending(struct dbwork *w);

/* Let the running job finish, deliver every finished job's done(), call
 * done(ran = false) for the queued rest, join. Before the evhttp that
 * owns the requests is freed. NULL is a no-op. */
void dbwork_free(struct dbwork *w);
#endif
