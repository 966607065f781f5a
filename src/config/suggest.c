/* The closest declared key to an unknown one (suggest.h). */
#include "config/suggest.h"

#include <stdint.h>
#include <string.h>

static unsigned char lower(char c)
{
    return (unsigned char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
}

static int equal_nocase(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (lower(a[i]) != lower(b[i]))
            return 0;
    return 1;
}

/* The optimal-string-alignment distance between a[0..m) and b[0..n) ignoring ASCII case, or
 * limit + 1 if it is larger than limit (m, n <= PT__CFG_SUGGEST_MAX_KEY). Three rows of the
 * usual table, so it needs no allocation. A row whose every cell is past limit ends it early:
 * no cell of the next row is below the smallest of this one (a swap reaches two rows back,
 * to a cell at most one less than the diagonal cell of this row, so it adds nothing). */
static unsigned osa_distance(const char *a, size_t m, const char *b, size_t n, unsigned limit)
{
    uint16_t rows[3][PT__CFG_SUGGEST_MAX_KEY + 1];
    uint16_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];

    if ((m > n ? m - n : n - m) > limit)
        return limit + 1;
    for (size_t j = 0; j <= n; j++)
        prev[j] = (uint16_t)j;
    for (size_t i = 1; i <= m; i++) {
        unsigned row_min;
        cur[0] = (uint16_t)i;
        row_min = cur[0];
        for (size_t j = 1; j <= n; j++) {
            unsigned cost = lower(a[i - 1]) != lower(b[j - 1]);
            unsigned d = prev[j] + 1u;
            if (cur[j - 1] + 1u < d)
                d = cur[j - 1] + 1u;
            if (prev[j - 1] + cost < d)
                d = prev[j - 1] + cost;
            if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
                lower(a[i - 2]) == lower(b[j - 1]) && prev2[j - 2] + 1u < d)
                d = prev2[j - 2] + 1u;
            cur[j] = (uint16_t)d;
            if (d < row_min)
                row_min = d;
        }
        if (row_min > limit)
            return limit + 1;
        uint16_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[n] <= limit ? prev[n] : limit + 1;
}

/* Whether key ends with '.' and then unknown[0..ulen), ignoring case ("file.path" and "path"
 * in "log.file.path"). */
static int ends_with_segments(const char *key, size_t klen, const char *unknown, size_t ulen)
{
    return klen > ulen && key[klen - ulen - 1] == '.' &&
           equal_nocase(unknown, ulen, key + klen - ulen, ulen);
}

const char *pt__cfg_suggest(const char *unknown, const char *const *known, size_t n)
{
    const char *by_segment = NULL, *by_distance = NULL;
    size_t ulen = unknown ? strlen(unknown) : 0;

    if (ulen == 0 || ulen > PT__CFG_SUGGEST_MAX_KEY || !known)
        return NULL;
    unsigned limit = ulen / 3 > 1 ? (unsigned)(ulen / 3) : 1;
    unsigned best = limit + 1;

    for (size_t i = 0; i < n; i++) {
        const char *key = known[i];
        size_t klen = key ? strlen(key) : 0;
        if (klen == 0 || klen > PT__CFG_SUGGEST_MAX_KEY)
            continue;
        if (equal_nocase(unknown, ulen, key, klen))
            return key;
        if (!by_segment && ends_with_segments(key, klen, unknown, ulen))
            by_segment = key;
        if (by_segment)
            continue; /* only an exact match (above) can still win */
        /* Strictly closer only, so that of equal distances the earliest key stays. */
        unsigned d = osa_distance(unknown, ulen, key, klen, best - 1);
        if (d < best) {
            best = d;
            by_distance = key;
        }
    }
    return by_segment ? by_segment : by_distance;
}
