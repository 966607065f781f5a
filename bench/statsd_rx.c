/* bench/statsd_rx.c: the stats benchmarks' statsd receiver (statsd_rx.h). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_c.h"
#include "statsd_rx.h"

static void die(const char *fn, const char *what)
{
    fprintf(stderr, "statsd_rx: %s: %s\n", fn, what);
    exit(1);
}

static struct {
    pid_t pid;
    int cmd, reply; /* the parent's ends of the pipes */
    unsigned port;
    int rcvbuf;
} rx;

/* The child's state. */
static rx_totals rt;
static unsigned char rc_seen[RX_MAX], rg_seen[RX_MAX], rt_seen[RX_MAX];
static double rg_last[RX_MAX];

static void rx_clear(void)
{
    memset(&rt, 0, sizeof(rt));
    memset(rc_seen, 0, sizeof(rc_seen));
    memset(rg_seen, 0, sizeof(rg_seen));
    memset(rt_seen, 0, sizeof(rt_seen));
}

static void see(unsigned char *seen, long idx, uint64_t *distinct)
{
    if (!seen[idx]) {
        seen[idx] = 1;
        (*distinct)++;
    }
}

/* One line "<anything>.<kind>.<index>:<value>|<type>[|@<rate>]"; kinds c, g, t and x (the
 * sync counter, counted apart). */
static void rx_line(const char *s, size_t n)
{
    char buf[512], *end;

    if (n == 0)
        return;
    rt.lines++;
    if (n >= sizeof(buf)) {
        rt.bad++;
        return;
    }
    memcpy(buf, s, n);
    buf[n] = 0;
    char *colon = strchr(buf, ':'), *bar = colon ? strchr(colon, '|') : NULL;
    if (bar == NULL) {
        rt.bad++;
        return;
    }
    *colon = *bar = 0;
    char *dot = strrchr(buf, '.');
    long idx = dot ? strtol(dot + 1, &end, 10) : -1;
    if (dot == NULL || dot - buf < 2 || dot[-2] != '.' || *end || idx < 0 || idx >= RX_MAX) {
        rt.bad++;
        return;
    }
    char kind = dot[-1], *type = bar + 1, *more = strchr(type, '|');
    double rate = 1;
    if (more) {
        *more = 0;
        if (more[1] == '@')
            rate = strtod(more + 2, NULL);
    }
    if (kind == 'x') {
        rt.x_lines++;
    } else if (kind == 'c' && strcmp(type, "c") == 0) {
        rt.c_lines++;
        rt.c_sum += strtoull(colon + 1, NULL, 10);
        see(rc_seen, idx, &rt.c_distinct);
    } else if (kind == 'g' && strcmp(type, "g") == 0) {
        rt.g_lines++;
        rg_last[idx] = strtod(colon + 1, NULL);
        see(rg_seen, idx, &rt.g_distinct);
    } else if (kind == 't' && strcmp(type, "ms") == 0 && rate > 0) {
        rt.ms_lines++;
        rt.ms_count += 1 / rate;
        rt.ms_rated += rate < 1;
        see(rt_seen, idx, &rt.t_distinct);
    } else {
        rt.bad++;
    }
}

/* Everything queued on the socket now. */
static void rx_drain(int udp)
{
    enum { BATCH = 64, DGRAM = 9000 };
    static char bufs[BATCH][DGRAM];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];

    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){bufs[i], DGRAM};
            msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
        }
        int n = recvmmsg(udp, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return;
        for (int i = 0; i < n; i++) {
            const char *p = bufs[i], *e = p + msgs[i].msg_len;
            rt.datagrams++;
            rt.bytes += msgs[i].msg_len;
            while (p < e) {
                const char *nl = memchr(p, '\n', (size_t)(e - p));
                const char *stop = nl ? nl : e;
                rx_line(p, (size_t)(stop - p));
                p = stop + 1;
            }
        }
    }
}

/* The child: 'Q' asks for the totals, 'R' for the totals and a fresh start; EOF ends it. */
static void rx_main(int udp, int cmd, int reply)
{
    for (;;) {
        struct pollfd p[2] = {{udp, POLLIN, 0}, {cmd, POLLIN, 0}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            _exit(1);
        }
        if (p[0].revents & POLLIN)
            rx_drain(udp);
        if (p[1].revents == 0)
            continue;
        char c;
        if (read(cmd, &c, 1) != 1)
            _exit(0);
        rx_drain(udp);
        rt.g_last_sum = 0;
        for (size_t i = 0; i < RX_MAX; i++)
            if (rg_seen[i])
                rt.g_last_sum += rg_last[i];
        if (write(reply, &rt, sizeof(rt)) != (ssize_t)sizeof(rt))
            _exit(1);
        if (c == 'R')
            rx_clear();
    }
}

void rx_start(void)
{
    int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), size = 4 << 20;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa), ilen = sizeof(int);
    int cmdp[2], replyp[2];

    if (udp < 0 || setsockopt(udp, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) != 0 ||
        bind(udp, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(udp, (struct sockaddr *)&sa, &len) != 0 ||
        getsockopt(udp, SOL_SOCKET, SO_RCVBUF, &rx.rcvbuf, &ilen) != 0)
        die(__func__, "receiver socket");
    rx.port = ntohs(sa.sin_port);
    if (pipe2(cmdp, O_CLOEXEC) != 0 || pipe2(replyp, O_CLOEXEC) != 0)
        die(__func__, "pipe");
    fflush(stdout);
    rx.pid = fork();
    if (rx.pid < 0)
        die(__func__, "fork");
    if (rx.pid == 0) {
        close(cmdp[1]);
        close(replyp[0]);
        rx_main(udp, cmdp[0], replyp[1]);
        _exit(0);
    }
    close(udp);
    close(cmdp[0]);
    close(replyp[1]);
    rx.cmd = cmdp[1];
    rx.reply = replyp[0];
}

static void ask(char c, rx_totals *t)
{
    if (write(rx.cmd, &c, 1) != 1)
        die(__func__, "receiver gone");
    for (size_t got = 0; got < sizeof(*t);) {
        ssize_t n = read(rx.reply, (char *)t + got, sizeof(*t) - got);
        if (n <= 0)
            die(__func__, "receiver gone");
        got += (size_t)n;
    }
}

unsigned rx_port(void)
{
    return rx.port;
}

int rx_rcvbuf(void)
{
    return rx.rcvbuf;
}

void rx_query(rx_totals *t)
{
    ask('Q', t);
}

void rx_reset(void)
{
    rx_totals t;
    ask('R', &t);
}

int rx_wait(rx_totals *t, rx_done_fn done, const void *want)
{
    uint64_t still_since = mono_ns(), last = UINT64_MAX;
    for (;;) {
        ask('Q', t);
        if (done(t, want))
            return 1;
        uint64_t moved = t->datagrams + t->lines, now = mono_ns();
        if (moved != last) {
            last = moved;
            still_since = now;
        } else if (now - still_since > 300000000ull) {
            return 0;
        }
        sleep_ns(1000000);
    }
}

uint64_t rx_cpu_ticks(void)
{
    char path[64], buf[1024];
    unsigned long long ut = 0, st = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)rx.pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    const char *p = strrchr(buf, ')');
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return ut + st;
}

void rx_stop(void)
{
    close(rx.cmd);
    close(rx.reply);
    waitpid(rx.pid, NULL, 0);
}
