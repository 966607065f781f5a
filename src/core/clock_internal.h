/* Clock internals shared inside the library. */
#ifndef PT_CORE_CLOCK_INTERNAL_H
#define PT_CORE_CLOCK_INTERNAL_H

#include <stdint.h>

/* 1 when pt_clock_ticks() reads the TSC, 0 when it reads CLOCK_MONOTONIC, -1 before init. */
extern int pt__clock_use_tsc;

void pt__clock_init(void);
/* Nanoseconds per tick (1.0 without a TSC). */
double pt__clock_ns_per_tick(void);

#endif
