/* store_ckpt: the server's WAL checkpoints, moved off the event loop.
 * SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL
 * past 1000 pages, on the loop thread: it copies pages into the database
 * file and waits for two fdatasync()s (synchronous = normal or full), so
 * every request of that loop turn waits too (measured: the benchmark's p99).
 * With a checkpointer attached, the store's connection no longer
 * checkpoints by itself; a helper thread with its own connection runs a
 * PASSIVE checkpoint (never blocks the writer) whenever a commit leaves the
 * WAL past STORE_CKPT_PAGES. Should the helper fall behind a sustained load
 * until the WAL reaches STORE_CKPT_HARD_PAGES, the commit that crossed it
 * checkpoints in place (RESTART, but without waiting for readers: a long
 * statistics read must not hold up the commits), so the WAL stays bounded
 * as far as the readers allow. Durability is unchanged: commits write and sync the WAL exactly
 * as before; only who copies it into the database file changes. */
#ifndef WXS_STORE_CKPT_H
#define WXS_STORE_CKPT_H
#include <stddef.h>
#include <stdint.h>
#include "store.h"
#include "util.h"

#define STORE_CKPT_PAGES      1000  /* WAL pages that wake the helper */
#define STORE_CKPT_HARD_PAGES 16000 /* WAL pages that make the writer checkpoint itself */

struct store_ckpt;

/* Attach to st (its database file, its synchronous setting) and start the
 * thread. Borrowed: st must outlive the checkpointer. */
int store_ckpt_start(struct store_ckpt **out, struct store *st, char *err,
                     size_t errlen) WXS_MUSTCHECK;
/* Stop and join the thread and give the WAL back to SQLite's automatic
 * checkpoint. NULL is a no-op. */
void store_ckpt_stop(struct store_ckpt *c);

/* Checkpoint passes run by the helper / in place by the writer so far. */
uint64_t store_ckpt_passes(const struct store_ckpt *c);
uint64_t store_ckpt_inline(const struct store_ckpt *c);
#endif
