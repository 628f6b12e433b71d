#include "netmask.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct netmask {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    unsigned bits;
};

struct netmask_list {
    size_t n;
    struct netmask m[];
};

/* One address text into family and bytes (a v4-mapped v6 address is v4). */
static int parse_addr(const char *s, int *family, unsigned char *out)
{
    if (inet_pton(AF_INET, s, out) == 1)
        return *family = AF_INET, 0;
    if (inet_pton(AF_INET6, s, out) != 1)
        return -1;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(out, mapped, 12) == 0) {
        memmove(out, out + 12, 4);
        return *family = AF_INET, 0;
    }
    return *family = AF_INET6, 0;
}

bool netmask_is_addr(const char *s)
{
    unsigned char b[16];
    int f;
    return strlen(s) < 64 && parse_addr(s, &f, b) == 0;
}

static int parse_entry(const char *e, struct netmask *m)
{
    char text[64];
    const char *slash = strchr(e, '/');
    size_t len = slash ? (size_t)(slash - e) : strlen(e);
    if (len == 0 || len >= sizeof(text))
        return -1;
    memcpy(text, e, len);
    text[len] = '\0';
    if (parse_addr(text, &m->family, m->addr) < 0)
        return -1;
    unsigned max = m->family == AF_INET ? 32 : 128;
    uint64_t bits = max;
    if (slash && util_parse_u64(slash + 1, 0, max, &bits) < 0)
        return -1;
    m->bits = (unsigned)bits;
    return 0;
}

int netmask_list_parse(const char *s, struct netmask_list **out, char *why, size_t whylen)
{
    static const char seps[] = " \t,";
    size_t cap = 0;
    for (const char *p = s; *p; p++)
        cap += strchr(seps, *p) == NULL && (p == s || strchr(seps, p[-1]));
    struct netmask_list *l = calloc(1, sizeof(*l) + cap * sizeof(l->m[0]));
    if (!l)
        return snprintf(why, whylen, "out of memory"), -1;
    for (const char *p = s + strspn(s, seps); *p; p += strspn(p, seps)) {
        size_t len = strcspn(p, seps);
        char e[80];
        snprintf(e, sizeof(e), "%.*s", (int)(len < sizeof(e) - 1 ? len : sizeof(e) - 1), p);
        if (len >= sizeof(e) - 1 || parse_entry(e, &l->m[l->n]) < 0) {
            snprintf(why, whylen, "'%.*s' is not an address or address/prefix",
                     (int)(len > 64 ? 64 : len), p);
            free(l);
            return -1;
        }
        l->n++;
        p += len;
    }
    *out = l;
    return 0;
}

void netmask_list_free(struct netmask_list *l)
{
    free(l);
}

static bool prefix_eq(const unsigned char *a, const unsigned char *b, unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    if (!rest)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

bool netmask_list_match(const struct netmask_list *l, const char *addr)
{
    unsigned char b[16];
    int family;
    if (!l || strlen(addr) >= 64 || parse_addr(addr, &family, b) < 0)
        return false;
    for (size_t i = 0; i < l->n; i++)
        if (l->m[i].family == family && prefix_eq(l->m[i].addr, b, l->m[i].bits))
            return true;
    return false;
}
