/* The HTTP/1.1 server core (internal; docs/http.md, "The server (internal, in progress)"):
 * listens on a libuv loop, parses requests with llhttp (strict, lenient flags off), enforces
 * limits, dispatches through a pt__router and writes responses in request order.
 *
 * Everything runs on the loop's thread: pt__http_server_new(), _listen(), _close(),
 * pt__http_respond() and the pt__http_stream_*() calls must be called there (handlers are
 * called there too).
 *
 *     static void hello(pt__http_request *req, pt__http_response *res, void *arg)
 *     { pt__http_respond(res, 200, "hello\n", 6); }
 *     static pt__http_route hello_route = {hello, NULL};
 *     pt__router_add(router, "GET", "/hello", &hello_route, why, sizeof why);
 *     pt__http_server_new(loop, router, NULL, &srv);
 *     pt__http_server_listen(srv, "127.0.0.1", 0);
 *     ...
 *     pt__http_server_close(srv, on_closed, NULL); // on_closed runs once all is closed
 */
#ifndef PT_HTTP_SERVER_H
#define PT_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "http/router.h"

/* The most header lines a request may carry; more answers 431. */
#define PT__HTTP_MAX_HEADERS 100

typedef struct pt__http_server pt__http_server;
typedef struct pt__http_response pt__http_response;

/* Limits; a field left 0 takes the default shown. */
typedef struct {
    size_t max_header_bytes; /* 8192: URL + header names and values, and whatever else the
                                head holds once it spans reads (431 beyond) */
    size_t max_body_bytes; /* 1 MiB: the request body (413 beyond) */
    unsigned max_connections; /* 1024: open connections (503 and close beyond) */
    uint64_t header_timeout_ms; /* 10000: first byte of a request to its last header (408) */
    uint64_t body_timeout_ms; /* 30000: end of the headers to the end of the body (408) */
    uint64_t idle_timeout_ms; /* 60000: keep-alive wait for the next request (close) */
    /* 30000: the handler's deadline. A handler that has not answered by then gets its request
     * answered 503 with Connection: close (the connection then closes: what the client
     * pipelined behind is dropped), and is counted (pt__http_server_handler_timeouts()).
     * PT__HTTP_NO_TIMEOUT: no deadline (then pt__http_server_close() waits for every answer). */
    uint64_t handler_timeout_ms;
} pt__http_limits;

/* A timeout field set to this means no limit. */
#define PT__HTTP_NO_TIMEOUT UINT64_MAX

/* What a handler sees. Every pointer stays valid until the response has been given with
 * pt__http_respond(), even past the handler's deadline; strings are not NUL-terminated, use the
 * lengths. */
typedef struct {
    pt__router_method method;
    const char *method_name; /* "GET", ... as llhttp names it; NUL-terminated */
    int http_minor; /* HTTP/1.<minor> */
    const char *path; /* the URL up to '?', raw (not percent-decoded) */
    size_t path_len;
    const char *query; /* after '?', or NULL when the URL has none */
    size_t query_len;
    const char *body; /* the whole body (chunked bodies joined), NULL when empty */
    size_t body_len;
    const char *route; /* the matched template, e.g. "/users/:id" (NUL-terminated) */
    const void *handler; /* the matched route's pt__http_route (what the router holds), or NULL */
    unsigned nparams;
    const pt__router_param *params; /* route parameters, values raw */
    uint64_t start_ns; /* pt_clock_mono_ns() at the request's first byte */
    size_t bytes_in; /* bytes read for this request (pipelined input counts where it was read) */
    const struct sockaddr *peer; /* the client's address (sockaddr_in or _in6), or NULL */
    const char *peer_host; /* peer's address as inet_ntop() writes it (NUL-terminated), or "" */
    size_t peer_host_len;
    const char *peer_port_text; /* peer's port in decimal (not NUL-terminated), "" without */
    size_t peer_port_text_len;
    int peer_uid; /* a unix socket client's user id (SO_PEERCRED), else -1 */
} pt__http_request;

typedef void pt__http_handler(pt__http_request *req, pt__http_response *res, void *arg);

/* What a router entry's handler points to (the router holds a pt__http_route *). */
typedef struct {
    pt__http_handler *fn;
    void *arg;
} pt__http_route;

/* What a layer above the core (the public http part: middleware, metrics, access log) sees of
 * every request. Both run on the loop's thread.
 *
 * begin(req, res, arg): a complete request was read and routed (req->route is NULL when no
 *   route matched), before its handler or the 404/405. It returns 0 to go on, or nonzero when
 *   it answered itself (pt__http_respond() or a stream) and the handler must not run.
 * end(req, res, status, bytes_out, arg): the final response was queued: status and the bytes
 *   written for it (a stream: when it ended, or when its connection closed before, with the
 *   bytes queued until then; a begun request whose client left before any answer: 499, 0).
 *   Called once per response the server gives, including those given without a begin (400,
 *   408, 413, 431, 503 over the connection limit; the request may then be partly empty:
 *   method_name NULL, route NULL). pt__http_response_begun() tells.
 *
 * ext_size bytes of per-request room travel with each response (pt__http_response_ext());
 * they are the layer's to fill in begin. */
typedef struct {
    int (*begin)(pt__http_request *req, pt__http_response *res, void *arg);
    void (*end)(pt__http_request *req, pt__http_response *res, int status, size_t bytes_out,
                void *arg);
    void *arg;
    size_t ext_size;
    /* release(res): the core is done with the request's memory (the next request reuses it, or
     * the connection is freed; for a connection closed while its handler owed the answer, that
     * is when the late answer comes, on the thread that gave it). For requests begin saw. */
    void (*release)(pt__http_response *res);
} pt__http_hooks;

/* A new server on loop, dispatching through router (frozen or not; the caller keeps it alive
 * until the close callback ran). limits may be NULL. Returns 0 and *out, -ENOMEM, or a libuv
 * error. A server that was created must be closed with pt__http_server_close(). */
int pt__http_server_new(uv_loop_t *loop, const pt__router *router, const pt__http_limits *limits,
                        pt__http_server **out);

/* Sets the hooks (copied), before the server listens. Returns 0 or -EINVAL (after listening). */
int pt__http_server_set_hooks(pt__http_server *s, const pt__http_hooks *hooks);

/* Binds host (IPv4 or IPv6 literal) and port (0: any free port) and starts accepting.
 * Returns 0 or a negative libuv error (-EADDRINUSE, -EINVAL for a bad address). */
int pt__http_server_listen(pt__http_server *s, const char *host, int port);

/* Starts accepting on a socket already bound (SO_REUSEPORT workers: pt__http_bind_socket()).
 * The server owns fd from then on, even on failure. Returns 0 or a negative libuv error. */
int pt__http_server_open(pt__http_server *s, int fd);

/* Binds a unix socket at path (an old socket file left there is replaced; the path must fit
 * sun_path's 108 bytes), makes it mode 0600 and starts accepting. Requests then carry the
 * client's user id (pt__http_request.peer_uid) and no peer address. Returns 0, -ENAMETOOLONG
 * or a negative libuv error. */
int pt__http_server_listen_unix(pt__http_server *s, const char *path);

/* A TCP socket bound to host:port (IPv4 or IPv6 literal; 0: any free port), non-blocking,
 * SO_REUSEADDR, and SO_REUSEPORT when reuseport, so several loops can each listen on the same
 * port and the kernel spreads connections among them. Returns the descriptor, or -EINVAL (bad
 * address) or a negative errno. */
int pt__http_bind_socket(const char *host, int port, int reuseport);

/* The port actually bound (useful after listening on port 0), or a negative error. */
int pt__http_server_port(const pt__http_server *s);

/* Graceful close: stops accepting, closes idle connections at once, and lets requests already
 * being read or handled finish (their responses say Connection: close; an open stream ends
 * normally, then its connection closes). When the last
 * connection is closed, cb(s, arg) runs (cb may be NULL) and the server is freed. */
void pt__http_server_close(pt__http_server *s, void (*cb)(pt__http_server *s, void *arg),
                           void *arg);

/* Closes every connection now, requests in flight or not (the drain deadline passed): their
 * handlers' late answers are dropped, open streams cut (their writes then return -EPIPE). Only
 * after pt__http_server_close(). */
void pt__http_server_abort(pt__http_server *s);

/* Open connections, and how many of them a handler owes a response to (or a response is being
 * written on). */
unsigned pt__http_server_connections(const pt__http_server *s, unsigned *busy);

/* The per-request room of pt__http_hooks.ext_size bytes (NULL when 0), and whether begin ran
 * for the response's request. */
void *pt__http_response_ext(pt__http_response *res);
int pt__http_response_begun(const pt__http_response *res);

/* How many requests were answered 503 because their handler missed its deadline. */
uint64_t pt__http_server_handler_timeouts(const pt__http_server *s);

/* The value of the request's first header called name (case-insensitive) and its length in
 * *len, or NULL. */
const char *pt__http_request_header(const pt__http_request *req, const char *name, size_t *len);

/* A set of lowercase header names, hashed once, for what looks up the same names in every
 * request (the access log's allow-list, the request id). The set owns its arrays, not the
 * strings: each name must outlive it. Equal names may repeat: the first is in the table, the
 * later ones take its value.
 *
 *     static const char *const names[] = {"x-request-id", "request-id"};
 *     pt__http_header_set set;
 *     pt__http_header_set_init(&set, names, 2);   // once
 *     pt__http_request_headers_find(req, &set, values, value_lens);   // per request
 *     pt__http_header_set_free(&set);
 */
typedef struct {
    uint32_t hash, len;
    /* The name as server.c reads a request's header names, a word at a time: each word
     * followed by 0x20 in the bytes where it has a letter. */
    const uint64_t *words;
    const char *name;
    size_t first; /* the index of the first name equal to this one (its own, mostly) */
} pt__http_header_name;

typedef struct pt__http_header_set {
    size_t n; /* names */
    size_t ndistinct; /* names unlike every one before them */
    pt__http_header_name *names;
    /* Open addressing, linear probing: 0 empty, else the name's index + 1 in the low 16 bits
     * and its hash's high 16 bits above. */
    uint32_t *slots;
    uint32_t mask; /* slots - 1: a power of two, at least 16 and 4n */
} pt__http_header_set;

/* Builds s from names[0..n), which are lowercase (no 'A'..'Z'). Returns 0, -EINVAL (a NULL
 * or capitalised name, one of 4 GiB or more, more than 65535 names) or -ENOMEM; on failure s
 * holds nothing to free, and pt__http_header_set_free() on it is harmless. */
int pt__http_header_set_init(pt__http_header_set *s, const char *const *names, size_t n);

/* Frees what pt__http_header_set_init() made (a zeroed set too); s is zeroed. */
void pt__http_header_set_free(pt__http_header_set *s);

/* pt__http_request_header() for every name of set in one pass over the request's headers:
 * values[k] (length in value_lens[k]) is the first header called set->names[k].name, or NULL
 * (value_lens[k] then untouched); both arrays hold set->n. For a request whose headers are
 * complete (hooks and handlers): each header's name is hashed once per request, on the first
 * call, and kept with the request. */
void pt__http_request_headers_find(const pt__http_request *req, const pt__http_header_set *set,
                                   const char **values, size_t *value_lens);

/* Adds "name: value" to the response (before pt__http_respond). Date, Content-Length and
 * Connection are the server's: adding them returns -EINVAL. Returns 0, -EINVAL (a CR or LF in
 * name or value, or after the response was given) or -ENOMEM. */
int pt__http_response_header(pt__http_response *res, const char *name, const char *value);

/* A header for every answer this request gets, the server's own included (404, 405, the
 * deadline's 503): for the begin hook (X-Request-Id). At most 190 bytes with the line's
 * punctuation. Returns 0 or -EINVAL (too long, CR or LF, after the answer began). */
int pt__http_response_sticky_header(pt__http_response *res, const char *name, const char *value);
/* The same for a name and value known to be clean (no CR or LF, no ':' in the name), with their
 * lengths: nothing is scanned. */
int pt__http_response_sticky_header_clean(pt__http_response *res, const char *name, size_t nl,
                                          const char *value, size_t vl);

/* pt__http_respond() from any thread: the body is copied, and the response is given on the
 * loop's thread soon after (responses given this way keep their order). The handler's thread
 * must not touch req or res after this call; headers are added before it, on the thread that
 * owns the response at that moment. Returns 0, -EINVAL (bad status), -ENOMEM, or -ETIMEDOUT
 * when the server is already closed (the answer is dropped, req and res are released). An
 * answer that arrives after the deadline answered 503 is dropped the same way, on the loop. */
int pt__http_respond_from_any_thread(pt__http_response *res, int status, const char *body,
                                     size_t len);

/* Gives the response: status (100..999 excluded 1xx: 200..599), body[0..len) copied. May be
 * called inside the handler or later, on the loop's thread, exactly once. HEAD responses get
 * the headers only. Returns 0, -EINVAL (bad status, second call) or -ENOMEM (the connection is
 * then closed). From another thread, use pt__http_respond_from_any_thread().
 * After the deadline answered 503 (or the connection is gone), the late answer is dropped and
 * returns -ETIMEDOUT; req and res are released then, so a handler must still answer once: one
 * that never answers keeps its request's memory (until it answers). */
int pt__http_respond(pt__http_response *res, int status, const char *body, size_t len);

/* ---- streamed responses ----
 * A response whose body is not known in advance: begin sends the status and headers, each write
 * one piece of the body, end finishes it; then the connection goes on as after
 * pt__http_respond() (the next pipelined request, or the close). All on the loop's thread, never
 * through the hand-off: a producer on another thread comes back to the loop with its own
 * uv_async_t. Between begin and end req and res stay valid, the handler's deadline does not run
 * (the status is out), and pt__http_server_close() waits for the end.
 *
 *     pt__http_stream_begin(res, 200);                  // in the handler or later
 *     pt__http_stream_write(res, "tick\n", 5);          // from a timer, ... (-EPIPE: stop)
 *     pt__http_stream_end(res);                         // always, once: it releases res
 *
 * HTTP/1.1 bodies are chunked (Transfer-Encoding: chunked, no Content-Length); an HTTP/1.0
 * client gets the body as is, with Connection: close, and the close ends it. A client gone
 * mid-stream is noticed by the writes (reading is stopped while a request is handled). */

/* Sends status (200..599 but 204 and 304, which have no body) and the headers added with
 * pt__http_response_header(), plus Date, and Transfer-Encoding: chunked or Connection: close
 * as above; for a HEAD request the headers only, and the writes then do nothing. This is the
 * answer: pt__http_respond() and a second begin return -EINVAL after it. Returns 0, -EINVAL
 * (bad status, already answered; res is untouched), or -ETIMEDOUT (the deadline answered 503,
 * or the connection is gone) or -ENOMEM (the connection is then closed): on these two the
 * answer is dropped as pt__http_respond() drops it and res is released, do not end it. */
int pt__http_stream_begin(pt__http_response *res, int status);

/* Queues data[0..len) (copied) as one chunk; len 0 does nothing (it is never the end). Returns
 * 0, -EPIPE (the connection is gone: stop and end the stream), -ENOMEM (the connection is then
 * closed, so the client sees a cut body rather than a short one: end the stream), or -EINVAL
 * (not streaming, ended, or len over 4 GiB). */
int pt__http_stream_write(pt__http_response *res, const void *data, size_t len);

/* Ends the stream: the last chunk ("0\r\n\r\n"), or the close for HTTP/1.0; the end hook sees
 * the status and the bytes queued for the response, headers included. req and res must not be
 * touched after it (the next request reuses them). Returns 0, -EPIPE (the connection was gone:
 * the client did not get the whole body; the end hook saw that when it closed), -ENOMEM (the
 * connection is then closed) or -EINVAL (not streaming, or ended already). On every return but
 * -EINVAL res is released. */
int pt__http_stream_end(pt__http_response *res);

/* Bytes queued on the connection and not yet taken by the socket (0 when not streaming, or the
 * connection is gone): a producer holds back while this grows, nothing else bounds it. */
size_t pt__http_stream_pending(const pt__http_response *res);

#endif
