/* The JSON encoder of log records. It runs on pt-log (or a forked child's caller), never on
 * the caller's fast path.
 *
 * Rules (docs/log.md repeats them for users):
 *  - strings: '"' and '\\' escaped, control characters as \n \t \r \b \f or \u00XX, valid
 *    UTF-8 kept as is, each byte of an invalid sequence replaced by U+FFFD; a value cut at
 *    max_value_bytes ends with "...[cut N bytes]";
 *  - integers with a magnitude above 2^53 are written as strings of their decimal value,
 *    since most JSON readers (bunyan's node among them) hold numbers as doubles;
 *  - NaN and the infinities are written as the strings "NaN", "Infinity", "-Infinity";
 *  - a duration is milliseconds with three decimals (microsecond resolution);
 *  - an errno is {"message":strerror,"name":"ENOENT","stack":"ENOENT: ...","code":2}. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/number_internal.h"
#include "log/log_internal.h"

#define PT__MAX_SAFE_INT 9007199254740992.0 /* 2^53 */

int pt__buf_grow(struct pt__buf *b, size_t more)
{
    if (b->len + more < b->len)
        return -ENOMEM;
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, cp = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, cp = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

size_t pt__utf8_cut(const char *s, size_t max)
{
    size_t n = max;
    for (int back = 0; back < 3 && n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80; back++)
        n--;
    return ((unsigned char)s[n] & 0xc0) == 0x80 ? max : n;
}

/* plain[c]: byte c goes into a JSON string as it is (printable ASCII but '"' and '\\'). */
static const unsigned char plain[256] = {
    [0x20] = 1, [0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7f] = 1, /* GNU ranges */
};

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Nonzero when one of the 8 bytes in x is not plain[]: below 0x20, '"', '\\', or 0x80 and
 * up. The classic tests for a zero byte (x - ONES) & ~x & HIGHS, and for a byte below n,
 * answer "is there one" exactly (their false bits only ever sit above a true one). */
static inline uint64_t escapes8(uint64_t x)
{
    uint64_t quote = x ^ (ONES * '"'), backslash = x ^ (ONES * '\\');
    return (x | ((x - ONES * 0x20) & ~x) | ((quote - ONES) & ~quote) |
            ((backslash - ONES) & ~backslash)) &
           HIGHS;
}

/* How many bytes from the start of s[0..n) need no escaping: 8 at a time, then one by one. */
static inline size_t plain_run(const unsigned char *s, size_t n)
{
    size_t i = 0;
    uint64_t x;
    for (; i + 8 <= n; i += 8) {
        memcpy(&x, s + i, 8);
        if (escapes8(x))
            break;
    }
    while (i < n && plain[s[i]])
        i++;
    return i;
}

/* Nonzero when none of s[0..n) needs escaping: whole words, the last one overlapping the one
 * before (so no byte past n is read), and the few bytes of a short string one by one. */
static inline int all_plain(const unsigned char *s, size_t n)
{
    uint64_t x, any = 0;
    if (n >= 8) {
        for (size_t i = 0; i + 8 <= n; i += 8) {
            memcpy(&x, s + i, 8);
            any |= escapes8(x);
        }
        memcpy(&x, s + n - 8, 8);
        return !(any | escapes8(x));
    }
    if (n >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, s, 4);
        memcpy(&hi, s + n - 4, 4);
        return !escapes8((uint64_t)hi << 32 | lo);
    }
    for (size_t i = 0; i < n; i++)
        any |= !plain[s[i]];
    return !any;
}

/* pt__json_str()'s other cases (a byte to escape, a cut, or no room in b): out of line, so
 * that the common case needs no stack frame. */
static __attribute__((noinline)) void json_str_escaped(struct pt__buf *b,
                                                       const unsigned char *s, size_t n,
                                                       uint32_t cut)
{
    static const char hex[] = "0123456789abcdef";
    if (cut == 0 && all_plain(s, n)) { /* it was the room that lacked */
        if (pt__buf_reserve(b, n + 2) != 0)
            return;
        char *o = b->p + b->len;
        o[0] = '"';
        memcpy(o + 1, s, n);
        o[n + 1] = '"';
        b->len += n + 2;
        return;
    }
    /* Worst case: every byte becomes \u00XX (6) or U+FFFD (3). */
    if (pt__buf_reserve(b, n * 6 + 48) != 0)
        return;
    char *o = b->p + b->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        /* Runs of bytes that need nothing (most of every string) go in one copy. */
        size_t run = i + plain_run(s + i, n - i);
        if (run > i) {
            memcpy(o, s + i, run - i);
            o += run - i;
            i = run;
            if (i == n)
                break;
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            *o++ = '\\';
            switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\n': *o++ = 'n'; break;
            case '\t': *o++ = 't'; break;
            case '\r': *o++ = 'r'; break;
            case '\b': *o++ = 'b'; break;
            case '\f': *o++ = 'f'; break;
            default: *o++ = 'u', *o++ = '0', *o++ = '0'; *o++ = hex[c >> 4], *o++ = hex[c & 15];
            }
            i++;
            continue;
        }
        size_t len = utf8_seq(s + i, n - i);
        if (len == 0) {
            *o++ = (char)0xef, *o++ = (char)0xbf, *o++ = (char)0xbd; /* U+FFFD */
            i++;
            continue;
        }
        memcpy(o, s + i, len);
        o += len;
        i += len;
    }
    if (cut)
        o += sprintf(o, "...[cut %" PRIu32 " bytes]", cut);
    *o++ = '"';
    b->len = (size_t)(o - b->p);
}

void pt__json_str(struct pt__buf *b, const char *str, size_t n, uint32_t cut)
{
    const unsigned char *s = (const unsigned char *)str;
    /* Most strings: the bytes between two quotes, with room in b. */
    if (PT_UNLIKELY(cut != 0) || PT_UNLIKELY(n + 2 > b->cap - b->len) ||
        PT_UNLIKELY(!all_plain(s, n))) {
        json_str_escaped(b, s, n, cut);
        return;
    }
    char *o = b->p + b->len;
    b->len += n + 2;
    o[0] = '"';
    o[n + 1] = '"';
    pt__copy_short(o + 1, s, n); /* last: a memcpy here is a tail call */
}

/* Decimal digits of v into the end of tmp[24]; returns where they start. */
static char *utoa(uint64_t v, char *end)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

/* Appends an integer: magnitude (and sign), quoted when beyond 2^53. */
static void json_integer(struct pt__buf *b, uint64_t mag, int negative)
{
    char tmp[26];
    char *end = tmp + sizeof tmp;
    int quote = mag > (uint64_t)1 << 53;
    if (quote)
        *--end = '"';
    char *p = utoa(mag, end);
    if (negative)
        *--p = '-';
    if (quote)
        *--p = '"';
    pt__buf_put(b, p, (size_t)(tmp + sizeof tmp - p));
}

static void json_int(struct pt__buf *b, int64_t v)
{
    if (v < 0)
        json_integer(b, (uint64_t)0 - (uint64_t)v, 1);
    else
        json_integer(b, (uint64_t)v, 0);
}

static void json_uint(struct pt__buf *b, uint64_t v)
{
    json_integer(b, v, 0);
}

static void json_double(struct pt__buf *b, double d)
{
    char tmp[40];
    if (isnan(d)) {
        pt__buf_put(b, "\"NaN\"", 5);
        return;
    }
    if (isinf(d)) {
        if (d > 0)
            pt__buf_put(b, "\"Infinity\"", 10);
        else
            pt__buf_put(b, "\"-Infinity\"", 11);
        return;
    }
    /* Most values in logs have few decimals: print those exactly, without printf, when
     * the decimal reads back as the same double. */
    if (d > -1e12 && d < 1e12) {
        double scaled = d * 1000.0;
        int64_t k = (int64_t)(scaled < 0 ? scaled - 0.5 : scaled + 0.5);
        if ((double)k / 1000.0 == d) {
            uint64_t mag = k < 0 ? (uint64_t)0 - (uint64_t)k : (uint64_t)k;
            char *end = tmp + sizeof tmp;
            unsigned frac = (unsigned)(mag % 1000);
            int digits = 3;
            while (digits && frac % 10 == 0) {
                frac /= 10;
                digits--;
            }
            for (int i = 0; i < digits; i++, frac /= 10)
                *--end = (char)('0' + frac % 10);
            if (digits)
                *--end = '.';
            char *p = utoa(mag / 1000, end);
            if (k < 0 || (k == 0 && signbit(d)))
                *--p = '-';
            pt__buf_put(b, p, (size_t)(tmp + sizeof tmp - p));
            return;
        }
    }
    /* Otherwise the shortest %g form that reads back as the same double, in any locale. */
    pt__buf_put(b, tmp, pt__fmt_double(tmp, sizeof tmp, d));
}

void pt__json_duration(struct pt__buf *b, int64_t ns)
{
    if (pt__buf_reserve(b, 32) != 0)
        return;
    char *o = b->p + b->len;
    uint64_t u = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
    if (ns < 0)
        *o++ = '-';
    uint64_t ms = u / 1000000;
    unsigned us = (unsigned)(u % 1000000 / 1000); /* the decimals, cut (not rounded) */
    if (ms < 10) /* most: a request's latency */
        *o++ = (char)('0' + ms);
    else
        o += pt__fmt_u64(o, ms);
    o[0] = '.';
    o[1] = (char)('0' + us / 100);
    o[2] = (char)('0' + us / 10 % 10);
    o[3] = (char)('0' + us % 10);
    b->len = (size_t)(o + 4 - b->p);
}

/* bunyan's err: message, name and stack (bunyan -o long prints the stack; an errno has no
 * call stack, so it is node's first stack line, "NAME: message"), plus the errno as code. */
static void json_errno(struct pt__buf *b, int64_t e)
{
    char tmp[64];
    int code = (int)(e < 0 ? -e : e);
    const char *name = strerrorname_np(code);
    char unknown[24];
    if (name == NULL) {
        snprintf(unknown, sizeof unknown, "E%d", code);
        name = unknown;
    }
    const char *msg = strerrordesc_np(code);
    if (msg == NULL)
        msg = "Unknown error";
    pt__buf_put(b, "{\"message\":", 11);
    pt__json_str(b, msg, strlen(msg), 0);
    pt__buf_put(b, ",\"name\":", 8);
    pt__json_str(b, name, strlen(name), 0);
    int n = snprintf(tmp, sizeof tmp, "%s: ", name);
    pt__buf_put(b, ",\"stack\":\"", 10);
    pt__buf_put(b, tmp, (size_t)n);
    size_t at = b->len;
    pt__json_str(b, msg, strlen(msg), 0); /* "message" -> drop its opening quote */
    memmove(b->p + at, b->p + at + 1, b->len - at - 1);
    b->len--;
    n = snprintf(tmp, sizeof tmp, ",\"code\":%d}", code);
    pt__buf_put(b, tmp, (size_t)n);
}

/* Copies valid JSON, turning its whitespace (newlines, tabs) into spaces: one record stays
 * one line. Valid JSON has no raw control character inside its strings. */
static void json_raw(struct pt__buf *b, const char *s, size_t n, int built)
{
    if (built) { /* libpotter's own JSON: its strings are escaped, it has no raw newline */
        pt__buf_put(b, s, n);
        return;
    }
    if (pt__buf_reserve(b, n) != 0)
        return;
    char *o = b->p + b->len;
    for (size_t i = 0; i < n; i++)
        o[i] = s[i] == '\n' || s[i] == '\r' || s[i] == '\t' ? ' ' : s[i];
    b->len += n;
}

void pt__json_value(struct pt__buf *b, const struct pt__field *f)
{
    switch (f->type) {
    case PT_FIELD_STR:
        if (f->v.s.p == NULL)
            pt__buf_put(b, "null", 4);
        else
            pt__json_str(b, f->v.s.p, f->v.s.n, f->cut);
        break;
    case PT_FIELD_INT: json_int(b, f->v.i); break;
    case PT_FIELD_UINT: json_uint(b, f->v.u); break;
    case PT_FIELD_DBL: json_double(b, f->v.d); break;
    case PT_FIELD_BOOL:
        if (f->v.u)
            pt__buf_put(b, "true", 4);
        else
            pt__buf_put(b, "false", 5);
        break;
    case PT_FIELD_ERR: json_errno(b, f->v.i); break;
    case PT_FIELD_DUR: pt__json_duration(b, f->v.i); break;
    case PT_FIELD_JSON:
    case PT__FIELD_JSON_BUILT:
        if (f->v.s.p == NULL)
            pt__buf_put(b, "null", 4);
        else if (f->cut == 0 &&
                 (f->type == PT__FIELD_JSON_BUILT || pt__json_valid(f->v.s.p, f->v.s.n)))
            json_raw(b, f->v.s.p, f->v.s.n, f->type == PT__FIELD_JSON_BUILT);
        else
            pt__json_str(b, f->v.s.p, f->v.s.n, f->cut);
        break;
    case PT__FIELD_JSON_MEMBERS:
        if (f->v.s.p != NULL && f->cut == 0) {
            pt__buf_put(b, f->v.s.p, f->v.s.n);
        } else { /* members cut in the middle are no JSON: say so instead */
            pt__buf_put(b, "\"members_cut\":", 14);
            json_integer(b, f->v.s.n + f->cut, 0);
        }
        break;
    default: pt__buf_put(b, "null", 4);
    }
}

/* Nonzero when key (len bytes) is a core field name (v, level, name, hostname, pid, time, msg,
 * src) preceded by zero or more underscores. */
static int is_reserved(const char *key, size_t len)
{
    while (*key == '_')
        key++, len--;
    switch (*key) {
    case 'v': return len == 1;
    case 'l': return len == 5 && memcmp(key, "level", 5) == 0;
    case 'n': return len == 4 && memcmp(key, "name", 4) == 0;
    case 'h': return len == 8 && memcmp(key, "hostname", 8) == 0;
    case 'p': return len == 3 && memcmp(key, "pid", 3) == 0;
    case 't': return len == 4 && memcmp(key, "time", 4) == 0;
    case 'm': return len == 3 && memcmp(key, "msg", 3) == 0;
    case 's': return len == 3 && memcmp(key, "src", 3) == 0;
    default: return 0;
    }
}

void pt__json_key_n(struct pt__buf *b, const char *key, size_t len)
{
    if (key == NULL)
        key = "";
    if (all_plain((const unsigned char *)key, len) && !is_reserved(key, len)) {
        /* The common case, in one piece: a name that needs no escaping and no '_'. */
        if (pt__buf_reserve(b, len + 4) != 0)
            return;
        char *o = b->p + b->len;
        o[0] = ',';
        o[1] = '"';
        pt__copy_short(o + 2, key, len);
        o[len + 2] = '"';
        o[len + 3] = ':';
        b->len += len + 4;
        return;
    }
    pt__buf_putc(b, ',');
    size_t at = b->len;
    pt__json_str(b, key, len, 0);
    if (is_reserved(key, len) && pt__buf_reserve(b, 1) == 0) {
        /* "msg" -> "_msg": slide the name right of the opening quote by one. */
        memmove(b->p + at + 2, b->p + at + 1, b->len - at - 1);
        b->p[at + 1] = '_';
        b->len++;
    }
    pt__buf_putc(b, ':');
}

void pt__json_key(struct pt__buf *b, const char *key)
{
    pt__json_key_n(b, key, key ? strlen(key) : 0);
}

/* ---- a strict JSON validator, for PT_JSON values ------------------------------------- */

struct jv {
    const char *p, *end;
    int depth;
};

static void jv_ws(struct jv *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int jv_lit(struct jv *j, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
        return 0;
    j->p += n;
    return 1;
}

static int jv_digits(struct jv *j)
{
    const char *s = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > s;
}

static int jv_number(struct jv *j)
{
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (j->p < j->end && *j->p == '0')
        j->p++;
    else if (!jv_digits(j))
        return 0;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!jv_digits(j))
            return 0;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (!jv_digits(j))
            return 0;
    }
    return 1;
}

static int jv_string(struct jv *j)
{
    j->p++; /* opening quote */
    while (j->p < j->end) {
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            j->p++;
            if (j->p >= j->end)
                return 0;
            char e = *j->p++;
            if (e == 'u') {
                for (int i = 0; i < 4; i++, j->p++)
                    if (j->p >= j->end || !strchr("0123456789abcdefABCDEF", *j->p) || !*j->p)
                        return 0;
            } else if (!strchr("\"\\/bfnrt", e) || !e) {
                return 0;
            }
            continue;
        }
        size_t len = utf8_seq((const unsigned char *)j->p, (size_t)(j->end - j->p));
        if (len == 0)
            return 0;
        j->p += len;
    }
    return 0;
}

static int jv_value(struct jv *j);

static int jv_container(struct jv *j, char close, int object)
{
    if (++j->depth > 64)
        return 0;
    j->p++;
    jv_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        j->depth--;
        return 1;
    }
    for (;;) {
        jv_ws(j);
        if (object) {
            if (j->p >= j->end || *j->p != '"' || !jv_string(j))
                return 0;
            jv_ws(j);
            if (j->p >= j->end || *j->p++ != ':')
                return 0;
        }
        if (!jv_value(j))
            return 0;
        jv_ws(j);
        if (j->p >= j->end)
            return 0;
        char c = *j->p++;
        if (c == close)
            break;
        if (c != ',')
            return 0;
    }
    j->depth--;
    return 1;
}

static int jv_value(struct jv *j)
{
    jv_ws(j);
    if (j->p >= j->end)
        return 0;
    switch (*j->p) {
    case '{': return jv_container(j, '}', 1);
    case '[': return jv_container(j, ']', 0);
    case '"': return jv_string(j);
    case 't': return jv_lit(j, "true");
    case 'f': return jv_lit(j, "false");
    case 'n': return jv_lit(j, "null");
    default: return jv_number(j);
    }
}

int pt__json_valid(const char *s, size_t n)
{
    struct jv j = {s, s + n, 0};
    if (!jv_value(&j))
        return 0;
    jv_ws(&j);
    return j.p == j.end;
}

/* ---- time ---------------------------------------------------------------------------- */

void pt__json_time(char out[25], int64_t wall_ns)
{
    /* Records come in bursts within the same second: keep the formatted date of the last. */
    static int64_t cached_sec = INT64_MIN; /* only pt-log (or a forked child) formats */
    static char cached[21];
    int64_t sec = wall_ns >= 0 ? wall_ns / 1000000000 : (wall_ns - 999999999) / 1000000000;
    int ms = (int)((wall_ns - sec * 1000000000) / 1000000);
    if (sec != cached_sec) {
        time_t t = (time_t)sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = sec;
    }
    memcpy(out, cached, 19);
    out[19] = '.';
    out[20] = (char)('0' + ms / 100);
    out[21] = (char)('0' + ms / 10 % 10);
    out[22] = (char)('0' + ms % 10);
    out[23] = 'Z';
    out[24] = 0;
}
