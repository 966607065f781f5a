/* Writing responses, whole or streamed, and the hand-off that lets other threads give them (see
 * server.h). Connections, parsing and dispatch are in server.c. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sys/sdt.h>

#include "http/server_internal.h"

struct handoff {
    struct handoff *next;
    pt__http_response *res;
    int status;
    size_t len;
    char body[];
};

/* ---- responses ----------------------------------------------------------------------------- */

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 511: return "Network Authentication Required";
    default: return "Unknown";
    }
}

static const char *date_now(pt__http_server *s)
{
    time_t now = time(NULL);
    if (now != s->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date, sizeof s->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        s->date_sec = now;
    }
    return s->date;
}

/* Serializes and writes a response. extra: more header lines ("Allow: ...\r\n") or NULL.
 * Returns 0 or -ENOMEM. */
static char *put(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

static char *put_uint(char *p, uint64_t v, int base)
{
    char tmp[24];
    int n = 0;
    do
        tmp[n++] = "0123456789abcdef"[v % (unsigned)base];
    while (v /= (unsigned)base);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* The status line, Date, the framing (Content-Length: length unless NO_LENGTH, or chunked) and
 * the connection line, into out (HEAD_MAX bytes), without printf: every response pays it. */
#define HEAD_MAX 512
#define NO_LENGTH UINT64_MAX
static size_t status_head(char *out, conn *c, int status, uint64_t length, int chunked,
                          const char *connection)
{
    char *p = put(out, "HTTP/1.1 ");
    p = put_uint(p, (uint64_t)status, 10);
    *p++ = ' ';
    p = put(p, reason_phrase(status));
    p = put(p, "\r\nDate: ");
    p = put(p, date_now(c->server));
    p = put(p, "\r\n");
    if (chunked) {
        p = put(p, "Transfer-Encoding: chunked\r\n");
    } else if (length != NO_LENGTH) {
        p = put(p, "Content-Length: ");
        p = put_uint(p, length, 10);
        p = put(p, "\r\n");
    }
    p = put(p, connection);
    memcpy(p, c->res.sticky, c->res.sticky_len);
    p += c->res.sticky_len;
    return (size_t)(p - out);
}

int pt__http_conn_write(conn *c, int status, const char *extra, size_t extra_len, const char *body,
                        size_t body_len, int send_body, int last)
{
    /* An HTTP/1.0 client keeps the connection only when told so. */
    const char *connection = last                        ? "Connection: close\r\n"
                             : c->parser.http_minor == 0 ? "Connection: keep-alive\r\n"
                                                         : "";
    /* 204 and 304 have no body, and RFC 9110 forbids (204) or bends (304) Content-Length. */
    char head[HEAD_MAX];
    size_t n = status_head(head, c, status, status == 204 || status == 304 ? NO_LENGTH : body_len,
                           0, connection);
    size_t blen = send_body ? body_len : 0;
    size_t total = n + extra_len + 2 + blen;
    write_req *w = malloc(sizeof *w + total);
    if (!w)
        return -ENOMEM;
    char *p = w->data;
    memcpy(p, head, n);
    p += n;
    if (extra_len)
        memcpy(p, extra, extra_len);
    p += extra_len;
    memcpy(p, "\r\n", 2);
    p += 2;
    if (blen)
        memcpy(p, body, blen);
    w->c = c;
    w->last = last;
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)total);
    int err = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, pt__http_conn_on_write);
    if (err < 0) {
        free(w);
        return err;
    }
    c->writing++;
    if (last)
        c->state = CONN_CLOSING;
    pt__http_conn_finished(c, status, total);
    return 0;
}

void pt__http_conn_finished(conn *c, int status, size_t bytes_out)
{
    pt__http_server *s = c->server;
    if (c->res.ended)
        return;
    c->res.ended = 1;
    if (!c->res.c) { /* refused before dispatch (which counted the bytes read itself) */
        c->req.bytes_in = c->bytes_read - c->bytes_counted;
        c->bytes_counted = c->bytes_read;
        c->req.peer = c->peer.ss_family ? (const struct sockaddr *)&c->peer : NULL;
        c->req.peer_uid = c->peer_uid;
    }
    /* USDT probe potter:http__request__done(status, bytes out, CLOCK_MONOTONIC ns of the
     * request's first byte (0: none read), route or NULL): the latency is the tracer's
     * nsecs - arg2, so that nothing is measured while no one traces.
     * bpftrace -e 'usdt:./hello:potter:http__request__done { @[arg0] = count(); }' */
    DTRACE_PROBE4(potter, http__request__done, status, bytes_out, c->req.start_ns, c->req.route);
    if (s->hooks.end)
        s->hooks.end(&c->req, &c->res, status, bytes_out, s->hooks.arg);
}

int pt__http_respond(pt__http_response *res, int status, const char *body, size_t len)
{
    if (res->given || status < 200 || status > 599)
        return -EINVAL;
    conn *c = res->c;
    res->given = 1;
    c->owed = 0;
    if (c->timed_out || c->closing) {
        /* Too late: the deadline answered 503, or the connection is gone. A detached
         * connection was kept only for this answer; otherwise its close frees it. */
        if (c->detached)
            pt__http_conn_release(c);
        return -ETIMEDOUT;
    }
    uv_timer_stop(&c->timer); /* the deadline */
    int send_body = c->req.method != PT__ROUTER_HEAD && status != 204 && status != 304;
    int last = !c->keep_alive || c->server->closing;
    int err =
        pt__http_conn_write(c, status, res->headers, res->headers_len, body, len, send_body, last);
    if (err < 0)
        pt__http_conn_close(c);
    return err;
}

int pt__http_response_sticky_header_clean(pt__http_response *res, const char *name, size_t nl,
                                          const char *value, size_t vl)
{
    size_t at = res->sticky_len;
    if (res->given || nl == 0 || nl + vl + 4 > sizeof res->sticky - at)
        return -EINVAL;
    memcpy(res->sticky + at, name, nl);
    memcpy(res->sticky + at + nl, ": ", 2);
    memcpy(res->sticky + at + nl + 2, value, vl);
    memcpy(res->sticky + at + nl + 2 + vl, "\r\n", 2);
    res->sticky_len += nl + vl + 4;
    return 0;
}

int pt__http_response_sticky_header(pt__http_response *res, const char *name, const char *value)
{
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return -EINVAL;
    return pt__http_response_sticky_header_clean(res, name, strlen(name), value, strlen(value));
}

int pt__http_response_header(pt__http_response *res, const char *name, const char *value)
{
    if (res->given || strpbrk(name, "\r\n:") || strpbrk(value, "\r\n") || !*name)
        return -EINVAL;
    if (!strcasecmp(name, "Date") || !strcasecmp(name, "Content-Length") ||
        !strcasecmp(name, "Connection") || !strcasecmp(name, "Transfer-Encoding"))
        return -EINVAL;
    size_t nl = strlen(name), vl = strlen(value), need = nl + vl + 4;
    if (res->headers_len + need > res->headers_cap) {
        size_t cap = res->headers_cap ? res->headers_cap * 2 : 256;
        while (cap < res->headers_len + need)
            cap *= 2;
        char *h = realloc(res->headers, cap);
        if (!h)
            return -ENOMEM;
        res->headers = h;
        res->headers_cap = cap;
    }
    char *p = res->headers + res->headers_len;
    memcpy(p, name, nl);
    memcpy(p + nl, ": ", 2);
    memcpy(p + nl + 2, value, vl);
    memcpy(p + nl + 2 + vl, "\r\n", 2);
    res->headers_len += need;
    return 0;
}

/* ---- streamed responses ------------------------------------------------------------------- */

/* The callback of every stream write but the last: a failed write means the client left, so the
 * connection closes and the stream's next write says so (-EPIPE). The last write goes to
 * pt__http_conn_on_write, which goes on with the connection. */
static void on_stream_written(uv_write_t *w, int status)
{
    write_req *wr = (write_req *)w;
    conn *c = wr->c;
    free(wr);
    c->writing--;
    if (status < 0 && !c->closing)
        pt__http_conn_close(c);
}

/* Queues w (len bytes of w->data) on the connection. Returns 0 or a libuv error (w freed). */
static int stream_send(conn *c, write_req *w, size_t len, int final, int last)
{
    w->c = c;
    w->last = last;
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)len);
    int err = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1,
                       final ? pt__http_conn_on_write : on_stream_written);
    if (err < 0) {
        free(w);
        return err;
    }
    c->writing++;
    return 0;
}

int pt__http_stream_begin(pt__http_response *res, int status)
{
    if (res->given || status < 200 || status > 599 || status == 204 || status == 304)
        return -EINVAL;
    conn *c = res->c;
    res->given = 1;
    if (c->timed_out || c->closing) {
        /* Too late, as for pt__http_respond(): this call was the answer, and it is dropped. */
        c->owed = 0;
        if (c->detached)
            pt__http_conn_release(c);
        return -ETIMEDOUT;
    }
    uv_timer_stop(&c->timer); /* the deadline: the status is out, a 503 can no longer be */
    /* An HTTP/1.0 client knows no chunked framing: the body then ends where the connection
     * does. */
    int chunked = c->parser.http_minor >= 1;
    int last = !c->keep_alive || c->server->closing || !chunked;
    char head[HEAD_MAX];
    size_t n = status_head(head, c, status, NO_LENGTH, chunked, last ? "Connection: close\r\n" : "");
    size_t total = n + res->headers_len + 2;
    write_req *w = malloc(sizeof *w + total);
    if (!w) {
        c->owed = 0; /* over: the close frees the connection */
        pt__http_conn_close(c);
        return -ENOMEM;
    }
    memcpy(w->data, head, n);
    if (res->headers_len)
        memcpy(w->data + n, res->headers, res->headers_len);
    memcpy(w->data + n + res->headers_len, "\r\n", 2);
    if (stream_send(c, w, total, 0, 0) < 0) {
        c->owed = 0;
        pt__http_conn_close(c);
        return -ETIMEDOUT; /* the connection is gone */
    }
    /* c->owed stays set until the stream ends: a close meanwhile keeps res for the producer. */
    res->stream_status = status;
    res->stream_chunked = chunked;
    res->stream_head = c->req.method == PT__ROUTER_HEAD;
    res->stream_close = last;
    res->stream_bytes = total;
    return 0;
}

int pt__http_stream_write(pt__http_response *res, const void *data, size_t len)
{
    if (!res->stream_status || res->stream_ended)
        return -EINVAL;
    conn *c = res->c;
    if (c->closing)
        return -EPIPE;
    if (len == 0 || res->stream_head)
        return 0; /* an empty chunk would be the terminator */
    char size[24];
    size_t n = 0;
    if (res->stream_chunked) {
        char *e = put_uint(size, len, 16);
        e = put(e, "\r\n");
        n = (size_t)(e - size);
    }
    size_t crlf = res->stream_chunked ? 2 : 0;
    /* uv_buf_t's length is an unsigned int (32 covers the size line and the CRLF). */
    if (len > UINT_MAX - sizeof(write_req) - 32)
        return -EINVAL;
    size_t total = n + len + crlf;
    write_req *w = malloc(sizeof *w + total);
    if (!w) {
        /* A chunk left out would corrupt the body, and end would still frame it as whole: the
         * client must see a cut instead. */
        pt__http_conn_close(c);
        return -ENOMEM;
    }
    memcpy(w->data, size, n);
    memcpy(w->data + n, data, len);
    memcpy(w->data + n + len, "\r\n", crlf);
    if (stream_send(c, w, total, 0, 0) < 0) {
        pt__http_conn_close(c);
        return -EPIPE;
    }
    res->stream_bytes += total;
    return 0;
}

int pt__http_stream_end(pt__http_response *res)
{
    if (!res->stream_status || res->stream_ended)
        return -EINVAL;
    conn *c = res->c;
    res->stream_ended = 1;
    c->owed = 0;
    if (c->closing) {
        /* The client left: the close called the end hook (or will, with the stream's status
         * and bytes). A detached connection was kept only for this call. */
        if (c->detached)
            pt__http_conn_release(c);
        return -EPIPE;
    }
    int last = res->stream_close || c->server->closing;
    /* The last write is empty for HEAD and for HTTP/1.0: it still comes after every chunk, so
     * the connection goes on (or closes, which ends a 1.0 body) once all is out. */
    size_t n = res->stream_chunked && !res->stream_head ? 5 : 0;
    write_req *w = malloc(sizeof *w + n);
    if (!w) {
        pt__http_conn_close(c); /* cut: the client must not take the body as whole */
        return -ENOMEM;
    }
    memcpy(w->data, "0\r\n\r\n", n);
    if (stream_send(c, w, n, 1, last) < 0) {
        pt__http_conn_close(c);
        return -EPIPE;
    }
    if (last)
        c->state = CONN_CLOSING;
    res->stream_bytes += n;
    pt__http_conn_finished(c, res->stream_status, res->stream_bytes);
    return 0;
}

size_t pt__http_stream_pending(const pt__http_response *res)
{
    const conn *c = res->c;
    if (!res->stream_status || c->closing)
        return 0;
    return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

/* ---- the cross-thread hand-off ------------------------------------------------------------ */

void pt__http_hub_ref(handoff_hub *hub)
{
    pthread_mutex_lock(&hub->lock);
    hub->refs++;
    pthread_mutex_unlock(&hub->lock);
}

void pt__http_hub_unref(handoff_hub *hub)
{
    pthread_mutex_lock(&hub->lock);
    unsigned refs = --hub->refs;
    pthread_mutex_unlock(&hub->lock);
    if (refs)
        return;
    pthread_mutex_destroy(&hub->lock);
    free(hub);
}

void pt__http_conn_free(conn *c)
{
    if (c->res.begun && c->release)
        c->release(&c->res);
    free(c->head);
    free(c->body);
    free(c->pending);
    free(c->res.headers);
    free(c);
}

/* Frees a detached connection, on whichever thread gave the late answer. */
void pt__http_conn_release(conn *c)
{
    handoff_hub *hub = c->hub;
    pt__http_conn_free(c);
    pt__http_hub_unref(hub);
}

/* Takes the queued hand-offs; with closing, also marks the hand-off closed, after which
 * other threads drop their answers themselves. */
struct handoff *pt__http_handoff_take(handoff_hub *hub, int closing)
{
    pthread_mutex_lock(&hub->lock);
    struct handoff *list = hub->queue;
    hub->queue = NULL;
    if (closing)
        hub->wake = NULL;
    pthread_mutex_unlock(&hub->lock);
    return list;
}

/* Applies the responses other threads gave, in the order they gave them. */
void pt__http_on_handoff(uv_async_t *a)
{
    pt__http_server *s = a->data;
    pt__http_handoff_apply(pt__http_handoff_take(s->hub, 0));
}

void pt__http_handoff_apply(struct handoff *list)
{
    struct handoff *rev = NULL; /* the queue is newest first */
    while (list) {
        struct handoff *next = list->next;
        list->next = rev;
        rev = list;
        list = next;
    }
    while (rev) {
        struct handoff *next = rev->next;
        pt__http_respond(rev->res, rev->status, rev->body, rev->len);
        free(rev);
        rev = next;
    }
}

int pt__http_respond_from_any_thread(pt__http_response *res, int status, const char *body,
                                     size_t len)
{
    if (status < 200 || status > 599)
        return -EINVAL;
    if (len > SIZE_MAX - sizeof(struct handoff))
        return -ENOMEM;
    struct handoff *h = malloc(sizeof *h + len);
    if (!h)
        return -ENOMEM;
    h->res = res;
    h->status = status;
    h->len = len;
    if (len)
        memcpy(h->body, body, len);
    conn *c = res->c; /* res->c and c->hub do not change while the response is owed */
    handoff_hub *hub = c->hub;
    pthread_mutex_lock(&hub->lock);
    if (!hub->wake) {
        /* The server is closed: this connection is detached, and no one else touches it. */
        pthread_mutex_unlock(&hub->lock);
        free(h);
        res->given = 1;
        c->owed = 0;
        pt__http_conn_release(c);
        return -ETIMEDOUT;
    }
    h->next = hub->queue;
    hub->queue = h;
    /* Woken under the lock: the server cannot close the hand-off, and be freed, before
     * uv_async_send() has returned. */
    int err = uv_async_send(hub->wake);
    pthread_mutex_unlock(&hub->lock);
    return err;
}
