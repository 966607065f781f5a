/* etsy statsd (npm "statsd" 0.9.0, tests/peers) as the real peer of potter/stats.h.
 *
 * The group setup starts `node .../statsd/stats.js config.js` on 127.0.0.1 with a flush
 * every 300 ms and tests/peers/statsd_backend.js, which appends each flush as a JSON line to
 * a file; statsd cannot take port 0, so a free port is picked (bind, close) and the start is
 * retried on another if statsd dies. It is ready once a probe sent to it shows in a flush.
 *
 * Each test sends known series through its own pt_stats (its own service name, so its keys
 * are its own), flushes, waits for 3 of statsd's flushes and sums what they hold: counters
 * from 2 threads exact, gauges exact (a negative one after a positive one included: the
 * "0|g" first), timer counts exact below the budget and above it (sampled with @rate), a
 * histogram as a timer, a set's unique count, and no bad line.
 *
 * Skipped when node is not installed. statsd exits when the test goes away (its stdin
 * closes), besides being killed by the group teardown. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "potter/stats.h"

#define WAIT_MS 10000
#define FLUSH_MS 300 /* statsd's flushInterval */

extern char **environ;

static struct {
    int skip; /* no node */
    char node[512];
    char dir[64]; /* temporary: config.js, flush.jsonl, statsd.log */
    char conf[128], out[128], log[128];
    pid_t pid;
    int stdin_fd;
    unsigned port;
} peer = {.stdin_fd = -1};

/* ---- time ------------------------------------------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* ---- statsd's flushes --------------------------------------------------------------------- */

/* Every whole line of the flush file, parsed; a JSON array (new reference). */
static json_t *records(void)
{
    json_t *all = json_array();
    FILE *fp = fopen(peer.out, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    while (fp && (n = getline(&line, &cap, fp)) > 0) {
        if (line[n - 1] != '\n')
            break; /* being written */
        json_error_t err;
        json_t *r = json_loadb(line, (size_t)n, 0, &err);
        if (r == NULL)
            fail_msg("%s: not JSON (%s): %s", peer.out, err.text, line);
        json_array_append_new(all, r);
    }
    free(line);
    if (fp)
        fclose(fp);
    return all;
}

static size_t nrecords(void)
{
    json_t *all = records();
    size_t n = json_array_size(all);
    json_decref(all);
    return n;
}

/* Waits until statsd has flushed `n` times in all; returns the records. */
static json_t *wait_records(size_t n)
{
    uint64_t end = now_ms() + WAIT_MS;

    for (;;) {
        json_t *all = records();
        if (json_array_size(all) >= n)
            return all;
        json_decref(all);
        if (now_ms() > end)
            fail_msg("statsd flushed fewer than %zu times in %d ms", n, WAIT_MS);
        sleep_ms(50);
    }
}

/* Sum of field[key] over the records from `from` on (counters, timer_counts). */
static double sum_of(json_t *all, size_t from, const char *field, const char *key)
{
    double sum = 0;
    for (size_t i = from; i < json_array_size(all); i++)
        sum += json_number_value(json_object_get(json_object_get(json_array_get(all, i), field), key));
    return sum;
}

/* The last gauge value of key; NAN when statsd has none. */
static double last_gauge(json_t *all, const char *key)
{
    json_t *v = json_object_get(json_object_get(json_array_get(all, json_array_size(all) - 1), "gauges"), key);
    return v ? json_number_value(v) : NAN;
}

/* Every timer value of key from `from` on, in an array of at most max; returns how many. */
static size_t timer_values(json_t *all, size_t from, const char *key, double *out, size_t max)
{
    size_t n = 0;
    for (size_t i = from; i < json_array_size(all); i++) {
        json_t *vals = json_object_get(json_object_get(json_array_get(all, i), "timers"), key);
        for (size_t j = 0; j < json_array_size(vals); j++, n++)
            if (n < max)
                out[n] = json_number_value(json_array_get(vals, j));
    }
    return n;
}

/* Distinct members of set key from `from` on. */
static size_t set_size(json_t *all, size_t from, const char *key)
{
    json_t *u = json_object();
    for (size_t i = from; i < json_array_size(all); i++) {
        json_t *m = json_object_get(json_object_get(json_array_get(all, i), "sets"), key);
        for (size_t j = 0; j < json_array_size(m); j++)
            json_object_set_new(u, json_string_value(json_array_get(m, j)), json_true());
    }
    size_t n = json_object_size(u);
    json_decref(u);
    return n;
}

/* ---- starting and stopping statsd ------------------------------------------------------------ */

static int find_node(char *out, size_t outlen)
{
    static const char *const names[] = {"node", "nodejs"};
    const char *path = getenv("PATH");

    for (size_t i = 0; path && i < 2; i++) {
        for (const char *dir = path; *dir;) {
            size_t len = strcspn(dir, ":");
            snprintf(out, outlen, "%.*s/%s", (int)len, dir, names[i]);
            if (len > 0 && access(out, X_OK) == 0)
                return 1;
            dir += len;
            dir += *dir == ':';
        }
    }
    return 0;
}

/* A port free now (bound to 127.0.0.1, then closed). */
static unsigned free_port(int type)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    unsigned port = 0;

    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void peer_stop(void)
{
    if (peer.pid > 0) {
        kill(peer.pid, SIGTERM);
        for (int i = 0; i < 100 && waitpid(peer.pid, NULL, WNOHANG) == 0; i++)
            sleep_ms(10);
        if (kill(peer.pid, SIGKILL) == 0)
            waitpid(peer.pid, NULL, 0);
        peer.pid = 0;
    }
    if (peer.stdin_fd >= 0) {
        close(peer.stdin_fd);
        peer.stdin_fd = -1;
    }
}

static void send_probe(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)peer.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    static const char probe[] = "potter.probe:1|c";

    if (fd < 0)
        return;
    sendto(fd, probe, sizeof(probe) - 1, 0, (struct sockaddr *)&sa, sizeof(sa));
    close(fd);
}

static void print_log(void)
{
    char buf[4096];
    FILE *fp = fopen(peer.log, "r");
    size_t n = fp ? fread(buf, 1, sizeof(buf) - 1, fp) : 0;

    buf[n] = '\0';
    fprintf(stderr, "statsd's output:\n%s\n", buf);
    if (fp)
        fclose(fp);
}

/* Starts statsd on a free port; returns 1 once a probe shows in one of its flushes, 0 if it
 * died (a port taken meanwhile) or did not get ready in time. */
static int peer_start(const char *src)
{
    char script[1024], backend[1024];
    int in[2];
    posix_spawn_file_actions_t fa;

    snprintf(script, sizeof(script), "%s/tests/peers/node_modules/statsd/stats.js", src);
    snprintf(backend, sizeof(backend), "%s/tests/peers/statsd_backend.js", src);
    peer.port = free_port(SOCK_DGRAM);
    unsigned mgmt = free_port(SOCK_STREAM);
    unlink(peer.out);
    if (peer.port == 0 || mgmt == 0)
        return 0;
    FILE *fp = fopen(peer.conf, "w");
    if (fp == NULL)
        return 0;
    fprintf(fp,
            "{\n  port: %u, address: \"127.0.0.1\",\n  mgmt_port: %u, mgmt_address: \"127.0.0.1\",\n"
            "  flushInterval: %d,\n  backends: [\"%s\"],\n  potterFile: \"%s\",\n"
            "  potterExitOnStdinClose: true\n}\n",
            peer.port, mgmt, FLUSH_MS, backend, peer.out);
    fclose(fp);

    char *argv[] = {peer.node, script, peer.conf, NULL};
    if (pipe2(in, O_CLOEXEC) != 0)
        return 0;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_addopen(&fa, 1, peer.log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int rc = posix_spawn(&peer.pid, peer.node, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    peer.stdin_fd = in[1]; /* kept open: statsd exits when it closes */
    if (rc != 0) {
        peer.pid = 0;
        return 0;
    }

    for (uint64_t end = now_ms() + WAIT_MS; now_ms() < end;) {
        if (waitpid(peer.pid, NULL, WNOHANG) == peer.pid) {
            peer.pid = 0;
            return 0;
        }
        send_probe(); /* lost until statsd listens */
        json_t *all = records();
        double got = sum_of(all, 0, "counters", "potter.probe");
        json_decref(all);
        if (got > 0)
            return 1;
        sleep_ms(100);
    }
    return 0;
}

static int group_setup(void **state)
{
    const char *src = getenv("PT_SOURCE_DIR");
    char script[1024];

    if (!find_node(peer.node, sizeof(peer.node))) {
        peer.skip = 1;
        return 0;
    }
    if (src == NULL) {
        fprintf(stderr, "PT_SOURCE_DIR is not set (ctest sets it)\n");
        return -1;
    }
    snprintf(script, sizeof(script), "%s/tests/peers/node_modules/statsd/stats.js", src);
    if (access(script, R_OK) != 0) {
        fprintf(stderr, "%s: missing; scripts/deps.sh installs the npm test peers\n", script);
        return -1;
    }
    snprintf(peer.dir, sizeof(peer.dir), "/tmp/pt-statsd-XXXXXX");
    if (mkdtemp(peer.dir) == NULL)
        return -1;
    snprintf(peer.conf, sizeof(peer.conf), "%s/config.js", peer.dir);
    snprintf(peer.out, sizeof(peer.out), "%s/flush.jsonl", peer.dir);
    snprintf(peer.log, sizeof(peer.log), "%s/statsd.log", peer.dir);
    for (int attempt = 0; attempt < 5; attempt++) {
        if (peer_start(src))
            return 0;
        print_log();
        peer_stop();
    }
    fprintf(stderr, "statsd did not start\n");
    return -1;
}

static int group_teardown(void **state)
{
    peer_stop();
    if (peer.dir[0]) {
        unlink(peer.conf);
        unlink(peer.out);
        unlink(peer.log);
        rmdir(peer.dir);
    }
    return 0;
}

/* ---- sending ------------------------------------------------------------------------------- */

/* A pt_stats for statsd with the service `service` (host "h"), ready to send: a probe counter
 * is flushed until a datagram goes (the name is resolved on pt-work, and until then samples
 * could not travel). */
static pt_stats *stats_for(const char *service, unsigned timer_budget)
{
    pt_stats_options o = {.service = service, .host = "h", .statsd_host = "127.0.0.1",
                          .statsd_port = peer.port, .interval_ms = 3600000,
                          .timer_budget = timer_budget};
    pt_stats *s;
    pt_stats_counters c;
    uint64_t end = now_ms() + WAIT_MS;

    assert_int_equal(pt_stats_new(&o, &s), 0);
    pt_counter_inc(pt_stats_counter(s, "probe", NULL));
    do {
        assert_int_equal(pt_stats_flush(s, WAIT_MS), 0);
        pt_stats_counters_get(s, &c);
        if (c.datagrams == 0)
            sleep_ms(5);
    } while (c.datagrams == 0 && now_ms() < end);
    assert_true(c.datagrams > 0);
    return s;
}

/* Flushes s, waits for 3 flushes of statsd (the first may have come before our datagrams were
 * read) and returns every record; *from is where this round's records begin. */
static json_t *flush_and_wait(pt_stats *s, size_t *from)
{
    pt_stats_counters c0, c1;

    *from = nrecords();
    pt_stats_counters_get(s, &c0);
    assert_int_equal(pt_stats_flush(s, WAIT_MS), 0);
    pt_stats_counters_get(s, &c1);
    assert_int_equal(c1.send_errors, c0.send_errors);
    return wait_records(*from + 3);
}

typedef struct work {
    pt_counter *c;
    pt_timer *t;
    int n, samples;
} work;

static void *hammer(void *arg)
{
    const work *w = arg;
    for (int i = 0; i < w->n; i++)
        pt_counter_inc(w->c);
    for (int i = 0; i < w->samples; i++)
        pt_timer_record_ns(w->t, 1000000 + (int64_t)i * 1000);
    return NULL;
}

/* What a test holds, released by its teardown even when an assertion fails. */
static struct {
    pt_stats *s;
    json_t *all;
} cur;

static int test_teardown(void **state)
{
    pt_stats_free(cur.s);
    json_decref(cur.all);
    memset(&cur, 0, sizeof(cur));
    return 0;
}

/* ---- tests ------------------------------------------------------------------------------------- */

static void test_series(void **state)
{
    size_t from;
    pthread_t th[2];
    double vals[64];

    if (peer.skip)
        skip();
    pt_stats *s = cur.s = stats_for("s1", 0);

    /* A gauge statsd already holds positive goes negative: "0|g" first, or statsd would add. */
    pt_gauge *neg = pt_stats_gauge(s, "neg", NULL);
    pt_gauge_set(neg, 3);
    json_t *all = cur.all = flush_and_wait(s, &from);
    assert_true(last_gauge(all, "s1.h.neg") == 3);
    json_decref(all);
    cur.all = NULL;

    work w = {.c = pt_stats_counter(s, "hits", NULL), .t = pt_stats_timer(s, "slow", NULL),
              .n = 50000, .samples = 500};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &w), 0);
    pt_counter_add(pt_stats_counter(s, "tagged", "route:a"), 7);
    pt_gauge_set(neg, -5.5);
    pt_gauge_set(pt_stats_gauge(s, "temp", NULL), 21.5);
    pt_gauge *added = pt_stats_gauge(s, "added", NULL);
    pt_gauge_set(added, 10);
    pt_gauge_add(added, -3);
    pt_gauge_set(pt_stats_gauge(s, "big", NULL), -1e6);
    pt_timer *fast = pt_stats_timer(s, "fast", NULL);
    for (int i = 1; i <= 50; i++) /* 0.5 ms .. 25 ms: below the budget, every one travels */
        pt_timer_record_ns(fast, (int64_t)i * 500000);
    pt_histogram *h = pt_stats_histogram(s, "size", NULL, NULL, 0);
    pt_histogram_observe(h, 1);
    pt_histogram_observe(h, 2.5);
    pt_histogram_observe(h, 1000);
    pt_set *users = pt_stats_set(s, "users", NULL);
    pt_set_add(users, "alice");
    pt_set_add(users, "bob");
    pt_set_add(users, "alice");
    pt_set_add(users, "carol");
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    all = cur.all = flush_and_wait(s, &from);

    assert_true(sum_of(all, from, "counters", "s1.h.hits") == 100000);
    assert_true(sum_of(all, from, "counters", "s1.h.tagged.route.a") == 7);
    assert_true(sum_of(all, from, "counters", "statsd.bad_lines_seen") == 0);
    assert_true(last_gauge(all, "s1.h.neg") == -5.5);
    assert_true(last_gauge(all, "s1.h.temp") == 21.5);
    assert_true(last_gauge(all, "s1.h.added") == 7);
    assert_true(last_gauge(all, "s1.h.big") == -1e6);

    assert_true(sum_of(all, from, "timer_counts", "s1.h.fast") == 50);
    assert_int_equal(timer_values(all, from, "s1.h.fast", vals, 64), 50);
    double sum = 0;
    for (int i = 0; i < 50; i++)
        sum += vals[i];
    assert_true(sum == 637.5); /* 0.5 * (1 + .. + 50), each exact in ms */
    /* 1000 samples, a budget of 100: 100 travel with @0.1 and statsd counts 1000. */
    assert_true(sum_of(all, from, "timer_counts", "s1.h.slow") == 1000);
    assert_int_equal(timer_values(all, from, "s1.h.slow", vals, 0), 100);
    assert_true(sum_of(all, from, "timer_counts", "s1.h.size") == 3);
    assert_int_equal(timer_values(all, from, "s1.h.size", vals, 64), 3);
    assert_true(vals[0] + vals[1] + vals[2] == 1003.5);
    assert_int_equal(set_size(all, from, "s1.h.users"), 3);
}

/* 300 samples, a budget of 100: statsd's count must be 300 (to a double's rounding). */
static void test_rate_third(void **state)
{
    size_t from;

    if (peer.skip)
        skip();
    pt_stats *s = cur.s = stats_for("s2", 0);
    pt_timer *t = pt_stats_timer(s, "odd", NULL);
    for (int i = 0; i < 300; i++)
        pt_timer_record_ns(t, 1000000);
    json_t *all = cur.all = flush_and_wait(s, &from);
    double count = sum_of(all, from, "timer_counts", "s2.h.odd");
    fprintf(stderr, "statsd counts %.9f of 300\n", count);
    /* A third: the rate goes in the fewest digits that read back exactly, so statsd's count is exact. */
    assert_true(fabs(count - 300) <= 1e-9 * 300);
}

static void *record_many(void *arg)
{
    for (int i = 0; i < 20000; i++)
        pt_timer_record_ns(arg, 1000000);
    return NULL;
}

/* 20000 samples, a budget of 1: rate 1/20000, which statsd must read as such. */
static void test_rate_tiny(void **state)
{
    size_t from;
    pthread_t th;

    if (peer.skip)
        skip();
    pt_stats *s = cur.s = stats_for("s3", 1);
    pt_timer *t = pt_stats_timer(s, "tiny", NULL);
    assert_int_equal(pthread_create(&th, NULL, record_many, t), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    json_t *all = cur.all = flush_and_wait(s, &from);
    double count = sum_of(all, from, "timer_counts", "s3.h.tiny");
    fprintf(stderr, "statsd counts %.9f of 20000\n", count);
    /* A tiny rate goes in fixed notation ("5e-05" would read as 5). */
    assert_true(fabs(count - 20000) <= 1e-9 * 20000);
}

/* A gauge at 5 set to -0.0 (what 0 * -1 gives) must read 0 in statsd. */
static void test_negative_zero(void **state)
{
    size_t from;

    if (peer.skip)
        skip();
    pt_stats *s = cur.s = stats_for("s4", 0);
    pt_gauge *g = pt_stats_gauge(s, "z", NULL);
    pt_gauge_set(g, 5);
    json_decref(flush_and_wait(s, &from));
    pt_gauge_set(g, -0.0);
    json_t *all = cur.all = flush_and_wait(s, &from);
    double v = last_gauge(all, "s4.h.z");
    /* -0 goes as "0|g": a signed value would be a change. */
    assert_true(v == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_series, test_teardown),
        cmocka_unit_test_teardown(test_rate_third, test_teardown),
        cmocka_unit_test_teardown(test_rate_tiny, test_teardown),
        cmocka_unit_test_teardown(test_negative_zero, test_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
