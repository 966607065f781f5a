/* The crash path when things around it go wrong: a sink that blocks forever, a sink that
 * crashes while the fatal record goes out, a full log ring, two threads crashing at once, and
 * the crash budget (crash_expect.c checks each run). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "crash/crash_expect.h"

/* The sink never returns from write(): step 2 gives up after crash.logger_timeout (200 ms in
 * the child), the file sink still gets the record, the process still dies with its core. */
static void test_sink_blocks(void **state)
{
    (void)state;
    crash_expect e = {"sink_block", SIGSEGV, "signal", "SIGSEGV", "SEGV_MAPERR", "0x0",
                      "crash: SIGSEGV at 0x0", "crash_segv_here", 2, 1, 5, {NULL}};
    crash_expect_run(&e);
}

/* The sink segfaults on the fatal record, on its own thread, in the middle of step 2: that
 * thread waits (a crash is in progress), the first crash's path finishes. */
static void test_sink_crashes(void **state)
{
    (void)state;
    crash_expect e = {"sink_crash", SIGSEGV, "signal", "SIGSEGV", "SEGV_MAPERR", "0x0",
                      "crash: SIGSEGV at 0x0", "crash_segv_here", 2, 1, 5, {NULL}};
    crash_expect_run(&e);
}

/* pt-log parked (so it neither drains the rings nor answers step 2), a 4 KiB ring filled
 * until records drop, then the fault: the report's log section holds the records still in
 * the ring (pending), the fatal record reaches the file sink written straight to its
 * descriptor once crash.logger_timeout has passed. */
static void test_ring_full(void **state)
{
    (void)state;
    crash_expect e = {"ring_full", SIGSEGV, "signal", "SIGSEGV", "SEGV_MAPERR", "0x0",
                      "crash: SIGSEGV at 0x0", "crash_segv_here", 2, 1, 10,
                      {"\"msg\":\"about to crash\"", "\"msg\":\"filler\"", "\"pending\":true"}};
    char dir[256];
    crash_run r;
    size_t len;

    crash_dir_make(dir, sizeof dir);
    assert_int_equal(crash_spawn(&r, dir, e.scenario, 100, 60), 0);
    crash_expect_check(&e, &r);
    const char *log = report_section(r.report, "log", &len);
    int lines = report_section_lines(r.report, "log"), pending = 0;
    for (const char *p = log; p && (p = memmem(p, len - (size_t)(p - log), "\"pending\":true", 14));
         p++)
        pending++;
    fprintf(stderr, "ring_full: %d records in the report's log section, %d of them pending\n",
            lines, pending);
    assert_true(lines >= 3);
    assert_true(pending >= 10);
    crash_run_free(&r);
    crash_dir_remove(dir);
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, what)); p++)
        n++;
    return n;
}

/* Two threads fault together: one report, one fatal record; the core shows the thread whose
 * report it is. */
static void test_two_threads(void **state)
{
    (void)state;
    crash_expect e = {"two_threads", SIGSEGV, "signal", "SIGSEGV", "SEGV_MAPERR", NULL,
                      "crash: SIGSEGV at 0x", NULL, 2, 1, 10, {NULL}};
    char dir[256], addr[32];
    crash_run r;

    crash_dir_make(dir, sizeof dir);
    assert_int_equal(crash_spawn(&r, dir, e.scenario, 100, 30), 0);
    assert_int_equal(r.nreports, 1);
    assert_int_equal(count(r.backup, "potter-crash-report 1\n"), 1);
    assert_int_equal(count(r.log, "\"level\":60"), 1);
    assert_int_equal(report_key(r.report, "addr", addr, sizeof addr), 0);
    e.function = !strcmp(addr, "0x10") ? "crash_thread_a_here" : "crash_thread_b_here";
    assert_true(!strcmp(addr, "0x10") || !strcmp(addr, "0x20"));
    crash_expect_check(&e, &r);
    crash_run_free(&r);
    crash_dir_remove(dir);
}

/* crash.max_cores 2: the third crash in the window still writes its report, without a core. */
static void test_budget(void **state)
{
    (void)state;
    crash_expect e = {"segv", SIGSEGV, "signal", "SIGSEGV", "SEGV_MAPERR", "0x0",
                      "crash: SIGSEGV at 0x0", "crash_segv_here", 2, 1, 10, {NULL}};
    char dir[256], v[64], path[600];
    crash_run r;

    crash_dir_make(dir, sizeof dir);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(crash_spawn(&r, dir, "segv", 2, 30), 0);
        e.core = i <= 2;
        assert_int_equal(r.nreports, i);
        crash_expect_check(&e, &r);
        assert_int_equal(report_key(r.report, "core-budget", v, sizeof v), 0);
        assert_string_equal(v, i <= 2 ? (i == 1 ? "1/2 per 3600 s" : "2/2 per 3600 s")
                                      : "2/2 per 3600 s");
        crash_run_free(&r);
        snprintf(path, sizeof path, "%s/backup.txt", dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/app.log", dir);
        unlink(path);
    }
    /* The budget's state: two cores, one line each. */
    snprintf(path, sizeof path, "%s/crash/core-budget", dir);
    char *text = crash_read_file(path, NULL);
    assert_non_null(text);
    assert_int_equal(count(text, "\n"), 2);
    free(text);
    crash_dir_remove(dir);
}

/* A section that never returns: the watchdog ends the path (crash.logger_timeout + 1.25 s
 * after the fault), sends the fatal record straight to the file sink, and the original signal
 * still takes the process with its core. The report is cut where the section hung. */
static void test_watchdog(void **state)
{
    (void)state;
    char dir[256];
    crash_run r;

    crash_dir_make(dir, sizeof dir);
    assert_int_equal(crash_spawn(&r, dir, "section_hang", 100, 30), 0);
    assert_true(WIFSIGNALED(r.status));
    assert_int_equal(WTERMSIG(r.status), SIGSEGV);
    assert_true(r.seconds < 5);
    assert_non_null(r.backup);
    assert_true(strncmp(r.backup, "potter-crash-report 1\n", 22) == 0);
    assert_non_null(strstr(r.backup, "\n== requests\n"));
    assert_non_null(strstr(r.backup, "\n== hang\n"));
    assert_non_null(strstr(r.backup, "\n== watchdog: "));
    assert_null(strstr(r.backup, "\n== end\n"));
    assert_non_null(r.report);
    assert_int_not_equal(report_check(r.report), 0); /* cut: no "== end" */
    assert_non_null(r.log);
    assert_non_null(strstr(r.log, "\"msg\":\"crash: SIGSEGV at 0x0 (SEGV_MAPERR)\""));
    if (crash_cores_checkable()) {
        assert_true(WCOREDUMP(r.status));
        assert_true(r.core_path[0] != '\0');
        /* Under the watchdog's frames, the hung section's, the report's, the first signal's. */
        assert_int_equal(crash_gdb_has_frame(r.core_path, "crash_segv_here", 24), 1);
    }
    crash_run_free(&r);
    crash_dir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sink_blocks),  cmocka_unit_test(test_sink_crashes),
        cmocka_unit_test(test_ring_full),    cmocka_unit_test(test_two_threads),
        cmocka_unit_test(test_budget),       cmocka_unit_test(test_watchdog),
    };
    return cmocka_run_group_tests(tests, NULL, crash_group_teardown);
}
