/* potter/crash.h: the crash path (docs/crash.md). When the process takes a fatal signal
 * (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS: stack overflow included) or calls
 * pt_panic() or fails a pt_assert():
 *
 *   1. in the handler, async-signal-safe only: a crash report to the backup descriptor
 *      (crash.backup_file, or stderr) and to a file in crash.dir: signal, code, fault address,
 *      thread, registers, raw backtrace, build id, the last log records (flight recorder and
 *      records still in the per-thread rings), the requests in flight;
 *   2. the log writer emits a fatal record to every sink and flushes (crash.logger_timeout),
 *      the crash is counted in stats;
 *   3. for pt_panic() and pt_assert() only (memory is trusted): the shutdown hook drains the
 *      service (crash.shutdown_timeout);
 *   4. a core is made possible (RLIMIT_CORE, dumpable) within the crash budget (crash.max_cores
 *      per crash.core_window), and the original signal takes the process.
 *
 *     pt_crash_options o = {.dir = "var/crash", .service = "hello", .version = "1.2.0"};
 *     pt_crash_init(&o);            // pt_app does this from the crash.* keys
 *     pt_thread_init();             // first thing in each thread of your own (potter/core.h):
 *                                   // the handler's alternate stack, for stack overflows
 *     pt_assert(n < cap);           // a failure reports "assertion failed: n < cap" and panics
 *     pt_panic("cannot happen: state %d", st);
 *
 * The report ("potter-crash-report 1": key: value lines, "== section" lines, "== end" last)
 * is described in docs/crash.md, with the fatal record and what the path cannot do.
 */
#ifndef POTTER_CRASH_H
#define POTTER_CRASH_H

#include <stddef.h>
#include <stdint.h>

#include "potter/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_crash_options {
    const char *dir;           /* crash.dir: report files (crash-<UTC time>-<pid>.txt) and
                                  the crash budget's state (core-budget), made when missing;
                                  NULL or "": no files, and no budget */
    const char *backup_file;   /* crash.backup_file: opened (append) at init; NULL or "": a
                                  duplicate of stderr taken at init */
    const char *service;       /* the service's name and version, in every report */
    const char *version;
    uint64_t logger_timeout_ms;   /* step 2's bound; 0: 50 (at most a day) */
    uint64_t shutdown_timeout_ms; /* step 3's bound (panics only); 0: 5000 (at most a day) */
    unsigned max_cores;        /* cores per window (the crash budget); 0: 3 (at most 1000).
                                  Past it the report is still written, the process dies
                                  without a core (not dumpable, RLIMIT_CORE 0). */
    uint64_t core_window_s;    /* 0: 3600 (at most ten years) */
} pt_crash_options;

/* Installs the handlers (on an alternate stack: see pt_thread_init(); the calling thread gets
 * one here) and prepares everything the handler needs (descriptors, buffers, the build id,
 * the loaded modules, libunwind's caches). Once per process; later calls return -EALREADY.
 * Returns 0, -EINVAL (an option out of range, a name with a control character), or the
 * error of opening the backup file or making crash.dir (with pt_crash_error() naming it).
 * A failed call changes nothing and may be retried. */
PT_EXTERN int pt_crash_init(const pt_crash_options *opts);

/* Why pt_crash_init() failed ("" when it did not). */
PT_EXTERN const char *pt_crash_error(void);

/* /proc/sys/kernel/core_pattern as pt_crash_init() read it ("" before, or if unreadable), for
 * the start-up record that tells operators where cores go (pt_app logs it): "core" (the
 * crashing process's working directory), an absolute path, or "|helper ..." (a pipe to
 * systemd-coredump, apport, ...). */
PT_EXTERN const char *pt_crash_core_pattern(void);

/* Step 3: fn(arg, timeout_ms) drains the service on a panic (pt_app sets its drain here). It
 * runs on the panicking thread after the fatal record; it must return within timeout_ms (a
 * watchdog ends the wait otherwise). NULL removes it. */
PT_EXTERN void pt_crash_set_shutdown(void (*fn)(void *arg, uint64_t timeout_ms), void *arg);

/* Adds a section to every crash report, "== name": fn(fd, arg) writes lines to fd (a regular
 * file; a last line without its newline gets one), async-signal-safe only, and no line that
 * starts with "== " (the http part lists the requests in flight here). May be called before
 * pt_crash_init(). At most 16. Returns 0, -EINVAL (fn NULL; name empty, over 63 bytes or with
 * a control character) or -ENOSPC. */
PT_EXTERN int pt_crash_add_section(const char *name, void (*fn)(int fd, void *arg), void *arg);

/* Reports and ends the process as a fatal signal does, after steps 1 to 3: the message,
 * printf-style, is formatted before anything else (into a preallocated buffer, cut at 1 KiB),
 * and SIGABRT is raised from pt_panic itself, so the core shows its caller right under it.
 * Not from a signal handler (vsnprintf). Without pt_crash_init() the report goes to stderr. */
PT_EXTERN __attribute__((noreturn, format(printf, 1, 2))) void pt_panic(const char *fmt, ...);

/* pt_panic("assertion failed: <expr> (file:line, function)") when cond is false. Always on
 * (NDEBUG does not remove it). */
#define pt_assert(cond)                                                                        \
    ((cond) ? (void)0 : pt__assert_failed(#cond, __FILE__, __LINE__, __func__))
PT_EXTERN __attribute__((noreturn)) void pt__assert_failed(const char *expr, const char *file,
                                                          int line, const char *func);

/* Crash reports left in dir by earlier runs (files named crash-*.txt): calls fn(arg, path,
 * text, len) for each, oldest first (text NUL-terminated, at most 16 MiB of it), then moves it
 * to dir/archive/. pt_app calls this at start and logs each as an error record. Returns how
 * many were found (0 when dir does not exist), -EINVAL, or the first error of reading dir or
 * archiving a report. */
PT_EXTERN int pt_crash_collect(const char *dir,
                               void (*fn)(void *arg, const char *path, const char *text,
                                          size_t len),
                               void *arg);

#ifdef __cplusplus
}
#endif

#endif /* POTTER_CRASH_H */
