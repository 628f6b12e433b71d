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
#endif
