/* gcommit: the group commit on its own thread. The event loop parses the
 * pushes of batch n+1 while this thread routes and commits batch n through
 * its own store connection; the result comes back to the loop through a
 * pipe and the loop answers the batch. At most one batch is in flight, so
 * batches commit in order (a retry in a later batch sees the first
 * delivery). A batch's memory belongs to the caller and must stay put until
 * done() is called. */
#ifndef WXS_GCOMMIT_H
#define WXS_GCOMMIT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>
#include "cfg.h"
#include "store.h"
#include "util.h"

struct gcommit;

/* On the commit thread, once per submitted batch: do the batch's store
 * work on the thread's connection; true = committed. */
typedef bool (*gcommit_work_fn)(void *arg, struct store *st, void *batch);

/* On the loop thread, once per submitted batch, with work's answer and how
 * long it took. */
typedef void (*gcommit_done_fn)(void *arg, void *batch, bool ok, uint64_t us);

/* Open a second connection to [store] path (its own statements and hook
 * state), start the thread. *st_out is that connection (for a WAL
 * checkpointer to attach to); it belongs to the committer. */
int gcommit_new(struct gcommit **out, struct event_base *base, const struct cfg *cfg,
                gcommit_work_fn work, gcommit_done_fn done, void *arg, struct store **st_out,
                char *err, size_t errlen) WXS_MUSTCHECK;

/* True while a batch is submitted and not yet delivered (submit only when
 * false). */
bool gcommit_busy(const struct gcommit *g);

/* Hand batch to the thread (it is passed back as it is). */
void gcommit_submit(struct gcommit *g, void *batch);

/* Wait for a batch in flight and deliver its done() (so its requests are
 * answered; done must not submit again), then join the thread. The
 * connection stays open (a checkpointer attached to it can detach). */
void gcommit_stop(struct gcommit *g);

/* Stop if needed and close the connection. NULL is a no-op. */
void gcommit_free(struct gcommit *g);
#endif
