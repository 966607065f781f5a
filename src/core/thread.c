/* The background threads as a whole: signal masks, creation, fork handlers, shutdown. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

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

/* ---- alternate signal stacks ----------------------------------------------------------
 * A fault handler needs a stack of its own: after a stack overflow the thread's stack has no
 * room left, and the crash path (report formatting, libunwind's walk) wants more than
 * SIGSTKSZ. Each thread that calls pt_thread_init() gets ALTSTACK_SIZE bytes mmap'd above a
 * PROT_NONE guard page (so overflowing the handler's stack faults there, and the kernel then
 * kills the process with the default action instead of scribbling over the heap), released
 * by a pthread key destructor at thread exit. */
#define ALTSTACK_SIZE (256u * 1024)

static pthread_key_t altstack_key;
static pthread_once_t altstack_once = PTHREAD_ONCE_INIT;
static int altstack_key_err;
static __thread void *altstack_mine; /* the mapping (guard page first), NULL if none */

/* At thread exit: the stack is only unmapped if it is still the one in use, or none is; a
 * stack someone else installed after ours is left alone (and ours with it, rather than
 * unmapping memory the kernel might still deliver a signal onto). */
static void altstack_release(void *map)
{
    long page = sysconf(_SC_PAGESIZE);
    stack_t cur, off = {.ss_flags = SS_DISABLE};

    if (sigaltstack(NULL, &cur) != 0)
        return;
    if (!(cur.ss_flags & SS_DISABLE)) {
        if (cur.ss_sp != (char *)map + page)
            return;
        if (sigaltstack(&off, NULL) != 0)
            return;
    }
    munmap(map, ALTSTACK_SIZE + (size_t)page);
    altstack_mine = NULL;
}

static void altstack_key_make(void)
{
    altstack_key_err = pthread_key_create(&altstack_key, altstack_release);
}

/* Whether a stack someone else installed is to be kept. Under AddressSanitizer always: it
 * gives every thread one of its own and unmaps whatever is installed when the thread ends, so
 * replacing it would have ours unmapped twice. Otherwise when it is large enough. */
static int altstack_keep(const stack_t *cur)
{
#if defined(__SANITIZE_ADDRESS__)
    return 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return 1;
#endif
#endif
    return cur->ss_size >= ALTSTACK_SIZE;
}

int pt_thread_init(void)
{
    long page = sysconf(_SC_PAGESIZE);
    stack_t cur, ss;
    void *map;
    int err;

    if (altstack_mine)
        return 0;
    if (sigaltstack(NULL, &cur) != 0)
        return -errno;
    if (!(cur.ss_flags & SS_DISABLE) && altstack_keep(&cur))
        return 0;
    /* Changing the stack from inside a handler running on it is refused by the kernel. */
    if (cur.ss_flags & SS_ONSTACK)
        return -EBUSY;
    pthread_once(&altstack_once, altstack_key_make);
    if (altstack_key_err)
        return -altstack_key_err;

    map = mmap(NULL, ALTSTACK_SIZE + (size_t)page, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (map == MAP_FAILED)
        return -errno;
    if (mprotect(map, (size_t)page, PROT_NONE) != 0)
        goto fail;
    ss.ss_sp = (char *)map + page;
    ss.ss_size = ALTSTACK_SIZE;
    ss.ss_flags = 0;
    if (sigaltstack(&ss, NULL) != 0)
        goto fail;
    if ((err = pthread_setspecific(altstack_key, map)) != 0) {
        ss.ss_flags = SS_DISABLE;
        sigaltstack(&ss, NULL);
        munmap(map, ALTSTACK_SIZE + (size_t)page);
        return -err;
    }
    altstack_mine = map;
    return 0;
fail:
    err = -errno;
    munmap(map, ALTSTACK_SIZE + (size_t)page);
    return err;
}

/* What a thread started by pt__thread_start() runs first. */
struct thread_start {
    void *(*main)(void *);
    void *arg;
};

static void *thread_trampoline(void *p)
{
    struct thread_start start = *(struct thread_start *)p;

    free(p);
    /* Without an alternate stack the thread still runs; it only loses the crash report of a
     * stack overflow (the kernel kills the process directly then). */
    pt_thread_init();
    return start.main(start.arg);
}

int pt__thread_start(pthread_t *thread, const char *name, void *(*main)(void *), void *arg)
{
    struct thread_start *start = malloc(sizeof *start);
    sigset_t set, old;
    int err;

    if (!start)
        return -ENOMEM;
    start->main = main;
    start->arg = arg;
    /* A new thread inherits its creator's mask: block in the creator for the duration of
     * pthread_create(), so no signal can land on the new thread before it could block it. */
    async_signals(&set);
    pthread_sigmask(SIG_SETMASK, &set, &old);
    err = pthread_create(thread, NULL, thread_trampoline, start);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        free(start);
        return -err;
    }
    pthread_setname_np(*thread, name); /* only fails for names over 15 characters */
    return 0;
}

void pt__thread_background(void)
{
    struct sched_param sp = {0};
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
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
