/* The console's channel, configuration and QR code endpoints (see
 * admin_console.h); the promoter ones are in admin_promoter.c. */
#include "admin_console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "channel_import.h"
#include "csv.h"
#include "db.h"
#include "log.h"
#include "qr.h"
#include "qr_batch.h"
#include "qr_perm.h"
#include "tz.h"
#include "zipw.h"

#define ZIP_MAX_IDS      500
#define CONSOLE_QR_SCALE 8 /* pixels per module: `wxscene qr image`'s default */

/* ---- helpers ---- */

/* {"error": msg, "code": code, "field": field?} */
static json_t *err_json(const char *msg, const char *code, const char *field)
{
    return json_pack("{s:s, s:s, s:s?}", "error", msg, "code", code, "field", field);
}

static void reply_err(struct areq *r, int status, const char *msg, const char *code,
                      const char *field)
{
    admin_reply_json(r, status, err_json(msg, code, field));
}

static void job_err(struct ajob *j, int status, const char *msg, const char *code,
                    const char *field)
{
    admin_ajob_json(j, status, err_json(msg, code, field));
}

static char *query_copy(struct areq *r)
{
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
    return strdup(q ? q : "");
}

/* ---- GET /api/config ---- */

/* One language range of Accept-Language: its tag and q (1000 = 1.0). */
static int lang_q(const char *p, size_t n)
{
    const char *semi = memchr(p, ';', n);
    if (!semi)
        return 1000;
    const char *q = semi + 1;
    while (q < p + n && *q == ' ')
        q++;
    if (p + n - q < 3 || (q[0] != 'q' && q[0] != 'Q') || q[1] != '=')
        return 1000;
    q += 2;
    int v = 0, scale = 1000;
    if (*q == '1')
        return 1000;
    if (*q != '0')
        return 0;
    for (q++, q += q < p + n && *q == '.'; q < p + n && *q >= '0' && *q <= '9' && scale > 1; q++)
        scale /= 10, v += (*q - '0') * scale;
    return v;
}

const char *admin_console_lang(const char *h)
{
    int best = 0;
    bool zh = false;
    while (h && *h) {
        h += strspn(h, " ,");
        size_t n = strcspn(h, ",");
        size_t tag = strcspn(h, ";, ");
        int q = n ? lang_q(h, n) : 0;
        if (q > best) {
            best = q;
            zh = tag >= 2 && strncasecmp(h, "zh", 2) == 0 && (tag == 2 || h[2] == '-');
        }
        h += n;
    }
    return zh ? "zh-CN" : "en";
}

void admin_h_config(struct areq *r)
{
    const struct cfg *c = admin_cfg(r);
    const char *al =
        evhttp_find_header(evhttp_request_get_input_headers(r->req), "Accept-Language");
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Vary", "Accept-Language");
    admin_reply_json(r, 200,
                     json_pack("{s:s, s:s, s:I, s:s?, s:s}", "version", WXSCENE_VERSION, "timezone",
                               c->timezone, "retention_days", (json_int_t)c->retention_days,
                               "public_url", c->admin_public_url[0] ? c->admin_public_url : NULL,
                               "lang", admin_console_lang(al)));
}

/* ---- channels: template and import ---- */

static const char template_csv[] = CSV_BOM "场景值,名称,推广员,欢迎语,扫码回复,标签\r\n"
                                           "shop-001,门店一号,张伟,欢迎关注！,欢迎回来,门店\r\n";

void admin_h_template(struct areq *r)
{
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Disposition",
                      "attachment; filename=\"wxscene-channels-template.csv\"");
    admin_reply(r, 200, "text/csv; charset=utf-8", template_csv, sizeof(template_csv) - 1);
}

static json_t *import_errors_json(const struct channel_import *ci)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < channel_import_errors_listed(ci); i++) {
        const struct channel_import_error *e = channel_import_error(ci, i);
        if (json_array_append_new(a, json_pack("{s:I, s:s?, s:s, s:s}", "row", (json_int_t)e->row,
                                               "column", e->column, "message", e->message, "code",
                                               e->code)) < 0)
            return json_decref(a), NULL;
    }
    return a;
}

static void import_refused(struct ajob *j, const struct channel_import *ci)
{
    char msg[160];
    size_t n = channel_import_error_count(ci);
    snprintf(msg, sizeof(msg), "the file has %zu error%s: nothing imported", n, n == 1 ? "" : "s");
    admin_ajob_json(j, 400,
                    json_pack("{s:s, s:s, s:o, s:I, s:b}", "error", msg, "code", "import_invalid",
                              "errors", import_errors_json(ci), "error_count", (json_int_t)n,
                              "truncated", n > channel_import_errors_listed(ci)));
}

/* Whether the query string has NAME=1. */
bool admin_query_flag(const char *query, const char *name)
{
    struct evkeyvalq q = {0};
    bool on = false;
    if (query && evhttp_parse_query_str(query, &q) == 0) {
        const char *v = evhttp_find_header(&q, name);
        on = v && strcmp(v, "1") == 0;
    }
    evhttp_clear_headers(&q);
    return on;
}

static void run_import(struct ajob *j, struct store *st, struct stats *stats)
{
    struct channel_import *ci = NULL;
    bool dry = admin_query_flag(j->query, "dry_run");
    FILE *fp = NULL;
    (void)stats;
    if (!j->in.len)
        return job_err(j, 400, "empty body: send the CSV file", "csv_empty", NULL);
    if (channel_import_new(&ci, 0) < 0 || !(fp = fmemopen(j->in.data, j->in.len, "r"))) {
        job_err(j, 500, "out of memory", "internal", NULL);
        goto done;
    }
    uint64_t t0 = util_mono_us();
    int rc = channel_import_read(ci, fp);
    uint64_t t1 = util_mono_us();
    if (rc == 0)
        rc = dry ? channel_import_check(ci, st) : channel_import_write(ci, st);
    log_info("admin: import: %zu rows (%s) read in %.1f ms, %s in %.1f ms", channel_import_rows(ci),
             channel_import_encoding(ci), (double)(t1 - t0) / 1000.0,
             rc < 0 ? "refused"
             : dry  ? "checked"
                    : "written",
             (double)(util_mono_us() - t1) / 1000.0);
    if (rc < 0) {
        import_refused(j, ci);
    } else {
        const char *enc = channel_import_encoding(ci);
        admin_ajob_json(j, dry ? 200 : 201,
                        json_pack("{s:I, s:s, s:b, s:b}", "imported",
                                  (json_int_t)channel_import_rows(ci), "encoding",
                                  strcmp(enc, "GB18030") == 0 ? "GB18030" : "UTF-8", "bom",
                                  strcmp(enc, "UTF-8 with BOM") == 0, "dry_run", dry));
    }
done:
    if (fp)
        fclose(fp);
    channel_import_free(ci);
}

void admin_h_import(struct areq *r)
{
    char *q = query_copy(r);
    if (!q)
        return reply_err(r, 500, "out of memory", "internal", NULL);
    admin_ajob_submit_body(r, run_import, q);
}

/* ---- QR codes ---- */

#define CODE_COLUMNS                                                                               \
    "q.id, q.scene, q.kind, q.ticket, q.url, q.created_at, q.expire_seconds, q.expires_at, "       \
    "q.batch, c.name, c.promoter"
static const struct db_query q_codes = {
    "console.codes",
    "SELECT " CODE_COLUMNS " FROM qr_codes q LEFT JOIN channels c ON c.scene = q.scene "
    "WHERE q.state = 'done' AND (?1 = 0 OR (q.expires_at IS NOT NULL AND q.expires_at >= ?2 "
    "AND q.expires_at <= ?2 + ?1)) AND (CAST(?3 AS TEXT) IS NULL OR q.scene = ?3) "
    "ORDER BY q.id DESC LIMIT 10000"};
static const struct db_query q_code = {
    "console.code", "SELECT " CODE_COLUMNS " FROM qr_codes q LEFT JOIN channels c ON c.scene = "
                    "q.scene WHERE q.state = 'done' AND q.id = ?1"};

/* A code row as the console lists it. */
struct crow {
    int64_t id, created_at, expire_seconds, expires_at;
    const char *scene, *kind, *ticket, *url, *batch, *name, *promoter; /* the statement's */
};

static void crow_read(struct db_stmt *s, struct crow *c)
{
    *c = (struct crow){.id = db_col_int64(s, 0),
                       .scene = db_col_text(s, 1),
                       .kind = db_col_text(s, 2),
                       .ticket = db_col_text(s, 3),
                       .url = db_col_text(s, 4),
                       .created_at = db_col_int64(s, 5),
                       .expire_seconds = db_col_int64(s, 6),
                       .expires_at = db_col_int64(s, 7),
                       .batch = db_col_text(s, 8),
                       .name = db_col_text(s, 9),
                       .promoter = db_col_text(s, 10)};
}

static json_t *int_or_null(int64_t v, bool is)
{
    return is ? json_integer((json_int_t)v) : json_null();
}

static json_t *crow_json(const struct crow *c)
{
    bool temp = c->expires_at != 0;
    return json_pack("{s:I, s:s?, s:s?, s:s?, s:s?, s:I, s:o, s:o, s:s?, s:s?, s:s?}", "id",
                     (json_int_t)c->id, "scene", c->scene, "kind", c->kind, "ticket", c->ticket,
                     "url", c->url, "created_at", (json_int_t)c->created_at, "expire_seconds",
                     int_or_null(c->expire_seconds, temp), "expires_at",
                     int_or_null(c->expires_at, temp), "batch", c->batch, "channel_name", c->name,
                     "promoter", c->promoter);
}

static json_t *perm_json(struct store *st)
{
    struct qr_perm_usage u;
    char err[256];
    if (qr_perm_usage(store_db(st), &u, err, sizeof(err)) < 0)
        return NULL;
    return json_pack("{s:I, s:I, s:I, s:I, s:I}", "used", (json_int_t)(u.ids_used + u.str_codes),
                     "retired", (json_int_t)u.ids_retired, "free", (json_int_t)u.codes_left,
                     "str_codes", (json_int_t)u.str_codes, "total", (json_int_t)QR_PERM_ID_MAX);
}

/* ?expiring=DAYS (1..3650) and ?scene=X, checked on the worker. */
static int codes_params(struct ajob *j, struct evkeyvalq *q, int64_t *days, const char **scene)
{
    const char *e = evhttp_find_header(q, "expiring");
    uint64_t v = 0;
    *scene = evhttp_find_header(q, "scene");
    if (*scene && !**scene)
        *scene = NULL;
    if (e && *e && util_parse_u64(e, 1, 3650, &v) < 0)
        return job_err(j, 400, "expiring: not a number of days 1..3650", "expiring_range",
                       "expiring"),
               -1;
    *days = (int64_t)v;
    return 0;
}

static void run_codes_list(struct ajob *j, struct store *st, struct stats *stats)
{
    struct evkeyvalq q = {0};
    int64_t days;
    const char *scene;
    json_t *codes = json_array(), *out = NULL;
    (void)stats;
    if (evhttp_parse_query_str(j->query, &q) < 0) {
        job_err(j, 400, "the query string is malformed", "bad_query", NULL);
        goto done;
    }
    if (codes_params(j, &q, &days, &scene) < 0)
        goto done;
    struct db_stmt *s = db_stmt(store_db(st), &q_codes);
    db_bind_int64(s, 1, days * 86400);
    db_bind_int64(s, 2, util_now());
    db_bind_text(s, 3, scene);
    int rc = DB_DONE;
    while (codes && (rc = db_step(s)) == DB_ROW) {
        struct crow c;
        crow_read(s, &c);
        if (json_array_append_new(codes, crow_json(&c)) < 0)
            json_decref(codes), codes = NULL;
    }
    db_reset(s);
    if (codes && rc == DB_DONE) { /* "o" takes codes, also when packing fails */
        out = json_pack("{s:o, s:o}", "codes", codes, "perm", perm_json(st));
        codes = NULL;
    }
    if (!out) {
        log_warn("admin: qrcodes: %s", store_errmsg(st));
        job_err(j, 500, "cannot list the codes (see the server log)", "internal", NULL);
        goto done;
    }
    admin_ajob_json(j, 200, out);
done:
    json_decref(codes);
    evhttp_clear_headers(&q);
}

void admin_h_qrcodes_list(struct areq *r)
{
    char *q = query_copy(r);
    if (!q)
        return reply_err(r, 500, "out of memory", "internal", NULL);
    admin_ajob_submit(r, run_codes_list, q, NULL);
}

static void run_codes_perm(struct ajob *j, struct store *st, struct stats *stats)
{
    json_t *p = perm_json(st);
    (void)stats;
    if (!p)
        return job_err(j, 500, "cannot read the permanent ids (see the server log)", "internal",
                       NULL);
    admin_ajob_json(j, 200, p);
}

void admin_h_qrcodes_perm(struct areq *r)
{
    admin_ajob_submit(r, run_codes_perm, NULL, NULL);
}

/* One code by id: 0 (c filled from s, which stays open: db_reset after), 1
 * none, -1 error. */
static int code_get(struct store *st, int64_t id, struct db_stmt **out, struct crow *c)
{
    struct db_stmt *s = db_stmt(store_db(st), &q_code);
    db_bind_int64(s, 1, id);
    int rc = db_step(s);
    *out = s;
    if (rc == DB_ROW) {
        crow_read(s, c);
        return c->url && c->scene ? 0 : -1;
    }
    db_reset(s);
    return rc == DB_DONE ? 1 : -1;
}

static void code_not_found(struct ajob *j, int64_t id)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "QR code %lld does not exist", (long long)id);
    admin_ajob_json(j, 404,
                    json_pack("{s:s, s:s, s:s, s:{s:I}}", "error", msg, "code", "not_found",
                              "field", "id", "params", "id", (json_int_t)id));
}

/* The path's "{id}/image.png" or ".svg" and ?scale, read on the loop. */
struct image_ask {
    int64_t id;
    int scale;
    bool svg;
};

static int image_parse(struct areq *r, struct image_ask *a, char *err, size_t errlen)
{
    const char *seg = r->path + strlen("/api/qrcodes/");
    const char *slash = strchr(seg, '/');
    char num[24];
    uint64_t v;
    if (!slash || (size_t)(slash - seg) >= sizeof(num))
        return snprintf(err, errlen, "not found"), 1;
    memcpy(num, seg, (size_t)(slash - seg));
    num[slash - seg] = '\0';
    if (strcmp(slash, "/image.png") != 0 && strcmp(slash, "/image.svg") != 0)
        return snprintf(err, errlen, "not found"), 1;
    if (util_parse_u64(num, 1, INT64_MAX, &v) < 0)
        return snprintf(err, errlen, "id: '%.20s' is not a code id", num), -1;
    a->id = (int64_t)v;
    a->svg = strcmp(slash, "/image.svg") == 0;
    a->scale = CONSOLE_QR_SCALE;
    struct evkeyvalq q = {0};
    const char *qs = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
    int rc = 0;
    if (qs && evhttp_parse_query_str(qs, &q) < 0) {
        snprintf(err, errlen, "the query string is malformed");
        rc = -1;
    } else {
        const char *sc = evhttp_find_header(&q, "scale");
        if (sc && util_parse_u64(sc, 1, 64, &v) < 0) {
            snprintf(err, errlen, "scale: '%.20s' is not 1..64 pixels per module", sc);
            rc = -1;
        } else if (sc)
            a->scale = (int)v;
    }
    evhttp_clear_headers(&q);
    return rc;
}

static void run_code_image(struct ajob *j, struct store *st, struct stats *stats)
{
    struct image_ask a;
    struct db_stmt *s;
    struct crow c;
    char err[256], name[160];
    (void)stats;
    memcpy(&a, j->query, sizeof(a));
    int rc = code_get(st, a.id, &s, &c);
    if (rc == 1)
        return code_not_found(j, a.id);
    if (rc < 0)
        return job_err(j, 500, "cannot read the code (see the server log)", "internal", NULL);
    buf_reset(&j->out);
    rc = a.svg ? qr_svg_encode(c.url, a.scale, NULL, &j->out, err, sizeof(err))
               : qr_png_encode(c.url, a.scale, NULL, &j->out, err, sizeof(err));
    if (rc == 0 && qr_batch_image_name(c.scene, a.svg ? "svg" : "png", name, sizeof(name)) == 0) {
        j->status = 200;
        j->ctype = a.svg ? "image/svg+xml" : "image/png";
        snprintf(j->disposition, sizeof(j->disposition), "inline; filename=\"%s\"", name);
    } else {
        job_err(j, 500, "cannot render the code", "internal", NULL);
    }
    db_reset(s);
}

void admin_h_qrcode_image(struct areq *r)
{
    struct image_ask a;
    char err[160];
    int rc = image_parse(r, &a, err, sizeof(err));
    if (rc > 0)
        return reply_err(r, 404, "not found", "not_found", NULL);
    if (rc < 0)
        return reply_err(r, 400, err, strncmp(err, "scale", 5) == 0 ? "scale_range" : "id_invalid",
                         strncmp(err, "scale", 5) == 0 ? "scale" : "id");
    char *copy = malloc(sizeof(a));
    if (!copy)
        return reply_err(r, 500, "out of memory", "internal", NULL);
    memcpy(copy, &a, sizeof(a));
    admin_ajob_submit(r, run_code_image, copy, NULL);
}

/* ---- POST /api/qrcodes/zip ---- */

struct zipjob {
    struct buf idx;
    struct zipw *z;
    struct tz *tz;
    const char *zone;
    int64_t now;
    char **names;
    size_t nnames;
};

/* The image's name in the zip: qr batch's, made unique with the id when
 * two codes share a scene. */
static int zip_name(struct zipjob *zj, const struct crow *c, char *name, size_t len)
{
    if (qr_batch_image_name(c->scene, "png", name, len) < 0)
        return -1;
    for (size_t i = 0; i < zj->nnames; i++)
        if (strcmp(zj->names[i], name) == 0) {
            char base[256];
            int n = snprintf(base, sizeof(base), "%s", name);
            if (n < 0 || (size_t)n >= sizeof(base))
                return -1;
            n = snprintf(name, len, "%lld-%s", (long long)c->id, base);
            if (n < 0 || (size_t)n >= len)
                return -1;
        }
    char **nn = realloc(zj->names, (zj->nnames + 1) * sizeof(*nn));
    if (!nn)
        return -1;
    zj->names = nn;
    if (!(nn[zj->nnames] = strdup(name)))
        return -1;
    zj->nnames++;
    return 0;
}

/* qr batch's index.csv line for a code. */
static int zip_index_line(struct zipjob *zj, const struct crow *c, const char *image)
{
    char exp[24] = "", at[32] = "";
    bool temp = c->expires_at != 0;
    if (temp) {
        snprintf(exp, sizeof(exp), "%lld", (long long)c->expire_seconds);
        tz_format_time(zj->tz, c->expires_at, at, sizeof(at));
    }
    const char *vals[] = {
        c->scene, c->name ? c->name : "", c->promoter ? c->promoter : "", c->kind, exp,
        at,       temp ? zj->zone : "",   c->ticket ? c->ticket : "",     c->url,  image};
    for (size_t i = 0; i < WXS_ARRAY_LEN(vals); i++)
        if ((i && buf_puts(&zj->idx, ",") < 0) || csv_field(&zj->idx, vals[i] ? vals[i] : "") < 0)
            return -1;
    return buf_puts(&zj->idx, "\n");
}

/* One code into the zip: 0, 1 not found, -1 error. */
static int zip_one(struct zipjob *zj, struct store *st, int64_t id)
{
    struct db_stmt *s;
    struct crow c;
    struct buf png = {0};
    char err[256], name[200];
    int rc = code_get(st, id, &s, &c);
    if (rc != 0)
        return rc;
    rc =
        qr_png_encode(c.url, CONSOLE_QR_SCALE, NULL, &png, err, sizeof(err)) < 0 ||
                zip_name(zj, &c, name, sizeof(name)) < 0 ||
                zipw_add(zj->z, name, png.data, png.len, zj->now, tz_offset(zj->tz, zj->now)) < 0 ||
                zip_index_line(zj, &c, name) < 0
            ? -1
            : 0;
    db_reset(s);
    buf_free(&png);
    return rc;
}

static void zipjob_free(struct zipjob *zj)
{
    for (size_t i = 0; i < zj->nnames; i++)
        free(zj->names[i]);
    free(zj->names);
    zipw_free(zj->z);
    tz_free(zj->tz);
    buf_free(&zj->idx);
}

static void run_zip(struct ajob *j, struct store *st, struct stats *stats)
{
    struct zipjob zj = {.zone = j->cfg->timezone, .now = util_now()};
    json_t *ids = json_object_get(j->body, "ids"), *v;
    char err[256];
    size_t i;
    int rc = 0;
    (void)stats;
    buf_reset(&j->out);
    if (tz_load(&zj.tz, zj.zone, err, sizeof(err)) < 0 || zipw_new(&zj.z, &j->out) < 0 ||
        buf_puts(&zj.idx, CSV_BOM "scene,name,promoter,kind,expire_seconds,expires_at,time_zone,"
                                  "ticket,url,image\n") < 0) {
        job_err(j, 500, "cannot start the zip", "internal", NULL);
        goto done;
    }
    json_array_foreach(ids, i, v)
    {
        if ((rc = zip_one(&zj, st, (int64_t)json_integer_value(v))) != 0)
            break;
    }
    if (rc == 1) {
        code_not_found(j, (int64_t)json_integer_value(v));
    } else if (rc < 0 ||
               zipw_add(zj.z, "index.csv", zj.idx.data, zj.idx.len, zj.now,
                        tz_offset(zj.tz, zj.now)) < 0 ||
               zipw_finish(zj.z) < 0) {
        job_err(j, 500, "cannot build the zip (see the server log)", "internal", NULL);
    } else {
        j->status = 200;
        j->ctype = "application/zip";
        snprintf(j->disposition, sizeof(j->disposition),
                 "attachment; filename=\"wxscene-qrcodes.zip\"");
    }
done:
    zipjob_free(&zj);
}

/* {"ids": [1..500 positive integers]}, checked on the loop. */
static int zip_body_check(json_t *body, char *err, size_t errlen)
{
    json_t *ids = json_object_get(body, "ids"), *v;
    size_t i;
    if (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > ZIP_MAX_IDS ||
        json_object_size(body) != 1)
        return snprintf(err, errlen, "ids: send {\"ids\": [...]}, 1..%d code ids", ZIP_MAX_IDS), -1;
    json_array_foreach(ids, i, v)
    {
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return snprintf(err, errlen, "ids: item %zu is not a code id", i + 1), -1;
    }
    return 0;
}

void admin_h_qrcodes_zip(struct areq *r)
{
    char err[256];
    json_t *body = admin_read_json(r, err, sizeof(err));
    if (!body)
        return reply_err(r, 400, err, "bad_json", NULL);
    if (zip_body_check(body, err, sizeof(err)) < 0) {
        json_decref(body);
        return admin_reply_json(r, 400,
                                json_pack("{s:s, s:s, s:s, s:{s:i}}", "error", err, "code",
                                          "ids_invalid", "field", "ids", "params", "max",
                                          ZIP_MAX_IDS));
    }
    admin_ajob_submit(r, run_zip, NULL, body);
}
