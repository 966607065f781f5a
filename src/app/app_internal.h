/* app_internal.h: each part's half of the app (its config keys, how they map onto its
 * options, how run-time changes reach its setters), one file per part in src/app. */
#ifndef PT_APP_INTERNAL_H
#define PT_APP_INTERNAL_H

#include "potter/config.h"
#include "potter/log.h"
#include "potter/stats.h"

/* The logger (log.c): keys log.*. */
typedef struct pt__app_log {
    pt_config_sub *sub;
    pt_log *log;
    pt_config_enum *level, *flight_level;
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

#endif /* PT_APP_INTERNAL_H */
