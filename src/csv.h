/* csv: RFC 4180 reading and writing (quoted fields, "" escapes, newlines
 * inside quotes, an optional UTF-8 BOM) for files that pass through Excel.
 * Used by channel import, qr batch, channel and qr list, and the statistics
 * export (CLI and admin download).
 *
 * Formula injection (OWASP "CSV Injection"): a spreadsheet runs a cell that
 * starts with = + - @ tab or CR as a formula, so csv_field() writes such a
 * text cell quoted with a leading single quote: =SUM(1) -> "'=SUM(1)". The
 * reader undoes exactly that, so a file written here and read back (channel
 * list -> channel import) gives the original values; see csv_field(). */
#ifndef WXS_CSV_H
#define WXS_CSV_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "util.h"

#define CSV_MAX_FIELDS 32
#define CSV_MAX_RECORD 65536
#define CSV_MAX_FILE   (256 << 20)
/* The UTF-8 byte order mark a writer may put first (--bom): Excel on a
 * Chinese Windows reads a CSV without it as GBK and garbles UTF-8 text. */
#define CSV_BOM "\xEF\xBB\xBF"

enum csv_encoding { CSV_UTF8, CSV_UTF8_BOM, CSV_GB18030 };

struct csv_reader;

/* Reads from f (not closed by csv_close); the first csv_next() reads the
 * whole file (at most CSV_MAX_FILE bytes) and settles its encoding: UTF-8
 * with or without a BOM, else GB18030 (GBK, GB2312: what Excel saves as
 * "CSV" on a Chinese Windows), converted to UTF-8; a file that is neither
 * is refused naming the line and column of the first byte that is not
 * GB18030. Positions in later errors count the bytes of the UTF-8 text.
 * Caller frees with csv_close(). */
int csv_open(struct csv_reader **out, FILE *f) WXS_MUSTCHECK;
void csv_close(struct csv_reader *r);

/* The encoding the file was read in ("UTF-8", "UTF-8 with BOM", "GB18030"),
 * valid once csv_next() returned a record or the end. Static string. */
const char *csv_encoding(const struct csv_reader *r);

/* Whether the whole file was read and its encoding settled: after a -1
 * from csv_next(), false means the file itself was refused (its encoding:
 * UTF-16, neither UTF-8 nor GB18030; or its size), true a malformed
 * record. */
bool csv_loaded(const struct csv_reader *r);

/* Next record: 1 = got one (*fields valid until the next call, *line = the
 * file line it starts on, the first line being 1), 0 = end, -1 = malformed
 * or unreadable: *line is the line of the offending byte and err names the
 * column ("column 2 (byte 7): a NUL byte"); stop reading after it.
 *
 * Lines end in LF, CRLF or a lone CR (Excel's "CSV (Macintosh)"), also
 * inside quotes, where each becomes one "\n" in the value. Empty lines are
 * skipped, and so is a record whose fields are all empty (",,,,," as Excel
 * writes rows it once formatted); a last line without a line end is a
 * record. A NUL byte, a UTF-16
 * file, a stray quote, text after a closing quote, a quote never closed,
 * more than CSV_MAX_FIELDS fields or a record over CSV_MAX_RECORD bytes are
 * errors: nothing is dropped or cut short silently. A field csv_field()
 * guarded against formulas comes back without its guard quote. */
int csv_next(struct csv_reader *r, char ***fields, size_t *nfields, size_t *line, char *err,
             size_t errlen) WXS_MUSTCHECK;

/* Append the text s as one field to out: quoted when it holds a separator
 * (, or ;), a quote, a tab or a line break, and guarded against formula
 * injection when it would start a formula. Every text that comes from
 * outside (names, promoters, scenes, replies, tags, WeChat's tickets) goes
 * through here; numbers the program computes go through csv_number(). */
int csv_field(struct buf *out, const char *s) WXS_MUSTCHECK;

/* Append v as a plain number field: "-3" stays a number a spreadsheet can
 * sum (a bare number is not a formula, so it needs no guard). */
int csv_number(struct buf *out, int64_t v) WXS_MUSTCHECK;
#endif
