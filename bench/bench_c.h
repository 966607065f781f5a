/* bench/bench_c.h: what the C benchmark drivers share (bench_util.h is its C++ twin): clocks,
 * medians and quantiles, the per-round spread text, the ratio of a `bench` line, and how busy
 * the rest of the machine was.
 *
 *     double runs[ROUNDS];                                 // one figure per round
 *     ...
 *     printf("# x runs (ns): potter %s\n", runs_text(buf, sizeof(buf), runs, ROUNDS, "%.2f"));
 *     printf("bench part.x %.2f ns vs peer %.2f ns ratio %s\n", median(runs, ROUNDS), peer,
 *            ratio_text(r, sizeof(r), peer, median(runs, ROUNDS)));
 */
#ifndef PT_BENCH_C_H
#define PT_BENCH_C_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static inline uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void sleep_ns(long ns)
{
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static inline int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of v[0..n) by the nearest-rank rule; v is sorted in place. */
static inline uint64_t quantile_u64(uint64_t *v, size_t n, double q)
{
    qsort(v, n, sizeof(*v), cmp_u64);
    size_t k = (size_t)(q * (double)n + 0.999999);
    if (k > 0)
        k--;
    return v[k < n ? k : n - 1];
}

/* The median of runs[0..n), n <= 64 (the lower one of the middle two when n is even). */
static inline double median(const double *runs, size_t n)
{
    double v[64];
    memcpy(v, runs, n * sizeof(*v));
    qsort(v, n, sizeof(*v), cmp_double);
    return v[(n - 1) / 2];
}

/* "18.2 19.0 21.3": the runs of a figure, in the order they ran. */
static inline const char *runs_text(char *buf, size_t cap, const double *runs, size_t n,
                                    const char *fmt)
{
    size_t len = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && len < cap; i++) {
        if (i > 0)
            len += (size_t)snprintf(buf + len, cap - len, " ");
        if (len < cap)
            len += (size_t)snprintf(buf + len, cap - len, fmt, runs[i]);
    }
    return buf;
}

/* peer/potter for costs: above 1 when potter is better; "inf" and "1.00" as bench_util.h. */
static inline const char *ratio_text(char *buf, size_t cap, double better_when_high, double other)
{
    if (other == 0)
        snprintf(buf, cap, "%s", better_when_high == 0 ? "1.00" : "inf");
    else
        snprintf(buf, cap, "%.2f", better_when_high / other);
    return buf;
}

/* CPU time of the whole machine (all but idle and iowait) and of this process, in ticks. */
static inline void cpu_ticks(uint64_t *all, uint64_t *self)
{
    *all = *self = 0;
    FILE *f = fopen("/proc/stat", "r");
    if (f != NULL) {
        unsigned long long v[8] = {0};
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]) == 8)
            *all = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
        fclose(f);
    }
    f = fopen("/proc/self/stat", "r");
    if (f != NULL) {
        char buf[1024];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = 0;
        const char *p = strrchr(buf, ')');
        unsigned long long ut = 0, st = 0;
        if (p != NULL &&
            sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
            *self = ut + st;
        fclose(f);
    }
}

/* Percent of the machine's CPUs other processes used between two cpu_ticks() readings. */
static inline double others_pct(uint64_t all0, uint64_t self0, uint64_t ns0)
{
    uint64_t all1, self1;
    cpu_ticks(&all1, &self1);
    double hz = (double)sysconf(_SC_CLK_TCK), cpus = (double)sysconf(_SC_NPROCESSORS_ONLN);
    double secs = (double)(mono_ns() - ns0) / 1e9;
    double other = (double)(all1 - all0) - (double)(self1 - self0);
    return other < 0 ? 0 : 100.0 * other / hz / (secs * cpus);
}

/* The 1-minute load average, as /proc/loadavg gives it. */
static inline const char *loadavg(char *buf, size_t cap)
{
    snprintf(buf, cap, "?");
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%63s", buf) != 1)
            snprintf(buf, cap, "?");
        fclose(f);
    }
    return buf;
}

#endif
