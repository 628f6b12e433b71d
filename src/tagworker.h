/* tagworker: the tag outbox runner (tag.h) on its own thread inside
 * wxscened (a periodic worker, pworker.h), so tagging never sits on the
 * request path: it has its own store connection (store_open on the same
 * path) and its own wxapi handle, wakes every [tag] interval seconds and
 * drains what is due. The callback thread only writes outbox rows in its
 * commit (tag_outbox_hook). */
#ifndef WXS_TAGWORKER_H
#define WXS_TAGWORKER_H
#include "cfg.h"
#include "util.h"

struct tagworker;

/* Start the thread. cfg is borrowed and must outlive the worker. */
int tagworker_start(struct tagworker **out, const struct cfg *cfg, char *err,
                    size_t errlen) WXS_MUSTCHECK;

/* Ask the worker to stop; returns at once. It stops between two API calls
 * (a call in flight ends first, bounded by [wechat] api_timeout). */
void tagworker_stop(struct tagworker *tw);

/* Stop, join the thread and free. NULL is fine. */
void tagworker_free(struct tagworker *tw);
#endif
