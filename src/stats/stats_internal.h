/* stats_internal.h: what the files of src/stats share (shard.c, registry.c, flush.c,
 * prom.c, process.c). */
#ifndef PT_STATS_INTERNAL_H
#define PT_STATS_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "potter/stats.h"

/* ---- per-thread shards ------------------------------------------------------------------
 * Every metric owns a few "slots" (a counter one; a timer or histogram its count, its sum and
 * one per bucket) in a process-wide slot space. Each thread that updates a metric has its own
 * shard: a table of chunks of slots, which only that thread writes (plain relaxed loads and
 * stores, no read-modify-write) and pt-ops reads at each flush. A slot only ever grows (a
 * sum of doubles is kept as its bits), so the reader needs no lock: it takes the total of the
 * shards and subtracts what it sent last time. A shard whose thread has exited is read one
 * last time, added to the retired totals and freed. Slot 0 counts updates to refused handles.
 *
 * Samples (timer and histogram values for statsd, set members) go into the shard's ring, one
 * producer (the thread) and one consumer (the flush). A full ring drops the sample and counts
 * it; counts and sums stay exact in the slots. */
#define PT__STATS_CHUNK_SHIFT 10
#define PT__STATS_CHUNK (1u << PT__STATS_CHUNK_SHIFT) /* slots per chunk */
#define PT__STATS_MAX_CHUNKS 1024 /* 1M slots in all */
#define PT__STATS_RING 8192 /* samples per thread, a power of two */
#define PT__STATS_SLOT_REFUSED 0
#define PT__STATS_SLOT_DROPPED 1 /* samples a full ring dropped */
#define PT__STATS_FIRST_SLOT 2

typedef struct pt__smetric pt__smetric;

typedef struct pt__stats_sample {
    pt__smetric *metric; /* valid until its registry is freed, which drains the rings first */
    uint64_t value; /* a timer's ns, a histogram's double bits, a set member's hash */
} pt__stats_sample;

typedef struct pt__stats_shard {
    uint64_t *chunks[PT__STATS_MAX_CHUNKS]; /* atomic pointers, set by the owner */
    pt__stats_sample *ring; /* PT__STATS_RING entries */
    uint64_t head; /* atomic: next sample to read (the flush) */
    uint64_t tail; /* atomic: next sample to write (the thread) */
    int dead; /* atomic: the thread has exited */
    struct pt__stats_shard *next; /* in the shard list, under pt__stats_lock */
} pt__stats_shard;

/* The shard list and the slot space, process-wide. */
extern pthread_mutex_t pt__stats_lock;
extern pt__stats_shard *pt__stats_shards;

/* Reserves n consecutive slots, all in one chunk. Returns the first, or 0 when the space is
 * full (a refused handle then). Under pt__stats_lock. */
uint32_t pt__stats_slots_reserve(uint32_t n);

/* Marks a slot as holding a double's bits. Under pt__stats_lock. */
void pt__stats_mark_double(uint32_t slot);

/* The calling thread's shard with the chunk of `slot` present, made on first use; NULL when
 * out of memory. */
pt__stats_shard *pt__stats_shard_for(uint32_t slot);

/* A slot's total over every shard, live and retired. Under pt__stats_lock. */
uint64_t pt__stats_slot_total(uint32_t slot);
/* The same for a slot holding a double's bits (a sum). */
double pt__stats_slot_total_double(uint32_t slot);

/* Drains every shard's ring, handing each sample to fn. Shards of exited threads are folded
 * into the retired totals and freed. Under pt__stats_lock; on the flushing thread. */
void pt__stats_drain(void (*fn)(void *arg, const pt__stats_sample *s), void *arg);

/* ---- metrics --------------------------------------------------------------------------- */
enum pt__smetric_kind {
    PT__S_COUNTER = 1,
    PT__S_GAUGE,
    PT__S_TIMER,
    PT__S_HISTOGRAM,
    PT__S_SET,
};

struct pt__smetric {
    /* The handle's view: what the update path reads. */
    uint32_t slot; /* counter: its total; timer/histogram: count, sum, one per bound, +Inf,
                      then the samples its threads' full rings dropped; set: none */
    uint32_t id; /* the index in stats->metrics */
    int kind;
    int refused; /* updates go to PT__STATS_SLOT_REFUSED */
    uint64_t gauge; /* gauge: the value's bits (atomic) */
    int gauge_set; /* gauge: ever set (atomic) */
    const double *bounds; /* timer/histogram: upper bounds (a timer's in ns) */
    size_t nbounds;
    /* The flush's own. */
    char *name; /* sanitised, without prefix */
    char *tags; /* sanitised "k:v,k2:v2", or NULL */
    char *statsd_name; /* the full statsd name (prefix, service, host, name, tags if folded) */
    uint64_t fed; /* counter: the last total given to pt_counter_set_total() */
    uint64_t sent; /* counter: the total at the last flush */
    uint64_t sent_count; /* timer/histogram: the count at the last flush */
    uint64_t last_unique; /* set: members seen in the last interval */
    pt__stats_sample *batch; /* samples drained for this flush */
    size_t nbatch, capbatch;
    uint64_t sent_dropped; /* timer/histogram: its dropped slot at the last flush */
    uint64_t lost; /* timer/histogram: samples drained but not kept (no memory, no
                      destination yet): they count at the next flush */
    uint64_t sent_sum; /* timer: the sum of ns at the last flush */
    double sent_sum_d; /* histogram: the sum of values at the last flush */
    struct pt__smetric *hnext; /* in the name hash */
};

struct pt_counter {
    pt__smetric m;
};
struct pt_gauge {
    pt__smetric m;
};
struct pt_timer {
    pt__smetric m;
};
struct pt_histogram {
    pt__smetric m;
};
struct pt_set {
    pt__smetric m;
};

typedef struct pt__scollector {
    pt_stats_collect_fn fn;
    void *arg;
} pt__scollector;

struct pt_stats {
    pthread_mutex_t lock; /* the registry: metrics, hash, collectors */
    pthread_mutex_t collect_lock; /* the collectors run one at a time */
    pt_stats_options opts;
    char *service, *prefix, *host, *statsd_host, *statsd_socket;
    char *name_prefix; /* "[prefix.]service.host." */
    char crash_packet[256]; /* "<name_prefix>crashes:1|c", for the crash path (crash.c) */
    size_t crash_len;
    pt__smetric **metrics;
    size_t nmetrics, capmetrics;
    pt__smetric **hash;
    size_t hashcap;
    pt__scollector *collectors;
    size_t ncollectors;

    /* The flush (pt-ops, or the caller at the end). */
    pthread_mutex_t flush_lock;
    int fd; /* the connected socket, -1: none yet */
    int resolving; /* atomic: a resolution is on pt-work */
    struct pt_ops_timer *timer;
    char *packet; /* max_packet bytes */
    size_t plen;
    uint64_t rng; /* for sampling */
    pt_stats_counters counters; /* under flush_lock, except `refused` (slot 0) */
    int tasks; /* atomic: posted tasks and work jobs using stats */
    int closing; /* atomic */
};

/* registry.c */
void pt__stats_sanitize(char *s); /* in place: [A-Za-z0-9_.-] kept, the rest '_' */
/* The collectors, on the flushing thread. */
void pt__stats_collect(pt_stats *stats);

/* flush.c: v / 10^decimals in exact decimal, trailing zeros dropped: (1250000, 6) is
 * "1.25", (5000000, 9) is "0.005", (3000000, 6) is "3". */
void pt__stats_fmt_scaled(uint64_t v, int decimals, char *out, size_t len);

/* flush.c: one flush, on the calling thread. */
void pt__stats_flush_now(pt_stats *stats);
int pt__stats_flush_start(pt_stats *stats);
void pt__stats_flush_stop(pt_stats *stats);

/* crash.c: every live pt_stats, for the crash path's count. */
void pt__stats_crash_register(pt_stats *s);
void pt__stats_crash_unregister(pt_stats *s);

#endif /* PT_STATS_INTERNAL_H */
