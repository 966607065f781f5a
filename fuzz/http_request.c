/* libFuzzer target: the whole request path of the HTTP server core (src/http/server.c), on
 * any bytes a client may send. Per input, a server is created on a libuv loop of this process
 * with four routes (GET /now answers at once, GET /late answers from a 0 ms timer, POST /echo
 * echoes the body, GET /stream streams it) and the hooks a middleware sets, a client on the same loop connects over localhost TCP and sends the
 * input, then shuts its side down and reads until the server closes; the server is closed and
 * the loop runs until every handle is closed, so each input starts from nothing and leaks are
 * caught per input.
 *
 * Input: byte 0 is the largest chunk (0: the whole input in one write), byte 1 seeds the
 * chunk lengths; the rest is what the client sends, one chunk per loop iteration, so the
 * parser sees the request cut at places the input chooses.
 *
 * Properties checked, beyond "no crash, no sanitizer report, no leak": every exchange ends
 * (the server closes the connection) within a bound, whatever the server sends starts with
 * "HTTP/1.1 ", and the one-pass lookup of several header names agrees with single lookups. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "http/router.h"
#include "http/server.h"

#define BOUND_MS 2000 /* an exchange not over by then is a failure */

static void require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "http_request: property failed: %s\n", what);
        abort();
    }
}

/* ---- the routes ----------------------------------------------------------------------------- */

static void now(pt__http_request *req, pt__http_response *res, void *arg)
{
    pt__http_response_header(res, "Content-Type", "text/plain");
    pt__http_respond(res, 200, "now\n", 4);
}

static void echo(pt__http_request *req, pt__http_response *res, void *arg)
{
    size_t len;
    const char *type = pt__http_request_header(req, "content-type", &len);
    if (type && len < 64) {
        char v[64];
        memcpy(v, type, len);
        v[len] = '\0';
        pt__http_response_header(res, "Content-Type", v); /* refused when it holds a CR/LF */
    }
    pt__http_respond(res, 200, req->body, req->body_len);
}

typedef struct {
    uv_timer_t timer;
    pt__http_response *res;
} late_answer;

static void late_closed(uv_handle_t *h)
{
    free(h->data);
}

static void late_fire(uv_timer_t *t)
{
    late_answer *l = t->data;
    pt__http_respond(l->res, 200, "late\n", 5);
    uv_close((uv_handle_t *)&l->timer, late_closed);
}

static void late(pt__http_request *req, pt__http_response *res, void *arg)
{
    late_answer *l = malloc(sizeof *l);
    require(l != NULL, "malloc");
    l->res = res;
    uv_timer_init(arg, &l->timer);
    l->timer.data = l;
    uv_timer_start(&l->timer, late_fire, 0, 0);
}

/* GET /stream: a chunked (HTTP/1.1) or close-delimited (HTTP/1.0) body in three writes. */
static void stream(pt__http_request *req, pt__http_response *res, void *arg)
{
    if (pt__http_stream_begin(res, 200) < 0)
        return;
    pt__http_stream_write(res, "one\n", 4);
    pt__http_stream_write(res, "", 0);
    pt__http_stream_write(res, "two\n", 4);
    pt__http_stream_end(res);
}

/* The names the hooks look up in one pass, as a set (LLVMFuzzerInitialize builds it): of
 * every length 1..16, one of them twice. */
static const char *const lookup_names[] = {
    "x-request-id", "request-id", "user-agent", "host", "x-forwarded-for", "content-type",
    "a", "ab", "abc", "abcde", "accept", "abcdefg", "abcdefgh", "abcdefghi", "connection",
    "content-len", "x-request-id", "cache-control", "content-length", "abcdefghijklmno",
    "x-forwarded-host",
};
enum { NLOOKUP = sizeof lookup_names / sizeof lookup_names[0] };
static pt__http_header_set lookup_set;

/* The one-pass lookup of several names (the access log's allow-list, the request id) finds
 * what single lookups find. */
static void lookups_agree(pt__http_request *req)
{
    size_t vlens[NLOOKUP];
    const char *values[NLOOKUP];
    pt__http_request_headers_find(req, &lookup_set, values, vlens);
    for (size_t k = 0; k < NLOOKUP; k++) {
        size_t one_len = 0;
        const char *one = pt__http_request_header(req, lookup_names[k], &one_len);
        require(one == values[k] && (!one || one_len == vlens[k]),
                "pt__http_request_headers_find agrees with pt__http_request_header");
    }
}

/* Hooks as the http part's middleware sets them: the client's X-Request-Id, whatever it
 * holds, offered as a header of every answer (refused when it cannot be one). */
static int hook_begin(pt__http_request *req, pt__http_response *res, void *arg)
{
    lookups_agree(req);
    size_t len;
    const char *id = pt__http_request_header(req, "x-request-id", &len);
    char v[256];
    if (id && len < sizeof v) {
        memcpy(v, id, len);
        v[len] = '\0';
        pt__http_response_sticky_header(res, "X-Request-Id", v);
    }
    return 0;
}

static void hook_end(pt__http_request *req, pt__http_response *res, int status, size_t out,
                     void *arg)
{
    require(status >= 200 && status <= 599, "a final status reaches the end hook");
    if (req->method_name) /* dispatched: the hashes kept from the begin hook serve again */
        lookups_agree(req);
}

/* ---- one exchange ---------------------------------------------------------------------------- */

static uv_loop_t loop;
static pt__router *router;
static pt__http_route r_now = {now, NULL}, r_late = {late, &loop}, r_echo = {echo, NULL},
                      r_stream = {stream, NULL};
static const pt__http_hooks hooks = {.begin = hook_begin, .end = hook_end};

typedef struct {
    const uint8_t *data;
    size_t size, sent;
    unsigned max_chunk;
    uint32_t seed;
    pt__http_server *server;
    uv_tcp_t client;
    uv_connect_t connect;
    uv_write_t write;
    uv_shutdown_t shutdown;
    uv_timer_t pace; /* one chunk per loop iteration */
    uv_timer_t guard; /* BOUND_MS */
    int client_closed, server_closed, timed_out;
    char head[9]; /* the first bytes the server sent */
    size_t head_len;
    char read_buf[4096];
} exchange;

static void on_server_closed(pt__http_server *s, void *arg)
{
    ((exchange *)arg)->server_closed = 1;
}

/* Ends the exchange: the client's handles close, then the server. */
static void finish(exchange *x)
{
    if (x->client_closed)
        return;
    x->client_closed = 1;
    uv_close((uv_handle_t *)&x->client, NULL);
    uv_close((uv_handle_t *)&x->pace, NULL);
    uv_close((uv_handle_t *)&x->guard, NULL);
    pt__http_server_close(x->server, on_server_closed, x);
}

static void on_guard(uv_timer_t *t)
{
    exchange *x = t->data;
    x->timed_out = 1;
    finish(x);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    exchange *x = h->data;
    *buf = uv_buf_init(x->read_buf, sizeof x->read_buf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    exchange *x = st->data;
    if (nread < 0) {
        finish(x); /* the server closed: the exchange is over */
        return;
    }
    size_t n = (size_t)nread;
    if (x->head_len < sizeof x->head) {
        size_t take = sizeof x->head - x->head_len < n ? sizeof x->head - x->head_len : n;
        memcpy(x->head + x->head_len, buf->base, take);
        x->head_len += take;
        require(memcmp(x->head, "HTTP/1.1 ", x->head_len) == 0, "response starts HTTP/1.1");
    }
}

static void send_next(exchange *x);

static void on_shutdown(uv_shutdown_t *sh, int status)
{
}

static void on_paced(uv_timer_t *t)
{
    send_next(t->data);
}

static void on_written(uv_write_t *w, int status)
{
    exchange *x = w->data;
    if (status < 0 || x->client_closed)
        return; /* the server closed first: on_read ends the exchange */
    uv_timer_start(&x->pace, on_paced, 0, 0);
}

static void send_next(exchange *x)
{
    if (x->client_closed)
        return;
    if (x->sent == x->size) {
        x->shutdown.data = x;
        if (uv_shutdown(&x->shutdown, (uv_stream_t *)&x->client, on_shutdown) < 0)
            finish(x);
        return;
    }
    size_t n = x->size - x->sent;
    if (x->max_chunk) {
        x->seed = x->seed * 1103515245u + 12345u;
        size_t chunk = 1 + (x->seed >> 16) % x->max_chunk;
        if (chunk < n)
            n = chunk;
    }
    uv_buf_t buf = uv_buf_init((char *)x->data + x->sent, (unsigned)n);
    x->sent += n;
    x->write.data = x;
    if (uv_write(&x->write, (uv_stream_t *)&x->client, &buf, 1, on_written) < 0)
        finish(x);
}

static void on_connect(uv_connect_t *c, int status)
{
    exchange *x = c->data;
    require(status == 0, "connect to the server");
    if (x->client_closed)
        return;
    require(uv_read_start((uv_stream_t *)&x->client, on_alloc, on_read) == 0, "read start");
    send_next(x);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    signal(SIGPIPE, SIG_IGN);
    require(uv_loop_init(&loop) == 0, "uv_loop_init");
    router = pt__router_new();
    require(router != NULL, "router");
    require(pt__router_add(router, "GET", "/now", &r_now, NULL, 0) == 0, "route /now");
    require(pt__router_add(router, "GET", "/late", &r_late, NULL, 0) == 0, "route /late");
    require(pt__router_add(router, "POST", "/echo", &r_echo, NULL, 0) == 0, "route /echo");
    require(pt__router_add(router, "GET", "/stream", &r_stream, NULL, 0) == 0, "route /stream");
    pt__router_freeze(router);
    require(pt__http_header_set_init(&lookup_set, lookup_names, NLOOKUP) == 0, "header set");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static exchange x;
    memset(&x, 0, sizeof x);
    x.max_chunk = size > 0 ? data[0] : 0;
    x.seed = size > 1 ? data[1] : 0;
    x.data = size > 2 ? data + 2 : data;
    x.size = size > 2 ? size - 2 : 0;
    /* Short limits, so an exchange never waits on a default: the guard catches a hang. */
    pt__http_limits lim = {.max_header_bytes = 1024,
                           .max_body_bytes = 4096,
                           .header_timeout_ms = 500,
                           .body_timeout_ms = 500,
                           .idle_timeout_ms = 500,
                           .handler_timeout_ms = 500};
    require(pt__http_server_new(&loop, router, &lim, &x.server) == 0, "server");
    require(pt__http_server_set_hooks(x.server, &hooks) == 0, "hooks");
    /* The same port for every input (libuv binds with SO_REUSEADDR): port 0 each time would
     * use up the ephemeral ports while old connections sit in TIME_WAIT. */
    static int port;
    require(pt__http_server_listen(x.server, "127.0.0.1", port) == 0, "listen");
    if (!port)
        port = pt__http_server_port(x.server);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    uv_tcp_init(&loop, &x.client);
    uv_timer_init(&loop, &x.pace);
    uv_timer_init(&loop, &x.guard);
    x.client.data = x.pace.data = x.guard.data = x.connect.data = &x;
    uv_timer_start(&x.guard, on_guard, BOUND_MS, 0);
    require(uv_tcp_connect(&x.connect, &x.client, (const struct sockaddr *)&addr, on_connect) == 0,
            "connect");
    uv_run(&loop, UV_RUN_DEFAULT); /* until every handle, the server's included, is closed */
    require(x.server_closed, "the server closed");
    require(!x.timed_out, "the exchange ended within the bound");
    return 0;
}
