/* channel_import: a CSV of channels into the channels table, all rows or
 * none, for `wxscene channel import` and POST /api/channels/import alike
 * (one reader, one set of rules and messages).
 *
 * The file is read by csv.h (UTF-8 with or without BOM, GB18030/GBK as
 * Excel saves it on a Chinese Windows, CRLF, quoted fields, empty rows
 * skipped). A first record whose first two cells name columns (English or
 * Chinese, channel_column()) is a header and the columns are taken by
 * name; otherwise the columns are scene,name,promoter,reply,scan_reply[,tag].
 * Every row is checked by channel.h's rules, scenes must be unique in the
 * file, and nothing is written unless every row is good. Each refusal
 * names its row (the file's line, the header being line 1), its column and
 * a stable code. */
#ifndef WXS_CHANNEL_IMPORT_H
#define WXS_CHANNEL_IMPORT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "store.h"
#include "util.h"

/* Refusals listed at most (the count goes on). */
#define CHANNEL_IMPORT_MAX_ERRORS 100

struct channel_import_error {
    size_t row;         /* the line in the file; 0 = the file as a whole */
    const char *column; /* "scene", "name", ... (static), NULL = the row */
    char code[48];      /* stable key: a channel_why code, "csv_columns", ... */
    char message[512];  /* English, without the file and line */
};

struct channel_import;

/* An import whose errors are listed up to max_errors (0 = the default).
 * Caller frees with channel_import_free(). */
int channel_import_new(struct channel_import **out, size_t max_errors) WXS_MUSTCHECK;
void channel_import_free(struct channel_import *ci);

/* Read and check the whole file (fp is not closed). 0 = every row good;
 * -1 = refused (see the errors). */
int channel_import_read(struct channel_import *ci, FILE *fp) WXS_MUSTCHECK;

/* Write the rows in one transaction of st: 0, or -1 with nothing written
 * (a scene already taken is an error of its row, code "scene_exists";
 * other failures an error of row 0, code "internal"). */
int channel_import_write(struct channel_import *ci, struct store *st) WXS_MUSTCHECK;

/* The same checks as channel_import_write() (scenes already taken
 * included) in a transaction that is always rolled back: a dry run. 0 or
 * -1 (see the errors). */
int channel_import_check(struct channel_import *ci, struct store *st) WXS_MUSTCHECK;

/* Rows read (good or not, the header aside). */
size_t channel_import_rows(const struct channel_import *ci);
/* "UTF-8", "UTF-8 with BOM" or "GB18030" once read (static). */
const char *channel_import_encoding(const struct channel_import *ci);
/* Refusals found (all of them) and listed (at most max_errors). */
size_t channel_import_error_count(const struct channel_import *ci);
size_t channel_import_errors_listed(const struct channel_import *ci);
const struct channel_import_error *channel_import_error(const struct channel_import *ci, size_t i);
#endif
