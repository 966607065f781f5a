/* The crash path's count (src/stats/stats_crash.h): one "crashes:1|c" datagram per live
 * pt_stats, sent on the socket its flush connected, named as its other metrics are; none for
 * a pt_stats without statsd or once freed. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "potter/stats.h"
#include "stats/stats_crash.h"

static int udp_rx(unsigned *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    *port = ntohs(sa.sin_port);
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* The next datagram that is not a regular flush's, within 2 s ("" on timeout). */
static void next_crash(int fd, char *buf, size_t cap)
{
    for (;;) {
        ssize_t n = recv(fd, buf, cap - 1, 0);
        if (n <= 0) {
            buf[0] = '\0';
            return;
        }
        buf[n] = '\0';
        if (strstr(buf, "crashes"))
            return;
    }
}

static void test_count_sent(void **state)
{
    (void)state;
    unsigned port;
    int rx = udp_rx(&port);
    pt_stats_options o = {.service = "svc", .host = "web1", .prefix = "prod",
                          .statsd_host = "127.0.0.1", .statsd_port = port};
    pt_stats *s, *quiet;
    assert_int_equal(pt_stats_new(&o, &s), 0);
    pt_stats_options q = {.service = "quiet"}; /* no statsd: nothing to send */
    assert_int_equal(pt_stats_new(&q, &quiet), 0);
    /* The statsd address is resolved on pt-work, after the first flush asked: flush until a
     * counter arrives, so the socket is made (within 5 s). */
    char buf[512];
    int warm = 0;
    struct timeval short_wait = {0, 100000}, long_wait = {2, 0};
    setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &short_wait, sizeof short_wait);
    for (int i = 0; i < 50 && !warm; i++) {
        pt_counter_inc(pt_stats_counter(s, "warm", NULL));
        assert_int_equal(pt_stats_flush(s, 2000), 0);
        ssize_t n = recv(rx, buf, sizeof buf - 1, 0);
        warm = n > 0 && (buf[n] = '\0', strstr(buf, "warm") != NULL);
    }
    assert_true(warm);
    setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &long_wait, sizeof long_wait);
    assert_int_equal(pt__stats_crash_send(), 1);
    next_crash(rx, buf, sizeof buf);
    assert_string_equal(buf, "prod.svc.web1.crashes:1|c");
    pt_stats_free(s);
    assert_int_equal(pt__stats_crash_send(), 0); /* freed: forgotten */
    pt_stats_free(quiet);
    close(rx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_sent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
