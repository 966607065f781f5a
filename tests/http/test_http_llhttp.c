/* The behaviour of llhttp (Debian's node-llhttp 8.1, compiled into libpotter in strict mode,
 * see CMakeLists.txt) that the HTTP server relies on: input split anywhere parses the same,
 * pipelined requests, chunked bodies, lenient flags off and request smuggling refused (with
 * the exact error codes), and pause/resume in on_message_complete for in-order pipelining.
 * If a new llhttp changes any of these, this test says which. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <llhttp.h>

/* What the callbacks saw, as text: "<u:/a><f:Host><v:x>[GET 1.1]<b:...>|" for a message
 * ([...] = headers complete, | = message complete).
 * Consecutive spans of one kind are merged, so a split input logs the same as a whole one. */
typedef struct {
    char log[4096];
    size_t len;
    char open; /* the kind of the span being appended to, or 0 */
    int messages;
    int pause_on_complete;
} events;

static void log_text(events *ev, const char *s, size_t n)
{
    assert_true(ev->len + n < sizeof ev->log);
    memcpy(ev->log + ev->len, s, n);
    ev->len += n;
    ev->log[ev->len] = '\0';
}

static void close_span(events *ev)
{
    if (ev->open)
        log_text(ev, ">", 1);
    ev->open = 0;
}

static int on_span(llhttp_t *p, char kind, const char *at, size_t n)
{
    events *ev = p->data;
    if (ev->open != kind) {
        close_span(ev);
        char head[3] = {'<', kind, ':'};
        log_text(ev, head, 3);
        ev->open = kind;
    }
    log_text(ev, at, n);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    return on_span(p, 'u', at, n);
}
static int on_field(llhttp_t *p, const char *at, size_t n)
{
    return on_span(p, 'f', at, n);
}
static int on_value(llhttp_t *p, const char *at, size_t n)
{
    return on_span(p, 'v', at, n);
}
static int on_body(llhttp_t *p, const char *at, size_t n)
{
    return on_span(p, 'b', at, n);
}

static int on_value_complete(llhttp_t *p)
{
    close_span(p->data);
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    events *ev = p->data;
    close_span(ev);
    char line[64];
    int n = snprintf(line, sizeof line, "[%s %d.%d]", llhttp_method_name(llhttp_get_method(p)),
                     llhttp_get_http_major(p), llhttp_get_http_minor(p));
    log_text(ev, line, (size_t)n);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    events *ev = p->data;
    close_span(ev);
    log_text(ev, "|", 1);
    ev->messages++;
    return ev->pause_on_complete ? HPE_PAUSED : 0;
}

static llhttp_settings_t settings;

static void parser_init(llhttp_t *p, events *ev)
{
    memset(ev, 0, sizeof *ev);
    llhttp_settings_init(&settings);
    settings.on_url = on_url;
    settings.on_header_field = on_field;
    settings.on_header_value = on_value;
    settings.on_header_value_complete = on_value_complete;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    llhttp_init(p, HTTP_REQUEST, &settings);
    p->data = ev;
}

/* Parses req in pieces of `step` bytes (0: whole); returns the first error. */
static llhttp_errno_t parse(events *ev, const char *req, size_t step)
{
    llhttp_t p;
    parser_init(&p, ev);
    size_t len = strlen(req);
    if (step == 0)
        step = len;
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        llhttp_errno_t err = llhttp_execute(&p, req + off, n);
        if (err != HPE_OK)
            return err;
    }
    return HPE_OK;
}

static const char pipelined[] =
    "GET /a?x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"
    "POST /b HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\n\r\nhello world"
    "POST /c HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    "GET /d HTTP/1.0\r\n\r\n";

static const char pipelined_log[] =
    "<u:/a?x=1><f:Host><v:example.com><f:Accept><v:*/*>[GET 1.1]|"
    "<u:/b><f:Host><v:example.com><f:Content-Length><v:11>[POST 1.1]<b:hello world>|"
    "<u:/c><f:Host><v:example.com><f:Transfer-Encoding><v:chunked>[POST 1.1]"
    "<b:hello world><f:X-Trailer><v:t>|"
    "<u:/d>[GET 1.0]|";

/* Four pipelined requests in one buffer: GET, Content-Length body, chunked body with a chunk
 * extension and a trailer, HTTP/1.0. */
static void test_pipelined_in_one_buffer(void **state)
{
    events ev;
    assert_int_equal(parse(&ev, pipelined, 0), HPE_OK);
    assert_int_equal(ev.messages, 4);
    assert_string_equal(ev.log, pipelined_log);
}

/* Any split, down to one byte at a time, gives the same callbacks as the whole buffer. */
static void test_split_parses_as_whole(void **state)
{
    for (size_t step = 1; step <= 17; step++) {
        events ev;
        assert_int_equal(parse(&ev, pipelined, step), HPE_OK);
        assert_int_equal(ev.messages, 4);
        assert_string_equal(ev.log, pipelined_log);
    }
}

/* A chunked body alone; the chunk sizes are hex, and the last chunk ends the message. */
static void test_chunked_body(void **state)
{
    events ev;
    const char *req = "PUT /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "a\r\n0123456789\r\n1\r\nX\r\n0\r\n\r\n";
    assert_int_equal(parse(&ev, req, 0), HPE_OK);
    assert_string_equal(ev.log, "<u:/up><f:Transfer-Encoding><v:chunked>[PUT 1.1]"
                                "<b:0123456789X>|");
    /* A chunk size that is not hex. */
    assert_int_equal(parse(&ev, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0),
                     HPE_INVALID_CHUNK_SIZE);
    /* Chunk lines ended by a bare LF. */
    assert_int_equal(
        parse(&ev, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n", 0),
        HPE_INVALID_CHUNK_SIZE);
}

/* llhttp_init leaves every lenient flag off, and they matter: the same request that is refused
 * is accepted once a flag is on (so the server must never set one). */
static void test_lenient_flags_off_by_default(void **state)
{
    llhttp_t p;
    events ev;
    parser_init(&p, &ev);
    assert_int_equal(p.lenient_flags, 0);

    const char *both = "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "0\r\n\r\n";
    assert_int_equal(llhttp_execute(&p, both, strlen(both)), HPE_UNEXPECTED_CONTENT_LENGTH);

    parser_init(&p, &ev);
    llhttp_set_lenient_chunked_length(&p, 1);
    assert_int_not_equal(p.lenient_flags, 0);
    assert_int_equal(llhttp_execute(&p, both, strlen(both)), HPE_OK);
    assert_int_equal(ev.messages, 1);
}

typedef struct {
    const char *what;
    const char *request;
    llhttp_errno_t error;
    const char *reason;
} refused;

/* Request smuggling and malformed framing: each is an error, with this code and reason, also
 * when the request arrives one byte at a time. */
static const refused refusals[] = {
    {"Content-Length then Transfer-Encoding",
     "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     HPE_UNEXPECTED_CONTENT_LENGTH, "Content-Length can't be present with Transfer-Encoding"},
    {"Transfer-Encoding then Content-Length",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
     HPE_UNEXPECTED_CONTENT_LENGTH, "Content-Length can't be present with Transfer-Encoding"},
    {"both, lower case",
     "POST / HTTP/1.1\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
     HPE_UNEXPECTED_CONTENT_LENGTH, "Content-Length can't be present with Transfer-Encoding"},
    {"two different Content-Lengths",
     "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
     HPE_UNEXPECTED_CONTENT_LENGTH, "Duplicate Content-Length"},
    {"two equal Content-Lengths", /* refused too, although RFC 9112 would allow merging */
     "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
     HPE_UNEXPECTED_CONTENT_LENGTH, "Duplicate Content-Length"},
    {"a Content-Length list", "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nhello",
     HPE_INVALID_CONTENT_LENGTH, "Invalid character in Content-Length"},
    {"a Content-Length that is not a number", "POST / HTTP/1.1\r\nContent-Length: 5a\r\n\r\nhello",
     HPE_INVALID_CONTENT_LENGTH, "Invalid character in Content-Length"},
    {"chunked not last", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
     HPE_INVALID_TRANSFER_ENCODING, "Invalid `Transfer-Encoding` header value"},
    {"a Transfer-Encoding without chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
     HPE_INVALID_TRANSFER_ENCODING, "Request has invalid `Transfer-Encoding`"},
    {"a bare CR inside a header value", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", HPE_LF_EXPECTED,
     "Missing expected LF after header value"},
    {"a bare CR ending a header line", "GET / HTTP/1.1\r\nHost: a\rX-A: b\r\n\r\n", HPE_LF_EXPECTED,
     "Missing expected LF after header value"},
    {"a bare CR inside a header name", "GET / HTTP/1.1\r\nHo\rst: a\r\n\r\n",
     HPE_INVALID_HEADER_TOKEN, "Invalid header token"},
    {"a bare CR in the request line", "GET /\r HTTP/1.1\r\n\r\n", HPE_INVALID_URL, "Expected CRLF"},
    {"a bare CR ending the headers (strict mode)", "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n",
     HPE_STRICT, "Expected LF after headers"},
    {"a bare LF ending a header line", "GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n",
     HPE_INVALID_HEADER_TOKEN, "Invalid header value char"},
    {"a space before the colon (strict mode)", "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
     HPE_INVALID_HEADER_TOKEN, "Invalid header token"},
    {"a tab before the colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", HPE_INVALID_HEADER_TOKEN,
     "Invalid header token"},
    {"a space before Content-Length's colon", "POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello",
     HPE_INVALID_HEADER_TOKEN, "Invalid header field char"},
    {"a space before Transfer-Encoding's colon",
     "POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
     HPE_INVALID_HEADER_TOKEN, "Invalid header field char"},
};

static void test_smuggling_refused(void **state)
{
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        const refused *r = &refusals[i];
        for (size_t step = 0; step <= 1; step++) {
            llhttp_t p;
            events ev;
            parser_init(&p, &ev);
            llhttp_errno_t err = HPE_OK;
            size_t len = strlen(r->request), n = step ? 1 : len;
            for (size_t off = 0; off < len && err == HPE_OK; off += n)
                err = llhttp_execute(&p, r->request + off, n);
            if (err != r->error || strcmp(llhttp_get_error_reason(&p), r->reason) != 0)
                fail_msg("%s (step %zu): got %s \"%s\", expected %s \"%s\"", r->what, step,
                         llhttp_errno_name(err), llhttp_get_error_reason(&p),
                         llhttp_errno_name(r->error), r->reason);
            assert_int_equal(ev.messages, 0);
            /* An error sticks: the parser refuses more input until llhttp_init/llhttp_reset. */
            assert_int_equal(llhttp_execute(&p, "GET / HTTP/1.1\r\n\r\n", 18), r->error);
        }
    }
}

/* Not refused by llhttp, even in strict mode: an obs-fold line continues the previous value as
 * a second on_header_value span (" c", the CRLF dropped) before on_header_value_complete. The
 * server must detect it itself (RFC 9112 5.2: reject with 400): a second span of one value that
 * does not start where the previous one ended, in the same buffer or across buffers. */
static void test_obs_fold_passes_through(void **state)
{
    events ev;
    assert_int_equal(parse(&ev, "GET / HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n", 0), HPE_OK);
    assert_string_equal(ev.log, "<u:/><f:X-A><v:b c>[GET 1.1]|");
    assert_int_equal(ev.messages, 1);
}

/* Returning HPE_PAUSED from on_message_complete stops llhttp_execute right after that message:
 * it returns HPE_PAUSED, llhttp_get_error_pos says where the next request starts, and after
 * llhttp_resume the rest of the buffer parses from there. This is how the server answers
 * pipelined requests in order while a handler answers late. */
static void test_pause_resume_pipelining(void **state)
{
    llhttp_t p;
    events ev;
    parser_init(&p, &ev);
    ev.pause_on_complete = 1;
    const char *buf = pipelined, *end = pipelined + strlen(pipelined);
    const char *next[] = {strstr(pipelined, "POST /b"), strstr(pipelined, "POST /c"),
                          strstr(pipelined, "GET /d"), end};
    for (int i = 0; i < 4; i++) {
        llhttp_errno_t err = llhttp_execute(&p, buf, (size_t)(end - buf));
        assert_int_equal(err, HPE_PAUSED);
        assert_int_equal(ev.messages, i + 1);
        assert_ptr_equal(llhttp_get_error_pos(&p), next[i]);
        /* Still paused: more input is refused, nothing parsed. */
        assert_int_equal(llhttp_execute(&p, buf, 1), HPE_PAUSED);
        assert_int_equal(ev.messages, i + 1);
        llhttp_resume(&p);
        assert_int_equal(llhttp_get_errno(&p), HPE_OK);
        buf = llhttp_get_error_pos(&p);
    }
    assert_string_equal(ev.log, pipelined_log);
    /* The last request was HTTP/1.0 without keep-alive: llhttp refuses anything after it. */
    assert_int_equal(llhttp_execute(&p, "GET /e HTTP/1.1\r\n\r\n", 19), HPE_CLOSED_CONNECTION);

    /* llhttp_pause from outside a callback: the next execute returns HPE_PAUSED at once. */
    parser_init(&p, &ev);
    llhttp_pause(&p);
    assert_int_equal(llhttp_execute(&p, "GET /e HTTP/1.1\r\n\r\n", 19), HPE_PAUSED);
    assert_int_equal(ev.messages, 0);
    llhttp_resume(&p);
    assert_int_equal(llhttp_execute(&p, "GET /e HTTP/1.1\r\n\r\n", 19), HPE_OK);
    assert_int_equal(ev.messages, 1);
}

/* libpotter carries llhttp under pt__ names (CMakeLists.txt's shim header), so a program that
 * links its own llhttp next to libpotter.a does not clash. */
static void test_names_are_prefixed(void **state)
{
#define PT_STR2(x) #x
#define PT_STR(x) PT_STR2(x)
    assert_string_equal(PT_STR(llhttp_execute), "pt__llhttp_execute");
    assert_string_equal(PT_STR(llhttp__internal_execute), "pt__llhttp__internal_execute");
    assert_int_equal(LLHTTP_VERSION_MAJOR, 8);
    assert_int_equal(LLHTTP_STRICT_MODE, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipelined_in_one_buffer),
        cmocka_unit_test(test_split_parses_as_whole),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_lenient_flags_off_by_default),
        cmocka_unit_test(test_smuggling_refused),
        cmocka_unit_test(test_obs_fold_passes_through),
        cmocka_unit_test(test_pause_resume_pipelining),
        cmocka_unit_test(test_names_are_prefixed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
