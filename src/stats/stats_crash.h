/* What the stats part gives the crash handler (src/crash, docs/crash.md). */
#ifndef PT_STATS_CRASH_H
#define PT_STATS_CRASH_H

/* Counts the crash: sends "<prefix><service>.<host>.crashes:1|c" (and, with DogStatsD tags,
 * as the registry would) to the statsd address of every live pt_stats, with sendto(2) on their
 * sockets. Async-signal-safe (the datagrams are formatted when the stats part starts and
 * whenever its address changes). Returns how many datagrams were sent. */
int pt__stats_crash_send(void);

#endif
