/* The process that crashes, for tests/crash/test_crash_*.c: `crash_child SCENARIO MAX_CORES`,
 * run in a temporary folder. It logs to app.log (a file sink), keeps its reports in crash/,
 * its backup report in backup.txt, registers a section and a shutdown hook (which writes
 * shutdown.txt), logs "child ready", then crashes the way SCENARIO says, each in a function
 * of its own (crash_*_here) that gdb must show in the crashed thread's top frames. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "potter/crash.h"
#include "potter/log.h"
#include "potter/prof.h"

#if defined(__clang__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE __attribute__((noinline, noclone))
#endif

static pt_log *app_log;

/* ---- the crashes ----------------------------------------------------------------------- */

NOINLINE void crash_segv_here(void)
{
    volatile int *volatile p = NULL;
    *p = 1;
}

NOINLINE void crash_bus_here(void)
{
    int fd = open("bus.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
    volatile char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        abort();
    m[100] = 1; /* the file is empty: past its end */
}

NOINLINE int crash_fpe_here(void)
{
    volatile int a = 1, b = 0;
    return a / b;
}

NOINLINE void crash_ill_here(void)
{
    __builtin_trap();
}

NOINLINE void crash_abort_here(void)
{
    /* abort() from inside a library: glibc's malloc finds a double free. */
    char *volatile p = malloc(64);
    free(p);
    free(p);
}

NOINLINE void crash_trap_here(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("int3");
#else
    __builtin_debugtrap();
#endif
}

/* seccomp traps getppid() on this thread: SIGSYS, SYS_SECCOMP. */
NOINLINE void crash_sys_here(void)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        abort();
    syscall(SYS_getppid);
}

/* Unbounded in practice: the limit is far beyond any stack. */
static volatile int overflow_limit = 1 << 30;

NOINLINE int crash_overflow_here(int depth)
{
    volatile char frame[2048];
    frame[0] = (char)depth;
    if (depth >= overflow_limit)
        return 0;
    return crash_overflow_here(depth + 1) + frame[0];
}

static void *overflow_thread(void *arg)
{
    (void)arg;
    /* A thread of the user's, created after start-up: pt_thread_init() gives it the
     * alternate stack the handler runs on once its own stack is gone. */
    if (pt_thread_init() != 0)
        abort();
    crash_overflow_here(0);
    return NULL;
}

static void crash_overflow(void)
{
    pthread_attr_t attr;
    pthread_t t;

    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_create(&t, &attr, overflow_thread, NULL);
    pthread_join(t, NULL);
}

NOINLINE void crash_panic_here(int n)
{
    pt_panic("boom %d: \"quoted\"", n);
}

NOINLINE void crash_assert_here(int n)
{
    pt_assert(n == 2);
}

/* Two threads fault at the same time. */
static pthread_barrier_t both;

NOINLINE void crash_thread_a_here(void)
{
    volatile int *volatile p = (int *)16;
    *p = 1;
}

NOINLINE void crash_thread_b_here(void)
{
    volatile int *volatile p = (int *)32;
    *p = 1;
}

static void *thread_a(void *arg)
{
    (void)arg;
    pt_thread_init();
    pthread_barrier_wait(&both);
    crash_thread_a_here();
    return NULL;
}

static void *thread_b(void *arg)
{
    (void)arg;
    pt_thread_init();
    pthread_barrier_wait(&both);
    crash_thread_b_here();
    return NULL;
}

static void crash_two_threads(void)
{
    pthread_t a, b;

    pthread_barrier_init(&both, NULL, 2);
    pthread_create(&a, NULL, thread_a, NULL);
    pthread_create(&b, NULL, thread_b, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
}

/* ---- sinks that misbehave -------------------------------------------------------------- */

static ssize_t sink_blocks(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    (void)len;
    for (;;) {
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
    return 0;
}

NOINLINE ssize_t crash_in_sink_here(const char *buf)
{
    volatile int *volatile p = NULL;
    if (strstr(buf, "\"level\":60"))
        *p = 1; /* the fatal record: the sink crashes in the middle of the crash path */
    return 0;
}

static ssize_t sink_crashes(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    crash_in_sink_here(buf);
    return (ssize_t)len;
}

static void add_sink(ssize_t (*write_fn)(void *, const char *, size_t), const char *kind)
{
    static pt_log_sink_ops ops;
    ops.kind = kind;
    ops.write = write_fn;
    if (pt_log_add_sink(app_log, &ops, NULL, NULL, NULL) != 0)
        abort();
}

/* ---- the rest of the child ------------------------------------------------------------- */

static void requests_section(int fd, void *arg)
{
    (void)arg;
    static const char lines[] = "req_id=r-1 GET /hello/:name\nreq_id=r-2 POST /upload\n";
    (void)!write(fd, lines, sizeof lines - 1);
}

static void section_hangs(int fd, void *arg)
{
    (void)fd;
    (void)arg;
    for (;;) {
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
}

static void shutdown_hook(void *arg, uint64_t timeout_ms)
{
    (void)arg;
    FILE *f = fopen("shutdown.txt", "w");
    if (f) {
        fprintf(f, "drained within %llu ms\n", (unsigned long long)timeout_ms);
        fclose(f);
    }
}

/* pt-log is parked in a signal handler (the prof part's thread-dump signal, one of the two
 * that libpotter's threads leave open; prof is not used here), so nothing drains the rings. */
static void park(int sig)
{
    (void)sig;
    for (;;) {
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
}

static pid_t thread_named(const char *name)
{
    char path[300], comm[32];
    for (int tries = 0; tries < 100; tries++) {
        DIR *d = opendir("/proc/self/task");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
            FILE *f = fopen(path, "r");
            if (!f)
                continue;
            int found = fgets(comm, sizeof comm, f) && !strncmp(comm, name, strlen(name)) &&
                        comm[strlen(name)] == '\n';
            fclose(f);
            if (found) {
                closedir(d);
                return (pid_t)atoi(e->d_name);
            }
        }
        if (d)
            closedir(d);
        usleep(10000);
    }
    return 0;
}

static void fill_ring(void)
{
    struct sigaction sa;
    pid_t writer = thread_named("pt-log");

    if (!writer)
        abort();
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = park;
    sigaction(PT_PROF_SIGNAL_THREADS, &sa, NULL);
    syscall(SYS_tgkill, getpid(), writer, PT_PROF_SIGNAL_THREADS);
    usleep(50000);
    /* A 4 KiB ring holds a few dozen of these; the rest are dropped (info drops at once). */
    for (int i = 0; i < 1000; i++)
        PT_INFO(app_log, "filler", PT_INT("i", i), PT_STR("pad", "0123456789abcdef0123456789"));
    pt_log_counters c;
    pt_log_counters_get(&c);
    if (c.dropped[PT_LOG_LEVEL_INDEX(PT_LOG_INFO)] == 0)
        abort(); /* the ring never filled */
}

int main(int argc, char **argv)
{
    const char *scenario = argc > 1 ? argv[1] : "segv";
    unsigned max_cores = argc > 2 ? (unsigned)atoi(argv[2]) : 100;
    int rc;

    if (!strcmp(scenario, "ring_full")) {
        pt_log_config cfg = {.ring_bytes = 4096};
        if (pt_log_configure(&cfg) != 0)
            return 2;
    }
    if ((rc = pt_log_new("crashtest", &app_log)) != 0 ||
        (rc = pt_log_add_file(app_log, "app.log", NULL, NULL)) != 0) {
        fprintf(stderr, "log: %s\n", pt_strerror(rc));
        return 2;
    }
    pt_crash_options o = {
        .dir = "crash",
        .backup_file = "backup.txt",
        .service = "crashtest",
        .version = "1.0.0",
        .logger_timeout_ms = 200,
        .shutdown_timeout_ms = 1000,
        .max_cores = max_cores,
        .core_window_s = 3600,
    };
    if ((rc = pt_crash_init(&o)) != 0) {
        fprintf(stderr, "pt_crash_init: %s\n", pt_crash_error());
        return 3;
    }
    pt_crash_add_section("requests", requests_section, NULL);
    pt_crash_set_shutdown(shutdown_hook, NULL);
    if (!strcmp(scenario, "section_hang"))
        pt_crash_add_section("hang", section_hangs, NULL);
    if (!strcmp(scenario, "sink_block"))
        add_sink(sink_blocks, "blocks");
    if (!strcmp(scenario, "sink_crash"))
        add_sink(sink_crashes, "crashes");
    PT_INFO(app_log, "child ready", PT_STR("scenario", scenario));
    pt_log_flush(1000);
    PT_WARN(app_log, "about to crash", PT_STR("scenario", scenario));

    if (!strcmp(scenario, "segv") || !strcmp(scenario, "sink_block") ||
        !strcmp(scenario, "sink_crash") || !strcmp(scenario, "section_hang"))
        crash_segv_here();
    else if (!strcmp(scenario, "bus"))
        crash_bus_here();
    else if (!strcmp(scenario, "fpe"))
        crash_fpe_here();
    else if (!strcmp(scenario, "ill"))
        crash_ill_here();
    else if (!strcmp(scenario, "abrt"))
        crash_abort_here();
    else if (!strcmp(scenario, "trap"))
        crash_trap_here();
    else if (!strcmp(scenario, "sys"))
        crash_sys_here();
    else if (!strcmp(scenario, "overflow"))
        crash_overflow();
    else if (!strcmp(scenario, "panic"))
        crash_panic_here(42);
    else if (!strcmp(scenario, "assert"))
        crash_assert_here(1);
    else if (!strcmp(scenario, "two_threads"))
        crash_two_threads();
    else if (!strcmp(scenario, "ring_full")) {
        fill_ring();
        crash_segv_here();
    } else {
        fprintf(stderr, "unknown scenario %s\n", scenario);
        return 4;
    }
    fprintf(stderr, "crash_child: %s did not end the process\n", scenario);
    return 5;
}
