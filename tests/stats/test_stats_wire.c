/* The statsd wire form of potter/stats.h, read byte for byte by a receiver the test binds.
 *
 * A UDP socket on 127.0.0.1 (port 0) plays statsd; each test points a pt_stats at it with
 * host "h" and service "svc" (so every name is "svc.h.<name>"), an interval of an hour, and
 * flushes with pt_stats_flush(). After a flush the test reads as many datagrams as the client
 * says it sent (pt_stats_counters_get().datagrams), so nothing is left to timing.
 *
 * Checked: counter deltas (no line when unchanged) and running totals; gauges, a negative one
 * as "0|g" then the value in the same datagram, -0 and NaN/Inf not sent as statsd would
 * misread them; timer samples in exact milliseconds; timers
 * and histograms beyond timer_budget sampled with "@rate" so that the sum of 1/rate is the
 * count, also when every sample of a timer was dropped by a full ring; sets deduplicated;
 * tags folded into names and as DogStatsD "|#k:v"; sanitising of names, tags, service and
 * host; the prefix; datagrams never above max_packet and lines never split; a unix datagram
 * socket (8192 bytes by default); counts of 2 threads and of a thread that exited; handles
 * (same key, same handle; a name of another kind refused and counted); an unreachable statsd,
 * a name that does not resolve and a destination that appears later; a unix socket path too
 * long; a full socket buffer; a second registry without statsd whose samples must not pile
 * up; the flush of pt_stats_free() (also before the host was resolved) and of the interval
 * timer.
 *
 * PT_TEST_FILTER and PT_TEST_SKIP (cmocka patterns such as "test_gauge*") choose tests. */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "potter/stats.h"
#include "stats/stats_internal.h" /* only to see a counter wait while statsd does not resolve */

#define WAIT_MS 5000
#define HOUR_MS 3600000u

/* ---- time -------------------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* ---- what the receiver got ------------------------------------------------------------------ */

typedef struct rx_got {
    size_t n, nlines;
    char **dg; /* each datagram, NUL-terminated */
    size_t *len;
    char **line; /* each line of each datagram, in order */
} rx_got;

static void got_free(rx_got *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->dg[i]);
    for (size_t i = 0; i < g->nlines; i++)
        free(g->line[i]);
    free(g->dg);
    free(g->len);
    free(g->line);
    memset(g, 0, sizeof(*g));
}

static void got_add(rx_got *g, const char *data, size_t len)
{
    g->dg = realloc(g->dg, (g->n + 1) * sizeof(*g->dg));
    g->len = realloc(g->len, (g->n + 1) * sizeof(*g->len));
    assert_non_null(g->dg);
    assert_non_null(g->len);
    g->dg[g->n] = strndup(data, len);
    g->len[g->n++] = len;
    for (const char *p = data, *end = data + len; p <= end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        g->line = realloc(g->line, (g->nlines + 1) * sizeof(*g->line));
        assert_non_null(g->line);
        g->line[g->nlines++] = strndup(p, n);
        p += n + 1;
    }
}

/* Reads datagrams until `want` have come (want 0: until none is waiting), each wait at most
 * WAIT_MS. */
static void rx_read(int fd, rx_got *g, size_t want)
{
    static char buf[65536];

    for (;;) {
        if (want && g->n >= want)
            return;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, want ? WAIT_MS : 0) <= 0) {
            if (want)
                fail_msg("received %zu datagrams, waited for %zu", g->n, want);
            return;
        }
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n >= 0)
            got_add(g, buf, (size_t)n);
    }
}

static void got_print(const rx_got *g)
{
    for (size_t i = 0; i < g->n; i++)
        fprintf(stderr, "  datagram %zu (%zu bytes): %s\n", i, g->len[i], g->dg[i]);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Asserts the lines received are exactly these (NULL-terminated), in any order. */
static void expect_lines(const rx_got *g, ...)
{
    const char *want[256];
    size_t n = 0;
    va_list ap;

    va_start(ap, g);
    for (const char *w; (w = va_arg(ap, const char *)) != NULL;)
        want[n++] = w;
    va_end(ap);
    char **have = calloc(g->nlines + 1, sizeof(*have));
    assert_non_null(have);
    memcpy(have, g->line, g->nlines * sizeof(*have));
    qsort(have, g->nlines, sizeof(*have), cmp_str);
    qsort(want, n, sizeof(*want), cmp_str);
    int same = n == g->nlines;
    for (size_t i = 0; same && i < n; i++)
        same = strcmp(want[i], have[i]) == 0;
    free(have);
    if (!same) {
        fprintf(stderr, "want %zu lines:\n", n);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "  %s\n", want[i]);
        fprintf(stderr, "got:\n");
        got_print(g);
        fail_msg("the lines differ");
    }
}

static size_t count_line(const rx_got *g, const char *line)
{
    size_t n = 0;
    for (size_t i = 0; i < g->nlines; i++)
        n += strcmp(g->line[i], line) == 0;
    return n;
}

/* ---- the fixture ------------------------------------------------------------------------------ */

typedef struct fx {
    int rx; /* the receiver: UDP, or unix datagram when path[0] */
    unsigned port;
    char dir[64], path[108]; /* a temporary folder and the unix socket in it */
    pt_stats *stats;
    pt_stats *other; /* a second registry, when a test makes one */
    uint64_t seen; /* datagrams read so far */
    rx_got got; /* of the last fx_flush() */
} fx;

static int udp_bind(unsigned *port, int rcvbuf)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static int unix_bind(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    f->rx = udp_bind(&f->port, 1 << 20);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;

    pt_stats_free(f->stats);
    pt_stats_free(f->other);
    got_free(&f->got);
    if (f->rx >= 0)
        close(f->rx);
    if (f->dir[0]) {
        unlink(f->path);
        rmdir(f->dir);
    }
    free(f);
    return 0;
}

/* Options for the receiver of f: service "svc", host "h", an hour's interval. */
static pt_stats_options fx_opts(const fx *f)
{
    pt_stats_options o = {.service = "svc", .host = "h", .statsd_host = "127.0.0.1",
                          .statsd_port = f->port, .interval_ms = HOUR_MS};
    return o;
}

/* Flushes, then reads what the flush sent into f->got: as many datagrams as the client counts
 * sent since the last read, and not one more. */
static void fx_flush(fx *f)
{
    pt_stats_counters c;

    got_free(&f->got);
    assert_int_equal(pt_stats_flush(f->stats, WAIT_MS), 0);
    pt_stats_counters_get(f->stats, &c);
    size_t want = (size_t)(c.datagrams - f->seen);
    if (want)
        rx_read(f->rx, &f->got, want);
    rx_read(f->rx, &f->got, 0);
    f->seen = c.datagrams;
    if (f->got.n != want)
        got_print(&f->got);
    assert_int_equal(f->got.n, want);
}

/* Makes f->stats with o and waits until it can send (statsd_host is resolved on pt-work):
 * a probe counter is flushed until its line comes. */
static void fx_start(fx *f, const pt_stats_options *o)
{
    uint64_t end = now_ns() + WAIT_MS * 1000000ull;

    f->seen = 0;
    assert_int_equal(pt_stats_new(o, &f->stats), 0);
    pt_counter *probe = pt_stats_counter(f->stats, "probe", NULL);
    pt_counter_inc(probe);
    do {
        fx_flush(f);
        if (f->got.n > 0)
            break;
        sleep_ms(5);
    } while (now_ns() < end);
    assert_true(f->got.n > 0);
    got_free(&f->got);
}

static void fx_start_default(fx *f)
{
    pt_stats_options o = fx_opts(f);
    fx_start(f, &o);
}

static double line_rate(const char *line, char *value, size_t vlen, const char **rate_text);

/* ---- counters and gauges ------------------------------------------------------------------- */

static void test_counter_deltas(void **state)
{
    fx *f = *state;
    pt_stats_counters c0, c1;

    fx_start_default(f);
    pt_counter *req = pt_stats_counter(f->stats, "req", NULL);
    pt_counter *idle = pt_stats_counter(f->stats, "idle", NULL);
    (void)idle;
    pt_stats_counters_get(f->stats, &c0);
    pt_counter_add(req, 5);
    pt_counter_inc(req);
    fx_flush(f);
    expect_lines(&f->got, "svc.h.req:6|c", NULL);
    pt_stats_counters_get(f->stats, &c1);
    assert_int_equal(c1.flushes, c0.flushes + 1);
    assert_int_equal(c1.datagrams, c0.datagrams + 1);
    assert_int_equal(c1.bytes, c0.bytes + strlen("svc.h.req:6|c"));

    fx_flush(f); /* unchanged: nothing at all */
    assert_int_equal(f->got.n, 0);
    pt_counter_add(req, 3);
    fx_flush(f);
    expect_lines(&f->got, "svc.h.req:3|c", NULL);

    /* A running total kept elsewhere: what it grew by; a reset starts again from there. */
    pt_counter *tot = pt_stats_counter(f->stats, "tot", NULL);
    pt_counter_set_total(tot, 10);
    fx_flush(f);
    expect_lines(&f->got, "svc.h.tot:10|c", NULL);
    pt_counter_set_total(tot, 15);
    fx_flush(f);
    expect_lines(&f->got, "svc.h.tot:5|c", NULL);
    pt_counter_set_total(tot, 15);
    fx_flush(f);
    assert_int_equal(f->got.n, 0);
    pt_counter_set_total(tot, 3);
    pt_counter_set_total(tot, 7);
    fx_flush(f);
    expect_lines(&f->got, "svc.h.tot:4|c", NULL);
}

static void test_gauges(void **state)
{
    fx *f = *state;

    fx_start_default(f);
    pt_gauge *g = pt_stats_gauge(f->stats, "g", NULL);
    pt_gauge *never = pt_stats_gauge(f->stats, "never", NULL); /* never set: no line */
    (void)never;
    pt_gauge_set(g, 3.5);
    fx_flush(f);
    expect_lines(&f->got, "svc.h.g:3.5|g", NULL);

    pt_gauge_set(g, -5.5); /* "-5.5|g" alone would mean "less 5.5" */
    fx_flush(f);
    assert_int_equal(f->got.n, 1);
    assert_string_equal(f->got.dg[0], "svc.h.g:0|g\nsvc.h.g:-5.5|g");

    pt_gauge_add(g, 10);
    pt_gauge_add(g, 0.25);
    fx_flush(f);
    expect_lines(&f->got, "svc.h.g:4.75|g", NULL);
    pt_gauge_set(g, 0);
    fx_flush(f);
    expect_lines(&f->got, "svc.h.g:0|g", NULL);
    pt_gauge_set(g, 1e6);
    fx_flush(f);
    expect_lines(&f->got, "svc.h.g:1000000|g", NULL);
}

/* A gauge statsd could not read ("nan", "inf") is not sent; -0 goes as "0" ("-0|g" would be
 * read as "less 0", leaving statsd's old value). */
static void test_gauge_odd_values(void **state)
{
    fx *f = *state;

    fx_start_default(f);
    pt_gauge *g = pt_stats_gauge(f->stats, "g", NULL);
    pt_gauge_set(g, 5);
    fx_flush(f);
    expect_lines(&f->got, "svc.h.g:5|g", NULL);
    pt_gauge_set(g, -0.0);
    fx_flush(f);
    /* -0 goes as "0", which etsy statsd sets ("-0" would be added to 5). */
    expect_lines(&f->got, "svc.h.g:0|g", NULL);
}

static void test_gauge_not_finite(void **state)
{
    fx *f = *state;
    char v[64];
    const char *rt;

    fx_start_default(f);
    pt_gauge *g = pt_stats_gauge(f->stats, "g", NULL), *h = pt_stats_gauge(f->stats, "h", NULL);
    pt_gauge_set(g, NAN);
    pt_gauge_set(h, 1);
    pt_gauge_add(h, INFINITY);
    fx_flush(f);
    for (size_t i = 0; i < f->got.nlines; i++) {
        char *end;
        line_rate(f->got.line[i], v, sizeof(v), &rt);
        double d = strtod(v, &end);
        if (*end != '\0' || !isfinite(d))
            fprintf(stderr, "not a number statsd reads: \"%s\"\n", f->got.line[i]);
        /* NaN and infinities are refused (statsd counts them as bad lines). */
        assert_true(*end == '\0' && isfinite(d));
    }
}

/* ---- timers, histograms and sets ------------------------------------------------------------- */

static void test_timer_ms_exact(void **state)
{
    fx *f = *state;

    fx_start_default(f);
    pt_timer *t = pt_stats_timer(f->stats, "t", NULL);
    pt_timer_record_ns(t, 1250000);
    pt_timer_record_ns(t, 3000000);
    pt_timer_record_ns(t, 1);
    pt_timer_record_ns(t, 0);
    pt_timer_record_ns(t, -5); /* a clock that went back: 0 */
    pt_timer_record_ns(t, 123456789012);
    fx_flush(f);
    expect_lines(&f->got, "svc.h.t:1.25|ms", "svc.h.t:3|ms", "svc.h.t:0.000001|ms", "svc.h.t:0|ms",
                 "svc.h.t:0|ms", "svc.h.t:123456.789012|ms", NULL);
    fx_flush(f); /* nothing recorded since */
    assert_int_equal(f->got.n, 0);
}

static void test_histogram_values(void **state)
{
    fx *f = *state;
    static const double bounds[] = {1, 10, 100};

    fx_start_default(f);
    pt_histogram *h = pt_stats_histogram(f->stats, "size", NULL, bounds, 3);
    pt_histogram_observe(h, 42);
    pt_histogram_observe(h, 0.5);
    pt_histogram_observe(h, 1000);
    pt_histogram_observe(h, 3.25);
    fx_flush(f); /* |ms: etsy statsd reads |h as a counter */
    expect_lines(&f->got, "svc.h.size:42|ms", "svc.h.size:0.5|ms", "svc.h.size:1000|ms",
                 "svc.h.size:3.25|ms", NULL);
}

/* Splits "name:value|type[|@rate][|#tags]"; returns the rate (1 without one). */
static double line_rate(const char *line, char *value, size_t vlen, const char **rate_text)
{
    const char *colon = strchr(line, ':'), *bar = colon ? strchr(colon, '|') : NULL;
    const char *at = strstr(line, "|@");

    assert_non_null(bar);
    snprintf(value, vlen, "%.*s", (int)(bar - colon - 1), colon + 1);
    *rate_text = at ? at + 2 : NULL;
    return at ? strtod(at + 2, NULL) : 1;
}

/* The rate as etsy statsd reads it: Number(/^@([\d\.]+)/), so "5e-05" is 5. */
static int rate_statsd_readable(const char *rate_text)
{
    size_t n = strspn(rate_text, "0123456789.");
    return n > 0 && (rate_text[n] == '\0' || rate_text[n] == '|');
}

/* The sum of 1/rate is the count, to a double's rounding. */
static int near(double sum, double count)
{
    return fabs(sum - count) <= 1e-9 * count;
}

/* Sum over the lines of `name` of 1/rate, each rate checked as statsd reads it. */
static double count_by_rates(const rx_got *g, const char *prefix, size_t *nlines, int *unreadable)
{
    double sum = 0;
    char v[64];

    *nlines = 0;
    *unreadable = 0;
    for (size_t i = 0; i < g->nlines; i++) {
        const char *rt;
        if (strncmp(g->line[i], prefix, strlen(prefix)) != 0)
            continue;
        double r = line_rate(g->line[i], v, sizeof(v), &rt);
        if (rt && !rate_statsd_readable(rt))
            (*unreadable)++;
        sum += 1 / r;
        (*nlines)++;
    }
    return sum;
}

static void test_timer_sampled(void **state)
{
    fx *f = *state;
    pt_stats_options o = fx_opts(f);
    size_t n;
    int bad;
    char v[64];
    const char *rt;

    o.timer_budget = 10;
    fx_start(f, &o);
    pt_timer *t = pt_stats_timer(f->stats, "t", NULL);
    pt_histogram *h = pt_stats_histogram(f->stats, "h", NULL, NULL, 0);
    for (int i = 1; i <= 40; i++) {
        pt_timer_record_ns(t, i * 1000000);
        pt_histogram_observe(h, i);
    }
    pt_timer *under = pt_stats_timer(f->stats, "under", NULL);
    for (int i = 0; i < 10; i++) /* at the budget: every sample, no rate */
        pt_timer_record_ns(under, 2000000);
    fx_flush(f);
    assert_int_equal(f->got.nlines, 30);
    double sum = count_by_rates(&f->got, "svc.h.t:", &n, &bad);
    assert_int_equal(n, 10);
    assert_true(sum == 40);
    int seen[2][41] = {{0}};
    for (size_t i = 0; i < f->got.nlines; i++) {
        const char *l = f->got.line[i];
        double r = line_rate(l, v, sizeof(v), &rt);
        if (strncmp(l, "svc.h.under:", 12) == 0) {
            assert_string_equal(l, "svc.h.under:2|ms");
            continue;
        }
        assert_non_null(strstr(l, "|ms|@0.25"));
        assert_true(r == 0.25);
        int k = atoi(v); /* a value really recorded, and each at most once */
        assert_true(k >= 1 && k <= 40 && strspn(v, "0123456789") == strlen(v));
        assert_int_equal(seen[strncmp(l, "svc.h.h:", 8) == 0][k]++, 0);
    }
    assert_true(count_by_rates(&f->got, "svc.h.h:", &n, &bad) == 40);
    assert_int_equal(n, 10);
}

/* 300 samples with a budget of 100: rate 1/3. statsd counts 1/rate per line, so the rate
 * must be written with enough digits for 100 of them to make 300 (to a double's rounding). */
static void test_timer_rate_precision(void **state)
{
    fx *f = *state;
    size_t n;
    int bad;

    fx_start_default(f);
    pt_timer *t = pt_stats_timer(f->stats, "t", NULL);
    for (int i = 0; i < 300; i++)
        pt_timer_record_ns(t, 1000000);
    fx_flush(f);
    double sum = count_by_rates(&f->got, "svc.h.t:", &n, &bad);
    assert_int_equal(n, 100);
    if (!near(sum, 300))
        fprintf(stderr, "sum of 1/rate %.9f, line \"%s\"\n", sum, f->got.line[0]);
    /* The rate goes in the fewest digits that read back exactly: statsd counts 300. */
    assert_true(near(sum, 300));
}

static void *record_in_thread(void *arg)
{
    pt_timer **t = arg; /* t[0] fills the ring, then every sample of t[1] is dropped */
    for (int i = 0; i < PT__STATS_RING; i++)
        pt_timer_record_ns(t[0], 1000000);
    for (int i = 0; i < 5000; i++)
        pt_timer_record_ns(t[1], 2000000 + (i % 2) * 2000000); /* mean 3 ms */
    return NULL;
}

/* A thread records more samples than its ring holds (8192) between two flushes: the first
 * timer's samples go sampled, the second's were all dropped and go as one line at their mean
 * with @1/count. Counts stay exact. */
static void test_timer_samples_dropped(void **state)
{
    fx *f = *state;
    pt_stats_options o = fx_opts(f);
    pt_stats_counters c0, c1;
    pthread_t th;
    size_t n;
    int bad;

    o.timer_budget = 128; /* 128/8192: a rate exact in 6 digits */
    fx_start(f, &o);
    pt_timer *t[2] = {pt_stats_timer(f->stats, "full", NULL), pt_stats_timer(f->stats, "lost", NULL)};
    pt_stats_counters_get(f->stats, &c0);
    assert_int_equal(pthread_create(&th, NULL, record_in_thread, t), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    pt_stats_counters_get(f->stats, &c1);
    assert_int_equal(c1.samples_dropped - c0.samples_dropped, 5000);
    fx_flush(f);
    assert_true(count_by_rates(&f->got, "svc.h.full:", &n, &bad) == PT__STATS_RING);
    assert_int_equal(n, 128);
    assert_int_equal(f->got.nlines, 129);
    assert_int_equal(count_line(&f->got, "svc.h.full:1|ms|@0.015625"), 128);
    assert_int_equal(count_line(&f->got, "svc.h.lost:3|ms|@0.0002"), 1);
    assert_true(near(count_by_rates(&f->got, "svc.h.lost:", &n, &bad), 5000));
    fx_flush(f);
    assert_int_equal(f->got.n, 0);
}

static void *record_many(void *arg)
{
    for (int i = 0; i < 20000; i++)
        pt_timer_record_ns(arg, 1000000);
    return NULL;
}

/* 20000 samples, a budget of 1: rate 1/20000. statsd reads the rate as /^@([\d.]+)/, so it
 * must be written without an exponent. */
static void test_timer_rate_tiny(void **state)
{
    fx *f = *state;
    pt_stats_options o = fx_opts(f);
    pthread_t th;
    size_t n;
    int bad;

    o.timer_budget = 1;
    fx_start(f, &o);
    pt_timer *t = pt_stats_timer(f->stats, "t", NULL);
    assert_int_equal(pthread_create(&th, NULL, record_many, t), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    fx_flush(f);
    assert_int_equal(f->got.nlines, 1);
    assert_true(near(count_by_rates(&f->got, "svc.h.t:", &n, &bad), 20000));
    if (bad)
        fprintf(stderr, "statsd reads this rate as %s: \"%s\"\n",
                strstr(f->got.line[0], "|@") + 2, f->got.line[0]);
    /* A tiny rate goes in fixed notation ("@5e-05" would be read as a rate of 5). */
    assert_int_equal(bad, 0);
}

static void test_set_dedup(void **state)
{
    fx *f = *state;
    char first[128];

    fx_start_default(f);
    pt_set *s = pt_stats_set(f->stats, "users", NULL);
    /* A set nobody added to: no line. (UBSan: flush.c's count_unique() qsort()s its NULL
     * batch, "null pointer passed as argument 1".) */
    pt_stats_set(f->stats, "empty", NULL);
    pt_set_add(s, "alice");
    pt_set_add(s, "bob");
    pt_set_add(s, "alice");
    pt_set_add(s, "carol");
    pt_set_add(s, "bob");
    fx_flush(f);
    assert_int_equal(f->got.nlines, 3);
    for (size_t i = 0; i < 3; i++) { /* "svc.h.users:<16 hex>|s", all different */
        const char *l = f->got.line[i];
        assert_int_equal(strncmp(l, "svc.h.users:", 12), 0);
        assert_int_equal(strspn(l + 12, "0123456789abcdef"), 16);
        assert_string_equal(l + 28, "|s");
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(l, f->got.line[j]);
    }
    /* The same member is the same token in the next interval; nothing added, nothing sent. */
    snprintf(first, sizeof(first), "%s", f->got.line[0]);
    fx_flush(f);
    assert_int_equal(f->got.n, 0);
    pt_set_add(s, "alice");
    pt_set_add(s, "bob");
    pt_set_add(s, "carol");
    fx_flush(f);
    assert_int_equal(f->got.nlines, 3);
    assert_int_equal(count_line(&f->got, first), 1);
}

/* ---- names and tags ---------------------------------------------------------------------------- */

static void test_tags_folded(void **state)
{
    fx *f = *state;

    fx_start_default(f);
    pt_counter_inc(pt_stats_counter(f->stats, "req", "route:hello,code:200"));
    pt_counter_inc(pt_stats_counter(f->stats, "req", NULL));
    pt_timer_record_ns(pt_stats_timer(f->stats, "t", "k:v"), 2000000);
    pt_gauge_set(pt_stats_gauge(f->stats, "g", "k:v"), -1);
    pt_set_add(pt_stats_set(f->stats, "s", "k:v"), "x");
    fx_flush(f);
    assert_int_equal(f->got.nlines, 6);
    assert_int_equal(count_line(&f->got, "svc.h.req.route.hello.code.200:1|c"), 1);
    assert_int_equal(count_line(&f->got, "svc.h.req:1|c"), 1);
    assert_int_equal(count_line(&f->got, "svc.h.t.k.v:2|ms"), 1);
    assert_int_equal(count_line(&f->got, "svc.h.g.k.v:0|g"), 1);
    assert_int_equal(count_line(&f->got, "svc.h.g.k.v:-1|g"), 1);
    for (size_t i = 0; i < f->got.nlines; i++)
        assert_null(strstr(f->got.line[i], "|#"));
}

static void test_tags_dogstatsd(void **state)
{
    fx *f = *state;
    pt_stats_options o = fx_opts(f);

    o.dogstatsd_tags = 1;
    o.timer_budget = 1;
    fx_start(f, &o);
    pt_counter_inc(pt_stats_counter(f->stats, "req", "route:hello,code:200"));
    pt_counter_add(pt_stats_counter(f->stats, "plain", NULL), 2);
    pt_timer *t = pt_stats_timer(f->stats, "t", "k:v");
    pt_timer_record_ns(t, 1000000);
    pt_timer_record_ns(t, 1000000);
    pt_gauge_set(pt_stats_gauge(f->stats, "g", "k:v"), -1);
    fx_flush(f);
    expect_lines(&f->got, "svc.h.req:1|c|#route:hello,code:200", "svc.h.plain:2|c",
                 "svc.h.t:1|ms|@0.5|#k:v", "svc.h.g:0|g|#k:v", "svc.h.g:-1|g|#k:v", NULL);
    pt_set_add(pt_stats_set(f->stats, "s", "k:v"), "x");
    fx_flush(f);
    assert_int_equal(f->got.nlines, 3); /* the set, and the gauge again */
    const char *set = NULL;
    for (size_t i = 0; i < 3; i++)
        if (strncmp(f->got.line[i], "svc.h.s:", 8) == 0)
            set = f->got.line[i];
    assert_non_null(set);
    assert_string_equal(set + 8 + 16, "|s|#k:v");
}

/* Outside [A-Za-z0-9_.-] every byte becomes '_', in names, tag keys and values, the service,
 * the prefix and the host (whose dots become '_' too). */
static void test_sanitize(void **state)
{
    fx *f = *state;
    pt_stats_options o = fx_opts(f);

    o.prefix = "pre fix";
    o.service = "my svc";
    o.host = "web1.dc.example.com";
    fx_start(f, &o);
    pt_counter *c = pt_stats_counter(f->stats, "a b:c|d", NULL);
    assert_ptr_equal(pt_stats_counter(f->stats, "a_b_c_d", NULL), c); /* the same, once clean */
    pt_counter_inc(c);
    pt_counter_inc(pt_stats_counter(f->stats, "x@y#z,w", NULL));
    pt_counter_inc(pt_stats_counter(f->stats, "ok.Name-1_2", NULL));
    pt_counter_inc(pt_stats_counter(f->stats, "caf\xc3\xa9", NULL));
    pt_counter_inc(pt_stats_counter(f->stats, "t", "k y:v|1, bad:x@y"));
    pt_counter_inc(pt_stats_counter(f->stats, "u", "k:v:w"));
    pt_counter_inc(pt_stats_counter(f->stats, "w", ",,flag,,"));
    pt_counter_inc(pt_stats_counter(f->stats, "e", "")); /* "" is no tags */
    assert_ptr_equal(pt_stats_counter(f->stats, "e", NULL), pt_stats_counter(f->stats, "e", ""));
    fx_flush(f);
#define P "pre_fix.my_svc.web1_dc_example_com."
    expect_lines(&f->got, P "a_b_c_d:1|c", P "x_y_z_w:1|c", P "ok.Name-1_2:1|c", P "caf__:1|c",
                 P "t.k_y.v_1._bad.x_y:1|c", P "u.k.v_w:1|c", P "w.flag:1|c", P "e:1|c", NULL);
    pt_stats_free(f->stats);
    f->stats = NULL;

    o.dogstatsd_tags = 1;
    fx_start(f, &o);
    pt_counter_inc(pt_stats_counter(f->stats, "t", "k y:v|1, bad:x@y"));
    pt_counter_inc(pt_stats_counter(f->stats, "w", ",,flag,,"));
    fx_flush(f);
    expect_lines(&f->got, P "t:1|c|#k_y:v_1,_bad:x_y", P "w:1|c|#flag", NULL);
#undef P
}

static void test_prefix(void **state)
{
    fx *f = *state;
    pt_stats_options o = fx_opts(f);
    const char *prefixes[] = {"services", "", NULL};
    const char *want[] = {"services.svc.h.req:1|c", "svc.h.req:1|c", "svc.h.req:1|c"};

    for (int i = 0; i < 3; i++) {
        o.prefix = prefixes[i];
        fx_start(f, &o);
        pt_counter_inc(pt_stats_counter(f->stats, "req", NULL));
        fx_flush(f);
        expect_lines(&f->got, want[i], NULL);
        pt_stats_free(f->stats);
        f->stats = NULL;
    }
}

/* ---- packing -------------------------------------------------------------------------------------- */

/* Every datagram at most max bytes, no empty line, and full: the next datagram's first unit
 * (a line, or `unit` lines that travel together) would not have fitted. */
static void check_packed(const rx_got *g, size_t max, int unit)
{
    for (size_t i = 0; i < g->n; i++) {
        assert_true(g->len[i] > 0 && g->len[i] <= max);
        assert_true(g->dg[i][0] != '\n' && g->dg[i][g->len[i] - 1] != '\n');
        assert_null(strstr(g->dg[i], "\n\n"));
        if (i + 1 == g->n)
            continue;
        size_t first = 0;
        for (int k = 0; k < unit; k++)
            first += strcspn(g->dg[i + 1] + first + (k > 0), "\n") + (k > 0);
        if (g->len[i] + 1 + first <= max)
            fail_msg("datagram %zu (%zu bytes) had room for the next %zu bytes", i, g->len[i], first);
    }
}

static void test_packing(void **state)
{
    fx *f = *state;
    pt_stats_options o = fx_opts(f);
    pt_stats_counters c0, c1;
    char name[32], line[64];
    int seen[500] = {0};

    o.max_packet = 200;
    fx_start(f, &o);
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof(name), "c%03d", i);
        pt_counter_inc(pt_stats_counter(f->stats, name, NULL));
    }
    fx_flush(f);
    assert_int_equal(f->got.nlines, 500);
    assert_true(f->got.n >= 500 * strlen("svc.h.c000:1|c\n") / 200);
    check_packed(&f->got, 200, 1);
    for (size_t i = 0; i < f->got.nlines; i++) { /* each line whole, each counter once */
        int k = -1;
        assert_int_equal(sscanf(f->got.line[i], "svc.h.c%3d:1|c", &k), 1);
        assert_true(k >= 0 && k < 500);
        snprintf(line, sizeof(line), "svc.h.c%03d:1|c", k);
        assert_string_equal(f->got.line[i], line);
        assert_int_equal(seen[k]++, 0);
    }

    /* Negative gauges: "0|g" and the value always in the same datagram. */
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "g%02d", i);
        pt_gauge_set(pt_stats_gauge(f->stats, name, NULL), -1.5);
    }
    fx_flush(f);
    assert_int_equal(f->got.nlines, 80);
    check_packed(&f->got, 200, 2);
    for (size_t i = 0; i < f->got.n; i++) {
        const char *d = f->got.dg[i];
        while (*d) {
            char want[64];
            int k = -1;
            assert_int_equal(sscanf(d, "svc.h.g%2d:0|g\n", &k), 1);
            snprintf(want, sizeof(want), "svc.h.g%02d:0|g\nsvc.h.g%02d:-1.5|g", k, k);
            assert_int_equal(strncmp(d, want, strlen(want)), 0);
            d += strlen(want);
            d += *d == '\n';
        }
    }

    /* A line longer than a datagram cannot go: dropped and counted. */
    char longname[256];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    pt_stats_counters_get(f->stats, &c0);
    pt_counter_inc(pt_stats_counter(f->stats, longname, NULL));
    pt_counter_inc(pt_stats_counter(f->stats, "c000", NULL));
    fx_flush(f);
    assert_int_equal(f->got.nlines, 81); /* c000, and the gauges again */
    assert_int_equal(count_line(&f->got, "svc.h.c000:1|c"), 1);
    pt_stats_counters_get(f->stats, &c1);
    assert_int_equal(c1.send_errors, c0.send_errors + 1);
    assert_int_equal(c1.last_error, -EMSGSIZE);
}

/* f->path: a unix socket path in a temporary folder (made on first use). */
static const char *fx_path(fx *f)
{
    if (f->dir[0] == '\0') {
        snprintf(f->dir, sizeof(f->dir), "/tmp/pt-stats-wire-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/statsd.sock", f->dir);
    }
    return f->path;
}

static void use_unix(fx *f, pt_stats_options *o)
{
    fx_path(f);
    close(f->rx);
    f->rx = unix_bind(f->path);
    o->statsd_host = NULL;
    o->statsd_socket = f->path;
}

/* A unix datagram socket: datagrams up to 8192 bytes by default. */
static void test_unix_socket(void **state)
{
    fx *f = *state;
    pt_stats_options o = fx_opts(f);
    char name[32];
    size_t biggest = 0;

    use_unix(f, &o);
    fx_start(f, &o);
    for (int i = 0; i < 600; i++) {
        snprintf(name, sizeof(name), "u%03d", i);
        pt_counter_inc(pt_stats_counter(f->stats, name, NULL));
    }
    pt_gauge_set(pt_stats_gauge(f->stats, "g", NULL), -2);
    fx_flush(f);
    assert_int_equal(f->got.nlines, 602);
    check_packed(&f->got, 8192, 1);
    for (size_t i = 0; i < f->got.n; i++)
        biggest = f->got.len[i] > biggest ? f->got.len[i] : biggest;
    assert_true(biggest > 1432);
    assert_int_equal(count_line(&f->got, "svc.h.u599:1|c"), 1);
    assert_int_equal(count_line(&f->got, "svc.h.g:-2|g"), 1);
}

/* ---- threads -------------------------------------------------------------------------------------- */

typedef struct work {
    pt_counter *c;
    pt_timer *t;
    pt_gauge *g;
    pt_set *s;
    int n;
} work;

static void *hammer(void *arg)
{
    const work *w = arg;
    for (int i = 0; i < w->n; i++)
        pt_counter_inc(w->c);
    for (int i = 0; i < 1000; i++)
        pt_timer_record_ns(w->t, 1000000);
    return NULL;
}

static void test_threads_sum(void **state)
{
    fx *f = *state;
    work w;
    pthread_t th[2];
    size_t n;
    int bad;

    fx_start_default(f);
    w = (work){.c = pt_stats_counter(f->stats, "hits", NULL),
               .t = pt_stats_timer(f->stats, "t", NULL), .n = 1000000};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &w), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    fx_flush(f);
    assert_int_equal(count_line(&f->got, "svc.h.hits:2000000|c"), 1);
    assert_true(near(count_by_rates(&f->got, "svc.h.t:", &n, &bad), 2000)); /* 100 at @0.05 */
    assert_int_equal(n, 100);
    assert_int_equal(f->got.nlines, 101);
}

static void *update_and_exit(void *arg)
{
    const work *w = arg;
    pt_counter_add(w->c, (uint64_t)w->n);
    pt_timer_record_ns(w->t, 4500000);
    pt_timer_record_ns(w->t, 500000);
    pt_gauge_set(w->g, 9);
    pt_set_add(w->s, "m");
    return NULL;
}

/* A thread that exits before the flush hands its counts and samples over; they are sent once. */
static void test_thread_exit(void **state)
{
    fx *f = *state;
    pthread_t th;

    fx_start_default(f);
    work w = {.c = pt_stats_counter(f->stats, "c", NULL), .t = pt_stats_timer(f->stats, "t", NULL),
              .g = pt_stats_gauge(f->stats, "g", NULL), .s = pt_stats_set(f->stats, "s", NULL),
              .n = 7};
    assert_int_equal(pthread_create(&th, NULL, update_and_exit, &w), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    fx_flush(f);
    assert_int_equal(f->got.nlines, 5);
    assert_int_equal(count_line(&f->got, "svc.h.c:7|c"), 1);
    assert_int_equal(count_line(&f->got, "svc.h.t:4.5|ms"), 1);
    assert_int_equal(count_line(&f->got, "svc.h.t:0.5|ms"), 1);
    assert_int_equal(count_line(&f->got, "svc.h.g:9|g"), 1);

    fx_flush(f); /* folded into the retired totals: not counted again */
    expect_lines(&f->got, "svc.h.g:9|g", NULL);
    w.n = 2; /* another thread, another exit: the retired totals grow by that */
    assert_int_equal(pthread_create(&th, NULL, update_and_exit, &w), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    pt_counter_inc(w.c);
    fx_flush(f);
    assert_int_equal(count_line(&f->got, "svc.h.c:3|c"), 1);
}

/* ---- handles ----------------------------------------------------------------------------------- */

static void test_handles(void **state)
{
    fx *f = *state;
    pt_stats_counters c0, c1;
    static const double bad_bounds[] = {10, 5};

    fx_start_default(f);
    pt_counter *a = pt_stats_counter(f->stats, "dup", "k:v");
    assert_ptr_equal(pt_stats_counter(f->stats, "dup", "k:v"), a);
    assert_ptr_not_equal(pt_stats_counter(f->stats, "dup", "k:w"), a);
    pt_counter *plain = pt_stats_counter(f->stats, "dup", NULL);
    assert_ptr_not_equal(plain, a);
    assert_ptr_equal(pt_stats_counter(f->stats, "dup", NULL), plain);
    pt_timer *t = pt_stats_timer(f->stats, "tm", NULL);
    assert_ptr_equal(pt_stats_timer(f->stats, "tm", NULL), t);

    /* The same name as another kind: a handle whose updates are dropped and counted. */
    pt_stats_counters_get(f->stats, &c0);
    pt_gauge *g = pt_stats_gauge(f->stats, "dup", NULL);
    assert_non_null(g);
    assert_ptr_not_equal((void *)g, (void *)plain);
    pt_gauge_set(g, 1);
    pt_gauge_set(g, 2);
    pt_gauge_add(g, 3);
    pt_timer *t2 = pt_stats_timer(f->stats, "dup", NULL);
    pt_timer_record_ns(t2, 5);
    pt_set_add(pt_stats_set(f->stats, "tm", NULL), "x");
    pt_histogram_observe(pt_stats_histogram(f->stats, "tm", NULL, NULL, 0), 1);
    pt_histogram_observe(pt_stats_histogram(f->stats, "badb", NULL, bad_bounds, 2), 1);
    pt_gauge_set(pt_stats_gauge(f->stats, "", NULL), 1); /* no name */
    pt_counter_inc(plain);
    pt_stats_counters_get(f->stats, &c1);
    assert_int_equal(c1.refused - c0.refused, 8);
    fx_flush(f);
    expect_lines(&f->got, "svc.h.dup:1|c", NULL);
}

/* A second registry without statsd (Prometheus only) next to one that flushes: the flushes
 * drain every thread's ring, and the other registry's samples must not pile up. */
static void test_two_registries(void **state)
{
    fx *f = *state;
    pt_stats_options po = {.service = "prom", .host = "h", .interval_ms = 20};
    fx_start_default(f);
    assert_int_equal(pt_stats_new(&po, &f->other), 0);
    pt_stats *prom = f->other;
    pt_timer *pt = pt_stats_timer(prom, "t", NULL);
    pt_timer *mine = pt_stats_timer(f->stats, "t", NULL);
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 1000; i++) {
            pt_timer_record_ns(pt, 1000000);
            pt_timer_record_ns(mine, 1000000);
        }
        fx_flush(f);
        assert_int_equal(count_line(&f->got, "svc.h.t:1|ms|@0.1"), 100);
        assert_int_equal(f->got.nlines, 100);
    }
    /* Its own tick (every 20 ms, with no destination) empties what others drained for it. */
    struct timespec wait = {0, 100000000};
    nanosleep(&wait, NULL);
    pthread_mutex_lock(&pt__stats_lock); /* batches are the flushes', under this lock */
    size_t held = ((struct pt_timer *)pt)->m.nbatch;
    pthread_mutex_unlock(&pt__stats_lock);
    if (held > 1000)
        fprintf(stderr, "the Prometheus-only registry holds %zu samples\n", held);
    /* Its own tick empties the batch that other registries' flushes fill. */
    assert_true(held <= 1000);
}

/* ---- failures ---------------------------------------------------------------------------------- */

static double ms_since(uint64_t t0)
{
    return (double)(now_ns() - t0) / 1e6;
}

/* A port nobody listens on: sends fail (ICMP port unreachable comes back as ECONNREFUSED on
 * the next send) and are counted; neither updates nor flushes wait for anything. */
static void test_unreachable(void **state)
{
    fx *f = *state;
    pt_stats_options o = fx_opts(f);
    pt_stats_counters c;
    uint64_t end = now_ns() + WAIT_MS * 1000000ull;

    close(f->rx); /* the port is free now, and nobody will answer on it */
    f->rx = -1;
    assert_int_equal(pt_stats_new(&o, &f->stats), 0);
    pt_counter *ctr = pt_stats_counter(f->stats, "c", NULL);
    pt_timer *t = pt_stats_timer(f->stats, "t", NULL);
    pt_gauge *g = pt_stats_gauge(f->stats, "g", NULL);
    double worst_flush = 0;
    do {
        pt_counter_inc(ctr);
        pt_gauge_set(g, -1);
        uint64_t t0 = now_ns();
        assert_int_equal(pt_stats_flush(f->stats, WAIT_MS), 0);
        double ms = ms_since(t0);
        worst_flush = ms > worst_flush ? ms : worst_flush;
        pt_stats_counters_get(f->stats, &c);
        if (c.send_errors >= 3)
            break;
        sleep_ms(2);
    } while (now_ns() < end);
    assert_true(c.send_errors >= 3);
    assert_int_equal(c.last_error, -ECONNREFUSED);
    assert_true(worst_flush < 1000);

    /* The update path while flushes fail on pt-ops: no system call, no wait. */
    uint64_t t0 = now_ns();
    for (int i = 0; i < 1000000; i++) {
        pt_counter_inc(ctr);
        pt_timer_record_ns(t, i);
        pt_gauge_set(g, i);
    }
    double ms = ms_since(t0);
    assert_true(ms < 2000); /* ~10 ns each in a plain build; generous for sanitizers */
    t0 = now_ns();
    pt_stats_free(f->stats);
    f->stats = NULL;
    assert_true(ms_since(t0) < 1000);
}

/* A statsd host that does not resolve: retried at each flush, counted, never fatal; counters
 * wait meanwhile (what is sent later is the whole total). */
static void test_unresolvable(void **state)
{
    fx *f = *state;
    pt_stats_options o = fx_opts(f);
    pt_stats_counters c;
    uint64_t end = now_ns() + WAIT_MS * 1000000ull;

    o.statsd_host = "nonexistent.invalid";
    assert_int_equal(pt_stats_new(&o, &f->stats), 0);
    pt_counter *ctr = pt_stats_counter(f->stats, "c", NULL);
    int flushes = 0;
    do {
        pt_counter_add(ctr, 5);
        uint64_t t0 = now_ns();
        assert_int_equal(pt_stats_flush(f->stats, WAIT_MS), 0);
        assert_true(ms_since(t0) < 1000); /* getaddrinfo runs on pt-work */
        flushes++;
        pt_stats_counters_get(f->stats, &c);
        if (c.resolve_errors >= 3)
            break;
        sleep_ms(5);
    } while (now_ns() < end);
    assert_true(c.resolve_errors >= 3);
    assert_int_equal(c.datagrams, 0);

    /* Nothing was sent: the counter's whole total waits for a destination. */
    pt__smetric *m = &((struct pt_counter *)ctr)->m;
    pthread_mutex_lock(&pt__stats_lock);
    uint64_t total = pt__stats_slot_total(m->slot), sent = m->sent;
    pthread_mutex_unlock(&pt__stats_lock);
    assert_int_equal(total, 5 * (uint64_t)flushes);
    assert_int_equal(sent, 0);
    /* The last flush resolves on the caller's thread; no resolution is queued after it
     * (one would run after pt_stats_free()). */
    uint64_t t0 = now_ns();
    pt_stats_free(f->stats);
    f->stats = NULL;
    assert_true(ms_since(t0) < 5500); /* may wait for a resolution under way, not longer */
    sleep_ms(50); /* let that job run while this test is still the one running */
}

/* The API cannot change a pt_stats's destination, and a name under .invalid never resolves:
 * a unix socket that does not exist yet and then does shows counts waiting and sent in full,
 * and timer counts kept exact through @rate though the samples of the wait were dropped. */
static void test_destination_later(void **state)
{
    fx *f = *state;
    pt_stats_options o = fx_opts(f);
    pt_stats_counters c;
    size_t n;
    int bad;

    close(f->rx);
    f->rx = -1;
    o.statsd_host = NULL;
    o.statsd_socket = fx_path(f); /* nobody there yet */
    assert_int_equal(pt_stats_new(&o, &f->stats), 0);
    pt_counter *ctr = pt_stats_counter(f->stats, "c", NULL);
    pt_timer *t = pt_stats_timer(f->stats, "t", NULL);
    pt_counter_add(ctr, 5);
    for (int i = 0; i < 4; i++)
        pt_timer_record_ns(t, 1000000);
    assert_int_equal(pt_stats_flush(f->stats, WAIT_MS), 0);
    pt_stats_counters_get(f->stats, &c);
    assert_int_equal(c.datagrams, 0);
    assert_true(c.send_errors >= 1);
    assert_int_equal(c.last_error, -ENOENT);

    f->rx = unix_bind(f->path);
    pt_counter_add(ctr, 2);
    for (int i = 0; i < 4; i++)
        pt_timer_record_ns(t, 2000000);
    fx_flush(f);
    assert_int_equal(count_line(&f->got, "svc.h.c:7|c"), 1);
    assert_int_equal(count_line(&f->got, "svc.h.t:2|ms|@0.5"), 4);
    assert_true(near(count_by_rates(&f->got, "svc.h.t:", &n, &bad), 8));
    assert_int_equal(f->got.nlines, 5);
}

/* A unix socket path longer than sockaddr_un can hold is refused, not cut short (the cut path
 * could name another socket). */
static void test_socket_path_too_long(void **state)
{
    fx *f = *state;
    pt_stats_options o = fx_opts(f);
    char path[256];

    memset(path, 'p', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0';
    o.statsd_host = NULL;
    o.statsd_socket = path;
    int rc = pt_stats_new(&o, &f->stats);
    /* A path longer than a unix socket address holds is refused, not cut. */
    assert_int_equal(rc, -EINVAL);
}

/* A unix datagram receiver that never reads: its queue fills, sends fail with EAGAIN and are
 * counted, and the flush does not wait. */
static void test_full_buffer_unix(void **state)
{
    fx *f = *state;
    pt_stats_options o = fx_opts(f);
    pt_stats_counters c;
    char name[32];
    rx_got g = {0};

    use_unix(f, &o);
    o.max_packet = 512;
    assert_int_equal(pt_stats_new(&o, &f->stats), 0);
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof(name), "full.%04d", i);
        pt_counter_inc(pt_stats_counter(f->stats, name, NULL));
    }
    uint64_t t0 = now_ns();
    assert_int_equal(pt_stats_flush(f->stats, WAIT_MS), 0);
    assert_true(ms_since(t0) < 1000);
    pt_stats_counters_get(f->stats, &c);
    assert_true(c.datagrams >= 1);
    assert_true(c.send_errors >= 1);
    assert_true(c.datagrams + c.send_errors >= 2000 * strlen("svc.h.full.0000:1|c\n") / 512);
    assert_int_equal(c.last_error, -EAGAIN);
    rx_read(f->rx, &g, 0); /* what the queue took is what was counted as sent */
    assert_int_equal(g.n, c.datagrams);
    got_free(&g);
}

/* A UDP receiver with a tiny buffer that never reads: the kernel drops what does not fit. On
 * loopback the sender is not told (send() succeeds), so the client cannot count these drops;
 * what it must do is not wait, and count whatever send() refuses. */
static void test_full_buffer_udp(void **state)
{
    fx *f = *state;
    pt_stats_options o = fx_opts(f);
    pt_stats_counters c;
    char name[32];
    rx_got g = {0};

    close(f->rx);
    f->rx = udp_bind(&f->port, 1); /* the kernel's minimum */
    o.statsd_port = f->port;
    o.max_packet = 512;
    assert_int_equal(pt_stats_new(&o, &f->stats), 0);
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof(name), "full.%04d", i);
        pt_counter_inc(pt_stats_counter(f->stats, name, NULL));
    }
    uint64_t end = now_ns() + WAIT_MS * 1000000ull;
    do { /* until resolved and sent */
        uint64_t t0 = now_ns();
        assert_int_equal(pt_stats_flush(f->stats, WAIT_MS), 0);
        assert_true(ms_since(t0) < 1000);
        pt_stats_counters_get(f->stats, &c);
    } while (c.datagrams + c.send_errors == 0 && now_ns() < end && (sleep_ms(5), 1));
    size_t packets = (size_t)(c.datagrams + c.send_errors);
    assert_true(packets >= 2000 * strlen("svc.h.full.0000:1|c\n") / 512);
    rx_read(f->rx, &g, 0);
    assert_true(g.n < packets); /* the buffer was full: some were dropped somewhere */
    got_free(&g);
}

/* ---- the flushes the service does not ask for ------------------------------------------------ */

/* pt_stats_free() sends the last interval's values. */
static void test_free_flushes(void **state)
{
    fx *f = *state;

    fx_start_default(f);
    pt_counter_add(pt_stats_counter(f->stats, "last", NULL), 7);
    pt_gauge_set(pt_stats_gauge(f->stats, "lg", NULL), -2);
    pt_timer_record_ns(pt_stats_timer(f->stats, "lt", NULL), 1500000);
    pt_stats_free(f->stats);
    f->stats = NULL;
    rx_read(f->rx, &f->got, 1);
    rx_read(f->rx, &f->got, 0);
    expect_lines(&f->got, "svc.h.last:7|c", "svc.h.lg:0|g", "svc.h.lg:-2|g", "svc.h.lt:1.5|ms",
                 NULL);
}

static void busy_job(void *arg, int status)
{
    (void)arg;
    (void)status;
    sleep_ms(300);
}

/* The same right after pt_stats_new(), before the statsd host was resolved (a short-lived
 * program; here pt-work is kept busy so that the resolution is still queued). */
static void test_free_flushes_unresolved(void **state)
{
    fx *f = *state;
    pt_stats_options o = fx_opts(f);
    pt_stats_counters c;

    assert_int_equal(pt_work_submit(busy_job, NULL, 0), 0);
    assert_int_equal(pt_stats_new(&o, &f->stats), 0);
    pt_counter_add(pt_stats_counter(f->stats, "last", NULL), 7);
    pt_stats_counters_get(f->stats, &c);
    assert_int_equal(c.resolve_errors, 0);
    pt_stats_free(f->stats);
    f->stats = NULL;
    /* A host not resolved yet is resolved by pt_stats_free() itself: the counts go out. */
    rx_read(f->rx, &f->got, 1);
    expect_lines(&f->got, "svc.h.last:7|c", NULL);
}

/* The interval timer on pt-ops flushes by itself. */
static void test_interval_flush(void **state)
{
    fx *f = *state;
    pt_stats_options o = fx_opts(f);

    o.interval_ms = 50;
    assert_int_equal(pt_stats_new(&o, &f->stats), 0);
    pt_counter_add(pt_stats_counter(f->stats, "tick", NULL), 3);
    rx_read(f->rx, &f->got, 1);
    expect_lines(&f->got, "svc.h.tick:3|c", NULL);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_counter_deltas),
        T(test_gauges),
        T(test_gauge_odd_values),
        T(test_gauge_not_finite),
        T(test_timer_ms_exact),
        T(test_histogram_values),
        T(test_timer_sampled),
        T(test_timer_rate_precision),
        T(test_timer_samples_dropped),
        T(test_timer_rate_tiny),
        T(test_set_dedup),
        T(test_tags_folded),
        T(test_tags_dogstatsd),
        T(test_sanitize),
        T(test_prefix),
        T(test_packing),
        T(test_unix_socket),
        T(test_threads_sum),
        T(test_thread_exit),
        T(test_handles),
        T(test_two_registries),
        T(test_unreachable),
        T(test_destination_later),
        T(test_socket_path_too_long),
        T(test_full_buffer_unix),
        T(test_full_buffer_udp),
        T(test_free_flushes),
        T(test_interval_flush),
        /* Last: with the library as it is, a resolution job these leave behind runs on a
         * freed pt_stats (see test_unresolvable) and may disturb the tests after it. */
        T(test_unresolvable),
        T(test_free_flushes_unresolved),
    };
#undef T
    if (getenv("PT_TEST_FILTER")) /* e.g. "test_gauge*" */
        cmocka_set_test_filter(getenv("PT_TEST_FILTER"));
    if (getenv("PT_TEST_SKIP"))
        cmocka_set_skip_filter(getenv("PT_TEST_SKIP"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
