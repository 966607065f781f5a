/* The health registry: checks, their periodic timers, the cached results and the aggregate. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock_internal.h"
#include "health/health_internal.h"
#include "potter/health.h"

static const char *const state_names[] = {
    [PT_HEALTH_UNKNOWN] = "unknown",   [PT_HEALTH_OK] = "ok",
    [PT_HEALTH_DEGRADED] = "degraded", [PT_HEALTH_FAILING] = "failing",
    [PT_HEALTH_DRAINING] = "draining",
};

const char *pt_health_state_name(pt_health_state state)
{
    if ((unsigned)state >= sizeof state_names / sizeof state_names[0])
        return NULL;
    return state_names[state];
}

/* ---- reference counts ------------------------------------------------------------------- */

static struct pt__health_core *core_new(void)
{
    struct pt__health_core *core = calloc(1, sizeof *core);
    pthread_condattr_t attr;

    if (!core)
        return NULL;
    atomic_init(&core->refs, 1);
    pthread_mutex_init(&core->lock, NULL);
    /* run_now() and free() wait with deadlines on the monotonic clock. */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&core->changed, &attr);
    pthread_condattr_destroy(&attr);
    return core;
}

void pt__health_core_unref(struct pt__health_core *core)
{
    if (atomic_fetch_sub(&core->refs, 1) != 1)
        return;
    pthread_cond_destroy(&core->changed);
    pthread_mutex_destroy(&core->lock);
    free(core);
}

void pt__health_check_ref(struct pt__health_check *c)
{
    atomic_fetch_add(&c->refs, 1);
}

void pt__health_check_unref(struct pt__health_check *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    pt__health_core_unref(c->core);
    free(c->name);
    free(c);
}

/* ---- the registry ----------------------------------------------------------------------- */

int pt_health_new(const pt_health_options *opts, pt_health **out)
{
    pt_health *h;

    if (!out)
        return -EINVAL;
    *out = NULL;
    h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->core = core_new();
    if (!h->core) {
        free(h);
        return -ENOMEM;
    }
    h->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : PT__HEALTH_DEFAULT_TIMEOUT_MS;
    h->interval_ms = opts && opts->interval_ms ? opts->interval_ms : PT__HEALTH_DEFAULT_INTERVAL_MS;
    *out = h;
    return 0;
}

void pt_health_free(pt_health *h)
{
    struct pt__health_core *core;
    uint64_t wait_ms = 0;
    struct timespec until;
    size_t i;

    if (!h)
        return;
    core = h->core;
    pthread_mutex_lock(&core->lock);
    for (i = 0; i < h->n; i++) {
        h->checks[i]->detached = 1;
        if (h->checks[i]->timeout_ms > wait_ms)
            wait_ms = h->checks[i]->timeout_ms;
    }
    pthread_mutex_unlock(&core->lock);

    /* Without the lock: freeing a timer waits for its tick, which takes the lock. */
    for (i = 0; i < h->n; i++)
        if (h->checks[i]->timer)
            pt_ops_timer_free(h->checks[i]->timer);

    /* The caller may release the checks' arguments once we return: wait for calls in
     * progress, as long as a call may rightly take. Queued calls see `detached` and skip. */
    until = pt__clock_deadline(CLOCK_MONOTONIC, wait_ms);
    pthread_mutex_lock(&core->lock);
    while (core->calls > pt__health_in_call())
        if (pthread_cond_timedwait(&core->changed, &core->lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&core->lock);

    for (i = 0; i < h->n; i++)
        pt__health_check_unref(h->checks[i]);
    free(h->checks);
    pt__health_core_unref(core);
    free(h);
}

/* Index of `name` in h->checks, or where it would go (*found 0). core->lock held. */
static size_t find_locked(pt_health *h, const char *name, int *found)
{
    size_t lo = 0, hi = h->n;

    *found = 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(name, h->checks[mid]->name);
        if (cmp == 0) {
            *found = 1;
            return mid;
        }
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static int insert_locked(pt_health *h, struct pt__health_check *c)
{
    int found;
    size_t at = find_locked(h, c->name, &found);

    if (found)
        return -EEXIST;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 8;
        struct pt__health_check **checks;
        if (cap > SIZE_MAX / sizeof *checks)
            return -ENOMEM;
        checks = realloc(h->checks, cap * sizeof *checks);
        if (!checks)
            return -ENOMEM;
        h->checks = checks;
        h->cap = cap;
    }
    memmove(&h->checks[at + 1], &h->checks[at], (h->n - at) * sizeof *h->checks);
    h->checks[at] = c;
    h->n++;
    return 0;
}

static void check_tick(void *arg)
{
    pt__health_check_run(arg);
}

/* Starts c's periodic timer, which the caller claimed (timer_claimed) under the lock. The
 * timer's use of c is covered by the registry's reference: pt_health_free() frees the timer
 * before dropping it. */
static int start_timer(pt_health *h, struct pt__health_check *c)
{
    pt_ops_timer *timer;
    int err = pt_ops_timer_start(0, c->interval_ms, check_tick, c, &timer);

    pthread_mutex_lock(&h->core->lock);
    if (err)
        c->timer_claimed = 0;
    else
        c->timer = timer;
    pthread_mutex_unlock(&h->core->lock);
    return err;
}

int pt_health_add_opts(pt_health *h, const char *name, pt_health_fn fn, void *arg,
                       const pt_health_check_options *opts)
{
    struct pt__health_check *c;
    int err, start_now = 0;

    if (!h || !name || !*name || !fn || (opts && (opts->flags & ~PT_HEALTH_CRITICAL)))
        return -EINVAL;
    c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->name = strdup(name);
    if (!c->name) {
        free(c);
        return -ENOMEM;
    }
    atomic_init(&c->refs, 1);
    c->core = h->core;
    atomic_fetch_add(&h->core->refs, 1);
    c->fn = fn;
    c->arg = arg;
    c->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : h->timeout_ms;
    c->interval_ms = opts && opts->interval_ms ? opts->interval_ms : h->interval_ms;
    c->critical = opts && (opts->flags & PT_HEALTH_CRITICAL);
    c->result.state = PT_HEALTH_UNKNOWN;
    c->result.critical = c->critical;
    c->result.since_wall_ns = pt_clock_wall_ns();

    pthread_mutex_lock(&h->core->lock);
    err = insert_locked(h, c);
    if (!err && h->started) {
        c->timer_claimed = 1;
        start_now = 1;
    }
    pthread_mutex_unlock(&h->core->lock);
    if (err) {
        pt__health_check_unref(c);
        return err;
    }
    if (start_now)
        return start_timer(h, c); /* on failure the check stays, and pt_health_start() retries */
    return 0;
}

int pt_health_add(pt_health *h, const char *name, pt_health_fn fn, void *arg, unsigned flags)
{
    pt_health_check_options opts = {.flags = flags};

    return pt_health_add_opts(h, name, fn, arg, &opts);
}

size_t pt_health_count(pt_health *h)
{
    size_t n;

    if (!h)
        return 0;
    pthread_mutex_lock(&h->core->lock);
    n = h->n;
    pthread_mutex_unlock(&h->core->lock);
    return n;
}

int pt_health_start(pt_health *h)
{
    struct pt__health_check **todo;
    size_t i, n = 0;
    int err = 0;

    if (!h)
        return -EINVAL;
    pthread_mutex_lock(&h->core->lock);
    h->started = 1;
    todo = h->n ? malloc(h->n * sizeof *todo) : NULL;
    if (h->n && !todo) {
        pthread_mutex_unlock(&h->core->lock);
        return -ENOMEM;
    }
    for (i = 0; i < h->n; i++) {
        if (!h->checks[i]->timer_claimed) {
            h->checks[i]->timer_claimed = 1;
            todo[n++] = h->checks[i];
        }
    }
    pthread_mutex_unlock(&h->core->lock);

    /* Checks are never removed while h lives, so the pointers stay valid unlocked. */
    for (i = 0; i < n; i++) {
        int e = start_timer(h, todo[i]);
        if (e && !err)
            err = e;
    }
    free(todo);
    return err;
}

void pt_health_set_draining(pt_health *h, int draining)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->core->lock);
    h->draining = draining != 0;
    pthread_mutex_unlock(&h->core->lock);
}

int pt_health_result_get(pt_health *h, const char *name, pt_health_result *out)
{
    int found;
    size_t at;

    if (!h || !name || !out)
        return -EINVAL;
    pthread_mutex_lock(&h->core->lock);
    at = find_locked(h, name, &found);
    if (found) {
        *out = h->checks[at]->result;
        out->pending = h->checks[at]->pending;
    }
    pthread_mutex_unlock(&h->core->lock);
    return found ? 0 : -ENOENT;
}

pt_health_state pt__health_status_locked(pt_health *h, int ready)
{
    pt_health_state status = PT_HEALTH_OK;
    size_t i;

    if (ready && h->draining)
        return PT_HEALTH_DRAINING;
    for (i = 0; i < h->n; i++) {
        const struct pt__health_check *c = h->checks[i];
        if (c->result.state == PT_HEALTH_OK)
            continue;
        if (c->critical)
            return PT_HEALTH_FAILING;
        status = PT_HEALTH_DEGRADED;
    }
    return status;
}

pt_health_state pt_health_status(pt_health *h, int ready)
{
    pt_health_state status;

    if (!h)
        return PT_HEALTH_UNKNOWN;
    pthread_mutex_lock(&h->core->lock);
    status = pt__health_status_locked(h, ready);
    pthread_mutex_unlock(&h->core->lock);
    return status;
}
