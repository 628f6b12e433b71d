/* store_copy: a whole store into an empty one (`wxscene store copy --to
 * URL`: SQLite -> PostgreSQL when an install grows to several instances,
 * or back). Every table is read from one snapshot of the source and
 * written in one transaction on the target, then verified: each table's
 * row count, and every statistics report (by channel, by promoter, by day,
 * over all the data) the same on both. A target that fails the check is
 * emptied again: all or nothing. A target holding channels, events, fans,
 * codes or tag state is refused before anything is written. */
#ifndef WXS_STORE_COPY_H
#define WXS_STORE_COPY_H
#include <stddef.h>
#include <stdint.h>
#include "cfg.h"
#include "store.h"

#define STORE_COPY_TABLES 24

struct store_copy_report {
    size_t ntables;
    struct {
        const char *name; /* static */
        int64_t rows;
    } t[STORE_COPY_TABLES];
    int64_t rows;         /* all tables */
    int reports_compared; /* statistics reports found identical */
    double copy_s, check_s;
};

/* cfg: the statistics zone and retention for the check. 0, or -1 with
 * err saying what was wrong (the table, the count or the report that
 * differs). */
int store_copy(struct store *from, struct store *to, const struct cfg *cfg,
               struct store_copy_report *rep, char *err, size_t errlen) WXS_MUSTCHECK;
#endif
