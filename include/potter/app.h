/* potter/app.h: the service lifecycle that wires the parts together.
 *
 *     static const pt_config_key keys[] = {
 *         {"greeting", PT_CONFIG_STRING, "hello", "what to say", NULL, 0},
 *     };
 *     pt_app_options opts = {.version = "1.2.0", .keys = keys, .nkeys = 1};
 *     pt_app *app = pt_app_new("hello", argc, argv, &opts);
 *     PT_INFO(pt_app_log(app), "ready");
 *     ...
 *     pt_app_free(app);
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
} pt_app_options;

/* Creates the app, or exits the process: 0 after an informative flag, 78 (EX_CONFIG) on a
 * configuration error, 70 (EX_SOFTWARE) when a part cannot start (the message says which).
 * opts may be NULL. Never returns NULL. */
PT_EXTERN pt_app *pt_app_new(const char *name, int argc, char **argv,
                             const pt_app_options *opts);

/* Flushes the logs (at most 2 s) and releases everything. NULL is accepted. */
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
