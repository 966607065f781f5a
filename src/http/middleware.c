/* What every request passes through (potter/http.h): the request id, user middleware, the
 * metrics and the access log, through the server core's hooks; and the request and response
 * calls handlers use. All on the worker's loop thread, except the release of a request whose
 * connection closed before its late answer came (that runs where the answer was given). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "http/http_internal.h"
#include "core/number_internal.h"
#include "log/log_internal.h" /* pt__buf and pt__json_str for the access record */

/* ---- request ids -------------------------------------------------------------------------- */

/* A client's id is taken when it is 1..128 visible ASCII characters (it is echoed in a header
 * and logged, so nothing else is trusted). */
static int id_acceptable(const char *v, size_t n)
{
    if (n == 0 || n > PT__HTTP_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
            return 0;
    return 1;
}

/* Whether an acceptable id goes into JSON as it is (no '"' or '\\' to escape). */
static int id_plain(const char *v, size_t n)
{
    return !memchr(v, '"', n) && !memchr(v, '\\', n);
}

/* A random version 4 UUID, from a per-thread xorshift generator seeded by getrandom().
 * Returns its length (36). */
static size_t id_generate(char out[37])
{
    static _Thread_local uint64_t s[2];
    static const char hex[] = /* each byte's two digits */
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
        "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
        "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
        "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
        "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
    if (s[0] == 0 && s[1] == 0) {
        if (getrandom(s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s || (s[0] | s[1]) == 0) {
            s[0] = pt_clock_mono_ns() | 1;
            s[1] = (uint64_t)(uintptr_t)&s ^ 0x9e3779b97f4a7c15ull;
        }
    }
    unsigned char b[16];
    for (int half = 0; half < 2; half++) { /* xorshift128+ */
        uint64_t x = s[0], y = s[1];
        s[0] = y;
        x ^= x << 23;
        s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
        uint64_t r = s[1] + y;
        memcpy(b + half * 8, &r, 8);
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    /* 8-4-4-4-12 hex digits, each byte's two copied at once (unrolled: a loop with the
     * dashes' tests costs twice as much). */
#define HEX2(at, i) memcpy(out + (at), hex + 2 * b[i], 2)
    HEX2(0, 0), HEX2(2, 1), HEX2(4, 2), HEX2(6, 3), out[8] = '-';
    HEX2(9, 4), HEX2(11, 5), out[13] = '-';
    HEX2(14, 6), HEX2(16, 7), out[18] = '-';
    HEX2(19, 8), HEX2(21, 9), out[23] = '-';
    HEX2(24, 10), HEX2(26, 11), HEX2(28, 12), HEX2(30, 13), HEX2(32, 14), HEX2(34, 15);
#undef HEX2
    out[36] = '\0';
    return 36;
}

/* The id from the headers on_begin() looked up (their first two values), or a new one. */
static void request_id(pt_http_req *r)
{
    /* X-Request-Id wins over Request-Id, even when only the latter would be acceptable
     * (id_header_set and begin_header_set hold them first, in that order). */
    const char *const *v = r->header_values;
    const size_t *vn = r->header_value_lens;
    int which = v[0] ? 0 : 1;
    if (v[which] && id_acceptable(v[which], vn[which])) {
        memcpy(r->id, v[which], vn[which]);
        r->id[vn[which]] = '\0';
        r->id_len = vn[which];
        r->id_plain = id_plain(r->id, r->id_len);
    } else {
        r->id_len = id_generate(r->id);
        r->id_plain = 1;
    }
    /* the 503s too; the id holds visible ASCII only */
    pt__http_response_sticky_header_clean(r->res, "X-Request-Id", 12, r->id, r->id_len);
}

/* ---- metrics ---------------------------------------------------------------------------- */

typedef _Atomic(pt_counter *) counter_slot;

/* The handles count() needs, made on first use (out of line: once per route, class and
 * status). Two workers may race to make one: pt_stats_counter() gives both the same handle. */
static PT_COLD void make_handles(pt_http *h, counter_slot *slot, counter_slot *ss,
                                 _Atomic(pt_timer *) *ts, const char *route, const char *method,
                                 int cls, int status)
{
    pt_stats *st = h->opts.stats;
    char tags[300];
    if (atomic_load_explicit(slot, memory_order_acquire) == NULL) {
        snprintf(tags, sizeof tags, "route:%s,method:%s,status:%dxx", route, method, cls + 1);
        atomic_store_explicit(slot, pt_stats_counter(st, "http.requests", tags),
                              memory_order_release);
    }
    if (ss && atomic_load_explicit(ss, memory_order_acquire) == NULL) {
        snprintf(tags, sizeof tags, "status:%d", status);
        atomic_store_explicit(ss, pt_stats_counter(st, "http.responses", tags),
                              memory_order_release);
    }
    if (atomic_load_explicit(ts, memory_order_acquire) == NULL) {
        snprintf(tags, sizeof tags, "route:%s,method:%s", route, method);
        atomic_store_explicit(ts, pt_stats_timer(st, "http.request_time", tags),
                              memory_order_release);
    }
}

static void count(pt_http *h, pt__http_entry *e, int status, uint64_t ns, size_t in, size_t out)
{
    int cls = status / 100 - 1; /* 0..4 for 1xx..5xx */
    if (cls < 0 || cls > 4)
        cls = 4;
    counter_slot *slot = e ? &e->by_class[cls] : &h->m_unmatched[cls];
    counter_slot *ss = status >= 100 && status <= 599 ? &h->m_status[status - 100] : NULL;
    _Atomic(pt_timer *) *ts = e ? &e->time : &h->m_unmatched_time;
    pt_counter *requests = atomic_load_explicit(slot, memory_order_acquire);
    pt_counter *responses = ss ? atomic_load_explicit(ss, memory_order_acquire) : NULL;
    pt_timer *time = atomic_load_explicit(ts, memory_order_acquire);
    if (PT_UNLIKELY(requests == NULL || (ss && responses == NULL) || time == NULL)) {
        make_handles(h, slot, ss, ts, e ? e->pattern : "unmatched", e ? e->method : "any", cls,
                     status);
        requests = atomic_load_explicit(slot, memory_order_acquire);
        responses = ss ? atomic_load_explicit(ss, memory_order_acquire) : NULL;
        time = atomic_load_explicit(ts, memory_order_acquire);
    }
    pt_counter_inc(requests);
    if (responses)
        pt_counter_inc(responses);
    pt_timer_record_ns(time, (int64_t)ns);
    pt_counter_add(h->m_bytes_in, in);
    pt_counter_add(h->m_bytes_out, out);
}

/* ---- the access record -------------------------------------------------------------------- */

/* A string literal (its length known at compile time: this runs for every request). */
#define put(b, lit) pt__buf_put((b), "" lit "", sizeof(lit) - 1)

static void put_str(struct pt__buf *b, const char *s)
{
    pt__buf_put(b, s, strlen(s));
}

static void put_uint(struct pt__buf *b, uint64_t v)
{
    if (pt__buf_reserve(b, 20) == 0)
        b->len += pt__fmt_u64(b->p + b->len, v);
}

/* The allow-listed headers, as `"name":"value"` pairs in the list's order (a header the
 * request lacks is left out): as looked up when the request began, or looked up now (a request
 * refused before it began, or a list too long for that). A list longer than ON_STACK names
 * takes its values' room from the heap, and is left out without memory. */
static void access_headers(pt_http *h, const pt__http_request *core, const pt_http_req *r,
                           struct pt__buf *b)
{
    enum { ON_STACK = 64 };
    const char *on_stack[ON_STACK], **found = on_stack;
    size_t on_stack_lens[ON_STACK], *found_lens = on_stack_lens;
    const pt__http_header_set *set = &h->log_header_set;
    const char *const *v;
    const size_t *vn;
    if (r && h->headers_at_begin) {
        v = r->header_values + 2; /* after the request id's two */
        vn = r->header_value_lens + 2;
    } else {
        if (set->n > ON_STACK) {
            found = malloc(set->n * (sizeof *found + sizeof *found_lens));
            if (!found)
                return;
            found_lens = (size_t *)(found + set->n);
        }
        pt__http_request_headers_find(core, set, found, found_lens);
        v = found;
        vn = found_lens;
    }
    int first = 1;
    for (size_t k = 0; k < set->n; k++) {
        if (!v[k])
            continue;
        if (!first)
            pt__buf_putc(b, ',');
        first = 0;
        size_t at = h->log_header_key_at[k];
        pt__buf_put(b, h->log_header_keys.p + at, h->log_header_key_at[k + 1] - at);
        pt__json_str(b, v[k], vn[k] > 1024 ? 1024 : vn[k],
                     vn[k] > 1024 ? (uint32_t)(vn[k] - 1024) : 0);
    }
    if (found != on_stack)
        free(found);
}

/* `req` as bunyan's serializer shapes it: method, url, the allow-listed headers, the client's
 * address and port. What a request refused before routing lacks is left out. */
static void access_req(pt_http *h, const pt__http_request *core, const pt_http_req *r,
                       struct pt__buf *b)
{
    put(b, "{");
    const char *sep = "";
    if (core->method_name && core->path) {
        put(b, "\"method\":\""); /* llhttp's names: capitals and '-' */
        put_str(b, core->method_name);
        put(b, "\",\"url\":");
        size_t n = core->query ? (size_t)(core->query + core->query_len - core->path)
                               : core->path_len;
        pt__json_str(b, core->path, n, 0);
        put(b, ",\"headers\":{");
        access_headers(h, core, r, b);
        put(b, "}");
        sep = ",";
    }
    if (core->peer_host_len) {
        put_str(b, sep);
        put(b, "\"remoteAddress\":\"");
        pt__buf_put(b, core->peer_host, core->peer_host_len);
        put(b, "\",\"remotePort\":");
        pt__buf_put(b, core->peer_port_text, core->peer_port_text_len);
    }
    put(b, "}");
}

/* A status code: three digits, or more when it has them. */
static void put_status(struct pt__buf *b, int status)
{
    if (PT_LIKELY(status >= 100 && status <= 999 && pt__buf_reserve(b, 3) == 0)) {
        char *o = b->p + b->len;
        o[0] = (char)('0' + status / 100);
        o[1] = (char)('0' + status / 10 % 10);
        o[2] = (char)('0' + status % 10);
        b->len += 3;
    } else {
        put_uint(b, (uint64_t)(status < 0 ? 0 : status));
    }
}

/* The most bytes access_record() may write for this request: each string at its longest
 * escaped (6 bytes a byte, plus pt__json_str's room for the cut marker), header values cut
 * at 1024. Reserved at once, so that no put can fail halfway through a record. */
static size_t access_bound(const pt_http *h, const pt__http_request *core, const pt_http_req *r,
                           size_t route_len)
{
    size_t url = core->query ? (size_t)(core->query + core->query_len - core->path)
                             : core->path_len;
    return 512 + (r ? r->id_len * 6 : 0) + url * 6 + route_len * 6 + core->peer_host_len +
           h->log_header_keys.len + h->log_header_set.n * (1024 * 6 + 48) + 4 * 48;
}

/* Over pt__log_value_max(): each part as a field of its own, which the logger cuts. */
static PT_COLD void access_record_parts(pt_log *log, const pt_http_req *r, const char *req,
                                        size_t req_len, const char *res, size_t res_len,
                                        const char *route, uint64_t ns)
{
    if (r && r->id[0])
        PT_INFO(log, "request", PT_STRN("req_id", r->id, r->id_len),
                PT__JSON_BUILTN("req", req, req_len), PT__JSON_BUILTN("res", res, res_len),
                PT_STR("route", route), PT_DUR("latency_ms", (int64_t)ns));
    else
        PT_INFO(log, "request", PT__JSON_BUILTN("req", req, req_len),
                PT__JSON_BUILTN("res", res, res_len), PT_STR("route", route),
                PT_DUR("latency_ms", (int64_t)ns));
}

/* The access record: after msg, req_id (unless the request has none: refused before it got
 * one, or ids off), req and res as bunyan's serializers shape them, route and latency_ms. The
 * members are built here once and logged as one field (PT__FIELD_JSON_MEMBERS): the ring, the
 * decoding and the formatting then handle one value instead of five. */
static void access_record(pt__http_worker *w, const pt__http_request *core, const pt_http_req *r,
                          const pt__http_entry *e, int status, size_t out, uint64_t ns)
{
    pt_http *h = w->http;
    struct pt__buf *b = &w->access_buf;
    const char *route = core->route ? core->route : "unmatched"; /* as the metrics say */
    size_t route_len = e ? e->route_json_len : strlen(route);
    b->len = 0;
    if (pt__buf_reserve(b, access_bound(h, core, r, route_len)) != 0)
        return; /* out of memory */
    if (PT_LIKELY(r && r->id[0])) {
        put(b, "\"req_id\":");
        if (PT_LIKELY(r->id_plain)) {
            pt__buf_putc(b, '"');
            pt__buf_put(b, r->id, r->id_len);
            put(b, "\",");
        } else {
            pt__json_str(b, r->id, r->id_len, 0);
            put(b, ",");
        }
    }
    put(b, "\"req\":");
    size_t req_at = b->len;
    access_req(h, core, r, b);
    size_t req_len = b->len - req_at;
    put(b, ",\"res\":");
    size_t res_at = b->len;
    put(b, "{\"statusCode\":");
    put_status(b, status);
    put(b, ",\"bytes\":");
    put_uint(b, out);
    put(b, "}");
    size_t res_len = b->len - res_at;
    put(b, ",\"route\":");
    if (e)
        pt__buf_put(b, e->route_json, e->route_json_len);
    else
        pt__json_str(b, route, route_len, 0);
    put(b, ",\"latency_ms\":");
    pt__json_duration(b, (int64_t)ns);
    if (PT_LIKELY(b->len <= pt__log_value_max()))
        PT_INFO(h->opts.log, "request", PT__JSON_MEMBERSN("access", b->p, b->len));
    else
        access_record_parts(h->opts.log, r, b->p + req_at, req_len, b->p + res_at, res_len,
                            route, ns);
}

/* ---- the hooks ---------------------------------------------------------------------------- */

static int on_begin(pt__http_request *core, pt__http_response *res, void *arg)
{
    pt__http_worker *w = arg;
    pt_http *h = w->http;
    pt_http_req *r = pt__http_response_ext(res);
    memset(r, 0, offsetof(pt_http_req, id)); /* id_len too */
    r->id[0] = '\0';
    r->http = h;
    r->worker = w;
    r->core = core;
    r->res = res;
    pt__http_busy_add(w, r);
    atomic_fetch_add_explicit(&h->in_flight, 1, memory_order_relaxed);
    /* The id's headers, and the access record's with them when they fit. */
    if (h->headers_at_begin || !h->opts.no_request_id)
        pt__http_request_headers_find(
            core, h->headers_at_begin ? &h->begin_header_set : &h->id_header_set,
            r->header_values, r->header_value_lens);
    if (!h->opts.no_request_id)
        request_id(r);
    for (unsigned i = 0; i < h->nbefore; i++) {
        r->nbefore_ran = i + 1;
        if (h->before[i].fn(r, h->before[i].arg))
            return 1;
    }
    return 0;
}

static PT_COLD void missed_deadline(pt_http *h, const pt__http_request *core,
                                    const pt_http_req *r)
{
    pt_counter_inc(h->m_timeouts);
    if (h->opts.log)
        PT_WARN(h->opts.log, "handler missed its deadline: answered 503",
                PT_STR("req_id", r ? r->id : ""), PT_STR("route", core->route),
                PT_STR("method", core->method_name),
                PT_UINT("deadline_ms", h->limits.handler_timeout_ms));
}

static void on_end(pt__http_request *core, pt__http_response *res, int status, size_t out,
                   void *arg)
{
    pt__http_worker *w = arg;
    pt_http *h = w->http;
    pt_http_req *r = pt__http_response_begun(res) ? pt__http_response_ext(res) : NULL;
    uint64_t ns = core->start_ns ? pt_clock_mono_ns() - core->start_ns : 0;
    pt__http_entry *e = NULL;
    const pt__http_route *route = core->handler;
    if (route && route->fn == pt__http_call_route)
        e = route->arg;
    if (h->opts.stats && !h->opts.no_metrics)
        count(h, e, status, ns, core->bytes_in, out);
    uint64_t timeouts = pt__http_server_handler_timeouts(w->server);
    if (PT_UNLIKELY(timeouts != w->timeouts_seen)) { /* this 503 is the deadline's */
        w->timeouts_seen = timeouts;
        missed_deadline(h, core, r);
    }
    if (h->opts.log && !h->opts.no_access_log)
        access_record(w, core, r, e, status, out, ns);
    if (!r)
        return;
    pt__http_busy_remove(w, r);
    for (unsigned i = 0; i < h->nafter; i++)
        h->after[i].fn(r, status, h->after[i].arg);
    atomic_fetch_sub_explicit(&h->in_flight, 1, memory_order_relaxed);
}

static void on_release(pt__http_response *res)
{
    pt_http_req *r = pt__http_response_ext(res);
    if (r->busy) /* ended without an end (the connection went first) */
        pt__http_busy_remove(r->worker, r);
    pt_log_free(r->log);
    r->log = NULL;
}

void pt__http_hooks_for(pt__http_worker *w, pt__http_hooks *hooks)
{
    memset(hooks, 0, sizeof *hooks);
    hooks->begin = on_begin;
    hooks->end = on_end;
    hooks->release = on_release;
    hooks->arg = w;
    hooks->ext_size = sizeof(pt_http_req);
}

void pt__http_call_route(pt__http_request *core, pt__http_response *res, void *arg)
{
    pt__http_entry *e = arg;
    pt_http_req *r = pt__http_response_ext(res);
    (void)core;
    r->entry = e;
    e->fn(r, e->arg);
}

/* http.in_flight, from the count requests keep anyway (on pt-ops, before each flush). */
static void collect_in_flight(pt_stats *st, void *arg)
{
    pt_http *h = arg;
    (void)st;
    pt_gauge_set(h->m_in_flight, (double)pt_http_in_flight(h));
}

void pt__http_metrics_fini(pt_http *h)
{
    if (h->m_in_flight)
        pt_stats_remove_collector(h->opts.stats, collect_in_flight, h);
    h->m_in_flight = NULL;
}

void pt__http_metrics_init(pt_http *h)
{
    pt_stats *st = h->opts.stats;
    if (!st || h->opts.no_metrics)
        return;
    pt__http_metrics_fini(h); /* a start that failed made them once */
    h->m_in_flight = pt_stats_gauge(st, "http.in_flight", NULL);
    h->m_routes = pt_stats_gauge(st, "http.routes", NULL);
    h->m_bytes_in = pt_stats_counter(st, "http.bytes_in", NULL);
    h->m_bytes_out = pt_stats_counter(st, "http.bytes_out", NULL);
    h->m_timeouts = pt_stats_counter(st, "http.handler_timeouts", NULL);
    pt_gauge_set(h->m_routes, (double)pt__router_count(h->router));
    if (h->m_in_flight && pt_stats_add_collector(st, collect_in_flight, h) < 0)
        h->m_in_flight = NULL; /* out of memory: the gauge stays at 0 */
}

/* ---- health ------------------------------------------------------------------------------- */

static void serve_health(pt_http_req *req, unsigned view)
{
    char *json = NULL;
    int status = 503;
    int rc = pt_health_json(req->http->opts.health, view, &json, &status);
    pt_http_header_set(req, "Content-Type", "application/json");
    pt_http_header_set(req, "Cache-Control", "no-store");
    if (rc < 0 || !json) {
        pt_http_respond(req, 500, "{\"status\":\"unknown\"}\n", 21);
    } else {
        pt_http_respond(req, status, json, strlen(json));
    }
    free(json);
}

void pt__http_serve_health(pt_http_req *req, void *arg)
{
    (void)arg;
    serve_health(req, 0);
}

void pt__http_serve_ready(pt_http_req *req, void *arg)
{
    (void)arg;
    serve_health(req, PT_HEALTH_VIEW_READY);
}

/* ---- the request and the response --------------------------------------------------------- */

const char *pt_http_method(const pt_http_req *req)
{
    return req->core->method_name;
}

const char *pt_http_path(const pt_http_req *req, size_t *len)
{
    *len = req->core->path_len;
    return req->core->path;
}

const char *pt_http_query(const pt_http_req *req, size_t *len)
{
    *len = req->core->query_len;
    return req->core->query;
}

const char *pt_http_route_template(const pt_http_req *req)
{
    return req->core->route;
}

const char *pt_http_param(const pt_http_req *req, const char *name, size_t *len)
{
    for (unsigned i = 0; i < req->core->nparams; i++) {
        const pt__router_param *p = &req->core->params[i];
        if (strcmp(p->name, name) == 0) {
            *len = p->value_len;
            return p->value;
        }
    }
    *len = 0;
    return NULL;
}

const char *pt_http_header(const pt_http_req *req, const char *name, size_t *len)
{
    const char *v = pt__http_request_header(req->core, name, len);
    if (!v)
        *len = 0;
    return v;
}

const char *pt_http_body(const pt_http_req *req, size_t *len)
{
    *len = req->core->body_len;
    return req->core->body;
}

const char *pt_http_request_id(const pt_http_req *req)
{
    return req->id;
}

pt_log *pt_http_log(pt_http_req *req)
{
    pt_log *parent = req->http->opts.log;
    if (!req->log && parent)
        req->log = req->id[0] ? PT_LOG_CHILD(parent, PT_STR("req_id", req->id))
                              : pt_log_child(parent, NULL, 0);
    return req->log ? req->log : parent;
}

void *pt_http_loop(const pt_http_req *req)
{
    return &req->worker->loop;
}

void pt_http_set_user(pt_http_req *req, void *user)
{
    req->user = user;
}

void *pt_http_user(const pt_http_req *req)
{
    return req->user;
}

int pt_http_header_set(pt_http_req *req, const char *name, const char *value)
{
    if (!name || !value)
        return -EINVAL;
    return pt__http_response_header(req->res, name, value);
}

int pt_http_respond(pt_http_req *req, int status, const void *body, size_t len)
{
    return pt__http_respond(req->res, status, body, len);
}

int pt_http_respond_async(pt_http_req *req, int status, const void *body, size_t len)
{
    return pt__http_respond_from_any_thread(req->res, status, body, len);
}

int pt_http_stream_begin(pt_http_req *req, int status)
{
    return pt__http_stream_begin(req->res, status);
}

int pt_http_stream_write(pt_http_req *req, const void *data, size_t len)
{
    return pt__http_stream_write(req->res, data, len);
}

int pt_http_stream_end(pt_http_req *req)
{
    return pt__http_stream_end(req->res);
}

size_t pt_http_stream_pending(const pt_http_req *req)
{
    return pt__http_stream_pending(req->res);
}
