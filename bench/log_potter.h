/* bench/log_potter.h: potter's side of the log benchmarks, written in C as a service would
 * write it, behind a few functions the C++ drivers call. */
#ifndef PT_BENCH_LOG_POTTER_H
#define PT_BENCH_LOG_POTTER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pt_log pt_log;

/* The three field values every benchmark record carries, on both sides. */
#define BENCH_PATH "/api/v1/users/42"
#define BENCH_STATUS 200
#define BENCH_MS 1.5

/* Makes the caller block while its ring is full, for info records (before the first record).
 * Returns 0 or a negative error. */
int bench_potter_block_when_full(void);

/* A root logger named "bench" writing to the file `path`. Returns 0 or a negative error. */
int bench_potter_open(const char *path, pt_log **out);
void bench_potter_close(pt_log *log);

/* n times: PT_INFO(log, "request done", PT_STR("path", path), PT_INT("status", 200),
 * PT_DBL("ms", 1.5)). */
void bench_potter_burst(pt_log *log, const char *path, int n);

/* pt_log_flush(timeout_ms). */
int bench_potter_flush(uint64_t timeout_ms);

/* Records dropped (all levels) and logged since start. */
void bench_potter_counts(uint64_t *logged, uint64_t *dropped);

const char *bench_potter_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
