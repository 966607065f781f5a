/* The flight recorder: the last N records in order through pt_log_flight_read(), and the
 * same records read from raw memory through the exported `pt_flight_recorder`, the way a
 * post-mortem tool reads them from a core file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "log/testutil.h"

#define MAX_SEEN 2048

typedef struct seen {
    size_t n;
    int level[MAX_SEEN];
    char *line[MAX_SEEN];
    size_t len[MAX_SEEN];
} seen;

static void collect(void *arg, int level, const char *line, size_t len)
{
    seen *s = arg;
    if (s->n < MAX_SEEN) {
        s->level[s->n] = level;
        s->line[s->n] = malloc(len + 1);
        memcpy(s->line[s->n], line, len);
        s->line[s->n][len] = '\0';
        s->len[s->n] = len;
    }
    s->n++;
}

static void seen_free(seen *s)
{
    for (size_t i = 0; i < s->n && i < MAX_SEEN; i++)
        free(s->line[i]);
    s->n = 0;
}

static const pt_flight_slot *slot_of(const pt_flight_header *h, uint64_t k)
{
    return (const pt_flight_slot *)((const char *)h + h->header_size +
                                    (size_t)(k % h->slot_count) * h->slot_size);
}

/* Checks the raw layout against what pt_log_flight_read() gave (oldest first). */
static void check_raw(const seen *s, unsigned want_slots)
{
    const pt_flight_header *h = pt_flight_recorder;
    CHECK(h != NULL);
    CHECK(memcmp(h->magic, PT_FLIGHT_MAGIC, 8) == 0);
    CHECK(h->version == PT_FLIGHT_VERSION);
    CHECK(h->header_size == sizeof(pt_flight_header));
    CHECK(h->header_size == 32); /* docs/log.md, layout version 1 */
    CHECKF(h->slot_count == want_slots, "slot_count %u", h->slot_count);
    CHECK(h->slot_size > sizeof(pt_flight_slot));
    CHECK(h->slot_size % 8 == 0); /* seq stays aligned */
    uint64_t written = __atomic_load_n(&h->written, __ATOMIC_ACQUIRE);
    uint64_t first = written > h->slot_count ? written - h->slot_count : 0;
    CHECKF(written - first == s->n, "written %llu, read %zu", (unsigned long long)written, s->n);
    for (uint64_t k = first; k < written; k++) {
        const pt_flight_slot *sl = slot_of(h, k);
        size_t i = (size_t)(k - first);
        CHECKF(sl->seq == k + 1, "slot of record %llu has seq %llu", (unsigned long long)k,
               (unsigned long long)sl->seq);
        CHECK(sl->len <= h->slot_size - sizeof(pt_flight_slot));
        CHECK(sl->level == s->level[i]);
        CHECK(sl->len == s->len[i]);
        CHECK(memcmp((const char *)(sl + 1), s->line[i], sl->len) == 0);
    }
}

static int scenario_small(const char *dir)
{
    pt_log_config cfg = {.flight_records = 8, .flight_bytes = 256};
    CHECK(pt_log_configure(&cfg) == 0);
    char *path = tu_path(dir, "flight.log");
    pt_log *log;
    CHECK(pt_log_new("flight", &log) == 0);
    CHECK(pt_log_add_file(log, path, NULL, NULL) == 0);
    for (int i = 0; i < 20; i++) {
        if (i % 2)
            PT_DEBUG(log, "flight", PT_INT("i", i)); /* the recorder only: logger at info */
        else
            PT_INFO(log, "flight", PT_INT("i", i));
    }
    PT_TRACE(log, "flight", PT_INT("i", 99)); /* below the recorder's level */
    CHECK(pt_log_flush(5000) == 0);

    seen s = {0};
    size_t n = pt_log_flight_read(collect, &s);
    CHECKF(n == 8 && s.n == 8, "read %zu records (callback %zu)", n, s.n);
    for (size_t k = 0; k < 8; k++) {
        char *why;
        json_t *r = tu_parse_line(s.line[k], s.len[k], &why);
        CHECKF(r != NULL, "%s: %s", why, s.line[k]);
        const char *core = tu_check_core(r, "flight", 0, getpid());
        CHECKF(core == NULL, "%s", core);
        long long i = json_integer_value(json_object_get(r, "i"));
        CHECKF(i == 12 + (long long)k, "record %zu has i %lld", k, i);
        int want = i % 2 ? PT_LOG_DEBUG : PT_LOG_INFO;
        CHECK(s.level[k] == want);
        CHECK(json_integer_value(json_object_get(r, "level")) == want);
        json_decref(r);
    }
    check_raw(&s, 8);
    CHECK(pt_flight_recorder->written == 20);
    for (size_t k = 0; k < 8; k++)
        CHECK(slot_of(pt_flight_recorder, 12 + k)->cut == 0);
    seen_free(&s);

    /* The file got the info records only. */
    tu_lines ls;
    tu_lines_load(&ls, path);
    CHECK(tu_lines_report_bad(&ls) == 0);
    CHECK(ls.n == 10);
    tu_lines_free(&ls);

    /* A record longer than a slot is cut, and marked so. */
    char big[1001];
    memset(big, 'b', 1000);
    big[1000] = '\0';
    PT_WARN(log, "long one", PT_STR("big", big));
    CHECK(pt_log_flush(5000) == 0);
    n = pt_log_flight_read(collect, &s);
    CHECK(n == 8);
    const pt_flight_slot *last = slot_of(pt_flight_recorder, 20);
    CHECK(last->seq == 21);
    CHECK(last->cut != 0);
    CHECK(last->level == PT_LOG_WARN);
    CHECK(last->len <= pt_flight_recorder->slot_size - sizeof(pt_flight_slot));
    CHECKF(last->len <= 256 && last->len >= 128, "cut record keeps %u bytes", last->len);
    CHECK(s.len[7] == last->len);
    check_raw(&s, 8);
    /* What is kept is the start of the line the sinks got. */
    tu_lines_load(&ls, path);
    CHECK(ls.n == 11);
    CHECK(strncmp(ls.raw[10], s.line[7], s.len[7]) == 0);
    tu_lines_free(&ls);
    seen_free(&s);
    pt_log_free(log);
    free(path);
    return 0;
}

static int scenario_off(const char *dir)
{
    pt_log_config cfg = {.flight_level = PT_LOG_OFF};
    CHECK(pt_log_configure(&cfg) == 0);
    char *path = tu_path(dir, "off.log");
    pt_log *log;
    CHECK(pt_log_new("off", &log) == 0);
    CHECK(pt_log_add_file(log, path, NULL, NULL) == 0);
    CHECK(!pt_log_enabled(log, PT_LOG_DEBUG));
    for (int i = 0; i < 10; i++)
        PT_ERROR(log, "off", PT_INT("i", i));
    CHECK(pt_log_flush(5000) == 0);
    seen s = {0};
    CHECK(pt_log_flight_read(collect, &s) == 0);
    CHECK(s.n == 0);
    tu_lines ls;
    tu_lines_load(&ls, path);
    CHECK(ls.n == 10);
    tu_lines_free(&ls);
    pt_log_free(log);
    free(path);
    return 0;
}

TU_SCENARIO_TEST(test_flight_small, "small", 30000)
TU_SCENARIO_TEST(test_flight_off, "off", 30000)

static int setup_defaults(void **state)
{
    return tu_fx_setup(state, "flightd", "d.log", TU_FX_NO_SINK);
}

/* The defaults, in this process: 1024 records; the oldest go first. */
static void test_flight_defaults(void **state)
{
    tu_fx *f = *state;
    for (int i = 0; i < 1500; i++)
        PT_INFO(f->log, "many", PT_INT("i", i));
    assert_int_equal(pt_log_flush(5000), 0);
    seen s = {0};
    size_t n = pt_log_flight_read(collect, &s);
    assert_int_equal(n, 1024);
    assert_int_equal(s.n, 1024);
    for (size_t k = 0; k < 1024; k++) {
        char *why;
        json_t *r = tu_parse_line(s.line[k], s.len[k], &why);
        if (r == NULL)
            fail_msg("%s: %s", why, s.line[k]);
        assert_int_equal(json_integer_value(json_object_get(r, "i")), 1500 - 1024 + (int)k);
        json_decref(r);
    }
    const pt_flight_header *h = pt_flight_recorder;
    assert_non_null(h);
    assert_memory_equal(h->magic, "PTFLIGHT", 8);
    assert_int_equal(h->slot_count, 1024);
    assert_true(h->slot_size >= sizeof(pt_flight_slot) + 1024);
    assert_true(h->written >= 1500);
    seen_free(&s);
}

/* Reading while pt-log writes: every record returned is whole, and in order. */
typedef struct spinner {
    pt_log *log;
    int stop;
} spinner;

static void *spinner_main(void *arg)
{
    spinner *sp = arg;
    long long i = 0;
    while (!__atomic_load_n(&sp->stop, __ATOMIC_ACQUIRE)) {
        PT_INFO(sp->log, "spin", PT_INT("i", i++),
                PT_STR("pad", "................................"));
        if ((i & 255) == 0)
            usleep(100);
    }
    return NULL;
}

typedef struct checker {
    long long last;
    size_t n, bad;
    char first_bad[512];
} checker;

static void check_cb(void *arg, int level, const char *line, size_t len)
{
    checker *c = arg;
    char *why = NULL;
    json_t *r = tu_parse_line(line, len, &why);
    c->n++;
    if (r == NULL || level != PT_LOG_INFO) {
        if (c->bad++ == 0)
            snprintf(c->first_bad, sizeof c->first_bad, "%s: %.300s", why ? why : "level", line);
        free(why);
        json_decref(r);
        return;
    }
    const char *m = tu_str(r, "msg");
    if (m && strcmp(m, "spin") == 0) {
        long long i = json_integer_value(json_object_get(r, "i"));
        if (i <= c->last && c->bad++ == 0)
            snprintf(c->first_bad, sizeof c->first_bad, "record %lld after %lld", i, c->last);
        c->last = i;
    }
    json_decref(r);
}

static void test_flight_read_while_logging(void **state)
{
    (void)state;
    pt_log *log;
    assert_int_equal(pt_log_new("spin", &log), 0);
    spinner sp = {.log = log};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, spinner_main, &sp), 0);
    size_t reads = 0, total = 0, bad = 0;
    char first_bad[512] = "";
    uint64_t end = tu_now_ms() + 1500;
    while (tu_now_ms() < end) {
        checker c = {.last = -1};
        pt_log_flight_read(check_cb, &c);
        reads++;
        total += c.n;
        if (c.bad && !bad)
            memcpy(first_bad, c.first_bad, sizeof first_bad);
        bad += c.bad;
    }
    __atomic_store_n(&sp.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    pt_log_free(log);
    fprintf(stderr, "%zu reads, %zu records seen\n", reads, total);
    if (bad)
        fail_msg("%zu bad records read while logging; first: %s", bad, first_bad);
    assert_true(reads > 10);
    assert_true(total > 0);
}

static const tu_scenario scenarios[] = {
    {"small", scenario_small},
    {"off", scenario_off},
    {NULL, NULL},
};

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_flight_small),
    cmocka_unit_test(test_flight_off),
    cmocka_unit_test_setup_teardown(test_flight_defaults, setup_defaults, tu_fx_teardown),
    cmocka_unit_test(test_flight_read_while_logging),
};

TU_MAIN(scenarios, tests)
