/* potter/core.h: errors, version, clocks and libpotter's two background threads.
 *
 * Every fallible function in libpotter returns an int: 0 on success or a negative
 * errno-style code (-ENOMEM, -ETIMEDOUT, ...) on failure; pt_strerror() names it.
 *
 * pt-ops   a libuv loop on its own thread. Other parts post short, non-blocking work to it
 *          (flushing stats, serving the control port) and start timers on it.
 * pt-work  a thread for blocking jobs (symbolizing, gzip, user health checks). Each job has a
 *          deadline: a job still queued when its deadline passes is called with -ETIMEDOUT
 *          instead of being run late.
 *
 * Both threads block every asynchronous signal, so SIGTERM and friends reach the
 * application's own threads, except the prof part's two (potter/prof.h), so that thread dumps
 * and CPU profiles see them too. Neither is started until a part first needs it.
 */
#ifndef POTTER_CORE_H
#define POTTER_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "potter/version.h"

#if defined(__GNUC__)
#define PT_EXTERN __attribute__((visibility("default")))
#define PT_LIKELY(x) __builtin_expect(!!(x), 1)
#define PT_UNLIKELY(x) __builtin_expect(!!(x), 0)
/* A function the hot path rarely calls: kept out of line and away from the hot code. */
#define PT_COLD __attribute__((cold, noinline))
#else
#define PT_EXTERN
#define PT_LIKELY(x) (x)
#define PT_UNLIKELY(x) (x)
#define PT_COLD
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The message for an error code returned by any pt_ function (negative errno). */
PT_EXTERN const char *pt_strerror(int err);

/* The library's version as "MAJOR.MINOR.PATCH", and as PT_VERSION_NUMBER. */
PT_EXTERN const char *pt_version_string(void);
PT_EXTERN unsigned pt_version_number(void);
/* The program's GNU build id in hex ("3f2a..."), "" if it was linked without one. */
PT_EXTERN const char *pt_build_id(void);

/* ---- clocks ----------------------------------------------------------------------------
 * pt_clock_ticks() reads the CPU's invariant time stamp counter (rdtsc): a few nanoseconds,
 * no syscall. pt_clock_ticks_to_wall_ns() turns a tick count taken earlier in this process
 * into nanoseconds since the Unix epoch, calibrated against CLOCK_REALTIME. Where the CPU
 * has no invariant TSC, ticks are CLOCK_MONOTONIC nanoseconds and the conversion is exact. */
PT_EXTERN uint64_t pt_clock_ticks(void);
PT_EXTERN int64_t pt_clock_ticks_to_wall_ns(uint64_t ticks);
PT_EXTERN uint64_t pt_clock_mono_ns(void);  /* CLOCK_MONOTONIC in ns */
PT_EXTERN int64_t pt_clock_wall_ns(void);   /* CLOCK_REALTIME in ns */

/* ---- pt-ops ---------------------------------------------------------------------------- */
typedef void (*pt_task_fn)(void *arg);
typedef struct pt_ops_timer pt_ops_timer;

/* Runs fn(arg) on pt-ops, soon, in the order posted. Starts pt-ops on first use. Safe from
 * any thread (not from a signal handler). Returns 0, -EINVAL (fn NULL), -ENOMEM,
 * -ESHUTDOWN once stopped, or the error of starting the thread (-EAGAIN, a libuv error). */
PT_EXTERN int pt_ops_post(pt_task_fn fn, void *arg);

/* Runs fn(arg) on pt-ops after timeout_ms, then every repeat_ms if repeat_ms > 0. Returns
 * as pt_ops_post() does. A timer, one-shot ones that fired included, is stopped and freed by
 * pt_ops_timer_free(), from any thread: once it returns, fn is not running and will not
 * run again (called from another thread it waits for a running fn, so hold no lock that fn
 * takes; called on pt-ops, fn itself included, it closes the timer at once). */
PT_EXTERN int pt_ops_timer_start(uint64_t timeout_ms, uint64_t repeat_ms, pt_task_fn fn,
                                 void *arg, pt_ops_timer **out);
PT_EXTERN void pt_ops_timer_free(pt_ops_timer *timer);

/* Nonzero when the caller runs on pt-ops. */
PT_EXTERN int pt_ops_is_current(void);

/* pt-ops's libuv loop (a uv_loop_t *), for parts that run libuv handles there. Only touch it
 * from pt-ops itself (inside a posted task or timer). Starts pt-ops on first use; NULL if it
 * cannot start or was shut down. */
PT_EXTERN void *pt_ops_loop(void);

/* ---- pt-work --------------------------------------------------------------------------- */
/* A job: status is 0 when it runs in time, -ETIMEDOUT when its deadline had passed by the
 * time it reached the front of the queue (the job should then only release what it holds),
 * -ESHUTDOWN when pt-work was stopped before it ran. */
typedef void (*pt_work_fn)(void *arg, int status);

/* Queues fn(arg, status) on pt-work, to start within deadline_ms (0 = no deadline). Jobs run
 * one at a time, in the order queued. Returns 0, -EINVAL, -ENOMEM, -ESHUTDOWN, or the error
 * of starting the thread. After fork() the child's queues start empty: what the parent had
 * queued is not run there. */
PT_EXTERN int pt_work_submit(pt_work_fn fn, void *arg, uint64_t deadline_ms);

/* Number of jobs queued or running on pt-work. */
PT_EXTERN size_t pt_work_pending(void);

/* Stops pt-ops and pt-work: pending pt-ops tasks run, pending pt-work jobs get -ESHUTDOWN,
 * then both threads are joined, each within timeout_ms. Later posts fail with -ESHUTDOWN.
 * Returns 0 or -ETIMEDOUT (a thread that does not stop in time is left running). Called
 * from a task or job, it does not wait for its own thread. */
PT_EXTERN int pt_core_shutdown(uint64_t timeout_ms);

/* Sets the calling thread's signal mask as libpotter's own threads have it: every
 * asynchronous signal blocked but PT_PROF_SIGNAL_THREADS and PT_PROF_SIGNAL_CPU
 * (potter/prof.h: the thread dump's and the CPU profiler's), the fault signals SIGSEGV,
 * SIGBUS, SIGFPE, SIGILL, SIGTRAP and SIGSYS open (even if they were blocked before). */
PT_EXTERN void pt_thread_block_signals(void);

/* Gives the calling thread an alternate signal stack (sigaltstack(2)) of 256 KiB above a guard
 * page, released when the thread exits, so that the crash handler (potter/crash.h) can run
 * there after the thread overflowed its own stack. libpotter's threads have one; the thread
 * that calls pt_crash_init() gets one; call this first thing in each thread of your own
 * (a thread without one that overflows its stack dies without a crash report). Idempotent; a
 * stack already installed by someone else is kept if it is at least as large. Returns 0,
 * -ENOMEM, or -EBUSY when called from a handler running on the current alternate stack. */
PT_EXTERN int pt_thread_init(void);

#ifdef __cplusplus
}
#endif

#endif /* POTTER_CORE_H */
