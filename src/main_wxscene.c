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

static const struct verb {
    const char *name;
    int (*fn)(struct cli *cli, int argc, char **argv);
    const char *help;
} verbs[] = {
    {"channel", cli_channel,
     "channel add SCENE --name NAME [--promoter NAME] [--reply TEXT] [--scan-reply TEXT] "
     "[--tag TAGNAME] [--str] [--reply-news TITLE --news-url URL [--news-description TEXT] "
     "[--news-picurl URL] | "
     "--reply-image FILE]\n"
     "  channel edit SCENE [--name NAME] [--promoter NAME] [--reply TEXT] [--scan-reply TEXT] "
     "[--tag TAGNAME] [--reply-news TITLE --news-url URL [--news-description TEXT] "
     "[--news-picurl URL] | --reply-image FILE]   (empty --promoter/--scan-reply/--tag removes "
     "it; a news card or an image as the subscribe reply, --reply TEXT makes it text again)\n"
     "  channel list [--format table|csv|json] [--bom]\n"
     "  channel import FILE.csv   (columns: scene,name,promoter,reply,scan_reply[,tag])\n"
     "  channel archive SCENE\n"
     "  channel followup add SCENE (--text TEXT | --news TITLE --news-url URL "
     "[--news-description TEXT] [--news-picurl URL] | --image FILE) | channel followup list SCENE "
     "| channel followup remove SCENE N   (up to 3 customer-service messages after the reply)"},
    {"followup", cli_followup,
     "followup status   (the follow-up outbox: pending, sent, parked and why)"},
    {"qr", cli_qr,
     "qr create SCENE (--temp SECONDS | --perm) [--str] [--out FILE.png|FILE.svg|FILE.jpg] "
     "[--name NAME [--promoter NAME]] [--scale N] [--json]\n"
     "  qr create --perm --alloc --name NAME ...   (the next free permanent scene id)\n"
     "  qr batch FILE.csv --out DIR [--format png|svg] [--scale N] [--no-bom]   (columns: "
     "scene,name,promoter,kind,expire)\n"
     "  qr list [--expiring DAYS] [--expired] [--format table|csv|json] [--bom]\n"
     "  qr image SCENE --out FILE.png|FILE.svg|FILE.jpg [--scale N]\n"
     "  qr perm-ids [--release ID --yes] | qr archive SCENE"},
    {"tag", cli_tag, "tag sync [--retry-parked] | tag status   (push channel tags to WeChat)"},
    {"backfill", cli_backfill,
     "backfill [--restart]   (attribution of existing fans from user/info)"},
    {"store", cli_store,
     "store migrate | store copy --to URL   (apply migrations; copy the whole store into an "
     "empty one, e.g. postgresql://..., verified)\n"
     "  store backup FILE [--without-token] [--force]   (an online, checked copy of a SQLite "
     "store)"},
    {"stats", cli_stats,
     "stats [--since YYYY-MM-DD] [--until YYYY-MM-DD] [--by channel|promoter|day] "
     "[--format table|csv|json] [--bom] [--rebuild]"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: wxscene [--config FILE] VERB ...\n"
               "  --config FILE  configuration (default $WXSCENE_CONFIG, then ./wxscene.ini)\n"
               "  --help, --version\n\nverbs:\n");
    for (size_t i = 0; i < WXS_ARRAY_LEN(verbs); i++)
        fprintf(f, "  %s\n", verbs[i].help);
}

static const struct verb *find_verb(const char *name)
{
    for (size_t i = 0; i < WXS_ARRAY_LEN(verbs); i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
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
    const struct verb *v = find_verb(argv[verb_at]);
    if (!v) {
        fprintf(stderr, "wxscene: unknown verb '%s'\n", argv[verb_at]);
        usage(stderr);
        return 2;
    }
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
    optind = 0; /* reset getopt for the verb's own options */
    rc = v->fn(&cli, argc - verb_at, argv + verb_at);
    curl_global_cleanup();
    store_close(st);
    cfg_free(cfg);
    return rc;
}
