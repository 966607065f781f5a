/* Running checks: a run starts on pt-ops, calls the check function on pt-work, and ends at
 * the first of the function's report and its timeout (a one-shot pt-ops timer).
 *
 * A probe is referenced by the run starting it (briefly), the pt-work job (a reference that
 * becomes the check function's, dropped by pt_health_probe_done()), the timeout timer, and a
 * task cancelling that timer. `finished` (under the core lock) decides which of the report
 * and the timeout counts; the other is ignored. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock_internal.h"
#include "health/health_internal.h"
#include "potter/health.h"

struct pt_health_probe {
    atomic_int refs;
    struct pt__health_check *check;
    uint64_t timeout_ms;
    uint64_t queued_ns; /* monotonic, when the run started */
    int64_t queued_wall_ns; /* the same, wall time */
    _Atomic uint64_t call_ns; /* monotonic, when the function was called; 0: not yet */
    int finished; /* under the core lock */
    pt_ops_timer *timer; /* the timeout; touched on pt-ops only */
};

static __thread int in_call;

int pt__health_in_call(void)
{
    return in_call;
}

static void probe_unref(struct pt_health_probe *probe)
{
    if (atomic_fetch_sub(&probe->refs, 1) != 1)
        return;
    pt__health_check_unref(probe->check);
    free(probe);
}

/* Records a finished run into c's result. core->lock held. */
static void record_locked(struct pt__health_check *c, int ok, const char *error,
                          uint64_t latency_ns, int64_t started_wall_ns)
{
    pt_health_result *r = &c->result;
    pt_health_state state = ok ? PT_HEALTH_OK : PT_HEALTH_FAILING;

    c->pending = 0;
    r->latency_ns = latency_ns;
    r->last_run_wall_ns = started_wall_ns;
    r->runs++;
    if (state != r->state) {
        r->state = state;
        r->since_wall_ns = pt_clock_wall_ns();
    }
    if (ok) {
        r->consecutive_failures = 0;
        r->error[0] = '\0';
    } else {
        r->consecutive_failures++;
        snprintf(r->error, sizeof r->error, "%s", error && *error ? error : "failed");
    }
    pthread_cond_broadcast(&c->core->changed);
}

/* Ends the run unless it already ended; returns 1 if this call ended it. Lock held. */
static int finish_locked(struct pt_health_probe *probe, int ok, const char *error)
{
    uint64_t now = pt_clock_mono_ns(), call_ns = atomic_load(&probe->call_ns);
    uint64_t from = call_ns ? call_ns : probe->queued_ns;

    if (probe->finished)
        return 0;
    probe->finished = 1;
    record_locked(probe->check, ok, error, now > from ? now - from : 0, probe->queued_wall_ns);
    return 1;
}

static void format_timeout(char *buf, size_t size, const char *what, uint64_t ms)
{
    if (ms % 1000 == 0)
        snprintf(buf, size, "%s %" PRIu64 "s", what, ms / 1000);
    else
        snprintf(buf, size, "%s %" PRIu64 "ms", what, ms);
}

/* On pt-ops: frees the timeout timer if it is still there, with its reference. */
static void drop_timer(struct pt_health_probe *probe)
{
    if (!probe->timer)
        return;
    pt_ops_timer_free(probe->timer);
    probe->timer = NULL;
    probe_unref(probe);
}

static void timeout_fire(void *arg)
{
    struct pt_health_probe *probe = arg;
    struct pt__health_core *core = probe->check->core;
    char msg[64];

    format_timeout(msg, sizeof msg, "timed out after", probe->timeout_ms);
    pthread_mutex_lock(&core->lock);
    finish_locked(probe, 0, msg);
    pthread_mutex_unlock(&core->lock);
    drop_timer(probe);
}

static void cancel_timer_task(void *arg)
{
    struct pt_health_probe *probe = arg;

    drop_timer(probe);
    probe_unref(probe);
}

void pt_health_probe_done(pt_health_probe *probe, int ok, const char *error)
{
    struct pt__health_core *core;
    int ended;

    if (!probe)
        return;
    core = probe->check->core;
    pthread_mutex_lock(&core->lock);
    ended = finish_locked(probe, ok, error);
    pthread_mutex_unlock(&core->lock);

    /* The timeout timer has nothing left to do: free it now rather than when it fires. It
     * belongs to pt-ops, so from elsewhere ask pt-ops to do it (if it cannot, the timer
     * fires later, finds the run finished and frees itself). */
    if (ended) {
        if (pt_ops_is_current()) {
            drop_timer(probe);
        } else {
            atomic_fetch_add(&probe->refs, 1);
            if (pt_ops_post(cancel_timer_task, probe) != 0)
                atomic_fetch_sub(&probe->refs, 1); /* ours is still held: never the last */
        }
    }
    probe_unref(probe);
}

uint64_t pt_health_probe_timeout_ms(const pt_health_probe *probe)
{
    return probe ? probe->timeout_ms : 0;
}

/* On pt-work: calls the check function, unless the run is already over, the registry is
 * gone, or the job was not run in time. */
static void probe_job(void *arg, int status)
{
    struct pt_health_probe *probe = arg;
    struct pt__health_check *c = probe->check;
    struct pt__health_core *core = c->core;
    char msg[80];

    pthread_mutex_lock(&core->lock);
    if (status != 0 || c->detached || probe->finished) {
        if (status == -ETIMEDOUT)
            format_timeout(msg, sizeof msg, "timed out after", probe->timeout_ms);
        else
            snprintf(msg, sizeof msg, "not run: %s",
                     status ? pt_strerror(status) : "the registry was freed");
        finish_locked(probe, 0, msg);
        pthread_mutex_unlock(&core->lock);
        probe_unref(probe);
        return;
    }
    core->calls++;
    pthread_mutex_unlock(&core->lock);

    /* The probe may be gone once fn reports, so hold c (and with it core) past the call. */
    pt__health_check_ref(c);
    atomic_store(&probe->call_ns, pt_clock_mono_ns());
    in_call++;
    c->fn(probe, c->arg);
    in_call--;

    pthread_mutex_lock(&core->lock);
    core->calls--;
    pthread_cond_broadcast(&core->changed);
    pthread_mutex_unlock(&core->lock);
    pt__health_check_unref(c);
}

void pt__health_check_run(struct pt__health_check *c)
{
    struct pt__health_core *core = c->core;
    struct pt_health_probe *probe;
    char msg[80];
    int err;

    pthread_mutex_lock(&core->lock);
    if (c->detached || c->pending) {
        pthread_mutex_unlock(&core->lock);
        return;
    }
    c->pending = 1;
    probe = calloc(1, sizeof *probe);
    if (!probe) {
        record_locked(c, 0, "not run: out of memory", 0, pt_clock_wall_ns());
        pthread_mutex_unlock(&core->lock);
        return;
    }
    pthread_mutex_unlock(&core->lock);

    atomic_init(&probe->refs, 1); /* ours, dropped below */
    pt__health_check_ref(c);
    probe->check = c;
    probe->timeout_ms = c->timeout_ms;
    probe->queued_ns = pt_clock_mono_ns();
    probe->queued_wall_ns = pt_clock_wall_ns();
    atomic_init(&probe->call_ns, 0);

    /* On pt-ops, so the timer cannot fire, nor a report's cancel task run, before
     * probe->timer is set. */
    atomic_fetch_add(&probe->refs, 1);
    if (pt_ops_timer_start(c->timeout_ms, 0, timeout_fire, probe, &probe->timer) != 0) {
        probe->timer = NULL; /* the run then ends only with the report */
        atomic_fetch_sub(&probe->refs, 1);
    }

    atomic_fetch_add(&probe->refs, 1);
    err = pt_work_submit(probe_job, probe, c->timeout_ms);
    if (err) {
        atomic_fetch_sub(&probe->refs, 1);
        snprintf(msg, sizeof msg, "not run: pt-work: %s", pt_strerror(err));
        pthread_mutex_lock(&core->lock);
        finish_locked(probe, 0, msg);
        pthread_mutex_unlock(&core->lock);
        drop_timer(probe);
    }
    probe_unref(probe);
}

static void run_task(void *arg)
{
    pt__health_check_run(arg);
    pt__health_check_unref(arg);
}

int pt_health_run_now(pt_health *h, uint64_t timeout_ms)
{
    struct pt__health_core *core;
    struct pt__health_check **checks;
    uint64_t *want;
    struct timespec until = pt__clock_deadline(CLOCK_MONOTONIC, timeout_ms);
    size_t i, n;
    int err = 0;

    if (!h)
        return -EINVAL;
    core = h->core;
    pthread_mutex_lock(&core->lock);
    n = h->n;
    checks = malloc((n ? n : 1) * sizeof *checks);
    want = malloc((n ? n : 1) * sizeof *want);
    if (!checks || !want) {
        pthread_mutex_unlock(&core->lock);
        free(checks);
        free(want);
        return -ENOMEM;
    }
    /* One more finished run each: the pending run's, or the one posted below. */
    for (i = 0; i < n; i++) {
        checks[i] = h->checks[i];
        want[i] = checks[i]->result.runs + 1;
        pt__health_check_ref(checks[i]);
    }
    pthread_mutex_unlock(&core->lock);

    for (i = 0; i < n && !err; i++) {
        pt__health_check_ref(checks[i]);
        err = pt_ops_post(run_task, checks[i]);
        if (err)
            pt__health_check_unref(checks[i]);
    }

    pthread_mutex_lock(&core->lock);
    for (i = 0; i < n && !err; i++)
        while (checks[i]->result.runs < want[i] && !err)
            if (pthread_cond_timedwait(&core->changed, &core->lock, &until) == ETIMEDOUT &&
                checks[i]->result.runs < want[i])
                err = -ETIMEDOUT;
    pthread_mutex_unlock(&core->lock);

    for (i = 0; i < n; i++)
        pt__health_check_unref(checks[i]);
    free(checks);
    free(want);
    return err;
}
