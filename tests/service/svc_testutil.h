/* Helpers of tests/service: a raw HTTP client and a logger that keeps records in memory. */
#ifndef SVC_TESTUTIL_H
#define SVC_TESTUTIL_H

#include <stddef.h>

#include <potter.h>

/* Connects to 127.0.0.1:port, sends raw, reads until the server closes or timeout_ms pass,
 * into a malloc'd NUL-terminated string (*out). Returns the bytes read, or a negative error
 * (-ECONNREFUSED...). */
long tu_exchange(int port, const char *raw, int timeout_ms, char **out);

/* GET path with Connection: close; extra header lines (or NULL). The response, malloc'd. */
char *tu_get(int port, const char *path, const char *headers);

/* The status code of a raw response, or -1. */
int tu_status(const char *response);

/* The body of a raw response (after the blank line), or "". */
const char *tu_body(const char *response);

/* A root logger whose records go to memory (and nowhere else). */
pt_log *tu_memlog(const char *name);
/* Waits (at most timeout_ms) until a record containing needle was written; 1 if so. */
int tu_memlog_wait(const char *needle, int timeout_ms);
/* Every record so far (malloc'd). */
char *tu_memlog_text(void);
/* How many records contain needle. */
int tu_memlog_count(const char *needle);

#endif
