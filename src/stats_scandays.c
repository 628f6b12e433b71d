#include "stats_scandays.h"

#include <string.h>

/* One scope of a row, as scope_next() found it. */
struct scope {
    size_t at, end;   /* the scope's text "<bytes>:<scope>,<day>...", end at its ';' */
    size_t days;      /* where its ",<day>" list starts */
    const char *name; /* its name (not NUL-terminated) */
    size_t len;
};

/* The next scope of t at *at; 1 = one read, 0 = end, -1 = malformed. */
static int scope_next(const char *t, size_t n, size_t *at, struct scope *sc)
{
    size_t i = *at, len = 0;
    if (i == n)
        return 0;
    if (t[i] < '0' || t[i] > '9')
        return -1;
    while (i < n && t[i] >= '0' && t[i] <= '9' && len < 1000000)
        len = len * 10 + (size_t)(t[i++] - '0');
    if (i == n || t[i] != ':' || n - i - 1 < len)
        return -1;
    sc->at = *at;
    sc->name = t + i + 1;
    sc->len = len;
    i += 1 + len;
    sc->days = i;
    while (i < n && t[i] == ',') {
        i++;
        if (i < n && t[i] == '-')
            i++;
        size_t digits = i;
        while (i < n && t[i] >= '0' && t[i] <= '9')
            i++;
        if (i == digits || i - digits > 18)
            return -1;
    }
    if (i == n || t[i] != ';')
        return -1;
    sc->end = i;
    *at = i + 1;
    return 1;
}

/* Where day goes in the scope's day list: found (already there), its
 * predecessor and successor (SCANDAYS_NONE: none) and the offset to insert
 * ",<day>" at (before its successor, so a sorted list stays sorted). */
static void scope_place(const char *t, const struct scope *sc, int64_t day, bool *found,
                        int64_t *prev, int64_t *succ, size_t *ins)
{
    *found = false;
    *prev = *succ = SCANDAYS_NONE;
    *ins = sc->end;
    for (size_t i = sc->days; i < sc->end;) {
        size_t item = i++; /* the ',' (scope_next checked the digits) */
        bool neg = t[i] == '-';
        int64_t d = 0;
        for (i += neg; i < sc->end && t[i] >= '0' && t[i] <= '9'; i++)
            d = d * 10 + (t[i] - '0');
        if (neg)
            d = -d;
        if (d == day)
            *found = true;
        else if (d < day && (*prev == SCANDAYS_NONE || d > *prev))
            *prev = d;
        else if (d > day && (*succ == SCANDAYS_NONE || d < *succ)) {
            *succ = d;
            if (*ins == sc->end)
                *ins = item;
        }
    }
}

static int scope_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

bool scandays_valid(const char *t, size_t n)
{
    size_t at = 0;
    struct scope sc;
    int rc;
    while ((rc = scope_next(t, n, &at, &sc)) == 1)
        ;
    return rc == 0;
}

/* v in decimal at p (room for 20 characters); returns the end. */
static char *put_num(char *p, int64_t v)
{
    char tmp[24], *t = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do
        *--t = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--t = '-';
    size_t n = (size_t)(tmp + sizeof(tmp) - t);
    memcpy(p, t, n);
    return p + n;
}

/* Without printf, in one append: a new scanner's row is two of these per
 * scan event. */
int scandays_append(struct buf *out, const char *scope, int64_t day)
{
    char text[256], *p = text;
    size_t slen = strlen(scope);
    if (slen > sizeof(text) - 48) { /* longer than any scene: in three parts */
        p = put_num(p, (int64_t)slen);
        *p++ = ':';
        if (buf_append(out, text, (size_t)(p - text)) < 0 || buf_append(out, scope, slen) < 0)
            return -1;
        p = text;
    } else {
        p = put_num(p, (int64_t)slen);
        *p++ = ':';
        memcpy(p, scope, slen);
        p += slen;
    }
    *p++ = ',';
    p = put_num(p, day);
    *p++ = ';';
    return buf_append(out, text, (size_t)(p - text));
}

/* out = t[0, ins) + what + t[ins, n). */
static int splice(struct buf *out, const char *t, size_t n, size_t ins, const char *what,
                  size_t wlen)
{
    buf_reset(out);
    return buf_append(out, t, ins) < 0 || buf_append(out, what, wlen) < 0 ||
                   buf_append(out, t + ins, n - ins) < 0
               ? -1
               : 0;
}

int scandays_add(const char *t, size_t n, const char *scope, int64_t day, struct buf *out,
                 int64_t *prev, int64_t *succ)
{
    size_t slen = strlen(scope), at = 0, ins = n;
    struct scope sc;
    char num[32];
    int rc;
    while ((rc = scope_next(t, n, &at, &sc)) == 1) {
        int c = scope_cmp(sc.name, sc.len, scope, slen);
        if (c == 0) {
            bool found;
            scope_place(t, &sc, day, &found, prev, succ, &ins);
            if (found)
                return 1;
            num[0] = ',';
            char *p = put_num(num + 1, day);
            return splice(out, t, n, ins, num, (size_t)(p - num));
        }
        if (c > 0 && ins == n)
            ins = sc.at; /* a new scope goes before the first one after it */
    }
    if (rc < 0)
        return -1;
    *prev = *succ = SCANDAYS_NONE;
    buf_reset(out);
    if (buf_append(out, t, ins) < 0 || scandays_append(out, scope, day) < 0 ||
        buf_append(out, t + ins, n - ins) < 0)
        return -1;
    return 0;
}

/* The '' scope leads every row and holds the union of the others' days:
 * a row whose '' scope has no day in range has none anywhere, and is left
 * after its first scope (most rows, for a short range over a long
 * history). Days are ascending within a scope: past `to`, the rest of the
 * scope is skipped. */
int scandays_each_in(const char *t, size_t n, int64_t from, int64_t to,
                     int (*fn)(const char *scope, size_t len, int64_t day, void *arg), void *arg)
{
    size_t at = 0;
    struct scope sc;
    int rc;
    while ((rc = scope_next(t, n, &at, &sc)) == 1) {
        bool any = false;
        for (size_t i = sc.days; i < sc.end;) {
            bool neg = t[++i] == '-';
            int64_t d = 0;
            for (i += neg; i < sc.end && t[i] >= '0' && t[i] <= '9'; i++)
                d = d * 10 + (t[i] - '0');
            if (neg)
                d = -d;
            if (d > to)
                break;
            if (d < from)
                continue;
            any = true;
            int stop = fn(sc.name, sc.len, d, arg);
            if (stop != 0)
                return stop < 0 ? stop : 0;
        }
        if (sc.len == 0 && !any)
            return 0;
    }
    return rc < 0 ? -1 : 0;
}
