#include "csv.h"

#include <stdlib.h>
#include <string.h>

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
    size_t line;    /* lines consumed so far */
    struct buf rec; /* the record's unescaped bytes, fields NUL-separated */
    size_t starts[CSV_MAX_FIELDS];
    char *fields[CSV_MAX_FIELDS];
    bool first;
};

int csv_open(struct csv_reader **out, FILE *f)
{
    struct csv_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return -1;
    r->f = f;
    r->first = true;
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

static void skip_bom(struct csv_reader *r)
{
    int c1 = getc(r->f);
    if (c1 == 0xEF) {
        int c2 = getc(r->f), c3 = getc(r->f);
        if (c2 == 0xBB && c3 == 0xBF)
            return;
        /* not a BOM: cannot push back 3 bytes portably; treat as data */
        if (c3 != EOF)
            ungetc(c3, r->f);
        if (c2 != EOF)
            ungetc(c2, r->f);
    }
    if (c1 != EOF)
        ungetc(c1, r->f);
}

/* A small state machine over bytes: fields end at ',' outside quotes,
 * records at a newline outside quotes. */
static int csv_scan(struct csv_reader *r, size_t *n, char *err, size_t errlen)
{
    enum { FIELD_START, UNQUOTED, QUOTED, QUOTE_IN_QUOTED } state = FIELD_START;
    int c;
    bool any = false;
    *n = 0;
    r->starts[(*n)++] = 0;
    while ((c = getc(r->f)) != EOF) {
        any = true;
        if (r->rec.len >= CSV_MAX_RECORD)
            return snprintf(err, errlen, "record longer than %d bytes", CSV_MAX_RECORD), -1;
        if (c == '\n')
            r->line++;
        if (state == QUOTED) {
            if (c == '"')
                state = QUOTE_IN_QUOTED;
            else if (buf_append(&r->rec, &(char){(char)c}, 1) < 0)
                return -1;
            continue;
        }
        if (c == '"' && state == FIELD_START) {
            state = QUOTED;
            continue;
        }
        if (c == '"' && state == QUOTE_IN_QUOTED) {
            if (buf_append(&r->rec, "\"", 1) < 0)
                return -1;
            state = QUOTED;
            continue;
        }
        if (c == '"')
            return snprintf(err, errlen, "stray quote inside an unquoted field"), -1;
        if (c == '\r')
            continue;
        if (c == ',' || c == '\n') {
            if (buf_append(&r->rec, "", 1) < 0)
                return -1;
            if (c == '\n')
                return 1;
            if (*n == CSV_MAX_FIELDS)
                return snprintf(err, errlen, "more than %d fields", CSV_MAX_FIELDS), -1;
            r->starts[(*n)++] = r->rec.len;
            state = FIELD_START;
            continue;
        }
        if (state == QUOTE_IN_QUOTED)
            return snprintf(err, errlen, "text after a closing quote"), -1;
        state = UNQUOTED;
        if (buf_append(&r->rec, &(char){(char)c}, 1) < 0)
            return -1;
    }
    if (state == QUOTED)
        return snprintf(err, errlen, "unterminated quoted field"), -1;
    if (!any)
        return 0;
    return buf_append(&r->rec, "", 1) < 0 ? -1 : 1;
}

int csv_next(struct csv_reader *r, char ***fields, size_t *nfields, size_t *line, char *err,
             size_t errlen)
{
    if (r->first) {
        skip_bom(r);
        r->first = false;
    }
    for (;;) {
        size_t n;
        buf_reset(&r->rec);
        *line = r->line + 1;
        int rc = csv_scan(r, &n, err, errlen);
        if (rc <= 0)
            return rc;
        if (n == 1 && r->rec.data[0] == '\0')
            continue; /* blank line */
        for (size_t i = 0; i < n; i++) {
            r->fields[i] = r->rec.data + r->starts[i];
            if (r->fields[i][0] == '\'' && formula_guarded(r->fields[i]))
                r->fields[i]++; /* csv_field's guard quote */
        }
        *fields = r->fields;
        *nfields = n;
        return 1;
    }
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
