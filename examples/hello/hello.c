/* hello: the demo service that `make run` starts.
 *
 * Until potter's HTTP framework lands, it shows the logger: a record a second to stderr and
 * var/log/hello.log, a child logger per "request", a rate-limited warning, SIGHUP to reopen
 * the file (as logrotate wants), and a clean flush on Ctrl-C or SIGTERM. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <potter.h>

static volatile sig_atomic_t stopping;
static volatile sig_atomic_t reopen;

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    reopen = 1;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "var/log/hello.log";
    pt_log *log;
    int rc = pt_log_new("hello", &log);
    if (rc == 0)
        rc = pt_log_add_stderr(log, NULL, NULL);
    if (rc == 0)
        rc = pt_log_add_file(log, path, NULL, NULL);
    if (rc != 0) {
        fprintf(stderr, "hello: cannot log to %s: %s\n", path, pt_strerror(rc));
        return 1;
    }
    pt_log_set_level(log, PT_LOG_DEBUG);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);

    PT_INFO(log, "hello started", PT_STR("version", pt_version_string()), PT_STR("log_file", path));
    for (unsigned long n = 1; !stopping; n++) {
        char id[32];
        snprintf(id, sizeof id, "req-%06lu", n);
        pt_log *req = PT_LOG_CHILD(log, PT_STR("req_id", id));
        uint64_t t0 = pt_clock_mono_ns();
        PT_DEBUG(req, "request received", PT_STR("method", "GET"), PT_STR("path", "/hello/world"));
        PT_INFO(req, "request done", PT_INT("status", 200),
                PT_DUR("took", pt_clock_mono_ns() - t0));
        if (n % 5 == 0)
            PT_LOG_LIMIT(req, PT_LOG_WARN, 1, 10000, "slow dependency", PT_STR("dep", "db"),
                         PT_DBL("latency_ms", 250.5));
        pt_log_free(req);
        if (reopen) {
            reopen = 0;
            rc = pt_log_reopen(log);
            PT_INFO(log, "log file reopened", PT_ERR(rc));
        }
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL); /* a signal ends the sleep early */
    }
    PT_INFO(log, "hello stopping");
    rc = pt_log_flush(2000);
    pt_log_free(log);
    return rc == 0 ? 0 : 1;
}
