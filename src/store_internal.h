/* store_internal: between store.c and store_batch.c, which applies a
 * group commit's events per batch, not per event, on a backend with
 * DB_CAP_ARRAYS (PostgreSQL).
 *
 * store.c's per-event path (commit_one) costs each event about six
 * statements (the openid's lock, the fan's row, the insert, the fan's
 * update, the scanner's row, its write), each parsed, planned and run by
 * the one server session of the instance: that session's CPU was the
 * ceiling (3,000 pushes/s). Here a batch costs a fixed handful, whatever
 * its size: every openid's lock in one statement (sorted: two instances
 * never wait on each other in a circle), every fan and every dedup key in
 * one read, every new event in one multi-row insert, every changed fan in
 * one multi-row upsert; the decisions between them (dedup, attribution,
 * the fan's state event after event) are made here in C, in the events'
 * order, exactly as commit_one makes them. */
#ifndef WXS_STORE_INTERNAL_H
#define WXS_STORE_INTERNAL_H
#include <stddef.h>

#include "store.h"

struct store_batch;

/* Queue r (its outputs reset) for the next store_batch_apply(). -1 when
 * out of memory. */
int store_batch_queue(struct store_batch **b, struct event_rec *r) WXS_MUSTCHECK;
/* Send the reads of the queued events (their locks, fans, stored keys,
 * and each hook's begin_batch reads) ahead, to be read with the caller's
 * next statement that waits (one round trip for all); store_batch_apply()
 * does it itself when nobody did. 0 or -1. */
int store_batch_send(struct db *db, struct store_batch *b, struct store_hook_slot *slots,
                     size_t nhooks) WXS_MUSTCHECK;
/* Store the queued events inside the open transaction and run every
 * hook for each first delivery, in order; the queue is emptied. 0 or -1
 * (the transaction must then be rolled back). */
int store_batch_apply(struct db *db, struct store_batch *b, const store_event_hook *hooks,
                      struct store_hook_slot *slots, size_t nhooks) WXS_MUSTCHECK;
/* Forget the queued events (the batch is rolled back). */
void store_batch_drop(struct store_batch *b);
void store_batch_free(struct store_batch *b);
#endif
