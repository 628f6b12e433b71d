#include "channel_import.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "csv.h"

static const char *const import_cols[] = {"scene", "name",       "promoter",
                                          "reply", "scan_reply", "tag"};

struct import_row {
    struct channel c;
    size_t line; /* where the row starts in the file */
};

struct channel_import {
    struct import_row *rows;
    size_t n, cap;
    int map[WXS_ARRAY_LEN(import_cols)]; /* column -> field index, -1 = absent */
    size_t ncols;                        /* fields a row may have (0 = no header) */
    const char *encoding;                /* the file's (csv_encoding) */
    struct channel_import_error *errs;
    size_t nerr, max_err, nlisted;
};

int channel_import_new(struct channel_import **out, size_t max_errors)
{
    struct channel_import *ci = calloc(1, sizeof(*ci));
    if (!max_errors)
        max_errors = CHANNEL_IMPORT_MAX_ERRORS;
    if (ci && !(ci->errs = calloc(max_errors, sizeof(*ci->errs)))) {
        free(ci);
        ci = NULL;
    }
    if (!ci)
        return -1;
    ci->max_err = max_errors;
    *out = ci;
    return 0;
}

void channel_import_free(struct channel_import *ci)
{
    if (!ci)
        return;
    for (size_t i = 0; i < ci->n; i++)
        channel_clear(&ci->rows[i].c);
    free(ci->rows);
    free(ci->errs);
    free(ci);
}

/* One refusal: counted always, listed while there is room. */
static int import_fail(struct channel_import *ci, size_t row, const char *column, const char *code,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int import_fail(struct channel_import *ci, size_t row, const char *column, const char *code,
                       const char *fmt, ...)
{
    ci->nerr++;
    if (ci->nlisted == ci->max_err)
        return -1;
    struct channel_import_error *e = &ci->errs[ci->nlisted++];
    va_list ap;
    e->row = row;
    e->column = column;
    snprintf(e->code, sizeof(e->code), "%s", code);
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return -1;
}

static char *opt_dup(const char *s)
{
    return (s && *s) ? strdup(s) : NULL;
}

static struct channel *row_new(struct channel_import *ci, size_t line)
{
    if (ci->n == ci->cap) {
        size_t cap = ci->cap ? ci->cap * 2 : 64;
        struct import_row *nr = realloc(ci->rows, cap * sizeof(*nr));
        if (!nr)
            return NULL;
        ci->rows = nr;
        ci->cap = cap;
    }
    ci->rows[ci->n].line = line;
    struct channel *c = &ci->rows[ci->n++].c;
    memset(c, 0, sizeof(*c));
    return c;
}

/* The row's count of fields against the header (or the fixed columns). */
static int row_shape(struct channel_import *ci, size_t nf, size_t line)
{
    if (ci->ncols == 0 && (nf < 5 || nf > 6))
        return import_fail(ci, line, NULL, "csv_columns", "expected 5 or 6 columns (%s), got %zu",
                           "scene,name,promoter,reply,scan_reply[,tag]", nf);
    if (ci->ncols && nf > ci->ncols)
        return import_fail(ci, line, NULL, "csv_columns", "%zu columns, the header names %zu", nf,
                           ci->ncols);
    return 0;
}

/* Name and promoter as channel_add() would store them (blanks around,
 * NFC; a promoter of blanks only is none), done here, before the write
 * transaction, rather than while it holds the lock. */
static int row_tidy(struct channel_import *ci, struct channel *c, size_t line)
{
    char *name = channel_text_tidy(c->name), *promoter = channel_text_tidy(c->promoter);
    if (!name || (c->promoter && !promoter)) {
        free(name);
        free(promoter);
        return import_fail(ci, line, NULL, "internal", "out of memory");
    }
    free(c->name);
    free(c->promoter);
    c->name = name;
    c->promoter = promoter && *promoter ? promoter : (free(promoter), NULL);
    return 0;
}

/* Validate and keep one data row; the refusal names the row and column. */
static int import_row(struct channel_import *ci, char **f, size_t nf, size_t line)
{
    struct channel_scene scene;
    struct channel_why w = {0};
    if (row_shape(ci, nf, line) < 0)
        return -1;
    struct channel *c = row_new(ci, line);
    if (!c)
        return import_fail(ci, line, NULL, "internal", "out of memory");
    const char *v[WXS_ARRAY_LEN(import_cols)];
    for (size_t i = 0; i < WXS_ARRAY_LEN(v); i++) {
        int k = ci->ncols ? ci->map[i] : (int)i;
        v[i] = k >= 0 && (size_t)k < nf ? f[k] : "";
    }
    c->scene = strdup(v[0]);
    c->name = strdup(v[1]);
    c->promoter = opt_dup(v[2]);
    c->reply = opt_dup(v[3]);
    c->scan_reply = opt_dup(v[4]);
    c->tag = opt_dup(v[5]);
    if (!c->scene || !c->name)
        return import_fail(ci, line, NULL, "internal", "out of memory");
    if (channel_scene_parse(&scene, c->scene, false, &w) < 0 || channel_check(c, &w) < 0)
        return import_fail(ci, line, w.field, w.code, "%s", w.msg);
    return row_tidy(ci, c, line);
}

static int by_scene(const void *a, const void *b)
{
    const struct import_row *x = *(const struct import_row *const *)a;
    const struct import_row *y = *(const struct import_row *const *)b;
    int c = strcmp(x->c.scene, y->c.scene);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Scenes are the file's keys: one sort finds every repeat in O(n log n)
 * (comparing each row with all before it took 19 s for 100k rows). */
static void import_duplicates(struct channel_import *ci)
{
    const struct import_row **by = malloc((ci->n ? ci->n : 1) * sizeof(*by));
    size_t n = 0;
    if (!by) {
        import_fail(ci, 0, NULL, "internal", "out of memory");
        return;
    }
    for (size_t i = 0; i < ci->n; i++)
        if (ci->rows[i].c.scene)
            by[n++] = &ci->rows[i];
    qsort(by, n, sizeof(*by), by_scene);
    for (size_t i = 1, first = 0; i < n; i++) {
        if (strcmp(by[i]->c.scene, by[first]->c.scene) != 0)
            first = i;
        else
            import_fail(ci, by[i]->line, "scene", "scene_duplicate",
                        "scene: %s appears twice in the file (first on line %zu)", by[i]->c.scene,
                        by[first]->line);
    }
    free(by);
}

/* The header's cells: each a known column, none twice. */
static void header_cells(struct channel_import *ci, char **f, size_t nf, size_t line)
{
    for (size_t k = 0; k < nf; k++) {
        const char *col = channel_column(f[k]);
        size_t i = 0;
        while (col && strcmp(col, import_cols[i]) != 0)
            i++;
        if (!col || ci->map[i] >= 0)
            import_fail(ci, line, NULL, "csv_header", "column %zu: %s \"%s\" (expected %s)", k + 1,
                        col ? "a second" : "unknown column", f[k],
                        "scene,name,promoter,reply,scan_reply,tag or "
                        "场景值,名称,推广员,欢迎语,扫码回复,标签");
        else
            ci->map[i] = (int)k;
    }
}

/* A first record whose first two cells name columns (scene,name or
 * 场景值,名称, in any order) is a header: the columns are then taken by
 * name, English or Chinese (channel_column). 1 header, 0 data, -1 a bad
 * header (said). */
static int read_header(struct channel_import *ci, char **f, size_t nf, size_t line)
{
    size_t before = ci->nerr;
    if (nf < 2 || !channel_column(f[0]) || !channel_column(f[1]))
        return 0;
    for (size_t i = 0; i < WXS_ARRAY_LEN(import_cols); i++)
        ci->map[i] = -1;
    header_cells(ci, f, nf, line);
    for (size_t i = 0; i < 2; i++)
        if (ci->map[i] < 0)
            import_fail(ci, line, NULL, "csv_header", "the header has no %s column",
                        i ? "name (名称)" : "scene (场景值)");
    ci->ncols = nf;
    return ci->nerr > before ? -1 : 1;
}

int channel_import_read(struct channel_import *ci, FILE *fp)
{
    struct csv_reader *r;
    char **f, err[256];
    size_t nf, line;
    int rc;
    bool first = true;
    if (csv_open(&r, fp) < 0)
        return import_fail(ci, 0, NULL, "internal", "out of memory");
    while ((rc = csv_next(r, &f, &nf, &line, err, sizeof(err))) == 1) {
        int head = first ? read_header(ci, f, nf, line) : 0;
        first = false;
        if (head == 0 && import_row(ci, f, nf, line) < 0)
            continue;
    }
    if (rc < 0)
        import_fail(ci, line, NULL, csv_loaded(r) ? "csv_syntax" : "csv_encoding", "%s", err);
    else
        ci->encoding = csv_encoding(r);
    csv_close(r);
    import_duplicates(ci);
    return ci->nerr ? -1 : 0;
}

static void import_exists(size_t i, const char *msg, void *arg)
{
    struct channel_import *ci = arg;
    import_fail(ci, ci->rows[i].line, "scene", "scene_exists", "%s", msg);
}

/* Every row in a few multi-row INSERTs (channel_add_many); a scene already
 * taken is an error of its row, and any error rolls the whole back. */
static int import_insert(struct store *st, void *arg)
{
    struct channel_import *ci = arg;
    const struct channel **cs = malloc((ci->n ? ci->n : 1) * sizeof(*cs));
    char err[512];
    int rc = -1;
    if (!cs)
        return import_fail(ci, 0, NULL, "internal", "out of memory");
    for (size_t i = 0; i < ci->n; i++)
        cs[i] = &ci->rows[i].c;
    if (channel_add_many(st, cs, ci->n, import_exists, ci, err, sizeof(err)) < 0)
        import_fail(ci, 0, NULL, "internal", "%s", err);
    else
        rc = ci->nerr ? -1 : 0;
    free(cs);
    return rc;
}

int channel_import_write(struct channel_import *ci, struct store *st)
{
    size_t before = ci->nerr;
    if (store_tx(st, import_insert, ci) == 0)
        return 0;
    if (ci->nerr == before) /* the commit itself failed */
        import_fail(ci, 0, NULL, "internal", "%s", store_errmsg(st));
    return -1;
}

static int import_try(struct store *st, void *arg)
{
    (void)import_insert(st, arg);
    return -1; /* always rolled back */
}

int channel_import_check(struct channel_import *ci, struct store *st)
{
    size_t before = ci->nerr;
    if (store_tx(st, import_try, ci) == 0)
        return -1; /* cannot happen: import_try always rolls back */
    return ci->nerr > before ? -1 : 0;
}

size_t channel_import_rows(const struct channel_import *ci)
{
    return ci->n;
}

const char *channel_import_encoding(const struct channel_import *ci)
{
    return ci->encoding ? ci->encoding : "UTF-8";
}

size_t channel_import_error_count(const struct channel_import *ci)
{
    return ci->nerr;
}

size_t channel_import_errors_listed(const struct channel_import *ci)
{
    return ci->nlisted;
}

const struct channel_import_error *channel_import_error(const struct channel_import *ci, size_t i)
{
    return i < ci->nlisted ? &ci->errs[i] : NULL;
}
