/* Stats' keys (stats.*): declared here, mapped onto pt_stats_options at start; the default
 * collectors (the process, the logger's counts, pt-ops's loop lag) registered here, so that
 * neither the logger nor core depends on stats. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "app/app_internal.h"
#include "core/ops_internal.h"

static const pt_config_key keys[] = {
    {"stats.host", PT_CONFIG_STRING, "127.0.0.1",
     "statsd host name or address (empty: no statsd, Prometheus only)", NULL, PT_CONFIG_FIXED},
    {"stats.port", PT_CONFIG_INT, "8125", "statsd UDP port", "1..65535", PT_CONFIG_FIXED},
    {"stats.socket", PT_CONFIG_STRING, NULL, "statsd unix datagram socket (instead of host)", NULL,
     PT_CONFIG_FIXED},
    {"stats.prefix", PT_CONFIG_STRING, "", "first part of every statsd name", NULL,
     PT_CONFIG_FIXED},
    {"stats.interval", PT_CONFIG_DURATION, "1s", "time between two flushes", "10ms..1h",
     PT_CONFIG_FIXED},
    {"stats.max_packet", PT_CONFIG_SIZE, "0",
     "largest datagram (0: 1432B over UDP, 8KiB over "
     "a unix socket)",
     "..64KiB", PT_CONFIG_FIXED},
    {"stats.dogstatsd", PT_CONFIG_BOOL, "false",
     "send tags as DogStatsD |#k:v (else in the "
     "name)",
     NULL, PT_CONFIG_FIXED},
    {"stats.timer_budget", PT_CONFIG_UINT, "100",
     "samples of one timer sent per flush, beyond "
     "which a sample goes with @rate",
     "1..100000", PT_CONFIG_FIXED},
};

int pt__app_stats_declare(pt_config *cfg)
{
    return pt_config_declare(cfg, keys, sizeof(keys) / sizeof(keys[0]));
}

/* The logger's counts: log.records and log.dropped by level, log.suppressed. */
static void collect_log(pt_stats *stats, void *arg)
{
    pt__app_stats *part = arg;
    pt_log_counters c;

    pt_log_counters_get(&c);
    for (int i = 0; i < PT_LOG_NLEVELS; i++) {
        pt_counter_set_total(part->logged[i], c.logged[i]);
        pt_counter_set_total(part->dropped[i], c.dropped[i]);
    }
    pt_counter_set_total(part->suppressed, c.suppressed);
    (void)stats;
}

static void watch_ops_loop(void *arg)
{
    pt__app_stats *part = arg;
    part->loop_rc = pt_stats_watch_loop(part->stats, pt_ops_loop(), "pt_ops.loop");
}

int pt__app_stats_start(pt__app_stats *part, pt_config *cfg, const char *name, pt_stats **out)
{
    pt_stats_options o = {0};
    char tags[32];
    int rc;

    memset(part, 0, sizeof(*part));
    const pt_config_view *v = pt_config_view_begin(cfg);
    const char *host = pt_config_view_str(v, PT_CONFIG_STR(cfg, "stats.host"));
    const char *sock = pt_config_view_str(v, PT_CONFIG_STR(cfg, "stats.socket"));
    o.service = name;
    o.prefix = pt_config_view_str(v, PT_CONFIG_STR(cfg, "stats.prefix"));
    o.statsd_host = host && *host ? host : NULL;
    o.statsd_socket = sock && *sock ? sock : NULL;
    o.statsd_port = (unsigned)pt_config_view_int(v, PT_CONFIG_INT(cfg, "stats.port"));
    o.interval_ms =
        (uint64_t)pt_config_view_duration(v, PT_CONFIG_DURATION(cfg, "stats.interval")) / 1000000;
    o.max_packet = (size_t)pt_config_view_size(v, PT_CONFIG_SIZE(cfg, "stats.max_packet"));
    o.dogstatsd_tags = pt_config_view_bool(v, PT_CONFIG_BOOL(cfg, "stats.dogstatsd"));
    o.timer_budget = (unsigned)pt_config_view_uint(v, PT_CONFIG_UINT(cfg, "stats.timer_budget"));
    rc = pt_stats_new(&o, &part->stats); /* copies what it keeps */
    pt_config_view_end(v);
    if (rc < 0)
        return rc;
    for (int i = 0; i < PT_LOG_NLEVELS; i++) {
        snprintf(tags, sizeof(tags), "level:%s", pt_log_level_name((i + 1) * 10));
        part->logged[i] = pt_stats_counter(part->stats, "log.records", tags);
        part->dropped[i] = pt_stats_counter(part->stats, "log.dropped", tags);
    }
    part->suppressed = pt_stats_counter(part->stats, "log.suppressed", NULL);
    if ((rc = pt_stats_add_collector(part->stats, pt_stats_collect_process, NULL)) < 0 ||
        (rc = pt_stats_add_collector(part->stats, collect_log, part)) < 0)
        goto fail;
    /* pt-ops's own loop: its lag says whether timers and the control port keep up. */
    part->loop_rc = -EAGAIN;
    pt__ops_call(watch_ops_loop, part, 1000);
    *out = part->stats;
    return 0;
fail:
    pt_stats_free(part->stats);
    part->stats = NULL;
    return rc;
}

void pt__app_stats_stop(pt__app_stats *part)
{
    pt_stats_free(part->stats); /* sends the last interval's values */
    part->stats = NULL;
}
