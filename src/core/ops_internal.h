/* ops_internal.h: pt-ops helpers for the other parts of libpotter (not public). */
#ifndef PT_OPS_INTERNAL_H
#define PT_OPS_INTERNAL_H

#include <stdint.h>

#include "potter/core.h"

/* Runs fn(arg) on pt-ops after what was posted before it, and waits at most timeout_ms for
 * it to finish. Called on pt-ops, runs fn at once. Returns 0 once fn ran; -ETIMEDOUT (fn
 * still runs later: arg must outlive it); -ESHUTDOWN or another pt_ops_post() error when
 * pt-ops cannot take it (fn then never runs); -ENOMEM. */
int pt__ops_call(pt_task_fn fn, void *arg, uint64_t timeout_ms);

#endif /* PT_OPS_INTERNAL_H */
