/* route + store: the routing table against a real SQLite file, and the
 * group commit's dedup and attribution rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "channel.h"
#include "db_sqlite.h"
#include "route.h"
#include "store.h"
#include "stats.h"
#include "tag.h"

struct fixture {
    char dir[64];
    char path[96];
    struct store *st;
    struct cfg cfg;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[256];
    snprintf(f->dir, sizeof(f->dir), "/tmp/wxs-unit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
    assert_int_equal(store_open(&f->st, f->path, STORE_SYNC_NORMAL, err, sizeof(err)), 0);
    assert_int_equal(store_hook_add(f->st, tag_outbox_hook), 0);
    assert_int_equal(store_hook_add(f->st, stats_event_hook), 0);
    f->cfg.reply_subscribe = "Welcome!";
    f->cfg.reply_unknown_scene = "Unknown {scene}";
    struct channel c = {.scene = "42",
                        .name = "Store",
                        .reply = "Hi {channel} {scene}",
                        .scan_reply = "Back at {channel}"};
    assert_int_equal(channel_add(f->st, &c, err, sizeof(err)), 0);
    struct channel quiet = {.scene = "quiet", .name = "Quiet", .reply = ""};
    assert_int_equal(channel_add(f->st, &quiet, err, sizeof(err)), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->st);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void msg(struct wx_msg *m, const char *type, const char *event, const char *key)
{
    memset(m, 0, sizeof(*m));
    strcpy(m->to, "gh");
    strcpy(m->from, "oU");
    m->create_time = 100;
    m->has_create_time = true;
    snprintf(m->msg_type, sizeof(m->msg_type), "%s", type);
    snprintf(m->event, sizeof(m->event), "%s", event);
    snprintf(m->event_key, sizeof(m->event_key), "%s", key);
}

#define S16 "ssssssssssssssss"
#define S64 S16 S16 S16 S16 /* the longest scene_str */

static const struct route_case {
    const char *type, *event, *key;
    enum ev_kind kind;
    const char *scene, *reply; /* NULL reply = "success" */
} cases[] = {
    {"event", "subscribe", "qrscene_42", EV_SUBSCRIBE, "42", "Hi Store 42"},
    {"event", "subscribe", "", EV_SUBSCRIBE, NULL, "Welcome!"},
    {"event", "subscribe", "qrscene_", EV_SUBSCRIBE, NULL, "Welcome!"},
    {"event", "subscribe", "last_trade_no_1", EV_SUBSCRIBE, NULL, "Welcome!"},
    {"event", "subscribe", "qrscene_77", EV_SUBSCRIBE, "77", "Unknown 77"},
    {"event", "subscribe", "qrscene_qrscene_1", EV_SUBSCRIBE, "qrscene_1", "Unknown qrscene_1"},
    {"event", "subscribe", "qrscene_quiet", EV_SUBSCRIBE, "quiet", NULL},
    {"event", "SCAN", "42", EV_SCAN, "42", "Back at Store"},
    {"event", "scan", "42", EV_SCAN, "42", "Back at Store"},
    {"event", "SCAN", "", EV_OTHER, NULL, NULL},
    {"event", "unsubscribe", "", EV_UNSUBSCRIBE, NULL, NULL},
    {"event", "CLICK", "menu1", EV_OTHER, NULL, NULL},
    {"text", "", "", EV_MESSAGE, NULL, NULL},
    /* MsgType and Event, ASCII case-insensitive both */
    {"Event", "Subscribe", "qrscene_42", EV_SUBSCRIBE, "42", "Hi Store 42"},
    {"EVENT", "UNSUBSCRIBE", "", EV_UNSUBSCRIBE, NULL, NULL},
    {"eVeNt", "Scan", "42", EV_SCAN, "42", "Back at Store"},
    {"Event", "click", "menu1", EV_OTHER, NULL, NULL},
    {"Text", "", "", EV_MESSAGE, NULL, NULL},
    /* a scene is 1..64 bytes: a longer one is stored unattributed */
    {"event", "subscribe", "qrscene_" S64, EV_SUBSCRIBE, S64, "Unknown " S64},
    {"event", "subscribe", "qrscene_" S64 "s", EV_SUBSCRIBE, NULL, "Welcome!"},
    {"event", "SCAN", S64, EV_SCAN, S64, "Unknown " S64},
    {"event", "SCAN", S64 "s", EV_OTHER, NULL, NULL},
    {"event", "SCAN", "12345678901234567890123456789012345678901234567890123456789012345", EV_OTHER,
     NULL, NULL},
};

static void test_table(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct route_case *c = &cases[i];
        struct wx_msg m;
        struct route_out out;
        msg(&m, c->type, c->event, c->key);
        print_message("case %zu: %s %s %s\n", i, c->type, c->event, c->key);
        assert_int_equal(route_message(&f->cfg, f->st, &m, &out), 0);
        assert_int_equal(out.kind, c->kind);
        const char *scene = route_scene(&out, &m);
        if (c->scene)
            assert_string_equal(scene, c->scene);
        else
            assert_null(scene);
        if (c->reply) {
            assert_true(out.has_reply);
            assert_string_equal(out.reply.data, c->reply);
        } else {
            assert_false(out.has_reply);
        }
        buf_free(&out.reply);
    }
}

/* One key for a push however its MsgType and Event are cased: the row's
 * spelling (WeChat's), else lower case. */
static const struct key_case {
    const char *type, *event, *key, *dedup;
} key_cases[] = {
    {"event", "subscribe", "qrscene_42", "e|100|oU|subscribe|qrscene_42"},
    {"event", "Subscribe", "qrscene_42", "e|100|oU|subscribe|qrscene_42"},
    {"event", "SUBSCRIBE", "qrscene_42", "e|100|oU|subscribe|qrscene_42"},
    {"Event", "subscribe", "qrscene_42", "e|100|oU|subscribe|qrscene_42"},
    {"event", "SCAN", "42", "e|100|oU|SCAN|42"},
    {"EVENT", "scan", "42", "e|100|oU|SCAN|42"},
    {"event", "unsubscribe", "", "e|100|oU|unsubscribe|"},
    {"event", "UnSubscribe", "", "e|100|oU|unsubscribe|"},
    {"event", "CLICK", "Menu1", "e|100|oU|click|Menu1"},
    {"event", "click", "Menu1", "e|100|oU|click|Menu1"},
    {"event", "scancode_push", "k", "e|100|oU|scancode_push|k"},
    {"text", "", "", "m|oU|100"},
    {"TEXT", "", "", "m|oU|100"},
};

static void test_dedup_key_case(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
        const struct key_case *c = &key_cases[i];
        struct wx_msg m;
        struct route_out out;
        char key[ROUTE_DEDUP_MAX];
        msg(&m, c->type, c->event, c->key);
        print_message("case %zu: %s %s\n", i, c->type, c->event);
        route_dedup_key(&m, key, sizeof(key));
        assert_string_equal(key, c->dedup);
        assert_int_equal(route_message(&f->cfg, f->st, &m, &out), 0);
        assert_string_equal(out.dedup_key, c->dedup);
        buf_free(&out.reply);
    }
}

static struct event_rec rec(const char *key, enum ev_kind kind, const char *openid, int64_t t,
                            const char *scene, const char *reply)
{
    struct event_rec r = {.dedup_key = key,
                          .kind = kind,
                          .openid = openid,
                          .create_time = t,
                          .msg_type = "event",
                          .event = "",
                          .event_key = "",
                          .scene = scene,
                          .reply = reply,
                          .received_at = t};
    return r;
}

static int64_t count(struct store *st, const char *sql)
{
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db_sqlite_handle(store_db(st)), sql, -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static void test_group_commit_dedup_and_attribution(void **state)
{
    struct fixture *f = *state;
    struct event_rec b1[] = {
        rec("k1", EV_SUBSCRIBE, "oA", 1, "42", "hello"),
        rec("k1", EV_SUBSCRIBE, "oA", 1, "42", "other"), /* retry inside the same batch */
        rec("k2", EV_SUBSCRIBE, "oB", 2, NULL, NULL),
    };
    assert_int_equal(store_commit_events(f->st, b1, 3), 0);
    assert_false(b1[0].duplicate);
    assert_true(b1[1].duplicate);
    assert_string_equal(b1[1].prior_reply, "hello");
    free(b1[1].prior_reply);
    assert_null(b1[2].prior_reply);

    struct event_rec b2[] = {
        rec("k2", EV_SUBSCRIBE, "oB", 2, NULL, NULL),       /* retry of an organic one */
        rec("k3", EV_UNSUBSCRIBE, "oA", 3, NULL, NULL),     /* attributed to 42 */
        rec("k4", EV_SUBSCRIBE, "oA", 4, "quiet", NULL),    /* returning fan */
        rec("k5", EV_UNSUBSCRIBE, "oNever", 5, NULL, NULL), /* unknown fan */
    };
    assert_int_equal(store_commit_events(f->st, b2, 4), 0);
    assert_true(b2[0].duplicate);
    assert_null(b2[0].prior_reply);
    assert_int_equal(count(f->st, "SELECT count(*) FROM events"), 5);
    assert_int_equal(
        count(f->st, "SELECT count(*) FROM events WHERE dedup_key='k3' AND scene='42'"), 1);
    assert_int_equal(count(f->st, "SELECT is_new_fan FROM events WHERE dedup_key='k4'"), 0);
    assert_int_equal(count(f->st, "SELECT is_new_fan FROM events WHERE dedup_key='k1'"), 1);
    assert_int_equal(count(f->st, "SELECT count(*) FROM events WHERE dedup_key='k5' AND "
                                  "scene IS NULL"),
                     1);
    assert_int_equal(count(f->st, "SELECT count(*) FROM fans WHERE openid='oA' AND "
                                  "first_scene='42' AND last_scene='quiet' AND subscribed=1 AND "
                                  "subscribe_count=2"),
                     1);
}

static void test_failed_commit_stores_nothing(void **state)
{
    struct fixture *f = *state;
    /* A trigger that fails the third insert makes the whole batch roll back. */
    char *msg = NULL;
    assert_int_equal(
        sqlite3_exec(db_sqlite_handle(store_db(f->st)),
                     "CREATE TEMP TRIGGER boom BEFORE INSERT ON main.events "
                     "WHEN NEW.dedup_key = 'bad' BEGIN SELECT RAISE(ABORT, 'boom'); END",
                     NULL, NULL, &msg),
        SQLITE_OK);
    int64_t before = count(f->st, "SELECT count(*) FROM events");
    struct event_rec b[] = {
        rec("g1", EV_SUBSCRIBE, "oG1", 10, "42", "x"),
        rec("g2", EV_SUBSCRIBE, "oG2", 10, "42", "x"),
        rec("bad", EV_SUBSCRIBE, "oG3", 10, "42", "x"),
    };
    assert_int_equal(store_commit_events(f->st, b, 3), -1);
    assert_int_equal(count(f->st, "SELECT count(*) FROM events"), before);
    assert_int_equal(count(f->st, "SELECT count(*) FROM fans WHERE openid LIKE 'oG%'"), 0);
    assert_int_equal(
        sqlite3_exec(db_sqlite_handle(store_db(f->st)), "DROP TRIGGER temp.boom", NULL, NULL, &msg),
        SQLITE_OK);
    assert_int_equal(store_commit_events(f->st, b, 3), 0);
    assert_int_equal(count(f->st, "SELECT count(*) FROM events"), before + 3);
}

static void test_reopen_keeps_schema(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct store *again;
    assert_int_equal(store_open(&again, f->path, STORE_SYNC_FULL, err, sizeof(err)), 0);
    assert_int_equal(store_hook_add(again, tag_outbox_hook), 0);
    assert_int_equal(store_hook_add(again, stats_event_hook), 0);
    struct channel c;
    assert_int_equal(channel_get(again, "42", &c), 0);
    assert_string_equal(c.name, "Store");
    channel_clear(&c);
    assert_int_equal(channel_get(again, "nope", &c), 1);
    assert_true(store_writable(again));
    store_close(again);
}

/* A database written before migration 007 (event keys From-first, the
 * fans_last_scene and events_time indexes, no first_scanners, stats_scan_days): on open its event
 * keys are rewritten to the time-first form route_dedup_key() builds now, so a WeChat retry of an
 * event stored before the upgrade is still answered from the first delivery and stored once;
 * message keys stay as they were. */
static void test_upgrade_rewrites_event_keys(void **state)
{
    struct fixture *f = *state;
    sqlite3 *db = db_sqlite_handle(store_db(f->st));
    char err[256];
    assert_int_equal(
        sqlite3_exec(
            db,
            "INSERT INTO events(dedup_key, kind, openid, create_time, received_at, "
            "msg_type, event, event_key, scene, reply) VALUES "
            "('e|oOld|1700000000|subscribe|qrscene_42', 0, 'oOld', 1700000000, "
            "1700000001, 'event', 'subscribe', 'qrscene_42', '42', 'Hi Store 42'), "
            "('m|99887766', 3, 'oOld', 1700000005, 1700000005, 'text', '', '', NULL, "
            "NULL); "
            "CREATE INDEX fans_last_scene ON fans(last_scene, subscribed); "
            "CREATE INDEX events_time ON events(create_time); "
            "ALTER TABLE stats_daily DROP COLUMN first_scanners; "
            "DROP TABLE stats_scanners; CREATE TABLE stats_scan_days(openid TEXT NOT "
            "NULL, scene TEXT NOT NULL, day INTEGER NOT NULL, PRIMARY KEY (openid, "
            "scene, day)) WITHOUT ROWID; "
            "ALTER TABLE health DROP COLUMN seq; "
            "DROP INDEX channels_campaign; ALTER TABLE channels DROP COLUMN campaign_id; "
            "ALTER TABLE channels DROP COLUMN followup_ids; "
            "DROP TABLE campaigns; DROP TABLE channel_replies; DROP TABLE media; "
            "DROP TABLE followup_msgs; DROP TABLE followup_outbox; PRAGMA user_version = 6",
            NULL, NULL, NULL),
        SQLITE_OK);
    store_close(f->st);
    f->st = NULL;
    assert_int_equal(store_open(&f->st, f->path, STORE_SYNC_NORMAL, err, sizeof(err)), 0);
    assert_int_equal(store_hook_add(f->st, tag_outbox_hook), 0);
    assert_int_equal(store_hook_add(f->st, stats_event_hook), 0);
    db = db_sqlite_handle(store_db(f->st));
    assert_int_equal(count(f->st, "SELECT count(*) FROM events WHERE dedup_key = "
                                  "'e|1700000000|oOld|subscribe|qrscene_42'"),
                     1);
    assert_int_equal(count(f->st, "SELECT count(*) FROM events WHERE dedup_key = 'm|99887766'"), 1);
    assert_int_equal(count(f->st, "SELECT count(*) FROM sqlite_schema WHERE name IN "
                                  "('fans_last_scene', 'events_time')"),
                     0);
    /* the retry, keyed as the router keys it now */
    struct wx_msg m;
    struct route_out out;
    msg(&m, "event", "subscribe", "qrscene_42");
    strcpy(m.from, "oOld");
    m.create_time = 1700000000;
    assert_int_equal(route_message(&f->cfg, f->st, &m, &out), 0);
    assert_string_equal(out.dedup_key, "e|1700000000|oOld|subscribe|qrscene_42");
    struct event_rec r = rec(out.dedup_key, EV_SUBSCRIBE, "oOld", 1700000000, "42", "other");
    assert_int_equal(store_commit_events(f->st, &r, 1), 0);
    assert_true(r.duplicate);
    assert_string_equal(r.prior_reply, "Hi Store 42");
    free(r.prior_reply);
    buf_free(&out.reply);
    assert_int_equal(count(f->st, "SELECT count(*) FROM events WHERE openid = 'oOld'"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_key_case, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_dedup_and_attribution, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_stores_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_rewrites_event_keys, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
