/* Loop watchers (pt_stats_watch_loop()): the lag of a libuv loop, as the timer
 * `<name>.lag`.
 *
 * A watcher is a uv_timer_t on the watched loop, every 250 ms and unref'ed (it never keeps
 * the loop alive). At each tick it records how much later than 250 ms after the previous
 * tick it runs: what a callback that blocked the loop, or a burst of work, cost every other
 * callback waiting on that loop.
 *
 * Its timer belongs to the loop's thread, which alone may touch it; the registry may be
 * freed by any thread. So the registry never touches a watcher's handle: pt_stats_free()
 * only cuts the watcher off (pt__stats_loops_detach(), under watch_lock, which the tick holds
 * while it records), and the watcher, at its next tick on its own thread, closes its timer
 * and frees itself. pt_stats_unwatch_loop() closes it at once, for a loop about to be
 * closed. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "stats/loop_internal.h"
#include "stats/stats_internal.h"

#define TICK_MS 250

typedef struct watcher {
    uv_timer_t timer;
    pt_stats *stats; /* NULL once cut off; under watch_lock */
    pt_timer *lag;
    uv_loop_t *loop;
    pthread_t thread; /* the loop's */
    uint64_t last_ns; /* uv_hrtime() at the last tick */
    int closing; /* the timer is being closed; on the loop's thread only */
    struct watcher *next; /* in `watchers`, until its timer is closed */
} watcher;

/* Every watcher whose timer is not closed yet, of every registry and loop. */
static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static watcher *watchers;

static void on_close(uv_handle_t *handle)
{
    watcher *w = handle->data;

    pthread_mutex_lock(&watch_lock);
    for (watcher **link = &watchers; *link; link = &(*link)->next) {
        if (*link == w) {
            *link = w->next;
            break;
        }
    }
    pthread_mutex_unlock(&watch_lock);
    free(w);
}

/* On the loop's thread. The watcher stays listed until libuv has closed its timer. */
static void close_watcher(watcher *w)
{
    if (w->closing)
        return;
    w->closing = 1;
    uv_close((uv_handle_t *)&w->timer, on_close);
}

static void tick(uv_timer_t *timer)
{
    watcher *w = timer->data;
    uint64_t now = uv_hrtime(), due = w->last_ns + (uint64_t)TICK_MS * 1000000;

    w->last_ns = now;
    pthread_mutex_lock(&watch_lock);
    int attached = w->stats != NULL;
    if (attached) /* the registry cannot be freed meanwhile: detach waits for the lock */
        pt_timer_record_ns(w->lag, now > due ? (int64_t)(now - due) : 0);
    pthread_mutex_unlock(&watch_lock);
    if (!attached)
        close_watcher(w);
}

/* Returns 0, -EINVAL (stats or uv_loop NULL), -ENOMEM, or a libuv error. */
int pt_stats_watch_loop(pt_stats *stats, void *uv_loop, const char *name)
{
    char *full;
    int rc;

    if (stats == NULL || uv_loop == NULL)
        return -EINVAL;
    if (name == NULL || *name == '\0')
        name = "loop";
    size_t n = strlen(name) + sizeof(".lag");
    if ((full = malloc(n)) == NULL)
        return -ENOMEM;
    snprintf(full, n, "%s.lag", name);
    pt_timer *lag = pt_stats_timer(stats, full, NULL);
    free(full);
    watcher *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    if ((rc = uv_timer_init(uv_loop, &w->timer)) < 0) {
        free(w);
        return rc;
    }
    w->timer.data = w;
    w->stats = stats;
    w->lag = lag;
    w->loop = uv_loop;
    w->thread = pthread_self();
    w->last_ns = uv_hrtime();
    uv_timer_start(&w->timer, tick, TICK_MS, TICK_MS); /* cannot fail: a new timer, a cb */
    uv_unref((uv_handle_t *)&w->timer);
    pthread_mutex_lock(&watch_lock);
    w->next = watchers;
    watchers = w;
    pthread_mutex_unlock(&watch_lock);
    return 0;
}

/* On the loop's thread. Closes the watchers of `stats` on that loop (stats NULL: all of
 * them), and those cut off from a freed registry that have not closed yet. Returns 0, -EINVAL
 * (uv_loop NULL) or -ENOENT (none there). The loop must run once more (uv_run(loop,
 * UV_RUN_NOWAIT)) for libuv to finish closing them, as for any handle, before
 * uv_loop_close(). */
int pt_stats_unwatch_loop(pt_stats *stats, void *uv_loop)
{
    int found = 0;

    if (uv_loop == NULL)
        return -EINVAL;
    pthread_mutex_lock(&watch_lock);
    for (watcher *w = watchers; w; w = w->next) {
        if (w->loop != uv_loop || (stats && w->stats && w->stats != stats))
            continue;
        w->stats = NULL;
        found += !w->closing;
        close_watcher(w); /* on_close runs later, from uv_run(): the list stays as it is */
    }
    pthread_mutex_unlock(&watch_lock);
    return found ? 0 : -ENOENT;
}

void pt__stats_loops_detach(pt_stats *stats)
{
    pthread_t self = pthread_self();

    if (stats == NULL)
        return;
    pthread_mutex_lock(&watch_lock);
    for (watcher *w = watchers; w; w = w->next) {
        if (w->stats != stats)
            continue;
        w->stats = NULL;
        if (pthread_equal(w->thread, self))
            close_watcher(w); /* its loop's own thread: no need to wait for a tick */
    }
    pthread_mutex_unlock(&watch_lock);
}
