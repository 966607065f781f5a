/* A profile (internal to the prof part; docs/prof.md): samples keyed by stack, then resolved
 * to source lines and written as pprof's profile.proto (gzip), folded stacks, or an SVG flame
 * graph.
 *
 *     static const pt__profile_type types[] = {{"samples", "count"}, {"cpu", "nanoseconds"}};
 *     pt__profile *p = pt__profile_new(types, 2, (pt__profile_type){"cpu", "nanoseconds"},
 *                                      10101010);
 *     int64_t v[2] = {1, 10101010};
 *     pt__profile_add(p, pcs, depth, v, "pt-http0");   // equal stacks (and threads) add up
 *     pt__profile_resolve(p, resolve, arg, module, arg); // e.g. with pt__symbolize()
 *     pt__profile_pprof(p, &gz, &len);                  // go tool pprof reads it
 *     pt__profile_free(p);
 */
#ifndef PT_PROF_PROFILE_H
#define PT_PROF_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "prof/stack.h"

typedef struct {
    const char *type; /* "samples", "cpu", "alloc_space", ... */
    const char *unit; /* "count", "nanoseconds", "bytes", ... */
} pt__profile_type;

/* Not thread-safe: one user at a time (the profiler's thread, then pt-work). */
typedef struct pt__profile pt__profile;

/* A new, empty profile whose samples carry nvalues values each (1..8), of the given types;
 * period_type and period as pprof's fields (e.g. cpu/nanoseconds and 1e9 / hz). Strings are
 * copied. NULL when out of memory. */
pt__profile *pt__profile_new(const pt__profile_type *types, size_t nvalues,
                             pt__profile_type period_type, int64_t period);
void pt__profile_free(pt__profile *p);

/* When the profile started (wall clock, ns since the epoch) and how long it ran. */
void pt__profile_set_time(pt__profile *p, int64_t time_ns, int64_t duration_ns);

/* Adds a sample: pcs[0..depth) leaf first (pcs[0] the exact pc, the rest return addresses, as
 * pt__stack_walk() gives them), values[0..nvalues), thread the name of the thread it was taken
 * on (NULL: none; copied). A sample with the same stack and thread as an earlier one adds its
 * values to it. Returns 0 or -ENOMEM. */
int pt__profile_add(pt__profile *p, const uintptr_t *pcs, size_t depth, const int64_t *values,
                    const char *thread);

/* Subtracts values from the sample with exactly this stack and thread (a freed heap block);
 * a sample that falls to all zeros stays (with zeros) until the output skips it. Returns 0 or
 * -ENOENT. */
int pt__profile_sub(pt__profile *p, const uintptr_t *pcs, size_t depth, const int64_t *values,
                    const char *thread);

/* Resolves every distinct pc once: lines(arg, pc, is_return, out, max) fills source lines
 * innermost first and returns how many (pt__symbolize()'s shape); module(marg, pc, out) names
 * the module (may be NULL). Strings are copied. Call before writing; pcs added later are
 * resolved by another call. Returns 0 or -ENOMEM. */
typedef size_t (*pt__profile_lines_fn)(void *arg, uintptr_t pc, int is_return,
                                       pt__sym_line *out, size_t max);
typedef int (*pt__profile_module_fn)(void *arg, uintptr_t pc, pt__sym_module *out);
int pt__profile_resolve(pt__profile *p, pt__profile_lines_fn lines, void *arg,
                        pt__profile_module_fn module, void *marg);

/* Resolves with a symbolizer (pt__profile_resolve() with pt__symbolize()). */
int pt__profile_symbolize(pt__profile *p, pt__symbolizer *s);

/* Totals of value index i over every sample (0 when i is out of range). */
int64_t pt__profile_total(const pt__profile *p, size_t i);

/* pprof's profile.proto, gzip-compressed, in *out (malloc'd, *len bytes): sample types,
 * samples (a "thread" string label each; samples at all zeros left out), locations with their
 * lines (inlined frames as several lines of one location), functions (one per name and file),
 * mappings from the modules (marked symbolized when all their pcs resolved, so pprof does not
 * look for the binaries), the string table, time, duration, period. A return address is given
 * as the byte before it (inside the call). Unresolved pcs get a location with an address and
 * no line. Returns 0 or -ENOMEM. */
int pt__profile_pprof(const pt__profile *p, void **out, size_t *len);

/* Folded stacks (Brendan Gregg's stackcollapse format) of value index i: one line per distinct
 * stack, root first, frames joined by ';' (inlined frames are frames), a space, the value:
 * "main;uv_run;handler 42\n". With threads, the thread's name is the first frame. Sorted frame
 * by frame; stacks that read the same are merged and those at 0 left out. A pc without lines
 * is "module+0xoffset" or "0xaddress"; ';' in a name becomes ':' and control bytes '?'.
 * Returns 0, -EINVAL (i out of range) or -ENOMEM; *out (malloc'd) is NUL-terminated. */
int pt__profile_folded(const pt__profile *p, size_t i, int threads, char **out, size_t *len);

/* An SVG flame graph of value index i (root at the bottom, widths proportional to the values,
 * each box titled with its frame, value and share, so a browser shows them on hover), rendered
 * by potter itself: 1200 px wide, boxes under 0.1% left out, stacks with values <= 0 ignored,
 * "no samples" when nothing is left. title NULL: "Flame Graph". Returns 0, -EINVAL (i out of
 * range), -EOVERFLOW (the values sum past INT64_MAX) or -ENOMEM; *out (malloc'd) is
 * NUL-terminated. */
int pt__profile_flame_svg(const pt__profile *p, size_t i, const char *title, char **out,
                          size_t *len);

#endif
