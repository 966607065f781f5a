/* fork(): the child has no background threads; its first use starts fresh ones; what the
 * parent had queued is not run in the child; a lock held at fork time does not hang it.
 *
 * Children report through their exit status (0 = fine, else the number of the failed
 * check) and end with _exit(), so no cmocka or sanitizer exit machinery runs twice. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>

#include <cmocka.h>

#include "core/core_test.h"
#include "potter/core.h"

static int thread_count(void)
{
    DIR *dir = opendir("/proc/self/task");
    struct dirent *d;
    int n = 0;

    if (!dir)
        return -1;
    while ((d = readdir(dir)) != NULL)
        if (d->d_name[0] != '.')
            n++;
    closedir(dir);
    return n;
}

/* A joined thread may still be listed for a moment: its tid is released before the kernel
 * has reaped it. Returns 1 once only the caller is left, 0 after timeout_ms. */
static int only_thread_left(unsigned timeout_ms)
{
    uint64_t end = test_now_ms() + timeout_ms;

    while (thread_count() != 1) {
        if (test_now_ms() > end)
            return 0;
        test_sleep_ms(1);
    }
    return 1;
}

static void flag_task(void *arg)
{
    atomic_store((atomic_int *)arg, 1);
}

static void flag_job(void *arg, int status)
{
    atomic_store((atomic_int *)arg, status == 0 ? 1 : -1);
}

static void count_task(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

static atomic_int ops_tid;

static void tid_task(void *arg)
{
    atomic_store(&ops_tid, (int)syscall(SYS_gettid));
}

/* In a child: pt-ops and pt-work work (fresh threads), and stop cleanly. Returns 0 or the
 * number of the failed check. */
static int child_uses_threads(void)
{
    static atomic_int posted, submitted, fired;
    pt_ops_timer *t;

    atomic_store(&posted, 0);
    atomic_store(&submitted, 0);
    atomic_store(&fired, 0);
    atomic_store(&ops_tid, 0);
    if (pt_ops_is_current())
        return 10;
    if (pt_work_pending() != 0)
        return 11;
    if (pt_ops_post(flag_task, &posted) != 0 || !test_wait_ge(&posted, 1, 5000))
        return 12;
    if (pt_ops_post(tid_task, NULL) != 0 || !test_wait_ge(&ops_tid, 1, 5000))
        return 13;
    if (atomic_load(&ops_tid) == (int)syscall(SYS_gettid))
        return 14;
    if (pt_work_submit(flag_job, &submitted, 1000) != 0 || !test_wait_ge(&submitted, 1, 5000))
        return 15;
    if (pt_ops_timer_start(1, 1, count_task, &fired, &t) != 0 || !test_wait_ge(&fired, 3, 5000))
        return 16;
    pt_ops_timer_free(t);
    if (pt_core_shutdown(5000) != 0)
        return 17;
    if (!only_thread_left(2000))
        return 18;
    return 0;
}

/* Shutdown before any use: nothing to join, nothing starts afterwards. Runs first, while
 * this process has not started its threads yet. */
static void test_shutdown_before_first_use(void **state)
{
    static atomic_int never;
    pid_t pid;

    assert_int_equal(thread_count(), 1);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (pt_core_shutdown(100) != 0)
            _exit(1);
        if (pt_ops_post(flag_task, &never) != -ESHUTDOWN)
            _exit(2);
        if (pt_work_submit(flag_job, &never, 0) != -ESHUTDOWN)
            _exit(3);
        if (thread_count() != 1)
            _exit(4);
        _exit(0);
    }
    assert_int_equal(test_wait_child(pid, 10000), 0);
}

static void test_child_starts_fresh_threads(void **state)
{
    static atomic_int ready, fires;
    pt_ops_timer *t;
    pid_t pid;

    assert_int_equal(pt_ops_post(flag_task, &ready), 0);
    assert_true(test_wait_ge(&ready, 1, 5000));
    assert_int_equal(pt_work_submit(flag_job, &ready, 0), 0);
    assert_int_equal(pt_ops_timer_start(0, 1, count_task, &fires, &t), 0);
    assert_true(test_wait_ge(&fires, 2, 5000));
    assert_true(thread_count() >= 3);

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (thread_count() != 1)
            _exit(1);
        /* the parent's timer cannot fire here; freeing it does not wait for anything */
        pt_ops_timer_free(t);
        _exit(child_uses_threads());
    }
    assert_int_equal(test_wait_child(pid, 20000), 0);

    /* the parent's threads are unaffected */
    atomic_store(&ready, 0);
    assert_int_equal(pt_ops_post(flag_task, &ready), 0);
    assert_true(test_wait_ge(&ready, 1, 5000));
    pt_ops_timer_free(t);
}

/* Tasks and jobs the parent had queued at fork time do not run in the child. */
static atomic_int hold_ops, hold_work, parent_task_ran, parent_job_ran, holding_ops, holding_work;

static void hold_ops_task(void *arg)
{
    atomic_store(&holding_ops, 1);
    test_wait_ge(&hold_ops, 1, 10000);
}

static void hold_work_job(void *arg, int status)
{
    atomic_store(&holding_work, 1);
    test_wait_ge(&hold_work, 1, 10000);
}

static void test_queued_work_stays_in_parent(void **state)
{
    pid_t pid;

    assert_int_equal(pt_ops_post(hold_ops_task, NULL), 0);
    assert_int_equal(pt_work_submit(hold_work_job, NULL, 0), 0);
    assert_true(test_wait_ge(&holding_ops, 1, 5000));
    assert_true(test_wait_ge(&holding_work, 1, 5000));
    assert_int_equal(pt_ops_post(flag_task, &parent_task_ran), 0);
    assert_int_equal(pt_work_submit(flag_job, &parent_job_ran, 0), 0);
    assert_int_equal(pt_work_pending(), 2);

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int err = child_uses_threads();

        if (err)
            _exit(err);
        if (atomic_load(&parent_task_ran) || atomic_load(&parent_job_ran))
            _exit(1);
        _exit(0);
    }
    assert_int_equal(test_wait_child(pid, 20000), 0);

    atomic_store(&hold_ops, 1);
    atomic_store(&hold_work, 1);
    assert_true(test_wait_ge(&parent_task_ran, 1, 5000));
    assert_true(test_wait_ge(&parent_job_ran, 1, 5000));
}

/* fork() from a task on pt-ops and from a job on pt-work: the child's only thread is a
 * copy of that one, and must not believe it is pt-ops. */
static atomic_int forked_pid;

static void fork_child_body(void)
{
    if (pt_ops_is_current())
        _exit(2);
    _exit(child_uses_threads());
}

static void forking_task(void *arg)
{
    pid_t pid = fork();

    if (pid == 0)
        fork_child_body();
    atomic_store(&forked_pid, pid > 0 ? (int)pid : -1);
}

static void forking_job(void *arg, int status)
{
    forking_task(arg);
}

static void test_fork_from_ops_and_work(void **state)
{
    atomic_store(&forked_pid, 0);
    assert_int_equal(pt_ops_post(forking_task, NULL), 0);
    assert_true(test_wait_ge(&forked_pid, 1, 5000));
    assert_int_equal(test_wait_child((pid_t)atomic_load(&forked_pid), 20000), 0);

    atomic_store(&forked_pid, 0);
    assert_int_equal(pt_work_submit(forking_job, NULL, 0), 0);
    assert_true(test_wait_ge(&forked_pid, 1, 5000));
    assert_int_equal(test_wait_child((pid_t)atomic_load(&forked_pid), 20000), 0);
}

/* Fork while other threads post, submit and start/free timers as fast as they can: the
 * queue locks are often held at the instant of fork(). Every child must still work.
 * The hammers pause while the parent waits for the child: on a small VM, two threads
 * spinning through futexes can delay the kernel's reaping of the child by seconds. */
static atomic_int hammer_stop, hammer_pause;

static void noop_task(void *arg)
{
}

static void noop_job(void *arg, int status)
{
}

static void *hammer(void *arg)
{
    while (!atomic_load(&hammer_stop)) {
        pt_ops_timer *t;

        if (atomic_load(&hammer_pause)) {
            test_sleep_ms(1);
            continue;
        }
        pt_ops_post(noop_task, NULL);
        pt_work_submit(noop_job, NULL, 0);
        if (pt_ops_timer_start(0, 0, noop_task, NULL, &t) == 0)
            pt_ops_timer_free(t);
    }
    return NULL;
}

static void test_fork_while_busy(void **state)
{
    pthread_t threads[2];

    atomic_store(&hammer_stop, 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, hammer, NULL), 0);
    for (int round = 0; round < 20; round++) {
        pid_t pid;

        test_sleep_ms(2); /* let the hammers get going */
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(child_uses_threads());
        atomic_store(&hammer_pause, 1);
        assert_int_equal(test_wait_child(pid, 20000), 0);
        atomic_store(&hammer_pause, 0);
    }
    atomic_store(&hammer_stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shutdown_before_first_use),
        cmocka_unit_test(test_child_starts_fresh_threads),
        cmocka_unit_test(test_queued_work_stays_in_parent),
        cmocka_unit_test(test_fork_from_ops_and_work),
        cmocka_unit_test(test_fork_while_busy),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
