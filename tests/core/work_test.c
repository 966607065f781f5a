/* pt-work: FIFO order, deadlines, the pending count. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/core_test.h"
#include "potter/core.h"

#define STATUS_UNSET 1 /* no job status is positive */

struct job {
    atomic_int status;
    atomic_int ran;
    atomic_int *release; /* when set: block until it is nonzero (5 s at most) */
    atomic_int started;
    int seq;
};

static atomic_int seq_counter;

static void job_fn(void *arg, int status)
{
    struct job *j = arg;

    atomic_store(&j->started, 1);
    j->seq = atomic_fetch_add(&seq_counter, 1);
    if (j->release)
        test_wait_ge(j->release, 1, 5000);
    atomic_store(&j->status, status);
    atomic_store(&j->ran, 1);
}

static void job_init(struct job *j, atomic_int *release)
{
    atomic_store(&j->status, STATUS_UNSET);
    atomic_store(&j->ran, 0);
    atomic_store(&j->started, 0);
    j->release = release;
    j->seq = -1;
}

static void test_runs_in_order(void **state)
{
    static struct job jobs[200];

    atomic_store(&seq_counter, 0);
    for (int i = 0; i < 200; i++) {
        job_init(&jobs[i], NULL);
        assert_int_equal(pt_work_submit(job_fn, &jobs[i], i % 2 ? 10000 : 0), 0);
    }
    assert_true(test_wait_ge(&jobs[199].ran, 1, 5000));
    for (int i = 0; i < 200; i++) {
        assert_int_equal(atomic_load(&jobs[i].ran), 1);
        assert_int_equal(atomic_load(&jobs[i].status), 0);
        assert_int_equal(jobs[i].seq, i);
    }
}

static void test_rejects_null(void **state)
{
    assert_int_equal(pt_work_submit(NULL, NULL, 0), -EINVAL);
}

/* A job stuck behind a slow one past its deadline is called with -ETIMEDOUT; jobs without
 * a deadline or with a long one still run. */
static void test_deadline_expires_behind_slow_job(void **state)
{
    static struct job slow, short_deadline, no_deadline, long_deadline;
    static atomic_int release;

    atomic_store(&release, 0);
    job_init(&slow, &release);
    job_init(&short_deadline, NULL);
    job_init(&no_deadline, NULL);
    job_init(&long_deadline, NULL);

    assert_int_equal(pt_work_submit(job_fn, &slow, 0), 0);
    assert_true(test_wait_ge(&slow.started, 1, 5000));
    assert_int_equal(pt_work_submit(job_fn, &short_deadline, 20), 0);
    assert_int_equal(pt_work_submit(job_fn, &no_deadline, 0), 0);
    assert_int_equal(pt_work_submit(job_fn, &long_deadline, 60000), 0);
    test_sleep_ms(60);
    atomic_store(&release, 1);

    assert_true(test_wait_ge(&long_deadline.ran, 1, 5000));
    assert_int_equal(atomic_load(&slow.status), 0);
    assert_int_equal(atomic_load(&short_deadline.status), -ETIMEDOUT);
    assert_int_equal(atomic_load(&no_deadline.status), 0);
    assert_int_equal(atomic_load(&long_deadline.status), 0);
    /* expired jobs keep their place in the order */
    assert_true(slow.seq < short_deadline.seq);
    assert_true(short_deadline.seq < no_deadline.seq);
}

/* A deadline the clock cannot reach is no deadline. */
static void test_huge_deadline(void **state)
{
    static struct job j;

    job_init(&j, NULL);
    assert_int_equal(pt_work_submit(job_fn, &j, UINT64_MAX), 0);
    assert_true(test_wait_ge(&j.ran, 1, 5000));
    assert_int_equal(atomic_load(&j.status), 0);
}

static void test_pending_counts_queued_and_running(void **state)
{
    static struct job blocker, queued[3];
    static atomic_int release;

    atomic_store(&release, 0);
    job_init(&blocker, &release);
    assert_int_equal(pt_work_submit(job_fn, &blocker, 0), 0);
    assert_true(test_wait_ge(&blocker.started, 1, 5000));
    assert_int_equal(pt_work_pending(), 1); /* running */
    for (int i = 0; i < 3; i++) {
        job_init(&queued[i], NULL);
        assert_int_equal(pt_work_submit(job_fn, &queued[i], 0), 0);
    }
    assert_int_equal(pt_work_pending(), 4);
    atomic_store(&release, 1);
    assert_true(test_wait_ge(&queued[2].ran, 1, 5000));
    /* the count drops once the last job returned */
    for (uint64_t end = test_now_ms() + 5000; pt_work_pending() != 0 && test_now_ms() < end;)
        test_sleep_ms(1);
    assert_int_equal(pt_work_pending(), 0);
}

/* Jobs may submit more jobs; those run after everything already queued. */
static atomic_int chain_done;

static void chain_second(void *arg, int status)
{
    atomic_store(&chain_done, status == 0 ? 1 : -1);
}

static void chain_first(void *arg, int status)
{
    if (pt_work_submit(chain_second, NULL, 1000) != 0)
        atomic_store(&chain_done, -1);
}

static void test_submit_from_job(void **state)
{
    assert_int_equal(pt_work_submit(chain_first, NULL, 0), 0);
    assert_true(test_wait_ge(&chain_done, 1, 5000));
    assert_int_equal(atomic_load(&chain_done), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_in_order),
        cmocka_unit_test(test_rejects_null),
        cmocka_unit_test(test_deadline_expires_behind_slow_job),
        cmocka_unit_test(test_huge_deadline),
        cmocka_unit_test(test_pending_counts_queued_and_running),
        cmocka_unit_test(test_submit_from_job),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
