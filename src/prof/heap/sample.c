/* libpotter-heap: the sampled path (docs/prof.md, "Heap profiler"), and the pt_heap_* API.
 *
 * Sampled blocks are the real allocator's. A sample is a block the real allocator just made,
 * recorded in a table of live samples keyed by address (its size, weight and stack), and
 * counted in the filter (heap_internal.h), the one byte free() and realloc() test. So a block
 * reaches the real allocator's free() whether or not it was sampled, and nothing breaks when a
 * free bypasses the library (a reference routed straight to the real free while no sample
 * lived, and kept by the program as a function pointer): the sample then merely stays in the
 * table until its address is sampled or freed again, and is forgotten then.
 *
 * The tables. A sample records its stack (up to 64 frames) in a fixed-size open-addressing
 * table of stacks, with scaled totals: a sample of s bytes at mean m stands for
 * w = 1 / (1 - exp(-s/m)) blocks (the chance of sampling it is 1 - exp(-s/m)), so alloc and
 * in-use totals add w and w * s; freeing subtracts the same from in-use. The live samples sit
 * in an open-addressing table by address (linear probing, deletion by backward shift), and
 * the filter counts them by granule. All of it is memory of the library's
 * own (mmap), never malloc. One mutex guards it all; it is taken once per sample, once per
 * free of a block whose filter byte is set (a sampled block, or rarely another), and never
 * otherwise. pthread_atfork() keeps it sane across fork().
 *
 * Re-entry. The sampled path sets a per-thread flag: anything it allocates (libunwind may)
 * goes to the real allocator unsampled. It also blocks the CPU profiler's and thread dump's
 * signals while it walks: their handlers walk with libunwind too, and libpotter's copy of the
 * stack walker cannot see that this library's copy is mid-walk on the same thread.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <x86intrin.h>

#include "potter/heap.h"
#include "potter/prof.h"
#include "prof/heap/heap_internal.h"
#include "prof/stack.h"

uint64_t ph__active;
__thread ph_thread ph__tl __attribute__((tls_model("initial-exec")));
uint8_t ph__filter[PH_FILTER_SLOTS];

#define PH_DEPTH 64 /* frames recorded per sample */
#define PH_STACKS (1u << 15) /* stack table slots; at most 3/4 used */
#define PH_LIVE (1u << 16) /* live sample table slots; at most 3/4 used */
#define PH_IDLE_LEFT (64 << 10) /* off: bytes between two looks at ph__active */

/* A live sample. */
typedef struct {
    uintptr_t addr; /* 0: empty */
    size_t size; /* requested */
    double weight; /* how many blocks it stands for */
    uint32_t stack; /* index in the stack table, or UINT32_MAX (the table was full) */
} ph_live;

typedef struct {
    uint64_t hash; /* 0: empty */
    uint32_t pcs; /* offset in the pcs pool */
    uint32_t depth;
    double alloc_n, alloc_b, inuse_n, inuse_b;
    uint64_t alloc_samples, live_samples;
} ph_stack;

static struct {
    pthread_mutex_t lock;
    ph_live *live; /* PH_LIVE of them; NULL until the first start */
    ph_stack *stacks; /* PH_STACKS of them */
    uintptr_t *pool; /* the stacks' pcs, appended */
    size_t nstacks, pool_used;
    uint64_t mean, epoch;
    uintptr_t self_lo, self_hi; /* this library's code: frames to leave out */
    uint64_t samples, nlive, untracked, dropped;
} S = {.lock = PTHREAD_MUTEX_INITIALIZER, .mean = PT_HEAP_DEFAULT_MEAN};

/* ---- the countdown ----------------------------------------------------------------------- */

static uint64_t next_random(ph_thread *t)
{
    if (t->rng == 0) {
        /* splitmix64 of the thread's address and the time stamp counter: threads differ. */
        uint64_t z = (uint64_t)(uintptr_t)t ^ __rdtsc();
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        t->rng = (z ^ (z >> 31)) | 1;
    }
    /* xorshift64* */
    t->rng ^= t->rng >> 12;
    t->rng ^= t->rng << 25;
    t->rng ^= t->rng >> 27;
    return t->rng * 0x2545f4914f6cdd1dull;
}

/* Bytes until the next sample: exponential with the given mean. */
static int64_t draw(ph_thread *t, uint64_t mean)
{
    double u = (double)((next_random(t) >> 11) + 1) * 0x1p-53; /* (0, 1] */
    double x = -log(u) * (double)mean;
    return x < 0x1p62 ? (int64_t)x : (int64_t)1 << 62;
}

int ph__decide(size_t size)
{
    ph_thread *t = &ph__tl;
    uint64_t active = __atomic_load_n(&ph__active, __ATOMIC_ACQUIRE);

    if (active == 0) {
        /* Off, reached through a reference still routed here: look again later. */
        t->left = PH_IDLE_LEFT;
        return 0;
    }
    if (t->busy) {
        t->left += (int64_t)size; /* the profiler's own allocations do not count */
        return 0;
    }
    uint64_t mean = __atomic_load_n(&S.mean, __ATOMIC_RELAXED);
    if (t->epoch != active) {
        /* A new start (or this thread's first crossing since): a fresh interval. */
        t->epoch = active;
        t->left = draw(t, mean) - (int64_t)size;
        if (t->left >= 0)
            return 0;
    }
    t->left = draw(t, mean);
    return 1;
}

/* ---- the filter and the table of live samples -------------------------------------------- */

/* Under S.lock; the wrappers read the filter without it. */
static void filter_add(const void *p)
{
    uint8_t *f = &ph__filter[ph__filter_slot(p)];

    if (*f < UINT8_MAX)
        __atomic_store_n(f, (uint8_t)(*f + 1), __ATOMIC_RELAXED);
}

static void filter_remove(const void *p)
{
    uint8_t *f = &ph__filter[ph__filter_slot(p)];

    if (*f < UINT8_MAX)
        __atomic_store_n(f, (uint8_t)(*f - 1), __ATOMIC_RELAXED);
}

static uint32_t live_slot(uintptr_t addr)
{
    return (uint32_t)((addr * 0x9e3779b97f4a7c15ull) >> 48) & (PH_LIVE - 1);
}

/* The slot holding addr, or the empty slot where it would go. */
static uint32_t live_find(uintptr_t addr)
{
    uint32_t i = live_slot(addr);

    while (S.live[i].addr != 0 && S.live[i].addr != addr)
        i = (i + 1) & (PH_LIVE - 1);
    return i;
}

/* Removes slot i, its sample's in-use share from its stack, and its filter count; the entries
 * after it move back so that every probe still finds them. */
static void live_remove(uint32_t i)
{
    ph_live *e = &S.live[i];

    if (e->stack != UINT32_MAX) {
        ph_stack *s = &S.stacks[e->stack];
        if (--s->live_samples == 0) {
            s->inuse_n = s->inuse_b = 0; /* exactly, whatever the rounding */
        } else {
            s->inuse_n -= e->weight;
            s->inuse_b -= e->weight * (double)e->size;
        }
    }
    filter_remove((void *)e->addr);
    S.nlive--;
    for (uint32_t j = (i + 1) & (PH_LIVE - 1); S.live[j].addr != 0; j = (j + 1) & (PH_LIVE - 1)) {
        uint32_t home = live_slot(S.live[j].addr);
        /* j's entry may move to i unless its home lies cyclically in (i, j]. */
        if (((j - home) & (PH_LIVE - 1)) >= ((j - i) & (PH_LIVE - 1))) {
            S.live[i] = S.live[j];
            i = j;
        }
    }
    S.live[i].addr = 0;
}

/* ---- stacks ------------------------------------------------------------------------------ */

static uint64_t stack_hash(const uintptr_t *pcs, size_t depth)
{
    uint64_t h = 0xcbf29ce484222325ull ^ depth;

    for (size_t i = 0; i < depth; i++) {
        h ^= pcs[i];
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    return h | 1; /* never 0, which marks an empty slot */
}

/* The index of this stack in the table, added if new; UINT32_MAX when the table is full. */
static uint32_t stack_index(const uintptr_t *pcs, size_t depth)
{
    uint64_t h = stack_hash(pcs, depth);

    for (uint32_t i = (uint32_t)h & (PH_STACKS - 1);; i = (i + 1) & (PH_STACKS - 1)) {
        ph_stack *e = &S.stacks[i];
        if (e->hash == 0) {
            if (S.nstacks >= PH_STACKS / 4 * 3)
                return UINT32_MAX;
            e->hash = h;
            e->depth = (uint32_t)depth;
            e->pcs = (uint32_t)S.pool_used;
            memcpy(S.pool + S.pool_used, pcs, depth * sizeof(*pcs));
            S.pool_used += depth;
            S.nstacks++;
            return i;
        }
        if (e->hash == h && e->depth == depth &&
            memcmp(S.pool + e->pcs, pcs, depth * sizeof(*pcs)) == 0)
            return i;
    }
}

/* The calling thread's stack, the library's own frames left out; pcs[0] is the call into the
 * allocator (one byte into the call instruction), the rest return addresses. */
static size_t walk(uintptr_t *pcs)
{
    uintptr_t raw[PH_DEPTH + 16];
    sigset_t prof, old;

    sigemptyset(&prof);
    sigaddset(&prof, PT_PROF_SIGNAL_CPU);
    sigaddset(&prof, PT_PROF_SIGNAL_THREADS);
    pthread_sigmask(SIG_BLOCK, &prof, &old);
    int n = pt__stack_walk(NULL, raw, PH_DEPTH + 16);
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    int skip = 0;
    while (skip < n && raw[skip] - S.self_lo < S.self_hi - S.self_lo)
        skip++;
    size_t depth = (size_t)(n - skip);
    if (depth > PH_DEPTH)
        depth = PH_DEPTH;
    memcpy(pcs, raw + skip, depth * sizeof(*pcs));
    if (depth > 0 && skip > 0)
        pcs[0] -= 1;
    return depth;
}
static void record(void *p, size_t size)
{
    ph_thread *t = &ph__tl;
    uintptr_t pcs[PH_DEPTH];

    if (t->busy || __atomic_load_n(&S.live, __ATOMIC_ACQUIRE) == NULL)
        return;
    t->busy = 1;
    size_t depth = walk(pcs);
    double mean = (double)__atomic_load_n(&S.mean, __ATOMIC_RELAXED);
    double weight = size > 0 ? 1.0 / -expm1(-(double)size / mean) : 1.0;

    pthread_mutex_lock(&S.lock);
    /* Not once sampling stopped: pt_heap_stop() counts the live samples under this lock, and
     * none may appear after it did. */
    if (__atomic_load_n(&ph__active, __ATOMIC_RELAXED) == 0)
        goto out;
    uint32_t i = live_find((uintptr_t)p);
    if (S.live[i].addr != 0) {
        /* The last block at this address was freed past the library: forget it now. */
        live_remove(i);
        i = live_find((uintptr_t)p);
    }
    S.samples++;
    uint32_t stack = stack_index(pcs, depth);
    if (stack == UINT32_MAX) {
        S.dropped++;
    } else {
        ph_stack *e = &S.stacks[stack];
        e->alloc_n += weight;
        e->alloc_b += weight * (double)size;
        e->alloc_samples++;
    }
    if (S.nlive >= PH_LIVE / 4 * 3) {
        S.untracked++; /* counted as allocated, never as in use */
        goto out;
    }
    S.live[i] = (ph_live){.addr = (uintptr_t)p, .size = size, .weight = weight, .stack = stack};
    S.nlive++;
    filter_add(p);
    if (stack != UINT32_MAX) {
        ph_stack *e = &S.stacks[stack];
        e->inuse_n += weight;
        e->inuse_b += weight * (double)size;
        e->live_samples++;
    }
out:
    pthread_mutex_unlock(&S.lock);
    t->busy = 0;
}

void *ph__sample_alloc(size_t size, size_t align, int zero)
{
    void *p = NULL;

    if (align <= 16)
        p = zero ? ph__next.calloc(1, size) : ph__next.malloc(size);
    else if (ph__next.posix_memalign(&p, align, size) != 0)
        p = NULL;
    else if (zero)
        memset(p, 0, size);
    if (p)
        record(p, size);
    return p;
}

int ph__forget(void *p)
{
    if (ph__is_boot(p))
        return 1;
    if (__atomic_load_n(&S.live, __ATOMIC_ACQUIRE) == NULL)
        return 0;
    pthread_mutex_lock(&S.lock);
    uint32_t i = live_find((uintptr_t)p);
    if (S.live[i].addr != 0)
        live_remove(i);
    pthread_mutex_unlock(&S.lock);
    return 0;
}

/* ---- the API ----------------------------------------------------------------------------- */

/* Across fork(): both locks held, in their order (routing first), so the child finds them
 * free and the tables whole. */
static void lock_prepare(void)
{
    ph__route_lock();
    pthread_mutex_lock(&S.lock);
}

static void lock_release(void)
{
    pthread_mutex_unlock(&S.lock);
    ph__route_unlock();
}

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    uintptr_t me = (uintptr_t)&pt_heap_start;

    (void)size;
    (void)arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && me - lo < ph->p_memsz) {
            S.self_lo = lo;
            S.self_hi = lo + ph->p_memsz;
            return 1;
        }
    }
    return 0;
}

/* The tables, once: mmap'd, touched only as they fill. */
static int tables_init(void)
{
    size_t stacks = PH_STACKS * sizeof(ph_stack);
    size_t pool = (size_t)PH_STACKS * PH_DEPTH * sizeof(uintptr_t);
    size_t live = PH_LIVE * sizeof(ph_live);

    if (S.live)
        return 0;
    char *p = mmap(NULL, stacks + pool + live, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -ENOMEM;
    S.stacks = (ph_stack *)p;
    S.pool = (uintptr_t *)(p + stacks);
    __atomic_store_n(&S.live, (ph_live *)(p + stacks + pool), __ATOMIC_RELEASE);
    return 0;
}

/* Routes the makers straight to the allocator, and the takers too when no sample or
 * bootstrap block lives. Sampling is off; the routing lock is held. */
static void route_off(void)
{
    pthread_mutex_lock(&S.lock);
    uint64_t live = S.nlive;
    pthread_mutex_unlock(&S.lock);
    ph__route(PH_MAKERS, 1);
    if (live == 0 && ph__boot_bytes() == 0)
        ph__route(PH_TAKERS, 1);
}

static int start_locked(uint64_t mean_bytes)
{
    int err;

    ph__tl.busy++; /* the walker's first walk may allocate */
    pt__stack_init();
    if (S.self_hi == 0)
        dl_iterate_phdr(find_self, NULL); /* outside S.lock: it takes the loader's */
    pthread_mutex_lock(&S.lock);
    err = tables_init();
    pthread_mutex_unlock(&S.lock);
    if (err == 0) {
        /* Takers first: no sample may exist while a free() goes past the library unseen. */
        ph__route(PH_TAKERS, 0);
        ph__route(PH_MAKERS, 0);
        pthread_mutex_lock(&S.lock);
        __atomic_store_n(&S.mean, mean_bytes ? mean_bytes : PT_HEAP_DEFAULT_MEAN,
                         __ATOMIC_RELAXED);
        __atomic_store_n(&ph__active, ++S.epoch, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&S.lock);
        /* This thread draws its fresh interval at its next allocation; the others when their
         * running countdown ends (with the same mean, an exponential remainder is as good as
         * a fresh draw). */
        ph__tl.left = 0;
    }
    ph__tl.busy--;
    return err;
}

/* At load (the constructor, once the real allocator is known): PT_HEAP_SAMPLE=<bytes> in the
 * environment starts sampling (a preloaded program need not call anything); otherwise every
 * reference goes straight to the allocator. */
void ph__after_init(void)
{
    static int done;
    if (done++)
        return;
    pthread_atfork(lock_prepare, lock_release, lock_release);
    const char *env = getenv("PT_HEAP_SAMPLE");
    char *end = NULL;
    unsigned long long mean = env && *env ? strtoull(env, &end, 10) : 0;
    ph__route_lock();
    if (mean > 0 && *end == 0)
        start_locked(mean);
    else
        route_off();
    ph__route_unlock();
}

PT_EXTERN int pt_heap_start(uint64_t mean_bytes)
{
    ph__route_lock();
    int err = start_locked(mean_bytes);
    ph__route_unlock();
    return err;
}

PT_EXTERN int pt_heap_stop(void)
{
    ph__route_lock();
    pthread_mutex_lock(&S.lock);
    __atomic_store_n(&ph__active, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&S.lock);
    route_off();
    ph__route_unlock();
    return 0;
}

PT_EXTERN int pt_heap_active(void)
{
    return __atomic_load_n(&ph__active, __ATOMIC_RELAXED) != 0;
}

static uint64_t rounded(double v)
{
    return v > 0 ? (uint64_t)llround(v) : 0;
}

PT_EXTERN int pt_heap_snapshot(pt_heap_stack_fn fn, void *arg, uint64_t *mean_bytes)
{
    if (mean_bytes)
        *mean_bytes = __atomic_load_n(&S.mean, __ATOMIC_RELAXED);
    if (!fn)
        return 0;
    if (__atomic_load_n(&S.live, __ATOMIC_ACQUIRE) == NULL)
        return 0;
    /* A copy, so that fn runs without the lock (it may allocate, and be sampled). Stacks are
     * never removed, so the pcs stay where they are. */
    size_t cap = PH_STACKS * sizeof(ph_stack);
    ph_stack *copy = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (copy == MAP_FAILED)
        return -ENOMEM;
    size_t n = 0;
    pthread_mutex_lock(&S.lock);
    for (size_t i = 0; i < PH_STACKS; i++)
        if (S.stacks[i].hash != 0)
            copy[n++] = S.stacks[i];
    pthread_mutex_unlock(&S.lock);
    for (size_t i = 0; i < n; i++) {
        const ph_stack *e = &copy[i];
        pt_heap_stack_stats st = {
            .alloc_objects = rounded(e->alloc_n),
            .alloc_bytes = rounded(e->alloc_b),
            .inuse_objects = rounded(e->inuse_n),
            .inuse_bytes = rounded(e->inuse_b),
            .alloc_samples = e->alloc_samples,
            .inuse_samples = e->live_samples,
        };
        fn(arg, S.pool + e->pcs, e->depth, &st);
    }
    munmap(copy, cap);
    return 0;
}
PT_EXTERN int pt_heap_get_counters(pt_heap_counters *out, size_t size)
{
    pt_heap_counters c;

    if (!out)
        return -EINVAL;
    pthread_mutex_lock(&S.lock);
    c = (pt_heap_counters){
        .samples = S.samples,
        .live_samples = S.nlive,
        .untracked = S.untracked,
        .stacks = S.nstacks,
        .stacks_dropped = S.dropped,
        .bootstrap_bytes = ph__boot_bytes(),
    };
    pthread_mutex_unlock(&S.lock);
    ph__route_counts(&c.refs_direct, &c.refs_wrapped);
    memcpy(out, &c, size < sizeof(c) ? size : sizeof(c));
    return 0;
}
