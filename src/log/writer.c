/* pt-log: drains every thread's ring, formats records and hands lines to the sinks' queues,
 * keeps the flight recorder, answers flushes and releases children nobody can use any more.
 *
 * It never busy-waits. After a pass that found records it naps (flow_nap(): up to 4 ms, less
 * when the rings fill fast) or, when a ring was an eighth full, looks again at once; after
 * empty passes it sleeps on a futex with a timeout that grows from 1 ms to 10 ms and then,
 * after a while with nothing to do, to 1 s ("deep" sleep, which callers see and end with a
 * wake-up). Callers also wake it when their ring is a quarter full, so a burst never waits for
 * a timeout to run out. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/clock_internal.h"
#include "core/core_internal.h"
#include "log/log_internal.h"
#include "log/writer_internal.h"

struct pt__ring *_Atomic pt__rings;
atomic_int pt__log_sync;
_Atomic uint64_t pt__log_suppressed;
_Atomic uint64_t pt__log_formatted;
_Atomic uint64_t pt__log_orphan_logged[PT_LOG_NLEVELS];
_Atomic uint64_t pt__log_orphan_dropped[PT_LOG_NLEVELS];
pid_t pt__log_pid;
atomic_int pt__writer_deep;

pt_flight_header *volatile pt_flight_recorder;

static struct {
    pthread_mutex_t start_mu;
    int running;
    atomic_int sleeping;
    pthread_t thread;
    _Atomic uint32_t wake_word;

    pthread_mutex_t flush_mu;
    pthread_cond_t flush_cv;
    _Atomic uint64_t flush_req;
    _Atomic uint64_t drained_gen;

    _Atomic uint64_t pass_begin;
    _Atomic uint64_t pass_done;

    pthread_mutex_t grave_mu;
    struct grave {
        pt_log *log;
        uint64_t pass;
        struct grave *next;
    } * graves;

    pthread_mutex_t sync_mu; /* the forked child's synchronous writes */
    struct pt__buf line; /* pt-log's (or the child's) formatting buffer */

    size_t flight_count, flight_slot;
    int flight_bytes_left;
} w = {
    .start_mu = PTHREAD_MUTEX_INITIALIZER,
    .flush_mu = PTHREAD_MUTEX_INITIALIZER,
    .flush_cv = PTHREAD_COND_INITIALIZER,
    .grave_mu = PTHREAD_MUTEX_INITIALIZER,
    .sync_mu = PTHREAD_MUTEX_INITIALIZER,
};

/* ---- waking --------------------------------------------------------------------------- */

static void futex_wait(_Atomic uint32_t *addr, uint32_t val, uint64_t timeout_ns)
{
    struct timespec ts = {(time_t)(timeout_ns / 1000000000), (long)(timeout_ns % 1000000000)};
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

void pt__writer_wake_always(void)
{
    atomic_fetch_add(&w.wake_word, 1);
    syscall(SYS_futex, &w.wake_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

int pt__writer_running(void)
{
    return w.running; /* read without start_mu: the crash handler may not lock */
}

void pt__writer_wake(void)
{
    if (!atomic_load_explicit(&w.sleeping, memory_order_relaxed))
        return;
    atomic_store_explicit(&pt__writer_deep, 0, memory_order_relaxed);
    atomic_fetch_add(&w.wake_word, 1);
    syscall(SYS_futex, &w.wake_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* ---- rings ---------------------------------------------------------------------------- */

void pt__writer_add_ring(struct pt__ring *r)
{
    pthread_mutex_lock(&pt__logs.mu);
    atomic_store(&r->next, atomic_load(&pt__rings));
    atomic_store(&pt__rings, r);
    pthread_mutex_unlock(&pt__logs.mu);
}

/* Frees a drained ring whose thread is gone; its counts move to the process totals. */
static void reap_ring(struct pt__ring *r)
{
    pthread_mutex_lock(&pt__logs.mu);
    struct pt__ring *_Atomic *pp = &pt__rings;
    while (atomic_load(pp) != r)
        pp = &atomic_load(pp)->next;
    atomic_store(pp, atomic_load(&r->next));
    for (int i = 0; i < PT_LOG_NLEVELS; i++) {
        atomic_fetch_add(&pt__log_orphan_logged[i], atomic_load(&r->logged[i]));
        atomic_fetch_add(&pt__log_orphan_dropped[i], atomic_load(&r->dropped[i]));
    }
    pthread_mutex_unlock(&pt__logs.mu);
    free(r->buf);
    free(r);
}

/* ---- decoding a record ----------------------------------------------------------------- */

static void decode_str(struct pt__field *f, uint64_t slot, const char **bytes)
{
    if (slot == PT__STR_NULL) {
        f->v.s.p = NULL;
        f->v.s.n = 0;
        f->cut = 0;
        return;
    }
    f->v.s.p = *bytes;
    f->v.s.n = (uint32_t)slot;
    f->cut = (uint32_t)(slot >> 32);
    *bytes += (uint32_t)slot;
}

static int is_str(int type)
{
    return pt__field_is_str(type);
}

void pt__log_decode(const struct pt__rec *rec, struct pt__decoded *d, char (*names)[64])
{
    if (rec->kind == PT__REC_SITE) {
        const pt_log_site *site = rec->site;
        const uint64_t *slot = (const uint64_t *)(rec + 1);
        const char *bytes = (const char *)(slot + rec->nfields);
        d->msg = site->msg;
        d->msg_len = strlen(site->msg);
        d->n = rec->nfields;
        for (size_t i = 0; i < d->n; i++) {
            struct pt__field *f = &d->f[i];
            f->name = site->names[i];
            f->type = site->types[i];
            f->cut = 0;
            if (is_str(f->type))
                decode_str(f, slot[i], &bytes);
            else
                f->v.u = slot[i];
        }
        return;
    }
    /* PT__REC_EMIT: see ring.c. Names are copied into the ring without a NUL, so they are
     * copied out into the caller's arena. */
    const uint64_t *mlen = (const uint64_t *)(rec + 1);
    const struct {
        uint32_t type, name_len;
        uint64_t slot;
    } *ef = (const void *)(mlen + 1);
    const char *bytes = (const char *)(ef + rec->nfields);
    d->msg = bytes;
    d->msg_len = *mlen;
    bytes += *mlen;
    d->n = rec->nfields;
    for (size_t i = 0; i < d->n; i++) {
        struct pt__field *f = &d->f[i];
        size_t nl = ef[i].name_len < 63 ? ef[i].name_len : 63;
        memcpy(names[i], bytes, nl);
        names[i][nl] = 0;
        bytes += ef[i].name_len;
        f->name = names[i];
        f->type = (int)ef[i].type;
        f->cut = 0;
        if (is_str(f->type))
            decode_str(f, ef[i].slot, &bytes);
        else
            f->v.u = ef[i].slot;
    }
}

/* ---- the flight recorder -------------------------------------------------------------- */

static void flight_init(void)
{
    size_t count = pt__logs.cfg.flight_records ? pt__logs.cfg.flight_records : 1024;
    size_t bytes = pt__logs.cfg.flight_bytes ? pt__logs.cfg.flight_bytes : 1024;
    size_t slot = (sizeof(pt_flight_slot) + bytes + 7) & ~(size_t)7;
    pt_flight_header *h = calloc(1, sizeof *h + count * slot);
    if (h == NULL)
        return;
    memcpy(h->magic, PT_FLIGHT_MAGIC, 8);
    h->version = PT_FLIGHT_VERSION;
    h->header_size = sizeof *h;
    h->slot_count = (uint32_t)count;
    h->slot_size = (uint32_t)slot;
    pt_flight_recorder = h;
}

/* The slot after slot `at`. */
static inline size_t flight_next(const pt_flight_header *h, size_t at)
{
    return at + 1 == h->slot_count ? 0 : at + 1;
}

static void flight_put(int level, const char *line, size_t len)
{
    pt_flight_header *h = pt_flight_recorder;
    if (h == NULL)
        return;
    uint64_t k = h->written;
    /* k % slot_count without a division for each record: the slot after the last one. */
    static uint64_t last_k = UINT64_MAX;
    static size_t last_at = SIZE_MAX; /* none yet */
    size_t at = k == last_k + 1 && last_at < h->slot_count ? flight_next(h, last_at)
                                                           : (size_t)(k % h->slot_count);
    last_k = k;
    last_at = at;
    pt_flight_slot *s = (pt_flight_slot *)((char *)h + h->header_size + at * h->slot_size);
    size_t room = h->slot_size - sizeof *s;
    if (len && line[len - 1] == '\n')
        len--;
    /* A seqlock: seq 0 marks the slot as being written, and the fence keeps the stores
     * below from moving above it, so a reader that saw seq k+1 before and after its copy
     * knows the copy is whole. */
    __atomic_store_n(&s->seq, 0, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    s->len = (uint32_t)(len < room ? len : room);
    s->level = (uint16_t)level;
    s->cut = len > room;
    memcpy(s + 1, line, s->len);
    __atomic_store_n(&s->seq, k + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&h->written, k + 1, __ATOMIC_RELEASE);
    /* The next slot was last written slot_count records ago and has left the cache: ask for
     * its first lines now, so that the next record's copy does not wait for them. */
    const char *next = (const char *)h + h->header_size + flight_next(h, at) * h->slot_size;
    pt__prefetch_next(next, 0, h->slot_size);
}

size_t pt_log_flight_read(void (*fn)(void *arg, int level, const char *line, size_t len), void *arg)
{
    pt_flight_header *h = pt_flight_recorder;
    if (h == NULL || fn == NULL)
        return 0;
    size_t room = h->slot_size - sizeof(pt_flight_slot);
    char *copy = malloc(room);
    if (copy == NULL)
        return 0;
    uint64_t end = __atomic_load_n(&h->written, __ATOMIC_ACQUIRE);
    uint64_t k = end > h->slot_count ? end - h->slot_count : 0;
    size_t n = 0;
    for (; k < end; k++) {
        const pt_flight_slot *s =
            (const pt_flight_slot *)((char *)h + h->header_size +
                                     (size_t)(k % h->slot_count) * h->slot_size);
        if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != k + 1)
            continue;
        uint32_t len = s->len < room ? s->len : (uint32_t)room;
        int level = s->level;
        memcpy(copy, s + 1, len);
        __atomic_thread_fence(__ATOMIC_ACQUIRE); /* the copy before the second look at seq */
        if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) != k + 1)
            continue; /* overwritten while we copied */
        fn(arg, level, copy, len);
        n++;
    }
    free(copy);
    return n;
}

/* ---- one record ----------------------------------------------------------------------- */

static void route(pt_log *log, int level, unsigned dest, const char *line, size_t len, int sync)
{
    if (dest & PT__TO_SINKS) {
        pt_log *root = log->root;
        unsigned bit = PT_LOG_MASK(level);
        for (size_t i = 0; i < root->nsinks; i++) {
            struct pt__sink *s = root->sinks[i];
            if (!(s->levels & bit))
                continue;
            if (sync)
                pt__sink_write_sync(s, line, len);
            else
                pt__sink_push(s, line, len);
        }
    }
    if (dest & PT__TO_FLIGHT)
        flight_put(level, line, len);
}

/* The wall time of records' ticks, for one pass over the rings. pt_clock_ticks_to_wall_ns()
 * reads the TSC each time to see whether its anchor is still fresh, and that read costs pt-log
 * more than the rest of the conversion (all the more in a virtual machine): within a pass,
 * records are converted from the pass's first conversion and the slope instead. That is the
 * same to within a nanosecond or so for records a pass apart. */
static struct {
    int set; /* cleared when a pass begins */
    uint64_t ticks;
    int64_t wall;
    double ns_per_tick;
} pass_clock;

static int64_t record_wall_ns(uint64_t ticks, int sync)
{
    if (sync)
        return pt_clock_ticks_to_wall_ns(ticks);
    if (!pass_clock.set) {
        pass_clock.ticks = ticks;
        pass_clock.wall = pt_clock_ticks_to_wall_ns(ticks);
        pass_clock.ns_per_tick = pt__clock_ns_per_tick();
        pass_clock.set = 1;
    }
    int64_t delta = (int64_t)(ticks - pass_clock.ticks); /* negative for earlier readings */
    return pass_clock.wall + (int64_t)((double)delta * pass_clock.ns_per_tick);
}

static void process(const struct pt__rec *rec, int sync)
{
    static struct pt__decoded d; /* pt-log, or a forked child under sync_mu: one user at a time */
    static char names[64][64];
    struct pt__buf *line = &w.line;
    pt__log_decode(rec, &d, names);
    if (sync)
        pt__format_pass_begin();
    int64_t wall = record_wall_ns(rec->ticks, sync);
    if (rec->suppressed) {
        char msg[64];
        int ml = snprintf(msg, sizeof msg, "%u records suppressed", rec->suppressed);
        struct pt__field f[2];
        f[0].name = "suppressed";
        f[0].type = PT_FIELD_UINT;
        f[0].v.u = rec->suppressed;
        f[0].cut = 0;
        f[1].name = "site_msg";
        f[1].type = PT_FIELD_STR;
        f[1].v.s.p = d.msg;
        f[1].v.s.n = d.msg_len;
        f[1].cut = 0;
        line->len = 0;
        pt__format_record(line, rec->level, rec->log, wall, msg, (size_t)ml, f, 2, NULL);
        if (line->len)
            route(rec->log, rec->level, rec->dest, line->p, line->len, sync);
    }
    line->len = 0;
    pt__format_record(line, rec->level, rec->log, wall, d.msg, d.msg_len, d.f, d.n,
                      rec->kind == PT__REC_SITE ? rec->site : NULL);
    if (line->p == NULL || line->len == 0)
        return; /* out of memory */
    route(rec->log, rec->level, rec->dest, line->p, line->len, sync);
    /* One writer at a time (pt-log, or the forked child under sync_mu): a load and a store.
     * A locked add here would wait, for every record, for the stores into the sinks' queues
     * and the flight recorder to reach the cache. */
    atomic_store_explicit(&pt__log_formatted,
                          atomic_load_explicit(&pt__log_formatted, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

void pt__writer_write_sync(const struct pt__rec *rec)
{
    pthread_mutex_lock(&w.sync_mu);
    pthread_mutex_lock(&pt__logs.sinks_mu);
    process(rec, 1);
    pthread_mutex_unlock(&pt__logs.sinks_mu);
    pthread_mutex_unlock(&w.sync_mu);
}

/* ---- a pass over every ring ------------------------------------------------------------ */

/* How full the fullest ring was when this pass reached it, in 1/1024ths. */
static unsigned pass_fill;

#define PREFETCH_AHEAD 2048

static size_t drain_ring(struct pt__ring *r)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    unsigned fill = (unsigned)((head - tail) * 1024 / r->size);
    if (fill > pass_fill)
        pass_fill = fill;
    size_t n = 0;
    /* The records were written on the caller's core: their lines are asked for PREFETCH_AHEAD
     * bytes before they are read, so that their transfer overlaps the formatting of those
     * before (the hardware's prefetcher starts late on each record's first line). */
    uint64_t ahead = tail;
    while (tail < head) {
        uint64_t until = tail + PREFETCH_AHEAD < head ? tail + PREFETCH_AHEAD : head;
        for (; ahead < until; ahead += 64)
            __builtin_prefetch(r->buf + (ahead & (r->size - 1)));
        const struct pt__rec *rec = (const struct pt__rec *)(r->buf + (tail & (r->size - 1)));
        if (rec->kind != PT__REC_PAD) {
            process(rec, 0);
            n++;
        }
        tail += rec->size;
        /* Give room back often, so a caller waiting on a full ring waits little. */
        if ((n & 63) == 0)
            atomic_store_explicit(&r->tail, tail, memory_order_release);
    }
    atomic_store_explicit(&r->tail, tail, memory_order_release);
    return n;
}

static size_t drain_all(void)
{
    size_t n = 0;
    pass_clock.set = 0;
    pass_fill = 0;
    pt__format_pass_begin();
    pthread_mutex_lock(&pt__logs.sinks_mu);
    struct pt__ring *r = atomic_load(&pt__rings);
    while (r) {
        struct pt__ring *next = atomic_load(&r->next);
        int orphan = atomic_load_explicit(&r->orphaned, memory_order_acquire);
        n += drain_ring(r);
        if (orphan && atomic_load(&r->tail) == atomic_load(&r->head))
            reap_ring(r);
        r = next;
    }
    for (struct pt__sink *s = pt__logs.sinks; s; s = s->next_global)
        pt__sink_wake(s);
    pthread_mutex_unlock(&pt__logs.sinks_mu);
    return n;
}

static int rings_pending(void)
{
    for (struct pt__ring *r = atomic_load(&pt__rings); r; r = atomic_load(&r->next))
        if (atomic_load(&r->head) != atomic_load(&r->tail) || atomic_load(&r->orphaned))
            return 1;
    return 0;
}

/* ---- flush ---------------------------------------------------------------------------- */

uint64_t pt__writer_flush_requested(void)
{
    return atomic_load(&w.flush_req);
}

void pt__writer_flush_progress(void)
{
    pthread_mutex_lock(&w.flush_mu);
    pthread_cond_broadcast(&w.flush_cv);
    pthread_mutex_unlock(&w.flush_mu);
}

static void request_sink_flushes(uint64_t gen)
{
    pthread_mutex_lock(&pt__logs.sinks_mu);
    for (struct pt__sink *s = pt__logs.sinks; s; s = s->next_global)
        pt__sink_request_flush(s, gen);
    pthread_mutex_unlock(&pt__logs.sinks_mu);
    atomic_store(&w.drained_gen, gen);
    pt__writer_flush_progress();
}

/* Callers hold flush_mu. */
static int flush_reached(uint64_t gen)
{
    if (atomic_load(&w.drained_gen) < gen)
        return 0;
    int done = 1;
    pthread_mutex_lock(&pt__logs.sinks_mu);
    for (struct pt__sink *s = pt__logs.sinks; s && done; s = s->next_global)
        done = atomic_load(&s->flushed_gen) >= gen;
    pthread_mutex_unlock(&pt__logs.sinks_mu);
    return done;
}

int pt_log_flush(uint64_t timeout_ms)
{
    pthread_mutex_lock(&w.start_mu);
    int running = w.running;
    pthread_mutex_unlock(&w.start_mu);
    if (!running)
        return 0; /* nothing was queued: records of a forked child are written at once */

    pthread_mutex_lock(&w.flush_mu);
    uint64_t gen = atomic_fetch_add(&w.flush_req, 1) + 1;
    pthread_mutex_unlock(&w.flush_mu);
    atomic_fetch_add(&w.wake_word, 1);
    syscall(SYS_futex, &w.wake_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);

    struct timespec deadline = pt__clock_deadline(CLOCK_MONOTONIC, timeout_ms);
    int rc = 0;
    pthread_mutex_lock(&w.flush_mu);
    while (!flush_reached(gen)) {
        if (pthread_cond_timedwait(&w.flush_cv, &w.flush_mu, &deadline) == ETIMEDOUT) {
            rc = flush_reached(gen) ? 0 : -ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&w.flush_mu);
    return rc;
}

/* ---- releasing children ---------------------------------------------------------------- */

void pt__writer_defer_free(pt_log *child)
{
    pthread_mutex_lock(&w.start_mu);
    int running = w.running;
    pthread_mutex_unlock(&w.start_mu);
    if (!running || atomic_load(&pt__log_sync)) {
        pt__log_destroy_child(child);
        return;
    }
    struct grave *g = malloc(sizeof *g);
    if (g == NULL)
        return; /* leak rather than free what a record may still use */
    g->log = child;
    g->pass = atomic_load(&w.pass_begin);
    pthread_mutex_lock(&w.grave_mu);
    g->next = w.graves;
    __atomic_store_n(&w.graves, g, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&w.grave_mu);
    pt__writer_wake();
}

/* A peek without the lock: the list is changed under grave_mu, and a stale answer only
 * delays a release to the next pass. */
static int graves_waiting(void)
{
    return __atomic_load_n(&w.graves, __ATOMIC_RELAXED) != NULL;
}

/* A child freed when pass P had begun may still be named by records that pass P missed;
 * once pass P + 1, which began after the free, is done, no record can name it. */
static void bury(void)
{
    uint64_t done = atomic_load(&w.pass_done);
    pthread_mutex_lock(&w.grave_mu);
    struct grave *keep = NULL, *g = w.graves;
    __atomic_store_n(&w.graves, NULL, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&w.grave_mu);
    while (g) {
        struct grave *next = g->next;
        if (g->pass + 1 <= done) {
            pt__log_destroy_child(g->log);
            free(g);
        } else {
            g->next = keep;
            keep = g;
        }
        g = next;
    }
    if (keep) {
        pthread_mutex_lock(&w.grave_mu);
        struct grave *tail = keep;
        while (tail->next)
            tail = tail->next;
        tail->next = w.graves;
        __atomic_store_n(&w.graves, keep, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&w.grave_mu);
    }
}

/* ---- the thread ------------------------------------------------------------------------ */

/* ---- the crash path's fatal record (log_crash.h, crash.c) ------------------------------ */

/* On pt-log, when a crashing thread asked: what was queued before goes out first, then the
 * fatal line to every sink and the flight recorder, then every sink is flushed; the crashing
 * thread learns it through the pipe. Bounded by the crash's deadline: a sink that does not
 * flush in time is left behind (the crashing thread stops waiting then anyway). */
static void crash_serve(void)
{
    drain_all();
    const char *line = pt__log_crash.line;
    size_t len = pt__log_crash.len;
    pthread_mutex_lock(&pt__logs.sinks_mu);
    for (struct pt__sink *s = pt__logs.sinks; s; s = s->next_global)
        if (s->levels & PT_LOG_MASK(PT_LOG_FATAL))
            pt__sink_push(s, line, len);
    pthread_mutex_unlock(&pt__logs.sinks_mu);
    flight_put(PT_LOG_FATAL, line, len);
    uint64_t gen = atomic_fetch_add(&w.flush_req, 1) + 1;
    request_sink_flushes(gen);
    int done = 0;
    while (!done && pt_clock_mono_ns() < pt__log_crash.deadline_ns) {
        done = 1;
        pthread_mutex_lock(&pt__logs.sinks_mu);
        for (struct pt__sink *s = pt__logs.sinks; s && done; s = s->next_global)
            done = atomic_load(&s->flushed_gen) >= gen;
        pthread_mutex_unlock(&pt__logs.sinks_mu);
        if (!done) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
    }
    atomic_store(&pt__log_crash.state, done ? PT__CRASH_DONE : PT__CRASH_LATE);
    if (done) {
        char c = 1;
        ssize_t rc = write(pt__log_crash.pipe[1], &c, 1);
        (void)rc;
    }
}

/* While records flow, pt-log naps between passes instead of looking again at once: every
 * wake-up costs the machine a context switch and a timer (tens of microseconds of CPU in some
 * virtual machines), and a longer nap only makes the passes bigger. The nap is what fills the
 * fullest ring to an eighth at the rate of the last pass, at most FLOW_NAP_NS: a caller wakes
 * pt-log when its ring is a quarter full, and that wake-up, a system call on the caller's
 * path, stays for bursts. A pass that found a ring an eighth full or more is behind: the next
 * one starts at once. */
#define FLOW_NAP_NS 4000000ull
#define FLOW_NAP_MIN_NS 100000ull
#define FILL_BEHIND (1024 / 8)

static uint64_t flow_nap(uint64_t since_last_pass_ns, unsigned fill)
{
    if (fill == 0)
        return FLOW_NAP_NS;
    uint64_t nap = since_last_pass_ns * FILL_BEHIND / fill;
    return nap > FLOW_NAP_NS ? FLOW_NAP_NS : nap < FLOW_NAP_MIN_NS ? FLOW_NAP_MIN_NS : nap;
}

static void *writer_main(void *arg)
{
    (void)arg;
    unsigned idle = 0;
    uint64_t last_pass = pt_clock_mono_ns();
    atomic_store(&pt__log_crash.writer_tid, (pid_t)syscall(SYS_gettid));
    pt__thread_background();
    for (;;) {
        if (atomic_load(&pt__log_crash.state) == PT__CRASH_ASKED)
            crash_serve();
        uint64_t req = atomic_load(&w.flush_req);
        uint64_t pass = atomic_fetch_add(&w.pass_begin, 1) + 1;
        uint64_t now = pt_clock_mono_ns(), since_last_pass = now - last_pass;
        last_pass = now;
        size_t n = drain_all();
        atomic_store(&w.pass_done, pass);
        if (req > atomic_load(&w.drained_gen))
            request_sink_flushes(req);
        if (graves_waiting())
            bury();
        uint64_t timeout_ns;
        int flowing = n != 0;
        if (flowing) {
            idle = 0;
            if (pass_fill >= FILL_BEHIND)
                continue;
            timeout_ns = flow_nap(since_last_pass, pass_fill);
        } else {
            idle++;
            timeout_ns = idle < 16 ? 1000000 : idle < 116 ? 10000000 : 1000000000;
        }
        uint32_t word = atomic_load(&w.wake_word);
        int deep = timeout_ns == 1000000000;
        atomic_store(&w.sleeping, 1);
        if (deep)
            atomic_store(&pt__writer_deep, 1);
        /* A caller that published a record before seeing the flag is caught here; one
         * whose store we miss sees the flag and wakes us. Records that flow wait for the nap's
         * end (or their ring's quarter). */
        atomic_thread_fence(memory_order_seq_cst);
        if ((flowing || !rings_pending()) && atomic_load(&w.flush_req) == req &&
            !graves_waiting() &&
            atomic_load(&pt__log_crash.state) != PT__CRASH_ASKED)
            futex_wait(&w.wake_word, word, timeout_ns);
        atomic_store(&w.sleeping, 0);
        if (deep)
            atomic_store(&pt__writer_deep, 0);
    }
    return NULL;
}

/* Flush deadlines are on CLOCK_MONOTONIC, immune to wall clock steps. */
static void init_flush_cv(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w.flush_cv, &ca);
    pthread_condattr_destroy(&ca);
}

static void at_exit(void)
{
    /* Flush under a short bound; free nothing, since pt-log may still run. */
    pt_log_flush(500);
}

static void fork_prepare(void)
{
    pthread_mutex_lock(&w.start_mu);
    pthread_mutex_lock(&w.sync_mu);
    pthread_mutex_lock(&pt__logs.sinks_mu); /* before logs.mu, as pt-log takes them */
    pthread_mutex_lock(&pt__logs.mu);
    pthread_mutex_lock(&w.grave_mu);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&w.grave_mu);
    pthread_mutex_unlock(&pt__logs.mu);
    pthread_mutex_unlock(&pt__logs.sinks_mu);
    pthread_mutex_unlock(&w.sync_mu);
    pthread_mutex_unlock(&w.start_mu);
}

static void fork_child(void)
{
    /* Only the forking thread lives on: no pt-log, no sink threads. Records are written
     * synchronously from now on, under the child's pid. */
    atomic_store(&pt__log_sync, 1);
    pt__log_pid = getpid();
    w.running = 0;
    pt__rings_reset_after_fork();
    pt__sinks_after_fork();
    pthread_mutex_init(&w.flush_mu, NULL);
    init_flush_cv();
    fork_parent();
}

int pt__writer_start(void)
{
    pthread_mutex_lock(&w.start_mu);
    if (w.running || atomic_load(&pt__log_sync)) {
        pthread_mutex_unlock(&w.start_mu);
        return 0;
    }
    static int once;
    if (!once) {
        once = 1;
        if (pt__log_pid == 0)
            pt__log_pid = getpid();
        flight_init();
        init_flush_cv();
        /* The crash path's wake-up answer: made now, so the handler finds it ready. */
        if (pipe2(pt__log_crash.pipe, O_CLOEXEC | O_NONBLOCK) < 0)
            pt__log_crash.pipe[0] = pt__log_crash.pipe[1] = -1;
        pthread_atfork(fork_prepare, fork_parent, fork_child);
        atexit(at_exit);
    }
    int rc = pt__thread_start(&w.thread, "pt-log", writer_main, NULL);
    if (rc == 0) {
        pthread_detach(w.thread);
        w.running = 1;
    }
    pthread_mutex_unlock(&w.start_mu);
    return rc;
}
