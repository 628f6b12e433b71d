/* csv: RFC 4180 reading and writing (quoted fields, "" escapes, CRLF or LF,
 * newlines inside quotes, an optional UTF-8 BOM). Used by channel import,
 * qr batch and the statistics export. */
#ifndef WXS_CSV_H
#define WXS_CSV_H
#include <stdio.h>
#include "util.h"

#define CSV_MAX_FIELDS 32
#define CSV_MAX_RECORD 65536

struct csv_reader;

/* Reads from f (not closed by csv_close). Caller frees with csv_close(). */
int csv_open(struct csv_reader **out, FILE *f) WXS_MUSTCHECK;
void csv_close(struct csv_reader *r);

/* Next record: 1 = got one (*fields valid until the next call), 0 = end,
 * -1 = malformed (err says why; *line is the record's first line). */
int csv_next(struct csv_reader *r, char ***fields, size_t *nfields, size_t *line, char *err,
             size_t errlen) WXS_MUSTCHECK;

/* Append s as one CSV field (quoted when it needs to be) to out. */
int csv_field(struct buf *out, const char *s) WXS_MUSTCHECK;
#endif
