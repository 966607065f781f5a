/* bench/prof_heap.c: what the heap profiler (libpotter-heap) costs an allocation-heavy
 * program, against tcmalloc's own sampler (issue "heap profiler", "Budgets").
 *
 * The workload (this program with --work N): N operations on a ring of 4096 blocks, each
 * freeing one block and allocating another of a mixed size (70% 16..128 B, 25% 128..1024 B,
 * 5% 1..8 KiB; ~430 B on average), touching its first byte. It is run in child processes,
 * never linked with the heap library: the allocator is chosen by LD_PRELOAD, as a service
 * would. This program is not linked with bench/alloc_count.c, whose malloc would hide the
 * preloaded one.
 *
 * Figures:
 *   prof.heap_off   instructions (valgrind's callgrind, Ir) per operation with the library
 *                   preloaded and sampling off, against glibc alone (the references to malloc
 *                   and free go straight to glibc while sampling is off). Instructions, not
 *                   time, because run-to-run noise here (3-10%) is far above the 0.5% budget;
 *                   each is the slope between a run of N and of 2N operations, so start-up
 *                   (dlsym, the range's reservation) cancels out.
 *   prof.heap_on    the overhead of sampling at 512 KiB over sampling off: the CPU time of a
 *                   sample (measured at a 4 KiB mean, where samples are 128 times as frequent
 *                   and the difference stands far above the noise) times the samples per
 *                   operation at 512 KiB, over the CPU time of an operation off; against the
 *                   same figure for tcmalloc (TCMALLOC_SAMPLE_PARAMETER 4096 and 524288, over
 *                   tcmalloc without sampling).
 *   prof.heap_off_json, prof.heap_on_json
 *                   the same on an allocation-heavy program that does more than allocate:
 *                   jansson parsing a 9 KiB document into a tree (an allocation for every
 *                   value and string) and freeing it (this program with --json N; jansson's
 *                   hash seed fixed, so that the instructions repeat). Off: callgrind
 *                   instructions per document, library preloaded against glibc. On at
 *                   512 KiB: instructions per document with sampling on (the countdown, the
 *                   sampled path's own code) plus, for the system calls callgrind does not
 *                   count, the samples per document times the full cost of a sample measured
 *                   above, over the document's time with glibc: an upper bound. Against
 *                   tcmalloc's sampler at 524288 over tcmalloc alone, in instructions.
 *   prof.heap_on_measured
 *                   the same overhead measured directly: median process CPU time (user + sys
 *                   of the child, from wait4) over ROUNDS alternated runs at 512 KiB against
 *                   off, and tcmalloc at 524288 against tcmalloc off. Noisy: read with the
 *                   spread printed before it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "bench_c.h"
#include "potter/heap.h"

#define RING 4096
#define WORK_OPS 4000000
#define CG_OPS 200000 /* callgrind: N and 2N */
#define ROUNDS 11
#define PAIR_RUNS 5

static volatile uint64_t sink;

static void die(const char *what)
{
    fprintf(stderr, "prof_heap: %s\n", what);
    exit(1);
}

static void die_errno(const char *what)
{
    fprintf(stderr, "prof_heap: %s: %s\n", what, strerror(errno));
    exit(1);
}

extern void *__libc_malloc(size_t size);
extern void __libc_free(void *p);

/* The workload: through malloc() and free() (whatever the lookup finds first: a preloaded
 * library's), or straight to glibc's (__libc_malloc, __libc_free: the same functions, past any
 * wrapper). */
static void workload(long n, int direct)
{
    static char *ring[RING];
    uint64_t x = 88172645463325252ull;

    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        unsigned pick = (unsigned)(x % 100);
        size_t size = pick < 70   ? 16 + (x >> 8) % 113
                      : pick < 95 ? 128 + (x >> 8) % 897
                                  : 1024 + (x >> 8) % 7169;
        size_t k = (size_t)(x >> 40) % RING;
        if (direct) {
            __libc_free(ring[k]);
            ring[k] = __libc_malloc(size);
        } else {
            free(ring[k]);
            ring[k] = malloc(size);
        }
        ring[k][0] = (char)i;
        sink += (uintptr_t)ring[k][0];
    }
    for (size_t k = 0; k < RING; k++) {
        if (direct)
            __libc_free(ring[k]);
        else
            free(ring[k]);
        ring[k] = NULL;
    }
}

/* In one process, blocks of the workload through malloc/free and straight to glibc, alternated:
 * prints the median ns per operation of each. Over glibc alone both are the same functions
 * (the harness's check: ratio ~1); with the heap library preloaded, off, the difference is
 * the wrappers' cost in time. */
static int pair(void)
{
    enum { BLOCKS = 41, OPS = 200000 };
    double t[2][BLOCKS];

    workload(OPS, 0); /* warm both */
    workload(OPS, 1);
    for (int b = 0; b < BLOCKS; b++) {
        for (int j = 0; j < 2; j++) {
            int direct = (b % 2) ^ j;
            uint64_t t0 = mono_ns();
            workload(OPS, direct);
            t[direct][b] = (double)(mono_ns() - t0) / OPS;
        }
    }
    printf("%.3f %.3f\n", median(t[0], BLOCKS), median(t[1], BLOCKS));
    return 0;
}

static int work(long n)
{
    workload(n, 0);
    /* The samples taken, when the heap library is loaded. */
    int (*get)(pt_heap_counters *, size_t) =
        (int (*)(pt_heap_counters *, size_t))dlsym(RTLD_DEFAULT, "pt_heap_get_counters");
    pt_heap_counters c = {0};
    if (get)
        get(&c, sizeof(c));
    printf("%d %" PRIu64 " %" PRIu64 "\n", get != NULL, c.samples, c.untracked);
    return 0;
}

/* ---- the jansson workload ---- */

/* 150 records of a service's kind: ids, names, tags, numbers, nested objects (~9 KiB). */
static char *json_doc(void)
{
    json_t *a = json_array();
    for (int i = 0; i < 150; i++) {
        json_t *o = json_pack("{s:i, s:s, s:[s,s,s], s:f, s:{s:b, s:s}}", "id", i, "name",
                              "a user name of some length", "tags", "alpha", "beta", "gamma",
                              "score", i * 1.25, "meta", "active", i % 2, "region", "eu-west");
        json_array_append_new(a, o);
    }
    char *text = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return text;
}

static uint64_t json_round(const char *text, size_t len)
{
    json_error_t err;
    json_t *v = json_loadb(text, len, 0, &err);
    if (!v)
        die("json_loadb");
    uint64_t n = json_array_size(v);
    json_decref(v);
    return n;
}

/* --json N: N documents parsed and freed; prints what --work prints, then the median ns per
 * document over blocks of 200. */
static int json_work(long n)
{
    /* A fixed hash seed: jansson draws one from /dev/urandom otherwise, and its hash tables'
     * collisions (so the instructions counted) would change from run to run. */
    json_object_seed(0x5eed);
    char *text = json_doc();
    size_t len = strlen(text);
    double t[64];
    int blocks = 0;
    for (long i = 0; i < n;) {
        long k = n - i < 200 ? n - i : 200;
        uint64_t t0 = mono_ns();
        for (long j = 0; j < k; j++)
            sink += json_round(text, len);
        if (blocks < 64)
            t[blocks++] = (double)(mono_ns() - t0) / (double)k;
        i += k;
    }
    free(text);
    int (*get)(pt_heap_counters *, size_t) =
        (int (*)(pt_heap_counters *, size_t))dlsym(RTLD_DEFAULT, "pt_heap_get_counters");
    pt_heap_counters c = {0};
    if (get)
        get(&c, sizeof(c));
    printf("%d %" PRIu64 " %" PRIu64 " %.1f\n", get != NULL, c.samples, c.untracked,
           blocks ? median(t, blocks) : 0.0);
    return 0;
}

static char self[4096], heap_lib[4096], tc_lib[4096];

typedef struct {
    const char *name;
    const char *preload; /* NULL: glibc */
    const char *env; /* "NAME=value" or NULL */
} config;

/* Runs argv with preload and env; returns the child's CPU seconds, and what it printed. */
static double run(char *const argv[], const config *c, char *out, size_t cap)
{
    int fd[2];
    if (pipe(fd) != 0)
        die_errno("pipe");
    pid_t pid = fork();
    if (pid < 0)
        die_errno("fork");
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        unsetenv("LD_PRELOAD");
        unsetenv("PT_HEAP_SAMPLE");
        unsetenv("TCMALLOC_SAMPLE_PARAMETER");
        if (c->preload)
            setenv("LD_PRELOAD", c->preload, 1);
        if (c->env)
            putenv((char *)c->env);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0;
    ssize_t r;
    while ((r = read(fd[0], out + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = 0;
    close(fd[0]);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "prof_heap: %s failed (status %d):\n%s\n", c->name, status, out);
        exit(1);
    }
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* Instructions callgrind counted for a run of n operations. */
static double callgrind_ir_mode(const config *c, const char *mode, long n)
{
    char ops[32], outfile[128], buf[4096];
    snprintf(ops, sizeof(ops), "%ld", n);
    snprintf(outfile, sizeof(outfile), "--callgrind-out-file=/tmp/pt-prof-heap-cg.%d",
             (int)getpid());
    char *argv[] = {"/usr/bin/valgrind", "--tool=callgrind", "-q", outfile, self, (char *)mode,
                    ops, NULL};
    run(argv, c, buf, sizeof(buf));
    if (c->preload && strcmp(c->preload, heap_lib) == 0 && buf[0] != '1') {
        fprintf(stderr, "prof_heap: %s: the heap library was not loaded under valgrind\n",
                c->name);
        exit(1);
    }
    FILE *f = fopen(outfile + strlen("--callgrind-out-file="), "r");
    if (!f)
        die_errno("callgrind output");
    double ir = -1;
    char line[512];
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "summary: ", 9) == 0 || strncmp(line, "totals: ", 8) == 0)
            ir = atof(strchr(line, ' ') + 1);
    fclose(f);
    unlink(outfile + strlen("--callgrind-out-file="));
    if (ir < 0)
        die("no summary in callgrind's output");
    return ir;
}

static double ir_per_op(const config *c)
{
    return (callgrind_ir_mode(c, "--work", 2 * CG_OPS) - callgrind_ir_mode(c, "--work", CG_OPS)) /
           CG_OPS;
}

#define CG_DOCS 100 /* callgrind, jansson: N and 2N documents */

static double ir_per_doc(const config *c)
{
    return (callgrind_ir_mode(c, "--json", 2 * CG_DOCS) -
            callgrind_ir_mode(c, "--json", CG_DOCS)) /
           CG_DOCS;
}

static void find_lib(char *out, size_t cap, const char *env, const char *path)
{
    const char *v = getenv(env);
    snprintf(out, cap, "%s", v && *v ? v : path);
    if (access(out, R_OK) != 0) {
        fprintf(stderr, "prof_heap: %s not found (set %s)\n", out, env);
        exit(1);
    }
}

enum { GLIBC, HEAP_OFF, HEAP_ON, HEAP_4K, TC_OFF, TC_ON, TC_4K, NCONF };

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--work") == 0)
        return work(atol(argv[2]));
    if (argc == 2 && strcmp(argv[1], "--pair") == 0)
        return pair();
    if (argc == 3 && strcmp(argv[1], "--json") == 0)
        return json_work(atol(argv[2]));

    if (readlink("/proc/self/exe", self, sizeof(self) - 1) < 0)
        die_errno("readlink");
    /* libpotter-heap.so sits in the build tree at the path CMake gave (PT_HEAP_LIB). */
    find_lib(heap_lib, sizeof(heap_lib), "PT_HEAP_LIB", PT_HEAP_LIB);
    find_lib(tc_lib, sizeof(tc_lib), "PT_TCMALLOC_LIB", PT_TCMALLOC_LIB);
    const config conf[NCONF] = {
        [GLIBC] = {"glibc", NULL, NULL},
        [HEAP_OFF] = {"heap_off", heap_lib, NULL},
        [HEAP_ON] = {"heap_on_512k", heap_lib, "PT_HEAP_SAMPLE=524288"},
        [HEAP_4K] = {"heap_on_4k", heap_lib, "PT_HEAP_SAMPLE=4096"},
        [TC_OFF] = {"tcmalloc", tc_lib, NULL},
        [TC_ON] = {"tcmalloc_sample_512k", tc_lib, "TCMALLOC_SAMPLE_PARAMETER=524288"},
        [TC_4K] = {"tcmalloc_sample_4k", tc_lib, "TCMALLOC_SAMPLE_PARAMETER=4096"},
    };
    char buf[4096];

    /* ---- off: instructions per operation (callgrind) ---- */
    double ir_glibc = ir_per_op(&conf[GLIBC]);
    double ir_off = ir_per_op(&conf[HEAP_OFF]);
    double ir_on = ir_per_op(&conf[HEAP_ON]);
    printf("# callgrind Ir per operation (free + malloc + loop), slope of %d and %d ops: glibc "
           "%.2f, heap off %.2f (%+.2f%%), heap on at 512 KiB %.2f (%+.2f%%, syscalls not "
           "counted)\n",
           CG_OPS, 2 * CG_OPS, ir_glibc, ir_off, 100 * (ir_off / ir_glibc - 1), ir_on,
           100 * (ir_on / ir_glibc - 1));

    /* ---- off and on: time per operation, wrapped and not, in one process ---- */
    enum { P_GLIBC, P_OFF, P_ON, NPAIR };
    static const int pair_conf[NPAIR] = {GLIBC, HEAP_OFF, HEAP_ON};
    double pw[NPAIR][PAIR_RUNS], pd[NPAIR][PAIR_RUNS], pmed_w[NPAIR], pmed_d[NPAIR];
    char *pargv[] = {self, "--pair", NULL};
    for (int r = 0; r < PAIR_RUNS; r++) {
        for (int i = 0; i < NPAIR; i++) {
            int k = (r % 2 == 0) ? i : NPAIR - 1 - i;
            run(pargv, &conf[pair_conf[k]], buf, sizeof(buf));
            if (sscanf(buf, "%lf %lf", &pw[k][r], &pd[k][r]) != 2)
                die("--pair printed nothing");
        }
    }
    for (int k = 0; k < NPAIR; k++) {
        char text[512];
        double over[PAIR_RUNS];
        for (int r = 0; r < PAIR_RUNS; r++)
            over[r] = 100 * (pw[k][r] / pd[k][r] - 1);
        pmed_w[k] = median(pw[k], PAIR_RUNS);
        pmed_d[k] = median(pd[k], PAIR_RUNS);
        printf("# in-process, %-12s ns/op through malloc/free %.2f, straight to glibc %.2f; "
               "overhead per process (%%): %s\n",
               conf[pair_conf[k]].name, pmed_w[k], pmed_d[k],
               runs_text(text, sizeof(text), over, PAIR_RUNS, "%.2f"));
    }

    /* ---- on: process CPU over alternated runs ---- */
    double cpu[NCONF][ROUNDS];
    uint64_t samples[NCONF] = {0};
    char ops[32];
    snprintf(ops, sizeof(ops), "%d", WORK_OPS);
    char *wargv[] = {self, "--work", ops, NULL};
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < NCONF; i++) {
            int k = (r % 2 == 0) ? i : NCONF - 1 - i; /* the order flips every round */
            cpu[k][r] = run(wargv, &conf[k], buf, sizeof(buf)) * 1e9 / WORK_OPS;
            int loaded = 0;
            uint64_t s = 0, fb = 0;
            sscanf(buf, "%d %" SCNu64 " %" SCNu64, &loaded, &s, &fb);
            if ((k == HEAP_ON || k == HEAP_4K) && (!loaded || s == 0 || fb != 0)) {
                fprintf(stderr, "prof_heap: %s: no samples (loaded %d, %" PRIu64
                                " untracked)\n", conf[k].name, loaded, fb);
                return 1;
            }
            samples[k] = s;
        }
    }
    double med[NCONF];
    for (int k = 0; k < NCONF; k++) {
        char text[512];
        med[k] = median(cpu[k], ROUNDS);
        printf("# %-22s CPU ns/op: median %.2f; runs %s\n", conf[k].name, med[k],
               runs_text(text, sizeof(text), cpu[k], ROUNDS, "%.1f"));
    }
    printf("# samples per run of %d ops: heap 512 KiB %" PRIu64 ", heap 4 KiB %" PRIu64 "\n",
           WORK_OPS, samples[HEAP_ON], samples[HEAP_4K]);

    /* The sampled path's own cost, from the 4 KiB runs (128 times the samples). tcmalloc's
     * samples are not counted from outside: its rate is the same by construction (bytes /
     * parameter), so the heap library's count at 4 KiB stands for both. */
    double per_sample_ns = (med[HEAP_4K] - med[HEAP_OFF]) * WORK_OPS / (double)samples[HEAP_4K];
    double tc_per_sample_ns = (med[TC_4K] - med[TC_OFF]) * WORK_OPS / (double)samples[HEAP_4K];
    double rate = (double)samples[HEAP_ON] / WORK_OPS;
    printf("# one sample costs %.0f ns (heap) and %.0f ns (tcmalloc); %.2e samples per op at "
           "512 KiB: %.2f%% (heap) and %.2f%% (tcmalloc) of an operation; the rest of sampling "
           "on is the countdown in every malloc and the filter test in every free\n",
           per_sample_ns, tc_per_sample_ns, rate, 100 * per_sample_ns * rate / med[HEAP_OFF],
           100 * tc_per_sample_ns * rate / med[TC_OFF]);
    printf("# process CPU, sampling on over off: heap %+.2f%%, tcmalloc %+.2f%%\n",
           100 * (med[HEAP_ON] / med[HEAP_OFF] - 1), 100 * (med[TC_ON] / med[TC_OFF] - 1));

    /* ---- the jansson workload ---- */
    double jir_glibc = ir_per_doc(&conf[GLIBC]), jir_off = ir_per_doc(&conf[HEAP_OFF]);
    double jir_on = ir_per_doc(&conf[HEAP_ON]);
    double jir_tc = ir_per_doc(&conf[TC_OFF]), jir_tc_on = ir_per_doc(&conf[TC_ON]);
    enum { JDOCS = 4000 };
    char jn[32];
    snprintf(jn, sizeof(jn), "%d", JDOCS);
    char *jargv[] = {self, "--json", jn, NULL};
    double jns[ROUNDS], jsamples = 0;
    for (int r = 0; r < ROUNDS; r++) {
        int loaded;
        uint64_t js, jfb;
        run(jargv, &conf[GLIBC], buf, sizeof(buf));
        if (sscanf(buf, "%d %" SCNu64 " %" SCNu64 " %lf", &loaded, &js, &jfb, &jns[r]) != 4)
            die("--json printed nothing");
        run(jargv, &conf[HEAP_ON], buf, sizeof(buf));
        double dummy;
        if (sscanf(buf, "%d %" SCNu64 " %" SCNu64 " %lf", &loaded, &js, &jfb, &dummy) != 4)
            die("--json printed nothing");
        jsamples += (double)js / JDOCS / ROUNDS;
    }
    double jdoc_ns = median(jns, ROUNDS);
    double joff_pct = 100 * (jir_off / jir_glibc - 1);
    double jon_pct = 100 * (jir_on / jir_glibc - 1) + 100 * jsamples * per_sample_ns / jdoc_ns;
    printf("# jansson: %.0f ns per document with glibc (median of %d runs), callgrind Ir per "
           "document: glibc %.0f, heap off %.0f (%+.3f%%), heap on at 512 KiB %.0f; %.4f "
           "samples per document at %.0f ns each: on %+.3f%% (upper bound)\n",
           jdoc_ns, ROUNDS, jir_glibc, jir_off, joff_pct, jir_on, jsamples, per_sample_ns,
           jon_pct);

    double on_pct = 100 * (pmed_w[P_ON] / pmed_d[P_ON] - 1);
    double cpu_pct = 100 * (med[HEAP_ON] / med[GLIBC] - 1);
    double tc_pct = 100 * (med[TC_ON] / med[TC_OFF] - 1);
    char r0[32], r1[32], r2[32], r3[32];
    printf("bench prof.heap_off_ir %.2f Ir/op vs glibc %.2f Ir/op ratio %s\n", ir_off, ir_glibc,
           ratio_text(r0, sizeof(r0), ir_glibc, ir_off));
    printf("bench prof.heap_off %.2f ns/op vs glibc %.2f ns/op ratio %s\n", pmed_w[P_OFF],
           pmed_d[P_OFF], ratio_text(r1, sizeof(r1), pmed_d[P_OFF], pmed_w[P_OFF]));
    printf("bench prof.heap_on %.2f %% vs tcmalloc_sampler %.2f %% ratio %s\n", on_pct, tc_pct,
           ratio_text(r2, sizeof(r2), tc_pct, on_pct));
    printf("bench prof.heap_on_cpu %.2f %% vs tcmalloc_sampler %.2f %% ratio %s\n", cpu_pct,
           tc_pct, ratio_text(r3, sizeof(r3), tc_pct, cpu_pct));
    char r4[32];
    printf("bench prof.heap_off_json %.0f Ir/doc vs glibc %.0f Ir/doc ratio %s\n", jir_off,
           jir_glibc, ratio_text(r4, sizeof(r4), jir_glibc, jir_off));
    double jtc_pct = 100 * (jir_tc_on / jir_tc - 1);
    char r5[32];
    printf("# jansson over tcmalloc: callgrind Ir per document %.0f, sampling at 512 KiB %.0f "
           "(%+.3f%%, instructions only)\n", jir_tc, jir_tc_on, jtc_pct);
    printf("bench prof.heap_on_json %.3f %% vs tcmalloc_sampler %.3f %% ratio %s\n", jon_pct,
           jtc_pct, ratio_text(r5, sizeof(r5), jtc_pct, jon_pct));
    return 0;
}
