/* Full rings: with a sink that is stuck, callers obey the full-ring policy of their level
 * (drop at once, block for a bound, block for ever) and every record is accounted for.
 *
 * pt_log_configure() (a small ring) only works before the first record of a process, so each
 * case runs as a scenario in a fresh process (this executable again, see testutil.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "log/testutil.h"

#define RING_BYTES 16384

typedef struct caller {
    pt_log *log;
    int id;
    int level;
    size_t calls;
    uint64_t max_ns; /* the longest call */
    size_t max_at; /* which call it was */
    size_t over_1ms; /* calls that took more than 1 ms */
    size_t at_least; /* calls that took at least `floor_ns` */
    uint64_t floor_ns;
    pthread_barrier_t *go;
} caller;

static void *caller_main(void *arg)
{
    caller *c = arg;
    pthread_barrier_wait(c->go);
    for (size_t i = 0; i < c->calls; i++) {
        uint64_t t0 = tu_now_ns();
        if (c->level == PT_LOG_ERROR)
            PT_ERROR(c->log, "ring", PT_INT("t", c->id), PT_UINT("i", i),
                     PT_STR("pad", "........................................"));
        else
            PT_INFO(c->log, "ring", PT_INT("t", c->id), PT_UINT("i", i),
                    PT_STR("pad", "........................................"));
        uint64_t dt = tu_now_ns() - t0;
        if (dt > c->max_ns) {
            c->max_ns = dt;
            c->max_at = i;
        }
        c->over_1ms += dt > 1000000;
        c->at_least += c->floor_ns && dt >= c->floor_ns;
    }
    return NULL;
}

/* Runs `n` callers of `calls` each at `level`, all started together. */
static void run_callers(caller *cs, int n, pt_log *log, int level, size_t calls, uint64_t floor_ns)
{
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, (unsigned)n + 1);
    pthread_t th[8];
    for (int i = 0; i < n; i++) {
        cs[i] = (caller){
            .log = log, .id = i, .level = level, .calls = calls, .go = &go, .floor_ns = floor_ns};
        CHECK(pthread_create(&th[i], NULL, caller_main, &cs[i]) == 0);
    }
    pthread_barrier_wait(&go);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
}

/* Checks what a sink received: whole valid lines, each thread's records in order. Returns
 * how many lines. */
static size_t check_received(tu_sink *s, int nthreads)
{
    pthread_mutex_lock(&s->mu);
    tu_lines ls;
    tu_lines_parse(&ls, s->buf ? s->buf : "", s->len);
    pthread_mutex_unlock(&s->mu);
    CHECK(tu_lines_report_bad(&ls) == 0);
    long long last[8];
    for (int i = 0; i < 8; i++)
        last[i] = -1;
    for (size_t i = 0; i < ls.n; i++) {
        long long t = json_integer_value(json_object_get(ls.rec[i], "t"));
        long long k = json_integer_value(json_object_get(ls.rec[i], "i"));
        CHECK(t >= 0 && t < nthreads);
        CHECKF(k > last[t], "thread %lld: record %lld after %lld", t, k, last[t]);
        last[t] = k;
    }
    size_t n = ls.n;
    tu_lines_free(&ls);
    return n;
}

static void configure_small_ring(void)
{
    pt_log_config cfg = {.ring_bytes = RING_BYTES};
    CHECK(pt_log_configure(&cfg) == 0);
}

static pt_log *new_logger(tu_sink *s, pt_log_sink **out, uint64_t stall_ms)
{
    pt_log *log;
    CHECK(pt_log_new("ring", &log) == 0);
    pt_log_sink_options o = {
        .levels = PT_LOG_ROUTE_CONSOLE, .queue_bytes = 65536, .stall_ms = stall_ms};
    tu_sink_init(s, 1);
    s->hold = 1;
    CHECK(pt_log_add_sink(log, &tu_sink_ops, s, &o, out) == 0);
    return log;
}

static void finish(pt_log *log, tu_sink *s)
{
    pt_log_free(log);
    CHECK(tu_sink_wait_closed(s, 5000));
    tu_sink_destroy(s);
}

/* Drop policy, stuck sink: no call waits; logged + dropped == calls; the sink gets every
 * logged record once it moves again. */
static int scenario_drop(const char *dir)
{
    (void)dir;
    configure_small_ring();
    CHECK(pt_log_set_full_policy(PT_LOG_INFO, 0) == 0);
    tu_sink s;
    pt_log_sink *sink;
    /* stall_ms long: the lines wait in the rings, which fill up. */
    pt_log *log = new_logger(&s, &sink, 60000);
    pt_log_counters c0, c1;
    pt_log_counters_get(&c0);
    const size_t calls = 50000;
    caller cs[2];
    run_callers(cs, 2, log, PT_LOG_INFO, calls, 0);
    pt_log_counters_get(&c1);
    const int li = PT_LOG_LEVEL_INDEX(PT_LOG_INFO);
    uint64_t logged = c1.logged[li] - c0.logged[li];
    uint64_t dropped = c1.dropped[li] - c0.dropped[li];
    fprintf(stderr, "drop: logged %llu dropped %llu; max call %llu us, %zu calls over 1 ms\n",
            (unsigned long long)logged, (unsigned long long)dropped,
            (unsigned long long)(cs[0].max_ns > cs[1].max_ns ? cs[0].max_ns : cs[1].max_ns) / 1000,
            cs[0].over_1ms + cs[1].over_1ms);
    /* logged counts the records accepted into the rings, dropped the others. */
    SOFT_CHECKF(logged + dropped == 2 * calls, "logged %llu + dropped %llu != calls %zu",
                (unsigned long long)logged, (unsigned long long)dropped, 2 * calls);
    CHECK(dropped > 0);
    CHECK(dropped < 2 * calls);
    const uint64_t accepted = 2 * calls - dropped;
    CHECK(tu_sum(c1.dropped) - tu_sum(c0.dropped) == dropped);
    /* With the drop policy a call never waits for room: what is measured is the machine's
     * scheduling noise (2 cores, other tests running), far below 50 ms. */
    for (int i = 0; i < 2; i++) {
        CHECKF(cs[i].max_ns < 50000000, "a call took %llu us",
               (unsigned long long)cs[i].max_ns / 1000);
        CHECKF(cs[i].over_1ms < calls / 100, "%zu calls over 1 ms", cs[i].over_1ms);
    }
    CHECK(pt_log_flush(100) == -ETIMEDOUT);
    /* Too late to configure. */
    pt_log_config cfg = {.ring_bytes = RING_BYTES * 2};
    CHECK(pt_log_configure(&cfg) == -EBUSY);

    tu_sink_set_hold(&s, 0);
    CHECK(pt_log_flush(10000) == 0);
    pt_log_counters_get(&c1);
    pt_log_sink_counters sc;
    pt_log_sink_counters_get(sink, &sc);
    fprintf(stderr, "drop: sink records %llu dropped %llu\n", (unsigned long long)sc.records,
            (unsigned long long)sc.dropped);
    CHECKF(sc.records + sc.dropped == accepted, "records %llu + dropped %llu != accepted %llu",
           (unsigned long long)sc.records, (unsigned long long)sc.dropped,
           (unsigned long long)accepted);
    SOFT_CHECKF(c1.formatted - c0.formatted == logged, "formatted %llu, logged %llu",
                (unsigned long long)(c1.formatted - c0.formatted), (unsigned long long)logged);
    CHECK(c1.formatted - c0.formatted == accepted);
    size_t got = check_received(&s, 2);
    CHECKF(got == sc.records, "sink got %zu lines, counters say %llu", got,
           (unsigned long long)sc.records);
    finish(log, &s);
    return tu_soft_failed;
}

/* Default stall_ms (100): a queue that does not move marks the sink stalled, its lines are
 * dropped and counted, the callers are not held back; it recovers once it moves. */
static int scenario_stall(const char *dir)
{
    (void)dir;
    configure_small_ring();
    CHECK(pt_log_set_full_policy(PT_LOG_INFO, -1) == 0); /* only the sink may drop */
    tu_sink s;
    pt_log_sink *sink;
    pt_log *log = new_logger(&s, &sink, 0);
    pt_log_counters c0, c1;
    pt_log_counters_get(&c0);
    uint64_t t0 = tu_now_ms();
    size_t calls = 0;
    int seen_stalled = 0;
    /* Long enough (1 s) for the stall to be noticed; the callers must keep moving. */
    while (tu_now_ms() - t0 < 1000) {
        for (int k = 0; k < 100; k++, calls++)
            PT_INFO(log, "ring", PT_INT("t", 0), PT_UINT("i", calls));
        pt_log_sink_counters sc;
        pt_log_sink_counters_get(sink, &sc);
        seen_stalled |= sc.stalled != 0;
        tu_sleep_ms(1);
    }
    CHECKF(seen_stalled, "the sink was never marked stalled");
    pt_log_counters_get(&c1);
    const int li = PT_LOG_LEVEL_INDEX(PT_LOG_INFO);
    uint64_t logged = c1.logged[li] - c0.logged[li];
    CHECK(logged == calls);
    CHECK(c1.dropped[li] == c0.dropped[li]);
    tu_sink_set_hold(&s, 0);
    CHECK(pt_log_flush(10000) == 0);
    /* Moving again: no longer stalled, and new records arrive. */
    uint64_t end = tu_now_ms() + 5000;
    pt_log_sink_counters sc;
    do {
        PT_INFO(log, "ring", PT_INT("t", 0), PT_UINT("i", calls++));
        CHECK(pt_log_flush(5000) == 0);
        pt_log_sink_counters_get(sink, &sc);
    } while (sc.stalled && tu_now_ms() < end);
    CHECK(!sc.stalled);
    size_t before = sc.records;
    for (int k = 0; k < 10; k++)
        PT_INFO(log, "ring", PT_INT("t", 0), PT_UINT("i", calls++));
    CHECK(pt_log_flush(5000) == 0);
    pt_log_sink_counters_get(sink, &sc);
    CHECK(sc.records == before + 10);
    pt_log_counters_get(&c1);
    logged = c1.logged[li] - c0.logged[li];
    fprintf(stderr, "stall: logged %llu, sink records %llu dropped %llu\n",
            (unsigned long long)logged, (unsigned long long)sc.records,
            (unsigned long long)sc.dropped);
    CHECK(logged == calls);
    CHECK(sc.dropped > 0);
    CHECK(sc.records + sc.dropped == logged);
    CHECK(check_received(&s, 1) == sc.records);
    finish(log, &s);
    return 0;
}

/* Block for at most 2000 us, then drop: no call takes much longer than that. */
static int scenario_block_bounded(const char *dir)
{
    (void)dir;
    configure_small_ring();
    CHECK(pt_log_set_full_policy(PT_LOG_INFO, 2000) == 0);
    tu_sink s;
    pt_log_sink *sink;
    pt_log *log = new_logger(&s, &sink, 60000);
    pt_log_counters c0, c1;
    pt_log_counters_get(&c0);
    const size_t calls = 600;
    caller cs[2];
    run_callers(cs, 2, log, PT_LOG_INFO, calls, 1900000);
    pt_log_counters_get(&c1);
    const int li = PT_LOG_LEVEL_INDEX(PT_LOG_INFO);
    uint64_t logged = c1.logged[li] - c0.logged[li];
    uint64_t dropped = c1.dropped[li] - c0.dropped[li];
    fprintf(stderr,
            "block 2000us: logged %llu dropped %llu; max %llu us / %llu us; "
            "%zu + %zu calls waited >= 1.9 ms\n",
            (unsigned long long)logged, (unsigned long long)dropped,
            (unsigned long long)cs[0].max_ns / 1000, (unsigned long long)cs[1].max_ns / 1000,
            cs[0].at_least, cs[1].at_least);
    SOFT_CHECKF(logged + dropped == 2 * calls, "logged %llu + dropped %llu != calls %zu",
                (unsigned long long)logged, (unsigned long long)dropped, 2 * calls);
    CHECK(dropped > 0);
    const uint64_t accepted = 2 * calls - dropped;
    for (int i = 0; i < 2; i++) {
        /* The bound, plus scheduling noise. */
        CHECKF(cs[i].max_ns < 2000000 + 50000000, "a call took %llu us",
               (unsigned long long)cs[i].max_ns / 1000);
    }
    /* Calls did wait (for about the bound) before dropping. */
    CHECK(cs[0].at_least + cs[1].at_least >= dropped / 2);
    tu_sink_set_hold(&s, 0);
    CHECK(pt_log_flush(10000) == 0);
    pt_log_sink_counters sc;
    pt_log_sink_counters_get(sink, &sc);
    CHECK(sc.records + sc.dropped == accepted);
    CHECK(check_received(&s, 2) == sc.records);
    finish(log, &s);
    return tu_soft_failed;
}

/* The defaults: error waits 5000 us then drops, info drops at once. */
static int scenario_default_policy(const char *dir)
{
    (void)dir;
    configure_small_ring();
    tu_sink s;
    pt_log_sink *sink;
    pt_log *log = new_logger(&s, &sink, 60000);
    pt_log_counters c0, c1;
    pt_log_counters_get(&c0);
    caller ci, ce;
    run_callers(&ci, 1, log, PT_LOG_INFO, 5000, 0); /* fills the ring */
    run_callers(&ce, 1, log, PT_LOG_ERROR, 400, 4900000);
    pt_log_counters_get(&c1);
    const int li = PT_LOG_LEVEL_INDEX(PT_LOG_INFO), le = PT_LOG_LEVEL_INDEX(PT_LOG_ERROR);
    fprintf(stderr,
            "defaults: info max %llu us (call %zu), error max %llu us (call %zu), "
            "%zu error calls >= 4.9 ms\n",
            (unsigned long long)ci.max_ns / 1000, ci.max_at, (unsigned long long)ce.max_ns / 1000,
            ce.max_at, ce.at_least);
    CHECK(c1.dropped[li] - c0.dropped[li] > 0);
    SOFT_CHECKF(c1.logged[li] - c0.logged[li] + c1.dropped[li] - c0.dropped[li] == 5000,
                "info: logged %llu + dropped %llu != 5000",
                (unsigned long long)(c1.logged[li] - c0.logged[li]),
                (unsigned long long)(c1.dropped[li] - c0.dropped[li]));
    SOFT_CHECKF(c1.logged[le] - c0.logged[le] + c1.dropped[le] - c0.dropped[le] == 400,
                "error: logged %llu + dropped %llu != 400",
                (unsigned long long)(c1.logged[le] - c0.logged[le]),
                (unsigned long long)(c1.dropped[le] - c0.dropped[le]));
    CHECK(c1.dropped[le] - c0.dropped[le] > 0);
    SOFT_CHECKF(ci.max_ns < 50000000, "info call %zu took %llu us", ci.max_at,
                (unsigned long long)ci.max_ns / 1000);
    SOFT_CHECKF(ce.max_ns < 5000000 + 50000000, "error call %zu took %llu us", ce.max_at,
                (unsigned long long)ce.max_ns / 1000);
    CHECK(ce.at_least >= (c1.dropped[le] - c0.dropped[le]) / 2);
    tu_sink_set_hold(&s, 0);
    CHECK(pt_log_flush(10000) == 0);
    finish(log, &s);
    return tu_soft_failed;
}

/* Block for ever: the caller waits while the sink is stuck, and nothing is lost. */
typedef struct forever {
    pt_log *log;
    size_t calls;
    int done;
} forever;

static void *forever_main(void *arg)
{
    forever *f = arg;
    for (size_t i = 0; i < f->calls; i++)
        PT_INFO(f->log, "ring", PT_INT("t", 0), PT_UINT("i", i),
                PT_STR("pad", "........................................"));
    __atomic_store_n(&f->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int scenario_block_forever(const char *dir)
{
    (void)dir;
    configure_small_ring();
    CHECK(pt_log_set_full_policy(PT_LOG_INFO, -1) == 0);
    tu_sink s;
    pt_log_sink *sink;
    pt_log *log = new_logger(&s, &sink, 60000);
    pt_log_counters c0, c1;
    pt_log_counters_get(&c0);
    forever fv = {.log = log, .calls = 20000};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, forever_main, &fv) == 0);
    tu_sleep_ms(500);
    CHECKF(!__atomic_load_n(&fv.done, __ATOMIC_ACQUIRE), "the caller did not wait");
    tu_sink_set_hold(&s, 0);
    uint64_t end = tu_now_ms() + 20000;
    while (!__atomic_load_n(&fv.done, __ATOMIC_ACQUIRE) && tu_now_ms() < end)
        tu_sleep_ms(5);
    CHECKF(__atomic_load_n(&fv.done, __ATOMIC_ACQUIRE), "the caller is still stuck");
    pthread_join(th, NULL);
    CHECK(pt_log_flush(10000) == 0);
    pt_log_counters_get(&c1);
    CHECK(tu_sum(c1.dropped) == tu_sum(c0.dropped));
    pt_log_sink_counters sc;
    pt_log_sink_counters_get(sink, &sc);
    CHECK(sc.records == 20000);
    CHECK(sc.dropped == 0);
    CHECK(check_received(&s, 1) == 20000);
    finish(log, &s);
    return 0;
}

TU_SCENARIO_TEST(test_drop, "drop", 60000)
TU_SCENARIO_TEST(test_stall, "stall", 60000)
TU_SCENARIO_TEST(test_block_bounded, "block_bounded", 60000)
TU_SCENARIO_TEST(test_default_policy, "default_policy", 60000)
TU_SCENARIO_TEST(test_block_forever, "block_forever", 60000)

static void test_policy_arguments(void **state)
{
    (void)state;
    assert_int_equal(pt_log_set_full_policy(15, 0), -EINVAL);
    assert_int_equal(pt_log_set_full_policy(0, 0), -EINVAL);
    assert_int_equal(pt_log_set_full_policy(PT_LOG_TRACE, 0), 0);
}

static const tu_scenario scenarios[] = {
    {"drop", scenario_drop},
    {"stall", scenario_stall},
    {"block_bounded", scenario_block_bounded},
    {"default_policy", scenario_default_policy},
    {"block_forever", scenario_block_forever},
    {NULL, NULL},
};

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_drop),          cmocka_unit_test(test_stall),
    cmocka_unit_test(test_block_bounded), cmocka_unit_test(test_default_policy),
    cmocka_unit_test(test_block_forever), cmocka_unit_test(test_policy_arguments),
};

TU_MAIN(scenarios, tests)
