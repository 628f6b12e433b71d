/* The one table printer: see table.h. */
#include "table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Display columns of one code point: East Asian wide ranges count 2. */
static int cp_width(uint32_t c)
{
    static const uint32_t wide[][2] = {
        {0x1100, 0x115F},   {0x2E80, 0x303E},   {0x3041, 0x33FF},   {0x3400, 0x4DBF},
        {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},
        {0xFE30, 0xFE4F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F},
        {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
    };
    for (size_t i = 0; i < WXS_ARRAY_LEN(wide); i++)
        if (c >= wide[i][0] && c <= wide[i][1])
            return 2;
    return 1;
}

size_t table_width(const char *s)
{
    size_t w = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t c = *p;
        int n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        if (n > 1)
            c &= 0x3F >> (n - 1);
        for (int i = 1; i < n && (p[i] & 0xC0) == 0x80; i++)
            c = c << 6 | (p[i] & 0x3F);
        for (int i = 0; i < n && *p; i++)
            p++;
        w += (size_t)cp_width(c);
    }
    return w;
}

static int table_cell(struct table *t, const char *s)
{
    size_t n = t->ncells;
    if (n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        char **c = realloc(t->cells, cap * sizeof(*c));
        if (!c)
            return -1;
        t->cells = c;
        t->cap = cap;
    }
    if (!(t->cells[n] = strdup(s)))
        return -1;
    t->ncells++;
    return 0;
}

/* Cells are added left to right; a row ends after ncols of them. */
int table_add(struct table *t, const char *s)
{
    size_t col = t->ncells % t->ncols;
    if (table_cell(t, s ? s : "-") < 0)
        return -1;
    size_t w = table_width(s ? s : "-");
    if (w > t->width[col])
        t->width[col] = w;
    if (col + 1 == t->ncols)
        t->nrows++;
    return 0;
}

int table_int(struct table *t, int64_t v)
{
    char s[32];
    snprintf(s, sizeof(s), "%lld", (long long)v);
    return table_add(t, s);
}

int table_print(const struct table *t, struct buf *out)
{
    struct buf line = {0};
    int bad = 0;
    for (size_t r = 0; !bad && r < t->nrows; r++) {
        buf_reset(&line);
        for (size_t c = 0; !bad && c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            int pad = (int)(t->width[c] - table_width(s));
            bad = buf_printf(&line, "%s%*s%s%*s", c ? "  " : "", t->numeric[c] ? pad : 0, "", s,
                             t->numeric[c] ? 0 : pad, "") < 0;
        }
        while (!bad && line.len && line.data[line.len - 1] == ' ')
            line.data[--line.len] = '\0';
        bad = bad || buf_append(out, line.data ? line.data : "", line.len) < 0 ||
              buf_puts(out, "\n") < 0;
    }
    buf_free(&line);
    return bad ? -1 : 0;
}

void table_free(struct table *t)
{
    for (size_t i = 0; i < t->ncells; i++)
        free(t->cells[i]);
    free(t->cells);
}
