/* loop_internal.h: the loop watchers of loop.c, as the registry's end needs them. */
#ifndef PT_STATS_LOOP_INTERNAL_H
#define PT_STATS_LOOP_INTERNAL_H

#include "potter/stats.h"

/* Cuts every loop watcher of `stats` off it, from any thread: once this returns, no watcher
 * touches stats again. Each watcher then closes its own timer on its loop's thread, at its
 * next tick (at once when called on that thread). pt_stats_free() calls it first, holding
 * no lock of stats. */
void pt__stats_loops_detach(pt_stats *stats);

#endif /* PT_STATS_LOOP_INTERNAL_H */
