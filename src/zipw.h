/* zipw: a small zip writer (stored entries, no compression: PNGs are
 * compressed already and CSVs are small) for the console's "codes as a
 * zip" download. PKWARE APPNOTE 6.3: a local header and the data per
 * entry, a central directory, the end record; CRC-32 (IEEE 802.3, the
 * zip one) computed here; names flagged UTF-8 (bit 11). No zip64: at
 * most 65535 entries and 4 GiB, refused beyond. */
#ifndef WXS_ZIPW_H
#define WXS_ZIPW_H
#include <stddef.h>
#include <stdint.h>
#include "util.h"

struct zipw;

/* The archive is built in out (the caller's buffer, kept by the caller).
 * Caller frees with zipw_free(). */
int zipw_new(struct zipw **out, struct buf *dest) WXS_MUSTCHECK;
/* Add an entry named name (UTF-8, 1..65535 bytes, no NUL, no leading '/',
 * no ".." component) with mtime (epoch seconds, written as the DOS local
 * time of offset_s east of UTC). 0, or -1 (bad name, too big, no memory). */
int zipw_add(struct zipw *z, const char *name, const void *data, size_t len, int64_t mtime,
             int32_t offset_s) WXS_MUSTCHECK;
/* Write the central directory and the end record. 0 or -1. */
int zipw_finish(struct zipw *z) WXS_MUSTCHECK;
void zipw_free(struct zipw *z);

/* CRC-32 of p[0..n) continuing crc (start with 0). */
uint32_t zipw_crc32(uint32_t crc, const void *p, size_t n);
#endif
