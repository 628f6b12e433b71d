/* Ranges, the three reports (by channel, by promoter, by day) read from
 * the rollups in one read transaction, and the promoters' suspicion
 * flags. Every query is plain SQL both SQLite and PostgreSQL accept. */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats_internal.h"

#define DEFAULT_DAYS 30

/* ==== ranges ==== */

static const char *const by_names[] = {
    [STATS_BY_CHANNEL] = "channel",
    [STATS_BY_PROMOTER] = "promoter",
    [STATS_BY_DAY] = "day",
    [STATS_BY_CAMPAIGN] = "campaign",
};

int stats_parse_by(const char *s, enum stats_by *out)
{
    for (size_t i = 0; i < WXS_ARRAY_LEN(by_names); i++) {
        if (strcmp(s, by_names[i]) == 0) {
            *out = (enum stats_by)i;
            return 0;
        }
    }
    return -1;
}

const char *stats_by_name(enum stats_by by)
{
    return (unsigned)by < WXS_ARRAY_LEN(by_names) ? by_names[by] : "?";
}

/* The first and last day of stats_daily: every rollup row's day has a
 * stats_daily row (a scan, a subscribe, an unsubscribe or a retained fan
 * of that day wrote one, and the hook never deletes one), so no count can
 * come from outside them. Two subqueries: each is one index seek. */
static const struct db_query q_days = {
    "stats.days", "SELECT (SELECT min(day) FROM stats_daily), (SELECT max(day) FROM stats_daily)"};

/* The days that can hold data: the first day of stats_daily .. the later
 * of its last day and today (today: the retention figures reach it);
 * today alone when there is none. On error err says why. */
static int data_days(struct stats *s, int64_t *lo, int64_t *hi, char *err, size_t errlen)
{
    struct db_stmt *q = db_stmt(s->db, &q_days);
    int64_t today = stats_today(s);
    int rc = db_step(q);
    *lo = *hi = today;
    if (rc == DB_ROW && !db_col_null(q, 0)) {
        int64_t first = db_col_int64(q, 0), last = db_col_int64(q, 1);
        *lo = first < today ? first : today;
        *hi = last > today ? last : today;
    }
    if (rc != DB_ROW)
        snprintf(err, errlen, "statistics query: %s", db_errmsg(s->db));
    db_reset(q);
    return rc == DB_ROW ? 0 : -1;
}

/* since..until narrowed to the days that can hold data (from > to: none). */
static int narrow(struct stats *s, int64_t since, int64_t until, int64_t *from, int64_t *to,
                  char *err, size_t errlen)
{
    int64_t lo, hi;
    if (data_days(s, &lo, &hi, err, errlen) < 0)
        return -1;
    *from = since > lo ? since : lo;
    *to = until < hi ? until : hi;
    return 0;
}

static int parse_day(const char *what, const char *v, int64_t *day, char *err, size_t errlen)
{
    if (tz_parse_date(v, day) == 0)
        return 0;
    snprintf(err, errlen, "%s: '%s' is not a date as YYYY-MM-DD (a real day, 1970 or later)", what,
             v);
    return -1;
}

/* A report by day lists every day of a range up to STATS_MAX_RANGE_DAYS
 * long, and of a longer one the days that can hold data, if they are not
 * more than that. */
static int day_rows_fit(struct stats *s, int64_t a, int64_t b, char *err, size_t errlen)
{
    int64_t from, to;
    char as[16], bs[16], fs[16], ts[16];
    if (b - a + 1 <= STATS_MAX_RANGE_DAYS)
        return 0;
    if (narrow(s, a, b, &from, &to, err, errlen) < 0)
        return -1;
    if (to - from + 1 <= STATS_MAX_RANGE_DAYS)
        return 0;
    tz_format_date(a, as, sizeof(as));
    tz_format_date(b, bs, sizeof(bs));
    tz_format_date(from, fs, sizeof(fs));
    tz_format_date(to, ts, sizeof(ts));
    snprintf(err, errlen,
             "by day: the days of %s..%s that can hold data, %s..%s, are %lld; at most %d are "
             "allowed",
             as, bs, fs, ts, (long long)(to - from + 1), STATS_MAX_RANGE_DAYS);
    return -1;
}

int stats_range(struct stats *s, enum stats_by by, const char *since, const char *until,
                const char *what_since, const char *what_until, int64_t *d0, int64_t *d1, char *err,
                size_t errlen)
{
    int64_t a, b = stats_today(s);
    if (until && parse_day(what_until, until, &b, err, errlen) < 0)
        return -1;
    a = b - (DEFAULT_DAYS - 1);
    if (since && parse_day(what_since, since, &a, err, errlen) < 0)
        return -1;
    if (a > b) {
        char as[16], bs[16];
        tz_format_date(a, as, sizeof(as));
        tz_format_date(b, bs, sizeof(bs));
        snprintf(err, errlen, "%s %s is after %s %s", what_since, as, what_until, bs);
        return -1;
    }
    if (by == STATS_BY_DAY && day_rows_fit(s, a, b, err, errlen) < 0)
        return -1;
    *d0 = a;
    *d1 = b;
    return 0;
}

/* ==== queries ==== */

/* Per scene over ?1..?2: the daily counters, distinct scanners (the
 * scene's first-ever scanners of the range in stats_daily, plus its
 * stats_scan_first rows with prev_day < since), and for retention the
 * subscribes old enough (day <= ?3) and those of them lost within
 * retention_days (?4). '' is the organic row in stats_daily and the
 * any-scene scanners in stats_scan_first (which keeps all of that scope's
 * rows). */
static const struct db_query q_scenes = {
    "stats.scenes",
    "WITH d AS (SELECT scene, sum(scans) AS sc, sum(new_fans) AS nf, sum(returning_fans) AS rf, "
    "sum(unsubscribes) AS un, sum(retained) AS rt, sum(quick_unsubs) AS q, "
    "sum(first_scanners) AS fs, "
    "sum(CASE WHEN day <= ?3 THEN new_fans + returning_fans ELSE 0 END) AS el "
    "FROM stats_daily WHERE day BETWEEN ?1 AND ?2 GROUP BY scene), "
    "u AS (SELECT scene, sum(n) AS n FROM stats_scan_first "
    "WHERE day BETWEEN ?1 AND ?2 AND prev_day < ?1 GROUP BY scene), "
    "l AS (SELECT scene, sum(n) AS n FROM stats_churn WHERE unsub_day BETWEEN ?1 AND ?3 + ?4 "
    "AND sub_day BETWEEN ?1 AND ?3 AND unsub_day - sub_day < ?4 GROUP BY scene), "
    "k AS (SELECT scene FROM d UNION SELECT scene FROM u UNION "
    "SELECT scene FROM channels WHERE archived_at IS NULL UNION SELECT '') "
    "SELECT k.scene, c.name, c.promoter, coalesce(d.sc, 0), coalesce(u.n, 0) + coalesce(d.fs, 0), "
    "coalesce(d.nf, 0), coalesce(d.rf, 0), coalesce(d.un, 0), coalesce(d.rt, 0), "
    "coalesce(d.q, 0), coalesce(d.el, 0), coalesce(l.n, 0) FROM k "
    "LEFT JOIN d ON d.scene = k.scene LEFT JOIN u ON u.scene = k.scene "
    "LEFT JOIN l ON l.scene = k.scene LEFT JOIN channels c ON c.scene = k.scene"};

static const struct db_query q_days_counts = {
    "stats.day_counts",
    "SELECT day, sum(scans), sum(new_fans), sum(returning_fans), sum(unsubscribes), "
    "sum(retained) FROM stats_daily WHERE day BETWEEN ?1 AND ?2 GROUP BY day"};

static const struct db_query q_days_counts_campaign = {
    "stats.day_counts_campaign",
    "SELECT d.day, sum(d.scans), sum(d.new_fans), sum(d.returning_fans), sum(d.unsubscribes), "
    "sum(d.retained) FROM stats_daily d JOIN channels c ON c.scene = d.scene "
    "WHERE d.day BETWEEN ?1 AND ?2 AND c.campaign_id = ?3 GROUP BY d.day"};

static const struct db_query q_days_unique = {
    "stats.day_unique", "SELECT day, sum(n) FROM stats_scan_first WHERE day BETWEEN ?1 AND ?2 "
                        "AND scene = '' GROUP BY day"};

static const struct db_query q_total_unique = {
    "stats.total_unique", "SELECT coalesce(sum(n), 0) FROM stats_scan_first "
                          "WHERE day BETWEEN ?1 AND ?2 AND prev_day < ?1 AND scene = ''"};

/* The same by day for a scope: the scene ?3, or the channels of promoter
 * ?4 (a channel's distinct scanners of a day: its first_scanners plus its
 * stats_scan_first rows of the day; summed over a promoter's channels). */
#define SCOPE_SCENES "(scene = ?3 OR scene IN (SELECT scene FROM channels WHERE promoter = ?4))"
static const struct db_query q_scope_counts = {
    "stats.scope_day_counts",
    "SELECT day, sum(scans), sum(new_fans), sum(returning_fans), sum(unsubscribes), "
    "sum(retained), sum(first_scanners) FROM stats_daily WHERE day BETWEEN ?1 AND ?2 "
    "AND " SCOPE_SCENES " GROUP BY day"};
static const struct db_query q_scope_unique = {
    "stats.scope_day_unique", "SELECT day, sum(n) FROM stats_scan_first WHERE day BETWEEN ?1 AND "
                              "?2 AND " SCOPE_SCENES " GROUP BY day"};
static const struct db_query q_scope_total = {
    "stats.scope_total_unique",
    "SELECT (SELECT coalesce(sum(first_scanners), 0) FROM stats_daily WHERE day BETWEEN ?1 AND ?2 "
    "AND " SCOPE_SCENES ") + (SELECT coalesce(sum(n), 0) FROM stats_scan_first WHERE day "
    "BETWEEN ?1 AND ?2 AND prev_day < ?1 AND " SCOPE_SCENES ")"};

void stats_row_clear(struct stats_row *r)
{
    free(r->scene);
    free(r->name);
    free(r->promoter);
    free(r->campaign);
}

void stats_report_free(struct stats_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nrows; i++)
        stats_row_clear(&r->rows[i]);
    free(r->rows);
    free(r->campaign);
    free(r);
}

struct stats_row *stats_row_new(struct stats_report *r, size_t *cap)
{
    if (r->nrows == *cap) {
        size_t n = *cap ? *cap * 2 : 64;
        struct stats_row *rows = realloc(r->rows, n * sizeof(*rows));
        if (!rows)
            return NULL;
        r->rows = rows;
        *cap = n;
    }
    struct stats_row *row = &r->rows[r->nrows++];
    memset(row, 0, sizeof(*row));
    return row;
}

static int dup_col(struct db_stmt *q, int i, char **out)
{
    const char *t = db_col_text(q, i);
    *out = NULL;
    if (!t)
        return 0;
    return (*out = strdup(t)) ? 0 : -1;
}

void stats_counts_add(struct stats_counts *to, const struct stats_counts *c)
{
    to->scans += c->scans;
    to->unique_scanners += c->unique_scanners;
    to->new_fans += c->new_fans;
    to->returning_fans += c->returning_fans;
    to->unsubscribes += c->unsubscribes;
    to->net_fans += c->net_fans;
    to->retained_fans += c->retained_fans;
}

/* One row of q_scenes; the '' row is organic and carries the any-scene
 * distinct scanners in *all_unique instead. */
static int scene_row(struct db_stmt *q, struct stats_row *row, int64_t *all_unique)
{
    const char *scene = db_col_text(q, 0);
    bool organic = !scene || !*scene;
    if ((!organic && dup_col(q, 0, &row->scene) < 0) || dup_col(q, 1, &row->name) < 0 ||
        dup_col(q, 2, &row->promoter) < 0)
        return -1;
    struct stats_counts *c = &row->c;
    c->scans = db_col_int64(q, 3);
    c->unique_scanners = organic ? 0 : db_col_int64(q, 4);
    if (organic)
        *all_unique = db_col_int64(q, 4);
    c->new_fans = db_col_int64(q, 5);
    c->returning_fans = db_col_int64(q, 6);
    c->unsubscribes = db_col_int64(q, 7);
    c->net_fans = c->new_fans + c->returning_fans - c->unsubscribes;
    c->retained_fans = db_col_int64(q, 8);
    row->quick_unsubs = db_col_int64(q, 9);
    row->retention_eligible = db_col_int64(q, 10);
    row->retention_retained = row->retention_eligible - db_col_int64(q, 11);
    return 0;
}

/* The end of reading q: DB_DONE, or the failure in err (the statement's
 * own message, taken before anything else runs on the connection). */
int stats_read_end(struct stats *s, struct db_stmt *q, int rc, char *err, size_t errlen)
{
    if (rc != DB_DONE)
        snprintf(err, errlen, "statistics query: %s",
                 rc == DB_ENOMEM ? "out of memory" : db_errmsg(s->db));
    db_reset(q);
    return rc == DB_DONE ? 0 : -1;
}

/* Every scene row of the range (channel view; the promoter view folds them). */
int stats_query_scenes(struct stats *s, struct stats_report *r, int64_t *all_unique, char *err,
                       size_t errlen)
{
    struct db_stmt *q = db_stmt(s->db, &q_scenes);
    size_t cap = 0;
    int rc;
    int64_t matured = stats_today(s) - r->retention_days;
    db_bind_int64(q, 1, r->from);
    db_bind_int64(q, 2, r->to);
    db_bind_int64(q, 3, matured < r->to ? matured : r->to);
    db_bind_int64(q, 4, r->retention_days);
    while ((rc = db_step(q)) == DB_ROW) {
        struct stats_row *row = stats_row_new(r, &cap);
        if (!row || scene_row(q, row, all_unique) < 0) {
            rc = DB_ENOMEM;
            break;
        }
    }
    return stats_read_end(s, q, rc, err, errlen);
}

/* Ranking: most net fans first, then new fans, scans, scene. */
int stats_cmp_rank(const void *a, const void *b)
{
    const struct stats_row *x = a, *y = b;
    if (x->c.net_fans != y->c.net_fans)
        return x->c.net_fans > y->c.net_fans ? -1 : 1;
    if (x->c.new_fans != y->c.new_fans)
        return x->c.new_fans > y->c.new_fans ? -1 : 1;
    if (x->c.scans != y->c.scans)
        return x->c.scans > y->c.scans ? -1 : 1;
    const char *xs = x->scene ? x->scene : x->promoter ? x->promoter : x->campaign;
    const char *ys = y->scene ? y->scene : y->promoter ? y->promoter : y->campaign;
    if (!xs || !ys)
        return xs ? -1 : ys ? 1 : 0;
    return strcmp(xs, ys);
}

static int by_channel(struct stats *s, struct stats_report *r, char *err, size_t errlen)
{
    int64_t all_unique = 0;
    if (stats_query_scenes(s, r, &all_unique, err, errlen) < 0 ||
        (r->campaign && stats_campaign_rows(s, r, &all_unique, err, errlen) < 0))
        return -1;
    for (size_t i = 0; i < r->nrows; i++)
        stats_counts_add(&r->totals, &r->rows[i].c);
    r->totals.unique_scanners = all_unique;
    qsort(r->rows, r->nrows, sizeof(*r->rows), stats_cmp_rank);
    return 0;
}

/* ---- promoters ---- */

static int64_t flag_quick(const struct stats_row *r)
{
    return r->quick_unsubs;
}

static int64_t flag_returning(const struct stats_row *r)
{
    return r->c.returning_fans;
}

/* Patterns that deserve a look before paying a promoter: a share of the
 * fans brought (new + returning subscribes) of at least min_pct, and at
 * least min_count of them so one odd fan does not flag anyone. */
static const struct flag_rule {
    const char *name;
    int64_t (*count)(const struct stats_row *r);
    int64_t min_count, min_pct;
    const char *what;
} flag_rules[STATS_FLAG_COUNT] = {
    {"quick_unsubscribes", flag_quick, 5, 20, "were undone within 10 minutes"},
    {"resubscribe_cycling", flag_returning, 5, 50, "came from fans who had subscribed before"},
};

const char *stats_flag_name(unsigned i)
{
    return i < STATS_FLAG_COUNT ? flag_rules[i].name : "?";
}

static unsigned flags_of(const struct stats_row *r)
{
    unsigned flags = 0;
    for (unsigned i = 0; i < STATS_FLAG_COUNT; i++) {
        int64_t n = flag_rules[i].count(r);
        if (n >= flag_rules[i].min_count &&
            n * 100 >= flag_rules[i].min_pct * stats_fans_brought(r))
            flags |= 1u << i;
    }
    return flags;
}

int stats_flag_reasons(const struct stats_report *r, const struct stats_row *row, struct buf *out)
{
    (void)r;
    for (unsigned i = 0; i < STATS_FLAG_COUNT; i++) {
        if (!(row->flags & (1u << i)))
            continue;
        if (buf_printf(out, "%s%lld of %lld subscribes %s", out->len ? "; " : "",
                       (long long)flag_rules[i].count(row), (long long)stats_fans_brought(row),
                       flag_rules[i].what) < 0)
            return -1;
    }
    return 0;
}

static int cmp_promoter(const void *a, const void *b)
{
    const struct stats_row *x = a, *y = b;
    if (!x->promoter || !y->promoter)
        return x->promoter ? -1 : y->promoter ? 1 : 0;
    return strcmp(x->promoter, y->promoter);
}

/* Fold scene rows (sorted by promoter) into one row per promoter, in
 * place; scenes without a promoter (organic, unknown, none set) drop out. */
static void fold_promoters(struct stats_report *r)
{
    size_t out = 0;
    qsort(r->rows, r->nrows, sizeof(*r->rows), cmp_promoter);
    for (size_t i = 0; i < r->nrows; i++) {
        struct stats_row *in = &r->rows[i];
        struct stats_row *acc = out ? &r->rows[out - 1] : NULL;
        if (!in->promoter || !in->scene) {
            stats_row_clear(in);
            continue;
        }
        if (acc && strcmp(acc->promoter, in->promoter) == 0) {
            stats_counts_add(&acc->c, &in->c);
            acc->channels++;
            acc->quick_unsubs += in->quick_unsubs;
            acc->retention_eligible += in->retention_eligible;
            acc->retention_retained += in->retention_retained;
            stats_row_clear(in);
            continue;
        }
        free(in->scene);
        free(in->name);
        in->scene = in->name = NULL;
        in->channels = 1;
        in->c.unique_scanners = 0; /* not additive across channels: not reported */
        r->rows[out++] = *in;
    }
    r->nrows = out;
}

static int by_promoter(struct stats *s, struct stats_report *r, char *err, size_t errlen)
{
    int64_t all_unique = 0;
    if (stats_query_scenes(s, r, &all_unique, err, errlen) < 0)
        return -1;
    fold_promoters(r);
    for (size_t i = 0; i < r->nrows; i++) {
        struct stats_row *row = &r->rows[i];
        row->flags = flags_of(row);
        stats_counts_add(&r->totals, &row->c);
        r->quick_unsubs += row->quick_unsubs;
        r->retention_eligible += row->retention_eligible;
        r->retention_retained += row->retention_retained;
    }
    qsort(r->rows, r->nrows, sizeof(*r->rows), stats_cmp_rank);
    return 0;
}

/* ---- days ---- */

/* The row of day (rows are consecutive days from rows[0].day). */
static struct stats_row *day_row(struct stats_report *r, int64_t day)
{
    return r->nrows && day >= r->rows[0].day && (uint64_t)(day - r->rows[0].day) < r->nrows
               ? &r->rows[day - r->rows[0].day]
               : NULL;
}

/* A statement over days from..to, scoped when the report is. */
static struct db_stmt *day_stmt(struct stats *s, const struct stats_report *r,
                                const struct db_query *all, const struct db_query *scoped)
{
    bool scope = r->scope_scene || r->scope_promoter;
    struct db_stmt *q = db_stmt(s->db, scope ? scoped : all);
    db_bind_int64(q, 1, r->from);
    db_bind_int64(q, 2, r->to);
    if (scope) {
        db_bind_text(q, 3, r->scope_scene);
        db_bind_text(q, 4, r->scope_promoter);
    }
    return q;
}

/* The daily counters: of every scene, of a scope, or of a campaign's
 * channels. */
static struct db_stmt *day_counts_stmt(struct stats *s, const struct stats_report *r)
{
    if (!r->campaign)
        return day_stmt(s, r, &q_days_counts, &q_scope_counts);
    struct db_stmt *q = db_stmt(s->db, &q_days_counts_campaign);
    db_bind_int64(q, 1, r->from);
    db_bind_int64(q, 2, r->to);
    db_bind_int64(q, 3, r->campaign_id);
    return q;
}

static int day_counts(struct stats *s, struct stats_report *r, char *err, size_t errlen)
{
    struct db_stmt *q = day_counts_stmt(s, r);
    int rc;
    while ((rc = db_step(q)) == DB_ROW) {
        struct stats_row *row = day_row(r, db_col_int64(q, 0));
        if (!row)
            continue;
        struct stats_counts *c = &row->c;
        c->scans = db_col_int64(q, 1);
        c->new_fans = db_col_int64(q, 2);
        c->returning_fans = db_col_int64(q, 3);
        c->unsubscribes = db_col_int64(q, 4);
        c->net_fans = c->new_fans + c->returning_fans - c->unsubscribes;
        c->retained_fans = db_col_int64(q, 5);
        if (r->scope_scene || r->scope_promoter)
            c->unique_scanners = db_col_int64(q, 6);
    }
    return stats_read_end(s, q, rc, err, errlen);
}

static int day_uniques(struct stats *s, struct stats_report *r, char *err, size_t errlen)
{
    struct db_stmt *q = day_stmt(s, r, &q_days_unique, &q_scope_unique);
    int rc;
    while ((rc = db_step(q)) == DB_ROW) {
        struct stats_row *row = day_row(r, db_col_int64(q, 0));
        if (row)
            row->c.unique_scanners += db_col_int64(q, 1);
    }
    return stats_read_end(s, q, rc, err, errlen);
}

static int total_unique(struct stats *s, struct stats_report *r, char *err, size_t errlen)
{
    struct db_stmt *q = day_stmt(s, r, &q_total_unique, &q_scope_total);
    int rc = db_step(q);
    if (rc == DB_ROW) {
        r->totals.unique_scanners = db_col_int64(q, 0);
        rc = DB_DONE;
    }
    return stats_read_end(s, q, rc, err, errlen);
}

/* One row per day: of since..until, or of from..to (the days that can
 * hold data) when since..until is longer than STATS_MAX_RANGE_DAYS. */
static int by_day(struct stats *s, struct stats_report *r, char *err, size_t errlen)
{
    bool whole = r->until - r->since + 1 <= STATS_MAX_RANGE_DAYS;
    int64_t first = whole ? r->since : r->from, last = whole ? r->until : r->to;
    size_t n = last >= first ? (size_t)(last - first + 1) : 0;
    if (n > STATS_MAX_RANGE_DAYS)
        return snprintf(err, errlen, "by day: more than %d days hold data in the range",
                        STATS_MAX_RANGE_DAYS),
               -1;
    if (n && !(r->rows = calloc(n, sizeof(*r->rows))))
        return snprintf(err, errlen, "out of memory"), -1;
    r->nrows = n;
    for (size_t i = 0; i < n; i++)
        r->rows[i].day = first + (int64_t)i;
    if (day_counts(s, r, err, errlen) < 0)
        return -1;
    if (r->campaign) /* per day and over the range, across the campaign's channels */
        return stats_campaign_days(s, r, err, errlen);
    if (day_uniques(s, r, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        stats_counts_add(&r->totals, &r->rows[i].c);
    return total_unique(s, r, err, errlen);
}

static int (*const by_query[])(struct stats *s, struct stats_report *r, char *err,
                               size_t errlen) = {
    [STATS_BY_CHANNEL] = by_channel,
    [STATS_BY_PROMOTER] = by_promoter,
    [STATS_BY_DAY] = by_day,
    [STATS_BY_CAMPAIGN] = stats_by_campaign,
};

/* The report inside the open read transaction: since..until narrowed to
 * the days that can hold data, which gives the same numbers (nothing is
 * counted outside them) for any range, however long. */
static int query(struct stats *s, struct stats_report *r, char *err, size_t errlen)
{
    if (narrow(s, r->since, r->until, &r->from, &r->to, err, errlen) < 0)
        return -1;
    return by_query[r->by](s, r, err, errlen);
}

int stats_query(struct stats *s, enum stats_by by, int64_t since, int64_t until,
                struct stats_report **out, char *err, size_t errlen)
{
    return stats_query_scoped(s, by, NULL, NULL, since, until, out, err, errlen);
}

/* The report r (by, range, scope or campaign set) in one read transaction:
 * every query of the report sees the same commit. */
static int run(struct stats *s, struct stats_report *r, char *err, size_t errlen)
{
    if (db_begin(s->db, DB_TX_READ) < 0) {
        snprintf(err, errlen, "statistics query: %s", db_errmsg(s->db));
        return -1;
    }
    int rc = r->campaign ? stats_campaign_resolve(s, r, err, errlen) : 0;
    if (rc == 0)
        rc = query(s, r, err, errlen);
    if (rc == 0 && db_commit(s->db) < 0) {
        snprintf(err, errlen, "statistics query: %s", db_errmsg(s->db));
        rc = -1;
    }
    if (rc < 0)
        db_rollback(s->db);
    return rc;
}

static struct stats_report *report_new(struct stats *s, enum stats_by by, int64_t since,
                                       int64_t until)
{
    struct stats_report *r = calloc(1, sizeof(*r));
    if (r) {
        r->by = by;
        r->since = since;
        r->until = until;
        r->retention_days = s->retention_days;
    }
    return r;
}

int stats_query_scoped(struct stats *s, enum stats_by by, const char *scene, const char *promoter,
                       int64_t since, int64_t until, struct stats_report **out, char *err,
                       size_t errlen)
{
    if ((scene || promoter) && by != STATS_BY_DAY)
        return snprintf(err, errlen, "a scene or promoter scope is for a report by day"), -1;
    if ((unsigned)by >= WXS_ARRAY_LEN(by_query) || since > until)
        return snprintf(err, errlen, "bad statistics range"), -1;
    struct stats_report *r = report_new(s, by, since, until);
    if (!r)
        return snprintf(err, errlen, "out of memory"), -1;
    r->scope_scene = scene;
    r->scope_promoter = promoter;
    int rc = run(s, r, err, errlen);
    r->scope_scene = r->scope_promoter = NULL;
    if (rc < 0) {
        stats_report_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

int stats_query_in(struct stats *s, enum stats_by by, int64_t since, int64_t until,
                   const char *campaign, struct stats_report **out, char *err, size_t errlen)
{
    if (!campaign)
        return stats_query(s, by, since, until, out, err, errlen);
    if ((unsigned)by >= WXS_ARRAY_LEN(by_query) || since > until)
        return snprintf(err, errlen, "bad statistics range"), -1;
    if (by != STATS_BY_DAY && by != STATS_BY_CHANNEL)
        return snprintf(err, errlen, "a campaign filters the report by day or by channel"), -1;
    struct stats_report *r = report_new(s, by, since, until);
    if (!r || !(r->campaign = strdup(campaign))) {
        free(r);
        return snprintf(err, errlen, "out of memory"), -1;
    }
    int rc = run(s, r, err, errlen);
    if (rc < 0) {
        stats_report_free(r);
        return rc == STATS_ENOCAMPAIGN ? rc : -1;
    }
    *out = r;
    return 0;
}
