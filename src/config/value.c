/* Typed values of declared keys: parsing them from command-line text and from JSON, checking
 * their range, and writing them as JSON (config_internal.h). Every refusal says what was
 * expected and what was found: "expected an integer in 1..65535, found 70000". */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_internal.h"
#include "config/units.h"
#include "core/number_internal.h"

/* ---- values --------------------------------------------------------------------------- */

void pt__cval_free(pt__cval *v)
{
    free(v->str);
    for (size_t i = 0; i < v->n; i++)
        free(v->items[i]);
    free(v->items);
    memset(v, 0, sizeof(*v));
}

int pt__cval_copy(pt__cval *dst, const pt__cval *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->set = src->set;
    dst->bits = src->bits;
    if (src->str) {
        dst->str = malloc(src->len + 1);
        if (dst->str == NULL)
            return -ENOMEM;
        memcpy(dst->str, src->str, src->len + 1);
        dst->len = src->len;
    }
    if (src->n > 0) {
        dst->items = calloc(src->n, sizeof(char *));
        if (dst->items == NULL)
            goto oom;
        for (; dst->n < src->n; dst->n++)
            if ((dst->items[dst->n] = strdup(src->items[dst->n])) == NULL)
                goto oom;
    }
    return 0;
oom:
    pt__cval_free(dst);
    return -ENOMEM;
}

int pt__cval_equal(const pt__cval *a, const pt__cval *b)
{
    if (a->set != b->set)
        return 0;
    if (!a->set)
        return 1;
    if (a->bits != b->bits || a->n != b->n || (a->str == NULL) != (b->str == NULL))
        return 0;
    if (a->str && (a->len != b->len || memcmp(a->str, b->str, a->len) != 0))
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->items[i], b->items[i]) != 0)
            return 0;
    return 1;
}

/* ---- messages --------------------------------------------------------------------------- */

/* Appends text as a quoted string for a message: `"`, `\` and control characters escaped,
 * cut with "..." after 40 bytes (at a character boundary). */
static void quote(pt__cbuf *b, const char *s, size_t n)
{
    size_t cut = n;
    if (n > 40) {
        cut = 40;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
    }
    pt__cbuf_add(b, "\"", 1);
    for (size_t i = 0; i < cut; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c < 0x20)
            pt__cbuf_printf(b, "\\u%04x", c);
        else
            pt__cbuf_add(b, s + i, 1);
    }
    pt__cbuf_puts(b, cut < n ? "...\"" : "\"");
}

static const char *noun(int type)
{
    switch (type) {
    case PT_CONFIG_STRING: return "a string";
    case PT_CONFIG_INT: return "an integer";
    case PT_CONFIG_UINT: return "a non-negative integer";
    case PT_CONFIG_DOUBLE: return "a number";
    case PT_CONFIG_BOOL: return "true or false";
    case PT_CONFIG_DURATION: return "a duration such as \"250ms\"";
    case PT_CONFIG_SIZE: return "a size such as \"64MiB\"";
    case PT_CONFIG_LIST: return "a list of strings";
    case PT_CONFIG_OBJECT: return "an object";
    }
    return "a value";
}

void pt__ckey_expected(pt__cbuf *b, const pt__ckey *key)
{
    if (key->type == PT_CONFIG_ENUM) {
        pt__cbuf_puts(b, "one of ");
        for (size_t i = 0; i < key->n_enum; i++)
            pt__cbuf_printf(b, "%s%s", i ? ", " : "", key->enum_names[i]);
        return;
    }
    pt__cbuf_puts(b, noun(key->type));
    if (key->range_text == NULL)
        return;
    const char *dots = strstr(key->range_text, "..");
    if (key->has_min && key->has_max)
        pt__cbuf_printf(b, " in %s", key->range_text);
    else if (key->has_min)
        pt__cbuf_printf(b, " of at least %.*s", (int)(dots - key->range_text), key->range_text);
    else if (key->has_max)
        pt__cbuf_printf(b, " of at most %s", dots + 2);
}

const char *pt__ckey_metavar(const pt__ckey *key)
{
    switch (key->type) {
    case PT_CONFIG_STRING: return "STRING";
    case PT_CONFIG_INT: return "INT";
    case PT_CONFIG_UINT: return "UINT";
    case PT_CONFIG_DOUBLE: return "NUMBER";
    case PT_CONFIG_BOOL: return "true|false";
    case PT_CONFIG_DURATION: return "DURATION";
    case PT_CONFIG_SIZE: return "SIZE";
    case PT_CONFIG_ENUM: return key->range_text;
    case PT_CONFIG_LIST: return "A,B,..";
    case PT_CONFIG_OBJECT: return "JSON";
    }
    return "VALUE";
}

/* Writes "expected <what the key takes>, found <found>" into why. */
static int refuse(const pt__ckey *key, const pt__cbuf *found, char *why, size_t whylen)
{
    pt__cbuf b = {0};
    pt__cbuf_puts(&b, "expected ");
    pt__ckey_expected(&b, key);
    pt__cbuf_printf(&b, ", found %s", found->p ? found->p : "");
    if (why && whylen)
        snprintf(why, whylen, "%s", b.oom ? "out of memory" : b.p);
    pt__cbuf_free(&b);
    return -EINVAL;
}

static int refuse_text(const pt__ckey *key, const char *text, char *why, size_t whylen)
{
    pt__cbuf f = {0};
    quote(&f, text, strlen(text));
    int rc = refuse(key, &f, why, whylen);
    pt__cbuf_free(&f);
    return rc;
}

/* "a string (\"8080\")", "an integer (8080)", "null", "an array" for a value of the wrong
 * type; the bare value ("70000", "\"verbose\"") when with_type is 0. */
static int refuse_json(const pt__ckey *key, const pt__cjson *v, int with_type, char *why,
                       size_t whylen)
{
    pt__cbuf f = {0};
    int scalar = v->type != PT__CJSON_ARRAY && v->type != PT__CJSON_OBJECT;
    if (with_type || !scalar)
        pt__cbuf_puts(&f, pt__cjson_type_name(v->type));
    if (scalar && v->type != PT__CJSON_NULL) {
        if (with_type)
            pt__cbuf_puts(&f, " (");
        if (v->type == PT__CJSON_STRING)
            quote(&f, v->u.str.p, v->u.str.len);
        else
            pt__cbuf_json(&f, v);
        if (with_type)
            pt__cbuf_puts(&f, ")");
    }
    int rc = refuse(key, &f, why, whylen);
    pt__cbuf_free(&f);
    return rc;
}

/* ---- ranges ----------------------------------------------------------------------------- */

/* 0 if v is within key's range; else -EINVAL with "expected an integer in 1..65535, found
 * <shown>". */
static int check_range(const pt__ckey *key, const pt__cval *v, const char *shown, char *why,
                       size_t whylen)
{
    int low = 0, high = 0;

    switch (key->type) {
    case PT_CONFIG_INT:
    case PT_CONFIG_DURATION:
        low = key->has_min && (int64_t)v->bits < key->min.i;
        high = key->has_max && (int64_t)v->bits > key->max.i;
        break;
    case PT_CONFIG_UINT:
    case PT_CONFIG_SIZE:
        low = key->has_min && v->bits < key->min.u;
        high = key->has_max && v->bits > key->max.u;
        break;
    case PT_CONFIG_DOUBLE: {
        double d;
        memcpy(&d, &v->bits, sizeof(d));
        low = key->has_min && d < key->min.d;
        high = key->has_max && d > key->max.d;
        break;
    }
    }
    if (!low && !high)
        return 0;
    pt__cbuf f = {0};
    pt__cbuf_puts(&f, shown);
    int rc = refuse(key, &f, why, whylen);
    pt__cbuf_free(&f);
    return rc;
}

/* ---- parsing ---------------------------------------------------------------------------- */

/* A decimal integer: an optional '-' and digits, nothing else; -ERANGE beyond int64. */
static int parse_i64(const char *s, int64_t *out)
{
    int neg = *s == '-';
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    const char *p = s + neg;

    if (*p == '\0')
        return -EINVAL;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*p - '0');
        if (v > (limit - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0')
        return -EINVAL;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* A finite decimal number as JSON writes them (no hex, inf or nan). */
static int parse_double(const char *s, double *out)
{
    char *end;

    if (*s == '\0' || strspn(s, "0123456789+-.eE") != strlen(s))
        return -EINVAL;
    double d = pt__strtod_c(s, &end);
    if (*end != '\0' || !isfinite(d))
        return -EINVAL;
    *out = d;
    return 0;
}

static int enum_index(const pt__ckey *key, const char *s, size_t n)
{
    for (size_t i = 0; i < key->n_enum; i++)
        if (strlen(key->enum_names[i]) == n && strncasecmp(key->enum_names[i], s, n) == 0)
            return (int)i;
    return -1;
}

/* The offset of the first byte that is not valid UTF-8 (overlong forms, surrogates and code
 * points beyond U+10FFFF included), or -1. */
static long bad_utf8(const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], len = c < 0x80             ? 1
                                 : (c & 0xE0) == 0xC0 ? 2
                                 : (c & 0xF0) == 0xE0 ? 3
                                 : (c & 0xF8) == 0xF0 ? 4
                                                      : 0;
        if (len == 0 || i + len > n)
            return (long)i;
        uint32_t cp = len == 1 ? c : c & (0x7Fu >> len);
        for (unsigned j = 1; j < len; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return (long)i;
            cp = cp << 6 | (s[i + j] & 0x3Fu);
        }
        static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < least[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return (long)i;
        i += len;
    }
    return -1;
}

int pt__cutf8_valid(const char *s)
{
    return bad_utf8(s, strlen(s)) < 0;
}

static int refuse_utf8(const pt__ckey *key, const char *text, long at, char *why, size_t whylen)
{
    (void)key;
    snprintf(why, whylen, "expected UTF-8 text, found the byte 0x%02X at offset %ld",
             (unsigned char)text[at], at);
    return -EINVAL;
}

static int set_str(pt__cval *out, const char *s, size_t n)
{
    out->str = malloc(n + 1);
    if (out->str == NULL)
        return -ENOMEM;
    memcpy(out->str, s, n);
    out->str[n] = '\0';
    out->len = n;
    return 0;
}

static int add_item(pt__cval *out, const char *s, size_t n)
{
    char **items = realloc(out->items, (out->n + 1) * sizeof(char *));
    if (items == NULL)
        return -ENOMEM;
    out->items = items;
    if ((items[out->n] = strndup(s, n)) == NULL)
        return -ENOMEM;
    out->n++;
    return 0;
}

/* Parses text as JSON and converts the value; for lists and objects given on the command
 * line. Syntax errors say where in the text they are. */
static int from_json_text(const pt__ckey *key, const char *text, pt__cval *out, char *why,
                          size_t whylen)
{
    pt__cjson_doc *doc;
    pt__cjson_error e;
    int rc = pt__cjson_parse(text, strlen(text), &doc, &e);
    if (rc == -EINVAL) {
        pt__cbuf b = {0};
        pt__cbuf_puts(&b, "expected ");
        pt__ckey_expected(&b, key);
        pt__cbuf_printf(&b, " in JSON, found ");
        quote(&b, text, strlen(text));
        pt__cbuf_printf(&b, " (column %u: %s)", e.col, e.msg);
        snprintf(why, whylen, "%s", b.oom ? "out of memory" : b.p);
        pt__cbuf_free(&b);
        return -EINVAL;
    }
    if (rc < 0)
        return rc;
    rc = pt__cval_from_json(key, pt__cjson_root(doc), out, why, whylen);
    pt__cjson_free(doc);
    return rc;
}

/* A secret's value is never shown: its messages say only what was expected. */
static int hide_secret(const pt__ckey *key, int rc, char *why, size_t whylen)
{
    if (rc != -EINVAL || !(key->flags & PT_CONFIG_SECRET) || why == NULL || whylen == 0)
        return rc;
    pt__cbuf b = {0};
    pt__cbuf_puts(&b, "expected ");
    pt__ckey_expected(&b, key);
    pt__cbuf_puts(&b, " (the value of a secret is not shown)");
    snprintf(why, whylen, "%s", b.oom ? "out of memory" : b.p);
    pt__cbuf_free(&b);
    return rc;
}

static int from_text(const pt__ckey *key, const char *text, pt__cval *out, char *why,
                     size_t whylen);
static int from_json(const pt__ckey *key, const pt__cjson *v, pt__cval *out, char *why,
                     size_t whylen);

int pt__cval_from_text(const pt__ckey *key, const char *text, pt__cval *out, char *why,
                       size_t whylen)
{
    int rc = from_text(key, text, out, why, whylen);
    if (rc < 0)
        pt__cval_free(out);
    return hide_secret(key, rc, why, whylen);
}

int pt__cval_from_json(const pt__ckey *key, const pt__cjson *v, pt__cval *out, char *why,
                       size_t whylen)
{
    int rc = from_json(key, v, out, why, whylen);
    if (rc < 0)
        pt__cval_free(out);
    return hide_secret(key, rc, why, whylen);
}

static int from_text(const pt__ckey *key, const char *text, pt__cval *out, char *why, size_t whylen)
{
    int rc = 0;

    memset(out, 0, sizeof(*out));
    out->set = 1;
    long bad = bad_utf8(text, strlen(text));
    if (bad >= 0 && (key->type == PT_CONFIG_STRING || key->type == PT_CONFIG_LIST))
        return refuse_utf8(key, text, bad, why, whylen);
    switch (key->type) {
    case PT_CONFIG_STRING: return set_str(out, text, strlen(text));
    case PT_CONFIG_INT: {
        int64_t i;
        if (parse_i64(text, &i) < 0)
            return refuse_text(key, text, why, whylen);
        out->bits = (uint64_t)i;
        return check_range(key, out, text, why, whylen);
    }
    case PT_CONFIG_UINT:
        if (parse_u64(text, &out->bits) < 0)
            return refuse_text(key, text, why, whylen);
        return check_range(key, out, text, why, whylen);
    case PT_CONFIG_DOUBLE: {
        double d;
        if (parse_double(text, &d) < 0)
            return refuse_text(key, text, why, whylen);
        memcpy(&out->bits, &d, sizeof(d));
        return check_range(key, out, text, why, whylen);
    }
    case PT_CONFIG_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0)
            out->bits = 1;
        else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0)
            out->bits = 0;
        else
            return refuse_text(key, text, why, whylen);
        return 0;
    case PT_CONFIG_DURATION:
    case PT_CONFIG_SIZE: {
        int64_t ns;
        if (key->type == PT_CONFIG_DURATION ? pt__cfg_parse_duration(text, &ns, why, whylen) < 0
                                            : pt__cfg_parse_size(text, &out->bits, why, whylen) < 0)
            return -EINVAL;
        if (key->type == PT_CONFIG_DURATION)
            out->bits = (uint64_t)ns;
        pt__cbuf q = {0};
        quote(&q, text, strlen(text));
        rc = check_range(key, out, q.oom ? text : q.p, why, whylen);
        pt__cbuf_free(&q);
        return rc;
    }
    case PT_CONFIG_ENUM: {
        int i = enum_index(key, text, strlen(text));
        if (i < 0)
            return refuse_text(key, text, why, whylen);
        out->bits = (uint64_t)i;
        return 0;
    }
    case PT_CONFIG_LIST:
        if (text[0] == '[')
            return from_json_text(key, text, out, why, whylen);
        for (const char *p = text; *p && rc == 0;) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            rc = add_item(out, p, n);
            p += n + (comma != NULL);
            if (comma && *p == '\0')
                rc = add_item(out, "", 0); /* "a," has an empty last item */
        }
        if (rc < 0)
            pt__cval_free(out);
        return rc;
    case PT_CONFIG_OBJECT: return from_json_text(key, text, out, why, whylen);
    }
    return -EINVAL;
}

static int from_json(const pt__ckey *key, const pt__cjson *v, pt__cval *out, char *why,
                     size_t whylen)
{
    char shown[48];
    int rc;

    memset(out, 0, sizeof(*out));
    if (v->type == PT__CJSON_NULL)
        return 0; /* unset in this layer */
    out->set = 1;
    switch (key->type) {
    case PT_CONFIG_STRING:
        if (v->type != PT__CJSON_STRING)
            return refuse_json(key, v, 1, why, whylen);
        if (memchr(v->u.str.p, '\0', v->u.str.len))
            return snprintf(why, whylen, "expected a string without NUL characters (\\u0000)"),
                   -EINVAL;
        return set_str(out, v->u.str.p, v->u.str.len);
    case PT_CONFIG_INT:
    case PT_CONFIG_UINT:
        if (v->type != PT__CJSON_INT || (key->type == PT_CONFIG_UINT && v->u.i < 0))
            return refuse_json(key, v, v->type != PT__CJSON_INT, why, whylen);
        out->bits = (uint64_t)v->u.i;
        snprintf(shown, sizeof(shown), "%lld", (long long)v->u.i);
        return check_range(key, out, shown, why, whylen);
    case PT_CONFIG_DOUBLE: {
        if (v->type != PT__CJSON_INT && v->type != PT__CJSON_DOUBLE)
            return refuse_json(key, v, 1, why, whylen);
        double d = v->type == PT__CJSON_INT ? (double)v->u.i : v->u.d;
        memcpy(&out->bits, &d, sizeof(d));
        pt__cfmt_double(shown, sizeof(shown), d);
        return check_range(key, out, shown, why, whylen);
    }
    case PT_CONFIG_BOOL:
        if (v->type != PT__CJSON_BOOL)
            return refuse_json(key, v, 1, why, whylen);
        out->bits = (uint64_t)(v->u.b != 0);
        return 0;
    case PT_CONFIG_DURATION:
    case PT_CONFIG_SIZE:
        if (key->type == PT_CONFIG_SIZE && v->type == PT__CJSON_INT && v->u.i >= 0) {
            out->bits = (uint64_t)v->u.i;
            snprintf(shown, sizeof(shown), "%lld", (long long)v->u.i);
            return check_range(key, out, shown, why, whylen);
        }
        if (v->type != PT__CJSON_STRING || memchr(v->u.str.p, '\0', v->u.str.len))
            return refuse_json(key, v, 1, why, whylen);
        return pt__cval_from_text(key, v->u.str.p, out, why, whylen);
    case PT_CONFIG_ENUM: {
        if (v->type != PT__CJSON_STRING)
            return refuse_json(key, v, 1, why, whylen);
        int i = enum_index(key, v->u.str.p, v->u.str.len);
        if (i < 0)
            return refuse_json(key, v, 0, why, whylen);
        out->bits = (uint64_t)i;
        return 0;
    }
    case PT_CONFIG_LIST:
        if (v->type != PT__CJSON_ARRAY)
            return refuse_json(key, v, 1, why, whylen);
        for (size_t i = 0; i < v->u.arr.n; i++) {
            const pt__cjson *it = &v->u.arr.items[i];
            if (it->type != PT__CJSON_STRING || memchr(it->u.str.p, '\0', it->u.str.len)) {
                pt__cval_free(out);
                pt__cbuf f = {0};
                pt__cbuf_printf(&f, "an array whose item %zu (at %u:%u) is ", i + 1, it->line,
                                it->col);
                pt__cbuf_puts(&f, it->type == PT__CJSON_STRING ? "a string with a NUL"
                                                               : pt__cjson_type_name(it->type));
                rc = refuse(key, &f, why, whylen);
                pt__cbuf_free(&f);
                return rc;
            }
            if ((rc = add_item(out, it->u.str.p, it->u.str.len)) < 0) {
                pt__cval_free(out);
                return rc;
            }
        }
        return 0;
    case PT_CONFIG_OBJECT: {
        if (v->type != PT__CJSON_OBJECT)
            return refuse_json(key, v, 1, why, whylen);
        pt__cbuf b = {0};
        pt__cbuf_json(&b, v);
        out->len = b.len;
        out->str = pt__cbuf_take(&b);
        return out->str ? 0 : -ENOMEM;
    }
    }
    return -EINVAL;
}

/* ---- writing ---------------------------------------------------------------------------- */

void pt__cval_json(pt__cbuf *b, const pt__ckey *key, const pt__cval *v, int redact)
{
    char t[PT__CFG_DURATION_LEN > 40 ? PT__CFG_DURATION_LEN : 40];

    if (!v->set) {
        pt__cbuf_puts(b, "null");
        return;
    }
    if (redact && (key->flags & PT_CONFIG_SECRET)) {
        pt__cbuf_puts(b, "\"<redacted>\"");
        return;
    }
    switch (key->type) {
    case PT_CONFIG_STRING:
    case PT_CONFIG_OBJECT:
        if (key->type == PT_CONFIG_OBJECT)
            pt__cbuf_add(b, v->str, v->len);
        else
            pt__cbuf_json_str(b, v->str, v->len);
        break;
    case PT_CONFIG_INT: pt__cbuf_printf(b, "%lld", (long long)(int64_t)v->bits); break;
    case PT_CONFIG_UINT: pt__cbuf_printf(b, "%llu", (unsigned long long)v->bits); break;
    case PT_CONFIG_DOUBLE: {
        double d;
        memcpy(&d, &v->bits, sizeof(d));
        pt__cfmt_double(t, sizeof(t), d);
        pt__cbuf_puts(b, t);
        break;
    }
    case PT_CONFIG_BOOL: pt__cbuf_puts(b, v->bits ? "true" : "false"); break;
    case PT_CONFIG_DURATION:
        pt__cfg_format_duration((int64_t)v->bits, t, sizeof(t));
        pt__cbuf_json_str(b, t, strlen(t));
        break;
    case PT_CONFIG_SIZE:
        pt__cfg_format_size(v->bits, t, sizeof(t));
        pt__cbuf_json_str(b, t, strlen(t));
        break;
    case PT_CONFIG_ENUM: {
        const char *name = key->enum_names[v->bits];
        pt__cbuf_json_str(b, name, strlen(name));
        break;
    }
    case PT_CONFIG_LIST:
        pt__cbuf_puts(b, "[");
        for (size_t i = 0; i < v->n; i++) {
            if (i > 0)
                pt__cbuf_puts(b, ",");
            pt__cbuf_json_str(b, v->items[i], strlen(v->items[i]));
        }
        pt__cbuf_puts(b, "]");
        break;
    }
}
