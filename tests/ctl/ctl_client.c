/* The control port tests' client (ctl_client.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl/ctl_client.h"

int connect_tcp(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

int connect_unix(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Sends raw (a whole request) on fd and reads the answer until the server closes (requests
 * say Connection: close). */
static reply exchange_raw(int fd, const char *raw, size_t n)
{
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(write(fd, raw, n), (ssize_t)n);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    ssize_t r;
    /* A thread dump signals every thread, this one too: a read with a socket timeout is not
     * restarted (signal(7)) and fails with EINTR. */
    while ((r = read(fd, buf + len, cap - len)) > 0 || (r < 0 && errno == EINTR)) {
        if (r < 0)
            continue;
        len += (size_t)r;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
    }
    buf[len] = '\0';
    close(fd);
    reply rep = {0};
    char *end = strstr(buf, "\r\n\r\n");
    assert_non_null(end);
    size_t hn = (size_t)(end - buf) < sizeof rep.head - 1 ? (size_t)(end - buf) : sizeof rep.head - 1;
    memcpy(rep.head, buf, hn);
    rep.status = atoi(buf + 9);
    rep.body = strdup(end + 4);
    free(buf);
    return rep;
}

/* method path [extra header lines "K: V\r\n"...] [body] */
reply call_fd(int fd, const char *method, const char *path, const char *headers,
                     const char *body)
{
    char req[70000];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\n%s%sConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, strstr(headers ? headers : "", "Host:") ? "" : "Host: 127.0.0.1\r\n",
                     headers ? headers : "", body ? strlen(body) : 0, body ? body : "");
    return exchange_raw(fd, req, (size_t)n);
}

void reply_free(reply *r)
{
    free(r->body);
    r->body = NULL;
}

