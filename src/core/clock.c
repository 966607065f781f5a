/* Clocks: the invariant TSC for timestamps taken on hot paths, converted to wall time later.
 *
 * pt_clock_ticks() is rdtsc when the CPU says its TSC is invariant (constant rate, running in
 * every C-state), which is what makes one reading per log record cheap. The conversion to
 * wall time keeps two anchors, (ticks, CLOCK_REALTIME ns) pairs: the slope between them gives
 * the tick rate, and a reading is placed relative to the newer anchor. Anchors are refreshed
 * by whoever converts, at most every 500 ms, so a step of the wall clock (NTP, settimeofday)
 * shows up within that time. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "core/clock_internal.h"
#include "potter/core.h"

struct anchor {
    uint64_t ticks;
    int64_t wall;
};

static struct {
    pthread_once_t once;
    pthread_mutex_t mu;
    int use_tsc;
    double ns_per_tick; /* refined as the anchors spread apart */
    struct anchor first;
    struct anchor last;
} clk = {PTHREAD_ONCE_INIT, PTHREAD_MUTEX_INITIALIZER, 0, 1.0, {0, 0}, {0, 0}};

int pt__clock_use_tsc = -1;

uint64_t pt_clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t pt_clock_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int tsc_invariant(void)
{
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
        return 0;
    __cpuid(0x80000007u, a, b, c, d);
    return (d >> 8) & 1; /* "Invariant TSC" */
#else
    return 0;
#endif
}

/* A reading of both clocks taken as close together as we can: the wall clock read between
 * two tick reads, keeping the tightest of a few tries. */
static struct anchor take_anchor(void)
{
    struct anchor best = {0, 0};
    uint64_t best_gap = UINT64_MAX;
    for (int i = 0; i < 5; i++) {
        uint64_t t0 = pt__clock_ticks();
        int64_t w = pt_clock_wall_ns();
        uint64_t t1 = pt__clock_ticks();
        if (t1 - t0 < best_gap) {
            best_gap = t1 - t0;
            best.ticks = t0 + (t1 - t0) / 2;
            best.wall = w;
        }
    }
    return best;
}

static void clock_init(void)
{
    clk.use_tsc = tsc_invariant();
    /* Before the first reading: it picks the clock. Read without a lock on hot paths. */
    __atomic_store_n(&pt__clock_use_tsc, clk.use_tsc, __ATOMIC_RELAXED);
    clk.first = clk.last = take_anchor();
    clk.ns_per_tick = clk.use_tsc ? 0.0 : 1.0; /* 0: not measured yet, see calibrate() */
}

/* A first estimate of the tick rate, over at least 2 ms since the first anchor; the anchors
 * refine it later. Deferred to the first conversion (on pt-log, usually), so that the first
 * tick reading a caller takes costs no more than the others. Callers hold clk.mu. */
static void calibrate(void)
{
    if (clk.ns_per_tick > 0.0)
        return;
    struct anchor b;
    do
        b = take_anchor();
    while (b.wall - clk.first.wall < 2000000 && b.wall >= clk.first.wall);
    clk.ns_per_tick = b.ticks > clk.first.ticks
                          ? (double)(b.wall - clk.first.wall) / (double)(b.ticks - clk.first.ticks)
                          : 0.0;
    if (!(clk.ns_per_tick > 0.0))
        clk.ns_per_tick = 1.0;
    clk.last = b;
}

void pt__clock_init(void)
{
    pthread_once(&clk.once, clock_init);
}

uint64_t pt_clock_ticks(void)
{
    if (PT_UNLIKELY(__atomic_load_n(&pt__clock_use_tsc, __ATOMIC_RELAXED) < 0))
        pt__clock_init();
    return pt__clock_ticks();
}

double pt__clock_ns_per_tick(void)
{
    pt__clock_init();
    pthread_mutex_lock(&clk.mu);
    calibrate();
    double npt = clk.ns_per_tick;
    pthread_mutex_unlock(&clk.mu);
    return npt;
}

int64_t pt_clock_ticks_to_wall_ns(uint64_t ticks)
{
    /* A thread that converts often (pt-log, once per record) reuses the anchor and slope it
     * last read for 50 ms instead of taking the lock each time; they move by far less than
     * a millisecond's worth in that time. */
    static _Thread_local struct {
        uint64_t until; /* in ticks */
        struct anchor last;
        double npt;
    } cache;
    uint64_t t = pt__clock_ticks();
    if (PT_LIKELY(cache.npt != 0 && t < cache.until))
        return cache.last.wall + (int64_t)((double)(int64_t)(ticks - cache.last.ticks) * cache.npt);
    pt__clock_init();
    pthread_mutex_lock(&clk.mu);
    calibrate();
    uint64_t now = pt__clock_ticks();
    if ((double)(now - clk.last.ticks) * clk.ns_per_tick > 500e6) {
        clk.last = take_anchor();
        if (clk.use_tsc && clk.last.ticks - clk.first.ticks > 0) {
            double slope = (double)(clk.last.wall - clk.first.wall) /
                           (double)(clk.last.ticks - clk.first.ticks);
            /* A wall clock step makes the slope absurd: keep the old one then. */
            if (slope > clk.ns_per_tick * 0.99 && slope < clk.ns_per_tick * 1.01)
                clk.ns_per_tick = slope;
        }
    }
    struct anchor last = clk.last;
    double npt = clk.ns_per_tick;
    pthread_mutex_unlock(&clk.mu);
    cache.last = last;
    cache.npt = npt;
    cache.until = now + (uint64_t)(50e6 / npt);
    int64_t delta = (int64_t)(ticks - last.ticks); /* negative for readings before the anchor */
    return last.wall + (int64_t)((double)delta * npt);
}

int64_t pt__clock_ticks_to_wall_signal_safe(uint64_t ticks)
{
    /* No lock: the slope is read as it is (a double written whole on x86_64) and the anchor is
     * now, from the kernel. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wall = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    double npt = __atomic_load_n(&pt__clock_use_tsc, __ATOMIC_RELAXED) > 0 ? clk.ns_per_tick : 1.0;
    int64_t delta = (int64_t)(pt__clock_ticks() - ticks);
    return wall - (int64_t)((double)delta * npt);
}
