/* cli: the wxscene operator CLI's verbs. main_wxscene.c parses the global
 * options, loads the config, opens the store and dispatches through a table
 * {verb, function}; each verb lives in cli_<verb>.c and returns the process
 * exit code (0 ok, 1 runtime failure, 2 usage error). */
#ifndef WXS_CLI_H
#define WXS_CLI_H
#include <stdbool.h>
#include <stdio.h>

#include "cfg.h"
#include "store.h"

struct cli_verb;
struct cli_cmd;

struct cli {
    const struct cfg *cfg;
    struct store *store;
    const char *prog;            /* argv[0] for messages */
    const struct cli_verb *verb; /* what runs, for cli_usage() */
    const struct cli_cmd *cmd;
};

/* One command: a verb's sub-verb ("channel add"), or a verb without
 * sub-verbs ("stats", name NULL). Its usage is written here and nowhere
 * else: `wxscene --help`, `wxscene VERB --help`, `wxscene VERB SUB --help`
 * and every usage error print it. */
struct cli_cmd {
    const char *name;                                  /* the sub-verb; NULL for the verb itself */
    int (*fn)(struct cli *cli, int argc, char **argv); /* argv[0]: name (or the verb) */
    const char *args; /* every option, after "wxscene VERB [SUB] "; '\n' between alternatives */
    const char *note; /* NULL or a few words shown after the synopsis in wxscene --help */
    const char *more; /* NULL or lines "  ...\n" for the command's own help and usage errors */
};

/* A verb and its commands, defined in cli_<verb>.c. */
struct cli_verb {
    const char *name;
    const struct cli_cmd *cmds;
    size_t ncmds;
};

extern const struct cli_verb cli_verb_channel, cli_verb_qr, cli_verb_tag, cli_verb_backfill,
    cli_verb_store, cli_verb_stats, cli_verb_campaign, cli_verb_followup;

/* The command of v called name (NULL: none; a verb without sub-verbs has
 * exactly one command, found by any name). */
const struct cli_cmd *cli_cmd_find(const struct cli_verb *v, const char *name);
/* One line per form of every command of v, "  VERB SUB ARGS", the note
 * after the first: wxscene --help's list. */
void cli_verb_summary(FILE *f, const struct cli_verb *v);
/* A command's whole usage, "usage: wxscene VERB SUB ARGS" per form, its
 * note and more; c NULL: every command of v. */
void cli_cmd_help(FILE *f, const struct cli_verb *v, const struct cli_cmd *c);
/* The running command's usage (cli->verb, cli->cmd) on stderr; returns 2,
 * the usage-error exit code. */
int cli_usage(const struct cli *cli);
/* Runs v's command named by argv[1] (or v's only command) with argv from
 * there, getopt reset; an unknown or missing sub-verb prints v's usage and
 * returns 2. */
int cli_verb_run(struct cli *cli, const struct cli_verb *v, int argc, char **argv);

/* The global options of both binaries: --config FILE, --help, --version.
 * With operands_ok, parsing stops at the first operand (wxscene's verb,
 * whose own options follow it) and *first_operand is its index; without,
 * any operand is a usage error. Returns 0 to go on, 1 to exit 0 (help or
 * version printed), 2 on a usage error (usage(stderr) printed). */
int cli_global_args(int argc, char **argv, const char *prog, void (*usage)(FILE *f),
                    bool operands_ok, const char **config, int *first_operand);

/* channel archive SCENE (in cli_qr.c: archiving frees a permanent scene id). */
int cli_qr_channel_archive(struct cli *cli, int argc, char **argv);
/* Its usage, shared by channel archive and qr archive. */
#define CLI_ARCHIVE_MORE                                                                           \
    "  the channel keeps its history and gets no new codes; its permanent scene id is\n"           \
    "  retired until you free it (qr perm-ids --release)\n"
/* channel followup add|list|remove (cli_followup.c): one command of
 * channel with three forms, its usage shared with the command table. */
int cli_channel_followup(struct cli *cli, int argc, char **argv);
#define CLI_FOLLOWUP_ARGS                                                                          \
    "add SCENE (--text TEXT | --news TITLE --news-url URL [--news-description TEXT] "              \
    "[--news-picurl URL] | --image FILE)\nlist SCENE\nremove SCENE N"
#define CLI_FOLLOWUP_MORE                                                                          \
    "  sent in order after the passive reply, through the customer-service API, within\n"          \
    "  WeChat's 48 h window; --image uploads the file once as permanent material; remove\n"        \
    "  N moves the later ones up (fans already queued keep what they were queued with)\n"
#endif
