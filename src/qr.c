#include "db_sqlite.h"
#include "qr.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qr_internal.h"

static const char *const kind_names[] = {
    [QR_TEMP_ID] = "temp_id",
    [QR_TEMP_STR] = "temp_str",
    [QR_PERM_ID] = "perm_id",
    [QR_PERM_STR] = "perm_str",
};

/* The API's action_name for each kind. */
static const char *const kind_actions[] = {
    [QR_TEMP_ID] = "QR_SCENE",
    [QR_TEMP_STR] = "QR_STR_SCENE",
    [QR_PERM_ID] = "QR_LIMIT_SCENE",
    [QR_PERM_STR] = "QR_LIMIT_STR_SCENE",
};

const char *qr_kind_name(enum qr_kind k)
{
    return kind_names[k];
}

int qr_kind_parse(const char *s, enum qr_kind *out)
{
    for (size_t i = 0; i < WXS_ARRAY_LEN(kind_names); i++) {
        if (strcmp(s, kind_names[i]) == 0) {
            *out = (enum qr_kind)i;
            return 0;
        }
    }
    return -1;
}

bool qr_kind_is_temp(enum qr_kind k)
{
    return k == QR_TEMP_ID || k == QR_TEMP_STR;
}

int qr_fail(struct qr_error *err, int rc, const char *field, const char *fmt, ...)
{
    va_list ap;
    err->rc = rc;
    err->field = field;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return rc;
}

int qr_db_fail(struct store *st, struct qr_error *err)
{
    return qr_fail(err, QR_EINTERNAL, NULL, "database: %s", store_errmsg(st));
}

sqlite3_stmt *qr_prep(struct store *st, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db_sqlite_handle(store_db(st)), sql, -1, &s, NULL) != SQLITE_OK)
        return NULL;
    return s;
}

int qr_exec(sqlite3_stmt *s)
{
    int rc = s ? sqlite3_step(s) : SQLITE_ERROR;
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- validation ---- */

/* ASCII digits without a leading zero: the CONTRACT's scene_id spelling. */
static bool scene_is_id_text(const char *s)
{
    if (s[0] < '1' || s[0] > '9')
        return false;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

static int check_scene_text(const char *scene, struct qr_error *err)
{
    size_t n = scene ? strlen(scene) : 0;
    if (n == 0)
        return qr_fail(err, QR_EINVALID, "scene", "scene is empty");
    if (n > QR_SCENE_STR_MAX)
        return qr_fail(err, QR_EINVALID, "scene",
                       "scene is %zu bytes; a scene_str must be 1..%d bytes", n, QR_SCENE_STR_MAX);
    if (!util_utf8_valid(scene, n))
        return qr_fail(err, QR_EINVALID, "scene", "scene is not valid UTF-8");
    for (const unsigned char *p = (const unsigned char *)scene; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return qr_fail(err, QR_EINVALID, "scene",
                           "scene contains a blank or control character (byte %zu)",
                           (size_t)(p - (const unsigned char *)scene) + 1);
    return 0;
}

/* A numeric scene within its kind's range. */
static int check_scene_id(const char *scene, bool temporary, uint64_t *id, struct qr_error *err)
{
    uint64_t max = temporary ? QR_TEMP_ID_MAX : QR_PERM_ID_MAX;
    if (util_parse_u64(scene, 1, max, id) == 0)
        return 0;
    return qr_fail(err, QR_EINVALID, "scene",
                   "scene_id %s is out of range for a %s code: 1..%llu (use --str for a "
                   "scene_str)",
                   scene, temporary ? "temporary" : "permanent", (unsigned long long)max);
}

static int check_expiry(const struct qr_request *rq, struct qr_error *err)
{
    if (!rq->temporary && rq->expire_seconds != 0)
        return qr_fail(err, QR_EINVALID, "expire_seconds", "a permanent code has no expiry");
    if (rq->temporary && (rq->expire_seconds < 1 || rq->expire_seconds > QR_EXPIRE_MAX))
        return qr_fail(err, QR_EINVALID, "expire_seconds",
                       "expire_seconds %lld is out of range 1..%d (30 days)",
                       (long long)rq->expire_seconds, QR_EXPIRE_MAX);
    return 0;
}

static int check_allocation(const struct qr_request *rq, struct qr_error *err)
{
    if (rq->temporary)
        return qr_fail(err, QR_EINVALID, "scene", "only permanent scene ids are allocated");
    if (rq->force_str)
        return qr_fail(err, QR_EINVALID, "scene", "allocation gives a scene_id, not a scene_str");
    if (rq->scene && rq->scene[0])
        return qr_fail(err, QR_EINVALID, "scene", "give a scene or ask for allocation, not both");
    return 0;
}

int qr_validate(const struct qr_request *rq, struct qr_spec *out, struct qr_error *err)
{
    memset(out, 0, sizeof(*out));
    if (check_expiry(rq, err) < 0)
        return err->rc;
    out->expire_seconds = rq->temporary ? rq->expire_seconds : 0;
    if (rq->allocate) {
        out->kind = QR_PERM_ID;
        return check_allocation(rq, err) < 0 ? err->rc : 0;
    }
    if (check_scene_text(rq->scene, err) < 0)
        return err->rc;
    bool numeric = !rq->force_str && scene_is_id_text(rq->scene);
    if (numeric && check_scene_id(rq->scene, rq->temporary, &out->scene_id, err) < 0)
        return err->rc;
    out->kind = numeric ? (rq->temporary ? QR_TEMP_ID : QR_PERM_ID)
                        : (rq->temporary ? QR_TEMP_STR : QR_PERM_STR);
    util_strlcpy(out->scene, rq->scene, sizeof(out->scene));
    return 0;
}

int qr_parse_expire(const char *s, int64_t *out)
{
    static const struct {
        char suffix;
        uint64_t mult;
    } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
    char num[24];
    size_t n = strlen(s);
    uint64_t mult = 1, v;
    if (n == 0 || n >= sizeof(num))
        return -1;
    memcpy(num, s, n + 1);
    for (size_t i = 0; i < WXS_ARRAY_LEN(units); i++) {
        if (num[n - 1] == units[i].suffix) {
            mult = units[i].mult;
            num[n - 1] = '\0';
        }
    }
    if (util_parse_u64(num, 1, QR_EXPIRE_MAX, &v) < 0 || v * mult > QR_EXPIRE_MAX)
        return -1;
    *out = (int64_t)(v * mult);
    return 0;
}

/* ---- rows ---- */

void qr_code_clear(struct qr_code *c)
{
    free(c->scene);
    free(c->ticket);
    free(c->url);
    free(c->batch);
    memset(c, 0, sizeof(*c));
}

/* Columns as QR_CODE_COLUMNS lists them. */
int qr_code_from_row(sqlite3_stmt *s, struct qr_code *c)
{
    memset(c, 0, sizeof(*c));
    c->id = sqlite3_column_int64(s, 0);
    c->scene = store_col_strdup(s, 1);
    if (qr_kind_parse((const char *)sqlite3_column_text(s, 2), &c->kind) < 0)
        c->kind = QR_TEMP_ID;
    c->expire_seconds = sqlite3_column_int64(s, 3);
    c->ticket = store_col_strdup(s, 4);
    c->url = store_col_strdup(s, 5);
    c->created_at = sqlite3_column_int64(s, 6);
    c->expires_at = sqlite3_column_int64(s, 7);
    c->batch = store_col_strdup(s, 8);
    c->attempts = sqlite3_column_int(s, 9);
    if (!c->scene || (sqlite3_column_type(s, 4) != SQLITE_NULL && !c->ticket) ||
        (sqlite3_column_type(s, 5) != SQLITE_NULL && !c->url)) {
        qr_code_clear(c);
        return -1;
    }
    return 0;
}

/* Load the one row s selects: 0 found, 1 none, -1 error. Finalizes s. */
int qr_code_load(sqlite3_stmt *s, struct qr_code *out)
{
    int rc = s ? sqlite3_step(s) : SQLITE_ERROR;
    int ret = rc == SQLITE_ROW ? qr_code_from_row(s, out) : rc == SQLITE_DONE ? 1 : -1;
    sqlite3_finalize(s);
    return ret;
}

int qr_code_by_id(struct store *st, int64_t id, struct qr_code *out)
{
    sqlite3_stmt *s = qr_prep(st, "SELECT " QR_CODE_COLUMNS " FROM qr_codes WHERE id = ?1");
    if (s)
        sqlite3_bind_int64(s, 1, id);
    return qr_code_load(s, out);
}

int qr_code_latest(struct store *st, const char *scene, struct qr_code *out)
{
    sqlite3_stmt *s = qr_prep(st, "SELECT " QR_CODE_COLUMNS " FROM qr_codes WHERE scene = ?1 "
                                  "AND state = 'done' ORDER BY id DESC LIMIT 1");
    if (s)
        sqlite3_bind_text(s, 1, scene, -1, SQLITE_TRANSIENT);
    return qr_code_load(s, out);
}

static sqlite3_stmt *foreach_stmt(struct store *st, const struct qr_filter *f)
{
    sqlite3_stmt *s;
    if (f->expiring_within > 0 || f->include_expired) {
        s = qr_prep(st, "SELECT " QR_CODE_COLUMNS " FROM qr_codes WHERE state = 'done' "
                        "AND expires_at IS NOT NULL AND (?1 OR expires_at >= ?2) "
                        "AND (?3 = 0 OR expires_at <= ?2 + ?3) "
                        "AND (?4 IS NULL OR batch = ?4) ORDER BY expires_at, id");
    } else {
        s = qr_prep(st, "SELECT " QR_CODE_COLUMNS " FROM qr_codes WHERE state = 'done' "
                        "AND (?4 IS NULL OR batch = ?4) ORDER BY id");
    }
    if (!s)
        return NULL;
    sqlite3_bind_int(s, 1, f->include_expired);
    sqlite3_bind_int64(s, 2, util_now());
    sqlite3_bind_int64(s, 3, f->expiring_within);
    if (f->batch)
        sqlite3_bind_text(s, 4, f->batch, -1, SQLITE_TRANSIENT);
    return s;
}

int qr_foreach(struct store *st, const struct qr_filter *f,
               int (*fn)(const struct qr_code *c, void *arg), void *arg)
{
    sqlite3_stmt *s = foreach_stmt(st, f);
    int rc = s ? 0 : -1;
    while (rc == 0) {
        int step = sqlite3_step(s);
        if (step == SQLITE_DONE)
            break;
        struct qr_code c;
        if (step != SQLITE_ROW || qr_code_from_row(s, &c) < 0) {
            rc = -1;
            break;
        }
        rc = fn(&c, arg);
        qr_code_clear(&c);
    }
    sqlite3_finalize(s);
    return rc;
}

/* ---- JSON (admin API) ---- */

static int json_scene(json_t *v, struct qr_request *rq, struct qr_error *err)
{
    if (json_is_string(v)) {
        rq->scene = json_string_value(v);
        return 0;
    }
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        snprintf(rq->scene_buf, sizeof(rq->scene_buf), "%lld", (long long)json_integer_value(v));
        rq->scene = rq->scene_buf;
        return 0;
    }
    return qr_fail(err, QR_EINVALID, "scene", "scene must be a string or a positive integer");
}

static int json_opt_string(json_t *obj, const char *key, const char **out, struct qr_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return qr_fail(err, QR_EINVALID, key, "%s must be a string", key);
    *out = json_string_value(v);
    return 0;
}

static int json_kind(json_t *obj, struct qr_request *rq, struct qr_error *err)
{
    const char *kind = NULL;
    json_t *exp = json_object_get(obj, "expire_seconds");
    if (json_opt_string(obj, "kind", &kind, err) < 0)
        return err->rc;
    if (!kind || (strcmp(kind, "temp") != 0 && strcmp(kind, "perm") != 0))
        return qr_fail(err, QR_EINVALID, "kind", "kind must be \"temp\" or \"perm\"");
    rq->temporary = strcmp(kind, "temp") == 0;
    if (exp && !json_is_null(exp) && !json_is_integer(exp))
        return qr_fail(err, QR_EINVALID, "expire_seconds", "expire_seconds must be an integer");
    rq->expire_seconds = exp ? (int64_t)json_integer_value(exp) : 0;
    return 0;
}

int qr_request_from_json(json_t *obj, struct qr_request *rq, struct qr_error *err)
{
    json_t *v;
    memset(rq, 0, sizeof(*rq));
    if (!json_is_object(obj))
        return qr_fail(err, QR_EINVALID, NULL, "the body must be a JSON object");
    if (json_kind(obj, rq, err) < 0)
        return err->rc;
    if ((v = json_object_get(obj, "str")) && !json_is_boolean(v))
        return qr_fail(err, QR_EINVALID, "str", "str must be true or false");
    rq->force_str = v && json_is_true(v);
    if ((v = json_object_get(obj, "allocate")) && !json_is_boolean(v))
        return qr_fail(err, QR_EINVALID, "allocate", "allocate must be true or false");
    rq->allocate = v && json_is_true(v);
    if ((v = json_object_get(obj, "scene")) && !json_is_null(v) && json_scene(v, rq, err) < 0)
        return err->rc;
    if (json_opt_string(obj, "name", &rq->name, err) < 0 ||
        json_opt_string(obj, "promoter", &rq->promoter, err) < 0)
        return err->rc;
    return 0;
}

json_t *qr_code_to_json(const struct qr_code *c)
{
    json_t *o =
        json_pack("{s:I, s:s, s:s, s:s, s:s, s:I}", "id", (json_int_t)c->id, "scene", c->scene,
                  "kind", qr_kind_name(c->kind), "ticket", c->ticket ? c->ticket : "", "url",
                  c->url ? c->url : "", "created_at", (json_int_t)c->created_at);
    if (!o)
        return NULL;
    bool temp = qr_kind_is_temp(c->kind);
    if (json_object_set_new(o, "expire_seconds",
                            temp ? json_integer(c->expire_seconds) : json_null()) < 0 ||
        json_object_set_new(o, "expires_at", temp ? json_integer(c->expires_at) : json_null()) <
            0 ||
        json_object_set_new(o, "batch", c->batch ? json_string(c->batch) : json_null()) < 0 ||
        json_object_set_new(o, "reused", json_boolean(c->reused)) < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- create ---- */

int qr_channel_state(struct store *st, const char *scene)
{
    sqlite3_stmt *s = qr_prep(st, "SELECT archived_at IS NOT NULL FROM channels WHERE scene = ?1");
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, scene, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : rc == SQLITE_DONE ? 2 : -1;
    sqlite3_finalize(s);
    return ret;
}

/* One qr_create call, carried through its two transactions. */
struct create_ctx {
    const struct qr_request *rq;
    struct qr_spec spec;
    const char *batch;
    struct qr_code *out;
    struct qr_error *err;
    int64_t row_id;   /* the pending row (the intent) */
    bool done;        /* out filled from an existing code: no API call */
    bool new_ledger;  /* this call reserved the permanent id */
    bool reclaimable; /* the scene's archived channel may give way (released id) */
};

static bool same_text(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* The channel named by rq, compared with or added to the store. */
static int channel_prepare(struct store *st, struct create_ctx *x)
{
    const char *scene = x->spec.scene;
    int state = qr_channel_state(st, scene);
    if (state < 0)
        return qr_db_fail(st, x->err);
    if (state == 1 && !(x->reclaimable && x->rq->name))
        return qr_fail(x->err, QR_ECONFLICT, "scene",
                       "channel %s is archived; a new code would bring its scans back", scene);
    if (state == 1 && qr_perm_reclaim_scene(st, scene) < 0)
        return qr_db_fail(st, x->err);
    if (!x->rq->name)
        return 0;
    if (state == 0) {
        struct channel c = {0};
        int rc = channel_get(st, scene, &c);
        bool same =
            rc == 0 && same_text(c.name, x->rq->name) && same_text(c.promoter, x->rq->promoter);
        channel_clear(&c);
        if (rc < 0)
            return qr_db_fail(st, x->err);
        return same ? 0
                    : qr_fail(x->err, QR_ECONFLICT, "name",
                              "channel %s exists with another name or promoter", scene);
    }
    char why[256];
    struct channel c = {
        .scene = (char *)scene, .name = (char *)x->rq->name, .promoter = (char *)x->rq->promoter};
    if (channel_validate(&c, NULL, why, sizeof(why)) < 0)
        return qr_fail(x->err, QR_EINVALID, "name", "channel: %s", why);
    if (channel_add(st, &c, why, sizeof(why)) < 0)
        return qr_fail(x->err, QR_EINTERNAL, NULL, "channel: %s", why);
    return 0;
}

/* Look up one earlier row: a done one fills out (reused), a pending one is
 * the intent of an interrupted run to resume. */
static int existing_load(struct store *st, struct create_ctx *x, sqlite3_stmt *s)
{
    if (!s)
        return qr_db_fail(st, x->err);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        bool pending =
            strcmp((const char *)sqlite3_column_text(s, QR_CODE_NCOLUMNS), "pending") == 0;
        x->row_id = sqlite3_column_int64(s, 0);
        if (!pending && qr_code_from_row(s, x->out) == 0)
            x->done = x->out->reused = true;
        else if (!pending)
            rc = SQLITE_ERROR;
    }
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : qr_db_fail(st, x->err);
}

/* The batch's own row for the scene: done (return it) or pending (the
 * intent of an interrupted run, to resume). */
static int find_batch_row(struct store *st, struct create_ctx *x)
{
    sqlite3_stmt *s = qr_prep(st, "SELECT " QR_CODE_COLUMNS ", state FROM qr_codes "
                                  "WHERE batch = ?1 AND scene = ?2");
    if (s) {
        sqlite3_bind_text(s, 1, x->batch, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, x->spec.scene, -1, SQLITE_STATIC);
    }
    return existing_load(st, x, s);
}

/* A permanent code of the same scene and kind: asking WeChat again would
 * only burn quota for the same image. */
static int find_perm_code(struct store *st, struct create_ctx *x)
{
    sqlite3_stmt *s = qr_prep(st, "SELECT " QR_CODE_COLUMNS ", state FROM qr_codes WHERE "
                                  "scene = ?1 AND kind = ?2 AND state = 'done' "
                                  "ORDER BY id DESC LIMIT 1");
    if (s) {
        sqlite3_bind_text(s, 1, x->spec.scene, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, qr_kind_name(x->spec.kind), -1, SQLITE_STATIC);
    }
    return existing_load(st, x, s);
}

/* A batch row must ask for the same code as the run that started it. */
static int check_resumed(struct store *st, struct create_ctx *x)
{
    sqlite3_stmt *s = qr_prep(st, "SELECT kind, expire_seconds FROM qr_codes WHERE id = ?1");
    if (!s)
        return qr_db_fail(st, x->err);
    sqlite3_bind_int64(s, 1, x->row_id);
    int rc = sqlite3_step(s);
    bool same = rc == SQLITE_ROW &&
                strcmp((const char *)sqlite3_column_text(s, 0), qr_kind_name(x->spec.kind)) == 0 &&
                sqlite3_column_int64(s, 1) == x->spec.expire_seconds;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW)
        return qr_db_fail(st, x->err);
    return same ? 0
                : qr_fail(x->err, QR_ECONFLICT, "kind",
                          "scene %s was started in this batch as another kind or expiry; use a "
                          "new output directory",
                          x->spec.scene);
}

static int intent_insert(struct store *st, struct create_ctx *x)
{
    sqlite3_stmt *s = qr_prep(st, "INSERT INTO qr_codes(scene, kind, expire_seconds, state, "
                                  "requested_at, batch) VALUES(?1, ?2, ?3, 'pending', ?4, ?5)");
    if (!s)
        return qr_db_fail(st, x->err);
    sqlite3_bind_text(s, 1, x->spec.scene, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, qr_kind_name(x->spec.kind), -1, SQLITE_STATIC);
    if (qr_kind_is_temp(x->spec.kind))
        sqlite3_bind_int64(s, 3, x->spec.expire_seconds);
    sqlite3_bind_int64(s, 4, util_now());
    if (x->batch)
        sqlite3_bind_text(s, 5, x->batch, -1, SQLITE_STATIC);
    if (qr_exec(s) < 0)
        return qr_db_fail(st, x->err);
    x->row_id = sqlite3_last_insert_rowid(db_sqlite_handle(store_db(st)));
    return 0;
}

static int intent_retry(struct store *st, struct create_ctx *x)
{
    sqlite3_stmt *s = qr_prep(st, "UPDATE qr_codes SET attempts = attempts + 1, "
                                  "requested_at = ?2 WHERE id = ?1");
    if (s) {
        sqlite3_bind_int64(s, 1, x->row_id);
        sqlite3_bind_int64(s, 2, util_now());
    }
    return qr_exec(s) < 0 ? qr_db_fail(st, x->err) : 0;
}

/* The permanent scene id: allocated, or reserved as given. */
static int perm_prepare(struct store *st, struct create_ctx *x)
{
    if (x->spec.kind != QR_PERM_ID)
        return 0;
    if (x->spec.scene_id == 0) {
        if (qr_perm_alloc(st, &x->spec.scene_id, x->err) < 0)
            return x->err->rc;
        snprintf(x->spec.scene, sizeof(x->spec.scene), "%llu",
                 (unsigned long long)x->spec.scene_id);
    }
    if (qr_perm_reserve(st, x->spec.scene_id, &x->new_ledger, x->err) < 0)
        return -1;
    /* a free id whose old channel is archived: the new channel takes the scene */
    x->reclaimable = x->new_ledger;
    return 0;
}

/* First transaction: everything up to the intent, nothing of it on error. */
static int create_prepare(struct store *st, void *arg)
{
    struct create_ctx *x = arg;
    if (x->batch && find_batch_row(st, x) < 0)
        return -1;
    if (x->done)
        return 0;
    if (x->row_id)
        return check_resumed(st, x) < 0 || intent_retry(st, x) < 0 ? -1 : 0;
    if (perm_prepare(st, x) < 0 || channel_prepare(st, x) < 0)
        return -1;
    if (!qr_kind_is_temp(x->spec.kind) && find_perm_code(st, x) < 0)
        return -1;
    return x->done ? 0 : intent_insert(st, x);
}

static json_t *api_body(const struct qr_spec *s)
{
    bool id = s->kind == QR_TEMP_ID || s->kind == QR_PERM_ID;
    json_t *scene = id ? json_pack("{s:I}", "scene_id", (json_int_t)s->scene_id)
                       : json_pack("{s:s}", "scene_str", s->scene);
    json_t *body = json_pack("{s:s, s:{s:o}}", "action_name", kind_actions[s->kind], "action_info",
                             "scene", scene);
    /* always explicit: the platform's default has changed between 30 and 60 s */
    if (body && qr_kind_is_temp(s->kind) &&
        json_object_set_new(body, "expire_seconds", json_integer(s->expire_seconds)) < 0) {
        json_decref(body);
        return NULL;
    }
    return body;
}

/* What WeChat answered, checked before it is stored. */
struct created {
    const char *ticket;
    const char *url;
    int64_t expire_seconds;
};

static bool printable(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] <= ' ' || (unsigned char)s[n] >= 0x7f)
            return false;
    return n > 0 && n <= max;
}

static int parse_created(json_t *resp, const struct qr_spec *spec, struct created *c,
                         struct qr_error *err)
{
    json_t *exp = json_object_get(resp, "expire_seconds");
    c->ticket = json_string_value(json_object_get(resp, "ticket"));
    c->url = json_string_value(json_object_get(resp, "url"));
    if (!c->ticket || !printable(c->ticket, 1024))
        return qr_fail(err, QR_EAPI, NULL, "cgi-bin/qrcode/create: answer without a ticket");
    if (!c->url || !printable(c->url, 1024) ||
        (strncmp(c->url, "http://", 7) != 0 && strncmp(c->url, "https://", 8) != 0))
        return qr_fail(err, QR_EAPI, NULL, "cgi-bin/qrcode/create: answer without a usable url");
    c->expire_seconds = spec->expire_seconds;
    if (qr_kind_is_temp(spec->kind) && json_is_integer(exp) && json_integer_value(exp) > 0)
        c->expire_seconds = json_integer_value(exp);
    return 0;
}

struct finish_ctx {
    struct create_ctx *x;
    const struct created *c; /* NULL: the call failed */
};

/* Second transaction: record the answer, or drop the intent. A batch keeps
 * a failed intent so its re-run knows the call may have reached WeChat. */
static int create_finish(struct store *st, void *arg)
{
    struct finish_ctx *f = arg;
    struct create_ctx *x = f->x;
    sqlite3_stmt *s;
    if (!f->c && x->batch)
        return 0;
    if (!f->c) {
        s = qr_prep(st, "DELETE FROM qr_codes WHERE id = ?1");
        if (s)
            sqlite3_bind_int64(s, 1, x->row_id);
        if (qr_exec(s) < 0 || (x->new_ledger && qr_perm_unreserve(st, x->spec.scene_id) < 0))
            return -1;
        return 0;
    }
    int64_t now = util_now();
    s = qr_prep(st, "UPDATE qr_codes SET state = 'done', ticket = ?2, url = ?3, created_at = ?4, "
                    "expires_at = ?5, expire_seconds = ?6 WHERE id = ?1");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, x->row_id);
    sqlite3_bind_text(s, 2, f->c->ticket, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, f->c->url, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, now);
    if (qr_kind_is_temp(x->spec.kind)) {
        sqlite3_bind_int64(s, 5, now + f->c->expire_seconds);
        sqlite3_bind_int64(s, 6, f->c->expire_seconds);
    }
    return qr_exec(s);
}

static int create_call(struct store *st, struct wxapi *api, struct create_ctx *x)
{
    json_t *body = api_body(&x->spec), *resp = NULL;
    struct created c;
    int rc = body ? 0 : qr_fail(x->err, QR_EINTERNAL, NULL, "out of memory");
    if (rc == 0 && wxapi_post(api, "cgi-bin/qrcode/create", body, false, &resp) < 0) {
        x->err->api = *wxapi_last_error(api);
        rc = qr_fail(x->err, QR_EAPI, NULL, "%s", x->err->api.msg);
    }
    if (rc == 0)
        rc = parse_created(resp, &x->spec, &c, x->err);
    struct finish_ctx f = {.x = x, .c = rc == 0 ? &c : NULL};
    if (store_tx(st, create_finish, &f) < 0 && rc == 0)
        rc = qr_db_fail(st, x->err);
    if (rc == 0 && qr_code_by_id(st, x->row_id, x->out) != 0)
        rc = qr_db_fail(st, x->err);
    json_decref(body);
    json_decref(resp);
    return rc;
}

int qr_create(struct store *st, struct wxapi *api, const struct qr_request *rq, const char *batch,
              struct qr_code *out, struct qr_error *err)
{
    struct create_ctx x = {.rq = rq, .batch = batch, .out = out, .err = err};
    memset(err, 0, sizeof(*err));
    memset(out, 0, sizeof(*out));
    if (qr_validate(rq, &x.spec, err) < 0)
        return err->rc;
    if (store_tx(st, create_prepare, &x) < 0)
        return err->rc ? err->rc : qr_db_fail(st, err);
    if (x.done)
        return 0;
    return create_call(st, api, &x);
}
