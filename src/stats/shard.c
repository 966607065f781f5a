/* Per-thread shards of metric slots and sample rings (stats_internal.h explains the scheme),
 * and the update functions of potter/stats.h that write them. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats/stats_internal.h"

pthread_mutex_t pt__stats_lock = PTHREAD_MUTEX_INITIALIZER;
pt__stats_shard *pt__stats_shards;

static uint32_t next_slot = PT__STATS_FIRST_SLOT;
/* Totals of exited threads' shards; under pt__stats_lock. */
static uint64_t *retired[PT__STATS_MAX_CHUNKS];
/* Which slots hold a double's bits (sums of histogram values), so that folding adds them as
 * doubles. Under pt__stats_lock. */
static uint64_t double_slot[PT__STATS_MAX_CHUNKS * PT__STATS_CHUNK / 64];

static __thread pt__stats_shard *tls_shard __attribute__((tls_model("initial-exec")));
static pthread_key_t shard_key;
static pthread_once_t shard_once = PTHREAD_ONCE_INIT;

/* ---- the slot space ----------------------------------------------------------------------- */

uint32_t pt__stats_slots_reserve(uint32_t n)
{
    if (n == 0 || n > PT__STATS_CHUNK)
        return 0;
    uint32_t first = next_slot;
    if ((first & (PT__STATS_CHUNK - 1)) + n > PT__STATS_CHUNK) /* all in one chunk */
        first = (first | (PT__STATS_CHUNK - 1)) + 1;
    if ((uint64_t)first + n > (uint64_t)PT__STATS_MAX_CHUNKS * PT__STATS_CHUNK)
        return 0;
    next_slot = first + n;
    return first;
}

void pt__stats_mark_double(uint32_t slot)
{
    double_slot[slot / 64] |= 1ull << (slot % 64);
}

static int is_double(uint32_t slot)
{
    return (double_slot[slot / 64] >> (slot % 64)) & 1;
}

/* ---- shards ------------------------------------------------------------------------------- */

/* At thread exit: the flush reads the shard one last time, then frees it. */
static void shard_exit(void *arg)
{
    pt__stats_shard *sh = arg;
    tls_shard = NULL;
    __atomic_store_n(&sh->dead, 1, __ATOMIC_RELEASE);
}

static void shards_prepare(void)
{
    pthread_mutex_lock(&pt__stats_lock);
}

static void shards_parent(void)
{
    pthread_mutex_unlock(&pt__stats_lock);
}

/* In a forked child only this thread is left: the other shards are final. */
static void shards_child(void)
{
    for (pt__stats_shard *sh = pt__stats_shards; sh; sh = sh->next)
        if (sh != tls_shard)
            sh->dead = 1;
    pthread_mutex_unlock(&pt__stats_lock);
}

static void shard_init(void)
{
    if (pthread_key_create(&shard_key, shard_exit) != 0)
        abort();
    pthread_atfork(shards_prepare, shards_parent, shards_child);
}

pt__stats_shard *pt__stats_shard_for(uint32_t slot)
{
    pt__stats_shard *sh = tls_shard;
    uint32_t c = slot >> PT__STATS_CHUNK_SHIFT;

    if (sh == NULL) {
        pthread_once(&shard_once, shard_init);
        sh = calloc(1, sizeof(*sh)); /* its ring comes with its first sample */
        if (sh == NULL)
            return NULL;
        pthread_mutex_lock(&pt__stats_lock);
        sh->next = pt__stats_shards;
        pt__stats_shards = sh;
        pthread_mutex_unlock(&pt__stats_lock);
        pthread_setspecific(shard_key, sh);
        tls_shard = sh;
    }
    if (c < PT__STATS_MAX_CHUNKS && sh->chunks[c] == NULL) {
        uint64_t *chunk = calloc(PT__STATS_CHUNK, sizeof(uint64_t));
        if (chunk == NULL)
            return NULL;
        __atomic_store_n(&sh->chunks[c], chunk, __ATOMIC_RELEASE);
    }
    return sh;
}

static void free_shard(pt__stats_shard *sh)
{
    for (size_t c = 0; c < PT__STATS_MAX_CHUNKS; c++)
        free(sh->chunks[c]);
    free(sh->ring);
    free(sh);
}

/* Adds an exited thread's slots to the retired totals. Under pt__stats_lock. */
static void fold(const pt__stats_shard *sh)
{
    for (uint32_t c = 0; c < PT__STATS_MAX_CHUNKS; c++) {
        const uint64_t *chunk = sh->chunks[c];
        if (chunk == NULL)
            continue;
        if (retired[c] == NULL && (retired[c] = calloc(PT__STATS_CHUNK, sizeof(uint64_t))) == NULL)
            continue; /* out of memory: these counts are lost, as little else can be done */
        for (uint32_t i = 0; i < PT__STATS_CHUNK; i++) {
            uint32_t slot = (c << PT__STATS_CHUNK_SHIFT) | i;
            if (!is_double(slot)) {
                retired[c][i] += chunk[i];
                continue;
            }
            double a, b;
            memcpy(&a, &retired[c][i], sizeof(a));
            memcpy(&b, &chunk[i], sizeof(b));
            a += b;
            memcpy(&retired[c][i], &a, sizeof(a));
        }
    }
}

uint64_t pt__stats_slot_total(uint32_t slot)
{
    uint32_t c = slot >> PT__STATS_CHUNK_SHIFT, i = slot & (PT__STATS_CHUNK - 1);
    uint64_t total = retired[c] ? retired[c][i] : 0;

    for (const pt__stats_shard *sh = pt__stats_shards; sh; sh = sh->next) {
        const uint64_t *chunk = __atomic_load_n(&sh->chunks[c], __ATOMIC_ACQUIRE);
        if (chunk)
            total += __atomic_load_n(&chunk[i], __ATOMIC_RELAXED);
    }
    return total;
}

static double bits_double(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

double pt__stats_slot_total_double(uint32_t slot)
{
    uint32_t c = slot >> PT__STATS_CHUNK_SHIFT, i = slot & (PT__STATS_CHUNK - 1);
    double total = retired[c] ? bits_double(retired[c][i]) : 0;

    for (const pt__stats_shard *sh = pt__stats_shards; sh; sh = sh->next) {
        const uint64_t *chunk = __atomic_load_n(&sh->chunks[c], __ATOMIC_ACQUIRE);
        if (chunk)
            total += bits_double(__atomic_load_n(&chunk[i], __ATOMIC_RELAXED));
    }
    return total;
}

void pt__stats_drain(void (*fn)(void *arg, const pt__stats_sample *s), void *arg)
{
    for (pt__stats_shard **link = &pt__stats_shards; *link;) {
        pt__stats_shard *sh = *link;
        int dead = __atomic_load_n(&sh->dead, __ATOMIC_ACQUIRE);
        uint64_t head = sh->head, tail = __atomic_load_n(&sh->tail, __ATOMIC_ACQUIRE);
        const pt__stats_sample *ring = __atomic_load_n(&sh->ring, __ATOMIC_ACQUIRE);
        for (; ring && head != tail; head++)
            fn(arg, &ring[head & (PT__STATS_RING - 1)]);
        __atomic_store_n(&sh->head, head, __ATOMIC_RELEASE);
        if (!dead) {
            link = &sh->next;
            continue;
        }
        fold(sh);
        *link = sh->next;
        free_shard(sh);
    }
}

/* ---- updates ------------------------------------------------------------------------------ */

/* The slot's cell in the calling thread's shard; NULL when out of memory. */
static inline uint64_t *cell(uint32_t slot)
{
    pt__stats_shard *sh = tls_shard;
    uint64_t *chunk;

    if (PT_LIKELY(sh != NULL) &&
        PT_LIKELY((chunk = sh->chunks[slot >> PT__STATS_CHUNK_SHIFT]) != NULL))
        return &chunk[slot & (PT__STATS_CHUNK - 1)];
    if ((sh = pt__stats_shard_for(slot)) == NULL)
        return NULL;
    return &sh->chunks[slot >> PT__STATS_CHUNK_SHIFT][slot & (PT__STATS_CHUNK - 1)];
}

/* Only the owning thread writes a cell: a load and a store, no locked instruction. */
static inline void add_at(uint64_t *p, uint64_t n)
{
    __atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline void cell_add(uint32_t slot, uint64_t n)
{
    uint64_t *p = cell(slot);
    if (p)
        add_at(p, n);
}

static inline void add_double_at(uint64_t *p, double v)
{
    double d = bits_double(__atomic_load_n(p, __ATOMIC_RELAXED)) + v;
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    __atomic_store_n(p, bits, __ATOMIC_RELAXED);
}

/* A sample the ring cannot take: counted for the client, and in the metric's own dropped
 * slot (`drop`, NULL for a set) so that statsd's count of it stays exact. */
static void drop_sample(uint64_t *drop)
{
    cell_add(PT__STATS_SLOT_DROPPED, 1);
    if (drop)
        add_at(drop, 1);
}

static inline void push_sample(const pt__smetric *m, uint64_t value, uint64_t *drop)
{
    pt__stats_shard *sh = tls_shard; /* cell() made it */
    if (sh == NULL)
        return;
    if (PT_UNLIKELY(sh->ring == NULL)) { /* 128 KiB, only for threads that record samples */
        pt__stats_sample *ring = malloc(PT__STATS_RING * sizeof(*ring));
        if (ring == NULL) {
            drop_sample(drop);
            return;
        }
        __atomic_store_n(&sh->ring, ring, __ATOMIC_RELEASE);
    }
    uint64_t tail = sh->tail;
    if (tail - __atomic_load_n(&sh->head, __ATOMIC_ACQUIRE) >= PT__STATS_RING) {
        drop_sample(drop);
        return;
    }
    pt__stats_sample *s = &sh->ring[tail & (PT__STATS_RING - 1)];
    s->metric = (pt__smetric *)m;
    s->value = value;
    __atomic_store_n(&sh->tail, tail + 1, __ATOMIC_RELEASE);
}

void pt_counter_add(pt_counter *c, uint64_t n)
{
    cell_add(c->m.slot, n);
}

void pt_counter_set_total(pt_counter *c, uint64_t total)
{
    if (c->m.refused) {
        cell_add(PT__STATS_SLOT_REFUSED, 1);
        return;
    }
    /* Called from one thread at a time (a collector, on pt-ops): what the total grew by
     * since the last call is added like any update. A total that went down (the source was
     * reset) starts again from there. */
    uint64_t fed = __atomic_load_n(&c->m.fed, __ATOMIC_RELAXED);
    if (total > fed)
        cell_add(c->m.slot, total - fed);
    __atomic_store_n(&c->m.fed, total, __ATOMIC_RELAXED);
}

void pt_gauge_set(pt_gauge *g, double value)
{
    uint64_t bits;
    if (g->m.refused || !isfinite(value)) { /* statsd has no NaN or infinity */
        cell_add(PT__STATS_SLOT_REFUSED, 1);
        return;
    }
    memcpy(&bits, &value, sizeof(bits));
    __atomic_store_n(&g->m.gauge, bits, __ATOMIC_RELAXED);
    __atomic_store_n(&g->m.gauge_set, 1, __ATOMIC_RELAXED);
}

void pt_gauge_add(pt_gauge *g, double delta)
{
    if (g->m.refused) {
        cell_add(PT__STATS_SLOT_REFUSED, 1);
        return;
    }
    uint64_t old = __atomic_load_n(&g->m.gauge, __ATOMIC_RELAXED), bits;
    if (!isfinite(delta)) {
        cell_add(PT__STATS_SLOT_REFUSED, 1);
        return;
    }
    do {
        double d = bits_double(old) + delta;
        if (!isfinite(d)) { /* an overflow: keep the last finite value */
            cell_add(PT__STATS_SLOT_REFUSED, 1);
            return;
        }
        memcpy(&bits, &d, sizeof(bits));
    } while (!__atomic_compare_exchange_n(&g->m.gauge, &old, bits, 1, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    __atomic_store_n(&g->m.gauge_set, 1, __ATOMIC_RELAXED);
}

/* The index of the first bound >= v (nbounds for +Inf). */
static inline size_t bucket(const pt__smetric *m, double v)
{
    /* Without branches on the comparisons: a timer's values are not predictable, and a
     * mispredicted step costs more than the whole search. */
    const double *b = m->bounds;
    size_t lo = 0, n = m->nbounds;
    while (n > 0) {
        size_t half = n / 2;
        size_t right = b[lo + half] < v; /* 0 or 1: arithmetic, not a jump */
        lo += right * (half + 1);
        n = half + right * (n - 2 * half - 1);
    }
    return lo;
}

/* Slots of a timer or histogram: count, sum, then one per bound and one for +Inf. */
void pt_timer_record_ns(pt_timer *t, int64_t ns)
{
    const pt__smetric *m = &t->m;
    if (m->refused) {
        cell_add(PT__STATS_SLOT_REFUSED, 1);
        return;
    }
    if (ns < 0)
        ns = 0;
    uint64_t *p = cell(m->slot); /* a metric's slots are all in one chunk */
    if (p == NULL)
        return;
    add_at(p, 1);
    add_at(p + 1, (uint64_t)ns);
    add_at(p + 2 + bucket(m, (double)ns), 1);
    push_sample(m, (uint64_t)ns, p + 3 + m->nbounds);
}

void pt_histogram_observe(pt_histogram *h, double value)
{
    const pt__smetric *m = &h->m;
    uint64_t bits;
    if (m->refused || !isfinite(value)) {
        cell_add(PT__STATS_SLOT_REFUSED, 1);
        return;
    }
    uint64_t *p = cell(m->slot);
    if (p == NULL)
        return;
    add_at(p, 1);
    add_double_at(p + 1, value);
    add_at(p + 2 + bucket(m, value), 1);
    memcpy(&bits, &value, sizeof(bits));
    push_sample(m, bits, p + 3 + m->nbounds);
}

/* FNV-1a, 64 bits: set members are told apart by their hash. */
static uint64_t hash64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

void pt_set_add(pt_set *s, const char *value)
{
    if (s->m.refused || value == NULL) {
        cell_add(PT__STATS_SLOT_REFUSED, 1);
        return;
    }
    if (cell(PT__STATS_SLOT_DROPPED) == NULL) /* makes the shard */
        return;
    push_sample(&s->m, hash64(value), NULL);
}
