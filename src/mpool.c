#include "mpool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef MPOOL_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define NCLASS       32
#define MAX_POOLED   8192
#define CLASS_BYTES  (64 * 1024) /* a list keeps this much of its class... */
#define CLASS_MIN    16          /* ...or this many blocks, if more */
#define THREAD_BYTES (1024 * 1024)

/* The header's tag: high bits no glibc chunk size has (what precedes a
 * block malloc returned), low byte the class or LARGE. */
#define TAG      0xA110C5ED00000000ULL
#define TAG_MASK 0xFFFFFFFFFFFFFF00ULL
#define LARGE    0xFF

struct hdr {
    size_t size;  /* LARGE: the size asked for; else unused */
    uint64_t tag; /* right before the block */
};
_Static_assert(sizeof(struct hdr) == 16, "blocks stay 16-byte aligned");

static const uint32_t class_size[NCLASS] = {
    16,  32,  48,  64,   80,   96,   112,  128,  160,  192,  224,  256,  320,  384,  448,  512,
    640, 768, 896, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096, 5120, 6144, 7168, 8192,
};

struct cache {
    void *head[NCLASS];
    uint32_t count[NCLASS];
    size_t bytes;
    bool registered; /* the key destructor will flush it */
};

static __thread struct cache tc;
static pthread_key_t flush_key;
static bool have_key; /* pthread_key_create() succeeded */
static pthread_once_t flush_once = PTHREAD_ONCE_INIT;

/* Up to 128 bytes a class per 16 bytes, above four per power of two. */
static unsigned size_class(size_t n)
{
    if (n <= 128)
        return n ? (unsigned)((n + 15) >> 4) - 1 : 0;
    size_t m = n - 1;
    unsigned b = 63 - (unsigned)__builtin_clzll(m); /* 2^b <= m < 2^(b+1), b >= 7 */
    unsigned step = (unsigned)(m - ((size_t)1 << b)) >> (b - 2);
    return 8 + (b - 7) * 4 + step;
}

static unsigned class_cap(unsigned c)
{
    unsigned n = CLASS_BYTES / class_size[c];
    return n > CLASS_MIN ? n : CLASS_MIN;
}

static struct hdr *hdr_of(void *p)
{
    return (struct hdr *)p - 1;
}

static bool is_ours(const struct hdr *h)
{
    return (h->tag & TAG_MASK) == TAG;
}

static void flush_cache(struct cache *c)
{
    for (unsigned i = 0; i < NCLASS; i++) {
        void *p = c->head[i];
        while (p) {
            UNPOISON(p, class_size[i]);
            void *next = *(void **)p;
            free(hdr_of(p));
            p = next;
        }
        c->head[i] = NULL;
        c->count[i] = 0;
    }
    c->bytes = 0;
}

static void on_thread_exit(void *arg)
{
    struct cache *c = arg;
    flush_cache(c);
    c->registered = false; /* a later destructor's frees register it again */
}

static void make_key(void)
{
    have_key = pthread_key_create(&flush_key, on_thread_exit) == 0;
}

/* The first block a thread keeps: make sure its exit gives the cache back. */
static bool register_cache(void)
{
    /* Without a key (none left) nothing would flush the cache: keep none. */
    if (pthread_once(&flush_once, make_key) != 0 || !have_key ||
        pthread_setspecific(flush_key, &tc) != 0)
        return false;
    tc.registered = true;
    return true;
}

void *mpool_malloc(size_t n)
{
    if (n > MAX_POOLED) {
        if (n > SIZE_MAX - sizeof(struct hdr))
            return NULL;
        struct hdr *h = malloc(sizeof(*h) + n);
        if (!h)
            return NULL;
        h->size = n;
        h->tag = TAG | LARGE;
        return h + 1;
    }
    unsigned c = size_class(n);
    void *p = tc.head[c];
    if (p) {
        UNPOISON(p, class_size[c]);
        tc.head[c] = *(void **)p;
        tc.count[c]--;
        tc.bytes -= class_size[c];
        return p;
    }
    struct hdr *h = malloc(sizeof(*h) + class_size[c]);
    if (!h)
        return NULL;
    h->size = 0;
    h->tag = TAG | c;
    return h + 1;
}

void mpool_free(void *p)
{
    if (!p)
        return;
    struct hdr *h = hdr_of(p);
    if (!is_ours(h)) {
        free(p);
        return;
    }
    unsigned c = (unsigned)(h->tag & 0xFF);
    if (c == LARGE || tc.count[c] >= class_cap(c) || tc.bytes + class_size[c] > THREAD_BYTES ||
        (!tc.registered && !register_cache())) {
        free(h);
        return;
    }
    *(void **)p = tc.head[c];
    tc.head[c] = p;
    tc.count[c]++;
    tc.bytes += class_size[c];
    POISON(p, class_size[c]);
}

void *mpool_realloc(void *p, size_t n)
{
    if (!p)
        return mpool_malloc(n);
    struct hdr *h = hdr_of(p);
    if (!is_ours(h))
        return realloc(p, n);
    unsigned c = (unsigned)(h->tag & 0xFF);
    if (c == LARGE && n > MAX_POOLED) {
        if (n > SIZE_MAX - sizeof(*h))
            return NULL;
        struct hdr *g = realloc(h, sizeof(*g) + n);
        if (!g)
            return NULL;
        g->size = n;
        return g + 1;
    }
    size_t have = c == LARGE ? h->size : class_size[c];
    if (c != LARGE && n <= have)
        return p; /* a smaller size stays in its block */
    void *q = mpool_malloc(n);
    if (!q)
        return NULL;
    memcpy(q, p, have < n ? have : n);
    mpool_free(p);
    return q;
}

char *mpool_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = mpool_malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

void mpool_thread_flush(void)
{
    flush_cache(&tc);
}

void mpool_thread_cached(size_t *blocks, size_t *bytes)
{
    size_t k = 0;
    for (unsigned i = 0; i < NCLASS; i++)
        k += tc.count[i];
    *blocks = k;
    *bytes = tc.bytes;
}
