/* campaign: the name and note rules, the campaigns table and a channel's
 * campaign on a real SQLite file (one transaction: a refused part changes
 * nothing), the scan-day walk the report by campaign reads
 * (scandays_each_in), and the report itself: a campaign's unique_scanners
 * is a union across its channels, not a sum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "campaign.h"
#include "channel.h"
#include "stats.h"
#include "stats_scandays.h"
#include "store.h"
#include "tag.h"

/* ---- scandays_each_in ---- */

static int collect_day(const char *scope, size_t len, int64_t day, void *arg)
{
    struct buf *b = arg;
    return buf_printf(b, "%s%.*s@%lld", b->len ? " " : "", (int)len, scope, (long long)day) < 0 ? -1
                                                                                                : 0;
}

static void test_scandays_each_in(void **state)
{
    static const struct {
        const char *row;
        int64_t from, to;
        const char *want; /* "scope@day ...", or NULL for a malformed row */
    } cases[] = {
        {"0:,10,12;2:42,10;1:7,12;", 10, 12, "@10 @12 42@10 7@12"},
        {"0:,10,12;2:42,10;1:7,12;", 11, 12, "@12 7@12"},
        {"0:,10,12;2:42,10;1:7,12;", 13, 20, ""},  /* '' misses: the row ends there */
        {"0:,-3,5;2:42,-3;", -5, 0, "@-3 42@-3"},  /* days before 1970 */
        {"0:,10;3:a;b,10;", 10, 10, "@10 a;b@10"}, /* a scope holding ';' */
        {"0:,1;2:42,10;", 10, 10, ""},             /* '' holds every day: skipped */
        {"", 0, 100, ""},
        {"0:,10;2:42,x;", 0, 100, NULL},
        {"0:,10;9:42,10;", 0, 100, NULL},
        {"0:,10", 0, 100, NULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf b = {0};
        int rc = scandays_each_in(cases[i].row, strlen(cases[i].row), cases[i].from, cases[i].to,
                                  collect_day, &b);
        if (!cases[i].want) {
            assert_int_equal(rc, -1);
        } else {
            assert_int_equal(rc, 0);
            assert_string_equal(b.data ? b.data : "", cases[i].want);
        }
        buf_free(&b);
    }
}

/* ---- validation ---- */

static void test_validate(void **state)
{
    static const struct {
        const char *name, *note, *field, *msg;
    } cases[] = {
        {"地铁 2 号线", "50 个站点\n3 月", NULL, NULL},
        {" \u3000Fair\u3000 ", NULL, NULL, NULL}, /* tidied: "Fair" */
        {"", NULL, "name", "name: length 0 is outside 1..128 bytes"},
        {" \u3000 ", NULL, "name", "name: length 0"},
        {"a\tb", NULL, "name", "name: control character at byte 2"},
        {"\xff", NULL, "name", "name: not valid UTF-8"},
        {"ok", "bell\a", "note", "note: control character at byte 5"},
    };
    char err[256];
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *field = "unset";
        int rc = campaign_validate(cases[i].name, cases[i].note, &field, err, sizeof(err));
        if (!cases[i].field) {
            assert_int_equal(rc, 0);
            assert_null(field);
        } else {
            assert_int_equal(rc, CAMPAIGN_EINVALID);
            assert_string_equal(field, cases[i].field);
            assert_non_null(strstr(err, cases[i].msg));
        }
    }
}

/* ---- the table ---- */

struct fixture {
    char dir[64];
    struct store *st;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char path[96], err[256];
    snprintf(f->dir, sizeof(f->dir), "/tmp/wxs-unit-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(path, sizeof(path), "%s/t.db", f->dir);
    assert_int_equal(store_open(&f->st, path, STORE_SYNC_NORMAL, err, sizeof(err)), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[96];
    store_close(f->st);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static int collect(const struct campaign *c, void *arg)
{
    struct buf *b = arg;
    return buf_printf(b, "%s%s=%lld", b->len ? "," : "", c->name, (long long)c->channels);
}

static char *listing(struct store *st)
{
    struct buf b = {0};
    assert_int_equal(campaign_foreach(st, collect, &b), 0);
    return b.data ? b.data : strdup("");
}

static char *campaign_of(struct store *st, const char *scene)
{
    char *name = NULL;
    assert_int_equal(campaign_of_channel(st, scene, &name), 0);
    return name;
}

static void test_table(void **state)
{
    struct fixture *f = *state;
    struct campaign c = {0};
    char err[256], *s;
    const char *field;
    assert_int_equal(campaign_add(f->st, " Metro\u3000", "50 stations", &c, err, sizeof(err)), 0);
    assert_string_equal(c.name, "Metro");
    assert_string_equal(c.note, "50 stations");
    campaign_clear(&c);
    assert_int_equal(campaign_add(f->st, "Metro", NULL, NULL, err, sizeof(err)), CAMPAIGN_EEXISTS);
    assert_string_equal(err, "campaign Metro exists");
    assert_int_equal(campaign_add(f->st, "Fair", "", NULL, err, sizeof(err)), 0);
    assert_int_equal(campaign_get(f->st, "Fair ", &c), 0);
    assert_null(c.note); /* "" is none */
    campaign_clear(&c);
    assert_int_equal(campaign_get(f->st, "Nope", &c), 1);

    struct channel ch = {.scene = "42", .name = "Store 42"};
    assert_int_equal(campaign_channel_add(f->st, &ch, "Nope", err, sizeof(err)),
                     CAMPAIGN_ENOTFOUND);
    assert_int_equal(channel_state(f->st, "42"), CHANNEL_ABSENT); /* rolled back */
    assert_int_equal(campaign_channel_add(f->st, &ch, "Metro", err, sizeof(err)), 0);
    ch = (struct channel){.scene = "43", .name = "Store 43"};
    assert_int_equal(campaign_channel_add(f->st, &ch, NULL, err, sizeof(err)), 0);
    s = campaign_of(f->st, "42");
    assert_string_equal(s, "Metro");
    free(s);
    assert_null(campaign_of(f->st, "43"));
    s = listing(f->st);
    assert_string_equal(s, "Fair=0,Metro=1");
    free(s);

    /* an edit refused in either part changes nothing */
    struct channel edit = {.name = ""};
    assert_int_equal(campaign_channel_edit(f->st, "42", &edit, CHANNEL_SET_NAME, "Fair", NULL,
                                           &field, err, sizeof(err)),
                     CHANNEL_EINVALID);
    edit.name = "Renamed";
    assert_int_equal(campaign_channel_edit(f->st, "42", &edit, CHANNEL_SET_NAME, "Nope", NULL,
                                           &field, err, sizeof(err)),
                     CAMPAIGN_ENOTFOUND);
    s = campaign_of(f->st, "42");
    assert_string_equal(s, "Metro");
    free(s);
    struct channel got = {0};
    assert_int_equal(campaign_channel_edit(f->st, "42", &edit, CHANNEL_SET_NAME, "Fair", &got,
                                           &field, err, sizeof(err)),
                     0);
    assert_string_equal(got.name, "Renamed");
    channel_clear(&got);
    s = campaign_of(f->st, "42");
    assert_string_equal(s, "Fair");
    free(s);
    assert_int_equal(campaign_channel_edit(f->st, "42", NULL, 0, "", NULL, NULL, err, sizeof(err)),
                     0);
    assert_null(campaign_of(f->st, "42"));
    assert_int_equal(
        campaign_channel_edit(f->st, "42", NULL, 0, NULL, NULL, NULL, err, sizeof(err)),
        CHANNEL_EINVALID);
    assert_int_equal(campaign_set_channel(f->st, "99", "Fair", err, sizeof(err)),
                     CAMPAIGN_ENOCHANNEL);
    assert_string_equal(err, "channel 99 does not exist");
    assert_int_equal(channel_archive(f->st, "43", 1000), 0);
    assert_int_equal(campaign_set_channel(f->st, "43", "Fair", err, sizeof(err)),
                     CAMPAIGN_ENOCHANNEL);
    assert_non_null(strstr(err, "archived"));
}

/* ---- the report ---- */

static int commit_scan(struct store *st, const char *openid, int64_t t, enum ev_kind kind,
                       const char *scene)
{
    static const char *const names[] = {"subscribe", "SCAN", "unsubscribe", "", "CLICK"};
    char key[96];
    snprintf(key, sizeof(key), "%s|%lld|%d|%s", openid, (long long)t, kind, scene ? scene : "");
    struct event_rec r = {.dedup_key = key,
                          .kind = kind,
                          .openid = openid,
                          .create_time = t,
                          .msg_type = "event",
                          .event = names[kind],
                          .event_key = "",
                          .scene = scene,
                          .received_at = t};
    int rc = store_commit_events(st, &r, 1);
    free(r.prior_reply);
    return rc;
}

static const struct stats_row *row_of(const struct stats_report *r, const char *campaign)
{
    for (size_t i = 0; i < r->nrows; i++)
        if ((!campaign && !r->rows[i].campaign) ||
            (campaign && r->rows[i].campaign && strcmp(r->rows[i].campaign, campaign) == 0))
            return &r->rows[i];
    return NULL;
}

static void test_report_unique_is_a_union(void **state)
{
    struct fixture *f = *state;
    struct stats *s;
    struct stats_report *r;
    char err[256];
    const int64_t day0 = 20000; /* 2024-10-04 UTC */
    const int64_t t = day0 * 86400 + 3600;
    assert_int_equal(store_hook_add(f->st, stats_event_hook), 0);
    assert_int_equal(stats_open(&s, f->st, "UTC", 7, NULL, err, sizeof(err)), 0);
    assert_int_equal(campaign_add(f->st, "A", NULL, NULL, err, sizeof(err)), 0);
    assert_int_equal(campaign_add(f->st, "B", NULL, NULL, err, sizeof(err)), 0);
    const char *scenes[] = {"1", "2", "3"}, *in[] = {"A", "A", NULL};
    for (int i = 0; i < 3; i++) {
        struct channel ch = {.scene = (char *)scenes[i], .name = "C"};
        assert_int_equal(campaign_channel_add(f->st, &ch, in[i], err, sizeof(err)), 0);
    }
    /* u1 through 1, then scans 2 the next day; u2 scans 1 and 2 the same
     * day; u3 scans 3 and the unknown scene 9; u4 organic */
    assert_int_equal(commit_scan(f->st, "u1", t, EV_SUBSCRIBE, "1"), 0);
    assert_int_equal(commit_scan(f->st, "u1", t + 86400, EV_SCAN, "2"), 0);
    assert_int_equal(commit_scan(f->st, "u2", t, EV_SUBSCRIBE, "1"), 0);
    assert_int_equal(commit_scan(f->st, "u2", t + 60, EV_SCAN, "2"), 0);
    assert_int_equal(commit_scan(f->st, "u3", t, EV_SUBSCRIBE, "3"), 0);
    assert_int_equal(commit_scan(f->st, "u3", t + 60, EV_SCAN, "9"), 0);
    assert_int_equal(commit_scan(f->st, "u4", t, EV_SUBSCRIBE, NULL), 0);

    assert_int_equal(stats_query(s, STATS_BY_CAMPAIGN, day0, day0 + 1, &r, err, sizeof(err)), 0);
    assert_int_equal(r->nrows, 3);
    const struct stats_row *a = row_of(r, "A"), *b = row_of(r, "B"), *none = row_of(r, NULL);
    assert_true(a && b && none);
    assert_ptr_equal(none, &r->rows[2]); /* last */
    assert_int_equal(a->c.scans, 4);
    assert_int_equal(a->c.unique_scanners, 2); /* u1, u2: per channel 2 + 2 */
    assert_int_equal(a->c.new_fans, 2);
    assert_int_equal(a->channels, 2);
    assert_int_equal(b->c.scans, 0);
    assert_int_equal(b->channels, 0);
    assert_int_equal(none->c.unique_scanners, 1); /* u3 through 3 and 9 */
    assert_int_equal(none->c.new_fans, 2);        /* u3, and u4 organic */
    assert_int_equal(none->channels, 2);          /* 3, and the unknown scene 9 */
    assert_int_equal(r->totals.unique_scanners, 3);
    assert_int_equal(r->totals.scans, 6);
    stats_report_free(r);

    /* the second day alone: u1 scanned 2 */
    assert_int_equal(stats_query(s, STATS_BY_CAMPAIGN, day0 + 1, day0 + 1, &r, err, sizeof(err)),
                     0);
    assert_int_equal(row_of(r, "A")->c.unique_scanners, 1);
    stats_report_free(r);

    /* a campaign's days: 2 then 1 distinct, 2 over both */
    assert_int_equal(stats_query_in(s, STATS_BY_DAY, day0, day0 + 1, "A", &r, err, sizeof(err)), 0);
    assert_int_equal(r->nrows, 2);
    assert_int_equal(r->rows[0].c.unique_scanners, 2);
    assert_int_equal(r->rows[0].c.scans, 3);
    assert_int_equal(r->rows[1].c.unique_scanners, 1);
    assert_int_equal(r->totals.unique_scanners, 2);
    assert_int_equal(r->totals.scans, 4);
    stats_report_free(r);
    assert_int_equal(stats_query_in(s, STATS_BY_DAY, day0, day0, "Nope", &r, err, sizeof(err)),
                     STATS_ENOCAMPAIGN);
    assert_int_equal(stats_query_in(s, STATS_BY_PROMOTER, day0, day0, "A", &r, err, sizeof(err)),
                     -1);

    /* moving channel 2 to B moves its history */
    assert_int_equal(campaign_set_channel(f->st, "2", "B", err, sizeof(err)), 0);
    assert_int_equal(stats_query(s, STATS_BY_CAMPAIGN, day0, day0 + 1, &r, err, sizeof(err)), 0);
    assert_int_equal(row_of(r, "A")->c.unique_scanners, 2); /* u1, u2 through 1 */
    assert_int_equal(row_of(r, "A")->c.scans, 2);
    assert_int_equal(row_of(r, "B")->c.unique_scanners, 2);
    assert_int_equal(row_of(r, "B")->c.scans, 2);
    stats_report_free(r);
    stats_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scandays_each_in),
        cmocka_unit_test(test_validate),
        cmocka_unit_test_setup_teardown(test_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_report_unique_is_a_union, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
