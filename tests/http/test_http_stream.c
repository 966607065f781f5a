/* Streamed responses of the HTTP server core (pt__http_stream_*, src/http/server.h) over real
 * sockets: a uv loop runs the server on a thread of its own; producers write their chunks from uv
 * timers on that loop, after the handler returned; the test talks to the server with blocking
 * sockets (every read has a timeout) and checks the exact bytes on the wire, the Date value
 * masked, or parses the chunked framing strictly. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "http/router.h"
#include "http/server.h"
#include "http_wire.h"


typedef struct fixture fixture;

/* Waits until cond holds, 3 s at most (the caller asserts it after). */
#define WAIT_FOR(cond)                                                                             \
    for (int wait_ms_ = 0; wait_ms_ < 3000 && !(cond); wait_ms_++)                                 \
    usleep(1000)

/* ---- what the loop's thread records, for the test's thread to check ------------------------- */

/* Results of the stream calls made on the loop, read by the test (0 when all went well). */
static atomic_int stream_error; /* the first failed begin or write of /stream-like routes */
static atomic_int streams_ended; /* stream_end calls made */
static atomic_int last_end_result;
static atomic_int streams_ended_at_close; /* streams_ended when the close callback ran */

/* The end hook's calls. */
#define MAX_ENDS 16
static pthread_mutex_t ends_lock = PTHREAD_MUTEX_INITIALIZER;
static int end_status[MAX_ENDS];
static size_t end_bytes[MAX_ENDS];
static int end_count;

static void on_end(pt__http_request *req, pt__http_response *res, int status, size_t bytes_out,
                   void *arg)
{
    pthread_mutex_lock(&ends_lock);
    if (end_count < MAX_ENDS) {
        end_status[end_count] = status;
        end_bytes[end_count] = bytes_out;
    }
    end_count++;
    pthread_mutex_unlock(&ends_lock);
}

static int on_begin(pt__http_request *req, pt__http_response *res, void *arg)
{
    return 0;
}

static int ends_seen(void)
{
    pthread_mutex_lock(&ends_lock);
    int n = end_count;
    pthread_mutex_unlock(&ends_lock);
    return n;
}

/* Waits (3 s at most) until the end hook ran n times. */
static void wait_ends(int n)
{
    WAIT_FOR(ends_seen() >= n);
    assert_int_equal(ends_seen(), n);
}

static void reset_records(void)
{
    atomic_store(&stream_error, 0);
    atomic_store(&streams_ended, 0);
    atomic_store(&last_end_result, 1);
    atomic_store(&streams_ended_at_close, -1);
    pthread_mutex_lock(&ends_lock);
    end_count = 0;
    pthread_mutex_unlock(&ends_lock);
}

/* ---- a server on its own thread ------------------------------------------------------------ */

/* A streaming route: its status, the ms between chunks, and whether it ends only once the
 * server's close began (so that the close surely finds it open). */
typedef struct {
    pt__http_route route;
    fixture *f;
    int status;
    unsigned interval_ms;
    int wait_for_close;
} stream_route;

struct fixture {
    uv_loop_t loop;
    uv_async_t stop;
    pthread_t thread;
    pt__router *router;
    pt__http_server *server;
    int port;
    atomic_int closed;
    atomic_int close_started;
    atomic_int abort_on_stop; /* stop aborts right after the close */
    stream_route r_stream, r_created, r_slow;
    pt__http_route r_hello, r_forever, r_flood, r_respond_first, r_stream_first, r_late_begin;
};

static void *loop_main(void *arg)
{
    fixture *f = arg;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void on_server_closed(pt__http_server *s, void *arg)
{
    fixture *f = arg;
    atomic_store(&streams_ended_at_close, atomic_load(&streams_ended));
    atomic_store(&f->closed, 1);
}

static void on_stop(uv_async_t *a)
{
    fixture *f = a->data;
    pt__http_server_close(f->server, on_server_closed, f);
    if (atomic_load(&f->abort_on_stop))
        pt__http_server_abort(f->server);
    atomic_store(&f->close_started, 1);
    uv_close((uv_handle_t *)a, NULL);
}

static void add_routes(fixture *f);

static fixture *start(const pt__http_limits *limits, const pt__http_hooks *hooks)
{
    reset_records();
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->router = pt__router_new();
    add_routes(f);
    pt__router_freeze(f->router);
    assert_int_equal(pt__http_server_new(&f->loop, f->router, limits, &f->server), 0);
    if (hooks)
        assert_int_equal(pt__http_server_set_hooks(f->server, hooks), 0);
    assert_int_equal(pt__http_server_listen(f->server, "127.0.0.1", 0), 0);
    f->port = pt__http_server_port(f->server);
    assert_true(f->port > 0);
    assert_int_equal(uv_async_init(&f->loop, &f->stop, on_stop), 0);
    f->stop.data = f;
    assert_int_equal(pthread_create(&f->thread, NULL, loop_main, f), 0);
    return f;
}

/* Waits for the loop's thread (stop already asked) and frees f. */
static void stop_joined(fixture *f)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    assert_int_equal(pthread_timedjoin_np(f->thread, NULL, &deadline), 0);
    assert_true(atomic_load(&f->closed));
    assert_int_equal(uv_loop_close(&f->loop), 0);
    pt__router_free(f->router);
    free(f);
}

static void stop(fixture *f)
{
    assert_int_equal(uv_async_send(&f->stop), 0);
    stop_joined(f);
}

/* ---- producers: streams written from uv timers on the loop ------------------------------------ */

static const char *const chunks[] = {"alpha", "bravo!", "abcdefghijklmnopqrstuvwxyz"};
#define NCHUNKS 3

typedef struct {
    uv_timer_t timer;
    pt__http_response *res;
    const stream_route *route;
    int tick;
    size_t bytes; /* /flood: body bytes written */
    int saw_pending;
} producer;

static void free_producer(uv_handle_t *h)
{
    free(h->data);
}

static void note_error(int err)
{
    int zero = 0;
    if (err)
        atomic_compare_exchange_strong(&stream_error, &zero, err);
}

static void producer_end(producer *p)
{
    atomic_store(&last_end_result, pt__http_stream_end(p->res));
    atomic_fetch_add(&streams_ended, 1);
    uv_close((uv_handle_t *)&p->timer, free_producer);
}

/* One chunk of chunks[] per tick, then the end (for wait_for_close, once the close began). */
static void produce(uv_timer_t *t)
{
    producer *p = t->data;
    if (p->tick < NCHUNKS) {
        const char *s = chunks[p->tick++];
        note_error(pt__http_stream_write(p->res, s, strlen(s)));
        return;
    }
    if (p->route->wait_for_close && !atomic_load(&p->route->f->close_started))
        return;
    producer_end(p);
}

static producer *producer_new(fixture *f, pt__http_response *res, const stream_route *r,
                              uv_timer_cb cb, unsigned interval_ms)
{
    producer *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->res = res;
    p->route = r;
    uv_timer_init(&f->loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, cb, interval_ms, interval_ms);
    return p;
}

/* Begins in the handler, writes from the timer. */
static void stream(pt__http_request *req, pt__http_response *res, void *arg)
{
    stream_route *r = arg;
    pt__http_response_header(res, "Content-Type", "text/plain");
    int err = pt__http_stream_begin(res, r->status);
    note_error(err);
    if (err == 0)
        producer_new(r->f, res, r, produce, r->interval_ms);
}

/* /forever: 4 KiB every 2 ms until a write fails (the client left), then the end. */
static atomic_int forever_write_result = 1;

static void produce_forever(uv_timer_t *t)
{
    producer *p = t->data;
    static const char kib4[4096];
    int err = pt__http_stream_write(p->res, kib4, sizeof kib4);
    if (err == 0 && ++p->tick < 5000)
        return;
    atomic_store(&forever_write_result, err);
    producer_end(p);
}

static void forever(pt__http_request *req, pt__http_response *res, void *arg)
{
    note_error(pt__http_stream_begin(res, 200));
    producer_new(arg, res, NULL, produce_forever, 2);
}

/* /flood: 256 KiB a tick until the socket holds some back (pending), then nothing until it is
 * drained, then the end: what a producer applying backpressure does. */
#define FLOOD_CHUNK (256 * 1024)
static atomic_size_t flood_pending_seen, flood_bytes;

static void produce_flood(uv_timer_t *t)
{
    producer *p = t->data;
    size_t pending = pt__http_stream_pending(p->res);
    if (!p->saw_pending && pending == 0 && p->tick++ < 256) {
        static char block[FLOOD_CHUNK];
        note_error(pt__http_stream_write(p->res, block, sizeof block));
        p->bytes += sizeof block;
        return;
    }
    if (pending) {
        if (!p->saw_pending)
            atomic_store(&flood_pending_seen, pending);
        p->saw_pending = 1;
        return;
    }
    atomic_store(&flood_bytes, p->bytes);
    producer_end(p);
}

static void flood(pt__http_request *req, pt__http_response *res, void *arg)
{
    note_error(pt__http_stream_begin(res, 200));
    producer_new(arg, res, NULL, produce_flood, 1);
}

static void hello(pt__http_request *req, pt__http_response *res, void *arg)
{
    pt__http_response_header(res, "Content-Type", "text/plain");
    pt__http_respond(res, 200, "hello\n", 6);
}

/* Misuse, checked call by call: the results land in misuse[], the test compares them. */
#define MISUSE_UNSET 1
static atomic_int misuse[17];

/* Waits (3 s at most) until the loop stored a result in *slot. */
static void wait_set(atomic_int *slot)
{
    WAIT_FOR(atomic_load(slot) != MISUSE_UNSET);
    assert_int_not_equal(atomic_load(slot), MISUSE_UNSET);
}

static void respond_first(pt__http_request *req, pt__http_response *res, void *arg)
{
    atomic_store(&misuse[0], pt__http_respond(res, 200, "x", 1));
    atomic_store(&misuse[1], pt__http_stream_begin(res, 200));
}

/* Before begin: write, end and bad statuses refused, nothing pending; after it: respond, a
 * second begin, a header and a chunk over 4 GiB refused, an empty write does nothing. */
static void stream_first(pt__http_request *req, pt__http_response *res, void *arg)
{
    atomic_store(&misuse[2], pt__http_stream_write(res, "x", 1));
    atomic_store(&misuse[3], pt__http_stream_end(res));
    atomic_store(&misuse[4], pt__http_stream_begin(res, 204));
    atomic_store(&misuse[5], pt__http_stream_begin(res, 304));
    atomic_store(&misuse[6], pt__http_stream_begin(res, 199));
    atomic_store(&misuse[7], pt__http_stream_begin(res, 600));
    atomic_store(&misuse[8], (int)pt__http_stream_pending(res));
    atomic_store(&misuse[9], pt__http_stream_begin(res, 200));
    atomic_store(&misuse[10], pt__http_respond(res, 500, "no", 2));
    atomic_store(&misuse[11], pt__http_stream_begin(res, 200));
    atomic_store(&misuse[12], pt__http_response_header(res, "X-Late", "1"));
    atomic_store(&misuse[13], pt__http_stream_write(res, "", 0));
    atomic_store(&misuse[14], pt__http_stream_write(res, "ok", 2));
    atomic_store(&misuse[15], pt__http_stream_write(res, "ok", SIZE_MAX)); /* not read */
    atomic_store(&misuse[16], pt__http_stream_end(res));
}

/* /late-begin: begins 60 ms later, from a timer: past a shorter deadline it gets -ETIMEDOUT. */
static atomic_int late_begin_result = 1;

static void late_begin_fire(uv_timer_t *t)
{
    producer *p = t->data;
    atomic_store(&late_begin_result, pt__http_stream_begin(p->res, 200));
    uv_close((uv_handle_t *)&p->timer, free_producer);
}

static void late_begin(pt__http_request *req, pt__http_response *res, void *arg)
{
    producer_new(arg, res, NULL, late_begin_fire, 60); /* fires once: it closes the timer */
}

static void add_route(fixture *f, const char *method, const char *path, pt__http_route *r,
                      pt__http_handler *fn, void *arg)
{
    *r = (pt__http_route){fn, arg};
    assert_int_equal(pt__router_add(f->router, method, path, r, NULL, 0), 0);
}

static void add_stream_route(fixture *f, const char *path, stream_route *r, int status,
                             unsigned interval_ms, int wait_for_close)
{
    r->f = f;
    r->status = status;
    r->interval_ms = interval_ms;
    r->wait_for_close = wait_for_close;
    add_route(f, "GET", path, &r->route, stream, r);
}

static void add_routes(fixture *f)
{
    add_stream_route(f, "/stream", &f->r_stream, 200, 20, 0);
    add_stream_route(f, "/created", &f->r_created, 201, 5, 0);
    add_stream_route(f, "/slow", &f->r_slow, 200, 30, 1);
    add_route(f, "GET", "/hello", &f->r_hello, hello, NULL);
    add_route(f, "GET", "/forever", &f->r_forever, forever, f);
    add_route(f, "GET", "/flood", &f->r_flood, flood, f);
    add_route(f, "GET", "/respond-first", &f->r_respond_first, respond_first, NULL);
    add_route(f, "GET", "/stream-first", &f->r_stream_first, stream_first, NULL);
    add_route(f, "GET", "/late-begin", &f->r_late_begin, late_begin, f);
}

/* ---- a blocking client ---------------------------------------------------------------------- */

static int client(const fixture *f)
{
    return wire_connect(f->port);
}

/* ---- a strict reader of chunked responses ------------------------------------------------------ */

typedef struct {
    int fd;
    char buf[65536];
    size_t off, len;
    size_t consumed; /* bytes taken from the socket's stream so far */
} reader;

static int rd_byte(reader *r)
{
    if (r->off == r->len) {
        ssize_t n = recv(r->fd, r->buf, sizeof r->buf, 0);
        if (n <= 0)
            return -1;
        r->off = 0;
        r->len = (size_t)n;
    }
    r->consumed++;
    return (unsigned char)r->buf[r->off++];
}

/* A line ending in CRLF (a CR anywhere else, or a bare LF, fails), NUL-ended without the CRLF. */
static void rd_line(reader *r, char *line, size_t cap)
{
    size_t n = 0;
    for (;;) {
        int c = rd_byte(r);
        assert_true(c >= 0);
        if (c == '\r') {
            assert_int_equal(rd_byte(r), '\n');
            line[n] = '\0';
            return;
        }
        assert_true(c != '\n');
        assert_true(n + 1 < cap);
        line[n++] = (char)c;
    }
}

static void rd_exact(reader *r, char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int c = rd_byte(r);
        assert_true(c >= 0);
        if (out)
            out[i] = (char)c;
    }
}

typedef struct {
    char status_line[128];
    char headers[2048]; /* "Name: value\n"... */
    char *body; /* malloc'd, NUL-ended */
    size_t body_len;
    size_t sizes[512]; /* chunk sizes, in order (the final 0 not counted) */
    unsigned nchunks;
    size_t wire_bytes; /* the whole response as read */
} chunked_response;

static const char *find_header(const chunked_response *cr, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = cr->headers; *p; p = strchr(p, '\n') + 1)
        if (strncasecmp(p, name, n) == 0 && p[n] == ':')
            return p + n + 2;
    return NULL;
}

/* Reads one response framed with chunked encoding: a chunk-size line is hex digits only (no
 * extension, no spaces), each chunk is followed by CRLF, the last chunk by an empty trailer. */
static void read_chunked(reader *r, chunked_response *cr)
{
    memset(cr, 0, sizeof *cr);
    size_t start = r->consumed;
    rd_line(r, cr->status_line, sizeof cr->status_line);
    for (;;) {
        char line[512];
        rd_line(r, line, sizeof line);
        if (!*line)
            break;
        assert_true(strlen(cr->headers) + strlen(line) + 2 < sizeof cr->headers);
        strcat(cr->headers, line);
        strcat(cr->headers, "\n");
    }
    size_t cap = 1024;
    cr->body = malloc(cap);
    assert_non_null(cr->body);
    for (;;) {
        char line[64];
        rd_line(r, line, sizeof line);
        assert_true(line[0] && strspn(line, "0123456789abcdefABCDEF") == strlen(line));
        assert_true(strlen(line) <= 8);
        size_t size = strtoul(line, NULL, 16);
        if (size == 0)
            break;
        assert_true(cr->nchunks < 512);
        cr->sizes[cr->nchunks++] = size;
        while (cr->body_len + size + 1 > cap)
            cap *= 2;
        cr->body = realloc(cr->body, cap);
        assert_non_null(cr->body);
        rd_exact(r, cr->body + cr->body_len, size);
        cr->body_len += size;
        char crlf[2];
        rd_exact(r, crlf, 2);
        assert_memory_equal(crlf, "\r\n", 2);
    }
    char trailer[8];
    rd_line(r, trailer, sizeof trailer); /* no trailer fields: an empty line */
    assert_string_equal(trailer, "");
    cr->body[cr->body_len] = '\0';
    cr->wire_bytes = r->consumed - start;
}

/* ---- expected bytes ----------------------------------------------------------------------------- */

#define CHUNKED_BODY "5\r\nalpha\r\n6\r\nbravo!\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n"
#define PLAIN_BODY "alphabravo!abcdefghijklmnopqrstuvwxyz"
#define STREAM_HEAD(status)                                                                        \
    "HTTP/1.1 " status                                                                             \
    "\r\nDate: D\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
#define STREAM_200 STREAM_HEAD("200 OK") CHUNKED_BODY
#define HELLO_200                                                                                  \
    "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 6\r\nContent-Type: text/plain\r\n\r\nhello\n"
#define STREAM_1_0                                                                                 \
    "HTTP/1.1 200 OK\r\nDate: D\r\nConnection: close\r\nContent-Type: "                            \
    "text/plain\r\n\r\n" PLAIN_BODY

/* ---- tests ------------------------------------------------------------------------------------ */

/* 1. Three chunks written from a timer, 20 ms apart, past a 30 ms handler deadline (which must
 * not fire once the stream began): a valid chunked response, read strictly. */
static void test_chunks_from_timer(void **state)
{
    pt__http_limits lim = {.handler_timeout_ms = 30};
    fixture *f = start(&lim, NULL);
    int fd = client(f);
    send_str(fd, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    reader *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->fd = fd;
    chunked_response cr;
    read_chunked(r, &cr);
    assert_string_equal(cr.status_line, "HTTP/1.1 200 OK");
    const char *te = find_header(&cr, "Transfer-Encoding");
    assert_non_null(te);
    assert_memory_equal(te, "chunked\n", 8);
    assert_null(find_header(&cr, "Content-Length"));
    assert_null(find_header(&cr, "Connection"));
    const char *date = find_header(&cr, "Date");
    assert_non_null(date);
    assert_memory_equal(date + 25, " GMT\n", 5);
    assert_int_equal(cr.nchunks, NCHUNKS);
    for (unsigned i = 0; i < NCHUNKS; i++)
        assert_int_equal(cr.sizes[i], strlen(chunks[i]));
    assert_string_equal(cr.body, PLAIN_BODY);
    assert_int_equal(r->len - r->off, 0); /* nothing after the response */
    free(cr.body);
    free(r);
    exchange(fd, "GET /hello HTTP/1.1\r\n\r\n", HELLO_200, 1); /* kept alive */
    close(fd);
    stop(f);
    assert_int_equal(atomic_load(&stream_error), 0);
    assert_int_equal(atomic_load(&last_end_result), 0);
}

/* 2. Two requests in one write, the first streamed slowly: the second is answered after it. */
static void test_pipelined_behind_stream(void **state)
{
    fixture *f = start(NULL, NULL);
    int fd = client(f);
    exchange(fd, "GET /stream HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\n\r\n", STREAM_200 HELLO_200,
             2);
    exchange(fd, "GET /stream HTTP/1.1\r\n\r\nGET /stream HTTP/1.1\r\nConnection: close\r\n\r\n",
             STREAM_200 "HTTP/1.1 200 OK\r\nDate: D\r\nTransfer-Encoding: chunked\r\n"
                        "Connection: close\r\nContent-Type: text/plain\r\n\r\n" CHUNKED_BODY,
             2);
    assert_true(closed_by_peer(fd));
    close(fd);
    stop(f);
    assert_int_equal(atomic_load(&stream_error), 0);
}

/* 3. An HTTP/1.0 client: no chunked framing, Connection: close, and the close ends the body
 * (also when it asked for keep-alive: without a length there is no other way). */
static void test_http_1_0(void **state)
{
    fixture *f = start(NULL, NULL);
    int fd = client(f);
    exchange(fd, "GET /stream HTTP/1.0\r\n\r\n", STREAM_1_0, 1);
    assert_true(closed_by_peer(fd));
    close(fd);
    fd = client(f);
    exchange(fd, "GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", STREAM_1_0, 1);
    assert_true(closed_by_peer(fd));
    close(fd);
    stop(f);
    assert_int_equal(atomic_load(&stream_error), 0);
}

/* 4. HEAD on a streamed GET route: the headers GET would get, no chunk, not even the last one;
 * the writes succeed doing nothing and the connection serves the next request. */
static void test_head(void **state)
{
    fixture *f = start(NULL, NULL);
    int fd = client(f);
    exchange(fd, "HEAD /stream HTTP/1.1\r\n\r\n", STREAM_HEAD("200 OK"), 1);
    exchange(fd, "GET /hello HTTP/1.1\r\n\r\n", HELLO_200, 1);
    exchange(fd, "HEAD /stream HTTP/1.1\r\n\r\nGET /stream HTTP/1.1\r\n\r\n",
             STREAM_HEAD("200 OK") STREAM_200, 2);
    close(fd);
    stop(f);
    assert_int_equal(atomic_load(&stream_error), 0);
    assert_int_equal(atomic_load(&streams_ended), 3);
    assert_int_equal(atomic_load(&last_end_result), 0);
}

/* A client of /forever that read the status line: the stream is open. */
static int forever_started(fixture *f)
{
    atomic_store(&forever_write_result, 1);
    int fd = client(f);
    send_str(fd, "GET /forever HTTP/1.1\r\n\r\n");
    char buf[32];
    assert_int_equal(recv_n(fd, buf, 17), 17);
    assert_string_equal(buf, "HTTP/1.1 200 OK\r\n");
    return fd;
}

/* 5. The client leaves mid-stream: a write says -EPIPE, the end releases (ASan checks that
 * nothing leaks), and the end hook (no begin hook) saw the stream's status once. */
static void test_client_leaves(void **state)
{
    pt__http_hooks hooks = {.end = on_end};
    fixture *f = start(NULL, &hooks);
    int fd = forever_started(f);
    close(fd); /* with unread data: a reset */
    WAIT_FOR(atomic_load(&streams_ended) != 0);
    assert_int_equal(atomic_load(&streams_ended), 1);
    assert_int_equal(atomic_load(&forever_write_result), -EPIPE);
    assert_int_equal(atomic_load(&last_end_result), -EPIPE);
    wait_ends(1);
    fd = client(f); /* the server goes on */
    exchange(fd, "GET /hello HTTP/1.1\r\n\r\n", HELLO_200, 1);
    close(fd);
    stop(f);
    assert_int_equal(ends_seen(), 2);
    assert_int_equal(end_status[0], 200);
    assert_true(end_bytes[0] >= 17); /* the head at least (reading on, a reset is seen soon) */
    assert_int_equal(end_status[1], 200);
}

/* 6. Misuse is refused and leaves the response as it was; a begin past the deadline is
 * -ETIMEDOUT and frees what the request held (ASan). */
static void test_misuse(void **state)
{
    for (int i = 0; i < 17; i++)
        atomic_store(&misuse[i], MISUSE_UNSET);
    fixture *f = start(NULL, NULL);
    int fd = client(f);
    exchange(fd, "GET /respond-first HTTP/1.1\r\n\r\n",
             "HTTP/1.1 200 OK\r\nDate: D\r\nContent-Length: 1\r\n\r\nx", 1);
    wait_set(&misuse[1]); /* the response may arrive before the handler's next call returned */
    assert_int_equal(atomic_load(&misuse[0]), 0);
    assert_int_equal(atomic_load(&misuse[1]), -EINVAL);
    exchange(fd, "GET /stream-first HTTP/1.1\r\n\r\n",
             "HTTP/1.1 200 OK\r\nDate: D\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
             1);
    wait_set(&misuse[16]);
    const int want[] = {-EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL, -EINVAL, 0, 0,
                        -EINVAL, -EINVAL, -EINVAL, 0,       0,       -EINVAL, 0};
    for (int i = 0; i < 15; i++)
        if (atomic_load(&misuse[i + 2]) != want[i])
            fail_msg("call %d returned %d, wanted %d", i + 2, atomic_load(&misuse[i + 2]), want[i]);
    close(fd);
    stop(f);

    pt__http_limits lim = {.handler_timeout_ms = 20};
    f = start(&lim, NULL);
    atomic_store(&late_begin_result, 1);
    fd = client(f);
    exchange(fd, "GET /late-begin HTTP/1.1\r\n\r\n",
             "HTTP/1.1 503 Service Unavailable\r\nDate: D\r\nContent-Length: 0\r\n"
             "Connection: close\r\n\r\n",
             1);
    assert_true(closed_by_peer(fd));
    close(fd);
    WAIT_FOR(atomic_load(&late_begin_result) != 1);
    assert_int_equal(atomic_load(&late_begin_result), -ETIMEDOUT);
    stop(f);
}

/* 7. The server closes while a stream is open: the stream ends whole (its headers went out
 * before the close, without Connection: close), then the connection closes, then the close
 * callback runs. */
static void test_close_waits_for_stream(void **state)
{
    fixture *f = start(NULL, NULL);
    int idle = client(f);
    int fd = client(f);
    send_str(fd, "GET /slow HTTP/1.1\r\n\r\nGET /hello HTTP/1.1\r\n\r\n");
    exchange(fd, NULL, STREAM_HEAD("200 OK"), 1); /* the stream began */
    assert_int_equal(uv_async_send(&f->stop), 0);
    assert_true(closed_by_peer(idle));
    assert_int_equal(atomic_load(&f->closed), 0);
    /* The request pipelined behind is dropped: the connection closes after the stream. */
    exchange(fd, NULL, CHUNKED_BODY, 0);
    assert_true(closed_by_peer(fd));
    close(fd);
    close(idle);
    stop_joined(f);
    assert_int_equal(atomic_load(&streams_ended), 1);
    assert_int_equal(atomic_load(&streams_ended_at_close), 1);
    assert_int_equal(atomic_load(&last_end_result), 0);
}

/* 8. The end hook runs once per streamed response, with its status and the bytes the client
 * read for it (headers included): chunked, HEAD, another status, HTTP/1.0; and a plain
 * response between them. */
static void test_end_hook_counts(void **state)
{
    pt__http_hooks hooks = {.begin = on_begin, .end = on_end};
    fixture *f = start(NULL, &hooks);
    int fd = client(f);
    size_t got[5];
    got[0] = exchange(fd, "GET /stream HTTP/1.1\r\n\r\n", STREAM_200, 1);
    got[1] = exchange(fd, "HEAD /stream HTTP/1.1\r\n\r\n", STREAM_HEAD("200 OK"), 1);
    got[2] =
        exchange(fd, "GET /created HTTP/1.1\r\n\r\n", STREAM_HEAD("201 Created") CHUNKED_BODY, 1);
    got[3] = exchange(fd, "GET /hello HTTP/1.1\r\n\r\n", HELLO_200, 1);
    close(fd);
    fd = client(f);
    got[4] = exchange(fd, "GET /stream HTTP/1.0\r\n\r\n", STREAM_1_0, 1);
    assert_true(closed_by_peer(fd));
    close(fd);
    wait_ends(5);
    stop(f);
    assert_int_equal(ends_seen(), 5); /* once each, none from the closes */
    const int status[] = {200, 200, 201, 200, 200};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(end_status[i], status[i]);
        assert_int_equal(end_bytes[i], got[i]);
    }
}

/* 9. Backpressure: a client that does not read makes pt__http_stream_pending() grow; a producer
 * that waits for it to drain still delivers every byte. */
static void test_pending(void **state)
{
    atomic_store(&flood_pending_seen, 0);
    atomic_store(&flood_bytes, 0);
    fixture *f = start(NULL, NULL);
    int fd = client(f);
    send_str(fd, "GET /flood HTTP/1.1\r\n\r\n");
    WAIT_FOR(atomic_load(&flood_pending_seen) != 0);
    assert_true(atomic_load(&flood_pending_seen) > 0);
    reader *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->fd = fd;
    chunked_response cr;
    read_chunked(r, &cr);
    assert_string_equal(cr.status_line, "HTTP/1.1 200 OK");
    assert_true(cr.body_len > 0);
    assert_int_equal(cr.body_len, atomic_load(&flood_bytes));
    for (unsigned i = 0; i < cr.nchunks; i++)
        assert_int_equal(cr.sizes[i], FLOOD_CHUNK);
    free(cr.body);
    free(r);
    close(fd);
    stop(f);
    assert_int_equal(atomic_load(&stream_error), 0);
}

/* 10. An abort cuts an open stream: the server is freed while the producer still holds res;
 * its next write says -EPIPE and its end frees the connection (ASan checks both). */
static void test_abort_cuts_stream(void **state)
{
    pt__http_hooks hooks = {.end = on_end};
    fixture *f = start(NULL, &hooks);
    atomic_store(&f->abort_on_stop, 1);
    int fd = forever_started(f);
    stop(f); /* returns once the producer ended too: its timer holds the loop */
    close(fd);
    assert_int_equal(atomic_load(&streams_ended), 1);
    assert_int_equal(atomic_load(&forever_write_result), -EPIPE);
    assert_int_equal(atomic_load(&last_end_result), -EPIPE);
    assert_int_equal(ends_seen(), 1);
    assert_int_equal(end_status[0], 200);
}

int main(void)
{
    /* libuv writes with write(2): a client gone makes SIGPIPE, which pt_app ignores; so must a
     * program that runs the server alone. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunks_from_timer),
        cmocka_unit_test(test_pipelined_behind_stream),
        cmocka_unit_test(test_http_1_0),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_client_leaves),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_close_waits_for_stream),
        cmocka_unit_test(test_end_hook_counts),
        cmocka_unit_test(test_pending),
        cmocka_unit_test(test_abort_cuts_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
