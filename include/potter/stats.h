/* potter/stats.h: counters, gauges, timers, histograms and sets that cost a few nanoseconds
 * to update, sent to statsd and served as Prometheus text.
 *
 *     pt_stats_options o = {.service = "hello", .statsd_host = "127.0.0.1"};
 *     pt_stats *stats;
 *     pt_stats_new(&o, &stats);                              // flushes every second on pt-ops
 *     pt_counter *done = pt_stats_counter(stats, "requests.done", "route:hello");
 *     pt_timer *took = pt_stats_timer(stats, "requests.time", NULL);
 *     ...
 *     pt_counter_inc(done);                                  // a few ns: no lock, no syscall
 *     pt_timer_record_ns(took, elapsed_ns);
 *
 * sends, once a second, datagrams of at most 1432 bytes such as
 *
 *     hello.web1.requests.done:412|c
 *     hello.web1.requests.time:1.25|ms
 *
 * Updates go to the calling thread's own shard; pt-ops sums the shards at each flush (a
 * thread that exits first hands its counts over: nothing is lost). Nothing on the update path
 * locks, allocates or makes a system call. An unreachable statsd never blocks the service:
 * datagrams that cannot go are dropped and counted (pt_stats_counters_get()).
 *
 * Names: `[<prefix>.]<service>.<host>.<name>` for statsd, with the host's dots replaced by
 * '_'; Prometheus gets `<name>` alone (its scrape adds the target's labels) with '.' and
 * every other character it cannot carry as '_'. A name or tag is sanitised once, when its
 * handle is made, the same way every time: characters outside [A-Za-z0-9_.-] become '_'
 * (statsd cannot carry ':', '|', '@', '#', ',' or spaces). docs/stats.md has the details.
 */
#ifndef POTTER_STATS_H
#define POTTER_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "potter/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_stats pt_stats;
typedef struct pt_counter pt_counter;
typedef struct pt_gauge pt_gauge;
typedef struct pt_timer pt_timer;
typedef struct pt_histogram pt_histogram;
typedef struct pt_set pt_set;

typedef struct pt_stats_options {
    const char *service;       /* required: the second part of every statsd name */
    const char *prefix;        /* NULL or "": none; else the first part ("services") */
    const char *host;          /* NULL: gethostname(); its dots become '_' */
    const char *statsd_host;   /* NULL: no statsd (Prometheus only); a name or an address,
                                  resolved on pt-work and retried each flush until it does */
    unsigned statsd_port;      /* 0: 8125 */
    const char *statsd_socket; /* a unix datagram socket; used instead of host:port */
    uint64_t interval_ms;      /* 0: 1000 */
    size_t max_packet;         /* 0: 1432 over UDP, 8192 over a unix socket */
    int dogstatsd_tags;        /* send tags as "|#k:v,k2:v2"; else each tag k:v is appended
                                  to the name as ".k.v" (Graphite's tree keeps them apart) */
    unsigned timer_budget;     /* 0: 100: samples of one timer sent per flush; beyond it a
                                  uniform sample of that many goes with "@rate" */
} pt_stats_options;

/* Creates the registry and, with a statsd destination, starts flushing on pt-ops. Returns 0,
 * -EINVAL or -ENOMEM. */
PT_EXTERN int pt_stats_new(const pt_stats_options *opts, pt_stats **out);

/* Flushes what is left (the last interval's values) and releases everything. No handle may
 * be used after. NULL is accepted. */
PT_EXTERN void pt_stats_free(pt_stats *stats);

/* Flushes now, on pt-ops, and waits at most timeout_ms for it. Returns 0, -ETIMEDOUT, or
 * -ESHUTDOWN once pt-ops has stopped (the flush then runs on the caller's thread). */
PT_EXTERN int pt_stats_flush(pt_stats *stats, uint64_t timeout_ms);

/* ---- handles ---------------------------------------------------------------------------
 * A handle is made once per (name, tags) and may be asked for again: the same name and tags
 * give the same handle. `tags` is NULL or "k:v,k2:v2". The calls never fail: out of memory, or
 * a name already used by another kind of metric, gives a handle whose updates are dropped
 * (and counted in pt_stats_counters_get().refused). */
PT_EXTERN pt_counter *pt_stats_counter(pt_stats *stats, const char *name, const char *tags);
PT_EXTERN pt_gauge *pt_stats_gauge(pt_stats *stats, const char *name, const char *tags);
/* A timer records durations: statsd gets milliseconds (|ms), Prometheus a histogram in
 * seconds with the default buckets (5 ms .. 10 s, as Prometheus's client libraries). */
PT_EXTERN pt_timer *pt_stats_timer(pt_stats *stats, const char *name, const char *tags);
/* A histogram of values, with upper bounds buckets[0..n) (increasing; +Inf is implied; NULL:
 * the timer's buckets, in the value's own unit). statsd gets each value as |ms (etsy statsd
 * reads |h as a counter). */
PT_EXTERN pt_histogram *pt_stats_histogram(pt_stats *stats, const char *name, const char *tags,
                                           const double *buckets, size_t n);
/* A set counts unique values per interval (statsd |s; Prometheus: a gauge of the last
 * interval's count). */
PT_EXTERN pt_set *pt_stats_set(pt_stats *stats, const char *name, const char *tags);

/* ---- updates: any thread, a few nanoseconds ------------------------------------------- */
PT_EXTERN void pt_counter_add(pt_counter *c, uint64_t n);
static inline void pt_counter_inc(pt_counter *c)
{
    pt_counter_add(c, 1);
}
/* For collectors that read a running total kept elsewhere: the counter's total becomes
 * `total` (what it grew by since the last call is what the flush sends). */
PT_EXTERN void pt_counter_set_total(pt_counter *c, uint64_t total);

PT_EXTERN void pt_gauge_set(pt_gauge *g, double value);
PT_EXTERN void pt_gauge_add(pt_gauge *g, double delta);

PT_EXTERN void pt_timer_record_ns(pt_timer *t, int64_t ns);
PT_EXTERN void pt_histogram_observe(pt_histogram *h, double value);
PT_EXTERN void pt_set_add(pt_set *s, const char *value);

/* ---- collectors -------------------------------------------------------------------------
 * Functions called on pt-ops before every flush and every Prometheus rendering, to set the
 * gauges and counters of things kept elsewhere (the process, the logger's counts, a loop's
 * lag). The parts register them, so no part depends on stats. */
typedef void (*pt_stats_collect_fn)(pt_stats *stats, void *arg);
PT_EXTERN int pt_stats_add_collector(pt_stats *stats, pt_stats_collect_fn fn, void *arg);
/* Removes the collector added with fn and arg (-ENOENT: none); a run under way on another
 * thread ends first, so arg may be freed on return. Not from a collector. */
PT_EXTERN int pt_stats_remove_collector(pt_stats *stats, pt_stats_collect_fn fn, void *arg);

/* A ready-made collector of the process: process.rss_bytes, process.cpu_user_seconds,
 * process.cpu_system_seconds, process.open_fds, process.threads, process.uptime_seconds,
 * process.start_time_seconds (gauges, from /proc/self). Register it with arg NULL. */
PT_EXTERN void pt_stats_collect_process(pt_stats *stats, void *arg);

/* Measures the lag of a libuv loop (a uv_loop_t *): a timer on that loop, every 250 ms, and
 * how late it runs, as the timer `<name>.lag` (name NULL: "loop"). Call from the loop's own
 * thread. Returns 0, -EINVAL or -ENOMEM. */
PT_EXTERN int pt_stats_watch_loop(pt_stats *stats, void *uv_loop, const char *name);

/* Stops the loop watchers of `stats` on uv_loop (stats NULL: every watcher on that loop, and
 * any left by a registry already freed). Call it on the loop's thread before uv_loop_close();
 * the loop must run once more (uv_run(loop, UV_RUN_NOWAIT)) for libuv to finish closing them.
 * pt_stats_free() needs no such call: from any thread, it cuts its watchers off and each
 * closes its own timer at its next tick. Returns 0, -EINVAL (uv_loop NULL) or -ENOENT (none
 * there). */
PT_EXTERN int pt_stats_unwatch_loop(pt_stats *stats, void *uv_loop);

/* ---- Prometheus ---------------------------------------------------------------------------
 * The registry in the text format 0.0.4 (what the control port serves at /metrics): HELP and
 * TYPE lines, counters as `<name>_total`, gauges, timers and histograms with _bucket, _sum
 * and _count, sets as gauges, tags as labels (escaped). Runs the collectors first. Returns a
 * malloc'd NUL-terminated text (free() it), or NULL when out of memory. */
PT_EXTERN char *pt_stats_prometheus(pt_stats *stats);

/* The registry as JSON, as the control port's /stats serves it:
 *   {"metrics":[{"name":"http.requests","tags":{"route":"/hello"},"type":"counter","value":3},
 *               {"name":"http.request_time","tags":{..},"type":"timer","count":3,
 *                "sum_seconds":0.0012},..]}
 * Counters are totals, gauges and sets as in the Prometheus text, timers and histograms their
 * count and sum. Runs the collectors first. Returns a malloc'd NUL-terminated text (free() it),
 * or NULL when out of memory. */
PT_EXTERN char *pt_stats_json(pt_stats *stats);

/* ---- the client's own counts ----------------------------------------------------------- */
typedef struct pt_stats_counters {
    uint64_t flushes;    /* flushes run */
    uint64_t datagrams;  /* datagrams sent */
    uint64_t bytes;      /* bytes sent */
    uint64_t send_errors;/* datagrams dropped: full socket buffer, unreachable, ... */
    uint64_t resolve_errors; /* failed resolutions of statsd_host */
    uint64_t refused;    /* updates dropped on a handle that could not be made */
    uint64_t samples_dropped; /* timer samples beyond a thread's buffer (counts stay exact) */
    int last_error;      /* negative errno of the last send error, 0 if none */
} pt_stats_counters;

PT_EXTERN void pt_stats_counters_get(pt_stats *stats, pt_stats_counters *out);

#ifdef __cplusplus
}
#endif

#endif /* POTTER_STATS_H */
