/* The HTTP/1.1 server core: connections, parsing, limits, dispatch, in-order responses
 * (writing them, and the cross-thread hand-off, are in response.c; the server object,
 * listening and closing in listen.c).
 *
 * One request per connection is handled at a time: on_message_complete pauses llhttp, and the
 * rest of the input, with what arrives while the request is answered, waits in c->pending
 * (reading stops only past PENDING_MAX); when the response is written, llhttp resumes on what
 * waited. So pipelined requests are answered in order whatever the handlers do. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/sdt.h>

#include "potter/core.h"
#include "core/number_internal.h"
#include "http/header_set.h"
#include "http/server_internal.h"

#define LINGER_MS                                                                                  \
    2000 /* how long a closing connection drains input so the client reads our answer */

static void conn_feed(conn *c, const char *data, size_t len);
static void conn_fail(conn *c, int status);

/* ---- lingering after the last response ------------------------------------------------ */

static void linger_timeout(uv_timer_t *t)
{
    pt__http_conn_close(t->data);
}

static void on_linger_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    if (nread < 0)
        pt__http_conn_close((conn *)st);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn *c = (conn *)h;
    *buf = uv_buf_init(c->server->read_buf, sizeof c->server->read_buf);
}

static void on_shutdown(uv_shutdown_t *sh, int status)
{
    free(sh);
}

/* After the last response: send FIN, then read and drop what the client still sends until it
 * closes or LINGER_MS pass, so a client still writing a body reads our answer instead of a
 * reset. */
static void conn_linger(conn *c)
{
    uv_shutdown_t *sh = malloc(sizeof *sh);
    if (!sh || uv_shutdown(sh, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        free(sh);
        pt__http_conn_close(c);
        return;
    }
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0; /* on_read is done with: lingering reads drop what comes */
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_linger_read) < 0) {
        pt__http_conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, linger_timeout, LINGER_MS, 0);
}

/* ---- the request being read ------------------------------------------------------------ */

static void request_reset(conn *c)
{
    c->head_len = c->url_len = 0;
    c->head_raw = 0;
    c->nheaders = c->nhashed = 0;
    c->last_span = 0;
    c->value_end = NULL;
    c->value_at_end = 0;
    c->body_len = 0;
    c->message_done = 0;
    c->error_status = 0;
    if (c->body_cap > 65536) { /* an idle connection does not keep a big body's buffer */
        free(c->body);
        c->body = NULL;
        c->body_cap = 0;
    }
    if (c->res.begun && c->release)
        c->release(&c->res);
    /* The response headers' buffer stays for the next request (most add a few headers). */
    char *headers = c->res.headers;
    size_t headers_cap = c->res.headers_cap;
    if (headers_cap > 4096) {
        free(headers);
        headers = NULL;
        headers_cap = 0;
    }
    memset(&c->res, 0, sizeof c->res);
    c->res.headers = headers;
    c->res.headers_cap = headers_cap;
    memset(&c->req, 0, sizeof c->req);
}

static int head_append(conn *c, const char *at, size_t n)
{
    if (n > c->server->limits.max_header_bytes - c->head_len) {
        c->error_status = 431;
        return -1;
    }
    memcpy(c->head + c->head_len, at, n);
    c->head_len += n;
    return 0;
}

static void on_timeout(uv_timer_t *t);

static void timer_for(conn *c, uint64_t ms)
{
    uv_timer_start(&c->timer, on_timeout, ms, 0);
}

static int on_message_begin(llhttp_t *p)
{
    conn *c = p->data;
    if (c->state == CONN_IDLE) {
        c->req.start_ns = pt_clock_mono_ns();
        c->state = CONN_HEADERS;
        timer_for(c, c->server->limits.header_timeout_ms);
    }
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    conn *c = p->data;
    if (head_append(c, at, n) < 0)
        return -1;
    c->url_len += n;
    c->last_span = 'u';
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    conn *c = p->data;
    if (c->last_span != 'f') {
        if (c->nheaders == PT__HTTP_MAX_HEADERS) {
            c->error_status = 431;
            return -1;
        }
        header_span *h = &c->headers[c->nheaders++];
        h->name_off = (uint32_t)c->head_len;
        h->name_len = h->value_off = h->value_len = 0;
        c->last_span = 'f';
    }
    if (head_append(c, at, n) < 0)
        return -1;
    c->headers[c->nheaders - 1].name_len += (uint32_t)n;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    conn *c = p->data;
    header_span *h = &c->headers[c->nheaders - 1];
    if (n == 0)
        return 0; /* llhttp marks an empty value with an empty span, at the next line */
    if (c->last_span != 'v') {
        /* An empty first line folded onto the next ("X-A:\r\n c"): only the whitespace
         * before the value tells; seen when it is in this input. */
        const char *b = at;
        while (b > c->input && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > c->input && b[-1] == '\n') {
            c->error_status = 400;
            return -1;
        }
        h->value_off = (uint32_t)c->head_len;
        c->last_span = 'v';
    } else if (at != c->value_end) {
        /* A second span of the same value that does not continue the first: obs-fold, which
         * llhttp lets through and RFC 9112 5.2 says to refuse (conn_feed keeps value_end right
         * across reads). */
        c->error_status = 400;
        return -1;
    }
    if (head_append(c, at, n) < 0)
        return -1;
    h->value_len += (uint32_t)n;
    c->value_end = at + n;
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    conn *c = p->data;
    c->value_end = NULL;
    c->last_span = 0; /* the next field span starts a new header, even after an empty value */
    return 0;
}

static int header_is(const conn *c, const header_span *h, const char *name)
{
    size_t n = strlen(name);
    return h->name_len == n && strncasecmp(c->head + h->name_off, name, n) == 0;
}

/* The "100 Continue" line is static: only its request is freed (also when cancelled). */
static void on_continue_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static int on_headers_complete(llhttp_t *p)
{
    conn *c = p->data;
    const pt__http_limits *lim = &c->server->limits;
    int expect = 0;
    for (unsigned i = 0; i < c->nheaders; i++) {
        const header_span *h = &c->headers[i];
        if (header_is(c, h, "Expect")) {
            size_t n = h->value_len;
            while (n &&
                   (c->head[h->value_off + n - 1] == ' ' || c->head[h->value_off + n - 1] == '\t'))
                n--;
            if (n == 12 && strncasecmp(c->head + h->value_off, "100-continue", 12) == 0)
                expect = 1;
        }
    }
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > lim->max_body_bytes) {
        /* Refused before reading a byte of it; with Expect: 100-continue none was sent. */
        c->error_status = 413;
        return -1;
    }
    int has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length);
    if (has_body) {
        c->state = CONN_BODY;
        timer_for(c, lim->body_timeout_ms);
        if (expect && p->http_minor >= 1) {
            /* Queued like any write (in order before the response), so a socket that cannot
             * take it at once still gets it. Without memory the client sends its body after
             * its own wait, as RFC 9110 lets it. */
            static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            uv_buf_t b = uv_buf_init(cont, sizeof cont - 1);
            uv_write_t *req = malloc(sizeof(*req));
            if (req && uv_write(req, (uv_stream_t *)&c->tcp, &b, 1, on_continue_written) != 0)
                free(req);
        }
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    conn *c = p->data;
    if (n > c->server->limits.max_body_bytes - c->body_len) {
        c->error_status = 413;
        return -1;
    }
    if (c->body_len + n > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 1024;
        while (cap < c->body_len + n)
            cap *= 2;
        char *b = realloc(c->body, cap);
        if (!b) {
            c->error_status = 500;
            return -1;
        }
        c->body = b;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, at, n);
    c->body_len += n;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    conn *c = p->data;
    c->message_done = 1;
    /* No protocol upgrades (and no CONNECT tunnels): answer, then close. */
    c->keep_alive = llhttp_should_keep_alive(p) && !p->upgrade;
    return HPE_PAUSED;
}

/* Shared by every connection of every server: read-only, so loops on any threads may use it. */
static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- dispatch ------------------------------------------------------------------------------ */

static void dispatch(conn *c)
{
    pt__http_server *s = c->server;
    pt__http_request *req = &c->req;
    uv_timer_stop(&c->timer);
    c->state = CONN_HANDLER;
    c->res.c = c;
    req->method_name = llhttp_method_name(llhttp_get_method(&c->parser));
    req->method = pt__router_method_parse(req->method_name, strlen(req->method_name));
    req->http_minor = llhttp_get_http_minor(&c->parser);
    req->path = c->head;
    req->path_len = c->url_len;
    const char *q = memchr(c->head, '?', c->url_len);
    if (q) {
        req->path_len = (size_t)(q - c->head);
        req->query = q + 1;
        req->query_len = c->url_len - req->path_len - 1;
    }
    req->body = c->body_len ? c->body : NULL;
    req->body_len = c->body_len;
    req->peer = c->peer.ss_family ? (const struct sockaddr *)&c->peer : NULL;
    req->peer_host = c->peer_host;
    req->peer_host_len = c->peer_host_len;
    req->peer_port_text = c->peer_port_text;
    req->peer_port_text_len = c->peer_port_text_len;
    req->peer_uid = c->peer_uid;
    req->bytes_in = c->bytes_read - c->bytes_counted;
    c->bytes_counted = c->bytes_read;
    int found = pt__router_find(s->router, req->method, req->path, req->path_len, &c->match);
    /* USDT probe potter:http__request__start(method, path, path length, route or NULL). */
    DTRACE_PROBE4(potter, http__request__start, req->method_name, req->path, req->path_len,
                  found == PT__ROUTE_FOUND ? c->match.pattern : NULL);
    if (found == PT__ROUTE_FOUND) {
        req->route = c->match.pattern;
        req->handler = c->match.handler;
        req->nparams = c->match.nparams;
        req->params = c->match.params;
    }
    /* From here the response is owed, by the begin hook or the handler, under the deadline. */
    c->owed = 1;
    if (s->limits.handler_timeout_ms != PT__HTTP_NO_TIMEOUT)
        timer_for(c, s->limits.handler_timeout_ms);
    if (s->hooks.begin) {
        c->res.begun = 1;
        if (s->hooks.begin(req, &c->res, s->hooks.arg))
            return;
    }
    if (found == PT__ROUTE_FOUND) {
        const pt__http_route *route = c->match.handler;
        if (route && route->fn) {
            route->fn(req, &c->res, route->arg);
            return;
        }
    }
    c->owed = 0;
    uv_timer_stop(&c->timer);
    /* The headers the begin hook added (X-Request-Id) go out with these answers too. */
    int err = 0;
    if (found == PT__ROUTE_METHOD_NOT_ALLOWED)
        err = pt__http_response_header(&c->res, "Allow", c->match.allow);
    c->res.given = 1;
    int last = !c->keep_alive || s->closing;
    int status = found == PT__ROUTE_METHOD_NOT_ALLOWED ? 405 : found == PT__ROUTE_FOUND ? 500 : 404;
    if (err == 0)
        err = pt__http_conn_write(c, status, c->res.headers, c->res.headers_len, NULL, 0, 1, last);
    if (err < 0)
        pt__http_conn_close(c);
}

/* The value of header h, without the whitespace llhttp leaves after it (it drops what comes
 * before). */
static const char *header_value(const conn *c, const header_span *h, size_t *len)
{
    const char *v = c->head + h->value_off;
    size_t n = h->value_len;
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    *len = n;
    return v;
}

const char *pt__http_request_header(const pt__http_request *req, const char *name, size_t *len)
{
    const conn *c = (const conn *)((const char *)req - offsetof(conn, req));
    for (unsigned i = 0; i < c->nheaders; i++) {
        const header_span *h = &c->headers[i];
        if (header_is(c, h, name))
            return header_value(c, h, len);
    }
    return NULL;
}

/* ---- looking up a set of header names ---------------------------------------------------- */

/* Hashes the names of the headers not hashed yet: once per request, by the first lookup. */
static void hash_headers(conn *c)
{
    const char *head = c->head;
    header_span *h = c->headers + c->nhashed, *end = c->headers + c->nheaders;
    for (; h < end; h++)
        h->hash = name_hash(head + h->name_off, h->name_len);
    c->nhashed = c->nheaders;
}

/* pt__http_request_headers_find() for the distinct names. */
static void find_distinct(const conn *c, const pt__http_header_set *set, const char **values,
                          size_t *value_lens)
{
    size_t left = set->ndistinct;
    const uint32_t *slots = set->slots;
    const uint32_t mask = set->mask;
    const header_span *h = c->headers, *end = c->headers + c->nheaders;
    for (; h < end; h++) {
        /* Most headers are in no set: their probe ends at an empty slot, on the hash alone. */
        if (!slots[h->hash & mask])
            continue;
        size_t k = set_find(set, c->head + h->name_off, h->name_len, h->hash);
        if (k != NOT_IN_SET && !values[k]) {
            values[k] = header_value(c, h, &value_lens[k]);
            if (--left == 0)
                return;
        }
    }
}

/* Gives each name equal to one before it that one's value. */
static void copy_repeated(const pt__http_header_set *set, const char **values, size_t *value_lens)
{
    for (size_t k = 0; k < set->n; k++) {
        size_t f = set->names[k].first;
        if (f != k && values[f]) {
            values[k] = values[f];
            value_lens[k] = value_lens[f];
        }
    }
}

void pt__http_request_headers_find(const pt__http_request *req, const pt__http_header_set *set,
                                   const char **values, size_t *value_lens)
{
    /* The hashes are the request's cache: the connection itself is never const. */
    conn *c = (conn *)((const char *)req - offsetof(conn, req));
    for (size_t k = 0; k < set->n; k++)
        values[k] = NULL;
    if (!set->ndistinct)
        return;
    if (c->nhashed != c->nheaders)
        hash_headers(c);
    find_distinct(c, set, values, value_lens);
    if (set->ndistinct != set->n)
        copy_repeated(set, values, value_lens);
}

/* ---- reading ---------------------------------------------------------------------------- */

/* Answers status with Connection: close and closes (malformed or over a limit). */
static void conn_fail(conn *c, int status)
{
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
    uv_timer_stop(&c->timer);
    c->res.given = 1;
    if (pt__http_conn_write(c, status, NULL, 0, NULL, 0, 1, 1) < 0)
        pt__http_conn_close(c);
}

/* Input that comes while a request is answered waits in c->pending (reading stays on: stopping
 * and starting it for every request costs two epoll_ctl calls); past this much, reading stops
 * until the answer is out. */
#define PENDING_MAX (256 * 1024)

static int pending_add(conn *c, const char *data, size_t len)
{
    char *p = realloc(c->pending, c->pending_len + len);
    if (!p)
        return -1;
    memcpy(p + c->pending_len, data, len);
    c->pending = p;
    c->pending_len += len;
    return 0;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    conn *c = (conn *)st;
    int answering = c->state == CONN_HANDLER || c->state == CONN_CLOSING;
    if (nread == UV_EOF && answering) {
        /* The client has said all (a half-close): its answer still goes out, then we close. */
        uv_read_stop(st);
        c->reading = 0;
        c->eof = 1;
        return;
    }
    if (nread < 0) {
        pt__http_conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    c->bytes_read += (uint64_t)nread;
    if (!answering) {
        conn_feed(c, buf->base, (size_t)nread);
        return;
    }
    if (c->state == CONN_CLOSING)
        return; /* nothing more is read once the last answer is on its way */
    if (pending_add(c, buf->base, (size_t)nread) < 0) {
        pt__http_conn_close(c);
        return;
    }
    if (c->pending_len > PENDING_MAX) {
        uv_read_stop(st);
        c->reading = 0;
    }
}

/* Parses data; on a complete request keeps what follows in c->pending, stops reading and
 * dispatches. */
static void conn_feed(conn *c, const char *data, size_t len)
{
    /* A header value that reached the end of the previous input continues at this input's
     * start; any other pointer left from it is stale and must not match (obs-fold check). */
    if (c->last_span == 'v')
        c->value_end = c->value_at_end ? data : NULL;
    c->input = data;
    llhttp_errno_t err = llhttp_execute(&c->parser, data, len);
    c->value_at_end = c->value_end && c->value_end == data + len;
    if (err == HPE_OK) {
        /* Still in the head after all of this input: every byte of it was request line or
         * headers, with the separators and blanks the spans leave out (a value preceded by
         * megabytes of spaces), so it counts against the limit whole. */
        if (c->state == CONN_HEADERS &&
            (c->head_raw += len) > c->server->limits.max_header_bytes)
            conn_fail(c, 431);
        return;
    }
    if ((err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) && c->message_done) {
        const char *pos = llhttp_get_error_pos(&c->parser);
        size_t rest = pos ? (size_t)(data + len - pos) : 0;
        if (err == HPE_PAUSED_UPGRADE) {
            c->keep_alive = 0; /* no upgrades: answer, then close */
            rest = 0;
        }
        char *keep = NULL;
        if (rest) {
            keep = malloc(rest);
            if (!keep) {
                pt__http_conn_close(c);
                return;
            }
            memcpy(keep, pos, rest);
        }
        free(c->pending);
        c->pending = keep;
        c->pending_len = rest;
        dispatch(c);
        return;
    }
    conn_fail(c, c->error_status ? c->error_status : 400);
}

/* Ready for the next request: parse what was kept, or read more. */
static void conn_next(conn *c)
{
    request_reset(c);
    c->state = CONN_IDLE;
    llhttp_resume(&c->parser);
    if (c->server->closing && !c->pending_len) {
        pt__http_conn_close(c);
        return;
    }
    timer_for(c, c->server->limits.idle_timeout_ms);
    if (c->pending_len) {
        char *data = c->pending;
        size_t len = c->pending_len;
        c->pending = NULL;
        c->pending_len = 0;
        conn_feed(c, data, len);
        free(data);
        if (c->state == CONN_HANDLER || c->state == CONN_CLOSING || c->closing)
            return;
    }
    if (c->eof) { /* the client sent nothing more and will not */
        pt__http_conn_close(c);
        return;
    }
    if (!c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
            pt__http_conn_close(c);
            return;
        }
        c->reading = 1;
    }
}

void pt__http_conn_on_write(uv_write_t *w, int status)
{
    write_req *wr = (write_req *)w;
    conn *c = wr->c;
    int last = wr->last;
    free(wr);
    c->writing--;
    if (c->closing)
        return;
    if (status < 0) {
        pt__http_conn_close(c);
        return;
    }
    if (last)
        conn_linger(c);
    else
        conn_next(c);
}

/* The handler missed its deadline: 503, then the connection closes (what the client pipelined
 * behind is dropped; the handler may still be busy with req). The handler's answer, when it
 * comes, is dropped by pt__http_respond(). */
static void handler_deadline(conn *c)
{
    c->timed_out = 1;
    c->server->handler_timeouts++;
    /* The end hook sees this 503 (the http part logs it, with the route and the deadline). */
    if (pt__http_conn_write(c, 503, NULL, 0, NULL, 0, 1, 1) < 0)
        pt__http_conn_close(c);
}

static void on_timeout(uv_timer_t *t)
{
    conn *c = t->data;
    switch (c->state) {
    case CONN_HEADERS:
    case CONN_BODY: conn_fail(c, 408); return;
    case CONN_HANDLER:
        if (c->owed && !c->timed_out) {
            handler_deadline(c);
            return;
        }
        pt__http_conn_close(c);
        return;
    default: pt__http_conn_close(c); return;
    }
}

/* ---- connections ------------------------------------------------------------------------ */

static void on_conn_handle_closed(uv_handle_t *h)
{
    conn *c = h->data;
    if (++c->closed_handles < 2)
        return;
    pt__http_server *s = c->server;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    /* The client left before the answer (499), or in the middle of a stream, whose status is
     * out already: the end hook sees it with the bytes queued so far. */
    if (c->res.stream_status && !c->res.ended)
        pt__http_conn_finished(c, c->res.stream_status, c->res.stream_bytes);
    else if (c->res.begun && !c->res.ended)
        pt__http_conn_finished(c, 499, 0);
    if (c->owed) {
        /* The handler still holds req and res: keep them until it answers. */
        c->detached = 1;
        pt__http_hub_ref(c->hub);
    } else {
        pt__http_conn_free(c);
    }
    pt__http_server_maybe_finish(s);
}

/* Closes now. A handler that still owes the response keeps req and res (see above). */
void pt__http_conn_close(conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

/* The peer's address and port as text, once per connection (the access log writes them for
 * every request). IPv4 by hand: glibc's inet_ntop() goes through sprintf. */
static void peer_text(conn *c)
{
    const struct sockaddr *sa = (const struct sockaddr *)&c->peer;
    c->peer_host[0] = '\0';
    c->peer_host_len = 0;
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        const unsigned char *a = (const unsigned char *)&in->sin_addr;
        char *o = c->peer_host;
        for (int i = 0; i < 4; i++) {
            if (i)
                *o++ = '.';
            if (a[i] >= 100)
                *o++ = (char)('0' + a[i] / 100);
            if (a[i] >= 10)
                *o++ = (char)('0' + a[i] / 10 % 10);
            *o++ = (char)('0' + a[i] % 10);
        }
        *o = '\0';
        c->peer_host_len = (size_t)(o - c->peer_host);
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, c->peer_host, sizeof c->peer_host))
            c->peer_host_len = strlen(c->peer_host);
        port = ntohs(in6->sin6_port);
    }
    c->peer_port_text_len = c->peer_host_len ? pt__fmt_u64(c->peer_port_text, port) : 0;
}

void pt__http_on_connection(uv_stream_t *listener, int status)
{
    pt__http_server *s = listener->data;
    if (status < 0 || s->closing)
        return;
    conn *c = calloc(1, sizeof *c + s->hooks.ext_size);
    char *head = malloc(s->limits.max_header_bytes);
    if (!c || !head) {
        free(c);
        free(head);
        return;
    }
    c->head = head;
    c->server = s;
    c->release = s->hooks.release;
    c->ext_size = s->hooks.ext_size;
    c->hub = s->hub;
    int unix_socket = s->listener.type == UV_NAMED_PIPE;
    if (unix_socket)
        uv_pipe_init(s->loop, &c->pipe, 0);
    else
        uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0) {
        pt__http_conn_close(c);
        return;
    }
    c->peer_uid = -1;
    if (unix_socket) {
        struct ucred cred;
        socklen_t len = sizeof cred;
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->pipe, &fd) == 0 &&
            getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
            c->peer_uid = (int)cred.uid;
    } else {
        int namelen = sizeof c->peer;
        if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &namelen) == 0)
            peer_text(c);
    }
    llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
    c->parser.data = c;
    if (s->nconns > s->limits.max_connections) {
        conn_fail(c, 503);
        return;
    }
    timer_for(c, s->limits.idle_timeout_ms);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        pt__http_conn_close(c);
    else
        c->reading = 1;
}
