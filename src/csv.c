#include "csv.h"

#include <assert.h>
#include <errno.h>
#include <iconv.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define CSV_STR_(x) #x
#define CSV_STR(x)  CSV_STR_(x)

/* The first bytes that make Excel, LibreOffice or Google Sheets read a cell
 * as a formula (OWASP: = + - @ tab CR), plus LF: the reader turns a CR
 * inside quotes into LF, and the guard must still be recognised then. */
static const char formula_lead[] = "=+-@\t\r\n";

/* Whether s needs the guard quote: it starts a formula once any spaces
 * (which a spreadsheet may trim) and single quotes in front are skipped.
 * Skipping the quotes makes the guard reversible: "'=x" is written "''=x",
 * so the reader strips exactly one quote from every guarded field and never
 * eats a quote that was data. */
static bool formula_guarded(const char *s)
{
    s += strspn(s, " '");
    return *s != '\0' && strchr(formula_lead, *s) != NULL;
}

struct csv_reader {
    FILE *f;
    char *text; /* the whole file as UTF-8 (csv_load), BOM removed */
    size_t len, pos;
    enum csv_encoding enc;
    size_t line; /* the file line of the next byte, from 1 */
    size_t byte; /* that byte's place in its line, from 1 */
    int back[3]; /* bytes read ahead and given back, the next one last */
    size_t nback;
    struct buf rec; /* the record's unescaped bytes, fields NUL-separated */
    size_t starts[CSV_MAX_FIELDS];
    char *fields[CSV_MAX_FIELDS];
    bool started; /* the start of the file (BOM, UTF-16) was looked at */
};

/* Where the scanner is inside one record. */
struct csv_scan {
    enum { FIELD_START, UNQUOTED, QUOTED, QUOTE_IN_QUOTED } state;
    size_t n;            /* fields begun: the current one is column n */
    size_t line, byte;   /* the current byte */
    size_t qline, qbyte; /* the current field's opening quote */
    bool any;            /* the record has begun (blank lines are skipped) */
};

int csv_open(struct csv_reader **out, FILE *f)
{
    struct csv_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->f = f;
    r->line = 1;
    r->byte = 1;
    *out = r;
    return 0;
}

void csv_close(struct csv_reader *r)
{
    if (!r)
        return;
    buf_free(&r->rec);
    free(r->text);
    free(r);
}

static int next_byte(struct csv_reader *r)
{
    if (r->nback)
        return r->back[--r->nback];
    return r->pos < r->len ? (unsigned char)r->text[r->pos++] : EOF;
}

static void unread(struct csv_reader *r, int c)
{
    assert(r->nback < WXS_ARRAY_LEN(r->back));
    if (c != EOF)
        r->back[r->nback++] = c;
}

/* The whole file into raw (NUL-terminated; a CSV is read whole anyway:
 * channel import keeps every row, and the encoding is the whole file's). */
static int slurp(FILE *f, struct buf *raw, char *err, size_t errlen)
{
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (raw->len + n > CSV_MAX_FILE)
            return snprintf(err, errlen, "the file is larger than %d MiB", CSV_MAX_FILE >> 20), -1;
        if (buf_append(raw, chunk, n) < 0)
            return snprintf(err, errlen, "out of memory"), -1;
    }
    if (ferror(f))
        return snprintf(err, errlen, "read error: %s", strerror(errno)), -1;
    return buf_append(raw, "", 0) < 0 ? (snprintf(err, errlen, "out of memory"), -1) : 0;
}

/* Line, column (field, counting commas outside quotes) and byte in its line
 * of offset at in s, for an error that has no record around it yet. */
static void place_of(const char *s, size_t at, size_t *line, size_t *col, size_t *byte)
{
    bool quoted = false;
    *line = 1, *col = 1, *byte = 1;
    for (size_t i = 0; i < at; i++) {
        char c = s[i];
        bool eol = !quoted && (c == '\n' || (c == '\r' && s[i + 1] != '\n'));
        if (c == '"')
            quoted = !quoted;
        (*byte)++;
        if (c == ',' && !quoted)
            (*col)++;
        if (c == '\n' || (c == '\r' && s[i + 1] != '\n'))
            (*line)++, *byte = 1;
        if (eol)
            *col = 1;
    }
}

/* The length of the longest valid UTF-8 prefix of s[0..n). */
static size_t utf8_prefix(const char *s, size_t n)
{
    size_t i = 0, k;
    while (i < n && (k = util_utf8_seq(s + i, n - i)) > 0)
        i += k;
    return i;
}

/* GB18030 (a superset of GBK and GB2312, what Excel saves as "CSV" on a
 * Chinese Windows) into UTF-8: 0, or -1 with the offset of the first byte
 * that is not GB18030 in *bad. */
static int from_gb18030(const char *in, size_t n, struct buf *out, size_t *bad)
{
    iconv_t cd = iconv_open("UTF-8", "GB18030");
    char *src = (char *)in;
    size_t left = n;
    int rc = 0;
    *bad = 0;
    if (cd == (iconv_t)-1)
        return -1;
    while (rc == 0 && left > 0) {
        char chunk[4096], *dst = chunk;
        size_t room = sizeof(chunk);
        size_t k = iconv(cd, &src, &left, &dst, &room);
        if (buf_append(out, chunk, sizeof(chunk) - room) < 0 || (k == (size_t)-1 && errno != E2BIG))
            rc = -1;
    }
    *bad = (size_t)(src - in);
    iconv_close(cd);
    return rc < 0 || buf_append(out, "", 0) < 0 ? -1 : 0;
}

/* Read the file and settle its encoding: a UTF-8 BOM (Excel's "CSV UTF-8")
 * is skipped; a UTF-16 one (Excel's "Unicode Text") is refused by name
 * rather than as a NUL byte later; valid UTF-8 is UTF-8, anything else is
 * tried as GB18030 and refused, naming the place, when it is neither. */
static int csv_load(struct csv_reader *r, size_t *line, char *err, size_t errlen)
{
    struct buf raw = {0}, conv = {0};
    size_t skip = 0, bad, col, byte;
    int rc = -1;
    *line = 1;
    if (slurp(r->f, &raw, err, errlen) < 0)
        goto done;
    const unsigned char *u = (const unsigned char *)raw.data;
    if (raw.len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF))) {
        snprintf(err, errlen,
                 "the file is UTF-16 (Excel's \"Unicode Text\"): save it as "
                 "\"CSV UTF-8\"");
        goto done;
    }
    if (raw.len >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF)
        skip = 3;
    bad = utf8_prefix(raw.data + skip, raw.len - skip) + skip;
    if (bad == raw.len) {
        r->enc = skip ? CSV_UTF8_BOM : CSV_UTF8;
        r->len = raw.len - skip;
        memmove(raw.data, raw.data + skip, r->len + 1);
        r->text = raw.data, raw.data = NULL;
        rc = 0;
    } else if (!skip && from_gb18030(raw.data, raw.len, &conv, &bad) == 0) {
        r->enc = CSV_GB18030;
        r->len = conv.len;
        r->text = conv.data, conv.data = NULL;
        rc = 0;
    } else {
        place_of(raw.data, bad, line, &col, &byte);
        snprintf(err, errlen, "column %zu (byte %zu): %s (byte 0x%02x): save it as \"CSV UTF-8\"",
                 col, byte,
                 skip ? "not UTF-8 after a UTF-8 BOM" : "neither UTF-8 nor GB18030/GBK text",
                 bad < raw.len ? u[bad] : 0);
    }
done:
    buf_free(&raw);
    buf_free(&conv);
    return rc;
}

bool csv_loaded(const struct csv_reader *r)
{
    return r->text != NULL;
}

const char *csv_encoding(const struct csv_reader *r)
{
    static const char *const names[] = {
        [CSV_UTF8] = "UTF-8", [CSV_UTF8_BOM] = "UTF-8 with BOM", [CSV_GB18030] = "GB18030"};
    return names[r->enc];
}

/* The next byte with its place in the file; a line end (LF, CRLF or a lone
 * CR) comes back as '\n' with *eol set, and moves to the next line. */
static int take_byte(struct csv_reader *r, struct csv_scan *s, bool *eol)
{
    int c = next_byte(r);
    s->line = r->line;
    s->byte = r->byte++;
    *eol = c == '\n' || c == '\r';
    if (c == '\r') {
        int lf = next_byte(r);
        if (lf != '\n')
            unread(r, lf);
    }
    if (*eol) {
        r->line++;
        r->byte = 1;
        c = '\n';
    }
    return c;
}

static int fail_at(size_t *line, size_t at_line, char *err, size_t errlen, const char *fmt, ...)
    WXS_PRINTF(5, 6);
static int fail_at(size_t *line, size_t at_line, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    *line = at_line;
    return -1;
}

static int fail(const struct csv_scan *s, size_t *line, char *err, size_t errlen, const char *why)
{
    return fail_at(line, s->line, err, errlen, "column %zu (byte %zu): %s", s->n, s->byte, why);
}

static int keep(struct csv_reader *r, int c, size_t *line, char *err, size_t errlen)
{
    if (buf_append(&r->rec, &(char){(char)c}, 1) == 0)
        return 0;
    return fail_at(line, r->line, err, errlen, "out of memory");
}

/* One byte of a record: 0 = go on, 1 = the record is complete, -1 = error.
 * Fields end at ',' outside quotes, the record at a line end outside them;
 * inside them a line end is kept as '\n' and "" is one quote. */
static int scan_byte(struct csv_reader *r, struct csv_scan *s, int c, bool eol, size_t *line,
                     char *err, size_t errlen)
{
    switch (s->state) {
    case QUOTED:
        if (c != '"')
            return keep(r, c, line, err, errlen);
        s->state = QUOTE_IN_QUOTED;
        return 0;
    case QUOTE_IN_QUOTED:
        if (c == '"') {
            s->state = QUOTED;
            return keep(r, c, line, err, errlen);
        }
        if (c != ',' && !eol)
            return fail(s, line, err, errlen, "text after a closing quote");
        break;
    case FIELD_START:
        if (c == '"') {
            s->state = QUOTED;
            s->qline = s->line;
            s->qbyte = s->byte;
            return 0;
        }
        /* fall through */
    case UNQUOTED:
        if (c == '"')
            return fail(s, line, err, errlen,
                        "a quote inside a field that does not start with one");
        if (c != ',' && !eol) {
            s->state = UNQUOTED;
            return keep(r, c, line, err, errlen);
        }
        break;
    }
    if (keep(r, '\0', line, err, errlen) < 0)
        return -1;
    if (eol)
        return 1;
    if (s->n == CSV_MAX_FIELDS)
        return fail(s, line, err, errlen, "more than " CSV_STR(CSV_MAX_FIELDS) " fields");
    r->starts[s->n++] = r->rec.len;
    s->state = FIELD_START;
    return 0;
}

/* The end of the file ends the last record, line end or not. */
static int scan_eof(struct csv_reader *r, const struct csv_scan *s, size_t *line, char *err,
                    size_t errlen)
{
    if (s->state == QUOTED)
        return fail_at(line, s->qline, err, errlen,
                       "column %zu (byte %zu): the quoted field is never closed", s->n, s->qbyte);
    if (!s->any)
        return 0;
    return keep(r, '\0', line, err, errlen) < 0 ? -1 : 1;
}

/* One record into r->rec and r->starts: 1, 0 at the end, -1 on error. */
static int csv_scan(struct csv_reader *r, size_t *n, size_t *line, char *err, size_t errlen)
{
    struct csv_scan s = {.state = FIELD_START, .n = 1};
    bool eol;
    int c, rc = 0;
    r->starts[0] = 0;
    while (rc == 0 && (c = take_byte(r, &s, &eol)) != EOF) {
        if (!s.any && eol)
            continue; /* a blank line */
        if (!s.any)
            *line = s.line;
        s.any = true;
        if (c == '\0')
            rc = fail(&s, line, err, errlen, "a NUL byte");
        else if (r->rec.len >= CSV_MAX_RECORD)
            rc = fail(&s, line, err, errlen,
                      "the record is longer than " CSV_STR(CSV_MAX_RECORD) " bytes");
        else
            rc = scan_byte(r, &s, c, eol, line, err, errlen);
    }
    if (rc == 0)
        rc = scan_eof(r, &s, line, err, errlen);
    *n = s.n;
    return rc;
}

/* A record of n fields, all empty: what Excel writes for rows it once
 * formatted (",,,,,"); skipped like an empty line. */
static bool blank_record(const struct buf *rec, size_t n)
{
    return rec->len == n; /* n NUL separators and nothing else */
}

int csv_next(struct csv_reader *r, char ***fields, size_t *nfields, size_t *line, char *err,
             size_t errlen)
{
    size_t n;
    if (!r->started) {
        r->started = true;
        if (csv_load(r, line, err, errlen) < 0)
            return -1;
    }
    int rc;
    do {
        buf_reset(&r->rec);
        rc = csv_scan(r, &n, line, err, errlen);
    } while (rc == 1 && blank_record(&r->rec, n));
    if (rc <= 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        r->fields[i] = r->rec.data + r->starts[i];
        if (r->fields[i][0] == '\'' && formula_guarded(r->fields[i]))
            r->fields[i]++; /* csv_field's guard quote */
    }
    *fields = r->fields;
    *nfields = n;
    return 1;
}

/* Why every text field goes through one function: a caller cannot forget
 * the guard, and a name like =HYPERLINK(...) or +cmd|' /C calc'!A0 that
 * arrived in a push or a CSV never reaches a spreadsheet as a formula.
 * Guarded fields are also quoted (OWASP), and so are fields holding ';' or
 * a tab, which a spreadsheet set to another list separator would split,
 * letting the part after the separator start a cell of its own. */
int csv_field(struct buf *out, const char *s)
{
    bool guard = formula_guarded(s);
    if (!guard && !strpbrk(s, ",;\"\t\r\n"))
        return buf_puts(out, s);
    if (buf_puts(out, guard ? "\"'" : "\"") < 0)
        return -1;
    for (const char *p = s; *p; p++)
        if ((*p == '"' && buf_append(out, "\"", 1) < 0) || buf_append(out, p, 1) < 0)
            return -1;
    return buf_append(out, "\"", 1);
}

int csv_number(struct buf *out, int64_t v)
{
    return buf_printf(out, "%lld", (long long)v);
}
