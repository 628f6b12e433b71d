/* mpool: small blocks kept on per-thread free lists, for the libraries
 * whose allocation hooks wxscened sets (libevent, libxml2). A push costs
 * libevent and libxml2 about 60 allocations and frees (header strings, the
 * request, evbuffers and their chains, CDATA buffers); with the loop's
 * batches of ~60 pushes they overflow glibc's per-thread cache (7 blocks
 * per size) into its locked bins, where a free costs ~90 instructions and
 * an allocation of 1 KB or more first merges the fast bins. Here a block
 * freed goes on its thread's list for its size class (32 classes, 16 bytes
 * to 8 KB, four per doubling) and the next allocation of that class takes
 * it back: a pointer pop, no lock. Larger blocks go to malloc.
 *
 * Each block carries a 16-byte header (its class and a tag), so any thread
 * may free any block: it lands on the freeing thread's list. A list keeps
 * at most 64 KB (and 16 blocks) of its class and a thread 1 MB in all; the
 * rest goes back to malloc, and so does a thread's cache when it exits
 * (a key destructor) or calls mpool_thread_flush(). A pointer that was not
 * allocated here (no tag) is passed to free()/realloc() as it is.
 * Under AddressSanitizer a cached block is poisoned until it is reused. */
#ifndef WXS_MPOOL_H
#define WXS_MPOOL_H
#include <stddef.h>

/* MPOOL_ASAN: built with AddressSanitizer (gcc defines
 * __SANITIZE_ADDRESS__, clang answers __has_feature). */
#if defined(__SANITIZE_ADDRESS__)
#define MPOOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MPOOL_ASAN 1
#endif
#endif

/* malloc(3) semantics; 16-byte aligned. */
void *mpool_malloc(size_t n);
void *mpool_realloc(void *p, size_t n);
void mpool_free(void *p);
char *mpool_strdup(const char *s);

/* Give the calling thread's cached blocks back to malloc. */
void mpool_thread_flush(void);

/* What the calling thread keeps cached (for tests and diagnostics). */
void mpool_thread_cached(size_t *blocks, size_t *bytes);
#endif
