/* wxscene: the operator CLI. Global options, then a verb dispatched through
 * a table to cli_<verb>.c. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli.h"
#include "log.h"
#include "wx_xml.h"

/* The verbs; each one's commands and their usage live in its cli_<verb>.c
 * (struct cli_verb), the only place an option is described. */
static const struct cli_verb *const verbs[] = {
    &cli_verb_channel,  &cli_verb_qr,    &cli_verb_campaign, &cli_verb_tag,
    &cli_verb_backfill, &cli_verb_store, &cli_verb_stats,    &cli_verb_followup,
};

static void usage(FILE *f)
{
    fprintf(f, "usage: wxscene [--config FILE] VERB ...\n"
               "  --config FILE  configuration (default $WXSCENE_CONFIG, then ./wxscene.ini)\n"
               "  --help, --version   (VERB --help, VERB SUB --help: one verb or command)\n"
               "\nverbs:\n");
    for (size_t i = 0; i < WXS_ARRAY_LEN(verbs); i++)
        cli_verb_summary(f, verbs[i]);
}

static const struct cli_verb *find_verb(const char *name)
{
    for (size_t i = 0; i < WXS_ARRAY_LEN(verbs); i++)
        if (strcmp(verbs[i]->name, name) == 0)
            return verbs[i];
    return NULL;
}

/* "wxscene VERB --help" and "wxscene VERB SUB --help" (--help or -h
 * anywhere before a "--"): the verb's or the command's usage on stdout,
 * before any config or store is opened. Returns true when it printed. */
static bool verb_help(const struct cli_verb *v, int argc, char **argv)
{
    bool asked = false;
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0 && !asked; i++)
        asked = strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
    if (!asked)
        return false;
    const struct cli_cmd *c = cli_cmd_find(v, argc >= 2 ? argv[1] : NULL);
    cli_cmd_help(stdout, v, c);
    return true;
}

/* An operator who runs the CLI as root (or as themselves) beside a
 * wxscened running as its own user is told once: the files it may create
 * next to the database (WAL, SHM) must stay usable by the server. */
static void warn_foreign_owner(const struct cfg *cfg)
{
    struct stat st;
    char owner[96], me[96];
    if (cfg->backend != STORE_SQLITE || stat(cfg->store_path, &st) < 0 || st.st_uid == geteuid())
        return;
    util_user_name((unsigned)st.st_uid, owner, sizeof(owner));
    util_user_name((unsigned)geteuid(), me, sizeof(me));
    fprintf(stderr, "wxscene: warning: %s belongs to %s, this command runs as %s\n",
            cfg->store_path, owner, me);
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    int verb_at = 0;
    char err[1024];
    struct cfg *cfg = NULL;
    struct store *st = NULL;
    int rc = cli_global_args(argc, argv, "wxscene", usage, true, &config, &verb_at);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    if (verb_at >= argc) {
        usage(stderr);
        return 2;
    }
    const struct cli_verb *v = find_verb(argv[verb_at]);
    if (!v) {
        fprintf(stderr, "wxscene: unknown verb '%s'\n", argv[verb_at]);
        usage(stderr);
        return 2;
    }
    if (verb_help(v, argc - verb_at, argv + verb_at))
        return 0;
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_WARN);
    if (cfg_load(&cfg, config, err, sizeof(err)) < 0) {
        fprintf(stderr, "wxscene: %s\n", err);
        return 2;
    }
    if (store_open_cfg(&st, cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "wxscene: store: %s\n", err);
        cfg_free(cfg);
        return 1;
    }
    warn_foreign_owner(cfg);
    wx_xml_global_init();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct cli cli = {.cfg = cfg, .store = st, .prog = "wxscene"};
    rc = cli_verb_run(&cli, v, argc - verb_at, argv + verb_at);
    curl_global_cleanup();
    store_close(st);
    cfg_free(cfg);
    return rc;
}
