/* config_internal.h: what the files of src/config share (schema.c, value.c, load.c, state.c,
 * view.c, override.c, print.c, remote.c). */
#ifndef PT_CONFIG_INTERNAL_H
#define PT_CONFIG_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "potter/config.h"
#include "potter/core.h"
#include "config/json.h"

/* ---- a growable string --------------------------------------------------------------- */
typedef struct pt__cbuf {
    char *p; /* NUL-terminated when not NULL */
    size_t len, cap;
    int oom; /* an append failed: the content is incomplete */
} pt__cbuf;

void pt__cbuf_add(pt__cbuf *b, const char *s, size_t n);
void pt__cbuf_puts(pt__cbuf *b, const char *s);
void pt__cbuf_printf(pt__cbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pt__cbuf_json_str(pt__cbuf *b, const char *s, size_t n); /* a quoted JSON string */
void pt__cbuf_json(pt__cbuf *b, const pt__cjson *v);           /* compact JSON of a value */
void pt__cbuf_free(pt__cbuf *b);
/* The shortest "%g" text that reads back as d (C locale), with ".0" added to a whole number:
 * "0.1", "2.0", "1e+300". 32 bytes suffice. */
void pt__cfmt_double(char *out, size_t len, double d);

/* The text (never NULL: "" when empty), ownership to the caller; NULL if oom. */
char *pt__cbuf_take(pt__cbuf *b);

/* ---- values ----------------------------------------------------------------------------- */

/* A typed value as a layer holds it. */
typedef struct pt__cval {
    int set;       /* 0: no value (null) */
    uint64_t bits; /* int, uint, double (its bits), bool, duration, size, enum index */
    char *str;     /* string; object (compact JSON); NULL otherwise */
    size_t len;
    char **items; /* list: n items, each NUL-terminated */
    size_t n;
} pt__cval;

void pt__cval_free(pt__cval *v);
int pt__cval_copy(pt__cval *dst, const pt__cval *src); /* 0 or -ENOMEM */
int pt__cval_equal(const pt__cval *a, const pt__cval *b);

/* A declared key. `bits` comes first: a handle is a pointer to the key. */
typedef struct pt__ckey {
    uint64_t bits; /* the current value of a scalar, for handle reads */
    pt_config *cfg;
    unsigned idx; /* in cfg->keys[] and every layer and state */
    int type;
    unsigned flags;
    char *name, *doc, *def_text, *range_text;
    int has_min, has_max;
    union {
        int64_t i;
        uint64_t u;
        double d;
    } min, max;
    char **enum_names; /* n_enum names, for PT_CONFIG_ENUM */
    size_t n_enum;
    pt__cval def;
    const char *fixed_str; /* a PT_CONFIG_FIXED string's value, set at load; owned by cfg */
} pt__ckey;

/* Parsing a value for `key`. Both return 0, -EINVAL with a message (no position, no key
 * name: "expected an integer in 1..65535, found 70000") in why[0..whylen), or -ENOMEM. */
int pt__cval_from_text(const pt__ckey *key, const char *text, pt__cval *out, char *why,
                       size_t whylen);
int pt__cval_from_json(const pt__ckey *key, const pt__cjson *v, pt__cval *out, char *why,
                       size_t whylen);
/* Appends the value as JSON (null when unset; "<redacted>" if `redact` and key is secret). */
void pt__cval_json(pt__cbuf *b, const pt__ckey *key, const pt__cval *v, int redact);
/* Nonzero when s is valid UTF-8 (messages echo a command-line argument only then). */
int pt__cutf8_valid(const char *s);
/* "an integer", "a duration such as \"250ms\"", "one of debug, info", ... */
void pt__ckey_expected(pt__cbuf *b, const pt__ckey *key);
/* "INT", "DURATION", "debug|info|warn", ... for --help and messages about flags. */
const char *pt__ckey_metavar(const pt__ckey *key);

/* ---- layers ------------------------------------------------------------------------------ */

/* One key's value in one layer. */
typedef struct pt__centry {
    int present;
    pt__cval v;
    char *origin;       /* "config/production.json:14:5", "--http.port", "runtime override" */
    char *source;       /* overrides: who set it ("control port", a path, a URL) */
    int64_t expires_ns; /* overrides: CLOCK_MONOTONIC deadline, 0: none */
} pt__centry;

typedef struct pt__clayer {
    pt__centry *e; /* [cfg->nkeys] */
} pt__clayer;

void pt__clayer_clear(pt__clayer *l, size_t nkeys); /* frees every entry, keeps the array */
void pt__clayer_free(pt__clayer *l, size_t nkeys);
int pt__clayer_init(pt__clayer *l, size_t nkeys); /* 0 or -ENOMEM */
void pt__centry_free(pt__centry *e);

enum {
    PT__L_COMMON,    /* config/common.json */
    PT__L_COMMON_DC, /* config/common.<dc>.json */
    PT__L_ENV,       /* config/<env>.json */
    PT__L_SECRETS,   /* config/secrets/secrets.json or secrets-<env>.json */
    PT__L_ENV_DC,    /* config/<env>.<dc>.json */
    PT__L_EXTRA,     /* --config=FILE */
    PT__L_NFILES
};

/* ---- states: the effective configuration, immutable once published -------------------- */

typedef struct pt__csval {
    int set;
    uint64_t bits;
    const char *str; /* string, object JSON, enum name */
    const char *const *items; /* list, NULL-terminated; never NULL */
    size_t n;
    const char *origin;
    int64_t expires_ns;
} pt__csval;

/* One malloc'd block: this header, v[], then the strings and item arrays v[] points into. */
typedef struct pt__cstate {
    struct pt__cstate *retired_next;
    size_t n;
    pt__csval *v; /* [n] */
} pt__cstate;

/* ---- the subscriptions hub, shared with posted tasks ------------------------------------- */
typedef struct pt__chub pt__chub;

/* The changes of one step, as subscribers get them: one malloc'd block whose `text`, after
 * c[], holds every string. */
typedef struct pt__cchanges {
    struct pt__cchanges *next; /* in the hub's queue */
    size_t n;
    char *text;
    pt_config_change c[];
} pt__cchanges;

/* ---- the configuration ------------------------------------------------------------------- */
struct pt_config {
    char *service, *version, *config_dir, *env, *datacenter, *datacenter_file;
    char *extra_file; /* --config=FILE */
    FILE *out, *err;
    void (*report)(void *arg, int level, const char *msg);
    void *report_arg;

    pt__ckey **keys; /* in declaration order */
    size_t nkeys, capkeys;
    pt__ckey **sorted; /* by name, for lookups */
    const char **names; /* in declaration order, for suggestions */

    int loaded;      /* pt_config_load() succeeded */
    int load_called; /* ... or at least ran */
    int bad_dir;     /* --config-dir names no folder */

    /* Positional arguments left by load. */
    char **args;
    int nargs;
    /* The files the file layers came from (paths as shown in origins). */
    char *paths[PT__L_NFILES]; /* candidate paths (NULL: layer not applicable) */
    const char *found[PT__L_NFILES]; /* those that existed at the last (re)load, compacted */
    size_t nfound;

    /* Everything below is guarded by `lock`, except `cur`, read lock-free. */
    pthread_mutex_t lock;
    pt__clayer files[PT__L_NFILES];
    pt__clayer flags;
    pt__clayer over;
    pt__cstate *cur; /* atomic: the published state */
    pt__cstate *retired;
    pt__cbuf scratch; /* the texts of a step's changes, reused */

    /* Tasks posted to pt-ops or pt-work that use cfg; pt_config_free() waits for them. */
    int tasks; /* atomic */
    int closing; /* atomic */
    struct pt_ops_timer *ttl_timer; /* touched on pt-ops only */
    int64_t ttl_armed_ns;           /* the deadline ttl_timer fires at, 0: none (pt-ops) */

    pt__chub *hub;
    struct pt__cremote *remotes; /* remote.c */
};

/* schema.c */
const char *pt__config_type_name(int type); /* "int", "duration", ... */
pt__ckey *pt__config_find(const pt_config *cfg, const char *name, size_t len);
/* Records the message of a failed call, for pt_config_error() on this thread. */
void pt__config_fail(pt_config *cfg, const char *msg);
/* Hands a message to opts.report, or prints it to cfg->err. */
void pt__config_report(pt_config *cfg, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* load.c: reads a regular file (never blocking on a FIFO) of at most max bytes into a
 * malloc'd NUL-terminated text. Returns 0, -EFBIG, -EISDIR, -ENODEV (not a regular file),
 * -ENOMEM or another -errno of open/read. */
int pt__config_read_file(const char *path, size_t max, char **text, size_t *len);
/* The reason for a pt__config_read_file() error, for messages ("it is a directory"). */
const char *pt__config_file_error(int err);

/* load.c: the file layers' paths for cfg's env and datacenter (cfg->paths), and reading
 * them all into files[] (fresh layers). Problems are appended to errs, one a line. Returns
 * 0 when every file was good. */
int pt__config_read_files(pt_config *cfg, pt__clayer files[PT__L_NFILES], pt__cbuf *errs);
/* Where the datacenter is read from: opts, $POTTER_DATACENTER_FILE or /etc/datacenter. */
const char *pt__config_datacenter_file(const pt_config *cfg);
/* The first required key without a value, appended to errs; 0 if none. Under lock. */
int pt__config_check_required(pt_config *cfg, pt__cbuf *errs);

/* load.c: reads one JSON document as a layer. Every problem is appended to errs, one a line,
 * prefixed with `where` and the position ("config/x.json:3:5: "). `origin_prefix` names the
 * document in origins (a path; NULL: `where`). Returns 0 when the document was good. */
int pt__config_read_doc(pt_config *cfg, const char *text, size_t len, const char *where,
                        pt__clayer *layer, pt__cbuf *errs);

/* state.c: builds the state from the layers (under lock), publishes it, updates handles,
 * and queues the changes against the previous state for the subscribers. `why` names the
 * step for nothing but debugging. Returns 0 or -ENOMEM (nothing changed then). */
int pt__config_publish(pt_config *cfg);
/* Frees the retired states that no view holds. Under lock. */
void pt__config_reclaim(pt_config *cfg);
void pt__cstate_free(pt__cstate *s);
/* The effective entry of key i across the layers (under lock), or NULL if none is set. */
const pt__centry *pt__config_winner(const pt_config *cfg, size_t i);
/* The state a view reads. */
const pt__cstate *pt__config_view_state(const pt_config_view *v);
/* Appends a state's value as JSON, as pt__cval_json() does. */
void pt__csval_json(pt__cbuf *b, const pt__ckey *k, const pt__csval *sv, int redact);
/* Writes an origin for display, with "(expires in 9m)" for a deadline. */
void pt__config_origin(pt__cbuf *b, const char *origin, int64_t expires_ns);

/* override.c: the overrides a remote source sends: replaces every override that `source`
 * set before with those of the document (a key it no longer names reverts). A bad document
 * changes nothing: -EINVAL, and the reason goes to opts.report (not pt_config_error()). */
int pt__config_source_apply(pt_config *cfg, const char *source, const char *doc, size_t len);

/* Keeps cfg alive for a posted task: hold before posting, release at the task's end.
 * pt__config_task_hold() returns -ESHUTDOWN once pt_config_free() has begun. */
int pt__config_task_hold(pt_config *cfg);
void pt__config_task_release(pt_config *cfg);

/* override.c: the hub of subscribers (a reference held by cfg and by each posted
 * notification), and waiting for posted tasks at pt_config_free(). */
int pt__config_hub_new(pt_config *cfg);
void pt__config_hub_release(pt__chub *hub);
void pt__config_stop_tasks(pt_config *cfg);
/* Nonzero when someone subscribed: only then are a step's changes worked out. */
int pt__config_has_subscribers(const pt_config *cfg);
/* Hands a step's changes to the subscribers on pt-ops (takes ownership). Under lock. */
void pt__config_notify(pt_config *cfg, pt__cchanges *changes);

/* state.c: frees every retired state, waiting (bounded) for views that still hold one. */
void pt__config_reclaim_all(pt_config *cfg);

/* remote.c: stops and frees every remote source (pt_config_free() calls it first). */
void pt__config_remote_stop(pt_config *cfg);

#endif /* PT_CONFIG_INTERNAL_H */
