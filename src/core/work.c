/* pt-work: one thread running blocking jobs in FIFO order, each with a start deadline. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "core/core_internal.h"
#include "potter/core.h"

struct work_job {
    struct work_job *next;
    pt_work_fn fn;
    void *arg;
    uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0 = none */
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* a job was queued, or the state changed */
    int state; /* enum pt__thread_state */
    struct work_job *head, *tail;
    size_t pending; /* queued + running */
    pthread_t thread;
    int thread_live; /* created and not yet joined */
} work = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
};

static __thread int work_current;

/* clock.c's pt_clock_mono_ns() would do; reading the clock here keeps pt-work free of the
 * TSC calibration, which it does not need for millisecond deadlines. */
static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A deadline past the end of the clock is no deadline at all. */
static uint64_t deadline_from_now(uint64_t deadline_ms)
{
    uint64_t now;

    if (deadline_ms == 0)
        return 0;
    now = mono_ns();
    if (deadline_ms > (UINT64_MAX - now) / 1000000u)
        return 0;
    return now + deadline_ms * 1000000u;
}

static void *work_main(void *unused)
{
    work_current = 1;
    pthread_mutex_lock(&work.lock);
    for (;;) {
        struct work_job *job;
        int status = 0;

        while (!work.head && work.state == PT__RUNNING)
            pthread_cond_wait(&work.wake, &work.lock);
        job = work.head;
        if (!job)
            break; /* draining, and nothing left */
        work.head = job->next;
        if (!work.head)
            work.tail = NULL;

        if (work.state != PT__RUNNING)
            status = -ESHUTDOWN;
        else if (job->deadline_ns && mono_ns() > job->deadline_ns)
            status = -ETIMEDOUT;
        pthread_mutex_unlock(&work.lock);

        job->fn(job->arg, status);
        free(job);

        pthread_mutex_lock(&work.lock);
        work.pending--;
    }
    work.state = PT__DEAD;
    pthread_mutex_unlock(&work.lock);
    return NULL;
}

/* work.lock held. Unlike pt-ops there is nothing to build outside the lock: pthread_create()
 * registers no fork handler. Returns 0, -ESHUTDOWN or why the thread could not start. */
static int work_ensure_running_locked(void)
{
    int err;

    if (work.state == PT__IDLE) {
        err = pt__thread_start(&work.thread, "pt-work", work_main, NULL);
        if (err)
            return err;
        work.thread_live = 1;
        work.state = PT__RUNNING;
    }
    return work.state == PT__RUNNING ? 0 : -ESHUTDOWN;
}

int pt_work_submit(pt_work_fn fn, void *arg, uint64_t deadline_ms)
{
    struct work_job *job;
    int err;

    if (!fn)
        return -EINVAL;
    job = malloc(sizeof *job);
    if (!job)
        return -ENOMEM;
    job->next = NULL;
    job->fn = fn;
    job->arg = arg;
    job->deadline_ns = deadline_from_now(deadline_ms);

    pt__core_atfork_once();
    pthread_mutex_lock(&work.lock);
    err = work_ensure_running_locked();
    if (!err) {
        if (work.tail)
            work.tail->next = job;
        else
            work.head = job;
        work.tail = job;
        work.pending++;
        pthread_cond_signal(&work.wake);
    }
    pthread_mutex_unlock(&work.lock);
    if (err)
        free(job);
    return err;
}

size_t pt_work_pending(void)
{
    size_t n;

    pthread_mutex_lock(&work.lock);
    n = work.pending;
    pthread_mutex_unlock(&work.lock);
    return n;
}

int pt__work_stop(uint64_t timeout_ms)
{
    pthread_t thread;
    int live, err;

    pthread_mutex_lock(&work.lock);
    if (work.state == PT__IDLE) {
        work.state = PT__DEAD;
    } else if (work.state == PT__RUNNING) {
        work.state = PT__DRAINING;
        pthread_cond_signal(&work.wake);
    }
    live = work.thread_live;
    thread = work.thread;
    pthread_mutex_unlock(&work.lock);

    /* From a job, the thread stops once that job returns: it cannot wait for itself. */
    if (!live || work_current)
        return 0;
    err = pt__thread_join(thread, timeout_ms);
    if (err)
        return err;
    pthread_mutex_lock(&work.lock);
    work.thread_live = 0;
    pthread_mutex_unlock(&work.lock);
    return 0;
}

void pt__work_fork_prepare(void)
{
    pthread_mutex_lock(&work.lock);
}

void pt__work_fork_parent(void)
{
    pthread_mutex_unlock(&work.lock);
}

/* Only the thread that called fork() exists here, and it holds work.lock (prepare). Jobs
 * queued in the parent belong to the parent: they are dropped, not called. */
void pt__work_fork_child(void)
{
    struct work_job *job = work.head;

    while (job) {
        struct work_job *next = job->next;
        free(job);
        job = next;
    }
    work.head = work.tail = NULL;
    work.pending = 0;
    if (work.state == PT__RUNNING)
        work.state = PT__IDLE;
    else if (work.state == PT__DRAINING)
        work.state = PT__DEAD;
    work.thread_live = 0;
    work_current = 0; /* fork() may have been called from a job */
    pthread_cond_init(&work.wake, NULL);
    pthread_mutex_unlock(&work.lock);
}
