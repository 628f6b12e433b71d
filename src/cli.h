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

struct cli {
    const struct cfg *cfg;
    struct store *store;
    const char *prog; /* argv[0] for messages */
};

/* The global options of both binaries: --config FILE, --help, --version.
 * With operands_ok, parsing stops at the first operand (wxscene's verb,
 * whose own options follow it) and *first_operand is its index; without,
 * any operand is a usage error. Returns 0 to go on, 1 to exit 0 (help or
 * version printed), 2 on a usage error (usage(stderr) printed). */
int cli_global_args(int argc, char **argv, const char *prog, void (*usage)(FILE *f),
                    bool operands_ok, const char **config, int *first_operand);

/* argv[0] is the verb itself ("channel", "qr", ...). */
int cli_channel(struct cli *cli, int argc, char **argv);
int cli_qr(struct cli *cli, int argc, char **argv);
/* channel archive SCENE (in cli_qr.c: archiving frees a permanent scene id). */
int cli_qr_channel_archive(struct cli *cli, int argc, char **argv);
int cli_stats(struct cli *cli, int argc, char **argv);
int cli_tag(struct cli *cli, int argc, char **argv);
int cli_backfill(struct cli *cli, int argc, char **argv);
int cli_store(struct cli *cli, int argc, char **argv);
/* channel followup add|list|remove (cli_followup.c) and followup status
 * (cli_fustatus.c). */
int cli_channel_followup(struct cli *cli, int argc, char **argv);
int cli_followup(struct cli *cli, int argc, char **argv);
#endif
