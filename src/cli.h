/* cli: the wxscene operator CLI's verbs. main_wxscene.c parses the global
 * options, loads the config, opens the store and dispatches through a table
 * {verb, function}; each verb lives in cli_<verb>.c and returns the process
 * exit code (0 ok, 1 runtime failure, 2 usage error). */
#ifndef WXS_CLI_H
#define WXS_CLI_H
#include "cfg.h"
#include "store.h"

struct cli {
    const struct cfg *cfg;
    struct store *store;
    const char *prog; /* argv[0] for messages */
};

/* argv[0] is the verb itself ("channel", "qr", ...). */
int cli_channel(struct cli *cli, int argc, char **argv);
int cli_qr(struct cli *cli, int argc, char **argv);
/* channel archive SCENE (in cli_qr.c: archiving frees a permanent scene id). */
int cli_qr_channel_archive(struct cli *cli, int argc, char **argv);
int cli_stats(struct cli *cli, int argc, char **argv);
int cli_tag(struct cli *cli, int argc, char **argv);
int cli_backfill(struct cli *cli, int argc, char **argv);
#endif
