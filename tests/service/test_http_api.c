/* potter/http.h end to end on 127.0.0.1: routes and parameters, user middleware in order,
 * request ids, the access record and the request's logger, the metrics, workers sharing the
 * port, answers from other threads, the handler deadline, health, and the graceful stop. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cmocka.h>
#include <uv.h>

#include "svc_testutil.h"

static pt_log *logger;
static pt_stats *stats;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static pt_http *start(pt_http_options *o, void (*add)(pt_http *))
{
    pt_http *h;
    o->log = logger;
    o->stats = stats;
    assert_int_equal(pt_http_new(o, &h), 0);
    if (add)
        add(h);
    assert_int_equal(pt_http_start(h), 0);
    assert_true(pt_http_port(h) > 0);
    return h;
}

/* ---- handlers ---- */

static void echo_params(pt_http_req *req, void *arg)
{
    char out[512];
    size_t il, pl, ql;
    const char *id = pt_http_param(req, "id", &il);
    const char *path = pt_http_param(req, "path", &pl);
    const char *q = pt_http_query(req, &ql);
    int n = snprintf(out, sizeof out, "%s %s id=%.*s path=%.*s q=%.*s tag=%s", pt_http_method(req),
                     pt_http_route_template(req), (int)il, id ? id : "", (int)pl, path ? path : "",
                     (int)ql, q ? q : "", (const char *)arg);
    pt_http_respond(req, 200, out, (size_t)n);
}

static void logs_something(pt_http_req *req, void *arg)
{
    (void)arg;
    PT_INFO(pt_http_log(req), "handler was here", PT_INT("answer", 42));
    pt_http_respond(req, 201, "made\n", 5);
}

static void add_routes(pt_http *h)
{
    assert_int_equal(pt_http_route(h, "GET", "/users/:id", echo_params, "user"), 0);
    assert_int_equal(pt_http_route(h, "GET", "/files/*path", echo_params, "file"), 0);
    assert_int_equal(pt_http_route(h, "*", "/any", echo_params, "any"), 0);
    assert_int_equal(pt_http_route(h, "POST", "/made", logs_something, NULL), 0);
    /* Twice the same method and path: refused, and the message says which. */
    assert_int_equal(pt_http_route(h, "GET", "/users/:id", echo_params, NULL), -EEXIST);
    assert_non_null(strstr(pt_http_error(h), "/users/:id"));
    assert_int_equal(pt_http_route(h, "GET", "no-slash", echo_params, NULL), -EINVAL);
}

static void test_routes(void **state)
{
    (void)state;
    pt_http_options o = {.workers = 1};
    pt_http *h = start(&o, add_routes);
    int port = pt_http_port(h);
    char *r = tu_get(port, "/users/42?x=1", NULL);
    assert_int_equal(tu_status(r), 200);
    assert_string_equal(tu_body(r), "GET /users/:id id=42 path= q=x=1 tag=user");
    free(r);
    r = tu_get(port, "/files/a/b/c.txt", NULL);
    assert_string_equal(tu_body(r), "GET /files/*path id= path=a/b/c.txt q= tag=file");
    free(r);
    char *out;
    tu_exchange(port, "DELETE /any HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 5000, &out);
    assert_string_equal(tu_body(out), "DELETE /any id= path= q= tag=any");
    free(out);
    tu_exchange(port, "PUT /users/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 5000, &out);
    assert_int_equal(tu_status(out), 405);
    assert_non_null(strstr(out, "\r\nAllow: GET, HEAD\r\n"));
    free(out);
    tu_exchange(port, "HEAD /users/7 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", 5000, &out);
    assert_int_equal(tu_status(out), 200);
    assert_string_equal(tu_body(out), "");
    free(out);
    r = tu_get(port, "/users/42/", NULL); /* trailing slashes are significant */
    assert_int_equal(tu_status(r), 404);
    free(r);
    assert_int_equal(pt_http_route(h, "GET", "/late", echo_params, NULL), -EINVAL);
    assert_int_equal(pt_http_route_count(h), 3 + 9);
    assert_int_equal(pt_http_stop(h, 1000), 0);
    pt_http_free(h);
}

/* ---- middleware ---- */

static char trace[256];
static pthread_mutex_t trace_lock = PTHREAD_MUTEX_INITIALIZER;

static void note(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&trace_lock);
    size_t n = strlen(trace);
    va_start(ap, fmt);
    vsnprintf(trace + n, sizeof trace - n, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&trace_lock);
}

static int before(pt_http_req *req, void *arg)
{
    note("b%s ", (const char *)arg);
    size_t n;
    if (strcmp(arg, "2") == 0 && pt_http_header(req, "X-Deny", &n)) {
        pt_http_respond(req, 401, "no\n", 3);
        return 1;
    }
    pt_http_set_user(req, arg);
    return 0;
}

static void after(pt_http_req *req, int status, void *arg)
{
    note("a%s:%d ", (const char *)arg, status);
    (void)req;
}

static void handler_mw(pt_http_req *req, void *arg)
{
    (void)arg;
    note("h(user=%s) ", (const char *)pt_http_user(req));
    pt_http_respond(req, 200, "ok", 2);
}

static void add_mw(pt_http *h)
{
    pt_http_route(h, "GET", "/mw", handler_mw, NULL);
    pt_http_before(h, before, "1");
    pt_http_before(h, before, "2");
    pt_http_after(h, after, "1");
    pt_http_after(h, after, "2");
}

static void wait_trace(const char *want)
{
    for (int i = 0; i < 400; i++) {
        pthread_mutex_lock(&trace_lock);
        int same = strcmp(trace, want) == 0;
        pthread_mutex_unlock(&trace_lock);
        if (same)
            return;
        sleep_ms(5);
    }
    assert_string_equal(trace, want);
}

static void test_middleware(void **state)
{
    (void)state;
    pt_http_options o = {.workers = 1};
    pt_http *h = start(&o, add_mw);
    trace[0] = '\0';
    free(tu_get(pt_http_port(h), "/mw", NULL));
    wait_trace("b1 b2 h(user=2) a1:200 a2:200 ");
    trace[0] = '\0';
    char *r = tu_get(pt_http_port(h), "/mw", "X-Deny: 1\r\n");
    assert_int_equal(tu_status(r), 401);
    free(r);
    wait_trace("b1 b2 a1:401 a2:401 ");
    trace[0] = '\0';
    free(tu_get(pt_http_port(h), "/nowhere", NULL)); /* 404s pass through middleware too */
    wait_trace("b1 b2 a1:404 a2:404 ");
    pt_http_stop(h, 1000);
    pt_http_free(h);
}

/* ---- request ids, the access record, the request's logger ---- */

static void add_made(pt_http *h)
{
    pt_http_route(h, "POST", "/made", logs_something, NULL);
}

static int is_uuid4(const char *s)
{
    if (strlen(s) != 36 || s[14] != '4')
        return 0;
    for (int i = 0; i < 36; i++)
        if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
            return 0;
    return 1;
}

static void header_value(const char *resp, const char *name, char *out, size_t cap)
{
    const char *p = strstr(resp, name);
    out[0] = '\0';
    if (!p)
        return;
    p += strlen(name);
    size_t n = strcspn(p, "\r");
    snprintf(out, cap, "%.*s", (int)n, p);
}

static void test_request_id_and_access_log(void **state)
{
    (void)state;
    pt_http_options o = {.workers = 1};
    pt_http *h = start(&o, add_made);
    int port = pt_http_port(h);
    char *out, id[200];
    tu_exchange(port,
                "POST /made?k=v HTTP/1.1\r\nHost: example\r\nX-Request-Id: abc-123\r\n"
                "User-Agent: tester\r\nCookie: secret\r\nContent-Length: 3\r\nConnection: close\r\n\r\nxyz",
                5000, &out);
    assert_int_equal(tu_status(out), 201);
    header_value(out, "X-Request-Id: ", id, sizeof id);
    assert_string_equal(id, "abc-123");
    free(out);
    assert_true(tu_memlog_wait("\"msg\":\"handler was here\",\"req_id\":\"abc-123\"", 2000));
    assert_true(tu_memlog_wait(
        "\"msg\":\"request\",\"req_id\":\"abc-123\",\"req\":{\"method\":\"POST\",\"url\":\"/made?k=v\","
        "\"headers\":{\"host\":\"example\",\"user-agent\":\"tester\",\"content-length\":\"3\"},"
        "\"remoteAddress\":\"127.0.0.1\",\"remotePort\":",
        2000));
    assert_int_equal(tu_memlog_count("secret"), 0); /* headers not allow-listed stay out */
    assert_true(tu_memlog_wait("\"res\":{\"statusCode\":201,", 2000));
    /* Ids that are not 1..128 visible characters are replaced by a new one. */
    char *r = tu_get(port, "/made", "X-Request-Id: has space\r\n");
    header_value(r, "X-Request-Id: ", id, sizeof id);
    assert_true(is_uuid4(id));
    free(r);
    r = tu_get(port, "/made", "Request-Id: other-form\r\n");
    header_value(r, "X-Request-Id: ", id, sizeof id);
    assert_string_equal(id, "other-form");
    free(r);
    /* A record longer than log.max_value_bytes (8192) keeps its parts as fields, req cut:
     * 4,200 quotes in the URL become 8,400 bytes in JSON. */
    char raw[4400];
    int at = snprintf(raw, sizeof raw, "GET /made?q=");
    memset(raw + at, '"', 4200);
    snprintf(raw + at + 4200, sizeof raw - (size_t)at - 4200,
             " HTTP/1.1\r\nHost: t\r\nX-Request-Id: long-1\r\nConnection: close\r\n\r\n");
    assert_true(tu_exchange(port, raw, 5000, &out) > 0);
    assert_int_equal(tu_status(out), 405);
    free(out);
    assert_true(tu_memlog_wait(
        "\"msg\":\"request\",\"req_id\":\"long-1\",\"req\":\"{\\\"method\\\":\\\"GET\\\",", 2000));
    assert_true(tu_memlog_wait("[cut ", 2000));
    assert_true(tu_memlog_wait("\"res\":{\"statusCode\":405,\"bytes\":", 2000));
    pt_http_stop(h, 1000);
    pt_http_free(h);

    /* An allow-list longer than what is looked up as the request begins (14 names): looked
     * up as it ends, in the list's order; the id still comes from its header. */
    static const char *const many[] = {"h01", "h02", "h03", "h04", "h05", "h06", "h07", "h08",
                                       "h09", "h10", "h11", "h12", "h13", "h14", "X-Last", NULL};
    pt_http_options long_list = {.workers = 1, .log_headers = many};
    h = start(&long_list, add_made);
    r = tu_get(pt_http_port(h), "/made", "X-Last: end\r\nH02: two\r\nX-Request-Id: many-1\r\n");
    assert_int_equal(tu_status(r), 405);
    free(r);
    assert_true(tu_memlog_wait("\"req_id\":\"many-1\",\"req\":{\"method\":\"GET\",\"url\":\"/made\","
                               "\"headers\":{\"h02\":\"two\",\"x-last\":\"end\"},",
                               2000));
    pt_http_stop(h, 1000);
    pt_http_free(h);

    /* Turned off: no header, no req_id. */
    pt_http_options off = {.workers = 1, .no_request_id = 1, .no_access_log = 1};
    h = start(&off, add_made);
    int before_count = tu_memlog_count("\"msg\":\"request\"");
    r = tu_get(pt_http_port(h), "/made", "X-Request-Id: zzz\r\n");
    assert_int_equal(tu_status(r), 405);
    assert_null(strstr(r, "X-Request-Id"));
    free(r);
    sleep_ms(100);
    assert_int_equal(tu_memlog_count("\"msg\":\"request\""), before_count);
    pt_http_stop(h, 1000);
    pt_http_free(h);
}

/* ---- metrics ---- */

static double metric(const char *prefix)
{
    char *text = pt_stats_prometheus(stats), want[300];
    snprintf(want, sizeof want, "\n%s", prefix); /* a sample line, not a # HELP line */
    const char *p = strstr(text, want);
    double v = -1;
    if (p) {
        p++;
        const char *eol = strchr(p, '\n');
        const char *sp = eol ? eol : p + strlen(p);
        while (sp > p && sp[-1] != ' ')
            sp--;
        v = strtod(sp, NULL);
    }
    free(text);
    return v;
}

static void test_metrics(void **state)
{
    (void)state;
    pt_http_options o = {.workers = 1};
    pt_http *h = start(&o, add_routes);
    int port = pt_http_port(h);
    /* The registry is shared by the tests: deltas. */
    static const char *const names[] = {
        "http_requests_total{method=\"GET\",route=\"_users__id\",status=\"2xx\"} ",
        "http_requests_total{method=\"any\",route=\"unmatched\",status=\"4xx\"} ",
        "http_responses_total{status=\"404\"} ",
        "http_responses_total{status=\"400\"} ",
        "http_request_time_seconds_count{method=\"GET\",route=\"_users__id\"} ",
        "http_bytes_in_total ",
        "http_bytes_out_total ",
    };
    double was[7];
    for (int i = 0; i < 7; i++)
        was[i] = metric(names[i]) < 0 ? 0 : metric(names[i]);
    for (int i = 0; i < 3; i++)
        free(tu_get(port, "/users/1", NULL));
    free(tu_get(port, "/missing/a", NULL));
    free(tu_get(port, "/missing/b", NULL));
    char *out;
    tu_exchange(port, "GARBAGE\r\n\r\n", 5000, &out); /* 400, refused before routing */
    assert_int_equal(tu_status(out), 400);
    free(out);
    sleep_ms(50);
    assert_true(metric(names[0]) - was[0] == 3);
    /* Unmatched paths share one bucket: the metric's cardinality does not grow with paths. */
    assert_true(metric(names[1]) - was[1] == 3);
    assert_true(metric(names[2]) - was[2] == 2);
    assert_true(metric(names[3]) - was[3] == 1);
    assert_true(metric(names[4]) - was[4] == 3);
    assert_true(metric(names[5]) - was[5] > 100);
    assert_true(metric(names[6]) - was[6] > 300);
    assert_true(metric("http_in_flight ") == 0);
    assert_true(metric("http_routes ") == 12);
    pt_http_stop(h, 1000);
    pt_http_free(h);
}

/* ---- workers, answers from other threads, the deadline ---- */

static pthread_t seen[64];
static int nseen;

static void which_thread(pt_http_req *req, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&trace_lock);
    int known = 0;
    for (int i = 0; i < nseen; i++)
        known |= pthread_equal(seen[i], pthread_self());
    if (!known && nseen < 64)
        seen[nseen++] = pthread_self();
    pthread_mutex_unlock(&trace_lock);
    pt_http_respond(req, 200, "w", 1);
}

static void *answer_later(void *arg)
{
    sleep_ms(30);
    pt_http_header_set(arg, "X-From", "thread");
    pt_http_respond_async(arg, 202, "later", 5);
    return NULL;
}

static void from_thread(pt_http_req *req, void *arg)
{
    pthread_t t;
    (void)arg;
    pthread_create(&t, NULL, answer_later, req);
    pthread_detach(t);
}

static pt_http_req *parked; /* a request whose handler has not answered */

static void never_answers(pt_http_req *req, void *arg)
{
    (void)arg;
    parked = req;
}

static void add_threads(pt_http *h)
{
    pt_http_route(h, "GET", "/w", which_thread, NULL);
    pt_http_route(h, "GET", "/async", from_thread, NULL);
    pt_http_route(h, "GET", "/never", never_answers, NULL);
}

static void test_workers_and_async(void **state)
{
    (void)state;
    pt_http_options o = {.workers = 2, .handler_timeout_ms = 150};
    pt_http *h = start(&o, add_threads);
    int port = pt_http_port(h);
    nseen = 0;
    for (int i = 0; i < 60; i++)
        free(tu_get(port, "/w", NULL));
    assert_int_equal(nseen, 2); /* both workers' listeners took connections on one port */
    char *r = tu_get(port, "/async", NULL);
    assert_int_equal(tu_status(r), 202);
    assert_non_null(strstr(r, "X-From: thread\r\n"));
    assert_string_equal(tu_body(r), "later");
    free(r);
    /* The deadline answers 503 for a handler that does not, counts it and logs it. */
    r = tu_get(port, "/never", "X-Request-Id: slow-1\r\n");
    assert_int_equal(tu_status(r), 503);
    assert_non_null(strstr(r, "\r\nX-Request-Id: slow-1\r\n")); /* the deadline's answer too */
    free(r);
    assert_true(tu_memlog_wait("\"msg\":\"handler missed its deadline: answered 503\",\"req_id\":\"slow-1\","
                               "\"route\":\"/never\",\"method\":\"GET\",\"deadline_ms\":150",
                               2000));
    assert_true(metric("http_handler_timeouts_total ") == 1);
    /* From this thread, the late answer goes through the hand-off, and is dropped there. */
    assert_int_equal(pt_http_respond_async(parked, 200, "late", 4), 0);
    assert_int_equal(pt_http_in_flight(h), 0);
    pt_http_stop(h, 1000);
    pt_http_free(h);
}

/* ---- the graceful stop ---- */

static void answer_timer(uv_timer_t *t)
{
    pt_http_respond(t->data, 200, "finished", 8);
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

static void slow(pt_http_req *req, void *arg)
{
    uv_timer_t *t = malloc(sizeof *t);
    (void)arg;
    uv_timer_init(pt_http_loop(req), t);
    t->data = req;
    uv_timer_start(t, answer_timer, 300, 0);
}

static void add_slow(pt_http *h)
{
    pt_http_route(h, "GET", "/slow", slow, NULL);
    pt_http_route(h, "GET", "/never", never_answers, NULL);
}

typedef struct {
    int port;
    const char *path;
    char *response;
} client_call;

static void *client_main(void *arg)
{
    client_call *c = arg;
    c->response = tu_get(c->port, c->path, NULL);
    return NULL;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = recv(fd, buf + n, cap - n - 1, 0)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    return n;
}

/* Input that arrives while a request is answered waits; a client that half-closes after its
 * request still gets the answer; more pipelined input than the server keeps waiting (256 KiB)
 * makes it stop reading, not drop anything. */
static void test_reading_while_answering(void **state)
{
    (void)state;
    pt_http_options o = {.workers = 1};
    pt_http *h = start(&o, add_slow);
    int fd = connect_to(pt_http_port(h));
    const char *req = "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n";
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    assert_int_equal(shutdown(fd, SHUT_WR), 0); /* said all: the answer must still come */
    char buf[4096];
    read_all(fd, buf, sizeof buf);
    close(fd);
    assert_int_equal(tu_status(buf), 200);
    assert_string_equal(tu_body(buf), "finished");

    /* 3,000 pipelined requests (about 300 KiB) behind a slow one: all answered, in order. */
    enum { N = 3000 };
    fd = connect_to(pt_http_port(h));
    static char big[N * 120];
    size_t len = 0;
    len += (size_t)sprintf(big + len, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
    for (int i = 1; i < N; i++)
        len += (size_t)sprintf(big + len, "GET /nope/%04d HTTP/1.1\r\nHost: t\r\nX-Pad: %060d\r\n\r\n",
                               i, 0);
    len += (size_t)sprintf(big + len, "GET /slow HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    size_t sent = 0;
    while (sent < len) {
        ssize_t w = send(fd, big + sent, len - sent, 0);
        assert_true(w > 0);
        sent += (size_t)w;
    }
    static char out[N * 400];
    size_t got = read_all(fd, out, sizeof out);
    close(fd);
    int answers = 0, notfound = 0;
    for (const char *p = out; (p = strstr(p, "HTTP/1.1 ")); p += 9) {
        answers++;
        notfound += strncmp(p + 9, "404", 3) == 0;
    }
    assert_true(got > 0);
    assert_int_equal(answers, N + 1);
    assert_int_equal(notfound, N - 1);
    assert_int_equal(strncmp(out, "HTTP/1.1 200", 12), 0); /* the slow one first */
    assert_non_null(strstr(out + got - 200, "finished"));  /* and the last one last */
    pt_http_stop(h, 1000);
    pt_http_free(h);
}

static void test_stop_drains(void **state)
{
    (void)state;
    pt_http_options o = {.workers = 1};
    pt_http *h = start(&o, add_slow);
    client_call c = {pt_http_port(h), "/slow", NULL};
    pthread_t t;
    pthread_create(&t, NULL, client_main, &c);
    for (int i = 0; i < 200 && pt_http_in_flight(h) == 0; i++)
        sleep_ms(5);
    assert_int_equal(pt_http_in_flight(h), 1);
    assert_true(metric("http_in_flight ") == 1); /* the gauge reads the same count */
    uint64_t t0 = pt_clock_mono_ns();
    assert_int_equal(pt_http_stop(h, 5000), 0); /* waits for the request in flight */
    double took = (double)(pt_clock_mono_ns() - t0) / 1e6;
    pthread_join(t, NULL);
    assert_int_equal(tu_status(c.response), 200);
    assert_non_null(strstr(c.response, "Connection: close\r\n"));
    assert_string_equal(tu_body(c.response), "finished");
    assert_true(took > 150 && took < 2000);
    free(c.response);
    char *out;
    assert_int_equal(tu_exchange(o.port ? o.port : c.port, "GET / HTTP/1.1\r\n\r\n", 500, &out),
                     -ECONNREFUSED);
    pt_http_free(h);

    /* A handler that never answers: the deadline cuts it off. */
    h = start(&o, add_slow);
    c = (client_call){pt_http_port(h), "/never", NULL};
    pthread_create(&t, NULL, client_main, &c);
    for (int i = 0; i < 200 && pt_http_in_flight(h) == 0; i++)
        sleep_ms(5);
    t0 = pt_clock_mono_ns();
    assert_int_equal(pt_http_stop(h, 200), -ETIMEDOUT);
    took = (double)(pt_clock_mono_ns() - t0) / 1e6;
    assert_true(took >= 150 && took < 1500);
    pthread_join(t, NULL);
    assert_int_equal(tu_status(c.response), -1); /* closed without an answer */
    free(c.response);
    /* The late answer is dropped and releases the request. */
    assert_int_equal(pt_http_respond_async(parked, 200, "late", 4), -ETIMEDOUT);
    pt_http_free(h);
}

/* ---- health on the service port ---- */

static void check_ok(pt_health_probe *p, void *arg)
{
    (void)arg;
    pt_health_probe_done(p, 1, NULL);
}

static void mine(pt_http_req *req, void *arg)
{
    (void)arg;
    pt_http_respond(req, 200, "my own /health", 14);
}

static void test_health_routes(void **state)
{
    (void)state;
    pt_health *health;
    assert_int_equal(pt_health_new(NULL, &health), 0);
    assert_int_equal(pt_health_add(health, "db", check_ok, NULL, PT_HEALTH_CRITICAL), 0);
    assert_int_equal(pt_health_run_now(health, 2000), 0);
    pt_http_options o = {.workers = 1, .health = health, .ready_path = "/ready-x"};
    pt_http *h = start(&o, NULL);
    int port = pt_http_port(h);
    char *r = tu_get(port, "/health", NULL);
    assert_int_equal(tu_status(r), 200);
    assert_non_null(strstr(r, "Content-Type: application/json\r\n"));
    assert_string_equal(tu_body(r), "{\"status\":\"ok\",\"checks\":{\"db\":\"ok\"}}");
    free(r);
    pt_health_set_draining(health, 1);
    r = tu_get(port, "/ready-x", NULL);
    assert_int_equal(tu_status(r), 503);
    assert_non_null(strstr(tu_body(r), "\"status\":\"draining\""));
    free(r);
    r = tu_get(port, "/health", NULL);
    assert_int_equal(tu_status(r), 200); /* draining is not unhealthy */
    free(r);
    r = tu_get(port, "/ready", NULL); /* the path was moved */
    assert_int_equal(tu_status(r), 404);
    free(r);
    pt_http_stop(h, 1000);
    pt_http_free(h);

    /* A service's own /health wins. */
    pt_http_options o2 = {.workers = 1, .health = health};
    pt_http *h2;
    o2.log = logger;
    assert_int_equal(pt_http_new(&o2, &h2), 0);
    pt_http_route(h2, "GET", "/health", mine, NULL);
    assert_int_equal(pt_http_start(h2), 0);
    r = tu_get(pt_http_port(h2), "/health", NULL);
    assert_string_equal(tu_body(r), "my own /health");
    free(r);
    pt_http_free(h2);
    pt_health_free(health);
}

static void test_port_in_use(void **state)
{
    (void)state;
    pt_http_options o = {.workers = 1};
    pt_http *a = start(&o, NULL), *b;
    pt_http_options o2 = {.workers = 1, .port = pt_http_port(a)};
    assert_int_equal(pt_http_new(&o2, &b), 0);
    assert_int_equal(pt_http_start(b), -EADDRINUSE);
    char want[64];
    snprintf(want, sizeof want, "cannot listen on 127.0.0.1:%d: ", o2.port);
    assert_non_null(strstr(pt_http_error(b), want));
    pt_http_free(b);
    /* Several workers use SO_REUSEPORT, which would let them join the group of another
     * process on that port: they refuse a port taken, whoever took it. */
    pt_http_options o3 = {.workers = 2, .port = pt_http_port(a)};
    assert_int_equal(pt_http_new(&o3, &b), 0);
    assert_int_equal(pt_http_start(b), -EADDRINUSE);
    pt_http_free(b);
    pt_http_free(a);
    pt_http_options o4 = {.workers = 2};
    a = start(&o4, NULL);
    pt_http_options o5 = {.workers = 2, .port = pt_http_port(a)};
    assert_int_equal(pt_http_new(&o5, &b), 0);
    assert_int_equal(pt_http_start(b), -EADDRINUSE);
    pt_http_free(b);
    pt_http_free(a);
}

int main(void)
{
    logger = tu_memlog("http-test");
    pt_stats_options so = {.service = "t"};
    if (pt_stats_new(&so, &stats) < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_middleware),
        cmocka_unit_test(test_request_id_and_access_log),
        cmocka_unit_test(test_workers_and_async),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_stop_drains),
        cmocka_unit_test(test_reading_while_answering),
        cmocka_unit_test(test_health_routes),
        cmocka_unit_test(test_port_in_use),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    pt_stats_free(stats);
    pt_log_flush(1000);
    pt_log_free(logger);
    return rc;
}
