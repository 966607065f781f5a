#include "svc_testutil.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

long tu_exchange(int port, const char *raw, int timeout_ms, char **out)
{
    *out = NULL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    size_t len = strlen(raw), cap = 65536, n = 0;
    if (send(fd, raw, len, MSG_NOSIGNAL) != (ssize_t)len) {
        close(fd);
        return -EIO;
    }
    char *buf = malloc(cap);
    uint64_t end = pt_clock_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        uint64_t now = pt_clock_mono_ns();
        if (now >= end)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)((end - now) / 1000000) + 1) <= 0)
            break;
        if (n + 1 >= cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = recv(fd, buf + n, cap - n - 1, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    close(fd);
    *out = buf;
    return (long)n;
}

char *tu_get(int port, const char *path, const char *headers)
{
    char raw[2048], *out;
    snprintf(raw, sizeof raw, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s\r\n", path,
             headers ? headers : "");
    long n = tu_exchange(port, raw, 5000, &out);
    if (n < 0)
        return strdup("");
    return out;
}

int tu_status(const char *r)
{
    int minor, status;
    return r && sscanf(r, "HTTP/1.%d %d", &minor, &status) == 2 ? status : -1;
}

const char *tu_body(const char *r)
{
    const char *b = r ? strstr(r, "\r\n\r\n") : NULL;
    return b ? b + 4 : "";
}

/* ---- the memory logger ---- */

static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;
static char *mem;
static size_t mem_len;

static ssize_t mem_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    pthread_mutex_lock(&mem_lock);
    mem = realloc(mem, mem_len + len + 1);
    memcpy(mem + mem_len, buf, len);
    mem_len += len;
    mem[mem_len] = '\0';
    pthread_mutex_unlock(&mem_lock);
    return (ssize_t)len;
}

static const pt_log_sink_ops mem_ops = {.kind = "memory", .write = mem_write};

pt_log *tu_memlog(const char *name)
{
    pt_log *log;
    if (pt_log_new(name, &log) < 0)
        return NULL;
    pt_log_add_sink(log, &mem_ops, NULL, NULL, NULL);
    pt_log_set_level(log, PT_LOG_DEBUG);
    return log;
}

char *tu_memlog_text(void)
{
    pt_log_flush(1000);
    pthread_mutex_lock(&mem_lock);
    char *copy = strdup(mem ? mem : "");
    pthread_mutex_unlock(&mem_lock);
    return copy;
}

int tu_memlog_count(const char *needle)
{
    char *t = tu_memlog_text();
    int n = 0;
    for (char *p = t; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(t);
    return n;
}

int tu_memlog_wait(const char *needle, int timeout_ms)
{
    for (int i = 0; i < timeout_ms / 5 + 1; i++) {
        if (tu_memlog_count(needle) > 0)
            return 1;
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}
