/* stats: channel statistics as the CONTRACT defines them (scans,
 * unique_scanners, new/returning fans, unsubscribes, net and retained fans),
 * by channel, by promoter and by day over a date range of the account time
 * zone ([stats] timezone).
 *
 * The numbers come from rollup tables (schema/003_stats.sql) that
 * stats_event_hook() maintains inside the store's commit transaction, so
 * they count exactly the committed events (each once, however often WeChat
 * retried it) and a query reads O(scenes x days) rows, never the events.
 * stats_rebuild() recomputes every rollup from events and fans; stats_open()
 * runs it when the rollups were built for another zone or not at all.
 *
 * The module's files, one concern each, all on db.h (no backend header):
 *   stats.c          the handle: open (rebuild when stale), close, today
 *   stats_rollup.c   the commit hook: deltas summed per batch and written
 *                    in key order; stats_fan_changed()
 *   stats_scandays.c the text of a scanner's scan days (stats_scanners.days)
 *   stats_rebuild.c  the rebuild from events and fans, the zone table,
 *                    stats_disable()
 *   stats_query.c    ranges, the queries, the promoter flags
 *   stats_output.c   the report as JSON, CSV and a text table
 *                    (stats_output.h) */
#ifndef WXS_STATS_H
#define WXS_STATS_H
#include <stdbool.h>
#include <stdint.h>
#include "store.h"
#include "util.h"

struct stats;

/* Prepare statistics for st in zone tzname (e.g. "Asia/Shanghai") with
 * retention_days for the promoter retention. Rebuilds the rollups first
 * when they are not built for this zone (that takes the write lock for as
 * long as it runs; *rebuilt says whether it happened). Borrowed: st must
 * outlive the handle. On error err says why (a bad zone names it). */
int stats_open(struct stats **out, struct store *st, const char *tzname, int64_t retention_days,
               bool *rebuilt, char *err, size_t errlen) WXS_MUSTCHECK;
void stats_close(struct stats *s);

/* Recompute every rollup from the events and fans tables in one
 * transaction (for a zone change, or after fans were written outside the
 * event path, e.g. a bulk import). */
int stats_rebuild(struct stats *s, char *err, size_t errlen) WXS_MUSTCHECK;

/* Stop maintaining the rollups (the hook then costs one lookup per event);
 * the next stats_open() rebuilds them. For bulk loads and the benchmark. */
int stats_disable(struct store *st) WXS_MUSTCHECK;

/* The store hook (a row of server.c commit_hooks[]; store_hook_add() it
 * on any store whose commits must move the rollups). It keeps its state in
 * ev->slot: statements, the zone memo and the batch's summed deltas,
 * written in key order at the end of the batch (stats_rollup.c). With
 * DB_CAP_C_FUNCTIONS a scan edits the scanner's row inside one upsert
 * (wxs_scan_add); without, it locks the row, edits it in C and writes it. */
int stats_event_hook(struct db *db, const struct event_applied *ev);

/* For a writer of the fans table outside store_commit_events() (backfill):
 * call inside the same transaction with the fan's row before and after the
 * write, so retained_fans stays exact. last_sub_at 0 = no subscribe known;
 * scene NULL = organic. */
int stats_fan_changed(struct db *db, const char *old_scene, int64_t old_sub_at, bool old_subscribed,
                      const char *new_scene, int64_t new_sub_at, bool new_subscribed) WXS_MUSTCHECK;

/* ---- queries ---- */

enum stats_by { STATS_BY_CHANNEL, STATS_BY_PROMOTER, STATS_BY_DAY, STATS_BY_CAMPAIGN };
int stats_parse_by(const char *s, enum stats_by *out) WXS_MUSTCHECK;
const char *stats_by_name(enum stats_by by);

/* Most rows a report by day lists. A range of any length is accepted: a
 * query reads only the days that can hold data (see stats_query), and by
 * day lists those when the range is longer than this. */
#define STATS_MAX_RANGE_DAYS 3700

/* The range of since/until (YYYY-MM-DD, NULL = default: the 30 days
 * ending today in the account zone) as day numbers; -1 with a message
 * naming the bad argument (what_since / what_until, e.g. "--since"), or
 * saying that a report by day would list more than STATS_MAX_RANGE_DAYS
 * days holding data. */
int stats_range(struct stats *s, enum stats_by by, const char *since, const char *until,
                const char *what_since, const char *what_until, int64_t *d0, int64_t *d1, char *err,
                size_t errlen) WXS_MUSTCHECK;
/* Today's day number in the account zone. */
int64_t stats_today(const struct stats *s);

struct stats_counts {
    int64_t scans, unique_scanners, new_fans, returning_fans, unsubscribes, net_fans, retained_fans;
};

/* Suspicion rules for promoters (bits of stats_row.flags). */
enum stats_flag { STATS_FLAG_QUICK_UNSUBS = 1u << 0, STATS_FLAG_RESUB_CYCLING = 1u << 1 };
#define STATS_FLAG_COUNT 2
/* Rule i's name ("quick_unsubscribes", ...; static). */
const char *stats_flag_name(unsigned i);

/* A report's row; its strings are malloc'd and owned by the report. */
struct stats_row {
    char *scene;    /* by channel: scene, NULL = organic */
    char *name;     /* by channel: channel name, NULL = no channel row */
    char *promoter; /* by channel: the channel's promoter; by promoter: the promoter */
    char *campaign; /* by campaign: the campaign, NULL = channels in none and organic */
    int64_t day;    /* by day */
    struct stats_counts c;
    /* by promoter, by campaign */
    int64_t channels;           /* channels of the promoter or campaign */
    int64_t quick_unsubs;       /* subscribes undone within 10 minutes */
    int64_t retention_eligible; /* subscribes in range at least retention_days old */
    int64_t retention_retained; /* ... whose fan had not unsubscribed by then */
    unsigned flags;             /* enum stats_flag bits */
};

/* new_fans + returning_fans: the subscribes a row's channels brought. */
static inline int64_t stats_fans_brought(const struct stats_row *r)
{
    return r->c.new_fans + r->c.returning_fans;
}

struct stats_report {
    enum stats_by by;
    int64_t since, until; /* day numbers, inclusive: the range asked for */
    /* The days the query read: since..until narrowed to the days that can
     * hold data (the first day with a rollup row .. the later of the last
     * one and today); from > to when none can. By day the rows are
     * since..until, or from..to when that is longer than
     * STATS_MAX_RANGE_DAYS. */
    int64_t from, to;
    int64_t retention_days;
    struct stats_row *rows;
    size_t nrows;
    struct stats_counts totals;
    int64_t quick_unsubs, retention_eligible, retention_retained; /* by promoter totals */
    char *campaign;      /* stats_query_in's filter (owned), NULL = none */
    int64_t campaign_id; /* its id */
    /* stats_query_scoped's scope while the query runs (borrowed; NULL after) */
    const char *scope_scene, *scope_promoter;
};

/* Run a query (one read transaction: every figure is of the same commit).
 * Rows: by channel every active channel plus every scene with activity
 * and the organic row, ranked by net_fans; by promoter the promoters of
 * channels, ranked by net_fans; by day every day of the range (see
 * struct stats_report); by campaign every campaign ranked by net_fans,
 * then the row (campaign NULL) of the channels in none and the organic
 * subscribes, unique_scanners exact per campaign (stats_campaign.c). The
 * campaign of a channel is the one it is in when the query runs. The numbers are those of
 * since..until, however long: only the days that can hold data are read. The caller frees *out with
 * stats_report_free(). */
int stats_query(struct stats *s, enum stats_by by, int64_t since, int64_t until,
                struct stats_report **out, char *err, size_t errlen) WXS_MUSTCHECK;
void stats_report_free(struct stats_report *r);

/* stats_query() of the channels of one campaign only (the name as
 * campaign add tidies it; NULL = all channels): by day, the daily rows of
 * those channels; by channel, their rows. unique_scanners stay exact:
 * distinct openids across the campaign's channels, per day and over the
 * range. By promoter or by campaign a campaign is refused. An unknown
 * campaign: -1 with "campaign NAME does not exist" (STATS_ENOCAMPAIGN). */
#define STATS_ENOCAMPAIGN (-2)
int stats_query_in(struct stats *s, enum stats_by by, int64_t since, int64_t until,
                   const char *campaign, struct stats_report **out, char *err,
                   size_t errlen) WXS_MUSTCHECK;
/* stats_query() by day for one channel (scene) or the channels of one
 * promoter (the per-channel chart, a promoter's page): the same columns,
 * unique_scanners being the channel's distinct scanners of the day (of
 * the range in the totals), summed over a promoter's channels (a fan who
 * scanned two of them counts in both). scene and promoter are borrowed;
 * both NULL = stats_query(). */
int stats_query_scoped(struct stats *s, enum stats_by by, const char *scene, const char *promoter,
                       int64_t since, int64_t until, struct stats_report **out, char *err,
                       size_t errlen) WXS_MUSTCHECK;

/* Append to out (the caller's buffer) one sentence about why row r is
 * flagged (nothing when it is not). */
int stats_flag_reasons(const struct stats_report *r, const struct stats_row *row,
                       struct buf *out) WXS_MUSTCHECK;
#endif
