/* Clock internals shared inside the library. */
#ifndef PT_CORE_CLOCK_INTERNAL_H
#define PT_CORE_CLOCK_INTERNAL_H

#include <stdint.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "potter/core.h"

/* 1 when pt_clock_ticks() reads the TSC, 0 when it reads CLOCK_MONOTONIC, -1 before init. */
extern int pt__clock_use_tsc;

/* pt_clock_ticks() inlined, for the library's hot paths (rdtsc is the most expensive
 * instruction of a log call). Only after pt__clock_init(). */
static inline uint64_t pt__clock_ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
    if (PT_LIKELY(__atomic_load_n(&pt__clock_use_tsc, __ATOMIC_RELAXED) == 1))
        return __rdtsc();
#endif
    return pt_clock_mono_ns();
}

/* The wall time (ns since the epoch) of a pt_clock_ticks() reading, async-signal-safe: no
 * lock, the current slope as it is, anchored at CLOCK_REALTIME now (the crash path's). */
int64_t pt__clock_ticks_to_wall_signal_safe(uint64_t ticks);

/* The instant ms milliseconds from now on `clock`, for pthread_cond_timedwait() and
 * pthread_timedjoin_np(). A wait beyond a year is cut to a year (forever enough, and no
 * time_t overflow). */
static inline struct timespec pt__clock_deadline(clockid_t clock, uint64_t ms)
{
    struct timespec ts;

    if (ms > UINT64_C(365) * 24 * 3600 * 1000)
        ms = UINT64_C(365) * 24 * 3600 * 1000;
    clock_gettime(clock, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

void pt__clock_init(void);
/* Nanoseconds per tick (1.0 without a TSC). */
double pt__clock_ns_per_tick(void);

#endif
