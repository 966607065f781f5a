/* pt_app_run() through the test harness (potter/apptest.h): serving, start and stop hooks in
 * order under their timeouts, the no-health-check warning, readiness failing while draining,
 * a port in use, and systemd's notifications (a unix datagram socket standing in for systemd's
 * NOTIFY_SOCKET, as sd_notify(3) specifies it). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <potter/apptest.h>

#include "svc_testutil.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void hello(pt_http_req *req, void *arg)
{
    (void)arg;
    PT_INFO(pt_http_log(req), "saying hello");
    pt_http_respond(req, 200, "hello\n", 6);
}

static void check_ok(pt_health_probe *p, void *arg)
{
    (void)arg;
    pt_health_probe_done(p, 1, NULL);
}

/* ---- hooks ---- */

static char order[256];
static pthread_mutex_t order_lock = PTHREAD_MUTEX_INITIALIZER;

static void note(const char *what)
{
    pthread_mutex_lock(&order_lock);
    strncat(order, what, sizeof order - strlen(order) - 1);
    pthread_mutex_unlock(&order_lock);
}

static int start_hook(void *arg)
{
    char s[32];
    snprintf(s, sizeof s, "+%s ", (const char *)arg);
    note(s);
    return strcmp(arg, "fail") == 0 ? -1 : 0;
}

static int stop_hook(void *arg)
{
    char s[32];
    snprintf(s, sizeof s, "-%s ", (const char *)arg);
    note(s);
    if (strcmp(arg, "hang") == 0)
        sleep_ms(3000); /* longer than its timeout */
    return 0;
}

static void test_serves_and_hooks(void **state)
{
    (void)state;
    const char *args[] = {"--app.hook_timeout=200ms", NULL};
    pt_app *app = pt_apptest_app("svc", NULL, args);
    pt_http_route(pt_app_http(app), "GET", "/hello", hello, NULL);
    pt_health_add(pt_app_health(app), "dep", check_ok, NULL, PT_HEALTH_CRITICAL);
    assert_int_equal(pt_app_hook(app, "a", start_hook, stop_hook, "a", 0), 0);
    assert_int_equal(pt_app_hook(app, "hang", start_hook, stop_hook, "hang", 0), 0);
    assert_int_equal(pt_app_hook(app, "c", start_hook, stop_hook, "c", 0), 0);
    order[0] = '\0';
    pt_apptest *t;
    assert_int_equal(pt_apptest_start(app, &t), 0);
    assert_string_equal(order, "+a +hang +c ");
    pt_apptest_response r;
    assert_int_equal(pt_apptest_request(t, "GET", "/hello", "X-Request-Id: t-1\r\n", NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello\n");
    assert_string_equal(pt_apptest_header(&r, "X-Request-Id"), "t-1");
    pt_apptest_response_free(&r);
    assert_int_equal(pt_apptest_request(t, "GET", "/health", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":\"ok\",\"checks\":{\"dep\":\"ok\"}}");
    pt_apptest_response_free(&r);
    assert_int_equal(pt_apptest_wait_record(t, "\"msg\":\"saying hello\",\"req_id\":\"t-1\"", 2000), 0);
    assert_int_equal(pt_apptest_wait_record(t, "\"msg\":\"request\",\"req_id\":\"t-1\"", 2000), 0);
    char want[64];
    snprintf(want, sizeof want, "\"msg\":\"listening on 127.0.0.1:%d\"", pt_apptest_port(t));
    assert_int_equal(pt_apptest_wait_record(t, want, 2000), 0);
    int found;
    assert_true(pt_apptest_metric(t, "http_requests_total{method=\"GET\",route=\"_hello\",status=\"2xx\"} ", &found) == 1);
    assert_true(found);
    char *log = pt_apptest_log(t);
    assert_null(strstr(log, "NO HEALTH CHECKS"));
    free(log);
    uint64_t t0 = pt_clock_mono_ns();
    assert_int_equal(pt_apptest_stop(t), 0);
    double took = (double)(pt_clock_mono_ns() - t0) / 1e6;
    /* Stop hooks in reverse; the hanging one is cut at its 200 ms and the next still runs. */
    assert_string_equal(order, "+a +hang +c -c -hang -a ");
    assert_true(took < 1500);
}

static void test_failed_start_hook(void **state)
{
    (void)state;
    pt_app *app = pt_apptest_app("svc", NULL, NULL);
    pt_app_hook(app, "a", start_hook, stop_hook, "a", 0);
    pt_app_hook(app, "fail", start_hook, stop_hook, "fail", 0);
    pt_app_hook(app, "never", start_hook, stop_hook, "never", 0);
    order[0] = '\0';
    pt_apptest *t;
    assert_int_equal(pt_apptest_start(app, &t), -ECONNREFUSED); /* it exited 70 */
    assert_null(t);
    /* The failed hook is not stopped (it did not start), the later one never started. */
    assert_string_equal(order, "+a +fail -a ");
}

static void test_no_health_warning_and_draining(void **state)
{
    (void)state;
    const char *args[] = {"--app.drain_delay=400ms", NULL};
    pt_app *app = pt_apptest_app("svc", NULL, args);
    pt_apptest *t;
    assert_int_equal(pt_apptest_start(app, &t), 0);
    assert_int_equal(pt_apptest_wait_record(t, "THIS SERVICE HAS NO HEALTH CHECKS", 2000), 0);
    pt_apptest_response r;
    assert_int_equal(pt_apptest_request(t, "GET", "/ready", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    pt_apptest_response_free(&r);
    pt_app_stop(app); /* returns at once; readiness fails for drain_delay before the close */
    assert_int_equal(pt_apptest_wait_record(t, "\"msg\":\"stopping\"", 2000), 0);
    assert_int_equal(pt_apptest_request(t, "GET", "/ready", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "\"status\":\"draining\""));
    pt_apptest_response_free(&r);
    assert_int_equal(pt_apptest_request(t, "GET", "/health", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    pt_apptest_response_free(&r);
    assert_int_equal(pt_apptest_stop(t), 0);
}

static void test_port_in_use(void **state)
{
    (void)state;
    pt_app *a = pt_apptest_app("svc", NULL, NULL);
    pt_apptest *ta, *tb;
    assert_int_equal(pt_apptest_start(a, &ta), 0);
    char flag[64];
    snprintf(flag, sizeof flag, "--http.port=%d", pt_apptest_port(ta));
    const char *args[] = {flag, NULL};
    pt_app *b = pt_apptest_app("svc2", NULL, args);
    assert_int_equal(pt_apptest_start(b, &tb), -ECONNREFUSED);
    assert_int_equal(pt_apptest_stop(ta), 0);
}

/* ---- systemd ---- */

static int notify_socket(char *path, size_t cap)
{
    snprintf(path, cap, "/tmp/pt-notify-%d.sock", (int)getpid());
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {0, 100000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void drain_datagrams(int fd, char *all, size_t cap)
{
    char buf[512];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT)) > 0) {
        buf[n] = '\0';
        strncat(all, buf, cap - strlen(all) - 2);
        strcat(all, "|");
    }
}

static void test_systemd_notify(void **state)
{
    (void)state;
    char path[108], got[4096] = "";
    int fd = notify_socket(path, sizeof path);
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "100000", 1); /* pings every 50 ms */
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    pt_app *app = pt_apptest_app("svc", NULL, NULL);
    pt_apptest *t;
    assert_int_equal(pt_apptest_start(app, &t), 0);
    sleep_ms(300);
    drain_datagrams(fd, got, sizeof got);
    char ready[128];
    snprintf(ready, sizeof ready, "READY=1\nSTATUS=listening on port %d\nMAINPID=%s|",
             pt_apptest_port(t), pid);
    assert_non_null(strstr(got, ready));
    int pings = 0;
    for (const char *p = got; (p = strstr(p, "WATCHDOG=1|")); p++)
        pings++;
    assert_true(pings >= 3);
    assert_int_equal(pt_apptest_stop(t), 0);
    drain_datagrams(fd, got, sizeof got);
    assert_non_null(strstr(got, "STOPPING=1\nSTATUS=draining|"));
    /* A watchdog meant for another process (our parent) is not ours to ping. */
    setenv("WATCHDOG_PID", "1", 1);
    got[0] = '\0';
    app = pt_apptest_app("svc", NULL, NULL);
    assert_int_equal(pt_apptest_start(app, &t), 0);
    sleep_ms(200);
    assert_int_equal(pt_apptest_stop(t), 0);
    drain_datagrams(fd, got, sizeof got);
    assert_null(strstr(got, "WATCHDOG=1"));
    assert_non_null(strstr(got, "READY=1"));
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    close(fd);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serves_and_hooks),
        cmocka_unit_test(test_failed_start_hook),
        cmocka_unit_test(test_no_health_warning_and_draining),
        cmocka_unit_test(test_port_in_use),
        cmocka_unit_test(test_systemd_notify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
