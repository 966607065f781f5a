/* Remote sources of overrides, through the public API only.
 *
 * A watched file (pt_config_watch_file()): a file there before the watch is read at once;
 * one written in place, one replaced by a rename (as editors save) and one created after the
 * watch began are applied; a key the new document no longer names reverts; bad JSON and an
 * unknown key are refused whole, reported with the path and the position, and the last good
 * document stays; deleting the file takes its overrides away; other files of the folder are
 * not read; a folder, a FIFO, a file past 1 MiB and a missing folder are reported; a link
 * swung by a rename elsewhere in the folder (a Kubernetes ConfigMap) is followed.
 *
 * A polled URL (pt_config_watch_url()) served by tests/peers/config_server.js, a Node.js
 * server the test starts on 127.0.0.1: the document is applied; later polls get 304s (the
 * server counts them) and change nothing; a 500, a document that is not JSON, one past
 * 1 MiB and a server that is gone are reported, not at every poll, and keep the last good
 * document; the server back on its port with a new document brings it in. A password in the
 * URL never shows. pt_config_free() does not wait for a request that hangs. The URL tests
 * are skipped when node is not installed.
 *
 * Bad arguments, a source watched twice and a configuration not loaded yet are refused.
 *
 * Every wait is a loop with a deadline (WAIT_MS). The server exits by itself when the test
 * goes away (its stdin closes), besides being killed by the teardown and at exit. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "potter/config.h"

#define WAIT_MS 10000
#define POLL_MS 100 /* how often the URL is polled */

extern char **environ;

static const pt_config_key keys[] = {
    {"app.count", PT_CONFIG_INT, "1", "a number", "0..1000", 0},
    {"app.name", PT_CONFIG_STRING, "def", "a name", NULL, 0},
    {"app.flag", PT_CONFIG_BOOL, "false", "a flag", NULL, 0},
};

static struct {
    char tmp[64]; /* the test's temporary folder */
    pt_config *cfg;
    pt_config_sub *sub;
    pt_config_int *count;
    pt_config_str *name;
    pt_config_bool *flag;
    pid_t peer; /* the Node.js server, 0 when none runs */
    int peer_stdin;
    int port;
} fx = {.peer_stdin = -1};

/* ---- time, and waiting for changes ------------------------------------------------------ */

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* The subscriber counts steps and wakes the waiters. */
static pthread_mutex_t change_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t change_cv = PTHREAD_COND_INITIALIZER;
static unsigned changes;

static void on_change(void *arg, const pt_config_change *c, size_t n)
{
    pthread_mutex_lock(&change_lock);
    changes++;
    pthread_cond_broadcast(&change_cv);
    pthread_mutex_unlock(&change_lock);
}

/* Waits until pred(arg) holds: woken by every change, and every 50 ms for what no change
 * announces (a report, the server's counters). Returns 1, or 0 after WAIT_MS. */
static int wait_until(int (*pred)(const void *), const void *arg)
{
    uint64_t end = now_ms() + WAIT_MS;

    while (!pred(arg)) {
        struct timespec until;

        if (now_ms() > end)
            return 0;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 50 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&change_lock);
        pthread_cond_timedwait(&change_cv, &change_lock, &until);
        pthread_mutex_unlock(&change_lock);
    }
    return 1;
}

static int count_is(const void *want)
{
    return pt_config_int_get(fx.count) == *(const int64_t *)want;
}

static int flag_is(const void *want)
{
    return pt_config_bool_get(fx.flag) == *(const int *)want;
}

static int name_is(const void *want)
{
    const pt_config_view *v = pt_config_view_begin(fx.cfg);
    const char *name = pt_config_view_str(v, fx.name);
    int same = name && strcmp(name, want) == 0;

    pt_config_view_end(v);
    return same;
}

static void wait_count(int64_t want)
{
    if (!wait_until(count_is, &want))
        fail_msg("app.count is %lld, waited %d ms for %lld", (long long)pt_config_int_get(fx.count),
                 WAIT_MS, (long long)want);
}

static void wait_flag(int want)
{
    if (!wait_until(flag_is, &want))
        fail_msg("app.flag stayed %d, waited for %d", pt_config_bool_get(fx.flag), want);
}

static void wait_name(const char *want)
{
    if (!wait_until(name_is, want))
        fail_msg("app.name is not \"%s\" after %d ms", want, WAIT_MS);
}

/* Asserts that the origin of key contains `part` (or does not, if `has` is 0). */
static void check_origin(const char *key, const char *part, int has)
{
    const pt_config_view *v = pt_config_view_begin(fx.cfg);
    const char *origin = pt_config_view_origin(v, key);
    int found = origin && strstr(origin, part) != NULL;

    if (found != has)
        print_error("origin of %s: \"%s\", %s \"%s\"\n", key, origin ? origin : "(null)",
                    has ? "wanted" : "did not want", part);
    pt_config_view_end(v);
    assert_int_equal(found, has);
}

/* ---- what opts.report is told ----------------------------------------------------------- */

static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static char reports[1 << 16]; /* one message a line */
static size_t reports_len;

static void on_report(void *arg, int level, const char *msg)
{
    pthread_mutex_lock(&report_lock);
    int n = snprintf(reports + reports_len, sizeof reports - reports_len, "%d %s\n", level, msg);
    if (n > 0 && (size_t)n < sizeof reports - reports_len)
        reports_len += (size_t)n;
    pthread_mutex_unlock(&report_lock);
}

static void reports_clear(void)
{
    pthread_mutex_lock(&report_lock);
    reports_len = 0;
    reports[0] = '\0';
    pthread_mutex_unlock(&report_lock);
}

/* Some occurrence of `name` in line is followed by ":LINE:COL". */
static int names_position(const char *line, const char *name)
{
    for (const char *at = strstr(line, name); at; at = strstr(at + 1, name)) {
        const char *p = at + strlen(name);
        int line_no, col, used = 0;

        if (sscanf(p, ":%d:%d%n", &line_no, &col, &used) == 2 && used > 0 && line_no > 0 && col > 0)
            return 1;
    }
    return 0;
}

struct match {
    const char *a, *b; /* both must be on the line (b may be NULL) */
    int position; /* and a must be followed by ":LINE:COL" */
};

/* The number of reported lines that match m. */
static int reports_matching(const struct match *m)
{
    int n = 0;

    pthread_mutex_lock(&report_lock);
    for (char *line = reports; *line;) {
        char *nl = strchr(line, '\n');

        *nl = '\0';
        if (strstr(line, m->a) && (!m->b || strstr(line, m->b)) &&
            (!m->position || names_position(line, m->a)))
            n++;
        *nl = '\n';
        line = nl + 1;
    }
    pthread_mutex_unlock(&report_lock);
    return n;
}

static int reported(const void *m)
{
    return reports_matching(m) > 0;
}

static void wait_report(const char *a, const char *b, int position)
{
    struct match m = {a, b, position};

    if (!wait_until(reported, &m)) {
        pthread_mutex_lock(&report_lock);
        print_error("reports so far:\n%s", reports);
        pthread_mutex_unlock(&report_lock);
        fail_msg("no report naming \"%s\"%s%s%s within %d ms", a, b ? " and \"" : "", b ? b : "",
                 b ? "\"" : "", WAIT_MS);
    }
}

static void assert_no_reports(void)
{
    pthread_mutex_lock(&report_lock);
    if (reports_len)
        print_error("unexpected reports:\n%s", reports);
    size_t len = reports_len;
    pthread_mutex_unlock(&report_lock);
    assert_int_equal(len, 0);
}

/* ---- files ------------------------------------------------------------------------------ */

static void path_in_tmp(char *out, size_t outlen, const char *name)
{
    int n = snprintf(out, outlen, "%s/%s", fx.tmp, name);

    assert_true(n > 0 && (size_t)n < outlen);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* As editors save: a new file beside it, renamed over it. */
static void replace_file(const char *path, const char *text)
{
    char tmp[256];

    snprintf(tmp, sizeof tmp, "%s.swp", path);
    write_file(tmp, text);
    assert_int_equal(rename(tmp, path), 0);
}

/* A document of overrides past the 1 MiB a source may send: valid JSON, mostly spaces. */
static char *huge_document(void)
{
    size_t n = (3u << 20) / 2;
    char *doc = malloc(n + 1);

    assert_non_null(doc);
    memset(doc, ' ', n);
    memcpy(doc, "{\"app.count\": 99}", 17);
    doc[n] = '\0';
    return doc;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* ---- the Node.js server ----------------------------------------------------------------- */

/* The first of node and nodejs found on PATH, in out. Returns 1, or 0 when neither is. */
static int find_node(char *out, size_t outlen)
{
    static const char *const names[] = {"node", "nodejs"};
    const char *path = getenv("PATH");

    for (size_t i = 0; path && i < 2; i++) {
        for (const char *dir = path; *dir;) {
            size_t len = strcspn(dir, ":");

            snprintf(out, outlen, "%.*s/%s", (int)len, dir, names[i]);
            if (len > 0 && access(out, X_OK) == 0)
                return 1;
            dir += len;
            if (*dir == ':')
                dir++;
        }
    }
    return 0;
}

static void peer_stop(void)
{
    if (fx.peer > 0) {
        kill(fx.peer, SIGKILL);
        waitpid(fx.peer, NULL, 0);
        fx.peer = 0;
    }
    if (fx.peer_stdin >= 0) {
        close(fx.peer_stdin);
        fx.peer_stdin = -1;
    }
}

/* Starts the server on 127.0.0.1:port (0: any) and reads the port it took into fx.port. */
static void peer_start(const char *node, int port)
{
    const char *src = getenv("PT_SOURCE_DIR");
    char script[1024], port_arg[16], line[32] = "";
    int in[2], out[2];
    size_t got = 0;
    uint64_t end = now_ms() + WAIT_MS;
    posix_spawn_file_actions_t fa;

    assert_non_null(src);
    snprintf(script, sizeof script, "%s/tests/peers/config_server.js", src);
    snprintf(port_arg, sizeof port_arg, "%d", port);
    char *argv[] = {(char *)node, script, port_arg, NULL};

    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    assert_int_equal(posix_spawn(&fx.peer, node, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    fx.peer_stdin = in[1]; /* kept open: the server exits when it closes */

    while (!strchr(line, '\n') && got < sizeof line - 1) {
        struct pollfd p = {out[0], POLLIN, 0};
        int left = (int)(end - now_ms());
        ssize_t n;

        if (left <= 0 || poll(&p, 1, left) <= 0)
            break;
        n = read(out[0], line + got, sizeof line - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        line[got] = '\0';
    }
    close(out[0]);
    fx.port = atoi(line);
    if (fx.port <= 0)
        fail_msg("%s %s did not print its port (got \"%s\")", node, script, line);
    if (port)
        assert_int_equal(fx.port, port);
}

/* One request to the server. Returns the HTTP status; the body goes to out. */
static int peer_request(const char *method, const char *target, const char *body, char *out,
                        size_t outlen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx.port)};
    struct timeval tv = {.tv_sec = 5};
    char req[512], resp[8192];
    size_t got = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), status = 0;
    size_t blen = body ? strlen(body) : 0;
    const char *p;

    assert_true(fd >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     method, target, blen);
    assert_true(n > 0 && (size_t)n < sizeof req);
    assert_int_equal(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    for (size_t sent = 0; sent < blen;) {
        ssize_t w = send(fd, body + sent, blen - sent, MSG_NOSIGNAL);
        assert_true(w > 0);
        sent += (size_t)w;
    }
    for (;;) {
        ssize_t r = recv(fd, resp + got, sizeof resp - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == sizeof resp - 1)
            break;
    }
    close(fd);
    resp[got] = '\0';
    sscanf(resp, "HTTP/1.%*d %d", &status);
    p = strstr(resp, "\r\n\r\n");
    if (out)
        snprintf(out, outlen, "%s", p ? p + 4 : "");
    return status;
}

static void peer_set(const char *target, const char *doc)
{
    assert_int_equal(peer_request("POST", target, doc, NULL, 0), 200);
}

static int peer_stat(const char *name)
{
    char body[512], key[64];
    const char *at;

    assert_int_equal(peer_request("GET", "/stats", NULL, body, sizeof body), 200);
    snprintf(key, sizeof key, "\"%s\":", name);
    at = strstr(body, key);
    assert_non_null(at);
    return atoi(at + strlen(key));
}

static int not_modified_twice(const void *unused)
{
    return peer_stat("not_modified") >= 2;
}

static void peer_at_exit(void)
{
    peer_stop();
}

/* ---- the fixture: a loaded configuration with an empty config folder -------------------- */

static int teardown(void **state);

static int setup(void **state)
{
    char dir[128], dc[128];
    char *argv[] = {"test_config_remote", NULL};
    pt_config_options opts = {0};

    snprintf(fx.tmp, sizeof fx.tmp, "/tmp/pt-config-remote.XXXXXX");
    if (!mkdtemp(fx.tmp)) {
        fx.tmp[0] = '\0';
        return -1;
    }
    path_in_tmp(dir, sizeof dir, "config");
    path_in_tmp(dc, sizeof dc, "datacenter");
    opts.config_dir = dir;
    opts.datacenter_file = dc; /* none */
    opts.report = on_report;
    if (mkdir(dir, 0700) != 0 || pt_config_new("remote-test", &opts, &fx.cfg) != 0 ||
        pt_config_declare(fx.cfg, keys, sizeof keys / sizeof keys[0]) != 0 ||
        pt_config_load(fx.cfg, 1, argv) != 0 ||
        pt_config_subscribe(fx.cfg, "app.", on_change, NULL, &fx.sub) != 0) {
        print_error("setup failed: %s\n", fx.cfg ? pt_config_error(fx.cfg) : "");
        teardown(state);
        return -1;
    }
    fx.count = PT_CONFIG_INT(fx.cfg, "app.count");
    fx.name = PT_CONFIG_STR(fx.cfg, "app.name");
    fx.flag = PT_CONFIG_BOOL(fx.cfg, "app.flag");
    reports_clear();
    return 0;
}

static int teardown(void **state)
{
    if (fx.sub)
        pt_config_unsubscribe(fx.sub);
    fx.sub = NULL;
    pt_config_free(fx.cfg); /* stops the sources first */
    fx.cfg = NULL;
    peer_stop();
    if (fx.tmp[0])
        nftw(fx.tmp, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    fx.tmp[0] = '\0';
    return 0;
}

/* ---- the tests -------------------------------------------------------------------------- */

static void test_arguments(void **state)
{
    pt_config *unloaded;

    assert_int_equal(pt_config_watch_file(NULL, "x.json"), -EINVAL);
    assert_int_equal(pt_config_watch_file(fx.cfg, NULL), -EINVAL);
    assert_int_equal(pt_config_watch_file(fx.cfg, ""), -EINVAL);
    assert_int_equal(pt_config_watch_file(fx.cfg, "some/folder/"), -EINVAL);
    assert_int_equal(pt_config_watch_url(NULL, "http://127.0.0.1/", 100, 0), -EINVAL);
    assert_int_equal(pt_config_watch_url(fx.cfg, NULL, 100, 0), -EINVAL);
    assert_int_equal(pt_config_watch_url(fx.cfg, "", 100, 0), -EINVAL);
    assert_int_equal(pt_config_watch_url(fx.cfg, "http://127.0.0.1/", 0, 0), -EINVAL);
    assert_int_equal(pt_config_watch_url(fx.cfg, "ftp://127.0.0.1/x.json", 100, 0), -EINVAL);
    assert_int_equal(pt_config_watch_url(fx.cfg, "file:///etc/passwd", 100, 0), -EINVAL);
    assert_int_equal(pt_config_watch_url(fx.cfg, "not a url", 100, 0), -EINVAL);
    assert_int_equal(pt_config_watch_url(fx.cfg, "127.0.0.1:80/x", 100, 0), -EINVAL);

    assert_int_equal(pt_config_new("unloaded", NULL, &unloaded), 0);
    assert_int_equal(pt_config_declare(unloaded, keys, 1), 0);
    assert_int_equal(pt_config_watch_file(unloaded, "x.json"), -EBUSY);
    assert_int_equal(pt_config_watch_url(unloaded, "http://127.0.0.1/", 100, 0), -EBUSY);
    pt_config_free(unloaded);
    assert_no_reports();
}

static void test_watch_file(void **state)
{
    char dir[128], path[192];
    struct match bad_json, unknown;

    path_in_tmp(dir, sizeof dir, "watched");
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/overrides.json", dir);

    /* There before the watch: read at once. */
    write_file(path, "{\"app\": {\"count\": 2}}");
    assert_int_equal(pt_config_watch_file(fx.cfg, path), 0);
    assert_int_equal(pt_config_watch_file(fx.cfg, path), -EEXIST);
    wait_count(2);
    check_origin("app.count", path, 1);

    /* Written in place. */
    write_file(path, "{\"app.count\": 3, \"app.name\": \"x\"}");
    wait_count(3);
    wait_name("x");
    check_origin("app.name", path, 1);

    /* Replaced by a rename; app.name, no longer named, reverts. */
    replace_file(path, "{\"app.count\": 4}");
    wait_count(4);
    wait_name("def");
    check_origin("app.name", "default", 1);
    assert_no_reports();

    /* Not JSON: refused with the path and the position; the last good document stays. */
    write_file(path, "{\"app.count\": 5,,}");
    wait_report(path, NULL, 1);
    bad_json = (struct match){path, NULL, 1};
    assert_int_equal(reports_matching(&bad_json), 1);
    assert_int_equal(pt_config_int_get(fx.count), 4);
    check_origin("app.count", path, 1);

    /* An unknown key refuses the whole document, its good keys too. */
    reports_clear();
    replace_file(path, "{\"app.count\": 6, \"app.name\": \"y\", \"app.nope\": 1}");
    wait_report(path, "app.nope", 0);
    unknown = (struct match){path, "app.nope", 0};
    assert_int_equal(reports_matching(&unknown), 1);
    assert_int_equal(pt_config_int_get(fx.count), 4);
    assert_true(name_is("def"));

    /* Deleted: its overrides go. */
    reports_clear();
    assert_int_equal(unlink(path), 0);
    wait_count(1);
    check_origin("app.count", "default", 1);

    /* Created again after the watch began. */
    write_file(path, "{\"app\": {\"count\": 7}}");
    wait_count(7);
    check_origin("app.count", path, 1);
    assert_no_reports();
}

static void test_watch_file_created_later(void **state)
{
    char dir[128], path[192], other[192], nodir[192];
    int yes = 1;

    path_in_tmp(dir, sizeof dir, "later");
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/late.json", dir);

    /* A file that is not there sets nothing and says nothing. */
    assert_int_equal(pt_config_watch_file(fx.cfg, path), 0);
    sleep_ms(300);
    assert_int_equal(pt_config_bool_get(fx.flag), 0);
    check_origin("app.flag", "default", 1);
    assert_no_reports();

    /* Other files of the folder are not read. */
    snprintf(other, sizeof other, "%s/other.json", dir);
    write_file(other, "not JSON at all");
    sleep_ms(300);
    assert_no_reports();

    replace_file(path, "{\"app.flag\": true}");
    wait_flag(yes);
    check_origin("app.flag", path, 1);
    assert_int_equal(pt_config_int_get(fx.count), 1);

    /* Something that is not a file, and a file too large: reported, nothing applied. */
    reports_clear();
    snprintf(other, sizeof other, "%s/folder.json", dir);
    assert_int_equal(mkdir(other, 0700), 0);
    assert_int_equal(pt_config_watch_file(fx.cfg, other), 0);
    wait_report("cannot read", other, 0);
    snprintf(other, sizeof other, "%s/fifo.json", dir);
    assert_int_equal(mkfifo(other, 0600), 0);
    assert_int_equal(pt_config_watch_file(fx.cfg, other), 0);
    wait_report(other, "not a regular file", 0);
    char *huge = huge_document();
    snprintf(other, sizeof other, "%s/huge.json", dir);
    write_file(other, huge);
    free(huge);
    assert_int_equal(pt_config_watch_file(fx.cfg, other), 0);
    wait_report(other, "larger than", 0);
    assert_int_equal(pt_config_int_get(fx.count), 1);

    /* A folder that does not exist cannot be watched: reported. */
    path_in_tmp(nodir, sizeof nodir, "no-such-folder/x.json");
    assert_int_equal(pt_config_watch_file(fx.cfg, nodir), 0);
    wait_report("cannot watch", "no-such-folder", 0);
}

/* As Kubernetes updates a mounted ConfigMap: the watched name is a link through "..data",
 * a link that a rename swings to a new folder; no event names the watched file. */
static void test_watch_file_symlink_swap(void **state)
{
    char dir[128], path[192], v[192], link_tmp[192], data[192];

    path_in_tmp(dir, sizeof dir, "configmap");
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/overrides.json", dir);
    snprintf(data, sizeof data, "%s/..data", dir);
    snprintf(link_tmp, sizeof link_tmp, "%s/..data_tmp", dir);

    snprintf(v, sizeof v, "%s/..v1", dir);
    assert_int_equal(mkdir(v, 0700), 0);
    snprintf(v, sizeof v, "%s/..v1/overrides.json", dir);
    write_file(v, "{\"app.count\": 21}");
    assert_int_equal(symlink("..v1", data), 0);
    assert_int_equal(symlink("..data/overrides.json", path), 0);

    assert_int_equal(pt_config_watch_file(fx.cfg, path), 0);
    wait_count(21);

    snprintf(v, sizeof v, "%s/..v2", dir);
    assert_int_equal(mkdir(v, 0700), 0);
    snprintf(v, sizeof v, "%s/..v2/overrides.json", dir);
    write_file(v, "{\"app.count\": 22}");
    assert_int_equal(symlink("..v2", link_tmp), 0);
    assert_int_equal(rename(link_tmp, data), 0);
    wait_count(22);
    check_origin("app.count", path, 1);
    assert_no_reports();
}

static void test_watch_url(void **state)
{
    char node[1024], url[128];
    int port;
    struct match refused, gone;

    if (!find_node(node, sizeof node)) {
        print_message("node is not installed: skipping the URL test\n");
        skip();
    }
    peer_start(node, 0);
    port = fx.port;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/doc", port);

    peer_set("/set", "{\"app\": {\"count\": 10, \"name\": \"remote\"}}");
    assert_int_equal(pt_config_watch_url(fx.cfg, url, POLL_MS, 2000), 0);
    assert_int_equal(pt_config_watch_url(fx.cfg, url, POLL_MS, 2000), -EEXIST);
    wait_count(10);
    wait_name("remote");
    check_origin("app.count", url, 1);

    /* Later polls send the ETag back and get 304s, which change nothing. */
    if (!wait_until(not_modified_twice, NULL))
        fail_msg("the server answered %d requests, %d of them with 304", peer_stat("requests"),
                 peer_stat("not_modified"));
    assert_int_equal(pt_config_int_get(fx.count), 10);
    assert_no_reports();

    /* A 500: reported once, however many polls fail; the last good document stays. */
    peer_set("/set/500", "");
    wait_report(url, "HTTP 500", 0);
    sleep_ms(5 * POLL_MS);
    assert_true(peer_stat("errors") >= 3);
    refused = (struct match){url, "HTTP 500", 0};
    assert_int_equal(reports_matching(&refused), 1);
    assert_int_equal(pt_config_int_get(fx.count), 10);

    /* A document that is not JSON: refused, with the position, once; the last good stays. */
    reports_clear();
    peer_set("/set/bad", "");
    wait_report(url, NULL, 1);
    sleep_ms(5 * POLL_MS);
    refused = (struct match){url, NULL, 1};
    assert_int_equal(reports_matching(&refused), 1);
    assert_int_equal(pt_config_int_get(fx.count), 10);
    assert_true(name_is("remote"));

    /* A good one again; app.name, no longer named, reverts. */
    reports_clear();
    peer_set("/set", "{\"app\": {\"count\": 11}}");
    wait_count(11);
    wait_name("def");
    assert_no_reports();

    /* A document past 1 MiB: refused, reported; the last good one stays. */
    reports_clear();
    char *huge = huge_document();
    peer_set("/set", huge);
    free(huge);
    wait_report(url, "larger than", 0);
    assert_int_equal(pt_config_int_get(fx.count), 11);
    peer_set("/set", "{\"app\": {\"count\": 11}}");
    reports_clear();

    /* The server is gone: reported, not at every poll; the last good document stays. A
     * poll under way when it died may fail otherwise than the next ones: two reports. */
    peer_stop();
    wait_report(url, NULL, 0);
    sleep_ms(5 * POLL_MS);
    gone = (struct match){url, NULL, 0};
    assert_in_range(reports_matching(&gone), 1, 2);
    assert_int_equal(pt_config_int_get(fx.count), 11);
    check_origin("app.count", url, 1);

    /* Back on the same port with a new document. */
    peer_start(node, port);
    peer_set("/set", "{\"app\": {\"count\": 12}}");
    wait_count(12);
    check_origin("app.count", url, 1);
}

/* A password in the URL is used, but never shown in origins or messages. */
static void test_watch_url_password(void **state)
{
    char node[1024], url[128], shown[128];
    int yes = 1;

    if (!find_node(node, sizeof node)) {
        print_message("node is not installed: skipping\n");
        skip();
    }
    peer_start(node, 0);
    snprintf(url, sizeof url, "http://user:s3cret@127.0.0.1:%d/doc", fx.port);
    snprintf(shown, sizeof shown, "http://user@127.0.0.1:%d/doc", fx.port);
    peer_set("/set", "{\"app.flag\": true, \"app.count\": \"many\"}");
    assert_int_equal(pt_config_watch_url(fx.cfg, url, POLL_MS, 0), 0);
    wait_report(shown, "app.count", 1);
    peer_set("/set", "{\"app.flag\": true}");
    wait_flag(yes);
    check_origin("app.flag", shown, 1);
    check_origin("app.flag", "s3cret", 0);
    struct match secret = {"s3cret", NULL, 0};
    assert_int_equal(reports_matching(&secret), 0);
}

static int requests_seen(const void *n)
{
    return peer_stat("requests") >= *(const int *)n;
}

/* pt_config_free() stops the sources at once: a file source whose start is still queued,
 * and a URL whose request hangs (a timeout of a minute) do not hold it up. */
static void test_free_while_busy(void **state)
{
    char node[1024], url[128], path[192];
    int one = 1;
    uint64_t start;

    if (!find_node(node, sizeof node)) {
        print_message("node is not installed: skipping\n");
        skip();
    }
    peer_start(node, 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/doc", fx.port);
    peer_set("/set/hang", "");
    assert_int_equal(pt_config_watch_url(fx.cfg, url, POLL_MS, 60000), 0);
    if (!wait_until(requests_seen, &one))
        fail_msg("the server saw no request");
    path_in_tmp(path, sizeof path, "soon.json");
    write_file(path, "{\"app.count\": 3}");
    assert_int_equal(pt_config_watch_file(fx.cfg, path), 0);

    pt_config_unsubscribe(fx.sub);
    fx.sub = NULL;
    start = now_ms();
    pt_config_free(fx.cfg);
    fx.cfg = NULL;
    if (now_ms() - start > 3000)
        fail_msg("pt_config_free() took %llu ms", (unsigned long long)(now_ms() - start));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_file_created_later, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_file_symlink_swap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_url_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_while_busy, setup, teardown),
    };

    setenv("POTTER_ENV", "test", 1); /* not production, whatever the caller's is */
    signal(SIGPIPE, SIG_IGN);
    atexit(peer_at_exit);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
