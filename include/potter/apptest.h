/* potter/apptest.h: testing a service in process, as its own tests need to (a scaffolded
 * service is held to 100% coverage).
 *
 *     const char *args[] = {"--hello.name=tests", NULL};
 *     pt_app *app = pt_apptest_app("hello", &opts, args);   // port 0, no stderr, no statsd
 *     add_routes(app);                                      // the service's own set-up
 *     pt_apptest *t;
 *     pt_apptest_start(app, &t);                            // pt_app_run() on a thread
 *     pt_apptest_response r;
 *     pt_apptest_request(t, "GET", "/hello", NULL, NULL, 0, &r);
 *     assert(r.status == 200 && strcmp(r.body, "hello, tests\n") == 0);
 *     pt_apptest_response_free(&r);
 *     assert(pt_apptest_wait_record(t, "\"msg\":\"request\"", 1000) == 0);
 *     assert(pt_apptest_metric(t, "http_requests_total{method=\"GET\",route=\"_hello\"",
 *                              NULL) == 1);                 // labels come sorted
 *     assert(pt_apptest_stop(t) == 0);                      // drains, frees the app
 *
 * The app is made with PT_APP_NO_SIGNALS (the test process keeps its signals), in the "test"
 * environment, listening on 127.0.0.1 on a free port with one worker, logging at debug into
 * memory only (no stderr, no file: --log.file= unless args name one), sending no statsd,
 * without a control port (--ctl.enabled=true turns it on: a free port, no unix socket) and
 * without the crash path (the test process keeps its own signal handlers).
 * Several may run in one process.
 */
#ifndef POTTER_APPTEST_H
#define POTTER_APPTEST_H

#include <stddef.h>

#include "potter/app.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_apptest pt_apptest;

/* pt_app_new() for a test: argv is name, the defaults above, then args (NULL-terminated;
 * later flags win). opts may be NULL; its flags get PT_APP_NO_SIGNALS. Exits like
 * pt_app_new() on a bad configuration. */
PT_EXTERN pt_app *pt_apptest_app(const char *name, const pt_app_options *opts,
                                 const char *const *args);

/* Runs pt_app_run(app) on a thread of its own and waits (at most 10 s) until it listens.
 * Returns 0; -ECONNREFUSED when the app stopped before listening (a start hook failed, the
 * port is taken: pt_app_run() returned 70, and logged why); -ETIMEDOUT; -ENOMEM. On error
 * the app is gone and *out is NULL. */
PT_EXTERN int pt_apptest_start(pt_app *app, pt_apptest **out);

/* The port the app listens on. */
PT_EXTERN int pt_apptest_port(const pt_apptest *t);

typedef struct pt_apptest_response {
    int status;
    char *headers; /* "Name: value\r\n"..., NUL-terminated */
    char *body;    /* NUL-terminated (a binary body may hold NULs: use body_len) */
    size_t body_len;
} pt_apptest_response;

/* One HTTP/1.1 request on a new connection (Connection: close), answered within 10 s.
 * headers: extra lines "Name: value\r\n" or NULL. Returns 0 and fills *out, or a negative
 * error (-ETIMEDOUT, -ECONNREFUSED, -EPROTO for a response it cannot read). */
PT_EXTERN int pt_apptest_request(pt_apptest *t, const char *method, const char *path,
                                 const char *headers, const char *body, size_t body_len,
                                 pt_apptest_response *out);

/* The value of the first header called name in a response (case-insensitive), in a static
 * per-thread buffer, or NULL. */
PT_EXTERN const char *pt_apptest_header(const pt_apptest_response *r, const char *name);

PT_EXTERN void pt_apptest_response_free(pt_apptest_response *r);

/* Every record the app logged so far, one JSON line each (malloc'd; free() it). Records are
 * written by the log thread: pt_apptest_wait_record() waits for one. */
PT_EXTERN char *pt_apptest_log(pt_apptest *t);

/* Waits until a logged line contains needle, at most timeout_ms. 0 or -ETIMEDOUT. */
PT_EXTERN int pt_apptest_wait_record(pt_apptest *t, const char *needle, uint64_t timeout_ms);

/* The value of the first Prometheus sample (pt_stats_prometheus() of the app's stats) whose
 * line starts with prefix, e.g. "http_requests_total{" or "http_in_flight ". Returns it, or
 * -1 when there is none (then *found is 0; found may be NULL). */
PT_EXTERN double pt_apptest_metric(pt_apptest *t, const char *prefix, int *found);

/* Stops the app as SIGTERM would (drain, stop hooks, flush), waits for pt_app_run() to
 * return, frees the harness. Returns pt_app_run()'s status. */
PT_EXTERN int pt_apptest_stop(pt_apptest *t);

#ifdef __cplusplus
}
#endif

#endif /* POTTER_APPTEST_H */
