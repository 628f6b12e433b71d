/* wxscene tag sync|status: the tag outbox from the command line. sync runs
 * the same work as the wxscened worker once, without waiting for backoff
 * times (the operator asked now), and says what was tagged, parked and left. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "table.h"
#include "tag.h"

static void print_park(void *arg, const char *openid, const char *tag, const char *reason)
{
    (void)arg;
    if (strcmp(openid, "*") == 0)
        printf("parked all pending fans of tag '%s': %s\n", tag, reason);
    else
        printf("parked %s (tag '%s'): %s\n", openid, tag, reason);
}

static void print_summary(const struct tag_report *r)
{
    printf("tagged %llu fans in %llu batchtagging calls, parked %llu, %llu left pending\n",
           (unsigned long long)r->tagged, (unsigned long long)r->calls,
           (unsigned long long)r->parked, (unsigned long long)r->pending);
    if (r->reclaimed)
        printf("took back %llu fans from an interrupted run (sent again; tagging is "
               "idempotent)\n",
               (unsigned long long)r->reclaimed);
    if (r->parked_total)
        printf("%llu fans parked in all; after fixing the cause, 'wxscene tag sync "
               "--retry-parked' queues them again\n",
               (unsigned long long)r->parked_total);
}

static int tag_sync(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"retry-parked", no_argument, NULL, 'r'},
                                         {NULL, 0, NULL, 0}};
    struct tag_runner_opts o = {.ignore_backoff = true, .on_park = print_park};
    struct tag_runner *tr = NULL;
    struct tag_report rep;
    bool retry_parked = false;
    char err[1024];
    int c, rc = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'r')
            return cli_usage(cli);
        retry_parked = true;
    }
    if (optind != argc)
        return cli_usage(cli);
    int64_t requeued = 0;
    if (retry_parked && tag_requeue_parked(cli->store, &requeued) < 0) {
        fprintf(stderr, "%s: tag sync: %s\n", cli->prog, store_errmsg(cli->store));
        return 1;
    }
    if (retry_parked)
        printf("queued %lld parked fans again\n", (long long)requeued);
    if (tag_runner_new(&tr, cli->cfg, cli->store, &o, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: tag sync: %s\n", cli->prog, err);
        return 1;
    }
    if (tag_run(tr, NULL, &rep) == 0) {
        print_summary(&rep);
        rc = 0;
    }
    if (rep.error[0]) {
        fprintf(stderr, "%s: tag sync: %s\n", cli->prog, rep.error);
        rc = 1;
    }
    tag_runner_free(tr);
    return rc;
}

/* Counts per tag and state, and tags WeChat would not give an id for.
 * Portable SQL: counts by CASE (PostgreSQL has no sum of a boolean), and
 * the tag_ids columns in the GROUP BY (one row per name: its key). */
static int tag_status(struct cli *cli, int argc, char **argv)
{
    static const char sql[] = "SELECT o.tag, t.tag_id, "
                              "sum(CASE WHEN o.state IN ('pending', 'sending') THEN 1 ELSE 0 END), "
                              "sum(CASE WHEN o.state = 'done' THEN 1 ELSE 0 END), "
                              "sum(CASE WHEN o.state = 'parked' THEN 1 ELSE 0 END), "
                              "sum(CASE WHEN o.state = 'cancelled' THEN 1 ELSE 0 END), t.error "
                              "FROM tag_outbox o LEFT JOIN tag_ids t ON t.name = o.tag "
                              "GROUP BY o.tag, t.tag_id, t.error ORDER BY o.tag";
    struct db_stmt *s;
    int rc;
    (void)argv;
    if (argc != 1)
        return cli_usage(cli);
    if (!(s = db_prepare(store_db(cli->store), sql))) {
        fprintf(stderr, "%s: tag status: %s\n", cli->prog, store_errmsg(cli->store));
        return 1;
    }
    static const char *const heads[] = {"tag", "id", "pending", "done", "parked", "cancelled"};
    struct table t = {.ncols = WXS_ARRAY_LEN(heads)};
    struct buf notes = {0}, out = {0};
    int bad = 0;
    for (size_t i = 0; i < WXS_ARRAY_LEN(heads); i++) {
        t.numeric[i] = i > 0;
        bad = bad || table_add(&t, heads[i]) < 0;
    }
    while (!bad && (rc = db_step(s)) == DB_ROW) {
        const char *why = db_col_text(s, 6);
        bad = table_add(&t, db_col_text(s, 0)) < 0 ||
              (db_col_null(s, 1) ? table_add(&t, "-") : table_int(&t, db_col_int64(s, 1))) < 0;
        for (int i = 2; i <= 5; i++)
            bad = bad || table_int(&t, db_col_int64(s, i)) < 0;
        if (why)
            bad = bad || buf_printf(&notes, "%s: %s\n", db_col_text(s, 0), why) < 0;
    }
    if (!bad && rc == DB_DONE && table_print(&t, &out) == 0) {
        fputs(out.data ? out.data : "", stdout);
        fputs(notes.data ? notes.data : "", stdout);
    } else if (rc == DB_ROW || rc == DB_DONE) {
        rc = -1; /* out of memory */
    }
    table_free(&t);
    buf_free(&notes);
    buf_free(&out);
    if (rc < 0)
        fprintf(stderr, "%s: tag status: %s\n", cli->prog, store_errmsg(cli->store));
    db_finalize(s);
    return rc == DB_DONE ? 0 : 1;
}

/* The one place tag's commands and their options are described. */
static const struct cli_cmd cmds[] = {
    {"sync", tag_sync, "[--retry-parked]", "push channel tags to WeChat",
     "  sends the tag outbox now (what wxscened's worker does in the background);\n"
     "  --retry-parked queues the parked ones again first\n"},
    {"status", tag_status, "", NULL, "  the outbox per tag: pending, done, parked, cancelled\n"},
};

const struct cli_verb cli_verb_tag = {"tag", cmds, WXS_ARRAY_LEN(cmds)};
