/* The service port's keys (http.*) and the health checks' (health.*): declared here, mapped
 * onto pt_http_options and pt_health_options when the app makes its server and its health
 * registry. Every key is read once, at start: all are fixed. */
#include <errno.h>
#include <string.h>

#include "app/app_internal.h"

#define F PT_CONFIG_FIXED

static const pt_config_key keys[] = {
    {"http.host", PT_CONFIG_STRING, "127.0.0.1", "address the service listens on", NULL, F},
    {"http.port", PT_CONFIG_UINT, "8080", "port the service listens on (0: any free port)",
     "0..65535", F},
    {"http.workers", PT_CONFIG_UINT, "0",
     "event loops serving the port, each with its own listener (0: one per CPU)", "0..256", F},
    {"http.max_header_size", PT_CONFIG_SIZE, "8KiB",
     "largest request line and headers (431 beyond)", "256B..1MiB", F},
    {"http.max_body_size", PT_CONFIG_SIZE, "1MiB", "largest request body (413 beyond)",
     "1B..1GiB", F},
    {"http.max_connections", PT_CONFIG_UINT, "1024",
     "open connections per worker (503 and close beyond)", "1..1000000", F},
    {"http.header_timeout", PT_CONFIG_DURATION, "10s",
     "from a request's first byte to its last header (408)", "1ms..1h", F},
    {"http.body_timeout", PT_CONFIG_DURATION, "30s",
     "from the end of the headers to the end of the body (408)", "1ms..1h", F},
    {"http.idle_timeout", PT_CONFIG_DURATION, "60s",
     "how long a keep-alive connection waits for its next request", "1ms..1h", F},
    {"http.handler_timeout", PT_CONFIG_DURATION, "30s",
     "a handler's deadline to answer (503 beyond)", "1ms..1h", F},
    {"http.access_log", PT_CONFIG_BOOL, "true", "log one record per request", NULL, F},
    {"http.metrics", PT_CONFIG_BOOL, "true", "count and time every request (http.*)", NULL, F},
    {"http.request_id", PT_CONFIG_BOOL, "true",
     "take or make a request id (X-Request-Id), echo it, log it with every record", NULL, F},
    {"http.health_path", PT_CONFIG_STRING, "/health",
     "where the service port serves health (empty: not served)", NULL, F},
    {"http.ready_path", PT_CONFIG_STRING, "/ready",
     "where the service port serves readiness (empty: not served)", NULL, F},
    {"health.timeout", PT_CONFIG_DURATION, "2s", "a health check's default timeout", "1ms..1h",
     F},
    {"health.interval", PT_CONFIG_DURATION, "10s", "time between two runs of a health check",
     "10ms..1h", F},
    {"app.drain_timeout", PT_CONFIG_DURATION, "10s",
     "on SIGTERM, how long requests in flight may take to finish", "0s..1h", F},
    {"app.drain_delay", PT_CONFIG_DURATION, "0s",
     "on SIGTERM, how long readiness fails before the listeners close (for load balancers)",
     "0s..10m", F},
    {"app.hook_timeout", PT_CONFIG_DURATION, "15s",
     "default time a start or stop hook may take", "1ms..1h", F},
};

int pt__app_http_declare(pt_config *cfg)
{
    return pt_config_declare(cfg, keys, sizeof(keys) / sizeof(keys[0]));
}

uint64_t pt__app_ms(pt_config *cfg, const char *key)
{
    return (uint64_t)(pt_config_duration_get(PT_CONFIG_DURATION(cfg, key)) / 1000000);
}

int pt__app_health_new(pt_config *cfg, pt_health **out)
{
    pt_health_options o = {
        .timeout_ms = pt__app_ms(cfg, "health.timeout"),
        .interval_ms = pt__app_ms(cfg, "health.interval"),
    };
    return pt_health_new(&o, out);
}

int pt__app_http_new(pt_config *cfg, pt_log *log, pt_stats *stats, pt_health *health,
                     pt_http **out)
{
    const char *host = pt_config_str_get(PT_CONFIG_STR(cfg, "http.host"));
    pt_http_options o = {
        .host = host && *host ? host : NULL,
        .port = (int)pt_config_uint_get(PT_CONFIG_UINT(cfg, "http.port")),
        .workers = (unsigned)pt_config_uint_get(PT_CONFIG_UINT(cfg, "http.workers")),
        .max_header_bytes = pt_config_size_get(PT_CONFIG_SIZE(cfg, "http.max_header_size")),
        .max_body_bytes = pt_config_size_get(PT_CONFIG_SIZE(cfg, "http.max_body_size")),
        .max_connections = (unsigned)pt_config_uint_get(PT_CONFIG_UINT(cfg, "http.max_connections")),
        .header_timeout_ms = pt__app_ms(cfg, "http.header_timeout"),
        .body_timeout_ms = pt__app_ms(cfg, "http.body_timeout"),
        .idle_timeout_ms = pt__app_ms(cfg, "http.idle_timeout"),
        .handler_timeout_ms = pt__app_ms(cfg, "http.handler_timeout"),
        .log = log,
        .stats = stats,
        .health = health,
        .health_path = pt_config_str_get(PT_CONFIG_STR(cfg, "http.health_path")),
        .ready_path = pt_config_str_get(PT_CONFIG_STR(cfg, "http.ready_path")),
        .no_access_log = !pt_config_bool_get(PT_CONFIG_BOOL(cfg, "http.access_log")),
        .no_metrics = !pt_config_bool_get(PT_CONFIG_BOOL(cfg, "http.metrics")),
        .no_request_id = !pt_config_bool_get(PT_CONFIG_BOOL(cfg, "http.request_id")),
    };
    return pt_http_new(&o, out);
}
