/* hello: the demo service that `make run` starts.
 *
 * Until potter's HTTP framework lands, it shows configuration, logging and metrics. Its
 * settings come from examples/hello/config/ (common.json, then development.json), command-line
 * flags (--hello.interval=250ms, --log.level=trace) and runtime changes. It logs a record per
 * "request" to stderr and var/log/hello.log, with a child logger per request and a
 * rate-limited warning, and counts and times them (statsd on 127.0.0.1:8125 by default, with
 * the process's and the logger's own metrics). SIGHUP re-reads the files and reopens the log
 * file (as logrotate wants); Ctrl-C or SIGTERM flushes and stops. `hello --help` lists every
 * setting, `hello --print-config` shows each value and where it came from. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <potter.h>

static volatile sig_atomic_t stopping;
static volatile sig_atomic_t reload;

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    reload = 1;
}

static const pt_config_key keys[] = {
    {"hello.interval", PT_CONFIG_DURATION, "1s", "time between two requests", "10ms..1h", 0},
    {"hello.name", PT_CONFIG_STRING, "world", "who the requests greet", NULL, 0},
    {"hello.slow_every", PT_CONFIG_UINT, "5", "every Nth request is slow (0: none)", NULL, 0},
};

int main(int argc, char **argv)
{
    pt_app_options opts = {.version = "0.1.0", .keys = keys, .nkeys = 3};
    pt_app *app = pt_app_new("hello", argc, argv, &opts);
    pt_config *cfg = pt_app_config(app);
    pt_log *log = pt_app_log(app);
    pt_config_duration *interval = PT_CONFIG_DURATION(cfg, "hello.interval");
    pt_config_str *name = PT_CONFIG_STR(cfg, "hello.name");
    pt_config_uint *slow_every = PT_CONFIG_UINT(cfg, "hello.slow_every");
    pt_counter *requests = pt_stats_counter(pt_app_stats(app), "requests", "route:hello");
    pt_timer *took = pt_stats_timer(pt_app_stats(app), "request_time", "route:hello");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);

    for (unsigned long n = 1; !stopping; n++) {
        char id[32];
        snprintf(id, sizeof id, "req-%06lu", n);
        pt_log *req = PT_LOG_CHILD(log, PT_STR("req_id", id));
        uint64_t t0 = pt_clock_mono_ns();

        /* A view: the name stays valid however the configuration changes meanwhile. */
        const pt_config_view *v = pt_config_view_begin(cfg);
        PT_DEBUG(req, "request received", PT_STR("method", "GET"), PT_STR("path", "/hello"),
                 PT_STR("greet", pt_config_view_str(v, name)));
        pt_config_view_end(v);
        uint64_t elapsed = pt_clock_mono_ns() - t0;
        PT_INFO(req, "request done", PT_INT("status", 200), PT_DUR("took", elapsed));
        pt_counter_inc(requests);
        pt_timer_record_ns(took, (int64_t)elapsed);
        uint64_t every = pt_config_uint_get(slow_every);
        if (every && n % every == 0)
            PT_LOG_LIMIT(req, PT_LOG_WARN, 1, 10000, "slow dependency", PT_STR("dep", "db"),
                         PT_DBL("latency_ms", 250.5));
        pt_log_free(req);
        if (reload) {
            reload = 0;
            pt_app_reload(app);
        }
        int64_t ns = pt_config_duration_get(interval);
        struct timespec ts = {ns / 1000000000, ns % 1000000000};
        nanosleep(&ts, NULL); /* a signal ends the sleep early */
    }
    PT_INFO(log, "hello stopping");
    pt_app_free(app);
    return 0;
}
