/* pt_stats_prometheus(): the exact text of a registry (names, labels, families, counters,
 * gauges, timers and histograms with cumulative buckets, sets, numbers), and promtool's
 * `check metrics` (Debian's prometheus, which scripts/deps.sh installs) accepting it. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "potter/stats.h"
#include "stats/prom_internal.h"
#include "stats/stats_internal.h"

/* A registry with no statsd: nothing flushes behind the test's back. */
static pt_stats *new_stats(void)
{
    pt_stats_options o = {.service = "svc", .host = "web1"};
    pt_stats *s = NULL;
    assert_int_equal(pt_stats_new(&o, &s), 0);
    return s;
}

/* The text, checked against `expected` line by line so a failure shows the first wrong one. */
static void assert_text(const char *got, const char *expected)
{
    if (strcmp(got, expected) == 0)
        return;
    const char *g = got, *e = expected;
    for (int line = 1;; line++) {
        size_t gn = strcspn(g, "\n"), en = strcspn(e, "\n");
        if (gn != en || memcmp(g, e, gn) != 0) {
            print_error("line %d: got\n  %.*s\nexpected\n  %.*s\nwhole text:\n%s", line, (int)gn, g,
                        (int)en, e, got);
            fail();
        }
        if (g[gn] == '\0' || e[en] == '\0')
            break;
        g += gn + 1;
        e += en + 1;
    }
    print_error("texts differ in length; got:\n%s", got);
    fail();
}

/* Runs `promtool check metrics` on text; fails the test with promtool's words when it does
 * not accept it, or when promtool is missing. */
static void assert_promtool_accepts(const char *text)
{
    char path[] = "/tmp/pt_prom_XXXXXX", cmd[256], out[8192];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    unlink(path);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        print_error("promtool not found in PATH (Debian's prometheus; scripts/deps.sh installs "
                    "it)\n%s",
                    out);
        fail();
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        print_error("promtool check metrics refused the text (status %d):\n%s\ntext:\n%s",
                    WIFEXITED(status) ? WEXITSTATUS(status) : -1, out, text);
        fail();
    }
}

/* A unix datagram socket for a registry to flush to, so sets get their interval's count. */
static int bind_unix(char *path, size_t len)
{
    snprintf(path, len, "/tmp/pt_prom_sock_%d", (int)getpid());
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* ---- the text ------------------------------------------------------------------------------ */

static void test_counters(void **state)
{
    (void)state;
    pt_stats *s = new_stats();
    pt_counter_add(pt_stats_counter(s, "requests.done", "route:hello"), 3);
    pt_counter_inc(pt_stats_counter(s, "requests.done", "route:bye"));
    pt_counter_add(pt_stats_counter(s, "requests.done", NULL), 7);
    pt_stats_counter(s, "errors", NULL); /* made, never added to: 0 */
    char *t = pt_stats_prometheus(s);
    assert_non_null(t);
    assert_text(t, "# HELP errors_total errors (potter counter)\n"
                   "# TYPE errors_total counter\n"
                   "errors_total 0\n"
                   "# HELP requests_done_total requests.done (potter counter)\n"
                   "# TYPE requests_done_total counter\n"
                   "requests_done_total 7\n"
                   "requests_done_total{route=\"bye\"} 1\n"
                   "requests_done_total{route=\"hello\"} 3\n");
    assert_promtool_accepts(t);
    free(t);
    pt_stats_free(s);
}

static void test_gauges(void **state)
{
    (void)state;
    pt_stats *s = new_stats();
    pt_gauge_set(pt_stats_gauge(s, "queue.depth", NULL), 12);
    pt_gauge_set(pt_stats_gauge(s, "temperature", "room:cellar"), -2.5);
    pt_gauge_add(pt_stats_gauge(s, "temperature", "room:attic"), 0.1);
    pt_gauge_add(pt_stats_gauge(s, "temperature", "room:attic"), 0.2);
    pt_gauge_set(pt_stats_gauge(s, "big", NULL), 1e21);
    pt_gauge_set(pt_stats_gauge(s, "tiny", NULL), -1.5e-300);
    pt_stats_gauge(s, "never.set", NULL); /* not shown at all */
    char *t = pt_stats_prometheus(s);
    assert_non_null(t);
    assert_text(t, "# HELP big big (potter gauge)\n"
                   "# TYPE big gauge\n"
                   "big 1e+21\n"
                   "# HELP queue_depth queue.depth (potter gauge)\n"
                   "# TYPE queue_depth gauge\n"
                   "queue_depth 12\n"
                   "# HELP temperature temperature (potter gauge)\n"
                   "# TYPE temperature gauge\n"
                   "temperature{room=\"attic\"} 0.30000000000000004\n"
                   "temperature{room=\"cellar\"} -2.5\n"
                   "# HELP tiny tiny (potter gauge)\n"
                   "# TYPE tiny gauge\n"
                   "tiny -1.5e-300\n");
    assert_promtool_accepts(t);
    free(t);
    pt_stats_free(s);
}

/* Non-finite gauges are spelled as the format says. */
static void test_gauge_special_values(void **state)
{
    (void)state;
    pt_stats *s = new_stats();
    pt_stats_counters c0, c1;
    /* statsd has no NaN or infinity, so a gauge refuses them (counted) and keeps its value. */
    pt_stats_counters_get(s, &c0);
    pt_gauge *inf = pt_stats_gauge(s, "v", "k:inf");
    pt_gauge_set(inf, 2);
    pt_gauge_set(inf, INFINITY);
    pt_gauge_set(pt_stats_gauge(s, "v", "k:minf"), -INFINITY);
    pt_gauge_set(pt_stats_gauge(s, "v", "k:nan"), NAN);
    pt_gauge_set(pt_stats_gauge(s, "v", "k:zero"), -0.0);
    pt_stats_counters_get(s, &c1);
    assert_int_equal(c1.refused - c0.refused, 3);
    char *t = pt_stats_prometheus(s);
    assert_non_null(t);
    assert_text(t, "# HELP v v (potter gauge)\n"
                   "# TYPE v gauge\n"
                   "v{k=\"inf\"} 2\n"
                   "v{k=\"zero\"} -0\n");
    assert_promtool_accepts(t);
    free(t);
    pt_stats_free(s);
}

/* Observations in several buckets: cumulative counts, +Inf = _count, the sum in seconds. */
static void test_timer(void **state)
{
    (void)state;
    pt_stats *s = new_stats();
    pt_timer *t1 = pt_stats_timer(s, "db.query", "db:main");
    pt_timer_record_ns(t1, 1000000); /* 1 ms: le 0.005 */
    pt_timer_record_ns(t1, 5000000); /* 5 ms: le 0.005 too (bounds are inclusive) */
    pt_timer_record_ns(t1, 7000000); /* le 0.01 */
    pt_timer_record_ns(t1, 30000000); /* le 0.05 */
    pt_timer_record_ns(t1, 2000000000); /* le 2.5 */
    pt_timer_record_ns(t1, 20000000001); /* +Inf only */
    char *t = pt_stats_prometheus(s);
    assert_non_null(t);
    assert_text(t, "# HELP db_query_seconds db.query (potter timer, in seconds)\n"
                   "# TYPE db_query_seconds histogram\n"
                   "db_query_seconds_bucket{db=\"main\",le=\"0.005\"} 2\n"
                   "db_query_seconds_bucket{db=\"main\",le=\"0.01\"} 3\n"
                   "db_query_seconds_bucket{db=\"main\",le=\"0.025\"} 3\n"
                   "db_query_seconds_bucket{db=\"main\",le=\"0.05\"} 4\n"
                   "db_query_seconds_bucket{db=\"main\",le=\"0.1\"} 4\n"
                   "db_query_seconds_bucket{db=\"main\",le=\"0.25\"} 4\n"
                   "db_query_seconds_bucket{db=\"main\",le=\"0.5\"} 4\n"
                   "db_query_seconds_bucket{db=\"main\",le=\"1\"} 4\n"
                   "db_query_seconds_bucket{db=\"main\",le=\"2.5\"} 5\n"
                   "db_query_seconds_bucket{db=\"main\",le=\"5\"} 5\n"
                   "db_query_seconds_bucket{db=\"main\",le=\"10\"} 5\n"
                   "db_query_seconds_bucket{db=\"main\",le=\"+Inf\"} 6\n"
                   "db_query_seconds_sum{db=\"main\"} 22.043000001\n"
                   "db_query_seconds_count{db=\"main\"} 6\n");
    assert_promtool_accepts(t);
    free(t);
    pt_stats_free(s);
}

/* A timer never recorded still shows, all zeros; an untagged one has no braces but le's. */
static void test_timer_empty(void **state)
{
    (void)state;
    pt_stats *s = new_stats();
    pt_stats_timer(s, "idle", NULL);
    char *t = pt_stats_prometheus(s);
    assert_non_null(t);
    assert_non_null(strstr(t, "# TYPE idle_seconds histogram\n"
                              "idle_seconds_bucket{le=\"0.005\"} 0\n"));
    assert_non_null(strstr(t, "idle_seconds_bucket{le=\"+Inf\"} 0\n"
                              "idle_seconds_sum 0\n"
                              "idle_seconds_count 0\n"));
    assert_promtool_accepts(t);
    free(t);
    pt_stats_free(s);
}

/* Each value lands in the first bucket whose bound is at or above it, whatever the number of
 * bounds (the search halves them: odd and even counts, one, and values on every bound). */
static void test_histogram_search(void **state)
{
    (void)state;
    pt_stats *s = new_stats();
    double bounds[6] = {1, 2, 3, 4, 5, 6};
    for (size_t n = 1; n <= 6; n++) {
        char name[32], want[128];
        snprintf(name, sizeof name, "search%zu", n);
        pt_histogram *h = pt_stats_histogram(s, name, NULL, bounds, n);
        for (size_t k = 1; k <= 2 * n + 1; k++) /* 0.5, 1, 1.5, ... n + 0.5 */
            pt_histogram_observe(h, (double)k / 2);
        char *t = pt_stats_prometheus(s);
        assert_non_null(t);
        for (size_t i = 1; i <= n; i++) { /* 0.5 .. i: 2i values */
            snprintf(want, sizeof want, "\n%s_bucket{le=\"%zu\"} %zu\n", name, i, 2 * i);
            assert_non_null(strstr(t, want));
        }
        snprintf(want, sizeof want, "\n%s_bucket{le=\"+Inf\"} %zu\n", name, 2 * n + 1);
        assert_non_null(strstr(t, want));
        free(t);
    }
    pt_stats_free(s);
}

static void test_histogram(void **state)
{
    (void)state;
    pt_stats *s = new_stats();
    static const double bounds[] = {0.5, 100, 1e4};
    pt_histogram *h = pt_stats_histogram(s, "body.bytes", "dir:in", bounds, 3);
    pt_histogram_observe(h, 0.25);
    pt_histogram_observe(h, 100); /* on a bound: in it */
    pt_histogram_observe(h, 150);
    pt_histogram_observe(h, 5000.5);
    pt_histogram_observe(h, 20000);
    pt_histogram_observe(h, 30000);
    char *t = pt_stats_prometheus(s);
    assert_non_null(t);
    assert_text(t, "# HELP body_bytes body.bytes (potter histogram)\n"
                   "# TYPE body_bytes histogram\n"
                   "body_bytes_bucket{dir=\"in\",le=\"0.5\"} 1\n"
                   "body_bytes_bucket{dir=\"in\",le=\"100\"} 2\n"
                   "body_bytes_bucket{dir=\"in\",le=\"10000\"} 4\n"
                   "body_bytes_bucket{dir=\"in\",le=\"+Inf\"} 6\n"
                   "body_bytes_sum{dir=\"in\"} 55250.75\n"
                   "body_bytes_count{dir=\"in\"} 6\n");
    assert_promtool_accepts(t);
    free(t);
    pt_stats_free(s);
}

/* A set shows the unique count of the last flushed interval. */
static void test_set(void **state)
{
    (void)state;
    char path[108];
    int fd = bind_unix(path, sizeof(path));
    pt_stats_options o = {
        .service = "svc", .host = "web1", .statsd_socket = path, .interval_ms = 3600000};
    pt_stats *s = NULL;
    assert_int_equal(pt_stats_new(&o, &s), 0);
    pt_set *users = pt_stats_set(s, "users", NULL);

    char *t = pt_stats_prometheus(s);
    assert_non_null(t);
    assert_text(t, "# HELP users users (potter set: unique values in the last interval)\n"
                   "# TYPE users gauge\n"
                   "users 0\n");
    free(t);

    pt_set_add(users, "ann");
    pt_set_add(users, "bob");
    pt_set_add(users, "ann");
    assert_int_equal(pt_stats_flush(s, 5000), 0);
    t = pt_stats_prometheus(s);
    assert_non_null(t);
    assert_non_null(strstr(t, "\nusers 2\n"));
    assert_promtool_accepts(t);
    free(t);
    pt_stats_free(s);
    close(fd);
    unlink(path);
}

/* ---- names and labels ---------------------------------------------------------------------- */

/* Dots, dashes and what the registry turned into '_' become '_'; a leading digit gets a '_'
 * before it; label names likewise, label values as they are (the registry already kept
 * them to [A-Za-z0-9_.-]); labels sorted by name, so tag order does not make a new series. */
static void test_names_and_labels(void **state)
{
    (void)state;
    pt_stats *s = new_stats();
    pt_counter_inc(pt_stats_counter(s, "9lives.cat-count", NULL));
    pt_counter_inc(pt_stats_counter(s, "http.in", "http.method:GET,2xx:yes,a b:c d"));
    pt_counter_inc(pt_stats_counter(s, "http.in", "z:1,a:2"));
    pt_counter_inc(pt_stats_counter(s, "http.in", "a:2,z:1")); /* the same series: not shown */
    pt_counter_inc(pt_stats_counter(s, "http.in", "k:1,k:2")); /* the first k only */
    pt_counter_inc(pt_stats_counter(s, "http.in", "flag,:nokey,v:x:y")); /* no value; no name */
    pt_counter_inc(pt_stats_counter(s, "done_total", NULL)); /* no second _total */
    char *t = pt_stats_prometheus(s);
    assert_non_null(t);
    assert_text(t, "# HELP _9lives_cat_count_total 9lives.cat-count (potter counter)\n"
                   "# TYPE _9lives_cat_count_total counter\n"
                   "_9lives_cat_count_total 1\n"
                   "# HELP done_total done_total (potter counter)\n"
                   "# TYPE done_total counter\n"
                   "done_total 1\n"
                   "# HELP http_in_total http.in (potter counter)\n"
                   "# TYPE http_in_total counter\n"
                   "http_in_total{_2xx=\"yes\",a_b=\"c_d\",http_method=\"GET\"} 1\n"
                   "http_in_total{a=\"2\",z=\"1\"} 1\n"
                   "http_in_total{flag=\"\",v=\"x_y\"} 1\n"
                   "http_in_total{k=\"1\"} 1\n");
    assert_promtool_accepts(t);
    free(t);
    pt_stats_free(s);
}

/* Two registry names that map to one family share its HELP and TYPE; a series of another
 * type there, or the same series again, is left out (either would make the text invalid). */
static void test_family_collisions(void **state)
{
    (void)state;
    pt_stats *s = new_stats();
    pt_counter_add(pt_stats_counter(s, "x.y", "k:1"), 1);
    pt_counter_add(pt_stats_counter(s, "x_y", "k:2"), 2);
    pt_counter_add(pt_stats_counter(s, "x-y", "k:1"), 3); /* x_y_total{k="1"} again */
    pt_gauge_set(pt_stats_gauge(s, "x.y.total", NULL), 4); /* a gauge x_y_total */
    char *t = pt_stats_prometheus(s);
    assert_non_null(t);
    assert_text(t, "# HELP x_y_total x.y (potter counter)\n"
                   "# TYPE x_y_total counter\n"
                   "x_y_total{k=\"1\"} 1\n"
                   "x_y_total{k=\"2\"} 2\n");
    assert_promtool_accepts(t);
    free(t);
    pt_stats_free(s);
}

/* A tag "le" would clash with a bucket's label (and promtool's lint refuses it elsewhere):
 * it becomes tag_le; names Prometheus keeps for itself ("__name__") get the same "tag_". */
static void test_le_tag(void **state)
{
    (void)state;
    pt_stats *s = new_stats();
    pt_timer_record_ns(pt_stats_timer(s, "t", "le:x"), 1);
    pt_counter_inc(pt_stats_counter(s, "c", "le:x"));
    pt_counter_inc(pt_stats_counter(s, "n", "__name__:x,__y:z"));
    char *t = pt_stats_prometheus(s);
    assert_non_null(t);
    assert_non_null(strstr(t, "\nc_total{tag_le=\"x\"} 1\n"));
    assert_non_null(strstr(t, "\nt_seconds_bucket{tag_le=\"x\",le=\"0.005\"} 1\n"));
    assert_non_null(strstr(t, "\nt_seconds_sum{tag_le=\"x\"} 0.000000001\n"));
    assert_non_null(strstr(t, "\nn_total{tag___name__=\"x\",tag___y=\"z\"} 1\n"));
    assert_promtool_accepts(t);
    free(t);
    pt_stats_free(s);
}

/* The escaping itself: the registry keeps quotes, backslashes and newlines out of tags, so
 * they are checked here on the function that prom.c runs every label value and HELP text
 * through. */
static void test_escape(void **state)
{
    (void)state;
    char *e = pt__prom_escape("a\\b\"c\nd", 1);
    assert_string_equal(e, "a\\\\b\\\"c\\nd");
    free(e);
    e = pt__prom_escape("a\\b\"c\nd", 0); /* HELP: quotes stay */
    assert_string_equal(e, "a\\\\b\"c\\nd");
    free(e);
    e = pt__prom_escape("", 1);
    assert_string_equal(e, "");
    free(e);
}

/* Empty registry: an empty text, not NULL. NULL registry: NULL. */
static void test_empty(void **state)
{
    (void)state;
    pt_stats *s = new_stats();
    char *t = pt_stats_prometheus(s);
    assert_non_null(t);
    assert_string_equal(t, "");
    free(t);
    pt_stats_free(s);
    assert_null(pt_stats_prometheus(NULL));
}

/* ---- a whole service's registry through promtool ------------------------------------------- */

static void collect_some(pt_stats *s, void *arg)
{
    (void)arg;
    pt_counter_set_total(pt_stats_counter(s, "log.records", "level:info"), 42);
    pt_counter_set_total(pt_stats_counter(s, "log.records", "level:error"), 1);
    pt_counter_set_total(pt_stats_counter(s, "log.dropped", "level:info"), 0);
}

static void test_promtool_service(void **state)
{
    (void)state;
    pt_stats *s = new_stats();
    assert_int_equal(pt_stats_add_collector(s, pt_stats_collect_process, NULL), 0);
    assert_int_equal(pt_stats_add_collector(s, collect_some, NULL), 0);
    for (int i = 0; i < 5; i++) {
        pt_timer_record_ns(pt_stats_timer(s, "http.request", "route:hello,status:2xx"),
                           i * 3000000);
        pt_timer_record_ns(pt_stats_timer(s, "http.request", "route:bye,status:5xx"),
                           i * 300000000);
    }
    pt_histogram_observe(pt_stats_histogram(s, "http.response_bytes", NULL, NULL, 0), 1234);
    pt_stats_set(s, "http.clients", NULL);
    char *t = pt_stats_prometheus(s);
    assert_non_null(t);
    assert_non_null(strstr(t, "\nlog_records_total{level=\"info\"} 42\n"));
    assert_non_null(strstr(t, "\n# TYPE process_rss_bytes gauge\nprocess_rss_bytes "));
    assert_non_null(strstr(t, "\nhttp_request_seconds_count{route=\"bye\",status=\"5xx\"} 5\n"));
    assert_promtool_accepts(t);
    /* The collectors run at each rendering; the totals they feed do not double. */
    free(t);
    t = pt_stats_prometheus(s);
    assert_non_null(strstr(t, "\nlog_records_total{level=\"info\"} 42\n"));
    free(t);
    pt_stats_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_gauges),
        cmocka_unit_test(test_gauge_special_values),
        cmocka_unit_test(test_timer),
        cmocka_unit_test(test_timer_empty),
        cmocka_unit_test(test_histogram_search), cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_names_and_labels),
        cmocka_unit_test(test_family_collisions),
        cmocka_unit_test(test_le_tag),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_promtool_service),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
