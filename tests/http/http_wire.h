/* What the HTTP server tests of tests/http say on the wire: a client socket on 127.0.0.1 with
 * read and write timeouts, sending whole strings, reading n bytes, and comparing responses
 * with their Date values masked. Failures are cmocka failures. */
#ifndef HTTP_WIRE_H
#define HTTP_WIRE_H

#include <stddef.h>

#define RECV_TIMEOUT_MS 3000
#define DATE_LEN 28 /* a real Date value is this much longer than "D" */

/* A socket connected to 127.0.0.1:port, reads and writes timing out after RECV_TIMEOUT_MS. */
int wire_connect(int port);

void send_all(int fd, const char *s, size_t n);
void send_str(int fd, const char *s);

/* Reads until n bytes came, the peer closed or the timeout; returns the count, buf NUL-ended
 * (buf holds n + 1 bytes). */
size_t recv_n(int fd, char *buf, size_t n);

/* True when the peer closed (EOF or reset) within the timeout, with nothing more to read. */
int closed_by_peer(int fd);

/* Every "Date: <29 chars>" becomes "Date: D" after checking its shape. */
void mask_dates(char *s);

/* Sends req (when not NULL), expects exactly want (Date masked) in return, `responses` of them;
 * returns the number of bytes read, real Date values included. */
size_t exchange(int fd, const char *req, const char *want, int responses);

#endif
