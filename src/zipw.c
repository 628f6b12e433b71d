#include "zipw.h"

#include <stdlib.h>
#include <string.h>

#include "tz.h"

struct zip_entry {
    uint32_t crc, size, offset;
    uint16_t time, date;
    char *name;
};

struct zipw {
    struct buf *out;
    struct zip_entry *e;
    size_t n, cap;
};

/* The table of the reflected polynomial 0xEDB88320, built on each call
 * (256 steps: nothing next to the PNGs it checks; no global state). */
uint32_t zipw_crc32(uint32_t crc, const void *p, size_t n)
{
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    const unsigned char *b = p;
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

int zipw_new(struct zipw **out, struct buf *dest)
{
    struct zipw *z = calloc(1, sizeof(*z));
    if (!z)
        return -1;
    z->out = dest;
    *out = z;
    return 0;
}

void zipw_free(struct zipw *z)
{
    if (!z)
        return;
    for (size_t i = 0; i < z->n; i++)
        free(z->e[i].name);
    free(z->e);
    free(z);
}

static int put16(struct buf *b, uint16_t v)
{
    unsigned char x[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    return buf_append(b, x, 2);
}

static int put32(struct buf *b, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    return buf_append(b, x, 4);
}

/* A name an unzip cannot turn into a path outside its directory. */
static int name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 65535 || name[0] == '/' || strchr(name, '\\'))
        return 0;
    for (const char *p = name; p; p = strchr(p, '/')) {
        p += *p == '/';
        if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || !p[2]))
            return 0;
    }
    return 1;
}

/* DOS date and time (2-second steps, from 1980) of local time t. */
static void dos_time(int64_t t, int32_t off, uint16_t *tm, uint16_t *dt)
{
    int64_t local = t + off, day = local >= 0 ? local / 86400 : (local - 86399) / 86400;
    int64_t secs = local - day * 86400, y;
    unsigned m, d;
    tz_civil_from_days(day, &y, &m, &d);
    if (y < 1980)
        y = 1980, m = 1, d = 1, secs = 0;
    *tm = (uint16_t)((secs / 3600) << 11 | ((secs / 60) % 60) << 5 | (secs % 60) / 2);
    *dt = (uint16_t)((y - 1980) << 9 | m << 5 | d);
}

/* The fields a local header and a central entry share, from "version
 * needed" to the name's length. */
static int common(struct buf *b, const struct zip_entry *e)
{
    return put16(b, 10) < 0 || put16(b, 1u << 11) < 0 || put16(b, 0) < 0 || put16(b, e->time) < 0 ||
                   put16(b, e->date) < 0 || put32(b, e->crc) < 0 || put32(b, e->size) < 0 ||
                   put32(b, e->size) < 0 || put16(b, (uint16_t)strlen(e->name)) < 0
               ? -1
               : 0;
}

int zipw_add(struct zipw *z, const char *name, const void *data, size_t len, int64_t mtime,
             int32_t offset_s)
{
    if (!name_ok(name) || len > 0xFFFFFFFEu || z->n >= 65535 ||
        z->out->len + len + strlen(name) + 64 > 0xFFFFFFFEu)
        return -1;
    if (z->n == z->cap) {
        size_t cap = z->cap ? z->cap * 2 : 16;
        struct zip_entry *ne = realloc(z->e, cap * sizeof(*ne));
        if (!ne)
            return -1;
        z->e = ne, z->cap = cap;
    }
    struct zip_entry *e = &z->e[z->n];
    *e = (struct zip_entry){.crc = zipw_crc32(0, data, len),
                            .size = (uint32_t)len,
                            .offset = (uint32_t)z->out->len,
                            .name = strdup(name)};
    if (!e->name)
        return -1;
    dos_time(mtime, offset_s, &e->time, &e->date);
    z->n++;
    return put32(z->out, 0x04034b50) < 0 || common(z->out, e) < 0 || put16(z->out, 0) < 0 ||
                   buf_append(z->out, e->name, strlen(e->name)) < 0 ||
                   buf_append(z->out, data, len) < 0
               ? -1
               : 0;
}

int zipw_finish(struct zipw *z)
{
    size_t start = z->out->len;
    for (size_t i = 0; i < z->n; i++) {
        const struct zip_entry *e = &z->e[i];
        if (put32(z->out, 0x02014b50) < 0 || put16(z->out, 0x031e) < 0 || common(z->out, e) < 0 ||
            put16(z->out, 0) < 0 || put16(z->out, 0) < 0 || put16(z->out, 0) < 0 ||
            put16(z->out, 0) < 0 || put32(z->out, 0100644u << 16) < 0 ||
            put32(z->out, e->offset) < 0 || buf_append(z->out, e->name, strlen(e->name)) < 0)
            return -1;
    }
    size_t cd = z->out->len - start;
    if (z->out->len > 0xFFFFFFFEu)
        return -1;
    return put32(z->out, 0x06054b50) < 0 || put16(z->out, 0) < 0 || put16(z->out, 0) < 0 ||
                   put16(z->out, (uint16_t)z->n) < 0 || put16(z->out, (uint16_t)z->n) < 0 ||
                   put32(z->out, (uint32_t)cd) < 0 || put32(z->out, (uint32_t)start) < 0 ||
                   put16(z->out, 0) < 0
               ? -1
               : 0;
}
