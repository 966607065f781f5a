/* Sinks: each has a byte queue that pt-log fills with whole lines and a thread of its own
 * that writes them out, so a slow or stuck sink holds up nobody but itself.
 *
 * A full queue makes pt-log wait for room, at most stall_ms; a sink that does not move in
 * that time is marked stalled and its lines are dropped (and counted) until it drains to
 * half, so a healthy but slower sink pushes back on the callers through the rings while a
 * stuck one is cut off. Write errors keep the data and retry with a back-off; they are
 * counted and reported on stderr at most once a second. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/core_internal.h"
#include "log/log_internal.h"
#include "log/writer_internal.h"

static uint64_t now_ns(void)
{
    return pt_clock_mono_ns();
}

static void deadline_in(struct timespec *ts, uint64_t ns)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ns / 1000000000);
    ts->tv_nsec += (long)(ns % 1000000000);
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* Writes a diagnostic line to stderr without ever blocking on it. */
static void say(const char *text)
{
    struct pollfd p = {STDERR_FILENO, POLLOUT, 0};
    if (poll(&p, 1, 0) == 1 && (p.revents & POLLOUT)) {
        ssize_t n = write(STDERR_FILENO, text, strlen(text));
        (void)n;
    }
}

void pt__sink_report_error(struct pt__sink *s, const char *what, int err)
{
    atomic_fetch_add(&s->errors, 1);
    atomic_store(&s->last_error, err);
    uint64_t now = now_ns();
    if (s->last_report_ns && now - s->last_report_ns < 1000000000)
        return;
    uint64_t errors = atomic_load(&s->errors);
    char msg[512];
    snprintf(msg, sizeof msg,
             "potter: log sink %s: %s failed: %s (%llu failures since the last report)\n", s->label,
             what, pt_strerror(err), (unsigned long long)(errors - s->errors_at_report));
    say(msg);
    s->last_report_ns = now;
    s->errors_at_report = errors;
}

/* ---- the queue, pt-log's side --------------------------------------------------------- */

void pt__sink_wake(struct pt__sink *s)
{
    if (atomic_load(&s->head) == atomic_load(&s->tail) &&
        atomic_load(&s->flush_gen) == atomic_load(&s->flushed_gen))
        return;
    if (!atomic_load(&s->sleeping)) /* awake, or napping: it will look again by itself */
        return;
    pthread_mutex_lock(&s->mu);
    if (atomic_load(&s->sleeping))
        pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int pt__sink_push(struct pt__sink *s, const char *line, size_t len)
{
    if (len > s->size / 2) {
        atomic_fetch_add(&s->dropped, 1);
        return -ENOBUFS;
    }
    uint64_t h = atomic_load_explicit(&s->head, memory_order_relaxed);
    size_t phys = h & (s->size - 1);
    size_t pad = phys + len > s->size ? s->size - phys : 0;
    uint64_t need = h + pad + len;
    if (need - atomic_load_explicit(&s->tail, memory_order_acquire) > s->size) {
        if (atomic_load(&s->stalled)) {
            atomic_fetch_add(&s->dropped, 1);
            return -ENOBUFS;
        }
        struct timespec until;
        deadline_in(&until, s->stall_ns);
        pthread_mutex_lock(&s->mu);
        pthread_cond_broadcast(&s->cv);
        atomic_store(&s->room_wanted, 1);
        while (need - atomic_load(&s->tail) > s->size) {
            if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT)
                break;
        }
        atomic_store(&s->room_wanted, 0);
        pthread_mutex_unlock(&s->mu);
        if (need - atomic_load(&s->tail) > s->size) {
            if (!atomic_exchange(&s->stalled, 1)) {
                char msg[300];
                snprintf(msg, sizeof msg,
                         "potter: log sink %s stalled: dropping its lines until it moves\n",
                         s->label);
                say(msg);
            }
            atomic_fetch_add(&s->dropped, 1);
            return -ENOBUFS;
        }
    }
    if (pad) {
        atomic_store_explicit(&s->skip_to, h + pad, memory_order_relaxed);
        atomic_store_explicit(&s->skip_at, h, memory_order_release);
        h += pad;
        phys = 0;
    }
    memcpy(s->buf + phys, line, len);
    uint64_t seq = atomic_load_explicit(&s->lines_seq, memory_order_relaxed);
    atomic_store_explicit(&s->lines_seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&s->head, h + len, memory_order_release); /* the line with it */
    atomic_store_explicit(&s->lines, atomic_load_explicit(&s->lines, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&s->lines_seq, seq + 2, memory_order_release);
    /* The queue's next bytes were last written a whole queue ago: ask for them now, so that
     * the next line's copy does not wait for them. */
    pt__prefetch_next(s->buf, phys + len, s->size);
    return 0;
}

void pt__sink_request_flush(struct pt__sink *s, uint64_t gen)
{
    atomic_store(&s->flush_target, atomic_load(&s->head));
    atomic_store(&s->flush_gen, gen);
    pthread_mutex_lock(&s->mu);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- the sink's thread ---------------------------------------------------------------- */

static size_t count_lines(const char *p, size_t n)
{
    size_t lines = 0;
    const char *end = p + n;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        lines++;
        p++;
    }
    return lines;
}

/* The queue's head and the lines pushed up to it, read as one. */
static uint64_t head_and_lines(struct pt__sink *s, uint64_t *lines)
{
    for (;;) {
        uint64_t seq = atomic_load_explicit(&s->lines_seq, memory_order_acquire);
        uint64_t head = atomic_load_explicit(&s->head, memory_order_acquire);
        *lines = atomic_load_explicit(&s->lines, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (!(seq & 1) && atomic_load_explicit(&s->lines_seq, memory_order_relaxed) == seq)
            return head;
    }
}

/* Writes what the queue holds, as one contiguous run at a time. Returns 0 when it made
 * progress or had nothing to do, or the error of the write that failed. */
static int write_some(struct pt__sink *s)
{
    for (;;) {
        uint64_t tail = atomic_load_explicit(&s->tail, memory_order_relaxed);
        uint64_t lines;
        uint64_t head = head_and_lines(s, &lines);
        if (tail == head)
            return 0;
        uint64_t skip_at = atomic_load_explicit(&s->skip_at, memory_order_acquire);
        if (skip_at == tail) {
            tail = atomic_load_explicit(&s->skip_to, memory_order_relaxed);
            atomic_store_explicit(&s->tail, tail, memory_order_release);
            continue;
        }
        uint64_t end = skip_at > tail && skip_at < head ? skip_at : head;
        size_t len = (size_t)(end - tail), phys = tail & (s->size - 1);
        /* A line that ended exactly at the buffer's end left no skip mark: the next one starts
         * at offset 0, contiguous in the stream but not in memory. */
        if (len > s->size - phys)
            len = s->size - phys;
        const char *p = s->buf + phys;
        ssize_t n = s->ops.write(s->ctx, p, len);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EAGAIN;
        /* Written up to head: the count read with it says how many lines that makes. Else
         * (a short write, or up to a wrap) the line ends are counted. */
        if (tail + (uint64_t)n == head)
            atomic_store(&s->records, lines);
        else
            atomic_fetch_add(&s->records, count_lines(p, (size_t)n));
        atomic_fetch_add(&s->bytes, (uint64_t)n);
        atomic_store_explicit(&s->tail, tail + (uint64_t)n, memory_order_release);
        if (atomic_load(&s->stalled) && head - (tail + (uint64_t)n) <= s->size / 2)
            atomic_store(&s->stalled, 0);
        if (atomic_load(&s->room_wanted)) {
            pthread_mutex_lock(&s->mu);
            pthread_cond_broadcast(&s->cv); /* room for pt-log */
            pthread_mutex_unlock(&s->mu);
        }
    }
}

static void maybe_flush(struct pt__sink *s)
{
    uint64_t gen = atomic_load(&s->flush_gen);
    if (gen == atomic_load(&s->flushed_gen))
        return;
    if (atomic_load(&s->tail) < atomic_load(&s->flush_target))
        return;
    if (s->ops.flush)
        s->ops.flush(s->ctx, 1000);
    atomic_store(&s->flushed_gen, gen);
    pt__writer_flush_progress();
}

/* How long the sink's thread waits before writing again, after a write that went well.
 * Lines still queued: none if they are many (or a flush or a reopen waits), else a nap so
 * that they gather and go in one write. While lines flow (the last write had some): naps of
 * FLOW_NS, that no one needs to end (under load pt-log never has to wake us); each wake-up
 * costs the machine a context switch and a timer, and a longer nap only makes the writes
 * bigger. Nothing queued: naps of 1 ms, then 10 ms, then, after about a second with
 * nothing, a deep sleep (DEEP_NS) that pt-log ends when it pushes. Flushes, reopens, stops
 * and a full queue end any of them. */
#define DEEP_NS 1000000000ull
#define FLOW_NS 4000000ull
#define BATCH_BYTES 65536
static uint64_t next_wait(struct pt__sink *s, unsigned *idle)
{
    uint64_t pending = atomic_load(&s->head) - atomic_load(&s->tail);
    if (atomic_load(&s->flush_gen) != atomic_load(&s->flushed_gen) || atomic_load(&s->reopen) ||
        pending >= (s->size / 4 < BATCH_BYTES ? s->size / 4 : BATCH_BYTES))
        return 0;
    if (*idle == 0) {
        *idle = 1; /* and stays so until a write has lines again */
        return FLOW_NS;
    }
    if (pending)
        return 1000000;
    ++*idle;
    return *idle < 16 ? 1000000 : *idle < 116 ? 10000000 : DEEP_NS;
}

static void *sink_main(void *arg)
{
    struct pt__sink *s = arg;
    uint64_t backoff = 0, retry_at = 0, last_tick = now_ns();
    unsigned idle = 0;
    pt__thread_background();
    for (;;) {
        if (atomic_load(&s->reopen) && s->ops.reopen) {
            int rc = s->ops.reopen(s->ctx);
            if (rc < 0)
                pt__sink_report_error(s, "reopen", rc);
            atomic_store(&s->reopen_result, rc < 0 ? rc : 0);
            atomic_store(&s->reopen, 0);
            retry_at = 0; /* a reopened sink may work again: try it now */
        }
        uint64_t now = now_ns();
        if (s->ops.tick && now - last_tick >= 1000000000) {
            last_tick = now;
            s->ops.tick(s->ctx);
        }
        /* After a failure, wait out the back-off whatever wakes us: new lines arrive all
         * the time, and a full disk is not helped by trying a thousand times a second. */
        int rc = -EAGAIN;
        if (now >= retry_at) {
            uint64_t before = atomic_load(&s->tail);
            rc = write_some(s);
            if (atomic_load(&s->tail) != before)
                idle = 0; /* lines are coming: keep napping briefly, never sleep deeply */
            if (rc == 0) {
                backoff = 0;
                maybe_flush(s);
            } else if (rc == -EAGAIN) {
                retry_at = now + 10000000;
            } else {
                pt__sink_report_error(s, "write", rc);
                backoff = backoff ? backoff * 2 : 100000000;
                if (backoff > 1000000000)
                    backoff = 1000000000;
                retry_at = now + backoff;
            }
        }
        pthread_mutex_lock(&s->mu);
        if (atomic_load(&s->stop)) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        uint64_t wait = rc == 0 ? next_wait(s, &idle) : retry_at > now ? retry_at - now : 1000000;
        if (wait == DEEP_NS) {
            /* The flag goes up before the queue is looked at again: pt-log pushes, then
             * looks at the flag (pt__sink_wake), so a line pushed now is seen or wakes us. */
            atomic_store(&s->sleeping, 1);
            if (next_wait(s, &idle) != DEEP_NS)
                wait = 0;
        }
        if (wait) {
            struct timespec until;
            deadline_in(&until, wait);
            pthread_cond_timedwait(&s->cv, &s->mu, &until);
        }
        atomic_store(&s->sleeping, 0);
        pthread_mutex_unlock(&s->mu);
    }
    write_some(s); /* what is left, once, before the sink closes */
    return NULL;
}

/* ---- creation and release ------------------------------------------------------------- */

int pt__sink_create(pt_log *log, const pt_log_sink_ops *ops, void *ctx,
                    const pt_log_sink_options *opts, unsigned default_levels, const char *label,
                    pt_log_sink **out)
{
    if (log == NULL || ops == NULL || ops->write == NULL)
        return -EINVAL;
    pt_log *root = log->root;
    struct pt__sink *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    size_t want = opts && opts->queue_bytes ? opts->queue_bytes : 4u << 20;
    s->size = 65536;
    while (s->size < want && s->size < ((size_t)1 << 30))
        s->size <<= 1;
    s->buf = malloc(s->size);
    s->label = strdup(label ? label : (ops->kind ? ops->kind : "sink"));
    s->ops = *ops;
    s->ctx = ctx;
    s->root = root;
    s->levels = opts && opts->levels ? opts->levels & 0x3f : default_levels;
    s->stall_ns = (opts && opts->stall_ms ? opts->stall_ms : 100) * 1000000;
    atomic_init(&s->skip_at, UINT64_MAX);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (s->buf == NULL || s->label == NULL) {
        free(s->buf);
        free(s->label);
        free(s);
        return -ENOMEM;
    }
    /* A new sink holds no record of any earlier flush: it has reached them all. */
    uint64_t gen = pt__writer_flush_requested();
    atomic_init(&s->flush_gen, gen);
    atomic_init(&s->flushed_gen, gen);

    if (!atomic_load(&pt__log_sync)) {
        char name[16];
        snprintf(name, sizeof name, "pt-log-%.8s", ops->kind ? ops->kind : "sink");
        int rc = pt__thread_start(&s->thread, name, sink_main, s);
        if (rc != 0) {
            free(s->buf);
            free(s->label);
            free(s);
            return rc;
        }
        s->thread_started = 1;
    }
    pthread_mutex_lock(&pt__logs.sinks_mu);
    struct pt__sink **grown = realloc(root->sinks, (root->nsinks + 1) * sizeof *grown);
    if (grown != NULL) {
        grown[root->nsinks++] = s;
        root->sinks = grown;
        s->next_global = pt__logs.sinks;
        pt__logs.sinks = s;
    }
    pthread_mutex_unlock(&pt__logs.sinks_mu);
    if (grown == NULL) {
        s->ops.close = NULL; /* the caller keeps ctx on failure */
        pt__sink_destroy(s);
        return -ENOMEM;
    }
    if (out)
        *out = (pt_log_sink *)s;
    return 0;
}

int pt_log_add_sink(pt_log *log, const pt_log_sink_ops *ops, void *ctx,
                    const pt_log_sink_options *opts, pt_log_sink **out)
{
    if (log == NULL)
        log = pt_log_default();
    return pt__sink_create(log, ops, ctx, opts, PT_LOG_ROUTE_CONSOLE, NULL, out);
}

void pt__sink_destroy(struct pt__sink *s)
{
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        atomic_store(&s->stop, 1);
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        /* A sink stuck in its write must not hang the program that releases its logger: after
         * a second the thread is left to itself, and the sink's memory with it. */
        if (pt__thread_join(s->thread, 1000) != 0) {
            pthread_detach(s->thread);
            return;
        }
    }
    if (s->ops.close)
        s->ops.close(s->ctx);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->buf);
    free(s->label);
    free(s);
}

void pt__sink_write_sync(struct pt__sink *s, const char *line, size_t len)
{
    size_t done = 0;
    for (int tries = 0; done < len && tries < 100; tries++) {
        ssize_t n = s->ops.write(s->ctx, line + done, len - done);
        if (n < 0) {
            pt__sink_report_error(s, "write", (int)n);
            return;
        }
        done += (size_t)n;
    }
    atomic_fetch_add(&s->records, 1);
    atomic_fetch_add(&s->bytes, done);
}

/* In a forked child the sinks have no thread: their queues hold the parent's lines (the
 * parent writes those), so they start empty, and lines are written synchronously. */
void pt__sinks_after_fork(void)
{
    for (struct pt__sink *s = pt__logs.sinks; s; s = s->next_global) {
        s->thread_started = 0;
        atomic_store(&s->tail, atomic_load(&s->head));
        atomic_store(&s->skip_at, UINT64_MAX);
        atomic_store(&s->flushed_gen, atomic_load(&s->flush_gen));
        pthread_mutex_init(&s->mu, NULL);
    }
}

void pt_log_sink_counters_get(const pt_log_sink *sink, pt_log_sink_counters *out)
{
    struct pt__sink *s = (struct pt__sink *)sink;
    memset(out, 0, sizeof *out);
    if (s == NULL)
        return;
    out->records = atomic_load(&s->records);
    out->bytes = atomic_load(&s->bytes);
    out->dropped = atomic_load(&s->dropped);
    out->errors = atomic_load(&s->errors);
    out->last_error = atomic_load(&s->last_error);
    out->stalled = atomic_load(&s->stalled);
}

static int reopens(const struct pt__sink *s, const pt_log *log)
{
    return (log == NULL || s->root == log->root) && s->ops.reopen != NULL;
}

int pt_log_reopen(pt_log *log)
{
    int first = 0;
    pthread_mutex_lock(&pt__logs.sinks_mu);
    for (struct pt__sink *s = pt__logs.sinks; s; s = s->next_global) {
        if (!reopens(s, log))
            continue;
        if (!s->thread_started) {
            int rc = s->ops.reopen(s->ctx);
            if (rc < 0 && first == 0)
                first = rc;
            continue;
        }
        pthread_mutex_lock(&s->mu);
        atomic_store(&s->reopen, 1);
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&pt__logs.sinks_mu);
    /* Wait (bounded) until each sink thread has reopened, so that records logged after
     * this call go to the new file, and collect what the reopens returned. */
    uint64_t until = now_ns() + 2000000000;
    for (;;) {
        int pending = 0;
        pthread_mutex_lock(&pt__logs.sinks_mu);
        for (struct pt__sink *s = pt__logs.sinks; s; s = s->next_global) {
            if (!reopens(s, log) || !s->thread_started)
                continue;
            pending |= atomic_load(&s->reopen);
            if (!pending && atomic_load(&s->reopen_result) < 0 && first == 0)
                first = atomic_load(&s->reopen_result);
        }
        pthread_mutex_unlock(&pt__logs.sinks_mu);
        if (!pending)
            return first;
        if (now_ns() > until)
            return first ? first : -ETIMEDOUT;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}
