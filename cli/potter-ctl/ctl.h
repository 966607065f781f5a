/* cli/potter-ctl/ctl.h: what the files of `potter ctl` share (docs/ctl.md, "potter ctl").
 *
 * main.c parses the command line and dispatches; target.c finds the service (discovery files,
 * --port, --socket); http.c talks to it with libcurl and reports what went wrong; out.c prints
 * what the service said, safely (its replies are untrusted input); cmd_*.c are the commands.
 *
 * The tool links libcurl and jansson only, not libpotter, so it keeps working whatever state
 * the library is in and can be copied to another machine by itself. */
#ifndef POTTER_CLI_CTL_H
#define POTTER_CLI_CTL_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* Exit statuses, documented in docs/ctl.md. */
enum {
    CTL_OK = 0,
    CTL_FAILED = 1,      /* the service refused, answered something unexpected, or is failing */
    CTL_USAGE = 2,       /* bad usage, or several services match and none was chosen */
    CTL_UNREACHABLE = 3, /* no such service, or it cannot be reached or did not answer */
};

/* Command options (a bit each), to refuse one given to a command it does not apply to. */
enum {
    OPT_TTL = 1 << 0,
    OPT_LOGGER = 1 << 1,
    OPT_SECONDS = 1 << 2,
    OPT_HZ = 1 << 3,
    OPT_FORMAT = 1 << 4,
    OPT_OUTPUT = 1 << 5,
    OPT_RATE = 1 << 6,
};

typedef struct ctl_opts {
    /* Where the service is. */
    const char *port, *socket, *pid, *name, *host, *token, *runtime_dir;
    int json;
    /* Command options, as given (NULL: absent); given is a mask of OPT_*. */
    unsigned given;
    const char *ttl, *logger, *seconds, *hz, *format, *output, *rate;
} ctl_opts;

/* The service chosen, and how to reach it. */
typedef struct ctl_target {
    int use_socket;      /* 1: over socket, else TCP to host:port */
    char socket[108];    /* a unix socket path ("" none) */
    char host[256];      /* TCP address, without brackets ("" none) */
    int port;            /* TCP port (0 none) */
    char name[256];      /* the service's name ("" unknown: --port or --socket) */
    long pid;            /* its pid (0 unknown) */
    int wants_token;     /* its discovery file says it needs a token */
    char where[400];     /* "127.0.0.1:8081" or "the socket /run/potter/x.1.sock" */
} ctl_target;

typedef struct ctl {
    ctl_opts o;
    const char *token; /* --token, else $POTTER_CTL_TOKEN; NULL: none */
    int resolved;      /* t is filled in */
    ctl_target t;
    void *curl;        /* CURL *, made on the first request */
    int user_path;     /* the path came from the user (get, post): a 404 lists the endpoints */
} ctl;

/* A reply: the HTTP status and the body (malloc'd, NUL-terminated past len). */
typedef struct ctl_reply {
    long status;
    char *body;
    size_t len;
} ctl_reply;

/* ---- main.c -------------------------------------------------------------------------------- */

/* Prints "potter ctl: MESSAGE", the usage line and a pointer to --help on stderr; returns
 * CTL_USAGE. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* CTL_OK when no command option outside allowed was given, else a usage error naming it and
 * the command ("config get"). */
int ctl_only_options(const ctl *c, unsigned allowed, const char *command);

/* ---- target.c ------------------------------------------------------------------------------ */

/* Fills c->t from the options: --port, --socket, or the discovery files (--pid, --name, or
 * the only live service). Returns CTL_OK, or prints why not and returns the exit status. */
int ctl_resolve(ctl *c);

/* The service's name and pid for file names ("hello", 4242): from the discovery file, else
 * asked of GET /build. Returns CTL_OK or an exit status (printed). */
int ctl_identity(ctl *c);

/* The whole-exchange timeout of every request but profiles (seconds). */
#define CTL_TIMEOUT_S 10

/* ---- http.c -------------------------------------------------------------------------------- */

/* One request to the service (resolving it first if needed): method "GET" or "POST", path
 * with its query, already escaped; body may be NULL. timeout_s bounds the whole exchange.
 * Returns CTL_OK when an HTTP answer came, whatever its status (in r; ctl_reply_free() it),
 * else prints why and returns CTL_UNREACHABLE or CTL_FAILED. */
int ctl_request(ctl *c, const char *method, const char *path, const char *body, size_t len,
                long timeout_s, ctl_reply *r);

/* ctl_request() with the default timeout, then: CTL_OK for a 2xx answer; anything else is
 * reported as the service's refusal (ctl_refused()) and freed. */
int ctl_call(ctl *c, const char *method, const char *path, const char *body, size_t len,
             ctl_reply *r);

/* Reports a non-2xx answer on stderr: its status, the server's "error" message, the endpoint
 * list of a 404, a hint about the token on a 401. Returns CTL_FAILED. */
int ctl_refused(const ctl *c, const char *method, const char *path, const ctl_reply *r);

/* The body as a JSON object (json_decref() it), or NULL after printing that the reply to
 * METHOD PATH was not one (the caller then exits CTL_FAILED). */
json_t *ctl_json_object(const char *method, const char *path, const ctl_reply *r);

/* GET path, a JSON object expected, into *doc (json_decref() it); with --json the body is
 * printed as it came instead and *doc is NULL. Returns CTL_OK or the exit status (printed). */
int ctl_get_object(ctl *c, const char *path, json_t **doc);

/* The endpoint list of GET / (or of a 404), "  GET   /health  about..." a line, on f. */
void ctl_print_endpoints(FILE *f, const json_t *list);

void ctl_reply_free(ctl_reply *r);
void ctl_http_cleanup(ctl *c);

/* s percent-encoded for a URL path segment or query value (malloc'd; NULL: out of memory). */
char *ctl_escape(const char *s);

/* ---- out.c --------------------------------------------------------------------------------- */

/* Writes s to f with what a terminal would act on (control characters, C1 codes) replaced by
 * '?'; newlines too unless keep_newlines. */
void ctl_put_safe(FILE *f, const char *s, int keep_newlines);

/* Like ctl_put_safe(), padded with spaces to width columns (one per byte). */
void ctl_put_cell(FILE *f, const char *s, size_t width);

/* The bytes ctl_put_safe() would write of s, without newlines (for column widths). */
size_t ctl_safe_len(const char *s);

/* A JSON value as config shows it: a plain string as is, anything else as compact JSON
 * (so `config set KEY=<that>` gives the same value back). malloc'd; NULL: out of memory. */
char *ctl_value_text(const json_t *v);

/* n bytes as "312 B", "4.5 KiB", "1.2 GiB" into buf. */
const char *ctl_human_bytes(double n, char *buf, size_t len);

/* s seconds as "12.5s", "3m 12s", "2h 5m", "3d 4h" into buf. */
const char *ctl_human_seconds(double s, char *buf, size_t len);

/* o[key] as a string (NULL when absent or not a string). */
const char *ctl_jstr(const json_t *o, const char *key);

/* o[key] as a number into *out; 0, or -1 when absent or not a number. */
int ctl_jnum(const json_t *o, const char *key, double *out);

/* Writes data to path whole or not at all (a temporary file beside it, then rename); "-" is
 * stdout. Returns CTL_OK, or CTL_FAILED after printing why. */
int ctl_write_file(const char *path, const void *data, size_t len);

/* The reply's body on stdout as it came, and a newline when it does not end with one. Returns
 * CTL_OK, or CTL_FAILED after saying that stdout could not be written. */
int ctl_print_body(const ctl_reply *r);

/* ---- the commands (cmd_*.c): argv are the words after the command's name ---------------- */

int cmd_health(ctl *c, int argc, char **argv);
int cmd_ready(ctl *c, int argc, char **argv);
int cmd_metrics(ctl *c, int argc, char **argv);
int cmd_stats(ctl *c, int argc, char **argv);
int cmd_build(ctl *c, int argc, char **argv);
int cmd_memory(ctl *c, int argc, char **argv);
int cmd_endpoints(ctl *c, int argc, char **argv);
int cmd_quit(ctl *c, int argc, char **argv);
int cmd_get(ctl *c, int argc, char **argv);
int cmd_post(ctl *c, int argc, char **argv);
int cmd_config(ctl *c, int argc, char **argv);
int cmd_log(ctl *c, int argc, char **argv);
int cmd_threads(ctl *c, int argc, char **argv);
int cmd_profile(ctl *c, int argc, char **argv);
int cmd_heap(ctl *c, int argc, char **argv);

#endif /* POTTER_CLI_CTL_H */
