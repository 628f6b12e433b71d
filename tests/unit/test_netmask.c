/* netmask: [server] trusted_proxies' parser and matcher, table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "netmask.h"

static void test_parse(void **state)
{
    static const struct {
        const char *s;
        int rc;
    } cases[] = {
        {"", 0},
        {"127.0.0.1 ::1", 0},
        {"10.0.0.0/8, 192.168.1.0/24,fd00::/8", 0},
        {"  127.0.0.1\t", 0},
        {"0.0.0.0/0", 0},
        {"10.0.0.0/33", -1},
        {"::/129", -1},
        {"10.0.0.0/", -1},
        {"10.0.0.0/-1", -1},
        {"localhost", -1},
        {"1.2.3", -1},
        {"127.0.0.1 nope", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct netmask_list *l = NULL;
        char why[128];
        assert_int_equal(netmask_list_parse(cases[i].s, &l, why, sizeof(why)), cases[i].rc);
        netmask_list_free(l);
    }
    (void)state;
}

static void test_match(void **state)
{
    static const struct {
        const char *list, *addr;
        bool match;
    } cases[] = {
        {"127.0.0.1 ::1", "127.0.0.1", true},
        {"127.0.0.1 ::1", "::1", true},
        {"127.0.0.1 ::1", "127.0.0.2", false},
        {"127.0.0.1", "::ffff:127.0.0.1", true}, /* v4-mapped is v4 */
        {"10.0.0.0/8", "10.255.1.2", true},
        {"10.0.0.0/8", "11.0.0.1", false},
        {"192.168.1.128/25", "192.168.1.200", true},
        {"192.168.1.128/25", "192.168.1.100", false},
        {"fd00::/8", "fdab::1", true},
        {"fd00::/8", "fe80::1", false},
        {"0.0.0.0/0", "203.0.113.9", true},
        {"0.0.0.0/0", "2001:db8::1", false},
        {"", "127.0.0.1", false},
        {"127.0.0.1", "127.0.0.1 ", false},
        {"127.0.0.1", "", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct netmask_list *l = NULL;
        char why[128];
        assert_int_equal(netmask_list_parse(cases[i].list, &l, why, sizeof(why)), 0);
        assert_int_equal(netmask_list_match(l, cases[i].addr), cases[i].match);
        netmask_list_free(l);
    }
    (void)state;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
