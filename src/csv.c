#include "csv.h"

#include <assert.h>
#include <errno.h>
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
    free(r);
}

static int next_byte(struct csv_reader *r)
{
    return r->nback ? r->back[--r->nback] : getc(r->f);
}

static void unread(struct csv_reader *r, int c)
{
    assert(r->nback < WXS_ARRAY_LEN(r->back));
    if (c != EOF)
        r->back[r->nback++] = c;
}

/* A UTF-8 BOM (Excel's "CSV UTF-8") is skipped; a UTF-16 one (Excel's
 * "Unicode Text") is refused by name rather than as a NUL byte later. */
static int read_start(struct csv_reader *r, char *err, size_t errlen)
{
    int c1 = next_byte(r), c2 = c1 == EOF ? EOF : next_byte(r);
    int c3 = c1 == 0xEF && c2 == 0xBB ? next_byte(r) : EOF;
    if (c3 == 0xBF)
        return 0;
    if ((c1 == 0xFF && c2 == 0xFE) || (c1 == 0xFE && c2 == 0xFF)) {
        snprintf(err, errlen,
                 "the file is UTF-16 (Excel's \"Unicode Text\"): save it as "
                 "\"CSV UTF-8\"");
        return -1;
    }
    unread(r, c3);
    unread(r, c2);
    unread(r, c1);
    return 0;
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
    if (ferror(r->f))
        return fail_at(line, r->line, err, errlen, "read error: %s", strerror(errno));
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

int csv_next(struct csv_reader *r, char ***fields, size_t *nfields, size_t *line, char *err,
             size_t errlen)
{
    size_t n;
    if (!r->started) {
        r->started = true;
        *line = 1;
        if (read_start(r, err, errlen) < 0)
            return -1;
    }
    buf_reset(&r->rec);
    int rc = csv_scan(r, &n, line, err, errlen);
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
