/* The state of pt-log that the caller's fast path reads. */
#ifndef PT_LOG_WRITER_INTERNAL_H
#define PT_LOG_WRITER_INTERNAL_H

#include <stdatomic.h>

/* Nonzero while pt-log sleeps deeply (idle for a while, up to a second at a time): the next
 * record wakes it. Written only when pt-log enters or leaves a deep sleep, so the callers
 * that read it on every record keep it in their caches. In its short sleeps (1 to 10 ms)
 * pt-log picks records up by itself, and callers wake it only when their ring is half full. */
extern atomic_int pt__writer_deep;

/* Wakes pt-log if it sleeps (a futex wake: a syscall, so callers do it rarely). */
void pt__writer_wake(void);

/* Counts a flush generation reached by a sink and wakes the callers of pt_log_flush(). */
void pt__writer_flush_progress(void);

/* The flush generation most recently requested (new sinks start there). */
uint64_t pt__writer_flush_requested(void);

void pt__rings_reset_after_fork(void);

#endif
