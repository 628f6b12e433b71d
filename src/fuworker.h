/* fuworker: the follow-up outbox runner (followup.h) on its own thread
 * inside wxscened, a periodic worker (pworker.h) like the tag worker
 * (tagworker.h), so follow-ups never sit on the request path nor delay a
 * reply: its own store connection and wxapi handle, a sweep at start
 * (claims a killed predecessor left are parked, never resent), then one
 * every [followup] interval seconds. The callback thread only writes outbox
 * rows in its commit (followup_outbox_hook). */
#ifndef WXS_FUWORKER_H
#define WXS_FUWORKER_H
#include "cfg.h"
#include "util.h"

struct fuworker;

/* Start the thread. cfg is borrowed and must outlive the worker. */
int fuworker_start(struct fuworker **out, const struct cfg *cfg, char *err,
                   size_t errlen) WXS_MUSTCHECK;

/* Ask the worker to stop; returns at once. It stops between two API calls
 * (a call in flight ends first, bounded by [wechat] api_timeout). */
void fuworker_stop(struct fuworker *tw);

/* Stop, join the thread and free. NULL is fine. */
void fuworker_free(struct fuworker *tw);
#endif
