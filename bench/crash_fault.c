/* bench/crash_fault.c: how long a crash takes, from the fault to the core being written,
 * timed from the parent at waitpid, for a child of about 50 MiB RSS (docs/crash.md).
 *
 * Figure:
 *   crash.fault_to_core   ms from the parent's "go" (the child faults as soon as it reads it)
 *                         to waitpid() returning with the child dumped, for a child that ran
 *                         pt_crash_init() and logs to a file sink (local sinks only: the
 *                         report to crash.dir and the backup file, the fatal record to the
 *                         file sink, the core), against the same child without potter's crash
 *                         handling (the kernel's default action: the core alone). The budget
 *                         is 100 ms for potter's.
 *
 * Each run is a fresh child in a fresh folder under $TMPDIR (the core lands there when
 * core_pattern is relative; it is removed after each run). The child allocates and touches
 * 50 MiB, says it is ready on a pipe, and faults when the parent writes to another; the parent
 * waits on a pidfd (bounded: 10 s), then reaps. Runs alternate potter and the peer; figures
 * are medians, with p90 and max, and every run is printed first.
 *
 *     crash_fault [runs]        (default 15 of each)
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_c.h"
#include "potter/crash.h"
#include "potter/log.h"

#define RSS_BYTES (50u << 20)
#define MAX_RUNS 64

/* ---- the child ------------------------------------------------------------------------- */

NOINLINE static void fault_here(void)
{
    volatile int *volatile p = NULL;
    *p = 1;
}

static int child(int potter, int ready_fd, int go_fd)
{
    char *mem = malloc(RSS_BYTES), c = 0;

    if (!mem)
        return 2;
    memset(mem, 0x5a, RSS_BYTES);
    if (potter) {
        pt_log *log;
        pt_crash_options o = {.dir = "crash", .backup_file = "backup.txt", .service = "bench",
                              .version = "1", .max_cores = 1000};
        if (pt_log_new("bench", &log) != 0 || pt_log_add_file(log, "app.log", NULL, NULL) != 0)
            return 3;
        if (pt_crash_init(&o) != 0) {
            fprintf(stderr, "pt_crash_init: %s\n", pt_crash_error());
            return 4;
        }
        for (int i = 0; i < 100; i++)
            PT_INFO(log, "warm up", PT_INT("i", i));
        pt_log_flush(1000);
    }
    if (write(ready_fd, "r", 1) != 1 || read(go_fd, &c, 1) != 1)
        return 5;
    fault_here();
    return 6;
}

/* ---- the parent ------------------------------------------------------------------------ */

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* One run: ms from "go" to reaped, or a negative value when it went wrong. */
static double run_once(const char *self, int potter, int *cored)
{
    const char *tmp = getenv("TMPDIR");
    char dir[256];
    int ready[2], go[2], status = 0;
    double ms = -1;

    snprintf(dir, sizeof dir, "%s/pt-crash-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir) || pipe(ready) != 0 || pipe(go) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
        char rfd[16], gfd[16];
        if (setrlimit(RLIMIT_CORE, &rl) != 0) {
            getrlimit(RLIMIT_CORE, &rl);
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_CORE, &rl);
        }
        if (chdir(dir) != 0)
            _exit(120);
        snprintf(rfd, sizeof rfd, "%d", ready[1]);
        snprintf(gfd, sizeof gfd, "%d", go[0]);
        execl(self, self, "--child", potter ? "potter" : "bare", rfd, gfd, (char *)NULL);
        _exit(121);
    }
    close(ready[1]);
    close(go[0]);
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    char c;
    struct pollfd p = {ready[0], POLLIN, 0};
    if (pidfd >= 0 && poll(&p, 1, 10000) == 1 && read(ready[0], &c, 1) == 1) {
        uint64_t t0 = mono_ns();
        if (write(go[1], "g", 1) == 1) {
            struct pollfd q = {pidfd, POLLIN, 0};
            if (poll(&q, 1, 10000) == 1 && waitpid(pid, &status, 0) == pid)
                ms = (double)(mono_ns() - t0) / 1e6;
        }
    }
    if (ms < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    } else if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV) {
        fprintf(stderr, "crash_fault: child status 0x%x\n", status);
        ms = -1;
    }
    *cored = WIFSIGNALED(status) && WCOREDUMP(status);
    if (pidfd >= 0)
        close(pidfd);
    close(ready[0]);
    close(go[1]);
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    return ms;
}

static double quantile(double *v, int n, double q)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    int k = (int)(q * n + 0.999999) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

int main(int argc, char **argv)
{
    double mine[MAX_RUNS], bare[MAX_RUNS], sorted[MAX_RUNS];
    int runs = 15, cores_mine = 0, cores_bare = 0, cored;
    char buf[1024], ratio[32], pattern[256] = "?";

    if (argc == 5 && !strcmp(argv[1], "--child"))
        return child(!strcmp(argv[2], "potter"), atoi(argv[3]), atoi(argv[4]));
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 1;
    self[n] = '\0';
    if (argc > 1)
        runs = atoi(argv[1]);
    if (runs < 1 || runs > MAX_RUNS)
        runs = 15;
    FILE *f = fopen("/proc/sys/kernel/core_pattern", "r");
    if (f) {
        if (fgets(pattern, sizeof pattern, f))
            pattern[strcspn(pattern, "\n")] = '\0';
        fclose(f);
    }
    printf("# crash.fault_to_core: child of %u MiB RSS, core_pattern \"%s\"%s\n",
           RSS_BYTES >> 20, pattern,
           pattern[0] == '|' ? " (a pipe: the helper's time is included)" : "");
    fflush(stdout);
    for (int i = 0; i < runs; i++) {
        /* Alternate, and flip the order every run. */
        for (int k = 0; k < 2; k++) {
            int potter = (i + k) % 2 == 0;
            double ms = run_once(self, potter, &cored);
            if (ms < 0) {
                fprintf(stderr, "crash_fault: a run failed\n");
                return 1;
            }
            if (potter) {
                mine[i] = ms;
                cores_mine += cored;
            } else {
                bare[i] = ms;
                cores_bare += cored;
            }
        }
    }
    printf("# runs (ms): potter %s\n", runs_text(buf, sizeof buf, mine, (size_t)runs, "%.1f"));
    printf("# runs (ms): default action %s\n",
           runs_text(buf, sizeof buf, bare, (size_t)runs, "%.1f"));
    printf("# cores written: potter %d/%d, default action %d/%d\n", cores_mine, runs, cores_bare,
           runs);
    memcpy(sorted, mine, sizeof mine);
    double m50 = quantile(sorted, runs, 0.5), m90 = quantile(sorted, runs, 0.9),
           mmax = quantile(sorted, runs, 1.0);
    memcpy(sorted, bare, sizeof bare);
    double b50 = quantile(sorted, runs, 0.5), b90 = quantile(sorted, runs, 0.9);
    printf("# potter: p50 %.1f ms, p90 %.1f ms, max %.1f ms (budget 100 ms: %s); default "
           "action: p50 %.1f ms, p90 %.1f ms\n",
           m50, m90, mmax, mmax <= 100 ? "met" : "MISSED", b50, b90);
    printf("bench crash.fault_to_core %.1f ms vs default-action %.1f ms ratio %s\n", m50, b50,
           ratio_text(ratio, sizeof ratio, b50, m50));
    return 0;
}
