#include "http_wire.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cmocka.h>

int wire_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {RECV_TIMEOUT_MS / 1000, (RECV_TIMEOUT_MS % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

void send_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        assert_true(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

size_t recv_n(int fd, char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    buf[got] = '\0';
    return got;
}

int closed_by_peer(int fd)
{
    char c;
    ssize_t r = recv(fd, &c, 1, 0);
    return r == 0 || (r < 0 && errno == ECONNRESET);
}

void mask_dates(char *s)
{
    char *p = s;
    while ((p = strstr(p, "\r\nDate: ")) != NULL) {
        p += 8;
        assert_true(strlen(p) >= 29);
        assert_memory_equal(p + 25, " GMT", 4);
        memmove(p + 1, p + 29, strlen(p + 29) + 1);
        *p = 'D';
    }
}

size_t exchange(int fd, const char *req, const char *want, int responses)
{
    if (req)
        send_str(fd, req);
    size_t n = strlen(want) + (size_t)responses * DATE_LEN;
    char *buf = malloc(n + 1);
    assert_non_null(buf);
    size_t got = recv_n(fd, buf, n);
    mask_dates(buf);
    if (got != n || strcmp(buf, want) != 0)
        fail_msg("got %zu bytes:\n%s\nwanted %zu:\n%s", got, buf, n, want);
    free(buf);
    return got;
}
