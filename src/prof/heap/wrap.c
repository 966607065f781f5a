/* libpotter-heap: the allocator's entry points, wrapped (docs/prof.md, "Heap profiler").
 *
 * Every wrapper is the real allocator's function (found with dlsym(RTLD_NEXT), so whatever
 * allocator comes after this library in the lookup order: glibc's, or a jemalloc or tcmalloc
 * the program links after it) plus a test. Those that make a block count the bytes down (a
 * per-thread countdown: subtract and branch); those that take one (free, realloc) test its
 * byte in the filter, set for sampled blocks and the bootstrap buffer's. While sampling is off,
 * the other modules do not call these wrappers at all (route.c); what still does (a module
 * loaded later, the dynamic linker's own pointers) pays the test, and the countdown then looks
 * at ph__active only once per PH_IDLE_LEFT bytes.
 *
 * Bootstrap: until dlsym() has found the real functions (and dlsym itself may call calloc),
 * allocations are served by a bump allocator over a static buffer of PH_BOOT_LEN bytes;
 * freeing them does nothing, and their filter bytes stay set, so the real allocator never sees
 * one (and free() stays routed through the library wherever they exist). ph__next starts out pointing at the boot_*() functions, so the
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

char ph__boot[PH_BOOT_LEN] __attribute__((aligned(64)));

static void *boot_alloc(size_t size, size_t align)
{
    ph_init();
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
    char *p = ph__boot + start;
    memcpy(p - 8, &size, sizeof(size));
    __atomic_store_n(&ph__filter[ph__filter_slot(p)], UINT8_MAX, __ATOMIC_RELAXED); /* stuck */
    return p; /* zero: the buffer starts zeroed and is never reused */
}

size_t ph__boot_usable(const void *p)
{
    size_t size; /* in the 8 bytes before the block */
    memcpy(&size, (const char *)p - 8, sizeof(size));
    return size;
}

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
    if (p == NULL || ph__is_boot(p))
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
        size_t old = ph__is_boot(p) ? ph__boot_usable(p) : 0;
        memcpy(q, p, old < size ? old : size);
    }
    return q;
}

/* Only while no real block exists (or if the next allocator has none). */
static size_t boot_usable(void *p)
{
    return ph__is_boot(p) ? ph__boot_usable(p) : 0;
}

ph_next_fns ph__next = {
    .malloc = boot_malloc,
    .free = boot_free,
    .calloc = boot_calloc,
    .realloc = boot_realloc,
    .reallocarray = NULL, /* never called: reallocarray() wraps realloc(); route.c's only */
    .posix_memalign = boot_posix_memalign,
    .aligned_alloc = boot_aligned_alloc,
    .memalign = boot_memalign,
    .valloc = boot_valloc,
    .pvalloc = boot_pvalloc,
    .malloc_usable_size = boot_usable,
};

/* Makes the wrappers use what n found for field; a function the next allocator lacks keeps
 * its bootstrap version. */
#define PUBLISH(field)                                                                         \
    do {                                                                                       \
        if (n.field)                                                                           \
            __atomic_store_n((void **)&ph__next.field, (void *)n.field, __ATOMIC_RELEASE);     \
    } while (0)

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
    /* dlsym() may allocate: those allocations land in boot_*() and the bootstrap buffer. */
    ph_next_fns n = {
        .free = dlsym(RTLD_NEXT, "free"),
        .realloc = dlsym(RTLD_NEXT, "realloc"),
        .reallocarray = dlsym(RTLD_NEXT, "reallocarray"),
        .malloc_usable_size = dlsym(RTLD_NEXT, "malloc_usable_size"),
        .malloc = dlsym(RTLD_NEXT, "malloc"),
        .calloc = dlsym(RTLD_NEXT, "calloc"),
        .posix_memalign = dlsym(RTLD_NEXT, "posix_memalign"),
        .aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc"),
        .memalign = dlsym(RTLD_NEXT, "memalign"),
        .valloc = dlsym(RTLD_NEXT, "valloc"),
        .pvalloc = dlsym(RTLD_NEXT, "pvalloc"),
    };
    if (!n.free || !n.realloc || !n.malloc || !n.calloc) {
        static const char msg[] = "libpotter-heap: no allocator after it in the lookup "
                                  "order (dlsym(RTLD_NEXT, \"malloc\") failed); aborting\n";
        ssize_t w = write(2, msg, sizeof(msg) - 1);
        (void)w;
        abort();
    }
    PUBLISH(free);
    PUBLISH(realloc);
    PUBLISH(reallocarray);
    PUBLISH(malloc_usable_size);
    PUBLISH(malloc);
    PUBLISH(calloc);
    PUBLISH(posix_memalign);
    PUBLISH(aligned_alloc);
    PUBLISH(memalign);
    PUBLISH(valloc);
    PUBLISH(pvalloc);
    __atomic_store_n(&init_state, INIT_DONE, __ATOMIC_RELEASE);
}

/* Runs before main() (every module is relocated by then): finds the real allocator if no
 * allocation did yet, then routes the other modules' references (sample.c). */
__attribute__((constructor)) static void ph_ctor(void)
{
    ph_init();
    ph__after_init();
}

/* ---- the wrappers ------------------------------------------------------------------------ */

/* After the countdown crossed zero: a sampled block, or NULL (this allocation is not sampled,
 * or the real allocator failed: the caller asks it again, and reports what it says). Out of
 * line, so that a wrapper's own path is the countdown and a jump to the real function. */
__attribute__((noinline)) static void *sampled(size_t size, size_t align, int zero)
{
    return ph__decide(size) ? ph__sample_alloc(size, align, zero) : NULL;
}

static inline int pow2(size_t align)
{
    return align != 0 && (align & (align - 1)) == 0;
}

PT_EXTERN void *malloc(size_t size)
{
    void *p;

    if (ph__countdown_hit(size) && (p = sampled(size, 16, 0)) != NULL)
        return p;
    return ph__next.malloc(size);
}

PT_EXTERN void free(void *p)
{
    if (ph__maybe_sampled(p) && ph__forget(p))
        return; /* a bootstrap block */
    ph__next.free(p);
}

PT_EXTERN void *calloc(size_t n, size_t size)
{
    size_t total;
    void *p;

    if (!__builtin_mul_overflow(n, size, &total) && ph__countdown_hit(total) &&
        (p = sampled(total, 16, 1)) != NULL)
        return p;
    return ph__next.calloc(n, size);
}

/* realloc() of a block whose filter byte is set, or whose countdown crossed zero. A sampled block is forgotten before the real allocator frees or moves it (so that
 * another thread's sample at the same address cannot be forgotten instead). A bootstrap block
 * is copied out (the bootstrap buffer never frees); size 0 frees, as glibc's realloc does. */
__attribute__((noinline)) static void *realloc_slow(void *p, size_t size, int crossed)
{
    if (p && ph__maybe_sampled(p) && ph__forget(p)) {
        void *q = size ? malloc(size) : NULL;
        if (q) {
            size_t old = ph__boot_usable(p);
            memcpy(q, p, old < size ? old : size);
        }
        return q;
    }
    if (size > 0 && (crossed || ph__countdown_hit(size)) && ph__decide(size)) {
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
    if (ph__maybe_sampled(p))
        return realloc_slow(p, size, 0);
    if (ph__countdown_hit(size))
        return realloc_slow(p, size, 1);
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
    void *p;

    if (ph__countdown_hit(size) && pow2(align) && align % sizeof(void *) == 0 &&
        (p = sampled(size, align, 0)) != NULL) {
        *out = p;
        return 0;
    }
    return ph__next.posix_memalign(out, align, size);
}

PT_EXTERN void *aligned_alloc(size_t align, size_t size)
{
    void *p;

    if (ph__countdown_hit(size) && pow2(align) && (p = sampled(size, align, 0)) != NULL)
        return p;
    return ph__next.aligned_alloc(align, size);
}

PT_EXTERN void *memalign(size_t align, size_t size)
{
    void *p;

    if (ph__countdown_hit(size) && pow2(align) && (p = sampled(size, align, 0)) != NULL)
        return p;
    return ph__next.memalign(align, size);
}

PT_EXTERN void *valloc(size_t size)
{
    void *p;

    if (ph__countdown_hit(size) && (p = sampled(size, PH_PAGE, 0)) != NULL)
        return p;
    return ph__next.valloc(size);
}

PT_EXTERN void *pvalloc(size_t size)
{
    size_t rounded = size == 0 ? PH_PAGE : (size + PH_PAGE - 1) & ~(size_t)(PH_PAGE - 1);
    void *p;

    if (rounded >= size && ph__countdown_hit(rounded) &&
        (p = sampled(rounded, PH_PAGE, 0)) != NULL)
        return p;
    return ph__next.pvalloc(size);
}

PT_EXTERN size_t malloc_usable_size(void *p)
{
    if (ph__maybe_sampled(p) && ph__is_boot(p))
        return ph__boot_usable(p);
    return p ? ph__next.malloc_usable_size(p) : 0;
}

/* The wrappers' own addresses, by hidden aliases: whatever else the lookup order holds, these
 * are this library's functions (route.c compares other modules' references with them). */
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmissing-attributes" /* the aliases need not repeat them */
#endif
#define SELF(fn) extern __typeof(fn) ph_self_##fn __attribute__((alias(#fn), visibility("hidden")))
SELF(malloc);
SELF(free);
SELF(calloc);
SELF(realloc);
SELF(reallocarray);
SELF(posix_memalign);
SELF(aligned_alloc);
SELF(memalign);
SELF(valloc);
SELF(pvalloc);
SELF(malloc_usable_size);

const ph_next_fns ph__self = {
    .malloc = ph_self_malloc,
    .free = ph_self_free,
    .calloc = ph_self_calloc,
    .realloc = ph_self_realloc,
    .reallocarray = ph_self_reallocarray,
    .posix_memalign = ph_self_posix_memalign,
    .aligned_alloc = ph_self_aligned_alloc,
    .memalign = ph_self_memalign,
    .valloc = ph_self_valloc,
    .pvalloc = ph_self_pvalloc,
    .malloc_usable_size = ph_self_malloc_usable_size,
};
