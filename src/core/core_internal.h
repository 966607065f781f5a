/* core_internal.h: what ops.c, work.c and thread.c share, inside src/core only. */
#ifndef PT_CORE_INTERNAL_H
#define PT_CORE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

/* The life of a background thread (pt-ops, pt-work):
 *
 *   IDLE ──first use──> RUNNING ──pt_core_shutdown──> DRAINING ──queue empty──> DEAD
 *     └────────────────pt_core_shutdown before any use──────────────────────────┘
 *
 * fork() turns RUNNING into IDLE in the child (its threads are gone, the next use starts
 * fresh ones), and DRAINING into DEAD (the parent was shutting down). */
enum pt__thread_state {
    PT__IDLE = 0,
    PT__RUNNING,
    PT__DRAINING, /* shutdown asked: callers are refused, the queue still drains */
    PT__DEAD /* the thread has left its loop, or never started */
};

/* Starts a thread named `name` (at most 15 characters) running main(arg), with every
 * asynchronous signal blocked from its first instruction. The caller's signal mask is left
 * as it was. Returns 0 or a negative errno from pthread_create(). */
int pt__thread_start(pthread_t *thread, const char *name, void *(*main)(void *), void *arg);

/* Puts the calling thread under SCHED_BATCH: one that does background work in passes (pt-log,
 * the sinks' threads), whose wake-ups should not preempt the threads serving requests but
 * wait for the running one's slice to end. It keeps its fair share of the CPU (the same
 * weight as before), so it is never starved. Nothing needs a privilege; a failure is ignored. */
void pt__thread_background(void);

/* Joins `thread`, waiting at most timeout_ms. Returns 0 or -ETIMEDOUT (the thread is then
 * still running and may be joined again later). */
int pt__thread_join(pthread_t thread, uint64_t timeout_ms);

/* Registers the fork handlers of pt-ops and pt-work, once per process. Called before the
 * first use of either; never with one of their locks held (pthread_atfork() takes the lock
 * that fork() holds while it runs the prepare handlers). */
void pt__core_atfork_once(void);

/* Each thread's half of pt_core_shutdown(): moves to DRAINING (or DEAD if it never started)
 * and joins the thread within timeout_ms. Called from the thread itself, it does not wait.
 * Returns 0 or -ETIMEDOUT. */
int pt__ops_stop(uint64_t timeout_ms);
int pt__work_stop(uint64_t timeout_ms);

/* fork() handlers: prepare takes the queue lock, parent releases it, child releases it and
 * forgets the threads (see docs/core.md, "fork"). */
void pt__ops_fork_prepare(void);
void pt__ops_fork_parent(void);
void pt__ops_fork_child(void);
void pt__work_fork_prepare(void);
void pt__work_fork_parent(void);
void pt__work_fork_child(void);

/* Reads fd until end of file or cap bytes, retrying EINTR (file.c). Returns the bytes read
 * (a read error ends it early: what came before counts). The caller closes fd. */
size_t pt__read_fd(int fd, char *buf, size_t cap);

#endif /* PT_CORE_INTERNAL_H */
