/* app_internal.h: each part's half of the app (its config keys, how they map onto its
 * options, how run-time changes reach its setters), one file per part in src/app. */
#ifndef PT_APP_INTERNAL_H
#define PT_APP_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "potter/app.h"
#include "potter/config.h"
#include "potter/ctl.h"
#include "potter/log.h"
#include "potter/stats.h"

/* The logger (log.c): keys log.*. */
typedef struct pt__app_log {
    pt_config_sub *sub;
    pt_log *log;
    pt_config_enum *level, *flight_level;
    int journal_skipped; /* stderr is the journal and a file is set: no stderr sink */
} pt__app_log;

int pt__app_log_declare(pt_config *cfg);
/* Configures the process-wide settings, creates the service's root logger named `name` with
 * the sinks the keys ask for, and follows log.level and log.flight_level. */
int pt__app_log_start(pt__app_log *part, pt_config *cfg, const char *name, pt_log **out);
void pt__app_log_stop(pt__app_log *part);

/* Stats (stats.c): keys stats.*, the default collectors. */
typedef struct pt__app_stats {
    pt_stats *stats;
    pt_counter *logged[PT_LOG_NLEVELS], *dropped[PT_LOG_NLEVELS], *suppressed;
    int loop_rc; /* pt_stats_watch_loop() of pt-ops's loop, once it ran there */
} pt__app_stats;

int pt__app_stats_declare(pt_config *cfg);
int pt__app_stats_start(pt__app_stats *part, pt_config *cfg, const char *name, pt_stats **out);
void pt__app_stats_stop(pt__app_stats *part);

/* The service port and health (http.c): keys http.*, health.*, app.drain_*, app.hook_timeout. */
int pt__app_http_declare(pt_config *cfg);
int pt__app_http_new(pt_config *cfg, pt_log *log, pt_stats *stats, pt_health *health,
                     pt_http **out);
int pt__app_health_new(pt_config *cfg, pt_health **out);
/* A duration key's value in milliseconds. */
uint64_t pt__app_ms(pt_config *cfg, const char *key);

/* The control port (ctl.c): keys ctl.*. */
int pt__app_ctl_declare(pt_config *cfg);
int pt__app_ctl_new(pt_app *app, pt_ctl **out);
int pt__app_ctl_enabled(pt_app *app);

/* The crash path (crash.c): keys crash.*. start: pt_crash_init(), the panic drain, and the
 * reports of earlier runs logged; stop: the drain removed. */
int pt__app_crash_declare(pt_config *cfg);
int pt__app_crash_start(pt_app *app);
void pt__app_crash_stop(pt_app *app);

/* systemd (systemd.c): sd_notify(3)'s protocol spoken directly. pt__sd_notify: 1 sent, 0 not under systemd, or a negative errno. */
int pt__sd_notify(const char *state);
uint64_t pt__sd_watchdog_usec(void); /* 0: no watchdog asked for (or not for this process) */
int pt__sd_stderr_is_journal(void);

#define PT__APP_MAX_HOOKS 64

typedef struct {
    char *name;
    pt_app_hook_fn start, stop;
    void *arg;
    uint64_t timeout_ms;
} pt__app_hook;

struct pt_app {
    char *name;
    unsigned flags;
    pt_config *cfg;
    pt_log *log;
    pt_config_sub *changes; /* logs every change */
    pt__app_log log_part;
    pt__app_stats stats_part;
    pt_stats *stats;
    pt_http *http;
    pt_health *health;
    pt_ctl *ctl;
    char *commit; /* pt_app_options.commit */
    pt__app_hook hooks[PT__APP_MAX_HOOKS];
    unsigned nhooks;
    int wake[2]; /* pt_app_stop() writes here; pt_app_run() polls it */
    atomic_int stop_asked;
    atomic_int port; /* once listening, else -1 */
    sigset_t owned; /* SIGTERM, SIGINT, SIGHUP, blocked by pt_app_new() */
};

/* run.c */
void pt__app_free_parts(pt_app *app);
/* pt_app_run() without freeing the app (the test harness frees it after). */
int pt__app_serve(pt_app *app);

#endif /* PT_APP_INTERNAL_H */
