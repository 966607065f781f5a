/* potter/app.h: the service lifecycle that wires the parts together.
 *
 *     static const pt_config_key keys[] = {
 *         {"greeting", PT_CONFIG_STRING, "hello", "what to say", NULL, 0},
 *     };
 *     int main(int argc, char **argv)
 *     {
 *         pt_app_options opts = {.version = "1.2.0", .keys = keys, .nkeys = 1};
 *         pt_app *app = pt_app_new("hello", argc, argv, &opts);
 *         pt_http_route(pt_app_http(app), "GET", "/hello/:name", hello, NULL);
 *         pt_health_add(pt_app_health(app), "db", check_db, db, PT_HEALTH_CRITICAL);
 *         pt_app_hook(app, "db", db_connect, db_close, db, 0);
 *         return pt_app_run(app); // serves until SIGTERM, drains, exits 0
 *     }
 *
 * pt_app_new() declares the configuration keys of libpotter's parts and the service's own,
 * loads the configuration (a bad one prints every problem and exits 78; --help, --version,
 * --print-config and --check-config print and exit 0), starts the logger the `log.*` keys
 * describe, logs one start-up record, starts stats as the `stats.*` keys say (with the
 * process's, the logger's and pt-ops's loop metrics), and applies later changes of run-time
 * keys (log.level, log.flight_level) through the parts' setters. Keys of later parts (http,
 * ctl, crash, trace) join as those parts land. docs/app.md lists every key.
 */
#ifndef POTTER_APP_H
#define POTTER_APP_H

#include <stddef.h>

#include "potter/config.h"
#include "potter/core.h"
#include "potter/ctl.h"
#include "potter/health.h"
#include "potter/http.h"
#include "potter/log.h"
#include "potter/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_app pt_app;

typedef struct pt_app_options {
    const char *version;        /* the service's version; NULL: "0.0.0" */
    const pt_config_key *keys;  /* the service's own keys, declared beside libpotter's */
    size_t nkeys;
    const char *config_dir;      /* as pt_config_options (NULL: "config") */
    const char *datacenter_file; /* as pt_config_options (NULL: $POTTER_DATACENTER_FILE or
                                    /etc/datacenter) */
    unsigned flags;              /* PT_APP_* below */
    const char *commit;          /* the git commit the service was built from, for the
                                    control port's /build (NULL: unknown) */
} pt_app_options;

/* The app leaves the process's signals alone (SIGTERM, SIGINT, SIGHUP, SIGPIPE): for several
 * apps in one process, as the test harness (potter/apptest.h) runs them; pt_app_stop() and
 * pt_app_reload() are then the only ways in. */
#define PT_APP_NO_SIGNALS 1u

/* Creates the app, or exits the process: 0 after an informative flag, 78 (EX_CONFIG) on a
 * configuration error, 70 (EX_SOFTWARE) when a part cannot start (the message says which).
 * opts may be NULL. Never returns NULL. Unless PT_APP_NO_SIGNALS, it ignores SIGPIPE and
 * blocks SIGTERM, SIGINT and SIGHUP in the calling thread (threads created after inherit it),
 * for pt_app_run() to take them: call it from main() before starting threads of your own. */
PT_EXTERN pt_app *pt_app_new(const char *name, int argc, char **argv,
                             const pt_app_options *opts);

/* Serves until SIGTERM or SIGINT (or pt_app_stop()), then shuts down and frees the app:
 *   start: start hooks in order (each under its timeout; a failure or a timeout stops the
 *     ones already started, in reverse order, and the app exits 70), health checks (a loud
 *     warning when there are none), the HTTP server ("listening on 127.0.0.1:8080"; a port in
 *     use exits 70), then systemd's READY=1 and watchdog pings when the unit asks for them;
 *   SIGHUP: pt_app_reload();
 *   stop: STOPPING=1, readiness fails (app.drain_delay), the listeners close, requests in
 *     flight finish under app.drain_timeout, stop hooks run in reverse order each under its
 *     timeout, stats and logs are flushed.
 * Returns the process's exit status: 0, or 70 when starting failed. */
PT_EXTERN int pt_app_run(pt_app *app);

/* Asks pt_app_run() to stop, as SIGTERM does. From any thread, and from a signal handler. */
PT_EXTERN void pt_app_stop(pt_app *app);

/* A component of the service started before it serves and stopped after it drained, as
 * uber-go/fx's lifecycle hooks: start hooks run in registration order, stop hooks in reverse.
 * Each runs on a thread of its own and may take timeout_ms (0: app.hook_timeout); one that
 * returns nonzero or runs out of time counts as failed (a late one is left running and
 * ignored). start or stop may be NULL. Before pt_app_run(). Returns 0, -EINVAL or -ENOMEM. */
typedef int (*pt_app_hook_fn)(void *arg);
PT_EXTERN int pt_app_hook(pt_app *app, const char *name, pt_app_hook_fn start,
                          pt_app_hook_fn stop, void *arg, uint64_t timeout_ms);

/* The service's HTTP server, configured by the http.* keys (made on first call; pt_app_run()
 * starts it). Add routes and middleware before pt_app_run(). */
PT_EXTERN pt_http *pt_app_http(pt_app *app);

/* The service's health checks (health.* keys), served at http.health_path and
 * http.ready_path, started by pt_app_run(). */
PT_EXTERN pt_health *pt_app_health(pt_app *app);

/* The service's control port (ctl.* keys; made on first call, started by pt_app_run() before
 * the start hooks so that a stuck start can be looked at, stopped after the stop hooks). Add
 * endpoints with pt_ctl_handle() before pt_app_run(). NULL when ctl.enabled is false. */
PT_EXTERN pt_ctl *pt_app_ctl(pt_app *app);

/* The port the service listens on once pt_app_run() has started it, else a negative error. */
PT_EXTERN int pt_app_port(pt_app *app);

/* Releases an app that was never run: flushes the logs (at most 2 s) and frees everything.
 * NULL is accepted. */
PT_EXTERN void pt_app_free(pt_app *app);

PT_EXTERN pt_config *pt_app_config(pt_app *app);
PT_EXTERN pt_log *pt_app_log(pt_app *app);
/* The service's metrics: statsd as the stats.* keys say, Prometheus text for the control port,
 * with the process's, the logger's and pt-ops's loop metrics collected by default. */
PT_EXTERN pt_stats *pt_app_stats(pt_app *app);

/* What SIGHUP does: re-reads the configuration files (pt_config_reload(): a bad file is
 * refused and logged, the running configuration stays) and reopens the log files. Returns 0
 * or the first error. */
PT_EXTERN int pt_app_reload(pt_app *app);

#ifdef __cplusplus
}
#endif

#endif /* POTTER_APP_H */
