/* What the public http part's files share: http.c (the server object, routes, workers,
 * start and stop) and middleware.c (the hooks every request passes through: request id,
 * access log, metrics, user middleware, and the request and response calls of potter/http.h).
 * The server core underneath is server.c and response.c (server.h). */
#ifndef PT_HTTP_INTERNAL_H
#define PT_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <uv.h>

#include "potter/http.h"
#include "http/router.h"
#include "http/server.h"
#include "log/log_internal.h" /* pt__buf, pt__json_str for the access record */

#define PT__HTTP_ID_MAX 128 /* the longest request id taken from a client */
#define PT__HTTP_MAX_HOOKS 16 /* before hooks, and after hooks, each */
#define PT__HTTP_STATUSES 500 /* per-status counters: 100..599 */
/* Header names looked up once, as a request begins, for the request id and the access record
 * (the id's two, then the access record's); a longer allow-list is looked up as it ends. */
#define PT__HTTP_BEGIN_HEADERS 16

/* A route as the router holds it: the core calls through `core`, which leads here. */
typedef struct pt__http_entry {
    pt__http_route core; /* {middleware's trampoline, this entry} */
    pt_http *http;
    pt_http_handler fn;
    void *arg;
    char method[16];
    char *pattern; /* as registered */
    char *route_json; /* the pattern as a JSON string, quotes included, for the access record */
    size_t route_json_len;
    /* Metrics, made on first use (any worker): requests by status class 1xx..5xx, and the
     * latency timer. */
    _Atomic(pt_counter *) by_class[5]; /* counter_slot */
    _Atomic(pt_timer *) time;
    struct pt__http_entry *next; /* every entry, to free them */
} pt__http_entry;

typedef struct pt__http_worker {
    pt_http *http;
    unsigned index;
    pthread_t thread;
    int started; /* the thread runs */
    uv_loop_t loop;
    uv_async_t stop; /* asks the loop to drain */
    uv_timer_t drain; /* the drain deadline */
    pt__http_server *server;
    int fd; /* its listening socket until the server owns it */
    int rc; /* how starting went */
    int aborted; /* the drain deadline cut requests off */
    int loop_left; /* the loop could not be closed: handles of the service's are open */
    uint64_t timeouts_seen; /* handler timeouts already logged */
    struct pt__buf access_buf; /* the access record's req object, reused */
    struct pt_http_req *_Atomic busy; /* requests begun and not ended, for crash reports */
} pt__http_worker;

typedef struct {
    pt_http_before_fn fn;
    void *arg;
} pt__http_before;

typedef struct {
    pt_http_after_fn fn;
    void *arg;
} pt__http_after;

struct pt_http {
    pt_http_options opts; /* strings below are copies */
    char *host, *health_path, *ready_path;
    const char **log_headers; /* NULL-terminated, lowercase copies */
    pt__http_header_set log_header_set; /* of log_headers, for the access record */
    pt__http_header_set id_header_set; /* x-request-id, request-id: where a client's id is */
    /* Both in one, when the access record is on and its list fits PT__HTTP_BEGIN_HEADERS. */
    pt__http_header_set begin_header_set;
    int headers_at_begin;
    /* Each name as the access record writes it, `"name":`: key i is log_header_keys.p
     * [log_header_key_at[i] .. log_header_key_at[i + 1]). */
    struct pt__buf log_header_keys;
    size_t *log_header_key_at;
    pt__router *router;
    pt__http_entry *entries;
    pt__http_limits limits;
    pt__http_before before[PT__HTTP_MAX_HOOKS];
    pt__http_after after[PT__HTTP_MAX_HOOKS];
    unsigned nbefore, nafter;
    pt__http_worker *workers;
    unsigned nworkers;
    int port;
    /* Of the stop under way: set by the stopping thread, read by each worker when woken (the
     * wake-up, an eventfd write, orders them, but only for the kernel: atomic for the rest). */
    _Atomic uint64_t drain_ms;
    int started, stopped;
    pthread_mutex_t lock; /* start and stop */
    pthread_mutex_t ready_lock;
    pthread_cond_t ready; /* a worker has started (or failed to) */
    unsigned nready;
    atomic_uint in_flight;
    /* Metrics (NULL without stats, or with no_metrics). */
    pt_gauge *m_in_flight, *m_routes;
    pt_counter *m_bytes_in, *m_bytes_out, *m_timeouts;
    _Atomic(pt_counter *) m_status[PT__HTTP_STATUSES];
    /* Requests no route took (404, 405, refused before routing), by class: one bucket. */
    _Atomic(pt_counter *) m_unmatched[5];
    _Atomic(pt_timer *) m_unmatched_time;
    char error[256];
};

/* The per-request room (pt__http_hooks.ext_size): what potter/http.h calls a pt_http_req. */
struct pt_http_req {
    pt_http *http;
    pt__http_worker *worker;
    pt__http_request *core;
    pt__http_response *res;
    pt__http_entry *entry; /* NULL until a route's handler runs */
    pt_log *log; /* made by pt_http_log() */
    void *user;
    unsigned nbefore_ran; /* after hooks run for requests whose before hooks ran */
    /* In the worker's busy list from begin to end (crash.c reads it from a signal handler). */
    struct pt_http_req *_Atomic busy_next;
    struct pt_http_req *busy_prev;
    int busy;
    int id_plain; /* the id needs no JSON escape */
    size_t id_len;
    /* From here on, what on_begin() does not clear (it clears what comes before). */
    char id[PT__HTTP_ID_MAX + 1];
    /* What on_begin() looked up: begin_header_set's values when headers_at_begin, else
     * id_header_set's (the first two). */
    const char *header_values[PT__HTTP_BEGIN_HEADERS];
    size_t header_value_lens[PT__HTTP_BEGIN_HEADERS];
};

/* ---- crash.c ---- */

/* The requests in flight of every started pt_http, as a crash report section. */
void pt__http_crash_track(pt_http *http);
void pt__http_crash_untrack(pt_http *http);
void pt__http_busy_add(pt__http_worker *w, struct pt_http_req *r);
void pt__http_busy_remove(pt__http_worker *w, struct pt_http_req *r);

/* ---- middleware.c ---- */

/* The hooks for a worker's server core. */
void pt__http_hooks_for(pt__http_worker *w, pt__http_hooks *hooks);

/* The router's handler for every route: runs the user's handler. */
void pt__http_call_route(pt__http_request *core, pt__http_response *res, void *arg);

/* Makes the server-wide metrics (after the routes are known), and lets go of them. */
void pt__http_metrics_init(pt_http *http);
void pt__http_metrics_fini(pt_http *http);

/* Serves pt_http_options.health at the health and ready paths. */
void pt__http_serve_health(pt_http_req *req, void *arg);
void pt__http_serve_ready(pt_http_req *req, void *arg);

#endif
