/* libFuzzer target: the config part's JSON reader (src/config/json.h), on any bytes.
 *
 * Properties checked, beyond "no crash, no sanitizer report":
 *  - a refused document has a position (line and column from 1) and a message, and no tree;
 *  - an accepted one, written out again by the config part's own writer (pt__cbuf_json(), as
 *    objects given as values are shown), is accepted again and gives an equal tree (types,
 *    values, keys, order);
 *  - every string and key of an accepted document is valid UTF-8 (the writer copies them
 *    raw, so the second parse checks it). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h" /* pt__cbuf_json() */
#include "config/json.h"

static void require(int ok)
{
    if (!ok)
        abort();
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
    pt__cbuf o = {0};
    pt__cbuf_json(&o, pt__cjson_root(doc));
    require(!o.oom);
    rc = pt__cjson_parse(o.p, o.len, &again, &e);
    if (rc != 0)
        fprintf(stderr, "re-parse failed at %u:%u: %s\n", e.line, e.col, e.msg);
    require(rc == 0);
    require(same(pt__cjson_root(doc), pt__cjson_root(again)));
    pt__cjson_free(again);
    pt__cjson_free(doc);
    pt__cbuf_free(&o);
    return 0;
}
