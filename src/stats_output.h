/* stats_output: a statistics report (stats.h) in the three forms people
 * and scripts read: the CONTRACT's JSON, CSV for spreadsheets and a text
 * table for the terminal. `wxscene stats`, /api/stats and the dashboard
 * print through these, so every view shows the same numbers. */
#ifndef WXS_STATS_OUTPUT_H
#define WXS_STATS_OUTPUT_H
#include <stdbool.h>
#include <jansson.h>
#include "stats.h"
#include "util.h"

/* The report as the CONTRACT's JSON object (by channel) or its analogues
 * ("promoters", "days"); "since" and "until" are the range asked for. New
 * reference (the caller decrefs it), NULL when out of memory. */
json_t *stats_report_json(const struct stats_report *r);

/* The report as CSV (RFC 4180, CRLF), header row first, appended to out
 * (the caller's buffer); bom prepends a UTF-8 BOM so spreadsheets read the
 * text as UTF-8. 0, or -1 when out of memory. */
int stats_report_csv(const struct stats_report *r, bool bom, struct buf *out) WXS_MUSTCHECK;

/* The report as a text table appended to out: a title line (the range,
 * tzname and the view), the header, the rows and a TOTAL row, columns
 * padded by display width (CJK characters take two), numbers right-
 * aligned; by promoter also why each flagged promoter is flagged. 0, or -1
 * when out of memory. */
int stats_report_table(const struct stats_report *r, const char *tzname,
                       struct buf *out) WXS_MUSTCHECK;
#endif
