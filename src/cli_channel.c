/* wxscene channel add|edit|list|import|archive: the commands and their usage (cli_verb_channel) */
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "channel.h"
#include "cli.h"
#include "csv.h"
#include "table.h"

enum out_format { FMT_TABLE, FMT_CSV, FMT_JSON };

static int parse_format(const char *s, enum out_format *f)
{
    if (strcmp(s, "table") == 0)
        *f = FMT_TABLE;
    else if (strcmp(s, "csv") == 0)
        *f = FMT_CSV;
    else if (strcmp(s, "json") == 0)
        *f = FMT_JSON;
    else
        return -1;
    return 0;
}

static int cmd_add(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"name", required_argument, NULL, 'n'},
                                         {"promoter", required_argument, NULL, 'p'},
                                         {"reply", required_argument, NULL, 'r'},
                                         {"scan-reply", required_argument, NULL, 's'},
                                         {"tag", required_argument, NULL, 't'},
                                         {"str", no_argument, NULL, 'S'},
                                         {NULL, 0, NULL, 0}};
    struct channel c = {0};
    struct channel_scene scene;
    bool force_str = false;
    char err[512];
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'n':
            c.name = optarg;
            break;
        case 'p':
            c.promoter = optarg;
            break;
        case 'r':
            c.reply = optarg;
            break;
        case 's':
            c.scan_reply = optarg;
            break;
        case 't':
            c.tag = optarg;
            break;
        case 'S':
            force_str = true;
            break;
        default:
            return cli_usage(cli);
        }
    }
    if (optind + 1 != argc || !c.name)
        return cli_usage(cli);
    c.scene = argv[optind];
    if (channel_scene_from_text(&scene, c.scene, force_str, err, sizeof(err)) < 0 ||
        channel_validate(&c, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "wxscene: channel add: %s\n", err);
        return 2;
    }
    if (channel_add(cli->store, &c, err, sizeof(err)) < 0) {
        fprintf(stderr, "wxscene: channel add: %s\n", err);
        return 1;
    }
    printf("channel %s added (%s)\n", c.scene, c.name);
    return 0;
}

/* ---- edit ---- */

static int cmd_edit(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},  {"promoter", required_argument, NULL, 'p'},
        {"reply", required_argument, NULL, 'r'}, {"scan-reply", required_argument, NULL, 's'},
        {"tag", required_argument, NULL, 't'},   {NULL, 0, NULL, 0}};
    static const struct {
        int opt;
        unsigned bit;
        size_t off;
    } map[] = {
        {'n', CHANNEL_SET_NAME, offsetof(struct channel, name)},
        {'p', CHANNEL_SET_PROMOTER, offsetof(struct channel, promoter)},
        {'r', CHANNEL_SET_REPLY, offsetof(struct channel, reply)},
        {'s', CHANNEL_SET_SCAN_REPLY, offsetof(struct channel, scan_reply)},
        {'t', CHANNEL_SET_TAG, offsetof(struct channel, tag)},
    };
    struct channel c = {0}, got = {0};
    unsigned set = 0;
    char err[512];
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        size_t i = 0;
        while (i < WXS_ARRAY_LEN(map) && map[i].opt != o)
            i++;
        if (i == WXS_ARRAY_LEN(map))
            return cli_usage(cli);
        *(char **)((char *)&c + map[i].off) = optarg;
        set |= map[i].bit;
    }
    if (optind + 1 != argc || !set)
        return cli_usage(cli);
    /* a refused value is a usage error, as in channel add; a scene that
     * is not there (or archived) or a failing store is a runtime one */
    int rc = channel_edit(cli->store, argv[optind], &c, set, &got, NULL, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "wxscene: channel edit: %s\n", err);
        return rc == CHANNEL_EINVALID ? 2 : 1;
    }
    printf("channel %s edited (%s)\n", got.scene, got.name);
    channel_clear(&got);
    return 0;
}

/* ---- list ---- */

struct list_ctx {
    enum out_format fmt;
    json_t *arr;
    struct buf line;
    struct table t;
};

static const char *nz(const char *s)
{
    return s ? s : "";
}

static int list_row(const struct channel *c, void *arg)
{
    struct list_ctx *lc = arg;
    if (lc->fmt == FMT_JSON)
        return json_array_append_new(lc->arr, channel_to_json(c)) == 0 ? 0 : -1;
    if (lc->fmt == FMT_CSV) {
        const char *cols[] = {c->scene, c->name, c->promoter, c->reply, c->scan_reply, c->tag};
        buf_reset(&lc->line);
        for (size_t i = 0; i < WXS_ARRAY_LEN(cols); i++)
            if ((i && buf_puts(&lc->line, ",") < 0) || csv_field(&lc->line, nz(cols[i])) < 0)
                return -1;
        printf("%s\n", lc->line.data);
        return 0;
    }
    const char *cells[] = {c->scene, c->name, nz(c->promoter), nz(c->tag)};
    for (size_t i = 0; i < WXS_ARRAY_LEN(cells); i++)
        if (table_add(&lc->t, cells[i]) < 0)
            return -1;
    return 0;
}

static int cmd_list(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                         {"bom", no_argument, NULL, 'B'},
                                         {NULL, 0, NULL, 0}};
    struct list_ctx lc = {.fmt = FMT_TABLE};
    bool bom = false;
    int o, rc = 1;
    while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
        if (o == 'B')
            bom = true;
        else if (o != 'f' || parse_format(optarg, &lc.fmt) < 0)
            return cli_usage(cli);
    }
    if (optind != argc)
        return cli_usage(cli);
    if (bom && lc.fmt != FMT_CSV) {
        fprintf(stderr, "wxscene: channel list: --bom only applies to --format csv\n");
        return 2;
    }
    if (lc.fmt == FMT_JSON && !(lc.arr = json_array()))
        return 1;
    if (lc.fmt == FMT_CSV)
        printf("%sscene,name,promoter,reply,scan_reply,tag\n", bom ? CSV_BOM : "");
    lc.t.ncols = 4;
    if (lc.fmt == FMT_TABLE && (table_add(&lc.t, "SCENE") < 0 || table_add(&lc.t, "NAME") < 0 ||
                                table_add(&lc.t, "PROMOTER") < 0 || table_add(&lc.t, "TAG") < 0))
        goto done;
    if (channel_foreach(cli->store, list_row, &lc) < 0) {
        fprintf(stderr, "wxscene: channel list: %s\n", store_errmsg(cli->store));
        goto done;
    }
    if (lc.fmt == FMT_JSON) {
        char *s = json_dumps(lc.arr, JSON_INDENT(2));
        if (!s)
            goto done;
        printf("%s\n", s);
        free(s);
    } else if (lc.fmt == FMT_TABLE) {
        buf_reset(&lc.line);
        if (table_print(&lc.t, &lc.line) < 0)
            goto done;
        fputs(lc.line.data ? lc.line.data : "", stdout);
    }
    rc = 0;
done:
    table_free(&lc.t);
    json_decref(lc.arr);
    buf_free(&lc.line);
    return rc;
}

/* ---- import ---- */

static const char *const import_cols[] = {"scene", "name",       "promoter",
                                          "reply", "scan_reply", "tag"};

struct import_row {
    struct channel c;
    size_t line; /* where the row starts in the file */
};

struct import_ctx {
    struct import_row *rows;
    size_t n, cap;
    const char *file;
    int map[WXS_ARRAY_LEN(import_cols)]; /* column -> field index, -1 = absent */
    size_t ncols;                        /* fields a row may have */
    const char *encoding;                /* the file's (csv_encoding) */
};

static void import_free(struct import_ctx *ic)
{
    for (size_t i = 0; i < ic->n; i++)
        channel_clear(&ic->rows[i].c);
    free(ic->rows);
}

static char *opt_dup(const char *s)
{
    return (s && *s) ? strdup(s) : NULL;
}

/* Validate and keep one data row; the error names the row and column. */
static int import_row(struct import_ctx *ic, char **f, size_t nf, size_t line)
{
    char err[512];
    struct channel_scene scene;
    if (ic->ncols == 0 && (nf < 5 || nf > 6)) {
        fprintf(stderr, "wxscene: %s:%zu: expected 5 or 6 columns (%s), got %zu\n", ic->file, line,
                "scene,name,promoter,reply,scan_reply[,tag]", nf);
        return -1;
    }
    if (ic->ncols && nf > ic->ncols) {
        fprintf(stderr, "wxscene: %s:%zu: %zu columns, the header names %zu\n", ic->file, line, nf,
                ic->ncols);
        return -1;
    }
    if (ic->n == ic->cap) {
        size_t cap = ic->cap ? ic->cap * 2 : 64;
        struct import_row *nr = realloc(ic->rows, cap * sizeof(*nr));
        if (!nr)
            return -1;
        ic->rows = nr;
        ic->cap = cap;
    }
    ic->rows[ic->n].line = line;
    struct channel *c = &ic->rows[ic->n++].c;
    memset(c, 0, sizeof(*c));
    const char *v[WXS_ARRAY_LEN(import_cols)];
    for (size_t i = 0; i < WXS_ARRAY_LEN(v); i++) {
        int k = ic->ncols ? ic->map[i] : (int)i;
        v[i] = k >= 0 && (size_t)k < nf ? f[k] : "";
    }
    c->scene = strdup(v[0]);
    c->name = strdup(v[1]);
    c->promoter = opt_dup(v[2]);
    c->reply = opt_dup(v[3]);
    c->scan_reply = opt_dup(v[4]);
    c->tag = opt_dup(v[5]);
    if (!c->scene || !c->name)
        return -1;
    if (channel_scene_from_text(&scene, c->scene, false, err, sizeof(err)) < 0 ||
        channel_validate(c, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "wxscene: %s:%zu: %s\n", ic->file, line, err);
        return -1;
    }
    return 0;
}

static int by_scene(const void *a, const void *b)
{
    const struct import_row *x = *(const struct import_row *const *)a;
    const struct import_row *y = *(const struct import_row *const *)b;
    int c = strcmp(x->c.scene, y->c.scene);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Scenes are the file's keys: one sort finds every repeat in O(n log n)
 * (comparing each row with all before it took 19 s for 100k rows). Returns
 * the number of repeats, -1 when out of memory. */
static long import_duplicates(const struct import_ctx *ic)
{
    const struct import_row **by = malloc((ic->n ? ic->n : 1) * sizeof(*by));
    size_t n = 0;
    long dups = 0;
    if (!by)
        return -1;
    for (size_t i = 0; i < ic->n; i++)
        if (ic->rows[i].c.scene)
            by[n++] = &ic->rows[i];
    qsort(by, n, sizeof(*by), by_scene);
    for (size_t i = 1, first = 0; i < n; i++) {
        if (strcmp(by[i]->c.scene, by[first]->c.scene) != 0) {
            first = i;
        } else if (dups++ < 20) {
            fprintf(stderr,
                    "wxscene: %s:%zu: scene: %s appears twice in the file (first on line %zu)\n",
                    ic->file, by[i]->line, by[i]->c.scene, by[first]->line);
        }
    }
    free(by);
    return dups;
}

/* A first record whose first two cells name columns (scene,name or
 * 场景值,名称, in any order) is a header: the columns are then taken by
 * name, English or Chinese (channel_column). 1 header, 0 data, -1 a bad
 * header (said). */
static int read_header(struct import_ctx *ic, char **f, size_t nf, size_t line)
{
    int bad = 0;
    if (nf < 2 || !channel_column(f[0]) || !channel_column(f[1]))
        return 0;
    for (size_t i = 0; i < WXS_ARRAY_LEN(import_cols); i++)
        ic->map[i] = -1;
    for (size_t k = 0; k < nf; k++) {
        const char *col = channel_column(f[k]);
        size_t i = 0;
        while (col && strcmp(col, import_cols[i]) != 0)
            i++;
        if (!col || ic->map[i] >= 0) {
            fprintf(stderr, "wxscene: %s:%zu: column %zu: %s \"%s\" (expected %s)\n", ic->file,
                    line, k + 1, col ? "a second" : "unknown column", f[k],
                    "scene,name,promoter,reply,scan_reply,tag or "
                    "场景值,名称,推广员,欢迎语,扫码回复,标签");
            bad = 1;
        } else {
            ic->map[i] = (int)k;
        }
    }
    for (size_t i = 0; i < 2; i++) {
        if (ic->map[i] < 0) {
            fprintf(stderr, "wxscene: %s:%zu: the header has no %s column\n", ic->file, line,
                    i ? "name (名称)" : "scene (场景值)");
            bad = 1;
        }
    }
    ic->ncols = nf;
    return bad ? -1 : 1;
}

static int import_read(struct import_ctx *ic, FILE *fp)
{
    struct csv_reader *r;
    char **f, err[256];
    size_t nf, line;
    int rc, bad = 0;
    bool first = true;
    if (csv_open(&r, fp) < 0)
        return -1;
    while ((rc = csv_next(r, &f, &nf, &line, err, sizeof(err))) == 1) {
        int head = first ? read_header(ic, f, nf, line) : 0;
        first = false;
        if (head < 0)
            bad++;
        if (head == 0 && import_row(ic, f, nf, line) < 0 && ++bad >= 20)
            break;
    }
    if (rc < 0) {
        fprintf(stderr, "wxscene: %s:%zu: %s\n", ic->file, line, err);
        bad++;
    } else {
        ic->encoding = csv_encoding(r);
    }
    csv_close(r);
    if (import_duplicates(ic) != 0)
        bad++;
    return bad ? -1 : 0;
}

static int import_insert(struct store *st, void *arg)
{
    struct import_ctx *ic = arg;
    char err[512];
    for (size_t i = 0; i < ic->n; i++) {
        if (channel_add(st, &ic->rows[i].c, err, sizeof(err)) < 0) {
            fprintf(stderr, "wxscene: %s:%zu: %s\n", ic->file, ic->rows[i].line, err);
            return -1;
        }
    }
    return 0;
}

static int cmd_import(struct cli *cli, int argc, char **argv)
{
    if (argc != 2)
        return cli_usage(cli);
    struct import_ctx ic = {.file = argv[1]};
    int rc = 1;
    FILE *fp = strcmp(argv[1], "-") == 0 ? stdin : fopen(argv[1], "r");
    if (!fp) {
        fprintf(stderr, "wxscene: %s: %m\n", argv[1]);
        return 1;
    }
    if (import_read(&ic, fp) < 0) {
        fprintf(stderr, "wxscene: channel import: nothing imported\n");
        rc = 2;
    } else if (store_tx(cli->store, import_insert, &ic) < 0) {
        fprintf(stderr, "wxscene: channel import: nothing imported\n");
    } else {
        printf("imported %zu channels from %s (read as %s)\n", ic.n, ic.file,
               ic.encoding ? ic.encoding : "UTF-8");
        rc = 0;
    }
    if (fp != stdin)
        fclose(fp);
    import_free(&ic);
    return rc;
}

/* The one place channel's commands and their options are described. */
static const struct cli_cmd cmds[] = {
    {"add", cmd_add,
     "SCENE --name NAME [--promoter NAME] [--reply TEXT] [--scan-reply TEXT] [--tag TAGNAME] "
     "[--str]",
     NULL,
     "  SCENE: a number 1..4294967295 is a scene_id, anything else (or --str) a scene_str\n"
     "  --reply/--scan-reply: the welcome for new fans / the answer to fans who scan again\n"
     "  --tag: WeChat tag given to the channel's fans (30 bytes at most)\n"},
    {"edit", cmd_edit,
     "SCENE [--name NAME] [--promoter NAME] [--reply TEXT] [--scan-reply TEXT] [--tag TAGNAME]",
     "empty --promoter/--scan-reply/--tag removes it",
     "  at least one option; --reply \"\" answers nothing; the scene cannot change\n"},
    {"list", cmd_list, "[--format table|csv|json] [--bom]", NULL,
     "  --bom  CSV starts with a UTF-8 byte order mark (Excel on Chinese Windows)\n"},
    {"import", cmd_import, "FILE.csv", "columns: scene,name,promoter,reply,scan_reply[,tag]",
     "  UTF-8 (with or without BOM) or GB18030/GBK; a header row in English or Chinese\n"
     "  (场景值,名称,推广员,欢迎语,扫码回复,标签); every row or none is imported; - reads stdin\n"},
    {"archive", cli_qr_channel_archive, "SCENE", NULL, CLI_ARCHIVE_MORE},
};

const struct cli_verb cli_verb_channel = {"channel", cmds, WXS_ARRAY_LEN(cmds)};
