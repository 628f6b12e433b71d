#include "db_sqlite.h"
#include "token.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

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

/* Prepare sql and bind the AppID as ?1: every statement here is per row. */
static sqlite3_stmt *prep(struct token_cache *tc, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db_sqlite_handle(store_db(tc->st)), sql, -1, &s, NULL) != SQLITE_OK) {
        log_error("token: prepare: %s", sqlite3_errmsg(db_sqlite_handle(store_db(tc->st))));
        return NULL;
    }
    sqlite3_bind_text(s, 1, tc->key, -1, SQLITE_STATIC);
    return s;
}

static int exec_done(sqlite3_stmt *s)
{
    int rc = s ? sqlite3_step(s) : SQLITE_ERROR;
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void copy_col(sqlite3_stmt *s, int i, char *dst, size_t dstlen)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    util_strlcpy(dst, v ? (const char *)v : "", dstlen);
}

/* Read (creating if needed) the row for this AppID. */
static int row_load(struct token_cache *tc, int64_t now, struct token_row *r)
{
    if (exec_done(prep(tc, "INSERT OR IGNORE INTO wx_token(appid) VALUES(?1)")) < 0)
        return -1;
    sqlite3_stmt *s = prep(tc, "SELECT token, refresh_at, expires_at, lock_owner IS NOT NULL "
                               "AND lock_until > ?2, fail_seq, fail_msg FROM wx_token "
                               "WHERE appid = ?1");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 2, now);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        r->has_token = sqlite3_column_type(s, 0) != SQLITE_NULL;
        copy_col(s, 0, r->token, sizeof(r->token));
        r->refresh_at = sqlite3_column_int64(s, 1);
        r->expires_at = sqlite3_column_int64(s, 2);
        r->locked = sqlite3_column_int(s, 3) != 0;
        r->fail_seq = sqlite3_column_int64(s, 4);
        copy_col(s, 5, r->fail_msg, sizeof(r->fail_msg));
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int lock_take(struct token_pass *p, int64_t now)
{
    sqlite3_stmt *s = prep(p->tc, "UPDATE wx_token SET lock_owner = ?2, lock_until = ?3 "
                                  "WHERE appid = ?1");
    if (!s)
        return -1;
    sqlite3_bind_text(s, 2, p->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, now + p->tc->o.lease);
    return exec_done(s);
}

/* Inside BEGIN IMMEDIATE: use the cached token, take the lock and refresh,
 * wait for the refresher, or report its failure. */
static int pass_decide(struct store *st, void *arg)
{
    struct token_pass *p = arg;
    struct token_row *r = &p->row;
    int64_t now = util_now();
    (void)st;
    if (row_load(p->tc, now, r) < 0)
        return -1;
    bool valid = r->has_token && now < r->expires_at;
    if (r->has_token && now < r->refresh_at) {
        p->step = STEP_USE;
    } else if (p->seen_fail_seq >= 0 && r->fail_seq != p->seen_fail_seq) {
        p->step = valid ? STEP_USE : STEP_FAILED;
    } else if (!r->locked) {
        p->rejected = r->has_token && r->expires_at == 0;
        p->step = STEP_REFRESH;
        return lock_take(p, now);
    } else if (valid) {
        p->step = STEP_USE; /* another process is refreshing ahead of expiry */
    } else {
        p->step = STEP_WAIT;
        if (p->seen_fail_seq < 0)
            p->seen_fail_seq = r->fail_seq;
    }
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
static int pass_finish(struct store *st, void *arg)
{
    struct token_result *res = arg;
    struct token_cache *tc = res->p->tc;
    int64_t now = util_now();
    sqlite3_stmt *s;
    (void)st;
    if (res->token) {
        s = prep(tc, "UPDATE wx_token SET token = ?2, source = ?3, fetched_at = ?4, "
                     "refresh_at = ?5, expires_at = ?6, lock_owner = NULL, lock_until = 0 "
                     "WHERE appid = ?1 AND lock_owner = ?7");
        if (!s)
            return -1;
        sqlite3_bind_text(s, 2, res->token, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, tc->source, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 4, now);
        sqlite3_bind_int64(s, 5, now + res->expires_in - token_refresh_margin(res->expires_in));
        sqlite3_bind_int64(s, 6, now + res->expires_in);
        sqlite3_bind_text(s, 7, res->p->owner, -1, SQLITE_STATIC);
    } else {
        s = prep(tc, "UPDATE wx_token SET fail_seq = fail_seq + 1, fail_msg = ?2, "
                     "lock_owner = NULL, lock_until = 0 WHERE appid = ?1 AND lock_owner = ?3");
        if (!s)
            return -1;
        sqlite3_bind_text(s, 2, res->fail_msg, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, res->p->owner, -1, SQLITE_STATIC);
    }
    if (exec_done(s) < 0)
        return -1;
    res->lost_lock = sqlite3_changes(db_sqlite_handle(store_db(tc->st))) == 0;
    return 0;
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
    struct token_result res = {
        .p = p, .token = rc == 0 ? fresh : NULL, .expires_in = expires_in, .fail_msg = err};
    if (store_tx(tc->st, pass_finish, &res) < 0) {
        snprintf(err, errlen, "access_token cache: %s", store_errmsg(tc->st));
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
        if (store_tx(tc->st, pass_decide, &p) < 0) {
            snprintf(err, errlen, "access_token cache: %s", store_errmsg(tc->st));
            return -1;
        }
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

static int expire_tx(struct store *st, void *arg)
{
    struct expire_arg *a = arg;
    sqlite3_stmt *s = prep(a->tc, "UPDATE wx_token SET refresh_at = 0, expires_at = 0 "
                                  "WHERE appid = ?1 AND token = ?2 AND expires_at <> 0");
    if (!s)
        return -1;
    sqlite3_bind_text(s, 2, a->rejected, -1, SQLITE_STATIC);
    if (exec_done(s) < 0)
        return -1;
    a->changed = sqlite3_changes(db_sqlite_handle(store_db(st))) > 0;
    return 0;
}

int token_expire_if(struct token_cache *tc, const char *rejected)
{
    struct expire_arg a = {.tc = tc, .rejected = rejected};
    if (store_tx(tc->st, expire_tx, &a) < 0)
        return -1;
    return a.changed;
}
