/* log: every message is escaped before it reaches stderr (control bytes,
 * DEL, C1 controls and invalid UTF-8 as \xNN; valid UTF-8 kept), through
 * all three entry points, and a line never grows past 2 KiB. The lines are
 * read back from a temporary file put in place of stderr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

#define LINE_MAX_BYTES 2048

struct capture {
    FILE *f;
    int saved;
};

static void capture_start(struct capture *c)
{
    fflush(stderr);
    c->f = tmpfile();
    assert_non_null(c->f);
    c->saved = dup(2);
    assert_true(c->saved >= 0);
    assert_true(dup2(fileno(c->f), 2) == 2);
}

/* Everything written since capture_start(); the caller frees it. */
static char *capture_end(struct capture *c, size_t *len)
{
    fflush(stderr);
    assert_true(dup2(c->saved, 2) == 2);
    close(c->saved);
    long n = ftell(c->f);
    assert_true(n >= 0);
    char *out = calloc(1, (size_t)n + 1);
    assert_non_null(out);
    rewind(c->f);
    assert_int_equal(fread(out, 1, (size_t)n, c->f), (size_t)n);
    fclose(c->f);
    *len = (size_t)n;
    return out;
}

/* The message part of the single line in out ("STAMP LEVEL msg\n"). */
static const char *message_of(const char *out, size_t len, const char *level)
{
    assert_true(len > 0);
    assert_int_equal(out[len - 1], '\n');
    assert_null(memchr(out, '\n', len - 1));
    const char *m = strstr(out, level);
    assert_non_null(m);
    return m + strlen(level);
}

enum entry { VIA_MSG, VIA_BATCH, VIA_BATCHN };

/* Log msg[0..n) through one entry point; returns what was written. */
static char *log_via(enum entry e, const char *msg, size_t n, size_t *len)
{
    struct capture c;
    struct log_batch b = {0};
    capture_start(&c);
    if (e == VIA_MSG)
        log_msg(LOG_WARN, "%.*s", (int)n, msg);
    else if (e == VIA_BATCH)
        log_batch_add(&b, LOG_WARN, "%.*s", (int)n, msg);
    else
        log_batch_addn(&b, LOG_WARN, msg, n);
    log_batch_free(&b);
    return capture_end(&c, len);
}

static const struct {
    const char *in, *want;
} cases[] = {
    {"GET /wx 200 0.123ms push", "GET /wx 200 0.123ms push"},
    {"bad CreateTime '1\n2026-01-01T00:00:00Z INFO forged'",
     "bad CreateTime '1\\x0a2026-01-01T00:00:00Z INFO forged'"},
    {"GET /a\x1b[2J\r2026 INFO fake", "GET /a\\x1b[2J\\x0d2026 INFO fake"},
    {"tab\there", "tab\\x09here"},
    {"del\x7f", "del\\x7f"},
    {"\x01", "\\x01"},
    {"渠道 42 欢迎关注", "渠道 42 欢迎关注"},
    {"emoji \xf0\x9f\x98\x80 ok", "emoji \xf0\x9f\x98\x80 ok"},
    {"latin \xc3\xa9", "latin \xc3\xa9"},
    {"nbsp \xc2\xa0", "nbsp \xc2\xa0"},
    {"csi \xc2\x9b"
     "2J",
     "csi \\xc2\\x9b2J"},
    {"bad \xff\xfe", "bad \\xff\\xfe"},
    {"overlong \xc0\xaf", "overlong \\xc0\\xaf"},
    {"surrogate \xed\xa0\x80", "surrogate \\xed\\xa0\\x80"},
    {"cut \xe4\xb8", "cut \\xe4\\xb8"},
    {"cut \xe4\xb8 mid", "cut \\xe4\\xb8 mid"},
    {"too big \xf4\x90\x80\x80", "too big \\xf4\\x90\\x80\\x80"},
    {"back\\slash", "back\\slash"},
};

static void test_table(void **state)
{
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        for (enum entry e = VIA_MSG; e <= VIA_BATCHN; e++) {
            size_t len;
            char *out = log_via(e, cases[i].in, strlen(cases[i].in), &len);
            const char *m = message_of(out, len, "WARN ");
            if (strlen(m) != strlen(cases[i].want) + 1 ||
                strncmp(m, cases[i].want, strlen(cases[i].want)) != 0)
                fail_msg("case %zu via %d: got '%s', want '%s'", i, (int)e, m, cases[i].want);
            free(out);
        }
    }
}

/* Every byte value at every offset of a word: the eight-byte scan must
 * agree with the byte rule (a lone byte >= 0x80 is invalid UTF-8). */
static void test_every_byte_every_offset(void **state)
{
    for (unsigned b = 0; b < 256; b++) {
        for (size_t at = 0; at < 20; at++) {
            char in[24], want[32];
            memset(in, 'a', sizeof(in));
            in[at] = (char)b;
            bool escaped = b < 0x20 || b >= 0x7f;
            memcpy(want, in, at);
            size_t w = at;
            if (escaped)
                w += (size_t)snprintf(want + w, sizeof(want) - w, "\\x%02x", b);
            else
                want[w++] = (char)b;
            memcpy(want + w, in + at + 1, sizeof(in) - at - 1);
            w += sizeof(in) - at - 1;
            size_t len;
            char *out = log_via(VIA_BATCHN, in, sizeof(in), &len);
            const char *m = message_of(out, len, "WARN ");
            if ((size_t)(out + len - 1 - m) != w || memcmp(m, want, w) != 0)
                fail_msg("byte 0x%02x at %zu: got '%.*s'", b, at, (int)(out + len - 1 - m), m);
            free(out);
        }
    }
}

/* A message of nothing but newlines (the worst expansion) or of Chinese
 * stays one line of at most 2 KiB, cut between whole escapes/characters. */
static void test_long_lines_are_cut_whole(void **state)
{
    static const char *const fills[] = {"\n", "\xe4\xb8\xad", "a", "\xff"};
    for (size_t f = 0; f < WXS_ARRAY_LEN(fills); f++) {
        char msg[6000];
        size_t fl = strlen(fills[f]), n = 0;
        while (n + fl <= sizeof(msg)) {
            memcpy(msg + n, fills[f], fl);
            n += fl;
        }
        for (enum entry e = VIA_MSG; e <= VIA_BATCHN; e++) {
            size_t len;
            char *out = log_via(e, msg, n, &len);
            const char *m = message_of(out, len, "WARN ");
            size_t ml = (size_t)(out + len - 1 - m);
            assert_true(len <= LINE_MAX_BYTES);
            assert_true(len > LINE_MAX_BYTES - 8); /* filled, not dropped */
            if (fl == 1 && (fills[f][0] == '\n' || fills[f][0] == '\xff'))
                assert_int_equal(ml % 4, 0);
            else
                assert_int_equal(ml % fl, 0);
            free(out);
        }
    }
}

/* Batched lines are escaped one by one and stay whole and in order. */
static void test_batch_keeps_lines_apart(void **state)
{
    struct capture c;
    struct log_batch b = {0};
    capture_start(&c);
    log_batch_addn(&b, LOG_INFO, "one\r\ntwo", 8);
    log_batch_add(&b, LOG_INFO, "%s", "three\n");
    log_batch_flush(&b);
    log_batch_free(&b);
    size_t len;
    char *out = capture_end(&c, &len);
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    assert_non_null(strstr(out, "INFO one\\x0d\\x0atwo\n"));
    assert_non_null(strstr(nl + 1, "INFO three\\x0a\n"));
    assert_int_equal(out[len - 1], '\n');
    assert_ptr_equal(strchr(nl + 1, '\n'), out + len - 1);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_every_byte_every_offset),
        cmocka_unit_test(test_long_lines_are_cut_whole),
        cmocka_unit_test(test_batch_keeps_lines_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
