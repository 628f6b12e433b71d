/* A statistics report as JSON, CSV and a text table, side by side so that
 * a field added to a report is added to every form at once. */
#include "stats_output.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "table.h"
#include "tz.h"

/* ==== the columns ==== */

static const struct count_field {
    const char *name;
    size_t off;
} count_fields[] = {
    {"scans", offsetof(struct stats_counts, scans)},
    {"unique_scanners", offsetof(struct stats_counts, unique_scanners)},
    {"new_fans", offsetof(struct stats_counts, new_fans)},
    {"returning_fans", offsetof(struct stats_counts, returning_fans)},
    {"unsubscribes", offsetof(struct stats_counts, unsubscribes)},
    {"net_fans", offsetof(struct stats_counts, net_fans)},
    {"retained_fans", offsetof(struct stats_counts, retained_fans)},
};

static int64_t count_at(const struct stats_counts *c, size_t i)
{
    return *(const int64_t *)((const char *)c + count_fields[i].off);
}

/* Promoters have no unique_scanners (a fan scanning two of a promoter's
 * codes would count twice in a sum; the exact figure is per channel). */
static bool field_shown(enum stats_by by, size_t i)
{
    return !(by == STATS_BY_PROMOTER &&
             count_fields[i].off == offsetof(struct stats_counts, unique_scanners));
}

/* ==== JSON ==== */

static int counts_json(json_t *o, enum stats_by by, const struct stats_counts *c)
{
    for (size_t i = 0; i < WXS_ARRAY_LEN(count_fields); i++)
        if (field_shown(by, i) &&
            json_object_set_new(o, count_fields[i].name, json_integer(count_at(c, i))) < 0)
            return -1;
    return 0;
}

static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *retention_json(int64_t days, int64_t eligible, int64_t retained)
{
    return json_pack("{s:I, s:I, s:I, s:o}", "days", (json_int_t)days, "eligible",
                     (json_int_t)eligible, "retained", (json_int_t)retained, "rate",
                     eligible ? json_real((double)retained / (double)eligible) : json_null());
}

static json_t *flags_json(const struct stats_row *row)
{
    json_t *a = json_array();
    for (unsigned i = 0; a && i < STATS_FLAG_COUNT; i++)
        if ((row->flags & (1u << i)) && json_array_append_new(a, json_string(stats_flag_name(i))))
            return json_decref(a), NULL;
    return a;
}

static json_t *row_json(const struct stats_report *r, const struct stats_row *row)
{
    char date[16];
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = 0;
    if (r->by == STATS_BY_CHANNEL) {
        bad |= json_object_set_new(o, "scene", jstr(row->scene));
        bad |= json_object_set_new(o, "name", jstr(row->name));
        bad |= json_object_set_new(o, "promoter", jstr(row->promoter));
    } else if (r->by == STATS_BY_PROMOTER) {
        bad |= json_object_set_new(o, "promoter", jstr(row->promoter));
        bad |= json_object_set_new(o, "channels", json_integer(row->channels));
    } else if (r->by == STATS_BY_CAMPAIGN) {
        bad |= json_object_set_new(o, "campaign", jstr(row->campaign));
        bad |= json_object_set_new(o, "channels", json_integer(row->channels));
    } else {
        tz_format_date(row->day, date, sizeof(date));
        bad |= json_object_set_new(o, "date", json_string(date));
    }
    bad |= counts_json(o, r->by, &row->c);
    if (r->by == STATS_BY_PROMOTER) {
        struct buf why = {0};
        bad |= json_object_set_new(o, "fans_brought", json_integer(stats_fans_brought(row)));
        bad |= json_object_set_new(o, "quick_unsubscribes", json_integer(row->quick_unsubs));
        bad |= json_object_set_new(
            o, "retention",
            retention_json(r->retention_days, row->retention_eligible, row->retention_retained));
        bad |= json_object_set_new(o, "suspicious", json_boolean(row->flags != 0));
        bad |= json_object_set_new(o, "flags", flags_json(row));
        bad |= stats_flag_reasons(r, row, &why);
        bad |= json_object_set_new(o, "flag_reasons", json_string(why.len ? why.data : ""));
        buf_free(&why);
    }
    if (bad)
        return json_decref(o), NULL;
    return o;
}

static const char *const rows_key[] = {
    [STATS_BY_CHANNEL] = "channels",
    [STATS_BY_PROMOTER] = "promoters",
    [STATS_BY_DAY] = "days",
    [STATS_BY_CAMPAIGN] = "campaigns",
};

json_t *stats_report_json(const struct stats_report *r)
{
    char since[16], until[16];
    tz_format_date(r->since, since, sizeof(since));
    tz_format_date(r->until, until, sizeof(until));
    json_t *o = json_pack("{s:s, s:s}", "since", since, "until", until);
    json_t *rows = json_array(), *totals = json_object();
    int bad = !o || !rows || !totals;
    for (size_t i = 0; !bad && i < r->nrows; i++)
        bad = json_array_append_new(rows, row_json(r, &r->rows[i])) < 0;
    bad = bad || counts_json(totals, r->by, &r->totals) < 0;
    if (!bad && r->by == STATS_BY_PROMOTER)
        bad =
            json_object_set_new(o, "retention_days", json_integer(r->retention_days)) < 0 ||
            json_object_set_new(totals, "fans_brought",
                                json_integer(r->totals.new_fans + r->totals.returning_fans)) < 0 ||
            json_object_set_new(totals, "quick_unsubscribes", json_integer(r->quick_unsubs)) < 0 ||
            json_object_set_new(totals, "retention",
                                retention_json(r->retention_days, r->retention_eligible,
                                               r->retention_retained)) < 0;
    if (!bad && json_object_set(o, rows_key[r->by], rows) == 0 &&
        json_object_set(o, "totals", totals) == 0) {
        json_decref(rows);
        json_decref(totals);
        return o;
    }
    json_decref(rows);
    json_decref(totals);
    json_decref(o);
    return NULL;
}

/* ==== CSV ==== */

static int csv_str(struct buf *b, bool first, const char *s)
{
    return (!first && buf_puts(b, ",") < 0) || csv_field(b, s ? s : "") < 0 ? -1 : 0;
}

static int csv_int(struct buf *b, int64_t v)
{
    return buf_puts(b, ",") < 0 || csv_number(b, v) < 0 ? -1 : 0;
}

static int csv_header(const struct stats_report *r, struct buf *b)
{
    static const char *const lead[] = {
        [STATS_BY_CHANNEL] = "scene,name,promoter",
        [STATS_BY_PROMOTER] = "promoter,channels",
        [STATS_BY_DAY] = "date",
        [STATS_BY_CAMPAIGN] = "campaign,channels",
    };
    if (buf_puts(b, lead[r->by]) < 0)
        return -1;
    for (size_t i = 0; i < WXS_ARRAY_LEN(count_fields); i++)
        if (field_shown(r->by, i) && buf_printf(b, ",%s", count_fields[i].name) < 0)
            return -1;
    if (r->by == STATS_BY_PROMOTER &&
        buf_puts(b, ",fans_brought,quick_unsubscribes,retention_days,retention_eligible,"
                    "retention_retained,retention_rate,suspicious,flags") < 0)
        return -1;
    return buf_puts(b, "\r\n");
}

static int csv_promoter_tail(const struct stats_report *r, const struct stats_row *row,
                             struct buf *b)
{
    struct buf flags = {0};
    int bad = 0;
    for (unsigned i = 0; !bad && i < STATS_FLAG_COUNT; i++)
        if (row->flags & (1u << i))
            bad = buf_printf(&flags, "%s%s", flags.len ? " " : "", stats_flag_name(i)) < 0;
    bad = bad || csv_int(b, stats_fans_brought(row)) < 0 || csv_int(b, row->quick_unsubs) < 0 ||
          csv_int(b, r->retention_days) < 0 || csv_int(b, row->retention_eligible) < 0 ||
          csv_int(b, row->retention_retained) < 0;
    if (!bad && row->retention_eligible)
        bad = buf_printf(b, ",%.4f",
                         (double)row->retention_retained / (double)row->retention_eligible) < 0;
    else if (!bad)
        bad = buf_puts(b, ",") < 0;
    bad = bad || buf_puts(b, row->flags ? ",yes" : ",no") < 0 ||
          csv_str(b, false, flags.len ? flags.data : "") < 0;
    buf_free(&flags);
    return bad ? -1 : 0;
}

static int csv_row(const struct stats_report *r, const struct stats_row *row, struct buf *b)
{
    char date[16];
    int bad;
    if (r->by == STATS_BY_CHANNEL)
        bad = csv_str(b, true, row->scene) < 0 ||
              csv_str(b, false, row->scene ? row->name : "(organic)") < 0 ||
              csv_str(b, false, row->promoter) < 0;
    else if (r->by == STATS_BY_PROMOTER)
        bad = csv_str(b, true, row->promoter) < 0 || csv_int(b, row->channels) < 0;
    else if (r->by == STATS_BY_CAMPAIGN) /* an empty cell: in no campaign */
        bad = csv_str(b, true, row->campaign) < 0 || csv_int(b, row->channels) < 0;
    else
        bad = (tz_format_date(row->day, date, sizeof(date)), csv_str(b, true, date) < 0);
    for (size_t i = 0; !bad && i < WXS_ARRAY_LEN(count_fields); i++)
        bad = field_shown(r->by, i) && csv_int(b, count_at(&row->c, i)) < 0;
    if (!bad && r->by == STATS_BY_PROMOTER)
        bad = csv_promoter_tail(r, row, b) < 0;
    return bad || buf_puts(b, "\r\n") < 0 ? -1 : 0;
}

int stats_report_csv(const struct stats_report *r, bool bom, struct buf *out)
{
    if (bom && buf_puts(out, CSV_BOM) < 0)
        return -1;
    if (csv_header(r, out) < 0)
        return -1;
    for (size_t i = 0; i < r->nrows; i++)
        if (csv_row(r, &r->rows[i], out) < 0)
            return -1;
    return 0;
}

/* ==== the table (table.c) ==== */

static const char *const count_heads[] = {"SCANS",  "UNIQUE", "NEW",     "RETURNING",
                                          "UNSUBS", "NET",    "RETAINED"};

static int table_counts(struct table *t, const struct stats_counts *c, bool unique)
{
    const int64_t v[] = {c->scans,        c->unique_scanners, c->new_fans,     c->returning_fans,
                         c->unsubscribes, c->net_fans,        c->retained_fans};
    for (size_t i = 0; i < WXS_ARRAY_LEN(v); i++)
        if ((unique || i != 1) && table_int(t, v[i]) < 0)
            return -1;
    return 0;
}

/* Header cells for the view; numeric columns are right-aligned. */
static int table_head(struct table *t, enum stats_by by)
{
    static const char *const lead[][3] = {
        [STATS_BY_CHANNEL] = {"SCENE", "NAME", "PROMOTER"},
        [STATS_BY_PROMOTER] = {"PROMOTER", "CHANNELS", NULL},
        [STATS_BY_DAY] = {"DATE", NULL, NULL},
        [STATS_BY_CAMPAIGN] = {"CAMPAIGN", "CHANNELS", NULL},
    };
    size_t nlead = 0;
    while (nlead < 3 && lead[by][nlead])
        nlead++;
    t->ncols = nlead + WXS_ARRAY_LEN(count_heads) - (by == STATS_BY_PROMOTER) +
               (by == STATS_BY_PROMOTER ? 3 : 0);
    for (size_t i = 0; i < t->ncols; i++)
        t->numeric[i] =
            i >= nlead || ((by == STATS_BY_PROMOTER || by == STATS_BY_CAMPAIGN) && i == 1);
    for (size_t i = 0; i < nlead; i++)
        if (table_add(t, lead[by][i]) < 0)
            return -1;
    for (size_t i = 0; i < WXS_ARRAY_LEN(count_heads); i++)
        if ((by != STATS_BY_PROMOTER || i != 1) && table_add(t, count_heads[i]) < 0)
            return -1;
    if (by == STATS_BY_PROMOTER) {
        t->numeric[t->ncols - 1] = false;
        if (table_add(t, "QUICK_UNSUBS") < 0 || table_add(t, "RETAINED_ND") < 0 ||
            table_add(t, "FLAG") < 0)
            return -1;
    }
    return 0;
}

static int table_promoter_tail(struct table *t, const struct stats_report *r,
                               const struct stats_row *row)
{
    char ret[64];
    if (row->retention_eligible)
        snprintf(ret, sizeof(ret), "%lld/%lld %.0f%%", (long long)row->retention_retained,
                 (long long)row->retention_eligible,
                 100.0 * (double)row->retention_retained / (double)row->retention_eligible);
    else
        snprintf(ret, sizeof(ret), "-");
    const char *flag = row->flags ? "SUSPICIOUS" : "";
    return table_int(t, row->quick_unsubs) < 0 || table_add(t, ret) < 0 || table_add(t, flag) < 0
               ? -1
               : 0;
}

static int table_row(struct table *t, const struct stats_report *r, const struct stats_row *row)
{
    char date[16];
    int bad = 0;
    if (r->by == STATS_BY_CHANNEL)
        bad = table_add(t, row->scene ? row->scene : "(organic)") < 0 ||
              table_add(t, row->scene ? row->name : "") < 0 || table_add(t, row->promoter) < 0;
    else if (r->by == STATS_BY_PROMOTER)
        bad = table_add(t, row->promoter) < 0 || table_int(t, row->channels) < 0;
    else if (r->by == STATS_BY_CAMPAIGN)
        bad = table_add(t, row->campaign ? row->campaign : "(no campaign)") < 0 ||
              table_int(t, row->channels) < 0;
    else
        bad = (tz_format_date(row->day, date, sizeof(date)), table_add(t, date) < 0);
    bad = bad || table_counts(t, &row->c, r->by != STATS_BY_PROMOTER) < 0;
    if (!bad && r->by == STATS_BY_PROMOTER)
        bad = table_promoter_tail(t, r, row) < 0;
    return bad ? -1 : 0;
}

static int table_totals(struct table *t, const struct stats_report *r)
{
    struct stats_row total = {.c = r->totals,
                              .promoter = "TOTAL",
                              .quick_unsubs = r->quick_unsubs,
                              .retention_eligible = r->retention_eligible,
                              .retention_retained = r->retention_retained};
    int bad = table_add(t, "TOTAL") < 0;
    size_t lead = r->by == STATS_BY_CHANNEL                                  ? 2
                  : r->by == STATS_BY_PROMOTER || r->by == STATS_BY_CAMPAIGN ? 1
                                                                             : 0;
    for (size_t i = 0; !bad && i < lead; i++)
        bad = table_add(t, "") < 0;
    bad = bad || table_counts(t, &r->totals, r->by != STATS_BY_PROMOTER) < 0;
    if (!bad && r->by == STATS_BY_PROMOTER)
        bad = table_promoter_tail(t, r, &total) < 0;
    return bad ? -1 : 0;
}

/* The title: the range asked for, and by day the days listed when they
 * are fewer (a range longer than STATS_MAX_RANGE_DAYS lists the days that
 * can hold data). */
static int table_title(const struct stats_report *r, const char *tzname, struct buf *out)
{
    char since[16], until[16], first[16], last[16];
    tz_format_date(r->since, since, sizeof(since));
    tz_format_date(r->until, until, sizeof(until));
    if (buf_printf(out, "%s .. %s (%s), by %s", since, until, tzname, stats_by_name(r->by)) < 0 ||
        (r->campaign && buf_printf(out, ", campaign %s", r->campaign) < 0))
        return -1;
    if (r->by == STATS_BY_DAY && r->nrows &&
        (r->rows[0].day != r->since || r->rows[r->nrows - 1].day != r->until)) {
        tz_format_date(r->rows[0].day, first, sizeof(first));
        tz_format_date(r->rows[r->nrows - 1].day, last, sizeof(last));
        if (buf_printf(out, "; days that can hold data: %s .. %s", first, last) < 0)
            return -1;
    }
    return buf_puts(out, "\n");
}

/* By promoter: why each flagged promoter is, and what RETAINED_ND means. */
static int table_notes(const struct stats_report *r, struct buf *out)
{
    int bad = 0;
    if (r->by != STATS_BY_PROMOTER)
        return 0;
    for (size_t i = 0; !bad && i < r->nrows; i++) {
        struct buf why = {0};
        if (r->rows[i].flags)
            bad = stats_flag_reasons(r, &r->rows[i], &why) < 0 ||
                  buf_printf(out, "%s: %s\n", r->rows[i].promoter, why.data ? why.data : "") < 0;
        buf_free(&why);
    }
    return bad || buf_printf(out,
                             "RETAINED_ND: subscribes at least %lld days old whose fan stayed "
                             "%lld days\n",
                             (long long)r->retention_days, (long long)r->retention_days) < 0
               ? -1
               : 0;
}

int stats_report_table(const struct stats_report *r, const char *tzname, struct buf *out)
{
    struct table t = {0};
    int bad = table_head(&t, r->by) < 0;
    for (size_t i = 0; !bad && i < r->nrows; i++)
        bad = table_row(&t, r, &r->rows[i]) < 0;
    bad = bad || table_totals(&t, r) < 0 || table_title(r, tzname, out) < 0 ||
          table_print(&t, out) < 0 || table_notes(r, out) < 0;
    table_free(&t);
    return bad ? -1 : 0;
}
