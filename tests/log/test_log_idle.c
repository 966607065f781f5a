/* pt-log and the sink threads use no CPU when idle: no busy-wait, no millisecond polling;
 * while records flow, pt-log naps between passes rather than waking every millisecond; and
 * they run under SCHED_BATCH, so that their wake-ups do not preempt the service's threads.
 *
 * After some records and a flush, the logger is left alone; once pt-log has had time to
 * reach its deep sleep, the CPU time (schedstat) and the voluntary context switches of
 * every pt-log* thread are read over two seconds. A busy-wait shows as CPU time, a polling
 * loop as hundreds of wake-ups; the design allows about one wake-up a second per thread. */
#include <dirent.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "log/testutil.h"

struct usage {
    uint64_t cpu_ns;
    uint64_t wakeups;
    int threads;
    int batch; /* of them, under SCHED_BATCH */
};

static int read_file(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = 0;
    return 0;
}

/* Sums CPU time and voluntary context switches over this process's threads named `name`
 * (all pt-log* threads when name is NULL). */
static struct usage threads_usage(const char *name)
{
    struct usage u = {0, 0, 0, 0};
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[320], buf[4096];
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        if (read_file(path, buf, sizeof buf) != 0 || strncmp(buf, "pt-log", 6) != 0)
            continue;
        buf[strcspn(buf, "\n")] = 0;
        if (name && strcmp(buf, name) != 0)
            continue;
        u.threads++;
        u.batch += sched_getscheduler((pid_t)atoi(e->d_name)) == SCHED_BATCH;
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
        if (read_file(path, buf, sizeof buf) == 0)
            u.cpu_ns += strtoull(buf, NULL, 10);
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        if (read_file(path, buf, sizeof buf) == 0) {
            const char *v = strstr(buf, "voluntary_ctxt_switches:");
            if (v && (v == buf || v[-1] == '\n'))
                u.wakeups += strtoull(v + strlen("voluntary_ctxt_switches:"), NULL, 10);
        }
    }
    closedir(d);
    return u;
}

static struct usage logger_usage(void)
{
    return threads_usage(NULL);
}

static int setup(void **state)
{
    return tu_fx_setup(state, "idle", "idle.log", TU_FX_NO_SINK);
}

static void test_idle_costs_nothing(void **state)
{
    tu_fx *f = *state;
    for (int i = 0; i < 1000; i++)
        PT_INFO(f->log, "before the pause", PT_INT("i", i));
    assert_int_equal(pt_log_flush(5000), 0);

    tu_sleep_ms(2500); /* pt-log's short sleeps last about a second in all, then it sleeps deeply */
    struct usage a = logger_usage();
    tu_sleep_ms(2000);
    struct usage b = logger_usage();
    uint64_t cpu_us = (b.cpu_ns - a.cpu_ns) / 1000, wakeups = b.wakeups - a.wakeups;
    fprintf(stderr, "idle over 2 s: %d pt-log threads, %llu us CPU, %llu wake-ups\n", b.threads,
            (unsigned long long)cpu_us, (unsigned long long)wakeups);
    assert_true(b.threads >= 2); /* pt-log and the file sink's thread */
    assert_true(cpu_us < 20000);
    assert_true(wakeups <= 4u * (uint64_t)b.threads + 4);

    /* Awake again at once for the next record: it arrives without a flush within 1 s. */
    PT_INFO(f->log, "after the pause");
    int found = 0;
    for (int t = 0; t < 100 && !found; t++) {
        tu_sleep_ms(10);
        char buf[4096];
        FILE *fp = fopen(f->path, "r");
        if (fp == NULL)
            continue;
        fseek(fp, -(long)(sizeof buf - 1), SEEK_END); /* the file is longer: read its end */
        size_t n = fread(buf, 1, sizeof buf - 1, fp);
        fclose(fp);
        buf[n] = 0;
        found = strstr(buf, "after the pause") != NULL;
    }
    assert_true(found);
}

/* A steady flow (20 records a millisecond for a second) is drained in naps of a few
 * milliseconds: pt-log does not wake for every millisecond, and nothing is lost. */
static void test_flow_naps(void **state)
{
    tu_fx *f = *state;
    PT_INFO(f->log, "warm");
    assert_int_equal(pt_log_flush(5000), 0);
    struct usage a = threads_usage("pt-log");
    uint64_t start = tu_now_ms();
    int sent = 0;
    while (tu_now_ms() - start < 1000) {
        for (int i = 0; i < 20; i++)
            PT_INFO(f->log, "flow", PT_INT("i", sent++));
        tu_sleep_ms(1);
    }
    uint64_t took = tu_now_ms() - start;
    struct usage b = threads_usage("pt-log");
    uint64_t wakeups = b.wakeups - a.wakeups;
    fprintf(stderr, "flow: %d records in %llu ms, pt-log woke %llu times\n", sent,
            (unsigned long long)took, (unsigned long long)wakeups);
    assert_int_equal(b.threads, 1);
    /* Naps of up to 4 ms: about 250 a second; a pass every millisecond would be 1000. */
    assert_true(wakeups * 1000 <= 500 * took);
    assert_int_equal(pt_log_flush(5000), 0);
    long long seq[40000];
    size_t n = tu_seqs(f->path, "flow", seq, 40000);
    assert_int_equal(n, (size_t)sent);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(seq[i], (long long)i);
}

/* pt-log and every sink's thread (here the file's and stderr's) run under SCHED_BATCH. */
static void test_background_policy(void **state)
{
    tu_fx *f = *state;
    assert_int_equal(pt_log_add_stderr(f->log, NULL, NULL), 0);
    PT_INFO(f->log, "policy");
    assert_int_equal(pt_log_flush(2000), 0);
    struct usage u = logger_usage();
    assert_true(u.threads >= 3); /* pt-log, pt-log-file, pt-log-stderr */
    assert_int_equal(u.batch, u.threads);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_idle_costs_nothing, setup, tu_fx_teardown),
        cmocka_unit_test_setup_teardown(test_flow_naps, setup, tu_fx_teardown),
        cmocka_unit_test_setup_teardown(test_background_policy, setup, tu_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
