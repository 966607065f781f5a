/* libFuzzer target: the config part's JSON reader (src/config/json.h), on any bytes.
 *
 * Properties checked, beyond "no crash, no sanitizer report":
 *  - a refused document has a position (line and column from 1) and a message, and no tree;
 *  - an accepted one, written out again by the small serializer below, is accepted again and
 *    gives an equal tree (types, values, keys, order);
 *  - every string and key of an accepted document is valid UTF-8 (the serializer writes them
 *    raw, so the second parse checks it). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/json.h"

static void require(int ok)
{
    if (!ok)
        abort();
}

struct out {
    char *p;
    size_t len, cap;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->len + n > o->cap) {
        o->cap = (o->len + n) * 2 + 64;
        o->p = realloc(o->p, o->cap);
        require(o->p != NULL);
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_str(struct out *o, const char *s, size_t n)
{
    put(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c < 0x20 || c == '"' || c == '\\') {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            put(o, esc, 6);
        } else {
            put(o, s + i, 1);
        }
    }
    put(o, "\"", 1);
}

/* Writes v as JSON; a double always gets a '.' or an exponent so it reads back as a double. */
static void serialize(struct out *o, const pt__cjson *v)
{
    char num[40];
    int n;

    switch (v->type) {
    case PT__CJSON_NULL: put(o, "null", 4); break;
    case PT__CJSON_BOOL: put(o, v->u.b ? "true" : "false", v->u.b ? 4 : 5); break;
    case PT__CJSON_INT:
        n = snprintf(num, sizeof(num), "%lld", (long long)v->u.i);
        put(o, num, (size_t)n);
        break;
    case PT__CJSON_DOUBLE:
        n = snprintf(num, sizeof(num), "%.17g", v->u.d);
        put(o, num, (size_t)n);
        if (strpbrk(num, ".e") == NULL)
            put(o, ".0", 2);
        break;
    case PT__CJSON_STRING: put_str(o, v->u.str.p, v->u.str.len); break;
    case PT__CJSON_ARRAY:
        put(o, "[", 1);
        for (size_t i = 0; i < v->u.arr.n; i++) {
            if (i)
                put(o, ",", 1);
            serialize(o, &v->u.arr.items[i]);
        }
        put(o, "]", 1);
        break;
    case PT__CJSON_OBJECT:
        put(o, "{", 1);
        for (size_t i = 0; i < v->u.obj.n; i++) {
            const pt__cjson_member *m = &v->u.obj.members[i];
            if (i)
                put(o, ",", 1);
            put_str(o, m->key, m->key_len);
            put(o, ":", 1);
            serialize(o, &m->value);
        }
        put(o, "}", 1);
        break;
    }
}

static int same(const pt__cjson *a, const pt__cjson *b)
{
    if (a->type != b->type || a->line == 0 || a->col == 0)
        return 0;
    switch (a->type) {
    case PT__CJSON_NULL: return 1;
    case PT__CJSON_BOOL: return a->u.b == b->u.b;
    case PT__CJSON_INT: return a->u.i == b->u.i;
    case PT__CJSON_DOUBLE: return memcmp(&a->u.d, &b->u.d, sizeof(double)) == 0;
    case PT__CJSON_STRING:
        return a->u.str.len == b->u.str.len && a->u.str.p[a->u.str.len] == 0 &&
               memcmp(a->u.str.p, b->u.str.p, a->u.str.len) == 0;
    case PT__CJSON_ARRAY:
        if (a->u.arr.n != b->u.arr.n)
            return 0;
        for (size_t i = 0; i < a->u.arr.n; i++)
            if (!same(&a->u.arr.items[i], &b->u.arr.items[i]))
                return 0;
        return 1;
    case PT__CJSON_OBJECT:
        if (a->u.obj.n != b->u.obj.n)
            return 0;
        for (size_t i = 0; i < a->u.obj.n; i++) {
            const pt__cjson_member *x = &a->u.obj.members[i], *y = &b->u.obj.members[i];
            if (x->key_len != y->key_len || memcmp(x->key, y->key, x->key_len) != 0 ||
                !same(&x->value, &y->value) ||
                (!memchr(x->key, 0, x->key_len) && pt__cjson_get(a, x->key) == NULL))
                return 0;
        }
        return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pt__cjson_doc *doc = NULL, *again = NULL;
    pt__cjson_error e;
    int rc = pt__cjson_parse((const char *)data, size, &doc, &e);

    if (rc < 0) {
        require(rc == -EINVAL && doc == NULL && e.line >= 1 && e.col >= 1 && e.msg[0] != 0);
        return 0;
    }
    struct out o = {0};
    serialize(&o, pt__cjson_root(doc));
    rc = pt__cjson_parse(o.p, o.len, &again, &e);
    if (rc != 0)
        fprintf(stderr, "re-parse failed at %u:%u: %s\n", e.line, e.col, e.msg);
    require(rc == 0);
    require(same(pt__cjson_root(doc), pt__cjson_root(again)));
    pt__cjson_free(again);
    pt__cjson_free(doc);
    free(o.p);
    return 0;
}
