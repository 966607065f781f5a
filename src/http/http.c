/* The public HTTP server (potter/http.h): options, routes, the worker loops that share the
 * port, start and graceful stop. The middleware every request passes through is in
 * middleware.c; connections and parsing in server.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "http/http_internal.h"

static const char *const default_log_headers[] = {
    "host", "user-agent", "referer", "content-type", "content-length", "x-forwarded-for", NULL,
};

/* Where a client's request id is, in the order request_id() (middleware.c) prefers them. */
static const char *const id_headers[] = {"x-request-id", "request-id"};

static int fail(pt_http *h, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(pt_http *h, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->error, sizeof h->error, fmt, ap);
    va_end(ap);
    return err;
}

static char *dup_or(const char *s, const char *dflt)
{
    return strdup(s ? s : dflt);
}

int pt_http_new(const pt_http_options *opts, pt_http **out)
{
    static const pt_http_options none;
    if (!out)
        return -EINVAL;
    if (!opts)
        opts = &none;
    if (opts->port < 0 || opts->port > 65535)
        return -EINVAL;
    pt_http *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->opts = *opts;
    h->host = dup_or(opts->host, "127.0.0.1");
    h->health_path = dup_or(opts->health_path, "/health");
    h->ready_path = dup_or(opts->ready_path, "/ready");
    const char *const *lh = opts->log_headers ? opts->log_headers : default_log_headers;
    size_t n = 0;
    while (lh[n])
        n++;
    h->log_headers = calloc(n + 1, sizeof *h->log_headers);
    h->log_header_key_at = calloc(n + 1, sizeof *h->log_header_key_at);
    h->router = pt__router_new();
    int oom = !h->host || !h->health_path || !h->ready_path || !h->log_headers ||
              !h->log_header_key_at || !h->router;
    for (size_t i = 0; i < n && !oom; i++) {
        char *name = strdup(lh[i]);
        oom = !name;
        for (char *p = name; p && *p; p++)
            *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
        h->log_headers[i] = name;
        size_t len = name ? strlen(name) : 0;
        /* Room for the worst case first, so that neither call below can fail. */
        if (!name || pt__buf_reserve(&h->log_header_keys, len * 6 + 50) != 0) {
            oom = 1;
            break;
        }
        pt__json_str(&h->log_header_keys, name, len, 0);
        pt__buf_putc(&h->log_header_keys, ':');
        h->log_header_key_at[i + 1] = h->log_header_keys.len;
    }
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->ready_lock, NULL);
    pthread_cond_init(&h->ready, NULL);
    h->opts.host = h->host;
    h->limits = (pt__http_limits){
        .max_header_bytes = opts->max_header_bytes,
        .max_body_bytes = opts->max_body_bytes,
        .max_connections = opts->max_connections,
        .header_timeout_ms = opts->header_timeout_ms,
        .body_timeout_ms = opts->body_timeout_ms,
        .idle_timeout_ms = opts->idle_timeout_ms,
        .handler_timeout_ms = opts->handler_timeout_ms ? opts->handler_timeout_ms : 30000,
    };
    int rc = oom ? -ENOMEM : pt__http_header_set_init(&h->log_header_set, h->log_headers, n);
    if (rc == 0)
        rc = pt__http_header_set_init(&h->id_header_set, id_headers,
                                      sizeof id_headers / sizeof *id_headers);
    if (rc == 0 && h->opts.log && !h->opts.no_access_log && n + 2 <= PT__HTTP_BEGIN_HEADERS) {
        const char *names[PT__HTTP_BEGIN_HEADERS] = {id_headers[0], id_headers[1]};
        for (size_t i = 0; i < n; i++)
            names[2 + i] = h->log_headers[i];
        rc = pt__http_header_set_init(&h->begin_header_set, names, n + 2);
        h->headers_at_begin = rc == 0;
    }
    if (rc < 0) {
        pt_http_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

const char *pt_http_error(const pt_http *h)
{
    return h->error;
}

static int add_route(pt_http *h, const char *method, const char *path, pt_http_handler fn,
                     void *arg)
{
    pt__http_entry *e = calloc(1, sizeof *e);
    struct pt__buf route_json = {0};
    if (e)
        pt__json_str(&route_json, path, strlen(path), 0); /* for the access record */
    if (!e || !route_json.len || !(e->pattern = strdup(path))) {
        free(route_json.p);
        free(e);
        return fail(h, -ENOMEM, "%s %s: out of memory", method, path);
    }
    e->route_json = route_json.p;
    e->route_json_len = route_json.len;
    e->core.fn = pt__http_call_route;
    e->core.arg = e;
    e->http = h;
    e->fn = fn;
    e->arg = arg;
    snprintf(e->method, sizeof e->method, "%s", method);
    int rc = pt__router_add(h->router, method, path, &e->core, h->error, sizeof h->error);
    if (rc < 0) {
        free(e->pattern);
        free(e->route_json);
        free(e);
        return rc;
    }
    e->next = h->entries;
    h->entries = e;
    return 0;
}

int pt_http_route(pt_http *h, const char *method, const char *path, pt_http_handler fn,
                  void *arg)
{
    if (!h || !method || !path || !fn)
        return h ? fail(h, -EINVAL, "pt_http_route: method, path and handler are required")
                 : -EINVAL;
    if (h->started)
        return fail(h, -EINVAL, "%s %s: routes are added before pt_http_start()", method, path);
    if (strcmp(method, "*") != 0)
        return add_route(h, method, path, fn, arg);
    for (int m = 0; m < PT__ROUTER_METHODS; m++) {
        int rc = add_route(h, pt__router_method_name((pt__router_method)m), path, fn, arg);
        if (rc < 0)
            return rc; /* the methods added before stay */
    }
    return 0;
}

int pt_http_before(pt_http *h, pt_http_before_fn fn, void *arg)
{
    if (!h || !fn || h->started)
        return -EINVAL;
    if (h->nbefore == PT__HTTP_MAX_HOOKS)
        return fail(h, -ENOMEM, "at most %d before hooks", PT__HTTP_MAX_HOOKS);
    h->before[h->nbefore++] = (pt__http_before){fn, arg};
    return 0;
}

int pt_http_after(pt_http *h, pt_http_after_fn fn, void *arg)
{
    if (!h || !fn || h->started)
        return -EINVAL;
    if (h->nafter == PT__HTTP_MAX_HOOKS)
        return fail(h, -ENOMEM, "at most %d after hooks", PT__HTTP_MAX_HOOKS);
    h->after[h->nafter++] = (pt__http_after){fn, arg};
    return 0;
}

unsigned pt_http_in_flight(const pt_http *h)
{
    return atomic_load_explicit(&((pt_http *)h)->in_flight, memory_order_relaxed);
}

size_t pt_http_route_count(const pt_http *h)
{
    return pt__router_count(h->router);
}

int pt_http_port(const pt_http *h)
{
    return h->started ? h->port : -EINVAL;
}

/* ---- workers ------------------------------------------------------------------------------ */

static void worker_ready(pt__http_worker *w, int rc)
{
    pt_http *h = w->http;
    pthread_mutex_lock(&h->ready_lock);
    w->rc = rc;
    h->nready++;
    pthread_cond_broadcast(&h->ready);
    pthread_mutex_unlock(&h->ready_lock);
}

static void on_server_closed(pt__http_server *s, void *arg)
{
    pt__http_worker *w = arg;
    (void)s;
    w->server = NULL;
    pt_http *h = w->http;
    if (h->opts.stats && !h->opts.no_metrics)
        pt_stats_unwatch_loop(h->opts.stats, &w->loop); /* the loop may end */
    uv_close((uv_handle_t *)&w->stop, NULL);
    uv_close((uv_handle_t *)&w->drain, NULL);
    /* Handles a handler left on the loop (a timer of an answer cut off by the drain deadline,
     * a periodic job of the service's) must not hold the stop up. */
    uv_stop(&w->loop);
}

static void on_drain_deadline(uv_timer_t *t)
{
    pt__http_worker *w = t->data;
    if (w->server) {
        w->aborted = 1;
        pt__http_server_abort(w->server);
    }
}

static void on_stop(uv_async_t *a)
{
    pt__http_worker *w = a->data;
    uint64_t drain_ms = atomic_load_explicit(&w->http->drain_ms, memory_order_acquire);
    if (!w->server || uv_is_active((uv_handle_t *)&w->drain))
        return;
    uv_timer_start(&w->drain, on_drain_deadline, drain_ms, 0);
    pt__http_server_close(w->server, on_server_closed, w);
}

static void *worker_main(void *arg)
{
    pt__http_worker *w = arg;
    pt_http *h = w->http;
    char name[32];
    snprintf(name, sizeof name, "pt-http%u", w->index);
    pthread_setname_np(pthread_self(), name);
    pt_thread_block_signals();
    pt__http_hooks hooks;
    pt__http_hooks_for(w, &hooks);
    int rc = uv_loop_init(&w->loop);
    if (rc < 0) {
        close(w->fd);
        worker_ready(w, rc);
        return NULL;
    }
    uv_async_init(&w->loop, &w->stop, on_stop);
    uv_timer_init(&w->loop, &w->drain);
    w->stop.data = w->drain.data = w;
    if ((rc = pt__http_server_new(&w->loop, h->router, &h->limits, &w->server)) == 0) {
        pt__http_server_set_hooks(w->server, &hooks);
        rc = pt__http_server_open(w->server, w->fd);
    } else {
        close(w->fd);
    }
    w->fd = -1;
    if (rc < 0) {
        if (w->server)
            pt__http_server_close(w->server, on_server_closed, w);
        else
            on_server_closed(NULL, w);
    }
    worker_ready(w, rc);
    if (h->opts.stats && !h->opts.no_metrics && rc == 0) {
        snprintf(name, sizeof name, "http.worker%u.loop", w->index);
        pt_stats_watch_loop(h->opts.stats, &w->loop, name);
    }
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_run(&w->loop, UV_RUN_NOWAIT); /* the closes asked for as the server closed */
    /* Busy: handles of the service's are still open on it. They stay valid (the worker is
     * then never freed) but are never run again. */
    w->loop_left = uv_loop_close(&w->loop) != 0;
    free(w->access_buf.p);
    return NULL;
}

/* ---- start and stop ----------------------------------------------------------------------- */

/* The health routes, unless the service registered those paths itself. */
static int add_health_routes(pt_http *h)
{
    if (!h->opts.health)
        return 0;
    struct {
        const char *path;
        pt_http_handler fn;
    } r[] = {{h->health_path, pt__http_serve_health}, {h->ready_path, pt__http_serve_ready}};
    for (size_t i = 0; i < 2; i++) {
        if (!r[i].path[0])
            continue;
        int rc = add_route(h, "GET", r[i].path, r[i].fn, NULL);
        if (rc < 0 && rc != -EEXIST)
            return rc;
    }
    h->error[0] = '\0';
    return 0;
}

/* Binds one socket per worker to the same port (the first picks it when port is 0). */
static int bind_all(pt_http *h)
{
    int reuse = h->nworkers > 1, port = h->opts.port;
    if (reuse && port) {
        /* SO_REUSEPORT would let this service join a group another process (an old instance
         * of it) listens with, and share its traffic without a word: first check the port is
         * free for a plain bind. */
        int probe = pt__http_bind_socket(h->host, port, 0);
        if (probe < 0)
            return fail(h, probe, "cannot listen on %s:%d: %s", h->host, port,
                        pt_strerror(probe));
        close(probe);
    }
    for (unsigned i = 0; i < h->nworkers; i++) {
        int fd = pt__http_bind_socket(h->host, port, reuse);
        if (fd < 0)
            return fail(h, fd, "cannot listen on %s:%d: %s", h->host, port, pt_strerror(fd));
        h->workers[i].fd = fd;
        if (i == 0) {
            struct sockaddr_storage a;
            socklen_t len = sizeof a;
            if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
                return fail(h, -errno, "getsockname: %s", strerror(errno));
            port = ntohs(a.ss_family == AF_INET ? ((struct sockaddr_in *)&a)->sin_port
                                                : ((struct sockaddr_in6 *)&a)->sin6_port);
        }
    }
    h->port = port;
    return 0;
}

static void join_workers(pt_http *h)
{
    for (unsigned i = 0; i < h->nworkers; i++) {
        pt__http_worker *w = &h->workers[i];
        if (w->started)
            uv_async_send(&w->stop);
    }
    for (unsigned i = 0; i < h->nworkers; i++) {
        pt__http_worker *w = &h->workers[i];
        if (w->started)
            pthread_join(w->thread, NULL);
        w->started = 0;
        if (w->fd >= 0)
            close(w->fd);
        w->fd = -1;
    }
}

int pt_http_start(pt_http *h)
{
    if (!h)
        return -EINVAL;
    pthread_mutex_lock(&h->lock);
    int rc = h->started ? fail(h, -EINVAL, "already started") : add_health_routes(h);
    if (rc < 0)
        goto out;
    pt__router_freeze(h->router);
    pt__http_metrics_init(h);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    h->nworkers = h->opts.workers ? h->opts.workers : cpus > 0 ? (unsigned)cpus : 1;
    h->workers = calloc(h->nworkers, sizeof *h->workers);
    if (!h->workers) {
        rc = fail(h, -ENOMEM, "out of memory");
        goto out;
    }
    for (unsigned i = 0; i < h->nworkers; i++) {
        h->workers[i] = (pt__http_worker){.http = h, .index = i, .fd = -1};
    }
    if ((rc = bind_all(h)) < 0)
        goto undo;
    for (unsigned i = 0; i < h->nworkers; i++) {
        pt__http_worker *w = &h->workers[i];
        if ((rc = -pthread_create(&w->thread, NULL, worker_main, w)) < 0) {
            fail(h, rc, "cannot start worker %u: %s", i, pt_strerror(rc));
            goto undo;
        }
        w->started = 1;
    }
    pthread_mutex_lock(&h->ready_lock);
    while (h->nready < h->nworkers)
        pthread_cond_wait(&h->ready, &h->ready_lock);
    pthread_mutex_unlock(&h->ready_lock);
    for (unsigned i = 0; i < h->nworkers && rc == 0; i++)
        if (h->workers[i].rc < 0)
            rc = fail(h, h->workers[i].rc, "worker %u cannot serve: %s", i,
                      pt_strerror(h->workers[i].rc));
    if (rc == 0) {
        h->started = 1;
        pt__http_crash_track(h);
        goto out;
    }
undo:
    atomic_store_explicit(&h->drain_ms, 0, memory_order_release);
    join_workers(h);
    free(h->workers);
    h->workers = NULL;
    h->nworkers = h->nready = 0;
out:
    pthread_mutex_unlock(&h->lock);
    return rc;
}

int pt_http_stop(pt_http *h, uint64_t drain_ms)
{
    if (!h)
        return -EINVAL;
    pthread_mutex_lock(&h->lock);
    int rc = 0;
    if (h->started && !h->stopped) {
        atomic_store_explicit(&h->drain_ms, drain_ms, memory_order_release);
        join_workers(h);
        h->stopped = 1;
        for (unsigned i = 0; i < h->nworkers; i++)
            if (h->workers[i].aborted)
                rc = -ETIMEDOUT;
    }
    pthread_mutex_unlock(&h->lock);
    return rc;
}

/* Worker arrays whose loops still hold a service's handles: never freed, and reachable from
 * here (so leak checkers see them held, which they are). */
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;
static void **kept;
static size_t nkept;

static void keep_forever(void *p)
{
    pthread_mutex_lock(&kept_lock);
    void **k = realloc(kept, (nkept + 1) * sizeof *k);
    if (k) {
        kept = k;
        kept[nkept++] = p;
    }
    pthread_mutex_unlock(&kept_lock);
}

void pt_http_free(pt_http *h)
{
    if (!h)
        return;
    pt_http_stop(h, 0);
    pt__http_crash_untrack(h);
    pt__http_metrics_fini(h);
    while (h->entries) {
        pt__http_entry *e = h->entries;
        h->entries = e->next;
        free(e->pattern);
        free(e->route_json);
        free(e);
    }
    pt__router_free(h->router);
    for (const char **p = h->log_headers; p && *p; p++)
        free((char *)*p);
    pt__http_header_set_free(&h->log_header_set);
    pt__http_header_set_free(&h->id_header_set);
    pt__http_header_set_free(&h->begin_header_set);
    free(h->log_headers);
    free(h->log_header_key_at);
    free(h->log_header_keys.p);
    int loops_left = 0;
    for (unsigned i = 0; i < h->nworkers; i++)
        loops_left |= h->workers[i].loop_left;
    if (loops_left)
        keep_forever(h->workers); /* handles still open point into the loops */
    else
        free(h->workers);
    free(h->host);
    free(h->health_path);
    free(h->ready_path);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->ready_lock);
    pthread_cond_destroy(&h->ready);
    free(h);
}
