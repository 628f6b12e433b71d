/* wxscene stats: channel statistics as a table, CSV or the CONTRACT's JSON. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "stats_output.h"

enum out_format { FMT_TABLE, FMT_CSV, FMT_JSON };

struct stats_args {
    const char *since, *until, *campaign;
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
static int parse_args(const struct cli *cli, int argc, char **argv, struct stats_args *a)
{
    static const struct option opts[] = {{"since", required_argument, NULL, 's'},
                                         {"until", required_argument, NULL, 'u'},
                                         {"by", required_argument, NULL, 'b'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"bom", no_argument, NULL, 'B'},
                                         {"rebuild", no_argument, NULL, 'R'},
                                         {"campaign", required_argument, NULL, 'c'},
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
                return fprintf(
                           stderr,
                           "wxscene: stats: --by: '%s' is not channel, promoter, day or campaign\n",
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
        case 'c':
            a->campaign = optarg;
            break;
        default:
            return cli_usage(cli);
        }
    }
    if (optind != argc) {
        fprintf(stderr, "wxscene: stats: unexpected argument '%s'\n", argv[optind]);
        return cli_usage(cli);
    }
    if (a->campaign && a->by != STATS_BY_DAY && a->by != STATS_BY_CHANNEL) {
        fprintf(stderr, "wxscene: stats: --campaign applies to --by day or --by channel\n");
        return 2;
    }
    if (a->bom && a->fmt != FMT_CSV) {
        fprintf(stderr, "wxscene: stats: --bom only applies to --format csv\n");
        return 2;
    }
    return 0;
}

/* The report on stdout in the chosen format (stats_output.h). */
static int print_report(const struct stats_report *r, const struct stats_args *a,
                        const char *tzname)
{
    struct buf b = {0};
    int rc = -1;
    if (a->fmt == FMT_JSON) {
        json_t *j = stats_report_json(r);
        char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        json_decref(j);
        rc = s && buf_puts(&b, s) == 0 && buf_puts(&b, "\n") == 0 ? 0 : -1;
        free(s);
    } else {
        rc =
            a->fmt == FMT_CSV ? stats_report_csv(r, a->bom, &b) : stats_report_table(r, tzname, &b);
    }
    if (rc == 0 && b.len)
        rc = fwrite(b.data, 1, b.len, stdout) == b.len ? 0 : -1;
    buf_free(&b);
    return rc;
}

static int cmd_stats(struct cli *cli, int argc, char **argv)
{
    struct stats_args a = {.by = STATS_BY_CHANNEL, .fmt = FMT_TABLE};
    struct stats *s = NULL;
    struct stats_report *r = NULL;
    char err[512];
    int64_t d0, d1;
    bool rebuilt = false;
    int rc = parse_args(cli, argc, argv, &a);
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
    if (stats_range(s, a.by, a.since, a.until, "--since", "--until", &d0, &d1, err, sizeof(err)) <
        0) {
        fprintf(stderr, "wxscene: stats: %s\n", err);
        rc = 2;
        goto done;
    }
    int qrc = stats_query_in(s, a.by, d0, d1, a.campaign, &r, err, sizeof(err));
    if (qrc < 0) {
        fprintf(stderr, "wxscene: stats: %s%s\n", qrc == STATS_ENOCAMPAIGN ? "--campaign: " : "",
                err);
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

/* The one place stats' options are described. */
static const struct cli_cmd cmds[] = {
    {NULL, cmd_stats,
     "[--since YYYY-MM-DD] [--until YYYY-MM-DD] [--by channel|promoter|day|campaign] "
     "[--campaign NAME] [--format table|csv|json] [--bom] [--rebuild]",
     NULL,
     "  default range: the 30 days ending today in [stats] timezone; dates are inclusive;\n"
     "  a range may be of any length (--since 2000-01-01 --until 2100-01-01: everything)\n"
     "  --campaign NAME  only the channels of campaign NAME (--by day or --by channel)\n"
     "  --bom      CSV starts with a UTF-8 byte order mark (for spreadsheets)\n"
     "  --rebuild  recompute the rollups from the events first (locks the database meanwhile)\n"},
};

const struct cli_verb cli_verb_stats = {"stats", cmds, WXS_ARRAY_LEN(cmds)};
