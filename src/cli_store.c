/* wxscene store migrate | store copy --to URL | store backup FILE */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "store_backup.h"
#include "store_copy.h"
#include "token.h"

/* main() opened the store, which applies what is pending: say where it is. */
static int store_migrate(struct cli *cli, int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return cli_usage(cli);
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
            return cli_usage(cli);
        to = optarg;
    }
    if (!to || optind != argc)
        return cli_usage(cli);
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

/* s with every ' written as '\'' inside single quotes: one shell word. */
static void put_shell_word(const char *s)
{
    putchar('\'');
    for (; *s; s++)
        fputs(*s == '\'' ? "'\\''" : (char[]){*s, 0}, stdout);
    putchar('\'');
}

/* Append n bytes of s to out (capacity outlen, *j used), cut short
 * rather than overflowing. */
static void put_n(char *out, size_t outlen, size_t *j, const char *s, size_t n)
{
    while (n-- && *j + 1 < outlen)
        out[(*j)++] = *s++;
    out[*j] = 0;
}

/* url without its password: a URI's user:PASSWORD@ and password=... of a
 * URI's query or of a conninfo (libpq reads it from PGPASSWORD or
 * ~/.pgpass then). */
static void url_without_password(const char *url, char *out, size_t outlen)
{
    size_t j = 0;
    const char *p = url, *scheme = strstr(url, "://");
    out[0] = 0;
    if (scheme) {
        const char *auth = scheme + 3, *end = auth + strcspn(auth, "/?");
        const char *at = memchr(auth, '@', (size_t)(end - auth));
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            put_n(out, outlen, &j, url, (size_t)(colon - url));
            p = at;
        }
    }
    for (const char *kw; (kw = strstr(p, "password="));) {
        bool starts = kw == url || strchr(" ?&", kw[-1]);
        put_n(out, outlen, &j, p, (size_t)(kw - p) + (starts ? 0 : 9));
        p = kw + 9;
        if (!starts)
            continue;
        if (*p == '\'') /* a quoted conninfo value */
            for (p++; *p && *p != '\''; p++)
                p += p[0] == '\\' && p[1];
        p += strcspn(p, scheme ? "&" : " ");
        p += scheme ? *p == '&' : strspn(p, " ");
    }
    put_n(out, outlen, &j, p, strlen(p));
    while (j > 0 && strchr(" &", out[j - 1])) /* what preceded a password at the end */
        out[--j] = 0;
}

/* PostgreSQL has its own tool for a consistent online copy: say how. */
static int backup_postgresql(struct cli *cli, const char *file)
{
    char url[2048];
    url_without_password(cli->cfg->store_url, url, sizeof(url));
    fprintf(stderr, "wxscene: store backup: the store is PostgreSQL; back it up with pg_dump "
                    "(a consistent snapshot while wxscened runs), e.g.:\n");
    fflush(stderr);
    fputs("pg_dump --format=custom --file=", stdout);
    put_shell_word(file);
    putchar(' ');
    put_shell_word(url);
    fputs("\n(the password, if any, from PGPASSWORD or ~/.pgpass; restore with pg_restore "
          "--clean --dbname=URL FILE, see README \"Backup and restore\")\n",
          stdout);
    return 1;
}

static int store_backup_cmd(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"without-token", no_argument, NULL, 'w'}, {"force", no_argument, NULL, 'f'}, {0}};
    struct store_backup_opts o = {0};
    struct store_backup_report rep;
    char err[4200];
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'w')
            o.scrub = token_scrub_sql;
        else if (c == 'f')
            o.force = true;
        else
            return cli_usage(cli);
    }
    if (optind + 1 != argc)
        return cli_usage(cli);
    const char *file = argv[optind];
    if (!store_embedded(cli->store))
        return backup_postgresql(cli, file);
    if (strcmp(file, cli->cfg->store_path) == 0) {
        fprintf(stderr, "wxscene: store backup: %s is the store itself\n", file);
        return 2;
    }
    if (store_backup(store_db(cli->store), file, &o, &rep, err, sizeof(err)) < 0) {
        fprintf(stderr, "wxscene: store backup: %s\n", err);
        return 1;
    }
    printf("backup: %s\n  size           %lld bytes\n  schema version %d\n"
           "  channels       %lld\n  events         %lld\n  fans           %lld\n"
           "  access_token   %s\n",
           file, (long long)rep.bytes, rep.schema_version, (long long)rep.channels,
           (long long)rep.events, (long long)rep.fans,
           o.scrub ? "removed"
                   : "kept (keep the file as secret as the config, or use --without-token)");
    return 0;
}

/* The one place store's commands and their options are described. */
static const struct cli_cmd cmds[] = {
    {"migrate", store_migrate, "", "apply pending migrations, print the schema version", NULL},
    {"copy", store_copy_cmd, "--to URL",
     "copy the whole store into an empty one, e.g. postgresql://..., verified",
     "  URL: a postgresql:// URI or conninfo, or a SQLite file\n"},
    {"backup", store_backup_cmd, "FILE [--without-token] [--force]",
     "an online, checked copy of a SQLite store",
     "  --without-token  leave the cached access_token out of the copy\n"
     "  --force          replace an existing FILE\n"
     "  on PostgreSQL: prints the pg_dump command for the configured url\n"},
};

const struct cli_verb cli_verb_store = {"store", cmds, WXS_ARRAY_LEN(cmds)};
