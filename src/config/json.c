/* The config part's JSON reader (json.h): a recursive-descent parser over a buffer that
 * allocates the tree from one arena per document.
 *
 * Linear time throughout: containers collect their children on scratch stacks and copy them
 * to the arena once closed; duplicate keys are found with one hash table per document, keyed
 * by (object, key); columns are counted forward from a checkpoint on the current line. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/json.h"
#include "core/number_internal.h"

/* ---- arena ------------------------------------------------------------------------------ */

struct chunk {
    struct chunk *next;
    size_t cap, used;
    max_align_t data[];
};

#define CHUNK_SIZE (64 * 1024)

struct pt__cjson_doc {
    struct chunk *chunks;
    pt__cjson root;
};

/* n bytes from the document's arena, aligned for any type; NULL when out of memory. */
static void *arena_alloc(pt__cjson_doc *doc, size_t n)
{
    const size_t align = sizeof(max_align_t);
    struct chunk *c = doc->chunks;

    if (n > SIZE_MAX - align)
        return NULL;
    n = (n + align - 1) / align * align;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > CHUNK_SIZE ? n : CHUNK_SIZE;
        if (cap > SIZE_MAX - sizeof(*c))
            return NULL;
        c = malloc(sizeof(*c) + cap);
        if (c == NULL)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = doc->chunks;
        doc->chunks = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

/* ---- parser state ----------------------------------------------------------------------- */

/* A duplicate-key table slot: the key of member `index` (on the member stack) of the object
 * numbered `serial`; serial 0 marks a free slot. */
struct slot {
    uint64_t hash;
    uint64_t serial;
    size_t index;
};

/* An open container or string, for "the object opened at 3:1 is not closed". */
struct opener {
    const char *kind;
    unsigned line, col;
};

typedef struct parser {
    const unsigned char *start, *end, *p;
    unsigned line;
    const unsigned char *line_start;
    const unsigned char *cp; /* column checkpoint: cp is at column cp_col of the line */
    unsigned cp_col;

    pt__cjson_doc *doc;
    pt__cjson_error *err;

    pt__cjson *vals; /* elements of the open arrays */
    size_t nvals, capvals;
    pt__cjson_member *mems; /* members of the open objects */
    size_t nmems, capmems;
    struct slot *slots; /* power-of-two sized, at most half full */
    size_t nslots, used_slots;
    uint64_t next_serial;

    int depth;
    struct opener open[PT__CJSON_MAX_DEPTH];
} parser;

/* ---- UTF-8 and positions ---------------------------------------------------------------- */

/* The length (1..4) of the valid UTF-8 sequence at s (n bytes available), or 0 if it is not
 * one: overlong forms, surrogates and code points beyond U+10FFFF are invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    unsigned lo = 0x80, hi = 0xBF;
    size_t len;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* The 1-based line and column of `at`, which must be on the current line. Columns count
 * code points; positions are asked for in increasing order, so counting starts from the last
 * answer and the total work is linear. */
static void position(parser *ps, const unsigned char *at, unsigned *line, unsigned *col)
{
    if (at < ps->cp) {
        ps->cp = ps->line_start;
        ps->cp_col = 1;
    }
    for (const unsigned char *q = ps->cp; q < at; q++)
        ps->cp_col += (*q & 0xC0) != 0x80;
    ps->cp = at;
    *line = ps->line;
    *col = ps->cp_col;
}

static void skip_ws(parser *ps)
{
    const unsigned char *q = ps->p;

    while (q < ps->end) {
        if (*q == '\n') {
            ps->line++;
            ps->line_start = ps->cp = q + 1;
            ps->cp_col = 1;
        } else if (*q != ' ' && *q != '\t' && *q != '\r') {
            break;
        }
        q++;
    }
    ps->p = q;
}

/* ---- errors ----------------------------------------------------------------------------- */

/* Records an error at `at` with a printf-style message; returns -EINVAL. */
__attribute__((format(printf, 3, 4))) static int fail(parser *ps, const unsigned char *at,
                                                      const char *fmt, ...)
{
    pt__cjson_error *e = ps->err;
    va_list ap;

    if (e == NULL)
        return -EINVAL;
    position(ps, at, &e->line, &e->col);
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static bool is_word(unsigned c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Fails with "<expected>, found <what is at `at`>". At the end of the input inside a
 * container, says which container is not closed instead; at a byte that starts no valid
 * UTF-8 sequence, says that. A word is shown whole ('True'), anything else as one character. */
static int fail_found(parser *ps, const unsigned char *at, const char *expected)
{
    size_t avail = (size_t)(ps->end - at), n = 1;

    if (avail == 0 && ps->depth > 0) {
        const struct opener *o = &ps->open[ps->depth - 1];
        return fail(ps, at, "unexpected end of file: the %s opened at %u:%u is not closed", o->kind,
                    o->line, o->col);
    }
    if (avail == 0)
        return fail(ps, at, "%s, found end of file", expected);
    if (*at >= 0x80 && (n = utf8_len(at, avail)) == 0)
        return fail(ps, at, "invalid UTF-8 (byte 0x%02X)", *at);
    if (*at < 0x20 || *at == 0x7F)
        return fail(ps, at, "%s, found U+%04X", expected, *at);
    if (is_word(*at))
        while (n < avail && n < 24 && is_word(at[n]))
            n++;
    const char *hint = *at == '/' || *at == '#' ? " (comments are not allowed)" : "";
    return fail(ps, at, "%s, found '%.*s'%s", expected, (int)n, (const char *)at, hint);
}

/* Copies s[0..n) into out for a message: printable as it is, other bytes below 0x20 as
 * \u00XX, cut (at a character boundary) with "..." past about 40 bytes. */
static void quote_for_message(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 10 >= outlen || (o >= 40 && (c & 0xC0) != 0x80)) {
            memcpy(out + o, "...", 4);
            return;
        }
        if (c < 0x20 || c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, outlen - o, "\\u%04X", c);
        else
            out[o++] = (char)c;
    }
    out[o] = 0;
}

/* ---- scratch stacks --------------------------------------------------------------------- */

/* The stack `base` (of *cap entries of `size` bytes) with room for entry n: base itself, or a
 * larger copy (then *cap is updated), or NULL when out of memory (base is left as it was). */
static void *grow(void *base, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return base;
    size_t ncap = *cap ? *cap * 2 : 64;
    if (ncap > SIZE_MAX / size)
        return NULL;
    void *p = realloc(base, ncap * size);
    if (p != NULL)
        *cap = ncap;
    return p;
}

static int out_of_memory(parser *ps)
{
    if (ps->err) {
        ps->err->line = ps->line;
        ps->err->col = 0;
        snprintf(ps->err->msg, sizeof(ps->err->msg), "out of memory");
    }
    return -ENOMEM;
}

/* A copy of src[0..bytes) in the arena; NULL when out of memory. */
static void *arena_copy(parser *ps, const void *src, size_t bytes)
{
    void *p = arena_alloc(ps->doc, bytes);

    if (p != NULL)
        memcpy(p, src, bytes);
    return p;
}

/* ---- duplicate keys --------------------------------------------------------------------- */

static uint64_t hash_key(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

static int grow_slots(parser *ps)
{
    size_t n = ps->nslots ? ps->nslots * 2 : 64;
    struct slot *s = calloc(n, sizeof(*s));

    if (s == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < ps->nslots; i++) {
        if (ps->slots[i].serial == 0)
            continue;
        size_t j = ps->slots[i].hash & (n - 1);
        while (s[j].serial != 0)
            j = (j + 1) & (n - 1);
        s[j] = ps->slots[i];
    }
    free(ps->slots);
    ps->slots = s;
    ps->nslots = n;
    return 0;
}

/* Adds the key of member `index` of object `serial` to the table, or fails with
 * `duplicate key "port" (first at 4:5)` if the object already has that key. */
static int add_key(parser *ps, uint64_t serial, size_t index, const unsigned char *at)
{
    const pt__cjson_member *m = &ps->mems[index];
    uint64_t h = hash_key(m->key, m->key_len);

    if ((ps->used_slots + 1) * 2 > ps->nslots && grow_slots(ps) < 0)
        return out_of_memory(ps);
    size_t j = h & (ps->nslots - 1);
    for (; ps->slots[j].serial != 0; j = (j + 1) & (ps->nslots - 1)) {
        const struct slot *s = &ps->slots[j];
        const pt__cjson_member *o = &ps->mems[s->index];
        if (s->serial != serial || s->hash != h || o->key_len != m->key_len ||
            memcmp(o->key, m->key, m->key_len) != 0)
            continue;
        char shown[64];
        quote_for_message(m->key, m->key_len, shown, sizeof(shown));
        return fail(ps, at, "duplicate key \"%s\" (first at %u:%u)", shown, o->line, o->col);
    }
    ps->slots[j] = (struct slot){h, serial, index};
    ps->used_slots++;
    return 0;
}

/* ---- strings ---------------------------------------------------------------------------- */

static int hex4(const unsigned char *q, const unsigned char *end, unsigned *out)
{
    unsigned v = 0;

    if (end - q < 4)
        return -1;
    for (int i = 0; i < 4; i++) {
        unsigned c = q[i];
        unsigned d = c >= '0' && c <= '9'   ? c - '0'
                     : c >= 'a' && c <= 'f' ? c - 'a' + 10
                     : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                            : 16;
        if (d == 16)
            return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

static char *put_utf8(char *d, unsigned cp)
{
    if (cp < 0x80) {
        *d++ = (char)cp;
    } else if (cp < 0x800) {
        *d++ = (char)(0xC0 | cp >> 6);
        *d++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *d++ = (char)(0xE0 | cp >> 12);
        *d++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *d++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *d++ = (char)(0xF0 | cp >> 18);
        *d++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *d++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *d++ = (char)(0x80 | (cp & 0x3F));
    }
    return d;
}

/* Decodes the \u escape at *q (the backslash) into *d: one code point, or a surrogate pair
 * given as two escapes. Advances both. */
static int decode_u(parser *ps, const unsigned char **q, char **d)
{
    const unsigned char *at = *q;
    unsigned cp, lo;

    if (hex4(at + 2, ps->end, &cp) < 0)
        return fail(ps, at, "invalid escape: expected 4 hex digits after \\u");
    *q = at + 6;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return fail(ps, at,
                    "lone surrogate \\u%04X in a string (a low surrogate must follow "
                    "a high one)",
                    cp);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        const unsigned char *n = *q;
        if (ps->end - n < 6 || n[0] != '\\' || n[1] != 'u' || hex4(n + 2, ps->end, &lo) < 0 ||
            lo < 0xDC00 || lo > 0xDFFF)
            return fail(ps, at,
                        "lone surrogate \\u%04X in a string (a high surrogate must be "
                        "followed by a low one, \\uDC00..\\uDFFF)",
                        cp);
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        *q = n + 6;
    }
    *d = put_utf8(*d, cp);
    return 0;
}

/* Decodes the escape at *q (the backslash) into *d and advances both. */
static int decode_escape(parser *ps, const unsigned char **q, char **d)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const unsigned char *at = *q;

    if (ps->end - at < 2) {
        *q = ps->end; /* the caller reports the unclosed string */
        return 0;
    }
    if (at[1] == 'u')
        return decode_u(ps, q, d);
    const char *k = at[1] ? strchr(from, at[1]) : NULL;
    if (k == NULL) {
        if (at[1] > 0x20 && at[1] < 0x7F)
            return fail(ps, at, "invalid escape '\\%c' in a string", at[1]);
        return fail(ps, at, "invalid escape in a string");
    }
    *(*d)++ = to[k - from];
    *q = at + 2;
    return 0;
}

/* Parses the string starting at ps->p (a '"') into arena memory: *out is NUL-terminated,
 * *len its decoded length. */
static int parse_string(parser *ps, const char **out, size_t *len)
{
    const unsigned char *open = ps->p, *q = open + 1;

    /* Decoded text is never longer than the source: bound it by the closing quote. */
    while (q < ps->end && *q != '"') {
        if (*q == '\\' && q + 1 < ps->end)
            q++;
        q++;
    }
    size_t bound = (size_t)((q < ps->end ? q : ps->end) - open);
    char *buf = arena_alloc(ps->doc, bound + 1), *d = buf;
    if (buf == NULL)
        return out_of_memory(ps);

    for (q = open + 1; q < ps->end && *q != '"';) {
        unsigned c = *q;
        size_t n = 1;
        if (c == '\\') {
            int rc = decode_escape(ps, &q, &d);
            if (rc < 0)
                return rc;
            continue;
        }
        if (c < 0x20)
            return fail(ps, q, "control character U+%04X in a string (escape it)", c);
        if (c >= 0x80 && (n = utf8_len(q, (size_t)(ps->end - q))) == 0)
            return fail(ps, q, "invalid UTF-8 (byte 0x%02X)", c);
        memcpy(d, q, n);
        d += n;
        q += n;
    }
    if (q >= ps->end) {
        unsigned line, col;
        position(ps, open, &line, &col);
        return fail(ps, ps->end, "unexpected end of file: the string opened at %u:%u is not closed",
                    line, col);
    }
    *d = 0;
    *out = buf;
    *len = (size_t)(d - buf);
    ps->p = q + 1;
    return 0;
}

/* ---- numbers and literals --------------------------------------------------------------- */

static bool is_digit(const parser *ps, const unsigned char *q)
{
    return q < ps->end && *q >= '0' && *q <= '9';
}

static const unsigned char *skip_digits(const parser *ps, const unsigned char *q)
{
    while (is_digit(ps, q))
        q++;
    return q;
}

static int out_of_range(parser *ps, const unsigned char *at, size_t n)
{
    if (n > 40)
        return fail(ps, at, "number %.40s... is out of range", (const char *)at);
    return fail(ps, at, "number %.*s is out of range", (int)n, (const char *)at);
}

/* The integer at[0..n) (an optional '-' and digits); an error beyond int64. */
static int to_int(parser *ps, const unsigned char *at, size_t n, pt__cjson *out)
{
    bool neg = at[0] == '-';
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;

    for (size_t i = neg; i < n; i++) {
        unsigned d = at[i] - '0';
        if (v > (limit - d) / 10)
            return out_of_range(ps, at, n);
        v = v * 10 + d;
    }
    out->type = PT__CJSON_INT;
    out->u.i = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* The double at[0..n), already checked against the JSON grammar; an error if it overflows.
 * Parsed in the C locale whatever the program's LC_NUMERIC. */
static int to_double(parser *ps, const unsigned char *at, size_t n, pt__cjson *out)
{
    char small[64], *buf = n < sizeof(small) ? small : malloc(n + 1);

    if (buf == NULL)
        return out_of_memory(ps);
    memcpy(buf, at, n);
    buf[n] = 0;
    double d = pt__strtod_c(buf, NULL);
    if (buf != small)
        free(buf);
    if (isinf(d))
        return out_of_range(ps, at, n);
    out->type = PT__CJSON_DOUBLE;
    out->u.d = d;
    return 0;
}

/* Parses the number at ps->p: an integer when it has no fraction and no exponent. */
static int parse_number(parser *ps, pt__cjson *out)
{
    const unsigned char *at = ps->p, *q = at;
    bool integer = true;

    if (*q == '-' && !is_digit(ps, ++q))
        return fail_found(ps, q, "expected a digit after '-'");
    if (*q == '0' && is_digit(ps, q + 1))
        return fail(ps, at, "leading zeros are not allowed in a number");
    q = skip_digits(ps, q);
    if (q < ps->end && *q == '.') {
        integer = false;
        if (!is_digit(ps, ++q))
            return fail_found(ps, q, "expected a digit after '.'");
        q = skip_digits(ps, q);
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        integer = false;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-'))
            q++;
        if (!is_digit(ps, q))
            return fail_found(ps, q, "expected a digit in the exponent");
        q = skip_digits(ps, q);
    }
    ps->p = q;
    size_t n = (size_t)(q - at);
    return integer ? to_int(ps, at, n, out) : to_double(ps, at, n, out);
}

/* true, false or null; anything else is not a value. */
static int parse_literal(parser *ps, pt__cjson *out)
{
    static const struct {
        const char *word;
        enum pt__cjson_type type;
        int b;
    } words[] = {
        {"true", PT__CJSON_BOOL, 1}, {"false", PT__CJSON_BOOL, 0}, {"null", PT__CJSON_NULL, 0}};
    const unsigned char *q = ps->p;

    while (q < ps->end && is_word(*q))
        q++;
    size_t n = (size_t)(q - ps->p);
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (n != strlen(words[i].word) || memcmp(ps->p, words[i].word, n) != 0)
            continue;
        out->type = words[i].type;
        out->u.b = words[i].b;
        ps->p = q;
        return 0;
    }
    return fail_found(ps, ps->p, "expected a value");
}

/* ---- containers ------------------------------------------------------------------------- */

static int parse_value(parser *ps, pt__cjson *out);

/* Enters the container at ps->p, which `out` describes; fails past the depth limit. */
static int open_container(parser *ps, const char *kind, const pt__cjson *out)
{
    if (ps->depth == PT__CJSON_MAX_DEPTH)
        return fail(ps, ps->p, "nesting deeper than %d levels", PT__CJSON_MAX_DEPTH);
    ps->open[ps->depth++] = (struct opener){kind, out->line, out->col};
    ps->p++;
    skip_ws(ps);
    return 0;
}

/* After an element or a member: 1 past a ',' (another follows), 0 past the closing `close`,
 * or the error "<expected>, found ...". */
static int next_or_close(parser *ps, unsigned char close, const char *expected)
{
    skip_ws(ps);
    if (ps->p == ps->end || (*ps->p != ',' && *ps->p != close))
        return fail_found(ps, ps->p, expected);
    return *ps->p++ == ',';
}

static int push_value(parser *ps, const pt__cjson *v)
{
    pt__cjson *vals = grow(ps->vals, &ps->capvals, ps->nvals, sizeof(*v));

    if (vals == NULL)
        return out_of_memory(ps);
    ps->vals = vals;
    ps->vals[ps->nvals++] = *v;
    return 0;
}

/* Parses the array at ps->p (a '['). */
static int parse_array(parser *ps, pt__cjson *out)
{
    size_t base = ps->nvals;
    int rc = open_container(ps, "array", out);

    if (rc < 0)
        return rc;
    out->type = PT__CJSON_ARRAY;
    bool more = ps->p == ps->end || *ps->p != ']';
    if (!more)
        ps->p++;
    while (more) {
        pt__cjson v;
        if ((rc = parse_value(ps, &v)) < 0 || (rc = push_value(ps, &v)) < 0 ||
            (rc = next_or_close(ps, ']', "expected ',' or ']' after an element")) < 0)
            return rc;
        more = rc;
    }
    ps->depth--;
    out->u.arr.n = ps->nvals - base;
    ps->nvals = base;
    if (out->u.arr.n == 0)
        return 0; /* the stack may never have been allocated */
    out->u.arr.items = arena_copy(ps, ps->vals + base, out->u.arr.n * sizeof(pt__cjson));
    return out->u.arr.items ? 0 : out_of_memory(ps);
}

/* Parses one member "key": value of the object numbered `serial` onto the member stack. */
static int parse_member(parser *ps, uint64_t serial, bool first)
{
    const unsigned char *at = ps->p;
    pt__cjson_member m = {0};
    int rc;

    if (at == ps->end || *at != '"')
        return fail_found(
            ps, at, first ? "expected a string key or '}'" : "expected a string key after ','");
    position(ps, at, &m.line, &m.col);
    if ((rc = parse_string(ps, &m.key, &m.key_len)) < 0)
        return rc;
    pt__cjson_member *mems = grow(ps->mems, &ps->capmems, ps->nmems, sizeof(m));
    if (mems == NULL)
        return out_of_memory(ps);
    ps->mems = mems;
    size_t index = ps->nmems++;
    ps->mems[index] = m;
    if ((rc = add_key(ps, serial, index, at)) < 0)
        return rc;
    skip_ws(ps);
    if (ps->p == ps->end || *ps->p != ':') {
        char shown[64], expected[96];
        quote_for_message(m.key, m.key_len, shown, sizeof(shown));
        snprintf(expected, sizeof(expected), "expected ':' after the key \"%s\"", shown);
        return fail_found(ps, ps->p, expected);
    }
    ps->p++;
    pt__cjson v;
    if ((rc = parse_value(ps, &v)) < 0)
        return rc;
    ps->mems[index].value = v; /* the stack may have moved while the value was parsed */
    return 0;
}

/* Parses the object at ps->p (a '{'). */
static int parse_object(parser *ps, pt__cjson *out)
{
    size_t base = ps->nmems;
    uint64_t serial = ++ps->next_serial;
    int rc = open_container(ps, "object", out);

    if (rc < 0)
        return rc;
    out->type = PT__CJSON_OBJECT;
    bool more = ps->p == ps->end || *ps->p != '}';
    if (!more)
        ps->p++;
    for (bool first = true; more; first = false) {
        skip_ws(ps);
        if ((rc = parse_member(ps, serial, first)) < 0 ||
            (rc = next_or_close(ps, '}', "expected ',' or '}' after a member")) < 0)
            return rc;
        more = rc;
    }
    ps->depth--;
    out->u.obj.n = ps->nmems - base;
    ps->nmems = base;
    if (out->u.obj.n == 0)
        return 0; /* the stack may never have been allocated */
    out->u.obj.members = arena_copy(ps, ps->mems + base, out->u.obj.n * sizeof(pt__cjson_member));
    return out->u.obj.members ? 0 : out_of_memory(ps);
}

/* Parses the value after any whitespace at ps->p into *out, with its position. */
static int parse_value(parser *ps, pt__cjson *out)
{
    skip_ws(ps);
    memset(out, 0, sizeof(*out));
    if (ps->p == ps->end)
        return fail_found(ps, ps->p, "expected a value");
    position(ps, ps->p, &out->line, &out->col);
    switch (*ps->p) {
    case '{': return parse_object(ps, out);
    case '[': return parse_array(ps, out);
    case '"': out->type = PT__CJSON_STRING; return parse_string(ps, &out->u.str.p, &out->u.str.len);
    case '-': return parse_number(ps, out);
    default:
        if (*ps->p >= '0' && *ps->p <= '9')
            return parse_number(ps, out);
        return parse_literal(ps, out);
    }
}

/* ---- documents -------------------------------------------------------------------------- */

/* The document after an optional UTF-8 byte order mark, which is skipped and not counted as
 * a column. */
static int parse_document(parser *ps)
{
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};

    if (ps->end - ps->p >= 3 && memcmp(ps->p, bom, 3) == 0)
        ps->p = ps->line_start = ps->cp = ps->p + 3;
    skip_ws(ps);
    if (ps->p == ps->end)
        return fail(ps, ps->p, "the document is empty (expected a value)");
    int rc = parse_value(ps, &ps->doc->root);
    if (rc < 0)
        return rc;
    skip_ws(ps);
    if (ps->p != ps->end)
        return fail_found(ps, ps->p, "expected end of file after the top-level value");
    return 0;
}

int pt__cjson_parse(const char *text, size_t len, pt__cjson_doc **out, pt__cjson_error *err)
{
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    parser ps = {.start = s,
                 .end = s + (text ? len : 0),
                 .p = s,
                 .line = 1,
                 .line_start = s,
                 .cp = s,
                 .cp_col = 1,
                 .err = err};

    *out = NULL;
    if (err)
        memset(err, 0, sizeof(*err));
    ps.doc = calloc(1, sizeof(*ps.doc));
    if (ps.doc == NULL)
        return out_of_memory(&ps);
    int rc = parse_document(&ps);
    free(ps.vals);
    free(ps.mems);
    free(ps.slots);
    if (rc < 0) {
        pt__cjson_free(ps.doc);
        return rc;
    }
    *out = ps.doc;
    return 0;
}

void pt__cjson_free(pt__cjson_doc *doc)
{
    if (doc == NULL)
        return;
    for (struct chunk *c = doc->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(doc);
}

const pt__cjson *pt__cjson_root(const pt__cjson_doc *doc)
{
    return &doc->root;
}

/* ---- reading the tree ------------------------------------------------------------------- */

int pt__cjson_require_object(const pt__cjson *v, pt__cjson_error *err)
{
    if (v->type == PT__CJSON_OBJECT)
        return 0;
    if (err) {
        err->line = v->line;
        err->col = v->col;
        snprintf(err->msg, sizeof(err->msg),
                 "expected an object at the top of the document, "
                 "found %s",
                 pt__cjson_type_name(v->type));
    }
    return -EINVAL;
}

const pt__cjson *pt__cjson_get(const pt__cjson *obj, const char *key)
{
    if (obj == NULL || obj->type != PT__CJSON_OBJECT)
        return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < obj->u.obj.n; i++) {
        const pt__cjson_member *m = &obj->u.obj.members[i];
        if (m->key_len == n && memcmp(m->key, key, n) == 0)
            return &m->value;
    }
    return NULL;
}

size_t pt__cjson_count(const pt__cjson *v)
{
    if (v->type == PT__CJSON_ARRAY)
        return v->u.arr.n;
    if (v->type == PT__CJSON_OBJECT)
        return v->u.obj.n;
    return 0;
}

const pt__cjson *pt__cjson_item(const pt__cjson *arr, size_t i)
{
    if (arr->type != PT__CJSON_ARRAY || i >= arr->u.arr.n)
        return NULL;
    return &arr->u.arr.items[i];
}

const pt__cjson_member *pt__cjson_member_at(const pt__cjson *obj, size_t i)
{
    if (obj->type != PT__CJSON_OBJECT || i >= obj->u.obj.n)
        return NULL;
    return &obj->u.obj.members[i];
}

const char *pt__cjson_type_name(int type)
{
    switch (type) {
    case PT__CJSON_NULL: return "null";
    case PT__CJSON_BOOL: return "a boolean";
    case PT__CJSON_INT: return "an integer";
    case PT__CJSON_DOUBLE: return "a number";
    case PT__CJSON_STRING: return "a string";
    case PT__CJSON_ARRAY: return "an array";
    case PT__CJSON_OBJECT: return "an object";
    default: return "an unknown type";
    }
}
