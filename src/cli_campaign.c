/* wxscene campaign add|list */
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
            goto usage;
        note = optarg;
    }
    if (optind + 1 != argc)
        goto usage;
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
usage:
    fprintf(stderr, "usage: wxscene campaign add NAME [--note TEXT]\n");
    return 2;
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

static int campaign_list_parse(int argc, char **argv, struct list_ctx *x, bool *bom)
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
            goto usage;
        x->fmt = (enum list_format)i;
    }
    if (optind != argc)
        goto usage;
    if (*bom && x->fmt != LIST_CSV) {
        fprintf(stderr, "wxscene: campaign list: --bom only applies to --format csv\n");
        return 2;
    }
    return 0;
usage:
    fprintf(stderr, "usage: wxscene campaign list [--format table|csv|json] [--bom]\n"
                    "  CHANNELS counts the active channels; created in [stats] timezone\n");
    return 2;
}

/* Every campaign with its channel count, creation time in the account's
 * zone (a wall clock, like the QR lists). */
static int campaign_cmd_list(struct cli *cli, int argc, char **argv)
{
    struct list_ctx x = {.fmt = LIST_TABLE};
    struct tz *z = NULL;
    bool bom = false;
    char err[256], created[96];
    int rc = campaign_list_parse(argc, argv, &x, &bom);
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

static const struct {
    const char *name;
    int (*fn)(struct cli *cli, int argc, char **argv);
} verbs[] = {{"add", campaign_cmd_add}, {"list", campaign_cmd_list}};

int cli_campaign(struct cli *cli, int argc, char **argv)
{
    for (size_t i = 0; argc >= 2 && i < WXS_ARRAY_LEN(verbs); i++) {
        if (strcmp(argv[1], verbs[i].name) == 0) {
            optind = 0;
            return verbs[i].fn(cli, argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "usage: wxscene campaign add NAME [--note TEXT]\n"
                    "       wxscene campaign list [--format table|csv|json] [--bom]\n");
    return 2;
}
