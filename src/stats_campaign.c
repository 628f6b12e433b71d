/* Campaigns in the statistics: the report by campaign, and a campaign as a
 * filter of the reports by day and by channel.
 *
 * Every counter but one is a sum over the campaign's channels (each event
 * has one scene, so sums count it once). unique_scanners is not: a person
 * who scanned two stations of a metro campaign is one scanner. It is
 * computed when the query runs, from stats_scanners (one row per openid:
 * the days it scanned each scene and any scene, stats_scandays.h), so the
 * push path does no work for campaigns and moving a channel to another
 * campaign needs no rewrite: the whole history follows the channel. The
 * cost is one read of stats_scanners per query (paged by openid; the rows
 * whose any-scene days miss the range are left after their first scope);
 * docs/benchmarks.md has the figures.
 *
 * A channel's campaign is the one it is in when the query runs; scenes
 * without a channel row, channels in no campaign and organic subscribes
 * make up the row with campaign NULL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaign.h"
#include "stats_internal.h"
#include "stats_scandays.h"

#define SCAN_PAGE 2000 /* stats_scanners rows per statement */

static const struct db_query q_campaigns = {"stats.campaigns", "SELECT name FROM campaigns"};
static const struct db_query q_members = {
    "stats.campaign_members",
    "SELECT c.scene, g.name FROM channels c JOIN campaigns g ON g.id = c.campaign_id"};
static const struct db_query q_scanners = {
    "stats.scanners_page",
    "SELECT openid, days FROM stats_scanners WHERE openid > ?1 ORDER BY openid LIMIT ?2"};
static const struct db_query q_first_scanners = {
    "stats.scanners_first", "SELECT openid, days FROM stats_scanners ORDER BY openid LIMIT ?1"};

/* A scene's group: a campaign's index, or the "none" group. */
struct member {
    char *scene;
    size_t group;
};

/* The groups of a report: campaigns sorted by name (strcmp, the same on
 * both backends), the none group last; the scenes in a campaign, sorted. */
struct groups {
    char **names;
    size_t n; /* campaigns; group n is "none" */
    struct member *members;
    size_t nmembers;
};

static void groups_free(struct groups *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->names[i]);
    for (size_t i = 0; i < g->nmembers; i++)
        free(g->members[i].scene);
    free(g->names);
    free(g->members);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_member(const void *a, const void *b)
{
    return strcmp(((const struct member *)a)->scene, ((const struct member *)b)->scene);
}

/* Append the text of column 0 of every row of q to a growing array. */
static int read_names(struct stats *s, struct groups *g, char *err, size_t errlen)
{
    struct db_stmt *q = db_stmt(s->db, &q_campaigns);
    size_t cap = 0;
    int rc;
    while ((rc = db_step(q)) == DB_ROW) {
        if (g->n == cap) {
            char **n = realloc(g->names, (cap = cap ? cap * 2 : 16) * sizeof(*n));
            if (!n)
                break;
            g->names = n;
        }
        if (!(g->names[g->n] = db_col_strdup(q, 0)))
            break;
        g->n++;
    }
    if (rc == DB_ROW)
        rc = DB_ENOMEM;
    return stats_read_end(s, q, rc, err, errlen);
}

static size_t group_of_name(const struct groups *g, const char *name)
{
    char *const *hit = g->n ? bsearch(&name, g->names, g->n, sizeof(*g->names), cmp_name) : NULL;
    return hit ? (size_t)(hit - g->names) : g->n;
}

static int read_members(struct stats *s, struct groups *g, char *err, size_t errlen)
{
    struct db_stmt *q = db_stmt(s->db, &q_members);
    size_t cap = 0;
    int rc;
    while ((rc = db_step(q)) == DB_ROW) {
        if (g->nmembers == cap) {
            struct member *m = realloc(g->members, (cap = cap ? cap * 2 : 64) * sizeof(*m));
            if (!m)
                break;
            g->members = m;
        }
        struct member *m = &g->members[g->nmembers];
        if (!(m->scene = db_col_strdup(q, 0)))
            break;
        m->group = group_of_name(g, db_col_text(q, 1));
        g->nmembers++;
    }
    if (rc == DB_ROW)
        rc = DB_ENOMEM;
    return stats_read_end(s, q, rc, err, errlen);
}

static int groups_load(struct stats *s, struct groups *g, char *err, size_t errlen)
{
    memset(g, 0, sizeof(*g));
    if (read_names(s, g, err, errlen) < 0)
        return -1;
    if (g->n)
        qsort(g->names, g->n, sizeof(*g->names), cmp_name);
    if (read_members(s, g, err, errlen) < 0)
        return -1;
    if (g->nmembers)
        qsort(g->members, g->nmembers, sizeof(*g->members), cmp_member);
    return 0;
}

/* The group of a scene given as len bytes (not NUL-terminated). */
static size_t group_of_scene(const struct groups *g, const char *scene, size_t len)
{
    size_t lo = 0, hi = g->nmembers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *m = g->members[mid].scene;
        size_t mlen = strlen(m);
        int c = memcmp(m, scene, mlen < len ? mlen : len);
        if (c == 0)
            c = (mlen > len) - (mlen < len);
        if (c == 0)
            return g->members[mid].group;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return g->n;
}

/* ---- the scan of stats_scanners ---- */

/* What one pass counts: per group the openids with a scan day in the
 * range (a stamp per group: counted once per openid), and when only is a
 * group, per day of rows the openids of that group scanning that day. */
struct scan {
    const struct groups *g;
    int64_t *unique;  /* per group */
    uint64_t *stamp;  /* per group: the last openid (row number) counted */
    uint64_t row;     /* the current openid's number, from 1 */
    size_t only;      /* a group, or SIZE_MAX for all */
    int64_t day0;     /* per-day counts: the day of index 0 */
    size_t ndays;     /* 0: none */
    int64_t *per_day; /* per day */
    uint64_t *day_stamp;
};

static int scan_day(const char *scope, size_t len, int64_t day, void *arg)
{
    struct scan *x = arg;
    if (len == 0)
        return 0; /* the any-scene scope */
    size_t grp = group_of_scene(x->g, scope, len);
    if (x->only != SIZE_MAX && grp != x->only)
        return 0;
    if (x->stamp[grp] != x->row) {
        x->stamp[grp] = x->row;
        x->unique[grp]++;
    }
    if (x->ndays && day >= x->day0 && (uint64_t)(day - x->day0) < x->ndays) {
        size_t i = (size_t)(day - x->day0);
        if (x->day_stamp[i] != x->row) {
            x->day_stamp[i] = x->row;
            x->per_day[i]++;
        }
    }
    return 0;
}

/* One page of rows after *last (NULL: from the start); *more = a full page. */
static int scan_page(struct stats *s, struct scan *x, int64_t from, int64_t to, char **last,
                     bool *more, char *err, size_t errlen)
{
    struct db_stmt *q = db_stmt(s->db, *last ? &q_scanners : &q_first_scanners);
    int rc, n = 0;
    if (*last) {
        db_bind_text(q, 1, *last);
        db_bind_int64(q, 2, SCAN_PAGE);
    } else {
        db_bind_int64(q, 1, SCAN_PAGE);
    }
    while ((rc = db_step(q)) == DB_ROW) {
        const char *days = db_col_text(q, 1);
        x->row++;
        n++;
        if (days && scandays_each_in(days, strlen(days), from, to, scan_day, x) < 0) {
            snprintf(err, errlen, "stats_scanners: the row of openid %s is malformed",
                     db_col_text(q, 0));
            db_reset(q);
            return -1;
        }
        if (n == SCAN_PAGE) {
            free(*last);
            if (!(*last = db_col_strdup(q, 0))) {
                rc = DB_ENOMEM;
                break;
            }
        }
    }
    *more = n == SCAN_PAGE;
    return stats_read_end(s, q, rc, err, errlen);
}

/* Count x over every scanner of from..to. */
static int scan(struct stats *s, struct scan *x, int64_t from, int64_t to, char *err, size_t errlen)
{
    char *last = NULL;
    bool more = true;
    int rc = 0;
    if (!(x->stamp = calloc(x->g->n + 1, sizeof(*x->stamp))) ||
        (x->ndays && !(x->day_stamp = calloc(x->ndays, sizeof(*x->day_stamp))))) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    while (rc == 0 && more && from <= to)
        rc = scan_page(s, x, from, to, &last, &more, err, errlen);
    free(last);
    free(x->stamp);
    free(x->day_stamp);
    x->stamp = x->day_stamp = NULL;
    return rc;
}

/* ---- the report by campaign ---- */

/* Fold the scene rows of sc into one row per group of r. */
static int fold(const struct groups *g, struct stats_report *sc, struct stats_report *r)
{
    size_t cap = 0;
    for (size_t i = 0; i <= g->n; i++) {
        struct stats_row *row = stats_row_new(r, &cap);
        if (!row || (i < g->n && !(row->campaign = strdup(g->names[i]))))
            return -1;
    }
    for (size_t i = 0; i < sc->nrows; i++) {
        const struct stats_row *in = &sc->rows[i];
        size_t grp = in->scene ? group_of_scene(g, in->scene, strlen(in->scene)) : g->n;
        struct stats_row *acc = &r->rows[grp];
        stats_counts_add(&acc->c, &in->c);
        acc->channels += in->scene != NULL;
    }
    return 0;
}

int stats_by_campaign(struct stats *s, struct stats_report *r, char *err, size_t errlen)
{
    struct stats_report sc = {
        .by = STATS_BY_CHANNEL, .from = r->from, .to = r->to, .retention_days = r->retention_days};
    struct groups g;
    struct scan x = {.only = SIZE_MAX};
    int64_t all_unique = 0;
    int rc = -1;
    if (groups_load(s, &g, err, errlen) < 0 ||
        stats_query_scenes(s, &sc, &all_unique, err, errlen) < 0)
        goto done;
    if (fold(&g, &sc, r) < 0 || !(x.unique = calloc(g.n + 1, sizeof(*x.unique)))) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    x.g = &g;
    if (g.n > 0 && scan(s, &x, r->from, r->to, err, errlen) < 0)
        goto done;
    if (g.n == 0) /* every scanner is in the none row */
        x.unique[0] = all_unique;
    for (size_t i = 0; i <= g.n; i++) {
        r->rows[i].c.unique_scanners = x.unique[i];
        stats_counts_add(&r->totals, &r->rows[i].c);
    }
    r->totals.unique_scanners = all_unique;
    if (g.n)
        qsort(r->rows, g.n, sizeof(*r->rows), stats_cmp_rank); /* the none row stays last */
    rc = 0;
done:
    for (size_t i = 0; i < sc.nrows; i++)
        stats_row_clear(&sc.rows[i]);
    free(sc.rows);
    free(x.unique);
    groups_free(&g);
    return rc;
}

/* ---- a campaign as a filter ---- */

int stats_campaign_resolve(struct stats *s, struct stats_report *r, char *err, size_t errlen)
{
    struct campaign c;
    int rc = campaign_get(s->st, r->campaign, &c);
    if (rc < 0)
        return snprintf(err, errlen, "statistics query: %s", db_errmsg(s->db)), -1;
    if (rc == 1)
        return snprintf(err, errlen, "campaign %s does not exist", r->campaign), STATS_ENOCAMPAIGN;
    r->campaign_id = c.id;
    free(r->campaign); /* the stored spelling (tidied) */
    r->campaign = c.name;
    c.name = NULL;
    campaign_clear(&c);
    return 0;
}

/* The campaign's group, scanned alone: its unique over the range, and per
 * day when ndays. */
static int scan_campaign(struct stats *s, struct stats_report *r, struct groups *g, struct scan *x,
                         char *err, size_t errlen)
{
    if (groups_load(s, g, err, errlen) < 0)
        return -1;
    x->g = g;
    x->only = group_of_name(g, r->campaign);
    if (!(x->unique = calloc(g->n + 1, sizeof(*x->unique))))
        return snprintf(err, errlen, "out of memory"), -1;
    return scan(s, x, r->from, r->to, err, errlen);
}

int stats_campaign_rows(struct stats *s, struct stats_report *r, int64_t *unique, char *err,
                        size_t errlen)
{
    struct groups g;
    struct scan x = {0};
    int rc = scan_campaign(s, r, &g, &x, err, errlen);
    size_t out = 0;
    for (size_t i = 0; rc == 0 && i < r->nrows; i++) {
        struct stats_row *row = &r->rows[i];
        if (row->scene && group_of_scene(&g, row->scene, strlen(row->scene)) == x.only)
            r->rows[out++] = *row;
        else
            stats_row_clear(row);
    }
    if (rc == 0) {
        r->nrows = out;
        *unique = x.unique[x.only];
    }
    free(x.unique);
    groups_free(&g);
    return rc;
}

int stats_campaign_days(struct stats *s, struct stats_report *r, char *err, size_t errlen)
{
    struct groups g;
    struct scan x = {.ndays = r->nrows, .day0 = r->nrows ? r->rows[0].day : 0};
    int rc = -1;
    if (x.ndays && !(x.per_day = calloc(x.ndays, sizeof(*x.per_day)))) {
        memset(&g, 0, sizeof(g));
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (scan_campaign(s, r, &g, &x, err, errlen) < 0)
        goto done;
    for (size_t i = 0; i < r->nrows; i++) {
        r->rows[i].c.unique_scanners = x.per_day[i];
        stats_counts_add(&r->totals, &r->rows[i].c);
    }
    r->totals.unique_scanners = x.unique[x.only];
    rc = 0;
done:
    free(x.per_day);
    free(x.unique);
    groups_free(&g);
    return rc;
}
