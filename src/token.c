#include "token.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* Every statement is about one AppID's row: ?1 is its key. */
static const struct db_query q_row_add = {
    "token.row_add", "INSERT INTO wx_token(appid) VALUES(?1) ON CONFLICT(appid) DO NOTHING"};
static const struct db_query q_row_get = {
    "token.row_get", "SELECT token, refresh_at, expires_at, CASE WHEN lock_owner IS NOT NULL "
                     "AND lock_until > ?2 THEN 1 ELSE 0 END, fail_seq, fail_msg "
                     "FROM wx_token WHERE appid = ?1"};
static const struct db_query q_lock_take = {
    "token.lock_take", "UPDATE wx_token SET lock_owner = ?2, lock_until = ?3 WHERE appid = ?1 "
                       "AND (lock_owner IS NULL OR lock_until <= ?4)"};
static const struct db_query q_store = {
    "token.store", "UPDATE wx_token SET token = ?2, source = ?3, fetched_at = ?4, "
                   "refresh_at = ?5, expires_at = ?6, lock_owner = NULL, lock_until = 0 "
                   "WHERE appid = ?1 AND lock_owner = ?7"};
static const struct db_query q_fail = {
    "token.fail", "UPDATE wx_token SET fail_seq = fail_seq + 1, fail_msg = ?2, "
                  "lock_owner = NULL, lock_until = 0 WHERE appid = ?1 AND lock_owner = ?3"};
/* compare-and-expire: only the token the caller was refused with */
static const struct db_query q_expire = {"token.expire",
                                         "UPDATE wx_token SET refresh_at = 0, expires_at = 0 "
                                         "WHERE appid = ?1 AND token = ?2 AND expires_at <> 0"};

struct token_cache {
    struct store *st;
    struct token_opts o;
    char key[128];
    char source[32];
};

/* The row as one transaction saw it. */
struct token_row {
    char token[TOKEN_MAX];
    bool has_token;
    int64_t refresh_at;
    int64_t expires_at;
    bool locked; /* someone holds the lock and its lease has not lapsed */
    int64_t fail_seq;
    char fail_msg[256];
};

enum token_step { STEP_USE, STEP_REFRESH, STEP_WAIT, STEP_FAILED };

/* What one pass of token_get decided, carried in and out of the transaction. */
struct token_pass {
    struct token_cache *tc;
    char owner[24];        /* lock owner id of this call */
    int64_t seen_fail_seq; /* fail_seq when this call started waiting, -1 = not waiting */
    enum token_step step;
    struct token_row row;
    bool rejected; /* the cached token was expired by compare-and-expire */
};

const char *const token_scrub_sql[] = {"DELETE FROM wx_token", NULL};

int64_t token_refresh_margin(int64_t expires_in)
{
    return expires_in >= 600 ? 300 : expires_in / 2;
}

int token_cache_new(struct token_cache **out, struct store *st, const struct token_opts *o)
{
    if (!o->key || !o->fetch || o->lease <= 0)
        return -1;
    struct token_cache *tc = calloc(1, sizeof(*tc));
    if (!tc)
        return -1;
    tc->st = st;
    tc->o = *o;
    if (util_strlcpy(tc->key, o->key, sizeof(tc->key)) >= sizeof(tc->key) ||
        util_strlcpy(tc->source, o->source ? o->source : "token", sizeof(tc->source)) >=
            sizeof(tc->source)) {
        free(tc);
        return -1;
    }
    tc->o.key = tc->key;
    tc->o.source = tc->source;
    *out = tc;
    return 0;
}

void token_cache_free(struct token_cache *tc)
{
    free(tc);
}

/* The database's message for the call that just failed, read before any
 * other call on the connection (a ROLLBACK would replace it). */
static int db_fail(struct db *db, char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "access_token cache: %s: %s", what, db_errmsg(db));
    return -1;
}

/* fn inside one write transaction; fn fills err on every failure. */
static int token_tx(struct token_cache *tc,
                    int (*fn)(struct db *db, void *arg, char *err, size_t errlen), void *arg,
                    char *err, size_t errlen)
{
    struct db *db = store_db(tc->st);
    if (db_begin(db, DB_TX_WRITE) < 0)
        return db_fail(db, err, errlen, "begin");
    if (fn(db, arg, err, errlen) < 0 ||
        (db_commit(db) < 0 && db_fail(db, err, errlen, "commit") < 0)) {
        db_rollback(db);
        return -1;
    }
    return 0;
}

static void copy_col(struct db_stmt *s, int i, char *dst, size_t dstlen)
{
    const char *v = db_col_text(s, i);
    util_strlcpy(dst, v ? v : "", dstlen);
}

/* Read (creating if needed) the row for this AppID. */
static int row_load(struct db *db, struct token_cache *tc, int64_t now, struct token_row *r,
                    char *err, size_t errlen)
{
    struct db_stmt *s = db_stmt(db, &q_row_add);
    db_bind_text(s, 1, tc->key);
    if (db_run(s) < 0)
        return db_fail(db, err, errlen, "adding the row");
    s = db_stmt(db, &q_row_get);
    db_bind_text(s, 1, tc->key);
    db_bind_int64(s, 2, now);
    int rc = db_step(s);
    if (rc == DB_ROW) {
        r->has_token = !db_col_null(s, 0);
        copy_col(s, 0, r->token, sizeof(r->token));
        r->refresh_at = db_col_int64(s, 1);
        r->expires_at = db_col_int64(s, 2);
        r->locked = db_col_int(s, 3) != 0;
        r->fail_seq = db_col_int64(s, 4);
        copy_col(s, 5, r->fail_msg, sizeof(r->fail_msg));
    } else if (rc < 0) {
        db_fail(db, err, errlen, "reading the row");
    } else {
        snprintf(err, errlen, "access_token cache: the row of %s is gone", tc->key);
    }
    db_reset(s);
    return rc == DB_ROW ? 0 : -1;
}

/* The lock is a compare-and-set: taken only if nobody holds a live lease,
 * checked by the UPDATE itself. So taking it does not rely on
 * DB_CAP_SERIAL_WRITES (on SQLite it always succeeds: the row was read in
 * this BEGIN IMMEDIATE). 1 taken, 0 someone else has it, -1 error. */
static int lock_take(struct db *db, struct token_pass *p, int64_t now, char *err, size_t errlen)
{
    struct db_stmt *s = db_stmt(db, &q_lock_take);
    db_bind_text(s, 1, p->tc->key);
    db_bind_text(s, 2, p->owner);
    db_bind_int64(s, 3, now + p->tc->o.lease);
    db_bind_int64(s, 4, now);
    if (db_run(s) < 0)
        return db_fail(db, err, errlen, "taking the refresh lock");
    return db_changes(db) > 0;
}

/* Inside one write transaction: use the cached token, take the lock and
 * refresh, wait for the refresher, or report its failure. */
static int pass_decide(struct db *db, void *arg, char *err, size_t errlen)
{
    struct token_pass *p = arg;
    struct token_row *r = &p->row;
    int64_t now = util_now();
    if (row_load(db, p->tc, now, r, err, errlen) < 0)
        return -1;
    bool valid = r->has_token && now < r->expires_at;
    if (r->has_token && now < r->refresh_at) {
        p->step = STEP_USE;
    } else if (p->seen_fail_seq >= 0 && r->fail_seq != p->seen_fail_seq) {
        p->step = valid ? STEP_USE : STEP_FAILED;
    } else if (!r->locked) {
        int took = lock_take(db, p, now, err, errlen);
        if (took < 0)
            return -1;
        p->rejected = r->has_token && r->expires_at == 0;
        p->step = took ? STEP_REFRESH : valid ? STEP_USE : STEP_WAIT;
    } else if (valid) {
        p->step = STEP_USE; /* another process is refreshing ahead of expiry */
    } else {
        p->step = STEP_WAIT;
    }
    if (p->step == STEP_WAIT && p->seen_fail_seq < 0)
        p->seen_fail_seq = r->fail_seq;
    return 0;
}

struct token_result {
    struct token_pass *p;
    const char *token; /* NULL: the refresh failed */
    int64_t expires_in;
    const char *fail_msg;
    bool lost_lock; /* out: our lease lapsed and someone else took over */
};

/* Write the refresh's outcome and release the lock, if it is still ours. */
static int pass_finish(struct db *db, void *arg, char *err, size_t errlen)
{
    struct token_result *res = arg;
    struct token_cache *tc = res->p->tc;
    int64_t now = util_now();
    struct db_stmt *s;
    if (res->token) {
        s = db_stmt(db, &q_store);
        db_bind_text(s, 1, tc->key);
        db_bind_text(s, 2, res->token);
        db_bind_text(s, 3, tc->source);
        db_bind_int64(s, 4, now);
        db_bind_int64(s, 5, now + res->expires_in - token_refresh_margin(res->expires_in));
        db_bind_int64(s, 6, now + res->expires_in);
        db_bind_text(s, 7, res->p->owner);
    } else {
        s = db_stmt(db, &q_fail);
        db_bind_text(s, 1, tc->key);
        db_bind_text(s, 2, res->fail_msg);
        db_bind_text(s, 3, res->p->owner);
    }
    if (db_run(s) < 0)
        return db_fail(db, err, errlen,
                       res->token ? "storing the new token" : "recording the failed refresh");
    res->lost_lock = db_changes(db) == 0;
    return 0;
}

/* This process's refreshes, for /metrics. Process-wide on purpose (like
 * log.c's level): every thread's token_cache (tagging, QR codes) refreshes
 * the one access_token of the account. */
static _Atomic uint64_t refreshes_ok, refreshes_failed;

void token_counters(uint64_t *refreshes, uint64_t *failures)
{
    *refreshes = atomic_load_explicit(&refreshes_ok, memory_order_relaxed);
    *failures = atomic_load_explicit(&refreshes_failed, memory_order_relaxed);
}

/* Fetch outside any transaction (it may take api_timeout seconds), then
 * record the result. Falls back to the cached token while it is valid. */
static int pass_refresh(struct token_pass *p, char *out, size_t outlen, char *err, size_t errlen)
{
    struct token_cache *tc = p->tc;
    char fresh[TOKEN_MAX];
    int64_t expires_in = 0;
    int rc = tc->o.fetch(tc->o.arg, p->rejected ? p->row.token : NULL, fresh, sizeof(fresh),
                         &expires_in, err, errlen);
    if (rc == 0 && (expires_in <= 0 || fresh[0] == '\0')) {
        snprintf(err, errlen, "access_token answer without a token or expires_in");
        rc = -1;
    }
    atomic_fetch_add_explicit(rc == 0 ? &refreshes_ok : &refreshes_failed, 1, memory_order_relaxed);
    char why[512];
    struct token_result res = {
        .p = p, .token = rc == 0 ? fresh : NULL, .expires_in = expires_in, .fail_msg = err};
    if (token_tx(tc, pass_finish, &res, why, sizeof(why)) < 0) {
        util_strlcpy(err, why, errlen);
        return -1;
    }
    if (res.lost_lock)
        log_warn("token: refresh lease of %lld s lapsed; another process took over",
                 (long long)tc->o.lease);
    if (rc == 0) {
        util_strlcpy(out, fresh, outlen);
        return 0;
    }
    if (p->row.has_token && util_now() < p->row.expires_at && !p->rejected) {
        log_warn("token: refresh ahead of expiry failed, using the current token: %s", err);
        util_strlcpy(out, p->row.token, outlen);
        return 0;
    }
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* 20..70 ms, randomised so waiting processes do not poll in lockstep. */
static long wait_jitter_ms(void)
{
    unsigned char b = 0;
    if (util_random(&b, 1) < 0)
        b = 128;
    return 20 + (long)(b % 51);
}

int token_get(struct token_cache *tc, char *out, size_t outlen, char *err, size_t errlen)
{
    struct token_pass p = {.tc = tc, .seen_fail_seq = -1};
    uint64_t deadline = util_mono_us() + (uint64_t)tc->o.wait_max_ms * 1000u;
    if (util_random_alnum(p.owner, 16) < 0) {
        snprintf(err, errlen, "access_token cache: no randomness for the lock id");
        return -1;
    }
    for (;;) {
        if (token_tx(tc, pass_decide, &p, err, errlen) < 0)
            return -1;
        switch (p.step) {
        case STEP_USE:
            util_strlcpy(out, p.row.token, outlen);
            return 0;
        case STEP_REFRESH:
            return pass_refresh(&p, out, outlen, err, errlen);
        case STEP_FAILED:
            snprintf(err, errlen, "%s", p.row.fail_msg);
            return -1;
        case STEP_WAIT:
            break;
        }
        if (util_mono_us() > deadline) {
            snprintf(err, errlen,
                     "timed out after %lld ms waiting for another process to "
                     "refresh the access_token",
                     (long long)tc->o.wait_max_ms);
            return -1;
        }
        sleep_ms(wait_jitter_ms());
    }
}

struct expire_arg {
    struct token_cache *tc;
    const char *rejected;
    int changed;
};

static int expire_tx(struct db *db, void *arg, char *err, size_t errlen)
{
    struct expire_arg *a = arg;
    struct db_stmt *s = db_stmt(db, &q_expire);
    db_bind_text(s, 1, a->tc->key);
    db_bind_text(s, 2, a->rejected);
    if (db_run(s) < 0)
        return db_fail(db, err, errlen, "expiring the rejected token");
    a->changed = db_changes(db) > 0;
    return 0;
}

int token_expire_if(struct token_cache *tc, const char *rejected, char *err, size_t errlen)
{
    struct expire_arg a = {.tc = tc, .rejected = rejected};
    if (token_tx(tc, expire_tx, &a, err, errlen) < 0)
        return -1;
    return a.changed;
}
