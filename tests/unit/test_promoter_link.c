/* promoter_link: the token's form (43 base64url characters from 32
 * random bytes, a new one each time) and its hash (lowercase hex
 * SHA-256, checked against known values). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "promoter_link.h"
#include "util.h"

static void test_hash_known_values(void **state)
{
    static const struct {
        const char *in, *hex;
    } cases[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    };
    char h[PROMOTER_LINK_HASH_LEN + 1];
    (void)state;
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++) {
        promoter_link_hash(cases[i].in, h);
        assert_string_equal(h, cases[i].hex);
    }
}

static void test_token_form(void **state)
{
    char t1[PROMOTER_LINK_TOKEN_LEN + 1], h1[PROMOTER_LINK_HASH_LEN + 1];
    char t2[PROMOTER_LINK_TOKEN_LEN + 1], h2[PROMOTER_LINK_HASH_LEN + 1], again[65];
    (void)state;
    assert_int_equal(promoter_link_token(t1, h1), 0);
    assert_int_equal(promoter_link_token(t2, h2), 0);
    assert_int_equal(strlen(t1), 43);
    assert_int_equal(strspn(t1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     43);
    /* 32 bytes = 256 bits: the last character carries 4 bits, so its low
     * 2 bits are zero (one of A, E, I, ..., w, 0, 4, 8) */
    assert_non_null(strchr("AEIMQUYcgkosw048", t1[42]));
    assert_string_not_equal(t1, t2);
    assert_string_not_equal(h1, h2);
    promoter_link_hash(t1, again);
    assert_string_equal(again, h1);
    assert_int_equal(strlen(h1), 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_known_values),
        cmocka_unit_test(test_token_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
