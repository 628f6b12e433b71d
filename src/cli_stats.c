/* wxscene stats: channel statistics as a table, CSV or the CONTRACT's JSON. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "stats.h"
#include "tz.h"

#define STATS_USAGE                                                                                \
    "usage: wxscene stats [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--by channel|promoter|day]\n" \
    "                     [--format table|csv|json] [--bom] [--rebuild]\n"                         \
    "  default range: the 30 days ending today in [stats] timezone; dates are inclusive\n"         \
    "  --bom      CSV starts with a UTF-8 byte order mark (for spreadsheets)\n"                    \
    "  --rebuild  recompute the rollups from the events first (locks the database meanwhile)\n"

enum out_format { FMT_TABLE, FMT_CSV, FMT_JSON };

struct stats_args {
    const char *since, *until;
    enum stats_by by;
    enum out_format fmt;
    bool bom, rebuild;
};

static const char *const format_names[] = {
    [FMT_TABLE] = "table",
    [FMT_CSV] = "csv",
    [FMT_JSON] = "json",
};

static int parse_format(const char *s, enum out_format *f)
{
    for (size_t i = 0; i < WXS_ARRAY_LEN(format_names); i++) {
        if (strcmp(s, format_names[i]) == 0) {
            *f = (enum out_format)i;
            return 0;
        }
    }
    return -1;
}

/* 0 ok, 2 usage error (already reported). */
static int parse_args(int argc, char **argv, struct stats_args *a)
{
    static const struct option opts[] = {{"since", required_argument, NULL, 's'},
                                         {"until", required_argument, NULL, 'u'},
                                         {"by", required_argument, NULL, 'b'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"bom", no_argument, NULL, 'B'},
                                         {"rebuild", no_argument, NULL, 'R'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        switch (o) {
        case 's':
            a->since = optarg;
            break;
        case 'u':
            a->until = optarg;
            break;
        case 'b':
            if (stats_parse_by(optarg, &a->by) < 0)
                return fprintf(stderr,
                               "wxscene: stats: --by: '%s' is not channel, promoter or day\n",
                               optarg),
                       2;
            break;
        case 'f':
            if (parse_format(optarg, &a->fmt) < 0)
                return fprintf(stderr, "wxscene: stats: --format: '%s' is not table, csv or json\n",
                               optarg),
                       2;
            break;
        case 'B':
            a->bom = true;
            break;
        case 'R':
            a->rebuild = true;
            break;
        default:
            fputs(STATS_USAGE, stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "wxscene: stats: unexpected argument '%s'\n%s", argv[optind], STATS_USAGE);
        return 2;
    }
    if (a->bom && a->fmt != FMT_CSV) {
        fprintf(stderr, "wxscene: stats: --bom only applies to --format csv\n");
        return 2;
    }
    return 0;
}

/* ---- the table: columns sized by display width (CJK names take two) ---- */

/* Display columns of one code point: East Asian wide ranges count 2. */
static int cp_width(uint32_t c)
{
    static const uint32_t wide[][2] = {
        {0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0x33FF},   {0x3400, 0x4DBF},
        {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},
        {0xFE30, 0xFE4F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F},
        {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
    };
    for (size_t i = 0; i < WXS_ARRAY_LEN(wide); i++)
        if (c >= wide[i][0] && c <= wide[i][1])
            return 2;
    return 1;
}

static size_t disp_width(const char *s)
{
    size_t w = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t c = *p;
        int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        if (n > 1)
            c &= 0x3F >> (n - 1);
        for (int i = 1; i < n && (p[i] & 0xC0) == 0x80; i++)
            c = c << 6 | (p[i] & 0x3F);
        for (int i = 0; i < n && *p; i++)
            p++;
        w += (size_t)cp_width(c);
    }
    return w;
}

#define MAX_COLS 16

struct table {
    size_t ncols, nrows, ncells, cap;
    char **cells; /* nrows x ncols, malloc'd strings */
    bool numeric[MAX_COLS];
    size_t width[MAX_COLS];
};

static int table_cell(struct table *t, const char *s)
{
    size_t n = t->ncells;
    if (n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        char **c = realloc(t->cells, cap * sizeof(*c));
        if (!c)
            return -1;
        t->cells = c;
        t->cap = cap;
    }
    if (!(t->cells[n] = strdup(s)))
        return -1;
    t->ncells++;
    return 0;
}

/* Cells are added left to right; a row ends after ncols of them. */
static int table_add(struct table *t, const char *s, size_t *col)
{
    if (table_cell(t, s ? s : "-") < 0)
        return -1;
    size_t w = disp_width(s ? s : "-");
    if (w > t->width[*col])
        t->width[*col] = w;
    if (++*col == t->ncols) {
        *col = 0;
        t->nrows++;
    }
    return 0;
}

static int table_int(struct table *t, int64_t v, size_t *col)
{
    char s[32];
    snprintf(s, sizeof(s), "%lld", (long long)v);
    return table_add(t, s, col);
}

static int table_print(const struct table *t, FILE *f)
{
    struct buf line = {0};
    int bad = 0;
    for (size_t r = 0; !bad && r < t->nrows; r++) {
        buf_reset(&line);
        for (size_t c = 0; !bad && c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            int pad = (int)(t->width[c] - disp_width(s));
            bad = buf_printf(&line, "%s%*s%s%*s", c ? "  " : "", t->numeric[c] ? pad : 0, "", s,
                             t->numeric[c] ? 0 : pad, "") < 0;
        }
        while (!bad && line.len && line.data[line.len - 1] == ' ')
            line.data[--line.len] = '\0';
        bad = bad || fprintf(f, "%s\n", line.len ? line.data : "") < 0;
    }
    buf_free(&line);
    return bad ? -1 : 0;
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->ncells; i++)
        free(t->cells[i]);
    free(t->cells);
}

static const char *const count_heads[] = {"SCANS",  "UNIQUE", "NEW",     "RETURNING",
                                          "UNSUBS", "NET",    "RETAINED"};

static int table_counts(struct table *t, const struct stats_counts *c, bool unique, size_t *col)
{
    const int64_t v[] = {c->scans,        c->unique_scanners, c->new_fans,     c->returning_fans,
                         c->unsubscribes, c->net_fans,        c->retained_fans};
    for (size_t i = 0; i < WXS_ARRAY_LEN(v); i++)
        if ((unique || i != 1) && table_int(t, v[i], col) < 0)
            return -1;
    return 0;
}

/* Header cells for the view; numeric columns are right-aligned. */
static int table_head(struct table *t, enum stats_by by, size_t *col)
{
    static const char *const lead[][3] = {
        [STATS_BY_CHANNEL] = {"SCENE", "NAME", "PROMOTER"},
        [STATS_BY_PROMOTER] = {"PROMOTER", "CHANNELS", NULL},
        [STATS_BY_DAY] = {"DATE", NULL, NULL},
    };
    size_t nlead = 0;
    while (nlead < 3 && lead[by][nlead])
        nlead++;
    t->ncols = nlead + WXS_ARRAY_LEN(count_heads) - (by == STATS_BY_PROMOTER) +
               (by == STATS_BY_PROMOTER ? 3 : 0);
    for (size_t i = 0; i < t->ncols; i++)
        t->numeric[i] = i >= nlead || (by == STATS_BY_PROMOTER && i == 1);
    for (size_t i = 0; i < nlead; i++)
        if (table_add(t, lead[by][i], col) < 0)
            return -1;
    for (size_t i = 0; i < WXS_ARRAY_LEN(count_heads); i++)
        if ((by != STATS_BY_PROMOTER || i != 1) && table_add(t, count_heads[i], col) < 0)
            return -1;
    if (by == STATS_BY_PROMOTER) {
        t->numeric[t->ncols - 1] = false;
        if (table_add(t, "QUICK_UNSUBS", col) < 0 || table_add(t, "RETAINED_ND", col) < 0 ||
            table_add(t, "FLAG", col) < 0)
            return -1;
    }
    return 0;
}

static int table_promoter_tail(struct table *t, const struct stats_report *r,
                               const struct stats_row *row, size_t *col)
{
    char ret[64];
    if (row->retention_eligible)
        snprintf(ret, sizeof(ret), "%lld/%lld %.0f%%", (long long)row->retention_retained,
                 (long long)row->retention_eligible,
                 100.0 * (double)row->retention_retained / (double)row->retention_eligible);
    else
        snprintf(ret, sizeof(ret), "-");
    const char *flag = row->flags ? "SUSPICIOUS" : "";
    return table_int(t, row->quick_unsubs, col) < 0 || table_add(t, ret, col) < 0 ||
                   table_add(t, flag, col) < 0
               ? -1
               : 0;
}

static int table_row(struct table *t, const struct stats_report *r, const struct stats_row *row,
                     size_t *col)
{
    char date[16];
    int bad = 0;
    if (r->by == STATS_BY_CHANNEL)
        bad = table_add(t, row->scene ? row->scene : "(organic)", col) < 0 ||
              table_add(t, row->scene ? row->name : "", col) < 0 ||
              table_add(t, row->promoter, col) < 0;
    else if (r->by == STATS_BY_PROMOTER)
        bad = table_add(t, row->promoter, col) < 0 || table_int(t, row->channels, col) < 0;
    else
        bad = (tz_format_date(row->day, date, sizeof(date)), table_add(t, date, col) < 0);
    bad = bad || table_counts(t, &row->c, r->by != STATS_BY_PROMOTER, col) < 0;
    if (!bad && r->by == STATS_BY_PROMOTER)
        bad = table_promoter_tail(t, r, row, col) < 0;
    return bad ? -1 : 0;
}

static int table_totals(struct table *t, const struct stats_report *r, size_t *col)
{
    struct stats_row total = {.c = r->totals,
                              .promoter = "TOTAL",
                              .quick_unsubs = r->quick_unsubs,
                              .retention_eligible = r->retention_eligible,
                              .retention_retained = r->retention_retained};
    int bad = table_add(t, "TOTAL", col) < 0;
    size_t lead = r->by == STATS_BY_CHANNEL ? 2 : r->by == STATS_BY_PROMOTER ? 1 : 0;
    for (size_t i = 0; !bad && i < lead; i++)
        bad = table_add(t, "", col) < 0;
    bad = bad || table_counts(t, &r->totals, r->by != STATS_BY_PROMOTER, col) < 0;
    if (!bad && r->by == STATS_BY_PROMOTER)
        bad = table_promoter_tail(t, r, &total, col) < 0;
    return bad ? -1 : 0;
}

static int print_table(const struct stats_report *r, const char *tzname)
{
    struct table t = {0};
    size_t col = 0;
    char since[16], until[16];
    int bad = table_head(&t, r->by, &col) < 0;
    for (size_t i = 0; !bad && i < r->nrows; i++)
        bad = table_row(&t, r, &r->rows[i], &col) < 0;
    bad = bad || table_totals(&t, r, &col) < 0;
    if (!bad) {
        tz_format_date(r->since, since, sizeof(since));
        tz_format_date(r->until, until, sizeof(until));
        printf("%s .. %s (%s), by %s\n", since, until, tzname, stats_by_name(r->by));
        bad = table_print(&t, stdout) < 0;
        for (size_t i = 0; r->by == STATS_BY_PROMOTER && i < r->nrows; i++) {
            struct buf why = {0};
            if (r->rows[i].flags && stats_flag_reasons(r, &r->rows[i], &why) == 0)
                printf("%s: %s\n", r->rows[i].promoter, why.data);
            buf_free(&why);
        }
        if (r->by == STATS_BY_PROMOTER)
            printf("RETAINED_ND: subscribes at least %lld days old whose fan stayed %lld days\n",
                   (long long)r->retention_days, (long long)r->retention_days);
    }
    table_free(&t);
    return bad ? -1 : 0;
}

static int print_report(const struct stats_report *r, const struct stats_args *a,
                        const char *tzname)
{
    if (a->fmt == FMT_TABLE)
        return print_table(r, tzname);
    if (a->fmt == FMT_CSV) {
        struct buf b = {0};
        int rc = stats_report_csv(r, a->bom, &b);
        if (rc == 0 && b.len)
            rc = fwrite(b.data, 1, b.len, stdout) == b.len ? 0 : -1;
        buf_free(&b);
        return rc;
    }
    json_t *j = stats_report_json(r);
    char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    if (!s)
        return -1;
    printf("%s\n", s);
    free(s);
    return 0;
}

int cli_stats(struct cli *cli, int argc, char **argv)
{
    struct stats_args a = {.by = STATS_BY_CHANNEL, .fmt = FMT_TABLE};
    struct stats *s = NULL;
    struct stats_report *r = NULL;
    char err[512];
    int64_t d0, d1;
    bool rebuilt = false;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc;
    rc = 1;
    if (stats_open(&s, cli->store, cli->cfg->timezone, cli->cfg->retention_days, &rebuilt, err,
                   sizeof(err)) < 0) {
        fprintf(stderr, "wxscene: %s: %s\n", cli->cfg->path, err);
        return strncmp(err, "[stats]", 7) == 0 ? 2 : 1;
    }
    if (rebuilt)
        fprintf(stderr, "wxscene: stats: rollups rebuilt for time zone %s\n", cli->cfg->timezone);
    if (a.rebuild && !rebuilt && stats_rebuild(s, err, sizeof(err)) < 0) {
        fprintf(stderr, "wxscene: stats: %s\n", err);
        goto done;
    }
    if (stats_range(s, a.since, a.until, "--since", "--until", &d0, &d1, err, sizeof(err)) < 0) {
        fprintf(stderr, "wxscene: stats: %s\n", err);
        rc = 2;
        goto done;
    }
    if (stats_query(s, a.by, d0, d1, &r, err, sizeof(err)) < 0) {
        fprintf(stderr, "wxscene: stats: %s\n", err);
        goto done;
    }
    if (print_report(r, &a, cli->cfg->timezone) < 0) {
        fprintf(stderr, "wxscene: stats: cannot write the output\n");
        goto done;
    }
    rc = fflush(stdout) == 0 ? 0 : 1;
done:
    stats_report_free(r);
    stats_close(s);
    return rc;
}
