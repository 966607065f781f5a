/* bench/bench_util.h: what the C++ benchmark drivers share: a calibrated cycle counter,
 * percentiles and medians, a scratch folder, and the `bench` line of DESIGN.md. */
#ifndef PT_BENCH_UTIL_H
#define PT_BENCH_UTIL_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "bench_c.h"

namespace bench
{

/* The time stamp counter, fenced so that the timed code neither starts before nor ends
 * after the read. A pair costs about 20 ns here, which is why callers time bursts. */
static inline uint64_t ticks()
{
    _mm_lfence();
    uint64_t t = __rdtsc();
    _mm_lfence();
    return t;
}

static inline uint64_t mono_ns()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Nanoseconds per tick, measured against CLOCK_MONOTONIC over `ms` milliseconds. */
static inline double ns_per_tick(unsigned ms = 100)
{
    uint64_t n0 = mono_ns(), t0 = ticks();
    while (mono_ns() - n0 < ms * 1000000ull) {
    }
    uint64_t n1 = mono_ns(), t1 = ticks();
    return (double)(n1 - n0) / (double)(t1 - t0);
}

static inline void sleep_ns(long ns)
{
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* The q-quantile (0..1) of v, by the nearest-rank rule; v is sorted in place. */
template <class T> static double quantile(std::vector<T> &v, double q)
{
    if (v.empty())
        return NAN;
    std::sort(v.begin(), v.end());
    size_t k = (size_t)std::ceil(q * (double)v.size());
    if (k > 0)
        k--;
    return (double)v[std::min(k, v.size() - 1)];
}

static inline double median(std::vector<double> v)
{
    return quantile(v, 0.5);
}

/* "18.2 19.0 21.3": the runs of a figure, in the order they ran. */
static inline std::string runs_text(const std::vector<double> &v, const char *fmt = "%.1f")
{
    std::string s;
    char buf[64];
    for (double x : v) {
        snprintf(buf, sizeof buf, fmt, x);
        if (!s.empty())
            s += ' ';
        s += buf;
    }
    return s;
}

/* The ratio printed on a bench line, >1 when potter is better: peer/potter for costs,
 * potter/peer for throughputs. A zero cost for potter against a nonzero one for the peer is
 * "inf"; zero against zero is 1 (equal). */
static inline std::string ratio_text(double better_when_high, double other)
{
    char buf[64];
    if (other == 0)
        return better_when_high == 0 ? "1.00" : "inf";
    snprintf(buf, sizeof buf, "%.2f", better_when_high / other);
    return buf;
}

/* A private scratch folder under $TMPDIR (or /tmp), removed with its files by ~scratch. */
struct scratch {
    std::string dir;
    scratch()
    {
        const char *t = getenv("TMPDIR");
        std::string tmpl = std::string(t && *t ? t : "/tmp") + "/potter-bench-XXXXXX";
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        if (mkdtemp(buf.data()) == NULL) {
            perror("mkdtemp");
            exit(1);
        }
        dir = buf.data();
    }
    std::string path(const char *name) const
    {
        return dir + "/" + name;
    }
    ~scratch()
    {
        DIR *d = opendir(dir.c_str());
        if (d != NULL) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL)
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                    unlink((dir + "/" + e->d_name).c_str());
            closedir(d);
        }
        rmdir(dir.c_str());
    }
};

/* How busy the machine was with other processes while a benchmark ran: the CPU time of the
 * whole machine (/proc/stat) minus this process's own (/proc/self/stat), as a share of all
 * CPUs over the elapsed time. Other work on a 2-core VM shows directly in the tails. */
struct machine_load {
    uint64_t all0, self0, ns0;
    static void read(uint64_t *all, uint64_t *self)
    {
        cpu_ticks(all, self); /* bench_c.h, shared with the C benchmarks */
    }
    machine_load() : ns0(mono_ns())
    {
        read(&all0, &self0);
    }
    /* Percent of the machine's CPUs used by other processes since construction. */
    double others_pct() const
    {
        uint64_t all1, self1;
        read(&all1, &self1);
        double hz = (double)sysconf(_SC_CLK_TCK), cpus = (double)sysconf(_SC_NPROCESSORS_ONLN);
        double secs = (double)(mono_ns() - ns0) / 1e9;
        double other = (double)(all1 - all0) - (double)(self1 - self0);
        return other < 0 ? 0 : 100.0 * other / hz / (secs * cpus);
    }
};

/* The 1-minute load average, as /proc/loadavg gives it. */
static inline std::string loadavg()
{
    char buf[64] = "?";
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%63s", buf) != 1)
            strcpy(buf, "?");
        fclose(f);
    }
    return buf;
}

struct file_stats {
    uint64_t bytes = 0;
    uint64_t lines = 0;
};

/* Size and newline count of a file (zeros when it does not exist). */
static inline file_stats count_file(const std::string &path)
{
    file_stats st;
    FILE *f = fopen(path.c_str(), "rb");
    if (f == NULL)
        return st;
    static char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        st.bytes += n;
        for (const char *p = buf; (p = (const char *)memchr(p, '\n', (size_t)(buf + n - p))); p++)
            st.lines++;
    }
    fclose(f);
    return st;
}

/* The first line of a file, without its newline (for the informational output). */
static inline std::string first_line(const std::string &path)
{
    std::string s;
    FILE *f = fopen(path.c_str(), "rb");
    if (f == NULL)
        return s;
    int c;
    while ((c = fgetc(f)) != EOF && c != '\n')
        s += (char)c;
    fclose(f);
    return s;
}

} // namespace bench

#endif
