/* libFuzzer target: the control port (src/ctl) on any bytes a client may send. One control
 * port runs for the whole session, with a config, stats, health checks and a quit callback
 * behind it, as in a service; each input is sent whole over a new TCP connection (the client
 * then shuts its side down) and the answer is read until the server closes.
 *
 * Properties checked, beyond "no crash, no sanitizer report": whatever the server sends starts
 * with "HTTP/1.1 "; the port keeps answering (GET /build gets 200 every 256 inputs, and at the
 * end). A CPU profile an input asks for is left to run (the read gives up after 2 s: that is
 * the profile's time, not a hang), and the next ones get 409 while it runs. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "potter/ctl.h"

static pt_ctl *ctl;
static int port;

static void require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "ctl_request: property failed: %s\n", what);
        abort();
    }
}

static void on_quit(void *arg)
{
    (void)arg; /* a service would start its shutdown; the session goes on */
}

static void check(pt_health_probe *p, void *arg)
{
    (void)arg;
    pt_health_probe_done(p, 1, NULL);
}

static const pt_config_key keys[] = {
    {"greeting", PT_CONFIG_STRING, "hello", "what to say", NULL, 0},
    {"limit", PT_CONFIG_UINT, "4", "how many", "1..64", 0},
    {"log.level", PT_CONFIG_ENUM, "info", "level", "trace|debug|info|warn|error|fatal", 0},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    static char dir[] = "/tmp/pt-fuzz-ctl.XXXXXX";
    if (!mkdtemp(dir))
        abort();
    pt_config *cfg;
    pt_stats *stats;
    pt_health *health;
    pt_config_options co = {.version = "1.0.0"};
    char cdir[64];
    snprintf(cdir, sizeof cdir, "--config-dir=%s", dir);
    char *args[] = {"fuzz", cdir, NULL};
    pt_stats_options so = {.service = "fuzz"};
    if (pt_config_new("fuzz", &co, &cfg) < 0 || pt_config_declare(cfg, keys, 3) < 0 ||
        pt_config_load(cfg, 2, args) < 0 || pt_stats_new(&so, &stats) < 0 ||
        pt_health_new(NULL, &health) < 0 ||
        pt_health_add(health, "dep", check, NULL, PT_HEALTH_CRITICAL) < 0)
        abort();
    pt_counter_add(pt_stats_counter(stats, "fuzz.inputs", NULL), 1);
    pt_ctl_options o = {.name = "fuzz", .socket = "", .runtime_dir = dir, .rate = 1000000,
                        .config = cfg, .stats = stats, .health = health, .quit = on_quit};
    if (pt_ctl_new(&o, &ctl) < 0 || pt_ctl_start(ctl) < 0) {
        fprintf(stderr, "ctl_request: %s\n", pt_ctl_error(ctl));
        abort();
    }
    port = pt_ctl_port(ctl);
    return 0;
}

/* Sends data[0..n) on a new connection, reads the answer (at most 2 s), returns its first
 * bytes in head (NUL-terminated) and how many bytes came. */
static size_t exchange(const uint8_t *data, size_t n, char *head, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    require(fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect");
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, data + off, n - off);
        if (w <= 0)
            break; /* the server closed on a bad request: fine */
        off += (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    size_t got = 0;
    char buf[4096];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) {
        if (got < cap - 1) {
            size_t k = (size_t)r < cap - 1 - got ? (size_t)r : cap - 1 - got;
            memcpy(head + got, buf, k);
        }
        got += (size_t)r;
    }
    head[got < cap - 1 ? got : cap - 1] = '\0';
    close(fd);
    return got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned inputs;
    char head[16];
    size_t got = exchange(data, size, head, sizeof head);
    if (got)
        require(got >= 9 && memcmp(head, "HTTP/1.1 ", 9) == 0, "answers start with HTTP/1.1");
    if (++inputs % 256 == 0) {
        static const char probe[] = "GET /build HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        exchange((const uint8_t *)probe, sizeof probe - 1, head, sizeof head);
        require(strncmp(head, "HTTP/1.1 200", 12) == 0, "the port still answers GET /build");
    }
    return 0;
}
