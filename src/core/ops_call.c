/* pt__ops_call(): run a function on pt-ops and wait for it, with a bound (ops_internal.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock_internal.h"
#include "core/ops_internal.h"

struct call {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done, refs; /* the caller's and the task's: the last one frees */
    pt_task_fn fn;
    void *arg;
};

static void call_release(struct call *c)
{
    pthread_mutex_lock(&c->lock);
    int last = --c->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (last) {
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->lock);
        free(c);
    }
}

static void call_task(void *arg)
{
    struct call *c = arg;
    c->fn(c->arg);
    pthread_mutex_lock(&c->lock);
    c->done = 1;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    call_release(c);
}

int pt__ops_call(pt_task_fn fn, void *arg, uint64_t timeout_ms)
{
    pthread_condattr_t ca;
    struct timespec until;

    if (pt_ops_is_current()) {
        fn(arg);
        return 0;
    }
    struct call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    c->refs = 2;
    c->fn = fn;
    c->arg = arg;
    int rc = pt_ops_post(call_task, c);
    if (rc < 0) {
        c->refs = 1;
        call_release(c);
        return rc;
    }
    until = pt__clock_deadline(CLOCK_MONOTONIC, timeout_ms);
    pthread_mutex_lock(&c->lock);
    while (!c->done && pthread_cond_timedwait(&c->cond, &c->lock, &until) == 0)
        ;
    int done = c->done;
    pthread_mutex_unlock(&c->lock);
    call_release(c);
    return done ? 0 : -ETIMEDOUT;
}
