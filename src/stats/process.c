/* The process collector (pt_stats_collect_process()): gauges of the process, read from
 * /proc each time the collectors run (every flush and every Prometheus rendering).
 *
 *   process.rss_bytes            resident set: /proc/self/statm's second field x page size
 *   process.cpu_user_seconds     getrusage(RUSAGE_SELF), every thread, exited ones included
 *   process.cpu_system_seconds   (microseconds, where /proc/self/stat has clock ticks)
 *   process.open_fds             entries of /proc/self/fd, less the one reading it
 *   process.threads              /proc/self/stat, field 20
 *   process.uptime_seconds       /proc/uptime less the start (field 22, in clock ticks)
 *   process.start_time_seconds   the start as Unix time: /proc/stat's btime plus field 22
 *
 * A value that cannot be read (no /proc) is not set, so the gauge keeps its last value (or,
 * never set, is not sent). The handles are asked for at each call: the registry gives the
 * same ones back for a hash lookup, a small cost once a second, and nothing is kept that
 * could outlive its registry. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/core_internal.h"
#include "stats/stats_internal.h"

/* Reads a small file whole into buf (NUL-terminated). Returns its length, or -1. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = pt__read_fd(fd, buf, cap - 1);
    close(fd);
    buf[len] = '\0';
    return (ssize_t)len;
}

/* The boot time as Unix time (/proc/stat "btime N"), or -1. */
static long long boot_time(void)
{
    static long long btime = -1; /* does not change: read once */
    long long t = __atomic_load_n(&btime, __ATOMIC_RELAXED);
    char buf[16384];

    if (t >= 0)
        return t;
    if (read_small("/proc/stat", buf, sizeof(buf)) < 0)
        return -1;
    const char *p = strstr(buf, "\nbtime ");
    if (p == NULL || sscanf(p + 7, "%lld", &t) != 1)
        return -1;
    __atomic_store_n(&btime, t, __ATOMIC_RELAXED);
    return t;
}

/* Fields of /proc/self/stat (man 5 proc) that the gauges need. */
typedef struct proc_stat {
    long threads; /* field 20 */
    unsigned long long start_ticks; /* field 22: since boot, in clock ticks */
} proc_stat;

static int read_proc_stat(proc_stat *out)
{
    char buf[1024];

    if (read_small("/proc/self/stat", buf, sizeof(buf)) < 0)
        return -1;
    /* The command name (field 2) is in parentheses and may hold spaces and ')'. */
    const char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    p++;
    for (int field = 3; *p; field++) {
        while (*p == ' ')
            p++;
        if (field == 20)
            out->threads = strtol(p, NULL, 10);
        if (field == 22) {
            out->start_ticks = strtoull(p, NULL, 10);
            return 0;
        }
        p += strcspn(p, " ");
    }
    return -1;
}

/* Open descriptors, not counting the one that lists them. -1 if it cannot tell. */
static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    long n = 0;

    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0;
}

/* Seconds since boot (/proc/uptime, "12345.67 ..."), read without the locale's help (a
 * decimal comma would stop sscanf at the point). -1 if it cannot be read. */
static double uptime_since_boot(void)
{
    char buf[128], *end;

    if (read_small("/proc/uptime", buf, sizeof(buf)) <= 0)
        return -1;
    double t = (double)strtoull(buf, &end, 10);
    if (end == buf)
        return -1;
    if (*end == '.')
        for (double scale = 0.1; *++end >= '0' && *end <= '9'; scale /= 10)
            t += (*end - '0') * scale;
    return t;
}

static void set(pt_stats *stats, const char *name, double value)
{
    pt_gauge_set(pt_stats_gauge(stats, name, NULL), value);
}

void pt_stats_collect_process(pt_stats *stats, void *arg)
{
    char buf[256];
    struct rusage ru;
    proc_stat st = {0};
    long page = sysconf(_SC_PAGESIZE), ticks = sysconf(_SC_CLK_TCK);
    unsigned long long size, resident;
    long fds;
    double uptime;

    (void)arg;
    if (stats == NULL)
        return;
    if (read_small("/proc/self/statm", buf, sizeof(buf)) > 0 &&
        sscanf(buf, "%llu %llu", &size, &resident) == 2 && page > 0)
        set(stats, "process.rss_bytes", (double)resident * (double)page);
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        set(stats, "process.cpu_user_seconds",
            (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6);
        set(stats, "process.cpu_system_seconds",
            (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
    }
    if ((fds = open_fds()) >= 0)
        set(stats, "process.open_fds", (double)fds);
    if (read_proc_stat(&st) < 0 || ticks <= 0)
        return;
    set(stats, "process.threads", (double)st.threads);
    double started = (double)st.start_ticks / (double)ticks; /* seconds after boot */
    if ((uptime = uptime_since_boot()) >= 0)
        set(stats, "process.uptime_seconds", uptime > started ? uptime - started : 0);
    long long btime = boot_time();
    if (btime >= 0)
        set(stats, "process.start_time_seconds", (double)btime + started);
}
