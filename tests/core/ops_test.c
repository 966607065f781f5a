/* pt-ops: posted tasks, timers, pt_ops_is_current, pt_ops_loop. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "core/core_test.h"
#include "potter/core.h"

/* ---- post order ------------------------------------------------------------------------ */

#define ORDER_N 2000

static int order_seen[ORDER_N];
static atomic_int order_count;

static void record_order(void *arg)
{
    int i = atomic_load(&order_count);

    order_seen[i] = (int)(intptr_t)arg;
    atomic_store(&order_count, i + 1);
}

static void test_post_runs_in_order(void **state)
{
    atomic_store(&order_count, 0);
    for (int i = 0; i < ORDER_N; i++)
        assert_int_equal(pt_ops_post(record_order, (void *)(intptr_t)i), 0);
    assert_true(test_wait_ge(&order_count, ORDER_N, 5000));
    for (int i = 0; i < ORDER_N; i++)
        assert_int_equal(order_seen[i], i);
}

/* Tasks posted from a task run after the current batch, still in order. */
static atomic_int nested_step;

static void nested_second(void *arg)
{
    int expect = (int)(intptr_t)arg;

    if (atomic_load(&nested_step) == expect)
        atomic_store(&nested_step, expect + 1);
}

static void nested_first(void *arg)
{
    pt_ops_post(nested_second, (void *)(intptr_t)2);
    pt_ops_post(nested_second, (void *)(intptr_t)3);
    atomic_store(&nested_step, 1);
}

static void mark_step(void *arg)
{
    /* Posted right after nested_first: it runs before the tasks nested_first posted. */
    if (atomic_load(&nested_step) == 1)
        atomic_store(&nested_step, 2);
}

static void test_post_from_task(void **state)
{
    atomic_store(&nested_step, 0);
    assert_int_equal(pt_ops_post(nested_first, NULL), 0);
    assert_int_equal(pt_ops_post(mark_step, NULL), 0);
    /* mark_step: 1 -> 2, then nested_second(2): 2 -> 3, nested_second(3): 3 -> 4 */
    assert_true(test_wait_ge(&nested_step, 4, 5000));
    assert_int_equal(atomic_load(&nested_step), 4);
}

/* ---- posts from several threads -------------------------------------------------------- */

#define POSTERS 4
#define PER_POSTER 3000

static int last_seq[POSTERS];
static atomic_int multi_count;
static atomic_int multi_bad;

static void record_multi(void *arg)
{
    intptr_t v = (intptr_t)arg;
    int who = (int)(v / PER_POSTER), seq = (int)(v % PER_POSTER);

    /* Runs on pt-ops only, so last_seq needs no lock. */
    if (seq != last_seq[who] + 1)
        atomic_fetch_add(&multi_bad, 1);
    last_seq[who] = seq;
    atomic_fetch_add(&multi_count, 1);
}

static void *poster(void *arg)
{
    intptr_t who = (intptr_t)arg;

    for (int i = 0; i < PER_POSTER; i++)
        if (pt_ops_post(record_multi, (void *)(who * PER_POSTER + i)) != 0)
            atomic_fetch_add(&multi_bad, 1);
    return NULL;
}

static void test_post_from_threads(void **state)
{
    pthread_t threads[POSTERS];

    for (int i = 0; i < POSTERS; i++)
        last_seq[i] = -1;
    for (intptr_t i = 0; i < POSTERS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, poster, (void *)i), 0);
    for (int i = 0; i < POSTERS; i++)
        pthread_join(threads[i], NULL);
    assert_true(test_wait_ge(&multi_count, POSTERS * PER_POSTER, 10000));
    assert_int_equal(atomic_load(&multi_bad), 0);
    for (int i = 0; i < POSTERS; i++)
        assert_int_equal(last_seq[i], PER_POSTER - 1);
}

static void test_post_rejects_null(void **state)
{
    pt_ops_timer *t = (pt_ops_timer *)&t;

    assert_int_equal(pt_ops_post(NULL, NULL), -EINVAL);
    assert_int_equal(pt_ops_timer_start(1, 0, NULL, NULL, &t), -EINVAL);
    assert_null(t);
    pt_ops_timer_free(NULL);
}

/* ---- pt_ops_is_current, pt_ops_loop ---------------------------------------------------- */

static atomic_int current_seen;

static void check_current(void *arg)
{
    atomic_store(&current_seen, pt_ops_is_current() ? 1 : -1);
}

static void work_check_current(void *arg, int status)
{
    atomic_store(&current_seen, pt_ops_is_current() ? -1 : 1);
}

static void test_is_current(void **state)
{
    assert_int_equal(pt_ops_is_current(), 0);
    atomic_store(&current_seen, 0);
    assert_int_equal(pt_ops_post(check_current, NULL), 0);
    assert_true(test_wait_ge(&current_seen, 1, 5000));
    /* and not on pt-work */
    atomic_store(&current_seen, 0);
    assert_int_equal(pt_work_submit(work_check_current, NULL, 0), 0);
    assert_true(test_wait_ge(&current_seen, 1, 5000));
}

struct loop_check {
    uv_loop_t *loop;
    uv_timer_t timer;
    atomic_int ok;
    atomic_int closed;
};

static void loop_timer_close(uv_handle_t *h)
{
    struct loop_check *c = h->data;

    atomic_store(&c->closed, 1);
}

static void loop_timer_fired(uv_timer_t *timer)
{
    struct loop_check *c = timer->data;

    atomic_store(&c->ok, pt_ops_is_current() ? 2 : -1);
    uv_close((uv_handle_t *)timer, loop_timer_close);
}

/* A part that runs its own libuv handles on pt-ops's loop. */
static void loop_start_handle(void *arg)
{
    struct loop_check *c = arg;

    if (pt_ops_loop() != c->loop) {
        atomic_store(&c->ok, -1);
        return;
    }
    atomic_store(&c->ok, 1);
    uv_timer_init(c->loop, &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, loop_timer_fired, 5, 0);
}

static void test_loop(void **state)
{
    static struct loop_check c;

    c.loop = pt_ops_loop();
    assert_non_null(c.loop);
    assert_ptr_equal(pt_ops_loop(), c.loop);
    assert_int_equal(pt_ops_post(loop_start_handle, &c), 0);
    assert_true(test_wait_ge(&c.ok, 2, 5000));
    assert_int_equal(atomic_load(&c.ok), 2);
    assert_true(test_wait_ge(&c.closed, 1, 5000));
}

/* ---- timers ---------------------------------------------------------------------------- */

struct tick {
    atomic_int fires;
    atomic_int in_cb;
    atomic_int wrong_thread;
    atomic_int after_free;
    atomic_int freed;
    unsigned sleep_ms;
    int free_after; /* free the timer from the callback on this fire */
    pt_ops_timer *timer;
    uint64_t first_ms;
};

static void tick(void *arg)
{
    struct tick *k = arg;
    int n;

    if (atomic_load(&k->freed))
        atomic_fetch_add(&k->after_free, 1);
    atomic_store(&k->in_cb, 1);
    if (!pt_ops_is_current())
        atomic_fetch_add(&k->wrong_thread, 1);
    n = atomic_fetch_add(&k->fires, 1) + 1;
    if (n == 1)
        k->first_ms = test_now_ms();
    if (k->sleep_ms)
        test_sleep_ms(k->sleep_ms);
    if (k->free_after && n == k->free_after) {
        pt_ops_timer_free(k->timer);
        atomic_store(&k->freed, 1);
    }
    atomic_store(&k->in_cb, 0);
}

static void test_timer_one_shot(void **state)
{
    struct tick k = {0};
    pt_ops_timer *t;
    uint64_t start = test_now_ms();

    assert_int_equal(pt_ops_timer_start(30, 0, tick, &k, &t), 0);
    assert_non_null(t);
    assert_true(test_wait_ge(&k.fires, 1, 5000));
    /* libuv counts whole milliseconds from its cached clock: allow 1 ms less */
    assert_true(k.first_ms - start >= 29);
    test_sleep_ms(100);
    assert_int_equal(atomic_load(&k.fires), 1);
    assert_int_equal(atomic_load(&k.wrong_thread), 0);
    pt_ops_timer_free(t);
}

static void test_timer_repeat(void **state)
{
    struct tick k = {0};
    pt_ops_timer *t;
    int n;

    assert_int_equal(pt_ops_timer_start(1, 5, tick, &k, &t), 0);
    assert_true(test_wait_ge(&k.fires, 5, 5000));
    pt_ops_timer_free(t);
    n = atomic_load(&k.fires);
    test_sleep_ms(60);
    assert_int_equal(atomic_load(&k.fires), n);
    assert_int_equal(atomic_load(&k.wrong_thread), 0);
}

/* Free from another thread while the callback runs: free must wait for it to return. */
static void test_timer_free_while_firing(void **state)
{
    for (int round = 0; round < 10; round++) {
        struct tick k = {.sleep_ms = 20};
        pt_ops_timer *t;
        int n;

        assert_int_equal(pt_ops_timer_start(0, 1, tick, &k, &t), 0);
        assert_true(test_wait_ge(&k.in_cb, 1, 5000));
        pt_ops_timer_free(t);
        assert_int_equal(atomic_load(&k.in_cb), 0);
        n = atomic_load(&k.fires);
        test_sleep_ms(30);
        assert_int_equal(atomic_load(&k.fires), n);
    }
}

/* Free racing a fast timer at random points of its life, including before it started. */
static void test_timer_free_races(void **state)
{
    for (int round = 0; round < 300; round++) {
        struct tick k = {0};
        pt_ops_timer *t;
        int n;

        assert_int_equal(pt_ops_timer_start(round % 3, 1, tick, &k, &t), 0);
        if (round % 2)
            test_sleep_ms(round % 5);
        pt_ops_timer_free(t);
        n = atomic_load(&k.fires);
        assert_int_equal(atomic_load(&k.in_cb), 0);
        if (round % 50 == 0) {
            test_sleep_ms(10);
            assert_int_equal(atomic_load(&k.fires), n);
        }
    }
}

static void test_timer_free_from_callback(void **state)
{
    struct tick k = {.free_after = 3};

    assert_int_equal(pt_ops_timer_start(1, 2, tick, &k, &k.timer), 0);
    assert_true(test_wait_ge(&k.freed, 1, 5000));
    test_sleep_ms(50);
    assert_int_equal(atomic_load(&k.fires), 3);
    assert_int_equal(atomic_load(&k.after_free), 0);
}

/* Free on pt-ops of a timer whose start (posted from another thread) has not run yet. */
struct early_free {
    atomic_int go;
    atomic_int done;
    pt_ops_timer *timer;
    struct tick k;
};

static void early_free_task(void *arg)
{
    struct early_free *e = arg;

    /* Hold pt-ops until the main thread has started the timer behind us. */
    if (!test_wait_ge(&e->go, 1, 5000))
        return;
    pt_ops_timer_free(e->timer);
    atomic_store(&e->done, 1);
}

static void test_timer_free_on_ops_before_start(void **state)
{
    static struct early_free e;

    assert_int_equal(pt_ops_post(early_free_task, &e), 0);
    assert_int_equal(pt_ops_timer_start(0, 1, tick, &e.k, &e.timer), 0);
    atomic_store(&e.go, 1);
    assert_true(test_wait_ge(&e.done, 1, 5000));
    test_sleep_ms(30);
    assert_int_equal(atomic_load(&e.k.fires), 0);
}

/* A timer started from a task starts at once and can be freed by another task. */
static struct tick task_tick;
static pt_ops_timer *task_timer;
static atomic_int task_timer_freed;

static void start_timer_task(void *arg)
{
    pt_ops_timer_start(1, 1, tick, &task_tick, &task_timer);
}

static void free_timer_task(void *arg)
{
    pt_ops_timer_free(task_timer);
    atomic_store(&task_timer_freed, 1);
}

static void test_timer_on_ops(void **state)
{
    int n;

    assert_int_equal(pt_ops_post(start_timer_task, NULL), 0);
    assert_true(test_wait_ge(&task_tick.fires, 3, 5000));
    assert_int_equal(pt_ops_post(free_timer_task, NULL), 0);
    assert_true(test_wait_ge(&task_timer_freed, 1, 5000));
    n = atomic_load(&task_tick.fires);
    test_sleep_ms(30);
    assert_int_equal(atomic_load(&task_tick.fires), n);
}

/* ---- threads are named ----------------------------------------------------------------- */

static int thread_named(const char *name)
{
    char path[300], comm[32];
    struct dirent *d;
    int found = 0;
    DIR *dir = opendir("/proc/self/task");

    if (!dir)
        return 0;
    while (!found && (d = readdir(dir)) != NULL) {
        FILE *f;

        if (d->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", d->d_name);
        f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof comm, f)) {
            comm[strcspn(comm, "\n")] = '\0';
            found = strcmp(comm, name) == 0;
        }
        fclose(f);
    }
    closedir(dir);
    return found;
}

static void noop_job(void *arg, int status)
{
}

static void test_threads_named(void **state)
{
    assert_int_equal(pt_work_submit(noop_job, NULL, 0), 0);
    assert_non_null(pt_ops_loop());
    assert_true(thread_named("pt-ops"));
    assert_true(thread_named("pt-work"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_runs_in_order),
        cmocka_unit_test(test_post_from_task),
        cmocka_unit_test(test_post_from_threads),
        cmocka_unit_test(test_post_rejects_null),
        cmocka_unit_test(test_is_current),
        cmocka_unit_test(test_loop),
        cmocka_unit_test(test_timer_one_shot),
        cmocka_unit_test(test_timer_repeat),
        cmocka_unit_test(test_timer_free_while_firing),
        cmocka_unit_test(test_timer_free_races),
        cmocka_unit_test(test_timer_free_from_callback),
        cmocka_unit_test(test_timer_free_on_ops_before_start),
        cmocka_unit_test(test_timer_on_ops),
        cmocka_unit_test(test_threads_named),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
