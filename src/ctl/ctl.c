/* The control port's server (potter/ctl.h): the http part's server core on pt-ops's loop, the
 * checks every request passes before its endpoint runs, and the replies. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/clock_internal.h"
#include "core/ops_internal.h"
#include "ctl/ctl_internal.h"

/* ---- the checks ---------------------------------------------------------------------------- */

/* `{"error":"<msg>"` into b, for the caller to close (or add to). */
static void put_error(struct pt__buf *b, const char *msg)
{
    pt__buf_put(b, "{\"error\":", 9);
    pt__json_str(b, msg, strlen(msg), 0);
}

/* Answers b's JSON (and frees it) on the loop's thread: the checks' own answers. */
static int answer_buf(pt__http_response *res, int status, struct pt__buf *b)
{
    pt__http_response_header(res, "Content-Type", "application/json");
    pt__http_respond(res, status, b->p ? b->p : "", b->p ? b->len : 0);
    free(b->p);
    return 1;
}

static int answer(pt__http_response *res, int status, const char *msg)
{
    struct pt__buf b = {0};
    put_error(&b, msg);
    pt__buf_put(&b, "}\n", 2);
    return answer_buf(res, status, &b);
}

/* Constant time in the token's length, so the answer's timing says nothing of how much of a
 * guess was right. */
static int same_secret(const char *a, size_t an, const char *b)
{
    size_t bn = strlen(b);
    unsigned char d = an != bn;
    for (size_t i = 0; i < bn; i++)
        d |= (unsigned char)(i < an ? a[i] : 0) ^ (unsigned char)b[i];
    return d == 0;
}

/* Host names a loopback address or the address we were told to bind (with our port, or
 * none). A page on another site that resolved its name to 127.0.0.1 (DNS rebinding) sends its
 * own name here. */
static int host_ok(const pt_ctl *ctl, const char *host, size_t n)
{
    static const char *const local[] = {"127.0.0.1", "localhost", "[::1]"};
    size_t name_len = n;
    const char *colon = memrchr(host, ':', n);
    if (colon && (host[0] != '[' || colon > (const char *)memchr(host, ']', n))) {
        char port[8];
        size_t pn = n - (size_t)(colon - host) - 1;
        if (pn == 0 || pn >= sizeof port)
            return 0;
        memcpy(port, colon + 1, pn);
        port[pn] = '\0';
        if (atoi(port) != ctl->port)
            return 0;
        name_len = (size_t)(colon - host);
    }
    for (size_t i = 0; i < sizeof local / sizeof *local; i++)
        if (strlen(local[i]) == name_len && strncasecmp(host, local[i], name_len) == 0)
            return 1;
    const char *bound = ctl->opts.host;
    return bound && strlen(bound) == name_len && strncasecmp(host, bound, name_len) == 0;
}

/* A token bucket: rate per second, bursts of twice that. On pt-ops only. */
static int rate_ok(pt_ctl *ctl)
{
    double rate = ctl->opts.rate ? ctl->opts.rate : 50;
    uint64_t now = pt_clock_mono_ns();
    ctl->tokens += (double)(now - ctl->tokens_ns) / 1e9 * rate;
    if (ctl->tokens > 2 * rate)
        ctl->tokens = 2 * rate;
    ctl->tokens_ns = now;
    if (ctl->tokens < 1)
        return 0;
    ctl->tokens -= 1;
    return 1;
}

/* The endpoints as a JSON array, for 404s and GET /. */
void pt__ctl_put_endpoints(const pt_ctl *ctl, struct pt__buf *b)
{
    pt__buf_putc(b, '[');
    for (unsigned i = 0; i < ctl->nendpoints; i++) {
        const pt__ctl_endpoint *e = &ctl->endpoints[i];
        if (i)
            pt__buf_putc(b, ',');
        pt__buf_put(b, "{\"method\":", 10);
        pt__ctl_json_str(b, e->method);
        pt__buf_put(b, ",\"path\":", 8);
        pt__ctl_json_str(b, e->path);
        pt__buf_put(b, ",\"about\":", 9);
        pt__ctl_json_str(b, e->about);
        pt__buf_putc(b, '}');
    }
    pt__buf_putc(b, ']');
}

static int not_found(pt_ctl *ctl, pt__http_request *req, pt__http_response *res)
{
    struct pt__buf b = {0};
    char msg[300];
    snprintf(msg, sizeof msg, "no endpoint %.*s; GET / lists them",
             (int)(req->path_len > 200 ? 200 : req->path_len), req->path);
    put_error(&b, msg);
    pt__buf_put(&b, ",\"endpoints\":", 13);
    pt__ctl_put_endpoints(ctl, &b);
    pt__buf_put(&b, "}\n", 2);
    return answer_buf(res, 404, &b);
}

/* The server core's begin hook: every request passes here after routing, before its
 * endpoint. Returns nonzero when it answered (refused) the request itself. */
static int on_begin(pt__http_request *req, pt__http_response *res, void *arg)
{
    pt_ctl *ctl = arg;
    pt_ctl_req *r = pt__http_response_ext(res);
    r->ctl = ctl;
    r->core = req;
    r->res = res;
    atomic_store(&r->replied, 0);
    if (req->peer_uid >= 0 && (uid_t)req->peer_uid != geteuid() && req->peer_uid != 0)
        return answer(res, 403, "the control socket answers the service's own user and root only");
    if (!rate_ok(ctl)) {
        pt__http_response_header(res, "Retry-After", "1");
        return answer(res, 429, "too many requests: the control port's rate limit (ctl.rate)");
    }
    size_t n;
    const char *host = pt__http_request_header(req, "Host", &n);
    if (req->peer_uid < 0 && host && !host_ok(ctl, host, n))
        return answer(res, 403, "the Host header must name the control port's local address "
                                "(127.0.0.1, localhost, [::1])");
    if (ctl->opts.token && ctl->opts.token[0]) {
        const char *auth = pt__http_request_header(req, "Authorization", &n);
        if (!auth || n < 7 || strncasecmp(auth, "Bearer ", 7) != 0 ||
            !same_secret(auth + 7, n - 7, ctl->opts.token)) {
            pt__http_response_header(res, "WWW-Authenticate", "Bearer realm=\"potter ctl\"");
            return answer(res, 401, "this control port needs `Authorization: Bearer <ctl.token>`");
        }
    }
    if (req->method == PT__ROUTER_POST) {
        const char *h = pt__http_request_header(req, PT_CTL_MUTATION_HEADER, &n);
        if (!h || n == 0)
            return answer(res, 403, "a POST to the control port needs the header "
                                    PT_CTL_MUTATION_HEADER " (potter ctl sends it; curl -H '"
                                    PT_CTL_MUTATION_HEADER ": 1')");
    }
    if (req->handler == NULL) {
        pt__router_match m;
        if (pt__router_find(ctl->router, req->method, req->path, req->path_len, &m) ==
            PT__ROUTE_NOT_FOUND)
            return not_found(ctl, req, res);
    }
    return 0;
}

static void dispatch(pt__http_request *req, pt__http_response *res, void *arg)
{
    (void)req;
    pt__ctl_endpoint *e = arg;
    e->fn(pt__http_response_ext(res), e->arg);
}

/* ---- the object ---------------------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int pt_ctl_new(const pt_ctl_options *opts, pt_ctl **out)
{
    if (!opts || !opts->name || !opts->name[0] || strchr(opts->name, '/') ||
        opts->name[0] == '.' || opts->port < 0 || opts->port > 65535)
        return -EINVAL;
    pt_ctl *ctl = calloc(1, sizeof *ctl);
    if (!ctl)
        return -ENOMEM;
    ctl->opts = *opts;
    ctl->opts.name = strdup(opts->name);
    ctl->opts.version = dup_or_null(opts->version);
    ctl->opts.commit = dup_or_null(opts->commit);
    ctl->opts.host = strdup(opts->host ? opts->host : "127.0.0.1");
    ctl->opts.socket = dup_or_null(opts->socket);
    ctl->opts.runtime_dir = dup_or_null(opts->runtime_dir);
    ctl->opts.token = dup_or_null(opts->token);
    ctl->log = opts->log ? opts->log : pt_log_default();
    ctl->port = -1;
    ctl->router = pt__router_new();
    if (!ctl->opts.name || !ctl->opts.host || !ctl->router ||
        (opts->version && !ctl->opts.version) || (opts->commit && !ctl->opts.commit) ||
        (opts->socket && !ctl->opts.socket) || (opts->runtime_dir && !ctl->opts.runtime_dir) ||
        (opts->token && !ctl->opts.token) || pt__ctl_add_builtins(ctl) < 0) {
        pt_ctl_free(ctl);
        return -ENOMEM;
    }
    *out = ctl;
    return 0;
}

int pt_ctl_handle(pt_ctl *ctl, const char *method, const char *path, pt_ctl_fn fn, void *arg,
                  const char *about)
{
    if (!ctl || !method || !path || !fn || (strcmp(method, "GET") && strcmp(method, "POST")))
        return -EINVAL;
    if (ctl->started)
        return -EBUSY;
    if (ctl->nendpoints == PT__CTL_MAX_ENDPOINTS)
        return -ENOMEM;
    pt__ctl_endpoint *e = &ctl->endpoints[ctl->nendpoints];
    e->method = strdup(method);
    e->path = strdup(path);
    e->about = strdup(about ? about : "");
    e->fn = fn;
    e->arg = arg;
    e->route.fn = dispatch;
    e->route.arg = e;
    int err = !e->method || !e->path || !e->about ? -ENOMEM
              : pt__router_add(ctl->router, method, path, &e->route, NULL, 0);
    if (err < 0) {
        free(e->method);
        free(e->path);
        free(e->about);
        memset(e, 0, sizeof *e);
        return err;
    }
    ctl->nendpoints++;
    return 0;
}

/* ---- starting and stopping, on pt-ops ------------------------------------------------------- */

struct start_call {
    pt_ctl *ctl;
    int err;
};

/* A server on pt-ops's loop; NULL and ctl->error filled in on failure. */
static pt__http_server *make_server(pt_ctl *ctl, int *err)
{
    pt__http_limits limits = {
        .max_header_bytes = 8192,
        .max_body_bytes = ctl->opts.max_body ? ctl->opts.max_body : 64 * 1024,
        .max_connections = 64,
        .header_timeout_ms = 5000,
        .body_timeout_ms = 10000,
        .idle_timeout_ms = 30000,
        .handler_timeout_ms = 330000, /* a CPU profile may run 300 s */
    };
    pt__http_hooks hooks = {.begin = on_begin, .arg = ctl, .ext_size = sizeof(pt_ctl_req)};
    pt__http_server *s;
    *err = pt__http_server_new(pt_ops_loop(), ctl->router, &limits, &s);
    if (*err < 0) {
        snprintf(ctl->error, sizeof ctl->error, "control port: %s", pt_strerror(*err));
        return NULL;
    }
    pt__http_server_set_hooks(s, &hooks);
    ctl->nservers++;
    return s;
}

static void start_on_ops(void *arg)
{
    struct start_call *sc = arg;
    pt_ctl *ctl = sc->ctl;
    int err;
    if (ctl->opts.host[0]) {
        if (!(ctl->servers[0] = make_server(ctl, &sc->err)))
            return;
        err = pt__http_server_listen(ctl->servers[0], ctl->opts.host, ctl->opts.port);
        if (err < 0) {
            snprintf(ctl->error, sizeof ctl->error,
                     "control port: cannot listen on %.200s:%d (ctl.host, ctl.port): %s",
                     ctl->opts.host, ctl->opts.port, pt_strerror(err));
            sc->err = err;
            return;
        }
        ctl->port = pt__http_server_port(ctl->servers[0]);
        snprintf(ctl->host_port, sizeof ctl->host_port,
                 strchr(ctl->opts.host, ':') ? "[%s]:%d" : "%s:%d", ctl->opts.host, ctl->port);
    }
    if (ctl->socket_path[0]) {
        if (!(ctl->servers[1] = make_server(ctl, &sc->err)))
            return;
        err = pt__http_server_listen_unix(ctl->servers[1], ctl->socket_path);
        if (err < 0) {
            snprintf(ctl->error, sizeof ctl->error,
                     "control port: cannot listen on the unix socket %.200s (ctl.socket): %s",
                     ctl->socket_path, pt_strerror(err));
            ctl->socket_path[0] = '\0';
            sc->err = err;
        }
    }
}

static void on_closed(pt__http_server *s, void *arg)
{
    pt_ctl *ctl = arg;
    for (int i = 0; i < 2; i++) /* freed now: abort_on_ops() must not reach it */
        if (ctl->servers[i] == s)
            ctl->servers[i] = NULL;
    atomic_fetch_add(&ctl->closed, 1);
}

static void close_on_ops(void *arg)
{
    pt_ctl *ctl = arg;
    pt__ctl_debug_stop(ctl);
    for (int i = 0; i < 2; i++)
        if (ctl->servers[i])
            pt__http_server_close(ctl->servers[i], on_closed, ctl);
}

static void abort_on_ops(void *arg)
{
    pt_ctl *ctl = arg;
    if (atomic_load(&ctl->closed) == ctl->nservers)
        return;
    for (int i = 0; i < 2; i++)
        if (ctl->servers[i])
            pt__http_server_abort(ctl->servers[i]);
}

static int wait_closed(pt_ctl *ctl, unsigned ms)
{
    for (unsigned i = 0; i < ms / 5 && atomic_load(&ctl->closed) < ctl->nservers; i++)
        usleep(5000);
    return atomic_load(&ctl->closed) == ctl->nservers;
}

/* Closes the servers: gracefully for 2 s, then cutting what is left. Returns 1 once they are
 * closed (0: pt-ops did not get to it; the servers and the router must then be left alone). */
static int stop_server(pt_ctl *ctl)
{
    if (!ctl->nservers)
        return 1;
    if (pt__ops_call(close_on_ops, ctl, 2000) < 0)
        return 0;
    if (wait_closed(ctl, 2000))
        return 1;
    if (pt__ops_call(abort_on_ops, ctl, 1000) < 0)
        return 0;
    return wait_closed(ctl, 1000);
}

static int is_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
           strcmp(host, "localhost") == 0;
}

int pt_ctl_start(pt_ctl *ctl)
{
    if (!ctl)
        return -EINVAL;
    if (ctl->started)
        return -EBUSY;
    ctl->error[0] = '\0';
    char dir[4096];
    int err = 0;
    if (ctl->opts.runtime_dir)
        snprintf(dir, sizeof dir, "%s", ctl->opts.runtime_dir);
    else if ((err = pt_ctl_runtime_dir(dir, sizeof dir)) < 0)
        snprintf(ctl->error, sizeof ctl->error, "control port: the runtime folder's path is "
                 "too long ($POTTER_RUNTIME_DIR or $XDG_RUNTIME_DIR)");
    if (err == 0)
        err = pt__ctl_runtime_dir_ready(ctl, dir);
    if (err == 0 && ctl->opts.socket == NULL) {
        int n = snprintf(ctl->socket_path, sizeof ctl->socket_path, "%s/%s.%d.sock", dir,
                         ctl->opts.name, (int)getpid());
        if (n < 0 || (size_t)n >= sizeof ctl->socket_path) {
            /* A long folder or name: the socket is left out, TCP and the discovery file stay. */
            ctl->socket_path[0] = '\0';
            PT_WARN(ctl->log, "control port: no unix socket, its path would pass 107 bytes",
                    PT_STR("dir", dir), PT_STR("name", ctl->opts.name));
        }
    } else if (err == 0 && ctl->opts.socket[0]) {
        if (strlen(ctl->opts.socket) >= sizeof ctl->socket_path) {
            snprintf(ctl->error, sizeof ctl->error,
                     "control port: ctl.socket \"%.400s\" is longer than a unix socket path may "
                     "be (107 bytes)", ctl->opts.socket);
            err = -ENAMETOOLONG;
        } else {
            snprintf(ctl->socket_path, sizeof ctl->socket_path, "%s", ctl->opts.socket);
        }
    }
    if (err == 0 && !ctl->opts.host[0] && !ctl->socket_path[0]) {
        snprintf(ctl->error, sizeof ctl->error,
                 "control port: neither a TCP address (ctl.host) nor a unix socket (ctl.socket)");
        err = -EINVAL;
    }
    if (err < 0)
        return err;
    pt__router_freeze(ctl->router);
    ctl->start_wall_ns = pt_clock_wall_ns();
    ctl->start_mono_ns = pt_clock_mono_ns();
    ctl->tokens = 2.0 * (ctl->opts.rate ? ctl->opts.rate : 50);
    ctl->tokens_ns = ctl->start_mono_ns;
    struct start_call sc = {ctl, 0};
    err = pt__ops_call(start_on_ops, &sc, 5000);
    if (err < 0) {
        snprintf(ctl->error, sizeof ctl->error, "control port: pt-ops did not start it: %s",
                 pt_strerror(err));
        return err;
    }
    ctl->started = 1;
    if (sc.err < 0) {
        if (!stop_server(ctl))
            return sc.err; /* pt-ops is stuck: pt_ctl_free() leaves the rest alone */
        ctl->nservers = 0;
        atomic_store(&ctl->closed, 0);
        ctl->started = 0;
        ctl->port = -1;
        return sc.err;
    }
    if ((err = pt__ctl_discovery_write(ctl, dir)) < 0)
        PT_WARN(ctl->log, "control port: no discovery file", PT_STR("error", ctl->error));
    if (ctl->opts.host[0]) {
        char where[300];
        snprintf(where, sizeof where, "control port listening on %s", ctl->host_port);
        pt_field f[] = {{"socket", PT_FIELD_STR, pt__v_str(ctl->socket_path)}};
        pt_log_emit(ctl->log, PT_LOG_INFO, where, f, ctl->socket_path[0] ? 1 : 0);
        if (!is_loopback(ctl->opts.host))
            PT_WARN(ctl->log, "control port: listening on a non-loopback address; anyone who "
                              "reaches it can read the service's state (set ctl.token, or "
                              "ctl.host=127.0.0.1)",
                    PT_STR("host", ctl->opts.host), PT_INT("port", ctl->port));
    } else {
        pt_field f[] = {{"socket", PT_FIELD_STR, pt__v_str(ctl->socket_path)}};
        pt_log_emit(ctl->log, PT_LOG_INFO, "control port listening on its unix socket", f, 1);
    }
    return 0;
}

const char *pt_ctl_error(const pt_ctl *ctl)
{
    return ctl ? ctl->error : "";
}

void pt_ctl_free(pt_ctl *ctl)
{
    if (!ctl)
        return;
    int closed = 1;
    if (ctl->started) {
        closed = stop_server(ctl);
        pt__ctl_discovery_remove(ctl);
        if (ctl->socket_path[0])
            unlink(ctl->socket_path);
    }
    if (!closed)
        return; /* pt-ops is stuck or gone: leave what it may still touch */
    pt__router_free(ctl->router);
    for (unsigned i = 0; i < ctl->nendpoints; i++) {
        free(ctl->endpoints[i].method);
        free(ctl->endpoints[i].path);
        free(ctl->endpoints[i].about);
    }
    free((char *)ctl->opts.name);
    free((char *)ctl->opts.version);
    free((char *)ctl->opts.commit);
    free((char *)ctl->opts.host);
    free((char *)ctl->opts.socket);
    free((char *)ctl->opts.runtime_dir);
    free((char *)ctl->opts.token);
    free(ctl);
}

int pt_ctl_port(const pt_ctl *ctl)
{
    return ctl && ctl->port >= 0 ? ctl->port : -ENOENT;
}

const char *pt_ctl_socket(const pt_ctl *ctl)
{
    return ctl ? ctl->socket_path : "";
}

const char *pt_ctl_discovery_file(const pt_ctl *ctl)
{
    return ctl ? ctl->discovery : "";
}

/* ---- requests ------------------------------------------------------------------------------ */

const char *pt_ctl_req_method(const pt_ctl_req *req)
{
    return req->core->method_name;
}

const char *pt_ctl_req_path(const pt_ctl_req *req, size_t *len)
{
    *len = req->core->path_len;
    return req->core->path;
}

const char *pt_ctl_req_body(const pt_ctl_req *req, size_t *len)
{
    *len = req->core->body_len;
    return req->core->body;
}

pt_ctl *pt_ctl_req_ctl(const pt_ctl_req *req)
{
    return req->ctl;
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* s[0..n) percent-decoded ('+' as a space) into buf; NULL when it does not fit. */
static const char *decode(const char *s, size_t n, char *buf, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < n && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            c = (char)(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        }
        if (o + 1 >= len)
            return NULL;
        buf[o++] = c;
    }
    buf[o] = '\0';
    return buf;
}

const char *pt_ctl_req_param(const pt_ctl_req *req, const char *name, char *buf, size_t len)
{
    const pt__http_request *core = req->core;
    size_t nl = strlen(name);
    for (unsigned i = 0; i < core->nparams; i++)
        if (strcmp(core->params[i].name, name) == 0)
            return decode(core->params[i].value, core->params[i].value_len, buf, len);
    const char *q = core->query, *end = q ? q + core->query_len : NULL;
    while (q && q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(stop - q));
        const char *key_end = eq ? eq : stop;
        if ((size_t)(key_end - q) == nl && memcmp(q, name, nl) == 0)
            return eq ? decode(eq + 1, (size_t)(stop - eq - 1), buf, len)
                      : decode("", 0, buf, len);
        q = amp ? amp + 1 : NULL;
    }
    return NULL;
}

int pt_ctl_reply(pt_ctl_req *req, int status, const char *content_type, const void *body,
                 size_t len)
{
    if (status < 200 || status > 599)
        return -EINVAL;
    int no = 0;
    if (!atomic_compare_exchange_strong(&req->replied, &no, 1))
        return -EINVAL;
    pt__http_response *res = req->res;
    pt__http_response_header(res, "Content-Type", content_type ? content_type : "application/json");
    pt__http_response_header(res, "Cache-Control", "no-store");
    if (pt_ops_is_current())
        return pt__http_respond(res, status, body, len);
    return pt__http_respond_from_any_thread(res, status, body, len);
}

int pt_ctl_reply_error(pt_ctl_req *req, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct pt__buf b = {0};
    put_error(&b, msg);
    pt__buf_put(&b, "}\n", 2);
    return pt__ctl_reply_buf(req, status, &b);
}

int pt__ctl_reply_buf(pt_ctl_req *req, int status, struct pt__buf *b)
{
    int err;
    if (b->p == NULL) { /* out of memory on the way */
        static const char oom[] = "{\"error\":\"out of memory\"}\n";
        err = pt_ctl_reply(req, 500, NULL, oom, sizeof oom - 1);
    } else {
        err = pt_ctl_reply(req, status, NULL, b->p, b->len);
    }
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    return err;
}

void pt__ctl_json_str(struct pt__buf *b, const char *s)
{
    if (s)
        pt__json_str(b, s, strlen(s), 0);
    else
        pt__buf_put(b, "null", 4);
}
