/* table: plain-text tables for a terminal, columns sized by display width
 * (East Asian wide characters such as CJK take two columns), the one
 * printer of every table the CLI shows (stats, channel list, qr list, tag
 * status), so a Chinese name lines up the same everywhere. */
#ifndef WXS_TABLE_H
#define WXS_TABLE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util.h"

#define TABLE_MAX_COLS 16

/* Set ncols (and numeric[] for right-aligned columns) before adding cells;
 * zero-initialise it ({0}); table_free() frees the cells. */
struct table {
    size_t ncols, nrows, ncells, cap;
    char **cells; /* nrows x ncols, malloc'd strings */
    bool numeric[TABLE_MAX_COLS];
    size_t width[TABLE_MAX_COLS];
};

/* Display columns of the UTF-8 text s (a wide code point counts 2). */
size_t table_width(const char *s);

/* Add one cell (NULL prints as "-"), left to right; a row ends after
 * ncols of them. 0, or -1 when out of memory. */
int table_add(struct table *t, const char *s) WXS_MUSTCHECK;
int table_int(struct table *t, int64_t v) WXS_MUSTCHECK;

/* Every row, columns two blanks apart, padded to the widest cell, numeric
 * columns right-aligned, no trailing blanks. */
int table_print(const struct table *t, struct buf *out) WXS_MUSTCHECK;
void table_free(struct table *t);
#endif
