/* Doubles as text and back in the C locale (number_internal.h). */
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
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
    char digits[24];
    int nd = 0;
    for (uint64_t v = k; v; v /= 10)
        digits[nd++] = (char)('0' + v % 10); /* least significant first */
    while (nd < 7)
        digits[nd++] = '0'; /* at least one digit before the point */
    int first = 0; /* trailing zeros of the fraction go */
    while (first < 6 && digits[first] == '0')
        first++;
    char *o = out;
    if (d < 0)
        *o++ = '-';
    for (int i = nd - 1; i >= 6; i--)
        *o++ = digits[i];
    if (first < 6) {
        *o++ = '.';
        for (int i = 5; i >= first; i--)
            *o++ = digits[i];
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
