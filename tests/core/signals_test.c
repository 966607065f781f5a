/* pt-ops and pt-work block every asynchronous signal; the fault signals stay open. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>

#include <cmocka.h>

#include "core/core_test.h"
#include "potter/core.h"

static const int async_sigs[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGTERM, SIGUSR1,  SIGUSR2,
                                 SIGPIPE, SIGALRM, SIGCHLD, SIGPROF, SIGWINCH, SIGURG};
static const int fault_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};

#define NSIG_OF(a) (sizeof(a) / sizeof((a)[0]))

/* 1 when the calling thread's mask is libpotter's, -1 otherwise. */
static int mask_is_potters(void)
{
    sigset_t set;

    pthread_sigmask(SIG_BLOCK, NULL, &set);
    for (size_t i = 0; i < NSIG_OF(async_sigs); i++)
        if (!sigismember(&set, async_sigs[i]))
            return -1;
    if (!sigismember(&set, SIGRTMIN) || !sigismember(&set, SIGRTMAX))
        return -1;
    for (size_t i = 0; i < NSIG_OF(fault_sigs); i++)
        if (sigismember(&set, fault_sigs[i]))
            return -1;
    return 1;
}

/* The SigBlk mask of a thread, as the kernel reports it. */
static unsigned long long sigblk_of(pid_t tid)
{
    char path[64], line[256];
    unsigned long long mask = 0;
    FILE *f;

    snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "SigBlk: %llx", &mask) == 1)
            break;
    fclose(f);
    return mask;
}

static int sigblk_is_potters(unsigned long long mask)
{
    for (size_t i = 0; i < NSIG_OF(async_sigs); i++)
        if (!(mask & (1ull << (async_sigs[i] - 1))))
            return 0;
    for (size_t i = 0; i < NSIG_OF(fault_sigs); i++)
        if (mask & (1ull << (fault_sigs[i] - 1)))
            return 0;
    return 1;
}

struct probe {
    atomic_int mask_ok;
    atomic_int tid;
};

static void ops_probe(void *arg)
{
    struct probe *p = arg;

    atomic_store(&p->tid, (int)syscall(SYS_gettid));
    atomic_store(&p->mask_ok, mask_is_potters());
}

static void work_probe(void *arg, int status)
{
    ops_probe(arg);
}

static void test_ops_thread_blocks_signals(void **state)
{
    static struct probe p;
    sigset_t before, after;

    sigemptyset(&before);
    sigemptyset(&after);
    pthread_sigmask(SIG_BLOCK, NULL, &before);
    assert_int_equal(pt_ops_post(ops_probe, &p), 0);
    assert_true(test_wait_ge(&p.mask_ok, 1, 5000));
    assert_true(test_wait_ge(&p.tid, 1, 5000));
    assert_true(sigblk_is_potters(sigblk_of(atomic_load(&p.tid))));
    /* starting the thread left the caller's mask alone */
    pthread_sigmask(SIG_BLOCK, NULL, &after);
    for (int sig = 1; sig < NSIG; sig++)
        assert_int_equal(sigismember(&before, sig), sigismember(&after, sig));
    assert_false(sigismember(&after, SIGTERM));
}

static void test_work_thread_blocks_signals(void **state)
{
    static struct probe p;

    assert_int_equal(pt_work_submit(work_probe, &p, 0), 0);
    assert_true(test_wait_ge(&p.mask_ok, 1, 5000));
    assert_true(test_wait_ge(&p.tid, 1, 5000));
    assert_true(sigblk_is_potters(sigblk_of(atomic_load(&p.tid))));
}

/* A process-directed signal reaches the only thread that does not block it: ours. */
static atomic_int usr1_tid;

static void on_usr1(int sig)
{
    atomic_store(&usr1_tid, (int)syscall(SYS_gettid));
}

static void test_process_signal_reaches_app_thread(void **state)
{
    static struct probe p;
    struct sigaction sa = {0}, old;
    int me = (int)syscall(SYS_gettid);

    /* both threads exist */
    assert_non_null(pt_ops_loop());
    assert_int_equal(pt_work_submit(work_probe, &p, 0), 0);
    assert_true(test_wait_ge(&p.tid, 1, 5000));
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    for (int i = 0; i < 50; i++) {
        atomic_store(&usr1_tid, 0);
        assert_int_equal(kill(getpid(), SIGUSR1), 0);
        assert_true(test_wait_ge(&usr1_tid, 1, 5000));
        assert_int_equal(atomic_load(&usr1_tid), me);
    }
    sigaction(SIGUSR1, &old, NULL);
}

static void *block_and_report(void *arg)
{
    sigset_t open;

    /* Start from a mask with a fault signal blocked: it must come out open. */
    sigemptyset(&open);
    sigaddset(&open, SIGSEGV);
    pthread_sigmask(SIG_SETMASK, &open, NULL);
    pt_thread_block_signals();
    *(int *)arg = mask_is_potters();
    return NULL;
}

static void test_block_signals_in_caller(void **state)
{
    pthread_t t;
    int result = 0;

    assert_int_equal(pthread_create(&t, NULL, block_and_report, &result), 0);
    pthread_join(t, NULL);
    assert_int_equal(result, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops_thread_blocks_signals),
        cmocka_unit_test(test_work_thread_blocks_signals),
        cmocka_unit_test(test_process_signal_reaches_app_thread),
        cmocka_unit_test(test_block_signals_in_caller),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
