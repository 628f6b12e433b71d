/* wxscene store migrate | store copy --to URL */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "store_copy.h"

static int store_usage(void)
{
    fprintf(stderr, "usage: wxscene store migrate\n"
                    "       wxscene store copy --to URL   (a postgresql:// URI or conninfo, or a "
                    "SQLite file)\n");
    return 2;
}

/* main() opened the store, which applies what is pending: say where it is. */
static int store_migrate(struct cli *cli)
{
    int v = 0;
    if (db_schema_version(store_db(cli->store), &v) < 0) {
        fprintf(stderr, "wxscene: store migrate: %s\n", store_errmsg(cli->store));
        return 1;
    }
    printf("store (%s): schema version %d, up to date\n",
           cli->cfg->backend == STORE_POSTGRESQL ? "postgresql" : cli->cfg->store_path, v);
    return 0;
}

static int store_copy_cmd(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"to", required_argument, NULL, 't'}, {0}};
    const char *to = NULL;
    char err[1024];
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (o != 't')
            return store_usage();
        to = optarg;
    }
    if (!to || optind != argc)
        return store_usage();
    if (cli->cfg->backend == STORE_SQLITE && strcmp(to, cli->cfg->store_path) == 0) {
        fprintf(stderr, "wxscene: store copy: --to names this config's own store\n");
        return 2;
    }
    struct store *dst = NULL;
    if (store_open_url(&dst, to, cli->cfg->synchronous, err, sizeof(err)) < 0) {
        fprintf(stderr, "wxscene: store copy: the target: %s\n", err);
        return 1;
    }
    struct store_copy_report rep;
    int rc = store_copy(cli->store, dst, cli->cfg, &rep, err, sizeof(err));
    store_close(dst);
    if (rc < 0) {
        fprintf(stderr, "wxscene: store copy: %s\n", err);
        return 1;
    }
    for (size_t i = 0; i < rep.ntables; i++)
        printf("%-18s %12lld rows\n", rep.t[i].name, (long long)rep.t[i].rows);
    printf("copied %lld rows in %.1f s; checked in %.1f s: every table's row count and %d "
           "statistics reports (by channel, promoter, day) are the same in both stores\n",
           (long long)rep.rows, rep.copy_s, rep.check_s, rep.reports_compared);
    return 0;
}

int cli_store(struct cli *cli, int argc, char **argv)
{
    if (argc < 2)
        return store_usage();
    if (strcmp(argv[1], "migrate") == 0)
        return argc == 2 ? store_migrate(cli) : store_usage();
    if (strcmp(argv[1], "copy") == 0)
        return store_copy_cmd(cli, argc - 1, argv + 1);
    return store_usage();
}
