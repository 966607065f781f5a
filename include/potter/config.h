/* potter/config.h: layered JSON configuration with a schema, command-line flags, runtime
 * overrides and the origin of every value.
 *
 *     static const pt_config_key keys[] = {
 *         {"http.port", PT_CONFIG_INT, "8080", "port the service listens on", "1..65535", 0},
 *         {"db.url", PT_CONFIG_STRING, NULL, "database URL", NULL, PT_CONFIG_REQUIRED},
 *         {"db.password", PT_CONFIG_STRING, NULL, "database password", NULL, PT_CONFIG_SECRET},
 *         {"db.timeout", PT_CONFIG_DURATION, "250ms", "query deadline", "1ms..1m", 0},
 *     };
 *     pt_config *cfg;
 *     pt_config_new("hello", NULL, &cfg);
 *     pt_config_declare(cfg, keys, 4);
 *     int rc = pt_config_load(cfg, argc, argv);   // files, then flags; --help, --print-config..
 *     if (rc != 0)
 *         exit(rc == PT_CONFIG_DONE ? 0 : PT_CONFIG_EX_CONFIG);
 *     pt_config_int *port = PT_CONFIG_INT(cfg, "http.port");     // resolved once
 *     ...
 *     listen_on(pt_config_int_get(port));                        // a load, no lookup
 *
 * Layers, lowest first (docs/config.md): the declared defaults; config/common.json;
 * config/common.<dc>.json; config/<env>.json; config/secrets/secrets.json (production) or
 * config/secrets/secrets-<env>.json; config/<env>.<dc>.json; the file of --config=FILE;
 * command-line flags (--http.port=8080); runtime overrides (pt_config_override(), the
 * control port, a watched file or a polled URL), optionally with a time-to-live.
 *
 * Threads: declaring and loading happen on the main thread before the service starts.
 * Reads (handles and views) are safe from any thread at any time, never block and never see
 * a half-applied change. Overrides, unsets and reloads may come from any thread; they are
 * serialised and each is applied whole or not at all. Subscribers are called on pt-ops.
 *
 * The config part knows nothing of the other parts: the app layer (potter/app.h) declares
 * their keys and applies them through their setters.
 */
#ifndef POTTER_CONFIG_H
#define POTTER_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "potter/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_config pt_config;

/* ---- the schema ------------------------------------------------------------------------ */

enum pt_config_type {
    PT_CONFIG_STRING = 1, /* any UTF-8 text */
    PT_CONFIG_INT,        /* int64_t */
    PT_CONFIG_UINT,       /* uint64_t */
    PT_CONFIG_DOUBLE,     /* a finite double */
    PT_CONFIG_BOOL,       /* true or false */
    PT_CONFIG_DURATION,   /* "250ms", "1h30m": int64_t nanoseconds */
    PT_CONFIG_SIZE,       /* "64MiB", "1.5GB" or a number of bytes: uint64_t */
    PT_CONFIG_ENUM,       /* one of the names listed in `range` ("debug|info|warn") */
    PT_CONFIG_LIST,       /* a list of strings: ["a","b"] in files, "a,b" on the command line */
    PT_CONFIG_OBJECT      /* a JSON object, kept as compact JSON text */
};

/* Flags of a key. */
#define PT_CONFIG_REQUIRED 0x1u /* loading fails unless some layer gives it a value */
#define PT_CONFIG_SECRET 0x2u   /* shown as "<redacted>" wherever values are shown */
#define PT_CONFIG_FIXED 0x4u    /* set at start-up only: overrides refuse it, reloads keep it */

/* One declared key. Every text is copied by pt_config_declare(). */
typedef struct pt_config_key {
    const char *name;  /* dot-separated segments of [a-z0-9_-], at most 128 characters:
                          "http.port", "log.kafka.topic" */
    int type;          /* enum pt_config_type */
    const char *def;   /* the default, written as on the command line ("8080", "250ms", "a,b",
                          "{}"); NULL: none (a string, list or object then reads as NULL or
                          empty, a number as 0, until a layer sets it) */
    const char *doc;   /* one line, for --help */
    const char *range; /* allowed values: "1..65535", "1ms..", "..64MiB" (bounds included) for
                          numbers, durations and sizes; "a|b|c" for an enum (required there);
                          NULL: anything of the type */
    unsigned flags;    /* PT_CONFIG_REQUIRED | PT_CONFIG_SECRET | PT_CONFIG_FIXED */
} pt_config_key;

/* Exit status for a configuration error, as sysexits.h's EX_CONFIG and `nginx -t`. */
#define PT_CONFIG_EX_CONFIG 78

/* Levels of the messages given to pt_config_options.report (bunyan's warn and error). */
#define PT_CONFIG_WARN 40
#define PT_CONFIG_ERROR 50

typedef struct pt_config_options {
    const char *version;         /* the service's version, for --version; NULL: "0.0.0" */
    const char *config_dir;      /* NULL: "config" (relative to the working directory);
                                    --config-dir overrides it */
    const char *env;             /* NULL: $POTTER_ENV, else "development"; --env overrides */
    const char *datacenter_file; /* NULL: $POTTER_DATACENTER_FILE, else "/etc/datacenter";
                                    --datacenter overrides the file */
    FILE *out;                   /* --help, --version, --print-config: NULL: stdout */
    FILE *err;                   /* configuration errors at load: NULL: stderr */
    /* Told of what happens after start-up with no caller to return an error to: a refused
     * reload or remote document, fixed keys a reload left alone. Called
     * on the thread that found it (pt-ops, pt-work or the reloading caller); msg is one line.
     * NULL: such messages go to `err`. The app layer logs them. */
    void (*report)(void *arg, int level, const char *msg);
    void *report_arg;
} pt_config_options;

/* Creates an empty configuration for the service `service` (a name for messages and
 * --version). opts may be NULL; it is copied. Returns 0, -EINVAL or -ENOMEM. */
PT_EXTERN int pt_config_new(const char *service, const pt_config_options *opts,
                            pt_config **out);

/* Releases everything. No reader, subscriber or remote source may be in use. NULL is
 * accepted. */
PT_EXTERN void pt_config_free(pt_config *cfg);

/* Declares keys[0..n). A bad declaration (a bad name, a name declared twice, a default that
 * does not parse or is out of range, an enum without values, declaring after load) is a
 * programming error: nothing of the call is kept, -EINVAL (-EBUSY after load) is returned and
 * pt_config_error() says which key and why. Returns 0 or -ENOMEM too. */
PT_EXTERN int pt_config_declare(pt_config *cfg, const pt_config_key *keys, size_t n);

/* The message of the calling thread's last failed call (declare, load, override, unset,
 * reload): one or more lines without a final newline; "" if none. Valid until the thread's
 * next failing call. */
PT_EXTERN const char *pt_config_error(const pt_config *cfg);

/* ---- loading --------------------------------------------------------------------------- */

/* pt_config_load() has served --help, --version, --print-config or --check-config: exit 0. */
#define PT_CONFIG_DONE 1

/* Reads the command line and the files, validates everything and freezes the schema and the
 * file and flag layers. Flags (argv[1..]):
 *
 *   --KEY=VALUE          sets a declared key (a bool may also be given as --KEY alone)
 *   --env=NAME           environment ([A-Za-z0-9_-]+)   --datacenter=NAME
 *   --config-dir=DIR     where the files are            --config=FILE  one more file on top
 *   --help  --version  --print-config  --check-config
 *   --                   ends the flags; what follows, and any argument not starting with
 *                        "--", is left for the service (pt_config_args())
 *
 * Returns 0 to go on; PT_CONFIG_DONE once one of the four informative flags has printed its
 * output (to opts.out; --check-config prints "configuration OK" and the files read); -EINVAL
 * on a configuration error, after printing every error found to opts.err, one a line, with
 * where it is and what was expected (exit with PT_CONFIG_EX_CONFIG); -ENOMEM; -EBUSY if
 * called twice. */
PT_EXTERN int pt_config_load(pt_config *cfg, int argc, char **argv);

/* The arguments pt_config_load() left for the service, in order; *argv is NULL-terminated. */
PT_EXTERN int pt_config_args(const pt_config *cfg, char ***argv);

PT_EXTERN const char *pt_config_service(const pt_config *cfg);
PT_EXTERN const char *pt_config_version(const pt_config *cfg);
PT_EXTERN const char *pt_config_env(const pt_config *cfg);
PT_EXTERN const char *pt_config_datacenter(const pt_config *cfg); /* NULL if none */
/* The files the file layers were read from, lowest first (only those that exist). */
PT_EXTERN size_t pt_config_files(const pt_config *cfg, const char *const **paths);

/* Prints the flags generated from the schema, as --help does. */
PT_EXTERN void pt_config_help(const pt_config *cfg, FILE *out);

/* The effective configuration as JSON, as --print-config prints it and the control port's
 * /config serves it: {"service":..,"env":..,"datacenter":..,"files":[..],"keys":{"http.port":
 * {"value":8080,"origin":"config/production.json:14:5"},..}}. Secrets are "<redacted>".
 * Returns a malloc'd NUL-terminated string (free() it) or NULL when out of memory. */
PT_EXTERN char *pt_config_dump(pt_config *cfg);

/* One key explained, as `potter ctl config explain KEY` shows it: {"key":..,"type":"duration",
 * "value":..,"origin":..,"default":..,"range":..,"doc":..,"runtime":true,"secret":false}
 * ("runtime": false for PT_CONFIG_FIXED keys, which overrides refuse). A malloc'd
 * NUL-terminated string (free() it), or NULL for an undeclared name or when out of memory. */
PT_EXTERN char *pt_config_explain(pt_config *cfg, const char *name);

/* ---- typed handles ---------------------------------------------------------------------
 * A handle is resolved once, at start-up, by the macros below: a key never declared, or
 * declared with another type, is a programming error and aborts the process there with a
 * message naming the key, its declared type and the call site. Reading a handle is one
 * atomic load, from any thread, and gives the latest value. */
typedef struct pt_config_int { uint64_t bits_; } pt_config_int;
typedef struct pt_config_uint { uint64_t bits_; } pt_config_uint;
typedef struct pt_config_double { uint64_t bits_; } pt_config_double;
typedef struct pt_config_bool { uint64_t bits_; } pt_config_bool;
typedef struct pt_config_duration { uint64_t bits_; } pt_config_duration;
typedef struct pt_config_size { uint64_t bits_; } pt_config_size;
typedef struct pt_config_enum { uint64_t bits_; } pt_config_enum;
typedef struct pt_config_str { uint64_t bits_; } pt_config_str;
typedef struct pt_config_list { uint64_t bits_; } pt_config_list;
typedef struct pt_config_object { uint64_t bits_; } pt_config_object;

#define PT_CONFIG_INT(cfg, name) \
    ((pt_config_int *)pt_config_handle((cfg), (name), PT_CONFIG_INT, __FILE__, __LINE__))
#define PT_CONFIG_UINT(cfg, name) \
    ((pt_config_uint *)pt_config_handle((cfg), (name), PT_CONFIG_UINT, __FILE__, __LINE__))
#define PT_CONFIG_DOUBLE(cfg, name) \
    ((pt_config_double *)pt_config_handle((cfg), (name), PT_CONFIG_DOUBLE, __FILE__, __LINE__))
#define PT_CONFIG_BOOL(cfg, name) \
    ((pt_config_bool *)pt_config_handle((cfg), (name), PT_CONFIG_BOOL, __FILE__, __LINE__))
#define PT_CONFIG_DURATION(cfg, name)                                                           \
    ((pt_config_duration *)pt_config_handle((cfg), (name), PT_CONFIG_DURATION, __FILE__,      \
                                            __LINE__))
#define PT_CONFIG_SIZE(cfg, name) \
    ((pt_config_size *)pt_config_handle((cfg), (name), PT_CONFIG_SIZE, __FILE__, __LINE__))
#define PT_CONFIG_ENUM(cfg, name) \
    ((pt_config_enum *)pt_config_handle((cfg), (name), PT_CONFIG_ENUM, __FILE__, __LINE__))
#define PT_CONFIG_STR(cfg, name) \
    ((pt_config_str *)pt_config_handle((cfg), (name), PT_CONFIG_STRING, __FILE__, __LINE__))
#define PT_CONFIG_LIST(cfg, name) \
    ((pt_config_list *)pt_config_handle((cfg), (name), PT_CONFIG_LIST, __FILE__, __LINE__))
#define PT_CONFIG_OBJECT(cfg, name) \
    ((pt_config_object *)pt_config_handle((cfg), (name), PT_CONFIG_OBJECT, __FILE__, __LINE__))

/* What the macros call. Never returns NULL: aborts on a programming error. */
PT_EXTERN void *pt_config_handle(pt_config *cfg, const char *name, int type, const char *file,
                                 int line);

static inline uint64_t pt_config_bits_(const void *h)
{
    return __atomic_load_n(&((const pt_config_int *)h)->bits_, __ATOMIC_RELAXED);
}
static inline int64_t pt_config_int_get(const pt_config_int *h)
{
    return (int64_t)pt_config_bits_(h);
}
static inline uint64_t pt_config_uint_get(const pt_config_uint *h)
{
    return pt_config_bits_(h);
}
static inline double pt_config_double_get(const pt_config_double *h)
{
    uint64_t b = pt_config_bits_(h);
    double d;
    __builtin_memcpy(&d, &b, sizeof d);
    return d;
}
static inline int pt_config_bool_get(const pt_config_bool *h)
{
    return (int)pt_config_bits_(h);
}
/* Nanoseconds. */
static inline int64_t pt_config_duration_get(const pt_config_duration *h)
{
    return (int64_t)pt_config_bits_(h);
}
/* Bytes. */
static inline uint64_t pt_config_size_get(const pt_config_size *h)
{
    return pt_config_bits_(h);
}
/* The index of the value in the declared list ("debug|info|warn": info is 1). */
static inline int pt_config_enum_get(const pt_config_enum *h)
{
    return (int)pt_config_bits_(h);
}
/* The declared name of an enum's current value; valid as long as cfg. */
PT_EXTERN const char *pt_config_enum_name(const pt_config_enum *h);

/* The value of a string key declared PT_CONFIG_FIXED, or NULL when unset; valid as long as
 * cfg. A string that may change at run time can be freed by a change, so it is read inside a
 * view; reading one here aborts with a message saying so. */
PT_EXTERN const char *pt_config_str_get(const pt_config_str *h);

/* ---- views: several keys, as of one instant --------------------------------------------
 * A view pins the configuration as it is when the view begins: values read through it come
 * from that one state, however many overrides are applied meanwhile, and stay valid until
 * the view ends. Beginning a view never blocks (a store, a fence and a load); views may nest
 * on a thread (the inner one sees the outer one's state). End every view on the thread that
 * began it; keep views short (a request, a loop iteration): a state is freed only once no
 * view holds it.
 *
 *     const pt_config_view *v = pt_config_view_begin(cfg);
 *     const char *user = pt_config_view_str(v, user_h);
 *     int64_t port = pt_config_view_int(v, port_h);
 *     ...
 *     pt_config_view_end(v);
 */
typedef struct pt_config_view pt_config_view;

PT_EXTERN const pt_config_view *pt_config_view_begin(pt_config *cfg);
PT_EXTERN void pt_config_view_end(const pt_config_view *view);

PT_EXTERN int64_t pt_config_view_int(const pt_config_view *v, const pt_config_int *h);
PT_EXTERN uint64_t pt_config_view_uint(const pt_config_view *v, const pt_config_uint *h);
PT_EXTERN double pt_config_view_double(const pt_config_view *v, const pt_config_double *h);
PT_EXTERN int pt_config_view_bool(const pt_config_view *v, const pt_config_bool *h);
PT_EXTERN int64_t pt_config_view_duration(const pt_config_view *v, const pt_config_duration *h);
PT_EXTERN uint64_t pt_config_view_size(const pt_config_view *v, const pt_config_size *h);
PT_EXTERN int pt_config_view_enum(const pt_config_view *v, const pt_config_enum *h);
/* NULL when unset. */
PT_EXTERN const char *pt_config_view_str(const pt_config_view *v, const pt_config_str *h);
/* The items (NULL-terminated; *n gets their count if n is not NULL). Never NULL. */
PT_EXTERN const char *const *pt_config_view_list(const pt_config_view *v,
                                                 const pt_config_list *h, size_t *n);
/* Compact JSON text of the object, or NULL when unset. */
PT_EXTERN const char *pt_config_view_object(const pt_config_view *v, const pt_config_object *h);

/* Where the key's value in the view came from: "default", "config/production.json:14:5",
 * "--http.port", "runtime override from control port (expires in 9m)". NULL for an
 * undeclared name. Valid while the view is. */
PT_EXTERN const char *pt_config_view_origin(const pt_config_view *v, const char *name);

/* ---- runtime overrides ----------------------------------------------------------------- */

/* Sets keys at run time, on top of every other layer. `assignments` is a JSON object
 * {"log.level":"debug","http.timeout":"2s"} (nested objects work as in files; null removes
 * the key's override), `source` names who asks ("control port", a path, a URL) for origins
 * and messages, ttl_ms > 0 makes these values revert after that long. Everything is
 * validated first (unknown keys, types, ranges, PT_CONFIG_FIXED keys) and then applied in one
 * step, or nothing is applied and -EINVAL is returned with pt_config_error() listing every
 * problem. Returns 0, -EINVAL, -ENOMEM, or -EBUSY before pt_config_load(). Subscribers are
 * told on pt-ops. */
PT_EXTERN int pt_config_override(pt_config *cfg, const char *assignments, size_t len,
                                 uint64_t ttl_ms, const char *source);

/* The same with KEY=VALUE texts as on the command line ("log.level=debug"). */
PT_EXTERN int pt_config_override_args(pt_config *cfg, const char *const *assignments,
                                      size_t n, uint64_t ttl_ms, const char *source);

/* Removes the overrides of names[0..n) (all of them when n is 0), at once. Returns 0,
 * -EINVAL (an undeclared name: nothing removed) or -ENOMEM. */
PT_EXTERN int pt_config_unset(pt_config *cfg, const char *const *names, size_t n);

/* Re-reads the file layers (the same files the load found, and any that appeared since),
 * validates them whole and swaps them in at once. Keys declared PT_CONFIG_FIXED keep their
 * value; if a file changed one, a warning naming them goes to opts.report. A bad file
 * refuses the whole reload: -EINVAL, pt_config_error() and opts.report say why, and the
 * configuration stays as it was. The app calls this on SIGHUP. */
PT_EXTERN int pt_config_reload(pt_config *cfg);

/* ---- subscriptions --------------------------------------------------------------------- */

/* One key's change. Values are JSON texts ("8080", "\"debug\"", "null"), "\"<redacted>\""
 * for secrets (read the new value through a handle). */
typedef struct pt_config_change {
    const char *key;
    const char *old_value;
    const char *new_value;
    const char *origin; /* of the new value */
} pt_config_change;

/* Called on pt-ops with every change of one step (an override, an unset, an expiry, a
 * reload) whose key starts with the subscription's prefix, in the order the steps were
 * applied. changes[] is valid during the call. Handles already read the new values. */
typedef void (*pt_config_watch_fn)(void *arg, const pt_config_change *changes, size_t n);

typedef struct pt_config_sub pt_config_sub;

/* Subscribes fn to the keys starting with `prefix` ("" or NULL: all; "log." the logger's).
 * Returns 0, -EINVAL or -ENOMEM. */
PT_EXTERN int pt_config_subscribe(pt_config *cfg, const char *prefix, pt_config_watch_fn fn,
                                  void *arg, pt_config_sub **out);
/* Once it returns fn is not running and will not run again (it may be called from fn). */
PT_EXTERN void pt_config_unsubscribe(pt_config_sub *sub);

/* ---- remote sources of overrides -------------------------------------------------------
 * A remote document is a JSON object of overrides, as for pt_config_override(). Each new
 * document replaces the overrides the source set before (a key it no longer names reverts).
 * A bad document is refused whole, reported through opts.report, and the last good one
 * stays. */

/* Both return 0, -EINVAL (a bad argument: an empty path, a URL that is not http or https,
 * interval_ms 0), -EBUSY before pt_config_load(), -EEXIST when that path or URL is watched
 * already, -ENOMEM, or -ESHUTDOWN once pt-ops has stopped. Sources stop at pt_config_free().
 * A document is at most 1 MiB; a failure that repeats (a server that stays down) is reported
 * once, and again when it changes or after a success. A password in a URL is not shown in
 * origins and messages. */

/* Watches the JSON file at `path` (inotify on its folder, so editors that replace the file
 * and a file created later both work, and so does a symlink swapped as Kubernetes updates a
 * ConfigMap). A missing file sets nothing; a file that is removed takes its overrides away. */
PT_EXTERN int pt_config_watch_file(pt_config *cfg, const char *path);

/* Polls `url` every interval_ms (GET with If-None-Match; 304 keeps the last document) on
 * pt-work, each request bounded by timeout_ms (0: 5000). */
PT_EXTERN int pt_config_watch_url(pt_config *cfg, const char *url, uint64_t interval_ms,
                                  uint64_t timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* POTTER_CONFIG_H */
