/* The background threads as a whole: signal masks, creation, fork handlers, shutdown. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "core/clock_internal.h"
#include "core/core_internal.h"
#include "potter/core.h"
#include "potter/prof.h" /* its signals */

/* Serializes pt_core_shutdown() callers, so that no thread is joined twice. fork() does not
 * take it (a shutdown may wait for seconds); the child re-initializes it instead. */
static pthread_mutex_t shutdown_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* Every signal except the synchronous faults, which must reach the thread that caused them
 * (a crash handler needs them on the faulting thread), and prof's two real-time signals, which
 * are only ever sent to one thread (tgkill, a thread's CPU timer) to walk that thread's stack:
 * blocking them would hide libpotter's own threads from thread dumps and the CPU profiler.
 * glibc silently keeps its internal signals (cancellation, setxid) out of any mask. */
static void async_signals(sigset_t *set)
{
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};

    sigfillset(set);
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        sigdelset(set, faults[i]);
    sigdelset(set, PT_PROF_SIGNAL_THREADS);
    sigdelset(set, PT_PROF_SIGNAL_CPU);
}

/* The mask is set, not added to, so the caller ends up with exactly the mask of libpotter's
 * own threads even if it had blocked a fault signal before. */
void pt_thread_block_signals(void)
{
    sigset_t set;

    async_signals(&set);
    pthread_sigmask(SIG_SETMASK, &set, NULL);
}

int pt__thread_start(pthread_t *thread, const char *name, void *(*main)(void *), void *arg)
{
    sigset_t set, old;
    int err;

    /* A new thread inherits its creator's mask: block in the creator for the duration of
     * pthread_create(), so no signal can land on the new thread before it could block it. */
    async_signals(&set);
    pthread_sigmask(SIG_SETMASK, &set, &old);
    err = pthread_create(thread, NULL, main, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err)
        return -err;
    pthread_setname_np(*thread, name); /* only fails for names over 15 characters */
    return 0;
}

int pt__thread_join(pthread_t thread, uint64_t timeout_ms)
{
    struct timespec at;
    int err;

    /* Past a century the deadline would overflow time_t arithmetic: that means "forever". */
    if (timeout_ms > UINT64_C(3153600000000))
        return -pthread_join(thread, NULL);

    /* pthread_timedjoin_np() only takes CLOCK_REALTIME: a wall clock step during shutdown
     * lengthens or shortens the wait by the step. */
    at = pt__clock_deadline(CLOCK_REALTIME, timeout_ms);
    err = pthread_timedjoin_np(thread, NULL, &at);
    return err ? -err : 0;
}

/* pt-work is stopped first: its jobs may still post their results to pt-ops while they
 * drain, whereas a pt-ops task submitting work during shutdown just gets -ESHUTDOWN. */
int pt_core_shutdown(uint64_t timeout_ms)
{
    int work_err, ops_err;

    pthread_mutex_lock(&shutdown_lock);
    work_err = pt__work_stop(timeout_ms);
    ops_err = pt__ops_stop(timeout_ms);
    pthread_mutex_unlock(&shutdown_lock);
    return work_err ? work_err : ops_err;
}

/* The lock order is work, then ops. No code path holds both, so it only matters here. */
static void fork_prepare(void)
{
    pt__work_fork_prepare();
    pt__ops_fork_prepare();
}

static void fork_parent(void)
{
    pt__ops_fork_parent();
    pt__work_fork_parent();
}

static void fork_child(void)
{
    pt__ops_fork_child();
    pt__work_fork_child();
    /* A thread of the parent may have held it (joining); that thread does not exist here. */
    pthread_mutex_init(&shutdown_lock, NULL);
}

static void atfork_register(void)
{
    /* Fails only without memory; the threads then still work, only fork() is unprotected. */
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

void pt__core_atfork_once(void)
{
    pthread_once(&atfork_once, atfork_register);
}
