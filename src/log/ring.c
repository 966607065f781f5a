/* The caller's side: copy a record into the calling thread's ring and return.
 *
 * Each thread that logs gets its own single-producer ring the first time it logs; pt-log is
 * the only consumer. A record is a header (struct pt__rec), one 8-byte slot per field
 * (numbers as they are; strings as stored length and bytes cut), then the string bytes.
 * Nothing here locks, allocates (after the thread's first record), formats or makes a
 * syscall, except to wake a sleeping writer when the ring is a quarter full or after a deep
 * sleep, or  * when the ring is full and the level's policy says to wait. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/sdt.h>
#include <unistd.h>

#include "core/clock_internal.h"
#include "log/log_internal.h"
#include "log/writer_internal.h"

static __thread struct pt__ring *tls_ring __attribute__((tls_model("initial-exec")));
static pthread_key_t ring_key;
static pthread_once_t ring_key_once = PTHREAD_ONCE_INIT;
static size_t max_value = 8192;

size_t pt__log_value_max(void)
{
    return max_value;
}

/* Runs when a thread that logged exits: pt-log drains its ring, then frees it. */
static void ring_exit(void *arg)
{
    struct pt__ring *r = arg;
    tls_ring = NULL;
    atomic_store_explicit(&r->orphaned, 1, memory_order_release);
    pt__writer_wake();
}

static void make_key(void)
{
    pthread_key_create(&ring_key, ring_exit);
}

static size_t ring_size(void)
{
    size_t want = pt__logs.cfg.ring_bytes ? pt__logs.cfg.ring_bytes : 1024 * 1024;
    size_t size = 4096;
    while (size < want && size < ((size_t)1 << 30))
        size <<= 1;
    return size;
}

static PT_COLD struct pt__ring *ring_create(void)
{
    pthread_once(&ring_key_once, make_key);
    if (!atomic_exchange(&pt__logs.started, 1) && pt__logs.cfg.max_value_bytes)
        max_value = pt__logs.cfg.max_value_bytes;
    pt__clock_init(); /* before the first pt__clock_ticks() */
    if (pt__writer_start() != 0)
        return NULL;
    struct pt__ring *r = aligned_alloc(PT__CACHELINE, (sizeof *r + PT__CACHELINE - 1) &
                                                          ~(size_t)(PT__CACHELINE - 1));
    if (r == NULL)
        return NULL;
    memset(r, 0, sizeof *r);
    r->size = ring_size();
    r->buf = malloc(r->size);
    if (r->buf == NULL) {
        free(r);
        return NULL;
    }
    r->tid = gettid();
    pthread_setspecific(ring_key, r);
    pt__writer_add_ring(r);
    tls_ring = r;
    return r;
}

/* ---- PT_LOG_LIMIT ------------------------------------------------------------------ */

static PT_COLD int limit_pass(pt__log_limit *l, uint32_t *suppressed)
{
    uint64_t now = pt_clock_ticks();
    uint64_t interval = (uint64_t)((double)l->interval_ms * 1e6 / pt__clock_ns_per_tick());
    while (__atomic_exchange_n(&l->lock, 1, __ATOMIC_ACQUIRE))
        sched_yield();
    if (l->window_start == 0 || now - l->window_start >= interval) {
        *suppressed = l->suppressed;
        l->suppressed = 0;
        l->count = 0;
        l->window_start = now;
    }
    int pass = l->count < l->max;
    if (pass)
        l->count++;
    else
        l->suppressed++;
    __atomic_store_n(&l->lock, 0, __ATOMIC_RELEASE);
    if (!pass)
        atomic_fetch_add_explicit(&pt__log_suppressed, 1, memory_order_relaxed);
    return pass;
}

/* ---- waiting for room -------------------------------------------------------------- */

static PT_COLD int wait_for_room(struct pt__ring *r, uint64_t need, int lidx)
{
    int64_t block_us = atomic_load_explicit(&pt__logs.block_us[lidx], memory_order_relaxed);
    if (block_us == 0)
        return 0;
    uint64_t deadline = block_us < 0 ? UINT64_MAX : pt_clock_mono_ns() + (uint64_t)block_us * 1000;
    for (int spins = 0;; spins++) {
        pt__writer_wake();
        if (spins < 16) {
            sched_yield();
        } else {
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
        r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (need - r->cached_tail <= r->size)
            return 1;
        if (pt_clock_mono_ns() >= deadline)
            return 0;
    }
}

/* Finds room for `size` bytes, wrapping with a pad record when the end is too near. Returns
 * where to write, or NULL when the policy says drop; *head gets the position to publish. */
static inline char *ring_reserve(struct pt__ring *r, uint32_t size, int lidx, uint64_t *head)
{
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t phys = h & (r->size - 1);
    size_t pad = phys + size > r->size ? r->size - phys : 0;
    uint64_t need = h + pad + size;
    if (PT_UNLIKELY(need - r->cached_tail > r->size)) {
        r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (need - r->cached_tail > r->size && !wait_for_room(r, need, lidx))
            return NULL;
    }
    if (pad) {
        struct pt__rec *p = (struct pt__rec *)(r->buf + phys);
        p->size = (uint32_t)pad;
        p->kind = PT__REC_PAD;
        phys = 0;
    }
    *head = need;
    return r->buf + phys;
}

/* Publishes the record; wakes pt-log when it sleeps deeply, or when the ring is a quarter
 * full (in its short sleeps it would pick the records up later, and a busy machine may give
 * it the CPU later still). Then asks for the lines the next records will write, for writing:
 * pt-log last read them on the other core. */
static inline void ring_publish(struct pt__ring *r, uint64_t head, int lidx)
{
    atomic_store_explicit(&r->head, head, memory_order_release);
    atomic_store_explicit(&r->logged[lidx],
                          atomic_load_explicit(&r->logged[lidx], memory_order_relaxed) + 1,
                          memory_order_relaxed);
    if (PT_UNLIKELY(head - r->cached_tail > r->size / 4)) {
        r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head - r->cached_tail > r->size / 4)
            pt__writer_wake();
    } else if (PT_UNLIKELY(atomic_load_explicit(&pt__writer_deep, memory_order_relaxed))) {
        pt__writer_wake();
    }
    pt__prefetch_next(r->buf, head & (r->size - 1), r->size);
}

/* A record refused: counted as dropped, not as logged ("logged" is what the rings took). */
static PT_COLD void count_drop(struct pt__ring *r, int lidx)
{
    if (r == NULL) {
        atomic_fetch_add(&pt__log_orphan_dropped[lidx], 1);
        return;
    }
    atomic_store_explicit(&r->dropped[lidx],
                          atomic_load_explicit(&r->dropped[lidx], memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

static inline int clamp_level(int level)
{
    if (PT_UNLIKELY(level < PT_LOG_TRACE))
        return PT_LOG_TRACE;
    if (PT_UNLIKELY(level > PT_LOG_FATAL))
        return PT_LOG_FATAL;
    return level - level % 10;
}

static inline int is_str(int type)
{
    return pt__field_is_str(type);
}

/* ---- records from the macros ------------------------------------------------------- */

/* Fills a SITE record of `size` bytes at dst; lens[] holds each string's full length.
 * Every value goes into its slot as it is, then the string fields (the site's str_mask)
 * get their length and bytes instead. */
static inline __attribute__((always_inline)) void
fill_site(char *dst, uint32_t size, pt_log *log, const pt_log_site *site, int lidx,
          uint32_t suppressed, const pt_value *values, const size_t *lens)
{
    struct pt__rec *rec = (struct pt__rec *)dst;
    size_t n = site->nfields;
    rec->size = size;
    rec->kind = PT__REC_SITE;
    rec->dest = atomic_load_explicit(&log->dest[lidx], memory_order_relaxed);
    rec->level = (uint8_t)((lidx + 1) * 10);
    rec->suppressed = suppressed;
    rec->nfields = (uint32_t)n;
    rec->ticks = pt__clock_ticks();
    rec->log = log;
    rec->site = site;
    uint64_t *slot = (uint64_t *)(rec + 1);
    for (size_t i = 0; i < n; i++)
        slot[i] = values[i].u;
    char *str = (char *)(slot + n);
    /* Strings in field order: the highest bit is the first field. */
    for (unsigned m = site->str_mask; m;) {
        unsigned pos = 31 - (unsigned)__builtin_clz(m);
        m &= ~(1u << pos);
        size_t i = n - 1 - pos;
        if (values[i].s.p == NULL) {
            slot[i] = PT__STR_NULL;
            continue;
        }
        size_t len = lens[i];
        size_t stored = PT_LIKELY(len <= max_value) ? len : pt__utf8_cut(values[i].s.p, max_value);
        slot[i] = (uint64_t)stored | (uint64_t)(len - stored) << 32;
        pt__copy_short(str, values[i].s.p, stored);
        str += stored;
    }
}

/* A forked child has no pt-log: format and write on the spot. */
static PT_COLD void write_sync(const char *rec)
{
    pt__writer_write_sync((const struct pt__rec *)rec);
}

void pt__log(pt_log *log, const pt_log_site *site, const pt_value *values)
{
    /* USDT probe potter:log__record(level, message, file, line): a no-op until traced. */
    DTRACE_PROBE4(potter, log__record, site->level, site->msg, site->file, site->line);
    if (PT_UNLIKELY(log == NULL)) {
        log = pt_log_default();
        if (log == NULL || !pt_log_enabled(log, site->level))
            return;
    }
    int lidx = site->level_index;
    uint32_t suppressed = 0;
    if (PT_UNLIKELY(site->limit != NULL) && !limit_pass(site->limit, &suppressed))
        return;

    size_t n = site->nfields;
    size_t lens[16];
    uint64_t size = sizeof(struct pt__rec) + 8 * n;
    for (unsigned m = site->str_mask; m; m &= m - 1) {
        size_t i = n - 1 - (unsigned)__builtin_ctz(m);
        const char *p = values[i].s.p;
        if (p == NULL)
            continue;
        size_t len = values[i].s.n == (size_t)-1 ? strlen(p) : values[i].s.n;
        lens[i] = len;
        size += PT_LIKELY(len <= max_value) ? len : pt__utf8_cut(p, max_value);
    }
    size = (size + 7) & ~(uint64_t)7;

    /* A forked child's thread starts with no ring, so the sync check stays off this path. */
    struct pt__ring *r = tls_ring;
    if (PT_UNLIKELY(r == NULL)) {
        if (atomic_load(&pt__log_sync)) {
            char *tmp = malloc(size);
            if (tmp) {
                fill_site(tmp, (uint32_t)size, log, site, lidx, suppressed, values, lens);
                write_sync(tmp);
                free(tmp);
            }
            return;
        }
        r = ring_create();
        if (r == NULL) {
            count_drop(NULL, lidx);
            return;
        }
    }
    uint64_t head;
    char *dst = size <= r->size / 2 ? ring_reserve(r, (uint32_t)size, lidx, &head) : NULL;
    if (PT_UNLIKELY(dst == NULL)) {
        count_drop(r, lidx);
        return;
    }
    fill_site(dst, (uint32_t)size, log, site, lidx, suppressed, values, lens);
    ring_publish(r, head, lidx);
}

/* ---- records from pt_log_emit ------------------------------------------------------ */

/* After the header: msg length, then per field {type, name length, slot}, then the bytes of
 * the message, and of each field's name and string value, in order. */
struct emit_field {
    uint32_t type;
    uint32_t name_len;
    uint64_t slot;
};

void pt_log_emit(pt_log *log, int level, const char *msg, const pt_field *fields, size_t n)
{
    if (log == NULL)
        log = pt_log_default();
    if (log == NULL || !pt_log_enabled(log, level))
        return;
    level = clamp_level(level);
    int lidx = PT_LOG_LEVEL_INDEX(level);
    if (msg == NULL)
        msg = "";
    if (n > 64)
        n = 64;
    size_t msg_len = strlen(msg);
    size_t lens[64];
    uint64_t size = sizeof(struct pt__rec) + 8 + n * sizeof(struct emit_field) + msg_len;
    for (size_t i = 0; i < n; i++) {
        size += fields[i].name ? strlen(fields[i].name) : 0;
        if (is_str(pt__public_type(fields[i].type)) && fields[i].v.s.p) {
            lens[i] = fields[i].v.s.n == (size_t)-1 ? strlen(fields[i].v.s.p) : fields[i].v.s.n;
            size += lens[i] > max_value ? pt__utf8_cut(fields[i].v.s.p, max_value) : lens[i];
        }
    }
    size = (size + 7) & ~(uint64_t)7;

    struct pt__ring *r = tls_ring;
    int sync = atomic_load(&pt__log_sync);
    if (r == NULL && !sync && (r = ring_create()) == NULL) {
        count_drop(NULL, lidx);
        return;
    }
    uint64_t head = 0;
    char *dst;
    if (sync)
        dst = malloc(size);
    else
        dst = size <= r->size / 2 ? ring_reserve(r, (uint32_t)size, lidx, &head) : NULL;
    if (dst == NULL) {
        if (!sync)
            count_drop(r, lidx);
        return;
    }
    struct pt__rec *rec = (struct pt__rec *)dst;
    rec->size = (uint32_t)size;
    rec->kind = PT__REC_EMIT;
    rec->dest = atomic_load_explicit(&log->dest[lidx], memory_order_relaxed);
    rec->level = (uint8_t)level;
    rec->suppressed = 0;
    rec->nfields = (uint32_t)n;
    rec->ticks = pt_clock_ticks();
    rec->log = log;
    rec->site = NULL;
    uint64_t *mlen = (uint64_t *)(rec + 1);
    *mlen = msg_len;
    struct emit_field *ef = (struct emit_field *)(mlen + 1);
    char *bytes = (char *)(ef + n);
    memcpy(bytes, msg, msg_len);
    bytes += msg_len;
    for (size_t i = 0; i < n; i++) {
        size_t nl = fields[i].name ? strlen(fields[i].name) : 0;
        int type = pt__public_type(fields[i].type);
        ef[i].type = (uint32_t)type;
        ef[i].name_len = (uint32_t)nl;
        if (nl)
            memcpy(bytes, fields[i].name, nl);
        bytes += nl;
        if (!is_str(type)) {
            ef[i].slot = fields[i].v.u;
        } else if (fields[i].v.s.p == NULL) {
            ef[i].slot = PT__STR_NULL;
        } else {
            size_t stored =
                lens[i] > max_value ? pt__utf8_cut(fields[i].v.s.p, max_value) : lens[i];
            ef[i].slot = (uint64_t)stored | (uint64_t)(lens[i] - stored) << 32;
            memcpy(bytes, fields[i].v.s.p, stored);
            bytes += stored;
        }
    }
    if (sync) {
        write_sync(dst);
        free(dst);
        return;
    }
    ring_publish(r, head, lidx);
}

/* Used by the fork handler: the child's copy of every ring holds the parent's records,
 * which the parent writes; the child starts with empty rings. */
void pt__rings_reset_after_fork(void)
{
    for (struct pt__ring *r = atomic_load(&pt__rings); r; r = atomic_load(&r->next)) {
        atomic_store(&r->tail, atomic_load(&r->head));
        r->cached_tail = atomic_load(&r->head);
    }
    tls_ring = NULL;
}
