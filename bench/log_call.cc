/* bench/log_call.cc: what one log call costs the calling thread, potter against spdlog's
 * async logger.
 *
 * Figures (DESIGN.md, "Tests and benchmarks"):
 *   log.call_p50_1t, log.call_p99_1t   ns per call, one calling thread
 *   log.call_p50_2t, log.call_p99_2t   ns per call, two calling threads at once
 *   log.caller_allocs                  heap allocations per call on the calling threads
 *
 * The call: PT_INFO(log, "request done", PT_STR("path", p), PT_INT("status", 200),
 * PT_DBL("ms", 1.5)) against logger->info(<message and the same three values>), both loggers
 * writing to a file in a scratch folder from their background threads.
 *
 * Load pattern: each calling thread makes bursts of BURST calls, timed as a whole with the
 * cycle counter (a timer pair costs about 20 ns, so a burst spreads it to about 1 ns a call;
 * it is not subtracted), then sleeps PAUSE_US so that the background writers keep up and
 * neither the rings nor spdlog's queue ever fill (checked: drops and overruns must stay 0).
 * A sample is the mean cost of a call within one burst; p50 and p99 are taken over the
 * bursts of a round. A round is WARMUP untimed bursts then BURSTS timed ones, per thread.
 * Rounds alternate potter and spdlog (the order flips each time), ROUNDS of each per thread
 * count; a figure is the median over rounds, and the per-round values are printed first.
 *
 * Heap calls are counted per thread by interposing malloc (alloc_count.c), over the timed
 * bursts only.
 */
#include <pthread.h>

#include <cinttypes>
#include <string>
#include <vector>

#include "alloc_count.h"
#include "bench_util.h"
#include "log_potter.h"
#include "log_spdlog.h"

namespace
{

const int BURST = 16;
const int PAUSE_US = 50;
const int WARMUP = 200;
const int BURSTS = 3000;
const int ROUNDS = 7;
const int MAX_THREADS = 2;
const size_t SPDLOG_QUEUE = 8192;

enum impl { POTTER, SPDLOG };

struct thread_result {
    std::vector<uint64_t> samples; /* ticks per burst */
    uint64_t allocs = 0, frees = 0, calls = 0;
    uint64_t loop_ticks = 0; /* the whole timed loop, pauses included */
};

struct shared_state {
    pthread_barrier_t start, done;
    int impl = POTTER;
    int nthreads = 0;
    bool quit = false;
    pt_log *plog = nullptr;
    spdlog::async_logger *slog = nullptr;
    thread_result results[MAX_THREADS];
};

shared_state g;

void burst(int which)
{
    if (which == POTTER)
        bench_potter_burst(g.plog, BENCH_PATH, BURST);
    else
        bench::spdlog_burst(g.slog, BENCH_PATH, BURST);
}

void run_round(thread_result &r, int which)
{
    for (int b = 0; b < WARMUP; b++) {
        burst(which);
        bench::sleep_ns(PAUSE_US * 1000L);
    }
    r.samples.assign(BURSTS, 0); /* allocated before counting starts */
    pt_bench_heap_counts before = pt_bench_heap_counts_get();
    uint64_t start = bench::ticks();
    for (int b = 0; b < BURSTS; b++) {
        uint64_t t0 = bench::ticks();
        burst(which);
        uint64_t t1 = bench::ticks();
        r.samples[b] = t1 - t0;
        bench::sleep_ns(PAUSE_US * 1000L);
    }
    r.loop_ticks = bench::ticks() - start;
    pt_bench_heap_counts after = pt_bench_heap_counts_get();
    r.allocs = after.allocs - before.allocs;
    r.frees = after.frees - before.frees;
    r.calls = (uint64_t)BURSTS * BURST;
}

void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (;;) {
        pthread_barrier_wait(&g.start);
        if (g.quit)
            return nullptr;
        if (id < g.nthreads)
            run_round(g.results[id], g.impl);
        pthread_barrier_wait(&g.done);
    }
}

struct figures {
    std::vector<double> p50[MAX_THREADS + 1], p99[MAX_THREADS + 1];
    uint64_t allocs = 0, frees = 0, calls = 0;
    uint64_t total_calls = 0; /* warm-up included: what the file must hold */
    uint64_t loop_ticks = 0, bursts = 0;
};

} // namespace

int main()
{
    double ns_tick = bench::ns_per_tick();
    bench::scratch dir;
    std::string ppath = dir.path("potter.log"), spath = dir.path("spdlog.log");

    int err = bench_potter_open(ppath.c_str(), &g.plog);
    if (err < 0) {
        fprintf(stderr, "log_call: potter logger on %s: %s\n", ppath.c_str(),
                bench_potter_strerror(err));
        return 1;
    }
    bench::spdlog_side sp(spath, SPDLOG_QUEUE, spdlog::async_overflow_policy::overrun_oldest);
    g.slog = sp.logger.get();

    pthread_barrier_init(&g.start, nullptr, MAX_THREADS + 1);
    pthread_barrier_init(&g.done, nullptr, MAX_THREADS + 1);
    pthread_t th[MAX_THREADS];
    for (int i = 0; i < MAX_THREADS; i++)
        pthread_create(&th[i], nullptr, worker, (void *)(intptr_t)i);

    uint64_t p_logged0, p_dropped0;
    bench_potter_counts(&p_logged0, &p_dropped0);

    figures fig[2];
    bench::machine_load load;
    uint64_t t_start = bench::mono_ns();
    for (int round = 0; round < ROUNDS; round++) {
        for (int nt = 1; nt <= MAX_THREADS; nt++) {
            for (int k = 0; k < 2; k++) {
                int which = (round + k) % 2 == 0 ? POTTER : SPDLOG;
                g.impl = which;
                g.nthreads = nt;
                pthread_barrier_wait(&g.start);
                pthread_barrier_wait(&g.done);

                std::vector<uint64_t> all;
                figures &f = fig[which];
                for (int i = 0; i < nt; i++) {
                    thread_result &r = g.results[i];
                    all.insert(all.end(), r.samples.begin(), r.samples.end());
                    f.allocs += r.allocs;
                    f.frees += r.frees;
                    f.calls += r.calls;
                    f.total_calls += r.calls + (uint64_t)WARMUP * BURST;
                    f.loop_ticks += r.loop_ticks;
                    f.bursts += BURSTS;
                }
                f.p50[nt].push_back(bench::quantile(all, 0.50) * ns_tick / BURST);
                f.p99[nt].push_back(bench::quantile(all, 0.99) * ns_tick / BURST);

                /* A quiet gap, so that one logger's backlog never runs into the other's round. */
                if (which == POTTER)
                    bench_potter_flush(10000);
                else
                    sp.drain();
            }
        }
    }
    double elapsed_s = (double)(bench::mono_ns() - t_start) / 1e9;
    double others_pct = load.others_pct();

    g.quit = true;
    pthread_barrier_wait(&g.start);
    for (int i = 0; i < MAX_THREADS; i++)
        pthread_join(th[i], nullptr);

    uint64_t p_logged1, p_dropped1;
    err = bench_potter_flush(10000);
    bench_potter_counts(&p_logged1, &p_dropped1);
    size_t s_overruns = sp.overruns();
    bench_potter_close(g.plog);
    sp.close();
    bench::file_stats pf = bench::count_file(ppath), sf = bench::count_file(spath);

    const figures &P = fig[POTTER], &S = fig[SPDLOG];
    printf("# log.call load: bursts of %d calls timed as one (rdtsc+lfence, %.3f ns/tick, timer "
           "pair not subtracted), nanosleep(%d us) between bursts, %d warm-up + %d timed bursts "
           "per thread per round, %d rounds per logger per thread count, alternating; "
           "%.1f s in all\n",
           BURST, ns_tick, PAUSE_US, WARMUP, BURSTS, ROUNDS, elapsed_s);
    for (int which = POTTER; which <= SPDLOG; which++) {
        double period_us =
            (double)fig[which].loop_ticks * ns_tick / 1e3 / (double)fig[which].bursts;
        printf("# log.call load %s: one burst every %.1f us per thread on average, about %.0f "
               "records/s per calling thread\n",
               which == POTTER ? "potter" : "spdlog", period_us, BURST * 1e6 / period_us);
    }
    printf("# log.call machine: other processes used %.0f%% of the CPUs during the rounds "
           "(load average %s)\n",
           others_pct, bench::loadavg().c_str());
    printf("# log.call peer: spdlog %d.%d.%d async_logger, own thread pool (1 worker, queue %zu "
           "items, overrun_oldest), basic_file_sink_mt\n",
           SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH, SPDLOG_QUEUE);
    printf("# log.call files: potter %" PRIu64 " lines (%.0f B/line), spdlog %" PRIu64
           " lines (%.0f B/line), expected %" PRIu64 " each; potter drops %" PRIu64
           ", spdlog overruns %zu; potter flush %s\n",
           pf.lines, pf.lines ? (double)pf.bytes / pf.lines : 0.0, sf.lines,
           sf.lines ? (double)sf.bytes / sf.lines : 0.0, P.total_calls, p_dropped1 - p_dropped0,
           s_overruns, err < 0 ? bench_potter_strerror(err) : "ok");
    if (pf.lines != P.total_calls || sf.lines != S.total_calls || p_dropped1 != p_dropped0 ||
        s_overruns != 0)
        printf("# log.call WARNING: a logger lost records or a queue filled; the figures below "
               "do not measure the intended load\n");
    printf("# log.call potter line: %s\n", bench::first_line(ppath).c_str());
    printf("# log.call spdlog line: %s\n", bench::first_line(spath).c_str());
    printf("# log.caller_allocs heap calls on the calling threads over %" PRIu64
           " timed calls each: potter %" PRIu64 " allocs %" PRIu64 " frees, spdlog %" PRIu64
           " allocs %" PRIu64 " frees\n",
           P.calls, P.allocs, P.frees, S.allocs, S.frees);
    for (int nt = 1; nt <= MAX_THREADS; nt++) {
        printf("# log.call_p50_%dt runs (ns): potter %s | spdlog-async %s\n", nt,
               bench::runs_text(P.p50[nt]).c_str(), bench::runs_text(S.p50[nt]).c_str());
        printf("# log.call_p99_%dt runs (ns): potter %s | spdlog-async %s\n", nt,
               bench::runs_text(P.p99[nt]).c_str(), bench::runs_text(S.p99[nt]).c_str());
    }
    for (int nt = 1; nt <= MAX_THREADS; nt++) {
        double pp50 = bench::median(P.p50[nt]), sp50 = bench::median(S.p50[nt]);
        double pp99 = bench::median(P.p99[nt]), sp99 = bench::median(S.p99[nt]);
        printf("bench log.call_p50_%dt %.1f ns vs spdlog-async %.1f ns ratio %s\n", nt, pp50, sp50,
               bench::ratio_text(sp50, pp50).c_str());
        printf("bench log.call_p99_%dt %.1f ns vs spdlog-async %.1f ns ratio %s\n", nt, pp99, sp99,
               bench::ratio_text(sp99, pp99).c_str());
    }
    double pa = (double)P.allocs / (double)P.calls, sa = (double)S.allocs / (double)S.calls;
    printf("bench log.caller_allocs %.3f allocs/call vs spdlog-async %.3f allocs/call ratio %s\n",
           pa, sa, bench::ratio_text(sa, pa).c_str());
    return 0;
}
