/* token: the access_token cache shared through the store by every process
 * using the same database (CLI runs, the server, its workers). One row per
 * AppID in wx_token (schema/002_qr.sql) doubles as the refresh lock:
 *
 *  - a token is used until its refresh_at; from then on one process (the
 *    one that takes the lock row for a lease) refreshes it while the others
 *    keep using the still-valid token, or wait when it has expired;
 *  - a caller whose API call was rejected (40001/40014/42001) expires the
 *    token only if it is still the one it used (compare-and-expire), so it
 *    never discards a newer token another process just fetched;
 *  - a waiter whose refresher failed reports that failure instead of
 *    fetching again (one failure, one quota hit, not one per process).
 *
 * The network fetch is a callback (wxapi.c provides cgi-bin/token and
 * stable_token), so the cache is tested against a real SQLite file alone.
 * Its statements go through db.h (the store's connection); the lock is a
 * conditional UPDATE, so it holds on a backend without serial writes. */
#ifndef WXS_TOKEN_H
#define WXS_TOKEN_H
#include <stdint.h>
#include "store.h"
#include "util.h"

#define TOKEN_MAX 1024 /* WeChat says to reserve at least 512 characters */

/* Fetch a new token. rejected: the cached token WeChat refused, NULL for an
 * ordinary refresh (stable_token uses it to decide on force_refresh).
 * Return 0 with tok and *expires_in set, or a negative code with err set. */
typedef int (*token_fetch_fn)(void *arg, const char *rejected, char *tok, size_t toklen,
                              int64_t *expires_in, char *err, size_t errlen);

struct token_opts {
    const char *key;      /* the AppID: the row's key */
    const char *source;   /* recorded with the token: "token" or "stable_token" */
    int64_t lease;        /* seconds a refresher may hold the lock */
    int64_t wait_max_ms;  /* how long a caller waits for another refresher */
    token_fetch_fn fetch; /* called outside any transaction */
    void *arg;
};

struct token_cache;

/* The cache keeps st and a copy of o; st must outlive it. */
int token_cache_new(struct token_cache **out, struct store *st,
                    const struct token_opts *o) WXS_MUSTCHECK;
void token_cache_free(struct token_cache *tc);

/* A usable token into out. On failure returns the fetch's negative code (or
 * -1 for a database error or a timed-out wait) with a one-line reason. */
int token_get(struct token_cache *tc, char *out, size_t outlen, char *err,
              size_t errlen) WXS_MUSTCHECK;

/* WeChat rejected `rejected`: expire it if it is still the cached token.
 * Returns 1 if it was expired here, 0 if the cache already moved on, -1
 * on a database error (the reason in err). */
int token_expire_if(struct token_cache *tc, const char *rejected, char *err,
                    size_t errlen) WXS_MUSTCHECK;

/* access_token refreshes this process asked WeChat for, that got a token
 * and that failed (for /metrics). */
void token_counters(uint64_t *refreshes, uint64_t *failures);

/* When to refresh a token that lives expires_in seconds: 5 minutes early
 * (the platform's overlap window), or half way for short-lived tokens. */
int64_t token_refresh_margin(int64_t expires_in);
/* The statements that remove every cached token from a copy of the store
 * (`store backup --without-token`: the secret does not travel with
 * backups; the next process to need a token fetches one). NULL-terminated. */
extern const char *const token_scrub_sql[];
#endif
