/* stats_gen: the statistics benchmark's load generator. Writes synthetic
 * WeChat events through the store's real commit path (store_commit_events:
 * dedup, fans, every same-transaction hook), so the rollups are maintained
 * exactly as in wxscened; --no-rollups switches the stats hook off
 * (stats_disable) for the baseline. Then times the default statistics
 * query. Built and run by bench/stats_bench.sh, never by ctest.
 *
 *   stats_gen DB EVENTS CHANNELS DAYS BATCH [--no-rollups] [--tz ZONE]
 *
 * Traffic: DAYS days ending today, in time order; a pool of EVENTS/5
 * people; someone not subscribed subscribes (80% through a channel, 20%
 * organic), a fan scans a channel (70%) or unsubscribes (30%). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "log.h"
#include "stats.h"
#include "store.h"
#include "tag.h"

struct gen {
    struct store *st;
    unsigned long events, channels, days, batch, people;
    unsigned char *subscribed; /* per person */
    unsigned long long rnd;
};

static unsigned long next_rand(struct gen *g)
{
    g->rnd ^= g->rnd << 13;
    g->rnd ^= g->rnd >> 7;
    g->rnd ^= g->rnd << 17;
    return (unsigned long)(g->rnd >> 11);
}

static int add_channels(struct gen *g)
{
    char err[256], scene[16], name[32], promoter[32];
    if (db_begin(store_db(g->st), DB_TX_WRITE) < 0)
        return -1;
    for (unsigned long i = 1; i <= g->channels; i++) {
        snprintf(scene, sizeof(scene), "%lu", i);
        snprintf(name, sizeof(name), "Channel %lu", i);
        snprintf(promoter, sizeof(promoter), "Promoter %lu", i % 50);
        struct channel c = {.scene = scene, .name = name, .promoter = promoter};
        if (channel_add(g->st, &c, err, sizeof(err)) < 0 && !strstr(err, "exists")) {
            fprintf(stderr, "stats_gen: channel %s: %s\n", scene, err);
            db_rollback(store_db(g->st));
            return -1;
        }
    }
    return db_commit(store_db(g->st)) < 0 ? -1 : 0;
}

struct slot {
    char key[96], openid[32], scene[16], event_key[32];
};

/* Fill one event of the stream; i is its rank (time order). */
static void make_event(struct gen *g, unsigned long i, int64_t t0, struct slot *s,
                       struct event_rec *r)
{
    unsigned long who = next_rand(g) % g->people;
    unsigned long ch = 1 + next_rand(g) % g->channels;
    int64_t t = t0 + (int64_t)((double)i * (double)(g->days * 86400) / (double)g->events);
    static const char *const names[] = {"subscribe", "SCAN", "unsubscribe"};
    enum ev_kind k;
    bool organic = false;
    snprintf(s->openid, sizeof(s->openid), "oBench%08lu", who);
    snprintf(s->scene, sizeof(s->scene), "%lu", ch);
    if (!g->subscribed[who]) {
        k = EV_SUBSCRIBE;
        organic = next_rand(g) % 5 == 0;
        g->subscribed[who] = 1;
    } else if (next_rand(g) % 10 < 7) {
        k = EV_SCAN;
    } else {
        k = EV_UNSUBSCRIBE;
        g->subscribed[who] = 0;
    }
    bool has_scene = k == EV_SCAN || (k == EV_SUBSCRIBE && !organic);
    snprintf(s->event_key, sizeof(s->event_key), "%s%s", k == EV_SUBSCRIBE ? "qrscene_" : "",
             has_scene ? s->scene : "");
    if (!has_scene)
        s->event_key[0] = '\0';
    /* the server's key shape (route_dedup_key: time first), made unique */
    snprintf(s->key, sizeof(s->key), "e|%lld|%s|%s|%s|%lu", (long long)t, s->openid, names[k],
             s->event_key, i);
    *r = (struct event_rec){.dedup_key = s->key,
                            .kind = k,
                            .openid = s->openid,
                            .create_time = t,
                            .msg_type = "event",
                            .event = names[k],
                            .event_key = s->event_key,
                            .scene = has_scene ? s->scene : NULL,
                            .received_at = t};
}

static int ingest(struct gen *g, double *secs)
{
    struct slot *slots = calloc(g->batch, sizeof(*slots));
    struct event_rec *recs = calloc(g->batch, sizeof(*recs));
    int64_t t0 = util_now() - (int64_t)g->days * 86400;
    uint64_t start = util_mono_us(), last = start;
    int ret = -1;
    if (!slots || !recs)
        goto done;
    for (unsigned long i = 0; i < g->events;) {
        size_t n = 0;
        for (; n < g->batch && i < g->events; n++, i++)
            make_event(g, i, t0, &slots[n], &recs[n]);
        if (store_commit_events(g->st, recs, n) < 0) {
            fprintf(stderr, "stats_gen: commit failed: %s\n", store_errmsg(g->st));
            goto done;
        }
        for (size_t j = 0; j < n; j++)
            free(recs[j].prior_reply);
        if (util_mono_us() - last > 30000000) {
            last = util_mono_us();
            fprintf(stderr, "stats_gen: %lu events, %.0f/s\n", i,
                    (double)i / ((double)(last - start) / 1e6));
        }
    }
    *secs = (double)(util_mono_us() - start) / 1e6;
    ret = 0;
done:
    free(slots);
    free(recs);
    return ret;
}

/* The default `wxscene stats`: every channel, the last 30 days. */
static int time_query(struct gen *g, const char *tz, enum stats_by by, double *best_ms)
{
    struct stats *s;
    char err[256];
    int64_t d0, d1;
    *best_ms = 1e9;
    if (stats_open(&s, g->st, tz, 7, NULL, err, sizeof(err)) < 0 ||
        stats_range(s, by, NULL, NULL, "since", "until", &d0, &d1, err, sizeof(err)) < 0) {
        fprintf(stderr, "stats_gen: %s\n", err);
        return -1;
    }
    for (int i = 0; i < 7; i++) {
        struct stats_report *r;
        uint64_t t = util_mono_us();
        if (stats_query(s, by, d0, d1, &r, err, sizeof(err)) < 0) {
            fprintf(stderr, "stats_gen: %s\n", err);
            stats_close(s);
            return -1;
        }
        double ms = (double)(util_mono_us() - t) / 1000.0;
        if (ms < *best_ms)
            *best_ms = ms;
        stats_report_free(r);
    }
    stats_close(s);
    return 0;
}

static int parse_ul(const char *s, unsigned long *out)
{
    uint64_t v;
    if (util_parse_u64(s, 1, 1000000000, &v) < 0)
        return -1;
    *out = (unsigned long)v;
    return 0;
}

int main(int argc, char **argv)
{
    struct gen g = {.rnd = 0x9E3779B97F4A7C15ull};
    const char *tz = "Asia/Shanghai";
    bool rollups = true;
    char err[512];
    double secs, ms_ch, ms_pr, ms_day;
    if (argc < 6 || parse_ul(argv[2], &g.events) < 0 || parse_ul(argv[3], &g.channels) < 0 ||
        parse_ul(argv[4], &g.days) < 0 || parse_ul(argv[5], &g.batch) < 0) {
        fprintf(stderr, "usage: stats_gen DB EVENTS CHANNELS DAYS BATCH [--no-rollups] [--tz Z]\n");
        return 2;
    }
    for (int i = 6; i < argc; i++) {
        if (strcmp(argv[i], "--no-rollups") == 0)
            rollups = false;
        else if (strcmp(argv[i], "--tz") == 0 && i + 1 < argc)
            tz = argv[++i];
    }
    log_set_level(LOG_WARN);
    g.people = g.events / 5 + 1;
    if (!(g.subscribed = calloc(g.people, 1)) ||
        store_open(&g.st, argv[1], STORE_SYNC_NORMAL, err, sizeof(err)) < 0) {
        fprintf(stderr, "stats_gen: %s\n", err);
        return 1;
    }
    /* the hooks of wxscened's commit thread (server.c commit_hooks[]) */
    if (store_hook_add(g.st, tag_outbox_hook) < 0 || store_hook_add(g.st, stats_event_hook) < 0)
        return 1;
    /* the same generous page cache for both runs: at 10M events the tables
     * are gigabytes and SQLite's 2 MB default would measure pread() calls */
    if ((db_caps(store_db(g.st)) & DB_CAP_EMBEDDED) &&
        db_exec(store_db(g.st), "PRAGMA cache_size = -262144") < 0)
        return 1;
    struct stats *s;
    if (stats_open(&s, g.st, tz, 7, NULL, err, sizeof(err)) < 0) {
        fprintf(stderr, "stats_gen: %s\n", err);
        return 1;
    }
    stats_close(s);
    if ((!rollups && stats_disable(g.st) < 0) || add_channels(&g) < 0 || ingest(&g, &secs) < 0)
        return 1;
    printf("ingest rollups=%s events=%lu channels=%lu days=%lu batch=%lu seconds=%.1f "
           "events_per_s=%.0f us_per_event=%.2f\n",
           rollups ? "on" : "off", g.events, g.channels, g.days, g.batch, secs,
           (double)g.events / secs, secs * 1e6 / (double)g.events);
    if (rollups) {
        if (time_query(&g, tz, STATS_BY_CHANNEL, &ms_ch) < 0 ||
            time_query(&g, tz, STATS_BY_PROMOTER, &ms_pr) < 0 ||
            time_query(&g, tz, STATS_BY_DAY, &ms_day) < 0)
            return 1;
        printf("query by=channel best_ms=%.1f\nquery by=promoter best_ms=%.1f\n"
               "query by=day best_ms=%.1f\n",
               ms_ch, ms_pr, ms_day);
    }
    store_close(g.st);
    free(g.subscribed);
    return 0;
}
