/* libFuzzer target for src/csv.c, the reader behind channel import and
 * qr batch and the writer behind every CSV the project writes.
 *
 * The input is read twice:
 *   - as a CSV file: csv_next must never crash, read out of bounds or leak;
 *     every record has 1..CSV_MAX_FIELDS fields, starts on a line no earlier
 *     than the one before, holds no CR (line ends become LF) and no more
 *     bytes than twice the input (GB18030 read as UTF-8); an error names a line inside the input;
 *   - as texts (split at NUL bytes, up to CSV_MAX_FIELDS - 1 of them) that
 *     csv_field writes as one record, plus a csv_number field, twice after
 *     a header line (as every file the project writes has one, so a text
 *     starting with a BOM is not at the start of the file): no cell starts
 *     a formula (= + - @ tab CR after its opening quote and spaces), the
 *     reader gives back every text (line ends as one LF each) and the
 *     number, and each record starts on the line after the line ends the
 *     ones before it hold.
 * Build: fuzz/run.sh (CMake target fuzz_csv in build-fuzz/).
 * Seeds: fuzz/corpus/csv/. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "util.h"

#define FUZZ_MAX_INPUT (16 * 1024)

static void check(bool ok)
{
    if (!ok)
        abort();
}

/* The line ends in s: LF, CRLF and a lone CR each count once. */
static size_t line_ends(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == '\n' ? !(i && s[i - 1] == '\r') : s[i] == '\r';
    return k;
}

static void read_file(const uint8_t *data, size_t size)
{
    FILE *f = fmemopen((void *)data, size, "r");
    struct csv_reader *r;
    char **fl, err[256];
    size_t n, line, last = 1, lines = line_ends((const char *)data, size) + 1;
    int rc;
    if (!f)
        return;
    if (csv_open(&r, f) < 0) {
        fclose(f);
        return;
    }
    while ((rc = csv_next(r, &fl, &n, &line, err, sizeof(err))) == 1) {
        size_t bytes = 0;
        check(n >= 1 && n <= CSV_MAX_FIELDS && line >= last && line <= lines);
        for (size_t i = 0; i < n; i++) {
            check(!strchr(fl[i], '\r'));
            bytes += strlen(fl[i]);
        }
        check(bytes <= 2 * size); /* GB18030 -> UTF-8: at most 2x */
        last = line;
    }
    check(rc == 0 || (rc == -1 && line >= 1 && line <= lines && err[0]));
    csv_close(r);
    fclose(f);
}

/* A text as the reader gives it back: every line end one LF. */
static void normalise(const char *s, struct buf *out)
{
    for (; *s; s++)
        if (*s != '\r' || s[1] != '\n')
            check(buf_append(out, *s == '\r' ? "\n" : s, 1) == 0);
}

/* No cell of the record in b starts a formula. Cells are found by reading
 * the record back, so this checks what a spreadsheet would see. */
static void check_cell_start(const char *cell)
{
    cell += *cell == '"';
    cell += strspn(cell, " ");
    check(!*cell || !strchr("=+-@\t\r", *cell));
}

static size_t write_record(struct buf *b, char **texts, size_t k, int64_t number)
{
    size_t start = b->len;
    for (size_t i = 0; i < k; i++) {
        size_t at = b->len;
        check(csv_field(b, texts[i]) == 0 && buf_puts(b, ",") == 0);
        check_cell_start(b->data + at);
    }
    check(csv_number(b, number) == 0 && buf_puts(b, "\r\n") == 0);
    return line_ends(b->data + start, b->len - start);
}

static void read_back(const struct buf *b, char **texts, size_t k, int64_t number,
                      size_t first_lines)
{
    FILE *f = fmemopen(b->data, b->len, "r");
    struct csv_reader *r;
    char **fl, err[256], want[32];
    size_t n, line;
    check(f && csv_open(&r, f) == 0);
    snprintf(want, sizeof(want), "%lld", (long long)number);
    check(csv_next(r, &fl, &n, &line, err, sizeof(err)) == 1);
    check(n == 1 && line == 1 && strcmp(fl[0], "header") == 0);
    for (int rec = 0; rec < 2; rec++) {
        check(csv_next(r, &fl, &n, &line, err, sizeof(err)) == 1);
        check(n == k + 1 && line == (rec ? first_lines + 2 : 2));
        for (size_t i = 0; i < k; i++) {
            struct buf norm = {0};
            normalise(texts[i], &norm);
            check(strcmp(fl[i], norm.data ? norm.data : "") == 0);
            buf_free(&norm);
        }
        check(strcmp(fl[k], want) == 0);
    }
    check(csv_next(r, &fl, &n, &line, err, sizeof(err)) == 0);
    csv_close(r);
    fclose(f);
}

static void round_trip(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), *texts[CSV_MAX_FIELDS - 1];
    struct buf b = {0};
    size_t k = 0;
    if (!s)
        return;
    memcpy(s, data, size);
    s[size] = '\0';
    texts[k++] = s;
    for (size_t i = 0; i < size && k < WXS_ARRAY_LEN(texts); i++)
        if (s[i] == '\0')
            texts[k++] = s + i + 1;
    /* Everything the project writes is UTF-8 (text from outside is read
     * through the reader, which converts GB18030); other bytes would be
     * read back as GB18030 or refused. */
    for (size_t i = 0; i < k; i++)
        if (!util_utf8_valid(texts[i], strlen(texts[i]))) {
            free(s);
            return;
        }
    int64_t number = (int64_t)data[0] - 128;
    check(buf_puts(&b, "header\r\n") == 0);
    size_t first_lines = write_record(&b, texts, k, number);
    write_record(&b, texts, k, number);
    read_back(&b, texts, k, number, first_lines);
    buf_free(&b);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > FUZZ_MAX_INPUT)
        return 0;
    read_file(data, size);
    round_trip(data, size);
    return 0;
}
