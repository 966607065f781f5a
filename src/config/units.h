/* Durations ("250ms", "1h30m") and sizes ("64MiB") as configuration values: parsing with a
 * message that says what was expected and what was found, and formatting into a canonical
 * form that parses back to the same value. docs/config.md ("Durations and sizes") has the
 * grammar and every message. */
#ifndef PT_CONFIG_UNITS_H
#define PT_CONFIG_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Room for any formatted duration or size, with its NUL ("106751d23h47m16.854775807s" is the
 * longest duration, "18446744073709551615B" the longest size). */
#define PT__CFG_DURATION_LEN 32
#define PT__CFG_SIZE_LEN 32

/* Parses a duration: one or more `number unit` parts, the units in decreasing order, each at
 * most once ("5s", "1.5h", "1h30m", "1m30.5s"). A number is digits with an optional fraction
 * ("0.25"); a unit is ns, us (or µs), ms, s, m, h or d (24h). No sign, no whitespace; the
 * total must be a whole number of nanoseconds within int64. On success stores it in *ns and
 * returns 0; otherwise returns -EINVAL, leaves *ns alone and writes a message (naming the
 * input) into why[0..whylen) if why is not NULL (256 bytes hold any message whole).
 *
 *     int64_t ns;
 *     char why[256];
 *     if (pt__cfg_parse_duration("250ms", &ns, why, sizeof(why)) < 0)
 *         fprintf(stderr, "%s\n", why); */
int pt__cfg_parse_duration(const char *text, int64_t *ns, char *why, size_t whylen);

/* Parses a size: a number (digits with an optional fraction) and an optional unit: B, or
 * KB, MB, GB, TB (powers of 1000), or KiB, MiB, GiB, TiB (powers of 1024); case-sensitive.
 * No unit means bytes. The total must be a whole number of bytes within uint64 ("1.5KiB" is
 * 1536; "1.5B" is refused). Returns 0 or -EINVAL as pt__cfg_parse_duration() does. */
int pt__cfg_parse_size(const char *text, uint64_t *bytes, char *why, size_t whylen);

/* Writes ns in its canonical form into out[0..len): "0s"; below a second one unit with an
 * exact fraction ("250ms", "1.5us", "999ns"); from a second on, the non-zero parts among
 * d, h, m and then seconds with an exact fraction ("1h30m", "1m1.5s", "2d"), or, when whole
 * seconds are zero, the sub-second rest as above ("1h250ms"). Parsing the result gives ns
 * back. Returns 0, -EINVAL for a negative ns, or -ENOSPC when len is too small
 * (PT__CFG_DURATION_LEN always suffices; out then holds a truncated string if len > 0). */
int pt__cfg_format_duration(int64_t ns, char *out, size_t len);

/* Writes bytes in the shortest exact form into out[0..len): a whole or decimal number of one
 * unit, at least 1 of it ("0B", "1500B", "1KB", "64MiB", "1.5MiB"); on equal length a whole
 * number wins, then the larger unit. Parsing the result gives bytes back. Returns 0, or
 * -ENOSPC as pt__cfg_format_duration() does (PT__CFG_SIZE_LEN always suffices). */
int pt__cfg_format_size(uint64_t bytes, char *out, size_t len);

#endif
