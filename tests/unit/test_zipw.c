/* zipw: CRC-32 check values, names refused, and archives that python3's
 * zipfile (which checks every CRC) and Info-ZIP's `unzip -t` read back
 * entry for entry (table-driven). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"
#include "zipw.h"

static void test_crc32(void **state)
{
    static const struct {
        const char *in;
        uint32_t crc;
    } cases[] = {
        {"", 0},
        {"123456789", 0xcbf43926u}, /* the standard check value */
        {"The quick brown fox jumps over the lazy dog", 0x414fa339u},
    };
    (void)state;
    for (size_t i = 0; i < WXS_ARRAY_LEN(cases); i++)
        assert_int_equal(zipw_crc32(0, cases[i].in, strlen(cases[i].in)), cases[i].crc);
    /* in pieces = at once */
    assert_int_equal(zipw_crc32(zipw_crc32(0, "12345", 5), "6789", 4), 0xcbf43926u);
}

static void test_bad_names(void **state)
{
    static const char *const bad[] = {"", "/etc/passwd", "../x", "a/../../x", "a\\b", ".."};
    struct buf out = {0};
    struct zipw *z;
    (void)state;
    assert_int_equal(zipw_new(&z, &out), 0);
    for (size_t i = 0; i < WXS_ARRAY_LEN(bad); i++)
        assert_int_equal(zipw_add(z, bad[i], "x", 1, 0, 0), -1);
    assert_int_equal(zipw_add(z, "..a/ok..png", "x", 1, 0, 0), 0);
    zipw_free(z);
    buf_free(&out);
}

/* Write entries, then let python3 and unzip read the file. */
static void test_readers_agree(void **state)
{
    static const struct {
        const char *name;
        size_t len;
    } entries[] = {
        {"index.csv", 40},
        {"门店-1.png", 3000},
        {"empty.txt", 0},
        {"shop_01.png", 70000},
    };
    struct buf out = {0};
    struct zipw *z;
    char path[] = "/tmp/test_zipw_XXXXXX", cmd[4096];
    (void)state;
    assert_int_equal(zipw_new(&z, &out), 0);
    for (size_t i = 0; i < WXS_ARRAY_LEN(entries); i++) {
        unsigned char *data = malloc(entries[i].len + 1);
        assert_non_null(data);
        for (size_t k = 0; k < entries[i].len; k++)
            data[k] = (unsigned char)(k * 7 + i);
        assert_int_equal(zipw_add(z, entries[i].name, data, entries[i].len,
                                  1765000000 /* 2025-12-06 */, 8 * 3600),
                         0);
        free(data);
    }
    assert_int_equal(zipw_finish(z), 0);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, out.data, out.len), (ssize_t)out.len);
    close(fd);
    /* every name, size and byte as written; testzip() checks the CRCs */
    snprintf(cmd, sizeof(cmd),
             "python3 -c \"import sys, zipfile\n"
             "z = zipfile.ZipFile(sys.argv[1])\n"
             "assert z.testzip() is None\n"
             "want = [('index.csv', 40, 0), ('门店-1.png', 3000, 1), ('empty.txt', 0, 2), "
             "('shop_01.png', 70000, 3)]\n"
             "got = [(i.filename, i.file_size) for i in z.infolist()]\n"
             "assert got == [(n, s) for n, s, _ in want], got\n"
             "for n, s, i in want:\n"
             "    assert z.read(n) == bytes((k * 7 + i) & 255 for k in range(s)), n\n"
             "assert z.infolist()[0].date_time == (2025, 12, 6, 13, 46, 40), "
             "z.infolist()[0].date_time\n"
             "\" %s",
             path);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "unzip -tq %s >/dev/null", path);
    assert_int_equal(system(cmd), 0);
    unlink(path);
    zipw_free(z);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_readers_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
