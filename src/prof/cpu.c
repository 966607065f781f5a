/* The CPU profiler (docs/prof.md): per-thread CPU-time timers, a signal handler that records
 * the interrupted stack, and a thread ("pt-prof") that gathers the records into a profile.
 *
 * Every thread gets a POSIX timer on its own CPU-time clock, so a thread is sampled in
 * proportion to the CPU it uses, on the thread that used it (a process-wide ITIMER_PROF
 * would land on whichever thread the kernel picks). The timer's signal is directed at its
 * thread (SIGEV_THREAD_ID) and carries the thread id as its value, so the handler needs no
 * system call to know where it runs. Threads started later get a timer at the next scan of
 * /proc/self/task (every 100 ms); timers of threads that exited are deleted then.
 *
 * The handler walks the stack straight into a slot of a ring allocated at start: a bounded
 * multi-producer queue where each slot carries a sequence number (a producer claims a slot by
 * advancing the tail with a compare-and-swap, fills it and then publishes it by storing its
 * sequence; the single consumer, pt-prof, takes published slots in order). A full ring drops
 * the sample and counts it. Nothing else runs in the handler: no allocation, no lock.
 *
 * Stopping deletes the timers first, then unpublishes the ring and waits for handlers still
 * inside (a signal already queued may arrive after its timer is gone; the handler then finds
 * no ring and returns). The handler stays installed: a late real-time signal meeting the
 * default action would kill the process.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/core_internal.h"
#include "potter/prof.h"
#include "prof/prof_internal.h"
#include "prof/stack.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

#define DEFAULT_HZ 99
#define MAX_HZ 1000
#define RING_SLOTS 2048 /* 2 MiB; at 1000 Hz on 16 busy cores, 128 ms of samples */
#define DRAIN_MS 10
#define SCAN_MS 100
#define LEAVE_MS 1000 /* see retire() */

/* A thread's CPU-time clock: the kernel's MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED), which is
 * what pthread_getcpuclockid() returns, for a thread we know only by its id. */
static clockid_t thread_cpu_clock(pid_t tid)
{
    return (clockid_t)((~(unsigned)tid << 3) | 4 /* per thread */ | 2 /* sched */);
}

struct sample {
    atomic_size_t seq; /* == position: free for the producer; == position + 1: published */
    pid_t tid;
    int depth;
    int weight; /* 1 + the timer's overruns: ticks this sample stands for */
    uintptr_t pcs[PT__STACK_MAX];
};

struct ring {
    atomic_size_t tail; /* next position a producer claims */
    size_t head; /* next position the consumer takes (pt-prof only) */
    atomic_uint_fast64_t dropped;
    struct sample slots[RING_SLOTS];
};

struct thread_timer {
    pid_t tid;
    timer_t timer;
    int seen; /* in the last scan */
    char name[16];
};

/* The running profile. Touched by the starter, then pt-prof only, then the stopper (which
 * joins pt-prof first); `lock` orders start and stop against each other. */
static struct {
    pthread_mutex_t lock;
    int running;
    unsigned hz;
    int64_t period_ns;
    int64_t start_wall_ns, start_mono_ns;
    struct ring *ring;
    pt__profile *profile;
    uint64_t samples, lost; /* added to the profile; dropped or failed to add */
    struct thread_timer *timers;
    size_t ntimers, timers_cap;
    pthread_t thread;
    pthread_mutex_t stop_lock; /* guards stop + stop_cond, for pt-prof's timed wait */
    pthread_cond_t stop_cond; /* on CLOCK_MONOTONIC: see cond_init() */
    int cond_ready;
    int stop;
} cpu = {.lock = PTHREAD_MUTEX_INITIALIZER, .stop_lock = PTHREAD_MUTEX_INITIALIZER};

static _Atomic(struct ring *) current_ring; /* what the handler sees; NULL: not profiling */
static atomic_int handlers_inside;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the handler ----------------------------------------------------------------------- */

static void push(struct ring *r, pid_t tid, int weight, void *uc)
{
    size_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    struct sample *s;

    for (;;) {
        s = &r->slots[pos % RING_SLOTS];
        size_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (seq == pos) {
            if (atomic_compare_exchange_weak_explicit(&r->tail, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed))
                break;
        } else if (seq < pos) {
            atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed); /* full */
            return;
        } else {
            pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
        }
    }
    s->tid = tid;
    s->weight = weight;
    s->depth = pt__stack_walk(uc, s->pcs, PT__STACK_MAX);
    atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
}

static void on_cpu_signal(int sig, siginfo_t *info, void *uc)
{
    int saved_errno = errno;
    struct ring *r;

    atomic_fetch_add(&handlers_inside, 1);
    r = atomic_load(&current_ring);
    /* Only our timers' signals (SI_TIMER) carry a thread id; anything else is ignored. */
    if (r && info && info->si_code == SI_TIMER && info->si_value.sival_int > 0)
        push(r, (pid_t)info->si_value.sival_int, 1 + (info->si_overrun > 0 ? info->si_overrun : 0),
             uc);
    atomic_fetch_sub(&handlers_inside, 1);
    errno = saved_errno;
}

/* ---- pt-prof --------------------------------------------------------------------------- */

static struct thread_timer *timer_of(pid_t tid)
{
    for (size_t i = 0; i < cpu.ntimers; i++)
        if (cpu.timers[i].tid == tid)
            return &cpu.timers[i];
    return NULL;
}

/* Creates and arms a timer on tid's CPU clock. Returns 0 or a negative errno (-EINVAL or
 * -ESRCH for a thread that exited meanwhile). */
static int timer_add(pid_t tid)
{
    struct sigevent ev;
    struct itimerspec every = {{0, cpu.period_ns}, {0, cpu.period_ns}};
    struct thread_timer *t;

    if (cpu.ntimers == cpu.timers_cap) {
        size_t cap = cpu.timers_cap ? cpu.timers_cap * 2 : 64;
        t = realloc(cpu.timers, cap * sizeof *t);
        if (!t)
            return -ENOMEM;
        cpu.timers = t;
        cpu.timers_cap = cap;
    }
    t = &cpu.timers[cpu.ntimers];
    memset(t, 0, sizeof *t);
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = PT_PROF_SIGNAL_CPU;
    ev.sigev_value.sival_int = (int)tid;
    ev.sigev_notify_thread_id = tid;
    if (timer_create(thread_cpu_clock(tid), &ev, &t->timer) != 0)
        return -errno;
    if (timer_settime(t->timer, 0, &every, NULL) != 0) {
        int err = -errno;
        timer_delete(t->timer);
        return err;
    }
    t->tid = tid;
    t->seen = 1;
    pt__prof_task_info(tid, t->name, NULL);
    cpu.ntimers++;
    return 0;
}

/* Gives every thread now in /proc/self/task a timer, refreshes the names, and deletes the
 * timers of threads that are gone. Returns 0 or a negative errno (the threads that could be
 * handled are). */
static int scan(void)
{
    pid_t *tids;
    size_t n, kept = 0;
    int err = pt__prof_tasks(&tids, &n);

    if (err)
        return err;
    for (size_t i = 0; i < cpu.ntimers; i++)
        cpu.timers[i].seen = 0;
    for (size_t i = 0; i < n; i++) {
        struct thread_timer *t = timer_of(tids[i]);
        if (t) {
            t->seen = 1;
            pt__prof_task_info(t->tid, t->name, NULL); /* renamed since? */
        } else {
            int e = timer_add(tids[i]);
            if (e && e != -ESRCH && e != -EINVAL) /* exited meanwhile: fine */
                err = e;
        }
    }
    free(tids);
    for (size_t i = 0; i < cpu.ntimers; i++) {
        if (!cpu.timers[i].seen)
            timer_delete(cpu.timers[i].timer);
        else
            cpu.timers[kept++] = cpu.timers[i];
    }
    /* A thread that exited since its last samples keeps its name only until it is dropped
     * here; its samples still queued are then named by its id (rare: 100 ms). */
    cpu.ntimers = kept;
    return err;
}

/* Moves the published samples into the profile. */
static void drain(struct ring *r)
{
    for (;;) {
        struct sample *s = &r->slots[r->head % RING_SLOTS];
        size_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (seq != r->head + 1)
            return; /* not yet published (or nothing more) */
        if (s->depth > 0) {
            struct thread_timer *t = timer_of(s->tid);
            char name[16];
            int64_t values[2] = {1, (int64_t)s->weight * cpu.period_ns};
            if (t)
                memcpy(name, t->name, sizeof name);
            else if (pt__prof_task_info(s->tid, name, NULL) != 0)
                snprintf(name, sizeof name, "%d", (int)s->tid);
            if (pt__profile_add(cpu.profile, s->pcs, (size_t)s->depth, values, name) == 0)
                cpu.samples++;
            else
                cpu.lost++;
        }
        atomic_store_explicit(&s->seq, r->head + RING_SLOTS, memory_order_release);
        r->head++;
    }
}

static void *prof_main(void *arg)
{
    int64_t next_scan = mono_ns() + (int64_t)SCAN_MS * 1000000;

    (void)arg;
    pthread_mutex_lock(&cpu.stop_lock);
    while (!cpu.stop) {
        struct timespec at;
        clock_gettime(CLOCK_MONOTONIC, &at);
        at.tv_nsec += DRAIN_MS * 1000000L;
        if (at.tv_nsec >= 1000000000L) {
            at.tv_sec++;
            at.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&cpu.stop_cond, &cpu.stop_lock, &at);
        if (cpu.stop)
            break;
        pthread_mutex_unlock(&cpu.stop_lock);
        drain(cpu.ring);
        if (mono_ns() >= next_scan) {
            scan();
            next_scan = mono_ns() + (int64_t)SCAN_MS * 1000000;
        }
        pthread_mutex_lock(&cpu.stop_lock);
    }
    pthread_mutex_unlock(&cpu.stop_lock);
    return NULL;
}

/* ---- start and stop -------------------------------------------------------------------- */

/* pt-prof's wait is timed on CLOCK_MONOTONIC (a condition variable's default clock is the wall
 * clock, which steps). Returns 0 or a negative errno. */
static int cond_init(void)
{
    pthread_condattr_t attr;
    int err;

    if ((err = pthread_condattr_init(&attr)) != 0)
        return -err;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    err = pthread_cond_init(&cpu.stop_cond, &attr);
    pthread_condattr_destroy(&attr);
    cpu.cond_ready = err == 0;
    return -err;
}

/* The child of a fork() has no timers (they are not inherited) and no pt-prof: no profile
 * runs there. What the parent's profile held is left to the parent. */
static void atfork_child(void)
{
    pthread_mutex_init(&cpu.lock, NULL);
    pthread_mutex_init(&cpu.stop_lock, NULL);
    cond_init(); /* failing, the next start tries again */
    cpu.running = 0;
    cpu.ring = NULL;
    cpu.profile = NULL;
    cpu.timers = NULL;
    cpu.ntimers = cpu.timers_cap = 0;
    atomic_store(&current_ring, NULL);
    atomic_store(&handlers_inside, 0);
}

static void atfork_register(void)
{
    pthread_atfork(NULL, NULL, atfork_child);
}

static void delete_timers(void)
{
    for (size_t i = 0; i < cpu.ntimers; i++)
        timer_delete(cpu.timers[i].timer);
    free(cpu.timers);
    cpu.timers = NULL;
    cpu.ntimers = cpu.timers_cap = 0;
}

/* Unpublishes the ring and waits for the handlers still inside. Returns 0, or -EDEADLK when
 * one did not leave in time: the ring must then not be freed. */
static int retire(void)
{
    int64_t until = mono_ns() + (int64_t)LEAVE_MS * 1000000;

    atomic_store(&current_ring, NULL);
    while (atomic_load(&handlers_inside) > 0) {
        if (mono_ns() >= until)
            return -EDEADLK;
        nanosleep(&(struct timespec){0, 100000}, NULL);
    }
    return 0;
}

static struct ring *ring_new(void)
{
    struct ring *r = malloc(sizeof *r);

    if (!r)
        return NULL;
    /* Every slot written now: no page faults in the handlers later. */
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < RING_SLOTS; i++)
        atomic_init(&r->slots[i].seq, i);
    return r;
}

/* Frees what start set up; the timers must be gone and the ring retired. */
static void teardown(void)
{
    free(cpu.ring);
    cpu.ring = NULL;
    pt__profile_free(cpu.profile);
    cpu.profile = NULL;
}

int pt_prof_cpu_start(const pt_prof_cpu_options *opts)
{
    static const pt__profile_type types[] = {{"samples", "count"}, {"cpu", "nanoseconds"}};
    unsigned hz = opts && opts->hz ? opts->hz : DEFAULT_HZ;
    int err;

    if (hz > MAX_HZ)
        return -EINVAL;
    pthread_once(&atfork_once, atfork_register);
    pthread_mutex_lock(&cpu.lock);
    if (cpu.running) {
        pthread_mutex_unlock(&cpu.lock);
        return -EBUSY;
    }
    err = cpu.cond_ready ? 0 : cond_init();
    if (!err)
        err = pt__prof_install(PT_PROF_SIGNAL_CPU, on_cpu_signal, PT_PROF_SIGNAL_THREADS);
    if (!err)
        err = pt__stack_init();
    if (err) {
        pthread_mutex_unlock(&cpu.lock);
        return err;
    }
    cpu.hz = hz;
    cpu.period_ns = 1000000000 / hz;
    cpu.samples = cpu.lost = 0;
    cpu.ring = ring_new();
    cpu.profile = pt__profile_new(types, 2, types[1], cpu.period_ns);
    if (!cpu.ring || !cpu.profile) {
        teardown();
        pthread_mutex_unlock(&cpu.lock);
        return -ENOMEM;
    }
    cpu.start_wall_ns = pt_clock_wall_ns();
    cpu.start_mono_ns = mono_ns();
    atomic_store(&current_ring, cpu.ring);
    cpu.stop = 0;
    /* The threads there are now are sampled from here on; pt-prof picks up later ones. */
    if ((err = scan()) == 0)
        err = pt__thread_start(&cpu.thread, "pt-prof", prof_main, NULL);
    if (err) {
        delete_timers();
        if (retire() == 0)
            teardown();
        pthread_mutex_unlock(&cpu.lock);
        return err;
    }
    cpu.running = 1;
    pthread_mutex_unlock(&cpu.lock);
    return 0;
}

int pt__prof_cpu_stop(pt__profile **out)
{
    *out = NULL;
    pthread_mutex_lock(&cpu.lock);
    if (!cpu.running) {
        pthread_mutex_unlock(&cpu.lock);
        return -ESRCH;
    }
    pthread_mutex_lock(&cpu.stop_lock);
    cpu.stop = 1;
    pthread_cond_signal(&cpu.stop_cond);
    pthread_mutex_unlock(&cpu.stop_lock);
    /* pt-prof only waits on its condition, drains and scans: it ends within milliseconds. */
    pthread_join(cpu.thread, NULL);
    delete_timers();
    if (retire() != 0) {
        /* A handler is stuck inside: its ring stays allocated (leaked), the profile is still
         * good up to here. */
        cpu.ring = NULL;
    } else {
        drain(cpu.ring);
    }
    cpu.lost += cpu.ring ? atomic_load(&cpu.ring->dropped) : 0;
    pt__profile_set_time(cpu.profile, cpu.start_wall_ns, mono_ns() - cpu.start_mono_ns);
    *out = cpu.profile;
    cpu.profile = NULL;
    teardown();
    cpu.running = 0;
    pthread_mutex_unlock(&cpu.lock);
    return 0;
}

int pt_prof_cpu_running(void)
{
    int running;

    pthread_mutex_lock(&cpu.lock);
    running = cpu.running;
    pthread_mutex_unlock(&cpu.lock);
    return running;
}

void pt__prof_cpu_counts(uint64_t *samples, uint64_t *lost)
{
    pthread_mutex_lock(&cpu.lock);
    *samples = cpu.samples;
    *lost = cpu.lost;
    pthread_mutex_unlock(&cpu.lock);
}

int pt_prof_cpu_stop(unsigned format, void **out, size_t *len)
{
    pt__symbolizer *sym = NULL;
    pt__profile *p;
    int err;

    if (out && (format < PT_PROF_PPROF || format > PT_PROF_SVG || !len))
        return -EINVAL;
    if ((err = pt__prof_cpu_stop(&p)) != 0)
        return err;
    if (!out) {
        pt__profile_free(p);
        return 0;
    }
    *out = NULL;
    *len = 0;
    if ((err = pt__symbolizer_new(&sym)) == 0 && (err = pt__profile_symbolize(p, sym)) == 0) {
        if (format == PT_PROF_PPROF)
            err = pt__profile_pprof(p, out, len);
        else if (format == PT_PROF_FOLDED)
            err = pt__profile_folded(p, 0, 1, (char **)out, len);
        else
            err = pt__profile_flame_svg(p, 0, "CPU", (char **)out, len);
    }
    pt__symbolizer_free(sym);
    pt__profile_free(p);
    return err;
}
