/* libpotter-heap's internals shared between its files: the state the allocation wrappers read
 * on every call (wrap.c), the sampled path behind them (sample.c), and the routing of other
 * modules' references to the allocator (route.c). Everything here is hidden: the library
 * exports only the allocator's names and pt_heap_*(). */
#ifndef PT_HEAP_INTERNAL_H
#define PT_HEAP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#define PH_HIDDEN __attribute__((visibility("hidden")))

/* 0 while sampling is off, otherwise the epoch of the running pt_heap_start() (so a thread
 * notices a restart). Read by the sampled path only, never by a wrapper's fast path. */
PH_HIDDEN extern uint64_t ph__active;

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
    void *(*reallocarray)(void *, size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*memalign)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
} ph_next_fns;

PH_HIDDEN extern ph_next_fns ph__next;

/* The wrappers themselves (wrap.c), by hidden names: what other modules' references point at
 * while they are routed through the library. */
PH_HIDDEN extern const ph_next_fns ph__self;

#define PH_PAGE 4096u

/* The bootstrap buffer: blocks handed out before dlsym() found the real allocator. */
#define PH_BOOT_LEN (64u * 1024u)
PH_HIDDEN extern char ph__boot[PH_BOOT_LEN];

/* Bytes the bootstrap allocator handed out (0 in most processes: dlsym() did not allocate). */
PH_HIDDEN uint64_t ph__boot_bytes(void);

/* ---- the filter: which blocks free() must look at ---------------------------------------- */


/* One byte per 16-byte granule of a 16 MiB window of addresses (the window repeats): how many
 * live sampled blocks start in that granule (255: stuck there; bootstrap blocks are 255).
 * free() and realloc() test it, and only when it is not 0 (a sampled block, or rarely another
 * block sharing the byte: about 1 free in 500 with 2,000 samples live) consult the table of
 * live samples. 1 MiB of .bss: its pages never written all read the kernel's one zero page. */
#define PH_FILTER_SLOTS (1u << 20)
PH_HIDDEN extern uint8_t ph__filter[PH_FILTER_SLOTS];

static inline uint32_t ph__filter_slot(const void *p)
{
    return (uint32_t)((uintptr_t)p >> 4) & (PH_FILTER_SLOTS - 1);
}

static inline int ph__maybe_sampled(const void *p)
{
    return __builtin_expect(
        __atomic_load_n(&ph__filter[ph__filter_slot(p)], __ATOMIC_RELAXED) != 0, 0);
}

/* ---- the sampled path (sample.c) --------------------------------------------------------- */

/* Subtracts size from the thread's countdown: 1 when it crossed zero, so ph__decide() must be
 * asked. The whole cost of a wrapper that makes a block, while sampling is on. */
static inline int ph__countdown_hit(size_t size)
{
    return __builtin_expect((ph__tl.left -= (int64_t)size) < 0, 0);
}

/* After the countdown crossed zero: 1 when this allocation is to be sampled. Draws the next
 * interval; while sampling is off, pushes the next test PH_IDLE_LEFT bytes away. */
PH_HIDDEN int ph__decide(size_t size);

/* A sampled block: size bytes from the real allocator aligned to align (a power of two; 16:
 * malloc's), zeroed when zero, recorded with the calling stack. NULL when the real allocator
 * has none (the caller then reports the failure as it would). */
PH_HIDDEN void *ph__sample_alloc(size_t size, size_t align, int zero);

/* free() and realloc() of a block whose filter byte is set: forgets its sample if it is one.
 * Returns 1 when p is a bootstrap block (which the real allocator must never see). */
PH_HIDDEN int ph__forget(void *p);

/* 1 when p is a block of the bootstrap buffer; its usable size. */
static inline int ph__is_boot(const void *p)
{
    return (uintptr_t)p - (uintptr_t)ph__boot < PH_BOOT_LEN;
}
PH_HIDDEN size_t ph__boot_usable(const void *p);

/* At load, once the real allocator is known: starts sampling when PT_HEAP_SAMPLE asks, else
 * routes every reference straight to the allocator (sample.c). */
PH_HIDDEN void ph__after_init(void);

/* ---- routing (route.c) ------------------------------------------------------------------- */

/* Other modules' references to the allocator's names (their GOT entries and data words
 * relocated against malloc, free, ...): routed through the wrappers, or straight to the real
 * allocator. Makers (malloc, calloc, the aligned ones) go through the wrappers only while
 * sampling is on; takers (free, realloc, reallocarray, malloc_usable_size) while sampled or
 * bootstrap blocks may live. Call with the routing lock held (ph__route_lock). */
enum { PH_MAKERS = 1, PH_TAKERS = 2 };
PH_HIDDEN void ph__route_lock(void);
PH_HIDDEN void ph__route_unlock(void);
PH_HIDDEN void ph__route(int which, int direct);

/* References found pointing straight at the allocator and through the wrappers, after the
 * last ph__route() (for the counters). */
PH_HIDDEN void ph__route_counts(uint64_t *direct, uint64_t *wrapped);

#endif
