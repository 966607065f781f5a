/* Stress: two threads log a million records each with the block policy (nothing may be lost
 * or reordered); ten thousand short-lived threads each log a few records (all arrive, and
 * the memory of finished threads is given back). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "log/testutil.h"

static int setup(void **state)
{
    return tu_fx_setup(state, "stress", "stress.log", TU_FX_KEEP_SINK);
}

typedef struct worker {
    pt_log *log;
    int id;
    size_t n;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (size_t i = 0; i < w->n; i++)
        PT_INFO(w->log, "s", PT_INT("t", w->id), PT_UINT("i", i));
    return NULL;
}

/* Reads the file line by line (it is large), checking each line strictly. */
static void check_stress_file(const char *path, size_t per_thread)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    size_t lines = 0, bad = 0;
    long long next[2] = {0, 0};
    while ((len = getline(&line, &cap, fp)) > 0) {
        lines++;
        if (line[len - 1] != '\n') {
            fail_msg("line %zu has no newline", lines);
        }
        char *why = NULL;
        json_t *r = tu_parse_line(line, (size_t)len - 1, &why);
        if (r == NULL) {
            if (bad++ < 5)
                fprintf(stderr, "bad line %zu: %s: %.200s\n", lines, why, line);
            free(why);
            continue;
        }
        long long t = json_integer_value(json_object_get(r, "t"));
        long long i = json_integer_value(json_object_get(r, "i"));
        if (t < 0 || t > 1 || i != next[t]) {
            if (bad++ < 5)
                fprintf(stderr, "line %zu: thread %lld record %lld, expected %lld\n", lines, t, i,
                        t >= 0 && t <= 1 ? next[t] : -1);
        }
        if (t >= 0 && t <= 1)
            next[t] = i + 1;
        json_decref(r);
    }
    free(line);
    fclose(fp);
    assert_int_equal(bad, 0);
    assert_int_equal(lines, 2 * per_thread);
    assert_int_equal(next[0], per_thread);
    assert_int_equal(next[1], per_thread);
}

static void test_two_threads_million(void **state)
{
    tu_fx *f = *state;
    const size_t per_thread = 1000000;
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, -1), 0);
    pt_log_counters c0, c1;
    pt_log_counters_get(&c0);
    uint64_t t0 = tu_now_ms();
    worker w[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (worker){f->log, i, per_thread};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    uint64_t logged_ms = tu_now_ms() - t0;
    assert_int_equal(pt_log_flush(60000), 0);
    uint64_t written_ms = tu_now_ms() - t0;
    pt_log_counters_get(&c1);
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, 0), 0);
    fprintf(stderr, "2 x %zu records: logged in %llu ms, written in %llu ms\n", per_thread,
            (unsigned long long)logged_ms, (unsigned long long)written_ms);

    const int li = PT_LOG_LEVEL_INDEX(PT_LOG_INFO);
    pt_log_sink_counters sc;
    pt_log_sink_counters_get(f->file, &sc);
    long long size = tu_file_size(f->path);
    uint64_t logged = c1.logged[li] - c0.logged[li];
    uint64_t dropped = tu_sum(c1.dropped) - tu_sum(c0.dropped);
    uint64_t formatted = c1.formatted - c0.formatted;
    /* Once pt_log_flush() returned 0, every counter is exact. */
    if (logged != 2 * per_thread || dropped != 0 || formatted != 2 * per_thread ||
        sc.records != 2 * per_thread || sc.dropped != 0 || sc.errors != 0 ||
        (long long)sc.bytes != size)
        fail_msg("after the flush: logged %llu, dropped %llu, formatted %llu; sink records "
                 "%llu, dropped %llu, errors %llu, bytes %llu (file %lld bytes)",
                 (unsigned long long)logged, (unsigned long long)dropped,
                 (unsigned long long)formatted, (unsigned long long)sc.records,
                 (unsigned long long)sc.dropped, (unsigned long long)sc.errors,
                 (unsigned long long)sc.bytes, size);
    check_stress_file(f->path, per_thread);
}

/* ---- children made and freed by several threads while pt-log formats their records ------ */
#define CHURN_CHILDREN 3000
#define CHURN_RECORDS 4

typedef struct churn {
    pt_log *log;
    int id;
} churn;

static void *churn_main(void *arg)
{
    churn *c = arg;
    for (int k = 0; k < CHURN_CHILDREN; k++) {
        char req[32];
        snprintf(req, sizeof req, "t%d-c%d", c->id, k);
        pt_log *child =
            PT_LOG_CHILD(c->log, PT_STR("req", req), PT_INT("t", c->id), PT_INT("c", k));
        if (child == NULL)
            continue;
        pt_log *grand = (k % 3 == 0) ? PT_LOG_CHILD(child, PT_STR("span", req)) : NULL;
        for (int r = 0; r < CHURN_RECORDS; r++)
            PT_INFO(grand ? grand : child, "churn", PT_INT("r", r));
        pt_log_free(child); /* before its own child: the grandchild keeps what it needs */
        pt_log_free(grand);
    }
    return NULL;
}

static void test_children_churn(void **state)
{
    tu_fx *f = *state;
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, -1), 0);
    churn cs[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        cs[i] = (churn){f->log, i};
        assert_int_equal(pthread_create(&th[i], NULL, churn_main, &cs[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(pt_log_flush(20000), 0);
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, 0), 0);
    tu_lines ls;
    tu_lines_load(&ls, f->path);
    TU_ASSERT_LINES_GOOD(&ls);
    static unsigned char seen[2][CHURN_CHILDREN];
    memset(seen, 0, sizeof seen);
    size_t bad = 0;
    for (size_t i = 0; i < ls.n; i++) {
        json_t *r = ls.rec[i];
        long long t = json_integer_value(json_object_get(r, "t"));
        long long c = json_integer_value(json_object_get(r, "c"));
        char req[32];
        snprintf(req, sizeof req, "t%lld-c%lld", t, c);
        const char *got = tu_str(r, "req");
        const char *span = tu_str(r, "span");
        int want_span = c % 3 == 0;
        if (t < 0 || t > 1 || c < 0 || c >= CHURN_CHILDREN || got == NULL ||
            strcmp(got, req) != 0 || (want_span != (span != NULL)) ||
            (span && strcmp(span, req) != 0) ||
            json_integer_value(json_object_get(r, "r")) != seen[t][c]) {
            if (bad++ < 5)
                fprintf(stderr, "line %zu is wrong: %s\n", i + 1, ls.raw[i]);
            continue;
        }
        seen[t][c]++;
    }
    tu_lines_free(&ls);
    assert_int_equal(bad, 0);
    for (int t = 0; t < 2; t++)
        for (int c = 0; c < CHURN_CHILDREN; c++)
            if (seen[t][c] != CHURN_RECORDS)
                fail_msg("thread %d child %d: %d records of %d", t, c, seen[t][c], CHURN_RECORDS);
}

/* ---- short-lived threads --------------------------------------------------------------- */
#define NTHREADS 10000
#define PER_THREAD 3
#define CONCURRENT 4

typedef struct shortlived {
    pt_log *log;
    int id;
} shortlived;

static void *short_main(void *arg)
{
    shortlived *s = arg;
    for (int k = 0; k < PER_THREAD; k++)
        PT_INFO(s->log, "short", PT_INT("tid", s->id), PT_INT("k", k));
    return NULL;
}

static void run_short_threads(pt_log *log, int from, int to)
{
    for (int base = from; base < to; base += CONCURRENT) {
        pthread_t th[CONCURRENT];
        shortlived s[CONCURRENT];
        int n = to - base < CONCURRENT ? to - base : CONCURRENT;
        for (int i = 0; i < n; i++) {
            s[i] = (shortlived){log, base + i};
            assert_int_equal(pthread_create(&th[i], NULL, short_main, &s[i]), 0);
        }
        for (int i = 0; i < n; i++)
            pthread_join(th[i], NULL);
    }
}

static void test_short_lived_threads(void **state)
{
    tu_fx *f = *state;
    /* Nothing may be lost: wait for room rather than drop. */
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, -1), 0);
    uint64_t t0 = tu_now_ms();
    run_short_threads(f->log, 0, 1000);
    assert_int_equal(pt_log_flush(10000), 0);
    long long rss1 = tu_rss_bytes();
    run_short_threads(f->log, 1000, NTHREADS);
    assert_int_equal(pt_log_flush(10000), 0);
    /* Rings of finished threads may be released by pt-log after it drained them. */
    tu_sleep_ms(300);
    long long rss2 = tu_rss_bytes();
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, 0), 0);
    fprintf(stderr, "%d threads in %llu ms; RSS after 1000: %lld KiB, after %d: %lld KiB\n",
            NTHREADS, (unsigned long long)(tu_now_ms() - t0), rss1 / 1024, NTHREADS, rss2 / 1024);

    tu_lines ls;
    tu_lines_load(&ls, f->path);
    TU_ASSERT_LINES_GOOD(&ls);
    unsigned char *count = calloc(NTHREADS, 1);
    for (size_t i = 0; i < ls.n; i++) {
        long long id = json_integer_value(json_object_get(ls.rec[i], "tid"));
        long long k = json_integer_value(json_object_get(ls.rec[i], "k"));
        assert_true(id >= 0 && id < NTHREADS);
        assert_int_equal(k, count[id]); /* a thread's records in order */
        count[id]++;
    }
    for (int i = 0; i < NTHREADS; i++) {
        if (count[i] != PER_THREAD)
            fail_msg("thread %d: %d records of %d", i, count[i], PER_THREAD);
    }
    free(count);
    assert_int_equal(ls.n, NTHREADS * PER_THREAD);
    tu_lines_free(&ls);
    /* 9,000 more threads that each touched a ring: a few MB at most. malloc's per-thread
     * arenas (up to 8 per core) each keep some ring-sized memory once warm, about 4 MB here;
     * a leaked ring costs at least a page, so 9,000 leaked rings are 36 MB and more. */
    long long limit = 8ll << 20;
    if (tu_sanitized())
        limit = 16ll << 20; /* ASan keeps some per-thread state of its own */
    if (rss2 - rss1 > limit)
        fail_msg("RSS grew by %lld KiB over 9000 threads", (rss2 - rss1) / 1024);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_threads_million, setup, tu_fx_teardown),
        cmocka_unit_test_setup_teardown(test_children_churn, setup, tu_fx_teardown),
        cmocka_unit_test_setup_teardown(test_short_lived_threads, setup, tu_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
