/* potter/prof.h: thread dumps and the CPU profiler, in-process (docs/prof.md).
 *
 *     char *dump; size_t len;
 *     pt_prof_threads(PT_PROF_TEXT, &dump, &len);   // every thread and its stack, like jstack
 *     fputs(dump, stderr);
 *     free(dump);
 *
 *     pt_prof_cpu_start(NULL);                      // 99 samples per CPU-second of each thread
 *     ...run the workload...
 *     void *pprof; size_t n;
 *     pt_prof_cpu_stop(PT_PROF_PPROF, &pprof, &n);  // gzip'd profile.proto: go tool pprof
 *     free(pprof);
 *
 * Both work by signalling threads: a handler walks the interrupted thread's stack into memory
 * prepared beforehand and returns; everything else (symbolizing, formatting) happens on the
 * caller's thread. The signals are real-time ones, so they collide with nothing the system
 * sends; each handler is installed the first time it is needed and stays, and neither is
 * installed over a handler the application set for the same signal (-EBUSY then). libpotter's
 * own threads leave both signals open; a thread of the application that blocks them is listed
 * in a dump without a stack and is not sampled by the profiler.
 */
#ifndef POTTER_PROF_H
#define POTTER_PROF_H

#include <signal.h>
#include <stddef.h>

#include "potter/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The signals prof sends to threads: a thread dump asks each thread for its stack with the
 * first, the CPU profiler's per-thread timers fire the second. */
#define PT_PROF_SIGNAL_THREADS (SIGRTMIN + 3)
#define PT_PROF_SIGNAL_CPU (SIGRTMIN + 4)

/* Output formats. */
#define PT_PROF_JSON 1u /* thread dump */
#define PT_PROF_TEXT 2u /* thread dump */
#define PT_PROF_PPROF 3u /* CPU profile: pprof's profile.proto, gzip-compressed */
#define PT_PROF_FOLDED 4u /* CPU profile: folded stacks, "main;work;spin 42\n" (text) */
#define PT_PROF_SVG 5u /* CPU profile: a flame graph (text) */

/* ---- thread dump ------------------------------------------------------------------------- */

/* Every thread of the process, its name, state and stack (leaf first), symbolized, in *out
 * (malloc'd, NUL-terminated, *len bytes without the NUL; free() it). Each other thread is
 * asked for its stack with PT_PROF_SIGNAL_THREADS and given 200 ms to answer (all at once,
 * so a dump takes at most that long plus symbolizing); the calling thread walks its own.
 *
 * PT_PROF_TEXT, like jstack:
 *
 *     "pt-http0" tid=1234 state=S
 *         at uv__io_poll (src/unix/linux.c:1432)
 *         at uv_run (src/unix/core.c:447)
 *         at worker_main (src/http/server.c:210)
 *
 *     "blocked" tid=1240 state=S
 *         (no stack: did not answer within 200 ms; the signal may be blocked)
 *
 * PT_PROF_JSON:
 *
 *     {"pid":1230,"threads":[{"tid":1234,"name":"pt-http0","state":"S","frames":[
 *       {"pc":"0x7f3a12c4e1d0","function":"uv__io_poll","file":"src/unix/linux.c","line":1432,
 *        "inlined":false,"module":"/usr/lib/x86_64-linux-gnu/libuv.so.1"},...]},
 *      {"tid":1240,"name":"blocked","state":"S","frames":null,
 *       "reason":"did not answer within 200 ms; the signal may be blocked"}]}
 *
 * Threads in /proc/self/task order (the main thread first). A frame inlined into the next one
 * shares its pc and has "inlined":true; "file" is null and "line" 0 without debug information.
 * Blocks for up to 200 ms plus the symbolizing (which reads debug information: tens of ms to
 * seconds the first time): call it from a thread that may block (pt-work), not from an event
 * loop. One dump at a time: a second caller waits for the first. Not from a signal handler.
 * Returns 0, -EINVAL (format, out or len), -EBUSY (the application has its own handler for
 * PT_PROF_SIGNAL_THREADS), -ENOMEM, -ETIMEDOUT (a thread's handler never finished its walk:
 * should not happen; that request's memory is then left allocated), or the error of reading
 * /proc/self/task. */
PT_EXTERN int pt_prof_threads(unsigned format, char **out, size_t *len);

/* ---- CPU profiler ------------------------------------------------------------------------ */

typedef struct pt_prof_cpu_options {
    /* 0: 99. Samples per second of CPU time of each thread, at most 1000. The kernel checks
     * CPU timers at its tick (CONFIG_HZ, 250 on Debian): above that a thread still gets one
     * sample a tick, and each sample's "cpu" value counts the ticks it stands for. */
    unsigned hz;
} pt_prof_cpu_options;

/* Starts sampling every thread of the process (those created later too, within 100 ms):
 * each thread's CPU-time clock fires PT_PROF_SIGNAL_CPU hz times per second of CPU that
 * thread uses, and the handler records the thread's stack. Idle threads cost nothing; while
 * no profile runs there are no timers at all. Samples are gathered into a profile by a
 * thread of the profiler's own ("pt-prof"). opts NULL: the defaults. Returns 0, -EINVAL
 * (hz over 1000), -EBUSY (a profile is running, or the application has its own handler for
 * PT_PROF_SIGNAL_CPU), -ENOMEM, or the error of creating the thread. */
PT_EXTERN int pt_prof_cpu_start(const pt_prof_cpu_options *opts);

/* Stops the profile started by pt_prof_cpu_start() and writes it, symbolized, in *out
 * (malloc'd; free() it; *len bytes; PT_PROF_FOLDED and PT_PROF_SVG are also NUL-terminated)
 * as format: PT_PROF_PPROF, PT_PROF_FOLDED (with each thread's name as the root frame) or
 * PT_PROF_SVG. Every value is a sample ("samples"/"count") and the CPU time it stands for
 * ("cpu"/"nanoseconds"). Symbolizing blocks (see pt_prof_threads()): not on an event loop.
 * With out NULL the profile is discarded. Returns 0, -EINVAL (format), -ESRCH (no profile
 * runs; *out is then untouched) or -ENOMEM (the profile is stopped either way). */
PT_EXTERN int pt_prof_cpu_stop(unsigned format, void **out, size_t *len);

/* 1 while a CPU profile runs. */
PT_EXTERN int pt_prof_cpu_running(void);

#ifdef __cplusplus
}
#endif

#endif /* POTTER_PROF_H */
