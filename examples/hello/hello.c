/* hello: the demo service that `make run` starts, on 127.0.0.1:8080.
 *
 *     curl -i localhost:8080/hello              # the plain route
 *     curl -i localhost:8080/hello/ada          # a route parameter
 *     curl -i localhost:8080/quote              # waits on a slow fake dependency, asynchronously
 *     curl -i localhost:8080/status/503         # answers with the status asked for
 *     curl -i -d 'some text' localhost:8080/echo
 *     curl -N localhost:8080/ticks              # a streamed response, a line every 100 ms
 *     curl -i localhost:8080/health             # the dependency's health check
 *
 * Everything else comes from potter without code here: the access log (stderr and
 * var/log/hello.log), request ids (send X-Request-Id, or one is made), metrics (statsd on
 * 127.0.0.1:8125), limits, graceful shutdown on SIGTERM or Ctrl-C, SIGHUP to reload the
 * configuration and reopen the log. Settings: examples/hello/config/ (common.json, then
 * development.json or production.json), flags (--hello.name=you, --http.port=9090), and
 * runtime overrides; `hello --help` lists them, `hello --print-config` shows where each came
 * from. The fake dependency goes down with --hello.dep_down=true (then /quote answers 502 and
 * /health 503). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include <potter.h>

static const pt_config_key keys[] = {
    {"hello.name", PT_CONFIG_STRING, "world", "who /hello greets", NULL, 0},
    {"hello.dep_latency", PT_CONFIG_DURATION, "200ms", "how long the fake dependency takes",
     "0s..1m", 0},
    {"hello.dep_down", PT_CONFIG_BOOL, "false", "the fake dependency fails", NULL, 0},
};

typedef struct {
    pt_config *cfg;
    pt_config_str *name;
    pt_config_duration *latency;
    pt_config_bool *down;
    pt_counter *quotes;
} hello_app;

/* GET /hello: the plain route the benchmark measures. */
static void hello(pt_http_req *req, void *arg)
{
    hello_app *h = arg;
    char body[256] = "hello, ";
    size_t n = 7;
    /* A view: the name stays valid while the configuration changes under it. */
    const pt_config_view *v = pt_config_view_begin(h->cfg);
    const char *name = pt_config_view_str(v, h->name);
    size_t len = strlen(name);
    if (len > sizeof body - n - 1)
        len = sizeof body - n - 1;
    memcpy(body + n, name, len);
    pt_config_view_end(v);
    n += len;
    body[n++] = '\n';
    pt_http_header_set(req, "Content-Type", "text/plain");
    pt_http_respond(req, 200, body, n);
}

/* GET /hello/:name */
static void hello_name(pt_http_req *req, void *arg)
{
    size_t len;
    const char *name = pt_http_param(req, "name", &len);
    char body[256];
    int n = snprintf(body, sizeof body, "hello, %.*s\n", (int)(len > 200 ? 200 : len), name);
    (void)arg;
    PT_DEBUG(pt_http_log(req), "greeting someone", PT_STRN("who", name, len));
    pt_http_header_set(req, "Content-Type", "text/plain");
    pt_http_respond(req, 200, body, (size_t)n);
}

/* GET /quote: the answer waits for the fake dependency, a timer on the worker's loop (as a
 * real client library's callback would come); the loop serves other requests meanwhile. */
typedef struct {
    uv_timer_t timer;
    pt_http_req *req;
    hello_app *h;
} quote_call;

static void quote_free(uv_handle_t *t)
{
    free(t->data);
}

static void quote_done(uv_timer_t *t)
{
    quote_call *q = t->data;
    if (pt_config_bool_get(q->h->down)) {
        PT_WARN(pt_http_log(q->req), "dependency failed", PT_STR("dep", "quotes"));
        pt_http_respond(q->req, 502, "the quote service is down\n", 26);
    } else {
        static const char quote[] = "\"Simplicity is prerequisite for reliability.\" (Dijkstra)\n";
        pt_counter_inc(q->h->quotes);
        pt_http_header_set(q->req, "Content-Type", "text/plain");
        pt_http_respond(q->req, 200, quote, sizeof quote - 1);
    }
    uv_close((uv_handle_t *)t, quote_free);
}

static void quote(pt_http_req *req, void *arg)
{
    quote_call *q = malloc(sizeof *q);
    if (!q) {
        pt_http_respond(req, 503, "out of memory\n", 14);
        return;
    }
    q->req = req;
    q->h = arg;
    q->timer.data = q;
    uv_timer_init(pt_http_loop(req), &q->timer);
    int64_t ns = pt_config_duration_get(q->h->latency);
    uv_timer_start(&q->timer, quote_done, (uint64_t)(ns / 1000000), 0);
}

/* GET /ticks: a streamed response, five lines 100 ms apart (curl -N shows them arrive). */
typedef struct {
    uv_timer_t timer;
    pt_http_req *req;
    int left;
} ticks_call;

static void ticks_next(uv_timer_t *t)
{
    ticks_call *k = t->data;
    char line[32];
    int n = snprintf(line, sizeof line, "tick %d\n", 5 - k->left + 1);
    if (pt_http_stream_write(k->req, line, (size_t)n) < 0 || --k->left == 0) {
        pt_http_stream_end(k->req); /* the client left, or all was sent */
        uv_close((uv_handle_t *)t, quote_free);
    }
}

static void ticks(pt_http_req *req, void *arg)
{
    ticks_call *k = malloc(sizeof *k);
    (void)arg;
    if (!k) {
        pt_http_respond(req, 503, "out of memory\n", 14);
        return;
    }
    pt_http_header_set(req, "Content-Type", "text/plain");
    if (pt_http_stream_begin(req, 200) < 0) {
        free(k);
        return;
    }
    k->req = req;
    k->left = 5;
    k->timer.data = k;
    uv_timer_init(pt_http_loop(req), &k->timer);
    uv_timer_start(&k->timer, ticks_next, 0, 100);
}

/* GET /status/:code: answers with that status (errors on demand, to see them counted). */
static void status(pt_http_req *req, void *arg)
{
    size_t len;
    const char *p = pt_http_param(req, "code", &len);
    int code = 0;
    (void)arg;
    for (size_t i = 0; i < len && i < 4 && p[i] >= '0' && p[i] <= '9'; i++)
        code = code * 10 + (p[i] - '0');
    if (len != 3 || code < 200 || code > 599) {
        pt_http_respond(req, 400, "expected a status code 200..599\n", 32);
        return;
    }
    char body[64];
    int n = snprintf(body, sizeof body, "status %d, as asked\n", code);
    pt_http_respond(req, code, body, (size_t)n);
}

/* POST /echo */
static void echo(pt_http_req *req, void *arg)
{
    size_t len;
    const char *body = pt_http_body(req, &len);
    (void)arg;
    pt_http_respond(req, 200, body, len);
}

/* The dependency's health check, on pt-work (it may block). */
static void check_quotes(pt_health_probe *probe, void *arg)
{
    hello_app *h = arg;
    struct timespec ts = {0, 5 * 1000000}; /* a ping */
    nanosleep(&ts, NULL);
    if (pt_config_bool_get(h->down))
        pt_health_probe_done(probe, 0, "the quote service does not answer");
    else
        pt_health_probe_done(probe, 1, NULL);
}

int main(int argc, char **argv)
{
    pt_app_options opts = {.version = "0.2.0", .keys = keys, .nkeys = 3};
    pt_app *app = pt_app_new("hello", argc, argv, &opts);
    hello_app h = {.cfg = pt_app_config(app)};
    h.name = PT_CONFIG_STR(h.cfg, "hello.name");
    h.latency = PT_CONFIG_DURATION(h.cfg, "hello.dep_latency");
    h.down = PT_CONFIG_BOOL(h.cfg, "hello.dep_down");
    h.quotes = pt_stats_counter(pt_app_stats(app), "hello.quotes", NULL);

    pt_http *http = pt_app_http(app);
    pt_http_route(http, "GET", "/hello", hello, &h);
    pt_http_route(http, "GET", "/hello/:name", hello_name, &h);
    pt_http_route(http, "GET", "/quote", quote, &h);
    pt_http_route(http, "GET", "/status/:code", status, &h);
    pt_http_route(http, "POST", "/echo", echo, &h);
    pt_http_route(http, "GET", "/ticks", ticks, &h);
    pt_health_add(pt_app_health(app), "quotes", check_quotes, &h, PT_HEALTH_CRITICAL);
    return pt_app_run(app);
}
