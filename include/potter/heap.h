/* potter/heap.h: the heap sampling profiler (docs/prof.md, "Heap profiler").
 *
 * Two halves. libpotter-heap (libpotter-heap.so, opt-in) wraps the process's allocator and
 * samples it; a service links it (before the allocator: `-lpotter-heap` ahead of `-ltcmalloc`,
 * and libc is always last) or preloads it (LD_PRELOAD=libpotter-heap.so). libpotter never
 * depends on it: its pt_prof_heap_*() functions find the heap library at run time and answer
 * -ENOTSUP when it is not loaded.
 *
 *     pt_prof_heap_start(0);                        // sample every 512 KiB allocated, on average
 *     ...run...
 *     void *pprof; size_t n;
 *     pt_prof_heap_profile(&pprof, &n);             // go tool pprof -sample_index=inuse_space
 *     free(pprof);
 *
 * Sampling is by bytes: each thread counts down a random, exponentially distributed number of
 * bytes (mean mean_bytes) and the allocation that crosses zero is sampled, so a block of s
 * bytes is sampled with probability 1 - exp(-s / mean) and the totals are scaled back by
 * 1 / that probability (Go's heap profile does the same). While sampling is off, the other
 * modules' references to malloc and friends go straight to the allocator: an allocation costs
 * nothing more than the allocator's own.
 */
#ifndef POTTER_HEAP_H
#define POTTER_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "potter/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The mean sampling interval when 0 is given: 512 KiB, as Go and tcmalloc. */
#define PT_HEAP_DEFAULT_MEAN (512u * 1024u)

/* ---- libpotter-heap ---------------------------------------------------------------------- */

/* Starts (or restarts) sampling every mean_bytes allocated on average (0: the default). Every
 * thread draws a fresh interval when its running countdown next crosses zero. Returns 0, or
 * -ENOMEM when the library could not map its tables (nothing is sampled then). */
PT_EXTERN int pt_heap_start(uint64_t mean_bytes);

/* New allocations are no longer sampled; sampled blocks still live stay tracked (and in use)
 * until they are freed. Returns 0. */
PT_EXTERN int pt_heap_stop(void);

/* 1 while sampling is on. */
PT_EXTERN int pt_heap_active(void);

/* One allocation stack's totals, scaled to estimates of the whole (each sample of s bytes
 * stands for 1 / (1 - exp(-s / mean)) blocks of s bytes), and the raw sample counts. */
typedef struct pt_heap_stack_stats {
    uint64_t alloc_objects, alloc_bytes; /* allocated since the library was loaded */
    uint64_t inuse_objects, inuse_bytes; /* allocated and not yet freed */
    uint64_t alloc_samples, inuse_samples; /* samples behind them */
} pt_heap_stack_stats;

/* Called once per allocation stack: pcs[0..depth) leaf first (pcs[0] the call into the
 * allocator, inside the caller; the rest return addresses, as the CPU profiler's stacks),
 * the library's own frames left out. pcs stays valid for the life of the process. */
typedef void (*pt_heap_stack_fn)(void *arg, const uintptr_t *pcs, size_t depth,
                                 const pt_heap_stack_stats *stats);

/* Calls fn for every stack sampled so far, from a copy taken under the library's lock (so fn
 * may allocate, and other threads keep allocating meanwhile). *mean_bytes (may be NULL): the
 * interval of the last start (the default if never started), set before the first call of
 * fn. fn NULL: only *mean_bytes. Returns 0, or -ENOMEM (no memory for the copy). */
PT_EXTERN int pt_heap_snapshot(pt_heap_stack_fn fn, void *arg, uint64_t *mean_bytes);

/* The library's counters, for the control port. */
typedef struct pt_heap_counters {
    uint64_t samples; /* allocations sampled */
    uint64_t live_samples; /* sampled blocks not yet freed */
    uint64_t untracked; /* sampled while the table of live samples was full (49,152): in the
                         * profile's allocated totals, never in its in-use ones */
    uint64_t stacks; /* distinct stacks */
    uint64_t stacks_dropped; /* samples whose stack did not fit the table (not counted) */
    uint64_t bootstrap_bytes; /* served before the real allocator was found */
    uint64_t refs_direct; /* other modules' references to the allocator's names that go */
    uint64_t refs_wrapped; /* straight to it, and through the library (see docs/prof.md) */
} pt_heap_counters;

/* Fills *out (size: sizeof(pt_heap_counters), so that a newer library can grow it). */
PT_EXTERN int pt_heap_get_counters(pt_heap_counters *out, size_t size);

/* ---- libpotter's side -------------------------------------------------------------------- */

/* The four call libpotter-heap's functions above when it is loaded (linked into the program
 * or preloaded: found with dlsym(RTLD_DEFAULT)); otherwise they return -ENOTSUP ("link
 * libpotter-heap or LD_PRELOAD it"). */
PT_EXTERN int pt_prof_heap_available(void); /* 1 or 0 */
PT_EXTERN int pt_prof_heap_start(uint64_t mean_bytes);
PT_EXTERN int pt_prof_heap_stop(void);

/* The heap profile now, as Go's /debug/pprof/heap: pprof's profile.proto, gzip-compressed,
 * in *out (malloc'd; free() it; *len bytes), with the sample types alloc_objects/count,
 * alloc_space/bytes, inuse_objects/count, inuse_space/bytes (the last, inuse_space, is what
 * `go tool pprof` shows unless -sample_index says otherwise), period space/bytes = the mean
 * interval. Symbolizing blocks (tens of ms to seconds the first time): not on an event loop.
 * Returns 0, -EINVAL, -ENOTSUP (libpotter-heap is not loaded) or -ENOMEM. */
PT_EXTERN int pt_prof_heap_profile(void **out, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* POTTER_HEAP_H */
