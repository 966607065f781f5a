/* libpotter-heap: the sampled path (docs/prof.md, "Heap profiler"), and the pt_heap_* API.
 *
 * The range. At load the library reserves one large range of addresses (64 GiB, PROT_NONE,
 * MAP_NORESERVE: no memory, no commit charge; 16, 4 and 1 GiB are tried if the address space
 * is limited). Its first PH_BOOT_LEN bytes serve the bootstrap allocator; the rest is carved
 * into page-aligned slots, one per sampled block, made writable 2 MiB at a time as they are
 * first used. free() knows a sampled block by its address alone, and the real allocator never
 * sees one. A slot holds a 64-byte header right before the block (its slot, size, weight and
 * stack); the block sits at the first suitably aligned address after it. Freed slots go to
 * free lists by page count; small ones (up to 16 pages, 8 MiB in all) stay as they are for
 * the next sample, larger ones are given back (MADV_DONTNEED) first. A sampled block costs at
 * least a page: at the default 512 KiB mean, about 1% more resident memory in the worst case
 * (a heap of small blocks), far less with larger ones. When the range is full, or a syscall
 * fails, the sampled allocation goes to the real allocator (counted as a fallback) and is not
 * recorded: the profiler never makes an allocation fail.
 *
 * The tables. A sample records its stack (up to 64 frames) in a fixed-size open-addressing
 * table of stacks, with scaled totals: a sample of s bytes at mean m stands for
 * w = 1 / (1 - exp(-s/m)) blocks (the chance of sampling it is 1 - exp(-s/m)), so alloc and
 * in-use totals add w and w * s; freeing subtracts the same from in-use. Both tables live in
 * memory of the library's own (mmap), never malloc. One mutex guards the slots and tables; it
 * is taken once per sampled allocation and once per sampled free, about once per 512 KiB
 * allocated. pthread_atfork() keeps it sane across fork().
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

ph_hot ph__hot;
__thread ph_thread ph__tl __attribute__((tls_model("initial-exec")));

#define PH_PAGE 4096u
#define PH_HDR 64u
#define PH_COMMIT_STEP (2u << 20) /* the range is made writable this much at a time */
#define PH_BINS 256 /* free lists by exact page count, 1..PH_BINS; larger slots in one list */
#define PH_CACHE_PAGES 16 /* freed slots up to this many pages are kept as they are ... */
#define PH_CACHE_MAX (8u << 20) /* ... up to this many bytes in all */
#define PH_DEPTH 64 /* frames recorded per sample */
#define PH_STACKS (1u << 15) /* stack table slots; at most 3/4 used */
#define PH_MAGIC 0x9e3779b97f4a7c15ull

/* A sampled block's header, the PH_HDR bytes right before it. */
typedef struct {
    uint64_t magic; /* the block's address ^ PH_MAGIC while it lives; 0 once freed */
    uintptr_t slot; /* page-aligned start of its slot */
    size_t pages; /* the slot's length in pages */
    size_t size; /* requested */
    double weight; /* how many blocks it stands for */
    uint32_t stack; /* index in the stack table, or UINT32_MAX (the table was full) */
} ph_block;

_Static_assert(sizeof(ph_block) <= PH_HDR, "the header fits");

/* A free slot's first bytes. */
typedef struct ph_free {
    struct ph_free *next;
    size_t pages;
    int dirty; /* still holds its last block's pages (not given back) */
} ph_free;

typedef struct {
    uint64_t hash; /* 0: empty */
    uint32_t pcs; /* offset in the pcs pool */
    uint32_t depth;
    double alloc_n, alloc_b, inuse_n, inuse_b;
    uint64_t alloc_samples, live_samples;
} ph_stack;

static struct {
    pthread_mutex_t lock;
    uintptr_t slots_lo, slots_hi; /* the slot part of the range */
    uintptr_t bump, committed; /* next never-used address; writable below this */
    ph_free *bins[PH_BINS + 1], *large;
    size_t cached; /* bytes of dirty free slots */
    size_t used; /* bytes of slots holding live blocks */
    ph_stack *stacks; /* PH_STACKS of them; NULL until the first start */
    uintptr_t *pool; /* the stacks' pcs, appended */
    size_t nstacks, pool_used;
    uint64_t mean, epoch;
    uintptr_t self_lo, self_hi; /* this library's code: frames to leave out */
    uint64_t samples, live, fallbacks, dropped;
} S = {.lock = PTHREAD_MUTEX_INITIALIZER, .mean = PT_HEAP_DEFAULT_MEAN};

static char boot_static[PH_BOOT_LEN] __attribute__((aligned(PH_PAGE)));

int ph__region_reserve(void)
{
    static const uint64_t sizes[] = {64ull << 30, 16ull << 30, 4ull << 30, 1ull << 30};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        void *p = mmap(NULL, sizes[i], PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
        if (p == MAP_FAILED)
            continue;
        if (mprotect(p, PH_BOOT_LEN, PROT_READ | PROT_WRITE) != 0) {
            munmap(p, sizes[i]);
            break;
        }
        S.slots_lo = S.bump = S.committed = (uintptr_t)p + PH_BOOT_LEN;
        S.slots_hi = (uintptr_t)p + sizes[i];
        ph__hot.lo = (uintptr_t)p;
        __atomic_store_n(&ph__hot.len, sizes[i], __ATOMIC_RELEASE);
        return 0;
    }
    ph__hot.lo = (uintptr_t)boot_static;
    __atomic_store_n(&ph__hot.len, PH_BOOT_LEN, __ATOMIC_RELEASE);
    return -ENOMEM;
}

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

int ph__decide(uint64_t active, size_t size)
{
    ph_thread *t = &ph__tl;
    uint64_t mean = __atomic_load_n(&S.mean, __ATOMIC_RELAXED);

    if (t->busy) {
        if (t->epoch == active)
            t->left += (int64_t)size; /* the profiler's own allocations do not count */
        return 0;
    }
    if (t->epoch != active) {
        /* A new start (or this thread's first allocation since): a fresh interval. */
        t->epoch = active;
        t->left = draw(t, mean) - (int64_t)size;
        if (t->left >= 0)
            return 0;
    }
    t->left = draw(t, mean);
    return 1;
}

/* ---- slots ------------------------------------------------------------------------------- */

static void slot_put(uintptr_t s, size_t pages, int dirty)
{
    ph_free *f = (ph_free *)s;

    f->pages = pages;
    f->dirty = dirty;
    ph_free **head = pages <= PH_BINS ? &S.bins[pages] : &S.large;
    f->next = *head;
    *head = f;
}

/* A slot of at least pages pages from a free list (split when larger), else from the never
 * used part of the range. 0 when the range is full or cannot be made writable. */
static uintptr_t slot_get(size_t pages)
{
    size_t bytes = pages * PH_PAGE;
    ph_free *f = NULL;

    /* Exact size first, then up to twice the size (split), then the large list. */
    for (size_t k = pages; k <= PH_BINS && k <= 2 * pages && !f; k++) {
        if ((f = S.bins[k]) != NULL)
            S.bins[k] = f->next;
    }
    if (!f) {
        for (ph_free **pp = &S.large; *pp; pp = &(*pp)->next) {
            if ((*pp)->pages >= pages) {
                f = *pp;
                *pp = f->next;
                break;
            }
        }
    }
    if (f) {
        size_t have = f->pages;
        int dirty = f->dirty;
        if (dirty)
            S.cached -= have * PH_PAGE;
        if (have > pages) {
            /* The rest stays free; a dirty rest is no longer counted as cached. */
            if (dirty)
                madvise((char *)f + bytes, (have - pages) * PH_PAGE, MADV_DONTNEED);
            slot_put((uintptr_t)f + bytes, have - pages, 0);
        }
        return (uintptr_t)f;
    }
    if (bytes > S.slots_hi - S.bump)
        return 0;
    if (S.bump + bytes > S.committed) {
        uintptr_t to = (S.bump + bytes + PH_COMMIT_STEP - 1) & ~(uintptr_t)(PH_COMMIT_STEP - 1);
        if (to > S.slots_hi)
            to = S.slots_hi;
        if (mprotect((void *)S.committed, to - S.committed, PROT_READ | PROT_WRITE) != 0)
            return 0;
        __atomic_store_n(&S.committed, to, __ATOMIC_RELEASE);
    }
    uintptr_t s = S.bump;
    S.bump += bytes;
    return s;
}

static void slot_release(uintptr_t s, size_t pages)
{
    size_t bytes = pages * PH_PAGE;
    int keep = pages <= PH_CACHE_PAGES && S.cached + bytes <= PH_CACHE_MAX;

    if (keep)
        S.cached += bytes;
    else
        madvise((void *)s, bytes, MADV_DONTNEED);
    slot_put(s, pages, keep);
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

void *ph__sample_alloc(size_t size, size_t align, int zero)
{
    ph_thread *t = &ph__tl;
    uintptr_t pcs[PH_DEPTH];

    if (t->busy || S.stacks == NULL)
        return NULL;
    t->busy = 1;
    size_t depth = walk(pcs);
    double mean = (double)__atomic_load_n(&S.mean, __ATOMIC_RELAXED);
    double weight = size > 0 ? 1.0 / -expm1(-(double)size / mean) : 1.0;

    /* Layout: the header ends where the block starts, and the block is aligned. */
    size_t rounded = (size + 15) & ~(size_t)15;
    size_t lead = align > PH_HDR ? align : PH_HDR;
    size_t pages = (lead + rounded + PH_PAGE - 1) / PH_PAGE;
    void *p = NULL;

    pthread_mutex_lock(&S.lock);
    uintptr_t s = rounded >= size && rounded <= (S.slots_hi - S.slots_lo) / 2 ? slot_get(pages)
                                                                                : 0;
    if (s == 0) {
        S.fallbacks++;
        goto out;
    }
    uintptr_t b = (s + PH_HDR + align - 1) & ~(uintptr_t)(align - 1);
    ph_block *h = (ph_block *)(b - PH_HDR);
    h->slot = s;
    h->pages = pages;
    h->size = size;
    h->weight = weight;
    h->stack = stack_index(pcs, depth);
    h->magic = b ^ PH_MAGIC;
    if (h->stack != UINT32_MAX) {
        ph_stack *e = &S.stacks[h->stack];
        e->alloc_n += weight;
        e->alloc_b += weight * (double)size;
        e->inuse_n += weight;
        e->inuse_b += weight * (double)size;
        e->alloc_samples++;
        e->live_samples++;
    } else {
        S.dropped++;
    }
    S.samples++;
    S.live++;
    S.used += pages * PH_PAGE;
    p = (void *)b;
out:
    pthread_mutex_unlock(&S.lock);
    /* A reused slot may hold its last block's bytes; a new one is zero. */
    if (p && zero)
        memset(p, 0, size);
    t->busy = 0;
    return p;
}

/* The header of a live sampled block, or NULL (bootstrap block, or not a block of ours). */
static ph_block *header(void *p)
{
    uintptr_t b = (uintptr_t)p;

    if (b < S.slots_lo + PH_HDR || b >= __atomic_load_n(&S.committed, __ATOMIC_ACQUIRE) ||
        (b & 15) != 0)
        return NULL;
    ph_block *h = (ph_block *)(b - PH_HDR);
    return h->magic == (b ^ PH_MAGIC) ? h : NULL;
}

void ph__own_free(void *p)
{
    /* Bootstrap blocks are never reused; a pointer that is no block of ours (a double free)
     * is ignored rather than crashing the service. */
    if ((uintptr_t)p < S.slots_lo || header(p) == NULL)
        return;
    pthread_mutex_lock(&S.lock);
    ph_block *h = header(p); /* again: another thread may have freed it meanwhile */
    if (h) {
        h->magic = 0;
        if (h->stack != UINT32_MAX) {
            ph_stack *e = &S.stacks[h->stack];
            if (--e->live_samples == 0) {
                e->inuse_n = e->inuse_b = 0; /* exactly, whatever the rounding */
            } else {
                e->inuse_n -= h->weight;
                e->inuse_b -= h->weight * (double)h->size;
            }
        }
        S.live--;
        S.used -= h->pages * PH_PAGE;
        slot_release(h->slot, h->pages);
    }
    pthread_mutex_unlock(&S.lock);
}

size_t ph__own_usable(void *p)
{
    uintptr_t b = (uintptr_t)p;

    if (b < S.slots_lo) {
        size_t size; /* a bootstrap block: its size is in the 8 bytes before it */
        memcpy(&size, (char *)p - 8, sizeof(size));
        return size;
    }
    ph_block *h = header(p);
    return h ? (h->size + 15) & ~(size_t)15 : 0;
}

/* ---- the API ----------------------------------------------------------------------------- */

static void lock_prepare(void)
{
    pthread_mutex_lock(&S.lock);
}

static void lock_release(void)
{
    pthread_mutex_unlock(&S.lock);
}

uint64_t ph__boot_bytes(void);
void ph__after_init(void);

void ph__after_init(void)
{
    static int done;
    if (done++)
        return;
    pthread_atfork(lock_prepare, lock_release, lock_release);
    const char *env = getenv("PT_HEAP_SAMPLE");
    if (env && *env) {
        char *end;
        unsigned long long mean = strtoull(env, &end, 10);
        if (*end == 0 && mean > 0)
            pt_heap_start(mean);
    }
}

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
    uintptr_t me = (uintptr_t)&pt_heap_start;

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

    if (S.stacks)
        return 0;
    void *p = mmap(NULL, stacks + pool, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -ENOMEM;
    S.pool = (uintptr_t *)((char *)p + stacks);
    __atomic_store_n(&S.stacks, (ph_stack *)p, __ATOMIC_RELEASE);
    return 0;
}

PT_EXTERN int pt_heap_start(uint64_t mean_bytes)
{
    int err;

    if (S.slots_lo == 0)
        return -ENOMEM;
    ph__tl.busy++; /* the walker's first walk may allocate */
    pt__stack_init();
    if (S.self_hi == 0)
        dl_iterate_phdr(find_self, NULL); /* outside the lock: it takes the loader's */
    pthread_mutex_lock(&S.lock);
    err = tables_init();
    if (err == 0) {
        __atomic_store_n(&S.mean, mean_bytes ? mean_bytes : PT_HEAP_DEFAULT_MEAN,
                         __ATOMIC_RELAXED);
        __atomic_store_n(&ph__hot.active, ++S.epoch, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&S.lock);
    ph__tl.busy--;
    return err;
}

PT_EXTERN int pt_heap_stop(void)
{
    __atomic_store_n(&ph__hot.active, 0, __ATOMIC_RELEASE);
    return 0;
}

PT_EXTERN int pt_heap_active(void)
{
    return __atomic_load_n(&ph__hot.active, __ATOMIC_RELAXED) != 0;
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
    if (__atomic_load_n(&S.stacks, __ATOMIC_ACQUIRE) == NULL)
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
        .live_samples = S.live,
        .fallbacks = S.fallbacks,
        .stacks = S.nstacks,
        .stacks_dropped = S.dropped,
        .bootstrap_bytes = ph__boot_bytes(),
        .region_bytes = S.used,
        .region_size = S.slots_hi - S.slots_lo,
    };
    pthread_mutex_unlock(&S.lock);
    memcpy(out, &c, size < sizeof(c) ? size : sizeof(c));
    return 0;
}
