/* The control port (potter/ctl.h) on its own: the endpoints, the checks every request passes
 * (mutations POST only with X-Potter-Ctl, Host, token, unix socket owner, rate and size
 * limits), the unix socket and the discovery file, a service's own endpoint answered from
 * pt-work. Spoken to over real sockets with a small HTTP/1.1 client. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>

#include "potter/ctl.h"
#include "ctl/ctl_client.h"

static reply call(pt_ctl *ctl, const char *method, const char *path, const char *headers,
                  const char *body)
{
    return call_fd(connect_tcp(pt_ctl_port(ctl)), method, path, headers, body);
}

/* ---- the service the port looks at --------------------------------------------------------- */

static pt_config *cfg;
static pt_stats *stats;
static pt_health *health;
static pt_log *log_;
static char dir[64];
static atomic_int quit_called;

static const pt_config_key keys[] = {
    {"greeting", PT_CONFIG_STRING, "hello", "what to say", NULL, 0},
    {"workers", PT_CONFIG_UINT, "4", "how many", "1..64", PT_CONFIG_FIXED},
    {"password", PT_CONFIG_STRING, "s3cret", "a secret", NULL, PT_CONFIG_SECRET},
    {"log.level", PT_CONFIG_ENUM, "info", "level", "trace|debug|info|warn|error|fatal", 0},
};

static void db_check(pt_health_probe *p, void *arg)
{
    (void)arg;
    pt_health_probe_done(p, 1, NULL);
}

static void on_quit(void *arg)
{
    (void)arg;
    quit_called++;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/pt-ctl-test.XXXXXX");
    assert_non_null(mkdtemp(dir));
    pt_config_options co = {.version = "1.2.3"};
    assert_int_equal(pt_config_new("ctltest", &co, &cfg), 0);
    assert_int_equal(pt_config_declare(cfg, keys, sizeof keys / sizeof *keys), 0);
    char cdir[128];
    snprintf(cdir, sizeof cdir, "--config-dir=%s", dir); /* no files: defaults and flags */
    char *argv[] = {"ctltest", cdir, "--greeting=hi", NULL};
    assert_int_equal(pt_config_load(cfg, 3, argv), 0);
    pt_stats_options so = {.service = "ctltest"};
    assert_int_equal(pt_stats_new(&so, &stats), 0);
    pt_counter_add(pt_stats_counter(stats, "jobs.done", "queue:fast"), 7);
    assert_int_equal(pt_health_new(NULL, &health), 0);
    assert_int_equal(pt_health_add(health, "db", db_check, NULL, PT_HEALTH_CRITICAL), 0);
    assert_int_equal(pt_health_run_now(health, 2000), 0);
    assert_int_equal(pt_log_new("ctltest", &log_), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pt_log_free(log_);
    pt_health_free(health);
    pt_stats_free(stats);
    pt_config_free(cfg);
    rmdir(dir);
    return 0;
}

/* The greeting key's value now. */
static char *greeting(void)
{
    static char now[64];
    const pt_config_view *v = pt_config_view_begin(cfg);
    snprintf(now, sizeof now, "%s", pt_config_view_str(v, PT_CONFIG_STR(cfg, "greeting")));
    pt_config_view_end(v);
    return now;
}

static pt_ctl *start(const char *token, unsigned rate)
{
    pt_ctl_options o = {
        .name = "ctltest", .version = "1.2.3", .commit = "abc123", .port = 0,
        .runtime_dir = dir, .token = token, .rate = rate, .config = cfg, .log = log_,
        .stats = stats, .health = health, .quit = on_quit,
    };
    pt_ctl *ctl;
    assert_int_equal(pt_ctl_new(&o, &ctl), 0);
    return ctl;
}

static pt_ctl *started(const char *token, unsigned rate)
{
    pt_ctl *ctl = start(token, rate);
    int err = pt_ctl_start(ctl);
    if (err)
        fail_msg("pt_ctl_start: %d %s", err, pt_ctl_error(ctl));
    return ctl;
}

/* ---- the endpoints ------------------------------------------------------------------------ */

static void test_read_endpoints(void **state)
{
    (void)state;
    pt_ctl *ctl = started(NULL, 1000);
    reply r = call(ctl, "GET", "/", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "Content-Type: application/json"));
    assert_non_null(strstr(r.body, "\"path\":\"/metrics\""));
    assert_non_null(strstr(r.body, "\"path\":\"/quit\""));
    reply_free(&r);

    r = call(ctl, "GET", "/metrics", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.head, "text/plain; version=0.0.4"));
    assert_non_null(strstr(r.body, "jobs_done_total{queue=\"fast\"} 7"));
    reply_free(&r);

    r = call(ctl, "GET", "/stats", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "{\"name\":\"jobs.done\",\"tags\":{\"queue\":\"fast\"},"
                                   "\"type\":\"counter\",\"value\":7}"));
    reply_free(&r);

    r = call(ctl, "GET", "/health", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"db\":{\"status\":\"ok\""));
    assert_non_null(strstr(r.body, "latency_ms"));
    reply_free(&r);

    r = call(ctl, "GET", "/build", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"service\":\"ctltest\",\"version\":\"1.2.3\","
                                   "\"commit\":\"abc123\""));
    assert_non_null(strstr(r.body, "\"uptime_s\":"));
    reply_free(&r);

    r = call(ctl, "GET", "/config", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"greeting\": {\"value\": \"hi\", \"origin\": \"--greeting\"}"));
    assert_non_null(strstr(r.body, "<redacted>"));
    assert_null(strstr(r.body, "s3cret"));
    reply_free(&r);

    r = call(ctl, "GET", "/config/workers", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"range\": \"1..64\""));
    assert_non_null(strstr(r.body, "\"runtime\": false"));
    reply_free(&r);

    r = call(ctl, "GET", "/config/nosuch", NULL, NULL);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "no key \\\"nosuch\\\""));
    reply_free(&r);

    r = call(ctl, "GET", "/log/level", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "{\"name\":\"ctltest\",\"level\":\"info\"}"));
    reply_free(&r);

    r = call(ctl, "GET", "/debug/memory", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"VmRSS\":"));
    assert_non_null(strstr(r.body, "\"in_use_bytes\":"));
    reply_free(&r);

    r = call(ctl, "GET", "/nope?x=1", NULL, NULL);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "no endpoint /nope"));
    assert_non_null(strstr(r.body, "\"endpoints\":[{\"method\":\"GET\",\"path\":\"/\""));
    reply_free(&r);
    pt_ctl_free(ctl);
}

static void test_mutations(void **state)
{
    (void)state;
    pt_ctl *ctl = started(NULL, 1000);
    const char *mut = "X-Potter-Ctl: 1\r\n";

    /* POST only, and only with the header. */
    reply r = call(ctl, "GET", "/quit", NULL, NULL);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.head, "Allow: POST"));
    reply_free(&r);
    r = call(ctl, "POST", "/quit", NULL, NULL);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "X-Potter-Ctl"));
    reply_free(&r);
    assert_int_equal(quit_called, 0);

    /* A runtime override, whole or not at all. */
    r = call(ctl, "POST", "/config?ttl=10m", mut, "{\"greeting\":\"hey\"}");
    assert_int_equal(r.status, 200);
    reply_free(&r);
    assert_string_equal(greeting(), "hey");
    r = call(ctl, "GET", "/config/greeting", NULL, NULL);
    assert_non_null(strstr(r.body, "runtime override from control port (expires in"));
    reply_free(&r);
    r = call(ctl, "POST", "/config", mut, "{\"greeting\":\"x\",\"workers\":8,\"nope\":1}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "workers"));
    assert_non_null(strstr(r.body, "nope"));
    reply_free(&r);
    assert_string_equal(greeting(), "hey");
    r = call(ctl, "POST", "/config?ttl=soon", mut, "{\"greeting\":\"x\"}");
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "ttl"));
    reply_free(&r);
    r = call(ctl, "POST", "/config", mut, "{\"greeting\":null}");
    assert_int_equal(r.status, 200);
    reply_free(&r);
    assert_string_equal(greeting(), "hi");

    /* Log levels: a named logger directly; refused levels and loggers. */
    r = call(ctl, "POST", "/log/level", mut, "{\"level\":\"debug\",\"logger\":\"ctltest\"}");
    assert_int_equal(r.status, 200);
    reply_free(&r);
    assert_int_equal(pt_log_level(log_), PT_LOG_DEBUG);
    r = call(ctl, "POST", "/log/level", mut, "{\"level\":\"loud\"}");
    assert_int_equal(r.status, 400);
    reply_free(&r);
    r = call(ctl, "POST", "/log/level", mut, "{\"level\":\"warn\",\"logger\":\"ghost\"}");
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "ghost"));
    reply_free(&r);
    r = call(ctl, "POST", "/log/level", mut, "{\"level\":\"warn\"}"); /* the log.level key */
    assert_int_equal(r.status, 200);
    reply_free(&r);
    r = call(ctl, "GET", "/config/log.level", NULL, NULL);
    assert_non_null(strstr(r.body, "\"value\": \"warn\""));
    reply_free(&r);
    r = call(ctl, "POST", "/log/reopen", mut, NULL);
    assert_int_equal(r.status, 200);
    reply_free(&r);

    r = call(ctl, "POST", "/quit", mut, NULL);
    assert_int_equal(r.status, 202);
    reply_free(&r);
    assert_int_equal(quit_called, 1);
    pt_ctl_free(ctl);
}

/* ---- the checks --------------------------------------------------------------------------- */

static void test_host_header(void **state)
{
    (void)state;
    pt_ctl *ctl = started(NULL, 1000);
    char ok[64], other_port[64];
    snprintf(ok, sizeof ok, "Host: localhost:%d\r\n", pt_ctl_port(ctl));
    snprintf(other_port, sizeof other_port, "Host: 127.0.0.1:%d\r\n", pt_ctl_port(ctl) + 1);
    reply r = call(ctl, "GET", "/build", ok, NULL);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    r = call(ctl, "GET", "/build", "Host: [::1]\r\n", NULL);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    r = call(ctl, "GET", "/build", "Host: attacker.example\r\n", NULL);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "Host header"));
    reply_free(&r);
    r = call(ctl, "GET", "/build", "Host: attacker.example:80\r\n", NULL);
    assert_int_equal(r.status, 403);
    reply_free(&r);
    r = call(ctl, "GET", "/build", other_port, NULL);
    assert_int_equal(r.status, 403);
    reply_free(&r);
    pt_ctl_free(ctl);
}

static void test_token(void **state)
{
    (void)state;
    pt_ctl *ctl = started("t0ken", 1000);
    reply r = call(ctl, "GET", "/build", NULL, NULL);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.head, "WWW-Authenticate: Bearer"));
    reply_free(&r);
    r = call(ctl, "GET", "/build", "Authorization: Bearer t0ke\r\n", NULL);
    assert_int_equal(r.status, 401);
    reply_free(&r);
    r = call(ctl, "GET", "/build", "Authorization: Bearer t0kenn\r\n", NULL);
    assert_int_equal(r.status, 401);
    reply_free(&r);
    r = call(ctl, "GET", "/build", "Authorization: Bearer t0ken\r\n", NULL);
    assert_int_equal(r.status, 200);
    reply_free(&r);
    /* The discovery file says a token is needed, never which. */
    FILE *f = fopen(pt_ctl_discovery_file(ctl), "r");
    assert_non_null(f);
    char text[1024] = "";
    assert_true(fread(text, 1, sizeof text - 1, f) > 0);
    fclose(f);
    assert_non_null(strstr(text, "\"token\":true"));
    assert_null(strstr(text, "t0ken"));
    pt_ctl_free(ctl);
}

static void test_rate_and_size_limits(void **state)
{
    (void)state;
    pt_ctl *ctl = started(NULL, 5); /* bursts of 10 */
    int ok = 0, limited = 0;
    for (int i = 0; i < 30; i++) {
        reply r = call(ctl, "GET", "/build", NULL, NULL);
        if (r.status == 200)
            ok++;
        else if (r.status == 429 && strstr(r.head, "Retry-After: 1"))
            limited++;
        reply_free(&r);
    }
    assert_true(ok >= 10 && ok < 30);
    assert_int_equal(ok + limited, 30);
    pt_ctl_free(ctl);

    ctl = started(NULL, 1000);
    char *big = malloc(65 * 1024 + 1);
    memset(big, 'x', 65 * 1024);
    big[65 * 1024] = '\0';
    reply r = call(ctl, "POST", "/config", "X-Potter-Ctl: 1\r\n", big);
    assert_int_equal(r.status, 413);
    reply_free(&r);
    free(big);
    pt_ctl_free(ctl);
}

static void test_unix_socket_and_discovery(void **state)
{
    (void)state;
    pt_ctl *ctl = started(NULL, 1000);
    const char *path = pt_ctl_socket(ctl);
    char want[128];
    snprintf(want, sizeof want, "%s/ctltest.%d.sock", dir, (int)getpid());
    assert_string_equal(path, want);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Any Host is fine here: a browser cannot reach a unix socket. */
    reply r = call_fd(connect_unix(path), "GET", "/build", "Host: whatever\r\n", NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"commit\":\"abc123\""));
    reply_free(&r);

    char disc[256];
    snprintf(disc, sizeof disc, "%s/ctltest.%d.json", dir, (int)getpid());
    assert_string_equal(pt_ctl_discovery_file(ctl), disc);
    FILE *f = fopen(disc, "r");
    assert_non_null(f);
    char text[1024] = "";
    assert_true(fread(text, 1, sizeof text - 1, f) > 0);
    fclose(f);
    char port[64];
    snprintf(port, sizeof port, "\"host\":\"127.0.0.1\",\"port\":%d,", pt_ctl_port(ctl));
    assert_non_null(strstr(text, port));
    assert_non_null(strstr(text, "\"name\":\"ctltest\""));
    assert_non_null(strstr(text, want));
    pt_ctl_free(ctl);
    assert_int_equal(access(disc, F_OK), -1);
    assert_int_equal(access(want, F_OK), -1);
}

static void test_runtime_dir_checks(void **state)
{
    (void)state;
    char bad[128];
    snprintf(bad, sizeof bad, "%s/open", dir);
    assert_int_equal(mkdir(bad, 0777), 0);
    assert_int_equal(chmod(bad, 0777), 0);
    pt_ctl_options o = {.name = "ctltest", .runtime_dir = bad, .log = log_};
    pt_ctl *ctl;
    assert_int_equal(pt_ctl_new(&o, &ctl), 0);
    assert_int_equal(pt_ctl_start(ctl), -EACCES);
    assert_non_null(strstr(pt_ctl_error(ctl), "writable by others"));
    assert_non_null(strstr(pt_ctl_error(ctl), bad));
    pt_ctl_free(ctl);
    rmdir(bad);

    char link[128];
    snprintf(link, sizeof link, "%s/link", dir);
    assert_int_equal(symlink("/tmp", link), 0);
    o.runtime_dir = link;
    assert_int_equal(pt_ctl_new(&o, &ctl), 0);
    assert_int_equal(pt_ctl_start(ctl), -EACCES);
    assert_non_null(strstr(pt_ctl_error(ctl), "symlink"));
    pt_ctl_free(ctl);
    unlink(link);

    /* A socket path over sun_path's limit is refused with the key named. */
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    o.runtime_dir = dir;
    o.socket = longp;
    assert_int_equal(pt_ctl_new(&o, &ctl), 0);
    assert_int_equal(pt_ctl_start(ctl), -ENAMETOOLONG);
    assert_non_null(strstr(pt_ctl_error(ctl), "ctl.socket"));
    pt_ctl_free(ctl);

    /* A port in use. */
    pt_ctl *first = started(NULL, 1000);
    pt_ctl_options o2 = {.name = "other", .port = pt_ctl_port(first), .socket = "",
                         .runtime_dir = dir, .log = log_};
    assert_int_equal(pt_ctl_new(&o2, &ctl), 0);
    assert_int_equal(pt_ctl_start(ctl), -EADDRINUSE);
    assert_non_null(strstr(pt_ctl_error(ctl), "ctl.port"));
    pt_ctl_free(ctl);
    pt_ctl_free(first);

    assert_int_equal(pt_ctl_new(&(pt_ctl_options){.name = "a/b"}, &ctl), -EINVAL);
    assert_int_equal(pt_ctl_new(&(pt_ctl_options){.name = ""}, &ctl), -EINVAL);
}

/* ---- the service's own endpoints ------------------------------------------------------------ */

static void slow_job(void *arg, int status)
{
    pt_ctl_req *req = arg;
    char n[32], body[128];
    if (status < 0) {
        pt_ctl_reply_error(req, 503, "pt-work: %d", status);
        return;
    }
    const char *v = pt_ctl_req_param(req, "n", n, sizeof n);
    int len = snprintf(body, sizeof body, "{\"n\":\"%s\",\"from\":\"pt-work\"}", v ? v : "");
    pt_ctl_reply(req, 200, NULL, body, (size_t)len);
}

static void ep_slow(pt_ctl_req *req, void *arg)
{
    (void)arg;
    if (pt_work_submit(slow_job, req, 1000) < 0)
        pt_ctl_reply_error(req, 503, "busy");
}

static void ep_item(pt_ctl_req *req, void *arg)
{
    int *calls = arg;
    char key[64];
    (*calls)++;
    const char *k = pt_ctl_req_param(req, "key", key, sizeof key);
    pt_ctl_reply(req, 200, "text/plain", k, strlen(k));
}

static void test_own_endpoints(void **state)
{
    (void)state;
    int calls = 0;
    pt_ctl *ctl = start(NULL, 1000);
    assert_int_equal(pt_ctl_handle(ctl, "GET", "/slow", ep_slow, NULL, "answers from pt-work"), 0);
    assert_int_equal(pt_ctl_handle(ctl, "POST", "/items/:key", ep_item, &calls, "an item"), 0);
    assert_int_equal(pt_ctl_handle(ctl, "GET", "/metrics", ep_slow, NULL, ""), -EEXIST);
    assert_int_equal(pt_ctl_handle(ctl, "PUT", "/x", ep_slow, NULL, ""), -EINVAL);
    assert_int_equal(pt_ctl_start(ctl), 0);
    assert_int_equal(pt_ctl_handle(ctl, "GET", "/late", ep_slow, NULL, ""), -EBUSY);

    reply r = call(ctl, "GET", "/slow?n=a%20b+c", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"n\":\"a b c\",\"from\":\"pt-work\"}");
    reply_free(&r);
    r = call(ctl, "POST", "/items/k%2F1", NULL, NULL);
    assert_int_equal(r.status, 403); /* a service's POSTs get the same checks */
    reply_free(&r);
    assert_int_equal(calls, 0);
    r = call(ctl, "POST", "/items/k%2F1", "X-Potter-Ctl: yes\r\n", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "k/1");
    reply_free(&r);
    assert_int_equal(calls, 1);
    r = call(ctl, "GET", "/", NULL, NULL);
    assert_non_null(strstr(r.body, "{\"method\":\"GET\",\"path\":\"/slow\",\"about\":\"answers from pt-work\"}"));
    reply_free(&r);
    pt_ctl_free(ctl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_endpoints),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_host_header),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_rate_and_size_limits),
        cmocka_unit_test(test_unix_socket_and_discovery),
        cmocka_unit_test(test_runtime_dir_checks),
        cmocka_unit_test(test_own_endpoints),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
