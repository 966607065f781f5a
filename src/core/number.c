/* Doubles as text and back in the C locale (number_internal.h). */
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
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

size_t pt__fmt_double(char *out, size_t len, double d)
{
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
