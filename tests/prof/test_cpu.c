/* The CPU profiler (prof/cpu.c): attribution between functions, threads started during a
 * profile, the sampling rate, a libuv loop's stacks, start/stop rules, and no timers left
 * behind. Profiles are read back as folded stacks ("thread;root;...;leaf count"). Built with
 * -O2 -g (cpu.cmake). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "potter/prof.h"
#include "prof/prof_internal.h"

static volatile unsigned sink;

static double thread_cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Two functions doing the same amount of work per call; their bodies differ (the constant),
 * so that no identical-code folding merges them. */
__attribute__((noinline)) static void hot_a(unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        sink = sink * 31 + 0xa;
}

__attribute__((noinline)) static void hot_b(unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        sink = sink * 31 + 0xb;
}

#define UNIT 20000 /* tens of microseconds: far below a sampling period */

/* Spends cpu_s of this thread's CPU time, 70% in hot_a and 30% in hot_b, in small calls in
 * a random order (a fixed pattern could beat against the sampling period). */
static void work_70_30(double cpu_s, unsigned seed)
{
    double t0 = thread_cpu_s();

    while (thread_cpu_s() - t0 < cpu_s)
        for (int k = 0; k < 10; k++) {
            if (rand_r(&seed) % 10 < 7)
                hot_a(UNIT);
            else
                hot_b(UNIT);
        }
}

/* ---- folded stacks ----------------------------------------------------------------------- */

/* Total count of the lines of folded text for which match(line) holds. */
static long long sum_lines(const char *folded, int (*match)(const char *line, void *arg), void *arg)
{
    long long total = 0;
    const char *p = folded;

    while (*p) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char line[8192];
        if (n < sizeof line) {
            memcpy(line, p, n);
            line[n] = '\0';
            char *space = strrchr(line, ' ');
            assert_non_null(space);
            *space = '\0';
            if (match(line, arg))
                total += atoll(space + 1);
        }
        p += n + (end != NULL);
    }
    return total;
}

/* A frame, whole, in a folded stack ("a;b;c"). */
static int has_frame(const char *stack, const char *frame)
{
    size_t n = strlen(frame);

    for (const char *p = stack; (p = strstr(p, frame)) != NULL; p += n)
        if ((p == stack || p[-1] == ';') && (p[n] == ';' || p[n] == '\0'))
            return 1;
    return 0;
}

static int match_frame(const char *line, void *frame)
{
    return has_frame(line, frame);
}

static int match_thread(const char *line, void *name)
{
    size_t n = strlen(name);

    return strncmp(line, name, n) == 0 && line[n] == ';';
}

static int match_any(const char *line, void *arg)
{
    (void)line;
    (void)arg;
    return 1;
}

static char *stop_folded(void)
{
    void *out = NULL;
    size_t len = 0;

    assert_int_equal(pt_prof_cpu_stop(PT_PROF_FOLDED, &out, &len), 0);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    return out;
}

/* The POSIX timers of this process (/proc/self/timers has an "ID:" line per timer). */
static int timer_count(void)
{
    char line[256];
    int n = 0;
    FILE *f = fopen("/proc/self/timers", "r");

    assert_non_null(f);
    while (fgets(line, sizeof line, f))
        n += strncmp(line, "ID:", 3) == 0;
    fclose(f);
    return n;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void *worker_70_30(void *arg)
{
    work_70_30(2.0, (unsigned)(uintptr_t)arg);
    return NULL;
}

/* Each sample lands in hot_a with probability 0.7: with the kernel's CPU timers ticking at
 * 250 Hz at most (CONFIG_HZ), 2 threads x 2 s give about 1000 samples, whose share has a
 * standard deviation of 1.45 points: 5 points is 3.4 of them. */
static void test_split_between_functions(void **state)
{
    pt_prof_cpu_options opts = {.hz = 1000};
    pthread_t t[2];

    assert_int_equal(timer_count(), 0); /* profiling off: no timers */
    assert_int_equal(pt_prof_cpu_start(&opts), 0);
    assert_true(pt_prof_cpu_running());
    assert_true(timer_count() > 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker_70_30, (void *)(uintptr_t)(i + 7)), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    char *folded = stop_folded();
    assert_false(pt_prof_cpu_running());
    assert_int_equal(timer_count(), 0); /* every timer deleted */

    long long a = sum_lines(folded, match_frame, "hot_a");
    long long b = sum_lines(folded, match_frame, "hot_b");
    double share = (double)a / (double)(a + b);
    uint64_t samples, lost;
    pt__prof_cpu_counts(&samples, &lost);
    fprintf(stderr, "hot_a %lld, hot_b %lld samples: %.1f%% (%llu samples, %llu lost)\n", a, b,
            100 * share, (unsigned long long)samples, (unsigned long long)lost);
    assert_true(a + b >= 400);
    assert_true(share > 0.65 && share < 0.75);
    assert_int_equal(lost, 0);
    free(folded);
}

struct spinner {
    const char *name;
    double cpu_s;
};

static void *named_spinner(void *arg)
{
    struct spinner *s = arg;
    double t0;

    pthread_setname_np(pthread_self(), s->name);
    t0 = thread_cpu_s();
    while (thread_cpu_s() - t0 < s->cpu_s)
        hot_b(UNIT);
    return NULL;
}

static void test_thread_started_during_profile(void **state)
{
    pt_prof_cpu_options opts = {.hz = 250};
    struct spinner s = {"late-spinner", 0.4};
    pthread_t t;

    assert_int_equal(pt_prof_cpu_start(&opts), 0);
    nanosleep(&(struct timespec){0, 250000000}, NULL);
    assert_int_equal(pthread_create(&t, NULL, named_spinner, &s), 0);
    pthread_join(t, NULL);
    char *folded = stop_folded();
    long long late = sum_lines(folded, match_thread, "late-spinner");
    fprintf(stderr, "late-spinner: %lld samples\n", late);
    /* 400 ms of CPU, at most 100 ms of it before the next scan: 75 expected at 250 Hz. */
    assert_true(late >= 15);
    free(folded);
}

static void test_rate_follows_hz(void **state)
{
    pt_prof_cpu_options opts = {.hz = 100};
    struct spinner s = {"rate-spinner", 0.6};
    pthread_t t;

    assert_int_equal(pt_prof_cpu_start(&opts), 0);
    assert_int_equal(pthread_create(&t, NULL, named_spinner, &s), 0);
    pthread_join(t, NULL);
    char *folded = stop_folded();
    long long n = sum_lines(folded, match_thread, "rate-spinner");
    long long all = sum_lines(folded, match_any, NULL);
    fprintf(stderr, "rate-spinner: %lld samples for 0.6 s of CPU at 100 Hz (%lld in all)\n", n,
            all);
    /* 60, less up to 10 before the scan that finds the thread; a few of its first samples may
     * carry its old name. The other threads (main waits, pt-prof sleeps) add almost none. */
    assert_true(n >= 35);
    assert_true(all <= 75);
    free(folded);
}

/* ---- a libuv loop ------------------------------------------------------------------------ */

__attribute__((noinline)) static void spin_in_timer(void)
{
    double t0 = thread_cpu_s();

    while (thread_cpu_s() - t0 < 0.3)
        hot_a(UNIT);
    __asm__ volatile("");
}

__attribute__((noinline)) static void on_timer(uv_timer_t *timer)
{
    spin_in_timer();
    uv_close((uv_handle_t *)timer, NULL);
    __asm__ volatile("");
}

__attribute__((noinline)) static void *uv_worker_main(void *arg)
{
    uv_loop_t loop;
    uv_timer_t timer;

    pthread_setname_np(pthread_self(), "uv-worker");
    uv_loop_init(&loop);
    uv_timer_init(&loop, &timer);
    uv_timer_start(&timer, on_timer, 0, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    __asm__ volatile("");
    return arg;
}

struct order {
    const char *const *frames;
    size_t n;
};

/* The frames appear in this order (root first) in the stack. */
static int match_in_order(const char *line, void *arg)
{
    const struct order *o = arg;
    const char *at = line;

    for (size_t i = 0; i < o->n; i++) {
        char needle[128];
        snprintf(needle, sizeof needle, ";%s;", o->frames[i]);
        const char *p = strstr(at, needle);
        if (!p) {
            snprintf(needle, sizeof needle, ";%s", o->frames[i]); /* the leaf */
            p = strstr(at, needle);
            if (!p || p[strlen(needle)] != '\0')
                return 0;
        }
        at = p + 1;
    }
    return 1;
}

static void test_stacks_through_a_libuv_loop(void **state)
{
    /* The thread's own function (libc's start_thread below it is named only where libc6-dbg
     * is installed), through libuv, to the timer's callback. */
    static const char *const path[] = {"uv_worker_main", "uv_run", "on_timer", "spin_in_timer"};
    struct order o = {path, 4};
    pt_prof_cpu_options opts = {.hz = 250};
    pthread_t t;

    assert_int_equal(pt_prof_cpu_start(&opts), 0);
    assert_int_equal(pthread_create(&t, NULL, uv_worker_main, NULL), 0);
    pthread_join(t, NULL);
    char *folded = stop_folded();
    long long spin = sum_lines(folded, match_frame, "spin_in_timer");
    long long whole = sum_lines(folded, match_in_order, &o);
    fprintf(stderr, "spin_in_timer: %lld samples, %lld with the whole path\n", spin, whole);
    if (whole < spin * 9 / 10)
        fprintf(stderr, "%s", folded);
    assert_true(spin >= 20);
    /* libuv has no frame pointers: only the unwind tables get through uv_run. */
    assert_true(whole >= spin * 9 / 10);
    free(folded);
}

/* ---- rules ------------------------------------------------------------------------------- */

static void test_start_and_stop_rules(void **state)
{
    pt_prof_cpu_options too_fast = {.hz = 1001};
    void *out = (void *)1;
    size_t len = 0;

    assert_int_equal(pt_prof_cpu_start(&too_fast), -EINVAL);
    assert_int_equal(pt_prof_cpu_stop(PT_PROF_FOLDED, &out, &len), -ESRCH);
    assert_ptr_equal(out, (void *)1);
    assert_int_equal(pt_prof_cpu_start(NULL), 0);
    assert_int_equal(pt_prof_cpu_start(NULL), -EBUSY);
    assert_int_equal(pt_prof_cpu_stop(PT_PROF_JSON, &out, &len), -EINVAL); /* still running */
    assert_true(pt_prof_cpu_running());
    work_70_30(0.05, 1);
    assert_int_equal(pt_prof_cpu_stop(0, NULL, NULL), 0); /* discarded */
    assert_false(pt_prof_cpu_running());
    assert_int_equal(pt_prof_cpu_stop(0, NULL, NULL), -ESRCH);
    assert_int_equal(timer_count(), 0);
}

/* Each output format, from a short profile. */
static void test_formats(void **state)
{
    static const unsigned formats[] = {PT_PROF_PPROF, PT_PROF_FOLDED, PT_PROF_SVG};

    for (size_t i = 0; i < 3; i++) {
        void *out = NULL;
        size_t len = 0;
        assert_int_equal(pt_prof_cpu_start(NULL), 0);
        work_70_30(0.1, 3);
        assert_int_equal(pt_prof_cpu_stop(formats[i], &out, &len), 0);
        assert_non_null(out);
        assert_true(len > 0);
        if (formats[i] == PT_PROF_PPROF) /* gzip */
            assert_true(((unsigned char *)out)[0] == 0x1f && ((unsigned char *)out)[1] == 0x8b);
        else if (formats[i] == PT_PROF_SVG)
            assert_non_null(strstr(out, "<svg"));
        free(out);
    }
}

/* Start and stop in a loop while threads come and go: nothing leaks (the sanitizer build),
 * nothing crashes, no timer is left. */
static void *short_spin(void *arg)
{
    double t0 = thread_cpu_s();

    while (thread_cpu_s() - t0 < 0.01)
        hot_a(UNIT / 10);
    return arg;
}

static void test_repeated_profiles(void **state)
{
    pt_prof_cpu_options opts = {.hz = 1000};

    for (int i = 0; i < 10; i++) {
        pthread_t t[3];
        assert_int_equal(pt_prof_cpu_start(&opts), 0);
        for (int j = 0; j < 3; j++)
            assert_int_equal(pthread_create(&t[j], NULL, short_spin, NULL), 0);
        work_70_30(0.02, (unsigned)i);
        for (int j = 0; j < 3; j++)
            pthread_join(t[j], NULL);
        assert_int_equal(pt_prof_cpu_stop(0, NULL, NULL), 0);
    }
    assert_int_equal(timer_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_between_functions),
        cmocka_unit_test(test_thread_started_during_profile),
        cmocka_unit_test(test_rate_follows_hz),
        cmocka_unit_test(test_stacks_through_a_libuv_loop),
        cmocka_unit_test(test_start_and_stop_rules),
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_repeated_profiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
