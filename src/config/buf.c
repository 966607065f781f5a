/* A growable string for messages, origins and JSON texts (config_internal.h). An append that
 * cannot grow the buffer sets `oom` and leaves the content as it was; pt__cbuf_take() then
 * returns NULL, so callers check once at the end. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"
#include "core/number_internal.h"

static int reserve(pt__cbuf *b, size_t more)
{
    if (b->oom)
        return -1;
    if (b->cap - b->len > more)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len <= more) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void pt__cbuf_add(pt__cbuf *b, const char *s, size_t n)
{
    if (reserve(b, n) < 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void pt__cbuf_puts(pt__cbuf *b, const char *s)
{
    pt__cbuf_add(b, s, strlen(s));
}

void pt__cbuf_printf(pt__cbuf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];

    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        pt__cbuf_add(b, small, (size_t)n);
        return;
    }
    if (reserve(b, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void pt__cbuf_json_str(pt__cbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;

    pt__cbuf_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        pt__cbuf_add(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': pt__cbuf_add(b, "\\\"", 2); break;
        case '\\': pt__cbuf_add(b, "\\\\", 2); break;
        case '\n': pt__cbuf_add(b, "\\n", 2); break;
        case '\r': pt__cbuf_add(b, "\\r", 2); break;
        case '\t': pt__cbuf_add(b, "\\t", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            pt__cbuf_add(b, u, 6);
        }
        }
    }
    pt__cbuf_add(b, s + run, n - run);
    pt__cbuf_add(b, "\"", 1);
}

void pt__cfmt_double(char *out, size_t len, double d)
{
    pt__fmt_double(out, len, d);
    /* JSON needs a digit, a fraction or an exponent to say "number, not integer". */
    if (strpbrk(out, ".eEn") == NULL && strlen(out) + 2 < len)
        strcat(out, ".0");
}

void pt__cbuf_json(pt__cbuf *b, const pt__cjson *v)
{
    switch (v->type) {
    case PT__CJSON_NULL: pt__cbuf_puts(b, "null"); break;
    case PT__CJSON_BOOL: pt__cbuf_puts(b, v->u.b ? "true" : "false"); break;
    case PT__CJSON_INT: pt__cbuf_printf(b, "%lld", (long long)v->u.i); break;
    case PT__CJSON_DOUBLE: {
        char d[40];
        pt__cfmt_double(d, sizeof(d), v->u.d);
        pt__cbuf_puts(b, d);
        break;
    }
    case PT__CJSON_STRING: pt__cbuf_json_str(b, v->u.str.p, v->u.str.len); break;
    case PT__CJSON_ARRAY:
        pt__cbuf_add(b, "[", 1);
        for (size_t i = 0; i < v->u.arr.n; i++) {
            if (i > 0)
                pt__cbuf_add(b, ",", 1);
            pt__cbuf_json(b, &v->u.arr.items[i]);
        }
        pt__cbuf_add(b, "]", 1);
        break;
    case PT__CJSON_OBJECT:
        pt__cbuf_add(b, "{", 1);
        for (size_t i = 0; i < v->u.obj.n; i++) {
            const pt__cjson_member *m = &v->u.obj.members[i];
            if (i > 0)
                pt__cbuf_add(b, ",", 1);
            pt__cbuf_json_str(b, m->key, m->key_len);
            pt__cbuf_add(b, ":", 1);
            pt__cbuf_json(b, &m->value);
        }
        pt__cbuf_add(b, "}", 1);
        break;
    }
}

void pt__cbuf_free(pt__cbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

char *pt__cbuf_take(pt__cbuf *b)
{
    char *p = b->oom ? NULL : b->p ? b->p : strdup("");
    if (b->oom)
        free(b->p);
    memset(b, 0, sizeof(*b));
    return p;
}
