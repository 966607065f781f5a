/* Concurrency of the configuration: readers never see a half-applied change, views pin one
 * state, and subscribers are told of whole steps in order.
 *
 * Two pairs of keys must always change together: pair.s is "n-<pair.n>" and pair.b is
 * -pair.a. A writer thread sets them through pt_config_override() (flat and nested JSON, with
 * and without a time-to-live), pt_config_override_args(), null values and pt_config_unset(),
 * and pauses now and then so that overrides expire on pt-ops while the readers run. Two
 * reader threads check both invariants through views on every read, and check that handle
 * reads only ever give values some layer held. A subscriber to "pair." checks that every
 * step changes both keys of a pair or neither, that values come in pairs and in order, and
 * that keys outside the prefix are not passed to it.
 *
 * The second test holds a view across many overrides: its values (strings, list items,
 * origins) must stay the same and stay valid (ASan and TSan catch a state freed under it),
 * and views nested inside it must see its state; the origins a view gives stay valid as long
 * as the view. `make test-tsan` runs this file under ThreadSanitizer. */
#include <errno.h>
#include <inttypes.h>
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

#include "potter/config.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* How long the readers and the writer of the first test run. */
#define RUN_MS 2000
/* Values the writer gives: n_value(k) for pair.n, a_value(k) for pair.a; the defaults are 0. */
#define NVALUES 100000

static int64_t n_value(uint64_t k)
{
    return 1000 + 7 * (int64_t)(k % NVALUES);
}

static int64_t a_value(uint64_t k)
{
    return 3 + 11 * (int64_t)(k % NVALUES);
}

static int is_n_value(int64_t v)
{
    return v == 0 || (v >= 1000 && v < 1000 + 7 * NVALUES && (v - 1000) % 7 == 0);
}

static int is_a_value(int64_t v)
{
    return v == 0 || (v >= 3 && v < 3 + 11 * NVALUES && (v - 3) % 11 == 0);
}

static const pt_config_key keys[] = {
    {"pair.n", PT_CONFIG_INT, "0", "a number", NULL, 0},
    {"pair.s", PT_CONFIG_STRING, "n-0", "always \"n-<pair.n>\"", NULL, 0},
    {"pair.a", PT_CONFIG_INT, "0", "a number", NULL, 0},
    {"pair.b", PT_CONFIG_INT, "0", "always -pair.a", NULL, 0},
    {"misc.count", PT_CONFIG_INT, "0", "outside the subscription's prefix", NULL, 0},
    {"misc.list", PT_CONFIG_LIST, "x,y", "a list", NULL, 0},
    {"misc.obj", PT_CONFIG_OBJECT, "{}", "an object", NULL, 0},
};

/* ---- time and the temporary config folder --------------------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_us(unsigned us)
{
    struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* xorshift64*: the same sequence on every run. */
static uint64_t next_random(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 2685821657736338717ULL;
}

typedef struct fixture {
    char dir[256]; /* the empty config folder */
    char dcfile[300];
    pt_config *cfg;
    pt_config_int *n, *a, *b, *count;
    pt_config_str *s;
    pt_config_list *list;
    pt_config_object *obj;
    atomic_int reports; /* messages given to opts.report, shown for diagnosis */
} fixture;

static void on_report(void *arg, int level, const char *msg)
{
    fixture *f = arg;
    if (atomic_fetch_add(&f->reports, 1) < 3)
        fprintf(stderr, "report (level %d): %s\n", level, msg);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/pt-cfgconc-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    /* A datacenter file that does not exist, so /etc/datacenter cannot add a layer. */
    snprintf(f->dcfile, sizeof(f->dcfile), "%s/no-datacenter", f->dir);

    pt_config_options opts = {0};
    opts.config_dir = f->dir;
    opts.env = "test";
    opts.datacenter_file = f->dcfile;
    opts.report = on_report;
    opts.report_arg = f;
    assert_int_equal(pt_config_new("concurrency", &opts, &f->cfg), 0);
    int rc = pt_config_declare(f->cfg, keys, COUNT(keys));
    if (rc != 0)
        fail_msg("declare: %d: %s", rc, pt_config_error(f->cfg));
    char *argv[] = {"test_config_concurrency", NULL};
    rc = pt_config_load(f->cfg, 1, argv);
    if (rc != 0)
        fail_msg("load: %d: %s", rc, pt_config_error(f->cfg));
    f->n = PT_CONFIG_INT(f->cfg, "pair.n");
    f->s = PT_CONFIG_STR(f->cfg, "pair.s");
    f->a = PT_CONFIG_INT(f->cfg, "pair.a");
    f->b = PT_CONFIG_INT(f->cfg, "pair.b");
    f->count = PT_CONFIG_INT(f->cfg, "misc.count");
    f->list = PT_CONFIG_LIST(f->cfg, "misc.list");
    f->obj = PT_CONFIG_OBJECT(f->cfg, "misc.obj");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    pt_config_free(f->cfg);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Applies a JSON override; every document the tests send is valid. */
static void override(fixture *f, const char *json, uint64_t ttl_ms)
{
    int rc = pt_config_override(f->cfg, json, strlen(json), ttl_ms, "test");
    if (rc != 0)
        fail_msg("override %s: %d: %s", json, rc, pt_config_error(f->cfg));
}

/* ---- readers ---------------------------------------------------------------------------- */

typedef struct reader {
    fixture *f;
    atomic_int *stop;
    pthread_t th;
    uint64_t reads; /* views checked */
    uint64_t violations; /* reads that broke an invariant or gave a value never written */
} reader;

static void reader_bad(reader *r, const char *what, int64_t x, int64_t y, const char *str)
{
    if (r->violations++ < 5)
        fprintf(stderr, "reader: %s: %" PRId64 " %" PRId64 " \"%s\"\n", what, x, y,
                str ? str : "(null)");
}

static void *reader_main(void *arg)
{
    reader *r = arg;
    fixture *f = r->f;
    char want[32];

    while (!atomic_load_explicit(r->stop, memory_order_relaxed)) {
        const pt_config_view *v = pt_config_view_begin(f->cfg);
        int64_t n = pt_config_view_int(v, f->n);
        const char *s = pt_config_view_str(v, f->s);
        int64_t a = pt_config_view_int(v, f->a);
        int64_t b = pt_config_view_int(v, f->b);
        snprintf(want, sizeof(want), "n-%" PRId64, n);
        if (s == NULL || strcmp(s, want) != 0)
            reader_bad(r, "view: pair.s does not match pair.n", n, 0, s);
        if (b != -a)
            reader_bad(r, "view: pair.b is not -pair.a", a, b, NULL);
        if (!is_n_value(n) || !is_a_value(a))
            reader_bad(r, "view: a value never written", n, a, NULL);
        /* The same view read again gives the same state. */
        if (pt_config_view_int(v, f->n) != n || pt_config_view_str(v, f->s) != s)
            reader_bad(r, "view: a second read differs", n, pt_config_view_int(v, f->n), s);
        pt_config_view_end(v);

        /* Handles give the latest value of each key: any value some layer held, no pairing. */
        int64_t hn = pt_config_int_get(f->n);
        int64_t ha = pt_config_int_get(f->a);
        int64_t hb = pt_config_int_get(f->b);
        if (!is_n_value(hn) || !is_a_value(ha) || !is_a_value(-hb))
            reader_bad(r, "handle: a value never written", hn, ha, NULL);
        r->reads++;
    }
    return NULL;
}

/* ---- the writer ------------------------------------------------------------------------- */

typedef struct writer {
    fixture *f;
    atomic_int *stop;
    pthread_t th;
    uint64_t applies; /* calls that returned 0 */
    uint64_t failures; /* calls that did not */
    uint64_t with_ttl; /* applied overrides with a time-to-live */
    uint64_t p1_ttl; /* the TTL of the last step that touched pair.n, 0: none or removed */
    uint64_t expired; /* pauses after which pair.n had expired */
} writer;

static void writer_result(writer *w, int rc, const char *what)
{
    if (rc == 0) {
        w->applies++;
    } else if (w->failures++ < 5) {
        fprintf(stderr, "writer: %s: %d: %s\n", what, rc, pt_config_error(w->f->cfg));
    }
}

/* One step of the writer, chosen by r (0..99): an override of one pair or both, in flat or
 * nested JSON or as KEY=VALUE texts, a null override, or an unset. */
static void writer_step(writer *w, uint64_t *rng, uint64_t k)
{
    pt_config *cfg = w->f->cfg;
    unsigned r = (unsigned)(next_random(rng) % 100);
    unsigned t = (unsigned)(next_random(rng) % 24);
    uint64_t ttl = t < 20 ? t + 1 : 0; /* 1..20 ms, or none */
    int64_t n = n_value(k), a = a_value(k);
    char doc[256];
    int rc;

    if (r < 25) {
        snprintf(doc, sizeof(doc), "{\"pair.n\":%" PRId64 ",\"pair.s\":\"n-%" PRId64 "\"}", n, n);
    } else if (r < 40) {
        snprintf(doc, sizeof(doc),
                 "{\"pair\":{\"s\":\"n-%" PRId64 "\",\"n\":%" PRId64 "},\"misc.count\":%" PRIu64
                 "}",
                 n, n, k);
    } else if (r < 60) {
        snprintf(doc, sizeof(doc), "{\"pair.a\":%" PRId64 ",\"pair.b\":%" PRId64 "}", a, -a);
    } else if (r < 75) {
        snprintf(doc, sizeof(doc),
                 "{\"pair\":{\"n\":%" PRId64 ",\"b\":%" PRId64 ",\"a\":%" PRId64
                 "},\"pair.s\":\"n-%" PRId64 "\"}",
                 n, -a, a, n);
    } else if (r < 85) {
        char tn[64], ts[64];
        snprintf(tn, sizeof(tn), "pair.n=%" PRId64, n);
        snprintf(ts, sizeof(ts), "pair.s=n-%" PRId64, n);
        const char *args[] = {ts, "misc.count=7", tn};
        rc = pt_config_override_args(cfg, args, COUNT(args), ttl, "test args");
        writer_result(w, rc, "override_args");
        w->with_ttl += rc == 0 && ttl > 0;
        w->p1_ttl = ttl;
        return;
    } else if (r < 90) {
        snprintf(doc, sizeof(doc), "%s",
                 r % 2 ? "{\"pair.n\":null,\"pair.s\":null}"
                       : "{\"pair\":{\"a\":null,\"b\":null}}");
    } else {
        static const char *const p1[] = {"pair.n", "pair.s"};
        static const char *const p2[] = {"pair.b", "pair.a"};
        if (r < 94 || r >= 98)
            w->p1_ttl = 0;
        if (r < 94)
            rc = pt_config_unset(cfg, p1, COUNT(p1));
        else if (r < 98)
            rc = pt_config_unset(cfg, p2, COUNT(p2));
        else
            rc = pt_config_unset(cfg, NULL, 0);
        writer_result(w, rc, "unset");
        return;
    }
    rc = pt_config_override(cfg, doc, strlen(doc), ttl, "test");
    writer_result(w, rc, doc);
    w->with_ttl += rc == 0 && ttl > 0;
    if (r < 40 || (r >= 60 && r < 75))
        w->p1_ttl = ttl;
    else if (r >= 85 && r % 2)
        w->p1_ttl = 0; /* null: removed */
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    uint64_t rng = 0x9E3779B97F4A7C15ULL, k = 0;

    /* Bursts of steps, then a pause of 0..25 ms: long enough for overrides with short TTLs
     * to expire on pt-ops while the readers go on. */
    while (!atomic_load_explicit(w->stop, memory_order_relaxed)) {
        unsigned burst = 1 + (unsigned)(next_random(&rng) % 40);
        for (unsigned i = 0; i < burst; i++)
            writer_step(w, &rng, k++);
        unsigned pause_us = (unsigned)(next_random(&rng) % 25000);
        sleep_us(pause_us);
        /* Counted, not required each time: pt-ops may be late on a busy machine. */
        if (w->p1_ttl > 0 && pause_us > (w->p1_ttl + 3) * 1000 && pt_config_int_get(w->f->n) == 0)
            w->expired++;
    }
    return NULL;
}

/* ---- the subscriber --------------------------------------------------------------------- */

/* Runs on pt-ops only, so its fields need no lock; the test reads them after unsubscribing. */
typedef struct watcher {
    uint64_t calls, changes;
    uint64_t violations;
    char last[4][64]; /* the last new_value of pair.n, .s, .a, .b (JSON text) */
    atomic_int settled; /* the last values seen are the defaults */
} watcher;

static int pair_index(const char *key)
{
    static const char *const names[] = {"pair.n", "pair.s", "pair.a", "pair.b"};
    for (int i = 0; i < 4; i++)
        if (strcmp(key, names[i]) == 0)
            return i;
    return -1;
}

static void watcher_bad(watcher *w, const char *what, const char *detail)
{
    if (w->violations++ < 5)
        fprintf(stderr, "subscriber: %s: %s\n", what, detail ? detail : "");
}

/* "123" and "\"n-123\"" belong together; so do "5" and "-5". */
static int n_matches_s(const char *n, const char *s)
{
    char want[80];
    snprintf(want, sizeof(want), "\"n-%s\"", n);
    return strcmp(want, s) == 0;
}

static int a_matches_b(const char *a, const char *b)
{
    return (strcmp(a, "0") == 0 && strcmp(b, "0") == 0) || (b[0] == '-' && strcmp(a, b + 1) == 0);
}

static void on_change(void *arg, const pt_config_change *changes, size_t n)
{
    watcher *w = arg;
    const pt_config_change *c[4] = {NULL, NULL, NULL, NULL};

    w->calls++;
    w->changes += n;
    if (n == 0)
        watcher_bad(w, "called with no change", NULL);
    for (size_t i = 0; i < n; i++) {
        int k = pair_index(changes[i].key);
        if (k < 0) {
            watcher_bad(w, "a key outside the prefix \"pair.\"", changes[i].key);
            continue;
        }
        if (c[k] != NULL)
            watcher_bad(w, "one key twice in one step", changes[i].key);
        c[k] = &changes[i];
        if (changes[i].old_value == NULL || changes[i].new_value == NULL ||
            changes[i].origin == NULL) {
            watcher_bad(w, "a NULL text", changes[i].key);
            return;
        }
        /* Steps arrive in the order they were applied. */
        if (strcmp(changes[i].old_value, w->last[k]) != 0) {
            char d[200];
            snprintf(d, sizeof(d), "%s: old %s, the previous step gave %s", changes[i].key,
                     changes[i].old_value, w->last[k]);
            watcher_bad(w, "out of order", d);
        }
        snprintf(w->last[k], sizeof(w->last[k]), "%s", changes[i].new_value);
    }
    if ((c[0] == NULL) != (c[1] == NULL))
        watcher_bad(w, "pair.n and pair.s changed in different steps",
                    c[0] ? c[0]->new_value : c[1]->new_value);
    if ((c[2] == NULL) != (c[3] == NULL))
        watcher_bad(w, "pair.a and pair.b changed in different steps",
                    c[2] ? c[2]->new_value : c[3]->new_value);
    if (!n_matches_s(w->last[0], w->last[1]))
        watcher_bad(w, "pair.n and pair.s do not match", w->last[1]);
    if (!a_matches_b(w->last[2], w->last[3]))
        watcher_bad(w, "pair.a and pair.b do not match", w->last[3]);
    int settled = strcmp(w->last[0], "0") == 0 && strcmp(w->last[2], "0") == 0;
    atomic_store(&w->settled, settled);
}

static void watcher_init(watcher *w)
{
    memset(w, 0, sizeof(*w));
    strcpy(w->last[0], "0");
    strcpy(w->last[1], "\"n-0\"");
    strcpy(w->last[2], "0");
    strcpy(w->last[3], "0");
}

/* ---- test 1: readers, a writer, expiries and a subscriber at once ------------------------ */

static void test_pairs_change_together(void **state)
{
    fixture *f = *state;
    atomic_int stop = 0;
    watcher w;
    pt_config_sub *sub = NULL;

    watcher_init(&w);
    assert_int_equal(pt_config_subscribe(f->cfg, "pair.", on_change, &w, &sub), 0);

    reader rd[2];
    writer wr = {.f = f, .stop = &stop};
    for (int i = 0; i < 2; i++) {
        rd[i] = (reader){.f = f, .stop = &stop};
        assert_int_equal(pthread_create(&rd[i].th, NULL, reader_main, &rd[i]), 0);
    }
    assert_int_equal(pthread_create(&wr.th, NULL, writer_main, &wr), 0);
    uint64_t t0 = now_ms();
    while (now_ms() - t0 < RUN_MS)
        sleep_us(10000);
    atomic_store(&stop, 1);
    pthread_join(wr.th, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(rd[i].th, NULL);

    /* Overrides with a TTL expire by themselves, both keys of a pair at once. */
    override(f, "{\"pair.n\":1007,\"pair.s\":\"n-1007\",\"pair.a\":14,\"pair.b\":-14}", 300);
    assert_int_equal(pt_config_int_get(f->n), 1007);
    uint64_t t2 = now_ms();
    while ((pt_config_int_get(f->n) != 0 || pt_config_int_get(f->b) != 0) && now_ms() - t2 < 5000)
        sleep_us(1000);
    assert_int_equal(pt_config_int_get(f->n), 0);
    assert_int_equal(pt_config_int_get(f->a), 0);
    assert_int_equal(pt_config_int_get(f->b), 0);

    /* Whatever is left (overrides without TTL) goes; then everything reads the defaults and
     * the subscriber is told so, within a deadline. */
    assert_int_equal(pt_config_unset(f->cfg, NULL, 0), 0);
    assert_int_equal(pt_config_int_get(f->n), 0);
    assert_int_equal(pt_config_int_get(f->a), 0);
    assert_int_equal(pt_config_int_get(f->b), 0);
    const pt_config_view *v = pt_config_view_begin(f->cfg);
    assert_string_equal(pt_config_view_str(v, f->s), "n-0");
    assert_string_equal(pt_config_view_origin(v, "pair.s"), "default");
    pt_config_view_end(v);
    uint64_t t1 = now_ms();
    while (!atomic_load(&w.settled) && now_ms() - t1 < 5000)
        sleep_us(1000);
    int settled = atomic_load(&w.settled);
    pt_config_unsubscribe(sub);

    fprintf(stderr,
            "%d ms: reads %" PRIu64 " and %" PRIu64 "; applies %" PRIu64 " (%" PRIu64
            " with a TTL), failed %" PRIu64 "; %" PRIu64
            " pauses saw an expiry; reports %d; subscriber: %" PRIu64 " calls, %" PRIu64
            " changes\n",
            RUN_MS, rd[0].reads, rd[1].reads, wr.applies, wr.with_ttl, wr.failures, wr.expired,
            atomic_load(&f->reports), w.calls, w.changes);
    assert_int_equal(rd[0].violations, 0);
    assert_int_equal(rd[1].violations, 0);
    assert_true(rd[0].reads > 1000);
    assert_true(rd[1].reads > 1000);
    assert_int_equal(wr.failures, 0);
    assert_true(wr.applies > 100);
    assert_true(wr.with_ttl > 0);
    assert_int_equal(w.violations, 0);
    assert_true(w.calls > 10);
    assert_true(settled);
    /* The writer's pauses often outlast the TTL of its last step, so overrides expired on
     * pt-ops while the readers ran. */
    assert_true(wr.expired > 0);
}

/* ---- test 2: a view pins its state ------------------------------------------------------ */

typedef struct peek {
    fixture *f;
    int64_t n;
} peek;

static void *peek_main(void *arg)
{
    peek *p = arg;
    const pt_config_view *v = pt_config_view_begin(p->f->cfg);
    p->n = pt_config_view_int(v, p->f->n);
    pt_config_view_end(v);
    return NULL;
}

/* The values of the state the view pins, as the test set them. */
static void check_pinned(fixture *f, const pt_config_view *v, const char *s)
{
    size_t nitems = 99;
    assert_int_equal(pt_config_view_int(v, f->n), 1);
    assert_int_equal(pt_config_view_int(v, f->a), 5);
    assert_int_equal(pt_config_view_int(v, f->b), -5);
    assert_ptr_equal(pt_config_view_str(v, f->s), s);
    assert_string_equal(s, "n-1");
    const char *const *items = pt_config_view_list(v, f->list, &nitems);
    assert_int_equal(nitems, 2);
    assert_string_equal(items[0], "first");
    assert_string_equal(items[1], "second item");
    assert_null(items[2]);
    assert_string_equal(pt_config_view_object(v, f->obj), "{\"k\":[1,2]}");
}

static void test_view_pins_state(void **state)
{
    fixture *f = *state;
    char doc[512];

    override(f,
             "{\"pair\":{\"n\":1,\"s\":\"n-1\",\"a\":5,\"b\":-5},"
             "\"misc\":{\"list\":[\"first\",\"second item\"],\"obj\":{\"k\":[1,2]}}}",
             0);
    const pt_config_view *outer = pt_config_view_begin(f->cfg);
    const char *s = pt_config_view_str(outer, f->s);
    const char *origin = pt_config_view_origin(outer, "pair.n");
    assert_non_null(s);
    assert_non_null(origin);
    char origin_copy[256];
    snprintf(origin_copy, sizeof(origin_copy), "%s", origin);
    assert_non_null(strstr(origin, "test"));
    /* An origin stays valid while its view is, whatever is read after it. */
    assert_string_equal(pt_config_view_origin(outer, "misc.count"), "default");
    assert_string_equal(origin, origin_copy);
    check_pinned(f, outer, s);

    /* A change after the outer view began: handles see it, a view nested in the outer one
     * does not, a view on another thread does. */
    override(f, "{\"pair.n\":2,\"pair.s\":\"n-2\"}", 0);
    assert_int_equal(pt_config_int_get(f->n), 2);
    const pt_config_view *inner = pt_config_view_begin(f->cfg);
    check_pinned(f, inner, s);
    override(f, "{\"pair.n\":3,\"pair.s\":\"n-3\"}", 0);
    const pt_config_view *innermost = pt_config_view_begin(f->cfg);
    check_pinned(f, innermost, s);
    pt_config_view_end(innermost);
    check_pinned(f, inner, s);
    pt_config_view_end(inner);
    peek p = {f, -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, peek_main, &p), 0);
    pthread_join(th, NULL);
    assert_int_equal(p.n, 3);

    /* Many changes while the outer view is held: strings of every length, so that freed
     * memory would be reused; expiries and unsets too. The pinned strings must stay intact. */
    for (int i = 0; i < 3000; i++) {
        int pad = i % 200;
        int64_t n = 1000 + i;
        snprintf(doc, sizeof(doc),
                 "{\"pair.n\":%" PRId64 ",\"pair.s\":\"n-%" PRId64 "\",\"pair.a\":%d,"
                 "\"pair.b\":%d,\"misc.list\":[\"%.*s\",\"z\"],\"misc.obj\":{\"i\":%d}}",
                 n, n, i, -i, pad,
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                 i);
        if (i % 10 == 0) {
            override(f, doc, 1); /* may expire at any time from now on */
            continue;
        }
        override(f, doc, 0);
        assert_int_equal(pt_config_int_get(f->n), n);
        assert_int_equal(pt_config_int_get(f->b), -i);
        if (i % 100 == 1) {
            /* A view on another thread sees the newest state. */
            p.n = -1;
            assert_int_equal(pthread_create(&th, NULL, peek_main, &p), 0);
            pthread_join(th, NULL);
            assert_int_equal(p.n, n);
        }
        if (i % 500 == 251)
            assert_int_equal(pt_config_unset(f->cfg, NULL, 0), 0);
    }
    sleep_us(20000); /* the last 1 ms TTLs expire */
    check_pinned(f, outer, s);
    assert_string_equal(pt_config_view_origin(outer, "pair.n"), origin_copy);
    pt_config_view_end(outer);

    const pt_config_view *v = pt_config_view_begin(f->cfg);
    assert_int_equal(pt_config_view_int(v, f->n), 3999);
    assert_string_equal(pt_config_view_str(v, f->s), "n-3999");
    assert_int_equal(pt_config_view_int(v, f->n), pt_config_int_get(f->n));
    pt_config_view_end(v);
}

/* Origins with a time left are written when asked for; each must stay valid as long as its
 * view, whatever is asked after it. */
static void test_origins_stay_valid(void **state)
{
    fixture *f = *state;
    char copy[256];

    override(f, "{\"pair.n\":1007,\"pair.s\":\"n-1007\"}", 60000);
    override(f, "{\"pair.a\":14,\"pair.b\":-14}", 7200000);
    const pt_config_view *v = pt_config_view_begin(f->cfg);
    const char *n_origin = pt_config_view_origin(v, "pair.n");
    assert_non_null(n_origin);
    assert_non_null(strstr(n_origin, "(expires in "));
    snprintf(copy, sizeof(copy), "%s", n_origin);
    const char *a_origin = pt_config_view_origin(v, "pair.a");
    assert_non_null(a_origin);
    assert_non_null(strstr(a_origin, "(expires in "));
    assert_string_not_equal(a_origin, copy);
    assert_string_equal(n_origin, copy);
    pt_config_view_end(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pairs_change_together, setup, teardown),
        cmocka_unit_test_setup_teardown(test_view_pins_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_origins_stay_valid, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
