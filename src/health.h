/* health: GET /healthz for both listeners without database work on the
 * event loop. "Writable" means a real commit went through: a group commit
 * that stored a new event less than a second ago proves it at no cost (so
 * probes under load never wait for the write lock the commit thread
 * holds); otherwise a probe thread with its own connection rewrites the
 * health row, and every probe that arrives meanwhile shares its answer. */
#ifndef WXS_HEALTH_H
#define WXS_HEALTH_H
#include <stdbool.h>
#include <event2/event.h>
#include "cfg.h"
#include "util.h"

#define HEALTH_FRESH_US 1000000 /* a commit this recent answers a probe */

struct health;

/* Loop thread; cfg is borrowed. Starts the probe thread. */
int health_new(struct health **out, struct event_base *base, const struct cfg *cfg, char *err,
               size_t errlen) WXS_MUSTCHECK;

/* The group commit's outcome, on the loop thread: ok and stored = a batch
 * that wrote at least one new event committed; !ok = a batch failed (the
 * next probe writes for itself). */
void health_note_commit(struct health *h, bool ok, bool stored);

/* Answer a probe: cb(arg, status, body) on the loop thread, now or once the
 * probe thread has written: 200 "ok\n" or 503 "store not writable\n".
 * owner tags the request for health_cancel(). */
typedef void (*health_cb)(void *arg, int status, const char *body);
void health_check(struct health *h, const void *owner, health_cb cb, void *arg);

/* Answer owner's waiting probes now with 503 (its listener is going away). */
void health_cancel(struct health *h, const void *owner);

/* Answers every waiting probe (503), joins the thread. NULL is a no-op. */
void health_free(struct health *h);
#endif
