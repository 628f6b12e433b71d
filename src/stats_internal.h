/* stats_internal: what the stats_*.c files share; not for other modules
 * (they see stats.h and stats_output.h). */
#ifndef WXS_STATS_INTERNAL_H
#define WXS_STATS_INTERNAL_H
#include "db.h"
#include "stats.h"
#include "tz.h"

/* The handle: borrowed store and its connection, the zone (owned). */
struct stats {
    struct store *st;
    struct db *db; /* store_db(st) */
    struct tz *tz;
    char *tzname;
    int64_t retention_days;
};

/* A subscribe undone within this many seconds is a quick unsubscribe
 * ("subscribe-unsubscribe pairs within minutes"). */
#define STATS_QUICK_UNSUB_SECS 600

/* stats_rebuild.c: rebuild the rollups unless they are built for the
 * handle's zone (checked again under the write lock: another process may
 * have done it meanwhile). *done says whether it rebuilt. */
int stats_rebuild_stale(struct stats *s, bool *done, char *err, size_t errlen) WXS_MUSTCHECK;
/* stats_query.c, shared with stats_campaign.c. */
/* Every scene row of r's range appended to r->rows (organic: scene NULL);
 * the any-scene distinct scanners in *all_unique. */
int stats_query_scenes(struct stats *s, struct stats_report *r, int64_t *all_unique, char *err,
                       size_t errlen) WXS_MUSTCHECK;
void stats_counts_add(struct stats_counts *to, const struct stats_counts *c);
/* A new zeroed row at the end of r->rows (*cap: its capacity); NULL when
 * out of memory. */
struct stats_row *stats_row_new(struct stats_report *r, size_t *cap);
void stats_row_clear(struct stats_row *r);
/* qsort order: most net fans first, then new fans, scans, name. */
int stats_cmp_rank(const void *a, const void *b);
/* The end of reading q: 0 at DB_DONE, else -1 with the failure in err. */
int stats_read_end(struct stats *s, struct db_stmt *q, int rc, char *err, size_t errlen);

/* stats_campaign.c: campaigns in the reports. */
/* The report by campaign (r->from..r->to set). */
int stats_by_campaign(struct stats *s, struct stats_report *r, char *err,
                      size_t errlen) WXS_MUSTCHECK;
/* r->campaign's id into r->campaign_id (in the query's transaction);
 * STATS_ENOCAMPAIGN when there is none. */
int stats_campaign_resolve(struct stats *s, struct stats_report *r, char *err,
                           size_t errlen) WXS_MUSTCHECK;
/* By channel: keep the rows of r->campaign's channels; *unique = their
 * distinct scanners over the range. */
int stats_campaign_rows(struct stats *s, struct stats_report *r, int64_t *unique, char *err,
                        size_t errlen) WXS_MUSTCHECK;
/* By day (rows and counts filled): each day's and the range's distinct
 * scanners across r->campaign's channels, and the totals. */
int stats_campaign_days(struct stats *s, struct stats_report *r, char *err,
                        size_t errlen) WXS_MUSTCHECK;
#endif
