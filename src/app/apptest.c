/* The in-process test harness (potter/apptest.h): an app made for tests, run on a thread,
 * a small blocking HTTP client, the records it logged (a memory sink), its metrics. */
#include <errno.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "potter/apptest.h"
#include "app/app_internal.h"
#include "core/clock_internal.h"

/* What the memory sink captured: shared by the harness and the sink (the logger closes it
 * when the app is freed), freed by the last of the two. */
typedef struct {
    pthread_mutex_t lock;
    char *p;
    size_t len, cap;
    int refs;
} capture;

struct pt_apptest {
    pt_app *app;
    pthread_t thread;
    capture *cap;
    int status; /* pt_app_run()'s */
    atomic_int done;
};

static void capture_unref(capture *c)
{
    pthread_mutex_lock(&c->lock);
    int last = --c->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (last) {
        pthread_mutex_destroy(&c->lock);
        free(c->p);
        free(c);
    }
}

static ssize_t capture_write(void *ctx, const char *buf, size_t len)
{
    capture *c = ctx;
    pthread_mutex_lock(&c->lock);
    if (c->len + len + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 65536;
        while (cap < c->len + len + 1)
            cap *= 2;
        char *p = realloc(c->p, cap);
        if (!p) {
            pthread_mutex_unlock(&c->lock);
            return -ENOMEM;
        }
        c->p = p;
        c->cap = cap;
    }
    memcpy(c->p + c->len, buf, len);
    c->len += len;
    c->p[c->len] = '\0';
    pthread_mutex_unlock(&c->lock);
    return (ssize_t)len;
}

static void capture_close(void *ctx)
{
    capture_unref(ctx);
}

static const pt_log_sink_ops capture_ops = {
    .kind = "memory",
    .write = capture_write,
    .close = capture_close,
};

pt_app *pt_apptest_app(const char *name, const pt_app_options *opts, const char *const *args)
{
    static const char *const defaults[] = {
        "--env=test", "--http.host=127.0.0.1", "--http.port=0", "--http.workers=1",
        "--log.stderr=false", "--log.file=", "--log.level=debug", "--stats.host=",
        "--ctl.enabled=false", "--ctl.port=0", "--ctl.socket=", "--crash.enabled=false",
    };
    size_t nd = sizeof defaults / sizeof defaults[0], na = 0;
    while (args && args[na])
        na++;
    char **argv = calloc(nd + na + 2, sizeof *argv);
    if (!argv)
        abort();
    argv[0] = (char *)name;
    memcpy(argv + 1, defaults, nd * sizeof *argv);
    if (na)
        memcpy(argv + 1 + nd, args, na * sizeof *argv);
    pt_app_options o = opts ? *opts : (pt_app_options){0};
    o.flags |= PT_APP_NO_SIGNALS;
    pt_app *app = pt_app_new(name, (int)(nd + na + 1), argv, &o);
    free(argv);
    return app;
}

static void *run_main(void *arg)
{
    pt_apptest *t = arg;
    t->status = pt__app_serve(t->app);
    atomic_store(&t->done, 1);
    return NULL;
}

int pt_apptest_start(pt_app *app, pt_apptest **out)
{
    *out = NULL;
    pt_apptest *t = calloc(1, sizeof *t);
    capture *c = calloc(1, sizeof *c);
    if (!t || !c) {
        free(t);
        free(c);
        pt_app_free(app);
        return -ENOMEM;
    }
    pthread_mutex_init(&c->lock, NULL);
    c->refs = 2;
    t->app = app;
    t->cap = c;
    int rc = pt_log_add_sink(pt_app_log(app), &capture_ops, c, NULL, NULL);
    if (rc < 0) {
        c->refs = 1;
        capture_unref(c);
        free(t);
        pt_app_free(app);
        return rc;
    }
    if ((rc = -pthread_create(&t->thread, NULL, run_main, t)) < 0) {
        capture_unref(c);
        free(t);
        pt_app_free(app);
        return rc;
    }
    uint64_t end = pt_clock_mono_ns() + 10 * 1000000000ull;
    while (pt_app_port(app) < 0 && !atomic_load(&t->done) && pt_clock_mono_ns() < end) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    if (pt_app_port(app) < 0) {
        int done = atomic_load(&t->done);
        if (!done)
            pt_app_stop(app);
        pthread_join(t->thread, NULL);
        pt_app_free(app);
        capture_unref(c);
        free(t);
        return done ? -ECONNREFUSED : -ETIMEDOUT;
    }
    *out = t;
    return 0;
}

int pt_apptest_port(const pt_apptest *t)
{
    return pt_app_port(t->app);
}

int pt_apptest_stop(pt_apptest *t)
{
    if (!atomic_load(&t->done))
        pt_app_stop(t->app);
    pthread_join(t->thread, NULL);
    pt_app_free(t->app);
    int status = t->status;
    capture_unref(t->cap);
    free(t);
    return status;
}

char *pt_apptest_log(pt_apptest *t)
{
    capture *c = t->cap;
    pthread_mutex_lock(&c->lock);
    char *copy = strdup(c->p ? c->p : "");
    pthread_mutex_unlock(&c->lock);
    return copy;
}

int pt_apptest_wait_record(pt_apptest *t, const char *needle, uint64_t timeout_ms)
{
    uint64_t end = pt_clock_mono_ns() + timeout_ms * 1000000ull;
    for (;;) {
        pthread_mutex_lock(&t->cap->lock);
        int found = t->cap->p && strstr(t->cap->p, needle);
        pthread_mutex_unlock(&t->cap->lock);
        if (found)
            return 0;
        if (pt_clock_mono_ns() >= end)
            return -ETIMEDOUT;
        pt_log_flush(100);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

double pt_apptest_metric(pt_apptest *t, const char *prefix, int *found)
{
    char *text = pt_stats_prometheus(pt_app_stats(t->app));
    double v = -1;
    int hit = 0;
    size_t n = strlen(prefix);
    for (char *line = text; line && *line && !hit;) {
        char *nl = strchr(line, '\n');
        if (line[0] != '#' && strncmp(line, prefix, n) == 0) {
            char *sp = nl ? memrchr(line, ' ', (size_t)(nl - line)) : strrchr(line, ' ');
            if (sp) {
                v = strtod(sp + 1, NULL);
                hit = 1;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    if (found)
        *found = hit;
    return v;
}

/* ---- the client ------------------------------------------------------------------------- */

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) /* a thread dump's signal: with a timeout set, */
            continue;                /* the call is not restarted (signal(7)) */
        if (w < 0)
            return errno == EAGAIN ? -ETIMEDOUT : -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Joins a chunked body in place; returns its length, or -EPROTO. */
static ssize_t dechunk(char *p, size_t n)
{
    size_t in = 0, out = 0;
    for (;;) {
        char *end;
        unsigned long size = strtoul(p + in, &end, 16);
        char *crlf = memmem(p + in, n - in, "\r\n", 2);
        if (!crlf || end == p + in)
            return -EPROTO;
        in = (size_t)(crlf - p) + 2;
        if (size == 0)
            return (ssize_t)out;
        if (size > n - in || n - in - size < 2)
            return -EPROTO;
        memmove(p + out, p + in, size);
        out += size;
        in += size + 2;
    }
}

static int parse_response(char *buf, size_t n, int head, pt_apptest_response *out)
{
    char *eoh = memmem(buf, n, "\r\n\r\n", 4);
    int minor;
    if (!eoh || sscanf(buf, "HTTP/1.%d %d", &minor, &out->status) != 2)
        return -EPROTO;
    char *line = memchr(buf, '\n', n) + 1;
    size_t hl = (size_t)(eoh + 2 - line);
    out->headers = malloc(hl + 1);
    if (!out->headers)
        return -ENOMEM;
    memcpy(out->headers, line, hl);
    out->headers[hl] = '\0';
    char *body = eoh + 4;
    size_t blen = head ? 0 : (size_t)(buf + n - body);
    const char *te = pt_apptest_header(out, "Transfer-Encoding");
    if (!head && te && strcasecmp(te, "chunked") == 0) {
        ssize_t d = dechunk(body, blen);
        if (d < 0)
            return (int)d;
        blen = (size_t)d;
    } else if (!head && pt_apptest_header(out, "Content-Length")) {
        size_t cl = strtoul(pt_apptest_header(out, "Content-Length"), NULL, 10);
        if (cl > blen)
            return -EPROTO; /* cut short */
        blen = cl;
    }
    out->body = malloc(blen + 1);
    if (!out->body)
        return -ENOMEM;
    memcpy(out->body, body, blen);
    out->body[blen] = '\0';
    out->body_len = blen;
    return 0;
}

int pt_apptest_request(pt_apptest *t, const char *method, const char *path, const char *headers,
                       const char *body, size_t body_len, pt_apptest_response *out)
{
    memset(out, 0, sizeof *out);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)pt_apptest_port(t)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char *buf = NULL;
    int rc = connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ? -errno : 0;
    char head[4096];
    int hn = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                      "Content-Length: %zu\r\n%s\r\n",
                      method, path, body_len, headers ? headers : "");
    if (rc == 0 && (hn < 0 || (size_t)hn >= sizeof head))
        rc = -EINVAL;
    if (rc == 0)
        rc = send_all(fd, head, (size_t)hn);
    if (rc == 0 && body_len)
        rc = send_all(fd, body, body_len);
    size_t n = 0, cap = 65536;
    if (rc == 0 && !(buf = malloc(cap)))
        rc = -ENOMEM;
    while (rc == 0) {
        if (n + 1 >= cap) {
            char *b = realloc(buf, cap * 2);
            if (!b) {
                rc = -ENOMEM;
                break;
            }
            buf = b;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
        if (r == 0)
            break;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = errno == EAGAIN ? -ETIMEDOUT : -errno;
        else
            n += (size_t)r;
    }
    close(fd);
    if (rc == 0) {
        buf[n] = '\0';
        rc = parse_response(buf, n, strcmp(method, "HEAD") == 0, out);
    }
    free(buf);
    if (rc < 0)
        pt_apptest_response_free(out);
    return rc;
}

const char *pt_apptest_header(const pt_apptest_response *r, const char *name)
{
    static _Thread_local char value[1024];
    size_t n = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *eol = strstr(line, "\r\n");
        if (!eol)
            break;
        if ((size_t)(eol - line) > n && line[n] == ':' && strncasecmp(line, name, n) == 0) {
            const char *v = line + n + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vl = (size_t)(eol - v);
            if (vl >= sizeof value)
                vl = sizeof value - 1;
            memcpy(value, v, vl);
            value[vl] = '\0';
            return value;
        }
        line = eol + 2;
    }
    return NULL;
}

void pt_apptest_response_free(pt_apptest_response *r)
{
    free(r->headers);
    free(r->body);
    r->headers = r->body = NULL;
    r->body_len = 0;
}
