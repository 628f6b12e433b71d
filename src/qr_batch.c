#include "qr_batch.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "channel.h"
#include "csv.h"
#include "qr_internal.h"
#include "qr_perm.h"

static const struct db_query q_earlier_run = {"qr_batch.earlier_run",
                                              "SELECT kind, expire_seconds FROM qr_codes "
                                              "WHERE batch = ?1 AND scene = ?2"};
static const struct db_query q_batch_start = {
    "qr_batch.start", "INSERT INTO qr_batches(id, source, started_at) VALUES(?1, ?2, ?3) "
                      "ON CONFLICT(id) DO UPDATE SET source = excluded.source, "
                      "finished_at = NULL"};
static const struct db_query q_batch_finish = {
    "qr_batch.finish", "UPDATE qr_batches SET finished_at = ?2 WHERE id = ?1"};

enum col { COL_SCENE, COL_NAME, COL_PROMOTER, COL_KIND, COL_EXPIRE, COL_LOGO, COL_N };

/* Column names as the header spells them; the positional order without one. */
static const struct {
    const char *name;
    const char *alias;
    const char *zh; /* the Chinese header (the channel's columns: channel_column) */
    bool required;
} columns[COL_N] = {
    [COL_SCENE] = {"scene", NULL, NULL, true},
    [COL_NAME] = {"name", NULL, NULL, true},
    [COL_PROMOTER] = {"promoter", NULL, NULL, false},
    [COL_KIND] = {"kind", NULL, "类型", true},
    [COL_EXPIRE] = {"expire", "expire_seconds", "有效期", false},
    [COL_LOGO] = {"logo", NULL, "标志", false}, /* a PNG for this row (qr_logo.c) */
};

/* The logos a batch's logo column names, each file read once. */
#define BATCH_LOGOS_MAX 16
struct logo_file {
    char *path;
    struct qr_logo *logo;
};

/* Accepted kind spellings: temp/perm follow the scene text (digits = id). */
static const struct {
    const char *name;
    bool temporary;
    int numeric; /* 1 must be a scene_id, 0 forced scene_str, -1 by the text */
} kinds[] = {
    {"temp", true, -1},    {"perm", false, -1},   {"temp_id", true, 1},
    {"perm_id", false, 1}, {"temp_str", true, 0}, {"perm_str", false, 0},
};

struct row {
    size_t line;
    char *fields[COL_N];
    int numeric;
    struct qr_request rq;
    const struct qr_logo *logo; /* the logo column's, NULL = the batch's --logo (or none) */
};

struct batch {
    const struct qr_batch_opts *o;
    struct row *rows;
    size_t n, cap;
    int map[COL_N];       /* column -> field index, -1 = absent */
    const char *encoding; /* the CSV's (csv_encoding) */
    size_t invalid;
    char id[PATH_MAX]; /* realpath of the output directory */
    struct logo_file logos[BATCH_LOGOS_MAX];
    size_t nlogos;
};

static void row_error(struct batch *b, size_t line, const char *col, const char *fmt, ...)
    WXS_PRINTF(4, 5);
static void row_error(struct batch *b, size_t line, const char *col, const char *fmt, ...)
{
    va_list ap;
    if (++b->invalid > QR_BATCH_MAX_ERRORS)
        return;
    fprintf(b->o->errors, "%s:%zu: ", b->o->csv_path, line);
    if (col)
        fprintf(b->o->errors, "column %s: ", col);
    va_start(ap, fmt);
    vfprintf(b->o->errors, fmt, ap);
    va_end(ap);
    fputc('\n', b->o->errors);
}

static void batch_free(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        for (int c = 0; c < COL_N; c++)
            free(b->rows[i].fields[c]);
    free(b->rows);
    for (size_t i = 0; i < b->nlogos; i++) {
        free(b->logos[i].path);
        qr_logo_free(b->logos[i].logo);
    }
}

/* ---- reading and validating ---- */

static int header_column(const char *name)
{
    const char *canon = channel_column(name);
    if (canon)
        name = canon;
    for (int c = 0; c < COL_N; c++)
        if (strcasecmp(name, columns[c].name) == 0 ||
            (columns[c].alias && strcasecmp(name, columns[c].alias) == 0) ||
            (columns[c].zh && strcmp(name, columns[c].zh) == 0))
            return c;
    return -1;
}

/* A first record starting with "scene" (or 场景值) is a header naming the
 * columns, in English or Chinese. */
static bool read_header(struct batch *b, char **f, size_t nf, size_t line)
{
    if (nf == 0 || header_column(f[0]) != COL_SCENE) {
        for (int c = 0; c < COL_N; c++)
            b->map[c] = c;
        return false;
    }
    for (int c = 0; c < COL_N; c++)
        b->map[c] = -1;
    for (size_t i = 0; i < nf; i++) {
        int c = header_column(f[i]);
        if (c < 0)
            row_error(b, line, NULL,
                      "unknown column \"%s\" (expected scene,name,promoter,kind,"
                      "expire[,logo])",
                      f[i]);
        else if (b->map[c] >= 0)
            row_error(b, line, NULL, "column %s appears twice", columns[c].name);
        else
            b->map[c] = (int)i;
    }
    for (int c = 0; c < COL_N; c++)
        if (columns[c].required && b->map[c] < 0)
            row_error(b, line, NULL, "the header has no %s column", columns[c].name);
    return true;
}

static int row_add(struct batch *b, char **f, size_t nf, size_t line)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        struct row *r = realloc(b->rows, cap * sizeof(*r));
        if (!r)
            return -1;
        b->rows = r;
        b->cap = cap;
    }
    struct row *r = &b->rows[b->n++];
    memset(r, 0, sizeof(*r));
    r->line = line;
    for (int c = 0; c < COL_N; c++) {
        int i = b->map[c];
        r->fields[c] = strdup(i >= 0 && (size_t)i < nf ? f[i] : "");
        if (!r->fields[c])
            return -1;
    }
    if (nf > COL_N && b->map[COL_EXPIRE] == COL_EXPIRE)
        row_error(b, line, NULL, "%zu columns; expected scene,name,promoter,kind,expire[,logo]",
                  nf);
    return 0;
}

static int read_rows(struct batch *b, FILE *f, struct qr_error *err)
{
    struct csv_reader *csv = NULL;
    char **fields, why[256];
    size_t nf, line;
    bool first = true;
    int rc;
    if (csv_open(&csv, f) < 0)
        return qr_fail(err, QR_EINTERNAL, NULL, "out of memory");
    while ((rc = csv_next(csv, &fields, &nf, &line, why, sizeof(why))) == 1) {
        if (first && (first = false, read_header(b, fields, nf, line)))
            continue;
        if (b->n >= QR_BATCH_MAX_ROWS) {
            row_error(b, line, NULL, "more than %d rows", QR_BATCH_MAX_ROWS);
            break;
        }
        if (row_add(b, fields, nf, line) < 0) {
            csv_close(csv);
            return qr_fail(err, QR_EINTERNAL, NULL, "out of memory");
        }
    }
    if (rc < 0)
        row_error(b, line, NULL, "%s", why);
    else
        b->encoding = csv_encoding(csv);
    csv_close(csv);
    return 0;
}

static const char *field_column(const char *field)
{
    if (!field || strcmp(field, "scene") == 0)
        return "scene";
    if (strcmp(field, "expire_seconds") == 0)
        return "expire";
    return field;
}

static int parse_kind(struct batch *b, struct row *r)
{
    const char *k = r->fields[COL_KIND];
    for (size_t i = 0; i < WXS_ARRAY_LEN(kinds); i++) {
        if (strcasecmp(k, kinds[i].name) == 0) {
            r->rq.temporary = kinds[i].temporary;
            r->rq.force_str = kinds[i].numeric == 0;
            r->numeric = kinds[i].numeric;
            return 0;
        }
    }
    row_error(b, r->line, "kind",
              "\"%s\" is not one of temp, perm, temp_id, perm_id, temp_str, "
              "perm_str",
              k);
    return -1;
}

static int parse_expire(struct batch *b, struct row *r)
{
    const char *e = r->fields[COL_EXPIRE];
    if (!r->rq.temporary && e[0]) {
        row_error(b, r->line, "expire", "a permanent code has no expiry (leave it empty)");
        return -1;
    }
    if (r->rq.temporary && qr_parse_expire(e, &r->rq.expire_seconds) < 0) {
        row_error(b, r->line, "expire",
                  "\"%s\": a temporary code needs 1..%d seconds (or Nd, Nh, Nm)", e, QR_EXPIRE_MAX);
        return -1;
    }
    return 0;
}

/* One row on its own: kind, expiry, scene rules, channel fields. */
static void check_row(struct batch *b, struct row *r)
{
    struct qr_spec spec;
    struct qr_error e = {0};
    char why[256];
    r->rq.scene = r->fields[COL_SCENE];
    r->rq.name = r->fields[COL_NAME];
    r->rq.promoter = r->fields[COL_PROMOTER][0] ? r->fields[COL_PROMOTER] : NULL;
    if (parse_kind(b, r) < 0 || parse_expire(b, r) < 0)
        return;
    if (qr_validate(&r->rq, &spec, &e) < 0) {
        row_error(b, r->line, field_column(e.field), "%s", e.msg);
        return;
    }
    if (r->numeric == 1 && spec.kind != QR_TEMP_ID && spec.kind != QR_PERM_ID) {
        row_error(b, r->line, "kind", "%s needs a numeric scene, not \"%s\"", r->fields[COL_KIND],
                  r->rq.scene);
        return;
    }
    struct channel c = {.scene = (char *)r->rq.scene,
                        .name = (char *)r->rq.name,
                        .promoter = (char *)r->rq.promoter};
    if (channel_validate(&c, NULL, why, sizeof(why)) < 0) {
        char col[32];
        size_t n = strcspn(why, ":");
        util_strlcpy(col, why, n + 1 < sizeof(col) ? n + 1 : sizeof(col));
        row_error(b, r->line, col, "%s", why[n] ? why + n + 2 : why);
    }
}

/* The row's logo column: a PNG path (relative to the current directory),
 * read once per distinct path and checked like --logo. */
static void check_logo(struct batch *b, struct row *r)
{
    static const char prefix[] = "--logo: ";
    const char *path = r->fields[COL_LOGO];
    char why[512];
    size_t i = 0;
    if (!path[0])
        return;
    while (i < b->nlogos && strcmp(b->logos[i].path, path) != 0)
        i++;
    if (i == b->nlogos && b->nlogos == BATCH_LOGOS_MAX) {
        row_error(b, r->line, "logo", "more than %d different logos in one batch", BATCH_LOGOS_MAX);
        return;
    }
    if (i == b->nlogos) {
        struct qr_logo *l = NULL;
        if (qr_logo_load(path, &l, why, sizeof(why)) < 0) {
            bool named = strncmp(why, prefix, sizeof(prefix) - 1) == 0;
            row_error(b, r->line, "logo", "%s", why + (named ? sizeof(prefix) - 1 : 0));
            return;
        }
        if (!(b->logos[i].path = strdup(path))) {
            qr_logo_free(l);
            row_error(b, r->line, "logo", "out of memory");
            return;
        }
        b->logos[b->nlogos++].logo = l;
    }
    if (b->o->scale < QR_LOGO_MIN_SCALE)
        row_error(b, r->line, "logo", "a code with a logo needs --scale %d or more",
                  QR_LOGO_MIN_SCALE);
    else
        r->logo = b->logos[i].logo;
}

/* An existing channel must say what the row says. */
static void check_channel(struct store *st, struct batch *b, struct row *r)
{
    struct channel c = {0};
    int found = channel_get(st, r->rq.scene, &c);
    if (found < 0)
        row_error(b, r->line, NULL, "database: reading channel %s: %s", r->rq.scene,
                  store_errmsg(st));
    else if (found == 0 && (!channel_text_same(c.name, r->rq.name) ||
                            !channel_text_same(c.promoter, r->rq.promoter)))
        row_error(b, r->line, "name",
                  "channel %s exists as \"%s\" (promoter \"%s\"); the CSV "
                  "says \"%s\" (\"%s\")",
                  r->rq.scene, c.name, c.promoter ? c.promoter : "", r->rq.name,
                  r->rq.promoter ? r->rq.promoter : "");
    channel_clear(&c);
}

/* The row against the store: an existing channel must match, an archived
 * one or a retired permanent id stops the batch before any API call. */
static void check_stored(struct store *st, struct batch *b, struct row *r)
{
    struct db *db = store_db(st);
    struct qr_error e = {0};
    enum qr_perm_state ledger = QR_PERM_FREE;
    char why[256];
    uint64_t id;
    int state = qr_channel_state(st, r->rq.scene, &e);
    if (state < 0) {
        row_error(b, r->line, NULL, "%s", e.msg);
        return;
    }
    if (state == CHANNEL_ACTIVE)
        check_channel(st, b, r);
    bool perm_id = !r->rq.temporary && !r->rq.force_str && channel_scene_is_id(r->rq.scene) &&
                   util_parse_u64(r->rq.scene, 1, QR_PERM_ID_MAX, &id) == 0;
    if (perm_id && qr_perm_state(db, id, &ledger, why, sizeof(why)) < 0)
        row_error(b, r->line, NULL, "%s", why);
    else if (ledger == QR_PERM_RETIRED)
        row_error(b, r->line, "scene",
                  "permanent scene_id %s is retired (its channel was "
                  "archived); free it with: wxscene qr perm-ids --release %s",
                  r->rq.scene, r->rq.scene);
    else if (state == CHANNEL_ARCHIVED && !(perm_id && ledger == QR_PERM_FREE))
        row_error(b, r->line, "scene", "channel %s is archived", r->rq.scene);
}

static int row_cmp(const void *a, const void *b)
{
    const struct row *ra = *(const struct row *const *)a, *rb = *(const struct row *const *)b;
    int c = strcmp(ra->fields[COL_SCENE], rb->fields[COL_SCENE]);
    return c ? c : (ra->line > rb->line) - (ra->line < rb->line);
}

/* A re-run must ask for what the first run asked for: a done row with
 * another kind or expiry would otherwise be skipped silently. */
static void check_earlier_run(struct store *st, struct batch *b, struct row *r)
{
    struct qr_spec spec;
    struct qr_error e;
    if (!b->id[0] || qr_validate(&r->rq, &spec, &e) < 0)
        return;
    struct db *db = store_db(st);
    struct db_stmt *s = db_stmt(db, &q_earlier_run);
    db_bind_text(s, 1, b->id);
    db_bind_text(s, 2, spec.scene);
    int rc = db_step(s);
    if (rc < 0) {
        row_error(b, r->line, NULL, "database: reading this directory's earlier run: %s",
                  db_errmsg(db));
    } else if (rc == DB_ROW) {
        const char *kind = db_col_text(s, 0);
        int64_t expire = db_col_int64(s, 1);
        if (!kind || strcmp(kind, qr_kind_name(spec.kind)) != 0 || expire != spec.expire_seconds)
            row_error(b, r->line, "kind",
                      "scene %s was created in this output directory as %s "
                      "(expire %lld); the CSV now asks for %s (expire %lld): use a new --out DIR",
                      spec.scene, kind ? kind : "?", (long long)expire, qr_kind_name(spec.kind),
                      (long long)spec.expire_seconds);
    }
    db_reset(s);
}

/* Scenes are the batch's keys: the same one twice is a mistake. */
static int check_duplicates(struct batch *b)
{
    struct row **by = malloc((b->n ? b->n : 1) * sizeof(*by));
    if (!by)
        return -1;
    for (size_t i = 0; i < b->n; i++)
        by[i] = &b->rows[i];
    qsort(by, b->n, sizeof(*by), row_cmp);
    for (size_t i = 1; i < b->n; i++)
        if (strcmp(by[i]->fields[COL_SCENE], by[i - 1]->fields[COL_SCENE]) == 0)
            row_error(b, by[i]->line, "scene", "\"%s\" repeats line %zu", by[i]->fields[COL_SCENE],
                      by[i - 1]->line);
    free(by);
    return 0;
}

static int validate_all(struct store *st, struct batch *b, struct qr_error *err)
{
    size_t before = b->invalid;
    for (size_t i = 0; i < b->n; i++) {
        check_row(b, &b->rows[i]);
        check_logo(b, &b->rows[i]);
    }
    if (b->invalid == before && check_duplicates(b) < 0)
        return qr_fail(err, QR_EINTERNAL, NULL, "out of memory");
    for (size_t i = 0; b->invalid == before && i < b->n; i++)
        check_stored(st, b, &b->rows[i]);
    for (size_t i = 0; b->invalid == before && i < b->n; i++)
        check_earlier_run(st, b, &b->rows[i]);
    if (b->n == 0 && b->invalid == 0)
        row_error(b, 1, NULL, "no rows");
    return 0;
}

/* New permanent codes the batch needs must fit in what the account has left. */
static int check_perm_budget(struct store *st, struct batch *b, struct qr_error *err)
{
    struct qr_perm_usage u;
    struct qr_code c;
    char why[sizeof(err->msg)];
    int64_t need = 0;
    if (qr_perm_usage(store_db(st), &u, why, sizeof(why)) < 0)
        return qr_fail(err, QR_EINTERNAL, NULL, "%s", why);
    for (size_t i = 0; i < b->n; i++) {
        if (b->rows[i].rq.temporary)
            continue;
        int rc = qr_code_latest(st, b->rows[i].rq.scene, &c, err);
        if (rc < 0)
            return rc;
        need += rc == 1 || qr_kind_is_temp(c.kind);
        if (rc == 0)
            qr_code_clear(&c);
    }
    if (need > u.codes_left)
        row_error(b, 1, NULL,
                  "the batch needs %lld new permanent codes; the account has %lld "
                  "left",
                  (long long)need, (long long)u.codes_left);
    return 0;
}

/* ---- running ---- */

int qr_batch_image_name(const char *scene, const char *ext, char *out, size_t outlen)
{
    size_t n = strlen(scene);
    bool plain = n > 0 && n <= 64 && scene[0] != '.';
    uint32_t h = 2166136261u; /* FNV-1a: stable across runs and machines */
    char safe[48];
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)scene[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        plain = plain && ok;
        if (i < sizeof(safe) - 1)
            safe[i] = ok ? (char)ch : '_';
        h = (h ^ ch) * 16777619u;
    }
    safe[n < sizeof(safe) - 1 ? n : sizeof(safe) - 1] = '\0';
    if (safe[0] == '.')
        safe[0] = '_';
    int w = plain ? snprintf(out, outlen, "%s.%s", scene, ext)
                  : snprintf(out, outlen, "%s-%08x.%s", safe, (unsigned)h, ext);
    return w < 0 || (size_t)w >= outlen ? -1 : 0;
}

static int open_dir(struct batch *b, struct qr_error *err)
{
    if (mkdir(b->o->out_dir, 0755) < 0 && errno != EEXIST)
        return qr_fail(err, QR_EINTERNAL, "out", "%s: %s", b->o->out_dir, strerror(errno));
    if (!realpath(b->o->out_dir, b->id))
        return qr_fail(err, QR_EINTERNAL, "out", "%s: %s", b->o->out_dir, strerror(errno));
    struct stat sb;
    if (stat(b->id, &sb) < 0 || !S_ISDIR(sb.st_mode))
        return qr_fail(err, QR_EINVALID, "out", "%s is not a directory", b->o->out_dir);
    return 0;
}

/* The batch run's row: started (again) or finished. */
static int batch_record(struct store *st, struct batch *b, bool finished, struct qr_error *err)
{
    struct db *db = store_db(st);
    struct db_stmt *s = db_stmt(db, finished ? &q_batch_finish : &q_batch_start);
    db_bind_text(s, 1, b->id);
    if (finished) {
        db_bind_int64(s, 2, util_now());
    } else {
        db_bind_text(s, 2, b->o->csv_path);
        db_bind_int64(s, 3, util_now());
    }
    if (db_run(s) < 0)
        return qr_db_fail(db, err, "recording the batch %s %s", b->id,
                          finished ? "as finished" : "as started");
    return 0;
}

static const char *format_ext(enum qr_image_format f)
{
    return f == QR_IMG_SVG ? "svg" : "png";
}

/* The row's image: rendered unless a finished earlier run left it. */
static int row_image(struct batch *b, const struct row *r, const struct qr_code *c, char *name,
                     size_t namelen, struct qr_error *err)
{
    char path[PATH_MAX + 256];
    if (qr_batch_image_name(c->scene, format_ext(b->o->format), name, namelen) < 0)
        return qr_fail(err, QR_EINTERNAL, NULL, "image name too long");
    snprintf(path, sizeof(path), "%s/%s", b->id, name);
    if (c->reused && access(path, F_OK) == 0)
        return 0;
    return qr_write_image(NULL, c, path, b->o->scale, r->logo ? r->logo : b->o->logo, err);
}

static int index_line(const struct batch *b, struct buf *idx, const struct row *r,
                      const struct qr_code *c, const char *image)
{
    char exp[24] = "", at[32] = "";
    bool temp = qr_kind_is_temp(c->kind);
    if (temp) {
        snprintf(exp, sizeof(exp), "%lld", (long long)c->expire_seconds);
        tz_format_time(b->o->tz, c->expires_at, at, sizeof(at));
    }
    const char *vals[] = {c->scene,
                          r->rq.name,
                          r->rq.promoter ? r->rq.promoter : "",
                          qr_kind_name(c->kind),
                          exp,
                          at,
                          temp ? b->o->zone : "",
                          c->ticket,
                          c->url,
                          image};
    for (size_t i = 0; i < WXS_ARRAY_LEN(vals); i++)
        if ((i && buf_puts(idx, ",") < 0) || csv_field(idx, vals[i]) < 0)
            return -1;
    return buf_puts(idx, "\n");
}

static const char *row_outcome(const struct qr_code *c, struct qr_batch_result *res)
{
    if (c->reused) {
        res->skipped++;
        return "done before";
    }
    res->created++;
    if (c->attempts > 1) {
        res->resent++;
        return "created (interrupted call sent again)";
    }
    return "created";
}

/* Create (or pick up) one row's code and image, and add it to the index. */
static int run_row(struct store *st, struct wxapi *api, struct batch *b, const struct row *r,
                   struct buf *idx, struct qr_batch_result *res, struct qr_error *err)
{
    struct qr_code c;
    char image[160];
    if (qr_create(st, api, &r->rq, b->id, &c, err) < 0) {
        fprintf(b->o->errors, "%s:%zu: scene %s: %s\n", b->o->csv_path, r->line, r->rq.scene,
                err->msg);
        return err->rc;
    }
    int rc = row_image(b, r, &c, image, sizeof(image), err);
    if (rc == 0 && index_line(b, idx, r, &c, image) < 0)
        rc = qr_fail(err, QR_EINTERNAL, NULL, "out of memory");
    if (rc == 0)
        fprintf(b->o->report, "line %zu  %s  %s  %s\n", r->line, c.scene, row_outcome(&c, res),
                image);
    qr_code_clear(&c);
    return rc;
}

static int write_index(struct batch *b, struct buf *idx, struct qr_error *err)
{
    char path[PATH_MAX + 16], why[512];
    snprintf(path, sizeof(path), "%s/index.csv", b->id);
    if (qr_write_file(path, idx->data, idx->len, why, sizeof(why)) < 0)
        return qr_fail(err, QR_EINTERNAL, NULL, "%s", why);
    return 0;
}

static int run_all(struct store *st, struct wxapi *api, struct batch *b,
                   struct qr_batch_result *res, struct qr_error *err)
{
    struct buf idx = {0};
    int rc = 0;
    if ((b->o->bom && buf_puts(&idx, CSV_BOM) < 0) ||
        buf_puts(&idx, "scene,name,promoter,kind,expire_seconds,expires_at,time_zone,ticket,url,"
                       "image\n") < 0)
        return qr_fail(err, QR_EINTERNAL, NULL, "out of memory");
    rc = batch_record(st, b, false, err);
    for (size_t i = 0; rc == 0 && i < b->n; i++)
        rc = run_row(st, api, b, &b->rows[i], &idx, res, err);
    /* the index lists what is done, also after a failure */
    struct qr_error ierr = {0};
    if (write_index(b, &idx, &ierr) < 0 && rc == 0)
        *err = ierr, rc = ierr.rc;
    if (rc == 0)
        rc = batch_record(st, b, true, err);
    buf_free(&idx);
    return rc;
}

int qr_batch_run(struct store *st, struct wxapi *api, const struct qr_batch_opts *o,
                 struct qr_batch_result *res, struct qr_error *err)
{
    struct batch b = {.o = o};
    FILE *f = fopen(o->csv_path, "rb");
    int rc = 0;
    memset(res, 0, sizeof(*res));
    memset(err, 0, sizeof(*err));
    if (!f)
        return qr_fail(err, QR_EINVALID, "csv", "%s: %s", o->csv_path, strerror(errno));
    if (read_rows(&b, f, err) < 0)
        goto done;
    if (!realpath(o->out_dir, b.id)) /* an existing directory: this may be a re-run */
        b.id[0] = '\0';
    if ((rc = validate_all(st, &b, err)) == 0 && b.invalid == 0)
        rc = check_perm_budget(st, &b, err);
    res->rows = b.n;
    res->invalid = b.invalid;
    res->encoding = b.encoding;
    if (rc == 0 && b.invalid) {
        rc = qr_fail(err, QR_EINVALID, "csv", "%s: %zu error%s; nothing was created", o->csv_path,
                     b.invalid, b.invalid == 1 ? "" : "s");
        goto done;
    }
    if (rc == 0 && (rc = open_dir(&b, err)) == 0)
        rc = run_all(st, api, &b, res, err);
done:
    if (err->rc && !rc)
        rc = err->rc;
    fclose(f);
    batch_free(&b);
    return rc;
}
