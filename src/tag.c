#include "tag.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "wxapi.h"

#define TAG_NAME_MAX 64 /* channel_validate caps tags at 30 bytes */

/* ---- the writer (inside the callback's commit) ---- */

/* One row per (openid, tag). A new subscribe re-arms a row that was done,
 * parked or cancelled (the fan may have lost the tag by unsubscribing); a
 * SCAN only re-arms a cancelled one, so scanning again and again does not
 * re-tag a fan who has the tag. Pending and in-flight rows stay as they are.
 * For PostgreSQL: the DO UPDATE names the existing row's columns by the
 * table (a bare name is ambiguous with excluded's) and compares the flag
 * (?5 = 1: AND wants a boolean, not an integer). */
static const struct db_query q_arm = {
    "tag.arm",
    "INSERT INTO tag_outbox(openid, tag, state, event_id, created_at, updated_at) "
    "SELECT ?1, tag, 'pending', ?3, ?4, ?4 FROM channels "
    "WHERE scene = ?2 AND tag IS NOT NULL AND tag <> '' "
    "ON CONFLICT(openid, tag) DO UPDATE SET state = 'pending', attempts = 0, next_try = 0, "
    "last_error = NULL, reason = NULL, event_id = excluded.event_id, "
    "updated_at = excluded.updated_at "
    "WHERE tag_outbox.state = 'cancelled' OR "
    "(?5 = 1 AND tag_outbox.state IN ('done', 'parked'))"};

static const struct db_query q_cancel = {
    "tag.cancel",
    "UPDATE tag_outbox SET state = 'cancelled', reason = 'unsubscribed', updated_at = ?2 "
    "WHERE openid = ?1 AND state = 'pending'"};

/* Tagging someone who left would keep their openid in the outbox for
 * nothing: pending work is dropped with the reason. */
static struct db_stmt *hook_cancel(struct db *db, const struct event_applied *ev)
{
    struct db_stmt *s = db_stmt(db, &q_cancel);
    db_bind_text(s, 1, ev->rec->openid);
    db_bind_int64(s, 2, ev->rec->received_at);
    return s;
}

static struct db_stmt *hook_arm(struct db *db, const struct event_applied *ev)
{
    const struct event_rec *r = ev->rec;
    struct db_stmt *s = db_stmt(db, &q_arm);
    db_bind_text(s, 1, r->openid);
    db_bind_text(s, 2, ev->scene);
    db_bind_int64(s, 3, r->event_id);
    db_bind_int64(s, 4, r->received_at);
    db_bind_int64(s, 5, r->kind == EV_SUBSCRIBE);
    return s;
}

/* The connection keeps both statements prepared (db_stmt), so an event
 * costs a cache probe, the binds and one step; ev->slot is not needed. */
int tag_outbox_hook(struct db *db, const struct event_applied *ev)
{
    enum ev_kind k = ev->rec->kind;
    /* organic: no channel; untagged: the router already found no tag */
    bool arm = (k == EV_SUBSCRIBE || k == EV_SCAN) && ev->scene && !ev->rec->untagged;
    if (!arm && k != EV_UNSUBSCRIBE)
        return 0;
    if (db_run_later(arm ? hook_arm(db, ev) : hook_cancel(db, ev)) < 0) {
        log_warn("tag: outbox: %s", db_errmsg(db));
        return -1;
    }
    return 0;
}

/* ---- pure rules ---- */

static const struct {
    long errcode;
    enum tag_verdict verdict; /* for a single openid; several are split */
    const char *reason;
} batch_errors[] = {
    {40003, TAG_V_PARK, "invalid openid (40003)"},
    {45059, TAG_V_PARK, "the fan already has 20 tags, WeChat's limit (45059)"},
    {40032, TAG_V_PARK, "WeChat rejected the openid list (40032)"},
    {49003, TAG_V_PARK, "the openid does not belong to this account (49003)"},
    {45159, TAG_V_REFETCH, "invalid tag id (45159), even after re-fetching the tag"},
};

enum tag_verdict tag_classify(int rc, long errcode, size_t n, bool refetched)
{
    if (rc == 0)
        return TAG_V_DONE;
    if (rc != WXAPI_EAPI)
        return TAG_V_RETRY;
    for (size_t i = 0; i < WXS_ARRAY_LEN(batch_errors); i++) {
        if (batch_errors[i].errcode != errcode)
            continue;
        if (batch_errors[i].verdict == TAG_V_REFETCH)
            return refetched ? TAG_V_PARK : TAG_V_REFETCH;
        return n > 1 ? TAG_V_SPLIT : TAG_V_PARK;
    }
    return TAG_V_RETRY;
}

const char *tag_park_reason(long errcode)
{
    for (size_t i = 0; i < WXS_ARRAY_LEN(batch_errors); i++)
        if (batch_errors[i].errcode == errcode)
            return batch_errors[i].reason;
    return NULL;
}

int64_t tag_backoff(int64_t attempts, int64_t base, int64_t max)
{
    int64_t d = base > 0 ? base : 1;
    for (int64_t i = 1; i < attempts && d < max; i++)
        d *= 2;
    return d < max ? d : max;
}

/* ---- the runner ---- */

static const struct db_query q_reclaim_owners = {
    "tag.reclaim_owners",
    "SELECT DISTINCT owner_host, owner_pid FROM tag_outbox WHERE state = 'sending'"};
/* Binds are never NULL (a lapsed-leases-only sweep passes '' and -1). */
static const struct db_query q_reclaim = {
    "tag.reclaim", "UPDATE tag_outbox SET state = 'pending', owner_host = NULL, owner_pid = NULL, "
                   "claim_until = NULL, updated_at = ?4 WHERE state = 'sending' AND "
                   "((owner_host = ?1 AND owner_pid = ?2) OR claim_until < ?3)"};
static const struct db_query q_pick = {
    "tag.pick", "SELECT tag FROM tag_outbox WHERE state = 'pending' AND next_try <= ?1 AND "
                "tag NOT IN (SELECT name FROM tag_ids WHERE next_try > ?1 OR "
                "(tag_id IS NULL AND checked_at >= ?2)) LIMIT 1"};
/* The claim is one statement: it chooses the oldest due rows of the tag
 * and marks them in flight, returning what the call needs, so no reader
 * sits between the choice and the write. The outer `state = 'pending'` makes
 * it safe without a serial writer too: on PostgreSQL (READ COMMITTED) a
 * competing claimer that chose the same rows re-checks them after waiting
 * and skips those taken. A backend with row locks should override this
 * query by name with the sub-select ending
 *   "... ORDER BY id LIMIT ?3 FOR UPDATE SKIP LOCKED)"
 * so concurrent runners take disjoint batches instead of waiting on each
 * other and coming back short. Rows come back in no particular order: a
 * batch is one set for batchtagging. */
static const struct db_query q_claim = {
    "tag.claim",
    "UPDATE tag_outbox SET state = 'sending', attempts = attempts + 1, owner_host = ?4, "
    "owner_pid = ?5, claim_until = ?6, updated_at = ?7 "
    "WHERE state = 'pending' AND id IN (SELECT id FROM tag_outbox WHERE state = 'pending' "
    "AND tag = ?1 AND next_try <= ?2 ORDER BY id LIMIT ?3) "
    "RETURNING id, openid, attempts"};
static const struct db_query q_renew = {
    "tag.renew", "UPDATE tag_outbox SET claim_until = ?2 WHERE id = ?1 AND state = 'sending'"};
static const struct db_query q_done = {
    "tag.done", "UPDATE tag_outbox SET state = 'done', last_error = NULL, owner_host = NULL, "
                "owner_pid = NULL, claim_until = NULL, updated_at = ?2 "
                "WHERE id = ?1 AND state IN ('sending', 'pending')"};
static const struct db_query q_park = {
    "tag.park", "UPDATE tag_outbox SET state = 'parked', reason = ?3, last_error = ?4, "
                "owner_host = NULL, owner_pid = NULL, claim_until = NULL, updated_at = ?2 "
                "WHERE id = ?1 AND state = 'sending'"};
static const struct db_query q_retry = {
    "tag.retry", "UPDATE tag_outbox SET state = 'pending', next_try = ?3, last_error = ?4, "
                 "owner_host = NULL, owner_pid = NULL, claim_until = NULL, updated_at = ?2 "
                 "WHERE id = ?1 AND state = 'sending'"};
static const struct db_query q_tagid_get = {"tag.tagid_get",
                                            "SELECT tag_id, failures FROM tag_ids WHERE name = ?1"};
static const struct db_query q_tagid_set = {
    "tag.tagid_set", "INSERT INTO tag_ids(name, tag_id, checked_at) VALUES(?1, ?2, ?3) "
                     "ON CONFLICT(name) DO UPDATE SET tag_id = excluded.tag_id, "
                     "checked_at = excluded.checked_at, error = NULL, failures = 0, next_try = 0"};
/* failures is the count read before the calls (tagid_cached), plus one: two
 * runners failing on the same tag at once may count one failure, which
 * only shortens a backoff. */
static const struct db_query q_tagid_fail = {
    "tag.tagid_fail",
    "INSERT INTO tag_ids(name, tag_id, checked_at, error, failures, next_try) "
    "VALUES(?1, NULL, ?2, ?3, ?4, ?5) "
    "ON CONFLICT(name) DO UPDATE SET tag_id = NULL, checked_at = excluded.checked_at, "
    "error = excluded.error, failures = excluded.failures, next_try = excluded.next_try"};
static const struct db_query q_tagid_forget = {"tag.tagid_forget",
                                               "UPDATE tag_ids SET tag_id = NULL WHERE name = ?1"};
static const struct db_query q_park_tag = {
    "tag.park_tag", "UPDATE tag_outbox SET state = 'parked', reason = ?2, updated_at = ?3 "
                    "WHERE tag = ?1 AND state = 'pending'"};
static const struct db_query q_count_pending = {
    "tag.count_pending", "SELECT (SELECT count(*) FROM tag_outbox WHERE state = 'pending') + "
                         "(SELECT count(*) FROM tag_outbox WHERE state = 'sending')"};
static const struct db_query q_count_parked = {
    "tag.count_parked", "SELECT count(*) FROM tag_outbox WHERE state = 'parked'"};
static const struct db_query q_requeue_parked = {
    "tag.requeue_parked",
    "UPDATE tag_outbox SET state = 'pending', attempts = 0, next_try = 0, reason = NULL, "
    "updated_at = ?1 WHERE state = 'parked'"};
static const struct db_query q_requeue_tag_ids = {
    "tag.requeue_tag_ids", "UPDATE tag_ids SET next_try = 0 WHERE tag_id IS NULL"};

/* Prepared when a runner starts, so a schema this build cannot use stops
 * the worker at once with the reason, not at its first due row. */
static const struct db_query *const runner_queries[] = {
    &q_reclaim_owners, &q_reclaim,      &q_pick,     &q_claim,         &q_renew,
    &q_done,           &q_park,         &q_retry,    &q_tagid_get,     &q_tagid_set,
    &q_tagid_fail,     &q_tagid_forget, &q_park_tag, &q_count_pending, &q_count_parked,
};

struct tag_runner {
    const struct cfg *cfg;
    struct store *st;
    struct db *db;
    struct wxapi *api;
    struct tag_runner_opts opts;
    char host[256];
    int64_t pid;
    int64_t lease;
    /* per run */
    int64_t run_start;
    struct tag_report *rep;
    const atomic_bool *stop;
};

/* One claimed batch of one tag, rows keyed by outbox id. */
struct tag_batch {
    char tag[TAG_NAME_MAX];
    long tag_id;
    size_t n;
    int64_t id[TAG_BATCH_MAX];
    char *openid[TAG_BATCH_MAX];
    int64_t attempts[TAG_BATCH_MAX];
};

/* How a slice of the batch came out. */
enum slice_rc { SLICE_OK = 0, SLICE_DB = -1, SLICE_RETRY = -2 };

static void batch_clear(struct tag_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->openid[i]);
    memset(b, 0, sizeof(*b));
}

static int64_t now_for(const struct tag_runner *tr)
{
    /* The CLI's explicit sync does not wait for backoff times. */
    return tr->opts.ignore_backoff ? INT64_MAX / 2 : util_now();
}

/* The connection's last error into the report; call it right after the
 * failing call. Returns -1. */
static int db_fail(struct tag_runner *tr, const char *what)
{
    snprintf(tr->rep->error, sizeof(tr->rep->error), "database: %s: %s", what, db_errmsg(tr->db));
    return -1;
}

/* Run a statement without rows to read (and reset it). */
static int step_exec(struct tag_runner *tr, struct db_stmt *s, const char *what)
{
    return db_run(s) < 0 ? db_fail(tr, what) : 0;
}

static int begin(struct tag_runner *tr)
{
    return db_begin(tr->db, DB_TX_WRITE) < 0 ? db_fail(tr, "begin") : 0;
}

/* Commit when ok == 0, else (or when the commit fails) roll back; the
 * error is in the report by then. A commit of uncertain outcome is a
 * failure too: rows it would have claimed are this process's and taken
 * back by the next sweep, rows it would have recorded are sent again
 * (batchtagging is idempotent). */
static int commit(struct tag_runner *tr, int ok)
{
    if (ok == 0 && db_commit(tr->db) == 0)
        return 0;
    if (ok == 0)
        db_fail(tr, "commit");
    db_rollback(tr->db);
    return -1;
}

/* ---- claims ---- */

/* A claim's owner is gone when it is this process (a previous run of the
 * single runner here ended without recording) or a pid on this host that no
 * longer exists. */
static bool owner_gone(const struct tag_runner *tr, const char *host, int64_t pid)
{
    if (!host || strcmp(host, tr->host) != 0)
        return false;
    if (pid == tr->pid)
        return true;
    return pid > 0 && pid <= INT32_MAX && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* Claims of (host, pid), and any lapsed lease, back to pending. Returns the
 * rows taken back or -1. */
static int reclaim_owner(struct tag_runner *tr, const char *host, int64_t pid, int64_t now)
{
    struct db_stmt *s = db_stmt(tr->db, &q_reclaim);
    db_bind_text(s, 1, host);
    db_bind_int64(s, 2, pid);
    db_bind_int64(s, 3, now);
    db_bind_int64(s, 4, now);
    if (step_exec(tr, s, "reclaim") < 0)
        return -1;
    return (int)db_changes(tr->db);
}

struct owner {
    char host[256];
    int64_t pid;
};

/* The owners of rows in flight whose process is gone, into gone[]; returns
 * how many rows are in flight at all (0 = nothing to look at: an idle sweep
 * takes no write lock), or -1. */
static int gone_owners(struct tag_runner *tr, struct owner *gone, size_t max, size_t *ngone)
{
    struct db_stmt *s = db_stmt(tr->db, &q_reclaim_owners);
    int rc, owners = 0;
    *ngone = 0;
    while ((rc = db_step(s)) == DB_ROW) {
        const char *h = db_col_text(s, 0);
        int64_t pid = db_col_int64(s, 1);
        owners++;
        if (*ngone < max && owner_gone(tr, h, pid)) {
            util_strlcpy(gone[*ngone].host, h, sizeof(gone[*ngone].host));
            gone[(*ngone)++].pid = pid;
        }
    }
    if (rc < 0)
        owners = db_fail(tr, "reclaim");
    db_reset(s);
    return owners;
}

/* Take back the claims of dead owners and lapsed leases (kill -9 mid-batch):
 * those rows go back to pending and are sent again. */
static int reclaim(struct tag_runner *tr)
{
    struct owner gone[16];
    size_t ngone;
    int64_t now = util_now();
    int owners = gone_owners(tr, gone, WXS_ARRAY_LEN(gone), &ngone);
    if (owners <= 0)
        return owners;
    if (begin(tr) < 0)
        return -1;
    /* lapsed leases of anyone: a host/pid pair that matches no row */
    int n = reclaim_owner(tr, "", -1, now), ret = n < 0 ? -1 : 0;
    tr->rep->reclaimed += n > 0 ? (uint64_t)n : 0;
    for (size_t i = 0; ret == 0 && i < ngone; i++) {
        n = reclaim_owner(tr, gone[i].host, gone[i].pid, now);
        ret = n < 0 ? -1 : 0;
        tr->rep->reclaimed += n > 0 ? (uint64_t)n : 0;
        if (n > 0)
            log_info("tag: took back %d rows claimed by %s pid %lld (gone)", n, gone[i].host,
                     (long long)gone[i].pid);
    }
    return commit(tr, ret);
}

/* The tag with the oldest due work, into tag; 1 = none due. */
static int pick_tag(struct tag_runner *tr, char *tag, size_t taglen)
{
    struct db_stmt *s = db_stmt(tr->db, &q_pick);
    db_bind_int64(s, 1, now_for(tr));
    db_bind_int64(s, 2, tr->run_start);
    int rc = db_step(s), ret = 1;
    if (rc == DB_ROW) {
        const char *t = db_col_text(s, 0);
        util_strlcpy(tag, t ? t : "", taglen);
        ret = 0;
    } else if (rc != DB_DONE) {
        ret = db_fail(tr, "pick");
    }
    db_reset(s);
    return ret;
}

static int claim_rows(struct tag_runner *tr, struct tag_batch *b, int64_t limit)
{
    struct db_stmt *s = db_stmt(tr->db, &q_claim);
    int64_t now = util_now();
    int rc, ret = 0;
    db_bind_text(s, 1, b->tag);
    db_bind_int64(s, 2, now_for(tr));
    db_bind_int64(s, 3, limit);
    db_bind_text(s, 4, tr->host);
    db_bind_int64(s, 5, tr->pid);
    db_bind_int64(s, 6, now + tr->lease);
    db_bind_int64(s, 7, now);
    while ((rc = db_step(s)) == DB_ROW && b->n < TAG_BATCH_MAX) { /* LIMIT <= TAG_BATCH_MAX */
        b->id[b->n] = db_col_int64(s, 0);
        b->attempts[b->n] = db_col_int64(s, 2);
        if (!(b->openid[b->n] = db_col_strdup(s, 1))) {
            snprintf(tr->rep->error, sizeof(tr->rep->error), "claim: out of memory");
            ret = -1; /* the caller rolls the claim back */
            break;
        }
        b->n++;
    }
    if (rc < 0)
        ret = db_fail(tr, "claim");
    db_reset(s);
    return ret;
}

/* Claim up to [tag] batch_size due rows of b->tag, committed before any call
 * so a crash leaves them visibly in flight. */
static int claim(struct tag_runner *tr, struct tag_batch *b)
{
    int64_t limit = tr->cfg->tag_batch_size;
    if (limit < 1 || limit > TAG_BATCH_MAX)
        limit = TAG_BATCH_MAX;
    if (begin(tr) < 0)
        return -1;
    return commit(tr, claim_rows(tr, b, limit));
}

/* ---- recording results (each a committed transaction, keyed by row id) ---- */

enum outcome { OUT_DONE, OUT_PARK, OUT_RETRY };

static int record_one(struct tag_runner *tr, enum outcome o, int64_t id, int64_t attempts,
                      const char *reason, const char *error, int64_t now)
{
    static const struct db_query *const which[] = {
        [OUT_DONE] = &q_done, [OUT_PARK] = &q_park, [OUT_RETRY] = &q_retry};
    struct db_stmt *s = db_stmt(tr->db, which[o]);
    db_bind_int64(s, 1, id);
    db_bind_int64(s, 2, now);
    if (o == OUT_PARK) {
        db_bind_text(s, 3, reason);
        db_bind_text(s, 4, error);
    } else if (o == OUT_RETRY) {
        db_bind_int64(s, 3,
                      now + tag_backoff(attempts, tr->cfg->tag_retry_base, tr->cfg->tag_retry_max));
        db_bind_text(s, 4, error);
    }
    return step_exec(tr, s, "record");
}

static int record(struct tag_runner *tr, const struct tag_batch *b, size_t lo, size_t hi,
                  enum outcome o, const char *reason, const char *error)
{
    int64_t now = util_now();
    int ret = begin(tr);
    for (size_t i = lo; ret == 0 && i < hi; i++)
        ret = record_one(tr, o, b->id[i], b->attempts[i], reason, error, now);
    if (commit(tr, ret) < 0)
        return -1;
    if (o == OUT_DONE)
        tr->rep->tagged += hi - lo;
    else if (o == OUT_RETRY)
        tr->rep->retried += hi - lo;
    for (size_t i = lo; o == OUT_PARK && i < hi; i++) {
        tr->rep->parked++;
        log_info("tag: parked %s (tag '%s'): %s", b->openid[i], b->tag, reason);
        if (tr->opts.on_park)
            tr->opts.on_park(tr->opts.arg, b->openid[i], b->tag, reason);
    }
    return 0;
}

/* Give the rows still in flight a fresh lease before each call, so a long
 * split does not outlive its claim. */
static int renew(struct tag_runner *tr, const struct tag_batch *b, size_t lo, size_t hi)
{
    int64_t until = util_now() + tr->lease;
    int ret = begin(tr);
    for (size_t i = lo; ret == 0 && i < hi; i++) {
        struct db_stmt *s = db_stmt(tr->db, &q_renew);
        db_bind_int64(s, 1, b->id[i]);
        db_bind_int64(s, 2, until);
        ret = step_exec(tr, s, "renew");
    }
    return commit(tr, ret);
}

/* ---- tag ids ---- */

/* 0 = *id cached, 1 = not known (*failures so far), -1 = database. */
static int tagid_cached(struct tag_runner *tr, const char *tag, long *id, int64_t *failures)
{
    struct db_stmt *s = db_stmt(tr->db, &q_tagid_get);
    db_bind_text(s, 1, tag);
    int rc = db_step(s), ret = 1;
    *failures = 0;
    if (rc == DB_ROW && !db_col_null(s, 0)) {
        *id = (long)db_col_int64(s, 0);
        ret = 0;
    } else if (rc == DB_ROW) {
        *failures = db_col_int64(s, 1);
    } else if (rc != DB_DONE) {
        ret = db_fail(tr, "tag id");
    }
    db_reset(s);
    return ret;
}

static int tagid_store(struct tag_runner *tr, const char *tag, long id)
{
    struct db_stmt *s = db_stmt(tr->db, &q_tagid_set);
    db_bind_text(s, 1, tag);
    db_bind_int64(s, 2, id);
    db_bind_int64(s, 3, util_now());
    return step_exec(tr, s, "tag id");
}

/* The tag cannot be resolved now: remember why and when to ask again, so
 * the rows wait (pending, not lost) without a call per sweep. */
static int tagid_fail(struct tag_runner *tr, const char *tag, int64_t failures, const char *why)
{
    struct db_stmt *s = db_stmt(tr->db, &q_tagid_fail);
    int64_t now = util_now();
    db_bind_text(s, 1, tag);
    db_bind_int64(s, 2, now);
    db_bind_text(s, 3, why);
    db_bind_int64(s, 4, failures + 1);
    db_bind_int64(s, 5,
                  now + tag_backoff(failures + 1, tr->cfg->tag_retry_base, tr->cfg->tag_retry_max));
    snprintf(tr->rep->error, sizeof(tr->rep->error), "%s", why);
    return step_exec(tr, s, "tag id");
}

/* Park every pending row of a tag WeChat will never accept (45157/45158). */
static int park_tag(struct tag_runner *tr, const char *tag, const char *reason)
{
    struct db_stmt *s = db_stmt(tr->db, &q_park_tag);
    db_bind_text(s, 1, tag);
    db_bind_text(s, 2, reason);
    db_bind_int64(s, 3, util_now());
    if (step_exec(tr, s, "park tag") < 0)
        return -1;
    int n = (int)db_changes(tr->db);
    tr->rep->parked += (uint64_t)n;
    log_info("tag: parked %d rows of tag '%s': %s", n, tag, reason);
    if (tr->opts.on_park && n > 0)
        tr->opts.on_park(tr->opts.arg, "*", tag, reason);
    return 0;
}

/* 0 with *id when tags/get lists the name, 1 when it does not, < 0 = wxapi. */
static int tags_get(struct tag_runner *tr, const char *tag, long *id)
{
    json_t *resp = NULL;
    int rc = wxapi_get(tr->api, "cgi-bin/tags/get", NULL, &resp);
    if (rc < 0)
        return rc;
    json_t *tags = json_object_get(resp, "tags"), *t;
    size_t i;
    rc = 1;
    json_array_foreach(tags, i, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));
        json_t *v = json_object_get(t, "id");
        if (name && strcmp(name, tag) == 0 && json_is_integer(v)) {
            *id = (long)json_integer_value(v);
            rc = 0;
            break;
        }
    }
    json_decref(resp);
    return rc;
}

static int tags_create(struct tag_runner *tr, const char *tag, long *id)
{
    json_t *body = json_pack("{s:{s:s}}", "tag", "name", tag), *resp = NULL;
    if (!body)
        return WXAPI_EINTERNAL;
    /* Not idempotent: a retried create after a timeout could meet 45157. */
    int rc = wxapi_post(tr->api, "cgi-bin/tags/create", body, false, &resp);
    json_decref(body);
    if (rc < 0)
        return rc;
    json_t *v = json_object_get(json_object_get(resp, "tag"), "id");
    rc = json_is_integer(v) ? 0 : WXAPI_EPROTO;
    if (rc == 0)
        *id = (long)json_integer_value(v);
    json_decref(resp);
    return rc;
}

/* How a failed create is reported and handled. */
static int create_failed(struct tag_runner *tr, const char *tag, int64_t failures)
{
    const struct wxapi_error *e = wxapi_last_error(tr->api);
    char why[700];
    if (e->rc == WXAPI_EAPI && e->errcode == 45056) {
        snprintf(why, sizeof(why),
                 "cannot create tag '%s': the account already has 100 tags, WeChat's limit "
                 "(45056); delete unused tags in the MP admin console (the fans wait, pending)",
                 tag);
        return tagid_fail(tr, tag, failures, why) < 0 ? -1 : 1;
    }
    if (e->rc == WXAPI_EAPI && (e->errcode == 45157 || e->errcode == 45158)) {
        snprintf(why, sizeof(why), "WeChat refuses the tag name '%s' (%ld: %s)", tag, e->errcode,
                 e->errcode == 45158 ? "longer than 30 bytes" : "illegal or duplicate name");
        return park_tag(tr, tag, why) < 0 ? -1 : 1;
    }
    snprintf(why, sizeof(why), "tag '%s': %s", tag, e->msg);
    return tagid_fail(tr, tag, failures, why) < 0 ? -1 : 1;
}

/* The id of tag: cached, else tags/get, else tags/create. 0 = *id set,
 * 1 = not now (recorded in tag_ids, or the rows parked), -1 = database. */
static int resolve_tag(struct tag_runner *tr, const char *tag, long *id)
{
    int64_t failures;
    int rc = tagid_cached(tr, tag, id, &failures);
    if (rc <= 0)
        return rc;
    rc = tags_get(tr, tag, id);
    if (rc == 1) {
        rc = tags_create(tr, tag, id);
        if (rc == WXAPI_EAPI && wxapi_last_error(tr->api)->errcode == 45157 &&
            tags_get(tr, tag, id) == 0)
            rc = 0; /* someone created it meanwhile */
        if (rc == 0)
            log_info("tag: created WeChat tag '%s' (id %ld)", tag, *id);
    }
    if (rc < 0)
        return create_failed(tr, tag, failures);
    return tagid_store(tr, tag, *id);
}

/* ---- sending ---- */

static int batchtagging(struct tag_runner *tr, const struct tag_batch *b, size_t lo, size_t hi)
{
    json_t *list = json_array(), *resp = NULL;
    for (size_t i = lo; list && i < hi; i++)
        if (json_array_append_new(list, json_string(b->openid[i])) < 0)
            break;
    json_t *body =
        list ? json_pack("{s:o, s:I}", "openid_list", list, "tagid", (json_int_t)b->tag_id) : NULL;
    if (!body)
        return WXAPI_EINTERNAL;
    tr->rep->calls++;
    /* Idempotent: tagging a fan who has the tag changes nothing. */
    int rc = wxapi_post(tr->api, "cgi-bin/tags/members/batchtagging", body, true, &resp);
    json_decref(body);
    json_decref(resp);
    return rc;
}

static enum slice_rc send_slice(struct tag_runner *tr, struct tag_batch *b, size_t lo, size_t hi,
                                bool refetched);

/* 45159: forget the cached id, resolve it again and repeat the call once. */
static enum slice_rc refetch_and_resend(struct tag_runner *tr, struct tag_batch *b, size_t lo,
                                        size_t hi)
{
    struct db_stmt *s = db_stmt(tr->db, &q_tagid_forget);
    db_bind_text(s, 1, b->tag);
    if (step_exec(tr, s, "tag id") < 0)
        return SLICE_DB;
    int rc = resolve_tag(tr, b->tag, &b->tag_id);
    if (rc < 0)
        return SLICE_DB;
    if (rc > 0) {
        const char *why = tr->rep->error[0] ? tr->rep->error : "tag id unavailable";
        return record(tr, b, lo, hi, OUT_RETRY, NULL, why) < 0 ? SLICE_DB : SLICE_RETRY;
    }
    return send_slice(tr, b, lo, hi, true);
}

/* 45159 twice: parked once the rows have seen enough attempts, else later. */
static enum slice_rc stale_tag_again(struct tag_runner *tr, struct tag_batch *b, size_t lo,
                                     size_t hi, const char *msg)
{
    int ret = 0;
    for (size_t i = lo; ret == 0 && i < hi; i++) {
        bool give_up = b->attempts[i] >= TAG_45159_ATTEMPTS || tr->opts.ignore_backoff;
        ret = record(tr, b, i, i + 1, give_up ? OUT_PARK : OUT_RETRY, tag_park_reason(45159), msg);
    }
    return ret < 0 ? SLICE_DB : SLICE_OK;
}

/* Send b's rows [lo, hi) and record what became of each. A per-openid
 * refusal fails the whole call, so the slice is halved until the bad
 * openid stands alone (log2(50) extra calls at most per bad openid). */
static enum slice_rc send_slice(struct tag_runner *tr, struct tag_batch *b, size_t lo, size_t hi,
                                bool refetched)
{
    if (renew(tr, b, lo, hi) < 0)
        return SLICE_DB;
    int rc = batchtagging(tr, b, lo, hi);
    const struct wxapi_error *e = wxapi_last_error(tr->api);
    long code = rc == WXAPI_EAPI ? e->errcode : 0;
    size_t mid = lo + (hi - lo) / 2;
    enum slice_rc a;
    switch (tag_classify(rc, code, hi - lo, refetched)) {
    case TAG_V_DONE:
        return record(tr, b, lo, hi, OUT_DONE, NULL, NULL) < 0 ? SLICE_DB : SLICE_OK;
    case TAG_V_SPLIT:
        a = send_slice(tr, b, lo, mid, refetched);
        if (a != SLICE_OK) /* the other half stays claimed: released below */
            return a;
        return send_slice(tr, b, mid, hi, refetched);
    case TAG_V_PARK:
        if (code == 45159)
            return stale_tag_again(tr, b, lo, hi, e->msg);
        return record(tr, b, lo, hi, OUT_PARK, tag_park_reason(code), e->msg) < 0 ? SLICE_DB
                                                                                  : SLICE_OK;
    case TAG_V_REFETCH:
        return refetch_and_resend(tr, b, lo, hi);
    case TAG_V_RETRY:
    default:
        snprintf(tr->rep->error, sizeof(tr->rep->error), "%s", e->msg);
        return record(tr, b, lo, hi, OUT_RETRY, NULL, e->msg) < 0 ? SLICE_DB : SLICE_RETRY;
    }
}

/* Rows of the batch still claimed after a stop (the second half of a split
 * whose first half must wait): back to pending, due at once. */
static void release_rest(struct tag_runner *tr)
{
    if (reclaim_owner(tr, tr->host, tr->pid, util_now()) < 0)
        log_warn("tag: %s", tr->rep->error);
}

/* One tag's due rows, batch after batch. 0 = drained, 1 = stop the run. */
static int run_tag(struct tag_runner *tr, const char *tag)
{
    struct tag_batch b = {0};
    long id;
    if (!tr->cfg->appid[0] || !tr->cfg->appsecret[0]) {
        snprintf(tr->rep->error, sizeof(tr->rep->error),
                 "fans wait to be tagged '%s': [wechat] appid and appsecret are not set", tag);
        return 1;
    }
    int ret = resolve_tag(tr, tag, &id);
    if (ret != 0)
        return ret < 0 ? -1 : 0; /* blocked tags are skipped by pick_tag */
    for (;;) {
        batch_clear(&b);
        if (tr->stop && atomic_load(tr->stop)) {
            ret = 1;
            break;
        }
        util_strlcpy(b.tag, tag, sizeof(b.tag));
        b.tag_id = id;
        if (claim(tr, &b) < 0) {
            ret = -1;
            break;
        }
        if (b.n == 0)
            break;
        enum slice_rc s = send_slice(tr, &b, 0, b.n, false);
        id = b.tag_id;
        if (s != SLICE_OK) {
            release_rest(tr);
            ret = s == SLICE_DB ? -1 : 1;
            break;
        }
    }
    batch_clear(&b);
    return ret;
}

/* A count for the report into *n; -1 (the error in the report unless one
 * is there already) on failure. */
static int count_of(struct tag_runner *tr, const struct db_query *q, uint64_t *n)
{
    int64_t v;
    if (db_one_int64(tr->db, q, &v) < 0) {
        if (!tr->rep->error[0])
            db_fail(tr, "count");
        return -1;
    }
    *n = (uint64_t)v;
    return 0;
}

int tag_run(struct tag_runner *tr, const atomic_bool *stop, struct tag_report *rep)
{
    char tag[TAG_NAME_MAX];
    int ret = 0;
    memset(rep, 0, sizeof(*rep));
    tr->rep = rep;
    tr->stop = stop;
    tr->run_start = util_now();
    if (reclaim(tr) < 0)
        ret = -1;
    /* Each pass drains one tag or leaves it waiting (blocked id, backoff);
     * the bound only guards against a row that would never leave 'pending'. */
    for (int guard = 0; ret == 0 && guard < 10000; guard++) {
        if (stop && atomic_load(stop))
            break;
        int rc = pick_tag(tr, tag, sizeof(tag));
        if (rc != 0) {
            ret = rc < 0 ? -1 : 0;
            break;
        }
        rc = run_tag(tr, tag);
        if (rc != 0) {
            ret = rc < 0 ? -1 : 0;
            break;
        }
    }
    if (count_of(tr, &q_count_pending, &rep->pending) < 0 ||
        count_of(tr, &q_count_parked, &rep->parked_total) < 0)
        ret = -1;
    tr->rep = NULL;
    tr->stop = NULL;
    return ret;
}

/* ---- lifecycle ---- */

int tag_runner_new(struct tag_runner **out, const struct cfg *cfg, struct store *st,
                   const struct tag_runner_opts *o, char *err, size_t errlen)
{
    struct tag_runner *tr = calloc(1, sizeof(*tr));
    if (!tr)
        return snprintf(err, errlen, "tag: out of memory"), -1;
    tr->cfg = cfg;
    tr->st = st;
    tr->db = store_db(st);
    if (o)
        tr->opts = *o;
    if (gethostname(tr->host, sizeof(tr->host) - 1) < 0)
        util_strlcpy(tr->host, "localhost", sizeof(tr->host));
    tr->pid = (int64_t)getpid();
    /* wxapi's worst case for one call: token fetch, call, refresh, call,
     * each up to 3 attempts of api_timeout; plus slack. */
    tr->lease = cfg->api_timeout * 12 + 30;
    for (size_t i = 0; i < WXS_ARRAY_LEN(runner_queries); i++) {
        if (!db_stmt(tr->db, runner_queries[i])) {
            snprintf(err, errlen, "tag: prepare %s: %s", runner_queries[i]->name,
                     db_errmsg(tr->db));
            goto fail;
        }
    }
    if (wxapi_new(&tr->api, cfg, st, err, errlen) < 0)
        goto fail;
    *out = tr;
    return 0;
fail:
    tag_runner_free(tr);
    return -1;
}

void tag_runner_free(struct tag_runner *tr)
{
    if (!tr)
        return;
    wxapi_free(tr->api);
    free(tr);
}

/* Two statements, no transaction: the caller reports store_errmsg() of
 * the failing one (a rollback would replace it), and re-running it after
 * a failure between them does what a single run would. */
int tag_requeue_parked(struct store *st, int64_t *count)
{
    struct db *db = store_db(st);
    struct db_stmt *s = db_stmt(db, &q_requeue_parked);
    db_bind_int64(s, 1, util_now());
    if (db_run(s) < 0)
        return -1;
    int64_t n = db_changes(db);
    if (db_run(db_stmt(db, &q_requeue_tag_ids)) < 0)
        return -1;
    *count = n;
    return 0;
}

int tag_queue_counts(struct store *st, int64_t *pending, int64_t *parked)
{
    struct db *db = store_db(st);
    return db_one_int64(db, &q_count_pending, pending) < 0 ||
                   db_one_int64(db, &q_count_parked, parked) < 0
               ? -1
               : 0;
}
