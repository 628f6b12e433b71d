/* gcommit: the group commit on its own thread, fed while the loop parses.
 * The loop opens a batch with its first push and hands each later push
 * over as soon as it is parsed; the thread routes and stores them in one
 * open transaction meanwhile. When the loop turn ends the loop seals the
 * batch: the thread stores what is left and commits, the result comes back
 * through a pipe and the loop answers the batch. So the per-event SQL runs
 * while the loop parses, and only the COMMIT stands between the last read
 * and the replies. At most one batch is open or committing, so batches
 * commit in order (a retry in a later batch sees the first delivery). The
 * items handed over belong to the caller and must stay put until done() is
 * called (the thread reads and writes them). */
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

/* On the commit thread: items [from, to) of batch are there to be stored
 * on the thread's connection; sealed = no more will come, finish the batch
 * (commit or roll back). Returns false once the batch has failed (only the
 * sealed call's answer is passed on). */
typedef bool (*gcommit_work_fn)(void *arg, struct store *st, void *batch, size_t from, size_t to,
                                bool sealed);

/* On the loop thread, once per sealed batch, with work's last answer and
 * how long the thread worked on the batch. */
typedef void (*gcommit_done_fn)(void *arg, void *batch, bool ok, uint64_t us);

/* Open a second connection to [store] path (its own statements and hook
 * state) with the event hooks registered in order (the array is borrowed
 * for the committer's life), start the thread. *st_out is that connection
 * (for a WAL checkpointer to attach to); it belongs to the committer. */
int gcommit_new(struct gcommit **out, struct event_base *base, const struct cfg *cfg,
                const store_event_hook *hooks, size_t nhooks, gcommit_work_fn work,
                gcommit_done_fn done, void *arg, struct store **st_out, char *err,
                size_t errlen) WXS_MUSTCHECK;

/* True from gcommit_open() until the batch's done() (open only when
 * false). */
bool gcommit_busy(const struct gcommit *g);

/* Start a batch whose items [0, n) are ready (it is passed back as it is). */
void gcommit_open(struct gcommit *g, void *batch, size_t n);

/* The open batch now has n items ready (n only grows). */
void gcommit_more(struct gcommit *g, size_t n);
/* The same without waking the thread: work that can only start at the
 * seal (a batch applied whole) would have it wake for nothing. */
void gcommit_more_quiet(struct gcommit *g, size_t n);

/* No more items for the open batch: commit it. */
void gcommit_seal(struct gcommit *g);

/* Seal the open batch if any, wait for it and deliver its done() (so its
 * requests are answered; done must not open again), then join the thread.
 * The connection stays open (a checkpointer attached to it can detach). */
void gcommit_stop(struct gcommit *g);

/* Stop if needed and close the connection. NULL is a no-op. */
void gcommit_free(struct gcommit *g);
#endif
