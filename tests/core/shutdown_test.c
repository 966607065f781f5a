/* pt_core_shutdown(): pending tasks run, pending jobs get -ESHUTDOWN, threads are joined
 * within the timeout, later posts are refused. Shutdown is for the life of the process, so
 * the tests run in order and share it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/core_test.h"
#include "potter/core.h"

static void noop(void *arg)
{
}

/* Holds pt-ops until shutdown has begun (posts are refused), so the tasks queued behind it
 * are still pending when pt-ops starts to drain. */
static atomic_int gate_saw_shutdown;

static void gate_task(void *arg)
{
    uint64_t end = test_now_ms() + 5000;

    while (test_now_ms() < end) {
        if (pt_ops_post(noop, NULL) == -ESHUTDOWN) {
            atomic_store(&gate_saw_shutdown, 1);
            return;
        }
        test_sleep_ms(1);
    }
}

#define QUEUED_TASKS 10
static atomic_int tasks_run, tasks_refused;

static void queued_task(void *arg)
{
    atomic_fetch_add(&tasks_run, 1);
    /* a task running during the drain cannot post more */
    if (pt_ops_post(noop, NULL) == -ESHUTDOWN)
        atomic_fetch_add(&tasks_refused, 1);
}

static atomic_int release_blocker;
static atomic_int blocker_status = 1, blocker_started;

static void blocker_job(void *arg, int status)
{
    atomic_store(&blocker_started, 1);
    test_wait_ge(&release_blocker, 1, 10000);
    atomic_store(&blocker_status, status);
}

#define QUEUED_JOBS 5
static int job_status[QUEUED_JOBS];
static int job_order[QUEUED_JOBS];
static atomic_int jobs_called;

static void queued_job(void *arg, int status)
{
    int i = (int)(intptr_t)arg;

    job_status[i] = status;
    job_order[atomic_fetch_add(&jobs_called, 1)] = i;
}

static atomic_int timer_fires;

static void timer_fn(void *arg)
{
    atomic_fetch_add(&timer_fires, 1);
}

static pt_ops_timer *timer;

static void test_shutdown_drains_and_times_out(void **state)
{
    uint64_t start;
    int err;

    assert_int_equal(pt_ops_timer_start(0, 1, timer_fn, NULL, &timer), 0);
    assert_true(test_wait_ge(&timer_fires, 1, 5000));

    assert_int_equal(pt_work_submit(blocker_job, NULL, 0), 0);
    assert_true(test_wait_ge(&blocker_started, 1, 5000));
    for (intptr_t i = 0; i < QUEUED_JOBS; i++)
        assert_int_equal(pt_work_submit(queued_job, (void *)i, 0), 0);
    assert_int_equal(pt_work_pending(), 1 + QUEUED_JOBS);

    assert_int_equal(pt_ops_post(gate_task, NULL), 0);
    for (int i = 0; i < QUEUED_TASKS; i++)
        assert_int_equal(pt_ops_post(queued_task, NULL), 0);

    /* pt-work is stuck in blocker_job: its join times out; pt-ops drains and stops. */
    start = test_now_ms();
    err = pt_core_shutdown(200);
    assert_int_equal(err, -ETIMEDOUT);
    assert_true(test_now_ms() - start >= 199);
    assert_true(test_now_ms() - start < 3000);

    assert_int_equal(atomic_load(&gate_saw_shutdown), 1);
    assert_true(test_wait_ge(&tasks_run, QUEUED_TASKS, 5000));
    assert_int_equal(atomic_load(&tasks_refused), QUEUED_TASKS);

    /* refused from now on, although pt-work still runs */
    assert_int_equal(pt_ops_post(noop, NULL), -ESHUTDOWN);
    assert_int_equal(pt_work_submit(queued_job, NULL, 0), -ESHUTDOWN);
    assert_int_equal(atomic_load(&jobs_called), 0);

    /* once the stuck job returns, the queue drains with -ESHUTDOWN and the join succeeds */
    atomic_store(&release_blocker, 1);
    assert_int_equal(pt_core_shutdown(5000), 0);
    assert_int_equal(atomic_load(&blocker_status), 0);
    assert_int_equal(atomic_load(&jobs_called), QUEUED_JOBS);
    for (int i = 0; i < QUEUED_JOBS; i++) {
        assert_int_equal(job_status[i], -ESHUTDOWN);
        assert_int_equal(job_order[i], i);
    }
    assert_int_equal(pt_work_pending(), 0);
}

static void test_after_shutdown(void **state)
{
    pt_ops_timer *t = (pt_ops_timer *)&t;
    uint64_t start = test_now_ms();
    int fires;

    /* the timer's loop has stopped: it does not fire, and freeing it just frees it */
    fires = atomic_load(&timer_fires);
    test_sleep_ms(20);
    assert_int_equal(atomic_load(&timer_fires), fires);
    pt_ops_timer_free(timer);

    assert_int_equal(pt_ops_post(noop, NULL), -ESHUTDOWN);
    assert_int_equal(pt_work_submit(queued_job, NULL, 0), -ESHUTDOWN);
    assert_int_equal(pt_ops_timer_start(1, 0, timer_fn, NULL, &t), -ESHUTDOWN);
    assert_null(t);
    assert_null(pt_ops_loop());
    assert_int_equal(pt_work_pending(), 0);
    assert_int_equal(pt_core_shutdown(1000), 0);
    assert_true(test_now_ms() - start < 1000);
}

/* A process forked after shutdown stays shut down. */
static void test_child_stays_shut_down(void **state)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        if (pt_ops_post(noop, NULL) != -ESHUTDOWN)
            _exit(1);
        if (pt_core_shutdown(100) != 0)
            _exit(2);
        _exit(0);
    }
    assert_int_equal(test_wait_child(pid, 10000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shutdown_drains_and_times_out),
        cmocka_unit_test(test_after_shutdown),
        cmocka_unit_test(test_child_stays_shut_down),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
