/* The server object (server.h): creating it, listening (on an address, or on a socket bound
 * for SO_REUSEPORT workers), its counts, and closing it gracefully or at once. Connections,
 * parsing and dispatch are in server.c, writing responses in response.c. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "http/server_internal.h"

/* ---- the server --------------------------------------------------------------------------- */

int pt__http_server_new(uv_loop_t *loop, const pt__router *router, const pt__http_limits *limits,
                        pt__http_server **out)
{
    pt__http_server *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    if (limits)
        s->limits = *limits;
    if (!s->limits.max_header_bytes)
        s->limits.max_header_bytes = 8192;
    if (!s->limits.max_body_bytes)
        s->limits.max_body_bytes = 1 << 20;
    if (!s->limits.max_connections)
        s->limits.max_connections = 1024;
    if (!s->limits.header_timeout_ms)
        s->limits.header_timeout_ms = 10000;
    if (!s->limits.body_timeout_ms)
        s->limits.body_timeout_ms = 30000;
    if (!s->limits.idle_timeout_ms)
        s->limits.idle_timeout_ms = 60000;
    if (!s->limits.handler_timeout_ms)
        s->limits.handler_timeout_ms = 30000;
    s->loop = loop;
    s->router = router;
    s->hub = calloc(1, sizeof *s->hub);
    if (!s->hub) {
        free(s);
        return -ENOMEM;
    }
    pthread_mutex_init(&s->hub->lock, NULL);
    s->hub->refs = 1;
    s->hub->wake = &s->handoff_wake;
    int err = uv_async_init(loop, &s->handoff_wake, pt__http_on_handoff);
    if (err < 0) {
        pt__http_hub_unref(s->hub);
        free(s);
        return err;
    }
    s->handoff_wake.data = s;
    *out = s;
    return 0;
}

int pt__http_server_set_hooks(pt__http_server *s, const pt__http_hooks *hooks)
{
    if (s->listening)
        return -EINVAL;
    s->hooks = *hooks;
    return 0;
}

static int parse_addr(const char *host, int port, struct sockaddr_storage *addr)
{
    if (port < 0 || port > 65535 || host == NULL)
        return -EINVAL;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)addr) < 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)addr) < 0)
        return -EINVAL;
    return 0;
}

/* The listener handle, made once: TCP, or a unix socket (pipe). */
static int make_listener(pt__http_server *s, int unix_socket)
{
    if (s->listener_made)
        return -EINVAL;
    int err = unix_socket ? uv_pipe_init(s->loop, &s->listener_pipe, 0)
                          : uv_tcp_init(s->loop, &s->listener);
    if (err < 0)
        return err;
    s->listener_made = 1;
    s->listener.data = s;
    return 0;
}

int pt__http_server_listen(pt__http_server *s, const char *host, int port)
{
    struct sockaddr_storage addr;
    int err = parse_addr(host, port, &addr);
    if (err < 0)
        return err;
    if ((err = make_listener(s, 0)) < 0)
        return err;
    if ((err = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0)) < 0)
        return err;
    s->listening = 1;
    return uv_listen((uv_stream_t *)&s->listener, 511, pt__http_on_connection);
}

int pt__http_bind_socket(const char *host, int port, int reuseport)
{
    struct sockaddr_storage addr;
    int err = parse_addr(host, port, &addr), one = 1;
    if (err < 0)
        return err;
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    socklen_t len = addr.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                              : sizeof(struct sockaddr_in6);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
        bind(fd, (struct sockaddr *)&addr, len) < 0) {
        err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int pt__http_server_listen_unix(pt__http_server *s, const char *path)
{
    struct sockaddr_un sun;
    if (strlen(path) >= sizeof sun.sun_path)
        return -ENAMETOOLONG;
    int err = make_listener(s, 1);
    if (err < 0)
        return err;
    /* A socket file left by a process that died is in the way; anything else is not ours to
     * remove. */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    if ((err = uv_pipe_bind(&s->listener_pipe, path)) < 0)
        return err;
    if (chmod(path, 0600) < 0)
        return -errno;
    s->listening = 1;
    return uv_listen((uv_stream_t *)&s->listener_pipe, 128, pt__http_on_connection);
}

int pt__http_server_open(pt__http_server *s, int fd)
{
    int err = make_listener(s, 0);
    if (err < 0) {
        close(fd);
        return err;
    }
    err = uv_tcp_open(&s->listener, (uv_os_sock_t)fd);
    if (err < 0) {
        close(fd);
        return err;
    }
    s->listening = 1;
    return uv_listen((uv_stream_t *)&s->listener, 511, pt__http_on_connection);
}

int pt__http_server_port(const pt__http_server *s)
{
    struct sockaddr_storage addr;
    int len = sizeof addr;
    if (!s->listener_made || s->listener.type != UV_TCP)
        return -EINVAL;
    int err = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&addr, &len);
    if (err < 0)
        return err;
    if (addr.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&addr)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
}

unsigned pt__http_server_connections(const pt__http_server *s, unsigned *busy)
{
    unsigned n = 0;
    for (const conn *c = s->conns; c; c = c->next)
        n += c->state == CONN_HANDLER || c->writing;
    if (busy)
        *busy = n;
    return s->nconns;
}

void pt__http_server_abort(pt__http_server *s)
{
    if (!s->closing)
        return;
    for (conn *c = s->conns; c; c = c->next)
        pt__http_conn_close(c);
}

void *pt__http_response_ext(pt__http_response *res)
{
    return res->c->ext_size ? res->c->ext : NULL; /* not c->server: gone once detached */
}

int pt__http_response_begun(const pt__http_response *res)
{
    return res->begun;
}

uint64_t pt__http_server_handler_timeouts(const pt__http_server *s)
{
    return s->handler_timeouts;
}

static void on_handoff_closed(uv_handle_t *h)
{
    pt__http_server *s = h->data;
    if (s->close_cb)
        s->close_cb(s, s->close_arg);
    pt__http_hub_unref(s->hub);
    free(s);
}

/* The hand-off stays open until the last connection is gone: a response owed from another
 * thread may arrive until then. Connections closed while their handler owed the answer are
 * gone from the list already (detached): they no longer hold the close up. */
void pt__http_server_maybe_finish(pt__http_server *s)
{
    if (!s->closing || !s->listener_closed || s->conns || s->finishing)
        return;
    s->finishing = 1;
    pt__http_handoff_apply(
        pt__http_handoff_take(s->hub, 1)); /* late answers only: each is dropped */
    uv_close((uv_handle_t *)&s->handoff_wake, on_handoff_closed);
}

static void on_listener_closed(uv_handle_t *h)
{
    pt__http_server *s = h->data;
    s->listener_closed = 1;
    pt__http_server_maybe_finish(s);
}

void pt__http_server_close(pt__http_server *s, void (*cb)(pt__http_server *s, void *arg), void *arg)
{
    if (s->closing)
        return;
    s->closing = 1;
    s->close_cb = cb;
    s->close_arg = arg;
    for (conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == CONN_IDLE && !c->writing)
            pt__http_conn_close(c);
    }
    if (s->listener_made) {
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    } else {
        s->listener_closed = 1;
        pt__http_server_maybe_finish(s);
    }
}
