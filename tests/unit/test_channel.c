/* channel: the scene rules (CLI text, admin JSON, EventKey), the field
 * validation and the channels table, as tables of cases. */
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
#include "store.h"

#define S64 "0123456789012345678901234567890123456789012345678901234567890123"

static void test_scene_is_id(void **state)
{
    static const struct {
        const char *s;
        bool id;
    } cases[] = {{"1", true},      {"4294967295", true}, {"4294967296", false}, {"007", false},
                 {"0", false},     {"12a", false},       {"", false},           {"-1", false},
                 {"100000", true}, {"中", false},        {" 1", false},         {"+1", false}};
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        if (channel_scene_is_id(cases[i].s) != cases[i].id)
            fail_msg("case %zu '%s': want %d", i, cases[i].s, cases[i].id);
    }
    assert_false(channel_scene_is_id(NULL));
}

/* The CLI's text (and a JSON string, and a CSV cell). err NULL = accepted
 * as kind/id; else the whole message. */
static void test_scene_from_text(void **state)
{
    static const struct {
        const char *text;
        bool force_str;
        const char *err;
        enum channel_scene_kind kind;
        uint32_t id;
    } cases[] = {
        {"1", false, NULL, CHANNEL_SCENE_ID, 1},
        {"42", false, NULL, CHANNEL_SCENE_ID, 42},
        {"4294967295", false, NULL, CHANNEL_SCENE_ID, 4294967295u},
        {.text = "4294967296",
         .force_str = false,
         .err = "scene: 4294967296 is above 4294967295, the largest scene_id"},
        {.text = "99999999999999999999999",
         .force_str = false,
         .err = "scene: 99999999999999999999999 is above 4294967295, the largest scene_id"},
        {"4294967296", true, NULL, CHANNEL_SCENE_STR, 0},
        {"42", true, NULL, CHANNEL_SCENE_STR, 0},
        {"007", false, NULL, CHANNEL_SCENE_STR, 0},
        {"0", false, NULL, CHANNEL_SCENE_STR, 0},
        {"-1", false, NULL, CHANNEL_SCENE_STR, 0},
        {"abc", false, NULL, CHANNEL_SCENE_STR, 0},
        {"中文场景", false, NULL, CHANNEL_SCENE_STR, 0},
        {S64, false, NULL, CHANNEL_SCENE_STR, 0},
        {.text = S64 "4", .force_str = false, .err = "scene: length 65 is outside 1..64 bytes"},
        {.text = "", .force_str = false, .err = "scene: length 0 is outside 1..64 bytes"},
        {.text = "", .force_str = true, .err = "scene: length 0 is outside 1..64 bytes"},
        {.text = "a b",
         .force_str = false,
         .err = "scene: blanks and control characters are not allowed"},
        {.text = "a\tb",
         .force_str = false,
         .err = "scene: blanks and control characters are not allowed"},
        {.text = "a\nb",
         .force_str = true,
         .err = "scene: blanks and control characters are not allowed"},
        {.text = "a\x7f",
         .force_str = false,
         .err = "scene: blanks and control characters are not allowed"},
        {.text = "a\x01z", .force_str = false, .err = "scene: control character at byte 2"},
        {.text = "\xff", .force_str = false, .err = "scene: not valid UTF-8"},
        {.text = "\xc0\xaf", .force_str = false, .err = "scene: not valid UTF-8"},
    };
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        struct channel_scene sc;
        char err[256] = "";
        int rc = channel_scene_from_text(&sc, cases[i].text, cases[i].force_str, err, sizeof(err));
        if (cases[i].err) {
            if (rc != -1 || strcmp(err, cases[i].err) != 0)
                fail_msg("case %zu: rc %d err '%s', want '%s'", i, rc, err, cases[i].err);
            continue;
        }
        if (rc != 0 || sc.kind != cases[i].kind || sc.id != cases[i].id ||
            strcmp(sc.text, cases[i].text) != 0)
            fail_msg("case %zu '%s': rc %d (%s) kind %d id %u", i, cases[i].text, rc, err,
                     (int)sc.kind, (unsigned)sc.id);
    }
}

/* The admin API's "scene": numbers must be integers 1..4294967295, strings
 * follow the CLI's rules. */
static void test_scene_from_json(void **state)
{
    static const struct {
        const char *json;
        bool force_str;
        const char *err; /* prefix of the message; NULL = accepted */
        enum channel_scene_kind kind;
        const char *text;
    } cases[] = {
        {"1", false, NULL, CHANNEL_SCENE_ID, "1"},
        {"4294967295", false, NULL, CHANNEL_SCENE_ID, "4294967295"},
        {"\"abc\"", false, NULL, CHANNEL_SCENE_STR, "abc"},
        {"\"007\"", false, NULL, CHANNEL_SCENE_STR, "007"},
        {"\"0\"", false, NULL, CHANNEL_SCENE_STR, "0"},
        {"\"42\"", false, NULL, CHANNEL_SCENE_ID, "42"},
        {"\"42\"", true, NULL, CHANNEL_SCENE_STR, "42"},
        {"42", true, NULL, CHANNEL_SCENE_STR, "42"},
        {.json = "0", .force_str = false, .err = "scene: 0 is not a scene_id 1..4294967295"},
        {.json = "0", .force_str = true, .err = "scene: 0 is not a scene_id 1..4294967295"},
        {.json = "-1", .force_str = false, .err = "scene: -1 is not a scene_id 1..4294967295"},
        {.json = "4294967296",
         .force_str = false,
         .err = "scene: 4294967296 is not a scene_id 1..4294967295"},
        {.json = "-9223372036854775808",
         .force_str = false,
         .err = "scene: -9223372036854775808 is not a scene_id"},
        {.json = "1.5",
         .force_str = false,
         .err = "scene: must be an integer 1..4294967295 (a scene_id) or a string"},
        {.json = "1.0", .force_str = false, .err = "scene: must be an integer"},
        {.json = "1e3", .force_str = false, .err = "scene: must be an integer"},
        {.json = "true", .force_str = false, .err = "scene: must be an integer"},
        {.json = "null", .force_str = false, .err = "scene: must be an integer"},
        {.json = "[1]", .force_str = false, .err = "scene: must be an integer"},
        {.json = "{}", .force_str = false, .err = "scene: must be an integer"},
        {.json = "\"\"", .force_str = false, .err = "scene: length 0 is outside 1..64 bytes"},
        {.json = "\"" S64 "4\"",
         .force_str = false,
         .err = "scene: length 65 is outside 1..64 bytes"},
        {.json = "\"a\\u0001b\"", .force_str = false, .err = "scene: control character at byte 2"},
        {.json = "\"a\\u0000b\"", .force_str = false, .err = "scene: contains a NUL character"},
        {.json = "\"a b\"",
         .force_str = false,
         .err = "scene: blanks and control characters are not allowed"},
        {.json = "\"4294967296\"",
         .force_str = false,
         .err = "scene: 4294967296 is above 4294967295, the largest scene_id"},
    };
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        json_error_t jerr;
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!v)
            fail_msg("case %zu: bad JSON %s: %s", i, cases[i].json, jerr.text);
        struct channel_scene sc;
        char err[256] = "";
        int rc = channel_scene_from_json(&sc, v, cases[i].force_str, err, sizeof(err));
        json_decref(v);
        if (cases[i].err) {
            if (rc != -1 || strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
                fail_msg("case %zu %s: rc %d err '%s', want '%s...'", i, cases[i].json, rc, err,
                         cases[i].err);
            continue;
        }
        if (rc != 0 || sc.kind != cases[i].kind || strcmp(sc.text, cases[i].text) != 0)
            fail_msg("case %zu %s: rc %d (%s) kind %d text '%s'", i, cases[i].json, rc, err,
                     (int)sc.kind, sc.text);
    }
}

/* A push's scene: subscribe "qrscene_X" and SCAN "X". */
static void test_scene_in_event_key(void **state)
{
    static const struct {
        const char *key;
        bool subscribe;
        int off;
    } cases[] = {
        {"qrscene_42", true, 8}, {"qrscene_", true, -1},   {"", true, -1},
        {"42", true, -1},        {"QRSCENE_42", true, -1}, {"42", false, 0},
        {"", false, -1},         {"qrscene_42", false, 0}, {"a b", false, 0},
    };
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        int off = channel_scene_in_event_key(cases[i].key, cases[i].subscribe);
        if (off != cases[i].off)
            fail_msg("case %zu '%s' %d: %d, want %d", i, cases[i].key, cases[i].subscribe, off,
                     cases[i].off);
    }
}

static void test_scene_check_perm(void **state)
{
    static const struct {
        const char *text;
        bool force_str;
        int rc;
    } cases[] = {{"1", false, 0},           {"100000", false, 0}, {"100001", false, -1},
                 {"4294967295", false, -1}, {"100001", true, 0},  {"abc", false, 0}};
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        struct channel_scene sc;
        char err[256] = "";
        assert_int_equal(
            channel_scene_from_text(&sc, cases[i].text, cases[i].force_str, err, sizeof(err)), 0);
        if (channel_scene_check_perm(&sc, err, sizeof(err)) != cases[i].rc)
            fail_msg("case %zu '%s': want %d", i, cases[i].text, cases[i].rc);
        if (cases[i].rc < 0)
            assert_non_null(strstr(err, "out of range for a permanent code: 1..100000"));
    }
}

#define R2049                                                                                      \
    S64 S64 S64 S64 S64 S64 S64 S64 S64 S64 S64 S64 S64 S64 S64 S64 S64 S64 S64 S64 S64 S64 S64    \
        S64 S64 S64 S64 S64 S64 S64 S64 S64 "x"

static void test_validate(void **state)
{
    static const struct {
        struct channel c;
        const char *field; /* NULL = valid */
        const char *err;
    } cases[] = {
        {{.scene = "", .name = "x"}, "scene", "scene: length 0 is outside 1..64 bytes"},
        {{.scene = NULL, .name = "x"}, "scene", "scene: length 0 is outside 1..64 bytes"},
        {{.scene = "a b", .name = "x"}, "scene", "scene: blanks and control characters"},
        {{.scene = "1", .name = ""}, "name", "name: length 0 is outside 1..128 bytes"},
        {{.scene = "1", .name = NULL}, "name", "name: length 0"},
        {{.scene = "1", .name = "x", .tag = "0123456789012345678901234567890"},
         "tag",
         "tag: length 31 is outside 0..30 bytes"},
        {{.scene = "1", .name = "bad\xff"}, "name", "name: not valid UTF-8"},
        {{.scene = "1", .name = "ctl\x01"}, "name", "name: control character at byte 4"},
        {{.scene = "1", .name = "n", .promoter = S64 S64 "x"}, "promoter", "promoter: length 129"},
        {{.scene = "1", .name = "n", .reply = R2049}, "reply", "reply: length 2049"},
        {{.scene = "1", .name = "n", .scan_reply = "a\x1b"}, "scan_reply", "scan_reply: control"},
        {{.scene = "中文场景", .name = "n", .tag = "012345678901234567890123456789"}, NULL, NULL},
        {{.scene = "1", .name = "tab\tand\nnewline", .reply = "", .scan_reply = ""}, NULL, NULL},
        {{.scene = "4294967296", .name = "the kind is not validate's business"}, NULL, NULL},
    };
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        const char *field = "unset";
        char err[256] = "";
        int rc = channel_validate(&cases[i].c, &field, err, sizeof(err));
        if (!cases[i].field) {
            if (rc != 0)
                fail_msg("case %zu: %s", i, err);
            continue;
        }
        if (rc != -1 || strcmp(field, cases[i].field) != 0 ||
            strncmp(err, cases[i].err, strlen(cases[i].err)) != 0)
            fail_msg("case %zu: rc %d field %s err '%s'", i, rc, field, err);
    }
    char err[256];
    assert_int_equal(channel_validate(&cases[0].c, NULL, err, sizeof(err)), -1);
}

/* A whole admin API body. */
static void test_from_json(void **state)
{
    static const struct {
        const char *json;
        const char *field; /* "" = accepted, NULL = an unknown key */
        const char *err;   /* prefix */
        const char *scene;
    } cases[] = {
        {"{\"scene\": 42, \"name\": \"n\"}", "", NULL, "42"},
        {"{\"scene\": \"abc\", \"name\": \"n\", \"promoter\": null, \"tag\": \"t\"}", "", NULL,
         "abc"},
        {"{\"scene\": 7, \"name\": \"n\", \"str\": true}", "", NULL, "7"},
        {"{\"scene\": \"99999999999\", \"name\": \"n\", \"str\": true}", "", NULL, "99999999999"},
        {"{\"scene\": 0, \"name\": \"n\"}", "scene", "scene: 0 is not a scene_id", NULL},
        {"{\"scene\": -1, \"name\": \"n\"}", "scene", "scene: -1 is not a scene_id", NULL},
        {"{\"scene\": 1.5, \"name\": \"n\"}", "scene", "scene: must be an integer", NULL},
        {"{\"scene\": \"\", \"name\": \"n\"}", "scene", "scene: length 0", NULL},
        {"{\"name\": \"n\"}", "scene", "scene: required", NULL},
        {"{\"scene\": null, \"name\": \"n\"}", "scene", "scene: required", NULL},
        {"{\"scene\": 1}", "name", "name: required", NULL},
        {"{\"scene\": 1, \"name\": null}", "name", "name: must be a string", NULL},
        {"{\"scene\": 1, \"name\": 5}", "name", "name: must be a string", NULL},
        {"{\"scene\": 1, \"name\": \"\"}", "name", "name: length 0", NULL},
        {"{\"scene\": 1, \"name\": \"n\", \"tag\": 3}", "tag", "tag: must be a string or null",
         NULL},
        {"{\"scene\": 1, \"name\": \"n\", \"reply\": \"a\\u0000\"}", "reply",
         "reply: contains a NUL character", NULL},
        {"{\"scene\": 1, \"name\": \"n\", \"str\": \"yes\"}", "str", "str: must be true or false",
         NULL},
        {"{\"scene\": 1, \"name\": \"n\", \"colour\": \"red\"}", NULL, "unknown field 'colour'",
         NULL},
    };
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        json_error_t jerr;
        json_t *o = json_loads(cases[i].json, JSON_ALLOW_NUL, &jerr);
        if (!o)
            fail_msg("case %zu: bad JSON %s: %s", i, cases[i].json, jerr.text);
        struct channel c;
        struct channel_scene sc;
        const char *field = "unset";
        char err[256] = "";
        int rc = channel_from_json(o, &c, &sc, &field, err, sizeof(err));
        bool ok;
        if (!cases[i].err)
            ok = rc == 0 && strcmp(c.scene, cases[i].scene) == 0 && c.name;
        else
            ok = rc == -1 && strncmp(err, cases[i].err, strlen(cases[i].err)) == 0 &&
                 (cases[i].field ? field && strcmp(field, cases[i].field) == 0 : !field);
        json_decref(o);
        if (!ok)
            fail_msg("case %zu %s: rc %d field %s err '%s'", i, cases[i].json, rc,
                     field ? field : "(null)", err);
    }
}

/* ---- the channels table ---- */

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

static int collect(const struct channel *c, void *arg)
{
    struct buf *b = arg;
    return buf_printf(b, "%s%s", b->len ? "," : "", c->scene);
}

static void test_table(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct channel c = {.scene = "42", .name = "Store", .promoter = "", .reply = "", .tag = "t"};
    struct channel b = {.scene = "abc", .name = "B", .created_at = 1};
    struct channel got;
    struct buf list = {0};
    assert_int_equal(channel_add(f->st, &c, err, sizeof(err)), 0);
    assert_int_equal(channel_add(f->st, &b, err, sizeof(err)), 0);
    assert_int_equal(channel_add(f->st, &c, err, sizeof(err)), CHANNEL_EEXISTS);
    assert_string_equal(err, "channel 42 exists");
    /* what is read back: "" promoter is none, "" reply stays "say nothing" */
    assert_int_equal(channel_get(f->st, "42", &got), 0);
    assert_string_equal(got.name, "Store");
    assert_null(got.promoter);
    assert_string_equal(got.reply, "");
    assert_null(got.scan_reply);
    assert_string_equal(got.tag, "t");
    assert_true(got.created_at > 1);
    assert_int_equal(got.archived_at, 0);
    json_t *j = channel_to_json(&got);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    char want[256];
    snprintf(want, sizeof(want),
             "{\"created_at\":%lld,\"name\":\"Store\",\"promoter\":null,\"reply\":\"\","
             "\"scan_reply\":null,\"scene\":\"42\",\"tag\":\"t\"}",
             (long long)got.created_at);
    assert_string_equal(s, want);
    free(s);
    json_decref(j);
    channel_clear(&got);
    assert_int_equal(channel_get(f->st, "nope", &got), 1);
    assert_int_equal(channel_state(f->st, "42"), CHANNEL_ACTIVE);
    assert_int_equal(channel_state(f->st, "nope"), CHANNEL_ABSENT);
    assert_int_equal(channel_foreach(f->st, collect, &list), 0);
    assert_string_equal(list.data, "abc,42"); /* by created_at */

    /* archived: kept, out of the list, its scene still taken */
    assert_int_equal(channel_archive(f->st, "42", 1700000000), 0);
    assert_int_equal(channel_state(f->st, "42"), CHANNEL_ARCHIVED);
    assert_int_equal(channel_get(f->st, "42", &got), 0);
    assert_int_equal(got.archived_at, 1700000000);
    channel_clear(&got);
    buf_reset(&list);
    assert_int_equal(channel_foreach(f->st, collect, &list), 0);
    assert_string_equal(list.data, "abc");
    assert_int_equal(channel_add(f->st, &c, err, sizeof(err)), CHANNEL_EEXISTS);
    assert_string_equal(err, "channel 42 exists, archived");

    /* renaming the archived row frees the scene; an active one is kept */
    assert_int_equal(channel_rename_archived(f->st, "abc"), 0);
    assert_int_equal(channel_state(f->st, "abc"), CHANNEL_ACTIVE);
    assert_int_equal(channel_rename_archived(f->st, "42"), 0);
    assert_int_equal(channel_state(f->st, "42"), CHANNEL_ABSENT);
    assert_int_equal(channel_state(f->st, "42~archived-1700000000"), CHANNEL_ARCHIVED);
    assert_int_equal(channel_add(f->st, &c, err, sizeof(err)), 0);
    assert_int_equal(channel_state(f->st, "42"), CHANNEL_ACTIVE);
    buf_free(&list);
}

/* Names and promoters: trimmed of ASCII and Unicode blanks, NFC. */
static void test_text_tidy(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"张伟", "张伟"},
        {"张伟 ", "张伟"},
        {"\u3000张伟\u3000", "张伟"},
        {" \t\xc2\xa0张 伟\xe2\x80\x83\n", "张 伟"},
        {"\xef\xbb\xbfLi", "Li"},
        {"Cafe\xcc\x81", "Caf\xc3\xa9"}, /* e + U+0301 -> é */
        {"\xe2\x84\xab", "\xc3\x85"},    /* ANGSTROM SIGN -> Å */
        {"   ", ""},
        {"\u3000", ""},
        {"", ""},
        {" \xff ", " \xff "}, /* not UTF-8: left for channel_validate */
    };
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        char *got = channel_text_tidy(cases[i].in);
        assert_non_null(got);
        if (strcmp(got, cases[i].out) != 0)
            fail_msg("case %zu: '%s' -> '%s', want '%s'", i, cases[i].in, got, cases[i].out);
        free(got);
    }
    assert_null(channel_text_tidy(NULL));
    assert_true(channel_text_same("张伟 ", "张伟"));
    assert_true(channel_text_same(NULL, "\u3000"));
    assert_false(channel_text_same("张伟", "张"));
    char err[128];
    const char *field = NULL;
    struct channel blank = {.scene = "1", .name = "\u3000 "};
    assert_int_equal(channel_validate(&blank, &field, err, sizeof(err)), -1);
    assert_string_equal(field, "name");
}

static void test_table_tidies(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct channel c = {.scene = "7", .name = " 静安寺店\u3000", .promoter = "张伟 "};
    struct channel d = {.scene = "8", .name = "x", .promoter = "\u3000"};
    struct channel got;
    assert_int_equal(channel_add(f->st, &c, err, sizeof(err)), 0);
    assert_int_equal(channel_add(f->st, &d, err, sizeof(err)), 0);
    assert_int_equal(channel_get(f->st, "7", &got), 0);
    assert_string_equal(got.name, "静安寺店");
    assert_string_equal(got.promoter, "张伟");
    channel_clear(&got);
    assert_int_equal(channel_get(f->st, "8", &got), 0);
    assert_null(got.promoter);
    channel_clear(&got);
}

/* A conflict inside a transaction leaves it usable (an import reports the
 * row and rolls back itself; PostgreSQL would abort the transaction on a
 * unique violation). */
static int add_two(struct store *st, void *arg)
{
    char err[256];
    struct channel dup = {.scene = "1", .name = "again"}, other = {.scene = "2", .name = "two"};
    if (channel_add(st, &dup, err, sizeof(err)) != CHANNEL_EEXISTS)
        return -1;
    return channel_add(st, &other, err, sizeof(err));
}

static void test_conflict_in_transaction(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct channel one = {.scene = "1", .name = "one"}, got;
    assert_int_equal(channel_add(f->st, &one, err, sizeof(err)), 0);
    assert_int_equal(store_tx(f->st, add_two, NULL), 0);
    assert_int_equal(channel_get(f->st, "2", &got), 0);
    channel_clear(&got);
    assert_int_equal(channel_get(f->st, "1", &got), 0);
    assert_string_equal(got.name, "one");
    channel_clear(&got);
}

/* channel_edit: table of edits of one channel, each checked against the
 * row as read back (NULL = the column is NULL) and the refusal's code,
 * field and message (the words channel_validate gives channel add). */
static void test_edit(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct channel c = {.scene = "42",
                        .name = "Store",
                        .promoter = "Li",
                        .reply = "Hi",
                        .scan_reply = "Again",
                        .tag = "t"};
    static const struct {
        struct channel c;
        unsigned set;
        int rc;
        const char *field, *err;
        const char *name, *promoter, *reply, *scan_reply, *tag; /* the row after */
    } cases[] = {
        {{.name = " 春季门店\u3000"},
         CHANNEL_SET_NAME,
         0,
         NULL,
         NULL,
         "春季门店",
         "Li",
         "Hi",
         "Again",
         "t"},
        {{.promoter = "王芳 "},
         CHANNEL_SET_PROMOTER,
         0,
         NULL,
         NULL,
         "春季门店",
         "王芳",
         "Hi",
         "Again",
         "t"},
        /* "" clears the optional ones; reply "" answers nothing */
        {{.promoter = "", .scan_reply = "", .tag = ""},
         CHANNEL_SET_PROMOTER | CHANNEL_SET_SCAN_REPLY | CHANNEL_SET_TAG,
         0,
         NULL,
         NULL,
         "春季门店",
         NULL,
         "Hi",
         NULL,
         NULL},
        {{.reply = ""}, CHANNEL_SET_REPLY, 0, NULL, NULL, "春季门店", NULL, "", NULL, NULL},
        {{.reply = NULL, .promoter = "\u3000"},
         CHANNEL_SET_REPLY | CHANNEL_SET_PROMOTER,
         0,
         NULL,
         NULL,
         "春季门店",
         NULL,
         NULL,
         NULL,
         NULL},
        {{.tag = "春季", .scan_reply = "又见面了"},
         CHANNEL_SET_TAG | CHANNEL_SET_SCAN_REPLY,
         0,
         NULL,
         NULL,
         "春季门店",
         NULL,
         NULL,
         "又见面了",
         "春季"},
        /* refused: nothing written, not even the good field beside it */
        {{.name = "", .promoter = "Never"},
         CHANNEL_SET_NAME | CHANNEL_SET_PROMOTER,
         CHANNEL_EINVALID,
         "name",
         "name: length 0 is outside 1..128 bytes",
         "春季门店",
         NULL,
         NULL,
         "又见面了",
         "春季"},
        {{.name = " \u3000"},
         CHANNEL_SET_NAME,
         CHANNEL_EINVALID,
         "name",
         "name: length 0 is outside 1..128 bytes",
         "春季门店",
         NULL,
         NULL,
         "又见面了",
         "春季"},
        {{.name = NULL},
         CHANNEL_SET_NAME,
         CHANNEL_EINVALID,
         "name",
         "name: length 0 is outside 1..128 bytes",
         "春季门店",
         NULL,
         NULL,
         "又见面了",
         "春季"},
        {{.tag = "0123456789012345678901234567890"},
         CHANNEL_SET_TAG,
         CHANNEL_EINVALID,
         "tag",
         "tag: length 31 is outside 0..30 bytes",
         "春季门店",
         NULL,
         NULL,
         "又见面了",
         "春季"},
        {{.reply = "a\x01"},
         CHANNEL_SET_REPLY,
         CHANNEL_EINVALID,
         "reply",
         "reply: control character at byte 2",
         "春季门店",
         NULL,
         NULL,
         "又见面了",
         "春季"},
        {{.promoter = "\xff"},
         CHANNEL_SET_PROMOTER,
         CHANNEL_EINVALID,
         "promoter",
         "promoter: not valid UTF-8",
         "春季门店",
         NULL,
         NULL,
         "又见面了",
         "春季"},
        {{.name = "x"},
         0,
         CHANNEL_EINVALID,
         NULL,
         "nothing to change",
         "春季门店",
         NULL,
         NULL,
         "又见面了",
         "春季"},
        /* a field not in `set` is not touched, whatever c holds */
        {{.name = "Ignored", .tag = "kept?"},
         CHANNEL_SET_TAG,
         0,
         NULL,
         NULL,
         "春季门店",
         NULL,
         NULL,
         "又见面了",
         "kept?"},
    };
    assert_int_equal(channel_add(f->st, &c, err, sizeof(err)), 0);
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        struct channel got = {0}, row;
        const char *field = "unset";
        int rc =
            channel_edit(f->st, "42", &cases[i].c, cases[i].set, &got, &field, err, sizeof(err));
        if (rc != cases[i].rc)
            fail_msg("case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc, err);
        if (rc != 0 && strcmp(err, cases[i].err) != 0)
            fail_msg("case %zu: '%s', want '%s'", i, err, cases[i].err);
        if ((field == NULL) != (cases[i].field == NULL) ||
            (field && strcmp(field, cases[i].field) != 0))
            fail_msg("case %zu: field %s, want %s", i, field ? field : "NULL",
                     cases[i].field ? cases[i].field : "NULL");
        assert_int_equal(channel_get(f->st, "42", &row), 0);
        const char *want[] = {cases[i].name, cases[i].promoter, cases[i].reply, cases[i].scan_reply,
                              cases[i].tag};
        const char *have[] = {row.name, row.promoter, row.reply, row.scan_reply, row.tag};
        for (size_t k = 0; k < WXS_ARRAY_LEN(want); k++)
            if ((want[k] == NULL) != (have[k] == NULL) ||
                (want[k] && strcmp(want[k], have[k]) != 0))
                fail_msg("case %zu column %zu: '%s', want '%s'", i, k, have[k] ? have[k] : "NULL",
                         want[k] ? want[k] : "NULL");
        if (rc == 0) /* *out is the row as it now is */
            assert_string_equal(got.name, row.name);
        else
            assert_null(got.scene);
        assert_string_equal(row.scene, "42");
        channel_clear(&row);
        channel_clear(&got);
    }

    struct channel n = {.name = "x"};
    assert_int_equal(
        channel_edit(f->st, "nope", &n, CHANNEL_SET_NAME, NULL, NULL, err, sizeof(err)),
        CHANNEL_ENOTFOUND);
    assert_string_equal(err, "channel nope does not exist");
    assert_int_equal(channel_archive(f->st, "42", 1700000000), 0);
    assert_int_equal(channel_edit(f->st, "42", &n, CHANNEL_SET_NAME, NULL, NULL, err, sizeof(err)),
                     CHANNEL_EARCHIVED);
    assert_string_equal(
        err, "channel 42 is archived: it cannot be edited (its scene keeps its history)");
}

/* The admin API's PATCH body: which bits, which field a refusal names. */
static void test_change_from_json(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        int rc;
        unsigned set;
        const char *field, *err;
    } cases[] = {
        {"{\"name\": \"n\"}", 0, CHANNEL_SET_NAME, NULL, NULL},
        {"{\"promoter\": null, \"tag\": \"\", \"reply\": \"r\", \"scan_reply\": \"s\"}", 0,
         CHANNEL_SET_PROMOTER | CHANNEL_SET_TAG | CHANNEL_SET_REPLY | CHANNEL_SET_SCAN_REPLY, NULL,
         NULL},
        {"{\"scene\": \"42\", \"name\": \"n\"}", 0, CHANNEL_SET_NAME, NULL, NULL},
        {"{\"scene\": 42, \"name\": \"n\"}", 0, CHANNEL_SET_NAME, NULL, NULL},
        {"{\"scene\": \"43\", \"name\": \"n\"}", -1, 0, "scene", "scene: cannot be changed"},
        {"{\"scene\": \"42\"}", -1, 0, NULL, "nothing to change"},
        {"{}", -1, 0, NULL, "nothing to change"},
        {"{\"colour\": \"red\"}", -1, 0, "colour",
         "unknown field 'colour' (expected name, promoter, reply, scan_reply, tag)"},
        {"{\"str\": true}", -1, 0, "str",
         "unknown field 'str' (expected name, promoter, reply, scan_reply, tag)"},
        {"{\"name\": null}", -1, 0, "name", "name: must be a string"},
        {"{\"name\": 5}", -1, 0, "name", "name: must be a string"},
        {"{\"tag\": true}", -1, 0, "tag", "tag: must be a string or null"},
        {"{\"reply\": \"a\\u0000b\"}", -1, 0, "reply", "reply: contains a NUL character"},
        {"[1]", -1, 0, NULL, "the body must be a JSON object"},
    };
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        json_error_t jerr;
        json_t *obj = json_loads(cases[i].body, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        struct channel c;
        unsigned set = 99;
        const char *field = "unset";
        char err[256] = "";
        assert_non_null(obj);
        int rc = channel_change_from_json(obj, "42", &c, &set, &field, err, sizeof(err));
        if (rc != cases[i].rc || (rc == 0 && set != cases[i].set))
            fail_msg("case %zu: rc %d set %u (%s)", i, rc, set, err);
        if (rc < 0 && strcmp(err, cases[i].err) != 0)
            fail_msg("case %zu: '%s', want '%s'", i, err, cases[i].err);
        if (rc < 0 && ((field == NULL) != (cases[i].field == NULL) ||
                       (field && strcmp(field, cases[i].field) != 0)))
            fail_msg("case %zu: field %s", i, field ? field : "NULL");
        json_decref(obj);
    }
}

/* channel_add_many: rows over several statements (600 = 3 chunks), taken
 * scenes reported by their index with channel_add's words (", archived"
 * too) while the others are added. */
struct exists_log {
    size_t n, idx[4];
    char msg[4][96];
};

static void on_exists(size_t i, const char *msg, void *arg)
{
    struct exists_log *l = arg;
    if (l->n < 4) {
        l->idx[l->n] = i;
        snprintf(l->msg[l->n], sizeof(l->msg[0]), "%s", msg);
    }
    l->n++;
}

static void test_add_many(void **state)
{
    struct fixture *f = *state;
    struct channel taken = {.scene = "s7", .name = "old"}, gone = {.scene = "s500", .name = "old"};
    struct channel rows[600];
    const struct channel *cs[600];
    char scenes[600][8], err[256];
    struct exists_log log = {0};
    struct channel got = {0};
    assert_int_equal(channel_add(f->st, &taken, err, sizeof(err)), 0);
    assert_int_equal(channel_add(f->st, &gone, err, sizeof(err)), 0);
    assert_int_equal(channel_archive(f->st, "s500", 1700000000), 0);
    for (size_t i = 0; i < 600; i++) {
        snprintf(scenes[i], sizeof(scenes[i]), "s%zu", i);
        rows[i] = (struct channel){
            .scene = scenes[i], .name = i == 3 ? "\xc3\xa9" : "门店", .promoter = "张伟"};
        cs[i] = &rows[i];
    }
    assert_int_equal(channel_add_many(f->st, cs, 600, on_exists, &log, err, sizeof(err)), 0);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.idx[0], 7);
    assert_string_equal(log.msg[0], "channel s7 exists");
    assert_int_equal(log.idx[1], 500);
    assert_string_equal(log.msg[1], "channel s500 exists, archived");
    assert_int_equal(channel_get(f->st, "s599", &got), 0);
    assert_string_equal(got.promoter, "张伟");
    channel_clear(&got);
    assert_int_equal(channel_get(f->st, "s3", &got), 0);
    assert_string_equal(got.name, "\xc3\xa9");
    channel_clear(&got);
    assert_int_equal(channel_get(f->st, "s7", &got), 0);
    assert_string_equal(got.name, "old"); /* a taken scene keeps its row */
    channel_clear(&got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scene_is_id),
        cmocka_unit_test(test_scene_from_text),
        cmocka_unit_test(test_scene_from_json),
        cmocka_unit_test(test_scene_in_event_key),
        cmocka_unit_test(test_scene_check_perm),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_from_json),
        cmocka_unit_test(test_text_tidy),
        cmocka_unit_test_setup_teardown(test_table_tidies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conflict_in_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_many, setup, teardown),
        cmocka_unit_test(test_change_from_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
