/* wxscene backfill [--restart]: attribution for followers from before
 * wxscene (backfill.h). Progress goes to stderr: a bar redrawn in place on a
 * terminal, plain lines (one per page, at most one every 5 s within a page)
 * otherwise, so logs of a cron run stay readable. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backfill.h"
#include "cli.h"

#define BAR_WIDTH      30
#define PLAIN_EVERY_US 5000000u

struct bf_view {
    bool tty;
    uint64_t start_us, last_line_us;
    int64_t last_seen;
};

static void draw_bar(struct bf_view *v, const struct backfill_progress *p)
{
    int64_t done = p->seen + p->in_page;
    int64_t total = p->total > done ? p->total : done;
    int fill = total > 0 ? (int)(done * BAR_WIDTH / total) : 0;
    char bar[BAR_WIDTH + 1];
    double secs = (double)(util_mono_us() - v->start_us) / 1e6;
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '-', (size_t)(BAR_WIDTH - fill));
    bar[BAR_WIDTH] = '\0';
    fprintf(stderr, "\r[%s] %3d%% %lld/%lld followers, %lld added, %lld known, %.1f calls/s ", bar,
            total > 0 ? (int)(done * 100 / total) : 0, (long long)done, (long long)total,
            (long long)p->added, (long long)p->known, secs > 0 ? (double)p->calls / secs : 0.0);
    fflush(stderr);
}

static void plain_line(struct bf_view *v, const struct backfill_progress *p)
{
    uint64_t now = util_mono_us();
    bool page_end = p->in_page == 0 && p->seen != v->last_seen;
    if (v->last_line_us == 0 && p->calls == 0) { /* the start: nothing walked yet */
        v->last_line_us = now;
        v->last_seen = p->seen;
        if (p->resumed)
            fprintf(stderr, "backfill: resuming an interrupted walk after %lld followers\n",
                    (long long)p->seen);
        return;
    }
    if (!page_end && now - v->last_line_us < PLAIN_EVERY_US)
        return;
    v->last_line_us = now;
    v->last_seen = p->seen;
    fprintf(stderr,
            "backfill: %lld/%lld followers walked, %lld added, %lld already known, "
            "%lld left meanwhile\n",
            (long long)(p->seen + p->in_page), (long long)p->total, (long long)p->added,
            (long long)p->known, (long long)p->gone);
}

static void on_progress(void *arg, const struct backfill_progress *p)
{
    struct bf_view *v = arg;
    if (v->tty)
        draw_bar(v, p);
    else
        plain_line(v, p);
}

static int cmd_backfill(struct cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"restart", no_argument, NULL, 'r'}, {NULL, 0, NULL, 0}};
    struct bf_view view = {.tty = isatty(STDERR_FILENO) == 1, .start_us = util_mono_us()};
    struct backfill_opts o = {.on_progress = on_progress, .arg = &view};
    struct backfill_progress p;
    char err[1024];
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'r')
            return cli_usage(cli);
        o.restart = true;
    }
    if (optind != argc)
        return cli_usage(cli);
    int rc = backfill_run(cli->cfg, cli->store, &o, &p, err, sizeof(err));
    if (view.tty)
        fputc('\n', stderr);
    if (rc < 0) {
        fprintf(stderr,
                "%s: backfill: %s\n%s: backfill: stopped after %lld of %lld followers; "
                "run it again to continue from there\n",
                cli->prog, err, cli->prog, (long long)p.seen, (long long)p.total);
        return 1;
    }
    printf("backfill %s: %lld followers walked, %lld fans added, %lld already known, "
           "%lld left before they could be looked up (%lld API calls)\n",
           p.resumed ? "resumed and finished" : "finished", (long long)p.seen, (long long)p.added,
           (long long)p.known, (long long)p.gone, (long long)p.calls);
    return 0;
}

/* The one place backfill's options are described. */
static const struct cli_cmd cmds[] = {
    {NULL, cmd_backfill, "[--restart]", "attribution of existing fans from user/info",
     "  resumes an interrupted walk; --restart walks the followers from the start\n"},
};

const struct cli_verb cli_verb_backfill = {"backfill", cmds, WXS_ARRAY_LEN(cmds)};
