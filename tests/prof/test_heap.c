/* The heap profiler (src/prof/heap/, src/prof/heap.c): this test links libpotter-heap, whose
 * malloc interposes on glibc's, and checks that sampling really happens, that a known 10:1
 * workload is attributed 10:1, that freed blocks leave in-use, that sampled blocks behave as
 * blocks (realloc, calloc, alignment, usable size), that nothing is sampled while off, that
 * threads can allocate at once, and that `go tool pprof` reads the profile.
 *
 * Plain build only (LABELS no-sanitizer): under ASan, ASan owns malloc and this library would
 * not see allocations (or would fight it). */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "potter/heap.h"
#include "prof/profile_check.h"
#include "prof/stack.h"

/* noipa: also keeps gcc from folding the identical sites of a pair into one function. */
#if defined(__has_attribute) && __has_attribute(noipa)
#define NOINLINE __attribute__((noinline, noipa))
#else
#define NOINLINE __attribute__((noinline))
#endif

/* Keeps the compiler from eliding a malloc/free pair. */
static inline void use(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

static pt_heap_counters counters(void)
{
    pt_heap_counters c;
    assert_int_equal(pt_heap_get_counters(&c, sizeof(c)), 0);
    return c;
}

/* The same size classes for both sites of a pair. */
static const size_t sizes[] = {32, 64, 96, 128, 256, 512, 48, 160};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* ---- which stacks belong to which function ----------------------------------------------- */

/* Totals of the stacks whose leaf (the call into malloc) is in the function named name. */
struct site_sum {
    const char *name;
    pt__symbolizer *sym;
    pt_heap_stack_stats sum;
    size_t stacks;
};

static void sum_site(void *arg, const uintptr_t *pcs, size_t depth,
                     const pt_heap_stack_stats *st)
{
    struct site_sum *s = arg;
    pt__sym_line lines[8];

    if (depth == 0)
        return;
    size_t n = pt__symbolize(s->sym, pcs[0], 0, lines, 8);
    /* The real function is the last line (inlined frames come first). */
    if (n == 0 || strcmp(lines[n - 1].function, s->name) != 0)
        return;
    s->stacks++;
    s->sum.alloc_objects += st->alloc_objects;
    s->sum.alloc_bytes += st->alloc_bytes;
    s->sum.inuse_objects += st->inuse_objects;
    s->sum.inuse_bytes += st->inuse_bytes;
    s->sum.alloc_samples += st->alloc_samples;
    s->sum.inuse_samples += st->inuse_samples;
}

static pt_heap_stack_stats site(const char *name)
{
    struct site_sum s = {.name = name};
    assert_int_equal(pt__symbolizer_new(&s.sym), 0);
    assert_int_equal(pt_heap_snapshot(sum_site, &s, NULL), 0);
    pt__symbolizer_free(s.sym);
    return s.sum;
}

/* ---- sampling happens, and is attributed 10:1 -------------------------------------------- */

NOINLINE static void ratio_small(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *p = malloc(sizes[i % NSIZES]);
        p[0] = 1;
        use(p);
        free(p);
    }
}

NOINLINE static void ratio_big(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *p = malloc(sizes[i % NSIZES]);
        p[0] = 1;
        use(p);
        free(p);
    }
}

/* Mean 4 KiB rather than the default 512 KiB, for statistical power in a short test: the
 * small site allocates ~8 MB, ~2000 samples, so the ratio's standard deviation is ~2.4% and
 * the 10% bound is 4 of them. */
static void test_ratio_10_to_1(void **state)
{
    (void)state;
    pt_heap_counters before = counters();
    assert_int_equal(pt_prof_heap_available(), 1);
    assert_int_equal(pt_heap_start(4096), 0);
    assert_int_equal(pt_heap_active(), 1);
    for (int round = 0; round < 10; round++) {
        ratio_small(4000);
        ratio_big(40000);
    }
    assert_int_equal(pt_heap_stop(), 0);
    pt_heap_counters after = counters();
    /* Sampling really happened: this library's malloc is the one the test calls. */
    assert_true(after.samples - before.samples > 10000);
    assert_int_equal(after.untracked, before.untracked);

    pt_heap_stack_stats s = site("ratio_small"), b = site("ratio_big");
    double bytes = 10 * 4000 * 162.0; /* the mean of sizes[] is 162 */
    print_message("small: %" PRIu64 " B (%" PRIu64 " samples), big: %" PRIu64 " B (%" PRIu64
                  " samples), ratio %.3f; true small total %.0f B\n",
                  s.alloc_bytes, s.alloc_samples, b.alloc_bytes, b.alloc_samples,
                  (double)b.alloc_bytes / (double)s.alloc_bytes, bytes);
    assert_true(s.alloc_samples > 1000);
    double ratio = (double)b.alloc_bytes / (double)s.alloc_bytes;
    assert_true(ratio > 9.0 && ratio < 11.0);
    double objs = (double)b.alloc_objects / (double)s.alloc_objects;
    assert_true(objs > 9.0 && objs < 11.0);
    /* The scaled totals estimate the true ones (unbiased): within 15% for the small site. */
    assert_true((double)s.alloc_bytes > bytes * 0.85 && (double)s.alloc_bytes < bytes * 1.15);
    assert_true((double)s.alloc_objects > 40000 * 0.85 && (double)s.alloc_objects < 40000 * 1.15);
    /* Everything was freed at once. */
    assert_int_equal(s.inuse_bytes, 0);
    assert_int_equal(b.inuse_samples, 0);
}

/* ---- freed blocks leave in-use ----------------------------------------------------------- */

#define KEEP 4000
static void *kept[KEEP];

NOINLINE static void keep_alloc(void)
{
    for (size_t i = 0; i < KEEP; i++) {
        kept[i] = malloc(1000);
        memset(kept[i], 7, 1000);
    }
}

static void test_freed_leave_inuse(void **state)
{
    (void)state;
    assert_int_equal(pt_heap_start(16384), 0);
    keep_alloc();
    assert_int_equal(pt_heap_stop(), 0);
    pt_heap_stack_stats a = site("keep_alloc");
    print_message("kept: in use %" PRIu64 " B, %" PRIu64 " objects (%" PRIu64
                  " samples); true 4000000 B\n",
                  a.inuse_bytes, a.inuse_objects, a.inuse_samples);
    assert_true(a.inuse_samples > 100);
    assert_true(a.inuse_bytes > 0 && a.inuse_bytes == a.alloc_bytes);
    /* ~250 samples at 16 KiB: a standard deviation of ~6.5%; the bound is 30%. */
    assert_true(a.inuse_bytes > 2800000 && a.inuse_bytes < 5200000);
    uint64_t live = counters().live_samples;
    assert_true(live >= a.inuse_samples);

    for (size_t i = 0; i < KEEP; i++)
        free(kept[i]);
    pt_heap_stack_stats f = site("keep_alloc");
    assert_int_equal(f.inuse_bytes, 0);
    assert_int_equal(f.inuse_objects, 0);
    assert_int_equal(f.inuse_samples, 0);
    assert_int_equal(f.alloc_bytes, a.alloc_bytes);
    assert_int_equal(f.alloc_objects, a.alloc_objects);
    assert_int_equal(counters().live_samples, live - a.inuse_samples);
}

/* ---- sampled blocks behave as blocks ----------------------------------------------------- */

/* Mean 1 byte: every allocation of a few bytes or more is sampled. */
static void test_sampled_blocks(void **state)
{
    (void)state;
    pt_heap_counters c0 = counters();
    assert_int_equal(pt_heap_start(1), 0);

    char *p = malloc(100);
    assert_non_null(p);
    assert_int_equal(counters().live_samples, c0.live_samples + 1);
    assert_int_equal((uintptr_t)p % 16, 0);
    assert_true(malloc_usable_size(p) >= 100);
    for (int i = 0; i < 100; i++)
        p[i] = (char)i;

    /* realloc: content kept, growing and shrinking; the old block released. */
    p = realloc(p, 10000);
    assert_non_null(p);
    assert_true(malloc_usable_size(p) >= 10000);
    for (int i = 0; i < 100; i++)
        assert_int_equal(p[i], (char)i);
    memset(p + 100, 0x55, 9900);
    p = realloc(p, 50);
    assert_non_null(p);
    for (int i = 0; i < 50; i++)
        assert_int_equal(p[i], (char)i);
    assert_int_equal(counters().live_samples, c0.live_samples + 1);
    p = reallocarray(p, 30, 10);
    assert_non_null(p);
    for (int i = 0; i < 50; i++)
        assert_int_equal(p[i], (char)i);
    /* An overflowing size fails and leaves the block alone. */
    volatile size_t huge = SIZE_MAX / 2;
    errno = 0;
#if !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif
    assert_null(reallocarray(p, huge, 4));
    assert_int_equal(errno, ENOMEM);
    assert_int_equal(p[3], 3);
    free(p);
#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif
    assert_int_equal(counters().live_samples, c0.live_samples);

    /* calloc where a dirty block was: zeroed all the same. */
    char *d = malloc(8000);
    memset(d, 0xff, 8000);
    use(d);
    free(d);
    unsigned char *z = calloc(1000, 8);
    assert_non_null(z);
    for (int i = 0; i < 8000; i++)
        assert_int_equal(z[i], 0);
    assert_true(malloc_usable_size(z) >= 8000);
    free(z);

    /* Alignments. */
    void *a = NULL;
    assert_int_equal(posix_memalign(&a, 256, 1000), 0);
    assert_int_equal((uintptr_t)a % 256, 0);
    memset(a, 1, 1000);
    assert_true(malloc_usable_size(a) >= 1000);
    void *b = aligned_alloc(4096, 8192);
    assert_non_null(b);
    assert_int_equal((uintptr_t)b % 4096, 0);
    memset(b, 2, 8192);
    void *m = memalign(65536, 100);
    assert_non_null(m);
    assert_int_equal((uintptr_t)m % 65536, 0);
    memset(m, 3, 100);
    void *v = valloc(10);
    assert_non_null(v);
    assert_int_equal((uintptr_t)v % 4096, 0);
    void *pv = pvalloc(10);
    assert_non_null(pv);
    assert_int_equal((uintptr_t)pv % 4096, 0);
    assert_true(malloc_usable_size(pv) >= 4096);
    memset(pv, 4, 4096);
    assert_int_equal(counters().live_samples, c0.live_samples + 5);
    free(a);
    free(b);
    free(m);
    free(v);
    free(pv);
    assert_int_equal(posix_memalign(&a, 24, 100), EINVAL); /* not a power of two */

    /* realloc(p, 0) of a sampled block frees it (glibc's behaviour); realloc(NULL, n). */
    p = realloc(NULL, 300);
    assert_non_null(p);
    assert_int_equal(counters().live_samples, c0.live_samples + 1);
    assert_null(realloc(p, 0));
    assert_int_equal(counters().live_samples, c0.live_samples);

    /* A large block (the real allocator's mmap'd kind). */
    char *big = malloc(32 << 20);
    assert_non_null(big);
    assert_int_equal(counters().live_samples, c0.live_samples + 1);
    memset(big, 9, 32 << 20);
    use(big);
    free(big);
    assert_int_equal(counters().live_samples, c0.live_samples);

    free(NULL);
    p = malloc(0);
    free(p);
    assert_int_equal(pt_heap_stop(), 0);
    pt_heap_counters c1 = counters();
    assert_int_equal(c1.live_samples, c0.live_samples);
    assert_int_equal(c1.untracked, c0.untracked);
    print_message("forced: %" PRIu64 " samples\n", c1.samples - c0.samples);
    assert_true(c1.samples - c0.samples >= 13);
}

/* ---- off: nothing sampled ---------------------------------------------------------------- */

static void test_off_no_samples(void **state)
{
    (void)state;
    assert_int_equal(pt_heap_stop(), 0);
    assert_int_equal(pt_heap_active(), 0);
    pt_heap_counters c0 = counters();
    ratio_big(200000);
    void *p = calloc(1000, 1000);
    p = realloc(p, 2000000);
    free(p);
    assert_int_equal(counters().samples, c0.samples);
}

/* ---- threads ----------------------------------------------------------------------------- */

NOINLINE static void *thread_work(void *arg)
{
    void *slots[64] = {0};
    uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;

    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t k = x % 64, size = 16 + (x >> 20) % 2000;
        if ((x >> 40) % 4 == 0 && slots[k]) {
            slots[k] = realloc(slots[k], size);
        } else {
            free(slots[k]);
            slots[k] = (x >> 50) % 8 == 0 ? calloc(1, size) : malloc(size);
        }
        assert_non_null(slots[k]);
        ((char *)slots[k])[size - 1] = 1;
    }
    for (int k = 0; k < 64; k++)
        free(slots[k]);
    return NULL;
}

struct totals {
    uint64_t alloc_samples, inuse_samples;
};

static void add_totals(void *arg, const uintptr_t *pcs, size_t depth,
                       const pt_heap_stack_stats *st)
{
    struct totals *t = arg;
    t->alloc_samples += st->alloc_samples;
    t->inuse_samples += st->inuse_samples;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t th[4];
    pt_heap_counters c0 = counters();

    assert_int_equal(pt_heap_start(8192), 0);
    for (uintptr_t i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, thread_work, (void *)(i + 1)), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(pt_heap_stop(), 0);

    pt_heap_counters c1 = counters();
    print_message("threads: %" PRIu64 " samples, %" PRIu64 " stacks\n", c1.samples - c0.samples,
                  c1.stacks);
    /* 4 x 200000 allocations of ~1000 B on average at 8 KiB: ~100k samples. */
    assert_true(c1.samples - c0.samples > 50000);
    assert_int_equal(c1.untracked, c0.untracked);
    /* Everything the threads allocated was freed (glibc's own per-thread allocations, made
     * by pthread_create and kept in its stack cache, may be sampled and live on). */
    pt_heap_stack_stats w = site("thread_work");
    assert_true(w.alloc_samples > 50000);
    assert_int_equal(w.inuse_samples, 0);
    assert_int_equal(w.inuse_bytes, 0);
    /* The tables agree with the counters. */
    struct totals t = {0};
    assert_int_equal(pt_heap_snapshot(add_totals, &t, NULL), 0);
    assert_int_equal(t.alloc_samples, c1.samples - c1.stacks_dropped);
    assert_int_equal(t.inuse_samples, c1.live_samples);
}

/* ---- go tool pprof reads it -------------------------------------------------------------- */

#define PPROF_SMALL 10000
#define PPROF_BIG 100000
static void *pprof_kept[PPROF_SMALL + PPROF_BIG], *pprof_tmp[PPROF_BIG];

NOINLINE static void pprof_small(void **out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = malloc(sizes[i % NSIZES]);
        use(out[i]);
    }
}

NOINLINE static void pprof_big(void **out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = malloc(sizes[i % NSIZES]);
        use(out[i]);
    }
}

/* The flat% that go tool pprof -top gave function name (-1 when absent). */
static double flat_share(const char *top, const char *name)
{
    for (const char *l = top; *l;) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        char line[512], fv[32], fp[32], sp[32], cv[32], cp[32];
        int off = 0;
        if (len < sizeof(line)) {
            memcpy(line, l, len);
            line[len] = 0;
            if (sscanf(line, " %31s %31[0-9.]%% %31[0-9.]%% %31s %31[0-9.]%% %n", fv, fp, sp, cv,
                       cp, &off) == 5 &&
                off > 0 && strcmp(line + off, name) == 0)
                return atof(fp);
        }
        l += len + (nl != NULL);
    }
    return -1;
}

static void assert_pprof_ratio(const char *file, const char *index, double lo, double hi)
{
    char args[128];
    snprintf(args, sizeof(args), "-top -sample_index=%s", index);
    char *top = pchk_pprof(args, file);
    double s = flat_share(top, "pprof_small"), b = flat_share(top, "pprof_big");
    print_message("%s: pprof_big %.2f%%, pprof_small %.2f%%\n", index, b, s);
    if (s <= 0 || b <= 0 || b / s < lo || b / s > hi)
        fail_msg("%s: pprof_big %.2f%% / pprof_small %.2f%% is not within %.1f..%.1f:\n%s",
                 index, b, s, lo, hi, top);
    free(top);
}

/* inuse_space: ~1.6 MB kept from the small site at 4 KiB: ~400 samples, so the ratio's
 * standard deviation is ~5%: the bound is 20% there (4 of them); 10% for alloc_space, whose
 * small-site total (kept blocks and 4 rounds freed at once) rests on ~2000 samples. */
static void test_pprof(void **state)
{
    (void)state;
    pchk_require_go();
    assert_int_equal(pt_heap_start(4096), 0);
    pprof_small(pprof_kept, PPROF_SMALL);
    pprof_big(pprof_kept + PPROF_SMALL, PPROF_BIG);
    for (int round = 0; round < 4; round++) {
        /* Allocated and freed: in alloc_space only. */
        pprof_small(pprof_tmp, PPROF_SMALL);
        for (size_t i = 0; i < PPROF_SMALL; i++)
            free(pprof_tmp[i]);
        pprof_big(pprof_tmp, PPROF_BIG);
        for (size_t i = 0; i < PPROF_BIG; i++)
            free(pprof_tmp[i]);
    }
    assert_int_equal(pt_heap_stop(), 0);

    void *gz = NULL;
    size_t len = 0;
    assert_int_equal(pt_prof_heap_profile(&gz, &len), 0);
    struct pchk_decoded d;
    pchk_decode(gz, len, &d);
    assert_int_equal(d.nsample_types, 4);
    assert_true(pchk_has_string(&d, "alloc_objects"));
    assert_true(pchk_has_string(&d, "inuse_space"));
    assert_true(pchk_has_string(&d, "space"));
    assert_int_equal(d.period, 4096);
    assert_true(d.value_sum[3] > 0 && d.value_sum[1] >= d.value_sum[3]);
    free(d.strings);
    char file[128];
    snprintf(file, sizeof(file), "%s/heap.pb.gz", pchk_tmpdir);
    pchk_write_file(file, gz, len);
    free(gz);

    assert_pprof_ratio(file, "inuse_space", 8.0, 12.0);
    assert_pprof_ratio(file, "alloc_space", 9.0, 11.0);
    /* Without -sample_index pprof shows inuse_space, as for Go's heap profiles. */
    char *top = pchk_pprof("-top", file);
    if (strstr(top, "inuse_space") == NULL)
        fail_msg("the default sample type is not inuse_space:\n%s", top);
    free(top);
    for (size_t i = 0; i < PPROF_SMALL + PPROF_BIG; i++)
        free(pprof_kept[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratio_10_to_1),   cmocka_unit_test(test_freed_leave_inuse),
        cmocka_unit_test(test_sampled_blocks),  cmocka_unit_test(test_off_no_samples),
        cmocka_unit_test(test_threads),         cmocka_unit_test(test_pprof),
    };
    return cmocka_run_group_tests(tests, pchk_setup, pchk_teardown);
}
