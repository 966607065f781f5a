/* Clock internals shared inside the library. */
#ifndef PT_CORE_CLOCK_INTERNAL_H
#define PT_CORE_CLOCK_INTERNAL_H

#include <stdint.h>

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

void pt__clock_init(void);
/* Nanoseconds per tick (1.0 without a TSC). */
double pt__clock_ns_per_tick(void);

#endif
