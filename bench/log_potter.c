/* bench/log_potter.c: see log_potter.h. */
#include "log_potter.h"

#include "potter/log.h"

int bench_potter_block_when_full(void)
{
    return pt_log_set_full_policy(PT_LOG_INFO, -1);
}

int bench_potter_open(const char *path, pt_log **out)
{
    pt_log *log;
    int err = pt_log_new("bench", &log);
    if (err < 0)
        return err;
    err = pt_log_add_file(log, path, NULL, NULL);
    if (err < 0) {
        pt_log_free(log);
        return err;
    }
    *out = log;
    return 0;
}

void bench_potter_close(pt_log *log)
{
    pt_log_free(log);
}

__attribute__((noinline)) void bench_potter_burst(pt_log *log, const char *path, int n)
{
    for (int i = 0; i < n; i++)
        PT_INFO(log, "request done", PT_STR("path", path), PT_INT("status", BENCH_STATUS),
                PT_DBL("ms", BENCH_MS));
}

int bench_potter_flush(uint64_t timeout_ms)
{
    return pt_log_flush(timeout_ms);
}

void bench_potter_counts(uint64_t *logged, uint64_t *dropped)
{
    pt_log_counters c;
    pt_log_counters_get(&c);
    *logged = 0;
    *dropped = 0;
    for (int i = 0; i < PT_LOG_NLEVELS; i++) {
        *logged += c.logged[i];
        *dropped += c.dropped[i];
    }
}

const char *bench_potter_strerror(int err)
{
    return pt_strerror(err);
}
