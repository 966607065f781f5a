/* Remote sources of overrides: a watched file (pt_config_watch_file(), remote_file.c) and a
 * polled URL (pt_config_watch_url(), remote_url.c); this file holds what both share: a
 * source's life, its references and holds, its jobs, and the stop.
 *
 * Each source is a struct pt__cremote on cfg->remotes. Its libuv handles (the folder's
 * inotify watch and the debounce timer of a file; the poll timer of a URL) live on pt-ops.
 * Reading the file and fetching the URL are jobs on pt-work, at most one per source at a
 * time, and only such a job calls pt__config_source_apply().
 *
 * The life of a source: the list holds one reference, each queued task or job one, each
 * open handle one; the last to let go frees it. A task or job that will use cfg also holds
 * cfg (pt__config_task_hold()) from when it is queued until it ends, counted in r->holds,
 * and brackets each actual use (an apply, a report) with enter_cfg()/leave_cfg(), counted in
 * r->in_cfg. pt__config_remote_stop() marks the sources stopping, so no new use begins, and
 * waits for both counts to drop to zero. pt__cremote_lock guards all of that and the list.
 *
 * Lock order: pt__cremote_lock, then whatever pt__config_task_hold()/release() take.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/remote_internal.h"
#include "core/clock_internal.h"

pthread_mutex_t pt__cremote_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t remote_idle; /* a hold or a use of cfg ended; CLOCK_MONOTONIC */
pthread_once_t pt__cremote_once = PTHREAD_ONCE_INIT;

void pt__cremote_init(void)
{
    pthread_condattr_t ca;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&remote_idle, &ca);
    pthread_condattr_destroy(&ca);
}

/* ---- references, holds and uses of cfg ------------------------------------------------ */

void pt__cremote_free(struct pt__cremote *r)
{
    if (r->curl)
        curl_easy_cleanup(r->curl);
    free(r->source);
    free(r->last);
    free(r->dir);
    free(r->base);
    free(r->url);
    free(r->etag);
    free(r);
}

/* A new source with the list's reference, not yet on the list. NULL when out of memory. */
struct pt__cremote *pt__cremote_new(pt_config *cfg, int kind, const char *source)
{
    struct pt__cremote *r = calloc(1, sizeof *r);

    if (!r)
        return NULL;
    r->cfg = cfg;
    r->kind = kind;
    r->refs = 1;
    r->source = strdup(source);
    if (!r->source) {
        free(r);
        return NULL;
    }
    return r;
}

int pt__cremote_stopping(struct pt__cremote *r)
{
    return __atomic_load_n(&r->stopping, __ATOMIC_ACQUIRE);
}

void pt__cremote_unref(struct pt__cremote *r)
{
    int last;

    pthread_mutex_lock(&pt__cremote_lock);
    last = --r->refs == 0;
    pthread_mutex_unlock(&pt__cremote_lock);
    if (last)
        pt__cremote_free(r);
}

/* Takes a reference and a hold on cfg for a task or job about to be queued. pt__cremote_lock
 * held. Returns 0, or -ESHUTDOWN when the source or cfg is closing. */
int pt__cremote_hold_locked(struct pt__cremote *r)
{
    if (r->stopping || pt__config_task_hold(r->cfg) != 0)
        return -ESHUTDOWN;
    r->holds++;
    r->refs++;
    return 0;
}

/* Gives back what pt__cremote_hold_locked() took, at the end of the task or job (or when queueing it
 * failed). Once stop has given up on the source it gave the holds back itself. */
void pt__cremote_done(struct pt__cremote *r)
{
    int last;

    pthread_mutex_lock(&pt__cremote_lock);
    if (!r->orphan) {
        r->holds--;
        pt__config_task_release(r->cfg);
        pthread_cond_broadcast(&remote_idle);
    }
    last = --r->refs == 0;
    pthread_mutex_unlock(&pt__cremote_lock);
    if (last)
        pt__cremote_free(r);
}

/* Brackets one use of cfg. Returns 0, or -ESHUTDOWN once the source stops: the use is then
 * skipped, since cfg is going away. */
int pt__cremote_enter_cfg(struct pt__cremote *r)
{
    int err = 0;

    pthread_mutex_lock(&pt__cremote_lock);
    if (r->stopping)
        err = -ESHUTDOWN;
    else
        r->in_cfg++;
    pthread_mutex_unlock(&pt__cremote_lock);
    return err;
}

void pt__cremote_leave_cfg(struct pt__cremote *r)
{
    pthread_mutex_lock(&pt__cremote_lock);
    r->in_cfg--;
    pthread_cond_broadcast(&remote_idle);
    pthread_mutex_unlock(&pt__cremote_lock);
}

/* Tells opts.report of an error of the source (a message of one line). */
void pt__cremote_report(struct pt__cremote *r, const char *fmt, ...)
{
    char *msg;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (pt__cremote_enter_cfg(r) == 0) {
        pt__config_report(r->cfg, PT_CONFIG_ERROR, "%s", msg);
        pt__cremote_leave_cfg(r);
    }
    free(msg);
}

/* Applies a document of the source. Returns what pt__config_source_apply() does (which
 * reports a refused document, or a lack of memory, itself), or -ESHUTDOWN when the source
 * stops. */
int pt__cremote_apply(struct pt__cremote *r, const char *doc, size_t len)
{
    int rc;

    if (pt__cremote_enter_cfg(r) != 0)
        return -ESHUTDOWN;
    rc = pt__config_source_apply(r->cfg, r->source, doc, len);
    pt__cremote_leave_cfg(r);
    return rc;
}

/* Remembers doc (taking it) as the last document seen. */
void pt__cremote_remember(struct pt__cremote *r, char *doc, size_t len)
{
    free(r->last);
    r->last = doc;
    r->last_len = len;
    r->have_last = 1;
}

void pt__cremote_forget(struct pt__cremote *r)
{
    free(r->last);
    r->last = NULL;
    r->last_len = 0;
    r->have_last = 0;
}

int pt__cremote_seen_before(const struct pt__cremote *r, const char *doc, size_t len)
{
    return r->have_last && r->last_len == len && (len == 0 || memcmp(r->last, doc, len) == 0);
}

/* The end of a read or fetch job: queues it once more if the file changed meanwhile (the
 * hold and the reference go on to that job), else gives them back. On pt-work. */
void pt__cremote_job_end(struct pt__cremote *r, pt_work_fn job)
{
    int again;

    pthread_mutex_lock(&pt__cremote_lock);
    again = r->again && !r->stopping;
    r->again = 0;
    r->busy = again;
    pthread_mutex_unlock(&pt__cremote_lock);
    if (again && pt_work_submit(job, r, 0) == 0)
        return;
    if (again) {
        pthread_mutex_lock(&pt__cremote_lock);
        r->busy = 0;
        pthread_mutex_unlock(&pt__cremote_lock);
    }
    pt__cremote_done(r);
}

/* Queues job for r unless one is queued or running already (a file's is then asked to
 * read again). On pt-ops. */
void pt__cremote_queue_job(struct pt__cremote *r, pt_work_fn job, uint64_t deadline_ms, int again)
{
    int err;

    pthread_mutex_lock(&pt__cremote_lock);
    if (r->busy) {
        if (again && !r->stopping)
            r->again = 1;
        pthread_mutex_unlock(&pt__cremote_lock);
        return;
    }
    err = pt__cremote_hold_locked(r);
    if (!err)
        r->busy = 1;
    pthread_mutex_unlock(&pt__cremote_lock);
    if (err)
        return;
    if (pt_work_submit(job, r, deadline_ms) != 0) {
        pthread_mutex_lock(&pt__cremote_lock);
        r->busy = 0;
        pthread_mutex_unlock(&pt__cremote_lock);
        pt__cremote_done(r);
    }
}

/* Adds r to cfg's list, with a hold for the task that starts it when `hold`. Returns 0,
 * -EEXIST when cfg watches that source already, or -ESHUTDOWN. */
int pt__cremote_add(struct pt__cremote *r, int hold)
{
    struct pt__cremote *o;
    int err = 0;

    pthread_mutex_lock(&pt__cremote_lock);
    for (o = r->cfg->remotes; o; o = o->next)
        if (o->kind == r->kind && strcmp(o->source, r->source) == 0)
            err = -EEXIST;
    if (!err && hold)
        err = pt__cremote_hold_locked(r);
    if (!err) {
        r->next = r->cfg->remotes;
        r->cfg->remotes = r;
    }
    pthread_mutex_unlock(&pt__cremote_lock);
    return err;
}

/* Takes r off its cfg's list again, when starting it failed. */
void pt__cremote_remove(struct pt__cremote *r)
{
    struct pt__cremote **p;

    pthread_mutex_lock(&pt__cremote_lock);
    for (p = &r->cfg->remotes; *p; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            break;
        }
    }
    pthread_mutex_unlock(&pt__cremote_lock);
}

/* ---- stopping --------------------------------------------------------------------------- */

static int any_busy_locked(const struct pt__cremote *list, int holds_too)
{
    for (; list; list = list->next)
        if (list->in_cfg || (holds_too && list->holds))
            return 1;
    return 0;
}

/* Waits, pt__cremote_lock held, until no source of list uses cfg (and, if holds_too, none holds
 * it). Returns 0, or -ETIMEDOUT after ms. */
static int wait_idle_locked(const struct pt__cremote *list, int holds_too, unsigned ms)
{
    struct timespec until = pt__clock_deadline(CLOCK_MONOTONIC, ms);

    while (any_busy_locked(list, holds_too))
        if (pthread_cond_timedwait(&remote_idle, &pt__cremote_lock, &until) == ETIMEDOUT)
            return any_busy_locked(list, holds_too) ? -ETIMEDOUT : 0;
    return 0;
}

/* Waits for every task and job of the sources to end. A job may be queued behind a long
 * one on pt-work: after REMOTE_STOP_WAIT_MS the holds are given back here instead, and such
 * a job, finding its source stopping, ends without touching cfg. Only a use of cfg already
 * under way is waited for then (an apply or a report: short). */
static void stop_wait(struct pt__cremote *list)
{
    struct pt__cremote *r;

    pthread_mutex_lock(&pt__cremote_lock);
    if (wait_idle_locked(list, 1, REMOTE_STOP_WAIT_MS) != 0) {
        for (r = list; r; r = r->next) {
            for (; r->holds > 0; r->holds--)
                pt__config_task_release(r->cfg);
            r->orphan = 1;
        }
        wait_idle_locked(list, 0, REMOTE_STOP_WAIT_MS);
    }
    pthread_mutex_unlock(&pt__cremote_lock);
}

void pt__config_remote_stop(pt_config *cfg)
{
    struct pt__cremote *list, *r, *next;

    if (!cfg)
        return;
    pthread_once(&pt__cremote_once, pt__cremote_init);
    pthread_mutex_lock(&pt__cremote_lock);
    list = cfg->remotes;
    cfg->remotes = NULL;
    for (r = list; r; r = r->next)
        __atomic_store_n(&r->stopping, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&pt__cremote_lock);

    for (r = list; r; r = r->next) {
        if (r->kind == REMOTE_URL) {
            pt_ops_timer_free(r->tick); /* waits for a running tick */
            r->tick = NULL;
        } else if (pt_ops_is_current()) {
            pt__cremote_file_close(r);
        } else {
            pthread_mutex_lock(&pt__cremote_lock);
            r->refs++;
            pthread_mutex_unlock(&pt__cremote_lock);
            /* Only fails once pt-ops is gone: its handles then stay, and r with them. */
            if (pt_ops_post(pt__cremote_file_close_task, r) != 0)
                pt__cremote_unref(r);
        }
    }
    stop_wait(list);
    for (r = list; r; r = next) {
        next = r->next;
        pt__cremote_unref(r);
    }
}
