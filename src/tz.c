#include "tz.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZ_MAX_FILE  (1 << 20)
#define TZ_LAST_YEAR 2200
#define SECS_PER_DAY 86400
#define TZ_MAX_T     ((int64_t)1 << 40) /* clamp (~34800 years): day numbers stay in int32 */
#define TZ_NAME_MAX  64

struct tz_row {
    int64_t from;
    int32_t off;
};

struct tz {
    struct tz_row *rows;
    size_t n, cap;
};

/* ---- civil dates (H. Hinnant's algorithms, proleptic Gregorian) ---- */

int64_t tz_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void tz_civil_from_days(int64_t day, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t z = day + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

static int digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return 0;
}

int tz_parse_date(const char *s, int64_t *day)
{
    unsigned y, m, d;
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-' || digits(s, 4, &y) < 0 ||
        digits(s + 5, 2, &m) < 0 || digits(s + 8, 2, &d) < 0)
        return -1;
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return -1;
    *day = tz_days_from_civil(y, m, d);
    return 0;
}

void tz_format_date(int64_t day, char *out, size_t outlen)
{
    int64_t y;
    unsigned m, d;
    tz_civil_from_days(day, &y, &m, &d);
    snprintf(out, outlen, "%04lld-%02u-%02u", (long long)y, m, d);
}

/* ---- the offset table ---- */

void tz_free(struct tz *z)
{
    if (!z)
        return;
    free(z->rows);
    free(z);
}

/* Append a transition, skipping ones that change nothing and ones not after
 * the last (the table must stay strictly increasing). */
static int tz_push(struct tz *z, int64_t from, int32_t off)
{
    if (z->n > 0 && (z->rows[z->n - 1].off == off || from <= z->rows[z->n - 1].from))
        return 0;
    if (z->n == z->cap) {
        size_t cap = z->cap ? z->cap * 2 : 64;
        struct tz_row *r = realloc(z->rows, cap * sizeof(*r));
        if (!r)
            return -1;
        z->rows = r;
        z->cap = cap;
    }
    z->rows[z->n++] = (struct tz_row){from, off};
    return 0;
}

int32_t tz_offset(const struct tz *z, int64_t t)
{
    size_t lo = 0, hi = z->n; /* rows[0].from = INT64_MIN <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->rows[mid].from <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->rows[lo].off;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t tz_clamp(int64_t t)
{
    return t > TZ_MAX_T ? TZ_MAX_T : t < -TZ_MAX_T ? -TZ_MAX_T : t;
}

int64_t tz_local_day(int64_t t, int32_t offset)
{
    return floor_div(tz_clamp(t) + offset, SECS_PER_DAY);
}

void tz_format_time(const struct tz *z, int64_t t, char *out, size_t outlen)
{
    t = tz_clamp(t);
    int64_t local = t + tz_offset(z, t), day = floor_div(local, SECS_PER_DAY);
    int64_t secs = local - day * SECS_PER_DAY, y;
    unsigned m, d;
    tz_civil_from_days(day, &y, &m, &d);
    snprintf(out, outlen, "%04lld-%02u-%02u %02d:%02d:%02d", (long long)y, m, d, (int)(secs / 3600),
             (int)(secs / 60 % 60), (int)(secs % 60));
}

int64_t tz_day(const struct tz *z, int64_t t)
{
    t = tz_clamp(t);
    return tz_local_day(t, tz_offset(z, t));
}

size_t tz_count(const struct tz *z)
{
    return z->n;
}

void tz_transition(const struct tz *z, size_t i, int64_t *from_utc, int32_t *offset)
{
    *from_utc = z->rows[i].from;
    *offset = z->rows[i].off;
}

/* ---- POSIX TZ rule strings (the TZif footer), e.g. EST5EDT,M3.2.0,M11.1.0 ---- */

struct posix_rule {
    char kind; /* 'J' (1..365, no Feb 29), 'N' (0..365), 'M' (month.week.weekday) */
    int m, w, d, n;
    int32_t time; /* local wall time of day, seconds (may be < 0 or > 24h) */
};

struct posix_tz {
    int32_t std_off, dst_off; /* seconds east of UTC */
    bool has_dst;
    struct posix_rule start, end;
};

static const char *posix_name(const char *p)
{
    if (*p == '<') {
        const char *q = strchr(p, '>');
        return q ? q + 1 : NULL;
    }
    const char *q = p;
    while ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z'))
        q++;
    return q - p >= 3 ? q : NULL;
}

static int posix_num(const char **pp, int max, int *out)
{
    const char *p = *pp;
    int v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9' && v <= max)
        v = v * 10 + (*p++ - '0');
    if (v > max)
        return -1;
    *pp = p;
    *out = v;
    return 0;
}

/* [+-]hh[:mm[:ss]] in seconds; hours up to 167 (RFC 8536 extension). */
static int posix_hms(const char **pp, int32_t *out)
{
    const char *p = *pp;
    int sign = 1, h, mi = 0, s = 0;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (posix_num(&p, 167, &h) < 0)
        return -1;
    if (*p == ':' && (p++, posix_num(&p, 59, &mi) < 0))
        return -1;
    if (*p == ':' && (p++, posix_num(&p, 59, &s) < 0))
        return -1;
    *pp = p;
    *out = sign * (h * 3600 + mi * 60 + s);
    return 0;
}

static int posix_rule(const char **pp, struct posix_rule *r)
{
    const char *p = *pp;
    memset(r, 0, sizeof(*r));
    r->time = 2 * 3600;
    if (*p == 'M') {
        p++;
        r->kind = 'M';
        if (posix_num(&p, 12, &r->m) < 0 || r->m < 1 || *p++ != '.' ||
            posix_num(&p, 5, &r->w) < 0 || r->w < 1 || *p++ != '.' || posix_num(&p, 6, &r->d) < 0)
            return -1;
    } else if (*p == 'J') {
        p++;
        r->kind = 'J';
        if (posix_num(&p, 365, &r->n) < 0 || r->n < 1)
            return -1;
    } else {
        r->kind = 'N';
        if (posix_num(&p, 365, &r->n) < 0)
            return -1;
    }
    if (*p == '/' && (p++, posix_hms(&p, &r->time) < 0))
        return -1;
    *pp = p;
    return 0;
}

static int posix_parse(const char *s, struct posix_tz *tz)
{
    const char *p = posix_name(s);
    int32_t off;
    memset(tz, 0, sizeof(*tz));
    if (!p || posix_hms(&p, &off) < 0)
        return -1;
    tz->std_off = -off; /* POSIX counts west of UTC as positive */
    if (!*p)
        return 0;
    if (!(p = posix_name(p)))
        return -1;
    tz->has_dst = true;
    tz->dst_off = tz->std_off + 3600;
    if (*p && *p != ',') {
        if (posix_hms(&p, &off) < 0)
            return -1;
        tz->dst_off = -off;
    }
    const char *dflt = ",M3.2.0,M11.1.0"; /* POSIX leaves it open; glibc's choice */
    if (!*p)
        p = dflt;
    if (*p++ != ',' || posix_rule(&p, &tz->start) < 0 || *p++ != ',' ||
        posix_rule(&p, &tz->end) < 0 || *p)
        return -1;
    return 0;
}

/* The local day number on which rule r falls in year y. */
static int64_t rule_day(const struct posix_rule *r, int64_t y)
{
    int64_t jan1 = tz_days_from_civil(y, 1, 1);
    if (r->kind == 'J')
        return jan1 + r->n - 1 + (is_leap(y) && r->n >= 60);
    if (r->kind == 'N')
        return jan1 + r->n;
    int64_t first = tz_days_from_civil(y, (unsigned)r->m, 1);
    int wd1 = (int)((first % 7 + 7 + 4) % 7); /* 1970-01-01 was a Thursday */
    int64_t day = first + (r->d - wd1 + 7) % 7 + (int64_t)(r->w - 1) * 7;
    while (day >= first + days_in_month(y, (unsigned)r->m))
        day -= 7;
    return day;
}

/* Expand the footer rule for every year from the one holding 'after' to
 * TZ_LAST_YEAR, keeping the transitions later than 'after'. */
static int expand_rule(struct tz *z, const struct posix_tz *p, int64_t after)
{
    int64_t y0 = 1900;
    unsigned m, d;
    if (after != INT64_MIN)
        tz_civil_from_days(floor_div(after, SECS_PER_DAY), &y0, &m, &d);
    if (!p->has_dst)
        return after == INT64_MIN ? 0 : tz_push(z, after + 1, p->std_off);
    for (int64_t y = y0; y <= TZ_LAST_YEAR; y++) {
        int64_t on = rule_day(&p->start, y) * SECS_PER_DAY + p->start.time - p->std_off;
        int64_t off = rule_day(&p->end, y) * SECS_PER_DAY + p->end.time - p->dst_off;
        int64_t first = on < off ? on : off, second = on < off ? off : on;
        int32_t first_off = on < off ? p->dst_off : p->std_off;
        int32_t second_off = on < off ? p->std_off : p->dst_off;
        if ((first > after && tz_push(z, first, first_off) < 0) ||
            (second > after && tz_push(z, second, second_off) < 0))
            return -1;
    }
    return 0;
}

/* ---- TZif (RFC 8536) ---- */

struct tzif_hdr {
    char version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int tzif_hdr(const unsigned char *p, size_t n, struct tzif_hdr *h)
{
    if (n < 44 || memcmp(p, "TZif", 4) != 0)
        return -1;
    h->version = (char)p[4];
    h->isutcnt = be32(p + 20);
    h->isstdcnt = be32(p + 24);
    h->leapcnt = be32(p + 28);
    h->timecnt = be32(p + 32);
    h->typecnt = be32(p + 36);
    h->charcnt = be32(p + 40);
    if (h->typecnt == 0 || h->typecnt > 256 || h->timecnt > 100000 || h->leapcnt > 10000 ||
        h->charcnt > 65536 || h->isutcnt > 256 || h->isstdcnt > 256)
        return -1;
    return 0;
}

static size_t tzif_block(const struct tzif_hdr *h, size_t tsize)
{
    return h->timecnt * tsize + h->timecnt + h->typecnt * 6 + h->charcnt +
           h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

/* Read the transitions of one data block (tsize 4 = v1, 8 = v2+). */
static int tzif_data(struct tz *z, const struct tzif_hdr *h, const unsigned char *p, size_t tsize,
                     int64_t *last)
{
    const unsigned char *idx = p + h->timecnt * tsize, *types = idx + h->timecnt;
    *last = INT64_MIN;
    if (tz_push(z, INT64_MIN, (int32_t)be32(types)) < 0)
        return -1;
    for (uint32_t i = 0; i < h->timecnt; i++) {
        int64_t t = tsize == 8 ? be64(p + i * 8) : (int32_t)be32(p + i * 4);
        if (idx[i] >= h->typecnt || t <= *last)
            return -1;
        int32_t off = (int32_t)be32(types + idx[i] * 6);
        if (off < -26 * 3600 || off > 26 * 3600 || tz_push(z, t, off) < 0)
            return -1;
        *last = t;
    }
    return 0;
}

static int tzif_footer(struct tz *z, const unsigned char *p, size_t n, int64_t last)
{
    char rule[128];
    struct posix_tz ptz;
    const unsigned char *end = n > 1 && p[0] == '\n' ? memchr(p + 1, '\n', n - 1) : NULL;
    if (!end)
        return -1;
    size_t len = (size_t)(end - p - 1);
    if (len == 0)
        return 0;
    if (len >= sizeof(rule))
        return -1;
    memcpy(rule, p + 1, len);
    rule[len] = '\0';
    if (posix_parse(rule, &ptz) < 0)
        return -1;
    if (last == INT64_MIN) /* no transitions: the rule is the whole story */
        z->rows[0].off = ptz.std_off;
    return expand_rule(z, &ptz, last);
}

static int tzif_parse(struct tz *z, const unsigned char *p, size_t n)
{
    struct tzif_hdr h;
    int64_t last;
    if (tzif_hdr(p, n, &h) < 0)
        return -1;
    size_t v1 = 44 + tzif_block(&h, 4);
    if (h.version == 0)
        return v1 <= n ? tzif_data(z, &h, p + 44, 4, &last) : -1;
    if (v1 > n || tzif_hdr(p + v1, n - v1, &h) < 0)
        return -1;
    const unsigned char *data = p + v1 + 44;
    size_t need = v1 + 44 + tzif_block(&h, 8);
    if (need > n || tzif_data(z, &h, data, 8, &last) < 0)
        return -1;
    return tzif_footer(z, p + need, n - need, last);
}

int tz_from_tzif(struct tz **out, const unsigned char *p, size_t n, char *err, size_t errlen)
{
    struct tz *z = calloc(1, sizeof(*z));
    if (!z)
        return snprintf(err, errlen, "out of memory"), -1;
    if (tzif_parse(z, p, n) < 0) {
        snprintf(err, errlen, "not a valid TZif file");
        tz_free(z);
        return -1;
    }
    *out = z;
    return 0;
}

/* Zone names are paths below the zoneinfo directory: no "..", no absolute
 * paths, only the characters the TZ database uses. */
static bool zone_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > TZ_NAME_MAX || name[0] == '/' || strstr(name, ".."))
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              strchr("/_+-", *p)))
            return false;
    return true;
}

static int read_file(const char *path, unsigned char **out, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    unsigned char *buf = malloc(TZ_MAX_FILE);
    size_t got = buf ? fread(buf, 1, TZ_MAX_FILE, f) : 0;
    bool bad = !buf || ferror(f) || got == TZ_MAX_FILE;
    fclose(f);
    if (bad) {
        free(buf);
        return -1;
    }
    *out = buf;
    *n = got;
    return 0;
}

/* Current rules of common zones, for machines without tzdata (minimal
 * containers): right for today's events, not for past rule changes. */
static const struct {
    const char *name, *rule;
} builtin_zones[] = {
    {"Asia/Shanghai", "CST-8"},
    {"Asia/Chongqing", "CST-8"},
    {"Asia/Harbin", "CST-8"},
    {"PRC", "CST-8"},
    {"Asia/Hong_Kong", "HKT-8"},
    {"Asia/Macau", "CST-8"},
    {"Asia/Taipei", "CST-8"},
    {"Asia/Singapore", "<+08>-8"},
    {"Asia/Tokyo", "JST-9"},
    {"Asia/Seoul", "KST-9"},
    {"UTC", "UTC0"},
    {"Etc/UTC", "UTC0"},
    {"GMT", "GMT0"},
    {"Etc/GMT", "GMT0"},
    {"Europe/London", "GMT0BST,M3.5.0/1,M10.5.0"},
    {"Europe/Berlin", "CET-1CEST,M3.5.0,M10.5.0/3"},
    {"America/New_York", "EST5EDT,M3.2.0,M11.1.0"},
    {"America/Los_Angeles", "PST8PDT,M3.2.0,M11.1.0"},
    {"Australia/Sydney", "AEST-10AEDT,M10.1.0,M4.1.0/3"},
};

static int tz_from_builtin(struct tz **out, const char *name)
{
    struct posix_tz p;
    for (size_t i = 0; i < sizeof(builtin_zones) / sizeof(builtin_zones[0]); i++) {
        if (strcmp(builtin_zones[i].name, name) != 0)
            continue;
        struct tz *z = calloc(1, sizeof(*z));
        if (!z || posix_parse(builtin_zones[i].rule, &p) < 0 ||
            tz_push(z, INT64_MIN, p.std_off) < 0 || expand_rule(z, &p, INT64_MIN) < 0) {
            tz_free(z);
            return -1;
        }
        *out = z;
        return 0;
    }
    return -1;
}

int tz_load(struct tz **out, const char *name, char *err, size_t errlen)
{
    char path[512], why[128];
    unsigned char *data = NULL;
    size_t n = 0;
    const char *dir = getenv("TZDIR");
    if (!zone_name_ok(name)) {
        snprintf(err, errlen, "'%s' is not a time zone name (e.g. Asia/Shanghai)", name);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    if (read_file(path, &data, &n) < 0) {
        if (tz_from_builtin(out, name) == 0)
            return 0;
        snprintf(err, errlen, "unknown time zone '%s' (cannot read %s; is tzdata installed?)", name,
                 path);
        return -1;
    }
    int rc = tz_from_tzif(out, data, n, why, sizeof(why));
    if (rc < 0)
        snprintf(err, errlen, "time zone '%s': %s: %s", name, path, why);
    free(data);
    return rc;
}
