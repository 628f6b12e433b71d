/* stats_scandays: the text of a stats_scanners.days row, the days one
 * openid scanned each scope (a scene, or '' for any scene):
 *
 *     per scope, in scope order (bytes, shorter first: '' leads),
 *     "<bytes>:<scope>", then ",<day>" for each day, ascending, then ";"
 *
 * e.g. "0:,20100,20102;2:42,20100;1:7,20102;". Pure text work, no
 * database: the statistics hook (stats_rollup.c) edits a scanner's row
 * with it inside the SQL function wxs_scan_add(); migration 010 and the
 * rebuild write the same text with SQL. */
#ifndef WXS_STATS_SCANDAYS_H
#define WXS_STATS_SCANDAYS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util.h"

/* "No day": a scope's neighbour that does not exist (and the prev_day of
 * a first scan in stats_scan_first). */
#define SCANDAYS_NONE INT64_C(-2147483648)

/* True when the n bytes at t read as the format says. */
bool scandays_valid(const char *t, size_t n);

/* Append one scope holding a single day, "<bytes>:<scope>,<day>;", to out.
 * 0, or -1 when out of memory. */
int scandays_append(struct buf *out, const char *scope, int64_t day) WXS_MUSTCHECK;

/* Add day to scope in the row t (n bytes, scandays_valid), the new row
 * written into out (reset first). 0 = added: *prev and *succ are the
 * scope's days just before and after it (SCANDAYS_NONE: none); 1 = the
 * scope had the day already (out untouched); -1 = out of memory. */
int scandays_add(const char *t, size_t n, const char *scope, int64_t day, struct buf *out,
                 int64_t *prev, int64_t *succ) WXS_MUSTCHECK;
/* Call fn(scope, len, day, arg) for every day of every scope of the row t
 * (n bytes) within [from, to] (scope is not NUL-terminated; '' = any
 * scene). fn returning > 0 ends the row early, < 0 stops with that value.
 * 0, -1 when the row is malformed, or fn's negative value. */
int scandays_each_in(const char *t, size_t n, int64_t from, int64_t to,
                     int (*fn)(const char *scope, size_t len, int64_t day, void *arg),
                     void *arg) WXS_MUSTCHECK;
#endif
