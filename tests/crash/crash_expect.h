/* What a crash test expects of one run of crash_child, and the checks (cmocka asserts). */
#ifndef PT_TESTS_CRASH_EXPECT_H
#define PT_TESTS_CRASH_EXPECT_H

#include "crash/crash_testutil.h"

typedef struct crash_expect {
    const char *scenario;
    int signo;            /* the signal that ends the child */
    const char *kind;     /* "signal" or "panic" */
    const char *signal;   /* "SIGSEGV" */
    const char *code;     /* the report's code starts with it; NULL: any */
    const char *addr;     /* the report's addr; NULL: not checked */
    const char *msg;      /* a part of the fatal record's msg (and of a panic's message) */
    const char *function; /* among the first `frames` frames of gdb's bt; NULL: not checked */
    int frames;
    int core;             /* 1: a core is expected; 0: none (the budget is spent) */
    double max_seconds;   /* spawn to reaped */
    const char *log_has[3]; /* in the report's log section; all NULL: "child ready" and
                               "about to crash" */
} crash_expect;

/* Runs the scenario in a fresh folder and checks it: the child died by signo, the report is
 * complete and parseable and the backup file holds the same bytes, the file sink holds the
 * fatal record (valid JSON, its fields), the core exists and gdb shows `function` (when the
 * machine's core_pattern lets a test see cores), all within max_seconds. */
void crash_expect_run(const crash_expect *e);

/* The same checks on a run made by the caller. */
void crash_expect_check(const crash_expect *e, crash_run *r);

#endif
