/* Sinks: flush acknowledgement (also from several threads), sinks of one's own (blocked,
 * failing, short writes, optional ops), a stalled sink not stalling the others, a root freed
 * before its child, stderr to a pipe (read, and not read). Files: test_log_file.c. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "log/log_internal.h" /* pt__sink_push: the queue itself */
#include "log/testutil.h"

static int setup(void **state)
{
    /* The missing folders are created. */
    return tu_fx_setup(state, "sinks", "sub/dir/sinks.log", TU_FX_KEEP_SINK);
}

static void test_flush_waits_for_every_sink(void **state)
{
    tu_fx *f = *state;
    tu_sink slow1, slow2;
    tu_sink_init(&slow1, 0);
    tu_sink_init(&slow2, 1);
    slow1.delay_us = 300;
    slow2.delay_us = 1000;
    slow2.max_write = 200; /* short writes: the rest must be offered again */
    pt_log_sink_options o = {.levels = PT_LOG_ROUTE_CONSOLE};
    assert_int_equal(pt_log_add_sink(f->log, &tu_sink_ops, &slow1, &o, NULL), 0);
    pt_log_sink *s2;
    assert_int_equal(pt_log_add_sink(f->log, &tu_sink_ops, &slow2, &o, &s2), 0);
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, -1), 0);
    const size_t n = 3000;
    for (size_t i = 0; i < n; i++)
        PT_INFO(f->log, "flushed", PT_INT("i", i));
    assert_int_equal(pt_log_flush(20000), 0);
    /* Everything logged before the flush is with every sink when it returns. */
    assert_int_equal(tu_sink_lines(&slow1), n);
    assert_int_equal(tu_sink_lines(&slow2), n);
    long long *got = calloc(n, sizeof *got);
    assert_int_equal(tu_seqs(f->path, "flushed", got, n), n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(got[i], i);
    free(got);
    pthread_mutex_lock(&slow2.mu);
    tu_lines ls;
    tu_lines_parse(&ls, slow2.buf, slow2.len);
    pthread_mutex_unlock(&slow2.mu);
    TU_ASSERT_LINES_GOOD(&ls);
    assert_int_equal(ls.n, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(json_integer_value(json_object_get(ls.rec[i], "i")), i);
    tu_lines_free(&ls);

    pt_log_sink_counters c;
    pt_log_sink_counters_get(s2, &c); /* lines counted through short writes */
    assert_int_equal(c.records, n);
    pthread_mutex_lock(&slow2.mu);
    size_t slow2_len = slow2.len;
    pthread_mutex_unlock(&slow2.mu);
    assert_int_equal(c.bytes, slow2_len);
    pt_log_sink_counters_get(f->file, &c);
    assert_int_equal(c.records, n);
    assert_int_equal(c.bytes, tu_file_size(f->path));
    assert_int_equal(c.dropped, 0);
    assert_int_equal(c.errors, 0);
    assert_int_equal(c.last_error, 0);
    assert_int_equal(c.stalled, 0);
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, 0), 0);

    pt_log_free(f->log);
    f->log = NULL;
    assert_true(tu_sink_wait_closed(&slow1, 5000));
    assert_true(tu_sink_wait_closed(&slow2, 5000));
    tu_sink_destroy(&slow1);
    tu_sink_destroy(&slow2);
}

static void test_flush_times_out_on_blocked_sink(void **state)
{
    tu_fx *f = *state;
    tu_sink held;
    tu_sink_init(&held, 1);
    held.hold = 1;
    pt_log_sink *hs = NULL;
    assert_int_equal(pt_log_add_sink(f->log, &tu_sink_ops, &held, NULL, &hs), 0);
    PT_INFO(f->log, "first", PT_INT("i", 0));
    assert_true(tu_sink_wait_blocked(&held, 5000));

    uint64_t t0 = tu_now_ms();
    int rc = pt_log_flush(200);
    uint64_t took = tu_now_ms() - t0;
    assert_int_equal(rc, -ETIMEDOUT);
    assert_true(took >= 180);
    assert_true(took < 2000);

    /* A blocked sink does not hold back the others: the file gets this record. */
    PT_INFO(f->log, "while held", PT_INT("i", 1));
    uint64_t end = tu_now_ms() + 5000;
    long long got[4];
    while (tu_seqs(f->path, "while held", got, 4) == 0 && tu_now_ms() < end)
        tu_sleep_ms(10);
    assert_int_equal(tu_seqs(f->path, "while held", got, 4), 1);
    assert_int_equal(pt_log_flush(100), -ETIMEDOUT);

    tu_sink_set_hold(&held, 0);
    assert_int_equal(pt_log_flush(5000), 0);
    pthread_mutex_lock(&held.mu);
    tu_lines ls;
    tu_lines_parse(&ls, held.buf ? held.buf : "", held.len);
    pthread_mutex_unlock(&held.mu);
    TU_ASSERT_LINES_GOOD(&ls);
    assert_int_equal(ls.n, 2);
    assert_string_equal(tu_str(ls.rec[0], "msg"), "first");
    assert_string_equal(tu_str(ls.rec[1], "msg"), "while held");
    tu_lines_free(&ls);
    pt_log_sink_counters c;
    pt_log_sink_counters_get(hs, &c);
    assert_int_equal(c.records, 2);
    assert_int_equal(c.dropped, 0);

    pt_log_free(f->log);
    f->log = NULL;
    assert_true(tu_sink_wait_closed(&held, 5000));
    tu_sink_destroy(&held);
}

/* Flushes from two threads while both log: each flush covers every record its thread (and
 * the other) logged before it. The sink counts each thread's lines. */
typedef struct tsink {
    pthread_mutex_t mu;
    uint64_t seen[2];
    int closed;
} tsink;

static ssize_t tsink_write(void *ctx, const char *buf, size_t len)
{
    tsink *t = ctx;
    pthread_mutex_lock(&t->mu);
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            break;
        if (memmem(p, (size_t)(nl - p), "\"t\":1", 5))
            t->seen[1]++;
        else
            t->seen[0]++;
        p = nl + 1;
    }
    pthread_mutex_unlock(&t->mu);
    return (ssize_t)len;
}

static void tsink_close(void *ctx)
{
    tsink *t = ctx;
    pthread_mutex_lock(&t->mu);
    t->closed = 1;
    pthread_mutex_unlock(&t->mu);
}

typedef struct flusher {
    pt_log *log;
    tsink *sink;
    int id;
    int failures;
    int timeouts;
} flusher;

static void *flusher_main(void *arg)
{
    flusher *fl = arg;
    uint64_t logged = 0;
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < 250; i++, logged++)
            PT_INFO(fl->log, "concurrent", PT_INT("t", fl->id), PT_UINT("i", logged));
        if (pt_log_flush(10000) != 0) {
            fl->timeouts++;
            continue;
        }
        pthread_mutex_lock(&fl->sink->mu);
        uint64_t seen = fl->sink->seen[fl->id];
        pthread_mutex_unlock(&fl->sink->mu);
        fl->failures += seen < logged;
    }
    return NULL;
}

static void test_flush_concurrent(void **state)
{
    tu_fx *f = *state;
    static tsink ts;
    memset(&ts, 0, sizeof ts);
    pthread_mutex_init(&ts.mu, NULL);
    static const pt_log_sink_ops ops = {
        .kind = "count", .write = tsink_write, .close = tsink_close};
    assert_int_equal(pt_log_add_sink(f->log, &ops, &ts, NULL, NULL), 0);
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, -1), 0);
    flusher fl[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        fl[i] = (flusher){.log = f->log, .sink = &ts, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, flusher_main, &fl[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, 0), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(fl[i].timeouts, 0);
        if (fl[i].failures)
            fail_msg("thread %d: %d flushes returned 0 before its records were written", i,
                     fl[i].failures);
    }
    assert_int_equal(ts.seen[0], 10000);
    assert_int_equal(ts.seen[1], 10000);
    pt_log_free(f->log);
    f->log = NULL;
    uint64_t end = tu_now_ms() + 5000;
    int closed = 0;
    while (!closed && tu_now_ms() < end) {
        pthread_mutex_lock(&ts.mu);
        closed = ts.closed;
        pthread_mutex_unlock(&ts.mu);
        tu_sleep_ms(2);
    }
    assert_true(closed);
    pthread_mutex_destroy(&ts.mu);
}

/* A root freed while a child still lives: the child keeps logging to the root's sinks, which
 * close once the child is released too. */
static void test_root_freed_before_child(void **state)
{
    tu_fx *f = *state;
    tu_sink mem;
    tu_sink_init(&mem, 1);
    assert_int_equal(pt_log_add_sink(f->log, &tu_sink_ops, &mem, NULL, NULL), 0);
    pt_log *child = PT_LOG_CHILD(f->log, PT_STR("who", "child"));
    assert_non_null(child);
    PT_WARN(child, "before the root went");
    pt_log_free(f->log);
    f->log = NULL;
    PT_WARN(child, "after the root went");
    assert_int_equal(pt_log_flush(5000), 0);
    pthread_mutex_lock(&mem.mu);
    int closed_early = mem.closed;
    tu_lines ls;
    tu_lines_parse(&ls, mem.buf ? mem.buf : "", mem.len);
    pthread_mutex_unlock(&mem.mu);
    size_t n = ls.n, bad = tu_lines_report_bad(&ls);
    int second = tu_find_msg(&ls, "after the root went", NULL) != NULL;
    tu_lines_free(&ls);
    pt_log_free(child);
    int closed = tu_sink_wait_closed(&mem, 5000);
    if (closed)
        tu_sink_destroy(&mem);
    assert_int_equal(bad, 0);
    assert_false(closed_early);
    assert_int_equal(n, 2);
    assert_true(second);
    assert_true(closed);
    long long got[4];
    assert_int_equal(tu_seqs(f->path, "after the root went", got, 4), 1);
}

/* A sink whose write never returns. It stays blocked until the process ends: its thread
 * keeps the sink, so nothing is freed under it (and nothing leaks). */
static pthread_mutex_t stuck_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stuck_cv = PTHREAD_COND_INITIALIZER;
static int stuck_entered;

static ssize_t stuck_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx, (void)buf, (void)len;
    pthread_mutex_lock(&stuck_mu);
    stuck_entered = 1;
    for (;;)
        pthread_cond_wait(&stuck_cv, &stuck_mu);
    return 0;
}

/* Releasing a logger whose sink hangs returns all the same: the flush times out (1 s), then
 * the sink's thread is given a second to stop and left behind. */
static void test_free_with_stuck_sink(void **state)
{
    (void)state;
    static const pt_log_sink_ops ops = {.kind = "stuck", .write = stuck_write};
    pt_log *log;
    assert_int_equal(pt_log_new("stuck", &log), 0);
    assert_int_equal(pt_log_add_sink(log, &ops, NULL, NULL, NULL), 0);
    PT_INFO(log, "never written");
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&stuck_mu);
        int in = stuck_entered;
        pthread_mutex_unlock(&stuck_mu);
        if (in)
            break;
        tu_sleep_ms(10);
    }
    uint64_t t0 = tu_now_ms();
    pt_log_free(log);
    uint64_t took = tu_now_ms() - t0;
    fprintf(stderr, "pt_log_free with a stuck sink took %llu ms\n", (unsigned long long)took);
    assert_true(took >= 900); /* it did try to flush */
    assert_true(took < 4000);
}

static void test_failing_sink_retried(void **state)
{
    tu_fx *f = *state;
    tu_sink bad;
    tu_sink_init(&bad, 1);
    bad.fail = 2;
    bad.fail_err = -EIO;
    pt_log_sink *bs = NULL;
    assert_int_equal(pt_log_add_sink(f->log, &tu_sink_ops, &bad, NULL, &bs), 0);
    for (int i = 0; i < 10; i++)
        PT_WARN(f->log, "retried", PT_INT("i", i));
    /* Two failures: back-offs of 100 then 200 ms. */
    assert_int_equal(pt_log_flush(5000), 0);
    pthread_mutex_lock(&bad.mu);
    tu_lines ls;
    tu_lines_parse(&ls, bad.buf ? bad.buf : "", bad.len);
    pthread_mutex_unlock(&bad.mu);
    TU_ASSERT_LINES_GOOD(&ls);
    assert_int_equal(ls.n, 10);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(json_integer_value(json_object_get(ls.rec[i], "i")), i);
    tu_lines_free(&ls);
    pt_log_sink_counters c;
    pt_log_sink_counters_get(bs, &c);
    assert_int_equal(c.errors, 2);
    assert_int_equal(c.last_error, -EIO);
    assert_int_equal(c.records, 10);
    pt_log_free(f->log);
    f->log = NULL;
    assert_true(tu_sink_wait_closed(&bad, 5000));
    tu_sink_destroy(&bad);
}

/* The optional ops of a sink of one's own are called: flush on pt_log_flush(), reopen on
 * pt_log_reopen(), tick about once a second, close when the logger goes. */
typedef struct opsink {
    tu_sink base;
    int flushes, reopens, ticks;
} opsink;

static int opsink_flush(void *ctx, uint64_t timeout_ms)
{
    opsink *o = ctx;
    (void)timeout_ms;
    pthread_mutex_lock(&o->base.mu);
    o->flushes++;
    pthread_mutex_unlock(&o->base.mu);
    return 0;
}

static int opsink_reopen(void *ctx)
{
    opsink *o = ctx;
    pthread_mutex_lock(&o->base.mu);
    o->reopens++;
    pthread_mutex_unlock(&o->base.mu);
    return 0;
}

static int opsink_tick(void *ctx)
{
    opsink *o = ctx;
    pthread_mutex_lock(&o->base.mu);
    o->ticks++;
    pthread_mutex_unlock(&o->base.mu);
    return 0;
}

static void test_custom_sink_optional_ops(void **state)
{
    tu_fx *f = *state;
    static const pt_log_sink_ops ops = {.kind = "ops",
                                        .write = tu_sink_write,
                                        .flush = opsink_flush,
                                        .reopen = opsink_reopen,
                                        .tick = opsink_tick,
                                        .close = tu_sink_close};
    opsink o;
    memset(&o, 0, sizeof o);
    tu_sink_init(&o.base, 1);
    pt_log_sink_options so = {.levels = PT_LOG_ROUTE_CONSOLE};
    assert_int_equal(pt_log_add_sink(f->log, &ops, &o, &so, NULL), 0);
    uint64_t t0 = tu_now_ms();
    PT_INFO(f->log, "ops");
    assert_int_equal(pt_log_flush(5000), 0);
    pthread_mutex_lock(&o.base.mu);
    int flushes = o.flushes;
    pthread_mutex_unlock(&o.base.mu);
    assert_int_equal(tu_sink_lines(&o.base), 1);
    assert_true(flushes >= 1);
    assert_int_equal(pt_log_reopen(f->log), 0);
    pthread_mutex_lock(&o.base.mu);
    int reopens = o.reopens;
    pthread_mutex_unlock(&o.base.mu);
    assert_int_equal(reopens, 1);
    /* About once a second: at least one tick in 2.5 s, and not a busy loop. */
    while (tu_now_ms() - t0 < 2500)
        tu_sleep_ms(50);
    pthread_mutex_lock(&o.base.mu);
    int ticks = o.ticks;
    pthread_mutex_unlock(&o.base.mu);
    if (ticks < 1 || ticks > 6)
        fail_msg("%d ticks in 2.5 s", ticks);
    pt_log_free(f->log);
    f->log = NULL;
    assert_true(tu_sink_wait_closed(&o.base, 5000));
    tu_sink_destroy(&o.base);
}

static int scenario_stderr_unread(const char *dir)
{
    int p[2];
    CHECK(pipe(p) == 0);
    int saved = dup(2);
    dup2(p[1], 2);
    close(p[1]);
    char *path = tu_path(dir, "file.log");
    pt_log *log;
    pt_log_sink *es, *fs;
    CHECK(pt_log_new("unread", &log) == 0);
    CHECK(pt_log_add_stderr(log, NULL, &es) == 0);
    CHECK(pt_log_add_file(log, path, NULL, &fs) == 0);
    char pad[200];
    memset(pad, 'p', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    const int n = 2000; /* 2000 x ~300 bytes: far more than a pipe holds (64 KiB) */
    uint64_t max_ns = 0;
    for (int i = 0; i < n; i++) {
        uint64_t t0 = tu_now_ns();
        PT_INFO(log, "unread", PT_INT("i", i), PT_STR("pad", pad));
        uint64_t dt = tu_now_ns() - t0;
        if (dt > max_ns)
            max_ns = dt;
        if (i % 100 == 99)
            tu_sleep_ms(5); /* let pt-log keep up: no ring drops */
    }
    uint64_t end = tu_now_ms() + 10000;
    pt_log_sink_counters fc, ec;
    do {
        tu_sleep_ms(20);
        pt_log_sink_counters_get(fs, &fc);
    } while (fc.records < (uint64_t)n && tu_now_ms() < end);
    pt_log_sink_counters_get(es, &ec);
    int flushed = pt_log_flush(200);
    /* Read the pipe dry, then let the stderr sink move again. */
    int fl = fcntl(p[0], F_GETFL);
    fcntl(p[0], F_SETFL, fl | O_NONBLOCK);
    char buf[65536];
    size_t got = 0;
    end = tu_now_ms() + 10000;
    int flushed2 = -1;
    while (tu_now_ms() < end) {
        ssize_t r = read(p[0], buf, sizeof buf);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        flushed2 = pt_log_flush(50);
        if (flushed2 == 0)
            break;
    }
    pt_log_free(log);
    dup2(saved, 2);
    close(saved);
    close(p[0]);
    fprintf(stderr,
            "stderr unread: file %llu records; stderr %llu records, %llu dropped, "
            "stalled %d; %zu bytes read back; slowest call %llu us\n",
            (unsigned long long)fc.records, (unsigned long long)ec.records,
            (unsigned long long)ec.dropped, ec.stalled, got, (unsigned long long)max_ns / 1000);
    CHECKF(fc.records == (uint64_t)n, "the file got %llu of %d records while stderr was stuck",
           (unsigned long long)fc.records, n);
    CHECK(ec.records < (uint64_t)n);
    CHECK(flushed == -ETIMEDOUT);
    CHECKF(flushed2 == 0, "flush after the pipe was read: %d", flushed2);
    CHECK(max_ns < 50000000);
    free(path);
    return 0;
}

typedef struct drain {
    int fd;
    char *buf;
    size_t len, cap;
} drain;

static void *drain_main(void *arg)
{
    drain *d = arg;
    for (;;) {
        if (d->len + 65536 > d->cap) {
            d->cap = d->cap ? d->cap * 2 : 1 << 20;
            d->buf = realloc(d->buf, d->cap);
        }
        ssize_t r = read(d->fd, d->buf + d->len, 65536);
        if (r > 0)
            d->len += (size_t)r;
        else if (r == 0 || errno != EINTR)
            break;
    }
    return NULL;
}

/* stderr is a pipe that is read: lines longer than PIPE_BUF arrive whole. */
static int scenario_stderr_pipe(const char *dir)
{
    (void)dir;
    int p[2];
    CHECK(pipe(p) == 0);
    drain d = {.fd = p[0]};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, drain_main, &d) == 0);
    int saved = dup(2);
    dup2(p[1], 2);
    close(p[1]);
    pt_log *log;
    CHECK(pt_log_new("piped", &log) == 0);
    CHECK(pt_log_add_stderr(log, NULL, NULL) == 0);
    CHECK(pt_log_set_full_policy(PT_LOG_INFO, -1) == 0);
    static char big[8000];
    memset(big, 'B', sizeof big - 1);
    for (int i = 0; i < 300; i++) {
        if (i % 3 == 0)
            PT_INFO(log, "piped", PT_INT("i", i), PT_STR("big", big));
        else
            PT_INFO(log, "piped", PT_INT("i", i));
    }
    int flushed = pt_log_flush(10000);
    pt_log_free(log);
    dup2(saved, 2); /* the last write end closes: the reader sees EOF */
    close(saved);
    pthread_join(th, NULL);
    close(p[0]);
    CHECK(flushed == 0);
    tu_lines ls;
    tu_lines_parse(&ls, d.buf ? d.buf : "", d.len);
    free(d.buf);
    CHECK(tu_lines_report_bad(&ls) == 0);
    CHECKF(ls.n == 300, "%zu lines", ls.n);
    for (size_t i = 0; i < ls.n; i++) {
        CHECK(json_integer_value(json_object_get(ls.rec[i], "i")) == (json_int_t)i);
        if (i % 3 == 0)
            CHECK(strcmp(tu_str(ls.rec[i], "big"), big) == 0);
    }
    tu_lines_free(&ls);
    return 0;
}

TU_SCENARIO_TEST(test_stderr_pipe, "stderr_pipe", 60000)
/* stderr is a pipe that nobody reads: the stderr sink stalls, the file sink and the callers
 * go on. */
TU_SCENARIO_TEST(test_stderr_unread, "stderr_unread", 60000)

static const tu_scenario scenarios[] = {
    {"stderr_unread", scenario_stderr_unread},
    {"stderr_pipe", scenario_stderr_pipe},
    {NULL, NULL},
};


/* ---- a line that ends exactly at the queue's end ---------------------------------------- */

/* The write gate: while closed, a write waits for it to open and then takes nothing, so the
 * sink's thread reads the queue again afterwards, with more in it. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int closed, waiting;
    char got[70000];
    size_t len;
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, {0}, 0};

static ssize_t gated_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    pthread_mutex_lock(&gate.mu);
    if (gate.closed) {
        gate.waiting = 1;
        pthread_cond_broadcast(&gate.cv);
        while (gate.closed)
            pthread_cond_wait(&gate.cv, &gate.mu);
        gate.waiting = 0;
        pthread_mutex_unlock(&gate.mu);
        return 0;
    }
    if (gate.len + len <= sizeof gate.got) {
        memcpy(gate.got + gate.len, buf, len);
        gate.len += len;
    }
    pthread_mutex_unlock(&gate.mu);
    return (ssize_t)len;
}

static size_t gate_len(void)
{
    pthread_mutex_lock(&gate.mu);
    size_t n = gate.len;
    pthread_mutex_unlock(&gate.mu);
    return n;
}

/* A line that fills the queue to its very end leaves no skip mark; the next starts at offset 0.
 * The sink's thread must not read the two as one run (it read past the buffer: ASan saw it). */
static void test_line_ending_at_queue_end(void **state)
{
    (void)state;
    static const pt_log_sink_ops ops = {.kind = "gated", .write = gated_write};
    pt_log *log;
    pt_log_sink *handle;
    pt_log_sink_options o = {.queue_bytes = 65536, .stall_ms = 5000};
    assert_int_equal(pt_log_new("gated", &log), 0);
    assert_int_equal(pt_log_add_sink(log, &ops, NULL, &o, &handle), 0);
    struct pt__sink *s = (struct pt__sink *)handle;
    assert_int_equal(s->size, 65536);
    static char l1[32768], l2[32768], l3[500];
    memset(l1, 'a', sizeof l1);
    memset(l2, 'b', sizeof l2);
    memset(l3, 'c', sizeof l3);
    l1[sizeof l1 - 1] = l2[sizeof l2 - 1] = l3[sizeof l3 - 1] = '\n';
    assert_int_equal(pt__sink_push(s, l1, sizeof l1), 0);
    pt__sink_wake(s);
    for (int i = 0; i < 500 && gate_len() < sizeof l1; i++)
        tu_sleep_ms(10);
    assert_int_equal(gate_len(), sizeof l1);
    pthread_mutex_lock(&gate.mu);
    gate.closed = 1;
    pthread_mutex_unlock(&gate.mu);
    assert_int_equal(pt__sink_push(s, l2, sizeof l2), 0); /* ends at byte 65536: the end */
    pt__sink_wake(s);
    int waiting = 0;
    for (int i = 0; i < 500 && !waiting; i++) {
        tu_sleep_ms(10);
        pthread_mutex_lock(&gate.mu);
        waiting = gate.waiting;
        pthread_mutex_unlock(&gate.mu);
    }
    assert_true(waiting); /* the thread holds l2 alone, and takes none of it */
    assert_int_equal(pt__sink_push(s, l3, sizeof l3), 0); /* at offset 0 */
    pthread_mutex_lock(&gate.mu);
    gate.closed = 0;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    pt__sink_wake(s);
    size_t want = sizeof l1 + sizeof l2 + sizeof l3;
    for (int i = 0; i < 500 && gate_len() < want; i++)
        tu_sleep_ms(10);
    assert_int_equal(gate_len(), want);
    assert_memory_equal(gate.got + sizeof l1, l2, sizeof l2);
    assert_memory_equal(gate.got + sizeof l1 + sizeof l2, l3, sizeof l3);
    pt_log_free(log);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_flush_waits_for_every_sink, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_flush_times_out_on_blocked_sink, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_flush_concurrent, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_root_freed_before_child, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_failing_sink_retried, setup, tu_fx_teardown),
    cmocka_unit_test(test_free_with_stuck_sink),
    cmocka_unit_test_setup_teardown(test_custom_sink_optional_ops, setup, tu_fx_teardown),
    cmocka_unit_test(test_stderr_unread),
    cmocka_unit_test(test_stderr_pipe),
    cmocka_unit_test(test_line_ending_at_queue_end),
};

TU_MAIN(scenarios, tests)
