/* The crash path's keys (crash.*): declared here, mapped onto pt_crash_options when the app
 * starts, before anything else runs; the panic drain; the reports earlier runs left behind,
 * logged at start. docs/crash.md. */
#include <errno.h>
#include <string.h>

#include "app/app_internal.h"
#include "potter/crash.h"

#define F PT_CONFIG_FIXED

static const pt_config_key keys[] = {
    {"crash.enabled", PT_CONFIG_BOOL, "true",
     "handle fatal signals and pt_panic(): report, fatal record, core (docs/crash.md)", NULL, F},
    {"crash.dir", PT_CONFIG_STRING, "var/crash",
     "crash reports and the crash budget's state (empty: none)", NULL, F},
    {"crash.backup_file", PT_CONFIG_STRING, "",
     "where the handler writes its report first (empty: standard error)", NULL, F},
    {"crash.logger_timeout", PT_CONFIG_DURATION, "50ms",
     "how long a crash waits for the fatal record to reach every sink", "1ms..10s", F},
    {"crash.shutdown_timeout", PT_CONFIG_DURATION, "5s",
     "on pt_panic(), how long the service may drain before the core", "0s..10m", F},
    {"crash.max_cores", PT_CONFIG_UINT, "3", "core dumps allowed per window (the crash budget)",
     "1..1000", F},
    {"crash.core_window", PT_CONFIG_DURATION, "1h", "the crash budget's window", "1s..30d", F},
};

int pt__app_crash_declare(pt_config *cfg)
{
    return pt_config_declare(cfg, keys, sizeof(keys) / sizeof(keys[0]));
}

/* pt_panic(): the requests in flight finish, within the bound, before the core. */
static void panic_drain(void *arg, uint64_t timeout_ms)
{
    pt_app *app = arg;
    PT_ERROR(app->log, "panic: draining before the core", PT_UINT("timeout_ms", timeout_ms),
             PT_UINT("in_flight", app->http ? pt_http_in_flight(app->http) : 0));
    if (app->health)
        pt_health_set_draining(app->health, 1);
    if (app->http)
        pt_http_stop(app->http, timeout_ms);
    pt_log_flush(timeout_ms / 4 + 1);
}

static void log_report(void *arg, const char *path, const char *text, size_t len)
{
    pt_app *app = arg;
    /* The first line after the version names what happened; the whole report goes along
     * (cut by the logger at its value limit) for Sentry and the log readers. */
    PT_ERROR(app->log, "crash report from an earlier run", PT_STR("path", path),
             PT_STRN("report", text, len));
}

int pt__app_crash_start(pt_app *app)
{
    pt_config *cfg = app->cfg;
    if (!pt_config_bool_get(PT_CONFIG_BOOL(cfg, "crash.enabled")))
        return 0;
    const char *dir = pt_config_str_get(PT_CONFIG_STR(cfg, "crash.dir"));
    const char *backup = pt_config_str_get(PT_CONFIG_STR(cfg, "crash.backup_file"));
    pt_crash_options o = {
        .dir = dir,
        .backup_file = backup,
        .service = app->name,
        .version = pt_config_version(cfg),
        .logger_timeout_ms = pt__app_ms(cfg, "crash.logger_timeout"),
        .shutdown_timeout_ms = pt__app_ms(cfg, "crash.shutdown_timeout"),
        .max_cores = (unsigned)pt_config_uint_get(PT_CONFIG_UINT(cfg, "crash.max_cores")),
        .core_window_s = pt__app_ms(cfg, "crash.core_window") / 1000,
    };
    int rc = pt_crash_init(&o);
    if (rc == -EALREADY) /* another app in this process (the test harness) set it up */
        return 0;
    if (rc < 0) {
        PT_FATAL(app->log, "cannot prepare the crash path", PT_STR("reason", pt_crash_error()),
                 PT_ERR(rc));
        return rc;
    }
    pt_crash_set_shutdown(panic_drain, app);
    PT_INFO(app->log, "crash path ready", PT_STR("dir", dir && dir[0] ? dir : NULL),
            PT_STR("core_pattern", pt_crash_core_pattern()));
    if (dir && dir[0]) {
        int n = pt_crash_collect(dir, log_report, app);
        if (n < 0)
            PT_WARN(app->log, "cannot read the crash reports of earlier runs", PT_STR("dir", dir),
                    PT_ERR(n));
    }
    return 0;
}

void pt__app_crash_stop(pt_app *app)
{
    (void)app;
    pt_crash_set_shutdown(NULL, NULL); /* the app is going: a late panic just dies */
}
