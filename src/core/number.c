/* Doubles as text and back in the C locale (number_internal.h). */
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

#include "core/number_internal.h"

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

double pt__strtod_c(const char *s, char **end)
{
    pthread_once(&c_locale_once, make_c_locale);
    return c_locale ? strtod_l(s, end, c_locale) : strtod(s, end);
}

/* Values with at most six decimals between 1e-4 and 1e9 (latencies in ms, seconds, ratios),
 * written without printf: k = d * 1e6 is an integer below 2^53 and k / 1e6 rounds back to
 * d, so the digits of k with the point put back are the shortest text that reads back as d
 * (two multiples of 1e-6 this small never round to the same double), and are what "%.15g"
 * would print. Returns 0 when d is not such a value. */
static size_t fmt_micro(char *out, size_t len, double d)
{
    double a = d < 0 ? -d : d;
    if (!(a >= 1e-4 && a < 1e9) || len < 24)
        return 0;
    double scaled = a * 1e6;
    uint64_t k = (uint64_t)(scaled + 0.5);
    if ((double)k / 1e6 != a)
        return 0;
    uint64_t whole = k / 1000000;
    unsigned frac = (unsigned)(k % 1000000);
    char *o = out;
    if (d < 0)
        *o++ = '-';
    o += pt__fmt_u64(o, whole);
    if (frac) {
        int digits = 6; /* trailing zeros of the fraction go */
        while (frac % 10 == 0) {
            frac /= 10;
            digits--;
        }
        *o++ = '.';
        for (int i = digits - 1; i >= 0; i--, frac /= 10)
            o[i] = (char)('0' + frac % 10);
        o += digits;
    }
    *o = '\0';
    return (size_t)(o - out);
}

size_t pt__fmt_double(char *out, size_t len, double d)
{
    size_t fast = fmt_micro(out, len, d);
    if (fast)
        return fast;
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, len, "%.*g", prec, d);
        for (char *c = out; *c; c++)
            if (*c == ',')
                *c = '.'; /* a locale's decimal comma */
        if (prec == 17 || pt__strtod_c(out, NULL) == d)
            break;
    }
    return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

size_t pt__fmt_u64(char *out, uint64_t v)
{
    /* Two digits a division: the access record writes three numbers a request. */
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    static const uint64_t pow10[20] = {
        1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
        100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
        10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
        100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull};
    /* The digits from the bit length: log10(2) ~ 1233 / 4096, one too many at most. */
    unsigned bits = 64 - (unsigned)__builtin_clzll(v | 1);
    size_t n = (bits * 1233) >> 12;
    n += v >= pow10[n];
    n += n == 0;
    char *o = out + n;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        o -= 2;
        o[0] = pairs[2 * r];
        o[1] = pairs[2 * r + 1];
    }
    if (v >= 10) {
        o[-2] = pairs[2 * v];
        o[-1] = pairs[2 * v + 1];
    } else {
        o[-1] = (char)('0' + v);
    }
    return n;
}

/* Howard Hinnant's civil_from_days: the proleptic Gregorian date of a day count. */
static void civil(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;

    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

size_t pt__fmt_utc_ms(char *out, int64_t wall_ns, int compact)
{
    int64_t sec = wall_ns >= 0 ? wall_ns / 1000000000 : (wall_ns - 999999999) / 1000000000;
    unsigned ms = (unsigned)((wall_ns - sec * 1000000000) / 1000000);
    int64_t days = sec / 86400, rem = sec % 86400, y;
    unsigned m, d;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    civil(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        y = y < 0 ? 0 : 9999;
    unsigned v[7] = {(unsigned)y, m, d, (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60),
                     (unsigned)(rem % 60), ms};
    static const unsigned width[7] = {4, 2, 2, 2, 2, 2, 3};
    static const char full[7] = {'-', '-', 'T', ':', ':', '.', 'Z'};
    static const char tight[7] = {0, 0, 'T', 0, 0, '.', 'Z'};
    size_t n = 0;
    for (int i = 0; i < 7; i++) {
        for (unsigned k = width[i], x = v[i]; k > 0; k--, x /= 10)
            out[n + k - 1] = (char)('0' + x % 10);
        n += width[i];
        char sep = compact ? tight[i] : full[i];
        if (sep)
            out[n++] = sep;
    }
    out[n] = '\0';
    return n;
}
