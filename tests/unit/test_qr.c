/* qr's pure parts: the validation table of the four kinds, lifetimes as
 * operators write them, batch image names, the admin API's JSON request,
 * and the image encoders; and the permanent-id ledger (qr_perm.h) on a
 * real database file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qr.h"
#include "qr_batch.h"
#include "qr_perm.h"

#define S65 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define S64 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

/* Each request, and the kind it validates to or the field that is wrong. */
static const struct vcase {
    const char *scene;
    bool temporary;
    int64_t expire;
    bool force_str;
    bool allocate;
    int rc;            /* 0 or QR_EINVALID */
    enum qr_kind kind; /* rc == 0 */
    uint64_t id;       /* rc == 0, *_ID kinds */
    const char *field; /* rc != 0 */
} vcases[] = {
    {"1", true, 60, false, false, 0, QR_TEMP_ID, 1, NULL},
    {"4294967295", true, 2592000, false, false, 0, QR_TEMP_ID, 4294967295u, NULL},
    {"4294967296", true, 60, false, false, QR_EINVALID, 0, 0, "scene"},
    {"99999999999999999999999", true, 60, false, false, QR_EINVALID, 0, 0, "scene"},
    {"4294967296", true, 60, true, false, 0, QR_TEMP_STR, 0, NULL},
    {"100000", false, 0, false, false, 0, QR_PERM_ID, 100000, NULL},
    {"100001", false, 0, false, false, QR_EINVALID, 0, 0, "scene"},
    {"1", false, 0, false, false, 0, QR_PERM_ID, 1, NULL},
    {"0", true, 60, false, false, 0, QR_TEMP_STR, 0, NULL},   /* not id spelling: a string */
    {"007", false, 0, false, false, 0, QR_PERM_STR, 0, NULL}, /* leading zero: a string */
    {"42", false, 0, true, false, 0, QR_PERM_STR, 0, NULL},
    {"shop-1", true, 60, false, false, 0, QR_TEMP_STR, 0, NULL},
    {S64, false, 0, false, false, 0, QR_PERM_STR, 0, NULL},
    {S65, false, 0, false, false, QR_EINVALID, 0, 0, "scene"},
    {"", true, 60, false, false, QR_EINVALID, 0, 0, "scene"},
    {NULL, true, 60, false, false, QR_EINVALID, 0, 0, "scene"},
    {"a b", true, 60, false, false, QR_EINVALID, 0, 0, "scene"},
    {"a\tb", true, 60, false, false, QR_EINVALID, 0, 0, "scene"},
    {"\xff\xfe", true, 60, false, false, QR_EINVALID, 0, 0, "scene"},
    {"\xe9\x97\xa8\xe5\xba\x97", true, 60, false, false, 0, QR_TEMP_STR, 0, NULL},
    {"1", true, 0, false, false, QR_EINVALID, 0, 0, "expire_seconds"},
    {"1", true, -1, false, false, QR_EINVALID, 0, 0, "expire_seconds"},
    {"1", true, 2592001, false, false, QR_EINVALID, 0, 0, "expire_seconds"},
    {"1", false, 60, false, false, QR_EINVALID, 0, 0, "expire_seconds"},
    {NULL, false, 0, false, true, 0, QR_PERM_ID, 0, NULL},
    {"", false, 0, false, true, 0, QR_PERM_ID, 0, NULL},
    {"5", false, 0, false, true, QR_EINVALID, 0, 0, "scene"},
    {NULL, true, 60, false, true, QR_EINVALID, 0, 0, "scene"},
    {NULL, false, 0, true, true, QR_EINVALID, 0, 0, "scene"},
};

static void test_validation_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < WXS_ARRAY_LEN(vcases); i++) {
        const struct vcase *c = &vcases[i];
        struct qr_request rq = {.scene = c->scene,
                                .temporary = c->temporary,
                                .expire_seconds = c->expire,
                                .force_str = c->force_str,
                                .allocate = c->allocate};
        struct qr_spec spec;
        struct qr_error e = {0};
        int rc = qr_validate(&rq, &spec, &e);
        if (rc != c->rc)
            fail_msg("case %zu (%s): rc %d want %d: %s", i, c->scene ? c->scene : "NULL", rc, c->rc,
                     e.msg);
        if (rc == 0) {
            assert_int_equal(spec.kind, c->kind);
            assert_true(spec.scene_id == c->id);
            assert_int_equal(spec.expire_seconds, c->temporary ? c->expire : 0);
            if (!c->allocate)
                assert_string_equal(spec.scene, c->scene);
        } else {
            assert_non_null(e.field);
            assert_string_equal(e.field, c->field);
            assert_true(e.msg[0] != '\0');
        }
    }
}

static void test_parse_expire(void **state)
{
    static const struct {
        const char *in;
        int64_t out; /* -1 = rejected */
    } cases[] = {
        {"60", 60},     {"1", 1},       {"2592000", 2592000}, {"30d", 2592000},
        {"7d", 604800}, {"12h", 43200}, {"90m", 5400},        {"45s", 45},
        {"0", -1},      {"31d", -1},    {"2592001", -1},      {"", -1},
        {"d", -1},      {"-5", -1},     {"5x", -1},           {" 5", -1},
        {"5 ", -1},     {"1.5h", -1},   {"720h", 2592000},    {"721h", -1},
    };
    (void)state;
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        int64_t v = 0;
        int rc = qr_parse_expire(cases[i].in, &v);
        if (cases[i].out < 0 ? rc == 0 : (rc != 0 || v != cases[i].out))
            fail_msg("\"%s\": rc %d value %lld", cases[i].in, rc, (long long)v);
    }
}

static void test_kind_names(void **state)
{
    enum qr_kind k;
    (void)state;
    for (int i = QR_TEMP_ID; i <= QR_PERM_STR; i++) {
        assert_int_equal(qr_kind_parse(qr_kind_name((enum qr_kind)i), &k), 0);
        assert_int_equal(k, i);
    }
    assert_int_equal(qr_kind_parse("temp", &k), -1);
    assert_true(qr_kind_is_temp(QR_TEMP_STR));
    assert_false(qr_kind_is_temp(QR_PERM_ID));
}

static void test_image_names(void **state)
{
    char a[128], b[128];
    (void)state;
    assert_int_equal(qr_batch_image_name("shop-42_a.b", "png", a, sizeof(a)), 0);
    assert_string_equal(a, "shop-42_a.b.png");
    /* unsafe bytes are replaced, and a hash keeps distinct scenes apart */
    assert_int_equal(qr_batch_image_name("a/b", "png", a, sizeof(a)), 0);
    assert_int_equal(qr_batch_image_name("a:b", "png", b, sizeof(b)), 0);
    assert_null(strchr(a, '/'));
    assert_string_not_equal(a, b);
    assert_int_equal(strncmp(a, "a_b-", 4), 0);
    assert_int_equal(qr_batch_image_name("..", "svg", a, sizeof(a)), 0);
    assert_true(a[0] != '.');
    assert_int_equal(qr_batch_image_name(".hidden", "png", a, sizeof(a)), 0);
    assert_true(a[0] != '.');
    assert_int_equal(qr_batch_image_name("x", "png", a, 4), -1);
}

static void test_request_from_json(void **state)
{
    static const struct {
        const char *json;
        int rc;
        const char *field;
    } cases[] = {
        {"{\"scene\":\"42\",\"kind\":\"temp\",\"expire_seconds\":600}", 0, NULL},
        {"{\"scene\":42,\"kind\":\"perm\"}", 0, NULL},
        {"{\"kind\":\"perm\",\"allocate\":true,\"name\":\"A\"}", 0, NULL},
        {"{\"scene\":\"42\",\"kind\":\"weekly\"}", QR_EINVALID, "kind"},
        {"{\"scene\":\"42\"}", QR_EINVALID, "kind"},
        {"{\"scene\":true,\"kind\":\"perm\"}", QR_EINVALID, "scene"},
        {"{\"scene\":-3,\"kind\":\"perm\"}", QR_EINVALID, "scene"},
        {"{\"scene\":\"1\",\"kind\":\"temp\",\"expire_seconds\":\"60\"}", QR_EINVALID,
         "expire_seconds"},
        {"{\"scene\":\"1\",\"kind\":\"perm\",\"str\":1}", QR_EINVALID, "str"},
        {"{\"scene\":\"1\",\"kind\":\"perm\",\"name\":5}", QR_EINVALID, "name"},
        {"[1]", QR_EINVALID, NULL},
    };
    (void)state;
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        json_t *o = json_loads(cases[i].json, 0, NULL);
        struct qr_request rq;
        struct qr_error e = {0};
        assert_non_null(o);
        int rc = qr_request_from_json(o, &rq, &e);
        if (rc != cases[i].rc)
            fail_msg("case %zu: rc %d (%s)", i, rc, e.msg);
        if (rc != 0 && cases[i].field)
            assert_string_equal(e.field, cases[i].field);
        if (i == 1) {
            assert_string_equal(rq.scene, "42");
            assert_false(rq.temporary);
        }
        json_decref(o);
    }
}

static void test_code_to_json(void **state)
{
    struct qr_code c = {.id = 3,
                        .scene = "42",
                        .kind = QR_PERM_ID,
                        .ticket = "t+/=",
                        .url = "http://weixin.qq.com/q/x",
                        .created_at = 100};
    (void)state;
    json_t *o = qr_code_to_json(&c);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "kind")), "perm_id");
    assert_true(json_is_null(json_object_get(o, "expires_at")));
    assert_true(json_is_null(json_object_get(o, "expire_seconds")));
    json_decref(o);
    c.kind = QR_TEMP_STR;
    c.expire_seconds = 60;
    c.expires_at = 160;
    o = qr_code_to_json(&c);
    assert_int_equal(json_integer_value(json_object_get(o, "expires_at")), 160);
    json_decref(o);
}

static void test_png_and_svg(void **state)
{
    struct buf png = {0}, svg = {0};
    char err[128];
    (void)state;
    assert_int_equal(qr_png_encode("http://weixin.qq.com/q/abc", 4, NULL, &png, err, sizeof(err)),
                     0);
    assert_true(png.len > 8);
    assert_memory_equal(png.data, "\x89PNG\r\n\x1a\n", 8);
    assert_int_equal(qr_png_encode("x", 0, NULL, &png, err, sizeof(err)), -1);
    assert_int_equal(qr_svg_encode("http://weixin.qq.com/q/abc", 4, NULL, &svg, err, sizeof(err)),
                     0);
    assert_non_null(strstr(svg.data, "<svg"));
    assert_non_null(strstr(svg.data, "M4 4h1v1h-1z")); /* finder pattern corner past the border */
    buf_free(&png);
    buf_free(&svg);
}

/* The logo's box for every QR version and a few scales: centred on the
 * module grid, an odd number of modules, within QR_LOGO_SHARE of the side
 * (so well under level H's 30 % budget), clear of the finder patterns and
 * their separators, and the logo's pixels inside it with a white pad. */
static void test_logo_box_bounds(void **state)
{
    static const int scales[] = {2, 3, 4, 8, 64};
    (void)state;
    for (int v = 1; v <= 40; v++) {
        int w = 17 + 4 * v;
        for (size_t i = 0; i < sizeof(scales) / sizeof(scales[0]); i++) {
            int s = scales[i];
            struct qr_logo_box b;
            assert_int_equal(qr_logo_box(w, s, &b), 0);
            assert_int_equal(b.mod_side % 2, 1);
            assert_true(b.mod_side >= 3);
            assert_true(b.mod_side <= w * QR_LOGO_SHARE);
            assert_true((double)b.mod_side * b.mod_side / ((double)w * w) < 0.06);
            assert_int_equal(2 * b.mod_x + b.mod_side, w);
            assert_true(b.mod_x >= 8 && b.mod_x + b.mod_side <= w - 8);
            assert_int_equal(2 * b.px_x + b.px_side, w * s);
            assert_true(b.px_x >= b.mod_x * s + 1);
            assert_true(b.px_x + b.px_side <= (b.mod_x + b.mod_side) * s - 1);
        }
    }
    struct qr_logo_box b;
    assert_int_equal(qr_logo_box(19, 8, &b), -1);
    assert_int_equal(qr_logo_box(37, 0, &b), -1);
}

/* A half-transparent blue logo composited over white lands exactly in its
 * square; the rest of the box is white; outside it only modules. */
static void test_logo_compositing(void **state)
{
    char path[] = "/tmp/wxs-logo-XXXXXX", err[256];
    unsigned char px[4 * 4 * 4];
    struct qr_logo *logo = NULL;
    struct buf out = {0};
    png_image im;
    (void)state;
    for (size_t i = 0; i < sizeof(px); i += 4)
        memcpy(px + i, "\x00\x00\xff\x80", 4);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    memset(&im, 0, sizeof(im));
    im.version = PNG_IMAGE_VERSION;
    im.width = im.height = 4;
    im.format = PNG_FORMAT_RGBA;
    assert_true(png_image_write_to_file(&im, path, 0, px, 0, NULL));
    assert_int_equal(qr_logo_load(path, &logo, err, sizeof(err)), 0);
    unlink(path);
    const int scale = 4, quiet = 4;
    assert_int_equal(
        qr_png_encode("http://weixin.qq.com/q/abc", scale, logo, &out, err, sizeof(err)), 0);
    assert_int_equal(qr_png_encode("x", 1, logo, &out, err, sizeof(err)), -1); /* below min */
    assert_non_null(strstr(err, "with a logo"));
    memset(&im, 0, sizeof(im));
    im.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_memory(&im, out.data, out.len));
    im.format = PNG_FORMAT_RGB;
    unsigned char *rgb = malloc(PNG_IMAGE_SIZE(im));
    assert_non_null(rgb);
    assert_true(png_image_finish_read(&im, NULL, rgb, 0, NULL));
    int n = (int)im.width, w = n / scale - 2 * quiet;
    assert_true(w >= 17 + 4 * QR_LOGO_MIN_VERSION);
    struct qr_logo_box b;
    assert_int_equal(qr_logo_box(w, scale, &b), 0);
    int lo = (quiet + b.mod_x) * scale, hi = lo + b.mod_side * scale;
    int l0 = quiet * scale + b.px_x, l1 = l0 + b.px_side;
    for (int y = 0; y < n; y++) {
        for (int x = 0; x < n; x++) {
            const unsigned char *p = rgb + ((size_t)y * (size_t)n + (size_t)x) * 3;
            if (x >= l0 && x < l1 && y >= l0 && y < l1) {
                assert_true(p[0] == 127 && p[1] == 127 && p[2] == 255); /* 50 % over white */
            } else if (x >= lo && x < hi && y >= lo && y < hi) {
                assert_true(p[0] == 255 && p[1] == 255 && p[2] == 255);
            } else {
                assert_true(p[0] == p[1] && p[1] == p[2] && (p[0] == 0 || p[0] == 255));
            }
        }
    }
    free(rgb);
    buf_free(&out);
    qr_logo_free(logo);
}

static void test_image_format(void **state)
{
    enum qr_image_format f;
    (void)state;
    assert_int_equal(qr_image_format_of("a/b.PNG", &f), 0);
    assert_int_equal(f, QR_IMG_PNG);
    assert_int_equal(qr_image_format_of("b.svg", &f), 0);
    assert_int_equal(f, QR_IMG_SVG);
    assert_int_equal(qr_image_format_of("b.jpeg", &f), 0);
    assert_int_equal(f, QR_IMG_JPG);
    assert_int_equal(qr_image_format_of("b.gif", &f), -1);
    assert_int_equal(qr_image_format_of("png", &f), -1);
}

static void perm_ok(int rc, const char *err)
{
    if (rc != 0)
        fail_msg("rc %d: %s", rc, err);
}

/* Every ledger move, with the refusals named, and a database failure that
 * keeps SQLite's own words. */
static void test_perm_ledger(void **state)
{
    char dir[] = "/tmp/wxs-qrperm-XXXXXX", path[64], err[512] = "";
    struct store *st = NULL;
    struct qr_perm_usage u;
    enum qr_perm_state ps;
    uint64_t next, retired;
    bool ins;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/q.db", dir);
    if (store_open(&st, path, STORE_SYNC_NORMAL, err, sizeof(err)) < 0)
        fail_msg("store_open: %s", err);
    struct db *db = store_db(st);
    perm_ok(qr_perm_next_free(db, &next, err, sizeof(err)), err);
    assert_int_equal(next, 1);
    perm_ok(qr_perm_reserve(db, 1, &ins, err, sizeof(err)), err);
    assert_true(ins);
    perm_ok(qr_perm_reserve(db, 1, &ins, err, sizeof(err)), err);
    assert_false(ins); /* held already: not ours to give back */
    assert_int_equal(db_exec(db, "INSERT INTO channels(scene, name, created_at) "
                                 "VALUES('2', 'live', 1)"),
                     0);
    perm_ok(qr_perm_next_free(db, &next, err, sizeof(err)), err);
    assert_int_equal(next, 3); /* 2 is a live channel's scene */
    perm_ok(qr_perm_retire(db, "1", &retired, err, sizeof(err)), err);
    assert_int_equal(retired, 1);
    perm_ok(qr_perm_retire(db, "shop", &retired, err, sizeof(err)), err);
    assert_int_equal(retired, 0);
    assert_int_equal(qr_perm_reserve(db, 1, &ins, err, sizeof(err)), QR_PERM_ECONFLICT);
    assert_non_null(strstr(err, "--release 1"));
    perm_ok(qr_perm_reserve(db, 3, &ins, err, sizeof(err)), err);
    perm_ok(qr_perm_usage(db, &u, err, sizeof(err)), err);
    assert_int_equal(u.ids_used, 1);
    assert_int_equal(u.ids_retired, 1);
    assert_int_equal(u.codes_left, QR_PERM_ID_MAX - 2);
    assert_int_equal(qr_perm_release(db, 3, err, sizeof(err)), QR_PERM_ECONFLICT);
    assert_non_null(strstr(err, "archive its channel first"));
    assert_int_equal(qr_perm_release(db, 9, err, sizeof(err)), QR_PERM_EINVALID);
    assert_non_null(strstr(err, "already free"));
    perm_ok(qr_perm_release(db, 1, err, sizeof(err)), err);
    perm_ok(qr_perm_state(db, 1, &ps, err, sizeof(err)), err);
    assert_int_equal(ps, QR_PERM_FREE);
    perm_ok(qr_perm_unreserve(db, 3, err, sizeof(err)), err);
    perm_ok(qr_perm_state(db, 3, &ps, err, sizeof(err)), err);
    assert_int_equal(ps, QR_PERM_FREE);
    assert_int_equal(db_exec(db, "DROP TABLE qr_perm_ids"), 0);
    assert_int_equal(qr_perm_reserve(db, 4, &ins, err, sizeof(err)), QR_PERM_EDB);
    if (!strstr(err, "reserving permanent scene_id 4: no such table: qr_perm_ids"))
        fail_msg("err: %s", err);
    store_close(st);
    static const char *const files[] = {"q.db", "q.db-wal", "q.db-shm"};
    for (size_t i = 0; i < WXS_ARRAY_LEN(files); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation_table),  cmocka_unit_test(test_parse_expire),
        cmocka_unit_test(test_kind_names),        cmocka_unit_test(test_image_names),
        cmocka_unit_test(test_request_from_json), cmocka_unit_test(test_code_to_json),
        cmocka_unit_test(test_png_and_svg),       cmocka_unit_test(test_image_format),
        cmocka_unit_test(test_perm_ledger),       cmocka_unit_test(test_logo_box_bounds),
        cmocka_unit_test(test_logo_compositing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
