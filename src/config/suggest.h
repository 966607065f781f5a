/* "did you mean log.level?": the declared key closest to an unknown one. */
#ifndef PT_CONFIG_SUGGEST_H
#define PT_CONFIG_SUGGEST_H

#include <stddef.h>

/* Keys longer than this (in bytes) are neither suggested nor given suggestions. */
#define PT__CFG_SUGGEST_MAX_KEY 256

/* Returns the key of known[0..n) to suggest for `unknown`, or NULL when none is close enough.
 * The first of these that finds a key wins, and within each the earliest key in known:
 *   1. a key equal to unknown ignoring ASCII case ("Log.Level" -> "log.level");
 *   2. a key whose last dot-separated segments equal unknown ignoring case ("level" ->
 *      "log.level", "file.path" -> "log.file.path");
 *   3. the key at the smallest optimal-string-alignment distance (insertions, deletions,
 *      substitutions and swaps of two adjacent bytes, ignoring ASCII case), if that distance
 *      is at most max(1, strlen(unknown) / 3): 1 for up to 5 bytes, 2 for 6 to 8, and so on.
 * Empty keys, NULL entries and keys longer than PT__CFG_SUGGEST_MAX_KEY are skipped. Linear
 * in n; allocates nothing. The result points into known. */
const char *pt__cfg_suggest(const char *unknown, const char *const *known, size_t n);

#endif
