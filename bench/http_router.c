/* bench/http_router.c: what finding a request's route costs (src/http/router.h), against a
 * linear scan of the same routes (what Express does: try each route in turn).
 *
 * Figures (docs/http.md, "Router"; issue 5's budget):
 *   http.router_r3_336   ns per pt__router_find() on r3's benchmark set: every /a/b/c made of
 *                        3 different words out of r3's 8 (foo bar baz qux quux corge grault
 *                        garply: 8*7*6 = 336 GET routes), cycling through all 336 paths;
 *                        against the linear scan of those routes. Budget: <= 60 ns, >= 10x.
 *   http.router_10k      ns per find with 10,000 routes against the same with 10 routes
 *                        (ratio = 10-route cost / 10k-route cost; budget >= 0.5, i.e. the
 *                        10k table costs no more than 2x). Routes: 70% static, 30% with one
 *                        `:id` segment (not the first); 2..4 segments; the first segment from
 *                        40 resource words, the others from 3000 random words of 3..10
 *                        letters. The 10 routes are the generator's first 10 (7 static, 3
 *                        param). Lookups: a fixed cycle of 4096 paths, 90% hits (a route's
 *                        path, `:id` filled with digits) and 10% misses (a hit path with its
 *                        last byte changed to '~'; a `:param` route may still take it, so the
 *                        real share of 404s is printed).
 *
 * Loops: the router pointer goes through an empty asm statement that claims to modify it on
 * every iteration, so nothing is hoisted out of the loop; handler and nparams are summed into a
 * printed result. A loop is timed whole with CLOCK_MONOTONIC. Rounds alternate the two sides
 * (the order flips every round); a figure is the median over ROUNDS rounds; the per-round
 * values are printed first.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_count.h"
#include "bench_c.h"
#include "http/router.h"

#define ROUNDS 7
#define FIND_ITERS 5000000ull
#define LINEAR_ITERS 50000ull
#define SCALE_ROUTES 10000
#define SMALL_ROUTES 10
#define LOOKUPS 4096

typedef struct {
    const char *path;
    size_t len;
} req;

static uint64_t sink;

static uint64_t next_random(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 2685821657736338717ULL;
}

/* ---- the peer: a linear scan ------------------------------------------------------------ */

typedef struct {
    char *pattern;
    void *handler;
} linear_route;

/* Whether pattern matches path[0..len) segment by segment (":x" takes one non-empty segment). */
static int linear_match(const char *pat, const char *path, size_t len)
{
    size_t i = 0;
    for (const char *p = pat; *p != 0;) {
        if (*p == ':' && p[-1] == '/') {
            size_t start = i;
            while (i < len && path[i] != '/')
                i++;
            if (i == start)
                return 0;
            while (*p != 0 && *p != '/')
                p++;
        } else {
            if (i >= len || path[i] != *p)
                return 0;
            i++, p++;
        }
    }
    return i == len;
}

static NOINLINE uint64_t loop_linear(const linear_route *routes, size_t n, const req *reqs,
                                     size_t nreqs, uint64_t iters)
{
    uint64_t sum = 0;
    size_t k = 0;
    for (uint64_t i = 0; i < iters; i++) {
        __asm__ volatile("" : "+r"(routes));
        for (size_t j = 0; j < n; j++) {
            if (linear_match(routes[j].pattern, reqs[k].path, reqs[k].len)) {
                sum += (uintptr_t)routes[j].handler;
                break;
            }
        }
        if (++k == nreqs)
            k = 0;
    }
    return sum;
}

static NOINLINE uint64_t loop_router(const pt__router *r, const req *reqs, size_t nreqs,
                                     uint64_t iters, uint64_t *misses)
{
    uint64_t sum = 0, miss = 0;
    size_t k = 0;
    pt__router_match m;
    for (uint64_t i = 0; i < iters; i++) {
        __asm__ volatile("" : "+r"(r));
        if (pt__router_find(r, PT__ROUTER_GET, reqs[k].path, reqs[k].len, &m) == PT__ROUTE_FOUND)
            sum += (uintptr_t)m.handler + m.nparams;
        else
            miss++;
        if (++k == nreqs)
            k = 0;
    }
    *misses = miss;
    return sum;
}

static double time_router(const pt__router *r, const req *reqs, size_t n, uint64_t *misses)
{
    uint64_t t0 = mono_ns();
    sink += loop_router(r, reqs, n, FIND_ITERS, misses);
    return (double)(mono_ns() - t0) / (double)FIND_ITERS;
}

static void add(pt__router *r, linear_route *lin, size_t *n, const char *pattern)
{
    char why[PT__ROUTER_ERR_LEN];
    void *h = (void *)(uintptr_t)(*n + 1);
    if (pt__router_add(r, "GET", pattern, h, why, sizeof(why)) < 0) {
        fprintf(stderr, "http_router: %s\n", why);
        exit(1);
    }
    if (lin != NULL) {
        lin[*n].pattern = strdup(pattern);
        lin[*n].handler = h;
    }
    (*n)++;
}

/* ---- r3's 336 routes -------------------------------------------------------------------- */

static void bench_r3(void)
{
    static const char *const w[8] = {"foo", "bar", "baz", "qux", "quux", "corge", "grault",
                                     "garply"};
    static linear_route lin[336];
    static req reqs[336];
    static char paths[336][32];
    pt__router *r = pt__router_new();
    size_t n = 0;
    for (int a = 0; a < 8; a++)
        for (int b = 0; b < 8; b++)
            for (int c = 0; c < 8; c++) {
                if (a == b || b == c || a == c)
                    continue;
                snprintf(paths[n], sizeof(paths[n]), "/%s/%s/%s", w[a], w[b], w[c]);
                reqs[n].path = paths[n];
                reqs[n].len = strlen(paths[n]);
                add(r, lin, &n, paths[n]);
            }

    double rt[ROUNDS], ln[ROUNDS];
    uint64_t misses = 0, lmiss = 0, all0, self0, ns0 = mono_ns();
    cpu_ticks(&all0, &self0);
    pt_bench_heap_counts h0 = pt_bench_heap_counts_get();
    for (int round = 0; round < ROUNDS; round++) {
        for (int side = 0; side < 2; side++) {
            if ((side ^ (round & 1)) == 0) {
                rt[round] = time_router(r, reqs, n, &misses);
                lmiss += misses;
            } else {
                uint64_t t0 = mono_ns();
                sink += loop_linear(lin, n, reqs, n, LINEAR_ITERS);
                ln[round] = (double)(mono_ns() - t0) / (double)LINEAR_ITERS;
            }
        }
    }
    pt_bench_heap_counts h1 = pt_bench_heap_counts_get();
    char buf[512], buf2[512], ratio[32], load[64];
    printf("# http.router_r3_336: %zu GET routes /w1/w2/w3 of 3 different words out of r3's 8 "
           "(foo bar baz qux quux corge grault garply), cycling through all %zu paths; %llu "
           "finds per round, %llu for the linear scan; %" PRIu64 " not found (expected 0)\n",
           pt__router_count(r), n, FIND_ITERS, LINEAR_ITERS, lmiss);
    printf("# http.router_r3_336 heap calls during the timed loops: %" PRIu64 " allocs\n",
           h1.allocs - h0.allocs);
    printf("# http.router_r3_336 machine: other processes used %.0f%% of the CPUs, load %s\n",
           others_pct(all0, self0, ns0), loadavg(load, sizeof(load)));
    printf("# http.router_r3_336 runs (ns): router %s | linear %s\n",
           runs_text(buf, sizeof(buf), rt, ROUNDS, "%.1f"),
           runs_text(buf2, sizeof(buf2), ln, ROUNDS, "%.0f"));
    printf("bench http.router_r3_336 %.1f ns vs linear_scan %.0f ns ratio %s\n",
           median(rt, ROUNDS), median(ln, ROUNDS),
           ratio_text(ratio, sizeof(ratio), median(ln, ROUNDS), median(rt, ROUNDS)));
    for (size_t i = 0; i < n; i++)
        free(lin[i].pattern);
    pt__router_free(r);
}

/* ---- 10 routes against 10,000 ----------------------------------------------------------- */

typedef struct {
    char pattern[96];
    char path[96];
} gen_route;

static void random_word(uint64_t *rnd, char *out, size_t min, size_t max)
{
    size_t len = min + next_random(rnd) % (max - min + 1);
    for (size_t i = 0; i < len; i++)
        out[i] = (char)('a' + next_random(rnd) % 26);
    out[len] = 0;
}

/* The generator of the docs above; distinct patterns (re-drawn on a duplicate). */
static void generate(gen_route *out, size_t n)
{
    static char resources[40][12], words[3000][12];
    uint64_t rnd = 0x2545F4914F6CDD1DULL;
    for (size_t i = 0; i < 40; i++)
        random_word(&rnd, resources[i], 4, 9);
    for (size_t i = 0; i < 3000; i++)
        random_word(&rnd, words[i], 3, 10);
    pt__router *seen = pt__router_new();
    for (size_t i = 0; i < n;) {
        gen_route *g = &out[i];
        size_t segs = 2 + next_random(&rnd) % 3;
        size_t param = i % 10 < 3 ? 1 + next_random(&rnd) % (segs - 1) : 0;
        snprintf(g->pattern, sizeof(g->pattern), "/%s", resources[next_random(&rnd) % 40]);
        strcpy(g->path, g->pattern);
        for (size_t s = 1; s < segs; s++) {
            char *p = g->pattern + strlen(g->pattern), *q = g->path + strlen(g->path);
            if (s == param) {
                strcpy(p, "/:id");
                sprintf(q, "/%u", (unsigned)(next_random(&rnd) % 1000000));
            } else {
                const char *word = words[next_random(&rnd) % 3000];
                sprintf(p, "/%s", word);
                sprintf(q, "/%s", word);
            }
        }
        if (pt__router_add(seen, "GET", g->pattern, NULL, NULL, 0) == 0)
            i++;
    }
    pt__router_free(seen);
}

static void lookups(const gen_route *routes, size_t n, req *reqs, char (*buf)[96])
{
    uint64_t rnd = 7;
    for (size_t i = 0; i < LOOKUPS; i++) {
        strcpy(buf[i], routes[next_random(&rnd) % n].path);
        if (i % 10 == 9)
            buf[i][strlen(buf[i]) - 1] = '~';
        reqs[i].path = buf[i];
        reqs[i].len = strlen(buf[i]);
    }
}

static void bench_scale(void)
{
    static gen_route routes[SCALE_ROUTES];
    static req big_reqs[LOOKUPS], small_reqs[LOOKUPS];
    static char big_buf[LOOKUPS][96], small_buf[LOOKUPS][96];
    generate(routes, SCALE_ROUTES);
    pt__router *big = pt__router_new(), *small = pt__router_new();
    size_t nb = 0, ns = 0;
    for (size_t i = 0; i < SCALE_ROUTES; i++)
        add(big, NULL, &nb, routes[i].pattern);
    for (size_t i = 0; i < SMALL_ROUTES; i++)
        add(small, NULL, &ns, routes[i].pattern);
    lookups(routes, SCALE_ROUTES, big_reqs, big_buf);
    lookups(routes, SMALL_ROUTES, small_reqs, small_buf);

    double bt[ROUNDS], st[ROUNDS];
    uint64_t bmiss = 0, smiss = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (int side = 0; side < 2; side++) {
            if ((side ^ (round & 1)) == 0)
                bt[round] = time_router(big, big_reqs, LOOKUPS, &bmiss);
            else
                st[round] = time_router(small, small_reqs, LOOKUPS, &smiss);
        }
    }
    char buf[512], buf2[512], ratio[32];
    printf("# http.router_10k: %zu routes against %zu (70%% static, 30%% with one :id; 2..4 "
           "segments), %d lookups cycled, 90%% hits / 10%% last byte changed; 404s per "
           "round: %.1f%% (10k) and %.1f%% (10)\n",
           pt__router_count(big), pt__router_count(small), LOOKUPS,
           100.0 * (double)bmiss / (double)FIND_ITERS, 100.0 * (double)smiss / (double)FIND_ITERS);
    printf("# http.router_10k runs (ns): 10k %s | 10 %s\n",
           runs_text(buf, sizeof(buf), bt, ROUNDS, "%.1f"),
           runs_text(buf2, sizeof(buf2), st, ROUNDS, "%.1f"));
    printf("bench http.router_10k %.1f ns vs router_10 %.1f ns ratio %s\n", median(bt, ROUNDS),
           median(st, ROUNDS),
           ratio_text(ratio, sizeof(ratio), median(st, ROUNDS), median(bt, ROUNDS)));
    pt__router_free(big);
    pt__router_free(small);
}

int main(void)
{
    bench_r3();
    bench_scale();
    printf("# checksum %" PRIu64 "\n", sink);
    return 0;
}
