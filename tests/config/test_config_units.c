/* Durations and sizes (src/config/units.h) and key suggestions (src/config/suggest.h): every
 * unit, compound durations, the int64 and uint64 limits, every error message exactly, round
 * trips through format and parse over many values, and suggestions checked against a plain
 * reference implementation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "config/suggest.h"
#include "config/units.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define S_NS 1000000000LL

/* xorshift64*: the same sequence on every run and platform. */
static uint64_t next_random(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 2685821657736338717ULL;
}

/* ---- durations -------------------------------------------------------------------------- */

static void check_duration(const char *text, int64_t want)
{
    int64_t ns = -1;
    char why[256] = "";
    int rc = pt__cfg_parse_duration(text, &ns, why, sizeof(why));

    if (rc != 0 || ns != want)
        print_error("duration \"%s\": rc %d, %lld, \"%s\"; want %lld\n", text, rc, (long long)ns,
                    why, (long long)want);
    assert_int_equal(rc, 0);
    assert_true(ns == want);
}

/* text must be refused with exactly msg, leaving the output alone. */
static void bad_duration(const char *text, const char *msg)
{
    int64_t ns = 12345;
    char why[256] = "";
    int rc = pt__cfg_parse_duration(text, &ns, why, sizeof(why));

    if (rc != -EINVAL || strcmp(why, msg) != 0)
        print_error("duration \"%s\": rc %d \"%s\"; want \"%s\"\n", text ? text : "(null)", rc, why,
                    msg);
    assert_int_equal(rc, -EINVAL);
    assert_string_equal(why, msg);
    assert_true(ns == 12345);
}

static void test_duration_units(void **state)
{
    (void)state;
    check_duration("7ns", 7);
    check_duration("7us", 7000);
    check_duration("7\xC2\xB5s", 7000); /* U+00B5 MICRO SIGN */
    check_duration("7\xCE\xBCs", 7000); /* U+03BC GREEK SMALL LETTER MU */
    check_duration("7ms", 7000000);
    check_duration("7s", 7 * S_NS);
    check_duration("7m", 7 * 60 * S_NS);
    check_duration("7h", 7 * 3600 * S_NS);
    check_duration("7d", 7 * 86400 * S_NS);
    check_duration("0s", 0);
    check_duration("0ns", 0);
    check_duration("007s", 7 * S_NS);
    check_duration("250ms", 250000000);
}

static void test_duration_fractions(void **state)
{
    (void)state;
    check_duration("1.5s", 1500000000);
    check_duration("0.1s", 100000000);
    check_duration("0.25ms", 250000);
    check_duration("0.001us", 1);
    check_duration("1.000000001s", 1000000001);
    check_duration("2.5d", 216000 * S_NS);
    check_duration("1.5h", 5400 * S_NS);
    check_duration("0.5m", 30 * S_NS);
    check_duration("1.50000000000000000000000000s", 1500000000); /* trailing zeros are exact */
    check_duration("0.000000000000000000000000000s", 0);
}

static void test_duration_compound(void **state)
{
    (void)state;
    check_duration("1h30m", 5400 * S_NS);
    check_duration("1m30.5s", 90500000000LL);
    check_duration("1d2h3m4s5ms6us7ns",
                   ((((1LL * 24 + 2) * 60 + 3) * 60 + 4) * S_NS) + 5000000 + 6000 + 7);
    check_duration("1h250ms", 3600 * S_NS + 250000000);
    check_duration("1.5h30m", 2 * 3600 * S_NS);
    check_duration("1s1\xC2\xB5s", S_NS + 1000);
    check_duration("2d0h", 2 * 86400 * S_NS);
}

static void test_duration_limits(void **state)
{
    (void)state;
    const char *too_long = "duration \"%s\" is too long (at most 106751d23h47m16.854775807s)";
    static const char *const over[] = {
        "9223372036854775808ns",
        "106751d23h47m16.854775808s",
        "106752d",
        "106751d24h",
        "18446744073709551616ns",
        "99999999999999999999999999999h",
        "9223372036.854775808s",
        "106751d23h47m16s854ms775us808ns",
    };
    char msg[256];

    check_duration("9223372036854775807ns", INT64_MAX);
    check_duration("106751d23h47m16.854775807s", INT64_MAX);
    check_duration("9223372036.854775807s", INT64_MAX);
    check_duration("106751d23h47m16s854ms775us807ns", INT64_MAX);
    for (size_t i = 0; i < COUNT(over); i++) {
        snprintf(msg, sizeof(msg), too_long, over[i]);
        bad_duration(over[i], msg);
    }
}

static void test_duration_errors(void **state)
{
    (void)state;
    bad_duration("", "expected a duration such as \"250ms\" or \"5s\", found \"\"");
    bad_duration(NULL, "expected a duration such as \"250ms\" or \"5s\", found \"\"");
    bad_duration("5 sec", "expected a duration such as \"250ms\" or \"5s\", found \"5 sec\"");
    bad_duration(" 5s", "expected a duration such as \"250ms\" or \"5s\", found \" 5s\"");
    bad_duration("5s ", "expected a duration such as \"250ms\" or \"5s\", found \"5s \"");
    bad_duration("5 s", "expected a duration such as \"250ms\" or \"5s\", found \"5 s\"");
    bad_duration("+5s", "expected a duration such as \"250ms\" or \"5s\", found \"+5s\"");
    bad_duration(".5s", "expected a duration such as \"250ms\" or \"5s\", found \".5s\"");
    bad_duration("5.s", "expected a duration such as \"250ms\" or \"5s\", found \"5.s\"");
    bad_duration("s", "expected a duration such as \"250ms\" or \"5s\", found \"s\"");
    bad_duration("1h-5m", "expected a duration such as \"250ms\" or \"5s\", found \"1h-5m\"");
    bad_duration("1e3s",
                 "unknown unit \"e\" in \"1e3s\": a duration takes ns, us, ms, s, m, h or d");
    bad_duration("5\"s", "expected a duration such as \"250ms\" or \"5s\", found \"5\\u0022s\"");
    bad_duration("5\ts", "expected a duration such as \"250ms\" or \"5s\", found \"5\\u0009s\"");
    bad_duration("5", "a duration needs a unit: ns, us, ms, s, m, h or d, found \"5\"");
    bad_duration("1.5", "a duration needs a unit: ns, us, ms, s, m, h or d, found \"1.5\"");
    bad_duration("1h30", "a duration needs a unit: ns, us, ms, s, m, h or d, found \"1h30\"");
    bad_duration("5sec", "unknown unit \"sec\" in \"5sec\": a duration takes ns, us, ms, s, m, h "
                         "or d");
    bad_duration("5S", "unknown unit \"S\" in \"5S\": a duration takes ns, us, ms, s, m, h or d");
    bad_duration("1h5Ms", "unknown unit \"Ms\" in \"1h5Ms\": a duration takes ns, us, ms, s, m, "
                          "h or d");
    bad_duration("5\xC2\xB5", "unknown unit \"\xC2\xB5\" in \"5\xC2\xB5\": a duration takes ns, "
                              "us, ms, s, m, h or d");
    bad_duration("-5s", "a duration cannot be negative, found \"-5s\"");
    bad_duration("-0s", "a duration cannot be negative, found \"-0s\"");
    bad_duration("30m1h", "the units of a duration must be in decreasing order, each at most once "
                          "(as in \"1h30m\"), found \"30m1h\"");
    bad_duration("1s1s", "the units of a duration must be in decreasing order, each at most once "
                         "(as in \"1h30m\"), found \"1s1s\"");
    bad_duration("1us1\xC2\xB5s", "the units of a duration must be in decreasing order, each at "
                                  "most once (as in \"1h30m\"), found \"1us1\xC2\xB5s\"");
    bad_duration("1.5ns", "duration \"1.5ns\" is not a whole number of nanoseconds");
    bad_duration("0.0000000001s", "duration \"0.0000000001s\" is not a whole number of "
                                  "nanoseconds");
    bad_duration("1s0.5ns", "duration \"1s0.5ns\" is not a whole number of nanoseconds");
    /* Long input is cut in the message. */
    bad_duration("12345678901234567890123456789012345678901234567890x",
                 "unknown unit \"x\" in \"1234567890123456789012345678901234567890...\": a "
                 "duration takes ns, us, ms, s, m, h or d");
}

static void test_duration_why_optional(void **state)
{
    (void)state;
    int64_t ns = 5;
    char why[8];

    assert_int_equal(pt__cfg_parse_duration("5x", &ns, NULL, 0), -EINVAL);
    assert_int_equal(pt__cfg_parse_duration("5", &ns, why, sizeof(why)), -EINVAL);
    assert_string_equal(why, "a durat"); /* truncated, still terminated */
    assert_int_equal(ns, 5);
    assert_int_equal(pt__cfg_parse_duration("5s", &ns, NULL, 0), 0);
    assert_true(ns == 5 * S_NS);
}

/* ---- sizes ------------------------------------------------------------------------------ */

static void check_size(const char *text, uint64_t want)
{
    uint64_t bytes = 1;
    char why[256] = "";
    int rc = pt__cfg_parse_size(text, &bytes, why, sizeof(why));

    if (rc != 0 || bytes != want)
        print_error("size \"%s\": rc %d, %llu, \"%s\"; want %llu\n", text, rc,
                    (unsigned long long)bytes, why, (unsigned long long)want);
    assert_int_equal(rc, 0);
    assert_true(bytes == want);
}

static void bad_size(const char *text, const char *msg)
{
    uint64_t bytes = 12345;
    char why[256] = "";
    int rc = pt__cfg_parse_size(text, &bytes, why, sizeof(why));

    if (rc != -EINVAL || strcmp(why, msg) != 0)
        print_error("size \"%s\": rc %d \"%s\"; want \"%s\"\n", text ? text : "(null)", rc, why,
                    msg);
    assert_int_equal(rc, -EINVAL);
    assert_string_equal(why, msg);
    assert_true(bytes == 12345);
}

static void test_size_units(void **state)
{
    (void)state;
    check_size("0", 0);
    check_size("7", 7);
    check_size("7B", 7);
    check_size("7KB", 7000);
    check_size("7MB", 7000000);
    check_size("7GB", 7000000000ULL);
    check_size("7TB", 7000000000000ULL);
    check_size("7KiB", 7ULL << 10);
    check_size("7MiB", 7ULL << 20);
    check_size("7GiB", 7ULL << 30);
    check_size("7TiB", 7ULL << 40);
    check_size("64MiB", 64ULL << 20);
    check_size("1.5KiB", 1536);
    check_size("0.5KB", 500);
    check_size("1.0", 1);
    check_size("2.000B", 2);
    check_size("0.0009765625KiB", 1);
    check_size("0.0000000000009094947017729282379150390625TiB", 1);
    check_size("1.25GB", 1250000000);
}

static void test_size_limits(void **state)
{
    (void)state;
    const char *too_large = "size \"%s\" is too large (at most 18446744073709551615B)";
    static const char *const over[] = {
        "18446744073709551616",    "18446744073709551616B",   "16777216TiB",
        "18446744.073709551616TB", "99999999999999999999999", "18446744073709551615.5KB",
    };
    char msg[256];

    check_size("18446744073709551615", UINT64_MAX);
    check_size("18446744073709551615B", UINT64_MAX);
    check_size("18446744.073709551615TB", UINT64_MAX);
    check_size("16777215TiB", 16777215ULL << 40);
    check_size("16777215.9999999999990905052982270717620849609375TiB", UINT64_MAX);
    for (size_t i = 0; i < COUNT(over); i++) {
        snprintf(msg, sizeof(msg), too_large, over[i]);
        bad_size(over[i], msg);
    }
}

static void test_size_errors(void **state)
{
    (void)state;
    const char *units = "a size takes B, KB, MB, GB, TB, KiB, MiB, GiB or TiB (case-sensitive)";
    char msg[256];

    bad_size("", "expected a size such as \"512KiB\" or \"64MiB\", found \"\"");
    bad_size(NULL, "expected a size such as \"512KiB\" or \"64MiB\", found \"\"");
    bad_size("64 MB", "expected a size such as \"512KiB\" or \"64MiB\", found \"64 MB\"");
    bad_size("KB", "expected a size such as \"512KiB\" or \"64MiB\", found \"KB\"");
    bad_size("1KB ", "expected a size such as \"512KiB\" or \"64MiB\", found \"1KB \"");
    bad_size("1KB1B", "expected a size such as \"512KiB\" or \"64MiB\", found \"1KB1B\"");
    bad_size("+1", "expected a size such as \"512KiB\" or \"64MiB\", found \"+1\"");
    bad_size("1.", "expected a size such as \"512KiB\" or \"64MiB\", found \"1.\"");
    bad_size("-1KB", "a size cannot be negative, found \"-1KB\"");
    snprintf(msg, sizeof(msg), "unknown unit \"kb\" in \"64kb\": %s", units);
    bad_size("64kb", msg);
    snprintf(msg, sizeof(msg), "unknown unit \"mb\" in \"64mb\": %s", units);
    bad_size("64mb", msg);
    snprintf(msg, sizeof(msg), "unknown unit \"k\" in \"64k\": %s", units);
    bad_size("64k", msg);
    snprintf(msg, sizeof(msg), "unknown unit \"KIB\" in \"1KIB\": %s", units);
    bad_size("1KIB", msg);
    snprintf(msg, sizeof(msg), "unknown unit \"b\" in \"1b\": %s", units);
    bad_size("1b", msg);
    bad_size("1.5B", "size \"1.5B\" is not a whole number of bytes");
    bad_size("1.5", "size \"1.5\" is not a whole number of bytes");
    bad_size("0.0001KB", "size \"0.0001KB\" is not a whole number of bytes");
    bad_size("0.00048828125KiB", "size \"0.00048828125KiB\" is not a whole number of bytes");
}

/* ---- formatting and round trips --------------------------------------------------------- */

static void check_format_duration(int64_t ns, const char *want)
{
    char out[PT__CFG_DURATION_LEN];
    int rc = pt__cfg_format_duration(ns, out, sizeof(out));

    if (rc != 0 || strcmp(out, want) != 0)
        print_error("format %lld: rc %d \"%s\"; want \"%s\"\n", (long long)ns, rc, out, want);
    assert_int_equal(rc, 0);
    assert_string_equal(out, want);
}

static void check_format_size(uint64_t bytes, const char *want)
{
    char out[PT__CFG_SIZE_LEN];
    int rc = pt__cfg_format_size(bytes, out, sizeof(out));

    if (rc != 0 || strcmp(out, want) != 0)
        print_error("format %llu: rc %d \"%s\"; want \"%s\"\n", (unsigned long long)bytes, rc, out,
                    want);
    assert_int_equal(rc, 0);
    assert_string_equal(out, want);
}

static void test_format_duration(void **state)
{
    (void)state;
    check_format_duration(0, "0s");
    check_format_duration(1, "1ns");
    check_format_duration(999, "999ns");
    check_format_duration(1000, "1us");
    check_format_duration(1500, "1.5us");
    check_format_duration(1001, "1.001us");
    check_format_duration(250000000, "250ms");
    check_format_duration(999999999, "999.999999ms");
    check_format_duration(S_NS, "1s");
    check_format_duration(1500000000, "1.5s");
    check_format_duration(S_NS + 1, "1.000000001s");
    check_format_duration(60 * S_NS, "1m");
    check_format_duration(5400 * S_NS, "1h30m");
    check_format_duration(3600 * S_NS + 250000000, "1h250ms");
    check_format_duration(3600 * S_NS + 1, "1h1ns");
    check_format_duration(61500000000LL, "1m1.5s");
    check_format_duration(86400 * S_NS, "1d");
    check_format_duration(90000 * S_NS, "1d1h");
    check_format_duration(86401 * S_NS, "1d1s");
    check_format_duration(INT64_MAX, "106751d23h47m16.854775807s");
}

static void test_format_size(void **state)
{
    (void)state;
    check_format_size(0, "0B");
    check_format_size(1, "1B");
    check_format_size(999, "999B");
    check_format_size(1000, "1KB");
    check_format_size(1024, "1KiB");
    check_format_size(1500, "1500B"); /* "1.5KB" is as short; whole wins */
    check_format_size(1100, "1100B"); /* likewise "1.1KB" */
    check_format_size(1536, "1536B"); /* shorter than "1.5KiB" */
    check_format_size(1100000, "1.1MB"); /* shorter than "1100KB" */
    check_format_size(1572864, "1.5MiB"); /* shorter than "1536KiB" */
    check_format_size(2048000, "2048KB"); /* shorter than "2000KiB" */
    check_format_size(1048576000, "1000MiB");
    check_format_size(64ULL << 20, "64MiB");
    check_format_size(1000000, "1MB");
    check_format_size(500000000000ULL, "500GB");
    check_format_size(1ULL << 40, "1TiB");
    check_format_size(1000000000000ULL, "1TB");
    check_format_size(UINT64_MAX, "18446744073709551615B");
}

static void test_format_errors(void **state)
{
    (void)state;
    char out[8];

    assert_int_equal(pt__cfg_format_duration(-1, out, sizeof(out)), -EINVAL);
    assert_int_equal(pt__cfg_format_duration(INT64_MIN, out, sizeof(out)), -EINVAL);
    assert_int_equal(pt__cfg_format_duration(250000000, out, 6), 0); /* "250ms" and a NUL */
    assert_string_equal(out, "250ms");
    assert_int_equal(pt__cfg_format_duration(250000000, out, 5), -ENOSPC);
    assert_string_equal(out, "250m");
    assert_int_equal(pt__cfg_format_duration(0, out, 2), -ENOSPC);
    assert_int_equal(pt__cfg_format_duration(0, out, 0), -ENOSPC);
    assert_int_equal(pt__cfg_format_duration(0, out, 3), 0);
    assert_string_equal(out, "0s");
    assert_int_equal(pt__cfg_format_size(64ULL << 20, out, 6), 0);
    assert_string_equal(out, "64MiB");
    assert_int_equal(pt__cfg_format_size(64ULL << 20, out, 5), -ENOSPC);
    assert_int_equal(pt__cfg_format_size(0, out, 0), -ENOSPC);
}

static void round_trip_duration(int64_t ns)
{
    char out[PT__CFG_DURATION_LEN], why[256] = "";
    int64_t back = -1;

    assert_int_equal(pt__cfg_format_duration(ns, out, sizeof(out)), 0);
    int rc = pt__cfg_parse_duration(out, &back, why, sizeof(why));
    if (rc != 0 || back != ns)
        print_error("%lld -> \"%s\" -> rc %d %lld \"%s\"\n", (long long)ns, out, rc,
                    (long long)back, why);
    assert_int_equal(rc, 0);
    assert_true(back == ns);
}

static void round_trip_size(uint64_t bytes)
{
    char out[PT__CFG_SIZE_LEN], why[256] = "";
    uint64_t back = 0;

    assert_int_equal(pt__cfg_format_size(bytes, out, sizeof(out)), 0);
    int rc = pt__cfg_parse_size(out, &back, why, sizeof(why));
    if (rc != 0 || back != bytes)
        print_error("%llu -> \"%s\" -> rc %d %llu \"%s\"\n", (unsigned long long)bytes, out, rc,
                    (unsigned long long)back, why);
    assert_int_equal(rc, 0);
    assert_true(back == bytes);
}

static void test_round_trips(void **state)
{
    (void)state;
    static const uint64_t scales[] = {1,
                                      1000,
                                      1000000,
                                      1000000000,
                                      60000000000ULL,
                                      3600000000000ULL,
                                      86400000000000ULL,
                                      1024,
                                      1ULL << 20,
                                      1ULL << 30,
                                      1ULL << 40,
                                      1000000000000ULL};
    uint64_t rng = 0x9E3779B97F4A7C15ULL;

    for (int64_t i = 0; i < 20000; i++) {
        round_trip_duration(i);
        round_trip_size((uint64_t)i);
    }
    /* Multiples and near-multiples of every unit, and powers of two. */
    for (size_t s = 0; s < COUNT(scales); s++)
        for (uint64_t k = 1; k < 3000; k++) {
            uint64_t v = scales[s] * k;
            for (int delta = -1; delta <= 1; delta++) {
                uint64_t x = v + (uint64_t)(int64_t)delta;
                round_trip_size(x);
                round_trip_size(x * 5 / 2);
                if (x <= (uint64_t)INT64_MAX)
                    round_trip_duration((int64_t)x);
            }
        }
    for (int b = 0; b < 64; b++) {
        round_trip_size(1ULL << b);
        round_trip_size((1ULL << b) - 1);
        round_trip_duration((int64_t)((1ULL << b) - 1));
        if (b < 63)
            round_trip_duration((int64_t)(1ULL << b));
    }
    round_trip_duration(INT64_MAX);
    round_trip_duration(INT64_MAX - 1);
    round_trip_size(UINT64_MAX);
    round_trip_size(UINT64_MAX - 1);
    /* Random values of every magnitude (a fixed seed, so a failure repeats). */
    for (int i = 0; i < 200000; i++) {
        uint64_t r = next_random(&rng) >> (i % 64);
        round_trip_size(r);
        round_trip_duration((int64_t)(r >> 1));
        /* Round values too, which take the compound and fraction paths. */
        round_trip_size(r / 1000 * 1000);
        round_trip_duration((int64_t)((r >> 1) / 1000000 * 1000000));
    }
}

/* Parsing a non-canonical spelling and formatting it gives the canonical one. */
static void test_canonical(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } durations[] = {{"90m", "1h30m"}, {"0.5s", "500ms"}, {"3600s", "1h"},   {"1500us", "1.5ms"},
                     {"24h", "1d"},    {"0d", "0s"},      {"1.5h", "1h30m"}, {"7\xC2\xB5s", "7us"}},
      sizes[] = {{"1024", "1KiB"}, {"1024KiB", "1MiB"}, {"1000KB", "1MB"}, {"1.5KiB", "1536B"}};

    for (size_t i = 0; i < COUNT(durations); i++) {
        int64_t ns;
        char out[PT__CFG_DURATION_LEN];
        assert_int_equal(pt__cfg_parse_duration(durations[i].in, &ns, NULL, 0), 0);
        assert_int_equal(pt__cfg_format_duration(ns, out, sizeof(out)), 0);
        assert_string_equal(out, durations[i].out);
    }
    for (size_t i = 0; i < COUNT(sizes); i++) {
        uint64_t b;
        char out[PT__CFG_SIZE_LEN];
        assert_int_equal(pt__cfg_parse_size(sizes[i].in, &b, NULL, 0), 0);
        assert_int_equal(pt__cfg_format_size(b, out, sizeof(out)), 0);
        assert_string_equal(out, sizes[i].out);
    }
}

/* ---- suggestions ------------------------------------------------------------------------ */

static const char *const keys[] = {"log.level", "log.format", "http.port",    "http.host",
                                   "env",       "datacenter", "log.file.path"};

static void check_suggest(const char *unknown, const char *const *known, size_t n, const char *want)
{
    const char *got = pt__cfg_suggest(unknown, known, n);

    if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0))
        print_error("suggest \"%s\": got %s, want %s\n", unknown ? unknown : "(null)",
                    got ? got : "NULL", want ? want : "NULL");
    if (want) {
        assert_non_null(got);
        assert_string_equal(got, want);
    } else {
        assert_null(got);
    }
}

#define SUGGEST(unknown, want) check_suggest(unknown, keys, COUNT(keys), want)

static void test_suggest_typos(void **state)
{
    (void)state;
    SUGGEST("log.lveel", "log.level"); /* transposition */
    SUGGEST("log.levl", "log.level"); /* deletion */
    SUGGEST("log.levell", "log.level"); /* insertion */
    SUGGEST("log.lavel", "log.level"); /* substitution */
    SUGGEST("htpt.port", "http.port");
    SUGGEST("http.prot", "http.port");
    SUGGEST("http.hots", "http.host");
    SUGGEST("log.fromat", "log.format");
    SUGGEST("log.lvl", "log.level"); /* 7 bytes: up to 2 edits */
    SUGGEST("dtacentr", "datacenter"); /* 8 bytes: 2 deletions */
    SUGGEST("enn", "env"); /* 3 bytes: 1 edit */
    SUGGEST("nev", "env"); /* a swap is one edit */
    SUGGEST("en", "env");
    SUGGEST("Log.Levl", "log.level"); /* case is ignored in the distance too */
    SUGGEST("log.file.pth", "log.file.path");
}

static void test_suggest_too_far(void **state)
{
    (void)state;
    SUGGEST("xyz", NULL);
    SUGGEST("lg.lvl", NULL); /* 6 bytes, 3 edits from log.level */
    SUGGEST("eXX", NULL); /* 2 edits from env, 1 allowed */
    SUGGEST("q", NULL);
    SUGGEST("log", NULL); /* a first segment is not suggested */
    SUGGEST("port.http", NULL);
    SUGGEST("", NULL);
    SUGGEST(NULL, NULL);
    check_suggest("env", NULL, 0, NULL);
    check_suggest("env", keys, 0, NULL);

    /* The threshold at its edges: max(1, len / 3). */
    static const char *const k[] = {"abcdef"};
    check_suggest("abcdXY", k, 1, "abcdef"); /* 6 bytes, distance 2, limit 2 */
    check_suggest("abXYZf", k, 1, NULL); /* distance 3 */
    check_suggest("abcdeX", k, 1, "abcdef");
    check_suggest("abcde", k, 1, "abcdef"); /* 5 bytes, limit 1 */
    check_suggest("abcd", k, 1, NULL); /* 4 bytes, distance 2, limit 1 */
    check_suggest("abcdefXYZ", k, 1, "abcdef"); /* 9 bytes, limit 3 */
    check_suggest("abcdefXYZW", k, 1, NULL); /* 10 bytes, limit 3, distance 4 */
}

static void test_suggest_case_and_segment(void **state)
{
    (void)state;
    SUGGEST("LOG.LEVEL", "log.level");
    SUGGEST("level", "log.level");
    SUGGEST("port", "http.port");
    SUGGEST("Port", "http.port");
    SUGGEST("path", "log.file.path");
    SUGGEST("file.path", "log.file.path"); /* the last segments; 4 edits would be too far */
    SUGGEST("ile.path", NULL); /* not at a dot */

    /* Equal ignoring case beats a closer-in-order key at distance 1. */
    static const char *const a[] = {"pors", "PORT"};
    check_suggest("port", a, 2, "PORT");
    /* ... and beats a last-segment match that comes first. */
    static const char *const b[] = {"http.port", "Port"};
    check_suggest("port", b, 2, "Port");
    /* A last-segment match beats a key at distance 1 that comes first. */
    static const char *const c[] = {"levels", "log.level"};
    check_suggest("level", c, 2, "log.level");
    /* An exact key is its own suggestion. */
    check_suggest("env", keys, COUNT(keys), "env");
}

static void test_suggest_ties(void **state)
{
    (void)state;
    static const char *const a[] = {"abcx", "abcy"};
    static const char *const b[] = {"abcy", "abcx"};
    static const char *const c[] = {"a.level", "b.level"};
    static const char *const d[] = {"log.lev", "log.levels"};
    static const char *const e[] = {"Env", "ENV"};

    check_suggest("abcz", a, 2, "abcx");
    check_suggest("abcz", b, 2, "abcy");
    check_suggest("level", c, 2, "a.level");
    check_suggest("log.level", d, 2, "log.levels"); /* a later, closer key wins */
    check_suggest("env", e, 2, "Env");
}

static void test_suggest_limits(void **state)
{
    (void)state;
    char longest[PT__CFG_SUGGEST_MAX_KEY + 1], typo[PT__CFG_SUGGEST_MAX_KEY + 1];
    char over[PT__CFG_SUGGEST_MAX_KEY + 2];

    memset(longest, 'a', PT__CFG_SUGGEST_MAX_KEY);
    longest[PT__CFG_SUGGEST_MAX_KEY] = 0;
    memcpy(typo, longest, sizeof(typo));
    typo[100] = 'b';
    typo[200] = 'c';
    memset(over, 'a', PT__CFG_SUGGEST_MAX_KEY + 1);
    over[PT__CFG_SUGGEST_MAX_KEY + 1] = 0;

    const char *const k1[] = {NULL, "", longest};
    check_suggest(typo, k1, 3, longest);
    const char *const k2[] = {over, "zz"};
    check_suggest(longest, k2, 2, NULL); /* the key is too long to be suggested */
    check_suggest(over, k1, 3, NULL); /* the unknown key is too long to get a suggestion */
}

/* Reference implementation: the full OSA table, no early exit, the rules of suggest.h. */
static unsigned ref_distance(const char *a, const char *b)
{
    size_t m = strlen(a), n = strlen(b);
    unsigned t[16][16];

    for (size_t i = 0; i <= m; i++)
        for (size_t j = 0; j <= n; j++) {
            if (i == 0 || j == 0) {
                t[i][j] = (unsigned)(i + j);
                continue;
            }
            unsigned cost = (a[i - 1] | 0x20) != (b[j - 1] | 0x20);
            unsigned v = t[i - 1][j] + 1;
            if (t[i][j - 1] + 1 < v)
                v = t[i][j - 1] + 1;
            if (t[i - 1][j - 1] + cost < v)
                v = t[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && (a[i - 1] | 0x20) == (b[j - 2] | 0x20) &&
                (a[i - 2] | 0x20) == (b[j - 1] | 0x20) && t[i - 2][j - 2] + 1 < v)
                v = t[i - 2][j - 2] + 1;
            t[i][j] = v;
        }
    return t[m][n];
}

static const char *ref_suggest(const char *u, const char *const *known, size_t n)
{
    size_t len = strlen(u);
    unsigned limit = len / 3 > 1 ? (unsigned)(len / 3) : 1, best = limit + 1;
    const char *seg = NULL, *near = NULL;

    for (size_t i = 0; i < n; i++)
        if (strcasecmp(u, known[i]) == 0)
            return known[i];
    for (size_t i = 0; i < n && !seg; i++) {
        size_t klen = strlen(known[i]);
        if (klen > len && known[i][klen - len - 1] == '.' &&
            strcasecmp(u, known[i] + klen - len) == 0)
            seg = known[i];
    }
    if (seg)
        return seg;
    for (size_t i = 0; i < n; i++) {
        unsigned d = ref_distance(u, known[i]);
        if (d < best) {
            best = d;
            near = known[i];
        }
    }
    return near;
}

/* Random keys over a small alphabet (so that swaps, case and segments all happen) against the
 * reference. The alphabet's letters differ only in case by 0x20, which ref_distance relies on. */
static void test_suggest_against_reference(void **state)
{
    (void)state;
    static const char alphabet[] = "abAB.c";
    char words[9][16];
    const char *known[8];
    uint64_t rng = 42;
    int suggested = 0;

    for (int trial = 0; trial < 20000; trial++) {
        for (int w = 0; w < 9; w++) {
            size_t len = 1 + next_random(&rng) % 12;
            for (size_t i = 0; i < len; i++)
                words[w][i] = alphabet[next_random(&rng) % (sizeof(alphabet) - 1)];
            words[w][len] = 0;
            if (w < 8)
                known[w] = words[w];
        }
        const char *want = ref_suggest(words[8], known, 8);
        const char *got = pt__cfg_suggest(words[8], known, 8);
        if (got != want)
            print_error("trial %d: \"%s\" got %s want %s\n", trial, words[8], got ? got : "NULL",
                        want ? want : "NULL");
        assert_ptr_equal(got, want);
        suggested += got != NULL;
    }
    /* The trials must exercise both outcomes to prove anything. */
    print_message("%d of 20000 suggested\n", suggested);
    assert_true(suggested > 1000);
    assert_true(suggested < 19000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_units),
        cmocka_unit_test(test_duration_fractions),
        cmocka_unit_test(test_duration_compound),
        cmocka_unit_test(test_duration_limits),
        cmocka_unit_test(test_duration_errors),
        cmocka_unit_test(test_duration_why_optional),
        cmocka_unit_test(test_size_units),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_size_errors),
        cmocka_unit_test(test_format_duration),
        cmocka_unit_test(test_format_size),
        cmocka_unit_test(test_format_errors),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_canonical),
        cmocka_unit_test(test_suggest_typos),
        cmocka_unit_test(test_suggest_too_far),
        cmocka_unit_test(test_suggest_case_and_segment),
        cmocka_unit_test(test_suggest_ties),
        cmocka_unit_test(test_suggest_limits),
        cmocka_unit_test(test_suggest_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
