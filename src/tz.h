/* tz: the account time zone as a table of UTC offsets, read from the TZ
 * database file (TZif, RFC 8536) and its POSIX rule footer, so that local
 * days are computed without touching the process-wide TZ/localtime state
 * (thread-safe, and independent of the process's own zone). Also civil
 * date arithmetic on day numbers (days since 1970-01-01). */
#ifndef WXS_TZ_H
#define WXS_TZ_H
#include <stddef.h>
#include <stdint.h>
#include "util.h"

struct tz;

/* Load zone name (e.g. "Asia/Shanghai") from $TZDIR or /usr/share/zoneinfo.
 * Transitions are expanded from the zone's rule up to the year 2200.
 * Without tzdata, a few common zones fall back to their current rules. The
 * caller frees *out with tz_free(). On error err names the zone and why. */
int tz_load(struct tz **out, const char *name, char *err, size_t errlen) WXS_MUSTCHECK;
/* The same from a TZif image in memory (tests). */
int tz_from_tzif(struct tz **out, const unsigned char *p, size_t n, char *err,
                 size_t errlen) WXS_MUSTCHECK;
void tz_free(struct tz *z);

/* Seconds east of UTC in force at UTC time t. */
int32_t tz_offset(const struct tz *z, int64_t t);
/* The local day number of UTC time t: tz_local_day(tz_clamp(t), offset at
 * tz_clamp(t)). Split so that a caller holding the offset elsewhere (the
 * stats hook reads it from SQLite) computes exactly the same day. */
int64_t tz_day(const struct tz *z, int64_t t);
int64_t tz_clamp(int64_t t);
int64_t tz_local_day(int64_t t, int32_t offset);

/* Transition i (0 <= i < tz_count()): offset in force from from_utc on.
 * Row 0 has from_utc = INT64_MIN. Consecutive rows differ in offset. */
size_t tz_count(const struct tz *z);
void tz_transition(const struct tz *z, size_t i, int64_t *from_utc, int32_t *offset);

/* Day number of a proleptic Gregorian date, and back. */
int64_t tz_days_from_civil(int64_t y, unsigned m, unsigned d);
void tz_civil_from_days(int64_t day, int64_t *y, unsigned *m, unsigned *d);
/* Strict YYYY-MM-DD (a real date, years 1970..9999); -1 if not. */
int tz_parse_date(const char *s, int64_t *day) WXS_MUSTCHECK;
/* YYYY-MM-DD into out (at least 11 bytes). */
void tz_format_date(int64_t day, char *out, size_t outlen);
/* UTC time t as the zone's local "YYYY-MM-DD HH:MM:SS" into out (at least
 * 20 bytes): what a person in the account's zone reads on a clock (the
 * expiry of a QR code in a CSV or table). */
void tz_format_time(const struct tz *z, int64_t t, char *out, size_t outlen);
#endif
