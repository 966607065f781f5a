/* The HTTP server core (src/http/server.h) over real sockets: a uv loop runs the server on a
 * thread of its own; the test talks to it with blocking sockets (every read has a timeout) and
 * compares raw response bytes, the Date value masked. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "http/router.h"
#include "http/server.h"
#include "http_wire.h"


/* ---- handlers ----------------------------------------------------------------------------- */

static void hello(pt__http_request *req, pt__http_response *res, void *arg)
{
    pt__http_response_header(res, "Content-Type", "text/plain");
    pt__http_respond(res, 200, "hello\n", 6);
}

static void echo(pt__http_request *req, pt__http_response *res, void *arg)
{
    pt__http_respond(res, 200, req->body, req->body_len);
}

/* pt__http_request_headers_find() finds what pt__http_request_header() (strncasecmp) finds,
 * name by name: header names of every length that words, half words and single bytes cover
 * (1..26, the prefixes of "abcdefghijklmnopqrst" among them, some twice in the set), letters
 * in either case, and the token characters just beside the letters in ASCII, which a case fold
 * done 8 bytes at a time must leave alone. */
static void headers_find_agrees(pt__http_request *req)
{
    static const char *const fixed[] = {
        "x-a", "host", "x-request-id", "request-id", "x^y", "x~y", "x`", "x|", "x_", "h",
        "user-agent", "long-header-name-of-26-ch", "abcdefghijklmnopqrstuvwxyz", "missing",
        "x-b", "xx", "x-request-ie", "abcdefg", "abcdefgh", "abcdefghi", "z^^^^^^^", "z~~~~~~~",
    };
    enum { NFIXED = sizeof fixed / sizeof fixed[0], N = NFIXED + 20 };
    static const char alphabet[] = "abcdefghijklmnopqrst";
    char prefixes[20][21];
    const char *names[N];
    for (size_t k = 0; k < NFIXED; k++)
        names[k] = fixed[k];
    for (size_t len = 1; len <= 20; len++) {
        memcpy(prefixes[len - 1], alphabet, len);
        prefixes[len - 1][len] = '\0';
        names[NFIXED + len - 1] = prefixes[len - 1];
    }
    pt__http_header_set set;
    if (pt__http_header_set_init(&set, names, N) != 0)
        fail_msg("pt__http_header_set_init");
    size_t found_len[N];
    const char *found[N];
    pt__http_request_headers_find(req, &set, found, found_len);
    for (size_t k = 0; k < N; k++) {
        size_t len = 0;
        const char *v = pt__http_request_header(req, names[k], &len);
        if (v != found[k] || (v && len != found_len[k]))
            fail_msg("%s: one at a time %.*s, together %.*s", names[k], (int)(v ? len : 4),
                     v ? v : "none", (int)(found[k] ? found_len[k] : 4),
                     found[k] ? found[k] : "none");
    }
    pt__http_header_set_free(&set);
}

/* MANY names, "n<i>-" and up to 22 q's: a table far past its smallest size, with collisions. */
enum { MANY = 200, MANY_SENT = 90 }; /* the request carries names 0, 2, .. 178 */

static void many_name(char *out, size_t i)
{
    int n = sprintf(out, "n%zu-", i);
    memset(out + n, 'q', i % 23);
    out[n + i % 23] = '\0';
}

/* Looks up the MANY names in the request; answers "ok", or the first name found wrong. */
static void many(pt__http_request *req, pt__http_response *res, void *arg)
{
    static char buf[MANY][32];
    const char *names[MANY];
    for (size_t i = 0; i < MANY; i++) {
        many_name(buf[i], i);
        names[i] = buf[i];
    }
    pt__http_header_set set;
    const char *found[MANY];
    size_t found_len[MANY];
    if (pt__http_header_set_init(&set, names, MANY) != 0 || set.ndistinct != MANY) {
        pt__http_respond(res, 200, "init", 4);
        return;
    }
    pt__http_request_headers_find(req, &set, found, found_len);
    pt__http_header_set_free(&set);
    for (size_t i = 0; i < MANY; i++) {
        char want[16];
        int wn = sprintf(want, "v%zu", i);
        size_t one_len = 0;
        const char *one = pt__http_request_header(req, names[i], &one_len);
        int sent = i % 2 == 0 && i < 2 * MANY_SENT;
        int ok = one == found[i] && (sent ? found[i] && found_len[i] == (size_t)wn &&
                                                memcmp(found[i], want, (size_t)wn) == 0
                                          : !found[i]);
        if (!ok) {
            pt__http_respond(res, 200, names[i], strlen(names[i]));
            return;
        }
    }
    pt__http_respond(res, 200, "ok", 2);
}

/* The value of X-A (case-insensitive lookup); the server's own headers are refused. */
static void header(pt__http_request *req, pt__http_response *res, void *arg)
{
    size_t len = 0;
    headers_find_agrees(req);
    const char *v = pt__http_request_header(req, "x-a", &len);
    assert_int_equal(pt__http_response_header(res, "Content-Length", "1"), -EINVAL);
    assert_int_equal(pt__http_response_header(res, "X-B", "a\r\nb"), -EINVAL);
    assert_null(pt__http_request_header(req, "X-None", &len) == NULL ? NULL : "found");
    v = pt__http_request_header(req, "x-a", &len);
    pt__http_respond(res, 200, v, v ? len : 0);
    assert_int_equal(pt__http_respond(res, 200, "", 0), -EINVAL); /* only once */
}

static void no_content(pt__http_request *req, pt__http_response *res, void *arg)
{
    pt__http_respond(res, 204, "ignored", 7);
}

/* Answers from a thread of its own, 30 ms later. */
static pthread_t answer_threads[8];
static atomic_int answer_thread_count;

static void *answer_later(void *arg)
{
    usleep(30 * 1000);
    assert_int_equal(pt__http_respond_from_any_thread(arg, 200, "thread", 6), 0);
    return NULL;
}

static void threaded(pt__http_request *req, pt__http_response *res, void *arg)
{
    int i = atomic_fetch_add(&answer_thread_count, 1);
    assert_true(i < 8);
    assert_int_equal(pthread_create(&answer_threads[i], NULL, answer_later, res), 0);
}

/* "<route> <param>=<value> q=<query>" */
static void user(pt__http_request *req, pt__http_response *res, void *arg)
{
    char out[256];
    int n = snprintf(out, sizeof out, "%s %s=%.*s q=%.*s", req->route, req->params[0].name,
                     (int)req->params[0].value_len, req->params[0].value, (int)req->query_len,
                     req->query ? req->query : "");
    pt__http_respond(res, 200, out, (size_t)n);
}

typedef struct {
    uv_timer_t timer;
    pt__http_response *res;
} late_answer;

static void late_close_cb(uv_handle_t *h)
{
    free(h->data);
}

static atomic_int late_calls; /* how many times the late handler ran */

static atomic_int late_result; /* what the late handler's pt__http_respond returned */

static void late_fire(uv_timer_t *t)
{
    late_answer *l = t->data;
    atomic_store(&late_result, pt__http_respond(l->res, 200, "late", 4));
    uv_close((uv_handle_t *)&l->timer, late_close_cb);
}

/* Answers 50 ms later, from a uv timer. */
static void late(pt__http_request *req, pt__http_response *res, void *arg)
{
    atomic_fetch_add(&late_calls, 1);
    late_answer *l = malloc(sizeof *l);
    assert_non_null(l);
    l->res = res;
    uv_timer_init(arg, &l->timer);
    l->timer.data = l;
    uv_timer_start(&l->timer, late_fire, 50, 0);
}

/* Never answers by itself: the test answers later through stalled_res. */
static pt__http_response *_Atomic stalled_res;

static void stall(pt__http_request *req, pt__http_response *res, void *arg)
{
    atomic_store(&stalled_res, res);
}

/* ---- a server on its own thread ------------------------------------------------------------ */

typedef struct {
    uv_loop_t loop;
    uv_async_t stop;
    pthread_t thread;
    pt__router *router;
    pt__http_server *server;
    int port;
    int closed;
    uint64_t handler_timeouts; /* read when the server closed */
    pt__http_route r_stall, r_hello, r_echo, r_user, r_late, r_header, r_204, r_thread, r_many;
} fixture;

static void *loop_main(void *arg)
{
    fixture *f = arg;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void on_server_closed(pt__http_server *s, void *arg)
{
    ((fixture *)arg)->closed = 1;
    ((fixture *)arg)->handler_timeouts = pt__http_server_handler_timeouts(s);
}

static void on_stop(uv_async_t *a)
{
    fixture *f = a->data;
    pt__http_server_close(f->server, on_server_closed, f);
    uv_close((uv_handle_t *)a, NULL);
}

static fixture *start(const pt__http_limits *limits)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->router = pt__router_new();
    f->r_hello = (pt__http_route){hello, NULL};
    f->r_echo = (pt__http_route){echo, NULL};
    f->r_user = (pt__http_route){user, NULL};
    f->r_late = (pt__http_route){late, &f->loop};
    f->r_header = (pt__http_route){header, NULL};
    f->r_many = (pt__http_route){many, NULL};
    f->r_204 = (pt__http_route){no_content, NULL};
    f->r_thread = (pt__http_route){threaded, NULL};
    f->r_stall = (pt__http_route){stall, NULL};
    assert_int_equal(pt__router_add(f->router, "GET", "/stall", &f->r_stall, NULL, 0), 0);
    assert_int_equal(pt__router_add(f->router, "GET", "/thread", &f->r_thread, NULL, 0), 0);
    assert_int_equal(pt__router_add(f->router, "DELETE", "/users/:id", &f->r_204, NULL, 0), 0);
    assert_int_equal(pt__router_add(f->router, "GET", "/header", &f->r_header, NULL, 0), 0);
    assert_int_equal(pt__router_add(f->router, "GET", "/many", &f->r_many, NULL, 0), 0);
    assert_int_equal(pt__router_add(f->router, "GET", "/hello", &f->r_hello, NULL, 0), 0);
    assert_int_equal(pt__router_add(f->router, "POST", "/echo", &f->r_echo, NULL, 0), 0);
    assert_int_equal(pt__router_add(f->router, "GET", "/users/:id", &f->r_user, NULL, 0), 0);
    assert_int_equal(pt__router_add(f->router, "GET", "/late", &f->r_late, NULL, 0), 0);
    pt__router_freeze(f->router);
    assert_int_equal(pt__http_server_new(&f->loop, f->router, limits, &f->server), 0);
    assert_int_equal(pt__http_server_listen(f->server, "127.0.0.1", 0), 0);
    f->port = pt__http_server_port(f->server);
    assert_true(f->port > 0);
    assert_int_equal(uv_async_init(&f->loop, &f->stop, on_stop), 0);
    f->stop.data = f;
    assert_int_equal(pthread_create(&f->thread, NULL, loop_main, f), 0);
    return f;
}

/* Waits for the loop's thread (stop already asked), frees f; returns the deadline count. */
static uint64_t stop_joined(fixture *f)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    assert_int_equal(pthread_timedjoin_np(f->thread, NULL, &deadline), 0);
    assert_true(f->closed);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    pt__router_free(f->router);
    uint64_t timeouts = f->handler_timeouts;
    free(f);
    return timeouts;
}

static uint64_t stop(fixture *f)
{
    assert_int_equal(uv_async_send(&f->stop), 0);
    return stop_joined(f);
}

/* ---- a blocking client ---------------------------------------------------------------------- */

static int client(const fixture *f)
{
    return wire_connect(f->port);
}

#define HELLO_200                                                                                  \
    "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 6\r\nContent-Type: text/plain\r\n\r\nhello\n"

/* ---- tests ------------------------------------------------------------------------------------ */

static void test_simple_get(void **state)
{
    fixture *f = start(NULL);
    int fd = client(f);
    exchange(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", HELLO_200, 1);
    close(fd);
    stop(f);
}

static void test_keep_alive_and_params(void **state)
{
    fixture *f = start(NULL);
    int fd = client(f);
    exchange(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", HELLO_200, 1);
    exchange(fd, "GET /users/42?a=b HTTP/1.1\r\nHost: x\r\n\r\n",
             "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 22\r\n\r\n/users/:id id=42 q=a=b", 1);
    exchange(fd,
             "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
             "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 5\r\n\r\nabcde", 1);
    exchange(fd, "GET /header HTTP/1.1\r\nX-Z: 1\r\nX-Empty:\r\nX-A:  va lue \r\n\r\n",
             "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 6\r\n\r\nva lue", 1);
    close(fd);
    stop(f);
}

/* Looking up several names in one pass finds what looking them up one by one finds. */
static void test_header_lookups(void **state)
{
    fixture *f = start(NULL);
    int fd = client(f);
    exchange(fd,
             "GET /header HTTP/1.1\r\nHOST: h\r\nx-Request-ID: id1\r\nRequest-Id: id2\r\n"
             "X^Y: caret\r\nX~Y: tilde\r\nX`: grave\r\nx|: bar\r\nX_: under\r\nH: one\r\n"
             "User-Agent: ua \r\nLong-Header-Name-Of-26-CH: l\r\n"
             "AbCdEfGhIjKlMnOpQrStUvWxYz: alpha\r\nABCDEFGH: eight\r\nabcdefgh: again\r\n"
             "Z^^^^^^^: carets\r\nA: p1\r\nAbC: p3\r\nabcdE: p5\r\nABCDEFGHIJKLMNOP: p16\r\n"
             "abcdefghijklmnopqrS: p19\r\nAbcdefghijklmnopqrst: p20\r\nabc: again3\r\n"
             "X-A: va\r\n\r\n",
             "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 2\r\n\r\nva", 1);
    /* The next requests on the connection: their headers are hashed anew. */
    exchange(fd, "GET /header HTTP/1.1\r\nX-A: second\r\nhost: h2\r\n\r\n",
             "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 6\r\n\r\nsecond", 1);
    exchange(fd, "GET /header HTTP/1.1\r\n\r\n",
             "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 0\r\n\r\n", 1);
    close(fd);
    stop(f);
}

/* A set of many names finds each one, in either case, and only those the request carries. */
static void test_header_set_many(void **state)
{
    char req[8192], name[32];
    size_t n = (size_t)sprintf(req, "GET /many HTTP/1.1\r\n");
    for (size_t i = 0; i < 2 * MANY_SENT; i += 2) {
        many_name(name, i);
        if (i % 4 == 0) /* half of them capitalised */
            for (char *p = name; *p; p++)
                *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        n += (size_t)sprintf(req + n, "%s: v%zu\r\n", name, i);
    }
    n += (size_t)sprintf(req + n, "\r\n");
    fixture *f = start(NULL);
    int fd = client(f);
    exchange(fd, req, "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 2\r\n\r\nok", 1);
    close(fd);
    stop(f);
}

/* pt__http_header_set_init() refuses what the lookup could not match, and keeps the first of
 * equal names. */
static void test_header_set_init(void **state)
{
    pt__http_header_set s;
    static const char *const upper[] = {"host", "User-Agent"}, *const null[] = {"a", NULL};
    assert_int_equal(pt__http_header_set_init(&s, upper, 2), -EINVAL);
    pt__http_header_set_free(&s);
    assert_int_equal(pt__http_header_set_init(&s, null, 2), -EINVAL);
    assert_int_equal(pt__http_header_set_init(&s, null, 0), 0);
    assert_int_equal(s.n, 0);
    pt__http_header_set_free(&s);
    static const char *const dup[] = {"a", "b", "a", "", "b", ""};
    assert_int_equal(pt__http_header_set_init(&s, dup, 6), 0);
    assert_int_equal(s.n, 6);
    assert_int_equal(s.ndistinct, 3);
    assert_int_equal(s.names[2].first, 0);
    assert_int_equal(s.names[4].first, 1);
    assert_int_equal(s.names[5].first, 3);
    pt__http_header_set_free(&s);
    pt__http_header_set_free(&s); /* zeroed: harmless */
    enum { TOO_MANY = 65536 };
    const char **lots = malloc(TOO_MANY * sizeof *lots);
    assert_non_null(lots);
    for (size_t i = 0; i < TOO_MANY; i++)
        lots[i] = "a";
    assert_int_equal(pt__http_header_set_init(&s, lots, TOO_MANY), -EINVAL);
    assert_int_equal(pt__http_header_set_init(&s, lots, TOO_MANY - 1), 0);
    assert_int_equal(s.ndistinct, 1);
    pt__http_header_set_free(&s);
    free(lots);
}

static void test_pipelined_late_first(void **state)
{
    fixture *f = start(NULL);
    int fd = client(f);
    exchange(fd,
             "GET /late HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\n\r\n"
             "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz",
             "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 4\r\n\r\nlate" HELLO_200
             "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 3\r\n\r\nxyz",
             3);
    close(fd);
    stop(f);
}

/* Answers given from other threads, pipelined behind and ahead of loop-thread answers. */
static void test_answer_from_other_thread(void **state)
{
    fixture *f = start(NULL);
    int fd = client(f);
    exchange(fd,
             "GET /thread HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\n\r\nGET /thread HTTP/1.1\r\n\r\n",
             "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 6\r\n\r\nthread" HELLO_200
             "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 6\r\n\r\nthread",
             3);
    close(fd);
    stop(f);
    int n = atomic_exchange(&answer_thread_count, 0);
    assert_int_equal(n, 2);
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_join(answer_threads[i], NULL), 0);
}

static void test_head_404_405(void **state)
{
    fixture *f = start(NULL);
    int fd = client(f);
    exchange(fd, "HEAD /hello HTTP/1.1\r\n\r\n",
             "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 6\r\nContent-Type: text/plain\r\n\r\n",
             1);
    exchange(fd, "DELETE /users/1 HTTP/1.1\r\n\r\n", "HTTP/1.1 204 No Content\r\nDate: D\r\n\r\n",
             1);
    exchange(fd, "GET /nope HTTP/1.1\r\n\r\n",
             "HTTP/1.1 404 Not Found\r\nDate: D\r\nContent-Length: 0\r\n\r\n", 1);
    exchange(fd, "DELETE /hello HTTP/1.1\r\n\r\n",
             "HTTP/1.1 405 Method Not Allowed\r\nDate: D\r\nContent-Length: 0\r\n"
             "Allow: GET, HEAD\r\n\r\n",
             1);
    close(fd);
    stop(f);
}

/* Sends req, expects the error status with Connection: close, then the close. */
static void expect_error(fixture *f, const char *req, size_t req_len, const char *status_line)
{
    int fd = client(f);
    send_all(fd, req, req_len);
    char want[256];
    snprintf(want, sizeof want, "%s\r\nDate: D\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
             status_line);
    exchange(fd, NULL, want, 1);
    assert_true(closed_by_peer(fd));
    close(fd);
}

static void expect_error_str(fixture *f, const char *req, const char *status_line)
{
    expect_error(f, req, strlen(req), status_line);
}

static void test_limits(void **state)
{
    pt__http_limits lim = {.max_header_bytes = 1024, .max_body_bytes = 100};
    fixture *f = start(&lim);
    char big[4096];
    snprintf(big, sizeof big, "GET /hello HTTP/1.1\r\nX-Big: %01500d\r\n\r\n", 0);
    expect_error_str(f, big, "HTTP/1.1 431 Request Header Fields Too Large");
    char many[1024] = "GET /hello HTTP/1.1\r\n";
    for (int i = 0; i < PT__HTTP_MAX_HEADERS + 1; i++)
        strcat(many, "A:1\r\n");
    strcat(many, "\r\n");
    expect_error_str(f, many, "HTTP/1.1 431 Request Header Fields Too Large");
    /* Blanks before a value are not in llhttp's spans: a head still open after 1,500 of them
     * is over the limit all the same (no wait for the header timeout). */
    char blanks[2048];
    snprintf(blanks, sizeof blanks, "GET /hello HTTP/1.1\r\nX-Pad: %1500s\r\n", "v");
    expect_error_str(f, blanks, "HTTP/1.1 431 Request Header Fields Too Large");
    char body[512];
    int n = snprintf(body, sizeof body,
                     "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "c8\r\n%0200d\r\n0\r\n\r\n",
                     0);
    expect_error(f, body, (size_t)n, "HTTP/1.1 413 Content Too Large");
    /* Oversize Content-Length, body sent anyway: 413 still reaches the client. */
    char big_body[4096];
    n = snprintf(big_body, sizeof big_body,
                 "POST /echo HTTP/1.1\r\nContent-Length: 3000\r\n\r\n"
                 "%03000d",
                 0);
    expect_error(f, big_body, (size_t)n, "HTTP/1.1 413 Content Too Large");
    /* Oversize Content-Length with Expect: 100-continue: 413 before any body is sent. */
    expect_error_str(f,
                     "POST /echo HTTP/1.1\r\nContent-Length: 101\r\nExpect: 100-continue\r\n\r\n",
                     "HTTP/1.1 413 Content Too Large");
    /* An acceptable one: 100 Continue, then the body is read. */
    int fd = client(f);
    exchange(fd, "POST /echo HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-Continue \r\n\r\n",
             "HTTP/1.1 100 Continue\r\n\r\n", 0);
    exchange(fd, "hello", "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 5\r\n\r\nhello", 1);
    close(fd);
    stop(f);
}

static void test_malformed(void **state)
{
    fixture *f = start(NULL);
    const char *bad = "HTTP/1.1 400 Bad Request";
    expect_error_str(f,
                     "POST /echo HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked"
                     "\r\n\r\n0\r\n\r\n",
                     bad);
    expect_error_str(f,
                     "POST /echo HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"
                     "hello!",
                     bad);
    expect_error_str(f, "GET /hello HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n", bad);
    expect_error_str(f, "GET /hello HTTP/1.1\r\nX-A:\r\n c\r\n\r\n", bad);
    expect_error_str(f, "GET /hello HTTP/1.1\r\nX-A:\r\n\t \tc\r\n\r\n", bad);
    expect_error_str(f, "\x01\x02garbage\r\n\r\n", bad);
    expect_error_str(f, "GET /hello HTTP/1.1\r\nHost: a\rb\r\n\r\n", bad);
    /* obs-fold split across two writes, at the end of the first value. */
    int fd = client(f);
    send_str(fd, "GET /hello HTTP/1.1\r\nX-A: b");
    usleep(50 * 1000);
    exchange(
        fd, "\r\n c\r\n\r\n",
        "HTTP/1.1 400 Bad Request\r\nDate: D\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 1);
    assert_true(closed_by_peer(fd));
    close(fd);
    stop(f);
}

static void test_connection_close(void **state)
{
    fixture *f = start(NULL);
    int fd = client(f);
    exchange(fd, "GET /hello HTTP/1.0\r\n\r\n",
             "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 6\r\nConnection: close\r\n"
             "Content-Type: text/plain\r\n\r\nhello\n",
             1);
    assert_true(closed_by_peer(fd));
    close(fd);
    fd = client(f);
    exchange(fd, "GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n",
             "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 6\r\nConnection: close\r\n"
             "Content-Type: text/plain\r\n\r\nhello\n",
             1);
    assert_true(closed_by_peer(fd));
    close(fd);
    stop(f);
}

/* HTTP/1.0 with keep-alive asked: kept, and said so; an Upgrade is answered, then closed. */
static void test_keep_alive_1_0_and_upgrade(void **state)
{
    fixture *f = start(NULL);
    int fd = client(f);
    const char *want =
        "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 6\r\nConnection: keep-alive\r\n"
        "Content-Type: text/plain\r\n\r\nhello\n";
    exchange(fd, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", want, 1);
    exchange(fd, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", want, 1);
    close(fd);
    fd = client(f);
    exchange(fd,
             "GET /hello HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
             "GET /hello HTTP/1.1\r\n\r\n",
             "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 6\r\nConnection: close\r\n"
             "Content-Type: text/plain\r\n\r\nhello\n",
             1);
    assert_true(closed_by_peer(fd));
    close(fd);
    stop(f);
}

/* A client that leaves while its handler is still working: the late answer fails quietly. */
static void test_client_gone_before_answer(void **state)
{
    fixture *f = start(NULL);
    for (int i = 0; i < 3; i++) {
        int fd = client(f);
        send_str(fd, "GET /late HTTP/1.1\r\n\r\nGET /late HTTP/1.1\r\n\r\n");
        close(fd);
    }
    usleep(200 * 1000); /* the late answers fire (50 ms each) into closed sockets */
    int fd = client(f);
    exchange(fd, "GET /hello HTTP/1.1\r\n\r\n", HELLO_200, 1);
    close(fd);
    stop(f);
}

/* Random bytes, and valid requests cut at random places with garbage after, on many
 * connections: every connection ends with a response or a close, and the server still serves. */
static void test_garbage_never_hurts(void **state)
{
    fixture *f = start(NULL);
    unsigned seed = 12345;
    const char *valid = "POST /echo HTTP/1.1\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
    for (int i = 0; i < 200; i++) {
        char buf[512];
        size_t n = (size_t)(rand_r(&seed) % (int)sizeof buf);
        size_t cut = i % 2 ? (size_t)(rand_r(&seed) % (int)strlen(valid)) : 0;
        memcpy(buf, valid, cut);
        for (size_t j = cut; j < n; j++)
            buf[j] = (char)(i % 4 < 2 ? rand_r(&seed) : " \r\n:aZ0\t"[rand_r(&seed) % 8]);
        if (n < cut)
            n = cut;
        int fd = client(f);
        send(fd, buf, n, MSG_NOSIGNAL);
        shutdown(fd, SHUT_WR);
        char out[4096];
        recv_n(fd, out, sizeof out - 1); /* until the server closes, or the timeout */
        close(fd);
    }
    int fd = client(f);
    exchange(fd, "GET /hello HTTP/1.1\r\n\r\n", HELLO_200, 1);
    close(fd);
    stop(f);
}

static void test_timeouts(void **state)
{
    pt__http_limits lim = {
        .idle_timeout_ms = 200, .header_timeout_ms = 200, .body_timeout_ms = 200};
    fixture *f = start(&lim);
    int fd = client(f);
    exchange(fd, "GET /hello HTTP/1.1\r\n\r\n", HELLO_200, 1);
    assert_true(closed_by_peer(fd)); /* idle keep-alive timeout: closed without a word */
    close(fd);
    fd = client(f);
    send_str(fd, "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhe");
    exchange(fd, NULL,
             "HTTP/1.1 408 Request Timeout\r\nDate: D\r\nContent-Length: 0\r\n"
             "Connection: close\r\n\r\n",
             1);
    assert_true(closed_by_peer(fd));
    close(fd);
    fd = client(f);
    send_str(fd, "GET /hello HTTP/1.1\r\n");
    exchange(fd, NULL,
             "HTTP/1.1 408 Request Timeout\r\nDate: D\r\nContent-Length: 0\r\n"
             "Connection: close\r\n\r\n",
             1);
    assert_true(closed_by_peer(fd));
    close(fd);
    stop(f);
}

static void test_max_connections(void **state)
{
    pt__http_limits lim = {.max_connections = 1};
    fixture *f = start(&lim);
    int a = client(f);
    exchange(a, "GET /hello HTTP/1.1\r\n\r\n", HELLO_200, 1);
    int b = client(f);
    exchange(b, NULL,
             "HTTP/1.1 503 Service Unavailable\r\nDate: D\r\nContent-Length: 0\r\n"
             "Connection: close\r\n\r\n",
             1);
    assert_true(closed_by_peer(b));
    close(b);
    exchange(a, "GET /hello HTTP/1.1\r\n\r\n", HELLO_200, 1);
    close(a);
    stop(f);
}

static void test_one_byte_writes(void **state)
{
    fixture *f = start(NULL);
    int fd = client(f);
    const char *req = "POST /echo HTTP/1.1\r\nHost: x\r\nX-Long: abcdef\r\nContent-Length: 4\r\n"
                      "\r\nbody";
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* each byte its own segment */
    for (const char *p = req; *p; p++) {
        send_all(fd, p, 1);
        usleep(200);
    }
    exchange(fd, NULL, "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 4\r\n\r\nbody", 1);
    close(fd);
    stop(f);
}

/* Closing with a request in flight: the late answer still comes, with Connection: close. */
static void test_graceful_close(void **state)
{
    fixture *f = start(NULL);
    int idle = client(f);
    int fd = client(f);
    int before = atomic_load(&late_calls);
    send_str(fd, "GET /late HTTP/1.1\r\n\r\n");
    for (int i = 0; i < 2000 && atomic_load(&late_calls) == before; i++)
        usleep(1000); /* until the handler runs: the request is in flight */
    assert_int_equal(atomic_load(&late_calls), before + 1);
    assert_int_equal(uv_async_send(&f->stop), 0);
    exchange(fd, NULL,
             "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 4\r\nConnection: close\r\n\r\nlate", 1);
    assert_true(closed_by_peer(fd));
    assert_true(closed_by_peer(idle));
    close(fd);
    close(idle);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    assert_int_equal(pthread_timedjoin_np(f->thread, NULL, &deadline), 0);
    assert_true(f->closed);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    pt__router_free(f->router);
    free(f);
}

#define DEADLINE_503                                                                               \
    "HTTP/1.1 503 Service Unavailable\r\nDate: D\r\nContent-Length: 0\r\n"                         \
    "Connection: close\r\n\r\n"

/* Waits until stall() ran and takes the response it left. */
static pt__http_response *take_stalled(void)
{
    pt__http_response *res = NULL;
    for (int i = 0; i < 3000 && !(res = atomic_exchange(&stalled_res, NULL)); i++)
        usleep(1000);
    assert_non_null(res);
    return res;
}

/* A handler past its deadline: 503 and close (what was pipelined behind is dropped), counted;
 * its late answer, from another thread or on the loop, is dropped without harm. */
static void test_handler_deadline(void **state)
{
    pt__http_limits lim = {.handler_timeout_ms = 100};
    fixture *f = start(&lim);
    int fd = client(f);
    send_str(fd, "GET /stall HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\n\r\n");
    exchange(fd, NULL, DEADLINE_503, 1);
    assert_true(closed_by_peer(fd));
    close(fd);
    /* From another thread (this one) while the server runs: queued, then dropped. */
    assert_int_equal(pt__http_respond_from_any_thread(take_stalled(), 200, "x", 1), 0);
    fd = client(f);
    exchange(fd, "GET /hello HTTP/1.1\r\n\r\n", HELLO_200, 1); /* the server goes on */
    close(fd);
    assert_int_equal(stop(f), 1);

    /* On the loop: /late answers 50 ms after a 20 ms deadline. */
    lim.handler_timeout_ms = 20;
    f = start(&lim);
    atomic_store(&late_result, 1);
    fd = client(f);
    exchange(fd, "GET /late HTTP/1.1\r\n\r\n", DEADLINE_503, 1);
    assert_true(closed_by_peer(fd));
    close(fd);
    for (int i = 0; i < 3000 && atomic_load(&late_result) == 1; i++)
        usleep(1000);
    assert_int_equal(atomic_load(&late_result), -ETIMEDOUT);
    assert_int_equal(stop(f), 1);
}

/* Closing while a handler never answers: the deadline answers, the close finishes, and the
 * answer that comes after the server is gone is dropped (and frees what the request held). */
static void test_close_with_stalled_handler(void **state)
{
    pt__http_limits lim = {.handler_timeout_ms = 200};
    fixture *f = start(&lim);
    int fd = client(f);
    send_str(fd, "GET /stall HTTP/1.1\r\n\r\n");
    pt__http_response *res = take_stalled();
    assert_int_equal(uv_async_send(&f->stop), 0);
    exchange(fd, NULL, DEADLINE_503, 1);
    assert_true(closed_by_peer(fd));
    close(fd);
    assert_int_equal(stop_joined(f), 1);
    assert_int_equal(pt__http_respond_from_any_thread(res, 200, "x", 1), -ETIMEDOUT);
}

int main(void)
{
    /* libuv writes with write(2): a client gone makes SIGPIPE, which pt_app ignores; so must a
     * program that runs the server alone. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_keep_alive_and_params),
        cmocka_unit_test(test_header_lookups),
        cmocka_unit_test(test_header_set_many),
        cmocka_unit_test(test_header_set_init),
        cmocka_unit_test(test_pipelined_late_first),
        cmocka_unit_test(test_answer_from_other_thread),
        cmocka_unit_test(test_head_404_405),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_connection_close),
        cmocka_unit_test(test_keep_alive_1_0_and_upgrade),
        cmocka_unit_test(test_client_gone_before_answer),
        cmocka_unit_test(test_garbage_never_hurts),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_one_byte_writes),
        cmocka_unit_test(test_graceful_close),
        cmocka_unit_test(test_handler_deadline),
        cmocka_unit_test(test_close_with_stalled_handler),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
