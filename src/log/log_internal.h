/* The logger's internals: loggers, per-thread rings, the pt-log writer, sinks, encoding. */
#ifndef PT_LOG_INTERNAL_H
#define PT_LOG_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "potter/log.h"

#define PT__CACHELINE 64

/* ---- loggers ------------------------------------------------------------------------- */

/* A bound field of a child logger: its key (after the reserved-name rule) and its encoded
 * `,"key":value` fragment. */
struct pt__bound {
    char *key;
    char *frag;
    size_t frag_len;
};

/* Where a record of each level goes, as the call decides it (struct pt__rec's dest). */
enum { PT__TO_SINKS = 1, PT__TO_FLIGHT = 2 };

struct pt_log {
    struct pt__log_head head; /* must stay first: pt_log_enabled() reads it */
    /* PT__TO_* bits per level index, kept with threshold by every level change: the
     * caller reads one byte instead of comparing with two levels. */
    _Atomic unsigned char dest[PT_LOG_NLEVELS];
    _Atomic unsigned char level;
    unsigned char own_level; /* a child that had its level set stops following its parent */
    struct pt_log *root;
    struct pt_log *parent;
    struct pt_log *first_child, *next_sibling, *prev_sibling; /* under logs.mu */
    struct pt_log *all_next, *all_prev; /* every live logger */

    struct pt__bound *bound; /* parent's and own, innermost wins, no duplicate keys */
    size_t nbound;
    char *bound_frag; /* all fragments, concatenated */
    size_t bound_len;

    /* root only */
    char *name;
    char *name_json; /* "name":"...", pre-encoded */
    size_t name_json_len;
    struct pt__sink **sinks; /* under logs.sinks_mu */
    size_t nsinks;
    atomic_int refs; /* the root itself + each child */
};

/* Process-wide logger state. */
struct pt__logs {
    pthread_mutex_t mu; /* the logger tree and the list of all loggers */
    pt_log *all;
    pthread_mutex_t sinks_mu; /* sink lists of root loggers and the global sink list */
    struct pt__sink *sinks;
    _Atomic int flight_level;
    _Atomic int64_t block_us[PT_LOG_NLEVELS];
    pt_log_config cfg;
    atomic_int started; /* first record seen: configuration is frozen */
};
extern struct pt__logs pt__logs;

void pt__log_retune_all(void); /* recompute every logger's threshold */
void pt__log_release_root(pt_log *root); /* drop one reference on a root */
void pt__log_destroy_child(pt_log *log); /* writer: free a child nobody can use any more */

/* ---- per-thread rings -------------------------------------------------------------- */

enum { PT__REC_PAD = 1, PT__REC_SITE = 2, PT__REC_EMIT = 3 };

/* Every record starts with this header; sizes are multiples of 8. */
struct pt__rec {
    uint32_t size;
    uint8_t kind;
    uint8_t dest; /* PT__TO_* bits, as they were at the time of the call */
    uint8_t pad;
    uint8_t level;
    uint32_t suppressed; /* PT_LOG_LIMIT: records held back just before this one */
    uint32_t nfields;
    uint64_t ticks;
    pt_log *log;
    const pt_log_site *site; /* PT__REC_SITE */
};

/* A string's slot: stored length, and the bytes cut off. A NULL string is PT__STR_NULL. */
#define PT__STR_NULL UINT32_MAX

struct pt__ring {
    _Atomic uint64_t head; /* producer: bytes ever written */
    uint64_t cached_tail; /* producer's last view of tail */
    _Atomic uint64_t logged[PT_LOG_NLEVELS];
    _Atomic uint64_t dropped[PT_LOG_NLEVELS];
    char pad0[PT__CACHELINE];
    _Atomic uint64_t tail; /* consumer: bytes ever consumed */
    char pad1[PT__CACHELINE - sizeof(uint64_t)];
    char *buf;
    size_t size; /* power of two */
    atomic_int orphaned; /* its thread exited: drain, then free */
    pid_t tid;
    struct pt__ring *_Atomic next;
};

/* ---- the writer --------------------------------------------------------------------- */

/* Starts pt-log if it is not running (idempotent, thread-safe). 0 or -errno. */
int pt__writer_start(void);
/* Nonzero in a forked child (no writer thread): records are written synchronously. */
extern atomic_int pt__log_sync;
/* Wakes the writer if it sleeps deeply. Cheap when it does not. */
void pt__writer_poke(void);
/* Registers a new ring with the writer. */
void pt__writer_add_ring(struct pt__ring *r);
/* Queues a child for release once no record can refer to it. */
void pt__writer_defer_free(pt_log *child);
/* Writes one record synchronously (forked child): formats and hands it to every sink. */
void pt__writer_write_sync(const struct pt__rec *rec);

/* The crash path's fatal record (log_crash.h): the crashing thread fills line, len and
 * deadline, sets state to ASKED and wakes pt-log, which serves it (writer.c) and writes a
 * byte to pipe[1] once every sink flushed. */
enum { PT__CRASH_IDLE, PT__CRASH_ASKED, PT__CRASH_DONE, PT__CRASH_LATE };
struct pt__log_crash_state {
    _Atomic int state;
    const char *line;
    size_t len;
    uint64_t deadline_ns; /* pt_clock_mono_ns() */
    int pipe[2];
    _Atomic pid_t writer_tid;
};
extern struct pt__log_crash_state pt__log_crash;
/* Wakes pt-log whether it sleeps or not (async-signal-safe: a futex wake). */
void pt__writer_wake_always(void);
/* Nonzero once pt-log runs (read without a lock). */
int pt__writer_running(void);
/* The descriptor a sink writes to when it is a file or stderr sink, else -1 (file.c). */
int pt__sink_direct_fd(const struct pt__sink *s);

extern _Atomic uint64_t pt__log_suppressed;
extern _Atomic uint64_t pt__log_formatted;
extern _Atomic uint64_t pt__log_orphan_logged[PT_LOG_NLEVELS];
extern _Atomic uint64_t pt__log_orphan_dropped[PT_LOG_NLEVELS];
extern struct pt__ring *_Atomic pt__rings;
extern pid_t pt__log_pid;

/* ---- sinks -------------------------------------------------------------------------- */

struct pt__sink {
    pt_log_sink_ops ops;
    void *ctx;
    unsigned levels;
    pt_log *root;
    struct pt__sink *next_global; /* under logs.sinks_mu */
    char *label; /* for messages: "file var/log/x.log" */

    /* the queue: pt-log writes lines, the sink's thread writes them out */
    char *buf;
    size_t size; /* power of two */
    _Atomic uint64_t head; /* changed under lines_seq, with lines */
    _Atomic uint64_t tail;
    _Atomic uint64_t skip_at; /* head position where unused bytes before a wrap begin */
    _Atomic uint64_t skip_to;
    /* The lines pushed up to head, the two changed under a sequence count (odd while pt-log
     * changes them): a write that ends at head has written that many lines in all, so the
     * sink's thread need not look for line ends. */
    _Atomic uint64_t lines_seq, lines;
    uint64_t stall_ns;
    atomic_int stalled;

    /* flush bookkeeping: the writer sets the target, the sink reaches it */
    _Atomic uint64_t flush_gen;
    _Atomic uint64_t flush_target;
    _Atomic uint64_t flushed_gen;

    atomic_int reopen; /* asked of the sink's thread */
    atomic_int reopen_result; /* what its last reopen returned */
    atomic_int stop;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* the sink thread waits here for data; the writer for room */
    /* Who waits on cv, so that the other side takes the lock only then (seq_cst: a waiter
     * stores its flag then looks again; the other side stores its progress then loads the
     * flag, so one of the two always sees the other). */
    atomic_int sleeping; /* the sink's thread, deeply (only a wake-up ends it) */
    atomic_int room_wanted; /* pt-log, for room in the queue */

    _Atomic uint64_t records, bytes, dropped, errors;
    atomic_int last_error;
    uint64_t last_report_ns;
    uint64_t errors_at_report;
};

/* Hands one formatted line (ending in '\n') to a sink's queue, waiting for room at most
 * stall_ns while the sink is healthy. Returns 0 or -ENOBUFS (dropped and counted). */
int pt__sink_push(struct pt__sink *s, const char *line, size_t len);
/* Writes a line straight through the sink's ops (no thread): the forked child's path. */
void pt__sink_write_sync(struct pt__sink *s, const char *line, size_t len);
/* Asks the sink to reach flush generation `gen` at its current queue head. */
void pt__sink_request_flush(struct pt__sink *s, uint64_t gen);
/* Wakes the sink's thread for what pt-log pushed, when it sleeps deeply (see sink_main). */
void pt__sink_wake(struct pt__sink *s);
void pt__sink_destroy(struct pt__sink *s);
/* Counts a failure and says so on stderr, at most once a second: "<what> failed: ...". */
void pt__sink_report_error(struct pt__sink *s, const char *what, int err);
/* Creates a sink on log's root, with its thread; default_levels when opts leaves them 0. */
int pt__sink_create(pt_log *log, const pt_log_sink_ops *ops, void *ctx,
                    const pt_log_sink_options *opts, unsigned default_levels, const char *label,
                    pt_log_sink **out);
void pt__sinks_after_fork(void);

/* ---- encoding ----------------------------------------------------------------------- */

struct pt__buf {
    char *p;
    size_t len, cap;
};
/* Makes room for `more` bytes: 0, or -ENOMEM (the buffer is left as it was). */
int pt__buf_grow(struct pt__buf *b, size_t more);
/* memcpy for the short strings most fields and values are, without a call: two overlapping
 * moves that read and write exactly the n bytes. */
static inline void pt__copy_short(void *dst, const void *src, size_t n)
{
    char *d = dst;
    const char *s = src;
    if (n >= 8 && n <= 16) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n >= 4 && n < 8) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
    } else {
        memcpy(d, s, n);
    }
}

/* Inline: the encoder calls these a few dozen times a record, mostly with short constants
 * whose copy the compiler then turns into a move or two. */
static inline int pt__buf_reserve(struct pt__buf *b, size_t more)
{
    return PT_LIKELY(more <= b->cap - b->len) ? 0 : pt__buf_grow(b, more);
}
static inline void pt__buf_put(struct pt__buf *b, const char *s, size_t n)
{
    if (pt__buf_reserve(b, n) != 0)
        return;
    if (__builtin_constant_p(n))
        memcpy(b->p + b->len, s, n);
    else
        pt__copy_short(b->p + b->len, s, n);
    b->len += n;
}
static inline void pt__buf_putc(struct pt__buf *b, char c)
{
    if (pt__buf_reserve(b, 1) != 0)
        return;
    b->p[b->len++] = c;
}

/* Asks for the cache line at p with the intent to write it: on x86-64, PREFETCHW (a NOP on
 * processors without it), so that a line another core last read comes over exclusive, and
 * the store that follows does not wait for the other core to let go of it. GCC emits a
 * plain read prefetch for __builtin_prefetch(p, 1) unless built for a CPU that has it. */
static inline void pt__prefetch_w(const void *p)
{
#if defined(__x86_64__)
    __asm__ volatile("prefetchw %0" : : "m"(*(const char *)p));
#else
    __builtin_prefetch(p, 1, 3);
#endif
}

/* Asks for the 512 bytes of buf[0..size) from at on (what the next record's copy into a ring
 * that came round writes), up to the end of buf: eight prefetches, without a loop when they fit. */
static inline void pt__prefetch_next(const char *buf, size_t at, size_t size)
{
    const char *p = buf + at;
    if (PT_LIKELY(at + 512 <= size)) {
        pt__prefetch_w(p), pt__prefetch_w(p + 64), pt__prefetch_w(p + 128);
        pt__prefetch_w(p + 192), pt__prefetch_w(p + 256), pt__prefetch_w(p + 320);
        pt__prefetch_w(p + 384), pt__prefetch_w(p + 448);
        return;
    }
    for (; at < size; at += 64)
        pt__prefetch_w(buf + at);
}

/* A field as the formatter sees it: strings point into the ring. */
struct pt__field {
    const char *name;
    int type;
    pt_value v;
    uint32_t cut;
};

/* How many of the first `max` bytes of s (which has more) to keep so that no UTF-8
 * character is split. */
size_t pt__utf8_cut(const char *s, size_t max);
/* Appends a JSON string (with quotes): escapes, U+FFFD for invalid UTF-8, the cut marker. */
void pt__json_str(struct pt__buf *b, const char *s, size_t n, uint32_t cut);
/* Appends a field's value as JSON. */
void pt__json_value(struct pt__buf *b, const struct pt__field *f);
/* Appends `,"key":` with the reserved-name rule applied to key (len: strlen(key)). */
void pt__json_key(struct pt__buf *b, const char *key);
void pt__json_key_n(struct pt__buf *b, const char *key, size_t len);
/* 1 when s[0..n) is one valid JSON value. */
int pt__json_valid(const char *s, size_t n);

/* A field of pre-encoded JSON that libpotter built itself (the access record's req and res):
 * as PT_JSON, without the check on pt-log. For libpotter's own code only. */
enum { PT__FIELD_JSON_BUILT = PT_FIELD_JSON + 1 }; /* an enum: the log macros paste its name */
#define PT__ISSTR_PT__FIELD_JSON_BUILT 1
#define PT__JSON_BUILTN(name, json, n) (PT__FIELD_JSON_BUILT, name, pt__v_strn((json), (n)))
/* Members of the record's object that libpotter built itself, `"a":1,"b":"x"` (no braces,
 * no comma at either end), written as they are where the field stands: one field for what
 * would be many (the access record), so that neither the caller nor pt-log pays for each. The
 * name only identifies the field. At most pt__log_value_max() bytes: a longer value would be
 * cut, and is replaced by "members_cut":<bytes>. */
enum { PT__FIELD_JSON_MEMBERS = PT_FIELD_JSON + 2 };
#define PT__ISSTR_PT__FIELD_JSON_MEMBERS 1
#define PT__JSON_MEMBERSN(name, json, n) (PT__FIELD_JSON_MEMBERS, name, pt__v_strn((json), (n)))
static inline int pt__field_is_str(int type)
{
    return type == PT_FIELD_STR || type == PT_FIELD_JSON || type == PT__FIELD_JSON_BUILT ||
           type == PT__FIELD_JSON_MEMBERS;
}
/* A field's type as given from outside libpotter (pt_log_emit, pt_log_child): libpotter's own
 * kinds above are not taken on trust there, but checked as PT_FIELD_JSON. */
static inline int pt__public_type(int type)
{
    return type > PT_FIELD_JSON ? PT_FIELD_JSON : type;
}
/* The longest string value a record keeps whole (log.max_value_bytes). */
size_t pt__log_value_max(void);
/* Appends a duration of ns nanoseconds as PT_DUR writes it: milliseconds, 3 decimals. */
void pt__json_duration(struct pt__buf *b, int64_t ns);
/* "2026-11-22T17:21:05.123Z" (24 bytes) for wall time ns. */
void pt__json_time(char out[25], int64_t wall_ns);

/* Appends what a field's name stands for before its value: `,"name":` (pt__json_key_n), or
 * for members only the comma. */
static inline void pt__json_field_key(struct pt__buf *b, const struct pt__field *f, size_t len)
{
    if (f->type == PT__FIELD_JSON_MEMBERS)
        pt__buf_putc(b, ',');
    else
        pt__json_key_n(b, f->name, len);
}

/* pt-log, as a pass over the rings begins (and the synchronous path, for each record): drops
 * what it keeps per call site when a library was unloaded since. */
void pt__format_pass_begin(void);
/* Formats a whole record, as one JSON line ending in a newline, into b. site: the call site
 * whose fields these are, in its order (their keys are then encoded once per site), or NULL.
 * On pt-log, or in a forked child under its lock: one thread at a time. */
void pt__format_record(struct pt__buf *b, int level, pt_log *log, int64_t wall_ns, const char *msg,
                       size_t msg_len, const struct pt__field *fields, size_t n,
                       const pt_log_site *site);

extern char pt__log_hostname_json[320];
extern size_t pt__log_hostname_json_len;

/* A record's fields as the formatter sees them (writer.c). */
struct pt__decoded {
    const char *msg;
    size_t msg_len;
    size_t n;
    struct pt__field f[64];
};
/* Decodes rec into d; names of a PT__REC_EMIT record are copied into names (the caller's:
 * pt-log and the crash dump each have their own). */
void pt__log_decode(const struct pt__rec *rec, struct pt__decoded *d, char (*names)[64]);


#endif
