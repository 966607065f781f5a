/* bench/log_file.cc: how fast the background writer gets records into a file, potter against
 * spdlog's async logger.
 *
 * Figures (DESIGN.md, "Tests and benchmarks"):
 *   log.file_records_per_s   records/s, from the first call until every record is in the file
 *   log.file_bytes_per_s     the same in bytes of JSON lines
 *
 * One thread logs N records (PT_BENCH_LOG_RECORDS, default 2,000,000) as fast as it can, each
 * PT_INFO(log, "request done", PT_STR("path", p), PT_INT("status", 200), PT_DBL("ms", 1.5)),
 * with the block policy on both sides (potter: pt_log_set_full_policy(PT_LOG_INFO, -1);
 * spdlog: async_overflow_policy::block), so the caller waits whenever its ring or queue is
 * full and the rate is the writer's. The clock stops when pt_log_flush() returns for potter,
 * and for spdlog when its worker thread has been joined and the file closed. Each run writes a
 * fresh file in a scratch folder (removed after the run). After an untimed warm-up run of
 * N/20 records each, runs alternate, RUNS of each; a
 * figure is the median, and the per-run values are printed first.
 */
#include <sys/stat.h>

#include <cinttypes>
#include <string>
#include <vector>

#include "bench_util.h"
#include "log_potter.h"
#include "log_spdlog.h"

namespace
{

const int RUNS = 3;
const size_t SPDLOG_QUEUE = 8192;

struct run {
    double seconds = 0;
    bench::file_stats file;
};

run potter_run(const std::string &path, uint64_t n)
{
    run r;
    pt_log *log;
    int err = bench_potter_open(path.c_str(), &log);
    if (err < 0) {
        fprintf(stderr, "log_file: potter logger on %s: %s\n", path.c_str(),
                bench_potter_strerror(err));
        exit(1);
    }
    uint64_t t0 = bench::mono_ns();
    for (uint64_t i = 0; i < n; i += 16)
        bench_potter_burst(log, BENCH_PATH, (int)std::min<uint64_t>(16, n - i));
    err = bench_potter_flush(120000);
    uint64_t t1 = bench::mono_ns();
    if (err < 0)
        printf("# log.file WARNING: pt_log_flush: %s\n", bench_potter_strerror(err));
    bench_potter_close(log);
    r.seconds = (double)(t1 - t0) / 1e9;
    r.file = bench::count_file(path);
    return r;
}

run spdlog_run(const std::string &path, uint64_t n)
{
    run r;
    bench::spdlog_side sp(path, SPDLOG_QUEUE, spdlog::async_overflow_policy::block);
    spdlog::async_logger *lg = sp.logger.get();
    uint64_t t0 = bench::mono_ns();
    for (uint64_t i = 0; i < n; i += 16)
        bench::spdlog_burst(lg, BENCH_PATH, (int)std::min<uint64_t>(16, n - i));
    sp.close();
    uint64_t t1 = bench::mono_ns();
    r.seconds = (double)(t1 - t0) / 1e9;
    r.file = bench::count_file(path);
    return r;
}

} // namespace

int main()
{
    uint64_t n = 2000000;
    if (const char *e = getenv("PT_BENCH_LOG_RECORDS"))
        n = strtoull(e, nullptr, 10);

    int err = bench_potter_block_when_full();
    if (err < 0) {
        fprintf(stderr, "log_file: pt_log_set_full_policy: %s\n", bench_potter_strerror(err));
        return 1;
    }

    bench::scratch dir;
    bench::machine_load load;
    std::vector<double> prec, srec, pbytes, sbytes;
    double pline = 0, sline = 0;
    std::string pfirst, sfirst;
    bool lost = false;
    /* An untimed short run of each first: page cache, file system and allocator warm-up. */
    potter_run(dir.path("potter.log"), n / 20);
    unlink(dir.path("potter.log").c_str());
    spdlog_run(dir.path("spdlog.log"), n / 20);
    unlink(dir.path("spdlog.log").c_str());
    for (int i = 0; i < RUNS; i++) {
        for (int k = 0; k < 2; k++) {
            bool potter = (i + k) % 2 == 0;
            std::string path = dir.path(potter ? "potter.log" : "spdlog.log");
            run r = potter ? potter_run(path, n) : spdlog_run(path, n);
            if (r.file.lines != n) {
                printf("# log.file WARNING: %s wrote %" PRIu64 " lines, expected %" PRIu64 "\n",
                       potter ? "potter" : "spdlog", r.file.lines, n);
                lost = true;
            }
            double lines = r.file.lines ? (double)r.file.lines : 1.0;
            (potter ? prec : srec).push_back((double)n / r.seconds);
            (potter ? pbytes : sbytes).push_back((double)r.file.bytes / r.seconds);
            (potter ? pline : sline) = (double)r.file.bytes / lines;
            if (i == 0)
                (potter ? pfirst : sfirst) = bench::first_line(path);
            unlink(path.c_str());
        }
    }

    printf("# log.file load: %" PRIu64 " records from 1 thread as fast as possible, block "
           "policy both sides, timed until flushed (potter: pt_log_flush returns; spdlog: "
           "worker joined, file closed); %d runs each, alternating\n",
           n, RUNS);
    printf("# log.file machine: other processes used %.0f%% of the CPUs during the runs "
           "(load average %s)\n",
           load.others_pct(), bench::loadavg().c_str());
    printf("# log.file peer: spdlog %d.%d.%d async_logger, own thread pool (1 worker, queue %zu "
           "items, block), basic_file_sink_mt\n",
           SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH, SPDLOG_QUEUE);
    printf("# log.file line size: potter %.1f B/line, spdlog %.1f B/line%s\n", pline, sline,
           lost ? " (WARNING: records lost, see above)" : "");
    printf("# log.file potter line: %s\n", pfirst.c_str());
    printf("# log.file spdlog line: %s\n", sfirst.c_str());
    printf("# log.file_records_per_s runs: potter %s | spdlog-async %s\n",
           bench::runs_text(prec, "%.0f").c_str(), bench::runs_text(srec, "%.0f").c_str());
    printf("# log.file_bytes_per_s runs: potter %s | spdlog-async %s\n",
           bench::runs_text(pbytes, "%.0f").c_str(), bench::runs_text(sbytes, "%.0f").c_str());
    double pr = bench::median(prec), sr = bench::median(srec);
    double pb = bench::median(pbytes), sb = bench::median(sbytes);
    printf("bench log.file_records_per_s %.0f rec/s vs spdlog-async %.0f rec/s ratio %s\n", pr, sr,
           bench::ratio_text(pr, sr).c_str());
    printf("bench log.file_bytes_per_s %.0f B/s vs spdlog-async %.0f B/s ratio %s\n", pb, sb,
           bench::ratio_text(pb, sb).c_str());
    return 0;
}
