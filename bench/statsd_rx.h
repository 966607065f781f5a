/* bench/statsd_rx.h: a statsd receiver for the stats benchmarks, in a child process so that
 * its CPU is not the benchmark's. It drains a UDP socket on 127.0.0.1, parses every line
 * "<...>.<kind>.<index>:<value>|<type>[|@<rate>]" and keeps totals per kind, which the parent
 * asks for over a pipe. Kinds: 'c' counters (|c), 'g' gauges (|g), 't' timers (|ms) and 'x'
 * (anything used to synchronise, counted apart).
 *
 *     rx_start();                                   // first, before any thread is started
 *     ... send to 127.0.0.1:rx_port() ...
 *     rx_totals t;
 *     if (!rx_wait(&t, done, &want))                // until done(), or nothing moves for 300 ms
 *         ... datagrams were lost ...
 *     rx_stop();
 */
#ifndef PT_BENCH_STATSD_RX_H
#define PT_BENCH_STATSD_RX_H

#include <stdint.h>

#define RX_MAX 16384 /* metric indices the receiver tells apart, per kind */

typedef struct rx_totals {
    uint64_t datagrams, bytes, lines, bad; /* bad: lines it could not parse */
    uint64_t c_lines, g_lines, ms_lines, ms_rated, x_lines; /* ms_rated: with @rate < 1 */
    uint64_t c_sum; /* the values of every |c line */
    double ms_count; /* statsd's count of timer samples: the sum of 1/rate */
    uint64_t c_distinct, g_distinct, t_distinct; /* indices seen */
    double g_last_sum; /* the sum of each gauge's last value */
} rx_totals;

/* Binds the socket (SO_RCVBUF 4 MiB asked) and forks the receiver; exits on failure. Call
 * before any thread is started (fork). */
void rx_start(void);
unsigned rx_port(void);
int rx_rcvbuf(void); /* the buffer the kernel gave, in bytes */

/* The totals so far (everything queued on the socket is parsed first). */
void rx_query(rx_totals *t);
/* Forgets the totals: the next ones count from here. */
void rx_reset(void);

typedef int (*rx_done_fn)(const rx_totals *t, const void *want);
/* Asks for the totals until done(t, want), or until they have not moved for 300 ms
 * (datagrams were lost). Returns done's verdict; t holds the last totals. */
int rx_wait(rx_totals *t, rx_done_fn done, const void *want);

/* The receiver's CPU time so far (user + sys), in clock ticks. */
uint64_t rx_cpu_ticks(void);

/* Ends the receiver and waits for it. */
void rx_stop(void);

#endif
