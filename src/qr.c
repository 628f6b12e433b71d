#include "qr.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "chreply.h"
#include "followup.h"
#include "qr_internal.h"
#include "qr_perm.h"

/* ---- statements (db.h: prepared on first use, kept per connection) ---- */

static const struct db_query q_code_by_id = {"qr.code_by_id", "SELECT " QR_CODE_COLUMNS
                                                              " FROM qr_codes WHERE id = ?1"};
static const struct db_query q_code_latest = {
    "qr.code_latest", "SELECT " QR_CODE_COLUMNS " FROM qr_codes WHERE scene = ?1 "
                      "AND state = 'done' ORDER BY id DESC LIMIT 1"};
static const struct db_query q_codes_expiring = {
    "qr.codes_expiring", "SELECT " QR_CODE_COLUMNS " FROM qr_codes WHERE state = 'done' "
                         "AND expires_at IS NOT NULL AND (?1 = 1 OR expires_at >= ?2) "
                         "AND (?3 = 0 OR expires_at <= ?2 + ?3) "
                         "AND (CAST(?4 AS TEXT) IS NULL OR batch = ?4) ORDER BY expires_at, id"};
static const struct db_query q_codes_all = {
    "qr.codes_all", "SELECT " QR_CODE_COLUMNS " FROM qr_codes WHERE state = 'done' "
                    "AND (CAST(?1 AS TEXT) IS NULL OR batch = ?1) ORDER BY id"};
static const struct db_query q_batch_row = {"qr.batch_row",
                                            "SELECT " QR_CODE_COLUMNS ", state FROM qr_codes "
                                            "WHERE batch = ?1 AND scene = ?2"};
static const struct db_query q_perm_code = {
    "qr.perm_code", "SELECT " QR_CODE_COLUMNS ", state FROM qr_codes WHERE "
                    "scene = ?1 AND kind = ?2 AND state = 'done' ORDER BY id DESC LIMIT 1"};
static const struct db_query q_row_spec = {
    "qr.row_spec", "SELECT kind, expire_seconds FROM qr_codes WHERE id = ?1"};
static const struct db_query q_intent_add = {
    "qr.intent_add", "INSERT INTO qr_codes(scene, kind, expire_seconds, state, requested_at, "
                     "batch) VALUES(?1, ?2, ?3, 'pending', ?4, ?5) RETURNING id"};
static const struct db_query q_intent_retry = {
    "qr.intent_retry",
    "UPDATE qr_codes SET attempts = attempts + 1, requested_at = ?2 WHERE id = ?1"};
static const struct db_query q_intent_drop = {"qr.intent_drop",
                                              "DELETE FROM qr_codes WHERE id = ?1"};
static const struct db_query q_answer = {
    "qr.answer", "UPDATE qr_codes SET state = 'done', ticket = ?2, url = ?3, created_at = ?4, "
                 "expires_at = ?5, expire_seconds = ?6 WHERE id = ?1"};
/* Another code holding the ticket WeChat answered: a code of the same
 * scene and kind may (the same code asked again), any other may not. */
static const struct db_query q_ticket_owner = {
    "qr.ticket_owner", "SELECT id, scene, kind FROM qr_codes WHERE ticket = ?1 AND id <> ?2 "
                       "AND (scene <> ?3 OR kind <> ?4) ORDER BY id LIMIT 1"};

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

int qr_db_fail(struct db *db, struct qr_error *err, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return qr_fail(err, QR_EINTERNAL, NULL, "database: %s: %s", what, db_errmsg(db));
}

/* A second failure after the first (the one the caller reports). */
static void qr_note(struct qr_error *err, const char *more)
{
    size_t n = strlen(err->msg);
    snprintf(err->msg + n, sizeof(err->msg) - n, " (then %s)", more);
}

/* A ledger refusal as the qr error of the same meaning. */
static int perm_fail(struct qr_error *err, int rc, const char *why)
{
    int qrc = rc == QR_PERM_ECONFLICT  ? QR_ECONFLICT
              : rc == QR_PERM_EINVALID ? QR_EINVALID
                                       : QR_EINTERNAL;
    return qr_fail(err, qrc, qrc == QR_EINTERNAL ? NULL : "scene", "%s", why);
}

/* fn inside one write transaction. fn fills err on every failure it
 * returns; a failing BEGIN or COMMIT is reported here, before the ROLLBACK
 * that would replace the database's message. */
static int qr_tx(struct store *st, int (*fn)(struct store *st, void *arg), void *arg,
                 struct qr_error *err, const char *what)
{
    struct db *db = store_db(st);
    if (db_begin(db, DB_TX_WRITE) < 0)
        return qr_db_fail(db, err, "%s: begin", what);
    if (fn(st, arg) < 0 || (db_commit(db) < 0 && qr_db_fail(db, err, "%s: commit", what) < 0)) {
        db_rollback(db);
        return err->rc ? err->rc : qr_fail(err, QR_EINTERNAL, NULL, "%s: failed", what);
    }
    return 0;
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
int qr_code_from_row(struct db_stmt *s, struct qr_code *c)
{
    memset(c, 0, sizeof(*c));
    c->id = db_col_int64(s, 0);
    c->scene = db_col_strdup(s, 1);
    const char *kind = db_col_text(s, 2);
    if (!kind || qr_kind_parse(kind, &c->kind) < 0)
        c->kind = QR_TEMP_ID;
    c->expire_seconds = db_col_int64(s, 3);
    c->ticket = db_col_strdup(s, 4);
    c->url = db_col_strdup(s, 5);
    c->created_at = db_col_int64(s, 6);
    c->expires_at = db_col_int64(s, 7);
    c->batch = db_col_strdup(s, 8);
    c->attempts = db_col_int(s, 9);
    if (!c->scene || (!db_col_null(s, 4) && !c->ticket) || (!db_col_null(s, 5) && !c->url) ||
        (!db_col_null(s, 8) && !c->batch)) {
        qr_code_clear(c);
        return -1;
    }
    return 0;
}

/* Load the one row s selects (bound by the caller): 0 found, 1 none, < 0
 * error in err. Resets s. */
static int code_load(struct db *db, struct db_stmt *s, struct qr_code *out, struct qr_error *err,
                     const char *what)
{
    int rc = db_step(s), ret = 1;
    if (rc == DB_ROW && qr_code_from_row(s, out) < 0)
        ret = qr_fail(err, QR_EINTERNAL, NULL, "%s: out of memory", what);
    else if (rc == DB_ROW)
        ret = 0;
    else if (rc < 0)
        ret = qr_db_fail(db, err, "%s", what);
    db_reset(s);
    return ret;
}

static int code_by_id(struct db *db, int64_t id, struct qr_code *out, struct qr_error *err)
{
    struct db_stmt *s = db_stmt(db, &q_code_by_id);
    db_bind_int64(s, 1, id);
    return code_load(db, s, out, err, "reading the recorded code");
}

int qr_code_latest(struct store *st, const char *scene, struct qr_code *out, struct qr_error *err)
{
    struct db *db = store_db(st);
    struct db_stmt *s = db_stmt(db, &q_code_latest);
    db_bind_text(s, 1, scene);
    return code_load(db, s, out, err, "reading the codes of the scene");
}

static struct db_stmt *foreach_stmt(struct db *db, const struct qr_filter *f)
{
    struct db_stmt *s;
    if (f->expiring_within > 0 || f->include_expired) {
        s = db_stmt(db, &q_codes_expiring);
        db_bind_int64(s, 1, f->include_expired);
        db_bind_int64(s, 2, util_now());
        db_bind_int64(s, 3, f->expiring_within);
        db_bind_text(s, 4, f->batch);
    } else {
        s = db_stmt(db, &q_codes_all);
        db_bind_text(s, 1, f->batch);
    }
    return s;
}

int qr_foreach(struct store *st, const struct qr_filter *f,
               int (*fn)(const struct qr_code *c, void *arg), void *arg, struct qr_error *err)
{
    struct db *db = store_db(st);
    struct db_stmt *s = foreach_stmt(db, f);
    int rc = 0, step = DB_DONE;
    while (rc == 0 && (step = db_step(s)) == DB_ROW) {
        struct qr_code c;
        if (qr_code_from_row(s, &c) < 0) {
            rc = qr_fail(err, QR_EINTERNAL, NULL, "listing codes: out of memory");
            break;
        }
        rc = fn(&c, arg);
        qr_code_clear(&c);
    }
    if (rc == 0 && step < 0)
        rc = qr_db_fail(db, err, "listing codes");
    db_reset(s);
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

int qr_channel_state(struct store *st, const char *scene, struct qr_error *err)
{
    int state = channel_state(st, scene);
    return state < 0 ? qr_db_fail(store_db(st), err, "reading channel %s", scene) : state;
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

/* An active channel named by rq must say what rq says. */
static int channel_compare(struct store *st, struct create_ctx *x)
{
    struct channel c = {0};
    const char *scene = x->spec.scene;
    int rc = channel_get(st, scene, &c);
    if (rc < 0)
        return qr_db_fail(store_db(st), x->err, "reading channel %s", scene);
    bool same = rc == 0 && channel_text_same(c.name, x->rq->name) &&
                channel_text_same(c.promoter, x->rq->promoter);
    channel_clear(&c);
    return same ? 0
                : qr_fail(x->err, QR_ECONFLICT, "name",
                          "channel %s exists with another name or promoter", scene);
}

/* The channel named by rq, compared with or added to the store. */
static int channel_prepare(struct store *st, struct create_ctx *x)
{
    struct db *db = store_db(st);
    const char *scene = x->spec.scene;
    int state = qr_channel_state(st, scene, x->err);
    if (state < 0)
        return state;
    if (state == CHANNEL_ARCHIVED && !(x->reclaimable && x->rq->name))
        return qr_fail(x->err, QR_ECONFLICT, "scene",
                       "channel %s is archived; a new code would bring its scans back", scene);
    /* a released id: the archived channel keeps its record under another scene */
    if (state == CHANNEL_ARCHIVED && channel_rename_archived(st, scene) < 0)
        return qr_db_fail(db, x->err, "moving archived channel %s aside", scene);
    /* ... and its news/image welcome and follow-ups are not the new channel's */
    if (state == CHANNEL_ARCHIVED &&
        (chreply_set_text(st, scene) < 0 || followup_forget(st, scene) < 0))
        return qr_db_fail(db, x->err, "moving archived channel %s aside", scene);
    if (!x->rq->name)
        return 0;
    if (state == CHANNEL_ACTIVE)
        return channel_compare(st, x);
    char why[256];
    struct channel c = {
        .scene = (char *)scene, .name = (char *)x->rq->name, .promoter = (char *)x->rq->promoter};
    if (channel_validate(&c, NULL, why, sizeof(why)) < 0)
        return qr_fail(x->err, QR_EINVALID, "name", "channel: %s", why);
    if (channel_add(st, &c, why, sizeof(why)) < 0)
        return qr_fail(x->err, QR_EINTERNAL, NULL, "channel: %s", why);
    return 0;
}

/* Look up one earlier row (s bound by the caller): a done one fills out
 * (reused), a pending one is the intent of an interrupted run to resume. */
static int existing_load(struct db *db, struct create_ctx *x, struct db_stmt *s, const char *what)
{
    int rc = db_step(s), ret = 0;
    if (rc < 0) {
        ret = qr_db_fail(db, x->err, "%s for scene %s", what, x->spec.scene);
    } else if (rc == DB_ROW) {
        const char *state = db_col_text(s, QR_CODE_NCOLUMNS);
        x->row_id = db_col_int64(s, 0);
        if (state && strcmp(state, "pending") == 0)
            ; /* resumed below */
        else if (qr_code_from_row(s, x->out) == 0)
            x->done = x->out->reused = true;
        else
            ret = qr_fail(x->err, QR_EINTERNAL, NULL, "%s: out of memory", what);
    }
    db_reset(s);
    return ret;
}

/* The batch's own row for the scene: done (return it) or pending (the
 * intent of an interrupted run, to resume). */
static int find_batch_row(struct db *db, struct create_ctx *x)
{
    struct db_stmt *s = db_stmt(db, &q_batch_row);
    db_bind_text(s, 1, x->batch);
    db_bind_text(s, 2, x->spec.scene);
    return existing_load(db, x, s, "reading the batch's row");
}

/* A permanent code of the same scene and kind: asking WeChat again would
 * only burn quota for the same image. */
static int find_perm_code(struct db *db, struct create_ctx *x)
{
    struct db_stmt *s = db_stmt(db, &q_perm_code);
    db_bind_text(s, 1, x->spec.scene);
    db_bind_text(s, 2, qr_kind_name(x->spec.kind));
    return existing_load(db, x, s, "looking for a permanent code");
}

/* A batch row must ask for the same code as the run that started it. */
static int check_resumed(struct db *db, struct create_ctx *x)
{
    struct db_stmt *s = db_stmt(db, &q_row_spec);
    db_bind_int64(s, 1, x->row_id);
    int rc = db_step(s);
    if (rc != DB_ROW) {
        if (rc < 0)
            qr_db_fail(db, x->err, "reading the interrupted row of scene %s", x->spec.scene);
        else
            qr_fail(x->err, QR_EINTERNAL, NULL, "the interrupted row of scene %s is gone",
                    x->spec.scene);
        db_reset(s);
        return -1;
    }
    const char *kind = db_col_text(s, 0);
    bool same = kind && strcmp(kind, qr_kind_name(x->spec.kind)) == 0 &&
                db_col_int64(s, 1) == x->spec.expire_seconds;
    db_reset(s);
    return same ? 0
                : qr_fail(x->err, QR_ECONFLICT, "kind",
                          "scene %s was started in this batch as another kind or expiry; use a "
                          "new output directory",
                          x->spec.scene);
}

static int intent_insert(struct db *db, struct create_ctx *x)
{
    struct db_stmt *s = db_stmt(db, &q_intent_add);
    db_bind_text(s, 1, x->spec.scene);
    db_bind_text(s, 2, qr_kind_name(x->spec.kind));
    if (qr_kind_is_temp(x->spec.kind))
        db_bind_int64(s, 3, x->spec.expire_seconds);
    else
        db_bind_null(s, 3);
    db_bind_int64(s, 4, util_now());
    db_bind_text(s, 5, x->batch);
    int rc = db_step(s);
    if (rc == DB_ROW)
        x->row_id = db_col_int64(s, 0);
    else
        qr_db_fail(db, x->err, "recording the intent for scene %s", x->spec.scene);
    db_reset(s);
    return rc == DB_ROW ? 0 : -1;
}

static int intent_retry(struct db *db, struct create_ctx *x)
{
    struct db_stmt *s = db_stmt(db, &q_intent_retry);
    db_bind_int64(s, 1, x->row_id);
    db_bind_int64(s, 2, util_now());
    if (db_run(s) < 0)
        return qr_db_fail(db, x->err, "resuming the intent for scene %s", x->spec.scene);
    return 0;
}

/* The permanent scene id: allocated, or reserved as given. */
static int perm_prepare(struct db *db, struct create_ctx *x)
{
    char why[sizeof(x->err->msg)];
    bool allocate = x->spec.scene_id == 0;
    int rc = 0;
    if (x->spec.kind != QR_PERM_ID)
        return 0;
    if (allocate && (rc = qr_perm_next_free(db, &x->spec.scene_id, why, sizeof(why))) == 0)
        snprintf(x->spec.scene, sizeof(x->spec.scene), "%llu",
                 (unsigned long long)x->spec.scene_id);
    if (rc == 0)
        rc = qr_perm_reserve(db, x->spec.scene_id, &x->new_ledger, why, sizeof(why));
    if (rc == 0 && allocate && !x->new_ledger) { /* only without DB_CAP_SERIAL_WRITES */
        snprintf(why, sizeof(why), "permanent scene_id %llu was taken meanwhile; try again",
                 (unsigned long long)x->spec.scene_id);
        rc = QR_PERM_ECONFLICT;
    }
    if (rc < 0)
        return perm_fail(x->err, rc, why);
    /* a free id whose old channel is archived: the new channel takes the scene */
    x->reclaimable = x->new_ledger;
    return 0;
}

/* First transaction: everything up to the intent, nothing of it on error. */
static int create_prepare(struct store *st, void *arg)
{
    struct create_ctx *x = arg;
    struct db *db = store_db(st);
    if (x->batch && find_batch_row(db, x) < 0)
        return -1;
    if (x->done)
        return 0;
    if (x->row_id)
        return check_resumed(db, x) < 0 || intent_retry(db, x) < 0 ? -1 : 0;
    if (perm_prepare(db, x) < 0 || channel_prepare(st, x) < 0)
        return -1;
    if (!qr_kind_is_temp(x->spec.kind) && find_perm_code(db, x) < 0)
        return -1;
    return x->done ? 0 : intent_insert(db, x);
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
    struct qr_error *err;    /* the finish's own failure (the call's is in x->err) */
    bool refused;            /* the answer's ticket is another code's: x->err says whose */
};

/* A ticket names one code at WeChat, so one scene of one kind: the same
 * code asked again (a permanent scene) comes back with the ticket stored
 * for it, any other holder means the answer or the database is wrong, and
 * recording it would print a code that counts for another scene.
 * DB_CAP_SERIAL_WRITES: checked, then written in the same transaction;
 * without serial writes two answers could pass the check at once (a
 * sanity check of WeChat's answer, not a lock: schema/013_qr_ticket.sql). */
static int ticket_check(struct db *db, struct finish_ctx *f)
{
    struct create_ctx *x = f->x;
    const char *t = f->c->ticket;
    struct db_stmt *s = db_stmt(db, &q_ticket_owner);
    db_bind_text(s, 1, t);
    db_bind_int64(s, 2, x->row_id);
    db_bind_text(s, 3, x->spec.scene);
    db_bind_text(s, 4, qr_kind_name(x->spec.kind));
    int rc = db_step(s);
    if (rc == DB_ROW) {
        f->refused = true;
        qr_fail(x->err, QR_EAPI, NULL,
                "cgi-bin/qrcode/create: WeChat answered scene %s (%s) with ticket %.32s%s, which "
                "this database holds for scene %s (%s, code #%lld); one ticket is one code, so "
                "the answer was not recorded",
                x->spec.scene, qr_kind_name(x->spec.kind), t, strlen(t) > 32 ? "..." : "",
                db_col_text(s, 1), db_col_text(s, 2), (long long)db_col_int64(s, 0));
    } else if (rc < 0) {
        qr_db_fail(db, f->err, "looking up the ticket answered for scene %s", x->spec.scene);
    }
    db_reset(s);
    return rc < 0 ? -1 : 0;
}

static int answer_record(struct db *db, struct finish_ctx *f)
{
    struct create_ctx *x = f->x;
    int64_t now = util_now();
    struct db_stmt *s = db_stmt(db, &q_answer);
    db_bind_int64(s, 1, x->row_id);
    db_bind_text(s, 2, f->c->ticket);
    db_bind_text(s, 3, f->c->url);
    db_bind_int64(s, 4, now);
    if (qr_kind_is_temp(x->spec.kind)) {
        db_bind_int64(s, 5, now + f->c->expire_seconds);
        db_bind_int64(s, 6, f->c->expire_seconds);
    } else {
        db_bind_null(s, 5);
        db_bind_null(s, 6);
    }
    if (db_run(s) < 0)
        return qr_db_fail(db, f->err, "recording the answer for scene %s", x->spec.scene);
    return 0;
}

/* No code came of the intent: drop it, and the permanent id it reserved.
 * A batch keeps it, so its re-run knows the call may have reached WeChat. */
static int intent_drop(struct db *db, struct finish_ctx *f)
{
    struct create_ctx *x = f->x;
    char why[sizeof(f->err->msg)];
    if (x->batch)
        return 0;
    struct db_stmt *s = db_stmt(db, &q_intent_drop);
    db_bind_int64(s, 1, x->row_id);
    if (db_run(s) < 0)
        return qr_db_fail(db, f->err, "dropping the intent for scene %s", x->spec.scene);
    if (x->new_ledger && qr_perm_unreserve(db, x->spec.scene_id, why, sizeof(why)) < 0)
        return qr_fail(f->err, QR_EINTERNAL, NULL, "%s", why);
    return 0;
}

/* Second transaction: record the answer, or drop the intent. */
static int create_finish(struct store *st, void *arg)
{
    struct finish_ctx *f = arg;
    struct db *db = store_db(st);
    if (f->c && ticket_check(db, f) < 0)
        return -1;
    return f->c && !f->refused ? answer_record(db, f) : intent_drop(db, f);
}

static int create_call(struct store *st, struct wxapi *api, struct create_ctx *x)
{
    json_t *body = api_body(&x->spec), *resp = NULL;
    struct created c;
    struct qr_error ferr = {0};
    char what[128];
    int rc = body ? 0 : qr_fail(x->err, QR_EINTERNAL, NULL, "out of memory");
    if (rc == 0 && wxapi_post(api, "cgi-bin/qrcode/create", body, false, &resp) < 0) {
        x->err->api = *wxapi_last_error(api);
        rc = qr_fail(x->err, QR_EAPI, NULL, "%s", x->err->api.msg);
    }
    if (rc == 0)
        rc = parse_created(resp, &x->spec, &c, x->err);
    struct finish_ctx f = {.x = x, .c = rc == 0 ? &c : NULL, .err = &ferr};
    snprintf(what, sizeof(what), "recording the answer for scene %s", x->spec.scene);
    int frc = qr_tx(st, create_finish, &f, &ferr, what);
    if (f.refused)
        rc = x->err->rc;
    if (frc < 0 && rc == 0)
        *x->err = ferr, rc = ferr.rc;
    else if (frc < 0)
        qr_note(x->err, ferr.msg); /* the call's own failure comes first */
    if (rc == 0 && (rc = code_by_id(store_db(st), x->row_id, x->out, x->err)) == 1)
        rc = qr_fail(x->err, QR_EINTERNAL, NULL, "code #%lld of scene %s is gone",
                     (long long)x->row_id, x->spec.scene);
    json_decref(body);
    json_decref(resp);
    return rc;
}

int qr_create(struct store *st, struct wxapi *api, const struct qr_request *rq, const char *batch,
              struct qr_code *out, struct qr_error *err)
{
    struct create_ctx x = {.rq = rq, .batch = batch, .out = out, .err = err};
    char what[128];
    memset(err, 0, sizeof(*err));
    memset(out, 0, sizeof(*out));
    if (qr_validate(rq, &x.spec, err) < 0)
        return err->rc;
    snprintf(what, sizeof(what), "preparing the code for scene %s",
             x.spec.scene[0] ? x.spec.scene : "(allocated)");
    if (qr_tx(st, create_prepare, &x, err, what) < 0)
        return err->rc;
    if (x.done)
        return 0;
    return create_call(st, api, &x);
}

/* ---- channel archive ---- */

struct archive_ctx {
    const char *scene;
    uint64_t retired;
    struct qr_error *err;
};

static int archive_tx(struct store *st, void *arg)
{
    struct archive_ctx *a = arg;
    struct db *db = store_db(st);
    char why[sizeof(a->err->msg)];
    int state = qr_channel_state(st, a->scene, a->err), rc;
    if (state < 0)
        return state;
    if (state == CHANNEL_ABSENT)
        return qr_fail(a->err, QR_EINVALID, "scene", "no channel %s", a->scene);
    if (state == CHANNEL_ARCHIVED)
        return qr_fail(a->err, QR_ECONFLICT, "scene", "channel %s is already archived", a->scene);
    if (channel_archive(st, a->scene, util_now()) < 0)
        return qr_db_fail(db, a->err, "archiving channel %s", a->scene);
    if ((rc = qr_perm_retire(db, a->scene, &a->retired, why, sizeof(why))) < 0)
        return perm_fail(a->err, rc, why);
    return 0;
}

int qr_channel_archive(struct store *st, const char *scene, uint64_t *retired_id,
                       struct qr_error *err)
{
    struct archive_ctx a = {.scene = scene, .err = err};
    char what[128];
    memset(err, 0, sizeof(*err));
    snprintf(what, sizeof(what), "archiving channel %s", scene);
    if (qr_tx(st, archive_tx, &a, err, what) < 0)
        return err->rc;
    *retired_id = a.retired;
    return 0;
}
