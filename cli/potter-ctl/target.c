/* Finding the service: --port, --socket, or the discovery files that running services write
 * as <runtime dir>/<name>.<pid>.json (src/ctl/discovery.c):
 *
 *     {"name":"hello","pid":4242,"host":"127.0.0.1","port":8081,
 *      "socket":"/run/user/1000/potter/hello.4242.sock","version":"0.2.0",
 *      "started":"2026-11-23T01:02:03.456Z","token":false}
 *
 * A file whose process is gone (kill(pid, 0) fails with ESRCH) is stale: a service killed
 * with SIGKILL leaves its file behind. Stale files are skipped, and named when nothing live
 * matches. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl/runtime_dir.h" /* src/ctl: the library's rule */

#define TARGET_HINT "(--port, --socket, --pid, --name)"

typedef struct service_file {
    char *path;
    char *name; /* from the file's name */
    long pid;
    int alive;
} service_file;

typedef struct service_list {
    service_file *v;
    size_t n, cap;
    int missing; /* the folder does not exist */
} service_list;

/* The same rules as pt_ctl_runtime_dir(), with --runtime-dir first. */
static int runtime_dir(const ctl_opts *o, char *buf, size_t len)
{
    return pt__runtime_dir(o->runtime_dir, buf, len);
}

/* A pid as written in a file name or --pid: digits only, 1..INT_MAX; 0 when not one. */
static long parse_pid(const char *s, size_t n)
{
    long v = 0;
    if (n == 0 || n > 10)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v > 0 && v <= 2147483647L ? v : 0;
}

static int pid_alive(long pid)
{
    return kill((pid_t)pid, 0) == 0 || errno != ESRCH;
}

/* "<name>.<pid>.json": the name (may hold dots) and the pid; 0 for other files. */
static int split_file_name(const char *file, char **name, long *pid)
{
    size_t n = strlen(file);
    if (n < 5 || strcmp(file + n - 5, ".json") != 0)
        return 0;
    n -= 5;
    const char *dot = NULL;
    for (size_t i = n; i > 0; i--)
        if (file[i - 1] == '.') {
            dot = file + i - 1;
            break;
        }
    if (!dot || dot == file)
        return 0;
    *pid = parse_pid(dot + 1, n - (size_t)(dot + 1 - file));
    if (*pid == 0)
        return 0;
    *name = strndup(file, (size_t)(dot - file));
    return *name != NULL;
}

static int by_name_then_pid(const void *a, const void *b)
{
    const service_file *x = a, *y = b;
    int d = strcmp(x->name, y->name);
    return d ? d : (x->pid > y->pid) - (x->pid < y->pid);
}

static void list_free(service_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].path);
        free(l->v[i].name);
    }
    free(l->v);
}

/* Every discovery file in dir, sorted. Returns 0, or -1 out of memory. */
static int list_services(const char *dir, service_list *l)
{
    memset(l, 0, sizeof *l);
    DIR *d = opendir(dir);
    if (!d) {
        l->missing = 1;
        return 0;
    }
    struct dirent *e;
    int err = 0;
    while (!err && (e = readdir(d)) != NULL) {
        char *name;
        long pid;
        if (!split_file_name(e->d_name, &name, &pid))
            continue;
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 16;
            service_file *v = realloc(l->v, cap * sizeof *v);
            if (!v) {
                free(name);
                err = -1;
                break;
            }
            l->v = v;
            l->cap = cap;
        }
        service_file *f = &l->v[l->n];
        f->name = name;
        f->pid = pid;
        f->alive = pid_alive(pid);
        if (asprintf(&f->path, "%s/%s", dir, e->d_name) < 0) {
            free(name);
            err = -1;
            break;
        }
        l->n++;
    }
    closedir(d);
    if (!err && l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, by_name_then_pid);
    return err;
}

/* The discovery file, parsed; NULL after printing why. Small files only: it is a few hundred
 * bytes, anything bigger is not one. */
static json_t *read_discovery(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "potter ctl: cannot read the discovery file %s: %s\n", path,
                strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > 65536) {
        fprintf(stderr, "potter ctl: %s is not a discovery file (not a small regular file)\n",
                path);
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc || !json_is_object(doc)) {
        fprintf(stderr, "potter ctl: %s is not a discovery file (a JSON object): %s\n", path,
                doc ? "not an object" : jerr.text);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* One line about a live service, from its discovery file. */
static void print_service(const service_file *f)
{
    json_t *doc = NULL;
    json_error_t jerr;
    struct stat st;
    if (stat(f->path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= 65536)
        doc = json_load_file(f->path, 0, &jerr);
    const char *version = ctl_jstr(doc, "version"), *socket = ctl_jstr(doc, "socket");
    const char *host = ctl_jstr(doc, "host"), *started = ctl_jstr(doc, "started");
    double port = 0;
    fputs("  ", stderr);
    ctl_put_safe(stderr, f->name, 0);
    fprintf(stderr, "  --pid %ld", f->pid);
    if (version) {
        fputs("  version ", stderr);
        ctl_put_safe(stderr, version, 0);
    }
    if (host && ctl_jnum(doc, "port", &port) == 0) {
        fputs("  ", stderr);
        ctl_put_safe(stderr, host, 0);
        fprintf(stderr, ":%.0f", port);
    }
    if (socket) {
        fputs("  ", stderr);
        ctl_put_safe(stderr, socket, 0);
    }
    if (started) {
        fputs("  started ", stderr);
        ctl_put_safe(stderr, started, 0);
    }
    if (json_is_true(json_object_get(doc, "token")))
        fputs("  (needs a token)", stderr);
    fputc('\n', stderr);
    json_decref(doc);
}

static void print_stale(const service_list *l, int (*match)(const service_file *, const ctl_opts *),
                        const ctl_opts *o)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += !l->v[i].alive && match(&l->v[i], o);
    if (n == 0)
        return;
    fprintf(stderr, "  (ignored %zu stale discovery file%s, the process is gone:", n,
            n == 1 ? "" : "s");
    for (size_t i = 0; i < l->n; i++)
        if (!l->v[i].alive && match(&l->v[i], o)) {
            fputc(' ', stderr);
            ctl_put_safe(stderr, l->v[i].path, 0);
        }
    fputs(")\n", stderr);
}

static int matches(const service_file *f, const ctl_opts *o)
{
    if (o->name && strcmp(f->name, o->name) != 0)
        return 0;
    if (o->pid && f->pid != parse_pid(o->pid, strlen(o->pid)))
        return 0;
    return 1;
}

/* What was asked for, for messages: "named hello", "with pid 42", "" (any). */
static void asked(const ctl_opts *o, char *buf, size_t len)
{
    if (o->name && o->pid)
        snprintf(buf, len, " named \"%.200s\" with pid %.20s", o->name, o->pid);
    else if (o->name)
        snprintf(buf, len, " named \"%.200s\"", o->name);
    else if (o->pid)
        snprintf(buf, len, " with pid %.20s", o->pid);
    else
        buf[0] = '\0';
}

/* Can a connection be made to the unix socket at path? (The service may have died, or run as
 * another user.) */
static int socket_reachable(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return 0;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* A host name or address as it may go into a URL: letters, digits, '.', '-', ':' (IPv6). */
static int host_ok(const char *h)
{
    if (!h[0] || strlen(h) >= sizeof ((ctl_target *)0)->host)
        return 0;
    for (const char *p = h; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || *p == ':' || *p == '_'))
            return 0;
    return 1;
}

static void set_where(ctl_target *t)
{
    if (t->use_socket)
        snprintf(t->where, sizeof t->where, "the socket %.300s", t->socket);
    else
        snprintf(t->where, sizeof t->where, strchr(t->host, ':') ? "[%s]:%d" : "%s:%d",
                 t->host, t->port);
}

/* The chosen file's addresses into c->t. */
static int use_file(ctl *c, const service_file *f)
{
    ctl_target *t = &c->t;
    json_t *doc = read_discovery(f->path);
    if (!doc)
        return CTL_UNREACHABLE;
    snprintf(t->name, sizeof t->name, "%s", f->name);
    t->pid = f->pid;
    t->wants_token = json_is_true(json_object_get(doc, "token"));
    const char *host = ctl_jstr(doc, "host"), *socket = ctl_jstr(doc, "socket");
    double port = 0;
    if (host && host_ok(host) && ctl_jnum(doc, "port", &port) == 0 && port >= 1 &&
        port <= 65535 && port == (int)port) {
        snprintf(t->host, sizeof t->host, "%s", host);
        t->port = (int)port;
    }
    if (socket && socket[0] == '/' && strlen(socket) < sizeof t->socket)
        snprintf(t->socket, sizeof t->socket, "%s", socket);
    json_decref(doc);
    if (!t->port && !t->socket[0]) {
        fprintf(stderr, "potter ctl: the discovery file %s names neither a TCP port nor a unix "
                        "socket\n", f->path);
        return CTL_UNREACHABLE;
    }
    /* The socket when it answers: no port to guess, and the kernel vouches for our user. */
    t->use_socket = t->socket[0] && (!t->port || socket_reachable(t->socket));
    set_where(t);
    return CTL_OK;
}

static int from_discovery(ctl *c)
{
    char dir[4096], what[300];
    if (runtime_dir(&c->o, dir, sizeof dir) < 0) {
        fprintf(stderr, "potter ctl: the runtime folder's path is too long (--runtime-dir, "
                        "$POTTER_RUNTIME_DIR, $XDG_RUNTIME_DIR)\n");
        return CTL_UNREACHABLE;
    }
    if (c->o.pid && parse_pid(c->o.pid, strlen(c->o.pid)) == 0)
        return ctl_usage_error("--pid: expected a process id (a positive integer), got \"%s\"",
                               c->o.pid);
    if (c->o.name && (!c->o.name[0] || strchr(c->o.name, '/')))
        return ctl_usage_error("--name: expected a service's name, got \"%s\"", c->o.name);
    service_list l;
    if (list_services(dir, &l) < 0) {
        list_free(&l);
        fputs("potter ctl: out of memory\n", stderr);
        return CTL_FAILED;
    }
    size_t live = 0, any = 0;
    const service_file *chosen = NULL;
    for (size_t i = 0; i < l.n; i++) {
        if (!matches(&l.v[i], &c->o))
            continue;
        any++;
        if (l.v[i].alive) {
            live++;
            chosen = &l.v[i];
        }
    }
    asked(&c->o, what, sizeof what);
    int rc = CTL_OK;
    if (live == 1) {
        rc = use_file(c, chosen);
    } else if (live > 1) {
        fprintf(stderr, "potter ctl: %zu services%s are running; say which one with %s:\n", live,
                what, c->o.name ? "--pid" : "--name or --pid");
        for (size_t i = 0; i < l.n; i++)
            if (l.v[i].alive && matches(&l.v[i], &c->o))
                print_service(&l.v[i]);
        print_stale(&l, matches, &c->o);
        rc = CTL_USAGE;
    } else if (any > 0) {
        fprintf(stderr, "potter ctl: no service%s is running; found only stale discovery files "
                        "in %s:\n", what, dir);
        print_stale(&l, matches, &c->o);
        rc = CTL_UNREACHABLE;
    } else if (l.missing) {
        fprintf(stderr, "potter ctl: no service%s found: the runtime folder %s does not exist "
                        "(--runtime-dir, $POTTER_RUNTIME_DIR); is the service running? "
                        TARGET_HINT "\n", what, dir);
        rc = CTL_UNREACHABLE;
    } else {
        fprintf(stderr, "potter ctl: no service%s found: no discovery file %s.%s.json in %s; "
                        "is the service running? " TARGET_HINT "\n", what,
                c->o.name ? c->o.name : "<name>", c->o.pid ? c->o.pid : "<pid>", dir);
        rc = CTL_UNREACHABLE;
    }
    list_free(&l);
    return rc;
}

int ctl_resolve(ctl *c)
{
    ctl_target *t = &c->t;
    if (c->resolved)
        return CTL_OK;
    memset(t, 0, sizeof *t);
    int rc = CTL_OK;
    if (c->o.port) {
        char *end;
        long port = strtol(c->o.port, &end, 10);
        if (!c->o.port[0] || *end || port < 1 || port > 65535)
            return ctl_usage_error("--port: expected a port number 1..65535, got \"%s\"",
                                   c->o.port);
        const char *host = c->o.host ? c->o.host : "127.0.0.1";
        size_t hn = strlen(host);
        if (hn > 2 && host[0] == '[' && host[hn - 1] == ']') /* [::1] */
            snprintf(t->host, sizeof t->host, "%.*s", (int)(hn - 2), host + 1);
        else
            snprintf(t->host, sizeof t->host, "%s", host);
        if (!host_ok(t->host))
            return ctl_usage_error("--host: expected a host name or an IP address, got \"%s\"",
                                   host);
        t->port = (int)port;
    } else if (c->o.socket) {
        if (!c->o.socket[0] || strlen(c->o.socket) >= sizeof t->socket)
            return ctl_usage_error("--socket: expected a unix socket path of 1..107 bytes, got "
                                   "\"%s\"", c->o.socket);
        snprintf(t->socket, sizeof t->socket, "%s", c->o.socket);
        t->use_socket = 1;
    } else {
        rc = from_discovery(c);
    }
    if (rc != CTL_OK)
        return rc;
    set_where(t);
    c->resolved = 1;
    return CTL_OK;
}

/* A name fit for a file name: what the service calls itself, with anything but letters,
 * digits, '-', '_' and '.' made '_' (it comes from the service: no '/' or leading '.'). */
static void file_safe(char *s)
{
    for (char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || (*p == '.' && p != s)))
            *p = '_';
}

int ctl_identity(ctl *c)
{
    int rc = ctl_resolve(c);
    if (rc != CTL_OK)
        return rc;
    if (c->t.name[0] && c->t.pid > 0) {
        file_safe(c->t.name);
        return CTL_OK;
    }
    ctl_reply r;
    if ((rc = ctl_call(c, "GET", "/build", NULL, 0, &r)) != CTL_OK)
        return rc;
    json_t *b = ctl_json_object("GET", "/build", &r);
    ctl_reply_free(&r);
    if (!b)
        return CTL_FAILED;
    const char *name = ctl_jstr(b, "service");
    double pid = 0;
    snprintf(c->t.name, sizeof c->t.name, "%s", name && name[0] ? name : "service");
    c->t.pid = ctl_jnum(b, "pid", &pid) == 0 && pid >= 1 && pid <= 2147483647.0 ? (long)pid : 0;
    json_decref(b);
    file_safe(c->t.name);
    return CTL_OK;
}
