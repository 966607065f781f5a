/* What src/http/server.c (connections, parsing, dispatch) and src/http/response.c (writing
 * responses, streamed or whole, the cross-thread hand-off) share. Private to those two files. */
#ifndef PT_HTTP_SERVER_INTERNAL_H
#define PT_HTTP_SERVER_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdalign.h>
#include <stdint.h>
#include <time.h>

#include <llhttp.h>
#include <uv.h>

#include "http/server.h"

#define READ_BUF_SIZE 65536

typedef enum {
    CONN_IDLE, /* waiting for the first byte of a request */
    CONN_HEADERS, /* reading the request line and headers */
    CONN_BODY, /* reading the body */
    CONN_HANDLER, /* a handler owes the response, or it is being written */
    CONN_CLOSING, /* final response written or being written; draining then closing */
} conn_state;

typedef struct {
    uint32_t name_off, name_len, value_off, value_len;
    uint32_t hash; /* of the name, once conn.nhashed passed it */
} header_span;

typedef struct conn conn;
struct handoff;

/* The cross-thread hand-off, shared by the server and by every connection whose handler still
 * owes its answer after the connection closed: it outlives the server, so that an answer given
 * from another thread after the server closed still finds a lock to take. */
typedef struct {
    pthread_mutex_t lock;
    uv_async_t *wake; /* the server's; NULL once the server has closed it */
    struct handoff *queue; /* newest first */
    unsigned refs;
} handoff_hub;

struct pt__http_response {
    conn *c;
    int begun; /* the begin hook ran for this request */
    char sticky[192]; /* pt__http_response_sticky_header(): in every answer's head */
    size_t sticky_len;
    int ended; /* the end hook ran for it */
    char *headers; /* "Name: value\r\n"... */
    size_t headers_len, headers_cap;
    int given;
    /* A streamed response (pt__http_stream_begin): its status, 0 when none began. */
    int stream_status;
    int stream_ended; /* pt__http_stream_end was called */
    int stream_chunked; /* HTTP/1.1: chunked framing; else the close ends the body */
    int stream_head; /* a HEAD request: no body goes out */
    int stream_close; /* the headers said Connection: close */
    size_t stream_bytes; /* bytes queued for it so far, headers included */
};

struct conn {
    union { /* first: the handle's pointer is the connection's */
        uv_tcp_t tcp;
        uv_pipe_t pipe; /* a unix socket server's (the listener's type decides) */
    };
    uv_timer_t timer;
    pt__http_server *server; /* dangling once detached */
    handoff_hub *hub;
    void (*release)(pt__http_response *res); /* the hooks' release: outlives the server */
    size_t ext_size; /* the hooks' ext_size, for release to reach ext after the server is gone */
    conn *prev, *next;
    llhttp_t parser;
    conn_state state;
    int closed_handles; /* 0..2: tcp and timer closed */
    int closing; /* uv_close called */
    int reject; /* over max_connections: answer 503 */
    int error_status; /* set by a callback that refused the request */
    int keep_alive;
    int writing;
    int owed; /* a handler owes the response */
    int timed_out; /* ... and missed its deadline: 503 given, its answer will be dropped */
    int detached; /* closed while owed: out of the server's list, freed by the late answer */
    /* The request being read: URL and headers in head, body in body. */
    char *head;
    size_t head_len;
    size_t head_raw; /* bytes of inputs read whole while still in the head */
    size_t url_len;
    header_span headers[PT__HTTP_MAX_HEADERS];
    unsigned nheaders;
    unsigned nhashed; /* headers[0..nhashed) have their hash (pt__http_request_headers_find) */
    int last_span; /* 'u', 'f', 'v' or 0 */
    const char *value_end; /* where the last header value span ended, to spot obs-fold */
    int value_at_end; /* ... and that was the end of the previous input */
    const char *input; /* the start of the input being parsed */
    char *body;
    size_t body_len, body_cap;
    int message_done;
    int reading; /* on_read is started */
    int eof; /* the client half-closed while its request was answered */
    /* Input left after a paused message (pipelined requests). */
    char *pending;
    size_t pending_len;
    pt__router_match match;
    uint64_t bytes_read, bytes_counted; /* all input, and what earlier requests were given */
    struct sockaddr_storage peer;
    char peer_host[48]; /* peer's address as text (INET6_ADDRSTRLEN is 46), made at accept */
    size_t peer_host_len;
    char peer_port_text[8]; /* its port's decimal digits, made with peer_host */
    size_t peer_port_text_len;
    int peer_uid; /* a unix socket client's (SO_PEERCRED), else -1 */
    pt__http_request req;
    pt__http_response res;
    _Alignas(max_align_t) char ext[]; /* pt__http_hooks.ext_size */
};

struct pt__http_server {
    union {
        uv_tcp_t listener;
        uv_pipe_t listener_pipe; /* pt__http_server_listen_unix() */
    };
    int listener_made; /* the listener handle was initialised (by listen, open or listen_unix) */
    uv_loop_t *loop;
    const pt__router *router;
    pt__http_hooks hooks;
    int listening;
    pt__http_limits limits;
    conn *conns;
    unsigned nconns;
    int listener_closed;
    /* Responses given from other threads (pt__http_respond_from_any_thread), applied on the
     * loop's thread by handoff_wake. */
    uv_async_t handoff_wake;
    handoff_hub *hub;
    uint64_t handler_timeouts;
    int closing;
    int finishing; /* the hand-off is being closed */
    void (*close_cb)(pt__http_server *s, void *arg);
    void *close_arg;
    time_t date_sec;
    char date[32]; /* "Sun, 06 Nov 1994 08:49:37 GMT" */
    char read_buf[READ_BUF_SIZE];
};

typedef struct {
    uv_write_t req;
    conn *c;
    int last; /* the connection closes after this write */
    char data[];
} write_req;

/* ---- server.c ---- */

/* Closes the connection now (idempotent). A handler that still owes the response keeps req and
 * res: the connection is then detached, and freed by the late answer. */
void pt__http_conn_close(conn *c);

/* uv_write's callback for every response: goes on with the next request, or lingers and
 * closes after the last one. */
void pt__http_conn_on_write(uv_write_t *w, int status);

/* libuv's connection callback of every server's listener (server.c). */
void pt__http_on_connection(uv_stream_t *listener, int status);

/* Ends a closing server once its listener and its last connection are closed (listen.c). */
void pt__http_server_maybe_finish(pt__http_server *s);

/* The final response of the current request was queued (or, for a stream, ended): calls the
 * end hook, once per request. */
void pt__http_conn_finished(conn *c, int status, size_t bytes_out);

/* ---- response.c ---- */

/* Serializes and writes a response. extra: more header lines ("Allow: ...\r\n") or NULL; the
 * body is sent when send_body; last: Connection: close, and the connection closes after.
 * Returns 0, -ENOMEM or a libuv error (the caller closes the connection). */
int pt__http_conn_write(conn *c, int status, const char *extra, size_t extra_len, const char *body,
                        size_t body_len, int send_body, int last);

void pt__http_hub_ref(handoff_hub *hub);
/* Drops a reference; the last one frees the hub. Any thread. */
void pt__http_hub_unref(handoff_hub *hub);

/* Frees a connection's memory (its handles are closed). */
void pt__http_conn_free(conn *c);

/* Frees a detached connection and drops its hub reference, on whichever thread answered. */
void pt__http_conn_release(conn *c);

/* Takes the queued hand-offs, oldest last; with closing, also marks the hand-off closed, after
 * which other threads drop their answers themselves. */
struct handoff *pt__http_handoff_take(handoff_hub *hub, int closing);

/* Gives the responses in list (as pt__http_handoff_take returned it) in the order other
 * threads gave them, and frees the list. On the loop's thread. */
void pt__http_handoff_apply(struct handoff *list);

/* The hand-off's uv_async_t callback. */
void pt__http_on_handoff(uv_async_t *a);

#endif
