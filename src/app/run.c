/* The app's lifecycle (potter/app.h, pt_app_run): start hooks, health, the HTTP server,
 * systemd, the wait for a signal, then the drain and the stop, each step under its timeout so
 * that shutdown always ends. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "app/app_internal.h"
#include "core/clock_internal.h"

#define EX_SOFTWARE 70

pt_health *pt_app_health(pt_app *app)
{
    if (!app->health) {
        int rc = pt__app_health_new(app->cfg, &app->health);
        if (rc < 0) {
            PT_FATAL(app->log, "cannot make the health registry", PT_ERR(rc));
            pt_log_flush(2000);
            exit(EX_SOFTWARE);
        }
    }
    return app->health;
}

pt_http *pt_app_http(pt_app *app)
{
    if (!app->http) {
        int rc = pt__app_http_new(app->cfg, app->log, app->stats, pt_app_health(app), &app->http);
        if (rc < 0) {
            PT_FATAL(app->log, "cannot make the HTTP server", PT_ERR(rc));
            pt_log_flush(2000);
            exit(EX_SOFTWARE);
        }
    }
    return app->http;
}

pt_ctl *pt_app_ctl(pt_app *app)
{
    if (!app->ctl && pt__app_ctl_enabled(app)) {
        int rc = pt__app_ctl_new(app, &app->ctl);
        if (rc < 0) {
            PT_FATAL(app->log, "cannot make the control port", PT_ERR(rc));
            pt_log_flush(2000);
            exit(EX_SOFTWARE);
        }
    }
    return app->ctl;
}

int pt_app_port(pt_app *app)
{
    int port = atomic_load(&app->port);
    return port >= 0 ? port : -ENOTCONN;
}

void pt_app_stop(pt_app *app)
{
    atomic_store(&app->stop_asked, 1);
    ssize_t n = write(app->wake[1], "x", 1); /* async-signal-safe; a full pipe is awake */
    (void)n;
}

int pt_app_hook(pt_app *app, const char *name, pt_app_hook_fn start, pt_app_hook_fn stop,
                void *arg, uint64_t timeout_ms)
{
    if (!app || !name || (!start && !stop))
        return -EINVAL;
    if (app->nhooks == PT__APP_MAX_HOOKS)
        return -ENOMEM;
    pt__app_hook *h = &app->hooks[app->nhooks];
    if (!(h->name = strdup(name)))
        return -ENOMEM;
    h->start = start;
    h->stop = stop;
    h->arg = arg;
    h->timeout_ms = timeout_ms;
    app->nhooks++;
    return 0;
}

/* ---- hooks under a timeout ------------------------------------------------------------------ */

/* One hook call, on a thread of its own: whoever of the caller and the thread finishes last
 * frees it, so a hook that never returns leaks only this. */
typedef struct {
    pt_app_hook_fn fn;
    void *arg;
    int rc, done, refs;
    pthread_mutex_t lock;
    pthread_cond_t cv;
} hook_call;

static void hook_call_unref(hook_call *c)
{
    pthread_mutex_lock(&c->lock);
    int last = --c->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (last) {
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cv);
        free(c);
    }
}

static void *hook_main(void *arg)
{
    hook_call *c = arg;
    int rc = c->fn(c->arg);
    pthread_mutex_lock(&c->lock);
    c->rc = rc;
    c->done = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->lock);
    hook_call_unref(c);
    return NULL;
}

/* Runs fn(arg) for at most timeout_ms: its return, or -ETIMEDOUT, or a thread error. */
static int call_bounded(pt_app_hook_fn fn, void *arg, uint64_t timeout_ms)
{
    hook_call *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->fn = fn;
    c->arg = arg;
    c->refs = 2;
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_t t;
    pthread_attr_t ta;
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    int err = pthread_create(&t, &ta, hook_main, c);
    pthread_attr_destroy(&ta);
    if (err) {
        c->refs = 1;
        hook_call_unref(c);
        return -err;
    }
    struct timespec deadline = pt__clock_deadline(CLOCK_MONOTONIC, timeout_ms);
    pthread_mutex_lock(&c->lock);
    while (!c->done && pthread_cond_timedwait(&c->cv, &c->lock, &deadline) != ETIMEDOUT)
        ;
    int rc = c->done ? c->rc : -ETIMEDOUT;
    pthread_mutex_unlock(&c->lock);
    hook_call_unref(c);
    return rc;
}

static int run_hook(pt_app *app, pt__app_hook *h, int starting)
{
    pt_app_hook_fn fn = starting ? h->start : h->stop;
    const char *what = starting ? "start" : "stop";
    if (!fn)
        return 0;
    uint64_t timeout =
        h->timeout_ms ? h->timeout_ms : pt__app_ms(app->cfg, "app.hook_timeout");
    uint64_t t0 = pt_clock_mono_ns();
    int rc = call_bounded(fn, h->arg, timeout);
    double took = (double)(pt_clock_mono_ns() - t0) / 1e6;
    if (rc == -ETIMEDOUT)
        PT_ERROR(app->log, "hook did not finish in time", PT_STR("hook", h->name),
                 PT_STR("step", what), PT_UINT("timeout_ms", timeout));
    else if (rc != 0)
        PT_ERROR(app->log, "hook failed", PT_STR("hook", h->name), PT_STR("step", what),
                 PT_INT("rc", rc), PT_DBL("took_ms", took));
    else
        PT_INFO(app->log, "hook done", PT_STR("hook", h->name), PT_STR("step", what),
                PT_DBL("took_ms", took));
    return rc;
}

/* Stop hooks of the first n hooks, in reverse order; each runs whatever the others did. */
static void stop_hooks(pt_app *app, unsigned n)
{
    while (n > 0)
        run_hook(app, &app->hooks[--n], 0);
}

/* ---- start, wait, stop -------------------------------------------------------------------- */

/* Every check once before the service listens (bounded by the checks' own timeout), so that
 * /ready tells the truth from the first request; what they found is logged. */
static void start_checks(pt_app *app, pt_health *health)
{
    uint64_t bound = pt__app_ms(app->cfg, "health.timeout") + 500;
    int rc = pt_health_run_now(health, bound);
    pt_health_state st = pt_health_status(health, 0);
    if (rc < 0 || st != PT_HEALTH_OK)
        PT_WARN(app->log, "health checks at start-up", PT_STR("status", pt_health_state_name(st)),
                PT_UINT("checks", pt_health_count(health)), PT_ERR(rc < 0 ? rc : 0));
    else
        PT_INFO(app->log, "health checks at start-up", PT_STR("status", "ok"),
                PT_UINT("checks", pt_health_count(health)));
}

static int start(pt_app *app)
{
    unsigned started = 0;
    pt_ctl *ctl = pt_app_ctl(app);
    int err = ctl ? pt_ctl_start(ctl) : 0;
    if (err < 0) {
        PT_FATAL(app->log, "cannot serve the control port", PT_STR("reason", pt_ctl_error(ctl)),
                 PT_ERR(err));
        return -1;
    }
    for (; started < app->nhooks; started++) {
        if (run_hook(app, &app->hooks[started], 1) != 0) {
            stop_hooks(app, started); /* the failed one is not stopped: it did not start */
            return -1;
        }
    }
    pt_health *health = pt_app_health(app);
    if (pt_health_count(health) == 0)
        PT_WARN(app->log, "THIS SERVICE HAS NO HEALTH CHECKS: add one per dependency "
                          "(pt_health_add) so that /health tells when it cannot do its work");
    else
        start_checks(app, health);
    int rc = pt_health_start(health);
    if (rc == 0)
        rc = pt_http_start(pt_app_http(app));
    if (rc < 0) {
        PT_FATAL(app->log, "cannot serve", PT_STR("reason", pt_http_error(app->http)),
                 PT_ERR(rc));
        stop_hooks(app, started);
        return -1;
    }
    int port = pt_http_port(app->http);
    atomic_store(&app->port, port);
    const char *host = pt_config_str_get(PT_CONFIG_STR(app->cfg, "http.host"));
    if (!host || !*host)
        host = "127.0.0.1"; /* what pt_http took for it */
    char where[300];
    snprintf(where, sizeof where, "listening on %s%s%s:%d", strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", port);
    pt_field f[] = {
        {"host", PT_FIELD_STR, pt__v_str(host)},
        {"port", PT_FIELD_INT, pt__v_i64(port)},
        {"routes", PT_FIELD_UINT, pt__v_u64(pt_http_route_count(app->http))},
    };
    pt_log_emit(app->log, PT_LOG_INFO, where, f, 3);
    snprintf(where, sizeof where, "READY=1\nSTATUS=listening on port %d\nMAINPID=%ld", port,
             (long)getpid());
    pt__sd_notify(where);
    return 0;
}

/* Waits for SIGTERM, SIGINT or pt_app_stop(); SIGHUP reloads; pings systemd's watchdog at
 * half its interval. Returns the name of what stopped it. */
static const char *wait_for_stop(pt_app *app)
{
    int sfd = -1;
    if (!(app->flags & PT_APP_NO_SIGNALS))
        sfd = signalfd(-1, &app->owned, SFD_CLOEXEC | SFD_NONBLOCK);
    uint64_t watchdog_ms = pt__sd_watchdog_usec() / 2000;
    const char *why = NULL;
    while (!why) {
        struct pollfd p[2] = {{.fd = app->wake[0], .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        int n = poll(p, sfd >= 0 ? 2 : 1, watchdog_ms ? (int)watchdog_ms : -1);
        if (watchdog_ms)
            pt__sd_notify("WATCHDOG=1");
        if (n < 0 && errno != EINTR)
            why = "poll failed";
        if (atomic_load(&app->stop_asked))
            why = "stop asked";
        struct signalfd_siginfo si;
        while (sfd >= 0 && read(sfd, &si, sizeof si) == (ssize_t)sizeof si && !why) {
            if (si.ssi_signo == SIGHUP) {
                PT_INFO(app->log, "SIGHUP: reloading the configuration, reopening the logs");
                pt_app_reload(app);
            } else {
                why = si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM";
            }
        }
    }
    if (sfd >= 0)
        close(sfd);
    return why;
}

static void drain_and_stop(pt_app *app, const char *why)
{
    uint64_t drain = pt__app_ms(app->cfg, "app.drain_timeout");
    uint64_t delay = pt__app_ms(app->cfg, "app.drain_delay");
    PT_INFO(app->log, "stopping", PT_STR("reason", why), PT_UINT("drain_timeout_ms", drain),
            PT_UINT("in_flight", pt_http_in_flight(app->http)));
    pt__sd_notify("STOPPING=1\nSTATUS=draining");
    pt_health_set_draining(app->health, 1);
    if (delay) {
        struct timespec ts = {(time_t)(delay / 1000), (long)(delay % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
    uint64_t t0 = pt_clock_mono_ns();
    int rc = pt_http_stop(app->http, drain);
    double took = (double)(pt_clock_mono_ns() - t0) / 1e6;
    if (rc == -ETIMEDOUT)
        PT_WARN(app->log, "drain deadline passed: requests still in flight were cut off",
                PT_UINT("drain_timeout_ms", drain), PT_DBL("took_ms", took));
    else
        PT_INFO(app->log, "drained", PT_DBL("took_ms", took));
    stop_hooks(app, app->nhooks);
}

int pt__app_serve(pt_app *app)
{
    if (start(app) < 0)
        return EX_SOFTWARE;
    drain_and_stop(app, wait_for_stop(app));
    PT_INFO(app->log, "stopped");
    return 0;
}

int pt_app_run(pt_app *app)
{
    int status = pt__app_serve(app);
    pt__app_free_parts(app);
    return status;
}

void pt__app_free_parts(pt_app *app)
{
    pt__app_crash_stop(app);
    pt_http_free(app->http); /* stops it first if it still runs */
    pt_ctl_free(app->ctl); /* after the stop hooks: it answers until the end */
    pt_health_free(app->health);
    pt_config_unsubscribe(app->changes);
    pt__app_stats_stop(&app->stats_part); /* the last interval's values go out */
    pt__app_log_stop(&app->log_part);
    pt_config_free(app->cfg);
    pt_log_flush(2000);
    pt_log_free(app->log);
    for (unsigned i = 0; i < app->nhooks; i++)
        free(app->hooks[i].name);
    close(app->wake[0]);
    close(app->wake[1]);
    free(app->name);
    free(app->commit);
    free(app);
}
