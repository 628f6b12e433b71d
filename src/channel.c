#include "channel.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <utf8proc.h>

#include "db.h"

#define QRSCENE_PREFIX "qrscene_"

/* Every refusal is written here once: the English message, the field and
 * the stable code FIELD_KIND ("name_length") the console translates. */
static int why_fail(struct channel_why *w, const char *field, const char *kind, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));
static int why_fail(struct channel_why *w, const char *field, const char *kind, const char *fmt,
                    ...)
{
    va_list ap;
    w->field = field;
    snprintf(w->code, sizeof(w->code), "%s%s%s", field ? field : "", field ? "_" : "", kind);
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* The old (field, err) form of a refusal. */
static void why_copy(const struct channel_why *w, const char **field, char *err, size_t errlen)
{
    if (field)
        *field = w->field;
    snprintf(err, errlen, "%s", w->msg);
}

/* The channel columns channel_from_row() reads, in order. */
#define CHANNEL_COLUMNS                                                                            \
    "scene, name, promoter, reply, scan_reply, tag, created_at, archived_at, followup_ids"

static const struct db_query q_get = {"channel.get",
                                      "SELECT " CHANNEL_COLUMNS " FROM channels WHERE scene = ?1"};
static const struct db_query q_state = {
    "channel.state", "SELECT archived_at IS NOT NULL FROM channels WHERE scene = ?1"};
/* DO NOTHING rather than a unique violation: on PostgreSQL an error would
 * abort the caller's transaction (an import), and the row's absence from
 * RETURNING says the same thing. */
static const struct db_query q_add = {
    "channel.add", "INSERT INTO channels(scene, name, promoter, reply, scan_reply, tag, "
                   "created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                   "ON CONFLICT(scene) DO NOTHING RETURNING created_at"};
static const struct db_query q_active = {
    "channel.active", "SELECT " CHANNEL_COLUMNS " FROM channels WHERE archived_at IS NULL "
                      "ORDER BY created_at, scene"};
/* Only the fields the edit sets (?7..?11 = 1) are written: two edits of
 * different fields at once (CLI and console) both land, on either backend,
 * without a read-modify-write race. */
static const struct db_query q_all = {"channel.all", "SELECT " CHANNEL_COLUMNS
                                                     " FROM channels ORDER BY created_at, scene"};
static const struct db_query q_edit = {
    "channel.edit", "UPDATE channels SET name = CASE WHEN ?7 = 1 THEN ?2 ELSE name END, "
                    "promoter = CASE WHEN ?8 = 1 THEN ?3 ELSE promoter END, "
                    "reply = CASE WHEN ?9 = 1 THEN ?4 ELSE reply END, "
                    "scan_reply = CASE WHEN ?10 = 1 THEN ?5 ELSE scan_reply END, "
                    "tag = CASE WHEN ?11 = 1 THEN ?6 ELSE tag END "
                    "WHERE scene = ?1 AND archived_at IS NULL"};
static const struct db_query q_archive = {"channel.archive",
                                          "UPDATE channels SET archived_at = ?2 WHERE scene = ?1"};
static const struct db_query q_rename_archived = {
    "channel.rename_archived", "UPDATE channels SET scene = scene || '~archived-' || "
                               "archived_at WHERE scene = ?1 AND archived_at IS NOT NULL"};

/* ---- scenes ---- */

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

bool channel_scene_is_id(const char *text)
{
    uint64_t v;
    return text && text[0] != '0' && all_digits(text) &&
           util_parse_u64(text, 1, CHANNEL_SCENE_ID_MAX, &v) == 0;
}

/* One text field's rules: length in bytes, UTF-8, no control character
 * but tab and newline. */
static int check_text(const char *field, const char *v, size_t min, size_t max,
                      struct channel_why *w)
{
    size_t n = v ? strlen(v) : 0;
    if (n < min || n > max) {
        w->min = (int64_t)min, w->max = (int64_t)max, w->len = (int64_t)n;
        return why_fail(w, field, n < min && n == 0 ? "required" : "length",
                        "%s: length %zu is outside %zu..%zu bytes", field, n, min, max);
    }
    if (v && !util_utf8_valid(v, n))
        return why_fail(w, field, "utf8", "%s: not valid UTF-8", field);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch < 0x20 && ch != '\n' && ch != '\t')
            return why_fail(w, field, "control", "%s: control character at byte %zu", field, i + 1);
    }
    return 0;
}

/* A scene's text as any kind of code may carry it (the EventKey it comes
 * back as): a text field without blanks, tabs, newlines or DEL. */
static int check_scene_text(const char *scene, struct channel_why *w)
{
    if (check_text("scene", scene, 1, CHANNEL_SCENE_MAX, w) < 0)
        return -1;
    for (const unsigned char *p = (const unsigned char *)scene; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return why_fail(w, "scene", "blank",
                            "scene: blanks and control characters are not allowed");
    return 0;
}

int channel_scene_from_text(struct channel_scene *out, const char *text, bool force_str, char *err,
                            size_t errlen)
{
    struct channel_why w = {0};
    if (channel_scene_parse(out, text, force_str, &w) == 0)
        return 0;
    why_copy(&w, NULL, err, errlen);
    return -1;
}

int channel_scene_parse(struct channel_scene *out, const char *text, bool force_str,
                        struct channel_why *w)
{
    memset(out, 0, sizeof(*out));
    if (check_scene_text(text, w) < 0)
        return -1;
    uint64_t id = 0;
    bool id_text = !force_str && text[0] != '0' && all_digits(text);
    if (id_text && util_parse_u64(text, 1, CHANNEL_SCENE_ID_MAX, &id) < 0)
        return why_fail(w, "scene", "range", "scene: %s is above %u, the largest scene_id", text,
                        CHANNEL_SCENE_ID_MAX);
    out->kind = id_text ? CHANNEL_SCENE_ID : CHANNEL_SCENE_STR;
    out->id = (uint32_t)id;
    util_strlcpy(out->text, text, sizeof(out->text));
    return 0;
}

static int scene_from_json(struct channel_scene *out, const struct json_t *v, bool force_str,
                           struct channel_why *w);

int channel_scene_from_json(struct channel_scene *out, const struct json_t *v, bool force_str,
                            char *err, size_t errlen)
{
    struct channel_why w = {0};
    if (scene_from_json(out, v, force_str, &w) == 0)
        return 0;
    why_copy(&w, NULL, err, errlen);
    return -1;
}

static int scene_from_json(struct channel_scene *out, const struct json_t *v, bool force_str,
                           struct channel_why *w)
{
    memset(out, 0, sizeof(*out));
    if (json_is_string(v)) {
        if (strlen(json_string_value(v)) != json_string_length(v))
            return why_fail(w, "scene", "nul", "scene: contains a NUL character");
        return channel_scene_parse(out, json_string_value(v), force_str, w);
    }
    if (!json_is_integer(v))
        return why_fail(w, "scene", "type",
                        "scene: must be an integer 1..%u (a scene_id) or a string",
                        CHANNEL_SCENE_ID_MAX);
    json_int_t n = json_integer_value(v);
    if (n < 1 || n > (json_int_t)CHANNEL_SCENE_ID_MAX)
        return why_fail(w, "scene", "range",
                        "scene: %lld is not a scene_id 1..%u (send a string for a scene_str)",
                        (long long)n, CHANNEL_SCENE_ID_MAX);
    out->kind = force_str ? CHANNEL_SCENE_STR : CHANNEL_SCENE_ID;
    out->id = force_str ? 0 : (uint32_t)n;
    snprintf(out->text, sizeof(out->text), "%lld", (long long)n);
    return 0;
}

int channel_scene_in_event_key(const char *event_key, bool subscribe)
{
    size_t plen = subscribe ? strlen(QRSCENE_PREFIX) : 0;
    if (subscribe && strncmp(event_key, QRSCENE_PREFIX, plen) != 0)
        return -1;
    const char *x = event_key + plen;
    return x[0] && strnlen(x, CHANNEL_SCENE_MAX + 1) <= CHANNEL_SCENE_MAX ? (int)plen : -1;
}

int channel_scene_check_perm(const struct channel_scene *s, char *err, size_t errlen)
{
    if (s->kind != CHANNEL_SCENE_ID || s->id <= CHANNEL_PERM_ID_MAX)
        return 0;
    snprintf(err, errlen,
             "scene: scene_id %s is out of range for a permanent code: 1..%u (use --str for a "
             "scene_str)",
             s->text, CHANNEL_PERM_ID_MAX);
    return -1;
}

/* ---- channels ---- */

void channel_clear(struct channel *c)
{
    free(c->scene);
    free(c->name);
    free(c->promoter);
    free(c->reply);
    free(c->scan_reply);
    free(c->tag);
    free(c->followup_ids);
    memset(c, 0, sizeof(*c));
}

/* The text fields as rows: the order errors are found in, the JSON keys. */
static const struct channel_field {
    const char *name;
    size_t off; /* char * member of struct channel */
    size_t min, max;
    bool required; /* in the admin API's JSON */
    bool tidy;     /* checked and stored as channel_text_tidy() makes it */
} fields[] = {
    {"scene", offsetof(struct channel, scene), 1, CHANNEL_SCENE_MAX, true, false},
    {"name", offsetof(struct channel, name), 1, 128, true, true},
    {"promoter", offsetof(struct channel, promoter), 0, 128, false, true},
    {"reply", offsetof(struct channel, reply), 0, 2048, false, false},
    {"scan_reply", offsetof(struct channel, scan_reply), 0, 2048, false, false},
    {"tag", offsetof(struct channel, tag), 0, 30, false, false},
};

/* Unicode White_Space (ASCII blanks, NBSP, the U+2000 spaces, U+3000 the
 * ideographic space a Chinese IME types) and U+FEFF: what a spreadsheet
 * cell or a pasted name carries at its ends without anyone seeing it. */
static bool is_blank(utf8proc_int32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

char *channel_text_tidy(const char *s)
{
    if (!s)
        return NULL;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    utf8proc_ssize_t n = (utf8proc_ssize_t)strlen(s), start = 0, end = 0, k;
    utf8proc_int32_t c;
    for (utf8proc_ssize_t i = 0; i < n; i += k) {
        if ((k = utf8proc_iterate(p + i, n - i, &c)) <= 0)
            return strdup(s); /* not UTF-8: channel_validate says so */
        if (!is_blank(c))
            end = i + k;
        else if (end == 0)
            start = i + k;
    }
    char *trimmed = strndup(s + start, end > start ? (size_t)(end - start) : 0);
    if (!trimmed)
        return NULL;
    char *nfc = (char *)utf8proc_NFC((const utf8proc_uint8_t *)trimmed);
    if (!nfc)
        return trimmed;
    free(trimmed);
    return nfc;
}

bool channel_text_same(const char *a, const char *b)
{
    char *x = channel_text_tidy(a ? a : ""), *y = channel_text_tidy(b ? b : "");
    bool same = x && y ? strcmp(x, y) == 0 : strcmp(a ? a : "", b ? b : "") == 0;
    free(x);
    free(y);
    return same;
}

static char **field_ptr(const struct channel_field *f, struct channel *c)
{
    return (char **)((char *)c + f->off);
}

int channel_validate(const struct channel *c, const char **field, char *err, size_t errlen)
{
    struct channel_why w = {0};
    if (channel_check(c, &w) == 0)
        return 0;
    why_copy(&w, field, err, errlen);
    return -1;
}

int channel_check(const struct channel *c, struct channel_why *w)
{
    for (size_t i = 0; i < WXS_ARRAY_LEN(fields); i++) {
        const struct channel_field *f = &fields[i];
        const char *v = *field_ptr(f, (struct channel *)c);
        char *tidy = f->tidy && v ? channel_text_tidy(v) : NULL;
        if (f->tidy && v && !tidy)
            return why_fail(w, f->name, "memory", "%s: out of memory", f->name);
        int bad = i == 0 ? check_scene_text(v, w)
                         : check_text(f->name, tidy ? tidy : v, f->min, f->max, w);
        free(tidy);
        if (bad < 0)
            return -1;
    }
    return 0;
}

/* One key of the admin API's object into c (a string borrowed from the
 * JSON, or NULL for null); the scene is read by the caller. */
static int json_field_set(const struct channel_field *f, const json_t *v, struct channel *c,
                          struct channel_why *w)
{
    if (json_is_null(v) && !f->required)
        return 0;
    if (!json_is_string(v))
        return why_fail(w, f->name, "type", "%s: must be a string%s", f->name,
                        f->required ? "" : " or null");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return why_fail(w, f->name, "nul", "%s: contains a NUL character", f->name);
    *field_ptr(f, c) = (char *)json_string_value(v);
    return 0;
}

/* Every key of obj but the scene into c; "str" into *force_str. */
static int json_fields(const json_t *obj, struct channel *c, bool *force_str, struct channel_why *w)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        const struct channel_field *f = NULL;
        for (size_t i = 0; i < WXS_ARRAY_LEN(fields); i++)
            if (strcmp(key, fields[i].name) == 0)
                f = &fields[i];
        if (!f && strcmp(key, "str") == 0) {
            if (!json_is_boolean(v))
                return why_fail(w, "str", "type", "str: must be true or false");
            *force_str = json_is_true(v);
        } else if (!f) {
            return why_fail(w, NULL, "unknown_field",
                            "unknown field '%.64s' (expected scene, name, promoter, reply, "
                            "scan_reply, tag, str)",
                            key);
        } else if (f != &fields[0] && json_field_set(f, v, c, w) < 0) {
            return -1;
        }
    }
    return 0;
}

int channel_from_json(const struct json_t *obj, struct channel *c, struct channel_scene *scene,
                      const char **field, char *err, size_t errlen)
{
    struct channel_why w = {0};
    if (channel_from_json_why(obj, c, scene, &w) == 0)
        return 0;
    why_copy(&w, field, err, errlen);
    return -1;
}

int channel_from_json_why(const struct json_t *obj, struct channel *c, struct channel_scene *scene,
                          struct channel_why *w)
{
    bool force_str = false;
    const json_t *sv = json_object_get(obj, "scene");
    memset(c, 0, sizeof(*c));
    if (json_fields(obj, c, &force_str, w) < 0)
        return -1;
    if (!sv || json_is_null(sv))
        return why_fail(w, "scene", "required", "scene: required");
    if (scene_from_json(scene, sv, force_str, w) < 0)
        return -1;
    c->scene = scene->text;
    if (!c->name)
        return why_fail(w, "name", "required", "name: required");
    return channel_check(c, w);
}

const char *channel_column(const char *cell)
{
    static const char *const zh[][3] = {
        {"scene", "场景值", "场景"},      {"name", "名称", "渠道名称"},
        {"promoter", "推广员", NULL},     {"reply", "欢迎语", "关注回复"},
        {"scan_reply", "扫码回复", NULL}, {"tag", "标签", NULL},
    };
    size_t n;
    cell += strspn(cell, " \t");
    for (n = strlen(cell); n && (cell[n - 1] == ' ' || cell[n - 1] == '\t'); n--)
        ;
    for (size_t i = 0; i < WXS_ARRAY_LEN(zh); i++) {
        if (strlen(zh[i][0]) == n && strncasecmp(cell, zh[i][0], n) == 0)
            return zh[i][0];
        for (size_t k = 1; k < 3; k++)
            if (zh[i][k] && strlen(zh[i][k]) == n && memcmp(cell, zh[i][k], n) == 0)
                return zh[i][0];
    }
    return NULL;
}

json_t *channel_to_json(const struct channel *c)
{
    return json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:I}", "scene", c->scene, "name", c->name,
                     "promoter", c->promoter, "reply", c->reply, "scan_reply", c->scan_reply, "tag",
                     c->tag, "created_at", (json_int_t)c->created_at);
}

/* ---- the channels table ---- */

/* Columns as CHANNEL_COLUMNS lists them; -1 when out of memory. */
static int channel_from_row(struct db_stmt *s, struct channel *out)
{
    memset(out, 0, sizeof(*out));
    out->scene = db_col_strdup(s, 0);
    out->name = db_col_strdup(s, 1);
    out->promoter = db_col_strdup(s, 2);
    out->reply = db_col_strdup(s, 3);
    out->scan_reply = db_col_strdup(s, 4);
    out->tag = db_col_strdup(s, 5);
    out->created_at = db_col_int64(s, 6);
    out->archived_at = db_col_null(s, 7) ? 0 : db_col_int64(s, 7);
    out->followup_ids = db_col_strdup(s, 8);
    bool lost = (!db_col_null(s, 8) && !out->followup_ids) || !out->scene || !out->name ||
                (!db_col_null(s, 2) && !out->promoter) || (!db_col_null(s, 3) && !out->reply) ||
                (!db_col_null(s, 4) && !out->scan_reply) || (!db_col_null(s, 5) && !out->tag);
    if (lost) {
        channel_clear(out);
        return -1;
    }
    return 0;
}

static int cache_get(struct channel_cache *c, const char *scene, struct channel *out);

int channel_get(struct store *st, const char *scene, struct channel *out)
{
    struct channel_cache *c = store_channel_cache(st);
    int cached = c ? cache_get(c, scene, out) : 2;
    if (cached != 2)
        return cached;
    struct db_stmt *s = db_stmt(store_db(st), &q_get);
    int ret = 1;
    db_bind_text(s, 1, scene);
    int rc = db_step(s);
    if (rc == DB_ROW)
        ret = channel_from_row(s, out);
    else if (rc != DB_DONE)
        ret = -1;
    db_reset(s);
    return ret;
}

int channel_state(struct store *st, const char *scene)
{
    struct db_stmt *s = db_stmt(store_db(st), &q_state);
    db_bind_text(s, 1, scene);
    int rc = db_step(s);
    int ret = rc == DB_ROW    ? (db_col_int(s, 0) ? CHANNEL_ARCHIVED : CHANNEL_ACTIVE)
              : rc == DB_DONE ? CHANNEL_ABSENT
                              : -1;
    db_reset(s);
    return ret;
}

int channel_add(struct store *st, const struct channel *c, char *err, size_t errlen)
{
    struct db *db = store_db(st);
    char *name = channel_text_tidy(c->name), *promoter = channel_text_tidy(c->promoter);
    if (!name || (c->promoter && !promoter)) {
        free(name);
        free(promoter);
        return snprintf(err, errlen, "out of memory"), -1;
    }
    struct db_stmt *s = db_stmt(db, &q_add);
    db_bind_text(s, 1, c->scene);
    db_bind_text(s, 2, name);
    db_bind_text_opt(s, 3, promoter);
    db_bind_text(s, 4, c->reply); /* "" = answer "success", NULL = default */
    db_bind_text(s, 5, c->scan_reply);
    db_bind_text_opt(s, 6, c->tag);
    db_bind_int64(s, 7, c->created_at ? c->created_at : util_now());
    int rc = db_step(s);
    if (rc < 0)
        snprintf(err, errlen, "%s", db_errmsg(db));
    db_reset(s);
    free(name);
    free(promoter);
    if (rc < 0)
        return -1;
    if (rc == DB_ROW)
        return 0;
    int state = channel_state(st, c->scene);
    if (state < 0)
        return snprintf(err, errlen, "%s", db_errmsg(db)), -1;
    snprintf(err, errlen, "channel %s exists%s", c->scene,
             state == CHANNEL_ARCHIVED ? ", archived" : "");
    return CHANNEL_EEXISTS;
}

/* ---- many at once (an import) ---- */

#define ADD_CHUNK 256 /* rows per INSERT: 7 parameters each, under every backend's limit */

/* "INSERT ... VALUES (?1..?7), (?8..?14), ... ON CONFLICT DO NOTHING
 * RETURNING scene" for n rows. NULL when out of memory. */
static char *add_many_sql(size_t n)
{
    struct buf b = {0};
    int bad = buf_puts(&b, "INSERT INTO channels(scene, name, promoter, reply, scan_reply, tag, "
                           "created_at) VALUES ");
    for (size_t i = 0; !bad && i < n; i++) {
        size_t k = 7 * i;
        bad = buf_printf(&b, "%s(?%zu, ?%zu, ?%zu, ?%zu, ?%zu, ?%zu, ?%zu)", i ? ", " : "", k + 1,
                         k + 2, k + 3, k + 4, k + 5, k + 6, k + 7) < 0;
    }
    if (bad || buf_puts(&b, " ON CONFLICT(scene) DO NOTHING RETURNING scene") < 0) {
        buf_free(&b);
        return NULL;
    }
    return b.data;
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The rows of the chunk that RETURNING did not name hit a scene already
 * taken: each reported as channel_add() words it. */
static int add_many_conflicts(struct store *st, const struct channel *const *cs, size_t base,
                              size_t n, char **added, size_t nadded, channel_exists_fn exists,
                              void *arg)
{
    char msg[200];
    qsort(added, nadded, sizeof(*added), by_text);
    for (size_t i = 0; i < n; i++) {
        const char *key = cs[i]->scene;
        if (bsearch(&key, added, nadded, sizeof(*added), by_text))
            continue;
        int state = channel_state(st, cs[i]->scene);
        if (state < 0)
            return -1;
        snprintf(msg, sizeof(msg), "channel %s exists%s", cs[i]->scene,
                 state == CHANNEL_ARCHIVED ? ", archived" : "");
        exists(base + i, msg, arg);
    }
    return 0;
}

/* One INSERT of cs[0..n) (n <= ADD_CHUNK; rows base.. of the caller's). */
static int add_chunk(struct store *st, const struct channel *const *cs, size_t base, size_t n,
                     int64_t now, channel_exists_fn exists, void *arg, char *err, size_t errlen)
{
    struct db *db = store_db(st);
    char *added[ADD_CHUNK], *sql = add_many_sql(n);
    struct db_stmt *s = sql ? db_prepare(db, sql) : NULL;
    size_t nadded = 0;
    int rc = -1, step = DB_DONE;
    for (size_t i = 0; s && i < n; i++) {
        const struct channel *c = cs[i];
        int k = (int)(7 * i);
        db_bind_text(s, k + 1, c->scene);
        db_bind_text(s, k + 2, c->name);
        db_bind_text_opt(s, k + 3, c->promoter);
        db_bind_text(s, k + 4, c->reply);
        db_bind_text(s, k + 5, c->scan_reply);
        db_bind_text_opt(s, k + 6, c->tag);
        db_bind_int64(s, k + 7, c->created_at ? c->created_at : now);
    }
    while (s && (step = db_step(s)) == DB_ROW && nadded < n)
        if ((added[nadded] = db_col_strdup(s, 0)))
            nadded++;
    if (!sql)
        snprintf(err, errlen, "out of memory");
    else if (!s || step < 0)
        snprintf(err, errlen, "%s", db_errmsg(db));
    else if (add_many_conflicts(st, cs, base, n, added, nadded, exists, arg) < 0)
        snprintf(err, errlen, "%s", db_errmsg(db));
    else
        rc = 0;
    db_finalize(s);
    free(sql);
    for (size_t i = 0; i < nadded; i++)
        free(added[i]);
    return rc;
}

/* An embedded database has no round trip to save: one cached single-row
 * statement a row is faster there (SQLite runs each RETURNING through a
 * temporary table, and a 1,800-parameter statement is parsed per chunk). */
static int add_rows(struct store *st, const struct channel *const *cs, size_t n, int64_t now,
                    channel_exists_fn exists, void *arg, char *err, size_t errlen)
{
    struct db *db = store_db(st);
    char msg[200];
    for (size_t i = 0; i < n; i++) {
        const struct channel *c = cs[i];
        struct db_stmt *s = db_stmt(db, &q_add);
        db_bind_text(s, 1, c->scene);
        db_bind_text(s, 2, c->name);
        db_bind_text_opt(s, 3, c->promoter);
        db_bind_text(s, 4, c->reply);
        db_bind_text(s, 5, c->scan_reply);
        db_bind_text_opt(s, 6, c->tag);
        db_bind_int64(s, 7, c->created_at ? c->created_at : now);
        int rc = db_step(s);
        db_reset(s);
        int state = rc == DB_DONE ? channel_state(st, c->scene) : CHANNEL_ACTIVE;
        if (rc < 0 || state < 0)
            return snprintf(err, errlen, "%s", db_errmsg(db)), -1;
        if (rc == DB_DONE) {
            snprintf(msg, sizeof(msg), "channel %s exists%s", c->scene,
                     state == CHANNEL_ARCHIVED ? ", archived" : "");
            exists(i, msg, arg);
        }
    }
    return 0;
}

int channel_add_many(struct store *st, const struct channel *const *cs, size_t n,
                     channel_exists_fn exists, void *arg, char *err, size_t errlen)
{
    int64_t now = util_now();
    if (db_caps(store_db(st)) & DB_CAP_EMBEDDED)
        return add_rows(st, cs, n, now, exists, arg, err, errlen);
    for (size_t i = 0; i < n; i += ADD_CHUNK) {
        size_t k = n - i < ADD_CHUNK ? n - i : ADD_CHUNK;
        if (add_chunk(st, cs + i, i, k, now, exists, arg, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* The fields a change may set, as bits, in the order of fields[] (1..5):
 * the CHANNEL_SET_* bits of channel.h (name 1 << 0 ... tag 1 << 4). */
static unsigned set_bit(size_t field_index)
{
    return 1u << (field_index - 1);
}

/* The row c would become: cur with the fields in `set` taken from c.
 * Borrowed pointers into both. */
static void merge(const struct channel *cur, const struct channel *c, unsigned set,
                  struct channel *m)
{
    *m = *cur;
    for (size_t i = 1; i < WXS_ARRAY_LEN(fields); i++)
        if (set & set_bit(i))
            *field_ptr(&fields[i], m) = *field_ptr(&fields[i], (struct channel *)c);
}

/* One UPDATE of the fields in `set`, stored as channel_add() stores them:
 * name and promoter tidied; an empty promoter, scan_reply or tag is none
 * (NULL: no promoter, scans get the subscribe reply, no tag); an empty
 * reply stays "" (answer nothing) and a NULL one is [reply] subscribe. */
static int edit_write(struct store *st, const struct channel *m, unsigned set, char *err,
                      size_t errlen)
{
    struct db *db = store_db(st);
    char *name = channel_text_tidy(m->name), *promoter = channel_text_tidy(m->promoter);
    int rc = -1;
    if (!name || (m->promoter && !promoter)) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    struct db_stmt *s = db_stmt(db, &q_edit);
    db_bind_text(s, 1, m->scene);
    db_bind_text(s, 2, name);
    db_bind_text_opt(s, 3, promoter);
    db_bind_text(s, 4, m->reply);
    db_bind_text_opt(s, 5, m->scan_reply);
    db_bind_text_opt(s, 6, m->tag);
    for (size_t i = 1; i < WXS_ARRAY_LEN(fields); i++)
        db_bind_int64(s, (int)(6 + i), (set & set_bit(i)) != 0);
    if (db_run(s) < 0) {
        snprintf(err, errlen, "%s", db_errmsg(db));
    } else if (db_changes(db) != 1) { /* archived since it was read */
        snprintf(err, errlen, "channel %s is archived: it cannot be edited", m->scene);
        rc = CHANNEL_EARCHIVED;
    } else {
        rc = 0;
    }
done:
    free(name);
    free(promoter);
    return rc;
}

int channel_edit(struct store *st, const char *scene, const struct channel *c, unsigned set,
                 struct channel *out, const char **field, char *err, size_t errlen)
{
    struct channel_why w = {0};
    int rc = channel_edit_why(st, scene, c, set, out, &w);
    if (rc != 0)
        why_copy(&w, field, err, errlen);
    else if (field)
        *field = NULL;
    return rc;
}

int channel_edit_why(struct store *st, const char *scene, const struct channel *c, unsigned set,
                     struct channel *out, struct channel_why *w)
{
    struct channel cur = {0}, m;
    w->field = NULL;
    if (out)
        memset(out, 0, sizeof(*out));
    if (!set || (set & ~CHANNEL_SET_ALL))
        return why_fail(w, NULL, "nothing_to_change", "nothing to change"), CHANNEL_EINVALID;
    int rc = channel_get(st, scene, &cur);
    if (rc < 0)
        return why_fail(w, NULL, "internal", "%s", store_errmsg(st));
    if (rc == 1)
        return why_fail(w, NULL, "not_found", "channel %s does not exist", scene),
               CHANNEL_ENOTFOUND;
    if (cur.archived_at) {
        why_fail(w, NULL, "archived",
                 "channel %s is archived: it cannot be edited (its scene keeps its history)",
                 scene);
        rc = CHANNEL_EARCHIVED;
    } else {
        merge(&cur, c, set, &m);
        rc = channel_check(&m, w) < 0 ? CHANNEL_EINVALID
                                      : edit_write(st, &m, set, w->msg, sizeof(w->msg));
        if (rc == CHANNEL_EARCHIVED)
            snprintf(w->code, sizeof(w->code), "archived");
        else if (rc == -1)
            snprintf(w->code, sizeof(w->code), "internal");
    }
    channel_clear(&cur);
    if (rc == 0 && out && channel_get(st, scene, out) != 0)
        return why_fail(w, NULL, "internal", "%s", store_errmsg(st));
    return rc;
}

int channel_change_from_json(const struct json_t *obj, const char *scene, struct channel *c,
                             unsigned *set, const char **field, char *err, size_t errlen)
{
    struct channel_why w = {0};
    if (channel_change_from_json_why(obj, scene, c, set, &w) == 0)
        return 0;
    why_copy(&w, field, err, errlen);
    return -1;
}

int channel_change_from_json_why(const struct json_t *obj, const char *scene, struct channel *c,
                                 unsigned *set, struct channel_why *w)
{
    const char *key;
    json_t *v;
    memset(c, 0, sizeof(*c));
    *set = 0;
    w->field = NULL;
    if (!json_is_object(obj))
        return why_fail(w, NULL, "body_type", "the body must be a JSON object");
    json_object_foreach((json_t *)obj, key, v)
    {
        size_t i = 0;
        while (i < WXS_ARRAY_LEN(fields) && strcmp(key, fields[i].name) != 0)
            i++;
        if (i == WXS_ARRAY_LEN(fields)) {
            why_fail(w, NULL, "unknown_field",
                     "unknown field '%.64s' (expected name, promoter, reply, scan_reply, tag)",
                     key);
            w->field = key;
            return -1;
        }
        if (i == 0) { /* the scene is the URL's */
            struct channel_scene sc;
            if (scene_from_json(&sc, v, false, w) < 0 || strcmp(sc.text, scene) != 0)
                return why_fail(w, "scene", "immutable", "scene: cannot be changed");
            continue;
        }
        if (json_field_set(&fields[i], v, c, w) < 0)
            return -1;
        *set |= set_bit(i);
    }
    if (!*set)
        return why_fail(w, NULL, "nothing_to_change", "nothing to change");
    return 0;
}

int channel_archive(struct store *st, const char *scene, int64_t at)
{
    struct db_stmt *s = db_stmt(store_db(st), &q_archive);
    db_bind_text(s, 1, scene);
    db_bind_int64(s, 2, at);
    return db_run(s) < 0 ? -1 : 0;
}

int channel_rename_archived(struct store *st, const char *scene)
{
    struct db_stmt *s = db_stmt(store_db(st), &q_rename_archived);
    db_bind_text(s, 1, scene);
    return db_run(s) < 0 ? -1 : 0;
}

static int foreach_of(struct store *st, const struct db_query *qq,
                      int (*fn)(const struct channel *c, void *arg), void *arg);

int channel_foreach(struct store *st, int (*fn)(const struct channel *c, void *arg), void *arg)
{
    return foreach_of(st, &q_active, fn, arg);
}

int channel_foreach_all(struct store *st, int (*fn)(const struct channel *c, void *arg), void *arg)
{
    return foreach_of(st, &q_all, fn, arg);
}

static int foreach_of(struct store *st, const struct db_query *qq,
                      int (*fn)(const struct channel *c, void *arg), void *arg)
{
    struct db_stmt *s = db_stmt(store_db(st), qq);
    int rc = DB_DONE, ret = 0;
    while (ret == 0 && (rc = db_step(s)) == DB_ROW) {
        struct channel c;
        if (channel_from_row(s, &c) < 0) {
            ret = -1;
            break;
        }
        ret = fn(&c, arg) < 0 ? -1 : 0;
        channel_clear(&c);
    }
    if (ret == 0 && rc != DB_DONE)
        ret = -1;
    db_reset(s);
    return ret;
}

/* ---- a batch's channel rows (channel_cache_*) ---- */

static const struct db_query q_get_many = {
    "channel.get_many", "SELECT " CHANNEL_COLUMNS " FROM channels WHERE scene = ANY(?1::text[])"};

enum cache_mode { CACHE_OFF, CACHE_COLLECT, CACHE_LOADED };

struct channel_cache {
    enum cache_mode mode;
    char **scenes; /* noted, sorted and distinct once loaded */
    size_t nscenes, scenes_cap;
    struct channel *rows; /* the rows found, sorted by scene */
    size_t nrows, rows_cap;
};

static void cache_clear(struct channel_cache *c)
{
    for (size_t i = 0; i < c->nscenes; i++)
        free(c->scenes[i]);
    for (size_t i = 0; i < c->nrows; i++)
        channel_clear(&c->rows[i]);
    c->nscenes = c->nrows = 0;
    c->mode = CACHE_OFF;
}

static void cache_free(struct channel_cache *c)
{
    if (!c)
        return;
    cache_clear(c);
    free(c->scenes);
    free(c->rows);
    free(c);
}

static int cmp_scene(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_row(const void *a, const void *b)
{
    return strcmp(((const struct channel *)a)->scene, ((const struct channel *)b)->scene);
}

static char *dup_opt(const char *s, bool *ok)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *ok = false;
    return d;
}

/* 0 found (a copy in *out), 1 not found, -1 out of memory, 2 not cached. */
static int cache_get(struct channel_cache *c, const char *scene, struct channel *out)
{
    if (c->mode == CACHE_COLLECT) {
        if (c->nscenes == c->scenes_cap) {
            size_t cap = c->scenes_cap ? c->scenes_cap * 2 : 64;
            char **p = realloc(c->scenes, cap * sizeof(*p));
            if (!p)
                return -1;
            c->scenes = p;
            c->scenes_cap = cap;
        }
        if (!(c->scenes[c->nscenes] = strdup(scene)))
            return -1;
        c->nscenes++;
        return 1;
    }
    if (c->mode != CACHE_LOADED)
        return 2;
    struct channel key = {.scene = (char *)scene};
    const struct channel *r =
        c->nrows ? bsearch(&key, c->rows, c->nrows, sizeof(*r), cmp_row) : NULL;
    if (!r) {
        const char *k = scene;
        return c->nscenes && bsearch(&k, c->scenes, c->nscenes, sizeof(k), cmp_scene) ? 1 : 2;
    }
    bool ok = true;
    *out = (struct channel){.scene = dup_opt(r->scene, &ok),
                            .name = dup_opt(r->name, &ok),
                            .promoter = dup_opt(r->promoter, &ok),
                            .reply = dup_opt(r->reply, &ok),
                            .scan_reply = dup_opt(r->scan_reply, &ok),
                            .tag = dup_opt(r->tag, &ok),
                            .created_at = r->created_at,
                            .archived_at = r->archived_at,
                            .followup_ids = dup_opt(r->followup_ids, &ok)};
    if (!ok) {
        channel_clear(out);
        return -1;
    }
    return 0;
}

int channel_cache_collect(struct store *st)
{
    struct channel_cache *c = store_channel_cache(st);
    if (!c) {
        if (!(c = calloc(1, sizeof(*c))))
            return -1;
        store_set_channel_cache(st, c, cache_free);
    }
    cache_clear(c);
    c->mode = CACHE_COLLECT;
    return 0;
}

int channel_cache_load(struct store *st)
{
    struct channel_cache *c = store_channel_cache(st);
    if (!c || c->mode != CACHE_COLLECT)
        return -1;
    c->mode = CACHE_OFF;
    if (c->nscenes == 0) {
        c->mode = CACHE_LOADED;
        return 0;
    }
    qsort(c->scenes, c->nscenes, sizeof(*c->scenes), cmp_scene);
    size_t k = 0;
    for (size_t i = 0; i < c->nscenes; i++) {
        if (k && strcmp(c->scenes[k - 1], c->scenes[i]) == 0)
            free(c->scenes[i]);
        else
            c->scenes[k++] = c->scenes[i];
    }
    c->nscenes = k;
    struct db_stmt *s = db_stmt(store_db(st), &q_get_many);
    db_bind_text_array(s, 1, (const char *const *)c->scenes, c->nscenes);
    int rc;
    while ((rc = db_step(s)) == DB_ROW) {
        if (c->nrows == c->rows_cap) {
            size_t cap = c->rows_cap ? c->rows_cap * 2 : 16;
            struct channel *p = realloc(c->rows, cap * sizeof(*p));
            if (!p) {
                rc = DB_ENOMEM;
                break;
            }
            c->rows = p;
            c->rows_cap = cap;
        }
        if (channel_from_row(s, &c->rows[c->nrows]) < 0) {
            rc = DB_ENOMEM;
            break;
        }
        c->nrows++;
    }
    db_reset(s);
    if (rc != DB_DONE)
        return -1;
    if (c->nrows)
        qsort(c->rows, c->nrows, sizeof(*c->rows), cmp_row);
    c->mode = CACHE_LOADED;
    return 0;
}

void channel_cache_end(struct store *st)
{
    struct channel_cache *c = store_channel_cache(st);
    if (c)
        cache_clear(c);
}
