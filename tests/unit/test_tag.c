/* Tagging: the pure rules (verdicts, backoff, parking reasons, backfill
 * scenes), the same-transaction outbox writer on a real SQLite file, and the
 * runner against an in-process evhttp stand-in for the tag API on
 * 127.0.0.1 (batches of at most 50, splitting around a bad openid, backoff
 * of an account-wide failure). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <jansson.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "backfill.h"
#include "db.h"
#include "stats.h"
#include "channel.h"
#include "tag.h"
#include "wxapi.h"

/* ---- pure rules ---- */

static void test_classify_table(void **state)
{
    static const struct {
        int rc;
        long errcode;
        size_t n;
        bool refetched;
        enum tag_verdict want;
    } cases[] = {
        {0, 0, 50, false, TAG_V_DONE},
        {WXAPI_EAPI, 40003, 50, false, TAG_V_SPLIT},
        {WXAPI_EAPI, 40003, 1, false, TAG_V_PARK},
        {WXAPI_EAPI, 45059, 2, false, TAG_V_SPLIT},
        {WXAPI_EAPI, 45059, 1, false, TAG_V_PARK},
        {WXAPI_EAPI, 40032, 1, false, TAG_V_PARK},
        {WXAPI_EAPI, 45159, 50, false, TAG_V_REFETCH},
        {WXAPI_EAPI, 45159, 50, true, TAG_V_PARK},
        {WXAPI_EAPI, -1, 50, false, TAG_V_RETRY},   /* busy after wxapi's retries */
        {WXAPI_EAPI, 42001, 1, false, TAG_V_RETRY}, /* token after wxapi's refresh */
        {WXAPI_EAPI, 40001, 1, false, TAG_V_RETRY},
        {WXAPI_EAPI, 45009, 50, false, TAG_V_RETRY}, /* quota */
        {WXAPI_EAPI, 48001, 50, false, TAG_V_RETRY}, /* account permission */
        {WXAPI_ENET, 0, 1, false, TAG_V_RETRY},
        {WXAPI_EHTTP, 0, 1, false, TAG_V_RETRY},
        {WXAPI_EPROTO, 0, 1, false, TAG_V_RETRY},
        {WXAPI_ETOKEN, 0, 1, false, TAG_V_RETRY},
    };
    (void)state;
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        enum tag_verdict v =
            tag_classify(cases[i].rc, cases[i].errcode, cases[i].n, cases[i].refetched);
        if (v != cases[i].want)
            fail_msg("case %zu (rc %d errcode %ld n %zu): verdict %d, want %d", i, cases[i].rc,
                     cases[i].errcode, cases[i].n, (int)v, (int)cases[i].want);
    }
}

static void test_park_reasons(void **state)
{
    (void)state;
    assert_string_equal(tag_park_reason(40003), "invalid openid (40003)");
    assert_non_null(strstr(tag_park_reason(45059), "20 tags"));
    assert_non_null(strstr(tag_park_reason(45159), "45159"));
    assert_null(tag_park_reason(-1));
    assert_null(tag_park_reason(42001));
}

static void test_backoff_schedule(void **state)
{
    static const struct {
        int64_t attempts, base, max, want;
    } cases[] = {
        {1, 30, 3600, 30},   {2, 30, 3600, 60},   {3, 30, 3600, 120},   {7, 30, 3600, 1920},
        {8, 30, 3600, 3600}, {9, 30, 3600, 3600}, {60, 30, 3600, 3600}, {0, 30, 3600, 30},
        {1, 1, 4, 1},        {3, 1, 4, 4},        {1, 0, 10, 1},        {5, 100, 50, 50},
    };
    (void)state;
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        int64_t d = tag_backoff(cases[i].attempts, cases[i].base, cases[i].max);
        if (d != cases[i].want)
            fail_msg("case %zu: backoff(%lld, %lld, %lld) = %lld, want %lld", i,
                     (long long)cases[i].attempts, (long long)cases[i].base,
                     (long long)cases[i].max, (long long)d, (long long)cases[i].want);
    }
}

static void test_backfill_scene_table(void **state)
{
    static const struct {
        const char *sub, *qrs;
        int64_t qr;
        int want;
        const char *scene;
    } cases[] = {
        {"ADD_SCENE_QR_CODE", "", 98765, 1, "98765"},
        {"ADD_SCENE_QR_CODE", "flyer", 0, 1, "flyer"},
        {"ADD_SCENE_QR_CODE", "flyer", 7, 1, "flyer"}, /* scene_str codes carry the text */
        {"ADD_SCENE_QR_CODE", "", 0, 0, NULL},         /* the account's own code */
        {"ADD_SCENE_QR_CODE", NULL, 4294967295LL, 1, "4294967295"},
        {"ADD_SCENE_QR_CODE", NULL, 4294967296LL, 0, NULL},
        {"ADD_SCENE_QR_CODE", "bad\ttab", 0, 0, NULL},
        {"ADD_SCENE_QR_CODE", "\xff\xfe", 0, 0, NULL},
        {"ADD_SCENE_QR_CODE",
         "0123456789012345678901234567890123456789012345678901234567890123456789", 0, 0, NULL},
        {"ADD_SCENE_SEARCH", "", 0, 0, NULL},
        {"ADD_SCENE_PROFILE_CARD", "leftover", 5, 0, NULL},
        {NULL, "x", 5, 0, NULL},
    };
    (void)state;
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        char out[80] = "";
        int rc = backfill_scene(cases[i].sub, cases[i].qr, cases[i].qrs, out, sizeof(out));
        if (rc != cases[i].want)
            fail_msg("case %zu: %d, want %d", i, rc, cases[i].want);
        if (rc == 1)
            assert_string_equal(out, cases[i].scene);
    }
}

/* ---- a stand-in for the tag API (its own thread and event loop) ---- */

struct api_fake {
    struct event_base *base;
    struct evhttp *http;
    pthread_t thread;
    int port;
    pthread_mutex_t mu;
    int sizes[64]; /* openid_list length of each batchtagging call */
    int calls;
    long fail_all; /* errcode for every batchtagging call, 0 = none */
    char bad[32];  /* an openid answered 40003 */
};

static void fake_fail_all(struct api_fake *f, long errcode)
{
    pthread_mutex_lock(&f->mu);
    f->fail_all = errcode;
    pthread_mutex_unlock(&f->mu);
}

static void reply_json(struct evhttp_request *req, const char *json)
{
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, json, strlen(json));
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void batchtagging(struct api_fake *f, struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    json_t *body = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, NULL);
    json_t *list = json_object_get(body, "openid_list"), *v;
    size_t i;
    bool bad = false;
    json_array_foreach(list, i, v) bad = bad || strcmp(json_string_value(v), f->bad) == 0;
    pthread_mutex_lock(&f->mu);
    if (f->calls < 64)
        f->sizes[f->calls] = (int)json_array_size(list);
    f->calls++;
    long fail = f->fail_all;
    pthread_mutex_unlock(&f->mu);
    json_decref(body);
    if (json_array_size(list) > 50)
        reply_json(req, "{\"errcode\":40032,\"errmsg\":\"invalid openid list size\"}");
    else if (fail == 48001)
        reply_json(req, "{\"errcode\":48001,\"errmsg\":\"api unauthorized rid: 1\"}");
    else if (bad)
        reply_json(req, "{\"errcode\":40003,\"errmsg\":\"invalid openid rid: 2\"}");
    else
        reply_json(req, "{\"errcode\":0,\"errmsg\":\"ok\"}");
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct api_fake *f = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (strcmp(path, "/cgi-bin/token") == 0)
        reply_json(req, "{\"access_token\":\"TOKEN\",\"expires_in\":7200}");
    else if (strcmp(path, "/cgi-bin/tags/get") == 0)
        reply_json(req, "{\"tags\":[{\"id\":2,\"name\":\"x\",\"count\":0},"
                        "{\"id\":134,\"name\":\"spring\",\"count\":0}]}");
    else if (strcmp(path, "/cgi-bin/tags/members/batchtagging") == 0)
        batchtagging(f, req);
    else
        evhttp_send_error(req, 404, NULL);
}

static void *fake_main(void *arg)
{
    struct api_fake *f = arg;
    event_base_dispatch(f->base);
    return NULL;
}

static void fake_start(struct api_fake *f)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    pthread_mutex_init(&f->mu, NULL);
    f->base = event_base_new();
    f->http = evhttp_new(f->base);
    evhttp_set_gencb(f->http, on_request, f);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(f->http, "127.0.0.1", 0);
    assert_non_null(bs);
    assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl), 0);
    f->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(struct api_fake *f)
{
    event_base_loopbreak(f->base);
    pthread_join(f->thread, NULL);
    evhttp_free(f->http);
    event_base_free(f->base);
    pthread_mutex_destroy(&f->mu);
}

/* ---- fixture: a config pointing at the stand-in, a database, channels ---- */

struct fx {
    char dir[64], db[96], ini[96];
    struct cfg *cfg;
    struct store *st;
    struct api_fake api;
};

static void write_ini(struct fx *x, int batch)
{
    FILE *f = fopen(x->ini, "w");
    assert_non_null(f);
    fprintf(f,
            "[wechat]\nappid = wx0123456789abcdef\nappsecret = s\ntoken = tok123\n"
            "api_base = http://127.0.0.1:%d\napi_timeout = 5\n[store]\npath = %s\n"
            "[tag]\nbatch_size = %d\nretry_base = 30\nretry_max = 3600\n",
            x->api.port, x->db, batch);
    fclose(f);
}

static void exec_sql(struct fx *x, const char *q)
{
    if (db_exec(store_db(x->st), q) < 0)
        fail_msg("%s: %s", q, db_errmsg(store_db(x->st)));
}

static int64_t count(struct fx *x, const char *q)
{
    struct db_stmt *s = db_prepare(store_db(x->st), q);
    int64_t n = -1;
    if (!s)
        fail_msg("%s: %s", q, db_errmsg(store_db(x->st)));
    if (db_step(s) == DB_ROW)
        n = db_col_int64(s, 0);
    db_finalize(s);
    return n;
}

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof(*x));
    char err[512];
    snprintf(x->dir, sizeof(x->dir), "/tmp/wxs-tag-XXXXXX");
    if (!mkdtemp(x->dir))
        return -1;
    snprintf(x->db, sizeof(x->db), "%s/t.db", x->dir);
    snprintf(x->ini, sizeof(x->ini), "%s/t.ini", x->dir);
    fake_start(&x->api);
    write_ini(x, 50);
    if (cfg_load(&x->cfg, x->ini, err, sizeof(err)) < 0 ||
        store_open(&x->st, x->db, STORE_SYNC_NORMAL, err, sizeof(err)) < 0) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    if (store_hook_add(x->st, tag_outbox_hook) < 0 || store_hook_add(x->st, stats_event_hook) < 0)
        return -1;
    struct channel tagged = {.scene = "42", .name = "Spring", .tag = "spring"};
    struct channel plain = {.scene = "7", .name = "Plain"};
    if (channel_add(x->st, &tagged, err, sizeof(err)) < 0 ||
        channel_add(x->st, &plain, err, sizeof(err)) < 0)
        return -1;
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    static const char *const files[] = {"t.db", "t.db-wal", "t.db-shm", "t.ini"};
    char path[160];
    store_close(x->st);
    cfg_free(x->cfg);
    fake_stop(&x->api);
    for (size_t i = 0; i < WXS_ARRAY_LEN(files); i++) {
        snprintf(path, sizeof(path), "%s/%s", x->dir, files[i]);
        unlink(path);
    }
    rmdir(x->dir);
    free(x);
    return 0;
}

/* Commit one event through the store, as the callback server does. */
static void event(struct fx *x, const char *openid, enum ev_kind kind, const char *scene)
{
    static int seq;
    char key[96];
    snprintf(key, sizeof(key), "%s|%d", openid, ++seq);
    struct event_rec r = {.dedup_key = key,
                          .kind = kind,
                          .openid = openid,
                          .create_time = 1700000000 + seq,
                          .msg_type = "event",
                          .event = ev_kind_name(kind),
                          .event_key = "",
                          .scene = scene,
                          .received_at = util_now()};
    assert_int_equal(store_commit_events(x->st, &r, 1), 0);
}

static const char *state_of(struct fx *x, const char *openid, char *out, size_t outlen)
{
    struct db_stmt *s =
        db_prepare(store_db(x->st), "SELECT state FROM tag_outbox WHERE openid = ?1");
    assert_non_null(s);
    db_bind_text(s, 1, openid);
    util_strlcpy(out, db_step(s) == DB_ROW ? db_col_text(s, 0) : "-", outlen);
    db_finalize(s);
    return out;
}

/* ---- the writer ---- */

static void test_hook_arms_cancels_and_rearms(void **state)
{
    struct fx *x = *state;
    char st[16];
    event(x, "oA", EV_SUBSCRIBE, "42");
    event(x, "oB", EV_SUBSCRIBE, "7");  /* untagged channel */
    event(x, "oC", EV_SUBSCRIBE, NULL); /* organic */
    event(x, "oD", EV_SUBSCRIBE, "99"); /* no channel row */
    event(x, "oE", EV_SUBSCRIBE, NULL);
    event(x, "oE", EV_SCAN, "42"); /* an existing fan scans the flyer */
    assert_string_equal(state_of(x, "oA", st, sizeof(st)), "pending");
    assert_string_equal(state_of(x, "oB", st, sizeof(st)), "-");
    assert_string_equal(state_of(x, "oC", st, sizeof(st)), "-");
    assert_string_equal(state_of(x, "oD", st, sizeof(st)), "-");
    assert_string_equal(state_of(x, "oE", st, sizeof(st)), "pending");
    event(x, "oA", EV_SUBSCRIBE, "42"); /* again: still one row */
    assert_int_equal(count(x, "SELECT count(*) FROM tag_outbox"), 2);

    event(x, "oA", EV_UNSUBSCRIBE, NULL);
    assert_string_equal(state_of(x, "oA", st, sizeof(st)), "cancelled");
    assert_int_equal(count(x, "SELECT count(*) FROM tag_outbox WHERE openid = 'oA' AND "
                              "reason = 'unsubscribed'"),
                     1);
    event(x, "oA", EV_SUBSCRIBE, "42");
    assert_string_equal(state_of(x, "oA", st, sizeof(st)), "pending");

    exec_sql(x, "UPDATE tag_outbox SET state = 'done'");
    event(x, "oE", EV_SCAN, "42"); /* tagged already: a scan does not re-arm */
    assert_string_equal(state_of(x, "oE", st, sizeof(st)), "done");
    event(x, "oE", EV_UNSUBSCRIBE, NULL); /* done rows are history, not cancelled */
    assert_string_equal(state_of(x, "oE", st, sizeof(st)), "done");
    event(x, "oE", EV_SUBSCRIBE, "42"); /* back through the flyer: tag again */
    assert_string_equal(state_of(x, "oE", st, sizeof(st)), "pending");
}

/* ---- the runner ---- */

static void arm(struct fx *x, int n, const char *prefix)
{
    char openid[32];
    for (int i = 0; i < n; i++) {
        snprintf(openid, sizeof(openid), "%s%03d", prefix, i);
        event(x, openid, EV_SUBSCRIBE, "42");
    }
}

static void run(struct fx *x, struct tag_report *rep)
{
    struct tag_runner *tr = NULL;
    char err[512];
    if (tag_runner_new(&tr, x->cfg, x->st, NULL, err, sizeof(err)) < 0)
        fail_msg("tag_runner_new: %s", err);
    assert_int_equal(tag_run(tr, NULL, rep), 0);
    tag_runner_free(tr);
}

static void test_batches_of_at_most_50(void **state)
{
    struct fx *x = *state;
    struct tag_report rep;
    arm(x, 120, "oF");
    run(x, &rep);
    assert_int_equal(x->api.calls, 3);
    assert_int_equal(x->api.sizes[0], 50);
    assert_int_equal(x->api.sizes[1], 50);
    assert_int_equal(x->api.sizes[2], 20);
    assert_int_equal(rep.tagged, 120);
    assert_int_equal(rep.pending, 0);
    assert_string_equal(rep.error, "");
    assert_int_equal(count(x, "SELECT count(*) FROM tag_outbox WHERE state = 'done'"), 120);
    assert_int_equal(count(x, "SELECT tag_id FROM tag_ids WHERE name = 'spring'"), 134);
    run(x, &rep); /* nothing left: no call */
    assert_int_equal(x->api.calls, 3);
}

static void test_configured_batch_size(void **state)
{
    struct fx *x = *state;
    struct tag_report rep;
    char err[512];
    cfg_free(x->cfg);
    write_ini(x, 30);
    assert_int_equal(cfg_load(&x->cfg, x->ini, err, sizeof(err)), 0);
    arm(x, 100, "oG");
    run(x, &rep);
    assert_int_equal(x->api.calls, 4);
    for (int i = 0; i < 3; i++)
        assert_int_equal(x->api.sizes[i], 30);
    assert_int_equal(x->api.sizes[3], 10);
}

/* One bad openid in a full batch: the halves are retried until it stands
 * alone; 49 fans are tagged, one is parked with the reason. */
static void test_bad_openid_split_and_parked(void **state)
{
    struct fx *x = *state;
    struct tag_report rep;
    util_strlcpy(x->api.bad, "oH017", sizeof(x->api.bad));
    arm(x, 50, "oH");
    run(x, &rep);
    assert_int_equal(rep.tagged, 49);
    assert_int_equal(rep.parked, 1);
    assert_true(x->api.calls <= 1 + 2 * 6); /* log2(50) levels, two halves each */
    for (int i = 0; i < x->api.calls; i++)
        assert_true(x->api.sizes[i] <= 50);
    assert_int_equal(count(x, "SELECT count(*) FROM tag_outbox WHERE state = 'parked' AND "
                              "openid = 'oH017' AND reason = 'invalid openid (40003)'"),
                     1);
    assert_int_equal(count(x, "SELECT count(*) FROM tag_outbox WHERE state = 'done'"), 49);
}

/* An account-wide refusal: every row stays, with the error and the
 * backoff schedule (30 s, then 60 s), and the run stops at the first call. */
static void test_account_failure_backs_off(void **state)
{
    struct fx *x = *state;
    struct tag_report rep;
    fake_fail_all(&x->api, 48001);
    arm(x, 60, "oI");
    int64_t t0 = util_now();
    run(x, &rep);
    assert_int_equal(x->api.calls, 1);
    assert_int_equal(rep.retried, 50);
    assert_non_null(strstr(rep.error, "48001"));
    assert_int_equal(rep.pending, 60);
    assert_int_equal(count(x, "SELECT count(*) FROM tag_outbox WHERE state = 'pending' AND "
                              "attempts = 1 AND last_error LIKE '%48001%'"),
                     50);
    int64_t next = count(x, "SELECT min(next_try) FROM tag_outbox WHERE attempts = 1");
    assert_true(next >= t0 + 30 && next <= util_now() + 30);
    exec_sql(x, "UPDATE tag_outbox SET next_try = 0 WHERE attempts = 1");
    run(x, &rep);
    next = count(x, "SELECT min(next_try) FROM tag_outbox WHERE attempts = 2");
    assert_true(next >= t0 + 60 && next <= util_now() + 60);
    fake_fail_all(&x->api, 0);
    exec_sql(x, "UPDATE tag_outbox SET next_try = 0");
    run(x, &rep);
    assert_int_equal(count(x, "SELECT count(*) FROM tag_outbox WHERE state = 'done'"), 60);
}

/* A claim left by a process that no longer exists is sent again at once. */
static void test_dead_owner_claim_taken_back(void **state)
{
    struct fx *x = *state;
    struct tag_report rep;
    char host[256] = "", q[512];
    arm(x, 3, "oJ");
    gethostname(host, sizeof(host) - 1);
    snprintf(q, sizeof(q),
             "UPDATE tag_outbox SET state = 'sending', owner_host = '%s', owner_pid = 999999999, "
             "claim_until = %lld",
             host, (long long)util_now() + 3600);
    exec_sql(x, q);
    run(x, &rep);
    assert_int_equal(rep.reclaimed, 3);
    assert_int_equal(rep.tagged, 3);
    /* a live owner's claim is left alone until its lease lapses */
    arm(x, 2, "oK");
    snprintf(q, sizeof(q),
             "UPDATE tag_outbox SET state = 'sending', owner_host = '%s', owner_pid = 1, "
             "claim_until = %lld WHERE openid LIKE 'oK%%'",
             host, (long long)util_now() + 3600);
    exec_sql(x, q);
    run(x, &rep);
    assert_int_equal(rep.reclaimed, 0);
    assert_int_equal(rep.pending, 2);
    exec_sql(x, "UPDATE tag_outbox SET claim_until = 1 WHERE openid LIKE 'oK%'");
    run(x, &rep);
    assert_int_equal(rep.reclaimed, 2);
    assert_int_equal(rep.tagged, 2);
}

/* A failing claim leaves nothing in flight and says why, with the
 * database's own words (here a trigger's). */
static void test_claim_failure_reported_and_rolled_back(void **state)
{
    struct fx *x = *state;
    struct tag_report rep;
    struct tag_runner *tr = NULL;
    char err[512];
    arm(x, 3, "oL");
    exec_sql(x, "CREATE TRIGGER no_claims BEFORE UPDATE OF state ON tag_outbox "
                "WHEN NEW.state = 'sending' BEGIN SELECT RAISE(ABORT, 'claims refused'); END");
    if (tag_runner_new(&tr, x->cfg, x->st, NULL, err, sizeof(err)) < 0)
        fail_msg("tag_runner_new: %s", err);
    assert_int_equal(tag_run(tr, NULL, &rep), -1);
    assert_non_null(strstr(rep.error, "database: claim: "));
    assert_non_null(strstr(rep.error, "claims refused"));
    assert_int_equal(x->api.calls, 0);
    assert_int_equal(count(x, "SELECT count(*) FROM tag_outbox WHERE state = 'pending' AND "
                              "attempts = 0 AND owner_pid IS NULL"),
                     3);
    exec_sql(x, "DROP TRIGGER no_claims");
    assert_int_equal(tag_run(tr, NULL, &rep), 0);
    assert_int_equal(rep.tagged, 3);
    tag_runner_free(tr);
}

/* The outbox write is part of the event's transaction: when it fails, the
 * event is not stored either (the push is answered 503 and retried). */
static void test_hook_failure_fails_the_commit(void **state)
{
    struct fx *x = *state;
    struct event_rec r = {.dedup_key = "oM|1",
                          .kind = EV_SUBSCRIBE,
                          .openid = "oM",
                          .create_time = 1700000000,
                          .msg_type = "event",
                          .event = "subscribe",
                          .event_key = "qrscene_42",
                          .scene = "42",
                          .received_at = util_now()};
    exec_sql(x, "CREATE TRIGGER no_outbox BEFORE INSERT ON tag_outbox "
                "BEGIN SELECT RAISE(ABORT, 'outbox refused'); END");
    assert_int_equal(store_commit_events(x->st, &r, 1), -1);
    assert_int_equal(count(x, "SELECT count(*) FROM events WHERE openid = 'oM'"), 0);
    assert_int_equal(count(x, "SELECT count(*) FROM fans WHERE openid = 'oM'"), 0);
    exec_sql(x, "DROP TRIGGER no_outbox");
    assert_int_equal(store_commit_events(x->st, &r, 1), 0);
    assert_int_equal(count(x, "SELECT count(*) FROM tag_outbox WHERE openid = 'oM' AND "
                              "state = 'pending'"),
                     1);
}

/* A schema the runner cannot use stops it at start, naming the query. */
static void test_runner_refuses_an_unusable_schema(void **state)
{
    struct fx *x = *state;
    struct tag_runner *tr = NULL;
    char err[512] = "";
    exec_sql(x, "DROP TABLE tag_ids");
    assert_int_equal(tag_runner_new(&tr, x->cfg, x->st, NULL, err, sizeof(err)), -1);
    assert_null(tr);
    assert_non_null(strstr(err, "tag: prepare tag.pick: "));
    assert_non_null(strstr(err, "tag_ids"));
}

/* --retry-parked: parked rows go back to pending with a fresh count, and
 * a tag whose id could not be had is asked for again at once. */
static void test_requeue_parked(void **state)
{
    struct fx *x = *state;
    int64_t n = -1;
    arm(x, 4, "oN");
    exec_sql(x, "UPDATE tag_outbox SET state = 'parked', attempts = 3, next_try = 99, "
                "reason = 'r' WHERE openid IN ('oN000', 'oN001', 'oN002')");
    exec_sql(x, "INSERT INTO tag_ids(name, tag_id, checked_at, error, failures, next_try) "
                "VALUES('spring', NULL, 1, 'limit', 2, 9999999999), ('known', 5, 1, NULL, 0, 77)");
    assert_int_equal(tag_requeue_parked(x->st, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(count(x, "SELECT count(*) FROM tag_outbox WHERE state = 'pending' AND "
                              "attempts = 0 AND next_try = 0 AND reason IS NULL"),
                     4);
    assert_int_equal(count(x, "SELECT next_try FROM tag_ids WHERE name = 'spring'"), 0);
    assert_int_equal(count(x, "SELECT next_try FROM tag_ids WHERE name = 'known'"), 77);
    assert_int_equal(tag_requeue_parked(x->st, &n), 0);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_table),
        cmocka_unit_test(test_park_reasons),
        cmocka_unit_test(test_backoff_schedule),
        cmocka_unit_test(test_backfill_scene_table),
        cmocka_unit_test_setup_teardown(test_hook_arms_cancels_and_rearms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches_of_at_most_50, setup, teardown),
        cmocka_unit_test_setup_teardown(test_configured_batch_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_openid_split_and_parked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_account_failure_backs_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_owner_claim_taken_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_failure_reported_and_rolled_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hook_failure_fails_the_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runner_refuses_an_unusable_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requeue_parked, setup, teardown),
    };
    evthread_use_pthreads(); /* the stand-in's loop is stopped from the test thread */
    if (wxapi_global_init() < 0)
        return 1;
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    wxapi_global_cleanup();
    return rc;
}
