/* A small HTTP/1.1 client for the control port's tests: one request per connection
 * (Connection: close), over TCP on 127.0.0.1 or a unix socket, 5 s timeouts. Failures are
 * cmocka failures. */
#ifndef CTL_CLIENT_H
#define CTL_CLIENT_H

typedef struct {
    int status;
    char head[4096]; /* status line and headers */
    char *body;      /* malloc'd, NUL-terminated */
} reply;

int connect_tcp(int port);
int connect_unix(const char *path);

/* Sends `method path` with headers (lines "K: V\r\n", or NULL; a Host: 127.0.0.1 is added
 * unless they name one) and body (or NULL) on fd, reads the answer, closes fd. */
reply call_fd(int fd, const char *method, const char *path, const char *headers,
              const char *body);

void reply_free(reply *r);

#endif
