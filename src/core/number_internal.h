/* number_internal.h: doubles as text and back, the same in every locale, for the parts that
 * read or write numbers (the log encoder, config, stats). */
#ifndef PT_CORE_NUMBER_INTERNAL_H
#define PT_CORE_NUMBER_INTERNAL_H

#include <stddef.h>

/* strtod() in the C locale, whatever the program's LC_NUMERIC. */
double pt__strtod_c(const char *s, char **end);

/* A finite d in the shortest "%.15g", "%.16g" or "%.17g" form that reads back as d, with '.'
 * as the decimal point whatever the locale ("0.1", "0.30000000000000004", "1e+21", "-0").
 * Writes at most len bytes with the NUL (32 always suffice) and returns the length. */
size_t pt__fmt_double(char *out, size_t len, double d);

#include <stdint.h>

/* v in decimal into out (at least 20 bytes, not NUL-terminated); returns the length.
 * Async-signal-safe, no locale: the crash paths and the access record use it. */
size_t pt__fmt_u64(char *out, uint64_t v);

/* Wall time (ns since the epoch) as "2026-11-23T01:02:03.456Z" (compact: "20261123T010203.456Z")
 * into out (at least 25 bytes), NUL-terminated; returns the length. Reentrant and
 * async-signal-safe (no gmtime, no locale): the crash handler, the control port and pt-log's
 * crash dump use it; pt-log's own records use the cached pt__json_time(). */
size_t pt__fmt_utc_ms(char *out, int64_t wall_ns, int compact);

#endif /* PT_CORE_NUMBER_INTERNAL_H */
