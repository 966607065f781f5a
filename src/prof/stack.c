/* Walking the calling thread's stack, inside a signal handler or out of one (docs/prof.md).
 *
 * The walk is libunwind's, driven by the DWARF call frame information (.eh_frame) that every
 * Debian library and every program built by gcc or clang carries, whatever its optimisation
 * level. A walk that followed frame pointers first and handed over to libunwind only where
 * they "look invalid" was considered and rejected: a function built without frame pointers
 * (all of libc and libuv on Debian, and every -O2 build, potter's own included, since gcc
 * omits them by default) usually leaves rbp untouched, so the chain stays perfectly valid
 * (in bounds, aligned, rising) while silently skipping that function's caller. No check on
 * the chain can see it; the profile would just be wrong (tests/prof/stack_frames.h has the
 * case). libunwind is not wrong there, and where a module has no unwind information
 * (generated code) it follows the frame pointer itself, validating each address first.
 *
 * Speed comes from unw_backtrace(): it turns each pc's unwind rules into a small frame
 * description (CFA = rsp or rbp + offset, return address at CFA - 8) cached per thread, so a
 * frame costs a few loads once the cache is warm: 1.3 us for a 44-frame stack on the 2-core
 * test VMs (0.2 us for 14 frames), against 19 us for stepping a cursor. It starts at
 * its caller, so in a handler it walks the handler's own frames and the kernel's signal frame
 * first; the interrupted frame is found again by its pc. Where that fails, a cursor initialized
 * from the handler's context steps (slow, same result).
 */
#define UNW_LOCAL_ONLY
#include <errno.h>
#include <libunwind.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <ucontext.h>

#include "prof/stack.h"

/* Set while this thread walks: a signal that lands in the middle of a walk (a profiler tick
 * during a thread dump's walk, say) must not re-enter libunwind, whose per-thread cache is in
 * the middle of being used. The interrupting walk reports nothing. */
static __thread volatile sig_atomic_t walking;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* One walk at a time, process-wide. libunwind takes a lock of its own and, on a cache miss,
 * the dynamic loader's (dl_iterate_phdr). A thread interrupted while it holds the loader's
 * lock (dlopen, a C++ throw, LeakSanitizer's stop-the-world) whose handler then waited for
 * libunwind's lock, held by another walker that waits for the loader's: a deadlock, seen
 * under the fuzzer. With this lock taken first, and waited for at most WAIT_NS, the
 * interrupted thread gives up its sample instead, returns, and lets the loader's lock go. */
static atomic_int walk_lock;
#define WAIT_NS 10000000 /* 10 ms */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int take_walk_lock(void)
{
    int free_ = 0;
    if (atomic_compare_exchange_strong(&walk_lock, &free_, 1))
        return 1;
    uint64_t start = now_ns();
    for (unsigned i = 1;; i++) {
        __builtin_ia32_pause();
        free_ = 0;
        if (atomic_load_explicit(&walk_lock, memory_order_relaxed) == 0 &&
            atomic_compare_exchange_strong(&walk_lock, &free_, 1))
            return 1;
        if ((i & 255) == 0 && now_ns() - start > WAIT_NS)
            return 0;
    }
}

static void init_policy(void)
{
    /* The global cache takes a lock (with every signal blocked while it is held); the per-thread
     * one needs none, which is what makes a walk in a signal handler safe. */
    unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
}

int pt__stack_init(void)
{
    uintptr_t pcs[PT__STACK_MAX];

    pthread_once(&init_once, init_policy);
    /* One walk outside a handler: libunwind finds the loaded modules' unwind tables through
     * dl_iterate_phdr() and lays out its memory pools (mmap) here rather than in the first
     * handler. */
    if (pt__stack_walk(NULL, pcs, PT__STACK_MAX) <= 0)
        return -ENOTSUP;
    return 0;
}

/* The slow walk: a cursor stepped frame by frame, each step interpreting the frame's unwind
 * rules. It stops at max, at the outermost frame (_start, start_thread: their rules say there
 * is no return address), or at the first frame libunwind cannot step over. */
static int walk_cursor(unw_cursor_t *cursor, uintptr_t *pcs, int max)
{
    int n = 0;

    while (n < max) {
        unw_word_t ip;

        if (unw_get_reg(cursor, UNW_REG_IP, &ip) < 0 || ip == 0)
            break;
        pcs[n++] = (uintptr_t)ip;
        if (unw_step(cursor) <= 0)
            break;
    }
    return n;
}

/* The interrupted context's stack, by the slow walk. */
static int walk_context(ucontext_t *uc, uintptr_t *pcs, int max)
{
    unw_cursor_t cursor;

    /* On x86_64 libunwind's context is a ucontext_t, so the kernel's is used as is; the flag
     * says its pc is exact (not a return address to look up at pc - 1). */
    if (unw_init_local2(&cursor, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) != 0)
        return 0;
    return walk_cursor(&cursor, pcs, max);
}

/* Never inlined: the walk skips exactly one frame, its own. */
__attribute__((noinline)) int pt__stack_walk(void *uc, uintptr_t *pcs, int max)
{
    /* Room for the frames above the interrupted one: this function, the signal handler (and
     * whatever called this from it), the kernel's signal trampoline. */
    enum { ABOVE = 32 };
    void *trace[PT__STACK_MAX + ABOVE];
    int saved_errno, n, skip = -1;

    if (max <= 0 || walking)
        return 0;
    if (max > PT__STACK_MAX)
        max = PT__STACK_MAX;
    walking = 1;
    saved_errno = errno;
    if (!take_walk_lock()) {
        errno = saved_errno;
        walking = 0;
        return 0; /* another walk holds it too long: this sample goes without a stack */
    }
    /* unw_backtrace() starts at its caller (this function) and steps through the signal
     * frame into the interrupted code. */
    n = unw_backtrace(trace, max + ABOVE);
    if (uc) {
        uintptr_t pc = (uintptr_t)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
        for (int i = 0; i < n && i < ABOVE && skip < 0; i++)
            if ((uintptr_t)trace[i] == pc)
                skip = i;
    } else if (n > 1) {
        skip = 1;
    }
    if (skip < 0) {
        /* The fast walk did not get through the signal frame (or failed): step. */
        n = uc ? walk_context(uc, pcs, max) : 0;
    } else {
        n -= skip;
        if (n > max)
            n = max;
        for (int i = 0; i < n; i++)
            pcs[i] = (uintptr_t)trace[skip + i];
        /* Without a context pcs[0] is the return address into our caller; one byte back it
         * points inside the call instruction, the exact pc the contract promises. */
        if (!uc)
            pcs[0] -= 1;
    }
    atomic_store(&walk_lock, 0);
    errno = saved_errno;
    walking = 0;
    return n;
}
