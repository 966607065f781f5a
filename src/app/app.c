/* The app: declares the keys of libpotter's parts, loads the configuration, starts the parts
 * from it and applies run-time changes through their setters (potter/app.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "potter/app.h"
#include "app/app_internal.h"
#include "core/ops_internal.h"
#include "config/config_internal.h" /* pt__cbuf for the start-up record's list of files */

#define EX_CONFIG 78
#define EX_SOFTWARE 70


/* Messages of the config part with no caller to return to (a refused reload or remote
 * document, fixed keys a reload left alone) go to the service's log. */
static void report(void *arg, int level, const char *msg)
{
    pt_app *app = arg;
    pt_log *log = app->log;
    if (log == NULL) {
        fprintf(stderr, "%s\n", msg);
        return;
    }
    if (level >= PT_CONFIG_ERROR)
        PT_ERROR(log, "configuration problem", PT_STR("reason", msg));
    else
        PT_WARN(log, "configuration warning", PT_STR("reason", msg));
}

/* Every change after start-up leaves a record (secrets are redacted in changes[]). This
 * subscriber comes before the parts', so a change of log.level is logged at the old level. */
static void on_change(void *arg, const pt_config_change *changes, size_t n)
{
    pt_app *app = arg;
    if (app->log == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        PT_INFO(app->log, "configuration changed", PT_STR("key", changes[i].key),
                PT_JSON("old", changes[i].old_value), PT_JSON("new", changes[i].new_value),
                PT_STR("origin", changes[i].origin));
}

static void die(pt_app *app, int status, const char *what, int err)
{
    fprintf(stderr, "%s: %s: %s\n", app && app->cfg ? pt_config_service(app->cfg) : "potter", what,
            err ? pt_strerror(err) : pt_config_error(app->cfg));
    exit(status);
}

static void startup_record(pt_app *app)
{
    const char *const *files;
    size_t n = pt_config_files(app->cfg, &files);
    pt__cbuf list = {0};

    pt__cbuf_puts(&list, "[");
    for (size_t i = 0; i < n; i++) {
        pt__cbuf_puts(&list, i ? "," : "");
        pt__cbuf_json_str(&list, files[i], strlen(files[i]));
    }
    pt__cbuf_puts(&list, "]");
    const char *dc = pt_config_datacenter(app->cfg);
    PT_INFO(app->log, "service starting", PT_STR("version", pt_config_version(app->cfg)),
            PT_STR("build_id", pt_build_id()), PT_STR("potter", pt_version_string()),
            PT_STR("env", pt_config_env(app->cfg)), PT_STR("datacenter", dc),
            PT_JSON("config_files", list.oom ? "[]" : list.p));
    pt__cbuf_free(&list);
}

/* SIGPIPE ignored (a closed peer is an error return, not a death); SIGTERM, SIGINT and SIGHUP
 * blocked here, so every thread created after inherits the mask and pt_app_run() takes them
 * from a signalfd. */
static void own_signals(pt_app *app)
{
    sigemptyset(&app->owned);
    if (app->flags & PT_APP_NO_SIGNALS)
        return;
    signal(SIGPIPE, SIG_IGN);
    sigaddset(&app->owned, SIGTERM);
    sigaddset(&app->owned, SIGINT);
    sigaddset(&app->owned, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &app->owned, NULL);
}

pt_app *pt_app_new(const char *name, int argc, char **argv, const pt_app_options *opts)
{
    static const pt_app_options none;
    pt_app *app = calloc(1, sizeof(*app));
    int rc;

    if (opts == NULL)
        opts = &none;
    if (app == NULL || (app->name = strdup(name ? name : "")) == NULL ||
        pipe2(app->wake, O_CLOEXEC | O_NONBLOCK) < 0)
        die(NULL, EX_SOFTWARE, "starting", -ENOMEM);
    app->flags = opts->flags;
    if (opts->commit && (app->commit = strdup(opts->commit)) == NULL)
        die(NULL, EX_SOFTWARE, "starting", -ENOMEM);
    atomic_init(&app->port, -1);
    own_signals(app);
    pt_config_options co = {0};
    co.version = opts->version;
    co.config_dir = opts->config_dir;
    co.datacenter_file = opts->datacenter_file;
    co.report = report;
    co.report_arg = app;
    if ((rc = pt_config_new(name, &co, &app->cfg)) < 0) {
        fprintf(stderr, "%s: cannot start: %s\n", name ? name : "(null)", pt_strerror(rc));
        exit(EX_SOFTWARE);
    }
    if ((rc = pt__app_log_declare(app->cfg)) < 0 || (rc = pt__app_stats_declare(app->cfg)) < 0 ||
        (rc = pt__app_http_declare(app->cfg)) < 0 || (rc = pt__app_ctl_declare(app->cfg)) < 0 ||
        (rc = pt__app_crash_declare(app->cfg)) < 0 ||
        (rc = pt_config_declare(app->cfg, opts->keys, opts->nkeys)) < 0)
        die(app, EX_SOFTWARE, "declaring the configuration", rc == -EINVAL ? 0 : rc);
    rc = pt_config_load(app->cfg, argc, argv);
    if (rc == PT_CONFIG_DONE) {
        pt_config_free(app->cfg);
        close(app->wake[0]);
        close(app->wake[1]);
        free(app->name);
        free(app->commit);
        free(app);
        exit(0);
    }
    if (rc == -EINVAL)
        exit(EX_CONFIG); /* pt_config_load() printed every problem */
    if (rc < 0)
        die(app, EX_SOFTWARE, "loading the configuration", rc);
    if ((rc = pt_config_subscribe(app->cfg, "", on_change, app, &app->changes)) < 0)
        die(app, EX_SOFTWARE, "following configuration changes", rc);
    if ((rc = pt__app_log_start(&app->log_part, app->cfg, name, &app->log)) < 0)
        die(app, EX_SOFTWARE, "starting the logger", rc);
    startup_record(app);
    if (app->log_part.journal_skipped)
        PT_INFO(app->log, "standard error is the systemd journal: records go to the log file "
                          "only (set log.stderr=true to have both)");
    if ((rc = pt__app_stats_start(&app->stats_part, app->cfg, name, &app->stats)) < 0)
        die(app, EX_SOFTWARE, "starting stats", rc);
    if ((rc = pt__app_crash_start(app)) < 0)
        die(app, EX_SOFTWARE, "preparing the crash path", rc);
    return app;
}

void pt_app_free(pt_app *app)
{
    if (app == NULL)
        return;
    pt__app_free_parts(app);
}

pt_config *pt_app_config(pt_app *app)
{
    return app->cfg;
}

pt_log *pt_app_log(pt_app *app)
{
    return app->log;
}

pt_stats *pt_app_stats(pt_app *app)
{
    return app->stats;
}

static void nothing(void *arg)
{
    (void)arg;
}

int pt_app_reload(pt_app *app)
{
    int rc = pt_config_reload(app->cfg); /* a refusal is reported, and so logged */
    int rc2 = pt_log_reopen(app->log);
    if (rc == 0) {
        /* Subscribers run on pt-ops after what was posted before: once this no-op ran, the
         * new values are in effect (log.level) and we may say so. */
        pt__ops_call(nothing, NULL, 1000);
        PT_INFO(app->log, "configuration reloaded");
    }
    return rc ? rc : rc2;
}
