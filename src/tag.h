/* tag: fan tagging by channel. A channel may name a WeChat user tag
 * (channels.tag); every fan who subscribes or scans through it gets that tag,
 * so marketers can later message "everyone who came from the Spring flyer".
 *
 * Two halves around the outbox table tag_outbox (schema/004_tags.sql):
 *
 *  - the writer, tag_outbox_hook(), runs inside the callback's commit
 *    (registered with store_hook_add()): it arms an (openid, tag) row in the same
 *    transaction as the event, and cancels a fan's pending rows when the fan
 *    unsubscribes (reason 'unsubscribed'). It never touches the network;
 *  - the runner, tag_run(), drains the outbox: it resolves the tag's id
 *    (tags/get, else tags/create, cached in tag_ids), claims due rows of one
 *    tag at a time in batches of at most 50 openids ([tag] batch_size), sends
 *    tags/members/batchtagging and commits each result. wxscened runs it in
 *    a thread (tagworker.h); `wxscene tag sync` runs it once.
 *
 * Outcomes of one batchtagging call (tag_classify()):
 *  - ok: rows done, never sent again;
 *  - 40003 (invalid openid), 45059 (the fan has 20 tags), 40032: WeChat
 *    rejects the whole call, so the batch is split in halves until the
 *    offending openid is alone, and that row is parked with the reason;
 *  - 45159 (invalid tag id): the id is re-fetched and the call repeated
 *    once; rows that still fail are retried later, and parked with the
 *    reason after TAG_45159_ATTEMPTS attempts (WeChat is known to answer
 *    45159 for a few moments after creating a tag);
 *  - anything else (-1 busy after wxapi's own retries, token errors after
 *    its refresh, network, quota, permissions): the rows go back to pending
 *    with exponential backoff ([tag] retry_base doubling up to retry_max),
 *    and the run stops, leaving the error in the report.
 *
 * Restarts: a claimed batch ('sending') carries its owner (host, pid) and a
 * lease; a runner takes back claims whose owner is gone or whose lease
 * lapsed. Such a batch may be sent a second time, which is harmless:
 * batchtagging is idempotent (tagging a fan twice leaves one tag). What was
 * recorded done is never sent again. */
#ifndef WXS_TAG_H
#define WXS_TAG_H
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"
#include "store.h"
#include "util.h"

#define TAG_BATCH_MAX      50 /* openid_list "最多50个" (40032 above) */
#define TAG_45159_ATTEMPTS 3  /* calls a row may see 45159 before it is parked */

/* store_event_hook (store_hook_add): same-transaction outbox writer.
 * One step of a statement the connection keeps prepared for subscribe/SCAN
 * with a scene (a primary-key look-up of the channel's tag, an insert only
 * when it has one) and for unsubscribe; nothing for other events. */
int tag_outbox_hook(struct db *db, const struct event_applied *ev);

/* What one batchtagging answer means for the rows it carried. */
enum tag_verdict {
    TAG_V_DONE,    /* tagged */
    TAG_V_SPLIT,   /* one of several openids is bad: try the halves */
    TAG_V_PARK,    /* this single row can never be tagged */
    TAG_V_REFETCH, /* the tag id is stale: fetch it again, then repeat */
    TAG_V_RETRY,   /* transient or account-wide: back off and retry later */
};

/* rc: the wxapi return code; errcode: WeChat's errcode for WXAPI_EAPI; n: the
 * rows in the call; refetched: the tag id was already re-fetched for it. */
enum tag_verdict tag_classify(int rc, long errcode, size_t n, bool refetched);

/* Why a row is parked for errcode, for the operator; NULL if not a parking
 * errcode. */
const char *tag_park_reason(long errcode);

/* Seconds to wait before the next try of a row that failed `attempts` times
 * (>= 1): base, 2 base, 4 base, ... capped at max. */
int64_t tag_backoff(int64_t attempts, int64_t base, int64_t max);

/* What one tag_run() did, for the log line or the CLI. */
struct tag_report {
    uint64_t calls;        /* batchtagging calls made */
    uint64_t tagged;       /* rows recorded done */
    uint64_t parked;       /* rows parked */
    uint64_t retried;      /* rows put back for a later try */
    uint64_t reclaimed;    /* claims taken back from a dead or lapsed owner */
    uint64_t pending;      /* rows still pending or in flight after the run */
    uint64_t parked_total; /* rows parked, all time */
    char error[512];       /* the failure that left work for later; "" = none */
};

struct tag_runner_opts {
    bool ignore_backoff; /* treat every pending row and tag as due (CLI) */
    /* each row parked during the run, e.g. for the CLI to print; may be NULL */
    void (*on_park)(void *arg, const char *openid, const char *tag, const char *reason);
    void *arg;
};

struct tag_runner;

/* A runner over st (its own connection; one runner per process at a time)
 * with its own wxapi handle. cfg and st are borrowed. */
int tag_runner_new(struct tag_runner **out, const struct cfg *cfg, struct store *st,
                   const struct tag_runner_opts *o, char *err, size_t errlen) WXS_MUSTCHECK;
void tag_runner_free(struct tag_runner *tr);

/* Drain what is due now. stop (may be NULL) is checked between calls.
 * Returns 0 when the run went through (rep->error may still say why some
 * rows wait for a later try), -1 on a database failure (rep->error says it). */
int tag_run(struct tag_runner *tr, const atomic_bool *stop, struct tag_report *rep) WXS_MUSTCHECK;

/* The outbox's rows waiting to be sent (pending or sending) and parked,
 * for /metrics. */
int tag_queue_counts(struct store *st, int64_t *pending, int64_t *parked) WXS_MUSTCHECK;

/* Put every parked row back to pending (after the operator fixed the cause,
 * e.g. deleted tags to get under 100). *count = rows re-armed. */
int tag_requeue_parked(struct store *st, int64_t *count) WXS_MUSTCHECK;
#endif
