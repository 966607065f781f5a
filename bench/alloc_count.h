/* bench/alloc_count.h: counts the heap calls made by the calling thread.
 *
 * alloc_count.c defines malloc, calloc, realloc, free and the aligned allocators in the
 * benchmark executable itself, so that every call from the program and from the shared
 * libraries it loads (libstdc++, libspdlog, libc) lands there first; each bumps a counter of
 * the calling thread and forwards to glibc's own allocator (__libc_malloc and friends).
 *
 *     pt_bench_heap_counts before = pt_bench_heap_counts_get();
 *     ... timed loop ...
 *     pt_bench_heap_counts after = pt_bench_heap_counts_get();
 *     allocations = after.allocs - before.allocs;
 */
#ifndef PT_BENCH_ALLOC_COUNT_H
#define PT_BENCH_ALLOC_COUNT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_bench_heap_counts {
    uint64_t allocs; /* malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign, valloc */
    uint64_t frees; /* free of a non-NULL pointer */
} pt_bench_heap_counts;

/* The calling thread's counts since it started. */
pt_bench_heap_counts pt_bench_heap_counts_get(void);

#ifdef __cplusplus
}
#endif

#endif
