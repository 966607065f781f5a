/* The crash path (docs/crash.md): the fatal signal handler and pt_panic() share it.
 *
 *   claim ─> watchdog armed ─> core decided ─> 1. report ─> 2. fatal record, stats
 *        ─> 3. shutdown hook (panics only) ─> 4. default actions back; the signal takes the
 *           process: returning to a faulting instruction, or raised again
 *
 * Every step is bounded. Step 1's writes to a pipe give up at their deadline, step 2 is
 * bounded by crash.logger_timeout, step 3 by crash.shutdown_timeout; and a watchdog armed at
 * the start ends whatever still runs when the sum of the bounds has passed: a kernel timer
 * sends SIGABRT to the crashing thread (the handler, seeing its own thread again, takes the
 * default action of the original signal, so a core is still written), and a second one sends
 * SIGKILL to the process two seconds later, should even that not happen.
 *
 * Only async-signal-safe calls here: write, pread, lseek, openat, close, poll, nanosleep,
 * clock_gettime, getpid, gettid, prctl, getrlimit/setrlimit, sigaction, pthread_sigmask,
 * tgkill, and timer_create/timer_settime as raw system calls (glibc's timer_create is not on
 * the list; the kernel's is just a system call). pt_panic() itself formats its message with
 * vsnprintf: it runs outside any handler, and its memory is trusted.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "crash/crash_internal.h"
#include "log/log_crash.h"
#include "potter/crash.h"
#include "stats/stats_crash.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

/* Step 1's bound: writing the report (to a pipe nobody reads, it gives up here). */
#define REPORT_MS 1000
/* Between the watchdog's SIGABRT and its SIGKILL. */
#define HARD_MARGIN_MS 2000
/* Tells the watchdog's SIGABRT from any other. */
#define WATCHDOG_MAGIC 0x70746377

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};
#define NFATAL (sizeof fatal_signals / sizeof fatal_signals[0])

/* The crash path's memory: static, touched at init, used by the owner thread only. */
static pt__crash_info info;
static char fatal_line[16384];
static char panic_message[PT__CRASH_MESSAGE_MAX + 1];

/* The signal that ends the process, and the watchdog's timers (kernel timer ids). */
static int final_signo;
/* Set once step 2 started: the watchdog sends the fatal record itself when it had not. */
static volatile sig_atomic_t fatal_started;
static int watchdog_soft = -1, watchdog_hard = -1;

void pt__crash_pretouch(void)
{
    memset(&info, 0, sizeof info);
    memset(fatal_line, 0, sizeof fatal_line);
    memset(panic_message, 0, sizeof panic_message);
    pt__crash_report_pretouch();
}

/* ---- small system-call helpers --------------------------------------------------------- */

static void note(const char *text)
{
    pt__crash_write_all(pt__crash.backup_fd, text, strlen(text),
                        pt__crash_mono_ns() + 100 * 1000000ull);
}

static void defaults_back(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (size_t i = 0; i < NFATAL; i++)
        sigaction(fatal_signals[i], &sa, NULL);
}

/* The calling thread takes fatal signals only (the watchdog's SIGABRT included, and a fault
 * of the crash path itself); everything else waits, SIGPIPE from a closed backup pipe too. */
static void mask_all_but_fatal(void)
{
    sigset_t set;

    sigfillset(&set);
    for (size_t i = 0; i < NFATAL; i++)
        sigdelset(&set, fatal_signals[i]);
    pthread_sigmask(SIG_SETMASK, &set, NULL);
}

static int timer_make(int notify, int signo, pid_t tid)
{
    struct sigevent sev;
    int id = -1;

    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = notify;
    sev.sigev_signo = signo;
    sev.sigev_value.sival_int = WATCHDOG_MAGIC;
    if (notify == SIGEV_THREAD_ID)
        sev.sigev_notify_thread_id = tid;
    if (syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &id) != 0)
        return -1;
    return id;
}

/* Arms (ms > 0) or disarms (ms == 0) a kernel timer. */
static void timer_set(int id, uint64_t ms)
{
    struct itimerspec its;

    if (id < 0)
        return;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = (time_t)(ms / 1000);
    its.it_value.tv_nsec = (long)(ms % 1000) * 1000000;
    syscall(SYS_timer_settime, id, 0, &its, NULL);
}

/* The whole path's bound: every step's, plus a margin for the steps that have none of their
 * own (counting in stats, setting limits). */
static uint64_t path_bound_ms(enum pt__crash_kind kind)
{
    return REPORT_MS + pt__crash.logger_timeout_ms +
           (kind == PT__CRASH_PANIC ? pt__crash.shutdown_timeout_ms : 0) + 250;
}

static void watchdog_arm(enum pt__crash_kind kind, pid_t tid)
{
    uint64_t bound = path_bound_ms(kind);

    watchdog_soft = timer_make(SIGEV_THREAD_ID, SIGABRT, tid);
    watchdog_hard = timer_make(SIGEV_SIGNAL, SIGKILL, 0);
    timer_set(watchdog_soft, bound);
    timer_set(watchdog_hard, bound + HARD_MARGIN_MS);
}

/* Ends the calling thread's part: the default action of sig, unblocked. For a fault that
 * repeats, the caller returns from the handler (the core then shows the faulting
 * instruction on top); otherwise sig is raised here and never returns. */
static void die_by(int sig, int refaults)
{
    sigset_t set;

    defaults_back();
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    if (refaults)
        return;
    syscall(SYS_tgkill, getpid(), pt__crash_gettid(), sig);
    /* Not reached: sig is fatal, unblocked, and at its default action. */
    syscall(SYS_tgkill, getpid(), pt__crash_gettid(), SIGKILL);
}

/* ---- the core -------------------------------------------------------------------------- */

/* Decides whether this crash leaves a core, and makes it so: first thing in the path, so
 * that a second fault anywhere after it goes to a default action that obeys the budget. */
static void core_decide(pt__crash_info *ci)
{
    struct rlimit rl;
    int piped = pt__crash.core_pattern[0] == '|';

    ci->core = PT__CORE_ALLOWED;
    ci->cores_in_window = 0;
    if (pt__crash.budget_fd >= 0 &&
        !pt__crash_budget_take(pt__crash.budget_fd, (int64_t)ci->when.tv_sec,
                               pt__crash.core_window_s, pt__crash.max_cores,
                               &ci->cores_in_window)) {
        /* Not dumpable: no core even through a core_pattern pipe, which ignores RLIMIT_CORE. */
        ci->core = PT__CORE_OVER_BUDGET;
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        rl.rlim_cur = rl.rlim_max = 0;
        setrlimit(RLIMIT_CORE, &rl);
        return;
    }
    if (getrlimit(RLIMIT_CORE, &rl) == 0) {
        if (rl.rlim_cur != rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_CORE, &rl);
        }
        if (rl.rlim_max == 0 && !piped)
            ci->core = PT__CORE_DISABLED;
    }
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

/* ---- the path -------------------------------------------------------------------------- */

/* The report's file in crash.dir (its path in ci), or the scratch memfd, or -1. */
static int open_report(pt__crash_info *ci)
{
    pt__cbuf name = {ci->report_name, 0, sizeof ci->report_name - 1, 0};
    int fd = -1;

    ci->report_path[0] = '\0';
    if (pt__crash.dir_fd >= 0) {
        pt__cb_str(&name, "crash-");
        pt__cb_time(&name, &ci->when, 1);
        pt__cb_char(&name, '-');
        pt__cb_u64(&name, (uint64_t)ci->pid);
        pt__cb_str(&name, ".txt");
        name.p[name.len] = '\0';
        fd = openat(pt__crash.dir_fd, ci->report_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                    0640);
        if (fd >= 0) {
            pt__cbuf path = {ci->report_path, 0, sizeof ci->report_path - 1, 0};
            pt__cb_str(&path, pt__crash.dir);
            pt__cb_char(&path, '/');
            pt__cb_str(&path, ci->report_name);
            path.p[path.len] = '\0';
            return fd;
        }
    }
    return pt__crash.scratch_fd;
}

static void thread_name(pt__crash_info *ci)
{
    memset(ci->thread, 0, sizeof ci->thread);
    if (prctl(PR_GET_NAME, ci->thread, 0, 0, 0) != 0)
        ci->thread[0] = '\0';
}

static void walk(pt__crash_info *ci, void *uc)
{
    ci->npcs = pt__stack_walk(uc, ci->pcs, PT__STACK_MAX);
#if defined(__x86_64__)
    /* A walk refused (the crash interrupted a walk on this thread): the faulting pc at least. */
    if (ci->npcs <= 0 && uc) {
        ci->pcs[0] = (uintptr_t)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
        ci->npcs = 1;
    }
#endif
    if (ci->npcs < 0)
        ci->npcs = 0;
}

/* Steps 1 to 3 and step 4's preparation, on the owner thread. */
static void crash_run(pt__crash_info *ci, void *uc)
{
    uint64_t start = pt__crash_mono_ns();
    int fd;

    mask_all_but_fatal();
    watchdog_arm(ci->kind, ci->tid);
    clock_gettime(CLOCK_REALTIME, &ci->when);
    ci->pid = getpid();
    thread_name(ci);
    core_decide(ci);
    walk(ci, uc);

    /* 1. The report. */
    fd = open_report(ci);
    pt__crash_report_write(ci, fd, pt__crash.backup_fd, start + REPORT_MS * 1000000ull);
    if (fd >= 0 && fd != pt__crash.scratch_fd)
        close(fd);

    /* 2. The fatal record to every sink, bounded; the count in stats. */
    fatal_started = 1;
    size_t len = pt__crash_fatal_line(ci, fatal_line, sizeof fatal_line);
    if (len)
        pt__log_crash_fatal(fatal_line, len, pt__crash.logger_timeout_ms);
    pt__stats_crash_send();

    /* 3. A panic's drain. */
    if (ci->kind == PT__CRASH_PANIC) {
        void (*shutdown)(void *, uint64_t) = atomic_load(&pt__crash.shutdown_fn);
        void *arg = atomic_load(&pt__crash.shutdown_arg);
        if (shutdown)
            shutdown(arg, pt__crash.shutdown_timeout_ms);
    }

    /* 4. Default actions back: from here a fault anywhere ends the process at once. */
    defaults_back();
}

/* Another thread crashed while this one owns the path: a fault of the path itself, or the
 * watchdog saying the path overran its bound. Either way: the default action, now. */
static void owner_again(int sig, const siginfo_t *si)
{
    if (sig == SIGABRT && si && si->si_code == SI_TIMER &&
        si->si_value.sival_int == WATCHDOG_MAGIC) {
        note("\n== watchdog: the crash path overran its bound; ending the process\n");
        /* Step 1 hung (a section, a pipe): the record still goes out, straight to the file
         * and stderr sinks' descriptors (a zero bound does not wait for pt-log). */
        if (!fatal_started) {
            fatal_started = 1;
            size_t len = pt__crash_fatal_line(&info, fatal_line, sizeof fatal_line);
            if (len)
                pt__log_crash_fatal(fatal_line, len, 0);
        }
        /* Last resort should even this fail: SIGKILL, later (a core may be long to write). */
        timer_set(watchdog_hard, 10000);
        die_by(final_signo, 0);
        return;
    }
    note("\n== fault in the crash path: taking the default action\n");
    die_by(sig, si ? pt__crash_refaults(sig, si->si_code) : 0);
}

/* A second thread crashed while another owns the path: it notes itself, then waits for the
 * process to end (bounded: should the owner never finish, it ends the process itself). */
static void wait_for_owner(int sig, const siginfo_t *si, pid_t tid)
{
    pid_t none = 0;
    uint64_t end;

    if (atomic_compare_exchange_strong(&pt__crash.other_tid, &none, tid))
        atomic_store(&pt__crash.other_signo, sig);
    end = pt__crash_mono_ns() + (path_bound_ms(PT__CRASH_PANIC) + HARD_MARGIN_MS + 1000) *
                                    1000000ull;
    while (pt__crash_mono_ns() < end) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    die_by(sig, si ? pt__crash_refaults(sig, si->si_code) : 0);
}

static int fault_has_addr(int sig, int code)
{
    return code > 0 && (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL ||
                        sig == SIGTRAP);
}

void pt__crash_handler(int sig, siginfo_t *si, void *uc)
{
    int saved_errno = errno;
    pid_t tid = pt__crash_gettid(), owner = 0;

    if (!atomic_compare_exchange_strong(&pt__crash.owner, &owner, tid)) {
        if (owner == tid)
            owner_again(sig, si);
        else
            wait_for_owner(sig, si, tid);
        errno = saved_errno;
        return;
    }
    final_signo = sig;
    info.kind = PT__CRASH_SIGNAL;
    info.signo = sig;
    info.code = si->si_code;
    info.has_addr = fault_has_addr(sig, si->si_code);
    info.addr = info.has_addr ? (uintptr_t)si->si_addr : 0;
    info.uc = uc;
    info.message = NULL;
    info.tid = tid;
    crash_run(&info, uc);

    if (pt__crash_refaults(sig, si->si_code)) {
        /* The fault repeats on return, at its default action: the watchdog must not cut the
         * core short (a fatal signal stops the kernel's dump). */
        timer_set(watchdog_soft, 0);
        timer_set(watchdog_hard, 0);
    }
    die_by(sig, pt__crash_refaults(sig, si->si_code));
    errno = saved_errno;
}

/* ---- pt_panic -------------------------------------------------------------------------- */

/* Claims the path for a panic. Returns when this thread owns it now; otherwise it does not
 * return (the process ends by SIGABRT, here or by the owner's crash). */
static void panic_claim(pid_t tid)
{
    pid_t owner = 0;

    if (atomic_compare_exchange_strong(&pt__crash.owner, &owner, tid))
        return;
    if (owner != tid)
        wait_for_owner(SIGABRT, NULL, tid);
    /* A panic inside the crash path (a section, the shutdown hook): no second report. */
    note("\n== panic in the crash path: taking the default action\n");
    die_by(SIGABRT, 0);
}

void pt_panic(const char *fmt, ...)
{
    pid_t tid = pt__crash_gettid();
    ucontext_t uc;
    va_list ap;

    panic_claim(tid);
    va_start(ap, fmt);
    vsnprintf(panic_message, sizeof panic_message, fmt, ap);
    va_end(ap);
    final_signo = SIGABRT;
    info.kind = PT__CRASH_PANIC;
    info.signo = SIGABRT;
    info.code = SI_TKILL;
    info.has_addr = 0;
    info.addr = 0;
    info.message = panic_message;
    info.tid = tid;
    info.uc = getcontext(&uc) == 0 ? &uc : NULL;
    crash_run(&info, (void *)info.uc);

    /* 4. Raised here, so the core shows pt_panic's caller right under it. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGABRT);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    timer_set(watchdog_soft, 0);
    timer_set(watchdog_hard, 0);
    syscall(SYS_tgkill, getpid(), tid, SIGABRT);
    syscall(SYS_tgkill, getpid(), tid, SIGKILL);
    for (;;)
        pause();
}

void pt__assert_failed(const char *expr, const char *file, int line, const char *func)
{
    pt_panic("assertion failed: %s (%s:%d, %s)", expr, file, line, func);
}
