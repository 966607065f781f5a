/* A watched file as a remote source of overrides (pt_config_watch_file()): inotify on its
 * folder through libuv on pt-ops, reads on pt-work (remote_internal.h). */
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

/* ---- a watched file --------------------------------------------------------------------- */

/* Reads the file and applies it if it changed. A file that is gone takes its overrides with
 * it; one that never was sets nothing. On pt-work. */
static void file_read(struct pt__cremote *r)
{
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    int err, rc;

    /* A symbolic link may be swung to another target by a rename of some other name in the
     * folder (Kubernetes swaps its "..data" link so): then every event counts. */
    __atomic_store_n(&r->symlink, lstat(r->source, &st) == 0 && S_ISLNK(st.st_mode),
                     __ATOMIC_RELAXED);

    err = pt__config_read_file(r->source, REMOTE_MAX_DOC, &text, &len);
    if (err == -ENOENT || err == -ENOTDIR) {
        if (!r->have_last)
            return;
        rc = pt__cremote_apply(r, "{}", 2);
        if (rc == 0 || rc == -EINVAL)
            pt__cremote_forget(r);
        return;
    }
    if (err == -EFBIG) {
        pt__cremote_report(r, "config: cannot read %s: larger than %u KiB", r->source,
                           REMOTE_MAX_DOC / 1024);
        return;
    }
    if (err == -ENODEV) {
        pt__cremote_report(r, "config: cannot read %s: not a regular file", r->source);
        return;
    }
    if (err) {
        pt__cremote_report(r, "config: cannot read %s: %s", r->source, pt_strerror(err));
        return;
    }
    if (pt__cremote_seen_before(r, text, len)) {
        free(text);
        return;
    }
    rc = pt__cremote_apply(r, text, len);
    if (rc == 0 || rc == -EINVAL)
        pt__cremote_remember(r, text, len);
    else
        free(text);
}

static void file_read_job(void *arg, int status)
{
    struct pt__cremote *r = arg;

    if (status == 0 && !pt__cremote_stopping(r))
        file_read(r);
    pt__cremote_job_end(r, file_read_job);
}

static void file_debounce_cb(uv_timer_t *timer)
{
    pt__cremote_queue_job(timer->data, file_read_job, 0, 1);
}

/* Something changed in the folder. Names are filtered, so that an editor's temporary file
 * and the folder's other files cost nothing; a NULL name (the kernel's queue overflowed)
 * may be anything. */
static void file_event_cb(uv_fs_event_t *event, const char *name, int events, int status)
{
    struct pt__cremote *r = event->data;

    if (pt__cremote_stopping(r))
        return;
    if (status < 0) {
        pt__cremote_report(r, "config: watching %s: %s", r->dir, pt_strerror(status));
        return;
    }
    if (name && strcmp(name, r->base) != 0 && !__atomic_load_n(&r->symlink, __ATOMIC_RELAXED))
        return;
    uv_timer_start(&r->debounce, file_debounce_cb, REMOTE_DEBOUNCE_MS, 0);
}

/* On pt-ops: watches the folder, then reads the file once. Watching after reading could
 * miss a change made in between. */
static void file_start_task(void *arg)
{
    struct pt__cremote *r = arg;
    uv_loop_t *loop = pt_ops_loop();
    int err;

    if (!pt__cremote_stopping(r) && loop) {
        uv_fs_event_init(loop, &r->event);
        uv_timer_init(loop, &r->debounce);
        r->event.data = r;
        r->debounce.data = r;
        r->handles = 1;
        pthread_mutex_lock(&pt__cremote_lock);
        r->refs += 2;
        pthread_mutex_unlock(&pt__cremote_lock);
        err = uv_fs_event_start(&r->event, file_event_cb, r->dir, 0);
        if (err)
            pt__cremote_report(r, "config: cannot watch %s for changes to %s: %s", r->dir, r->base,
                               pt_strerror(err));
        pt__cremote_queue_job(r, file_read_job, 0, 1);
    }
    pt__cremote_done(r);
}

static void file_close_cb(uv_handle_t *handle)
{
    pt__cremote_unref(handle->data);
}

/* On pt-ops. The task that starts the source ran before (tasks run in order), or found it
 * stopping and opened nothing. */
void pt__cremote_file_close(struct pt__cremote *r)
{
    if (!r->handles)
        return;
    r->handles = 0;
    uv_close((uv_handle_t *)&r->event, file_close_cb);
    uv_close((uv_handle_t *)&r->debounce, file_close_cb);
}

void pt__cremote_file_close_task(void *arg)
{
    pt__cremote_file_close(arg);
    pt__cremote_unref(arg);
}

/* Splits path into its folder and its name. Returns 0, -EINVAL (no name: "dir/") or
 * -ENOMEM. */
static int split_path(const char *path, char **dir, char **base)
{
    const char *slash = strrchr(path, '/');

    *dir = NULL;
    *base = NULL;
    if (slash && slash[1] == '\0')
        return -EINVAL;
    if (!slash)
        *dir = strdup(".");
    else if (slash == path)
        *dir = strdup("/");
    else
        *dir = strndup(path, (size_t)(slash - path));
    *base = strdup(slash ? slash + 1 : path);
    if (!*dir || !*base) {
        free(*dir);
        free(*base);
        *dir = *base = NULL;
        return -ENOMEM;
    }
    return 0;
}

int pt_config_watch_file(pt_config *cfg, const char *path)
{
    struct pt__cremote *r;
    int err;

    if (!cfg || !path || !*path)
        return -EINVAL;
    if (!cfg->loaded)
        return -EBUSY;
    pthread_once(&pt__cremote_once, pt__cremote_init);
    r = pt__cremote_new(cfg, REMOTE_FILE, path);
    if (!r)
        return -ENOMEM;
    err = split_path(path, &r->dir, &r->base);
    if (!err)
        err = pt__cremote_add(r, 1);
    if (err) {
        pt__cremote_free(r);
        return err;
    }
    err = pt_ops_post(file_start_task, r);
    if (err) {
        pt__cremote_remove(r);
        pt__cremote_done(r); /* the start task's hold and reference */
        pt__cremote_free(r);
    }
    return err;
}
