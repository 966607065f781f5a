/* What the health part's files share: the registry, its checks and their probes.
 *
 * Lifetimes. A registry (struct pt_health) owns a sorted array of checks. Everything a late
 * pt_health_probe_done() touches outlives the registry through reference counts:
 *
 *     probe --ref--> check --ref--> core (the lock and condition variable)
 *
 * A probe is held by whoever may still use it: the pt-work job (whose reference passes to
 * the check function, and is dropped by pt_health_probe_done()) and the timeout timer. A
 * check is held by the registry, its probes, and tasks posted to pt-ops. So after
 * pt_health_free() a late report finds its check (detached, no longer listed) and its lock,
 * records into a result nobody reads any more, and releases them.
 */
#ifndef PT_HEALTH_INTERNAL_H
#define PT_HEALTH_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "potter/health.h"

#define PT__HEALTH_DEFAULT_TIMEOUT_MS 2000u
#define PT__HEALTH_DEFAULT_INTERVAL_MS 10000u

struct pt__health_core {
    atomic_int refs;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a run finished, or a call returned */
    int calls; /* check functions being called now */
};

struct pt__health_check {
    atomic_int refs;
    struct pt__health_core *core;
    char *name;
    pt_health_fn fn;
    void *arg;
    uint64_t timeout_ms, interval_ms;
    int critical;
    pt_ops_timer *timer; /* the periodic runs, once started */

    /* Under core->lock from here on. */
    int timer_claimed; /* someone started (or is starting) the timer */
    int detached; /* the registry was freed: start no run, call nothing */
    int pending; /* a run is in progress */
    pt_health_result result;
};

struct pt_health {
    struct pt__health_core *core;
    uint64_t timeout_ms, interval_ms;
    /* Under core->lock. */
    struct pt__health_check **checks; /* sorted by name */
    size_t n, cap;
    int started, draining;
};

void pt__health_core_unref(struct pt__health_core *core);
void pt__health_check_ref(struct pt__health_check *c);
void pt__health_check_unref(struct pt__health_check *c);

/* run.c: starts a run of c unless one is pending or c is detached. On pt-ops only. */
void pt__health_check_run(struct pt__health_check *c);
/* Nonzero while the calling thread is inside a check function. */
int pt__health_in_call(void);

/* The aggregate state; core->lock held. */
pt_health_state pt__health_status_locked(pt_health *h, int ready);

#endif /* PT_HEALTH_INTERNAL_H */
