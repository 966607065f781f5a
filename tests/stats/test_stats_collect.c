/* The ready-made collectors: the process's gauges are plausible and follow the process
 * (descriptors, threads, CPU), and a loop watcher reports the lag of a loop this test blocks,
 * stops on pt_stats_unwatch_loop() or when its registry cuts it off, from the loop's thread
 * or another, so the loop closes cleanly; a collector removed is not called again, and its
 * removal waits for a run under way. Everything is read through pt_stats_prometheus(). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

#include "potter/stats.h"
#include "stats/loop_internal.h"

static pt_stats *new_stats(void)
{
    pt_stats_options o = {.service = "svc", .host = "web1"};
    pt_stats *s = NULL;
    assert_int_equal(pt_stats_new(&o, &s), 0);
    return s;
}

/* The value of the series `series` (name and labels, as printed) in a fresh rendering;
 * fails the test when it is missing. */
static double value_of(pt_stats *s, const char *series)
{
    char *t = pt_stats_prometheus(s);
    assert_non_null(t);
    size_t n = strlen(series);
    for (const char *line = t; *line;) {
        if (strncmp(line, series, n) == 0 && line[n] == ' ') {
            double v = strtod(line + n + 1, NULL);
            free(t);
            return v;
        }
        const char *nl = strchr(line, '\n');
        if (nl == NULL)
            break;
        line = nl + 1;
    }
    print_error("no series %s in:\n%s", series, t);
    free(t);
    fail();
    return 0;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the process ----------------------------------------------------------------------------- */

static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static int park_release;

static void *park(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&park_lock);
    while (!park_release)
        pthread_cond_wait(&park_cond, &park_lock);
    pthread_mutex_unlock(&park_lock);
    return NULL;
}

static void test_process_gauges(void **state)
{
    (void)state;
    pt_stats *s = new_stats();
    assert_int_equal(pt_stats_add_collector(s, pt_stats_collect_process, NULL), 0);

    assert_true(value_of(s, "process_rss_bytes") > 1024 * 1024); /* a libc and a test */
    double user = value_of(s, "process_cpu_user_seconds");
    double sys = value_of(s, "process_cpu_system_seconds");
    assert_true(user >= 0 && sys >= 0);

    double now = wall_now();
    double uptime = value_of(s, "process_uptime_seconds");
    double start = value_of(s, "process_start_time_seconds");
    assert_true(uptime >= 0 && uptime < 600);
    /* btime is whole seconds and the two clocks are read apart: a second or two apart. */
    if (start + uptime < now - 2.5 || start + uptime > now + 2.5) {
        print_error("start %.3f + uptime %.3f = %.3f, now %.3f\n", start, uptime, start + uptime,
                    now);
        fail();
    }

    /* Descriptors: two more with a pipe. */
    double fds = value_of(s, "process_open_fds");
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_true(value_of(s, "process_open_fds") == fds + 2);
    assert_true(value_of(s, "process_open_fds") >= 3);
    close(p[0]);
    close(p[1]);
    assert_true(value_of(s, "process_open_fds") == fds);

    /* Threads: one more while one is parked. */
    double threads = value_of(s, "process_threads");
    assert_true(threads >= 1);
    pthread_t t;
    park_release = 0;
    assert_int_equal(pthread_create(&t, NULL, park, NULL), 0);
    assert_true(value_of(s, "process_threads") == threads + 1);
    pthread_mutex_lock(&park_lock);
    park_release = 1;
    pthread_cond_signal(&park_cond);
    pthread_mutex_unlock(&park_lock);
    pthread_join(t, NULL);

    /* CPU: 100 ms of spinning shows in user time. */
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    static volatile unsigned long sink;
    do {
        for (int i = 0; i < 100000; i++)
            sink = sink + (unsigned long)i;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    } while ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec) < 100e6);
    double spent = value_of(s, "process_cpu_user_seconds") +
                   value_of(s, "process_cpu_system_seconds") - user - sys;
    assert_true(spent >= 0.09);
    pt_stats_free(s);
}

/* ---- loop lag ---------------------------------------------------------------------------------- */

static void block_300ms(uv_timer_t *t)
{
    (void)t;
    struct timespec d = {0, 300 * 1000000};
    nanosleep(&d, NULL); /* what a blocking call in a callback does to every other one */
}

static void nothing(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop for about ms (a ref'ed timer keeps it alive; the watcher does not). */
static void run_for(uv_loop_t *loop, uint64_t ms, int block)
{
    uv_timer_t keep, blocker;
    uv_timer_init(loop, &keep);
    uv_timer_start(&keep, nothing, ms, 0);
    if (block) {
        uv_timer_init(loop, &blocker);
        uv_timer_start(&blocker, block_300ms, 10, 0);
    }
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&keep, NULL);
    if (block)
        uv_close((uv_handle_t *)&blocker, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static void test_loop_lag(void **state)
{
    (void)state;
    pt_stats *s = new_stats();
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(pt_stats_watch_loop(s, &loop, "test.loop"), 0);

    /* The watcher alone does not keep the loop running. */
    uint64_t t0 = uv_hrtime();
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_true(uv_hrtime() - t0 < 100000000);

    /* An idle loop: ticks at 250 and 500 ms, barely late. */
    run_for(&loop, 600, 0);
    double count1 = value_of(s, "test_loop_lag_seconds_count");
    double sum1 = value_of(s, "test_loop_lag_seconds_sum");
    assert_true(count1 >= 2);

    /* A callback that sleeps 300 ms, 10 ms in: the next tick is due 140 ms later but runs
     * about 300 ms late (libuv's poll then still waits the 140 ms it computed before). */
    run_for(&loop, 900, 1);
    double count2 = value_of(s, "test_loop_lag_seconds_count");
    double sum2 = value_of(s, "test_loop_lag_seconds_sum");
    double fast = value_of(s, "test_loop_lag_seconds_bucket{le=\"0.05\"}");
    if (count2 < count1 + 2 || sum2 - sum1 < 0.04 || fast >= count2) {
        print_error("lag sum %.6f -> %.6f, count %.0f -> %.0f, <= 50 ms: %.0f\n", sum1, sum2,
                    count1, count2, fast);
        fail();
    }

    /* Stopping on the loop's thread: closed once the loop runs again, then it closes. */
    assert_int_equal(pt_stats_unwatch_loop(s, &loop), 0);
    assert_int_equal(pt_stats_unwatch_loop(s, &loop), -ENOENT);
    assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    pt_stats_free(s);
}

static void test_watch_loop_args(void **state)
{
    (void)state;
    pt_stats *s = new_stats();
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(pt_stats_watch_loop(NULL, &loop, NULL), -EINVAL);
    assert_int_equal(pt_stats_watch_loop(s, NULL, NULL), -EINVAL);
    assert_int_equal(pt_stats_unwatch_loop(s, NULL), -EINVAL);
    assert_int_equal(pt_stats_unwatch_loop(s, &loop), -ENOENT);
    assert_int_equal(pt_stats_watch_loop(s, &loop, NULL), 0); /* the name "loop" */
    double count = value_of(s, "loop_lag_seconds_count");
    assert_true(count == 0);
    assert_int_equal(pt_stats_unwatch_loop(NULL, &loop), 0); /* NULL: every watcher there */
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&loop), 0);
    pt_stats_free(s);
}

/* pt_stats_free() on the loop's own thread: the watcher closes at once. */
static void test_detach_same_thread(void **state)
{
    (void)state;
    pt_stats *s = new_stats();
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(pt_stats_watch_loop(s, &loop, "a"), 0);
    pt__stats_loops_detach(s); /* what pt_stats_free() starts with */
    pt_stats_free(s);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* pt_stats_free() on another thread while the loop runs: the watcher no longer touches the
 * registry (ASan would see it) and closes itself at its next tick, on the loop's thread. */
struct loop_thread {
    uv_loop_t loop;
    pt_stats *stats;
    int watched;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int close_rc;
};

static void *run_loop_thread(void *arg)
{
    struct loop_thread *lt = arg;
    pthread_mutex_lock(&lt->lock);
    lt->watched = pt_stats_watch_loop(lt->stats, &lt->loop, "other") == 0 ? 1 : -1;
    pthread_cond_signal(&lt->cond);
    pthread_mutex_unlock(&lt->lock);
    run_for(&lt->loop, 800, 0); /* ticks at 250 (after the free), 500, 750 */
    uv_run(&lt->loop, UV_RUN_NOWAIT);
    lt->close_rc = uv_loop_close(&lt->loop);
    return NULL;
}

static void test_detach_other_thread(void **state)
{
    (void)state;
    struct loop_thread lt = {.stats = new_stats()};
    pthread_t t;
    pthread_mutex_init(&lt.lock, NULL);
    pthread_cond_init(&lt.cond, NULL);
    assert_int_equal(uv_loop_init(&lt.loop), 0);
    assert_int_equal(pthread_create(&t, NULL, run_loop_thread, &lt), 0);
    pthread_mutex_lock(&lt.lock);
    while (lt.watched == 0)
        pthread_cond_wait(&lt.cond, &lt.lock);
    pthread_mutex_unlock(&lt.lock);
    assert_int_equal(lt.watched, 1);
    pt__stats_loops_detach(lt.stats);
    pt_stats_free(lt.stats);
    pthread_join(t, NULL);
    assert_int_equal(lt.close_rc, 0); /* the watcher closed itself */
    pthread_mutex_destroy(&lt.lock);
    pthread_cond_destroy(&lt.cond);
}

/* ---- removing a collector --------------------------------------------------------------- */

struct slow_collector {
    int calls;
    _Atomic int running, done;
    unsigned sleep_ms;
};

static void collect_slowly(pt_stats *s, void *arg)
{
    struct slow_collector *c = arg;
    c->running = 1;
    if (c->sleep_ms)
        usleep(c->sleep_ms * 1000);
    c->calls++;
    pt_gauge_set(pt_stats_gauge(s, "removed.calls", NULL), c->calls);
    c->done = 1;
}

static void *render(void *arg)
{
    free(pt_stats_prometheus(arg));
    return NULL;
}

static void test_remove_collector(void **state)
{
    (void)state;
    pt_stats *s = new_stats();
    struct slow_collector c = {0};
    assert_int_equal(pt_stats_add_collector(s, collect_slowly, &c), 0);
    assert_true(value_of(s, "removed_calls") == 1);
    assert_int_equal(pt_stats_remove_collector(s, collect_slowly, &c), 0);
    assert_true(value_of(s, "removed_calls") == 1); /* not called again */
    assert_int_equal(c.calls, 1);
    assert_int_equal(pt_stats_remove_collector(s, collect_slowly, &c), -ENOENT);
    assert_int_equal(pt_stats_remove_collector(s, collect_slowly, NULL), -ENOENT);
    assert_int_equal(pt_stats_remove_collector(NULL, collect_slowly, &c), -EINVAL);
    assert_int_equal(pt_stats_remove_collector(s, NULL, &c), -EINVAL);

    /* A run under way on another thread ends before the removal returns. */
    struct slow_collector slow = {.sleep_ms = 200};
    assert_int_equal(pt_stats_add_collector(s, collect_slowly, &slow), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, render, s), 0);
    for (int i = 0; i < 5000 && !slow.running; i++)
        usleep(1000);
    assert_true(slow.running);
    assert_int_equal(pt_stats_remove_collector(s, collect_slowly, &slow), 0);
    assert_true(slow.done);
    pthread_join(t, NULL);
    assert_int_equal(slow.calls, 1);
    pt_stats_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_process_gauges),      cmocka_unit_test(test_loop_lag),
        cmocka_unit_test(test_watch_loop_args),     cmocka_unit_test(test_detach_same_thread),
        cmocka_unit_test(test_detach_other_thread), cmocka_unit_test(test_remove_collector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
