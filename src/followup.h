/* followup: customer-service messages sent after a subscribe (issue 20,
 * part 3). A channel has up to FOLLOWUP_MAX follow-ups (text, news or
 * image, in order: followup_msgs, rows never changed once written). Two
 * halves around an outbox (followup_outbox, schema/016):
 *
 *  - the writer, followup_outbox_hook(), runs inside the callback's commit:
 *    a first-delivered subscribe through a channel with follow-ups gets one
 *    pending row holding the ids of the channel's messages then, in the
 *    event's transaction (one row, not one per message: the push path's
 *    cost; a retry is a duplicate: no hook, no row), from the ids the
 *    router read off the channel row (event_rec.followups, kept by this
 *    module in channels.followup_ids), held for the batch's end and
 *    written then in one multi-row INSERT (store_hook_slot.end_batch:
 *    before COMMIT, or dropped with a rolled-back batch). It never touches the
 *    network, and an unsubscribe writes nothing here: the runner parks the
 *    row of a fan who left ("unsubscribed") when its turn comes;
 *  - the runner, followup_run(), sends them with message/custom/send: a row
 *    is claimed (state 'sending', owner, lease) in its own statement before
 *    the first call, and only when no earlier row of the same fan is
 *    pending or in flight; its messages go out back to back, in order, each
 *    recorded (done + 1) before the next; a fan's later row waits while an
 *    earlier one is in flight or back in the queue after a failure. On
 *    PostgreSQL the claim skips rows
 *    another instance holds (FOR UPDATE SKIP LOCKED), so two instances
 *    never send the same row. wxscened runs it in a thread (fuworker.h).
 *
 * Outcomes of one call (followup_classify()):
 *  - ok: the message is done, the next one follows;
 *  - 45015 (outside the 48 h window, or the fan left), 45047 (over the
 *    messages allowed per interaction), 40003 (bad openid) and any other
 *    refusal of the message itself: the row is parked with the reason (the
 *    fan's later messages would meet the same answer);
 *  - -1 (busy, after wxapi's own retries), a token error (after wxapi's
 *    refresh: 40001/40014/42001, or no token), 45009 (quota), or a
 *    connection that sent nothing: back to 'pending' with exponential
 *    backoff, the same message next time;
 *  - a timeout or an unreadable answer after the request went out: the
 *    message may have arrived, and WeChat has no idempotency key, so it is
 *    counted uncertain and never sent again; the next one follows. A claim
 *    whose owner died (kill -9 during a call) is settled the same way
 *    ("interrupted").
 * A row older than 48 h is parked without a call ("window"): WeChat would
 * refuse it with 45015. */
#ifndef WXS_FOLLOWUP_H
#define WXS_FOLLOWUP_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"
#include "reply.h"
#include "store.h"
#include "util.h"

#define FOLLOWUP_MAX      3           /* follow-ups per channel */
#define FOLLOWUP_WINDOW_S (48 * 3600) /* the customer-service window */
#define FOLLOWUP_TEXT_MAX 2048        /* bytes of a text follow-up */

/* ---- a channel's follow-ups ---- */

struct followup {
    int pos;              /* 1..FOLLOWUP_MAX */
    enum reply_kind kind; /* text, news or image */
    const char *body;     /* the stored reply form (reply.h) */
    const char *media_file;
};

/* Check a text follow-up: 1..FOLLOWUP_TEXT_MAX bytes of UTF-8 without
 * control characters but tab and newline. 0, or -1 with "text: why". */
int followup_text_validate(const char *text, char *err, size_t errlen) WXS_MUSTCHECK;

#define FOLLOWUP_EFULL     (-2)
#define FOLLOWUP_ENOTFOUND (-3)
/* Append a follow-up to the active channel scene (body in the stored form;
 * media_file: an image's file name or NULL). 0 with *pos; FOLLOWUP_EFULL
 * when it has FOLLOWUP_MAX; FOLLOWUP_ENOTFOUND when the channel does not
 * exist or is archived; -1 (store). Messages in err. Runs its own
 * transaction. */
int followup_add(struct store *st, const char *scene, enum reply_kind kind, const char *body,
                 const char *media_file, int *pos, char *err, size_t errlen) WXS_MUSTCHECK;

/* Remove follow-up n (1-based) of scene; the later ones move up. 0,
 * FOLLOWUP_ENOTFOUND (no such follow-up) or -1. Rows already in the
 * outbox keep their copy. */
int followup_remove(struct store *st, const char *scene, int n, char *err,
                    size_t errlen) WXS_MUSTCHECK;

/* The scene goes to a new channel (a released permanent id reused): the
 * old channel's follow-ups are removed (queued fans still get theirs). 0
 * or -1. */
int followup_forget(struct store *st, const char *scene) WXS_MUSTCHECK;

/* The follow-ups of scene in order; fn gets borrowed ones. 0 or -1. */
int followup_foreach(struct store *st, const char *scene,
                     int (*fn)(const struct followup *f, void *arg), void *arg) WXS_MUSTCHECK;

/* The message/custom/send body for openid and a stored message. NULL when
 * the stored form is malformed or out of memory; caller json_decref()s. */
struct json_t *followup_message_json(const char *openid, const char *body);

/* ---- the outbox ---- */

/* store_event_hook: the same-transaction writer (see above). */
int followup_outbox_hook(struct db *db, const struct event_applied *ev);

enum followup_verdict {
    FOLLOWUP_V_SENT,
    FOLLOWUP_V_RETRY,     /* nothing was delivered: back off and try again */
    FOLLOWUP_V_PARK,      /* never again, nor the fan's later ones: the reason says why */
    FOLLOWUP_V_UNCERTAIN, /* may have arrived: never resent; the next one follows */
};

/* rc: the wxapi return code; errcode: WeChat's for WXAPI_EAPI; unsent:
 * the request never left (wxapi_error.unsent). *reason (static) for a park. */
enum followup_verdict followup_classify(int rc, long errcode, bool unsent, const char **reason);

struct followup_report {
    uint64_t calls, sent, parked, retried, interrupted, uncertain;
    uint64_t pending; /* rows pending or in flight after the run */
    char error[512];  /* the failure that left work for later; "" = none */
};

struct followup_runner;

/* A runner over st (its own connection) with its own wxapi handle. cfg and
 * st are borrowed. */
int followup_runner_new(struct followup_runner **out, const struct cfg *cfg, struct store *st,
                        char *err, size_t errlen) WXS_MUSTCHECK;
void followup_runner_free(struct followup_runner *fr);

/* Park claims whose owner died (or whose lease lapsed), then send what is
 * due, in order per fan, until nothing is or stop is set. 0, or -1 on a
 * database failure (rep->error). */
int followup_run(struct followup_runner *fr, const atomic_bool *stop,
                 struct followup_report *rep) WXS_MUSTCHECK;

/* Outbox rows (one per subscribe) by state, and messages, for /metrics
 * and `wxscene followup status`. */
struct followup_counts {
    int64_t pending, sending, sent, parked;
    int64_t messages_sent; /* messages WeChat accepted */
    int64_t uncertain;     /* messages that may have arrived, never resent */
};
int followup_counts(struct store *st, struct followup_counts *c) WXS_MUSTCHECK;

/* Parked rows grouped by reason (most first); fn gets each. 0 or -1. */
int followup_parked_reasons(struct store *st, int (*fn)(const char *reason, int64_t n, void *arg),
                            void *arg) WXS_MUSTCHECK;
#endif
