/* bench/stats_update.c: what counting costs a service's threads, and what delivering the
 * counts to statsd costs the whole process, against what a service would do without potter.
 *
 * Figures (issue 4, "Budgets"; DESIGN.md, "Tests and benchmarks"):
 *   stats.counter_inc_1t      ns per pt_counter_inc(handle) on one thread, against an atomic
 *                             fetch_add on one shared uint64_t (what a naive client does)
 *   stats.counter_inc_floor   the same increment against a plain `(*p)++` of a uint64_t
 *                             through a pointer (the floor: ratio 1.00 means it costs nothing
 *                             more)
 *   stats.counter_inc_2t      ns per increment per thread, 2 threads incrementing the same
 *                             handle at once, against 2 threads doing fetch_add on one shared
 *                             uint64_t (its cache line travels between the CPUs)
 *   stats.cpu_per_counter_update, stats.cpu_per_timer_update
 *                             CPU time of this whole process (getrusage(RUSAGE_SELF), user +
 *                             sys: pt-ops's flushes included) per update delivered to a statsd
 *                             receiver on 127.0.0.1, against a plain client written here that
 *                             formats each update and sendto()s it as one datagram, the way
 *                             naive statsd clients work
 *   stats.flush_10k           ms of wall time for pt_stats_flush() of 10,000 distinct metrics
 *                             (8000 counters, 1000 gauges, 1000 timers of 3 samples), against
 *                             the plain client sending the same lines one datagram each
 *
 * The receiver (bench/statsd_rx.c) is a child process, forked first, before potter starts a
 * thread, so its CPU is not counted: it drains a UDP socket (4 MiB buffer) with recvmmsg(),
 * parses every line and keeps totals per kind (counter sums, the last value of each gauge,
 * timer lines and their count as statsd reckons it, the sum of 1/rate), which the parent asks
 * for over a pipe. Every figure checks that what was sent arrived complete and prints the
 * check.
 *
 * Increment loops: the handle (or pointer) goes through an empty asm statement that claims to
 * modify it on every iteration, so nothing is hoisted out of the loop; the plain and atomic
 * totals are checked after the loops, potter's by flushing to the receiver. A loop is timed
 * whole with CLOCK_MONOTONIC. Rounds alternate the implementations (the order flips every
 * round); a figure is the median over rounds, and the per-round values are printed first.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "alloc_count.h"
#include "bench_c.h"
#include "potter/stats.h"
#include "statsd_rx.h"

#define ROUNDS 7
#define INC_ITERS 100000000ull /* pt_counter_inc and plain increments, per loop */
#define ATOMIC_ITERS 20000000ull /* fetch_add on one thread, per loop */
#define SHARED_ITERS 10000000ull /* fetch_add per thread with 2 threads, per loop */

#define CPU_ROUNDS 5
#define N_COUNTERS 100 /* the counters-and-gauges load: 100 counters, 20 gauges */
#define N_GAUGES 20
#define N_TIMERS 100
#define POTTER_COUNTER_UPDATES 2000000u
#define POTTER_TIMER_UPDATES 200000u
#define PLAIN_UPDATES 200000u /* per side of the plain client */
#define BATCHES 100 /* potter's updates come in this many batches, one every PACE_MS */
#define COUNTER_PACE_MS 10 /* 2M updates over 1 s */
#define TIMER_PACE_MS 30 /* 200k samples over 3 s: 6,700 per flush, under the 8192-sample ring */
#define FLUSH_MS 100

#define FLUSH_C 8000
#define FLUSH_G 1000
#define FLUSH_T 1000
#define FLUSH_SAMPLES 3

static void die(const char *what)
{
    fprintf(stderr, "stats_update: %s\n", what);
    exit(1);
}

/* ---- potter's registry and the plain client ----------------------------------------------- */

static char host_id[64]; /* the host part of every name, as potter makes it */
static char name_prefix[128]; /* "bench.<host>." */

static void names_init(void)
{
    if (gethostname(host_id, sizeof(host_id)) != 0)
        snprintf(host_id, sizeof(host_id), "unknown");
    host_id[sizeof(host_id) - 1] = 0;
    for (char *c = host_id; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-'))
            *c = '_';
    snprintf(name_prefix, sizeof(name_prefix), "bench.%s.", host_id);
}

static int x_arrived(const rx_totals *t, const void *want)
{
    (void)want;
    return t->x_lines > 0;
}

/* A registry sending to the receiver every interval_ms, once its address has resolved (on
 * pt-work): a sync counter is flushed until a datagram goes, then awaited at the receiver. */
static pt_stats *stats_open(uint64_t interval_ms)
{
    pt_stats_options o = {.service = "bench",
                          .host = host_id,
                          .statsd_host = "127.0.0.1",
                          .statsd_port = rx_port(),
                          .interval_ms = interval_ms};
    pt_stats *s;
    pt_stats_counters c = {0};
    rx_totals t;

    if (pt_stats_new(&o, &s) != 0)
        die("pt_stats_new");
    pt_counter *x = pt_stats_counter(s, "app.x.0", NULL);
    for (int i = 0; i < 2000 && c.datagrams == 0; i++) {
        pt_counter_inc(x);
        pt_stats_flush(s, 1000);
        pt_stats_counters_get(s, &c);
        if (c.datagrams == 0)
            sleep_ns(1000000);
    }
    if (c.datagrams == 0 || !rx_wait(&t, x_arrived, NULL))
        die("the registry never reached the receiver");
    return s;
}

static void stats_flush(pt_stats *s)
{
    int rc = pt_stats_flush(s, 5000);
    if (rc != 0) {
        fprintf(stderr, "stats_update: pt_stats_flush: %s\n", pt_strerror(rc));
        exit(1);
    }
}

static void name(char *buf, size_t cap, char kind, unsigned i)
{
    snprintf(buf, cap, "app.%c.%u", kind, i);
}

/* The plain client: an unconnected UDP socket, one sendto() per datagram (as the statsd
 * clients of most languages do). */
typedef struct plain {
    int fd;
    struct sockaddr_in to;
    uint64_t datagrams, bytes, errors;
} plain;

static void plain_open(plain *p)
{
    *p = (plain){.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    p->to = (struct sockaddr_in){.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)rx_port()),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (p->fd < 0)
        die("socket");
}

static void plain_send(plain *p, const char *line, int len)
{
    if (len <= 0)
        return;
    if (sendto(p->fd, line, (size_t)len, 0, (const struct sockaddr *)&p->to, sizeof(p->to)) < 0) {
        p->errors++;
        return;
    }
    p->datagrams++;
    p->bytes += (uint64_t)len;
}

/* Nanoseconds as milliseconds, exactly, as potter writes them: "1.25", "0.000001", "3". */
static void ms_text(uint64_t ns, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%" PRIu64 ".%06" PRIu64, ns / 1000000, ns % 1000000);
    while (n > 0 && out[n - 1] == '0')
        out[--n] = 0;
    if (n > 0 && out[n - 1] == '.')
        out[--n] = 0;
}

/* ---- how busy the rest of the machine was ------------------------------------------------ */

typedef struct machine {
    uint64_t all0, self0, rx0, ns0;
} machine;

static machine machine_start(void)
{
    machine m = {.rx0 = rx_cpu_ticks(), .ns0 = mono_ns()};
    cpu_ticks(&m.all0, &m.self0);
    return m;
}

/* "other processes used 3% of the CPUs during the rounds, the receiver 12% (load average
 * 0.4)": the receiver is a process of this benchmark, so it is told apart. */
static const char *machine_text(const machine *m, char *buf, size_t cap)
{
    char r[32];
    double hz = (double)sysconf(_SC_CLK_TCK), cpus = (double)sysconf(_SC_NPROCESSORS_ONLN);
    double secs = (double)(mono_ns() - m->ns0) / 1e9;
    double rx_pct = 100.0 * (double)(rx_cpu_ticks() - m->rx0) / hz / (secs * cpus);
    double others = others_pct(m->all0, m->self0, m->ns0) - rx_pct;
    snprintf(buf, cap,
             "other processes used %.0f%% of the CPUs during the rounds, the receiver %.0f%% "
             "(load average %s)",
             others < 0 ? 0 : others, rx_pct, loadavg(r, sizeof(r)));
    return buf;
}

/* ---- the bench lines, printed last --------------------------------------------------------- */

static char bench_lines[16][256];
static int nbench;

static void bench_line(const char *fig, double mine, const char *peer, double theirs,
                       const char *unit, int decimals)
{
    char r[32];
    snprintf(bench_lines[nbench++], sizeof(bench_lines[0]),
             "bench %s %.*f %s vs %s %.*f %s ratio %s", fig, decimals, mine, unit, peer, decimals,
             theirs, unit, ratio_text(r, sizeof(r), theirs, mine));
}

/* ---- figure 1: one thread ------------------------------------------------------------------ */

static uint64_t plain_cell;
static struct {
    _Alignas(64) uint64_t v; /* a cache line of its own */
    char pad[56];
} shared;

static NOINLINE void loop_counter(pt_counter *c, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        __asm__ volatile("" : "+r"(c));
        pt_counter_inc(c);
    }
}

static NOINLINE void loop_plain(uint64_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        __asm__ volatile("" : "+r"(p));
        (*p)++;
    }
}

static NOINLINE void loop_atomic(uint64_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        __asm__ volatile("" : "+r"(p));
        __atomic_fetch_add(p, 1, __ATOMIC_RELAXED);
    }
}

enum { L_COUNTER, L_PLAIN, L_ATOMIC };

static uint64_t counted[3]; /* increments made per loop kind */

/* Runs loop `which` once; returns ns per increment. */
static double run_loop(int which, pt_counter *c)
{
    uint64_t n = which == L_ATOMIC ? ATOMIC_ITERS : INC_ITERS, t0 = mono_ns();
    switch (which) {
    case L_COUNTER: loop_counter(c, n); break;
    case L_PLAIN: loop_plain(&plain_cell, n); break;
    case L_ATOMIC: loop_atomic(&shared.v, n); break;
    }
    uint64_t t1 = mono_ns();
    counted[which] += n;
    return (double)(t1 - t0) / (double)n;
}

static int c_sum_reached(const rx_totals *t, const void *want)
{
    return t->c_sum >= *(const uint64_t *)want;
}

/* Flushes and prints whether the receiver got `want` as the sum of counter lines. */
static void check_counter(pt_stats *s, const char *fig, uint64_t want)
{
    rx_totals t;
    stats_flush(s);
    int ok = rx_wait(&t, c_sum_reached, &want) && t.c_sum == want;
    printf("# %s delivered: statsd received %" PRIu64 " in %" PRIu64 " |c lines, %" PRIu64
           " increments made: %s\n",
           fig, t.c_sum, t.c_lines, want, ok ? "complete" : "WARNING: not equal");
}

static void bench_one_thread(pt_stats *s)
{
    static const int pairs[2][2] = {{L_COUNTER, L_ATOMIC}, {L_COUNTER, L_PLAIN}};
    double runs[2][2][ROUNDS];
    char b1[512], b2[512];
    pt_counter *c = pt_stats_counter(s, "app.c.1", NULL);

    rx_reset();
    for (int p = 0; p < 2; p++) /* an untimed pass first: page faults, caches, frequency */
        for (int k = 0; k < 2; k++)
            run_loop(pairs[p][k], c);

    machine mach = machine_start();
    pt_bench_heap_counts h0 = pt_bench_heap_counts_get();
    for (int round = 0; round < ROUNDS; round++)
        for (int p = 0; p < 2; p++)
            for (int k = 0; k < 2; k++) {
                int side = (round + k) % 2;
                runs[p][side][round] = run_loop(pairs[p][side], c);
            }
    pt_bench_heap_counts h1 = pt_bench_heap_counts_get();
    char busy[256];
    machine_text(&mach, busy, sizeof(busy));
    double secs = (double)(mono_ns() - mach.ns0) / 1e9;

    printf("# stats.counter_inc loops: %llu iterations per round for pt_counter_inc and plain "
           "increments, %llu for fetch_add; asm barrier on the pointer each iteration; %d "
           "rounds alternating (order flipped each round), median; %.1f s in all\n",
           INC_ITERS, ATOMIC_ITERS, ROUNDS, secs);
    printf("# stats.counter_inc heap calls during the timed loops: %" PRIu64 " allocs %" PRIu64
           " frees\n",
           h1.allocs - h0.allocs, h1.frees - h0.frees);
    printf("# stats.counter_inc machine: %s\n", busy);
    int equal = plain_cell == counted[L_PLAIN] && shared.v == counted[L_ATOMIC];
    printf("# stats.counter_inc checks: plain %" PRIu64 " of %" PRIu64 ", fetch_add %" PRIu64
           " of %" PRIu64 "%s\n",
           plain_cell, counted[L_PLAIN], shared.v, counted[L_ATOMIC],
           equal ? "" : " WARNING: not equal");
    check_counter(s, "stats.counter_inc_1t", counted[L_COUNTER]);

    static const char *const fig[2] = {"stats.counter_inc_1t", "stats.counter_inc_floor"};
    static const char *const peer[2] = {"atomic-add", "plain-inc"};
    for (int p = 0; p < 2; p++)
        printf("# %s runs (ns): potter %s | %s %s\n", fig[p],
               runs_text(b1, sizeof(b1), runs[p][0], ROUNDS, "%.2f"), peer[p],
               runs_text(b2, sizeof(b2), runs[p][1], ROUNDS, "%.2f"));
    for (int p = 0; p < 2; p++)
        bench_line(fig[p], median(runs[p][0], ROUNDS), peer[p], median(runs[p][1], ROUNDS), "ns",
                   2);
}

/* ---- figure 2: two threads, one handle ----------------------------------------------------- */

typedef struct racer {
    pthread_t th;
    pt_counter *c; /* NULL: fetch_add on shared.v */
    uint64_t n;
    double ns; /* per increment, this thread's loop */
} racer;

static atomic_int racers_ready, racers_go;

static void *racer_main(void *arg)
{
    racer *r = arg;
    if (r->c)
        pt_counter_add(r->c, 0); /* makes this thread's shard before the clock starts */
    atomic_fetch_add(&racers_ready, 1);
    while (!atomic_load_explicit(&racers_go, memory_order_acquire)) {
    }
    uint64_t t0 = mono_ns();
    if (r->c)
        loop_counter(r->c, r->n);
    else
        loop_atomic(&shared.v, r->n);
    r->ns = (double)(mono_ns() - t0) / (double)r->n;
    return NULL;
}

/* Two threads at once; returns the mean of their ns per increment. */
static double race(pt_counter *c)
{
    racer r[2];
    atomic_store(&racers_ready, 0);
    atomic_store(&racers_go, 0);
    for (int i = 0; i < 2; i++) {
        r[i] = (racer){.c = c, .n = c ? INC_ITERS : SHARED_ITERS};
        if (pthread_create(&r[i].th, NULL, racer_main, &r[i]) != 0)
            die("pthread_create");
    }
    while (atomic_load(&racers_ready) < 2)
        sleep_ns(100000);
    atomic_store_explicit(&racers_go, 1, memory_order_release);
    for (int i = 0; i < 2; i++)
        pthread_join(r[i].th, NULL);
    return (r[0].ns + r[1].ns) / 2;
}

static void bench_two_threads(pt_stats *s)
{
    double runs[2][ROUNDS];
    char b1[512], b2[512];
    pt_counter *c = pt_stats_counter(s, "app.c.2", NULL);
    uint64_t shared0 = shared.v, made = 0;

    rx_reset();
    race(c); /* untimed */
    race(NULL);
    made += 2 * INC_ITERS;
    machine mach = machine_start();
    for (int round = 0; round < ROUNDS; round++)
        for (int k = 0; k < 2; k++) {
            int side = (round + k) % 2;
            runs[side][round] = race(side == 0 ? c : NULL);
            if (side == 0)
                made += 2 * INC_ITERS;
        }
    char busy[256];
    machine_text(&mach, busy, sizeof(busy));
    double secs = (double)(mono_ns() - mach.ns0) / 1e9;
    uint64_t shared_want = 2 * SHARED_ITERS * (ROUNDS + 1);

    printf("# stats.counter_inc_2t load: 2 threads started together (spin on a flag), each "
           "timing its own loop of %llu pt_counter_inc on one handle or %llu fetch_add on one "
           "shared uint64_t; a round's figure is the mean of the two; %d rounds alternating, "
           "median; %.1f s in all\n",
           INC_ITERS, SHARED_ITERS, ROUNDS, secs);
    printf("# stats.counter_inc_2t machine: %s\n", busy);
    printf("# stats.counter_inc_2t checks: fetch_add %" PRIu64 " of %" PRIu64 "%s\n",
           shared.v - shared0, shared_want,
           shared.v - shared0 == shared_want ? "" : " WARNING: not equal");
    check_counter(s, "stats.counter_inc_2t (threads exited before the flush)", made);
    printf("# stats.counter_inc_2t runs (ns): potter %s | atomic-add-shared %s\n",
           runs_text(b1, sizeof(b1), runs[0], ROUNDS, "%.2f"),
           runs_text(b2, sizeof(b2), runs[1], ROUNDS, "%.2f"));
    bench_line("stats.counter_inc_2t", median(runs[0], ROUNDS), "atomic-add-shared",
               median(runs[1], ROUNDS), "ns", 2);
}

/* ---- figure 3: CPU per update delivered ---------------------------------------------------- */

/* user + sys of every thread of this process, in ns. */
static void cpu_now(uint64_t *user, uint64_t *sys)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *user = (uint64_t)ru.ru_utime.tv_sec * 1000000000u + (uint64_t)ru.ru_utime.tv_usec * 1000u;
    *sys = (uint64_t)ru.ru_stime.tv_sec * 1000000000u + (uint64_t)ru.ru_stime.tv_usec * 1000u;
}

static void sleep_until(uint64_t mono)
{
    struct timespec ts = {(time_t)(mono / 1000000000u), (long)(mono % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

/* The timers' samples: 0.1 to 50 ms. */
static uint64_t sample_ns(uint64_t k)
{
    return 100000 + (k * 7919) % 50000000;
}

/* What the receiver should get. */
typedef struct want {
    uint64_t datagrams; /* as many as were sent */
    uint64_t c_sum, c_distinct, g_distinct, t_distinct;
    double g_last_sum, ms_count;
} want;

static int datagrams_arrived(const rx_totals *t, const void *arg)
{
    return t->datagrams >= ((const want *)arg)->datagrams;
}

/* Every datagram sent arrived, and the counter sums and gauges' last values are what was
 * sent. statsd's count of timer samples is checked apart (timers_exact). */
static int delivered(const rx_totals *t, const want *w)
{
    return t->datagrams == w->datagrams && t->bad == 0 && t->c_sum == w->c_sum &&
           t->c_distinct == w->c_distinct && t->g_distinct == w->g_distinct &&
           t->t_distinct == w->t_distinct && fabs(t->g_last_sum - w->g_last_sum) < 0.5;
}

static int timers_exact(const rx_totals *t, const want *w)
{
    return fabs(t->ms_count - w->ms_count) < 0.5;
}

/* What a load of `n` updates should deliver: counters and gauges, or timers. */
static want expected(int timers, uint64_t n)
{
    want w = {0};
    if (timers) {
        w.ms_count = (double)n;
        w.t_distinct = n < N_TIMERS ? n : N_TIMERS;
        return w;
    }
    uint64_t per = N_COUNTERS + N_GAUGES, rest = n % per;
    w.c_sum = n / per * N_COUNTERS + (rest < N_COUNTERS ? rest : N_COUNTERS);
    w.c_distinct = N_COUNTERS;
    w.g_distinct = N_GAUGES;
    for (unsigned gi = 0; gi < N_GAUGES; gi++) { /* the last k of each gauge */
        uint64_t j = N_COUNTERS + gi;
        w.g_last_sum += (double)((n - 1 - j) / per * per + j);
    }
    return w;
}

typedef struct cpu_side {
    double ns[CPU_ROUNDS]; /* CPU per update, per round */
    uint64_t user, sys, updates, datagrams, bytes, flushes, dropped, errors;
    uint64_t rx_lines, rx_rated, incomplete, inexact; /* rounds */
    double rx_count; /* statsd's count of timer samples (the sum of 1/rate) */
    double wall;
} cpu_side;

static cpu_side sides[2][2]; /* [timers][potter 0, plain 1] */

/* A round's CPU (user and sys ns) and wall time over n updates, and what arrived. */
static void side_add(cpu_side *sd, int round, uint64_t user, uint64_t sys, uint64_t wall,
                     uint64_t n, const rx_totals *t, const want *w)
{
    sd->wall += (double)wall / 1e9;
    sd->ns[round] = (double)(user + sys) / (double)n;
    sd->user += user;
    sd->sys += sys;
    sd->updates += n;
    sd->rx_lines += t->lines;
    sd->rx_rated += t->ms_rated;
    sd->rx_count += t->ms_count;
    sd->incomplete += !delivered(t, w);
    sd->inexact += !timers_exact(t, w);
}

static void potter_round(int timers, int round)
{
    cpu_side *sd = &sides[timers][0];
    pt_stats *s = stats_open(FLUSH_MS);
    pt_counter *c[N_COUNTERS];
    pt_gauge *g[N_GAUGES];
    pt_timer *t[N_TIMERS];
    char nm[64];
    pt_stats_counters c0, c1;
    rx_totals rt_;
    uint64_t u0, s0, k = 0, n = timers ? POTTER_TIMER_UPDATES : POTTER_COUNTER_UPDATES;
    uint64_t pace = (timers ? TIMER_PACE_MS : COUNTER_PACE_MS) * 1000000ull;

    for (unsigned i = 0; i < N_COUNTERS; i++) {
        name(nm, sizeof(nm), 'c', i);
        c[i] = pt_stats_counter(s, nm, NULL);
    }
    for (unsigned i = 0; i < N_GAUGES; i++) {
        name(nm, sizeof(nm), 'g', i);
        g[i] = pt_stats_gauge(s, nm, NULL);
    }
    for (unsigned i = 0; i < N_TIMERS; i++) {
        name(nm, sizeof(nm), 't', i);
        t[i] = pt_stats_timer(s, nm, NULL);
    }
    rx_reset();
    pt_stats_counters_get(s, &c0);
    uint64_t w0 = mono_ns();
    cpu_now(&u0, &s0);
    for (unsigned b = 0; b < BATCHES; b++) {
        if (timers) {
            for (unsigned i = 0, j = (unsigned)(k % N_TIMERS); i < n / BATCHES; i++, k++) {
                pt_timer_record_ns(t[j], (int64_t)sample_ns(k));
                if (++j == N_TIMERS)
                    j = 0;
            }
        } else {
            unsigned j = (unsigned)(k % (N_COUNTERS + N_GAUGES));
            for (unsigned i = 0; i < n / BATCHES; i++, k++) {
                if (j < N_COUNTERS)
                    pt_counter_inc(c[j]);
                else
                    pt_gauge_set(g[j - N_COUNTERS], (double)k);
                if (++j == N_COUNTERS + N_GAUGES)
                    j = 0;
            }
        }
        sleep_until(w0 + (b + 1) * pace);
    }
    stats_flush(s); /* the last interval's values */
    uint64_t u1, s1, w1 = mono_ns();
    cpu_now(&u1, &s1);
    pt_stats_counters_get(s, &c1);
    want w = expected(timers, n);
    w.datagrams = c1.datagrams - c0.datagrams;
    rx_wait(&rt_, datagrams_arrived, &w);
    side_add(sd, round, u1 - u0, s1 - s0, w1 - w0, n, &rt_, &w);
    sd->datagrams += c1.datagrams - c0.datagrams;
    sd->bytes += c1.bytes - c0.bytes;
    sd->flushes += c1.flushes - c0.flushes;
    sd->dropped += c1.samples_dropped - c0.samples_dropped;
    sd->errors += c1.send_errors - c0.send_errors;
    pt_stats_free(s);
}

static void plain_round(int timers, int round)
{
    cpu_side *sd = &sides[timers][1];
    plain p;
    char line[256], v[32];
    rx_totals rt_;
    uint64_t u0, s0, n = PLAIN_UPDATES;

    plain_open(&p);
    rx_reset();
    uint64_t w0 = mono_ns();
    cpu_now(&u0, &s0);
    for (uint64_t k = 0; k < n; k++) {
        int len;
        if (timers) {
            ms_text(sample_ns(k), v, sizeof(v));
            len = snprintf(line, sizeof(line), "%sapp.t.%u:%s|ms", name_prefix,
                           (unsigned)(k % N_TIMERS), v);
        } else {
            unsigned j = (unsigned)(k % (N_COUNTERS + N_GAUGES));
            if (j < N_COUNTERS)
                len = snprintf(line, sizeof(line), "%sapp.c.%u:1|c", name_prefix, j);
            else
                len = snprintf(line, sizeof(line), "%sapp.g.%u:%.15g|g", name_prefix,
                               j - N_COUNTERS, (double)k);
        }
        plain_send(&p, line, len);
    }
    uint64_t u1, s1, w1 = mono_ns();
    cpu_now(&u1, &s1);
    want w = expected(timers, n);
    w.datagrams = p.datagrams;
    rx_wait(&rt_, datagrams_arrived, &w);
    side_add(sd, round, u1 - u0, s1 - s0, w1 - w0, n, &rt_, &w);
    sd->datagrams += p.datagrams;
    sd->bytes += p.bytes;
    sd->errors += p.errors;
    close(p.fd);
}

static void print_cpu(int timers)
{
    const char *fig = timers ? "stats.cpu_per_timer_update" : "stats.cpu_per_counter_update";
    char b1[512], b2[512];
    for (int i = 0; i < 2; i++) {
        const cpu_side *sd = &sides[timers][i];
        printf("# %s %s: %" PRIu64 " updates in %d rounds, %.2f s of wall time; CPU user %.1f "
               "ms, sys %.1f ms; %" PRIu64 " datagrams, %" PRIu64 " bytes (%.1f updates per "
               "datagram); receiver got %" PRIu64 " lines (%" PRIu64 " with @rate); "
               "%" PRIu64 " send errors",
               fig, i == 0 ? "potter" : "plain-sendto", sd->updates, CPU_ROUNDS, sd->wall,
               (double)sd->user / 1e6, (double)sd->sys / 1e6, sd->datagrams, sd->bytes,
               (double)sd->updates / (double)(sd->datagrams ? sd->datagrams : 1), sd->rx_lines,
               sd->rx_rated, sd->errors);
        if (timers)
            printf(", statsd's count %.1f of %" PRIu64 " samples recorded (%s)", sd->rx_count,
                   sd->updates, sd->inexact ? "WARNING: not exact" : "exact");
        if (i == 0)
            printf(", %" PRIu64 " flushes, %" PRIu64 " samples dropped", sd->flushes, sd->dropped);
        printf("; delivery %s\n",
               sd->incomplete ? "WARNING: incomplete in some rounds" : "complete every round");
    }
    printf("# %s runs (ns CPU per update): potter %s | plain-sendto %s\n", fig,
           runs_text(b1, sizeof(b1), sides[timers][0].ns, CPU_ROUNDS, "%.1f"),
           runs_text(b2, sizeof(b2), sides[timers][1].ns, CPU_ROUNDS, "%.1f"));
    bench_line(fig, median(sides[timers][0].ns, CPU_ROUNDS), "plain-sendto",
               median(sides[timers][1].ns, CPU_ROUNDS), "ns", 1);
}

static void bench_cpu(void)
{
    machine mach = machine_start();
    potter_round(0, 0); /* untimed: the first registry, shards, sockets */
    memset(sides, 0, sizeof(sides));
    for (int round = 0; round < CPU_ROUNDS; round++)
        for (int timers = 0; timers < 2; timers++)
            for (int k = 0; k < 2; k++) {
                if ((round + k) % 2 == 0)
                    potter_round(timers, round);
                else
                    plain_round(timers, round);
            }
    char busy[256];
    machine_text(&mach, busy, sizeof(busy));
    double secs = (double)(mono_ns() - mach.ns0) / 1e9;

    printf("# stats.cpu_per load: potter %u counter updates (100 counters and 20 gauges in "
           "turn) in %d batches %d ms apart, or %u timer samples (100 timers in turn, 0.1-50 ms) "
           "in %d batches %d ms apart, on one thread, flushed every %d ms and once at the end "
           "(a new registry each round); the plain client %u updates of the same sequence, "
           "each formatted with snprintf and sent with sendto(); the CPU of the process "
           "(getrusage RUSAGE_SELF, every thread) over the round; %d rounds alternating, "
           "median; %.1f s in all\n",
           POTTER_COUNTER_UPDATES, BATCHES, COUNTER_PACE_MS, POTTER_TIMER_UPDATES, BATCHES,
           TIMER_PACE_MS, FLUSH_MS, PLAIN_UPDATES, CPU_ROUNDS, secs);
    printf("# stats.cpu_per machine: %s\n", busy);
    print_cpu(0);
    print_cpu(1);
}

/* ---- figure 4: a flush of 10,000 metrics --------------------------------------------------- */

static struct {
    pt_counter *c[FLUSH_C];
    pt_gauge *g[FLUSH_G];
    pt_timer *t[FLUSH_T];
} fl;

static uint64_t flush_sample(unsigned i, unsigned k, int round)
{
    return 1000000 + (uint64_t)i * 1000 + (uint64_t)k * 137 + (uint64_t)round * 7;
}

static double flush_gauge(unsigned i, int round)
{
    return (double)(round + 1) * 100000 + i;
}

static want flush_want(int round)
{
    want w = {.c_sum = FLUSH_C,
              .c_distinct = FLUSH_C,
              .g_distinct = FLUSH_G,
              .ms_count = FLUSH_T * FLUSH_SAMPLES,
              .t_distinct = FLUSH_T};
    for (unsigned i = 0; i < FLUSH_G; i++)
        w.g_last_sum += flush_gauge(i, round);
    return w;
}

typedef struct flush_side {
    double ms[ROUNDS];
    uint64_t datagrams, bytes, lines, incomplete;
} flush_side;

static void flush_potter(pt_stats *s, flush_side *fs, int round)
{
    pt_stats_counters c0, c1;
    rx_totals t;

    rx_reset();
    for (unsigned i = 0; i < FLUSH_C; i++)
        pt_counter_inc(fl.c[i]);
    for (unsigned i = 0; i < FLUSH_G; i++)
        pt_gauge_set(fl.g[i], flush_gauge(i, round < 0 ? 0 : round));
    for (unsigned i = 0; i < FLUSH_T; i++)
        for (unsigned k = 0; k < FLUSH_SAMPLES; k++)
            pt_timer_record_ns(fl.t[i], (int64_t)flush_sample(i, k, round < 0 ? 0 : round));
    pt_stats_counters_get(s, &c0);
    uint64_t t0 = mono_ns();
    stats_flush(s);
    uint64_t t1 = mono_ns();
    pt_stats_counters_get(s, &c1);
    want w = flush_want(round < 0 ? 0 : round);
    w.datagrams = c1.datagrams - c0.datagrams;
    rx_wait(&t, datagrams_arrived, &w);
    if (round < 0)
        return;
    fs->ms[round] = (double)(t1 - t0) / 1e6;
    fs->datagrams += c1.datagrams - c0.datagrams;
    fs->bytes += c1.bytes - c0.bytes;
    fs->lines += t.lines;
    fs->incomplete +=
        !delivered(&t, &w) || !timers_exact(&t, &w) || t.ms_lines != FLUSH_T * FLUSH_SAMPLES;
}

static void flush_plain(flush_side *fs, int round)
{
    plain p;
    char line[256], v[32];
    rx_totals t;
    int r = round < 0 ? 0 : round, len;

    plain_open(&p);
    rx_reset();
    uint64_t t0 = mono_ns();
    for (unsigned i = 0; i < FLUSH_C; i++) {
        len = snprintf(line, sizeof(line), "%sapp.c.%u:1|c", name_prefix, i);
        plain_send(&p, line, len);
    }
    for (unsigned i = 0; i < FLUSH_G; i++) {
        len = snprintf(line, sizeof(line), "%sapp.g.%u:%.15g|g", name_prefix, i, flush_gauge(i, r));
        plain_send(&p, line, len);
    }
    for (unsigned i = 0; i < FLUSH_T; i++)
        for (unsigned k = 0; k < FLUSH_SAMPLES; k++) {
            ms_text(flush_sample(i, k, r), v, sizeof(v));
            len = snprintf(line, sizeof(line), "%sapp.t.%u:%s|ms", name_prefix, i, v);
            plain_send(&p, line, len);
        }
    uint64_t t1 = mono_ns();
    want w = flush_want(r);
    w.datagrams = p.datagrams;
    rx_wait(&t, datagrams_arrived, &w);
    close(p.fd);
    if (round < 0)
        return;
    fs->ms[round] = (double)(t1 - t0) / 1e6;
    fs->datagrams += p.datagrams;
    fs->bytes += p.bytes;
    fs->lines += t.lines;
    fs->incomplete +=
        !delivered(&t, &w) || !timers_exact(&t, &w) || t.ms_lines != FLUSH_T * FLUSH_SAMPLES;
}

static void bench_flush(void)
{
    flush_side fs[2] = {0};
    char nm[64], b1[512], b2[512];
    pt_stats *s = stats_open(3600000); /* flushed by the benchmark only */

    for (unsigned i = 0; i < FLUSH_C; i++) {
        name(nm, sizeof(nm), 'c', i);
        fl.c[i] = pt_stats_counter(s, nm, NULL);
    }
    for (unsigned i = 0; i < FLUSH_G; i++) {
        name(nm, sizeof(nm), 'g', i);
        fl.g[i] = pt_stats_gauge(s, nm, NULL);
    }
    for (unsigned i = 0; i < FLUSH_T; i++) {
        name(nm, sizeof(nm), 't', i);
        fl.t[i] = pt_stats_timer(s, nm, NULL);
    }
    flush_potter(s, &fs[0], -1); /* untimed */
    flush_plain(&fs[1], -1);

    machine mach = machine_start();
    for (int round = 0; round < ROUNDS; round++)
        for (int k = 0; k < 2; k++) {
            if ((round + k) % 2 == 0)
                flush_potter(s, &fs[0], round);
            else
                flush_plain(&fs[1], round);
        }
    char busy[256];
    machine_text(&mach, busy, sizeof(busy));
    pt_stats_free(s);

    printf("# stats.flush_10k load: %d counters incremented once, %d gauges set, %d timers "
           "of %d samples each, then pt_stats_flush() timed from the call to its return "
           "(pt-ops does the work; default 1432-byte datagrams), against the plain client "
           "formatting the same %d lines and sending each with sendto(); %d rounds "
           "alternating, median\n",
           FLUSH_C, FLUSH_G, FLUSH_T, FLUSH_SAMPLES, FLUSH_C + FLUSH_G + FLUSH_T * FLUSH_SAMPLES,
           ROUNDS);
    printf("# stats.flush_10k machine: %s\n", busy);
    for (int i = 0; i < 2; i++)
        printf("# stats.flush_10k %s per flush: %.0f datagrams, %.0f bytes, receiver got %.0f "
               "lines; delivery %s\n",
               i == 0 ? "potter" : "plain-sendto", (double)fs[i].datagrams / ROUNDS,
               (double)fs[i].bytes / ROUNDS, (double)fs[i].lines / ROUNDS,
               fs[i].incomplete ? "WARNING: incomplete in some rounds" : "complete every round");
    printf("# stats.flush_10k runs (ms): potter %s | plain-sendto %s\n",
           runs_text(b1, sizeof(b1), fs[0].ms, ROUNDS, "%.2f"),
           runs_text(b2, sizeof(b2), fs[1].ms, ROUNDS, "%.2f"));
    bench_line("stats.flush_10k", median(fs[0].ms, ROUNDS), "plain-sendto",
               median(fs[1].ms, ROUNDS), "ms", 2);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* a receiver that died shows as a failed write */
    names_init();
    rx_start(); /* before potter starts any thread */
    printf("# stats receiver: a child process on 127.0.0.1:%u, SO_RCVBUF %d bytes; names "
           "\"%sapp.<kind>.<i>\"\n",
           rx_port(), rx_rcvbuf(), name_prefix);

    const char *only = getenv("PT_BENCH_STATS_ONLY");
    if (only == NULL || strstr(only, "inc")) {
        pt_stats *s = stats_open(3600000); /* flushed by the benchmark only */
        bench_one_thread(s);
        bench_two_threads(s);
        pt_stats_free(s);
    }
    if (only == NULL || strstr(only, "cpu"))
        bench_cpu();
    if (only == NULL || strstr(only, "flush"))
        bench_flush();
    rx_stop();

    for (int i = 0; i < nbench; i++)
        printf("%s\n", bench_lines[i]);
    return 0;
}
