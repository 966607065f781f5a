/* The control port of a pt_app service: on by default with the ctl.* keys, it answers while
 * the service's own event loop is stuck in a handler (it runs on pt-ops), and POST /quit
 * shuts the service down gracefully. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "potter/app.h"
#include "potter/apptest.h"
#include "ctl/ctl_client.h"

static atomic_int spinning, release;

static void spin(pt_http_req *req, void *arg)
{
    (void)arg;
    atomic_store(&spinning, 1);
    while (!atomic_load(&release)) /* a handler that never yields: the loop is stuck */
        ;
    pt_http_respond(req, 200, "done\n", 5);
}

static void *request_spin(void *arg)
{
    pt_apptest *t = arg;
    pt_apptest_response r;
    int err = pt_apptest_request(t, "GET", "/spin", NULL, NULL, 0, &r);
    if (err == 0)
        pt_apptest_response_free(&r);
    return (void *)(intptr_t)(err == 0 ? r.status : err);
}

static void test_answers_while_the_loop_spins(void **state)
{
    (void)state;
    char dir[64] = "/tmp/pt-ctl-app.XXXXXX", rt[128];
    assert_non_null(mkdtemp(dir));
    snprintf(rt, sizeof rt, "--ctl.runtime_dir=%s", dir);
    const char *args[] = {"--ctl.enabled=true", rt, "--ctl.socket=auto", NULL};
    pt_app_options o = {.version = "3.1.4", .commit = "deadbeef"};
    pt_app *app = pt_apptest_app("spinner", &o, args);
    assert_int_equal(pt_http_route(pt_app_http(app), "GET", "/spin", spin, NULL), 0);
    pt_ctl *ctl = pt_app_ctl(app);
    assert_non_null(ctl);
    pt_apptest *t;
    assert_int_equal(pt_apptest_start(app, &t), 0);
    int port = pt_ctl_port(ctl);
    assert_true(port > 0);
    char want[128];
    snprintf(want, sizeof want, "\"msg\":\"control port listening on 127.0.0.1:%d\"", port);
    assert_int_equal(pt_apptest_wait_record(t, want, 2000), 0);

    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, request_spin, t), 0);
    for (int i = 0; i < 500 && !atomic_load(&spinning); i++)
        usleep(10000);
    assert_true(atomic_load(&spinning));

    reply r = call_fd(connect_tcp(port), "GET", "/build", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"service\":\"spinner\",\"version\":\"3.1.4\","
                                   "\"commit\":\"deadbeef\""));
    reply_free(&r);
    r = call_fd(connect_unix(pt_ctl_socket(ctl)), "GET", "/metrics", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "http_in_flight 1"));
    reply_free(&r);
    /* The stuck worker as a thread dump and a CPU profile show it: the whole path from its
     * loop down to the spinning handler, though libuv has no frame pointers. */
    r = call_fd(connect_tcp(port), "GET", "/debug/threads?format=text", NULL, NULL);
    assert_int_equal(r.status, 200);
    char *w = strstr(r.body, "\"pt-http0\"");
    assert_non_null(w);
    char *spin_at = strstr(w, "at spin ("), *run_at = strstr(w, "at uv_run ");
    assert_non_null(spin_at);
    assert_non_null(run_at);
    assert_true(spin_at < run_at); /* leaf first */
    reply_free(&r);
    r = call_fd(connect_tcp(port), "GET", "/debug/pprof/profile?seconds=1&hz=200&format=folded",
                NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "text/plain"));
    long in_spin = 0, worker = 0;
    for (char *line = strtok(r.body, "\n"); line; line = strtok(NULL, "\n")) {
        char *sp = strrchr(line, ' ');
        assert_non_null(sp);
        long n = atol(sp + 1);
        if (strncmp(line, "pt-http0;", 9) != 0)
            continue;
        worker += n;
        char *u = strstr(line, ";uv_run;"), *h = strstr(line, ";spin ");
        if (!h) /* spin is the leaf, or calls in (a sanitizer's hooks) */
            h = strstr(line, ";spin;");
        if (u && h && u < h && strstr(line, "start_thread"))
            in_spin += n;
    }
    reply_free(&r);
    assert_true(worker >= 50); /* ~200 samples in a CPU-second of spinning */
    assert_true(in_spin * 10 >= worker * 9);
    r = call_fd(connect_tcp(port), "GET", "/config/ctl.port", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"origin\": \"--ctl.port\""));
    reply_free(&r);

    /* POST /quit: the app stops as on SIGTERM once the handler lets go. */
    r = call_fd(connect_tcp(port), "POST", "/quit", "X-Potter-Ctl: 1\r\n", NULL);
    assert_int_equal(r.status, 202);
    reply_free(&r);
    assert_int_equal(pt_apptest_wait_record(t, "\"msg\":\"stopping\",\"reason\":\"stop asked\"", 2000), 0);
    atomic_store(&release, 1);
    void *status;
    pthread_join(th, &status);
    assert_int_equal((int)(intptr_t)status, 200);
    char disc[256];
    snprintf(disc, sizeof disc, "%s", pt_ctl_discovery_file(ctl));
    assert_int_equal(access(disc, F_OK), 0);
    assert_int_equal(pt_apptest_stop(t), 0);
    assert_int_equal(access(disc, F_OK), -1); /* removed on the way out */
    assert_int_equal(rmdir(dir), 0); /* and the socket too: the folder is empty */
}

static void test_off(void **state)
{
    (void)state;
    const char *args[] = {"--ctl.enabled=false", NULL};
    pt_app *app = pt_apptest_app("quiet", NULL, args);
    assert_null(pt_app_ctl(app));
    pt_apptest *t;
    assert_int_equal(pt_apptest_start(app, &t), 0);
    char *log = pt_apptest_log(t);
    assert_null(strstr(log, "control port"));
    free(log);
    assert_int_equal(pt_apptest_stop(t), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers_while_the_loop_spins),
        cmocka_unit_test(test_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
