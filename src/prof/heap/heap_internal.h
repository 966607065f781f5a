/* libpotter-heap's internals shared between its files: the state the allocation wrappers read
 * on every call (wrap.c), and the sampled path behind them (sample.c). Everything here is
 * hidden: the library exports only the allocator's names and pt_heap_*(). */
#ifndef PT_HEAP_INTERNAL_H
#define PT_HEAP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define PH_HIDDEN __attribute__((visibility("hidden")))

/* What every call reads, in one cache line. active is 0 while sampling is off, otherwise the
 * epoch of the running pt_heap_start() (so a thread notices a restart). [lo, lo + len) is
 * every address the library hands out itself: the bootstrap buffer, then the slots of sampled
 * blocks; free() recognises both with one unsigned compare. Set once at start-up. */
typedef struct {
    uint64_t active;
    uintptr_t lo;
    uintptr_t len;
} __attribute__((aligned(64))) ph_hot;

PH_HIDDEN extern ph_hot ph__hot;

/* Each thread's countdown: bytes left until the next sample (drawn from an exponential
 * distribution), the epoch it was drawn in, the PRNG's state, and the recursion guard (set
 * while the thread is inside the profiler: its allocations go to the real allocator unseen).
 * initial-exec: reading it never calls __tls_get_addr, which may allocate. */
typedef struct {
    int64_t left;
    uint64_t epoch;
    uint64_t rng;
    int busy;
} ph_thread;

PH_HIDDEN extern __thread ph_thread ph__tl __attribute__((tls_model("initial-exec")));

/* The allocator wrapped, found with dlsym(RTLD_NEXT). */
typedef struct {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
} ph_next_fns;

PH_HIDDEN extern ph_next_fns ph__next;

/* The bootstrap buffer's size, at the start of the reserved range. */
#define PH_BOOT_LEN (64u * 1024u)

/* Reserves the address range (sample.c), fills ph__hot.lo/len; the first PH_BOOT_LEN bytes
 * are made writable for the bootstrap allocator. Returns 0, or -ENOMEM (then lo/len cover a
 * static bootstrap buffer only, and sampling cannot start). */
PH_HIDDEN int ph__region_reserve(void);

/* The decision after the countdown crossed zero (or the thread's epoch is stale): 1 when this
 * allocation is to be sampled. Draws the next interval. */
PH_HIDDEN int ph__decide(uint64_t active, size_t size);

/* A sampled block of size bytes aligned to align (a power of two >= 16), zeroed when zero,
 * from the library's own range, its stack recorded. NULL when it cannot (range full, a
 * syscall failed, re-entered): the caller then uses the real allocator. */
PH_HIDDEN void *ph__sample_alloc(size_t size, size_t align, int zero);

/* free() and malloc_usable_size() of an address in [lo, lo + len). */
PH_HIDDEN void ph__own_free(void *p);
PH_HIDDEN size_t ph__own_usable(void *p);

/* 0 while sampling is off (the whole cost of the wrappers then: this load and a branch),
 * otherwise the epoch of the running start. */
static inline uint64_t ph__active(void)
{
    return __atomic_load_n(&ph__hot.active, __ATOMIC_RELAXED);
}

/* While sampling is on: 1 when the countdown crossed zero (or was drawn in an older epoch),
 * so ph__decide() must be asked; the cost of sampling on, for most allocations, is this. */
static inline int ph__countdown_hit(uint64_t active, size_t size)
{
    return __builtin_expect(ph__tl.epoch != active, 0) ||
           __builtin_expect((ph__tl.left -= (int64_t)size) < 0, 0);
}

/* 1 when this allocation is to be sampled. */
static inline int ph__should_sample(size_t size)
{
    uint64_t active = ph__active();

    if (__builtin_expect(active == 0, 1) || !ph__countdown_hit(active, size))
        return 0;
    return ph__decide(active, size);
}

static inline int ph__is_own(const void *p)
{
    return (uintptr_t)p - ph__hot.lo < ph__hot.len;
}

#endif
