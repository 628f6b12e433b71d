/* wxscene channel add|edit|list|import|archive: the commands and their usage (cli_verb_channel) */
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "channel.h"
#include "channel_import.h"
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

/* Each refusal as "wxscene: FILE:LINE: message" (the file alone for row 0),
 * then how many more were not listed. */
static void import_report(const struct channel_import *ci, const char *file)
{
    size_t listed = channel_import_errors_listed(ci);
    for (size_t i = 0; i < listed; i++) {
        const struct channel_import_error *e = channel_import_error(ci, i);
        if (e->row)
            fprintf(stderr, "wxscene: %s:%zu: %s\n", file, e->row, e->message);
        else
            fprintf(stderr, "wxscene: %s: %s\n", file, e->message);
    }
    if (channel_import_error_count(ci) > listed)
        fprintf(stderr, "wxscene: %s: %zu more errors not listed\n", file,
                channel_import_error_count(ci) - listed);
}

static int cmd_import(struct cli *cli, int argc, char **argv)
{
    if (argc != 2)
        return cli_usage(cli);
    struct channel_import *ci = NULL;
    int rc = 1;
    FILE *fp = strcmp(argv[1], "-") == 0 ? stdin : fopen(argv[1], "r");
    if (!fp) {
        fprintf(stderr, "wxscene: %s: %m\n", argv[1]);
        return 1;
    }
    if (channel_import_new(&ci, 20) < 0) {
        fprintf(stderr, "wxscene: out of memory\n");
    } else if (channel_import_read(ci, fp) < 0) {
        import_report(ci, argv[1]);
        fprintf(stderr, "wxscene: channel import: nothing imported\n");
        rc = 2;
    } else if (channel_import_write(ci, cli->store) < 0) {
        import_report(ci, argv[1]);
        fprintf(stderr, "wxscene: channel import: nothing imported\n");
    } else {
        printf("imported %zu channels from %s (read as %s)\n", channel_import_rows(ci), argv[1],
               channel_import_encoding(ci));
        rc = 0;
    }
    if (fp != stdin)
        fclose(fp);
    channel_import_free(ci);
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
