/* The control port's profiling endpoints (docs/ctl.md, docs/prof.md): thread dumps, CPU
 * profiles as pprof, folded stacks or a flame graph. The slow part of each (signalling
 * threads, symbolizing, gzip) runs on pt-work; a CPU profile waits out its seconds on a pt-ops
 * timer, so pt-ops keeps answering meanwhile. One CPU profile at a time (409 otherwise). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl_internal.h"
#include "potter/heap.h"
#include "potter/prof.h"

#define MAX_SECONDS 300

/* ---- /debug/threads ------------------------------------------------------------------------ */

typedef struct {
    pt_ctl_req *req;
    unsigned format;
} threads_job;

static void threads_run(void *arg, int status)
{
    threads_job *j = arg;
    char *out = NULL;
    size_t len = 0;
    int err = status < 0 ? status : pt_prof_threads(j->format, &out, &len);
    if (err < 0)
        pt_ctl_reply_error(j->req, err == -ETIMEDOUT ? 503 : 500, "threads: %s",
                           err == -ETIMEDOUT ? "pt-work is busy: try again" : pt_strerror(err));
    else
        pt_ctl_reply(j->req, 200, j->format == PT_PROF_TEXT ? "text/plain; charset=utf-8" : NULL,
                     out, len);
    free(out);
    free(j);
}

/* ?format=json (the default) or text. */
static void ep_threads(pt_ctl_req *req, void *arg)
{
    (void)arg;
    char f[16];
    const char *format = pt_ctl_req_param(req, "format", f, sizeof f);
    unsigned fmt = PT_PROF_JSON;
    if (format && strcmp(format, "text") == 0) {
        fmt = PT_PROF_TEXT;
    } else if (format && strcmp(format, "json") != 0) {
        pt_ctl_reply_error(req, 400, "threads: format must be json or text, got \"%s\"", format);
        return;
    }
    threads_job *j = malloc(sizeof *j);
    if (!j) {
        pt_ctl_reply_error(req, 500, "out of memory");
        return;
    }
    j->req = req;
    j->format = fmt;
    if (pt_work_submit(threads_run, j, 10000) < 0) {
        free(j);
        pt_ctl_reply_error(req, 503, "threads: pt-work does not take jobs");
    }
}

/* ---- CPU profiles -------------------------------------------------------------------------- */

typedef struct cpu_job {
    pt_ctl_req *req;
    pt_ctl *ctl;
    unsigned format;
    pt_ops_timer *timer;
} cpu_job;

static void cpu_finish(void *arg, int status)
{
    cpu_job *j = arg;
    void *out = NULL;
    size_t len = 0;
    int err = pt_prof_cpu_stop(status < 0 ? PT_PROF_PPROF : j->format,
                               status < 0 ? NULL : &out, &len);
    if (status < 0 || err < 0) {
        pt_ctl_reply_error(j->req, 500, "profile: %s", pt_strerror(status < 0 ? status : err));
    } else if (j->format == PT_PROF_PPROF) {
        pt__http_response_header(j->req->res, "Content-Disposition",
                                 "attachment; filename=\"profile.pb.gz\"");
        pt_ctl_reply(j->req, 200, "application/octet-stream", out, len);
    } else {
        pt_ctl_reply(j->req, 200,
                     j->format == PT_PROF_SVG ? "image/svg+xml" : "text/plain; charset=utf-8",
                     out, len);
    }
    free(out);
    free(j);
}

/* The profile's time is up (on pt-ops): stopping and symbolizing go to pt-work. */
static void cpu_due(void *arg)
{
    cpu_job *j = arg;
    pt_ops_timer_free(j->timer);
    j->timer = NULL;
    j->ctl->cpu_job = NULL;
    if (pt_work_submit(cpu_finish, j, 0) < 0)
        cpu_finish(j, -ESHUTDOWN);
}

/* Parses ?name=N within lo..hi (def when absent); answers 400 and returns -1 when bad. */
static int uint_param(pt_ctl_req *req, const char *name, unsigned def, unsigned lo, unsigned hi,
                      unsigned *out)
{
    char text[32], *end;
    const char *v = pt_ctl_req_param(req, name, text, sizeof text);
    if (!v) {
        *out = def;
        return 0;
    }
    unsigned long n = strtoul(v, &end, 10);
    if (!*v || *end || n < lo || n > hi) {
        pt_ctl_reply_error(req, 400, "profile: %s must be an integer in %u..%u, got \"%s\"",
                           name, lo, hi, v);
        return -1;
    }
    *out = (unsigned)n;
    return 0;
}

static void cpu_profile(pt_ctl_req *req, unsigned format)
{
    pt_ctl *ctl = req->ctl;
    unsigned seconds, hz;
    if (uint_param(req, "seconds", 30, 1, MAX_SECONDS, &seconds) < 0 ||
        uint_param(req, "hz", 99, 1, 1000, &hz) < 0)
        return;
    cpu_job *j = calloc(1, sizeof *j);
    if (!j) {
        pt_ctl_reply_error(req, 500, "out of memory");
        return;
    }
    j->req = req;
    j->ctl = ctl;
    j->format = format;
    pt_prof_cpu_options o = {.hz = hz};
    int err = pt_prof_cpu_start(&o);
    if (err < 0) {
        free(j);
        if (err == -EBUSY)
            pt_ctl_reply_error(req, 409, "profile: a CPU profile is running already (one at a "
                                         "time), or the service owns signal SIGRTMIN+4");
        else
            pt_ctl_reply_error(req, 500, "profile: %s", pt_strerror(err));
        return;
    }
    err = pt_ops_timer_start((uint64_t)seconds * 1000, 0, cpu_due, j, &j->timer);
    if (err < 0) {
        pt_prof_cpu_stop(PT_PROF_PPROF, NULL, NULL);
        free(j);
        pt_ctl_reply_error(req, 500, "profile: %s", pt_strerror(err));
        return;
    }
    ctl->cpu_job = j;
    PT_INFO(ctl->log, "control port: CPU profile started", PT_UINT("seconds", seconds),
            PT_UINT("hz", hz));
}

/* ?seconds=30&hz=99&format=pprof|folded|svg */
static void ep_profile(pt_ctl_req *req, void *arg)
{
    (void)arg;
    char f[16];
    const char *format = pt_ctl_req_param(req, "format", f, sizeof f);
    unsigned fmt = PT_PROF_PPROF;
    if (format && strcmp(format, "folded") == 0)
        fmt = PT_PROF_FOLDED;
    else if (format && strcmp(format, "svg") == 0)
        fmt = PT_PROF_SVG;
    else if (format && strcmp(format, "pprof") != 0) {
        pt_ctl_reply_error(req, 400, "profile: format must be pprof, folded or svg, got \"%s\"",
                           format);
        return;
    }
    cpu_profile(req, fmt);
}

static void ep_flame(pt_ctl_req *req, void *arg)
{
    (void)arg;
    cpu_profile(req, PT_PROF_SVG);
}

/* ---- the heap profiler --------------------------------------------------------------------- */

#define NO_HEAP "the heap profiler is not loaded in this service: link libpotter-heap, or " \
                "start it with LD_PRELOAD=libpotter-heap.so (docs/prof.md)"

static void heap_run(void *arg, int status)
{
    pt_ctl_req *req = arg;
    void *out = NULL;
    size_t len = 0;
    int err = status < 0 ? status : pt_prof_heap_profile(&out, &len);
    if (err == -ENOTSUP) {
        pt_ctl_reply_error(req, 501, NO_HEAP);
    } else if (err < 0) {
        pt_ctl_reply_error(req, err == -ETIMEDOUT ? 503 : 500, "heap profile: %s",
                           err == -ETIMEDOUT ? "pt-work is busy: try again" : pt_strerror(err));
    } else {
        pt__http_response_header(req->res, "Content-Disposition",
                                 "attachment; filename=\"heap.pb.gz\"");
        pt_ctl_reply(req, 200, "application/octet-stream", out, len);
    }
    free(out);
}

/* GET /debug/pprof/heap: in use and allocated, by allocation stack (symbolized on pt-work). */
static void ep_heap(pt_ctl_req *req, void *arg)
{
    (void)arg;
    if (!pt_prof_heap_available())
        pt_ctl_reply_error(req, 501, NO_HEAP);
    else if (pt_work_submit(heap_run, req, 10000) < 0)
        pt_ctl_reply_error(req, 503, "heap profile: pt-work does not take jobs");
}

/* POST /debug/heap/start?rate=524288 */
static void ep_heap_start(pt_ctl_req *req, void *arg)
{
    (void)arg;
    char text[32], *end;
    const char *v = pt_ctl_req_param(req, "rate", text, sizeof text);
    unsigned long long rate = v ? strtoull(v, &end, 10) : 0;
    if (v && (!*v || *end || rate < 1 || rate > (1ull << 40))) {
        pt_ctl_reply_error(req, 400, "heap: rate must be the mean bytes between samples, "
                                     "1..%llu, got \"%s\"", 1ull << 40, v);
        return;
    }
    int err = pt_prof_heap_start(rate);
    if (err == -ENOTSUP) {
        pt_ctl_reply_error(req, 501, NO_HEAP);
        return;
    }
    if (err < 0) {
        pt_ctl_reply_error(req, 500, "heap: %s", pt_strerror(err));
        return;
    }
    char body[96];
    int n = snprintf(body, sizeof body, "{\"ok\":true,\"rate\":%llu}\n",
                     rate ? rate : (unsigned long long)PT_HEAP_DEFAULT_MEAN);
    PT_INFO(req->ctl->log, "control port: heap sampling started",
            PT_UINT("rate", rate ? rate : PT_HEAP_DEFAULT_MEAN));
    pt_ctl_reply(req, 200, NULL, body, (size_t)n);
}

static void ep_heap_stop(pt_ctl_req *req, void *arg)
{
    (void)arg;
    int err = pt_prof_heap_stop();
    if (err == -ENOTSUP) {
        pt_ctl_reply_error(req, 501, NO_HEAP);
        return;
    }
    PT_INFO(req->ctl->log, "control port: heap sampling stopped");
    static const char ok[] = "{\"ok\":true}\n";
    pt_ctl_reply(req, 200, NULL, ok, sizeof ok - 1);
}

/* On pt-ops, when the port closes: a profile still waiting for its time ends now. */
void pt__ctl_debug_stop(pt_ctl *ctl)
{
    cpu_job *j = ctl->cpu_job;
    if (!j)
        return;
    ctl->cpu_job = NULL;
    pt_ops_timer_free(j->timer);
    pt_prof_cpu_stop(PT_PROF_PPROF, NULL, NULL);
    pt_ctl_reply_error(j->req, 503, "profile: the control port is closing");
    free(j);
}

int pt__ctl_add_debug(pt_ctl *ctl)
{
    static const struct {
        const char *method, *path;
        pt_ctl_fn fn;
        const char *about;
    } eps[] = {
        {"GET", "/debug/threads", ep_threads,
         "every thread's name and stack, like jstack; ?format=text"},
        {"GET", "/debug/pprof/profile", ep_profile,
         "CPU profile: ?seconds=30&hz=99&format=pprof|folded|svg (pprof: gzip'd profile.proto)"},
        {"GET", "/debug/flame.svg", ep_flame, "CPU profile as a flame graph: ?seconds=30&hz=99"},
        {"GET", "/debug/pprof/heap", ep_heap,
         "heap profile (pprof): in use and allocated by stack; needs libpotter-heap"},
        {"POST", "/debug/heap/start", ep_heap_start,
         "start heap sampling: ?rate=524288 (mean bytes between samples)"},
        {"POST", "/debug/heap/stop", ep_heap_stop, "stop heap sampling"},
    };
    for (size_t i = 0; i < sizeof eps / sizeof *eps; i++) {
        int err = pt_ctl_handle(ctl, eps[i].method, eps[i].path, eps[i].fn, NULL,
                                eps[i].about);
        if (err < 0)
            return err;
    }
    return 0;
}
