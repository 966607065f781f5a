/* Profiles and their output: aggregation by (stack, thread), sub and totals; pprof read back
 * both by a small protobuf reader here and by the real peer, `go tool pprof` (names,
 * flat/cum shares, inlined frames, the thread label, -sample_index); folded stacks to the
 * byte; the SVG flame graph parsed as XML with its widths measured; empty, deep and wide
 * profiles; and every allocation failing in turn (malloc is wrapped at link time). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "prof/profile_check.h"
#include "prof/profile_internal.h"

/* ---- failing allocations on demand (-Wl,--wrap=malloc,calloc,realloc) ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);

static long fail_in = -1; /* the allocation to fail: 0 the next one, -1 none */
static int failed;

static int should_fail(void)
{
    if (fail_in < 0)
        return 0;
    if (fail_in-- == 0) {
        failed = 1;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : __real_realloc(p, n);
}

/* ---- a synthetic program: fake pcs with names, files, lines and one module ---- */

enum {
    PC_MAIN = 0x1010,
    PC_HANDLE = 0x2010,
    PC_PARSE = 0x3010, /* skip_ws inlined into parse_json */
    PC_COMPUTE = 0x4010,
    PC_NOLINES = 0x4800, /* in the module, no lines */
    PC_ESCAPE = 0x4c00,
    PC_LONG = 0x4d00,
    PC_UNMAPPED = 0x9000, /* nothing known */
};

#define LONG_NAME_10 "long_function_name_"
#define LONG_NAME                                                                                  \
    LONG_NAME_10 LONG_NAME_10 LONG_NAME_10 LONG_NAME_10 LONG_NAME_10 LONG_NAME_10 LONG_NAME_10     \
        LONG_NAME_10 LONG_NAME_10 LONG_NAME_10

static size_t fake_lines(void *arg, uintptr_t pc, int is_return, pt__sym_line *out, size_t max)
{
    (void)arg;
    (void)is_return;
    if (max < 2)
        return 0;
    switch (pc) {
    case PC_MAIN: out[0] = (pt__sym_line){"main", "src/main.c", 10}; return 1;
    case PC_HANDLE: out[0] = (pt__sym_line){"handle_request", "src/server.c", 20}; return 1;
    case PC_PARSE:
        out[0] = (pt__sym_line){"skip_ws", "src/json.c", 31};
        out[1] = (pt__sym_line){"parse_json", "src/json.c", 30};
        return 2;
    case PC_COMPUTE: out[0] = (pt__sym_line){"compute", "src/math.c", 40}; return 1;
    case PC_ESCAPE: out[0] = (pt__sym_line){"operator<<(a&, \"b\")", "src/x.cc", 5}; return 1;
    case PC_LONG: out[0] = (pt__sym_line){LONG_NAME, "src/long.c", 1}; return 1;
    }
    return 0;
}

static int fake_module(void *arg, uintptr_t pc, pt__sym_module *out)
{
    (void)arg;
    if (pc < 0x1000 || pc >= 0x5000)
        return -ENOENT;
    memset(out, 0, sizeof(*out));
    out->path = "/usr/bin/fake-server";
    out->start = 0x1000;
    out->end = 0x5000;
    strcpy(out->build_id, "abcdef0123");
    return 0;
}

static const pt__profile_type two_types[] = {{"samples", "count"}, {"cpu", "nanoseconds"}};
static const pt__profile_type cpu_period = {"cpu", "nanoseconds"};

/* 10 samples: 7 in main;handle_request;parse_json;skip_ws on pt-http0 (added one by one,
 * 200 ms of cpu), 3 in main;compute on pt-work (800 ms): 70/30 by samples, 20/80 by cpu. */
static pt__profile *synthetic(void)
{
    pt__profile *p = pt__profile_new(two_types, 2, cpu_period, 10000000);
    assert_non_null(p);
    pt__profile_set_time(p, 1700000000000000000, 1000000000);
    const uintptr_t a[] = {PC_PARSE, PC_HANDLE, PC_MAIN}, b[] = {PC_COMPUTE, PC_MAIN};
    for (int i = 0; i < 7; i++) {
        int64_t v[2] = {1, 200000000 / 7 + (i == 0 ? 200000000 % 7 : 0)};
        assert_int_equal(pt__profile_add(p, a, 3, v, "pt-http0"), 0);
    }
    int64_t v[2] = {3, 800000000};
    assert_int_equal(pt__profile_add(p, b, 2, v, "pt-work"), 0);
    assert_int_equal(pt__profile_resolve(p, fake_lines, NULL, fake_module, NULL), 0);
    return p;
}

/* ---- aggregation ---- */

static void test_aggregation(void **state)
{
    (void)state;
    pt__profile *p = pt__profile_new(two_types, 2, cpu_period, 1000);
    assert_non_null(p);
    const uintptr_t a[] = {PC_PARSE, PC_HANDLE, PC_MAIN}, b[] = {PC_COMPUTE, PC_MAIN};
    int64_t one[2] = {1, 10}, two[2] = {2, 20};
    assert_int_equal(pt__profile_add(p, a, 3, one, "t1"), 0);
    assert_int_equal(pt__profile_add(p, a, 3, two, "t1"), 0); /* adds up */
    assert_int_equal(pt__profile_add(p, a, 3, one, "t2"), 0); /* another thread */
    assert_int_equal(pt__profile_add(p, a, 3, one, NULL), 0); /* no thread */
    assert_int_equal(pt__profile_add(p, a, 2, one, "t1"), 0); /* a shorter stack */
    assert_int_equal(pt__profile_add(p, b, 2, two, "t1"), 0);
    assert_int_equal(p->nsamples, 5);
    assert_int_equal(p->npcs, 4); /* PC_PARSE and PC_COMPUTE as leaves, 2 return addresses */
    assert_int_equal(pt__profile_total(p, 0), 1 + 2 + 1 + 1 + 1 + 2);
    assert_int_equal(pt__profile_total(p, 1), 80);
    assert_int_equal(pt__profile_total(p, 2), 0);
    int64_t *v = p->values; /* the first sample: a on t1 */
    assert_int_equal(v[0], 3);
    assert_int_equal(v[1], 30);

    /* sub: exact stack and thread only; a sample at zero stays but is not output. */
    assert_int_equal(pt__profile_sub(p, a, 3, one, "t3"), -ENOENT);
    assert_int_equal(pt__profile_sub(p, a, 1, one, "t1"), -ENOENT);
    const uintptr_t c[] = {0x7777, PC_MAIN};
    assert_int_equal(pt__profile_sub(p, c, 2, one, "t1"), -ENOENT);
    assert_int_equal(pt__profile_sub(p, b, 2, two, "t1"), 0);
    assert_int_equal(p->nsamples, 5);
    assert_int_equal(pt__profile_total(p, 0), 6);
    assert_int_equal(pt__profile_total(p, 1), 60);
    assert_int_equal(pt__profile_sub(p, a, 3, one, NULL), 0);
    assert_int_equal(pt__profile_total(p, 0), 5);

    assert_int_equal(pt__profile_resolve(p, fake_lines, NULL, fake_module, NULL), 0);
    char *text;
    size_t len;
    assert_int_equal(pt__profile_folded(p, 0, 1, &text, &len), 0);
    assert_string_equal(text, "t1;handle_request;parse_json;skip_ws 1\n"
                              "t1;main;handle_request;parse_json;skip_ws 3\n"
                              "t2;main;handle_request;parse_json;skip_ws 1\n");
    assert_int_equal(len, strlen(text));
    free(text);
    assert_int_equal(pt__profile_folded(p, 1, 0, &text, &len), 0);
    assert_string_equal(text, "handle_request;parse_json;skip_ws 10\n"
                              "main;handle_request;parse_json;skip_ws 40\n");
    free(text);
    assert_int_equal(pt__profile_folded(p, 2, 0, &text, &len), -EINVAL);

    /* pcs added after resolving are resolved by the next call. */
    assert_int_equal(pt__profile_add(p, c, 2, one, NULL), 0);
    assert_int_equal(pt__profile_resolve(p, fake_lines, NULL, fake_module, NULL), 0);
    assert_int_equal(pt__profile_folded(p, 0, 0, &text, &len), 0);
    assert_string_equal(text, "handle_request;parse_json;skip_ws 1\n"
                              "main;0x7777 1\n"
                              "main;handle_request;parse_json;skip_ws 4\n");
    free(text);
    pt__profile_free(p);
    pt__profile_free(NULL);
    assert_null(pt__profile_new(two_types, 0, cpu_period, 1));

    /* Sums saturate; a flame graph cannot scale what does not fit. */
    p = pt__profile_new(two_types, 1, cpu_period, 1);
    assert_non_null(p);
    int64_t big = INT64_MAX;
    assert_int_equal(pt__profile_add(p, a, 3, &big, NULL), 0);
    assert_int_equal(pt__profile_add(p, a, 3, &big, NULL), 0);
    assert_int_equal(pt__profile_total(p, 0), INT64_MAX);
    assert_int_equal(pt__profile_add(p, b, 2, &big, NULL), 0);
    assert_int_equal(pt__profile_total(p, 0), INT64_MAX);
    assert_int_equal(pt__profile_flame_svg(p, 0, "big", &text, &len), -EOVERFLOW);
    pt__profile_free(p);
    assert_null(pt__profile_new(two_types, 9, cpu_period, 1));
}

/* ---- folded ---- */

static void test_folded(void **state)
{
    (void)state;
    pt__profile *p = synthetic();
    const uintptr_t nolines[] = {PC_NOLINES, PC_MAIN}, unmapped[] = {PC_UNMAPPED};
    int64_t v[2] = {1, 5};
    assert_int_equal(pt__profile_add(p, nolines, 2, v, "pt-work"), 0);
    assert_int_equal(pt__profile_add(p, unmapped, 1, v, NULL), 0);
    assert_int_equal(pt__profile_resolve(p, fake_lines, NULL, fake_module, NULL), 0);
    char *text;
    size_t len;
    assert_int_equal(pt__profile_folded(p, 0, 0, &text, &len), 0);
    assert_string_equal(text, "0x9000 1\n"
                              "main;compute 3\n"
                              "main;fake-server+0x3800 1\n"
                              "main;handle_request;parse_json;skip_ws 7\n");
    free(text);
    assert_int_equal(pt__profile_folded(p, 1, 1, &text, &len), 0);
    assert_string_equal(text, "0x9000 5\n"
                              "pt-http0;main;handle_request;parse_json;skip_ws 200000000\n"
                              "pt-work;main;compute 800000000\n"
                              "pt-work;main;fake-server+0x3800 5\n");
    free(text);
    pt__profile_free(p);

    /* Frames sort frame by frame ("a" and its children before "a b"); ';' in a name and
     * control bytes cannot pass. */
    p = pt__profile_new(two_types, 1, cpu_period, 1);
    assert_non_null(p);
    const uintptr_t s1[] = {1, 2}, s2[] = {3}, s3[] = {2};
    assert_int_equal(pt__profile_add(p, s1, 2, v, "x;y\n"), 0);
    assert_int_equal(pt__profile_add(p, s2, 1, v, NULL), 0);
    assert_int_equal(pt__profile_add(p, s3, 1, v, NULL), 0);
    assert_int_equal(pt__profile_resolve(p, NULL, NULL, NULL, NULL), 0);
    /* Unresolved everything: hex names. */
    assert_int_equal(pt__profile_folded(p, 0, 1, &text, &len), 0);
    assert_string_equal(text, "0x2 1\n0x3 1\nx:y?;0x2;0x1 1\n");
    free(text);
    assert_int_equal(pt__profile_add(p, s1, 0, v, NULL), 0); /* no stack at all */
    assert_int_equal(pt__profile_folded(p, 0, 0, &text, &len), 0);
    assert_string_equal(text, "0x2 1\n0x2;0x1 1\n0x3 1\n[no stack] 1\n");
    free(text);
    pt__profile_free(p);
}

/* ---- pprof ---- */

static void test_pprof_decoded(void **state)
{
    (void)state;
    pt__profile *p = synthetic();
    const uintptr_t nolines[] = {PC_NOLINES, PC_MAIN}, zero[] = {PC_COMPUTE, PC_HANDLE};
    int64_t v[2] = {1, 5};
    assert_int_equal(pt__profile_add(p, zero, 2, v, NULL), 0);
    assert_int_equal(pt__profile_sub(p, zero, 2, v, NULL), 0);
    void *gz;
    size_t n;
    assert_int_equal(pt__profile_pprof(p, &gz, &n), 0);
    struct pchk_decoded d;
    pchk_decode(gz, n, &d);
    assert_string_equal(d.first_string, "");
    assert_int_equal(d.nsample_types, 2);
    assert_int_equal(d.nsamples, 2); /* the zero sample is left out */
    assert_int_equal(d.value_sum[0], 10);
    assert_int_equal(d.value_sum[1], 1000000000);
    assert_int_equal(d.thread_labels, 2);
    assert_int_equal(d.nfunctions, 5); /* main handle_request parse_json skip_ws compute */
    assert_int_equal(d.nmappings, 1);
    assert_int_equal(d.mapping_flags, 0xf); /* all resolved: pprof leaves them alone */
    assert_int_equal(d.nlines_per_location_max, 2);
    assert_int_equal(d.period, 10000000);
    assert_int_equal(d.time_nanos, 1700000000000000000);
    assert_int_equal(d.duration_nanos, 1000000000);
    const char *want[] = {"samples",
                          "count",
                          "cpu",
                          "nanoseconds",
                          "thread",
                          "pt-http0",
                          "pt-work",
                          "main",
                          "skip_ws",
                          "src/json.c",
                          "/usr/bin/fake-server",
                          "abcdef0123"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!pchk_has_string(&d, want[i]))
            fail_msg("\"%s\" is not in the string table", want[i]);
    free(d.strings);
    free(gz);

    /* A pc in the module that did not resolve: the mapping no longer claims functions. */
    assert_int_equal(pt__profile_add(p, nolines, 2, v, NULL), 0);
    assert_int_equal(pt__profile_resolve(p, fake_lines, NULL, fake_module, NULL), 0);
    assert_int_equal(pt__profile_pprof(p, &gz, &n), 0);
    pchk_decode(gz, n, &d);
    assert_int_equal(d.mapping_flags, 0);
    assert_int_equal(d.nsamples, 3);
    free(d.strings);
    free(gz);
    pt__profile_free(p);
}

static void test_pprof_go(void **state)
{
    (void)state;
    pt__profile *p = synthetic();
    void *gz;
    size_t n;
    assert_int_equal(pt__profile_pprof(p, &gz, &n), 0);
    char file[128];
    snprintf(file, sizeof(file), "%s/cpu.pb.gz", pchk_tmpdir);
    pchk_write_file(file, gz, n);
    free(gz);
    pt__profile_free(p);

    /* By samples: 70/30. */
    char *top = pchk_pprof("-top -nodecount=50 -sample_index=samples", file);
    pchk_assert_share(top, "skip_ws", 70, 70);
    pchk_assert_share(top, "parse_json", 0, 70);
    pchk_assert_share(top, "handle_request", 0, 70);
    pchk_assert_share(top, "compute", 30, 30);
    pchk_assert_share(top, "main", 0, 100);
    if (strstr(top, "skip_ws (inline)") == NULL)
        fail_msg("skip_ws is not shown as inlined:\n%s", top);
    if (strstr(top, "of 10 total") == NULL)
        fail_msg("not 10 samples in total:\n%s", top);
    printf("%s", top);
    free(top);

    /* By cpu (the default: the last type): 20/80. */
    top = pchk_pprof("-top -nodecount=50", file);
    pchk_assert_share(top, "skip_ws", 20, 20);
    pchk_assert_share(top, "compute", 80, 80);
    pchk_assert_share(top, "main", 0, 100);
    if (strstr(top, "of 1000ms total") == NULL)
        fail_msg("not 1000ms of cpu in total:\n%s", top);
    free(top);

    /* The thread labels, the inlined lines, the mapping marked symbolized. */
    char *raw = pchk_pprof("-raw", file);
    const char *want[] = {"thread:[pt-http0]", "thread:[pt-work]", "skip_ws src/json.c:31",
                          "parse_json src/json.c:30",
                          "/usr/bin/fake-server abcdef0123 [FN][FL][LN][IN]"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (strstr(raw, want[i]) == NULL)
            fail_msg("\"%s\" is not in go tool pprof -raw's output:\n%s", want[i], raw);
    free(raw);
}

/* ---- the flame graph ---- */

/* The width of the box whose title starts with "name (". */
static double box_width(const char *svg, const char *name)
{
    char key[256];
    snprintf(key, sizeof(key), "<title>%s (", name);
    const char *t = strstr(svg, key);
    if (t == NULL)
        fail_msg("no box for %s", name);
    const char *w = strstr(t, "width=\"");
    assert_non_null(w);
    return atof(w + 7);
}

static void test_flame(void **state)
{
    (void)state;
    pt__profile *p = synthetic();
    char *svg;
    size_t len;
    assert_int_equal(pt__profile_flame_svg(p, 0, "CPU <profile> & \"more\"", &svg, &len), 0);
    assert_int_equal(len, strlen(svg));
    pchk_assert_xml(svg, len, "flame.svg");
    assert_non_null(strstr(svg, "CPU &lt;profile&gt; &amp; &quot;more&quot;"));
    const char *titles[] = {"all (10 samples, 100.00%)",          "main (10 samples, 100.00%)",
                            "handle_request (7 samples, 70.00%)", "parse_json (7 samples, 70.00%)",
                            "skip_ws (7 samples, 70.00%)",        "compute (3 samples, 30.00%)"};
    for (size_t i = 0; i < sizeof(titles) / sizeof(titles[0]); i++)
        if (strstr(svg, titles[i]) == NULL)
            fail_msg("no box titled \"%s\":\n%s", titles[i], svg);
    assert_int_equal(pchk_count(svg, "<g>"), 6);
    double h = box_width(svg, "handle_request"), c = box_width(svg, "compute"),
           all = box_width(svg, "all");
    if (h / (h + c) < 0.69 || h / (h + c) > 0.71 || (h + c) / all < 0.99 || (h + c) / all > 1.01)
        fail_msg("widths %.2f + %.2f of %.2f are not 70:30 of the whole", h, c, all);
    /* Root at the bottom: main's row is below (greater y than) handle_request's. */
    const char *ym = strstr(strstr(svg, "<title>main ("), "y=\"");
    const char *yh = strstr(strstr(svg, "<title>handle_request ("), "y=\"");
    assert_true(atoi(ym + 3) > atoi(yh + 3));
    free(svg);

    /* Value index 1 is nanoseconds: 20/80. */
    assert_int_equal(pt__profile_flame_svg(p, 1, NULL, &svg, &len), 0);
    assert_non_null(strstr(svg, "compute (800000000 nanoseconds, 80.00%)"));
    h = box_width(svg, "handle_request"), c = box_width(svg, "compute");
    if (h / (h + c) < 0.19 || h / (h + c) > 0.21)
        fail_msg("widths %.2f and %.2f are not 20:80", h, c);
    free(svg);
    pt__profile_free(p);

    /* Markup in names is escaped; a narrow box gets no (or clipped) text. */
    p = pt__profile_new(two_types, 1, cpu_period, 1);
    assert_non_null(p);
    const uintptr_t e[] = {PC_ESCAPE, PC_MAIN}, m[] = {PC_COMPUTE, PC_MAIN};
    int64_t one = 1, many = 100000;
    assert_int_equal(pt__profile_add(p, e, 2, &one, NULL), 0);
    assert_int_equal(pt__profile_add(p, m, 2, &many, NULL), 0);
    assert_int_equal(pt__profile_resolve(p, fake_lines, NULL, fake_module, NULL), 0);
    assert_int_equal(pt__profile_flame_svg(p, 0, "t", &svg, &len), 0);
    pchk_assert_xml(svg, len, "escape.svg");
    assert_null(strstr(svg, "operator&lt;&lt;")); /* 0.001%: left out */
    assert_int_equal(pchk_count(svg, "<g>"), 3);
    free(svg);
    int64_t more = 30000;
    assert_int_equal(pt__profile_add(p, e, 2, &more, NULL), 0);
    assert_int_equal(pt__profile_flame_svg(p, 0, "t", &svg, &len), 0);
    pchk_assert_xml(svg, len, "escape2.svg");
    assert_non_null(strstr(svg, "<title>operator&lt;&lt;(a&amp;, &quot;b&quot;) (30001 samples"));
    assert_null(strstr(svg, "<<"));
    free(svg);

    /* A name wider than its box is cut to fit, ".." marking the cut. */
    const uintptr_t l[] = {PC_LONG, PC_MAIN};
    assert_int_equal(pt__profile_add(p, l, 2, &more, NULL), 0);
    assert_int_equal(pt__profile_resolve(p, fake_lines, NULL, fake_module, NULL), 0);
    assert_int_equal(pt__profile_flame_svg(p, 0, "t", &svg, &len), 0);
    pchk_assert_xml(svg, len, "long.svg");
    double w = box_width(svg, LONG_NAME);
    const char *t = strstr(strstr(svg, "<title>" LONG_NAME " ("), "<text");
    assert_non_null(t);
    t = strchr(t, '>') + 1;
    const char *end = strstr(t, "..</text>");
    assert_non_null(end);
    size_t shown = (size_t)(end - t) + 2;
    if (shown < 10 || shown * 7 > w)
        fail_msg("%zu characters shown in a box %.2f px wide", shown, w);
    assert_true(strncmp(t, LONG_NAME, (size_t)(end - t)) == 0);
    free(svg);
    assert_int_equal(pt__profile_flame_svg(p, 1, "t", &svg, &len), -EINVAL);
    pt__profile_free(p);
}

/* ---- edges: empty, deep, wide ---- */

static void test_empty(void **state)
{
    (void)state;
    pt__profile *p = pt__profile_new(two_types, 2, cpu_period, 10000000);
    assert_non_null(p);
    assert_int_equal(pt__profile_resolve(p, fake_lines, NULL, fake_module, NULL), 0);
    char *text;
    size_t len;
    assert_int_equal(pt__profile_folded(p, 0, 1, &text, &len), 0);
    assert_int_equal(len, 0);
    assert_string_equal(text, "");
    free(text);
    assert_int_equal(pt__profile_flame_svg(p, 0, "empty", &text, &len), 0);
    pchk_assert_xml(text, len, "empty.svg");
    assert_non_null(strstr(text, ">no samples<"));
    free(text);
    void *gz;
    size_t n;
    assert_int_equal(pt__profile_pprof(p, &gz, &n), 0);
    struct pchk_decoded d;
    pchk_decode(gz, n, &d);
    assert_int_equal(d.nsamples, 0);
    assert_int_equal(d.nsample_types, 2);
    free(d.strings);
    char file[128];
    snprintf(file, sizeof(file), "%s/empty.pb.gz", pchk_tmpdir);
    pchk_write_file(file, gz, n);
    free(gz);
    pt__profile_free(p);
    char *top = pchk_pprof("-top", file);
    if (strstr(top, "of 0 total") == NULL)
        fail_msg("go tool pprof did not read an empty profile:\n%s", top);
    free(top);
}

struct names {
    char buf[2][32];
};

/* f<depth> for the return addresses 0x10000 + 16 * depth; leaf<i> for 0x100000 + 16 * i. */
static size_t deep_lines(void *arg, uintptr_t pc, int is_return, pt__sym_line *out, size_t max)
{
    struct names *nm = arg;
    if (pc >= 0x100000)
        snprintf(nm->buf[0], sizeof(nm->buf[0]), "leaf%u", (unsigned)((pc - 0x100000) / 16));
    else
        snprintf(nm->buf[0], sizeof(nm->buf[0]), "f%u", (unsigned)((pc - 0x10000) / 16));
    out[0] = (pt__sym_line){nm->buf[0], "deep.c", 1};
    return 1;
}

static void test_deep_and_wide(void **state)
{
    (void)state;
    pt__profile *p = pt__profile_new(two_types, 2, cpu_period, 1);
    assert_non_null(p);
    enum { DEPTH = PT__STACK_MAX, STACKS = 10000 };
    uintptr_t pcs[DEPTH];
    for (int d = 1; d < DEPTH; d++)
        pcs[d] = 0x10000 + 16 * (uintptr_t)d;
    for (int i = 0; i < STACKS; i++) {
        pcs[0] = 0x100000 + 16 * (uintptr_t)i;
        int64_t v[2] = {1, i};
        assert_int_equal(pt__profile_add(p, pcs, DEPTH, v, i % 2 ? "odd" : "even"), 0);
    }
    assert_int_equal(p->nsamples, STACKS);
    assert_int_equal(pt__profile_total(p, 0), STACKS);
    assert_int_equal(pt__profile_total(p, 1), (int64_t)STACKS * (STACKS - 1) / 2);
    struct names nm;
    assert_int_equal(pt__profile_resolve(p, deep_lines, &nm, NULL, NULL), 0);

    char *text;
    size_t len;
    assert_int_equal(pt__profile_folded(p, 0, 0, &text, &len), 0);
    assert_int_equal(pchk_count(text, "\n"), STACKS);
    assert_true(strncmp(text, "f127;f126;", 10) == 0);
    assert_non_null(strstr(text, ";f1;leaf9999 1\n"));
    free(text);

    assert_int_equal(pt__profile_flame_svg(p, 0, "deep", &text, &len), 0);
    pchk_assert_xml(text, len, "deep.svg");
    /* all, then f127..f1 shared by every stack; each leaf is 0.01%: left out. */
    assert_int_equal(pchk_count(text, "<g>"), 1 + DEPTH - 1);
    assert_non_null(strstr(text, "<title>f1 (10000 samples, 100.00%)"));
    assert_null(strstr(text, "leaf"));
    free(text);

    void *gz;
    size_t n;
    assert_int_equal(pt__profile_pprof(p, &gz, &n), 0);
    struct pchk_decoded d;
    pchk_decode(gz, n, &d);
    assert_int_equal(d.nsamples, STACKS);
    assert_int_equal(d.nlocations, STACKS + DEPTH - 1);
    assert_int_equal(d.nfunctions, STACKS + DEPTH - 1);
    assert_int_equal(d.value_sum[0], STACKS);
    free(d.strings);
    free(gz);
    pt__profile_free(p);
}

/* ---- out of memory ---- */

/* One pass over everything with allocation number k failing: every call either works or
 * says -ENOMEM, and nothing leaks (ASan's leak check sees the rest). Returns whether the
 * failure happened. */
static int oom_pass(long k)
{
    failed = 0;
    fail_in = k;
    pt__profile *p = pt__profile_new(two_types, 2, cpu_period, 1);
    if (p == NULL) {
        fail_in = -1;
        assert_true(failed);
        return 1;
    }
    const uintptr_t a[] = {PC_PARSE, PC_HANDLE, PC_MAIN}, b[] = {PC_COMPUTE, PC_MAIN};
    uintptr_t w[3] = {0, PC_HANDLE, PC_MAIN};
    int64_t v[2] = {1, 2};
    int rc[8] = {0};
    rc[0] = pt__profile_add(p, a, 3, v, "pt-http0");
    rc[1] = pt__profile_add(p, b, 2, v, "pt-work");
    for (int i = 0; i < 40; i++) {
        w[0] = 0x100 + (uintptr_t)i;
        int r = pt__profile_add(p, w, 3, v, i % 3 ? "x" : NULL);
        rc[2] = r ? r : rc[2];
    }
    rc[3] = pt__profile_resolve(p, fake_lines, NULL, fake_module, NULL);
    void *gz = NULL;
    size_t n;
    char *text = NULL;
    rc[4] = pt__profile_pprof(p, &gz, &n);
    if (rc[4] == 0)
        free(gz);
    rc[5] = pt__profile_folded(p, 0, 1, &text, &n);
    if (rc[5] == 0)
        free(text);
    rc[6] = pt__profile_flame_svg(p, 1, "oom", &text, &n);
    if (rc[6] == 0)
        free(text);
    fail_in = -1;
    /* Whatever failed, a retry works. */
    rc[7] = pt__profile_resolve(p, fake_lines, NULL, fake_module, NULL);
    pt__profile_free(p);
    for (int i = 0; i < 8; i++) {
        if (rc[i] != 0 && rc[i] != -ENOMEM)
            fail_msg("allocation %ld failing: call %d returned %d", k, i, rc[i]);
        if (rc[i] != 0 && !failed)
            fail_msg("call %d returned %d without a failed allocation", i, rc[i]);
    }
    assert_int_equal(rc[7], 0);
    return failed;
}

static void test_out_of_memory(void **state)
{
    (void)state;
    long k = 0;
    while (oom_pass(k))
        k++;
    assert_true(k > 50); /* it did fail its way through many allocations */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aggregation),   cmocka_unit_test(test_folded),
        cmocka_unit_test(test_pprof_decoded), cmocka_unit_test(test_pprof_go),
        cmocka_unit_test(test_flame),         cmocka_unit_test(test_empty),
        cmocka_unit_test(test_deep_and_wide), cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, pchk_setup, pchk_teardown);
}
