/* followup: what each answer of message/custom/send does to a row
 * (followup_classify), the request body of each kind, the text rules, and
 * the outbox writer against a real SQLite file: the rows a batch holds
 * back are written at its end, in event order, in chunks, or dropped with
 * it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "channel.h"
#include "db.h"
#include "followup.h"
#include "store.h"
#include "wxapi.h"

static const struct {
    int rc;
    long errcode;
    bool unsent;
    enum followup_verdict want;
    const char *reason_prefix; /* NULL: no reason */
} cases[] = {
    {WXAPI_OK, 0, false, FOLLOWUP_V_SENT, NULL},
    {WXAPI_EAPI, -1, false, FOLLOWUP_V_RETRY, NULL},
    {WXAPI_EAPI, 40001, false, FOLLOWUP_V_RETRY, NULL},
    {WXAPI_EAPI, 40014, false, FOLLOWUP_V_RETRY, NULL},
    {WXAPI_EAPI, 42001, false, FOLLOWUP_V_RETRY, NULL},
    {WXAPI_EAPI, 45009, false, FOLLOWUP_V_RETRY, NULL},
    {WXAPI_EAPI, 45015, false, FOLLOWUP_V_PARK, "45015"},
    {WXAPI_EAPI, 45047, false, FOLLOWUP_V_PARK, "45047"},
    {WXAPI_EAPI, 40003, false, FOLLOWUP_V_PARK, "40003"},
    {WXAPI_EAPI, 40007, false, FOLLOWUP_V_PARK, "refused"},
    {WXAPI_ETOKEN, 0, false, FOLLOWUP_V_RETRY, NULL},
    {WXAPI_EINTERNAL, 0, false, FOLLOWUP_V_RETRY, NULL},
    {WXAPI_ENET, 0, true, FOLLOWUP_V_RETRY, NULL},             /* connection refused */
    {WXAPI_ENET, 0, false, FOLLOWUP_V_UNCERTAIN, "uncertain"}, /* timed out after sending */
    {WXAPI_EHTTP, 0, false, FOLLOWUP_V_UNCERTAIN, "uncertain"},
    {WXAPI_EPROTO, 0, false, FOLLOWUP_V_UNCERTAIN, "uncertain"},
};

static void test_classify(void **state)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *reason = "x";
        enum followup_verdict v =
            followup_classify(cases[i].rc, cases[i].errcode, cases[i].unsent, &reason);
        assert_int_equal(v, cases[i].want);
        if (!cases[i].reason_prefix) {
            assert_null(reason);
        } else {
            assert_non_null(reason);
            assert_memory_equal(reason, cases[i].reason_prefix, strlen(cases[i].reason_prefix));
        }
    }
}

static char *dump(json_t *j)
{
    assert_non_null(j);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

static void test_message_json(void **state)
{
    struct buf b = {0};
    char *s = dump(followup_message_json("oFan", "领券 ]]> \"x\""));
    assert_string_equal(s, "{\"msgtype\":\"text\",\"text\":{\"content\":\"领券 ]]> \\\"x\\\"\"},"
                           "\"touser\":\"oFan\"}");
    free(s);
    struct reply_news n = {"T", "D", "https://p/x.png", "https://u/"};
    assert_int_equal(reply_encode_news(&b, &n), 0);
    s = dump(followup_message_json("oFan", b.data));
    assert_string_equal(s,
                        "{\"msgtype\":\"news\",\"news\":{\"articles\":[{\"description\":\"D\","
                        "\"picurl\":\"https://p/x.png\",\"title\":\"T\",\"url\":\"https://u/\"}]},"
                        "\"touser\":\"oFan\"}");
    free(s);
    buf_reset(&b);
    assert_int_equal(reply_encode_image(&b, "MEDIA_1"), 0);
    s = dump(followup_message_json("oFan", b.data));
    assert_string_equal(s, "{\"image\":{\"media_id\":\"MEDIA_1\"},\"msgtype\":\"image\","
                           "\"touser\":\"oFan\"}");
    free(s);
    buf_free(&b);
    assert_null(followup_message_json("oFan", "\x01news\x1fonly"));
}

static void test_text_rules(void **state)
{
    char err[128];
    assert_int_equal(followup_text_validate("回复 1 领券\n第二行\t", err, sizeof(err)), 0);
    assert_int_equal(followup_text_validate("", err, sizeof(err)), -1);
    assert_int_equal(followup_text_validate("a\x01", err, sizeof(err)), -1);
    assert_int_equal(followup_text_validate("\xff", err, sizeof(err)), -1);
    char big[FOLLOWUP_TEXT_MAX + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(followup_text_validate(big, err, sizeof(err)), -1);
    big[FOLLOWUP_TEXT_MAX] = '\0';
    assert_int_equal(followup_text_validate(big, err, sizeof(err)), 0);
}

static int64_t outbox_rows(struct store *st)
{
    static const struct db_query q = {"t.count", "SELECT count(*) FROM followup_outbox"};
    int64_t n = -1;
    assert_int_equal(db_one_int64(store_db(st), &q, &n), 0);
    return n;
}

/* 40 subscribes in one batch (more than two chunks), one of them without
 * the router's ids (the look-up path) in the middle, a flush part way:
 * every row is there once, with the channel's ids, in event order; an
 * aborted batch leaves none. */
static void test_outbox_batch(void **state)
{
    (void)state;
    char dir[] = "/tmp/wxs-unit-XXXXXX", path[64], err[256], keys[41][32], fans[41][16];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/t.db", dir);
    struct store *st;
    assert_int_equal(store_open(&st, path, STORE_SYNC_NORMAL, err, sizeof(err)), 0);
    assert_int_equal(store_hook_add(st, followup_outbox_hook), 0);
    struct channel c = {.scene = "42", .name = "Store"};
    assert_int_equal(channel_add(st, &c, err, sizeof(err)), 0);
    int pos;
    for (int i = 0; i < 3; i++)
        assert_int_equal(followup_add(st, "42", REPLY_TEXT, "hi", NULL, &pos, err, sizeof(err)), 0);
    assert_int_equal(followup_remove(st, "42", 1, err, sizeof(err)), 0);
    struct channel got;
    assert_int_equal(channel_get(st, "42", &got), 0);
    assert_string_equal(got.followup_ids, "2,3");
    struct event_rec r[41];
    assert_int_equal(store_batch_begin(st), 0);
    for (int i = 0; i < 41; i++) {
        snprintf(keys[i], sizeof(keys[i]), "e|%d|o|subscribe", i);
        snprintf(fans[i], sizeof(fans[i]), "oF%d", i % 7); /* a fan's rows in its order */
        r[i] = (struct event_rec){.dedup_key = keys[i],
                                  .kind = EV_SUBSCRIBE,
                                  .openid = fans[i],
                                  .create_time = 1000 + i,
                                  .msg_type = "event",
                                  .event = "subscribe",
                                  .event_key = "qrscene_42",
                                  .scene = "42",
                                  .received_at = 2000 + i,
                                  .followups = i == 20 ? NULL : got.followup_ids};
        assert_int_equal(store_batch_add(st, &r[i]), 0);
        if (i == 10)
            assert_int_equal(store_batch_flush(st), 0);
    }
    assert_int_equal(store_batch_commit(st), 0);
    static const struct db_query q_rows = {
        "t.rows", "SELECT event_id, openid, msgs, total, state, created_at FROM followup_outbox "
                  "ORDER BY id"};
    struct db_stmt *s = db_stmt(store_db(st), &q_rows);
    int n = 0;
    while (db_step(s) == DB_ROW) {
        assert_true(n < 41);
        assert_int_equal(db_col_int64(s, 0), r[n].event_id);
        assert_string_equal(db_col_text(s, 1), fans[n]);
        assert_string_equal(db_col_text(s, 2), "2,3");
        assert_int_equal(db_col_int64(s, 3), 2);
        assert_string_equal(db_col_text(s, 4), "pending");
        assert_int_equal(db_col_int64(s, 5), 2000 + n);
        n++;
    }
    db_reset(s);
    assert_int_equal(n, 41);
    assert_int_equal(store_batch_begin(st), 0);
    for (int i = 0; i < 3; i++) {
        snprintf(keys[i], sizeof(keys[i]), "e|%d|o|subscribe|again", i);
        r[i].dedup_key = keys[i];
        assert_int_equal(store_batch_add(st, &r[i]), 0);
    }
    store_batch_abort(st);
    assert_int_equal(outbox_rows(st), 41);
    channel_clear(&got);
    store_close(st);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    assert_int_equal(system(path), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_message_json),
        cmocka_unit_test(test_text_rules),
        cmocka_unit_test(test_outbox_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
