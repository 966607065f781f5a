/* The health registry: checks that report at once or later from another thread, timeouts
 * (and the late report that follows one), no second run while one is pending, periodic
 * runs, the aggregate and its HTTP status, draining, the JSON documents, and freeing the
 * registry while runs are still out. Every wait has a deadline. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/core_test.h"
#include "potter/health.h"

/* ---- check functions -------------------------------------------------------------------- */

/* Reports at once: ok, or failing with the error `arg` points to. */
static void check_ok(pt_health_probe *probe, void *arg)
{
    pt_health_probe_done(probe, 1, NULL);
}

static void check_fail(pt_health_probe *probe, void *arg)
{
    pt_health_probe_done(probe, 0, arg);
}

/* Keeps the probe for the test to report on later, and counts its calls. */
struct held {
    atomic_int calls;
    _Atomic(pt_health_probe *) probe;
};

static void check_hold(pt_health_probe *probe, void *arg)
{
    struct held *held = arg;

    atomic_store(&held->probe, probe);
    atomic_fetch_add(&held->calls, 1);
}

static pt_health_probe *take_probe(struct held *held)
{
    return atomic_exchange(&held->probe, NULL);
}

/* Reports ok from another thread, 30 ms later. */
static void *later_thread(void *arg)
{
    test_sleep_ms(30);
    pt_health_probe_done(arg, 1, NULL);
    return NULL;
}

static void check_async(pt_health_probe *probe, void *arg)
{
    pthread_t t;

    assert_int_equal(pthread_create(&t, NULL, later_thread, probe), 0);
    pthread_detach(t);
}

/* Blocks its pt-work call for 200 ms, then reports; `arg` is set once it returned. */
static void check_slow(pt_health_probe *probe, void *arg)
{
    test_sleep_ms(200);
    pt_health_probe_done(probe, 1, NULL);
    atomic_store((atomic_int *)arg, 1);
}

static pt_health *new_health(void)
{
    pt_health *h = NULL;

    assert_int_equal(pt_health_new(NULL, &h), 0);
    assert_non_null(h);
    return h;
}

static pt_health_result result_of(pt_health *h, const char *name)
{
    pt_health_result r;

    assert_int_equal(pt_health_result_get(h, name, &r), 0);
    return r;
}

static void add_with(pt_health *h, const char *name, pt_health_fn fn, void *arg,
                     uint64_t timeout_ms, uint64_t interval_ms, unsigned flags)
{
    pt_health_check_options o = {.timeout_ms = timeout_ms, .interval_ms = interval_ms,
                                 .flags = flags};

    assert_int_equal(pt_health_add_opts(h, name, fn, arg, &o), 0);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_sync_ok_and_failing(void **state)
{
    pt_health *h = new_health();
    pt_health_result r;
    int64_t before = pt_clock_wall_ns();

    assert_int_equal(pt_health_add(h, "db", check_ok, NULL, PT_HEALTH_CRITICAL), 0);
    assert_int_equal(pt_health_add(h, "cache", check_fail, "connection refused", 0), 0);
    assert_int_equal(pt_health_count(h), 2);

    r = result_of(h, "db");
    assert_int_equal(r.state, PT_HEALTH_UNKNOWN);
    assert_int_equal(r.runs, 0);
    assert_int_equal(r.last_run_wall_ns, 0);
    assert_int_equal(r.critical, 1);

    assert_int_equal(pt_health_run_now(h, 5000), 0);
    r = result_of(h, "db");
    assert_int_equal(r.state, PT_HEALTH_OK);
    assert_int_equal(r.runs, 1);
    assert_int_equal(r.consecutive_failures, 0);
    assert_string_equal(r.error, "");
    assert_true(r.last_run_wall_ns >= before);
    assert_true(r.since_wall_ns >= r.last_run_wall_ns);

    r = result_of(h, "cache");
    assert_int_equal(r.state, PT_HEALTH_FAILING);
    assert_int_equal(r.critical, 0);
    assert_string_equal(r.error, "connection refused");
    assert_int_equal(r.consecutive_failures, 1);
    int64_t since = r.since_wall_ns;

    assert_int_equal(pt_health_run_now(h, 5000), 0);
    r = result_of(h, "cache");
    assert_int_equal(r.consecutive_failures, 2);
    assert_int_equal(r.runs, 2);
    assert_true(r.since_wall_ns == since); /* still failing: the same since */
    assert_int_equal(result_of(h, "db").runs, 2);

    pt_health_result none;
    assert_int_equal(pt_health_result_get(h, "nope", &none), -ENOENT);
    pt_health_free(h);
}

static void test_async_from_another_thread(void **state)
{
    pt_health *h = new_health();

    assert_int_equal(pt_health_add(h, "remote", check_async, NULL, PT_HEALTH_CRITICAL), 0);
    assert_int_equal(pt_health_run_now(h, 5000), 0);
    pt_health_result r = result_of(h, "remote");
    assert_int_equal(r.state, PT_HEALTH_OK);
    assert_true(r.latency_ns >= 25 * 1000000ull);
    assert_int_equal(r.pending, 0);
    pt_health_free(h);
}

static void test_timeout_then_late_done(void **state)
{
    pt_health *h = new_health();
    struct held held = {0};

    add_with(h, "stuck", check_hold, &held, 1000, 0, PT_HEALTH_CRITICAL);
    uint64_t t0 = test_now_ms();
    assert_int_equal(pt_health_run_now(h, 5000), 0);
    uint64_t took = test_now_ms() - t0;
    assert_true(took >= 900 && took < 4000);

    pt_health_result r = result_of(h, "stuck");
    assert_int_equal(r.state, PT_HEALTH_FAILING);
    assert_string_equal(r.error, "timed out after 1s");
    assert_int_equal(r.consecutive_failures, 1);
    assert_true(r.latency_ns >= 900 * 1000000ull);
    assert_int_equal(r.pending, 0);

    /* The late report is ignored; the probe was kept for it and is released now. */
    pt_health_probe *late = take_probe(&held);
    assert_non_null(late);
    pt_health_probe_done(late, 1, NULL);
    r = result_of(h, "stuck");
    assert_int_equal(r.state, PT_HEALTH_FAILING);
    assert_int_equal(r.runs, 1);

    pt_health_free(h);

    /* A sub-second timeout is named in ms. */
    struct held quick = {0};
    h = new_health();
    add_with(h, "quick", check_hold, &quick, 50, 0, 0);
    assert_int_equal(pt_health_run_now(h, 5000), 0);
    assert_string_equal(result_of(h, "quick").error, "timed out after 50ms");
    assert_true(test_wait_ge(&quick.calls, 1, 3000)); /* the call may trail the timeout */
    pt_health_probe_done(take_probe(&quick), 0, "late");
    assert_string_equal(result_of(h, "quick").error, "timed out after 50ms");
    pt_health_free(h);
}

static void test_not_rerun_while_pending(void **state)
{
    pt_health *h = new_health();
    struct held held = {0};

    add_with(h, "slow", check_hold, &held, 10000, 20, PT_HEALTH_CRITICAL);
    assert_int_equal(pt_health_run_now(h, 50), -ETIMEDOUT);
    assert_true(test_wait_ge(&held.calls, 1, 3000));
    assert_int_equal(result_of(h, "slow").pending, 1);

    /* Neither run_now nor the 20 ms interval starts it again while pending. */
    assert_int_equal(pt_health_run_now(h, 50), -ETIMEDOUT);
    assert_int_equal(pt_health_start(h), 0);
    test_sleep_ms(150);
    assert_int_equal(atomic_load(&held.calls), 1);

    /* Once it reports, the interval runs it again. */
    pt_health_probe_done(take_probe(&held), 1, NULL);
    assert_int_equal(result_of(h, "slow").state, PT_HEALTH_OK);
    assert_true(test_wait_ge(&held.calls, 2, 3000));
    pt_health_free(h);
    pt_health_probe *p = take_probe(&held);
    if (p)
        pt_health_probe_done(p, 1, NULL);
}

static atomic_int interval_calls;

static void check_count(pt_health_probe *probe, void *arg)
{
    atomic_fetch_add(&interval_calls, 1);
    pt_health_probe_done(probe, 1, NULL);
}

static void test_interval_reruns(void **state)
{
    pt_health_options o = {.interval_ms = 50};
    pt_health *h = NULL;

    assert_int_equal(pt_health_new(&o, &h), 0);
    atomic_store(&interval_calls, 0);
    assert_int_equal(pt_health_add(h, "tick", check_count, NULL, 0), 0);
    test_sleep_ms(100);
    assert_int_equal(atomic_load(&interval_calls), 0); /* nothing runs before start */
    assert_int_equal(pt_health_start(h), 0);
    assert_true(test_wait_ge(&interval_calls, 3, 3000));
    assert_true(result_of(h, "tick").runs >= 2);

    /* A check added after start runs at once, then every interval. */
    struct held held = {0};
    add_with(h, "late", check_hold, &held, 0, 50, 0);
    assert_true(test_wait_ge(&held.calls, 1, 3000));
    pt_health_probe_done(take_probe(&held), 1, NULL);
    assert_true(test_wait_ge(&held.calls, 2, 3000));
    pt_health_free(h);
    pt_health_probe *p = take_probe(&held);
    if (p)
        pt_health_probe_done(p, 1, NULL);

    /* Stopped: no more calls once freed. */
    int calls = atomic_load(&interval_calls);
    test_sleep_ms(120);
    assert_int_equal(atomic_load(&interval_calls), calls);
}

static void expect_json(pt_health *h, unsigned view, const char *json, int status)
{
    char *out = NULL;
    int http = 0;

    assert_int_equal(pt_health_json(h, view, &out, &http), 0);
    assert_string_equal(out, json);
    assert_int_equal(http, status);
    free(out);
}

static void test_aggregate(void **state)
{
    pt_health *h = new_health();

    /* No check: healthy. */
    expect_json(h, 0, "{\"status\":\"ok\",\"checks\":{}}", 200);
    assert_int_equal(pt_health_status(h, 0), PT_HEALTH_OK);

    /* Before the first run, unknown is not ok: a critical check makes it failing. */
    assert_int_equal(pt_health_add(h, "db", check_ok, NULL, PT_HEALTH_CRITICAL), 0);
    expect_json(h, 0, "{\"status\":\"failing\",\"checks\":{\"db\":\"unknown\"}}", 503);
    expect_json(h, PT_HEALTH_VIEW_READY,
                "{\"status\":\"failing\",\"checks\":{\"db\":\"unknown\"}}", 503);

    /* A failing non-critical check degrades, but stays healthy. */
    assert_int_equal(pt_health_add(h, "cache", check_fail, "down", 0), 0);
    assert_int_equal(pt_health_run_now(h, 5000), 0);
    expect_json(h, 0, "{\"status\":\"degraded\",\"checks\":{\"cache\":\"failing\",\"db\":\"ok\"}}",
                200);
    expect_json(h, PT_HEALTH_VIEW_READY,
                "{\"status\":\"degraded\",\"checks\":{\"cache\":\"failing\",\"db\":\"ok\"}}", 200);
    assert_int_equal(pt_health_status(h, 0), PT_HEALTH_DEGRADED);

    /* A failing critical check fails both. */
    assert_int_equal(pt_health_add(h, "queue", check_fail, NULL, PT_HEALTH_CRITICAL), 0);
    assert_int_equal(pt_health_run_now(h, 5000), 0);
    expect_json(h, 0,
                "{\"status\":\"failing\",\"checks\":{\"cache\":\"failing\",\"db\":\"ok\","
                "\"queue\":\"failing\"}}",
                503);
    assert_string_equal(result_of(h, "queue").error, "failed"); /* NULL error */
    assert_int_equal(pt_health_status(h, 1), PT_HEALTH_FAILING);
    pt_health_free(h);
}

static void test_draining(void **state)
{
    pt_health *h = new_health();

    assert_int_equal(pt_health_add(h, "db", check_ok, NULL, PT_HEALTH_CRITICAL), 0);
    assert_int_equal(pt_health_run_now(h, 5000), 0);
    expect_json(h, PT_HEALTH_VIEW_READY, "{\"status\":\"ok\",\"checks\":{\"db\":\"ok\"}}", 200);

    pt_health_set_draining(h, 1);
    expect_json(h, PT_HEALTH_VIEW_READY, "{\"status\":\"draining\",\"checks\":{\"db\":\"ok\"}}",
                503);
    expect_json(h, 0, "{\"status\":\"ok\",\"checks\":{\"db\":\"ok\"}}", 200);
    assert_int_equal(pt_health_status(h, 1), PT_HEALTH_DRAINING);
    assert_int_equal(pt_health_status(h, 0), PT_HEALTH_OK);

    pt_health_set_draining(h, 0);
    expect_json(h, PT_HEALTH_VIEW_READY, "{\"status\":\"ok\",\"checks\":{\"db\":\"ok\"}}", 200);
    pt_health_free(h);
}

/* "2026-11-22T17:21:05.123Z" at p, followed by a quote. */
static void assert_iso(const char *p)
{
    int y, mo, d, hh, mm, ss, ms, n = 0;

    assert_int_equal(sscanf(p, "\"%4d-%2d-%2dT%2d:%2d:%2d.%3dZ\"%n", &y, &mo, &d, &hh, &mm, &ss,
                            &ms, &n),
                     7);
    assert_int_equal(n, 26);
    assert_true(y >= 2024);
}

static void test_json_escaping_and_detail(void **state)
{
    pt_health *h = new_health();
    char *out;
    int http;

    assert_int_equal(pt_health_add(h, "a\"b\\c\n\x01\xff", check_fail, "bad \"x\"\t\x80", 0), 0);
    assert_int_equal(pt_health_run_now(h, 5000), 0);
    expect_json(h, 0,
                "{\"status\":\"degraded\",\"checks\":{\"a\\\"b\\\\c\\n\\u0001\\ufffd\":\"failing\"}}",
                200);

    assert_int_equal(pt_health_json(h, PT_HEALTH_VIEW_DETAILED, &out, &http), 0);
    assert_int_equal(http, 200);
    const char *head = "{\"status\":\"degraded\",\"checks\":{\"a\\\"b\\\\c\\n\\u0001\\ufffd\":"
                       "{\"status\":\"failing\",\"critical\":false,\"latency_ms\":";
    assert_int_equal(strncmp(out, head, strlen(head)), 0);
    const char *p = strstr(out, ",\"error\":\"bad \\\"x\\\"\\t\\ufffd\",\"since\":");
    assert_non_null(p);
    assert_iso(strstr(p, "\"since\":") + 8);
    assert_non_null(strstr(out, ",\"consecutive_failures\":1,\"last_run\":"));
    assert_iso(strstr(out, "\"last_run\":") + 11);
    assert_string_equal(out + strlen(out) - 4, "\"}}}");
    free(out);

    /* Never run: latency and last run are null; ok: error null. */
    assert_int_equal(pt_health_add(h, "z", check_ok, NULL, PT_HEALTH_CRITICAL), 0);
    assert_int_equal(pt_health_json(h, PT_HEALTH_VIEW_DETAILED, &out, &http), 0);
    assert_int_equal(http, 503);
    p = strstr(out, "\"z\":{\"status\":\"unknown\",\"critical\":true,\"latency_ms\":null,"
                    "\"error\":null,\"since\":");
    assert_non_null(p);
    assert_non_null(strstr(p, "\"consecutive_failures\":0,\"last_run\":null}}}"));
    free(out);

    assert_int_equal(pt_health_run_now(h, 5000), 0);
    assert_int_equal(pt_health_json(h, PT_HEALTH_VIEW_DETAILED, &out, &http), 0);
    assert_int_equal(http, 200);
    assert_non_null(strstr(out, "\"z\":{\"status\":\"ok\",\"critical\":true,\"latency_ms\":0."));
    assert_non_null(strstr(out, "\"error\":null,\"since\":"));
    free(out);

    assert_int_equal(pt_health_json(h, 4, &out, &http), -EINVAL);
    pt_health_free(h);
}

static void test_names_and_arguments(void **state)
{
    pt_health *h = new_health();
    pt_health_check_options bad = {.flags = 2};
    pt_health_options o = {.timeout_ms = 300, .interval_ms = 700};

    assert_int_equal(pt_health_add(h, "db", check_ok, NULL, 0), 0);
    assert_int_equal(pt_health_add(h, "db", check_ok, NULL, PT_HEALTH_CRITICAL), -EEXIST);
    assert_int_equal(pt_health_add(h, "", check_ok, NULL, 0), -EINVAL);
    assert_int_equal(pt_health_add(h, NULL, check_ok, NULL, 0), -EINVAL);
    assert_int_equal(pt_health_add(h, "x", NULL, NULL, 0), -EINVAL);
    assert_int_equal(pt_health_add(h, "x", check_ok, NULL, 4), -EINVAL);
    assert_int_equal(pt_health_add_opts(h, "x", check_ok, NULL, &bad), -EINVAL);
    assert_int_equal(pt_health_add(NULL, "x", check_ok, NULL, 0), -EINVAL);
    assert_int_equal(pt_health_add_opts(h, "x", check_ok, NULL, NULL), 0);
    assert_int_equal(pt_health_count(h), 2);
    assert_int_equal(pt_health_count(NULL), 0);
    assert_int_equal(pt_health_new(NULL, NULL), -EINVAL);
    assert_int_equal(pt_health_run_now(NULL, 10), -EINVAL);
    assert_int_equal(pt_health_start(NULL), -EINVAL);
    assert_null(pt_health_state_name((pt_health_state)99));
    assert_string_equal(pt_health_state_name(PT_HEALTH_DEGRADED), "degraded");
    pt_health_free(h);
    pt_health_free(NULL);

    /* The registry's defaults apply to its checks; a timeout names itself with them. */
    struct held held = {0};
    assert_int_equal(pt_health_new(&o, &h), 0);
    assert_int_equal(pt_health_add(h, "t", check_hold, &held, 0), 0);
    assert_int_equal(pt_health_run_now(h, 5000), 0);
    assert_string_equal(result_of(h, "t").error, "timed out after 300ms");
    pt_health_probe *p = take_probe(&held);
    assert_int_equal(pt_health_probe_timeout_ms(p), 300);
    pt_health_probe_done(p, 1, NULL);
    pt_health_free(h);
}

/* Freed with a probe out: its report comes after the registry is gone (before and after the
 * timeout timer fired) and must be harmless. ASan checks the "harmless". */
static void test_free_while_pending(void **state)
{
    struct held held = {0};
    pt_health *h = new_health();

    add_with(h, "a", check_hold, &held, 10000, 0, PT_HEALTH_CRITICAL);
    assert_int_equal(pt_health_run_now(h, 50), -ETIMEDOUT);
    uint64_t t0 = test_now_ms();
    pt_health_free(h); /* no call in progress: it does not wait */
    assert_true(test_now_ms() - t0 < 1000);
    pt_health_probe_done(take_probe(&held), 1, NULL);

    h = new_health();
    add_with(h, "b", check_hold, &held, 50, 0, 0);
    assert_int_equal(pt_health_run_now(h, 20), -ETIMEDOUT);
    pt_health_free(h);
    test_sleep_ms(150); /* the timeout timer fires after the registry is gone */
    pt_health_probe_done(take_probe(&held), 0, "late");
    test_sleep_ms(20);
}

/* Freed while a check function is being called: free waits for it to return. */
static void test_free_waits_for_call(void **state)
{
    atomic_int returned = 0;
    pt_health *h = new_health();

    assert_int_equal(pt_health_add(h, "slow", check_slow, &returned, 0), 0);
    assert_int_equal(pt_health_run_now(h, 20), -ETIMEDOUT);
    pt_health_free(h);
    assert_int_equal(atomic_load(&returned), 1);
}

/* A call still queued on pt-work when the registry is freed is never made. */
static atomic_int blocker_release, blocker_running;

static void blocker_job(void *arg, int status)
{
    atomic_store(&blocker_running, 1);
    while (!atomic_load(&blocker_release))
        test_sleep_ms(1);
}

static void test_queued_call_skipped_after_free(void **state)
{
    struct held held = {0};
    pt_health *h = new_health();

    atomic_store(&blocker_running, 0);
    atomic_store(&blocker_release, 0);
    assert_int_equal(pt_work_submit(blocker_job, NULL, 0), 0);
    assert_true(test_wait_ge(&blocker_running, 1, 3000));
    add_with(h, "q", check_hold, &held, 5000, 0, 0);
    assert_int_equal(pt_health_run_now(h, 50), -ETIMEDOUT);
    pt_health_free(h);
    atomic_store(&blocker_release, 1);
    uint64_t end = test_now_ms() + 3000;
    while (pt_work_pending() > 0 && test_now_ms() < end)
        test_sleep_ms(1);
    assert_int_equal(pt_work_pending(), 0);
    assert_int_equal(atomic_load(&held.calls), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sync_ok_and_failing),
        cmocka_unit_test(test_async_from_another_thread),
        cmocka_unit_test(test_timeout_then_late_done),
        cmocka_unit_test(test_not_rerun_while_pending),
        cmocka_unit_test(test_interval_reruns),
        cmocka_unit_test(test_aggregate),
        cmocka_unit_test(test_draining),
        cmocka_unit_test(test_json_escaping_and_detail),
        cmocka_unit_test(test_names_and_arguments),
        cmocka_unit_test(test_free_while_pending),
        cmocka_unit_test(test_free_waits_for_call),
        cmocka_unit_test(test_queued_call_skipped_after_free),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);

    pt_core_shutdown(2000);
    return failed;
}
