/* mpool: sizes, reuse, caps, realloc, foreign pointers, threads. Under the
 * ASan build a cached block is poisoned and a thread's cache left behind at
 * its exit is a leak report, so those mistakes fail this test too. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mpool.h"

static size_t cached_blocks(void)
{
    size_t blocks, bytes;
    mpool_thread_cached(&blocks, &bytes);
    return blocks;
}

static size_t cached_bytes(void)
{
    size_t blocks, bytes;
    mpool_thread_cached(&blocks, &bytes);
    return bytes;
}

static int flush(void **state)
{
    mpool_thread_flush();
    return 0;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 31);
}

static void check(const unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 31))
            fail_msg("byte %zu of %zu changed", i, n);
}

static void test_every_size_is_usable_and_aligned(void **state)
{
    static const size_t sizes[] = {0,    1,    15,   16,   17,   127,  128,  129,
                                   160,  161,  255,  256,  257,  1023, 1024, 1025,
                                   4095, 4096, 4097, 8191, 8192, 8193, 65536};
    void *p[sizeof(sizes) / sizeof(sizes[0])];
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        p[i] = mpool_malloc(sizes[i]);
        assert_non_null(p[i]);
        assert_int_equal((uintptr_t)p[i] % 16, 0);
        fill(p[i], sizes[i], (unsigned)i);
    }
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        check(p[i], sizes[i], (unsigned)i); /* no block overlaps another */
        mpool_free(p[i]);
    }
    mpool_free(NULL);
}

static void test_a_freed_block_is_reused_by_its_class(void **state)
{
    void *a = mpool_malloc(100);
    size_t before = cached_blocks();
    mpool_free(a);
    assert_int_equal(cached_blocks(), before + 1);
    assert_ptr_equal(mpool_malloc(112), a); /* 97..112 share a class */
    assert_int_equal(cached_blocks(), before);
    void *b = mpool_malloc(100);
    mpool_free(b);
    void *c = mpool_malloc(113); /* the next class: not b */
    assert_ptr_not_equal(c, b);
    mpool_free(c);
    mpool_free(a);
    char *s = mpool_strdup("Content-Type");
    assert_string_equal(s, "Content-Type");
    mpool_free(s);
}

static void test_lists_are_capped(void **state)
{
    enum { N = 5000 };
    static void *p[N];
    for (size_t i = 0; i < N; i++)
        assert_non_null(p[i] = mpool_malloc(16));
    for (size_t i = 0; i < N; i++)
        mpool_free(p[i]);
    assert_int_equal(cached_blocks(), 64 * 1024 / 16); /* the rest went to free() */
    mpool_thread_flush();
    assert_int_equal(cached_blocks(), 0);
    assert_int_equal(cached_bytes(), 0);

    for (size_t i = 0; i < 40; i++)
        assert_non_null(p[i] = mpool_malloc(8192));
    for (size_t i = 0; i < 40; i++)
        mpool_free(p[i]);
    assert_int_equal(cached_blocks(), 16); /* 64 KB would be 8: at least 16 */
    mpool_thread_flush();

    /* a thread keeps 1 MB in all: 17 classes of 64 KB would be more */
    static const size_t sizes[] = {256,  320,  384,  448,  512,  640,  768,  896, 1024,
                                   1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096};
    for (size_t i = 0; i < N; i++)
        assert_non_null(p[i] = mpool_malloc(sizes[i % 17]));
    for (size_t i = 0; i < N; i++)
        mpool_free(p[i]);
    assert_true(cached_bytes() <= 1024 * 1024);
    assert_true(cached_bytes() > 1024 * 1024 - 4096);

    void *big = mpool_malloc(8193); /* not pooled: never cached */
    size_t before = cached_blocks();
    mpool_free(big);
    assert_int_equal(cached_blocks(), before);
}

static void test_realloc_keeps_the_content(void **state)
{
    unsigned char *p = mpool_malloc(20);
    fill(p, 20, 7);
    assert_ptr_equal(mpool_realloc(p, 32), p); /* same class */
    assert_ptr_equal(mpool_realloc(p, 3), p);  /* smaller: stays */
    static const size_t grow[] = {33, 200, 1024, 5000, 8192, 9000, 70000, 200000};
    size_t have = 20;
    for (size_t i = 0; i < sizeof(grow) / sizeof(grow[0]); i++) {
        p = mpool_realloc(p, grow[i]);
        assert_non_null(p);
        check(p, have, 7);
        fill(p, grow[i], 7);
        have = grow[i];
    }
    p = mpool_realloc(p, 100); /* a large block back into a class */
    check(p, 100, 7);
    mpool_free(p);
    assert_non_null(p = mpool_realloc(NULL, 10));
    mpool_free(p);
    assert_null(mpool_malloc(SIZE_MAX - 8));
}

static void test_foreign_pointers_go_to_libc(void **state)
{
#ifdef MPOOL_ASAN
    skip(); /* reading before a malloc() block is a redzone read under ASan */
#else
    char *p = malloc(64);
    assert_non_null(p);
    mpool_free(p); /* no header: free(p) */
    p = malloc(32);
    strcpy(p, "kept");
    p = mpool_realloc(p, 4000);
    assert_string_equal(p, "kept");
    free(p); /* still libc's */
#endif
}

struct thread_arg {
    void *kept;           /* a block the thread leaves to the main thread */
    size_t cached_inside; /* what the thread had cached before it exited */
};

static void *thread_main(void *arg)
{
    struct thread_arg *t = arg;
    void *p[100];
    for (size_t i = 0; i < 100; i++)
        p[i] = mpool_malloc(48);
    for (size_t i = 0; i < 100; i++)
        mpool_free(p[i]);
    t->cached_inside = cached_blocks();
    t->kept = mpool_malloc(48);
    return NULL; /* the key destructor gives the rest back (else LSan reports it) */
}

static void test_threads_have_their_own_lists(void **state)
{
    struct thread_arg t = {0};
    pthread_t th;
    size_t before = cached_blocks();
    assert_int_equal(pthread_create(&th, NULL, thread_main, &t), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(t.cached_inside, 100);
    assert_int_equal(cached_blocks(), before); /* nothing of it here */
    mpool_free(t.kept);                        /* freed elsewhere: this thread's list */
    assert_int_equal(cached_blocks(), before + 1);
    assert_ptr_equal(mpool_malloc(40), t.kept);
    mpool_free(t.kept);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_every_size_is_usable_and_aligned, flush),
        cmocka_unit_test_teardown(test_a_freed_block_is_reused_by_its_class, flush),
        cmocka_unit_test_teardown(test_lists_are_capped, flush),
        cmocka_unit_test_teardown(test_realloc_keeps_the_content, flush),
        cmocka_unit_test_teardown(test_foreign_pointers_go_to_libc, flush),
        cmocka_unit_test_teardown(test_threads_have_their_own_lists, flush),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
