/* The requests in flight, for crash reports (potter/crash.h, docs/crash.md): each worker keeps
 * the requests it began and has not ended in a list (two pointer writes at begin and at end,
 * on the worker's thread); a section of the crash report walks every worker's list from the
 * signal handler, read-only and bounded, and writes one line per request:
 *
 *     6f1c2e9a-... GET /users/:id 1250ms worker=0
 *
 * The walk races the workers (they are not stopped): a request that ends meanwhile may be
 * listed or not. Best effort, as everything read from another thread in a crash. */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "core/clock_internal.h"
#include "core/number_internal.h"
#include "http/http_internal.h"
#include "potter/crash.h"

#define MAX_HTTP 8
#define MAX_LISTED 256 /* per worker: a corrupt list cannot keep the handler busy */

static pt_http *_Atomic tracked[MAX_HTTP];
static pthread_mutex_t tracked_mu = PTHREAD_MUTEX_INITIALIZER;
static int section_added;

void pt__http_busy_add(pt__http_worker *w, struct pt_http_req *r)
{
    struct pt_http_req *head = atomic_load_explicit(&w->busy, memory_order_relaxed);
    r->busy_prev = NULL;
    atomic_store_explicit(&r->busy_next, head, memory_order_relaxed);
    if (head)
        head->busy_prev = r;
    atomic_store_explicit(&w->busy, r, memory_order_release); /* r whole before it is seen */
    r->busy = 1;
}

void pt__http_busy_remove(pt__http_worker *w, struct pt_http_req *r)
{
    if (!r->busy)
        return;
    struct pt_http_req *next = atomic_load_explicit(&r->busy_next, memory_order_relaxed);
    if (r->busy_prev)
        atomic_store_explicit(&r->busy_prev->busy_next, next, memory_order_release);
    else
        atomic_store_explicit(&w->busy, next, memory_order_release);
    if (next)
        next->busy_prev = r->busy_prev;
    r->busy = 0;
}

/* ---- the section ----------------------------------------------------------------------------- */

static size_t put_str(char *p, size_t room, const char *s, size_t n)
{
    size_t k = 0;
    for (; k < n && k < room; k++) /* a request's bytes: no newline may break the line */
        p[k] = s[k] == '\n' || s[k] == '\r' ? ' ' : s[k];
    return k;
}

static void write_requests(int fd, void *arg)
{
    (void)arg;
    uint64_t now = pt_clock_mono_ns();
    for (int h = 0; h < MAX_HTTP; h++) {
        pt_http *http = atomic_load(&tracked[h]);
        if (!http || !http->workers)
            continue;
        for (unsigned i = 0; i < http->nworkers; i++) {
            pt__http_worker *w = &http->workers[i];
            struct pt_http_req *r = atomic_load_explicit(&w->busy, memory_order_acquire);
            for (int k = 0; r && k < MAX_LISTED;
                 k++, r = atomic_load_explicit(&r->busy_next, memory_order_acquire)) {
                char line[512];
                size_t n = 0;
                const pt__http_request *core = r->core;
                n += put_str(line + n, 80, r->id[0] ? r->id : "-", r->id[0] ? strlen(r->id) : 1);
                line[n++] = ' ';
                const char *m = core && core->method_name ? core->method_name : "?";
                n += put_str(line + n, 16, m, strlen(m));
                line[n++] = ' ';
                if (core && core->route)
                    n += put_str(line + n, 200, core->route, strlen(core->route));
                else if (core && core->path)
                    n += put_str(line + n, 200, core->path, core->path_len);
                line[n++] = ' ';
                uint64_t start = core ? core->start_ns : 0;
                n += pt__fmt_u64(line + n, start && now > start ? (now - start) / 1000000 : 0);
                memcpy(line + n, "ms worker=", 10);
                n += 10;
                n += pt__fmt_u64(line + n, i);
                line[n++] = '\n';
                ssize_t wr = write(fd, line, n);
                (void)wr;
            }
        }
    }
}

void pt__http_crash_track(pt_http *http)
{
    pthread_mutex_lock(&tracked_mu);
    if (!section_added)
        section_added = pt_crash_add_section("requests in flight", write_requests, NULL) == 0;
    for (int i = 0; i < MAX_HTTP; i++) {
        if (atomic_load(&tracked[i]) == NULL) {
            atomic_store(&tracked[i], http);
            break;
        }
    }
    pthread_mutex_unlock(&tracked_mu);
}

void pt__http_crash_untrack(pt_http *http)
{
    pthread_mutex_lock(&tracked_mu);
    for (int i = 0; i < MAX_HTTP; i++)
        if (atomic_load(&tracked[i]) == http)
            atomic_store(&tracked[i], NULL);
    pthread_mutex_unlock(&tracked_mu);
}
