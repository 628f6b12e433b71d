#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats_internal.h"

void stats_close(struct stats *s)
{
    if (!s)
        return;
    tz_free(s->tz);
    free(s->tzname);
    free(s);
}

int stats_open(struct stats **out, struct store *st, const char *tzname, int64_t retention_days,
               bool *rebuilt, char *err, size_t errlen)
{
    char why[256];
    bool done = false;
    struct stats *s = calloc(1, sizeof(*s));
    if (!s || !(s->tzname = strdup(tzname))) {
        free(s);
        return snprintf(err, errlen, "out of memory"), -1;
    }
    s->st = st;
    s->db = store_db(st);
    s->retention_days = retention_days;
    if (tz_load(&s->tz, tzname, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "[stats] timezone: %s", why);
        goto fail;
    }
    if (stats_rebuild_stale(s, &done, err, errlen) < 0)
        goto fail;
    if (rebuilt)
        *rebuilt = done;
    *out = s;
    return 0;
fail:
    stats_close(s);
    return -1;
}

int64_t stats_today(const struct stats *s)
{
    return tz_day(s->tz, util_now());
}
