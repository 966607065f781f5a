/* potter/log.h: structured, bunyan-compatible JSON logging that costs the caller almost nothing.
 *
 *     pt_log *log;
 *     pt_log_new("hello", &log);
 *     pt_log_add_stderr(log, NULL, NULL);
 *     pt_log_add_file(log, "var/log/hello.log", NULL, NULL);
 *     PT_INFO(log, "request done", PT_STR("path", path), PT_INT("status", 200),
 *             PT_DUR("took", elapsed_ns));
 *     pt_log_flush(1000);
 *
 * writes one line to each sink:
 *
 *     {"v":0,"level":30,"name":"hello","hostname":"web1","pid":42,
 *      "time":"2026-11-22T17:21:05.123Z","msg":"request done","path":"/a","status":200,
 *      "took":1.25}
 *
 * The caller copies the record's values into its own thread's ring and returns: no lock, no
 * allocation, no syscall, no formatting. The thread `pt-log` formats records and hands each
 * line to the queue of every sink the record's level is routed to; each sink writes from its
 * own thread, so a stalled sink never stalls the others nor the callers.
 *
 * Call-site constants (level, message, field names and types, file:line) live in one static
 * struct per call site, made by the macros below, and are never copied: the message must
 * therefore be a string literal; variable data goes in fields (or use pt_log_emit()).
 *
 * Field arguments are evaluated only when the level is enabled.
 */
#ifndef POTTER_LOG_H
#define POTTER_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "potter/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- levels (bunyan's) ----------------------------------------------------------------- */
#define PT_LOG_TRACE 10
#define PT_LOG_DEBUG 20
#define PT_LOG_INFO 30
#define PT_LOG_WARN 40
#define PT_LOG_ERROR 50
#define PT_LOG_FATAL 60
#define PT_LOG_OFF 70 /* as a logger's level: nothing is enabled */

#define PT_LOG_NLEVELS 6
#define PT_LOG_LEVEL_INDEX(level) ((level) / 10 - 1) /* 10..60 -> 0..5 */

/* Routing masks: which levels a sink receives. The defaults follow Uber's logtron: the
 * console gets everything, disk debug and above, Kafka info and above, Sentry error and
 * above. */
#define PT_LOG_MASK(level) (1u << PT_LOG_LEVEL_INDEX(level))
#define PT_LOG_MASK_FROM(level) ((0x3fu << PT_LOG_LEVEL_INDEX(level)) & 0x3fu)
#define PT_LOG_ROUTE_CONSOLE PT_LOG_MASK_FROM(PT_LOG_TRACE)
#define PT_LOG_ROUTE_DISK PT_LOG_MASK_FROM(PT_LOG_DEBUG)
#define PT_LOG_ROUTE_KAFKA PT_LOG_MASK_FROM(PT_LOG_INFO)
#define PT_LOG_ROUTE_SENTRY PT_LOG_MASK_FROM(PT_LOG_ERROR)

typedef struct pt_log pt_log;
typedef struct pt_log_sink pt_log_sink;

/* "trace".."fatal" for 10..60, NULL otherwise. */
PT_EXTERN const char *pt_log_level_name(int level);
/* Parses "trace".."fatal" or "off" (any case), or the numbers 10, 20, .. 70 (multiples of
 * ten only: "15" is refused); 0 or -EINVAL. */
PT_EXTERN int pt_log_level_parse(const char *text, int *level);

/* ---- loggers --------------------------------------------------------------------------- */

/* Creates a root logger named `name` (bunyan's "name"), at level info, with no sink yet.
 * Returns 0, -EINVAL or -ENOMEM. */
PT_EXTERN int pt_log_new(const char *name, pt_log **out);

/* Releases a logger. For a root logger: flushes it (at most one second), closes its sinks
 * once its last child is released too. For a child: released once every record that used
 * it has been written; the call never waits. NULL is accepted. */
PT_EXTERN void pt_log_free(pt_log *log);

/* The process-wide logger, for libraries that were given none: named after the program,
 * level info, writing to stderr. Passing NULL as the logger of any call means this one. */
PT_EXTERN pt_log *pt_log_default(void);

/* Sets a logger's level (records below it go to no sink), thread-safely, at any time.
 * A child follows its parent's level (at creation and on every later change) until its own
 * level is set; then it keeps its own. Returns 0 or -EINVAL. */
PT_EXTERN int pt_log_set_level(pt_log *log, int level);
PT_EXTERN int pt_log_level(const pt_log *log);

/* Sets the level of every root logger called name (pt_log_new()'s name), as
 * pt_log_set_level() does: the control port's POST /log/level. Returns 0, -EINVAL (bad level)
 * or -ENOENT (no such logger). */
PT_EXTERN int pt_log_set_level_named(const char *name, int level);

/* The root loggers' names and levels: fills out[0..max) and returns how many there are (which
 * may be more than max). Names longer than 63 bytes are cut. */
typedef struct pt_log_level_info {
    char name[64];
    int level;
} pt_log_level_info;
PT_EXTERN size_t pt_log_levels(pt_log_level_info *out, size_t max);

/* Waits until every record logged (by any thread, to any logger) before the call has been
 * written by every sink it is routed to. Returns 0, or -ETIMEDOUT after timeout_ms. */
PT_EXTERN int pt_log_flush(uint64_t timeout_ms);

/* Reopens the file sinks of `log` (every logger when NULL), as logrotate's copy-less mode
 * needs after it renamed the file. The logger installs no SIGHUP handler of its own: the app
 * layer calls this on SIGHUP. Returns 0 or the first error. */
PT_EXTERN int pt_log_reopen(pt_log *log);

/* ---- fields ---------------------------------------------------------------------------- */
typedef union pt_value {
    int64_t i;
    uint64_t u;
    double d;
    struct {
        const char *p;
        size_t n; /* (size_t)-1: NUL-terminated */
    } s;
} pt_value;

enum pt_field_type {
    PT_FIELD_NONE = 0,
    PT_FIELD_STR,  /* JSON string; NULL is written as null */
    PT_FIELD_INT,  /* int64_t */
    PT_FIELD_UINT, /* uint64_t */
    PT_FIELD_DBL,  /* double */
    PT_FIELD_BOOL,
    PT_FIELD_ERR,  /* an errno (or a negative pt_ error): "err":{"message","name","stack","code"} */
    PT_FIELD_DUR,  /* int64_t nanoseconds, written as milliseconds with 3 decimals */
    PT_FIELD_JSON  /* pre-encoded JSON, checked on pt-log: written as a string if invalid */
};

/* One field, for pt_log_emit() and bound fields built at run time. */
typedef struct pt_field {
    const char *name;
    int type;
    pt_value v;
} pt_field;

/* Field constructors for the logging macros. Each expands to (type, name, value). */
#define PT_STR(name, s) (PT_FIELD_STR, name, pt__v_str(s))
#define PT_STRN(name, p, n) (PT_FIELD_STR, name, pt__v_strn((p), (n)))
#define PT_INT(name, x) (PT_FIELD_INT, name, pt__v_i64((int64_t)(x)))
#define PT_UINT(name, x) (PT_FIELD_UINT, name, pt__v_u64((uint64_t)(x)))
#define PT_DBL(name, x) (PT_FIELD_DBL, name, pt__v_dbl((double)(x)))
#define PT_BOOL(name, x) (PT_FIELD_BOOL, name, pt__v_u64((x) ? 1u : 0u))
#define PT_ERR(e) (PT_FIELD_ERR, "err", pt__v_i64((int64_t)(e)))
#define PT_DUR(name, ns) (PT_FIELD_DUR, name, pt__v_i64((int64_t)(ns)))
#define PT_JSON(name, json) (PT_FIELD_JSON, name, pt__v_str(json))

/* Key rules, so that no record ever carries a key twice:
 *  - a field named like a core field (v, level, name, hostname, pid, time, msg, src) is
 *    written with a leading underscore ("_msg"), and so is a field already starting with one
 *    of those names plus underscores ("_msg" becomes "__msg");
 *  - when several fields share a name, the innermost wins and only it is written: a field
 *    of the call beats a field bound by a child, which beats one bound by its parent; within
 *    one call the last field of that name wins. */

/* ---- logging macros ------------------------------------------------------------------- */
#define PT_TRACE(log, msg, ...) PT_LOG(log, PT_LOG_TRACE, msg, ##__VA_ARGS__)
#define PT_DEBUG(log, msg, ...) PT_LOG(log, PT_LOG_DEBUG, msg, ##__VA_ARGS__)
#define PT_INFO(log, msg, ...) PT_LOG(log, PT_LOG_INFO, msg, ##__VA_ARGS__)
#define PT_WARN(log, msg, ...) PT_LOG(log, PT_LOG_WARN, msg, ##__VA_ARGS__)
#define PT_ERROR(log, msg, ...) PT_LOG(log, PT_LOG_ERROR, msg, ##__VA_ARGS__)
#define PT_FATAL(log, msg, ...) PT_LOG(log, PT_LOG_FATAL, msg, ##__VA_ARGS__)

/* Logs a record at `level` (a constant) with up to 16 fields. */
#define PT_LOG(log, level, msg, ...) PT__LOG(log, level, msg, NULL, ##__VA_ARGS__)

/* Logs at most `max` records per `interval_ms` from this call site (each expansion of the
 * macro is a site of its own; one inside a helper function is shared by all its callers);
 * the rest are counted,
 * and the first record let through after a suppression is preceded by one record
 * "N records suppressed" (fields "suppressed": N and "site_msg"). */
#define PT_LOG_LIMIT(log, level, max, interval_ms, msg, ...)                                     \
    do {                                                                                         \
        static pt__log_limit pt__lim = {(max), (interval_ms), 0, 0, 0, 0};                       \
        PT__LOG(log, level, msg, &pt__lim, ##__VA_ARGS__);                                       \
    } while (0)

/* Creates a child logger that adds `fields` to every record it logs, e.g. a request's id:
 *     pt_log *rlog = PT_LOG_CHILD(log, PT_STR("req_id", id));
 * The fields' values are copied. Returns NULL when out of memory. Release with
 * pt_log_free(). A child of a child binds both sets of fields. */
#define PT_LOG_CHILD(parent, ...)                                                                \
    __extension__({                                                                              \
        static const char *const pt__cn[] = {0 PT__MAP(PT__NAME, __VA_ARGS__)};                  \
        static const unsigned char pt__ct[] = {0 PT__MAP(PT__TYPE, __VA_ARGS__)};                 \
        const pt_value pt__cv[] = {pt__v_none() PT__MAP(PT__VAL, __VA_ARGS__)};                  \
        pt__log_child((parent), pt__cn + 1, pt__ct + 1, pt__cv + 1, PT__NARG(__VA_ARGS__));      \
    })

/* The same without macros: a child with `n` bound fields (values copied). */
PT_EXTERN pt_log *pt_log_child(pt_log *parent, const pt_field *fields, size_t n);

/* Logs a record whose message is not a literal (it is copied, as are the fields). Costs
 * more than the macros; meant for bridges from other logging APIs. */
PT_EXTERN void pt_log_emit(pt_log *log, int level, const char *msg, const pt_field *fields,
                           size_t n);

/* Nonzero when a record at `level` would be recorded (by a sink or the flight recorder). */
static inline int pt_log_enabled(const pt_log *log, int level);

/* ---- full rings, drops and counters ---------------------------------------------------- */

/* What a caller does when its thread's ring is full, per level: block_us < 0 waits for room
 * as long as it takes, 0 drops the record at once, > 0 waits at most that many microseconds
 * then drops. Defaults: error and fatal wait 5000 us, the others drop at once. Every drop
 * is counted. Returns 0 or -EINVAL. */
PT_EXTERN int pt_log_set_full_policy(int level, int64_t block_us);

typedef struct pt_log_counters {
    uint64_t logged[PT_LOG_NLEVELS];  /* records accepted into the rings */
    uint64_t dropped[PT_LOG_NLEVELS]; /* records dropped because a ring was full */
    uint64_t suppressed;              /* records held back by PT_LOG_LIMIT */
    uint64_t formatted;               /* records formatted by pt-log */
} pt_log_counters;

/* Process-wide counts since start. Exact: logged == formatted + pending once flushed. */
PT_EXTERN void pt_log_counters_get(pt_log_counters *out);

/* ---- sinks ----------------------------------------------------------------------------- */
typedef struct pt_log_sink_options {
    unsigned levels;    /* PT_LOG_MASK bits; 0: the kind's default route */
    size_t queue_bytes; /* 0: 4 MiB. Lines beyond this wait in the rings, then drop. */
    uint64_t stall_ms;  /* 0: 100. A full queue that does not move for this long marks the
                           sink stalled: its lines are dropped (and counted) until it moves. */
} pt_log_sink_options;

/* A sink of one's own (Kafka and Sentry are written this way). Called on the sink's own
 * thread, never concurrently. */
typedef struct pt_log_sink_ops {
    const char *kind; /* "stderr", "file", "kafka", ... */
    /* Writes whole JSON lines, each ending in '\n'. Returns how many bytes it consumed (a
     * short count: the rest is offered again), or a negative errno: the data is kept and
     * offered again after a back-off (100 ms doubling to 1 s); the failure is counted and
     * reported on stderr at most once a second. */
    ssize_t (*write)(void *ctx, const char *buf, size_t len);
    int (*flush)(void *ctx, uint64_t timeout_ms); /* optional: push buffered data out */
    int (*reopen)(void *ctx);                     /* optional: see pt_log_reopen() */
    int (*tick)(void *ctx);                       /* optional: called about once a second */
    void (*close)(void *ctx);                     /* optional: release ctx */
} pt_log_sink_ops;

typedef struct pt_log_sink_counters {
    uint64_t records;  /* lines written */
    uint64_t bytes;    /* bytes written */
    uint64_t dropped;  /* lines dropped: queue full while stalled */
    uint64_t errors;   /* failed writes */
    int last_error;    /* negative errno of the last failure, 0 if none */
    int stalled;       /* nonzero while stalled */
} pt_log_sink_counters;

/* Adds a sink to a root logger (its children share it). Returns 0, -EINVAL, -ENOMEM, or the
 * open error of a file. `out` (may be NULL) receives the sink, owned by the logger. */
PT_EXTERN int pt_log_add_sink(pt_log *log, const pt_log_sink_ops *ops, void *ctx,
                              const pt_log_sink_options *opts, pt_log_sink **out);

/* stderr, polled before each write with the descriptor left blocking, so a parent that
 * stops reading delays only this sink. Default route: every level. */
PT_EXTERN int pt_log_add_stderr(pt_log *log, const pt_log_sink_options *opts,
                                pt_log_sink **out);

typedef struct pt_log_file_options {
    pt_log_sink_options sink; /* default route: debug and above */
    uint64_t max_bytes;       /* rotate when the file would grow past this (0: never) */
    int daily;                /* rotate when the UTC date changes */
    unsigned keep;            /* rotated files kept: path.1 (newest) .. path.N; 0: 7 */
    unsigned mode;            /* file mode on creation; 0: 0644 */
    /* Written bytes the page cache keeps of the file: writeback starts every 8 MiB and the
     * pages of what was written longer ago than this are dropped (once on disk), so a busy log
     * neither piles up dirty pages nor evicts other programs' cache. 0: 64 MiB;
     * PT_LOG_FILE_CACHE_ALL: never dropped (the kernel decides). */
    uint64_t cache_bytes;
} pt_log_file_options;

#define PT_LOG_FILE_CACHE_ALL UINT64_MAX

/* Appends to `path` (created with missing parent folders). If the file is removed or its
 * descriptor breaks, the sink reopens it; a full disk is retried until it has room. */
PT_EXTERN int pt_log_add_file(pt_log *log, const char *path, const pt_log_file_options *opts,
                              pt_log_sink **out);

PT_EXTERN void pt_log_sink_counters_get(const pt_log_sink *sink, pt_log_sink_counters *out);

/* ---- process-wide settings ------------------------------------------------------------ */
typedef struct pt_log_config {
    size_t ring_bytes;        /* per thread, 0: 1 MiB (rounded up to a power of two) */
    size_t max_value_bytes;   /* 0: 8 KiB; a longer string is cut, marked "...[cut N bytes]" */
    unsigned flight_records;  /* 0: 1024 */
    unsigned flight_bytes;    /* bytes kept of each flight record, 0: 1024 */
    int flight_level;         /* 0: debug. PT_LOG_OFF turns the recorder off. */
} pt_log_config;

/* Sets the process-wide settings. Only before the first record is logged: -EBUSY after. */
PT_EXTERN int pt_log_configure(const pt_log_config *config);

/* Changes the flight recorder's threshold at run time. */
PT_EXTERN int pt_log_set_flight_level(int level);

/* ---- flight recorder ------------------------------------------------------------------
 * The last N formatted records at or above the flight level, whatever the loggers' levels
 * and sinks, kept in memory by pt-log. The layout is public and versioned so that a
 * post-mortem tool can read it from a core file: the exported symbol `pt_flight_recorder`
 * points to a pt_flight_header followed by slot_count slots of slot_size bytes. docs/log.md
 * describes it. */
#define PT_FLIGHT_MAGIC "PTFLIGHT"
#define PT_FLIGHT_VERSION 1

typedef struct pt_flight_header {
    char magic[8];         /* PT_FLIGHT_MAGIC, no NUL */
    uint32_t version;      /* PT_FLIGHT_VERSION */
    uint32_t header_size;  /* sizeof(pt_flight_header): slots start here */
    uint32_t slot_count;
    uint32_t slot_size;    /* bytes per slot, including its pt_flight_slot header */
    uint64_t written;      /* records ever written; record k is in slot k % slot_count */
} pt_flight_header;

typedef struct pt_flight_slot {
    uint64_t seq;   /* k + 1 once record k is complete; 0 while it is being written */
    uint32_t len;   /* bytes of line[] in use (no NUL, no newline) */
    uint16_t level;
    uint16_t cut;   /* nonzero when the line was longer than the slot */
    /* char line[]; follows */
} pt_flight_slot;

PT_EXTERN extern pt_flight_header *volatile pt_flight_recorder;

/* Calls fn for each record in the flight recorder, oldest first. Returns how many. */
PT_EXTERN size_t pt_log_flight_read(void (*fn)(void *arg, int level, const char *line,
                                               size_t len),
                                    void *arg);

/* ---- internals the macros use ------------------------------------------------------------ */
typedef struct pt__log_limit {
    uint32_t max;
    uint32_t interval_ms;
    uint64_t window_start; /* ticks */
    uint32_t count;
    uint32_t suppressed;
    uint32_t lock;
} pt__log_limit;

typedef struct pt_log_site {
    const char *msg;
    const char *file;
    const char *func;
    const char *const *names;
    const unsigned char *types;
    pt__log_limit *limit;
    unsigned char level;
    unsigned char level_index; /* PT_LOG_LEVEL_INDEX of level clamped to 10..60 */
    unsigned short nfields;
    unsigned line;
    /* The string fields (PT_STR, PT_JSON): bit nfields-1-i for field i, so the caller
     * visits only those and copies the others as they are. */
    unsigned short str_mask;
} pt_log_site;

#define PT__LEVEL_INDEX(lvl) ((lvl) < PT_LOG_TRACE ? 0 : (lvl) > PT_LOG_FATAL ? 5 : (lvl) / 10 - 1)

/* The first member of every pt_log: what pt_log_enabled() reads. */
struct pt__log_head {
    unsigned char threshold; /* min(level, flight level) */
};

PT_EXTERN void pt__log(pt_log *log, const pt_log_site *site, const pt_value *values);
PT_EXTERN pt_log *pt__log_child(pt_log *parent, const char *const *names,
                                const unsigned char *types, const pt_value *values, size_t n);

static inline int pt_log_enabled(const pt_log *log, int level)
{
    if (log == NULL)
        return 1; /* the default logger decides */
    return level >= __atomic_load_n(&((const struct pt__log_head *)log)->threshold,
                                    __ATOMIC_RELAXED);
}

static inline pt_value pt__v_none(void)
{
    pt_value v;
    v.u = 0;
    return v;
}
static inline pt_value pt__v_str(const char *s)
{
    pt_value v;
    v.s.p = s;
    v.s.n = (size_t)-1;
    return v;
}
static inline pt_value pt__v_strn(const char *p, size_t n)
{
    pt_value v;
    v.s.p = p;
    v.s.n = n;
    return v;
}
static inline pt_value pt__v_i64(int64_t x)
{
    pt_value v;
    v.i = x;
    return v;
}
static inline pt_value pt__v_u64(uint64_t x)
{
    pt_value v;
    v.u = x;
    return v;
}
static inline pt_value pt__v_dbl(double x)
{
    pt_value v;
    v.d = x;
    return v;
}

#define PT__LOG(log, lvl, msg, lim, ...)                                                         \
    do {                                                                                         \
        pt_log *pt__l = (log);                                                                   \
        if (pt_log_enabled(pt__l, (lvl))) {                                                      \
            static const char *const pt__n[] = {0 PT__MAP(PT__NAME, ##__VA_ARGS__)};             \
            static const unsigned char pt__t[] = {0 PT__MAP(PT__TYPE, ##__VA_ARGS__)};            \
            static const pt_log_site pt__site = {                                                \
                "" msg "", __FILE__, __func__, pt__n + 1, pt__t + 1, (lim), (lvl),               \
                PT__LEVEL_INDEX(lvl), PT__NARG(__VA_ARGS__), __LINE__,                           \
                (unsigned short)(0 PT__MAPI(PT__STRBIT, ##__VA_ARGS__))};                         \
            const pt_value pt__v[] = {pt__v_none() PT__MAP(PT__VAL, ##__VA_ARGS__)};             \
            pt__log(pt__l, &pt__site, pt__v + 1);                                                \
        }                                                                                        \
    } while (0)

/* (type, name, value) accessors, each preceded by a comma. */
#define PT__TYPE(f) , PT__TYPE_ f
#define PT__TYPE_(t, n, v) t
#define PT__NAME(f) , PT__NAME_ f
#define PT__NAME_(t, n, v) n
#define PT__VAL(f) , PT__VAL_ f
#define PT__VAL_(t, n, v) v

#define PT__NARG(...) PT__NARG_(_, ##__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define PT__NARG_(_, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15, a16, n, ...) n
#define PT__CAT(a, b) PT__CAT_(a, b)
#define PT__CAT_(a, b) a##b
#define PT__MAP(m, ...) PT__CAT(PT__MAP_, PT__NARG(__VA_ARGS__))(m, ##__VA_ARGS__)
#define PT__MAP_0(m)
#define PT__MAP_1(m, a) m(a)
#define PT__MAP_2(m, a, ...) m(a) PT__MAP_1(m, __VA_ARGS__)
#define PT__MAP_3(m, a, ...) m(a) PT__MAP_2(m, __VA_ARGS__)
#define PT__MAP_4(m, a, ...) m(a) PT__MAP_3(m, __VA_ARGS__)
#define PT__MAP_5(m, a, ...) m(a) PT__MAP_4(m, __VA_ARGS__)
#define PT__MAP_6(m, a, ...) m(a) PT__MAP_5(m, __VA_ARGS__)
#define PT__MAP_7(m, a, ...) m(a) PT__MAP_6(m, __VA_ARGS__)
#define PT__MAP_8(m, a, ...) m(a) PT__MAP_7(m, __VA_ARGS__)
#define PT__MAP_9(m, a, ...) m(a) PT__MAP_8(m, __VA_ARGS__)
#define PT__MAP_10(m, a, ...) m(a) PT__MAP_9(m, __VA_ARGS__)
#define PT__MAP_11(m, a, ...) m(a) PT__MAP_10(m, __VA_ARGS__)
#define PT__MAP_12(m, a, ...) m(a) PT__MAP_11(m, __VA_ARGS__)
#define PT__MAP_13(m, a, ...) m(a) PT__MAP_12(m, __VA_ARGS__)
#define PT__MAP_14(m, a, ...) m(a) PT__MAP_13(m, __VA_ARGS__)
#define PT__MAP_15(m, a, ...) m(a) PT__MAP_14(m, __VA_ARGS__)
#define PT__MAP_16(m, a, ...) m(a) PT__MAP_15(m, __VA_ARGS__)

/* The same, with each argument's position counted from the last (0) to the first (n-1). */
#define PT__MAPI(m, ...) PT__CAT(PT__MAPI_, PT__NARG(__VA_ARGS__))(m, ##__VA_ARGS__)
#define PT__MAPI_0(m)
#define PT__MAPI_1(m, a) m(a, 0)
#define PT__MAPI_2(m, a, ...) m(a, 1) PT__MAPI_1(m, __VA_ARGS__)
#define PT__MAPI_3(m, a, ...) m(a, 2) PT__MAPI_2(m, __VA_ARGS__)
#define PT__MAPI_4(m, a, ...) m(a, 3) PT__MAPI_3(m, __VA_ARGS__)
#define PT__MAPI_5(m, a, ...) m(a, 4) PT__MAPI_4(m, __VA_ARGS__)
#define PT__MAPI_6(m, a, ...) m(a, 5) PT__MAPI_5(m, __VA_ARGS__)
#define PT__MAPI_7(m, a, ...) m(a, 6) PT__MAPI_6(m, __VA_ARGS__)
#define PT__MAPI_8(m, a, ...) m(a, 7) PT__MAPI_7(m, __VA_ARGS__)
#define PT__MAPI_9(m, a, ...) m(a, 8) PT__MAPI_8(m, __VA_ARGS__)
#define PT__MAPI_10(m, a, ...) m(a, 9) PT__MAPI_9(m, __VA_ARGS__)
#define PT__MAPI_11(m, a, ...) m(a, 10) PT__MAPI_10(m, __VA_ARGS__)
#define PT__MAPI_12(m, a, ...) m(a, 11) PT__MAPI_11(m, __VA_ARGS__)
#define PT__MAPI_13(m, a, ...) m(a, 12) PT__MAPI_12(m, __VA_ARGS__)
#define PT__MAPI_14(m, a, ...) m(a, 13) PT__MAPI_13(m, __VA_ARGS__)
#define PT__MAPI_15(m, a, ...) m(a, 14) PT__MAPI_14(m, __VA_ARGS__)
#define PT__MAPI_16(m, a, ...) m(a, 15) PT__MAPI_15(m, __VA_ARGS__)

/* | 1 << pos for a string field. */
#define PT__STRBIT(f, pos) | (PT__ISSTR_ f << (pos))
#define PT__ISSTR_(t, n, v) PT__CAT(PT__ISSTR_, t)
#define PT__ISSTR_PT_FIELD_STR 1
#define PT__ISSTR_PT_FIELD_JSON 1
#define PT__ISSTR_PT_FIELD_INT 0
#define PT__ISSTR_PT_FIELD_UINT 0
#define PT__ISSTR_PT_FIELD_DBL 0
#define PT__ISSTR_PT_FIELD_BOOL 0
#define PT__ISSTR_PT_FIELD_ERR 0
#define PT__ISSTR_PT_FIELD_DUR 0

#ifdef __cplusplus
}
#endif

#endif /* POTTER_LOG_H */
