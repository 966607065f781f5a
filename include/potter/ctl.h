/* potter/ctl.h: the control port, a small HTTP server on localhost that an engineer (or
 * `potter ctl`) talks to on the production machine: health with details, metrics, config
 * with origins and runtime overrides, log levels, thread dumps, CPU and heap profiles, quit.
 *
 *     pt_ctl_options o = {.name = "hello", .version = "1.2.0", .config = cfg, .log = log,
 *                         .stats = stats, .health = health, .quit = stop, .quit_arg = app};
 *     pt_ctl *ctl;
 *     pt_ctl_new(&o, &ctl);
 *     pt_ctl_handle(ctl, "GET", "/cache", show_cache, cache, "the cache's entries");
 *     pt_ctl_start(ctl);     // 127.0.0.1:<port> and a unix socket; a discovery file
 *     ...
 *     pt_ctl_free(ctl);      // stops, removes the socket and the discovery file
 *
 * It runs on pt-ops's own event loop with the http part's server code, so it answers while
 * the service's loops are blocked. Slow work (symbolizing, gzip) runs on pt-work.
 *
 * Secure by default: it binds 127.0.0.1 and a unix socket of mode 0600 whose clients must run
 * as the service's user (or root); another address must be named explicitly (and is warned
 * about); every mutation is POST only and needs the header `X-Potter-Ctl` (a browser page
 * cannot send it without the page's origin being allowed); the Host header must name a local
 * address (DNS rebinding); an optional bearer token; request size and rate limits.
 * docs/ctl.md lists the endpoints.
 *
 * pt_app services get one without writing any of this (the ctl.* keys); pt_app_ctl() gives
 * it to add endpoints. */
#ifndef POTTER_CTL_H
#define POTTER_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "potter/config.h"
#include "potter/core.h"
#include "potter/health.h"
#include "potter/log.h"
#include "potter/stats.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_ctl pt_ctl;
typedef struct pt_ctl_req pt_ctl_req;

/* The header every POST must carry (any non-empty value). */
#define PT_CTL_MUTATION_HEADER "X-Potter-Ctl"

typedef struct pt_ctl_options {
    const char *name;        /* the service's name: discovery file, /build (required) */
    const char *version;     /* the service's version (NULL: unknown) */
    const char *commit;      /* the git commit it was built from (NULL: unknown) */
    const char *host;        /* TCP address; NULL: "127.0.0.1"; "": no TCP listener */
    int port;                /* TCP port; 0: any free one (the discovery file names it) */
    const char *socket;      /* unix socket path; NULL: <runtime dir>/<name>.<pid>.sock;
                                "": none */
    const char *runtime_dir; /* NULL: pt_ctl_runtime_dir()'s choice */
    const char *token;       /* when set, every request needs `Authorization: Bearer <token>` */
    unsigned rate;           /* requests per second, with bursts of twice that (0: 50) */
    size_t max_body;         /* request body limit (0: 64 KiB) */
    /* What the built-in endpoints serve; each may be NULL (its endpoints then answer 404). */
    pt_config *config;
    pt_log *log;             /* where the control port logs (NULL: pt_log_default()) */
    pt_stats *stats;
    pt_health *health;
    void (*quit)(void *arg); /* POST /quit: start a graceful shutdown (NULL: 404) */
    void *quit_arg;
} pt_ctl_options;

/* A control port, not yet listening. opts is copied (strings too). Returns 0, -EINVAL (no
 * name, or a name with '/' or starting with '.') or -ENOMEM. */
PT_EXTERN int pt_ctl_new(const pt_ctl_options *opts, pt_ctl **out);

/* An endpoint of the service's own: method "GET" or "POST" (POSTs get the mutation checks),
 * path as the http part's router takes it ("/cache/:key" works), about a line for `GET /`.
 * fn runs on pt-ops: it must not block; hand slow work to pt-work (pt_work_submit()) and
 * reply from there. Before pt_ctl_start(). Returns 0, -EINVAL, -EEXIST (that method and
 * path are taken, built-in ones included), -EBUSY (started) or -ENOMEM. */
typedef void (*pt_ctl_fn)(pt_ctl_req *req, void *arg);
PT_EXTERN int pt_ctl_handle(pt_ctl *ctl, const char *method, const char *path, pt_ctl_fn fn,
                            void *arg, const char *about);

/* Starts listening (TCP and/or the unix socket) on pt-ops and writes the discovery file; logs
 * "control port listening on 127.0.0.1:8081" and the socket path, and a warning when the
 * address is not a loopback one. Returns 0, or a negative error (-EADDRINUSE, -EACCES on a
 * runtime dir that is not the service user's own, -ENAMETOOLONG for a socket path beyond 107
 * bytes, ...) with pt_ctl_error() saying which input was wrong. */
PT_EXTERN int pt_ctl_start(pt_ctl *ctl);

/* Why pt_ctl_start() failed ("" when it did not). */
PT_EXTERN const char *pt_ctl_error(const pt_ctl *ctl);

/* Stops listening, lets requests in flight finish (at most 2 s, then cuts them), removes the
 * socket file and the discovery file, and frees ctl. NULL is accepted. */
PT_EXTERN void pt_ctl_free(pt_ctl *ctl);

/* Where it listens once started: the TCP port (negative when none), the socket path and the
 * discovery file ("" when none). */
PT_EXTERN int pt_ctl_port(const pt_ctl *ctl);
PT_EXTERN const char *pt_ctl_socket(const pt_ctl *ctl);
PT_EXTERN const char *pt_ctl_discovery_file(const pt_ctl *ctl);

/* The folder where services write their discovery files (and sockets): $POTTER_RUNTIME_DIR,
 * else $XDG_RUNTIME_DIR/potter, else /run/potter for root, else /tmp/potter-<uid>. Written
 * into buf; returns 0 or -ENAMETOOLONG. */
PT_EXTERN int pt_ctl_runtime_dir(char *buf, size_t len);

/* ---- inside an endpoint ------------------------------------------------------------------ */

PT_EXTERN const char *pt_ctl_req_method(const pt_ctl_req *req);
/* The path as requested, without the query (not NUL-terminated: *len). */
PT_EXTERN const char *pt_ctl_req_path(const pt_ctl_req *req, size_t *len);
/* A route parameter (":key"), or a query parameter (?seconds=5) percent-decoded into buf;
 * NULL when absent (or longer than len - 1). */
PT_EXTERN const char *pt_ctl_req_param(const pt_ctl_req *req, const char *name, char *buf,
                                       size_t len);
/* The request body (NULL when empty) and its length. */
PT_EXTERN const char *pt_ctl_req_body(const pt_ctl_req *req, size_t *len);
PT_EXTERN pt_ctl *pt_ctl_req_ctl(const pt_ctl_req *req);

/* Answers the request, once, from any thread: status, content type (NULL: application/json),
 * body[0..len) copied. Returns 0, -EINVAL (answered already, bad status) or -ETIMEDOUT (the
 * client is gone or the port closed: the answer is dropped). */
PT_EXTERN int pt_ctl_reply(pt_ctl_req *req, int status, const char *content_type,
                           const void *body, size_t len);

/* Answers {"error":"<message>"} with status (a 4xx or 5xx), printf-style. */
PT_EXTERN int pt_ctl_reply_error(pt_ctl_req *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif

#endif /* POTTER_CTL_H */
