/* util and cfg helpers: table-driven (csv has test_csv.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"
#include "util.h"

static void test_parse_u64(void **state)
{
    static const struct {
        const char *s;
        uint64_t min, max;
        int rc;
        uint64_t v;
    } cases[] = {
        {"0", 0, 10, 0, 0},
        {"10", 0, 10, 0, 10},
        {"11", 0, 10, -1, 0},
        {"", 0, 10, -1, 0},
        {" 1", 0, 10, -1, 0},
        {"1 ", 0, 10, -1, 0},
        {"-1", 0, 10, -1, 0},
        {"+1", 0, 10, -1, 0},
        {"1x", 0, 10, -1, 0},
        {"18446744073709551616", 0, UINT64_MAX, -1, 0},
        {"4294967295", 1, 4294967295u, 0, 4294967295u},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 0;
        assert_int_equal(util_parse_u64(cases[i].s, cases[i].min, cases[i].max, &v), cases[i].rc);
        if (cases[i].rc == 0)
            assert_int_equal(v, cases[i].v);
    }
}

/* util_put*: what snprintf would write, cut at the end given. */
static void test_put(void **state)
{
    (void)state;
    static const int64_t v[] = {0, 7, -7, 1700000000, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char want[32], got[32];
        snprintf(want, sizeof(want), "x%lldy", (long long)v[i]);
        char *p = util_put_i64(util_puts(got, got + sizeof(got), "x"), got + sizeof(got), v[i]);
        p = util_puts(p, got + sizeof(got), "y");
        *p = '\0';
        assert_string_equal(got, want);
    }
    char small[6];
    char *end = small + sizeof(small) - 1;
    char *p = util_put_i64(util_puts(small, end, "ab"), end, -12345);
    assert_ptr_equal(p, end);
    *p = '\0';
    assert_string_equal(small, "ab-12"); /* as snprintf cuts "ab-12345" into 6 bytes */
    p = util_puts(p, end, "more");
    assert_ptr_equal(p, end);
}

/* util_random: small requests come from a per-thread pool; bytes are never
 * handed out twice, and a forked child does not get its parent's next
 * bytes (it starts with an empty pool). */
static void test_random_pool(void **state)
{
    (void)state;
    unsigned char seen[100][16], zero[16] = {0};
    for (int i = 0; i < 100; i++) {
        assert_int_equal(util_random(seen[i], 16), 0);
        assert_memory_not_equal(seen[i], zero, 16);
        for (int k = 0; k < i; k++)
            assert_memory_not_equal(seen[i], seen[k], 16);
    }
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsigned char c[16];
        int ok = util_random(c, sizeof(c)) == 0 && write(fd[1], c, sizeof(c)) == sizeof(c);
        _exit(ok ? 0 : 1);
    }
    unsigned char mine[16], child[16];
    assert_int_equal(util_random(mine, sizeof(mine)), 0);
    assert_int_equal(read(fd[0], child, sizeof(child)), (ssize_t)sizeof(child));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_memory_not_equal(mine, child, 16);
    close(fd[0]);
    close(fd[1]);
}

static void test_utf8(void **state)
{
    assert_true(util_utf8_valid("abc", 3));
    assert_true(util_utf8_valid("\xe4\xbd\xa0", 3));
    assert_false(util_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(util_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(util_utf8_valid("\xe4\xbd", 2));         /* truncated */
    assert_false(util_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
}

static void test_secure_eq_and_random(void **state)
{
    assert_true(util_secure_eq("abc", 3, "abc", 3));
    assert_false(util_secure_eq("abc", 3, "abd", 3));
    assert_false(util_secure_eq("abc", 3, "ab", 2));
    char a[33], b[33];
    assert_int_equal(util_random_alnum(a, 32), 0);
    assert_int_equal(util_random_alnum(b, 32), 0);
    assert_int_equal(strlen(a), 32);
    assert_string_not_equal(a, b);
}

static void test_hostport(void **state)
{
    char host[64];
    uint16_t port;
    assert_int_equal(cfg_split_hostport("127.0.0.1:8080", host, sizeof(host), &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(cfg_split_hostport("[::1]:81", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(cfg_split_hostport("localhost", host, sizeof(host), &port), -1);
    assert_int_equal(cfg_split_hostport("h:0", host, sizeof(host), &port), -1);
    assert_int_equal(cfg_split_hostport("h:65536", host, sizeof(host), &port), -1);
    assert_int_equal(cfg_split_hostport(":80", host, sizeof(host), &port), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_put),
        cmocka_unit_test(test_random_pool),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_secure_eq_and_random),
        cmocka_unit_test(test_hostport),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
