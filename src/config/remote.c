/* Remote sources of overrides: a watched file (pt_config_watch_file()) and a polled URL
 * (pt_config_watch_url()).
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
 * waits for both counts to drop to zero. remote_lock guards all of that and the list.
 *
 * Lock order: remote_lock, then whatever pt__config_task_hold()/release() take.
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

#include <curl/curl.h>
#include <uv.h>

#include "config/config_internal.h"

#define REMOTE_MAX_DOC (1u << 20) /* 1 MiB: a document of overrides is small */
#define REMOTE_DEBOUNCE_MS 50 /* an editor's save is several events in a row */
#define REMOTE_STOP_WAIT_MS 5000
#define REMOTE_DEFAULT_TIMEOUT_MS 5000
#define REMOTE_MAX_REDIRS 5L

#define REMOTE_STR(x) #x
#define REMOTE_XSTR(x) REMOTE_STR(x)
#define REMOTE_USER_AGENT                                                                          \
    "potter/" REMOTE_XSTR(PT_VERSION_MAJOR) "." REMOTE_XSTR(PT_VERSION_MINOR) "." REMOTE_XSTR(     \
        PT_VERSION_PATCH)

enum { REMOTE_FILE = 1, REMOTE_URL };

struct pt__cremote {
    struct pt__cremote *next; /* cfg->remotes */
    pt_config *cfg;
    int kind;
    char *source; /* the path, or the URL without its password: what origins and messages show */

    /* remote_lock */
    int refs; /* the list, each queued task or job, each open handle */
    int holds; /* queued tasks and jobs that hold cfg */
    int in_cfg; /* uses of cfg going on right now */
    int stopping; /* written under remote_lock, read anywhere: use cfg no more */
    int orphan; /* stop gave up waiting and gave back the holds itself */
    int busy; /* a read or fetch is queued or running */
    int again; /* the file changed while it was being read: read it once more */

    /* The last document seen, applied or refused (pt-work only). */
    char *last;
    size_t last_len;
    int have_last;

    /* A file. */
    char *dir, *base; /* what is watched, and the name its events must carry */
    uv_fs_event_t event; /* pt-ops only, as `handles` */
    uv_timer_t debounce;
    int handles; /* both handles are open */
    int symlink; /* atomic: the path was a symbolic link at the last read */

    /* A URL. */
    char *url; /* as given, password included */
    uint64_t interval_ms;
    long timeout_ms;
    pt_ops_timer *tick;
    CURL *curl; /* kept between fetches for its connection; pt-work only, as below */
    char *etag; /* of the last document accepted */
    int last_ok; /* the last document seen was accepted */
    int last_fail; /* the kind of the last failure reported (url_failed()), 0: none */
};

static pthread_mutex_t remote_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t remote_idle; /* a hold or a use of cfg ended; CLOCK_MONOTONIC */
static pthread_once_t remote_once = PTHREAD_ONCE_INIT;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_err;

static void remote_init(void)
{
    pthread_condattr_t ca;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&remote_idle, &ca);
    pthread_condattr_destroy(&ca);
}

/* libcurl's global state is made once and kept for the life of the process. */
static void curl_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        curl_init_err = -ENOMEM;
}

/* ---- references, holds and uses of cfg ------------------------------------------------ */

static void remote_free(struct pt__cremote *r)
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
static struct pt__cremote *remote_new(pt_config *cfg, int kind, const char *source)
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

static int remote_stopping(struct pt__cremote *r)
{
    return __atomic_load_n(&r->stopping, __ATOMIC_ACQUIRE);
}

static void remote_unref(struct pt__cremote *r)
{
    int last;

    pthread_mutex_lock(&remote_lock);
    last = --r->refs == 0;
    pthread_mutex_unlock(&remote_lock);
    if (last)
        remote_free(r);
}

/* Takes a reference and a hold on cfg for a task or job about to be queued. remote_lock
 * held. Returns 0, or -ESHUTDOWN when the source or cfg is closing. */
static int hold_locked(struct pt__cremote *r)
{
    if (r->stopping || pt__config_task_hold(r->cfg) != 0)
        return -ESHUTDOWN;
    r->holds++;
    r->refs++;
    return 0;
}

/* Gives back what hold_locked() took, at the end of the task or job (or when queueing it
 * failed). Once stop has given up on the source it gave the holds back itself. */
static void remote_done(struct pt__cremote *r)
{
    int last;

    pthread_mutex_lock(&remote_lock);
    if (!r->orphan) {
        r->holds--;
        pt__config_task_release(r->cfg);
        pthread_cond_broadcast(&remote_idle);
    }
    last = --r->refs == 0;
    pthread_mutex_unlock(&remote_lock);
    if (last)
        remote_free(r);
}

/* Brackets one use of cfg. Returns 0, or -ESHUTDOWN once the source stops: the use is then
 * skipped, since cfg is going away. */
static int enter_cfg(struct pt__cremote *r)
{
    int err = 0;

    pthread_mutex_lock(&remote_lock);
    if (r->stopping)
        err = -ESHUTDOWN;
    else
        r->in_cfg++;
    pthread_mutex_unlock(&remote_lock);
    return err;
}

static void leave_cfg(struct pt__cremote *r)
{
    pthread_mutex_lock(&remote_lock);
    r->in_cfg--;
    pthread_cond_broadcast(&remote_idle);
    pthread_mutex_unlock(&remote_lock);
}

static void remote_report(struct pt__cremote *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Tells opts.report of an error of the source (a message of one line). */
static void remote_report(struct pt__cremote *r, const char *fmt, ...)
{
    char *msg;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (enter_cfg(r) == 0) {
        pt__config_report(r->cfg, PT_CONFIG_ERROR, "%s", msg);
        leave_cfg(r);
    }
    free(msg);
}

/* Applies a document of the source. Returns what pt__config_source_apply() does (which
 * reports a refused document, or a lack of memory, itself), or -ESHUTDOWN when the source
 * stops. */
static int remote_apply(struct pt__cremote *r, const char *doc, size_t len)
{
    int rc;

    if (enter_cfg(r) != 0)
        return -ESHUTDOWN;
    rc = pt__config_source_apply(r->cfg, r->source, doc, len);
    leave_cfg(r);
    return rc;
}

/* Remembers doc (taking it) as the last document seen. */
static void remember(struct pt__cremote *r, char *doc, size_t len)
{
    free(r->last);
    r->last = doc;
    r->last_len = len;
    r->have_last = 1;
}

static void forget(struct pt__cremote *r)
{
    free(r->last);
    r->last = NULL;
    r->last_len = 0;
    r->have_last = 0;
}

static int seen_before(const struct pt__cremote *r, const char *doc, size_t len)
{
    return r->have_last && r->last_len == len && (len == 0 || memcmp(r->last, doc, len) == 0);
}

/* The end of a read or fetch job: queues it once more if the file changed meanwhile (the
 * hold and the reference go on to that job), else gives them back. On pt-work. */
static void job_end(struct pt__cremote *r, pt_work_fn job)
{
    int again;

    pthread_mutex_lock(&remote_lock);
    again = r->again && !r->stopping;
    r->again = 0;
    r->busy = again;
    pthread_mutex_unlock(&remote_lock);
    if (again && pt_work_submit(job, r, 0) == 0)
        return;
    if (again) {
        pthread_mutex_lock(&remote_lock);
        r->busy = 0;
        pthread_mutex_unlock(&remote_lock);
    }
    remote_done(r);
}

/* Queues job for r unless one is queued or running already (a file's is then asked to
 * read again). On pt-ops. */
static void queue_job(struct pt__cremote *r, pt_work_fn job, uint64_t deadline_ms, int again)
{
    int err;

    pthread_mutex_lock(&remote_lock);
    if (r->busy) {
        if (again && !r->stopping)
            r->again = 1;
        pthread_mutex_unlock(&remote_lock);
        return;
    }
    err = hold_locked(r);
    if (!err)
        r->busy = 1;
    pthread_mutex_unlock(&remote_lock);
    if (err)
        return;
    if (pt_work_submit(job, r, deadline_ms) != 0) {
        pthread_mutex_lock(&remote_lock);
        r->busy = 0;
        pthread_mutex_unlock(&remote_lock);
        remote_done(r);
    }
}

/* Adds r to cfg's list, with a hold for the task that starts it when `hold`. Returns 0,
 * -EEXIST when cfg watches that source already, or -ESHUTDOWN. */
static int remote_add(struct pt__cremote *r, int hold)
{
    struct pt__cremote *o;
    int err = 0;

    pthread_mutex_lock(&remote_lock);
    for (o = r->cfg->remotes; o; o = o->next)
        if (o->kind == r->kind && strcmp(o->source, r->source) == 0)
            err = -EEXIST;
    if (!err && hold)
        err = hold_locked(r);
    if (!err) {
        r->next = r->cfg->remotes;
        r->cfg->remotes = r;
    }
    pthread_mutex_unlock(&remote_lock);
    return err;
}

/* Takes r off its cfg's list again, when starting it failed. */
static void remote_remove(struct pt__cremote *r)
{
    struct pt__cremote **p;

    pthread_mutex_lock(&remote_lock);
    for (p = &r->cfg->remotes; *p; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            break;
        }
    }
    pthread_mutex_unlock(&remote_lock);
}

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
        rc = remote_apply(r, "{}", 2);
        if (rc == 0 || rc == -EINVAL)
            forget(r);
        return;
    }
    if (err == -EFBIG) {
        remote_report(r, "config: cannot read %s: larger than %u KiB", r->source,
                      REMOTE_MAX_DOC / 1024);
        return;
    }
    if (err == -ENODEV) {
        remote_report(r, "config: cannot read %s: not a regular file", r->source);
        return;
    }
    if (err) {
        remote_report(r, "config: cannot read %s: %s", r->source, pt_strerror(err));
        return;
    }
    if (seen_before(r, text, len)) {
        free(text);
        return;
    }
    rc = remote_apply(r, text, len);
    if (rc == 0 || rc == -EINVAL)
        remember(r, text, len);
    else
        free(text);
}

static void file_read_job(void *arg, int status)
{
    struct pt__cremote *r = arg;

    if (status == 0 && !remote_stopping(r))
        file_read(r);
    job_end(r, file_read_job);
}

static void file_debounce_cb(uv_timer_t *timer)
{
    queue_job(timer->data, file_read_job, 0, 1);
}

/* Something changed in the folder. Names are filtered, so that an editor's temporary file
 * and the folder's other files cost nothing; a NULL name (the kernel's queue overflowed)
 * may be anything. */
static void file_event_cb(uv_fs_event_t *event, const char *name, int events, int status)
{
    struct pt__cremote *r = event->data;

    if (remote_stopping(r))
        return;
    if (status < 0) {
        remote_report(r, "config: watching %s: %s", r->dir, pt_strerror(status));
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

    if (!remote_stopping(r) && loop) {
        uv_fs_event_init(loop, &r->event);
        uv_timer_init(loop, &r->debounce);
        r->event.data = r;
        r->debounce.data = r;
        r->handles = 1;
        pthread_mutex_lock(&remote_lock);
        r->refs += 2;
        pthread_mutex_unlock(&remote_lock);
        err = uv_fs_event_start(&r->event, file_event_cb, r->dir, 0);
        if (err)
            remote_report(r, "config: cannot watch %s for changes to %s: %s", r->dir, r->base,
                          pt_strerror(err));
        queue_job(r, file_read_job, 0, 1);
    }
    remote_done(r);
}

static void file_close_cb(uv_handle_t *handle)
{
    remote_unref(handle->data);
}

/* On pt-ops. The task that starts the source ran before (tasks run in order), or found it
 * stopping and opened nothing. */
static void file_close(struct pt__cremote *r)
{
    if (!r->handles)
        return;
    r->handles = 0;
    uv_close((uv_handle_t *)&r->event, file_close_cb);
    uv_close((uv_handle_t *)&r->debounce, file_close_cb);
}

static void file_close_task(void *arg)
{
    file_close(arg);
    remote_unref(arg);
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
    pthread_once(&remote_once, remote_init);
    r = remote_new(cfg, REMOTE_FILE, path);
    if (!r)
        return -ENOMEM;
    err = split_path(path, &r->dir, &r->base);
    if (!err)
        err = remote_add(r, 1);
    if (err) {
        remote_free(r);
        return err;
    }
    err = pt_ops_post(file_start_task, r);
    if (err) {
        remote_remove(r);
        remote_done(r); /* the start task's hold and reference */
        remote_free(r);
    }
    return err;
}

/* ---- a polled URL ----------------------------------------------------------------------- */

/* What one fetch gathers. */
struct fetch {
    struct pt__cremote *r;
    pt__cbuf body;
    char *etag;
    int too_big;
};

static size_t body_cb(char *data, size_t size, size_t n, void *arg)
{
    struct fetch *f = arg;
    size_t len = size * n;

    if (len > REMOTE_MAX_DOC - f->body.len) {
        f->too_big = 1;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    pt__cbuf_add(&f->body, data, len);
    return f->body.oom ? 0 : len;
}

/* Keeps the ETag of the last response (a redirect's headers come first). */
static size_t header_cb(char *data, size_t size, size_t n, void *arg)
{
    struct fetch *f = arg;
    size_t len = size * n;
    const char *v, *end = data + len;

    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        free(f->etag);
        f->etag = NULL;
        return len;
    }
    if (len <= 5 || strncasecmp(data, "etag:", 5) != 0)
        return len;
    v = data + 5;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    free(f->etag);
    f->etag = end > v ? strndup(v, (size_t)(end - v)) : NULL; /* NULL on oom: no ETag */
    return len;
}

/* Called about once a second, and more often while data flows: ends a fetch when the
 * source stops, so pt__config_remote_stop() does not wait for a slow server. */
static int progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    return remote_stopping(arg);
}

/* Kinds of failure, for url_failed(): a CURLcode, or one of these. */
enum { FAIL_TOO_BIG = -1, FAIL_NO_MEMORY = -2, FAIL_HTTP = 1000 /* + the status */ };

/* Reports a failed fetch, unless it failed the same way the last time: a server that stays
 * down is reported once, not at every poll. On pt-work. */
static void url_failed(struct pt__cremote *r, int kind, const char *what)
{
    if (r->last_fail == kind)
        return;
    r->last_fail = kind;
    remote_report(r, "config: %s: %s", r->source, what);
}

/* A 200: applies the document unless it was seen last. The ETag is kept only for an
 * accepted document, so that after a refused one the server is asked again. */
static void url_apply(struct pt__cremote *r, struct fetch *f)
{
    size_t len = f->body.len;
    char *doc;
    int rc;

    if (f->body.oom || !(doc = pt__cbuf_take(&f->body))) {
        url_failed(r, FAIL_NO_MEMORY, "out of memory");
        return;
    }
    r->last_fail = 0;
    if (seen_before(r, doc, len)) {
        /* Refused before (and reported then), or the same document under a new ETag. */
        if (r->last_ok) {
            free(r->etag);
            r->etag = f->etag;
            f->etag = NULL;
        }
        free(doc);
        return;
    }
    rc = remote_apply(r, doc, len);
    if (rc != 0 && rc != -EINVAL) {
        free(doc);
        return;
    }
    remember(r, doc, len);
    r->last_ok = rc == 0;
    if (rc == 0) {
        free(r->etag);
        r->etag = f->etag;
        f->etag = NULL;
    }
}

/* Sets up r->curl for one GET. Returns the request's headers (NULL is fine) in *hdrs. */
static void url_setup(struct pt__cremote *r, struct fetch *f, char *errbuf,
                      struct curl_slist **hdrs)
{
    CURL *c = r->curl;
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");

    if (h && r->etag) {
        char *line = malloc(strlen(r->etag) + sizeof "If-None-Match: ");
        struct curl_slist *more = NULL;

        if (line) {
            sprintf(line, "If-None-Match: %s", r->etag);
            more = curl_slist_append(h, line);
            free(line);
        }
        /* Without it the server sends the whole document again: still right. */
        if (more)
            h = more;
    }
    *hdrs = h;

    curl_easy_reset(c); /* keeps the open connection and the DNS cache */
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM: we are one thread of many */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, REMOTE_MAX_REDIRS);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85: the bitmask options are deprecated */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)REMOTE_MAX_DOC);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_USERAGENT, REMOTE_USER_AGENT);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, f);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, r);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
}

/* One GET of the URL, on pt-work: 304 keeps the last document, 200 brings a new one,
 * anything else is reported and changes nothing. */
static void url_fetch(struct pt__cremote *r)
{
    struct fetch f = {.r = r};
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    char what[64];
    long code = 0;
    CURLcode rc;

    if (!r->curl)
        r->curl = curl_easy_init();
    if (!r->curl) {
        url_failed(r, FAIL_NO_MEMORY, "out of memory");
        return;
    }
    url_setup(r, &f, errbuf, &hdrs);
    rc = curl_easy_perform(r->curl);
    curl_slist_free_all(hdrs);
    if (rc == CURLE_OK)
        curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &code);

    if (rc == CURLE_ABORTED_BY_CALLBACK && remote_stopping(r)) {
        /* stopped: nothing to say */
    } else if (f.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(what, sizeof what, "the document is larger than %u KiB", REMOTE_MAX_DOC / 1024);
        url_failed(r, FAIL_TOO_BIG, what);
    } else if (rc != CURLE_OK) {
        url_failed(r, (int)rc, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    } else if (code == 304) {
        r->last_fail = 0;
        /* The server still has the last accepted document; a refused one since then is
         * gone, so the same bad document coming back is reported again. */
        if (!r->last_ok)
            forget(r);
    } else if (code == 200) {
        url_apply(r, &f);
    } else {
        snprintf(what, sizeof what, "HTTP %ld", code);
        url_failed(r, FAIL_HTTP + (int)code, what);
    }
    pt__cbuf_free(&f.body);
    free(f.etag);
}

static void url_fetch_job(void *arg, int status)
{
    struct pt__cremote *r = arg;

    if (status == 0 && !remote_stopping(r))
        url_fetch(r);
    job_end(r, url_fetch_job);
}

/* On pt-ops, every interval: a fetch, unless the last one still runs. One still queued
 * when the next tick comes is dropped by pt-work (its deadline). */
static void url_tick(void *arg)
{
    struct pt__cremote *r = arg;

    queue_job(r, url_fetch_job, r->interval_ms, 0);
}

/* Checks that url is an http or https URL. *shown gets the URL to name in origins and
 * messages: as given, or without its password if it has one. Returns 0, -EINVAL or
 * -ENOMEM. */
static int url_check(const char *url, char **shown)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *pass = NULL, *bare = NULL;
    int err = -EINVAL;

    *shown = NULL;
    if (!u)
        return -ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0)) {
        err = 0;
        if (curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK &&
            curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_URL, &bare, 0) == CURLUE_OK)
            *shown = strdup(bare);
        else
            *shown = strdup(url);
        if (!*shown)
            err = -ENOMEM;
    }
    curl_free(scheme);
    curl_free(pass);
    curl_free(bare);
    curl_url_cleanup(u);
    return err;
}

int pt_config_watch_url(pt_config *cfg, const char *url, uint64_t interval_ms, uint64_t timeout_ms)
{
    struct pt__cremote *r;
    char *shown;
    int err;

    if (!cfg || !url || !*url || interval_ms == 0)
        return -EINVAL;
    if (!cfg->loaded)
        return -EBUSY;
    pthread_once(&remote_once, remote_init);
    pthread_once(&curl_once, curl_init);
    if (curl_init_err)
        return curl_init_err;
    err = url_check(url, &shown);
    if (err)
        return err;
    r = remote_new(cfg, REMOTE_URL, shown);
    free(shown);
    if (!r)
        return -ENOMEM;
    r->url = strdup(url);
    if (!r->url) {
        remote_free(r);
        return -ENOMEM;
    }
    r->interval_ms = interval_ms;
    if (timeout_ms == 0)
        timeout_ms = REMOTE_DEFAULT_TIMEOUT_MS;
    r->timeout_ms = timeout_ms > LONG_MAX ? LONG_MAX : (long)timeout_ms;

    err = remote_add(r, 0);
    if (err) {
        remote_free(r);
        return err;
    }
    /* The first fetch right away, then one every interval. */
    err = pt_ops_timer_start(0, interval_ms, url_tick, r, &r->tick);
    if (err) {
        remote_remove(r);
        remote_free(r);
    }
    return err;
}

/* ---- stopping --------------------------------------------------------------------------- */

static int any_busy_locked(const struct pt__cremote *list, int holds_too)
{
    for (; list; list = list->next)
        if (list->in_cfg || (holds_too && list->holds))
            return 1;
    return 0;
}

static struct timespec deadline_after(unsigned ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Waits, remote_lock held, until no source of list uses cfg (and, if holds_too, none holds
 * it). Returns 0, or -ETIMEDOUT after ms. */
static int wait_idle_locked(const struct pt__cremote *list, int holds_too, unsigned ms)
{
    struct timespec until = deadline_after(ms);

    while (any_busy_locked(list, holds_too))
        if (pthread_cond_timedwait(&remote_idle, &remote_lock, &until) == ETIMEDOUT)
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

    pthread_mutex_lock(&remote_lock);
    if (wait_idle_locked(list, 1, REMOTE_STOP_WAIT_MS) != 0) {
        for (r = list; r; r = r->next) {
            for (; r->holds > 0; r->holds--)
                pt__config_task_release(r->cfg);
            r->orphan = 1;
        }
        wait_idle_locked(list, 0, REMOTE_STOP_WAIT_MS);
    }
    pthread_mutex_unlock(&remote_lock);
}

void pt__config_remote_stop(pt_config *cfg)
{
    struct pt__cremote *list, *r, *next;

    if (!cfg)
        return;
    pthread_once(&remote_once, remote_init);
    pthread_mutex_lock(&remote_lock);
    list = cfg->remotes;
    cfg->remotes = NULL;
    for (r = list; r; r = r->next)
        __atomic_store_n(&r->stopping, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&remote_lock);

    for (r = list; r; r = r->next) {
        if (r->kind == REMOTE_URL) {
            pt_ops_timer_free(r->tick); /* waits for a running tick */
            r->tick = NULL;
        } else if (pt_ops_is_current()) {
            file_close(r);
        } else {
            pthread_mutex_lock(&remote_lock);
            r->refs++;
            pthread_mutex_unlock(&remote_lock);
            /* Only fails once pt-ops is gone: its handles then stay, and r with them. */
            if (pt_ops_post(file_close_task, r) != 0)
                remote_unref(r);
        }
    }
    stop_wait(list);
    for (r = list; r; r = next) {
        next = r->next;
        remote_unref(r);
    }
}
