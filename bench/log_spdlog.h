/* bench/log_spdlog.h: the peer's side of the log benchmarks, spdlog's async logger (Debian's
 * libspdlog 1.10 with fmt 9) writing to a basic_file_sink_mt through its own thread pool of
 * one worker thread.
 *
 * Its records are JSON lines shaped like potter's bunyan records, so both write lines of
 * about the same size: the pattern supplies the core fields, the caller formats the message
 * and the three fields with fmt:
 *
 *   {"v":0,"level":30,"name":"bench","hostname":"h","pid":1,"time":"2026-01-02T03:04:05.678Z",
 *    "msg":"request done","path":"/api/v1/users/42","status":200,"ms":1.5}
 *
 * spdlog escapes nothing (potter escapes strings for JSON): the values here need no escaping. */
#ifndef PT_BENCH_LOG_SPDLOG_H
#define PT_BENCH_LOG_SPDLOG_H

#include <memory>
#include <string>

#include <spdlog/async.h>
#include <spdlog/async_logger.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "log_potter.h"

namespace bench
{

struct spdlog_side {
    std::shared_ptr<spdlog::details::thread_pool> pool;
    std::shared_ptr<spdlog::async_logger> logger;

    spdlog_side(const std::string &path, size_t queue_items, spdlog::async_overflow_policy policy)
    {
        char host[256] = "localhost";
        gethostname(host, sizeof host - 1);
        pool = std::make_shared<spdlog::details::thread_pool>(queue_items, 1);
        auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, true);
        logger = std::make_shared<spdlog::async_logger>("bench", sink, pool, policy);
        logger->set_pattern(
            std::string("{\"v\":0,\"level\":30,\"name\":\"bench\",\"hostname\":\"") + host +
                "\",\"pid\":%P,\"time\":\"%Y-%m-%dT%H:%M:%S.%eZ\",%v}",
            spdlog::pattern_time_type::utc);
        logger->set_level(spdlog::level::info);
    }

    /* Waits until the worker has taken every queued record (not necessarily written the
     * last one), for the quiet gap between benchmark rounds. */
    void drain()
    {
        while (pool->queue_size() > 0)
            usleep(1000);
        usleep(2000);
    }

    size_t overruns()
    {
        return pool->overrun_counter();
    }

    /* Releases the logger and joins the worker: every queued record is written and the file
     * closed when this returns. */
    void close()
    {
        logger.reset();
        pool.reset();
    }
};

__attribute__((noinline)) static void spdlog_burst(spdlog::async_logger *lg, const char *path,
                                                   int n)
{
    for (int i = 0; i < n; i++)
        lg->info("\"msg\":\"request done\",\"path\":\"{}\",\"status\":{},\"ms\":{}", path,
                 BENCH_STATUS, BENCH_MS);
}

} // namespace bench

#endif
