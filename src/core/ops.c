/* pt-ops: a libuv loop on its own thread, fed by posted tasks and running timers.
 *
 * Posted tasks go into one FIFO list under ops.lock; a uv_async_t wakes the loop, which takes
 * the whole list at once and runs it in order. Timers are uv_timer_t handles that only pt-ops
 * touches: starting and stopping one from another thread is itself a posted task.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <uv.h>

#include "core/core_internal.h"
#include "potter/core.h"

struct ops_task {
    struct ops_task *next;
    pt_task_fn fn;
    void *arg;
    int embedded; /* part of a pt_ops_timer: not freed after it ran */
};

/* One loop per process generation. In a forked child the parent's loop is abandoned (its
 * memory stays reachable through `prev`, its descriptors are closed) and a new one made. */
struct ops_loop {
    uv_loop_t loop;
    uv_async_t wakeup;
    struct ops_loop *prev;
};

struct pt_ops_timer {
    uv_timer_t handle;
    pt_task_fn fn;
    void *arg;
    uint64_t timeout_ms;
    uint64_t repeat_ms;
    struct ops_loop *loop; /* the loop it belongs to */
    unsigned gen; /* ops.gen when it was started */
    int started; /* pt-ops only: handle initialized and started */
    int cancelled; /* pt-ops only: freed before its start task ran */
    int *stopped; /* set under ops.lock once stop_task ran */
    struct ops_task start_task;
    struct ops_task stop_task;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t timer_stopped; /* pt_ops_timer_free() waits here */
    int state; /* enum pt__thread_state */
    unsigned gen; /* bumped in every forked child */
    struct ops_loop *loop;
    struct ops_loop *abandoned;
    struct ops_task *head, *tail;
    pthread_t thread;
    int thread_live; /* created and not yet joined */
} ops = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .timer_stopped = PTHREAD_COND_INITIALIZER,
};

static __thread int ops_current;

/* ---- the thread ------------------------------------------------------------------------ */

static void ops_run_tasks(struct ops_task *task)
{
    while (task) {
        struct ops_task *next = task->next;
        pt_task_fn fn = task->fn;
        void *arg = task->arg;

        /* Copy out first: an embedded task may free its timer (and so itself). */
        if (!task->embedded)
            free(task);
        fn(arg);
        task = next;
    }
}

/* Takes everything posted so far and runs it. Tasks posted meanwhile wake the loop again
 * (every push signals), so a task that re-posts itself cannot starve timers and I/O. */
static void ops_wakeup_cb(uv_async_t *wakeup)
{
    struct ops_task *batch;

    pthread_mutex_lock(&ops.lock);
    batch = ops.head;
    ops.head = ops.tail = NULL;
    pthread_mutex_unlock(&ops.lock);

    ops_run_tasks(batch);

    pthread_mutex_lock(&ops.lock);
    /* Going DEAD under the lock, with the queue empty, is what lets pt_ops_timer_free() and
     * pt_ops_post() know that nothing more will run on this loop. Timers do not run after
     * uv_stop(): uv_run() only finishes this iteration's I/O, check and close callbacks. */
    if (!ops.head && ops.state == PT__DRAINING) {
        ops.state = PT__DEAD;
        uv_stop(wakeup->loop);
    }
    pthread_mutex_unlock(&ops.lock);
}

static void *ops_main(void *arg)
{
    struct ops_loop *l = arg;

    ops_current = 1;
    uv_run(&l->loop, UV_RUN_DEFAULT);
    /* The loop is not closed: other parts may still hold handles on it, and posters may
     * still write to its wakeup descriptor. It lives as long as the process. */
    return NULL;
}

static int ops_loop_new(struct ops_loop **out)
{
    struct ops_loop *l = calloc(1, sizeof *l);
    int err;

    if (!l)
        return -ENOMEM;
    err = uv_loop_init(&l->loop); /* libuv errors are negative errno values on Unix */
    if (err) {
        free(l);
        return err;
    }
    err = uv_async_init(&l->loop, &l->wakeup, ops_wakeup_cb);
    if (err) {
        uv_loop_close(&l->loop);
        free(l);
        return err;
    }
    *out = l;
    return 0;
}

/* Releases a loop that never ran (lost a race to start, or its thread failed to start). */
static void ops_loop_delete(struct ops_loop *l)
{
    uv_close((uv_handle_t *)&l->wakeup, NULL);
    uv_run(&l->loop, UV_RUN_NOWAIT);
    uv_loop_close(&l->loop);
    free(l);
}

/* Makes sure pt-ops runs. Called and returns with ops.lock held, but drops it while making
 * the loop: uv_loop_init() may call pthread_atfork(), which waits for a fork() in progress,
 * which may be waiting for ops.lock in our prepare handler.
 * Returns 0, -ESHUTDOWN, or why the thread could not start. */
static int ops_ensure_running_locked(void)
{
    struct ops_loop *l, *spare = NULL;
    int err = 0;

    if (ops.state != PT__IDLE)
        return ops.state == PT__RUNNING ? 0 : -ESHUTDOWN;

    pthread_mutex_unlock(&ops.lock);
    err = ops_loop_new(&l);
    pthread_mutex_lock(&ops.lock);
    if (err)
        return err;

    if (ops.state != PT__IDLE) {
        spare = l; /* another thread started it meanwhile */
    } else {
        err = pt__thread_start(&ops.thread, "pt-ops", ops_main, l);
        if (err) {
            spare = l;
        } else {
            ops.loop = l;
            ops.thread_live = 1;
            ops.state = PT__RUNNING;
        }
    }
    if (spare) {
        pthread_mutex_unlock(&ops.lock);
        ops_loop_delete(spare);
        pthread_mutex_lock(&ops.lock);
    }
    if (err)
        return err;
    return ops.state == PT__RUNNING ? 0 : -ESHUTDOWN;
}

/* Appends a task and wakes the loop. ops.lock held; state RUNNING or DRAINING. */
static void ops_push_locked(struct ops_task *task)
{
    task->next = NULL;
    if (ops.tail)
        ops.tail->next = task;
    else
        ops.head = task;
    ops.tail = task;
    /* Under the lock, so the loop cannot go DEAD between the push and the wakeup. */
    uv_async_send(&ops.loop->wakeup);
}

/* ---- the API --------------------------------------------------------------------------- */

int pt_ops_post(pt_task_fn fn, void *arg)
{
    struct ops_task *task;
    int err;

    if (!fn)
        return -EINVAL;
    task = malloc(sizeof *task);
    if (!task)
        return -ENOMEM;
    task->fn = fn;
    task->arg = arg;
    task->embedded = 0;

    pt__core_atfork_once();
    pthread_mutex_lock(&ops.lock);
    err = ops_ensure_running_locked();
    if (!err)
        ops_push_locked(task);
    pthread_mutex_unlock(&ops.lock);
    if (err)
        free(task);
    return err;
}

int pt_ops_is_current(void)
{
    return ops_current;
}

void *pt_ops_loop(void)
{
    uv_loop_t *loop = NULL;

    pt__core_atfork_once();
    pthread_mutex_lock(&ops.lock);
    if (ops_ensure_running_locked() == 0 || (ops_current && ops.loop))
        loop = &ops.loop->loop;
    pthread_mutex_unlock(&ops.lock);
    return loop;
}

/* ---- timers ---------------------------------------------------------------------------- */

static void timer_cb(uv_timer_t *handle)
{
    pt_ops_timer *t = handle->data;

    t->fn(t->arg);
}

static void timer_close_cb(uv_handle_t *handle)
{
    free(handle->data);
}

/* On pt-ops. */
static void timer_start_task(void *arg)
{
    pt_ops_timer *t = arg;

    if (t->cancelled) {
        free(t);
        return;
    }
    uv_timer_init(&t->loop->loop, &t->handle); /* cannot fail on Unix */
    t->handle.data = t;
    /* The loop's clock was read before the tasks of this wakeup began to run. */
    uv_update_time(&t->loop->loop);
    uv_timer_start(&t->handle, timer_cb, t->timeout_ms, t->repeat_ms);
    t->started = 1;
}

/* On pt-ops: after this, timer_cb never runs again for t, and t is freed soon. */
static void timer_stop_now(pt_ops_timer *t)
{
    if (!t->started) {
        t->cancelled = 1; /* its start task is still queued, and will free it */
        return;
    }
    uv_close((uv_handle_t *)&t->handle, timer_close_cb);
}

/* On pt-ops, for pt_ops_timer_free() called from another thread. */
static void timer_stop_task(void *arg)
{
    pt_ops_timer *t = arg;
    int *stopped = t->stopped;

    timer_stop_now(t);
    pthread_mutex_lock(&ops.lock);
    *stopped = 1;
    pthread_cond_broadcast(&ops.timer_stopped);
    pthread_mutex_unlock(&ops.lock);
}

int pt_ops_timer_start(uint64_t timeout_ms, uint64_t repeat_ms, pt_task_fn fn, void *arg,
                       pt_ops_timer **out)
{
    pt_ops_timer *t;
    int err, now = 0;

    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!fn)
        return -EINVAL;
    t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->fn = fn;
    t->arg = arg;
    t->timeout_ms = timeout_ms;
    t->repeat_ms = repeat_ms;
    t->start_task = (struct ops_task){.fn = timer_start_task, .arg = t, .embedded = 1};

    pt__core_atfork_once();
    pthread_mutex_lock(&ops.lock);
    err = ops_ensure_running_locked();
    if (!err) {
        t->loop = ops.loop;
        t->gen = ops.gen;
        /* Published before it can fire, so fn may read *out (to free its own timer). */
        *out = t;
        if (ops_current)
            now = 1;
        else
            ops_push_locked(&t->start_task);
    }
    pthread_mutex_unlock(&ops.lock);
    if (err) {
        free(t);
        return err;
    }
    if (now)
        timer_start_task(t);
    return 0;
}

/* Three cases:
 * - on pt-ops (from fn itself, or any task or handle callback): the handle is closed at
 *   once; fn cannot be running, except as our caller, and will not be called again;
 * - on another thread while pt-ops runs: a stop task is posted and waited for. Tasks run in
 *   order, so the start task ran before it, and while it runs fn cannot be running;
 * - the timer's loop will never run again (shut down, or made by the parent of this forked
 *   process): nothing can call fn, and the memory is simply freed. */
void pt_ops_timer_free(pt_ops_timer *t)
{
    int stopped = 0;

    if (!t)
        return;
    pthread_mutex_lock(&ops.lock);
    if (t->gen == ops.gen && ops_current) {
        pthread_mutex_unlock(&ops.lock);
        timer_stop_now(t);
        return;
    }
    if (t->gen != ops.gen || ops.state == PT__DEAD) {
        pthread_mutex_unlock(&ops.lock);
        free(t);
        return;
    }
    t->stopped = &stopped;
    t->stop_task = (struct ops_task){.fn = timer_stop_task, .arg = t, .embedded = 1};
    ops_push_locked(&t->stop_task);
    while (!stopped)
        pthread_cond_wait(&ops.timer_stopped, &ops.lock);
    pthread_mutex_unlock(&ops.lock);
}

/* ---- shutdown and fork ----------------------------------------------------------------- */

int pt__ops_stop(uint64_t timeout_ms)
{
    pthread_t thread;
    int live, err;

    pthread_mutex_lock(&ops.lock);
    if (ops.state == PT__IDLE) {
        ops.state = PT__DEAD;
    } else if (ops.state == PT__RUNNING) {
        ops.state = PT__DRAINING;
        uv_async_send(&ops.loop->wakeup);
    }
    live = ops.thread_live;
    thread = ops.thread;
    pthread_mutex_unlock(&ops.lock);

    /* From a task, the thread stops once that task returns: it cannot wait for itself. */
    if (!live || ops_current)
        return 0;
    err = pt__thread_join(thread, timeout_ms);
    if (err)
        return err;
    pthread_mutex_lock(&ops.lock);
    ops.thread_live = 0;
    pthread_mutex_unlock(&ops.lock);
    return 0;
}

void pt__ops_fork_prepare(void)
{
    pthread_mutex_lock(&ops.lock);
}

void pt__ops_fork_parent(void)
{
    pthread_mutex_unlock(&ops.lock);
}

/* The parent's loop fds are copies here: closing them leaves the parent's epoll set alone
 * (an epoll registration lasts while any process holds the file). The fields past
 * uv_backend_fd() are libuv's private ones, stable across libuv 1.x on Unix. */
static void ops_loop_close_fds(struct ops_loop *l)
{
    uv_loop_t *loop = &l->loop;

    close(uv_backend_fd(loop));
    if (loop->async_wfd != -1 && loop->async_wfd != loop->async_io_watcher.fd)
        close(loop->async_wfd);
    if (loop->async_io_watcher.fd != -1)
        close(loop->async_io_watcher.fd);
    if (loop->signal_pipefd[0] != -1)
        close(loop->signal_pipefd[0]);
    if (loop->signal_pipefd[1] != -1)
        close(loop->signal_pipefd[1]);
}

/* Only the thread that called fork() exists here, and it holds ops.lock (prepare). Tasks
 * and timer starts queued in the parent belong to the parent: they are dropped, not run. */
void pt__ops_fork_child(void)
{
    struct ops_task *task = ops.head;

    while (task) {
        struct ops_task *next = task->next;
        if (!task->embedded)
            free(task);
        task = next;
    }
    ops.head = ops.tail = NULL;

    if (ops.loop) {
        ops_loop_close_fds(ops.loop);
        ops.loop->prev = ops.abandoned;
        ops.abandoned = ops.loop;
        ops.loop = NULL;
    }
    if (ops.state == PT__RUNNING)
        ops.state = PT__IDLE;
    else if (ops.state == PT__DRAINING)
        ops.state = PT__DEAD;
    ops.gen++;
    ops.thread_live = 0;
    ops_current = 0; /* fork() may have been called from a task on pt-ops */
    /* The parent's waiters are not here; a condvar that counts them must start afresh. */
    pthread_cond_init(&ops.timer_stopped, NULL);
    pthread_mutex_unlock(&ops.lock);
}
