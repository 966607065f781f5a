/* Each fatal signal, a stack overflow, abort() from inside libc, pt_panic() and pt_assert():
 * a child crashes, the parent checks the report, the backup copy, the fatal record in the
 * file sink, the core and gdb's backtrace of it (crash_expect.c). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "crash/crash_expect.h"

static void test_segv(void **state)
{
    (void)state;
    crash_expect e = {"segv", SIGSEGV, "signal", "SIGSEGV", "SEGV_MAPERR", "0x0",
                      "crash: SIGSEGV at 0x0 (SEGV_MAPERR)", "crash_segv_here", 2, 1, 10, {NULL}};
    crash_expect_run(&e);
}

static void test_bus(void **state)
{
    (void)state;
    crash_expect e = {"bus", SIGBUS, "signal", "SIGBUS", "BUS_ADRERR", NULL,
                      "crash: SIGBUS at 0x", "crash_bus_here", 2, 1, 10, {NULL}};
    crash_expect_run(&e);
}

static void test_fpe(void **state)
{
    (void)state;
    crash_expect e = {"fpe", SIGFPE, "signal", "SIGFPE", "FPE_INTDIV", NULL,
                      "crash: SIGFPE at 0x", "crash_fpe_here", 2, 1, 10, {NULL}};
    crash_expect_run(&e);
}

static void test_ill(void **state)
{
    (void)state;
    crash_expect e = {"ill", SIGILL, "signal", "SIGILL", "ILL_ILLOPN", NULL,
                      "crash: SIGILL at 0x", "crash_ill_here", 2, 1, 10, {NULL}};
    crash_expect_run(&e);
}

/* glibc's malloc calls abort() on a double free. The handler raises SIGABRT again from its
 * own frame (returning would let abort's caller run on), so the crashed thread's stack reads:
 * the handler (3 frames), the signal frame, pthread_kill, raise, abort, glibc's malloc
 * checks (4 frames), then crash_abort_here. */
static void test_abort_in_library(void **state)
{
    (void)state;
    crash_expect e = {"abrt", SIGABRT, "signal", "SIGABRT", "SI_TKILL", NULL,
                      "crash: SIGABRT (SI_TKILL)", "crash_abort_here", 16, 1, 10, {NULL}};
    crash_expect_run(&e);
}

/* int3 resumes after the instruction: the handler raises SIGTRAP again itself. */
static void test_trap(void **state)
{
    (void)state;
    crash_expect e = {"trap", SIGTRAP, "signal", "SIGTRAP", NULL, NULL, "crash: SIGTRAP",
                      "crash_trap_here", 8, 1, 10, {NULL}};
    crash_expect_run(&e);
}

static void test_sys(void **state)
{
    (void)state;
    crash_expect e = {"sys", SIGSYS, "signal", "SIGSYS", "SYS_SECCOMP", NULL, "crash: SIGSYS",
                      "crash_sys_here", 8, 1, 10, {NULL}};
    crash_expect_run(&e);
}

/* A thread of the user's, with pt_thread_init(), overflows its stack. */
static void test_stack_overflow(void **state)
{
    (void)state;
    crash_expect e = {"overflow", SIGSEGV, "signal", "SIGSEGV", "SEGV_", NULL,
                      "crash: SIGSEGV at 0x", "crash_overflow_here", 2, 1, 10, {NULL}};
    crash_expect_run(&e);
}

static void test_panic(void **state)
{
    (void)state;
    crash_expect e = {"panic", SIGABRT, "panic", "SIGABRT", "panic", NULL,
                      "panic: boom 42: \"quoted\"", "crash_panic_here", 4, 1, 10, {NULL}};
    char dir[256];
    crash_run r;

    crash_dir_make(dir, sizeof dir);
    assert_int_equal(crash_spawn(&r, dir, e.scenario, 100, 30), 0);
    crash_expect_check(&e, &r);
    /* Step 3 ran: the shutdown hook, with crash.shutdown_timeout. */
    char path[600];
    snprintf(path, sizeof path, "%s/shutdown.txt", dir);
    char *text = crash_read_file(path, NULL);
    assert_non_null(text);
    assert_string_equal(text, "drained within 1000 ms\n");
    free(text);
    crash_run_free(&r);
    crash_dir_remove(dir);
}

static void test_assert(void **state)
{
    (void)state;
    crash_expect e = {"assert", SIGABRT, "panic", "SIGABRT", "panic", NULL,
                      "panic: assertion failed: n == 2 (", "crash_assert_here", 5, 1, 10, {NULL}};
    crash_expect_run(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segv),   cmocka_unit_test(test_bus),
        cmocka_unit_test(test_fpe),    cmocka_unit_test(test_ill),
        cmocka_unit_test(test_abort_in_library),
        cmocka_unit_test(test_trap),   cmocka_unit_test(test_sys),
        cmocka_unit_test(test_stack_overflow),
        cmocka_unit_test(test_panic),  cmocka_unit_test(test_assert),
    };
    return cmocka_run_group_tests(tests, NULL, crash_group_teardown);
}
