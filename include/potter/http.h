/* potter/http.h: the HTTP/1.1 server services are built on: a radix-tree router, worker event
 * loops sharing one port, and middleware that logs, counts and times every request without
 * user code.
 *
 *     static void hello(pt_http_req *req, void *arg)
 *     {
 *         size_t n;
 *         const char *name = pt_http_param(req, "name", &n);
 *         PT_DEBUG(pt_http_log(req), "greeting", PT_STRN("name", name, n)); // carries req_id
 *         pt_http_header_set(req, "Content-Type", "text/plain");
 *         pt_http_respond(req, 200, "hello\n", 6);
 *     }
 *
 *     pt_http_options o = {.host = "127.0.0.1", .port = 8080, .log = log, .stats = stats};
 *     pt_http *http;
 *     pt_http_new(&o, &http);
 *     pt_http_route(http, "GET", "/hello/:name", hello, NULL);
 *     pt_http_start(http);       // binds, starts the worker loops
 *     ...
 *     pt_http_stop(http, 10000); // stops accepting, lets requests finish (at most 10 s)
 *     pt_http_free(http);
 *
 * In a pt_app service, pt_app_http() gives the app's server, configured by the http.* keys,
 * started by pt_app_run() and drained on SIGTERM: the above without the options.
 *
 * Handlers run on a worker's loop thread. A handler answers at once, or later: from a timer or
 * its own I/O on the same loop (pt_http_loop()), or from any thread with
 * pt_http_respond_async(). Every request gets exactly one answer; one that does not come
 * within the handler deadline is answered 503 for it (and logged).
 *
 * Routes: static segments, `:param` segments and a trailing `*wildcard`; static beats param
 * beats wildcard. No match: 404; a match for another method: 405 with Allow; HEAD is served by
 * the GET handler (the body is dropped). Trailing slashes are significant: "/a/" is not "/a".
 * Registering a method and path twice is an error. docs/http.md has the details.
 */
#ifndef POTTER_HTTP_H
#define POTTER_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "potter/core.h"
#include "potter/health.h"
#include "potter/log.h"
#include "potter/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_http pt_http;
typedef struct pt_http_req pt_http_req;

typedef void (*pt_http_handler)(pt_http_req *req, void *arg);

typedef struct pt_http_options {
    const char *host;    /* an IPv4 or IPv6 literal; NULL: "127.0.0.1" */
    int port;            /* 0: any free port (pt_http_port() tells which) */
    unsigned workers;    /* event loops, each with its own listener on the port
                            (SO_REUSEPORT); 0: one per CPU */
    /* Limits; 0 takes the default shown. */
    size_t max_header_bytes;     /* 8 KiB: request line and headers (431 beyond) */
    size_t max_body_bytes;       /* 1 MiB (413 beyond) */
    unsigned max_connections;    /* 1024 per worker (503 and close beyond) */
    uint64_t header_timeout_ms;  /* 10 s: first byte to the end of the headers (408) */
    uint64_t body_timeout_ms;    /* 30 s: end of the headers to the end of the body (408) */
    uint64_t idle_timeout_ms;    /* 60 s: keep-alive wait for the next request (close) */
    uint64_t handler_timeout_ms; /* 30 s: a handler's deadline to answer (503) */
    pt_log *log;       /* access log, handlers' request loggers, problems; NULL: none */
    pt_stats *stats;   /* request metrics; NULL: none */
    pt_health *health; /* served at health_path and ready_path; NULL: not served */
    const char *health_path; /* NULL: "/health"; "": not served */
    const char *ready_path;  /* NULL: "/ready"; "": not served */
    /* The built-in middleware, each on unless turned off here. */
    int no_access_log; /* one info record per request */
    int no_metrics;    /* the http.* metrics */
    int no_request_id; /* X-Request-Id in and out, req_id in every record of the request */
    /* Request headers the access log copies (case-insensitive names), NULL-terminated; NULL:
     * host, user-agent, referer, content-type, content-length, x-forwarded-for. */
    const char *const *log_headers;
} pt_http_options;

/* A new server, not yet listening. opts may be NULL (every default). Returns 0, -EINVAL or
 * -ENOMEM. */
PT_EXTERN int pt_http_new(const pt_http_options *opts, pt_http **out);

/* Registers fn for method ("GET", "POST", ...; "*": every method) and path, before
 * pt_http_start(). Returns 0, -EEXIST (that method and path are taken), -EINVAL (bad pattern,
 * method, or after start) or -ENOMEM; pt_http_error() says what was wrong. */
PT_EXTERN int pt_http_route(pt_http *http, const char *method, const char *path,
                            pt_http_handler fn, void *arg);

/* User middleware, run in registration order around every routed request (404s and 405s
 * included; not requests refused before they were read whole, such as 400 and 431).
 * before(req, arg) returns 0 to go on, or nonzero when it answered the request itself (the
 * handler and later before hooks are then skipped; after hooks still run). after(req,
 * status, arg) runs when the response has been queued. Before pt_http_start(). */
typedef int (*pt_http_before_fn)(pt_http_req *req, void *arg);
typedef void (*pt_http_after_fn)(pt_http_req *req, int status, void *arg);
PT_EXTERN int pt_http_before(pt_http *http, pt_http_before_fn fn, void *arg);
PT_EXTERN int pt_http_after(pt_http *http, pt_http_after_fn fn, void *arg);

/* What the last failed call on http was refused for ("" if none). */
PT_EXTERN const char *pt_http_error(const pt_http *http);

/* Binds (the port is taken when this returns), starts the workers and serves. Returns 0,
 * -EADDRINUSE, -EINVAL (bad host, already started), -ENOMEM or a libuv error. */
PT_EXTERN int pt_http_start(pt_http *http);

/* The port listened on (after pt_http_start()), or a negative error. */
PT_EXTERN int pt_http_port(const pt_http *http);

/* Graceful stop: closes the listeners (later connections are refused), closes idle
 * connections, lets requests being read or handled finish (their responses carry
 * Connection: close), and after drain_ms closes whatever is left. Returns once every worker
 * has stopped: 0, or -ETIMEDOUT when the deadline cut requests off. Any thread but a
 * worker's. */
PT_EXTERN int pt_http_stop(pt_http *http, uint64_t drain_ms);

/* Stops (at once, if still running) and frees. NULL is accepted. */
PT_EXTERN void pt_http_free(pt_http *http);

/* Requests being handled now, over every worker (what the http.in_flight gauge shows). */
PT_EXTERN unsigned pt_http_in_flight(const pt_http *http);

/* Routes registered (what the http.routes gauge shows). */
PT_EXTERN size_t pt_http_route_count(const pt_http *http);

/* ---- the request: on its loop's thread, until answered --------------------------------
 * Strings are not NUL-terminated unless said; lengths go in *len. */
PT_EXTERN const char *pt_http_method(const pt_http_req *req); /* "GET"; NUL-terminated */
PT_EXTERN const char *pt_http_path(const pt_http_req *req, size_t *len);  /* raw, no query */
PT_EXTERN const char *pt_http_query(const pt_http_req *req, size_t *len); /* NULL: none */
/* The route's template ("/users/:id", NUL-terminated), NULL when no route matched. */
PT_EXTERN const char *pt_http_route_template(const pt_http_req *req);
/* A `:param` or `*wildcard` value by name (raw, not percent-decoded), or NULL. */
PT_EXTERN const char *pt_http_param(const pt_http_req *req, const char *name, size_t *len);
/* The first header called name (case-insensitive), trailing blanks cut, or NULL. */
PT_EXTERN const char *pt_http_header(const pt_http_req *req, const char *name, size_t *len);
/* The whole body (chunked bodies joined), NULL when empty. */
PT_EXTERN const char *pt_http_body(const pt_http_req *req, size_t *len);
/* The request id (NUL-terminated): the client's X-Request-Id (or Request-Id) when it is 1 to
 * 128 visible ASCII characters, else a new random one. "" with no_request_id. */
PT_EXTERN const char *pt_http_request_id(const pt_http_req *req);
/* A logger for this request: the server's, with req_id bound (made on first call, released
 * with the request). Never NULL when the server has a logger. */
PT_EXTERN pt_log *pt_http_log(pt_http_req *req);
/* The worker's libuv loop (a uv_loop_t *), for timers and I/O that answer later. */
PT_EXTERN void *pt_http_loop(const pt_http_req *req);
/* A pointer of the caller's, carried from before hooks to the handler and after hooks. */
PT_EXTERN void pt_http_set_user(pt_http_req *req, void *user);
PT_EXTERN void *pt_http_user(const pt_http_req *req);

/* ---- the response ----------------------------------------------------------------------
 * A header for the response, before it is given. Date, Content-Length, Connection and
 * Transfer-Encoding are the server's. Returns 0, -EINVAL or -ENOMEM. */
PT_EXTERN int pt_http_header_set(pt_http_req *req, const char *name, const char *value);

/* Gives the response (body copied), on the request's loop thread, exactly once. Returns 0,
 * -EINVAL (bad status, given twice), -ENOMEM, or -ETIMEDOUT when it came too late (the
 * deadline answered 503, or the client left): req is released either way. */
PT_EXTERN int pt_http_respond(pt_http_req *req, int status, const void *body, size_t len);

/* pt_http_respond() from any thread: the body is copied and the answer given on the
 * request's loop soon after (answers given this way keep their order). Headers are set
 * first, by the thread that owns the request then; after this call req is no longer the
 * caller's. Returns 0 (queued: an answer that turns out too late, after the deadline's 503,
 * is dropped on the loop), -EINVAL (bad status), -ENOMEM, or -ETIMEDOUT when the server has
 * already stopped (the answer is dropped and req released). */
PT_EXTERN int pt_http_respond_async(pt_http_req *req, int status, const void *body, size_t len);

/* ---- streamed responses: on the request's loop thread ------------------------------------
 * The status and headers go at once, the body in pieces as it is produced: chunked for
 * HTTP/1.1 clients; for HTTP/1.0 ones the body ends with the connection. The handler
 * deadline stops at pt_http_stream_begin(); the access record and metrics are written at
 * pt_http_stream_end(), with every byte sent.
 *
 *     pt_http_stream_begin(req, 200);
 *     pt_http_stream_write(req, "part 1\n", 7);   // later, from a timer or I/O callback
 *     pt_http_stream_end(req);                    // req is released
 *
 * begin: 0, -EINVAL (bad status, 204, 304, already answered), -ETIMEDOUT (too late: req is
 * released, do not call end) or -ENOMEM. write: 0, or -EPIPE once the client is gone (then
 * end, which releases req). end: 0 or -EPIPE. */
PT_EXTERN int pt_http_stream_begin(pt_http_req *req, int status);
PT_EXTERN int pt_http_stream_write(pt_http_req *req, const void *data, size_t len);
PT_EXTERN int pt_http_stream_end(pt_http_req *req);
/* Bytes written but not yet taken by the socket: a producer faster than the client waits
 * while this grows (say above 1 MiB). */
PT_EXTERN size_t pt_http_stream_pending(const pt_http_req *req);

#ifdef __cplusplus
}
#endif

#endif /* POTTER_HTTP_H */
