/* wxscene campaign add|list: the commands and their usage (cli_verb_campaign) */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "campaign.h"
#include "cli.h"
#include "csv.h"
#include "table.h"
#include "tz.h"

static int campaign_cmd_add(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"note", required_argument, NULL, 'n'},
                                         {NULL, 0, NULL, 0}};
    const char *note = NULL;
    char err[512];
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (o != 'n')
            return cli_usage(cli);
        note = optarg;
    }
    if (optind + 1 != argc)
        return cli_usage(cli);
    struct campaign c = {0};
    int rc = campaign_add(cli->store, argv[optind], note, &c, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "wxscene: campaign add: %s\n", err);
        return rc == CAMPAIGN_EINVALID ? 2 : 1;
    }
    printf("campaign %s added; put channels in it with: wxscene channel edit SCENE --campaign "
           "\"%s\"\n",
           c.name, c.name);
    campaign_clear(&c);
    return 0;
}

enum list_format { LIST_TABLE, LIST_CSV, LIST_JSON };

struct list_ctx {
    enum list_format fmt;
    const struct tz *z;
    json_t *arr;
    struct table t;
    struct buf line;
};

static int campaign_list_row(const struct campaign *c, void *arg)
{
    struct list_ctx *x = arg;
    char n[24], at[32];
    snprintf(n, sizeof(n), "%lld", (long long)c->channels);
    tz_format_time(x->z, c->created_at, at, sizeof(at));
    if (x->fmt == LIST_JSON)
        return json_array_append_new(x->arr, campaign_to_json(c)) == 0 ? 0 : -1;
    const char *cells[] = {c->name, n, at, c->note ? c->note : ""};
    buf_reset(&x->line);
    for (size_t i = 0; i < WXS_ARRAY_LEN(cells); i++) {
        if (x->fmt == LIST_TABLE && table_add(&x->t, cells[i]) < 0)
            return -1;
        if (x->fmt == LIST_CSV &&
            ((i && buf_puts(&x->line, ",") < 0) || csv_field(&x->line, cells[i]) < 0))
            return -1;
    }
    if (x->fmt == LIST_CSV)
        printf("%s\n", x->line.data);
    return 0;
}

static int campaign_list_parse(const struct cli *cli, int argc, char **argv, struct list_ctx *x,
                               bool *bom)
{
    static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                         {"bom", no_argument, NULL, 'B'},
                                         {NULL, 0, NULL, 0}};
    static const char *const fmts[] = {"table", "csv", "json"};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        size_t i = 0;
        if (o == 'B') {
            *bom = true;
            continue;
        }
        while (o == 'f' && i < WXS_ARRAY_LEN(fmts) && strcmp(optarg, fmts[i]) != 0)
            i++;
        if (o != 'f' || i == WXS_ARRAY_LEN(fmts))
            return cli_usage(cli);
        x->fmt = (enum list_format)i;
    }
    if (optind != argc)
        return cli_usage(cli);
    if (*bom && x->fmt != LIST_CSV) {
        fprintf(stderr, "wxscene: campaign list: --bom only applies to --format csv\n");
        return 2;
    }
    return 0;
}

/* Every campaign with its channel count, creation time in the account's
 * zone (a wall clock, like the QR lists). */
static int campaign_cmd_list(struct cli *cli, int argc, char **argv)
{
    struct list_ctx x = {.fmt = LIST_TABLE};
    struct tz *z = NULL;
    bool bom = false;
    char err[256], created[96];
    int rc = campaign_list_parse(cli, argc, argv, &x, &bom);
    if (rc != 0)
        return rc;
    rc = 1;
    if (tz_load(&z, cli->cfg->timezone, err, sizeof(err)) < 0) {
        fprintf(stderr, "wxscene: campaign list: [stats] timezone: %s\n", err);
        return 1;
    }
    x.z = z;
    snprintf(created, sizeof(created), "CREATED (%s)", cli->cfg->timezone);
    const char *heads[] = {"CAMPAIGN", "CHANNELS", created, "NOTE"};
    x.t.ncols = WXS_ARRAY_LEN(heads);
    for (size_t i = 0; x.fmt == LIST_TABLE && i < WXS_ARRAY_LEN(heads); i++)
        if (table_add(&x.t, heads[i]) < 0)
            goto done;
    if (x.fmt == LIST_JSON && !(x.arr = json_array()))
        goto done;
    if (x.fmt == LIST_CSV)
        printf("%scampaign,channels,created_at,note\n", bom ? CSV_BOM : "");
    if (campaign_foreach(cli->store, campaign_list_row, &x) < 0) {
        fprintf(stderr, "wxscene: campaign list: %s\n", store_errmsg(cli->store));
        goto done;
    }
    if (x.fmt == LIST_JSON) {
        json_dumpf(x.arr, stdout, JSON_INDENT(2));
        printf("\n");
    } else if (x.fmt == LIST_TABLE) {
        buf_reset(&x.line);
        if (table_print(&x.t, &x.line) < 0)
            goto done;
        fputs(x.line.data ? x.line.data : "", stdout);
    }
    rc = 0;
done:
    table_free(&x.t);
    json_decref(x.arr);
    buf_free(&x.line);
    tz_free(z);
    return rc;
}

/* The one place campaign's commands and their options are described. */
static const struct cli_cmd cmds[] = {
    {"add", campaign_cmd_add, "NAME [--note TEXT]", "a group of channels read as one",
     "  NAME: 1..128 bytes, blanks around it dropped (as promoters); it must be new\n"
     "  then put channels in it (channel add or edit, option campaign) and read it as one\n"
     "  (stats by campaign)\n"},
    {"list", campaign_cmd_list, "[--format table|csv|json] [--bom]", NULL,
     "  CHANNELS counts the active channels; CREATED in [stats] timezone\n"
     "  --bom  CSV starts with a UTF-8 byte order mark (Excel on Chinese Windows)\n"},
};

const struct cli_verb cli_verb_campaign = {"campaign", cmds, WXS_ARRAY_LEN(cmds)};
