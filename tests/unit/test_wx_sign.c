/* wx_sign known answers (protocol notes 9, V1 and V2) and the rejections a
 * forged or malformed signature must meet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wx_sign.h"

#define SHA1_EMPTY "da39a3ee5e6b4b0d3255bfef95601890afd80709"

struct known {
    const char *name;
    const char *parts[4];
    size_t n;
    const char *want;
};

static const struct known knowns[] = {
    {"V1a", {"AAAAA", "1714036504", "1514711492"}, 3, "f464b24fc39322e44b38aa78f5edd27bd1441696"},
    {"V1b", {"AAAAA", "1714037059", "486452656"}, 3, "899cf89e464efb63f54ddac96b0a0a235f53aa78"},
    {"V1c", {"test", "1410685589", "test"}, 3, "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"},
    {"V1d", {"AAAAA", "1715943329", "1590219412"}, 3, "cc0c594499c1634947d5b502f158ee518947db27"},
    {"V1e abc", {"a", "b", "c"}, 3, "a9993e364706816aba3e25717850c26c9cd0d89d"},
    {"V1e cba", {"c", "b", "a"}, 3, "a9993e364706816aba3e25717850c26c9cd0d89d"},
    {"V1e 123/345", {"123", "345"}, 2, "9f537aeb751ec72605f57f94a2f6dc3e3958e1dd"},
    {"V2",
     {"RMNlACHlV5ThzfRlVS4D4", "timestamp", "nonce", "encrypt"},
     4,
     "8edac0945683c119ee71c9f6256d76c48aa08a96"},
    /* byte-wise, not numeric: "10" < "9" */
    {"bytewise digits", {"9", "10"}, 2, "a1422e6a168630cdd214ac5e31ca01ae1bee8d92"},
    /* byte-wise, not case-folded: "B" (0x42) < "a" (0x61) */
    {"bytewise case", {"a", "B"}, 2, "2fd22ce656b849cb086889e5eacd1da49228eb0a"},
};

static void upper(const char *in, char *out)
{
    size_t i = 0;
    for (; in[i]; i++)
        out[i] = (in[i] >= 'a' && in[i] <= 'f') ? (char)(in[i] - 'a' + 'A') : in[i];
    out[i] = '\0';
}

static void test_known_answers(void **state)
{
    (void)state;
    for (size_t i = 0; i < WXS_ARRAY_LEN(knowns); i++) {
        const struct known *k = &knowns[i];
        char got[WX_SIGN_HEX_LEN + 1];
        char up[WX_SIGN_HEX_LEN + 1];
        print_message("case %s\n", k->name);
        assert_int_equal(wx_sign_compute(k->parts, k->n, got), 0);
        assert_string_equal(got, k->want);
        assert_true(wx_sign_verify(k->parts, k->n, k->want));
        upper(k->want, up);
        assert_true(wx_sign_verify(k->parts, k->n, up));
        if (k->n == 3)
            assert_true(wx_sign_check(k->parts[0], k->parts[1], k->parts[2], k->want));
    }
}

/* Every permutation of V2's four parts gives the same signature. */
static void test_order_independent(void **state)
{
    static const size_t perms[][4] = {{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}, {2, 0, 3, 1}};
    const struct known *v2 = &knowns[7];
    (void)state;
    for (size_t i = 0; i < WXS_ARRAY_LEN(perms); i++) {
        const char *p[4];
        char got[WX_SIGN_HEX_LEN + 1];
        for (size_t j = 0; j < 4; j++)
            p[j] = v2->parts[perms[i][j]];
        assert_int_equal(wx_sign_compute(p, 4, got), 0);
        assert_string_equal(got, v2->want);
    }
}

struct reject {
    const char *name;
    const char *parts[4];
    size_t n;
    const char *sig;
};

static const struct reject rejects[] = {
    {"V1c last digit off",
     {"test", "1410685589", "test"},
     3,
     "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe"},
    {"V1a other nonce",
     {"AAAAA", "1714036504", "1514711493"},
     3,
     "f464b24fc39322e44b38aa78f5edd27bd1441696"},
    {"V1a token missing",
     {"1714036504", "1514711492"},
     2,
     "f464b24fc39322e44b38aa78f5edd27bd1441696"},
    {"39 chars", {"test", "1410685589", "test"}, 3, "f21891de399b4e33a1a93c9a7b8a8fffb5a443f"},
    {"41 chars", {"test", "1410685589", "test"}, 3, "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff0"},
    {"trailing space",
     {"test", "1410685589", "test"},
     3,
     "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff "},
    {"non-hex g", {"test", "1410685589", "test"}, 3, "g21891de399b4e33a1a93c9a7b8a8fffb5a443ff"},
    {"non-hex prefix",
     {"test", "1410685589", "test"},
     3,
     "0xf1891de399b4e33a1a93c9a7b8a8fffb5a443f"},
    {"empty signature", {"test", "1410685589", "test"}, 3, ""},
    {"NULL signature", {"test", "1410685589", "test"}, 3, NULL},
    {"empty token", {"", "1410685589", "test"}, 3, SHA1_EMPTY},
    {"empty parts", {"", "", ""}, 3, SHA1_EMPTY},
    {"NULL part", {"test", NULL, "test"}, 3, "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"},
    {"no parts", {"test"}, 0, "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"},
};

static void test_rejects(void **state)
{
    (void)state;
    for (size_t i = 0; i < WXS_ARRAY_LEN(rejects); i++) {
        const struct reject *r = &rejects[i];
        print_message("case %s\n", r->name);
        assert_false(wx_sign_verify(r->parts, r->n, r->sig));
        if (r->n == 3)
            assert_false(wx_sign_check(r->parts[0], r->parts[1], r->parts[2], r->sig));
    }
}

static void test_bad_arguments(void **state)
{
    const char *nine[9] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
    const char *with_null[2] = {"a", NULL};
    char out[WX_SIGN_HEX_LEN + 1];
    (void)state;
    assert_int_equal(wx_sign_compute(NULL, 1, out), -1);
    assert_int_equal(wx_sign_compute(nine, 0, out), -1);
    assert_int_equal(wx_sign_compute(nine, 9, out), -1);
    assert_int_equal(wx_sign_compute(with_null, 2, out), -1);
    assert_int_equal(wx_sign_compute(nine, 1, NULL), -1);
    assert_false(wx_sign_verify(NULL, 1, SHA1_EMPTY));
    assert_false(wx_sign_verify(nine, 9, SHA1_EMPTY));
    assert_false(wx_sign_check(NULL, "1", "2", SHA1_EMPTY));
    /* Eight parts is the documented maximum; an empty part still hashes. */
    assert_int_equal(wx_sign_compute(nine, 8, out), 0);
    assert_true(wx_sign_verify(nine, 8, out));
    const char *empty[1] = {""};
    assert_int_equal(wx_sign_compute(empty, 1, out), 0);
    assert_string_equal(out, SHA1_EMPTY);
}

/* msg_signature covers the whole Encrypt text, which can be as large as the
 * request body; hashing must not depend on a fixed-size buffer. */
static void test_large_part(void **state)
{
    static char big[200001];
    char a[WX_SIGN_HEX_LEN + 1];
    char b[WX_SIGN_HEX_LEN + 1];
    (void)state;
    memset(big, 'Q', sizeof(big) - 1);
    const char *p1[] = {"tok", "1", "2", big};
    const char *p2[] = {big, "2", "tok", "1"};
    assert_int_equal(wx_sign_compute(p1, 4, a), 0);
    assert_int_equal(wx_sign_compute(p2, 4, b), 0);
    assert_string_equal(a, b);
    assert_true(wx_sign_verify(p1, 4, a));
    big[100000] = 'R';
    assert_false(wx_sign_verify(p1, 4, a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answers), cmocka_unit_test(test_order_independent),
        cmocka_unit_test(test_rejects),       cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_large_part),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
