/* Durations and sizes as configuration values (units.h). Both are read by one scanner: a
 * number (digits, an optional fraction) followed by a unit word, scaled exactly in integers:
 * no double ever touches a value, so "0.1s" is 100000000 ns and not one less. */
#include "config/units.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define NS_PER_US 1000ULL
#define NS_PER_MS 1000000ULL
#define NS_PER_S 1000000000ULL
#define NS_PER_M (60 * NS_PER_S)
#define NS_PER_H (60 * NS_PER_M)
#define NS_PER_D (24 * NS_PER_H)

/* A unit word and what one of it is worth. For durations `rank` orders the units (d is 0,
 * ns is 6) so that "1h30m" is accepted and "30m1h" or "1s1s" are not. */
typedef struct unit {
    const char *name;
    uint64_t scale;
    int rank;
} unit;

static const unit duration_units[] = {
    {"d", NS_PER_D, 0},
    {"h", NS_PER_H, 1},
    {"m", NS_PER_M, 2},
    {"s", NS_PER_S, 3},
    {"ms", NS_PER_MS, 4},
    {"us", NS_PER_US, 5},
    {"\xC2\xB5s", NS_PER_US, 5}, /* µs, U+00B5 MICRO SIGN */
    {"\xCE\xBCs", NS_PER_US, 5}, /* μs, U+03BC GREEK SMALL LETTER MU */
    {"ns", 1, 6},
};

/* Largest first: pt__cfg_format_size() prefers the first of two equally short forms. */
static const unit size_units[] = {
    {"TiB", 1ULL << 40, 0},   {"TB", 1000000000000ULL, 0}, {"GiB", 1ULL << 30, 0},
    {"GB", 1000000000ULL, 0}, {"MiB", 1ULL << 20, 0},      {"MB", 1000000ULL, 0},
    {"KiB", 1ULL << 10, 0},   {"KB", 1000ULL, 0},          {"B", 1, 0},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* What went wrong with one `number unit` part, before it is turned into a message. */
enum scan_result {
    SCAN_OK,
    SCAN_SYNTAX, /* not a number where one must be, or junk after it */
    SCAN_NO_UNIT, /* a number at the end of the text with no unit */
    SCAN_BAD_UNIT, /* a word that is not a unit */
    SCAN_RANGE, /* too large */
    SCAN_INEXACT, /* not a whole number of the smallest unit (ns, bytes) */
    SCAN_ORDER, /* a unit not smaller than the one before it ("30m1h") */
};

/* One part: the number's integer digits and fraction digits, and the unit word after it. */
typedef struct part {
    const char *int_digits, *frac_digits, *word;
    size_t int_len, frac_len, word_len;
} part;

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A byte that may belong to a unit word: an ASCII letter, or part of a non-ASCII character
 * (µ), so that "5µs" and "5sec" are read as one word each. */
static int is_word_byte(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (unsigned char)c >= 0x80;
}

/* Reads `digits [. digits] [word]` at *p into *pt and moves *p past it. Returns SCAN_SYNTAX
 * when no digit starts it or none follows the '.'; a missing word is left to the caller. */
static enum scan_result scan_part(const char **p, part *pt)
{
    const char *s = *p;

    memset(pt, 0, sizeof(*pt));
    pt->int_digits = s;
    while (is_digit(*s))
        s++;
    pt->int_len = (size_t)(s - pt->int_digits);
    if (pt->int_len == 0)
        return SCAN_SYNTAX;
    if (*s == '.') {
        pt->frac_digits = ++s;
        while (is_digit(*s))
            s++;
        pt->frac_len = (size_t)(s - pt->frac_digits);
        if (pt->frac_len == 0)
            return SCAN_SYNTAX;
    }
    pt->word = s;
    while (is_word_byte(*s))
        s++;
    pt->word_len = (size_t)(s - pt->word);
    *p = s;
    return SCAN_OK;
}

/* The unit in units[0..n) spelled exactly word[0..len), or NULL. */
static const unit *find_unit(const unit *units, size_t n, const char *word, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(units[i].name) == len && memcmp(units[i].name, word, len) == 0)
            return &units[i];
    return NULL;
}

/* The part's number times scale, exactly, into *out: SCAN_OK, SCAN_RANGE past UINT64_MAX, or
 * SCAN_INEXACT when the fraction leaves a piece of the smallest unit.
 *
 * The fraction 0.d1..dk times scale is built from the last digit back: y = (di * scale + y)
 * / 10. Each step must divide evenly, because each y is the (integer) final result times a
 * power of ten minus a multiple of scale; and y < scale throughout, so nothing overflows. */
static enum scan_result scale_part(const part *pt, uint64_t scale, uint64_t *out)
{
    uint64_t whole = 0, frac = 0;

    for (size_t i = 0; i < pt->int_len; i++) {
        unsigned d = (unsigned)(pt->int_digits[i] - '0');
        if (whole > (UINT64_MAX - d) / 10)
            return SCAN_RANGE;
        whole = whole * 10 + d;
    }
    for (size_t i = pt->frac_len; i-- > 0;) {
        uint64_t t = (uint64_t)(pt->frac_digits[i] - '0') * scale + frac;
        if (t % 10 != 0)
            return SCAN_INEXACT;
        frac = t / 10;
    }
    if (whole != 0 && whole > (UINT64_MAX - frac) / scale)
        return SCAN_RANGE;
    *out = whole * scale + frac;
    return SCAN_OK;
}

/* Copies s[0..n) into out[0..outlen) for a message: `"` and `\` and control bytes as \u00XX,
 * the rest as it is, cut (at a character boundary) with "..." past 40 bytes. */
static void show(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0, i = 0;

    for (; i < n && o + 10 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o >= 40 && (c & 0xC0) != 0x80)
            break;
        if (c < 0x20 || c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, outlen - o, "\\u%04X", c);
        else
            out[o++] = (char)c;
    }
    if (i < n)
        memcpy(out + o, "...", 4);
    else
        out[o] = 0;
}

/* Writes a message into why (if any) and returns -EINVAL. */
static int refuse(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(char *why, size_t whylen, const char *fmt, ...)
{
    if (why && whylen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* The words of the messages about one kind of value. */
typedef struct kind {
    const char *noun; /* "duration" */
    const char *examples; /* "\"250ms\" or \"5s\"" */
    const char *units; /* the units, as a message lists them */
    const char *too_big; /* "too long (at most ...)" */
    const char *smallest; /* "nanoseconds" */
} kind;

static const kind duration_kind = {"duration", "\"250ms\" or \"5s\"", "ns, us, ms, s, m, h or d",
                                   "too long (at most 106751d23h47m16.854775807s)", "nanoseconds"};
static const kind size_kind = {"size", "\"512KiB\" or \"64MiB\"",
                               "B, KB, MB, GB, TB, KiB, MiB, GiB or TiB (case-sensitive)",
                               "too large (at most 18446744073709551615B)", "bytes"};

/* The message for a refused value of kind k: r says why, text is the whole input, pt the part
 * at fault (for an unknown unit). Returns -EINVAL. */
static int refuse_value(const kind *k, enum scan_result r, const char *text, const part *pt,
                        char *why, size_t whylen)
{
    char shown[64], word[64];

    show(text, strlen(text), shown, sizeof(shown));
    switch (r) {
    case SCAN_NO_UNIT:
        return refuse(why, whylen, "a %s needs a unit: %s, found \"%s\"", k->noun, k->units, shown);
    case SCAN_BAD_UNIT:
        show(pt->word, pt->word_len, word, sizeof(word));
        return refuse(why, whylen, "unknown unit \"%s\" in \"%s\": a %s takes %s", word, shown,
                      k->noun, k->units);
    case SCAN_RANGE: return refuse(why, whylen, "%s \"%s\" is %s", k->noun, shown, k->too_big);
    case SCAN_INEXACT:
        return refuse(why, whylen, "%s \"%s\" is not a whole number of %s", k->noun, shown,
                      k->smallest);
    case SCAN_ORDER:
        return refuse(why, whylen,
                      "the units of a %s must be in decreasing order, each at most once (as in "
                      "\"1h30m\"), found \"%s\"",
                      k->noun, shown);
    default:
        if (text[0] == '-' && is_digit(text[1]))
            return refuse(why, whylen, "a %s cannot be negative, found \"%s\"", k->noun, shown);
        return refuse(why, whylen, "expected a %s such as %s, found \"%s\"", k->noun, k->examples,
                      shown);
    }
}

/* ---- durations -------------------------------------------------------------------------- */

/* Reads the next `number unit` part of a duration at *p into *pt and its value into *v.
 * *last_rank is the rank of the unit before it (-1 at the start), updated on success. */
static enum scan_result duration_part(const char **p, part *pt, int *last_rank, uint64_t *v)
{
    enum scan_result r = scan_part(p, pt);
    if (r != SCAN_OK)
        return r;
    if (pt->word_len == 0)
        return **p ? SCAN_SYNTAX : SCAN_NO_UNIT;
    const unit *u = find_unit(duration_units, COUNT(duration_units), pt->word, pt->word_len);
    if (!u)
        return SCAN_BAD_UNIT;
    if (u->rank <= *last_rank)
        return SCAN_ORDER;
    *last_rank = u->rank;
    return scale_part(pt, u->scale, v);
}

int pt__cfg_parse_duration(const char *text, int64_t *ns, char *why, size_t whylen)
{
    const char *s = text ? text : "", *p = s;
    uint64_t total = 0, v = 0;
    int last_rank = -1;
    part pt;

    do {
        enum scan_result r = duration_part(&p, &pt, &last_rank, &v);
        if (r == SCAN_OK && v > (uint64_t)INT64_MAX - total)
            r = SCAN_RANGE;
        if (r != SCAN_OK)
            return refuse_value(&duration_kind, r, s, &pt, why, whylen);
        total += v;
    } while (*p);
    *ns = (int64_t)total;
    return 0;
}

/* ---- sizes ------------------------------------------------------------------------------ */

/* Reads the whole of s as a size into *pt and its value into *v. */
static enum scan_result size_value(const char *s, part *pt, uint64_t *v)
{
    const unit *u = &size_units[COUNT(size_units) - 1]; /* no unit: bytes */
    enum scan_result r = scan_part(&s, pt);
    if (r != SCAN_OK)
        return r;
    if (*s)
        return SCAN_SYNTAX;
    if (pt->word_len > 0)
        u = find_unit(size_units, COUNT(size_units), pt->word, pt->word_len);
    if (!u)
        return SCAN_BAD_UNIT;
    return scale_part(pt, u->scale, v);
}

int pt__cfg_parse_size(const char *text, uint64_t *bytes, char *why, size_t whylen)
{
    const char *s = text ? text : "";
    uint64_t v = 0;
    part pt;

    enum scan_result r = size_value(s, &pt, &v);
    if (r != SCAN_OK)
        return refuse_value(&size_kind, r, s, &pt, why, whylen);
    *bytes = v;
    return 0;
}

/* ---- formatting ------------------------------------------------------------------------- */

/* Appends value / scale as a decimal number followed by name to buf (at *o): the whole part,
 * then, if value is not a multiple of scale, '.' and the exact fraction (it ends, as scale is
 * a power of ten or of two). buf must have room for 64 more bytes. */
static void append_decimal(char *buf, size_t *o, uint64_t value, uint64_t scale, const char *name)
{
    uint64_t rest = value % scale;

    *o += (size_t)sprintf(buf + *o, "%llu", (unsigned long long)(value / scale));
    if (rest)
        buf[(*o)++] = '.';
    while (rest) {
        rest *= 10; /* rest < scale <= 2^40, so this cannot overflow */
        buf[(*o)++] = (char)('0' + rest / scale);
        rest %= scale;
    }
    *o += (size_t)sprintf(buf + *o, "%s", name);
}

/* Appends a duration below one second (and above zero) in the largest unit it reaches. */
static void append_subsecond(char *buf, size_t *o, uint64_t ns)
{
    if (ns >= NS_PER_MS)
        append_decimal(buf, o, ns, NS_PER_MS, "ms");
    else if (ns >= NS_PER_US)
        append_decimal(buf, o, ns, NS_PER_US, "us");
    else
        append_decimal(buf, o, ns, 1, "ns");
}

/* Copies the formatted buf[0..n] (with its NUL) to out[0..len): 0, or -ENOSPC with as much as
 * fits. */
static int deliver(const char *buf, size_t n, char *out, size_t len)
{
    if (len > 0)
        snprintf(out, len, "%s", buf);
    return n < len ? 0 : -ENOSPC;
}

int pt__cfg_format_duration(int64_t ns, char *out, size_t len)
{
    static const unit big[] = {{"d", NS_PER_D, 0}, {"h", NS_PER_H, 1}, {"m", NS_PER_M, 2}};
    char buf[128];
    size_t o = 0;

    if (ns < 0)
        return -EINVAL;
    uint64_t v = (uint64_t)ns;
    if (v == 0)
        return deliver("0s", 2, out, len);
    if (v < NS_PER_S) {
        append_subsecond(buf, &o, v);
        return deliver(buf, o, out, len);
    }
    for (size_t i = 0; i < COUNT(big); i++) {
        if (v >= big[i].scale)
            o += (size_t)sprintf(buf + o, "%llu%s", (unsigned long long)(v / big[i].scale),
                                 big[i].name);
        v %= big[i].scale;
    }
    if (v >= NS_PER_S)
        append_decimal(buf, &o, v, NS_PER_S, "s");
    else if (v > 0)
        append_subsecond(buf, &o, v);
    return deliver(buf, o, out, len);
}

int pt__cfg_format_size(uint64_t bytes, char *out, size_t len)
{
    char best[80] = "0B", cand[80];
    size_t best_len = 2;
    int best_frac = 0, found = 0;

    /* Largest unit first, so that of two forms equally short and equally whole the larger
     * unit stays. */
    for (size_t i = 0; i < COUNT(size_units); i++) {
        if (bytes < size_units[i].scale)
            continue;
        size_t o = 0;
        append_decimal(cand, &o, bytes, size_units[i].scale, size_units[i].name);
        int frac = bytes % size_units[i].scale != 0;
        if (found && (o > best_len || (o == best_len && (frac || !best_frac))))
            continue;
        memcpy(best, cand, o + 1);
        best_len = o;
        best_frac = frac;
        found = 1;
    }
    return deliver(best, best_len, out, len);
}
