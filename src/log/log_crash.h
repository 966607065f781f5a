/* What the log part gives the crash handler (src/crash, docs/crash.md). Everything here is
 * async-signal-safe: no malloc, no locks, no stdio; only write(2), futex wake-ups, poll(2) and
 * memory prepared beforehand. */
#ifndef PT_LOG_CRASH_H
#define PT_LOG_CRASH_H

#include <stddef.h>
#include <stdint.h>

/* Writes the records the process holds in memory to fd, oldest first, one JSON line each: the
 * flight recorder's (already formatted by pt-log), then those still waiting in the per-thread
 * rings (not yet seen by pt-log: formatted here by a small formatter of its own, marked
 * "pending":true). Returns the number of records written. Safe to call from any thread,
 * pt-log's included; what other threads write meanwhile may be cut or left out. */
size_t pt__log_crash_dump(int fd);

/* Step 2 of the crash path: line[0..len) is a complete fatal record (one JSON line with its
 * newline, formatted by the crash handler). It goes to every sink of every logger and each
 * sink is flushed, at most timeout_ms: pt-log is woken and does it, while the caller waits
 * with poll(2). When the caller is pt-log itself, or pt-log does not answer in time, or
 * timeout_ms is 0 (the crash watchdog's last resort), the line is written straight to the
 * descriptors of the file and stderr sinks. Returns 0 when every
 * sink took it, -ETIMEDOUT otherwise. Once per process: later calls return -EALREADY. */
int pt__log_crash_fatal(const char *line, size_t len, uint64_t timeout_ms);

/* The process's identity as the records carry it ("name":"...","hostname":"...","pid":N),
 * for the crash handler's own fatal line: the default logger's name, the host, the pid at
 * the last fork. Written into buf (NUL-terminated); returns the length, or 0 if it does not
 * fit. */
size_t pt__log_crash_identity(char *buf, size_t len);

#endif
