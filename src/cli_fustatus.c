/* wxscene followup status: the follow-up outbox (followup.h) by state, and
 * why rows are parked, like `tag status`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "followup.h"
#include "table.h"

static int reason_row(const char *reason, int64_t n, void *arg)
{
    struct table *t = arg;
    return table_int(t, n) < 0 || table_add(t, reason) < 0 ? -1 : 0;
}

static int fu_status(struct cli *cli, int argc, char **argv)
{
    struct followup_counts c;
    struct table t = {.ncols = 2, .numeric = {true}};
    struct buf out = {0};
    int rc = 1;
    (void)argv;
    if (argc != 1)
        return cli_usage(cli);
    if (followup_counts(cli->store, &c) < 0) {
        fprintf(stderr, "%s: followup status: %s\n", cli->prog, store_errmsg(cli->store));
        return 1;
    }
    /* rows are fans (one per subscribe), each with its channel's messages */
    printf("pending %lld\nsending %lld\nsent %lld\nparked %lld\nmessages sent %lld\n"
           "messages uncertain %lld\n",
           (long long)c.pending, (long long)c.sending, (long long)c.sent, (long long)c.parked,
           (long long)c.messages_sent, (long long)c.uncertain);
    if (!c.parked)
        return 0;
    if (table_add(&t, "parked") == 0 && table_add(&t, "reason") == 0 &&
        followup_parked_reasons(cli->store, reason_row, &t) == 0 && table_print(&t, &out) == 0) {
        printf("\n%s", out.data ? out.data : "");
        rc = 0;
    } else {
        fprintf(stderr, "%s: followup status: %s\n", cli->prog, store_errmsg(cli->store));
    }
    table_free(&t);
    buf_free(&out);
    return rc;
}

static const struct cli_cmd cmds[] = {
    {"status", fu_status, "", "the follow-up outbox: rows pending, sent, parked and why",
     "  one row per subscribe through a channel with follow-ups; messages sent and\n"
     "  uncertain (a call without an answer: never resent); README \"Follow-up messages\"\n"},
};

const struct cli_verb cli_verb_followup = {"followup", cmds, WXS_ARRAY_LEN(cmds)};
