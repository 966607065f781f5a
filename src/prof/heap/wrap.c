/* libpotter-heap: the allocator's entry points, wrapped (docs/prof.md, "Heap profiler").
 *
 * Every wrapper is the real allocator's function (found with dlsym(RTLD_NEXT), so whatever
 * allocator comes after this library in the lookup order: glibc's, or a jemalloc or tcmalloc
 * the program links after it) plus, while sampling is on, a per-thread countdown of bytes.
 * While sampling is off that is one load of a global and a branch not taken; free() adds one
 * unsigned compare, which recognises the blocks this library handed out itself: sampled ones,
 * carved from an address range of its own (sample.c), and those of the bootstrap buffer.
 *
 * Bootstrap: until dlsym() has found the real functions (and dlsym itself may call calloc),
 * allocations are served by a bump allocator over the first PH_BOOT_LEN bytes of the range;
 * freeing them does nothing. ph__next starts out pointing at the boot_*() functions, so the
 * wrappers need no "initialised yet?" test of their own.
 */
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "potter/core.h"
#include "prof/heap/heap_internal.h"

/* The bootstrap allocator's used bytes. Blocks carry their size in the 8 bytes before them
 * (for realloc and malloc_usable_size). */
static size_t boot_used;
static uint64_t boot_bytes;

enum { INIT_NONE, INIT_RUNNING, INIT_DONE };
static int init_state;

static void ph_init(void);

static void *boot_alloc(size_t size, size_t align)
{
    ph_init();
    /* Another thread may be reserving the range right now: wait for it. */
    while (__atomic_load_n(&ph__hot.len, __ATOMIC_ACQUIRE) == 0)
        sched_yield();
    if (align < 16)
        align = 16;
    size_t used = __atomic_load_n(&boot_used, __ATOMIC_RELAXED), start, end;
    do {
        start = (used + 8 + align - 1) & ~(align - 1);
        end = start + ((size + 15) & ~(size_t)15);
        if (size > PH_BOOT_LEN || end > PH_BOOT_LEN) {
            errno = ENOMEM;
            return NULL;
        }
    } while (!__atomic_compare_exchange_n(&boot_used, &used, end, 1, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    __atomic_fetch_add(&boot_bytes, end - used, __ATOMIC_RELAXED);
    char *p = (char *)ph__hot.lo + start;
    memcpy(p - 8, &size, sizeof(size));
    return p; /* zero: the range's pages start zeroed and are never reused */
}

uint64_t ph__boot_bytes(void);
uint64_t ph__boot_bytes(void)
{
    return __atomic_load_n(&boot_bytes, __ATOMIC_RELAXED);
}

/* Until init has published the real functions, the wrappers land here: allocations come from
 * the bootstrap buffer unless init finished meanwhile (another thread did it). */
#define NEXT_OR(fn, self, ...)                                                                 \
    do {                                                                                       \
        if (__atomic_load_n(&init_state, __ATOMIC_ACQUIRE) == INIT_DONE && ph__next.fn != self) \
            return ph__next.fn(__VA_ARGS__);                                                   \
    } while (0)

static void *boot_malloc(size_t size)
{
    ph_init();
    NEXT_OR(malloc, boot_malloc, size);
    return boot_alloc(size, 16);
}

static void *boot_calloc(size_t n, size_t size)
{
    ph_init();
    NEXT_OR(calloc, boot_calloc, n, size);
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return boot_alloc(total, 16);
}

static void *boot_memalign(size_t align, size_t size)
{
    ph_init();
    NEXT_OR(memalign, boot_memalign, align, size);
    if (align == 0 || (align & (align - 1)) != 0 || align > PH_BOOT_LEN / 4) {
        errno = EINVAL;
        return NULL;
    }
    return boot_alloc(size, align);
}

static int boot_posix_memalign(void **out, size_t align, size_t size)
{
    ph_init();
    NEXT_OR(posix_memalign, boot_posix_memalign, out, align, size);
    void *p = boot_memalign(align, size);
    if (!p)
        return errno;
    *out = p;
    return 0;
}

static void *boot_aligned_alloc(size_t align, size_t size)
{
    return boot_memalign(align, size);
}

static void *boot_valloc(size_t size)
{
    return boot_memalign(4096, size);
}

static void *boot_pvalloc(size_t size)
{
    return boot_memalign(4096, (size + 4095) & ~(size_t)4095);
}

/* Only blocks of the bootstrap buffer exist before the real free() is published (see
 * publish()); a pointer from elsewhere means another thread is half-way through init. */
static void boot_free(void *p)
{
    if (p == NULL || ph__is_own(p))
        return;
    while (__atomic_load_n(&init_state, __ATOMIC_ACQUIRE) != INIT_DONE)
        sched_yield();
    ph__next.free(p);
}

static void *boot_realloc(void *p, size_t size)
{
    ph_init();
    NEXT_OR(realloc, boot_realloc, p, size);
    void *q = boot_alloc(size, 16);
    if (q && p) {
        size_t old = ph__own_usable(p);
        memcpy(q, p, old < size ? old : size);
    }
    return q;
}

/* Only while no real block exists, or if the next allocator has no malloc_usable_size() (then
 * realloc() never moves a real block into a sampled one). */
static size_t boot_usable(void *p)
{
    return ph__is_own(p) ? ph__own_usable(p) : 0;
}

ph_next_fns ph__next = {
    .malloc = boot_malloc,
    .free = boot_free,
    .calloc = boot_calloc,
    .realloc = boot_realloc,
    .posix_memalign = boot_posix_memalign,
    .aligned_alloc = boot_aligned_alloc,
    .memalign = boot_memalign,
    .valloc = boot_valloc,
    .pvalloc = boot_pvalloc,
    .malloc_usable_size = boot_usable,
};

static void *next_sym(const char *name, void *fallback)
{
    void *f = dlsym(RTLD_NEXT, name);
    return f ? f : fallback;
}

#define PUBLISH(field, value) __atomic_store_n((void **)&ph__next.field, (void *)(value), \
                                               __ATOMIC_RELEASE)

/* Finds the real functions and makes the wrappers use them. The ones that take a block
 * (free, realloc, malloc_usable_size) are published before the ones that make one, so no
 * thread holds a real block while free() still points at boot_free(). Functions the next
 * allocator lacks keep their bootstrap version, which serves from the bootstrap buffer (glibc
 * has them all). */
static void ph_init(void)
{
    int expected = INIT_NONE;

    if (!__atomic_compare_exchange_n(&init_state, &expected, INIT_RUNNING, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return;
    ph__region_reserve();

    /* dlsym() may allocate: those allocations land in boot_*() and the bootstrap buffer. */
    ph_next_fns n = {
        .free = next_sym("free", NULL),
        .realloc = next_sym("realloc", NULL),
        .malloc_usable_size = next_sym("malloc_usable_size", NULL),
        .malloc = next_sym("malloc", NULL),
        .calloc = next_sym("calloc", NULL),
        .posix_memalign = next_sym("posix_memalign", NULL),
        .aligned_alloc = next_sym("aligned_alloc", NULL),
        .memalign = next_sym("memalign", NULL),
        .valloc = next_sym("valloc", NULL),
        .pvalloc = next_sym("pvalloc", NULL),
    };
    if (!n.free || !n.realloc || !n.malloc || !n.calloc) {
        static const char msg[] = "libpotter-heap: no allocator after it in the lookup "
                                  "order (dlsym(RTLD_NEXT, \"malloc\") failed); aborting\n";
        ssize_t w = write(2, msg, sizeof(msg) - 1);
        (void)w;
        abort();
    }
    PUBLISH(free, n.free);
    PUBLISH(realloc, n.realloc);
    if (n.malloc_usable_size)
        PUBLISH(malloc_usable_size, n.malloc_usable_size);
    PUBLISH(malloc, n.malloc);
    PUBLISH(calloc, n.calloc);
    if (n.posix_memalign)
        PUBLISH(posix_memalign, n.posix_memalign);
    if (n.aligned_alloc)
        PUBLISH(aligned_alloc, n.aligned_alloc);
    if (n.memalign)
        PUBLISH(memalign, n.memalign);
    if (n.valloc)
        PUBLISH(valloc, n.valloc);
    if (n.pvalloc)
        PUBLISH(pvalloc, n.pvalloc);
    __atomic_store_n(&init_state, INIT_DONE, __ATOMIC_RELEASE);
}

void ph__after_init(void);

/* Runs before main() if no allocation ran init earlier: then a program that never allocates
 * before calling pt_heap_start() still finds everything ready. PT_HEAP_SAMPLE=<bytes> in the
 * environment starts sampling at load (a preloaded program need not call anything). */
__attribute__((constructor)) static void ph_ctor(void)
{
    ph_init();
    ph__after_init();
}

/* ---- the wrappers ------------------------------------------------------------------------ */

/* An alignment the sampled path takes: a power of two, at most 1 MiB (larger ones go to the
 * real allocator unsampled). */
static inline int sampled_align_ok(size_t align)
{
    return align != 0 && (align & (align - 1)) == 0 && align <= (1u << 20);
}

static inline size_t at_least_16(size_t align)
{
    return align < 16 ? 16 : align;
}

/* malloc(), calloc() and realloc() keep everything but the test of ph__active() and the
 * countdown out of line (and tail-called), so their path while sampling is off is a load, a
 * branch and a jump to the real function, and while it is on, the countdown and the jump. */
__attribute__((noinline)) static void *malloc_slow(size_t size)
{
    uint64_t active = ph__active();

    if (active && ph__decide(active, size)) {
        void *p = ph__sample_alloc(size, 16, 0);
        if (p)
            return p;
    }
    return ph__next.malloc(size);
}

PT_EXTERN void *malloc(size_t size)
{
    uint64_t active = ph__active();

    if (PT_UNLIKELY(active) && ph__countdown_hit(active, size))
        return malloc_slow(size);
    return ph__next.malloc(size);
}

PT_EXTERN void free(void *p)
{
    if (PT_UNLIKELY(ph__is_own(p))) {
        ph__own_free(p);
        return;
    }
    ph__next.free(p);
}

__attribute__((noinline)) static void *calloc_slow(size_t n, size_t size, size_t total)
{
    uint64_t active = ph__active();

    if (active && ph__decide(active, total)) {
        void *p = ph__sample_alloc(total, 16, 1);
        if (p)
            return p;
    }
    return ph__next.calloc(n, size);
}

PT_EXTERN void *calloc(size_t n, size_t size)
{
    uint64_t active = ph__active();
    size_t total;

    if (PT_UNLIKELY(active) && !__builtin_mul_overflow(n, size, &total) &&
        ph__countdown_hit(active, total))
        return calloc_slow(n, size, total);
    return ph__next.calloc(n, size);
}

/* A block of the library's own, moved: to a new block (sampled again or not), the old one
 * released. size 0 frees it and returns NULL, as glibc's realloc does. */
static void *own_realloc(void *p, size_t size)
{
    if (size == 0) {
        ph__own_free(p);
        return NULL;
    }
    void *q = malloc(size);
    if (!q)
        return NULL; /* p stays valid */
    size_t old = ph__own_usable(p);
    memcpy(q, p, old < size ? old : size);
    ph__own_free(p);
    return q;
}

__attribute__((noinline)) static void *realloc_slow(void *p, size_t size)
{
    uint64_t active = ph__active();

    if (active && ph__decide(active, size) && ph__next.malloc_usable_size != boot_usable) {
        void *q = ph__sample_alloc(size, 16, 0);
        if (q) {
            if (p) {
                size_t old = ph__next.malloc_usable_size(p);
                memcpy(q, p, old < size ? old : size);
                ph__next.free(p);
            }
            return q;
        }
    }
    return ph__next.realloc(p, size);
}

PT_EXTERN void *realloc(void *p, size_t size)
{
    uint64_t active = ph__active();

    if (PT_UNLIKELY(ph__is_own(p)))
        return own_realloc(p, size);
    if (PT_UNLIKELY(active) && size > 0 && ph__countdown_hit(active, size))
        return realloc_slow(p, size);
    return ph__next.realloc(p, size);
}

PT_EXTERN void *reallocarray(void *p, size_t n, size_t size)
{
    size_t total;

    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, total);
}

PT_EXTERN int posix_memalign(void **out, size_t align, size_t size)
{
    if (PT_UNLIKELY(ph__should_sample(size)) && sampled_align_ok(align) &&
        align % sizeof(void *) == 0) {
        void *p = ph__sample_alloc(size, at_least_16(align), 0);
        if (p) {
            *out = p;
            return 0;
        }
    }
    return ph__next.posix_memalign(out, align, size);
}

PT_EXTERN void *aligned_alloc(size_t align, size_t size)
{
    if (PT_UNLIKELY(ph__should_sample(size)) && sampled_align_ok(align)) {
        void *p = ph__sample_alloc(size, at_least_16(align), 0);
        if (p)
            return p;
    }
    return ph__next.aligned_alloc(align, size);
}

PT_EXTERN void *memalign(size_t align, size_t size)
{
    if (PT_UNLIKELY(ph__should_sample(size)) && sampled_align_ok(align)) {
        void *p = ph__sample_alloc(size, at_least_16(align), 0);
        if (p)
            return p;
    }
    return ph__next.memalign(align, size);
}

PT_EXTERN void *valloc(size_t size)
{
    if (PT_UNLIKELY(ph__should_sample(size))) {
        void *p = ph__sample_alloc(size, (size_t)getpagesize(), 0);
        if (p)
            return p;
    }
    return ph__next.valloc(size);
}

PT_EXTERN void *pvalloc(size_t size)
{
    size_t page = (size_t)getpagesize();
    size_t rounded = size == 0 ? page : (size + page - 1) & ~(page - 1);

    if (rounded >= size && PT_UNLIKELY(ph__should_sample(rounded))) {
        void *p = ph__sample_alloc(rounded, page, 0);
        if (p)
            return p;
    }
    return ph__next.pvalloc(size);
}

PT_EXTERN size_t malloc_usable_size(void *p)
{
    if (PT_UNLIKELY(ph__is_own(p)))
        return ph__own_usable(p);
    return p ? ph__next.malloc_usable_size(p) : 0;
}
