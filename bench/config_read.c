/* bench/config_read.c: what reading the configuration costs a service's threads, and what an
 * override costs the thread that applies it while others read.
 *
 * Figures (DESIGN.md, "Tests and benchmarks"):
 *   config.handle_read      ns per pt_config_int_get(h), against the same lookup in a
 *                           jansson tree: json_integer_value(json_object_get(json_object_get(
 *                           root, "http"), "port")), what a service would otherwise do
 *   config.handle_floor     the same handle read against a plain load of a uint64_t through
 *                           a pointer (the floor: ratio 1.00 means the handle costs nothing more)
 *   config.view_pair        ns per pt_config_view_begin() + pt_config_view_end(), against
 *                           pthread_rwlock_rdlock() + unlock() (how a service would otherwise
 *                           read several values as of one instant)
 *   config.view_read_int    ns per pt_config_view_int() inside a view, against the jansson
 *                           lookup above
 *   config.view_read_str    ns per pt_config_view_str() (and a read of its first byte)
 *                           inside a view, against json_string_value() of a nested member
 *   config.override_p50, _p99, _max
 *                           us per pt_config_override() of two keys (an int and a string),
 *                           with 2 reader threads reading through views and handles, against
 *                           the same with no reader
 *
 * Read loops: the handle (or pointer, or root) goes through an empty asm statement that
 * claims to modify it on every iteration, so the compiler must load again each time, and the
 * values are summed into a result that is printed. A loop is timed as a whole with
 * CLOCK_MONOTONIC. Rounds alternate the implementations (the order flips every round); a
 * figure is the median over ROUNDS rounds, and the per-round values are printed first.
 *
 * Overrides: each call is timed alone with CLOCK_MONOTONIC (about 22 ns a pair here, not
 * subtracted). Readers run bursts of READER_BURST reads, then sleep READER_PAUSE_US: two
 * readers that never sleep, plus the writer, would be three busy threads on this 2-CPU VM and
 * the tail would measure the scheduler. Rounds of APPLIES applies (after WARMUP untimed ones)
 * alternate with and without readers; p50, p99 and max are over all the timed applies of a
 * side, and per-round values are printed first.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "alloc_count.h"
#include "bench_c.h"
#include "potter/config.h"

#define ROUNDS 7
#define HANDLE_ITERS 100000000ull /* handle and plain loads */
#define LOOKUP_ITERS 5000000ull /* jansson lookups and rwlock pairs */
#define VIEW_ITERS 20000000ull /* view pairs and view reads */

#define OVERRIDE_ROUNDS 5
#define APPLIES 4000 /* timed, per round */
#define WARMUP 500
#define READERS 2
#define READER_BURST 256
#define READER_PAUSE_US 20

/* ---- the configuration and its jansson twin --------------------------------------------- */

static const pt_config_key keys[] = {
    {"http.port", PT_CONFIG_INT, "8080", "port", "1..65535", 0},
    {"http.host", PT_CONFIG_STRING, "0.0.0.0", "address", NULL, 0},
    {"http.timeout", PT_CONFIG_DURATION, "30s", "request deadline", "1ms..1h", 0},
    {"http.max_body", PT_CONFIG_SIZE, "1MiB", "largest body", NULL, 0},
    {"http.keepalive", PT_CONFIG_BOOL, "true", "keep-alive", NULL, 0},
    {"db.url", PT_CONFIG_STRING, "postgres://db.internal:5432/app", "database", NULL, 0},
    {"db.pool", PT_CONFIG_INT, "16", "connections", "1..1024", 0},
    {"db.timeout", PT_CONFIG_DURATION, "250ms", "query deadline", NULL, 0},
    {"db.password", PT_CONFIG_STRING, "hunter2", "password", NULL, PT_CONFIG_SECRET},
    {"log.level", PT_CONFIG_ENUM, "info", "level", "debug|info|warn|error", 0},
    {"log.file", PT_CONFIG_STRING, "var/log/app.log", "file", NULL, 0},
    {"cache.size", PT_CONFIG_SIZE, "64MiB", "cache size", NULL, 0},
    {"cache.ttl", PT_CONFIG_DURATION, "5m", "cache ttl", NULL, 0},
    {"cache.ratio", PT_CONFIG_DOUBLE, "0.75", "hit ratio target", "0..1", 0},
    {"feature.tags", PT_CONFIG_LIST, "a,b,c", "tags", NULL, 0},
    {"feature.limits", PT_CONFIG_OBJECT, "{\"rps\":100}", "limits", NULL, 0},
    {"pair.n", PT_CONFIG_INT, "0", "overridden with pair.s", NULL, 0},
    {"pair.s", PT_CONFIG_STRING, "n-0", "overridden with pair.n", NULL, 0},
};

static const char peer_json[] =
    "{\"http\":{\"port\":8080,\"host\":\"0.0.0.0\",\"timeout\":\"30s\",\"max_body\":\"1MiB\","
    "\"keepalive\":true},\"db\":{\"url\":\"postgres://db.internal:5432/app\",\"pool\":16,"
    "\"timeout\":\"250ms\",\"password\":\"hunter2\"},\"log\":{\"level\":\"info\",\"file\":"
    "\"var/log/app.log\"},\"cache\":{\"size\":\"64MiB\",\"ttl\":\"5m\",\"ratio\":0.75},"
    "\"feature\":{\"tags\":[\"a\",\"b\",\"c\"],\"limits\":{\"rps\":100}},\"pair\":{\"n\":0,"
    "\"s\":\"n-0\"}}";

static struct {
    pt_config *cfg;
    pt_config_int *port, *n;
    pt_config_str *url, *s;
    json_t *root;
    pthread_rwlock_t lock;
    uint64_t plain; /* the floor's value */
    uint64_t sink; /* every loop's sum lands here, and is printed */
} g;

/* ---- read loops ------------------------------------------------------------------------- */

static NOINLINE uint64_t loop_handle(const pt_config_int *h, uint64_t n)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        __asm__ volatile("" : "+r"(h));
        sum += (uint64_t)pt_config_int_get(h);
    }
    return sum;
}

static NOINLINE uint64_t loop_plain(const uint64_t *p, uint64_t n)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        __asm__ volatile("" : "+r"(p));
        sum += *p;
    }
    return sum;
}

static NOINLINE uint64_t loop_jansson_int(json_t *root, uint64_t n)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        __asm__ volatile("" : "+r"(root));
        sum += (uint64_t)json_integer_value(json_object_get(json_object_get(root, "http"), "port"));
    }
    return sum;
}

static NOINLINE uint64_t loop_jansson_str(json_t *root, uint64_t n)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        __asm__ volatile("" : "+r"(root));
        const char *s = json_string_value(json_object_get(json_object_get(root, "db"), "url"));
        sum += (unsigned char)s[0];
    }
    return sum;
}

static NOINLINE uint64_t loop_view_pair(pt_config *cfg, uint64_t n)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        const pt_config_view *v = pt_config_view_begin(cfg);
        __asm__ volatile("" : "+r"(v));
        sum += (uintptr_t)v & 1;
        pt_config_view_end(v);
    }
    return sum;
}

static NOINLINE uint64_t loop_rwlock_pair(pthread_rwlock_t *lock, uint64_t n)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        pthread_rwlock_rdlock(lock);
        __asm__ volatile("" : "+r"(lock));
        sum += (uintptr_t)lock & 1;
        pthread_rwlock_unlock(lock);
    }
    return sum;
}

static NOINLINE uint64_t loop_view_int(const pt_config_view *v, const pt_config_int *h, uint64_t n)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        __asm__ volatile("" : "+r"(h));
        sum += (uint64_t)pt_config_view_int(v, h);
    }
    return sum;
}

static NOINLINE uint64_t loop_view_str(const pt_config_view *v, const pt_config_str *h, uint64_t n)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        __asm__ volatile("" : "+r"(h));
        sum += (unsigned char)pt_config_view_str(v, h)[0];
    }
    return sum;
}

enum {
    F_HANDLE,
    F_PLAIN,
    F_JANSSON_INT,
    F_VIEW_PAIR,
    F_RWLOCK_PAIR,
    F_VIEW_INT,
    F_VIEW_STR,
    F_JANSSON_STR,
    F_N
};

static const uint64_t iters[F_N] = {HANDLE_ITERS, HANDLE_ITERS, LOOKUP_ITERS, VIEW_ITERS,
                                    LOOKUP_ITERS, VIEW_ITERS,   VIEW_ITERS,   LOOKUP_ITERS};

/* Runs loop `which` once; returns ns per iteration. */
static double run_loop(int which)
{
    uint64_t n = iters[which], sum = 0;
    const pt_config_view *v = NULL;
    if (which == F_VIEW_INT || which == F_VIEW_STR)
        v = pt_config_view_begin(g.cfg);
    uint64_t t0 = mono_ns();
    switch (which) {
    case F_HANDLE: sum = loop_handle(g.port, n); break;
    case F_PLAIN: sum = loop_plain(&g.plain, n); break;
    case F_JANSSON_INT: sum = loop_jansson_int(g.root, n); break;
    case F_VIEW_PAIR: sum = loop_view_pair(g.cfg, n); break;
    case F_RWLOCK_PAIR: sum = loop_rwlock_pair(&g.lock, n); break;
    case F_VIEW_INT: sum = loop_view_int(v, g.port, n); break;
    case F_VIEW_STR: sum = loop_view_str(v, g.url, n); break;
    case F_JANSSON_STR: sum = loop_jansson_str(g.root, n); break;
    }
    uint64_t t1 = mono_ns();
    if (v != NULL)
        pt_config_view_end(v);
    g.sink += sum;
    return (double)(t1 - t0) / (double)n;
}

/* The pairs compared: potter's side first. */
static const int pairs[][2] = {
    {F_HANDLE, F_JANSSON_INT},   {F_HANDLE, F_PLAIN},         {F_VIEW_PAIR, F_RWLOCK_PAIR},
    {F_VIEW_INT, F_JANSSON_INT}, {F_VIEW_STR, F_JANSSON_STR},
};
static const char *const pair_names[][3] = {
    {"config.handle_read", "jansson-get", "ns"},
    {"config.handle_floor", "plain-load", "ns"},
    {"config.view_pair", "rwlock-rd", "ns"},
    {"config.view_read_int", "jansson-get", "ns"},
    {"config.view_read_str", "jansson-get-str", "ns"},
};
#define NPAIRS (sizeof(pairs) / sizeof(pairs[0]))

static void bench_reads(void)
{
    double runs[NPAIRS][2][ROUNDS];
    char b1[512], b2[512], r[32];

    /* One untimed pass of everything first: page faults, caches, frequency. */
    for (size_t p = 0; p < NPAIRS; p++)
        for (int k = 0; k < 2; k++)
            run_loop(pairs[p][k]);

    uint64_t all0, self0, ns0 = mono_ns();
    cpu_ticks(&all0, &self0);
    pt_bench_heap_counts h0 = pt_bench_heap_counts_get();
    for (int round = 0; round < ROUNDS; round++)
        for (size_t p = 0; p < NPAIRS; p++)
            for (int k = 0; k < 2; k++) {
                int side = (round + k) % 2;
                runs[p][side][round] = run_loop(pairs[p][side]);
            }
    pt_bench_heap_counts h1 = pt_bench_heap_counts_get();
    double others = others_pct(all0, self0, ns0);
    double secs = (double)(mono_ns() - ns0) / 1e9;

    printf("# config.read loops: %llu iterations per round for handle and plain loads, %llu for "
           "views, %llu for jansson lookups and rwlock pairs; asm barrier on the pointer each "
           "iteration; %d rounds alternating (order flipped each round), median; %.1f s in "
           "all\n",
           HANDLE_ITERS, VIEW_ITERS, LOOKUP_ITERS, ROUNDS, secs);
    printf("# config.read peer: jansson %s, a tree parsed from the same %zu values in %zu "
           "objects; glibc pthread_rwlock (default attributes), uncontended\n",
           JANSSON_VERSION, sizeof(keys) / sizeof(keys[0]), json_object_size(g.root));
    printf("# config.read heap calls during the timed loops: %" PRIu64 " allocs %" PRIu64
           " frees\n",
           h1.allocs - h0.allocs, h1.frees - h0.frees);
    printf("# config.read machine: other processes used %.0f%% of the CPUs during the rounds "
           "(load average %s); checksum %" PRIu64 "\n",
           others, loadavg(r, sizeof(r)), g.sink);
    for (size_t p = 0; p < NPAIRS; p++)
        printf("# %s runs (%s): potter %s | %s %s\n", pair_names[p][0], pair_names[p][2],
               runs_text(b1, sizeof(b1), runs[p][0], ROUNDS, "%.2f"), pair_names[p][1],
               runs_text(b2, sizeof(b2), runs[p][1], ROUNDS, "%.2f"));
    for (size_t p = 0; p < NPAIRS; p++) {
        double mine = median(runs[p][0], ROUNDS), peer = median(runs[p][1], ROUNDS);
        printf("bench %s %.2f %s vs %s %.2f %s ratio %s\n", pair_names[p][0], mine,
               pair_names[p][2], pair_names[p][1], peer, pair_names[p][2],
               ratio_text(r, sizeof(r), peer, mine));
    }
}

/* ---- overrides while others read -------------------------------------------------------- */

typedef struct reader {
    pthread_t th;
    atomic_int *stop;
    uint64_t reads, bad;
} reader;

static void *reader_main(void *arg)
{
    reader *r = arg;
    char want[32];

    while (!atomic_load_explicit(r->stop, memory_order_relaxed)) {
        for (int i = 0; i < READER_BURST; i++) {
            const pt_config_view *v = pt_config_view_begin(g.cfg);
            int64_t n = pt_config_view_int(v, g.n);
            const char *s = pt_config_view_str(v, g.s);
            int64_t port = pt_config_view_int(v, g.port);
            snprintf(want, sizeof(want), "n-%" PRId64, n);
            r->bad += s == NULL || strcmp(s, want) != 0 || port != 8080;
            pt_config_view_end(v);
            r->bad += pt_config_int_get(g.port) != 8080;
            r->reads++;
        }
        sleep_ns(READER_PAUSE_US * 1000L);
    }
    return NULL;
}

static uint64_t next_n = 1;

/* One timed apply of {"pair.n":N,"pair.s":"n-N"}; returns ns, or exits on failure. */
static uint64_t apply_once(void)
{
    char doc[128];
    uint64_t n = next_n++;
    int len =
        snprintf(doc, sizeof(doc), "{\"pair.n\":%" PRIu64 ",\"pair.s\":\"n-%" PRIu64 "\"}", n, n);
    uint64_t t0 = pt_clock_mono_ns();
    int rc = pt_config_override(g.cfg, doc, (size_t)len, 0, "bench");
    uint64_t t1 = pt_clock_mono_ns();
    if (rc != 0) {
        fprintf(stderr, "config_read: override: %s: %s\n", pt_strerror(rc), pt_config_error(g.cfg));
        exit(1);
    }
    return t1 - t0;
}

typedef struct side {
    uint64_t samples[OVERRIDE_ROUNDS * APPLIES];
    size_t n;
    double p50[OVERRIDE_ROUNDS], p99[OVERRIDE_ROUNDS], max[OVERRIDE_ROUNDS];
    uint64_t reads, bad, allocs;
    double secs; /* timed applies of the side's rounds, in all */
} side;

static side sides[2]; /* 0: with readers, 1: without */

static void override_round(int with_readers, int round)
{
    side *sd = &sides[with_readers ? 0 : 1];
    atomic_int stop = 0;
    reader rd[READERS];

    if (with_readers)
        for (int i = 0; i < READERS; i++) {
            rd[i] = (reader){.stop = &stop};
            if (pthread_create(&rd[i].th, NULL, reader_main, &rd[i]) != 0) {
                perror("pthread_create");
                exit(1);
            }
        }
    for (int i = 0; i < WARMUP; i++)
        apply_once();
    uint64_t *s = sd->samples + sd->n;
    pt_bench_heap_counts h0 = pt_bench_heap_counts_get();
    uint64_t t0 = mono_ns();
    for (int i = 0; i < APPLIES; i++)
        s[i] = apply_once();
    sd->secs += (double)(mono_ns() - t0) / 1e9;
    pt_bench_heap_counts h1 = pt_bench_heap_counts_get();
    sd->allocs += h1.allocs - h0.allocs;
    sd->n += APPLIES;
    if (with_readers) {
        atomic_store(&stop, 1);
        for (int i = 0; i < READERS; i++) {
            pthread_join(rd[i].th, NULL);
            sd->reads += rd[i].reads;
            sd->bad += rd[i].bad;
        }
    }
    uint64_t tmp[APPLIES];
    memcpy(tmp, s, sizeof(tmp));
    sd->p50[round] = (double)quantile_u64(tmp, APPLIES, 0.50) / 1e3;
    sd->p99[round] = (double)quantile_u64(tmp, APPLIES, 0.99) / 1e3;
    sd->max[round] = (double)tmp[APPLIES - 1] / 1e3;
}

static void on_change(void *arg, const pt_config_change *changes, size_t n)
{
    (void)changes;
    *(atomic_size_t *)arg += n;
}

/* The override figures, named `fig`; with a subscriber to every key (as pt_app has) when
 * `subscribed`, so that each apply also works out and posts its changes. */
static void bench_overrides(const char *fig, int subscribed)
{
    char b1[512], b2[512], r[32];
    uint64_t all0, self0, ns0;
    static atomic_size_t told;
    pt_config_sub *sub = NULL;

    memset(sides, 0, sizeof(sides));
    if (subscribed && pt_config_subscribe(g.cfg, "", on_change, &told, &sub) != 0) {
        fprintf(stderr, "config_read: subscribe failed\n");
        exit(1);
    }
    ns0 = mono_ns();

    cpu_ticks(&all0, &self0);
    for (int round = 0; round < OVERRIDE_ROUNDS; round++)
        for (int k = 0; k < 2; k++)
            override_round((round + k) % 2 == 0, round);
    pt_config_unsubscribe(sub);
    double others = others_pct(all0, self0, ns0);
    double secs = (double)(mono_ns() - ns0) / 1e9;

    double figs[2][3];
    for (int i = 0; i < 2; i++) {
        side *sd = &sides[i];
        figs[i][0] = (double)quantile_u64(sd->samples, sd->n, 0.50) / 1e3;
        figs[i][1] = (double)quantile_u64(sd->samples, sd->n, 0.99) / 1e3;
        figs[i][2] = (double)sd->samples[sd->n - 1] / 1e3;
    }
    printf("# config.%s load: pt_config_override() of {\"pair.n\":N,\"pair.s\":\"n-N\"} "
           "(ttl 0, %s) back to back on one thread, each timed alone "
           "(CLOCK_MONOTONIC); %d warm-up + %d timed applies per round, %d rounds with %d "
           "readers and %d without, alternating; %.1f s in all\n",
           fig, subscribed ? "a subscriber to every key, told on pt-ops" : "no subscriber",
           WARMUP, APPLIES, OVERRIDE_ROUNDS, READERS, OVERRIDE_ROUNDS, secs);
    printf("# config.%s readers: each loops bursts of %d reads (view begin, pair.n, "
           "pair.s, http.port, view end, then a handle read) and sleeps %d us; %.0f reads/s "
           "per reader while timed; %" PRIu64 " inconsistent reads\n",
           fig, READER_BURST, READER_PAUSE_US, (double)sides[0].reads / READERS / sides[0].secs,
           sides[0].bad);
    printf("# config.%s heap calls per apply: %.1f with readers, %.1f without\n", fig,
           (double)sides[0].allocs / (double)sides[0].n,
           (double)sides[1].allocs / (double)sides[1].n);
    printf("# config.%s machine: other processes used %.0f%% of the CPUs during the "
           "rounds (load average %s)\n",
           fig, others, loadavg(r, sizeof(r)));
    static const char *const what[3] = {"p50", "p99", "max"};
    for (int q = 0; q < 3; q++) {
        const double *a = q == 0 ? sides[0].p50 : q == 1 ? sides[0].p99 : sides[0].max;
        const double *b = q == 0 ? sides[1].p50 : q == 1 ? sides[1].p99 : sides[1].max;
        printf("# config.%s_%s runs (us): %d readers %s | 0-readers %s\n", fig, what[q], READERS,
               runs_text(b1, sizeof(b1), a, OVERRIDE_ROUNDS, "%.1f"),
               runs_text(b2, sizeof(b2), b, OVERRIDE_ROUNDS, "%.1f"));
    }
    printf("# config.%s with/without readers: p50 %.2fx, p99 %.2fx, max %.2fx\n", fig,
           figs[0][0] / figs[1][0], figs[0][1] / figs[1][1], figs[0][2] / figs[1][2]);
    for (int q = 0; q < 3; q++)
        printf("bench config.%s_%s %.1f us vs 0-readers %.1f us ratio %s\n", fig, what[q],
               figs[0][q], figs[1][q], ratio_text(r, sizeof(r), figs[1][q], figs[0][q]));
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof(tmpl), "%s/potter-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char *d = mkdtemp(tmpl);
    if (d == NULL) {
        perror("mkdtemp");
        return 1;
    }
    char dcfile[600];
    snprintf(dcfile, sizeof(dcfile), "%s/no-datacenter", d);

    pt_config_options opts = {0};
    opts.config_dir = d;
    opts.env = "bench";
    opts.datacenter_file = dcfile;
    int rc = pt_config_new("bench", &opts, &g.cfg);
    if (rc == 0)
        rc = pt_config_declare(g.cfg, keys, sizeof(keys) / sizeof(keys[0]));
    char *argv[] = {"config_read", NULL};
    if (rc == 0)
        rc = pt_config_load(g.cfg, 1, argv);
    if (rc != 0) {
        fprintf(stderr, "config_read: %s: %s\n", pt_strerror(rc),
                g.cfg ? pt_config_error(g.cfg) : "");
        return 1;
    }
    g.port = PT_CONFIG_INT(g.cfg, "http.port");
    g.url = PT_CONFIG_STR(g.cfg, "db.url");
    g.n = PT_CONFIG_INT(g.cfg, "pair.n");
    g.s = PT_CONFIG_STR(g.cfg, "pair.s");
    g.plain = 8080;
    pthread_rwlock_init(&g.lock, NULL);
    json_error_t jerr;
    g.root = json_loads(peer_json, 0, &jerr);
    if (g.root == NULL) {
        fprintf(stderr, "config_read: jansson: %s\n", jerr.text);
        return 1;
    }

    bench_reads();
    bench_overrides("override", 0);
    bench_overrides("override_sub", 1);

    json_decref(g.root);
    pthread_rwlock_destroy(&g.lock);
    pt_config_free(g.cfg);
    rmdir(d);
    return 0;
}
