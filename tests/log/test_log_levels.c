/* Levels: names and parsing, the logger's level (also changed at run time from another
 * thread), children following their parent, routing masks per sink, the flight recorder's
 * own level, and per-call-site rate limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "log/testutil.h"

static int setup(void **state)
{
    return tu_fx_setup(state, "lv", "lv.log", TU_FX_NO_SINK);
}

static void test_level_names(void **state)
{
    (void)state;
    const char *names[] = {"trace", "debug", "info", "warn", "error", "fatal"};
    for (int i = 0; i < 6; i++) {
        int lv = (i + 1) * 10, got = -1;
        assert_string_equal(pt_log_level_name(lv), names[i]);
        assert_int_equal(pt_log_level_parse(names[i], &got), 0);
        assert_int_equal(got, lv);
        char num[8];
        snprintf(num, sizeof num, "%d", lv);
        got = -1;
        assert_int_equal(pt_log_level_parse(num, &got), 0);
        assert_int_equal(got, lv);
    }
    assert_null(pt_log_level_name(0));
    assert_null(pt_log_level_name(15));
    assert_null(pt_log_level_name(70));
    assert_null(pt_log_level_name(-10));
    int got = -1;
    assert_int_equal(pt_log_level_parse("WARN", &got), 0);
    assert_int_equal(got, PT_LOG_WARN);
    assert_int_equal(pt_log_level_parse("Info", &got), 0);
    assert_int_equal(got, PT_LOG_INFO);
    assert_int_equal(pt_log_level_parse("FaTaL", &got), 0);
    assert_int_equal(got, PT_LOG_FATAL);
    assert_int_equal(pt_log_level_parse("off", &got), 0);
    assert_int_equal(got, PT_LOG_OFF);
    const char *bad[] = {"",    "verbose", "inf", "infos", "warning ", " warn", "5",
                         "100", "-10",     "0",   "1O",    "info\n",   "30x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        got = 12345;
        if (pt_log_level_parse(bad[i], &got) != -EINVAL)
            fail_msg("\"%s\" was accepted (level %d)", bad[i], got);
    }
}

static void test_set_level(void **state)
{
    tu_fx *f = *state;
    assert_int_equal(pt_log_level(f->log), PT_LOG_INFO);
    assert_int_equal(pt_log_set_level(f->log, 5), -EINVAL);
    assert_int_equal(pt_log_set_level(f->log, 80), -EINVAL);
    assert_int_equal(pt_log_set_level(f->log, 35), -EINVAL);
    assert_int_equal(pt_log_level(f->log), PT_LOG_INFO);

    PT_DEBUG(f->log, "debug at info");
    PT_INFO(f->log, "info at info");
    assert_int_equal(pt_log_set_level(f->log, PT_LOG_WARN), 0);
    assert_int_equal(pt_log_level(f->log), PT_LOG_WARN);
    PT_INFO(f->log, "info at warn");
    PT_WARN(f->log, "warn at warn");
    PT_FATAL(f->log, "fatal at warn");
    assert_int_equal(pt_log_set_level(f->log, PT_LOG_OFF), 0);
    PT_FATAL(f->log, "fatal at off");
    pt_log_emit(f->log, PT_LOG_FATAL, "emit at off", NULL, 0);
    assert_int_equal(pt_log_set_level(f->log, PT_LOG_TRACE), 0);
    PT_TRACE(f->log, "trace at trace"); /* the file's route is debug and above */
    PT_DEBUG(f->log, "debug at trace");
    pt_log_emit(f->log, PT_LOG_ERROR, "emit at trace", NULL, 0);
    tu_flush_and_load(&f->lines, f->path);
    const char *want[] = {"info at info", "warn at warn", "fatal at warn", "debug at trace",
                          "emit at trace"};
    assert_int_equal(f->lines.n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(tu_str(f->lines.rec[i], "msg"), want[i]);
    assert_int_equal(json_integer_value(json_object_get(f->lines.rec[2], "level")), 60);
    assert_int_equal(json_integer_value(json_object_get(f->lines.rec[4], "level")), 50);
}

static void test_enabled(void **state)
{
    tu_fx *f = *state;
    /* info logger, debug flight recorder: debug is recorded (by the recorder), trace not. */
    assert_false(pt_log_enabled(f->log, PT_LOG_TRACE));
    assert_true(pt_log_enabled(f->log, PT_LOG_DEBUG));
    assert_true(pt_log_enabled(f->log, PT_LOG_INFO));
    assert_int_equal(pt_log_set_flight_level(PT_LOG_OFF), 0);
    assert_false(pt_log_enabled(f->log, PT_LOG_DEBUG));
    assert_true(pt_log_enabled(f->log, PT_LOG_INFO));
    assert_int_equal(pt_log_set_level(f->log, PT_LOG_ERROR), 0);
    assert_false(pt_log_enabled(f->log, PT_LOG_WARN));
    assert_true(pt_log_enabled(f->log, PT_LOG_ERROR));
    assert_int_equal(pt_log_set_flight_level(PT_LOG_TRACE), 0);
    assert_true(pt_log_enabled(f->log, PT_LOG_TRACE));
    assert_int_equal(pt_log_set_flight_level(PT_LOG_DEBUG), 0);
    assert_false(pt_log_enabled(f->log, PT_LOG_TRACE));
    assert_true(pt_log_enabled(f->log, PT_LOG_DEBUG));
}

static void test_child_follows_parent(void **state)
{
    tu_fx *f = *state;
    pt_log *c = PT_LOG_CHILD(f->log, PT_STR("who", "child"));
    pt_log *gc = PT_LOG_CHILD(c, PT_STR("who2", "grandchild"));
    assert_non_null(c);
    assert_non_null(gc);
    assert_int_equal(pt_log_level(c), PT_LOG_INFO);
    assert_int_equal(pt_log_set_level(f->log, PT_LOG_WARN), 0);
    assert_int_equal(pt_log_level(c), PT_LOG_WARN);
    assert_int_equal(pt_log_level(gc), PT_LOG_WARN);
    PT_INFO(c, "child info, parent warn");
    PT_WARN(gc, "grandchild warn, parent warn");

    assert_int_equal(pt_log_set_level(c, PT_LOG_DEBUG), 0);
    assert_int_equal(pt_log_set_level(f->log, PT_LOG_ERROR), 0);
    assert_int_equal(pt_log_level(f->log), PT_LOG_ERROR);
    assert_int_equal(pt_log_level(c), PT_LOG_DEBUG); /* set: keeps its own */
    assert_int_equal(pt_log_level(gc), PT_LOG_DEBUG); /* follows its parent, the child */
    PT_DEBUG(c, "child debug, own debug");
    PT_DEBUG(gc, "grandchild debug");
    PT_WARN(f->log, "parent warn at error");
    /* A child created now takes the parent's current level. */
    pt_log *c2 = PT_LOG_CHILD(f->log, PT_INT("n", 2));
    assert_int_equal(pt_log_level(c2), PT_LOG_ERROR);
    PT_WARN(c2, "c2 warn at error");
    PT_ERROR(c2, "c2 error at error");
    tu_flush_and_load(&f->lines, f->path);
    assert_int_equal(tu_count_msg(&f->lines, "child info, parent warn"), 0);
    assert_int_equal(tu_count_msg(&f->lines, "grandchild warn, parent warn"), 1);
    assert_int_equal(tu_count_msg(&f->lines, "child debug, own debug"), 1);
    assert_int_equal(tu_count_msg(&f->lines, "grandchild debug"), 1);
    assert_int_equal(tu_count_msg(&f->lines, "parent warn at error"), 0);
    assert_int_equal(tu_count_msg(&f->lines, "c2 warn at error"), 0);
    assert_int_equal(tu_count_msg(&f->lines, "c2 error at error"), 1);
    json_t *r = tu_find_msg(&f->lines, "grandchild debug", NULL);
    assert_string_equal(tu_str(r, "who"), "child");
    assert_string_equal(tu_str(r, "who2"), "grandchild");
    pt_log_free(c2);
    pt_log_free(gc);
    pt_log_free(c);
}

/* One thread logs while the main thread changes the level. The thread reads a phase before
 * each call and counts its calls per phase (after each call returns). Phase 1 is published
 * after the level went to warn; before the level comes back to info, the main thread notes
 * how many phase-1 calls have returned (k1): those were made at warn, so none of them may
 * be written. Likewise every phase-0 call that returned before the switch to warn (k0) is
 * written, and every phase-2 call. */
typedef struct toggler {
    pt_log *log;
    int phase;
    int stop;
    uint64_t count[3];
} toggler;

static void *toggle_thread(void *arg)
{
    toggler *t = arg;
    while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
        int ph = __atomic_load_n(&t->phase, __ATOMIC_ACQUIRE);
        PT_INFO(t->log, "toggle", PT_INT("phase", ph), PT_UINT("n", t->count[ph]));
        __atomic_store_n(&t->count[ph], t->count[ph] + 1, __ATOMIC_RELEASE);
        if ((t->count[ph] & 63) == 0)
            usleep(100);
    }
    return NULL;
}

static void wait_count(toggler *t, int ph, uint64_t n)
{
    uint64_t end = tu_now_ms() + 10000;
    while (__atomic_load_n(&t->count[ph], __ATOMIC_ACQUIRE) < n && tu_now_ms() < end)
        usleep(200);
    assert_true(__atomic_load_n(&t->count[ph], __ATOMIC_ACQUIRE) >= n);
}

static void test_level_from_other_thread(void **state)
{
    tu_fx *f = *state;
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, -1), 0);
    toggler t = {.log = f->log};
    pt_log_counters c0;
    pt_log_counters_get(&c0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, toggle_thread, &t), 0);
    wait_count(&t, 0, 200);
    uint64_t k0 = __atomic_load_n(&t.count[0], __ATOMIC_ACQUIRE);
    assert_int_equal(pt_log_set_level(f->log, PT_LOG_WARN), 0);
    __atomic_store_n(&t.phase, 1, __ATOMIC_RELEASE);
    wait_count(&t, 1, 200);
    uint64_t k1 = __atomic_load_n(&t.count[1], __ATOMIC_ACQUIRE);
    assert_int_equal(pt_log_set_level(f->log, PT_LOG_INFO), 0);
    __atomic_store_n(&t.phase, 2, __ATOMIC_RELEASE);
    wait_count(&t, 2, 200);
    __atomic_store_n(&t.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, 0), 0);
    tu_flush_and_load(&f->lines, f->path);
    pt_log_counters c1;
    pt_log_counters_get(&c1);
    uint64_t seen[3] = {0, 0, 0}, next[3] = {0, 0, 0};
    for (size_t i = 0; i < f->lines.n; i++) {
        json_int_t ph = json_integer_value(json_object_get(f->lines.rec[i], "phase"));
        assert_true(ph >= 0 && ph <= 2);
        json_int_t n = json_integer_value(json_object_get(f->lines.rec[i], "n"));
        if (ph == 1 && seen[1] == 0)
            next[1] = (uint64_t)n; /* the first phase-1 call made after the level came back */
        /* Within a phase, records come in order and none is lost (block policy). */
        if ((uint64_t)n != next[ph] || (ph == 1 && (uint64_t)n < k1))
            fail_msg("line %zu: phase %lld record %lld, expected %llu (phase-1 calls at warn: "
                     "%llu; logged %llu, dropped %llu during the test; calls per phase %llu "
                     "%llu %llu)",
                     i + 1, (long long)ph, (long long)n, (unsigned long long)next[ph],
                     (unsigned long long)k1,
                     (unsigned long long)(tu_sum(c1.logged) - tu_sum(c0.logged)),
                     (unsigned long long)(tu_sum(c1.dropped) - tu_sum(c0.dropped)),
                     (unsigned long long)t.count[0], (unsigned long long)t.count[1],
                     (unsigned long long)t.count[2]);
        seen[ph]++;
        next[ph]++;
    }
    /* Phase-0 calls made after the switch to warn (at most the few after k0) are filtered. */
    assert_true(seen[0] >= k0 && seen[0] <= t.count[0]);
    assert_true(seen[1] <= t.count[1] - k1);
    assert_int_equal(seen[2], t.count[2]);
}

static void test_routing_masks(void **state)
{
    tu_fx *f = *state;
    pt_log *log;
    assert_int_equal(pt_log_new("route", &log), 0);
    assert_int_equal(pt_log_set_level(log, PT_LOG_TRACE), 0);
    char *pdef = tu_path(f->dir, "default.log");
    char *pwarn = tu_path(f->dir, "warn.log");
    char *perr = tu_path(f->dir, "error-only.log");
    char *pstderr = tu_path(f->dir, "stderr.log");
    pt_log_file_options warn = {.sink = {.levels = PT_LOG_MASK_FROM(PT_LOG_WARN)}};
    pt_log_file_options only = {
        .sink = {.levels = PT_LOG_MASK(PT_LOG_ERROR) | PT_LOG_MASK(PT_LOG_TRACE)}};
    assert_int_equal(pt_log_add_file(log, pdef, NULL, NULL), 0);
    assert_int_equal(pt_log_add_file(log, pwarn, &warn, NULL), 0);
    assert_int_equal(pt_log_add_file(log, perr, &only, NULL), 0);
    tu_sink mem;
    tu_sink_init(&mem, 1);
    pt_log_sink_options mopts = {.levels = PT_LOG_MASK(PT_LOG_INFO)};
    assert_int_equal(pt_log_add_sink(log, &tu_sink_ops, &mem, &mopts, NULL), 0);

    /* stderr, sent to a file for the length of this logger. */
    fflush(stderr);
    int saved = dup(2);
    int fd = open(pstderr, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    int rc = pt_log_add_stderr(log, NULL, NULL);

    PT_TRACE(log, "r10");
    PT_DEBUG(log, "r20");
    PT_INFO(log, "r30");
    PT_WARN(log, "r40");
    PT_ERROR(log, "r50");
    PT_FATAL(log, "r60");
    int flushed = pt_log_flush(5000);
    pt_log_free(log);
    dup2(saved, 2);
    close(saved);
    assert_int_equal(rc, 0);
    assert_int_equal(flushed, 0);

    struct {
        const char *path;
        const char *want;
    } cases[] = {{pdef, "r20 r30 r40 r50 r60"},
                 {pwarn, "r40 r50 r60"},
                 {perr, "r10 r50"},
                 {pstderr, "r10 r20 r30 r40 r50 r60"}};
    for (size_t c = 0; c < 4; c++) {
        tu_lines ls;
        tu_lines_load(&ls, cases[c].path);
        TU_ASSERT_LINES_GOOD(&ls);
        char got[128] = "";
        for (size_t i = 0; i < ls.n; i++) {
            if (i)
                strcat(got, " ");
            strncat(got, tu_str(ls.rec[i], "msg"), 8);
            char want_level[8];
            snprintf(want_level, sizeof want_level, "r%lld",
                     (long long)json_integer_value(json_object_get(ls.rec[i], "level")));
            assert_string_equal(tu_str(ls.rec[i], "msg"), want_level);
        }
        if (strcmp(got, cases[c].want) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[c].path, got, cases[c].want);
        tu_lines_free(&ls);
    }
    tu_lines mls;
    tu_lines_parse(&mls, mem.buf ? mem.buf : "", mem.len);
    TU_ASSERT_LINES_GOOD(&mls);
    assert_int_equal(mls.n, 1);
    assert_string_equal(tu_str(mls.rec[0], "msg"), "r30");
    tu_lines_free(&mls);
    /* Freeing the root logger closes its sinks (maybe from the sink's thread). */
    assert_true(tu_sink_wait_closed(&mem, 5000));
    tu_sink_destroy(&mem);
    free(pdef);
    free(pwarn);
    free(perr);
    free(pstderr);
}

typedef struct flight_find {
    const char *needle;
    int found;
    int level;
} flight_find;

static void flight_cb(void *arg, int level, const char *line, size_t len)
{
    flight_find *ff = arg;
    if (memmem(line, len, ff->needle, strlen(ff->needle)) != NULL) {
        ff->found++;
        ff->level = level;
    }
}

static void test_flight_level_independent(void **state)
{
    tu_fx *f = *state;
    assert_int_equal(pt_log_level(f->log), PT_LOG_INFO);
    char marker[64];
    snprintf(marker, sizeof marker, "flight-marker-%d-%llu", (int)getpid(),
             (unsigned long long)tu_now_ns());
    PT_DEBUG(f->log, "debug for the recorder", PT_STR("marker", marker));
    PT_TRACE(f->log, "trace for nobody", PT_STR("marker2", marker));
    tu_flush_and_load(&f->lines, f->path);
    assert_int_equal(f->lines.n, 0);
    flight_find ff = {.needle = marker};
    pt_log_flight_read(flight_cb, &ff);
    assert_int_equal(ff.found, 1);
    assert_int_equal(ff.level, PT_LOG_DEBUG);

    /* At trace, the recorder gets trace too, and still no sink. */
    assert_int_equal(pt_log_set_flight_level(PT_LOG_TRACE), 0);
    char marker3[80];
    snprintf(marker3, sizeof marker3, "%s-trace", marker);
    PT_TRACE(f->log, "trace for the recorder", PT_STR("m", marker3));
    tu_flush_and_load(&f->lines, f->path);
    assert_int_equal(pt_log_set_flight_level(PT_LOG_DEBUG), 0);
    assert_int_equal(f->lines.n, 0);
    flight_find ff3 = {.needle = marker3};
    pt_log_flight_read(flight_cb, &ff3);
    assert_int_equal(ff3.found, 1);
    assert_int_equal(ff3.level, PT_LOG_TRACE);
}

/* The flight level in force when a record is logged decides, as the logger's level does for
 * the sinks: a trace record logged while the recorder takes trace is kept even if the level
 * goes back up before pt-log got to it. */
static void test_flight_level_at_call_time(void **state)
{
    tu_fx *f = *state;
    char marker[64];
    snprintf(marker, sizeof marker, "call-time-%d-%llu", (int)getpid(),
             (unsigned long long)tu_now_ns());
    assert_int_equal(pt_log_set_flight_level(PT_LOG_TRACE), 0);
    PT_TRACE(f->log, "trace at call time", PT_STR("m", marker));
    assert_int_equal(pt_log_set_flight_level(PT_LOG_DEBUG), 0);
    assert_int_equal(pt_log_flush(5000), 0);
    flight_find ff = {.needle = marker};
    pt_log_flight_read(flight_cb, &ff);
    if (ff.found != 1)
        fail_msg("a trace record logged while the flight level was trace is not in the "
                 "recorder (the level seems to be applied on pt-log, not at the call)");
}

/* One call site (a PT_LOG_LIMIT expansion is one site), used by both halves of the test. */
static void limited(pt_log *log, int i)
{
    PT_LOG_LIMIT(log, PT_LOG_INFO, 3, 200, "limited", PT_INT("i", i));
}

static void test_rate_limit(void **state)
{
    tu_fx *f = *state;
    pt_log_counters before, after;
    pt_log_counters_get(&before);
    uint64_t start = tu_now_ms();
    for (int i = 0; i < 100; i++)
        limited(f->log, i);
    uint64_t took = tu_now_ms() - start;
    tu_flush_and_load(&f->lines, f->path);
    if (took >= 150)
        fprintf(stderr, "100 calls took %llu ms: the counts are not checked\n",
                (unsigned long long)took);
    if (took < 150) { /* else the machine stalled us past the window: nothing to check */
        assert_int_equal(f->lines.n, 3);
        for (size_t i = 0; i < 3; i++)
            assert_int_equal(json_integer_value(json_object_get(f->lines.rec[i], "i")), i);
    }
    tu_sleep_ms(300);
    for (int i = 100; i < 102; i++)
        limited(f->log, i);
    tu_flush_and_load(&f->lines, f->path);
    pt_log_counters_get(&after);
    if (took >= 150)
        return;
    if (f->lines.n != 6) {
        for (size_t i = 0; i < f->lines.n; i++)
            fprintf(stderr, "line %zu: %s\n", i + 1, f->lines.raw[i]);
    }
    assert_int_equal(after.suppressed - before.suppressed, 97);
    assert_int_equal(f->lines.n, 6);
    json_t *s = f->lines.rec[3];
    TU_ASSERT_CORE(s, "lv", PT_LOG_INFO, getpid()); /* at the site's level */
    assert_string_equal(tu_str(s, "msg"), "97 records suppressed");
    assert_int_equal(json_integer_value(json_object_get(s, "suppressed")), 97);
    assert_string_equal(tu_str(s, "site_msg"), "limited");
    assert_int_equal(json_integer_value(json_object_get(f->lines.rec[4], "i")), 100);
    assert_string_equal(tu_str(f->lines.rec[4], "msg"), "limited");
    assert_int_equal(json_integer_value(json_object_get(f->lines.rec[5], "i")), 101);
}

/* The same as the first record of a fresh process, before anything measured the clock. */
static int scenario_limit_first(const char *dir)
{
    char *path = tu_path(dir, "first.log");
    pt_log *log;
    CHECK(pt_log_new("first", &log) == 0);
    CHECK(pt_log_add_file(log, path, NULL, NULL) == 0);
    uint64_t t0 = tu_now_ms();
    for (int i = 0; i < 10; i++)
        limited(log, i);
    uint64_t took = tu_now_ms() - t0;
    tu_sleep_ms(300);
    limited(log, 10);
    CHECK(pt_log_flush(5000) == 0);
    tu_lines ls;
    tu_lines_load(&ls, path);
    CHECK(tu_lines_report_bad(&ls) == 0);
    for (size_t i = 0; i < ls.n; i++)
        fprintf(stderr, "%s\n", ls.raw[i]);
    CHECKF(took < 150, "10 calls took %llu ms", (unsigned long long)took);
    CHECKF(ls.n == 5, "%zu lines, want 3 + the suppression record + 1", ls.n);
    CHECK(json_integer_value(json_object_get(ls.rec[3], "suppressed")) == 7);
    CHECK(json_integer_value(json_object_get(ls.rec[4], "i")) == 10);
    tu_lines_free(&ls);
    pt_log_free(log);
    free(path);
    return 0;
}

TU_SCENARIO_TEST(test_rate_limit_first_record, "limit_first", 20000)

static void test_rate_limit_sites_independent(void **state)
{
    tu_fx *f = *state;
    for (int i = 0; i < 10; i++) {
        PT_LOG_LIMIT(f->log, PT_LOG_WARN, 2, 60000, "site a", PT_INT("i", i));
        PT_LOG_LIMIT(f->log, PT_LOG_WARN, 5, 60000, "site b", PT_INT("i", i));
    }
    tu_flush_and_load(&f->lines, f->path);
    assert_int_equal(tu_count_msg(&f->lines, "site a"), 2);
    assert_int_equal(tu_count_msg(&f->lines, "site b"), 5);
}

static const tu_scenario scenarios[] = {
    {"limit_first", scenario_limit_first},
    {NULL, NULL},
};

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_level_names),
    cmocka_unit_test_setup_teardown(test_set_level, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_enabled, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_child_follows_parent, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_level_from_other_thread, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_routing_masks, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_flight_level_independent, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_flight_level_at_call_time, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_rate_limit, setup, tu_fx_teardown),
    cmocka_unit_test(test_rate_limit_first_record),
    cmocka_unit_test_setup_teardown(test_rate_limit_sites_independent, setup, tu_fx_teardown),
};

TU_MAIN(scenarios, tests)
