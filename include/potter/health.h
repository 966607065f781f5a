/* potter/health.h: dependency checks with timeouts, run in the background, their results
 * cached and served as JSON for /health and /ready.
 *
 *     static void check_db(pt_health_probe *probe, void *arg)
 *     {
 *         struct db *db = arg;
 *         if (db_ping(db, pt_health_probe_timeout_ms(probe)) == 0)
 *             pt_health_probe_done(probe, 1, NULL);
 *         else
 *             pt_health_probe_done(probe, 0, db_error(db));
 *     }
 *
 *     pt_health *health;
 *     pt_health_new(NULL, &health);
 *     pt_health_add(health, "db", check_db, db, PT_HEALTH_CRITICAL);
 *     pt_health_run_now(health, 5000);   // at start-up: every check once, bounded
 *     pt_health_start(health);           // then each check every 10 s
 *     ...
 *     char *json; int status;
 *     pt_health_json(health, PT_HEALTH_VIEW_READY, &json, &status);
 *     // status 200, json {"status":"ok","checks":{"db":"ok"}}
 *
 * A check function is called on pt-work (so it may block) and reports with
 * pt_health_probe_done(), exactly once, from any thread, before it returns or later. A run
 * that does not report within the check's timeout counts as failed ("timed out after 2s");
 * its late report is ignored. A check is not run again while its previous run is pending.
 *
 * Aggregate status: "failing" when any critical check is not ok (a check that has not yet
 * finished a run is "unknown", which is not ok), else "degraded" when any other check is not
 * ok, else "ok". Healthy (HTTP 200) unless "failing". Readiness is the same, and also fails
 * ("draining", 503) while pt_health_set_draining() is on. docs/health.md has the details.
 */
#ifndef POTTER_HEALTH_H
#define POTTER_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "potter/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_health pt_health;
typedef struct pt_health_probe pt_health_probe;

/* A check: reports its outcome with pt_health_probe_done(probe, ...) exactly once. */
typedef void (*pt_health_fn)(pt_health_probe *probe, void *arg);

/* States: a check's own (unknown, ok, failing) and the aggregate (ok, degraded, failing,
 * draining). */
typedef enum pt_health_state {
    PT_HEALTH_UNKNOWN = 0, /* no run has finished yet */
    PT_HEALTH_OK,
    PT_HEALTH_DEGRADED,    /* aggregate: a non-critical check is not ok */
    PT_HEALTH_FAILING,
    PT_HEALTH_DRAINING     /* aggregate, readiness view only: pt_health_set_draining() */
} pt_health_state;

/* "unknown", "ok", "degraded", "failing", "draining"; NULL for other values. */
PT_EXTERN const char *pt_health_state_name(pt_health_state state);

typedef struct pt_health_options {
    uint64_t timeout_ms;  /* 0: 2000: a check's default timeout */
    uint64_t interval_ms; /* 0: 10000: a check's default interval between runs */
} pt_health_options;

/* Creates an empty registry. opts NULL: the defaults. Nothing runs until pt_health_start()
 * or pt_health_run_now(). Returns 0, -EINVAL or -ENOMEM. */
PT_EXTERN int pt_health_new(const pt_health_options *opts, pt_health **out);

/* Stops the periodic runs and releases the registry. A check function being called at that
 * moment is waited for (at most its timeout); one not yet called will not be. A probe still
 * pending stays valid: its late pt_health_probe_done() is ignored. Must not be called from a
 * check function nor on pt-ops. NULL is accepted. */
PT_EXTERN void pt_health_free(pt_health *h);

/* ---- checks ------------------------------------------------------------------------------ */
#define PT_HEALTH_CRITICAL 1u /* the service is not healthy while this check is not ok */

typedef struct pt_health_check_options {
    uint64_t timeout_ms;  /* 0: the registry's default (2 s) */
    uint64_t interval_ms; /* 0: the registry's default (10 s) */
    unsigned flags;       /* PT_HEALTH_CRITICAL or 0 */
} pt_health_check_options;

/* Registers the check `name` (any non-empty text, unique in h), called as fn(probe, arg),
 * with the registry's default timeout and interval. Before or after pt_health_start(), from
 * any thread; after it, the check's first run starts at once. Returns 0, -EINVAL (h, name
 * or fn NULL, name "", unknown flags), -EEXIST (name taken), -ENOMEM, or after start the
 * error of starting its timer (the check is then registered, and pt_health_start() retries). */
PT_EXTERN int pt_health_add(pt_health *h, const char *name, pt_health_fn fn, void *arg,
                            unsigned flags);
/* The same with a timeout and interval of its own. opts NULL: as pt_health_add(.., 0). */
PT_EXTERN int pt_health_add_opts(pt_health *h, const char *name, pt_health_fn fn, void *arg,
                                 const pt_health_check_options *opts);

/* Number of checks registered. */
PT_EXTERN size_t pt_health_count(pt_health *h);

/* Reports a run's outcome: ok nonzero for success, else `error` says why (NULL: "failed";
 * copied, cut at 255 bytes). Exactly once per probe, from any thread, during the check
 * function or after it returned. After the run timed out, or its registry was freed, the
 * report is ignored; the probe is released either way and must not be used after. */
PT_EXTERN void pt_health_probe_done(pt_health_probe *probe, int ok, const char *error);

/* The run's timeout in ms, for a check that bounds its own I/O with it. */
PT_EXTERN uint64_t pt_health_probe_timeout_ms(const pt_health_probe *probe);

/* ---- running ----------------------------------------------------------------------------- */

/* Starts running each check every interval, the first run at once: a pt-ops timer per check
 * queues the call on pt-work. Returns 0, -EINVAL, or the error of starting pt-ops. */
PT_EXTERN int pt_health_start(pt_health *h);

/* Runs every check once now (a check whose run is pending is not started again: that run's
 * result counts) and waits until each has a result, at most timeout_ms. For start-up and
 * tests; not from a check function nor on pt-ops. Returns 0, -ETIMEDOUT, -EINVAL, or the
 * error of posting to pt-ops. */
PT_EXTERN int pt_health_run_now(pt_health *h, uint64_t timeout_ms);

/* While on, readiness fails (the service is shutting down); health does not. */
PT_EXTERN void pt_health_set_draining(pt_health *h, int draining);

/* ---- results ----------------------------------------------------------------------------- */
typedef struct pt_health_result {
    pt_health_state state;         /* UNKNOWN, OK or FAILING */
    int critical;                  /* 1 if registered with PT_HEALTH_CRITICAL */
    uint64_t latency_ns;           /* of the last finished run (from call to report) */
    char error[256];               /* why the last run failed; "" if it passed */
    int64_t since_wall_ns;         /* when the check entered its state (Unix epoch ns) */
    uint64_t consecutive_failures; /* failed runs in a row, up to the last one */
    int64_t last_run_wall_ns;      /* when the last finished run started; 0: none yet */
    uint64_t runs;                 /* runs finished */
    int pending;                   /* 1 while a run is in progress */
} pt_health_result;

/* Copies the cached result of the check `name`. Returns 0, -EINVAL or -ENOENT. */
PT_EXTERN int pt_health_result_get(pt_health *h, const char *name, pt_health_result *out);

/* The aggregate state: OK, DEGRADED or FAILING; with `ready` nonzero, DRAINING while
 * draining. */
PT_EXTERN pt_health_state pt_health_status(pt_health *h, int ready);

/* ---- JSON, for the HTTP servers ---------------------------------------------------------- */
#define PT_HEALTH_VIEW_READY 1u    /* /ready: fails while draining */
#define PT_HEALTH_VIEW_DETAILED 2u /* the control port's /health: each check's details */

/* The health document as a malloc'd NUL-terminated JSON text in *out (free() it) and the
 * HTTP status to serve it with in *http_status: 200, or 503 when the status is "failing" or
 * "draining". The public form (service port):
 *
 *     {"status":"degraded","checks":{"cache":"failing","db":"ok"}}
 *
 * With PT_HEALTH_VIEW_DETAILED (control port) each check is an object:
 *
 *     {"status":"ok","checks":{"db":{"status":"ok","critical":true,"latency_ms":1.250,
 *      "error":null,"since":"2026-11-22T17:21:05.123Z","consecutive_failures":0,
 *      "last_run":"2026-11-22T17:21:15.123Z"}}}
 *
 * Checks appear in name order. Returns 0, -EINVAL or -ENOMEM. */
PT_EXTERN int pt_health_json(pt_health *h, unsigned view, char **out, int *http_status);

#ifdef __cplusplus
}
#endif

#endif /* POTTER_HEALTH_H */
