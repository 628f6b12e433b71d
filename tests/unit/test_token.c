/* The shared access_token cache on a real SQLite file. Two store handles on
 * one file stand for two processes; the fetch callback counts the network
 * fetches a real process would make. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "token.h"

struct fetcher {
    int calls;
    int fail;           /* answer with an error */
    int64_t expires_in; /* lifetime of the tokens handed out */
    long sleep_ms;      /* how long a fetch takes */
    char last_rejected[TOKEN_MAX];
};

/* Tokens are numbered across all fetchers so they are told apart. */
static int token_seq;

static int fake_fetch(void *arg, const char *rejected, char *tok, size_t toklen,
                      int64_t *expires_in, char *err, size_t errlen)
{
    struct fetcher *f = arg;
    f->calls++;
    util_strlcpy(f->last_rejected, rejected ? rejected : "", sizeof(f->last_rejected));
    if (f->sleep_ms) {
        struct timespec ts = {.tv_sec = f->sleep_ms / 1000,
                              .tv_nsec = (f->sleep_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (f->fail) {
        snprintf(err, errlen, "cgi-bin/token: WeChat error 45009 (quota)");
        return -2;
    }
    snprintf(tok, toklen, "T%d", __atomic_add_fetch(&token_seq, 1, __ATOMIC_SEQ_CST));
    *expires_in = f->expires_in ? f->expires_in : 7200;
    return 0;
}

/* One "process": a store handle, a fetcher and a cache over them. */
struct proc {
    struct store *st;
    struct fetcher f;
    struct token_cache *tc;
};

struct fixture {
    char dir[64];
    char path[96];
    struct proc a, b;
};

static void proc_open(struct fixture *fx, struct proc *p, int64_t wait_ms)
{
    char err[256];
    if (store_open(&p->st, fx->path, STORE_SYNC_NORMAL, err, sizeof(err)) < 0)
        fail_msg("store_open: %s", err);
    struct token_opts o = {.key = "wx0123456789abcdef",
                           .source = "token",
                           .lease = 30,
                           .wait_max_ms = wait_ms,
                           .fetch = fake_fetch,
                           .arg = &p->f};
    assert_int_equal(token_cache_new(&p->tc, p->st, &o), 0);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/wxs-token-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->path, sizeof(fx->path), "%s/t.db", fx->dir);
    proc_open(fx, &fx->a, 2000);
    proc_open(fx, &fx->b, 2000);
    *state = fx;
    return 0;
}

static void proc_close(struct proc *p)
{
    token_cache_free(p->tc);
    store_close(p->st);
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    char path[128];
    proc_close(&fx->a);
    proc_close(&fx->b);
    static const char *const files[] = {"t.db", "t.db-wal", "t.db-shm"};
    for (size_t i = 0; i < WXS_ARRAY_LEN(files); i++) {
        snprintf(path, sizeof(path), "%s/%s", fx->dir, files[i]);
        unlink(path);
    }
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static void get_ok(struct proc *p, char *tok)
{
    char err[256] = "";
    if (token_get(p->tc, tok, TOKEN_MAX, err, sizeof(err)) != 0)
        fail_msg("token_get: %s", err);
}

static void sql(struct proc *p, const char *q)
{
    if (db_exec(store_db(p->st), q) < 0)
        fail_msg("%s: %s", q, db_errmsg(store_db(p->st)));
}

static void test_fetch_once_then_shared(void **state)
{
    struct fixture *fx = *state;
    char t1[TOKEN_MAX], t2[TOKEN_MAX], t3[TOKEN_MAX];
    get_ok(&fx->a, t1);
    get_ok(&fx->a, t2);
    get_ok(&fx->b, t3);
    assert_int_equal(fx->a.f.calls, 1);
    assert_int_equal(fx->b.f.calls, 0);
    assert_string_equal(t1, t2);
    assert_string_equal(t1, t3);
}

/* B's call with T1 is rejected first: B expires T1 and fetches T2. A's
 * rejection of T1 arrives later and must not throw T2 away. */
static void test_compare_and_expire(void **state)
{
    struct fixture *fx = *state;
    char t1[TOKEN_MAX], t2[TOKEN_MAX], ta[TOKEN_MAX], err[256];
    get_ok(&fx->a, t1);
    assert_int_equal(token_expire_if(fx->b.tc, t1, err, sizeof(err)), 1);
    get_ok(&fx->b, t2);
    assert_string_not_equal(t1, t2);
    assert_string_equal(fx->b.f.last_rejected, t1); /* fetch learns which token was refused */
    assert_int_equal(token_expire_if(fx->a.tc, t1, err, sizeof(err)), 0);
    get_ok(&fx->a, ta);
    assert_string_equal(ta, t2);
    assert_int_equal(fx->a.f.calls, 1);
    assert_int_equal(fx->b.f.calls, 1);
}

/* Due for refresh but still valid while another process holds the lock:
 * use the current token instead of waiting or fetching a second one. */
static void test_refresh_ahead_uses_valid_token(void **state)
{
    struct fixture *fx = *state;
    char t1[TOKEN_MAX], t2[TOKEN_MAX], t3[TOKEN_MAX];
    get_ok(&fx->a, t1);
    sql(&fx->a, "UPDATE wx_token SET refresh_at = 0, lock_owner = 'other', "
                "lock_until = strftime('%s','now') + 60");
    get_ok(&fx->b, t2);
    assert_string_equal(t1, t2);
    assert_int_equal(fx->b.f.calls, 0);
    sql(&fx->a, "UPDATE wx_token SET lock_owner = NULL, lock_until = 0");
    get_ok(&fx->b, t3);
    assert_string_not_equal(t1, t3);
    assert_int_equal(fx->b.f.calls, 1);
}

/* A refresher killed mid-fetch leaves its lock; the lease lets others on. */
static void test_lapsed_lease_taken_over(void **state)
{
    struct fixture *fx = *state;
    char t[TOKEN_MAX];
    sql(&fx->a, "INSERT INTO wx_token(appid, lock_owner, lock_until) "
                "VALUES('wx0123456789abcdef', 'dead', strftime('%s','now') - 1)");
    get_ok(&fx->a, t);
    assert_int_equal(fx->a.f.calls, 1);
}

static void test_wait_times_out(void **state)
{
    struct fixture *fx = *state;
    char t[TOKEN_MAX], err[256] = "";
    proc_close(&fx->b);
    proc_open(fx, &fx->b, 150);
    sql(&fx->a, "INSERT INTO wx_token(appid, lock_owner, lock_until) "
                "VALUES('wx0123456789abcdef', 'busy', strftime('%s','now') + 60)");
    assert_int_equal(token_get(fx->b.tc, t, sizeof(t), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "waiting for another process"));
    assert_int_equal(fx->b.f.calls, 0);
}

static void test_refresh_failure_reported(void **state)
{
    struct fixture *fx = *state;
    char t[TOKEN_MAX], err[256] = "";
    fx->a.f.fail = 1;
    assert_int_equal(token_get(fx->a.tc, t, sizeof(t), err, sizeof(err)), -2);
    assert_non_null(strstr(err, "45009"));
    /* the lock was released: the next caller tries (and succeeds) at once */
    get_ok(&fx->b, t);
    assert_int_equal(fx->b.f.calls, 1);
}

struct thread_arg {
    struct proc *p;
    int rc;
    char tok[TOKEN_MAX];
    char err[256];
};

static void *get_thread(void *arg)
{
    struct thread_arg *t = arg;
    t->rc = token_get(t->p->tc, t->tok, sizeof(t->tok), t->err, sizeof(t->err));
    return NULL;
}

static void run_pair(struct fixture *fx, struct thread_arg *ta, struct thread_arg *tb)
{
    pthread_t a, b;
    struct timespec gap = {.tv_nsec = 60 * 1000000L};
    ta->p = &fx->a;
    tb->p = &fx->b;
    fx->a.f.sleep_ms = 400;
    assert_int_equal(pthread_create(&a, NULL, get_thread, ta), 0);
    nanosleep(&gap, NULL); /* a holds the lock before b asks */
    assert_int_equal(pthread_create(&b, NULL, get_thread, tb), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
}

/* Two callers at once with nothing cached: exactly one fetch, same token. */
static void test_concurrent_one_fetch(void **state)
{
    struct fixture *fx = *state;
    struct thread_arg ta = {0}, tb = {0};
    run_pair(fx, &ta, &tb);
    assert_int_equal(ta.rc, 0);
    if (tb.rc != 0)
        fail_msg("waiter: %s", tb.err);
    assert_string_equal(ta.tok, tb.tok);
    assert_int_equal(fx->a.f.calls + fx->b.f.calls, 1);
}

/* The refresher fails: the waiter reports that failure, it does not fetch. */
static void test_waiter_gets_refreshers_failure(void **state)
{
    struct fixture *fx = *state;
    struct thread_arg ta = {0}, tb = {0};
    fx->a.f.fail = 1;
    run_pair(fx, &ta, &tb);
    assert_int_equal(ta.rc, -2);
    assert_int_equal(tb.rc, -1);
    assert_non_null(strstr(tb.err, "45009"));
    assert_int_equal(fx->a.f.calls, 1);
    assert_int_equal(fx->b.f.calls, 0);
}

/* A statement that fails inside the transaction: its own message (and
 * what was being done) reaches the caller, not the ROLLBACK's "not an
 * error". */
static void test_database_error_keeps_its_message(void **state)
{
    struct fixture *fx = *state;
    char t[TOKEN_MAX], err[256] = "";
    sql(&fx->a, "CREATE TRIGGER no_lock BEFORE UPDATE ON wx_token "
                "BEGIN SELECT RAISE(ABORT, 'injected: lock refused'); END");
    assert_int_equal(token_get(fx->a.tc, t, sizeof(t), err, sizeof(err)), -1);
    if (!strstr(err, "taking the refresh lock: injected: lock refused"))
        fail_msg("err: %s", err);
    assert_int_equal(fx->a.f.calls, 0);
    sql(&fx->a, "DROP TRIGGER no_lock; DROP TABLE wx_token");
    assert_int_equal(token_expire_if(fx->b.tc, "T1", err, sizeof(err)), -1);
    if (!strstr(err, "no such table: wx_token"))
        fail_msg("err: %s", err);
}

static void test_refresh_margin(void **state)
{
    (void)state;
    assert_int_equal(token_refresh_margin(7200), 300);
    assert_int_equal(token_refresh_margin(600), 300);
    assert_int_equal(token_refresh_margin(300), 150);
    assert_int_equal(token_refresh_margin(1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fetch_once_then_shared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compare_and_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_ahead_uses_valid_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lapsed_lease_taken_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wait_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_failure_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_one_fetch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_waiter_gets_refreshers_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_database_error_keeps_its_message, setup, teardown),
        cmocka_unit_test(test_refresh_margin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
