/* The config part's JSON reader: RFC 8259 documents into a tree whose every value and key
 * knows its line and column, so a later error can say `config/production.json:14:5`.
 *
 * Strict where jansson is lenient: duplicate keys, invalid UTF-8, integers beyond int64,
 * doubles that overflow, lone surrogate escapes, raw control characters in strings, trailing
 * garbage and nesting deeper than PT__CJSON_MAX_DEPTH are errors with a position and a
 * message that says what was expected and what was found. docs/config.md has the details.
 *
 * Names use `pt__cjson_` so they stay apart from the logger's encoder (`pt__json_*`). */
#ifndef PT_CONFIG_JSON_H
#define PT_CONFIG_JSON_H

#include <stddef.h>
#include <stdint.h>

/* Containers nested deeper than this are refused (the top value is at depth 1). */
#define PT__CJSON_MAX_DEPTH 64

enum pt__cjson_type {
    PT__CJSON_NULL,
    PT__CJSON_BOOL,
    PT__CJSON_INT, /* no fraction or exponent, within int64 */
    PT__CJSON_DOUBLE, /* a fraction or an exponent; always finite */
    PT__CJSON_STRING,
    PT__CJSON_ARRAY,
    PT__CJSON_OBJECT,
};

typedef struct pt__cjson pt__cjson;
typedef struct pt__cjson_member pt__cjson_member;
typedef struct pt__cjson_doc pt__cjson_doc;

/* One value. Read-only after parsing; it lives as long as its document. Lines and columns
 * are 1-based; a column counts characters (UTF-8 code points) from the start of the line. */
struct pt__cjson {
    enum pt__cjson_type type;
    unsigned line, col;
    union {
        int b;
        int64_t i;
        double d;
        struct {
            const char *p; /* decoded UTF-8, NUL-terminated; may hold NULs itself */
            size_t len;
        } str;
        struct {
            const pt__cjson *items;
            size_t n;
        } arr;
        struct {
            const pt__cjson_member *members; /* in document order; no two keys equal */
            size_t n;
        } obj;
    } u;
};

/* An object member: its key (decoded, like a string value), the key's position, its value. */
struct pt__cjson_member {
    const char *key;
    size_t key_len;
    unsigned line, col;
    pt__cjson value;
};

/* Where and why a document was refused. msg has no position in it: the caller prefixes
 * `path:line:col: `. */
typedef struct pt__cjson_error {
    unsigned line, col;
    char msg[192];
} pt__cjson_error;

/* Parses the whole of text[0..len) as one JSON document. On success *out owns the tree
 * (release it with pt__cjson_free()) and 0 is returned. On failure *out is NULL and -EINVAL
 * (a bad document) or -ENOMEM is returned, with *err (if err is not NULL) filled.
 *
 *     pt__cjson_doc *doc;
 *     pt__cjson_error e;
 *     if (pt__cjson_parse(buf, n, &doc, &e) < 0)
 *         fprintf(stderr, "%s:%u:%u: %s\n", path, e.line, e.col, e.msg); */
int pt__cjson_parse(const char *text, size_t len, pt__cjson_doc **out, pt__cjson_error *err);

/* Releases a document and every value in it. Accepts NULL. */
void pt__cjson_free(pt__cjson_doc *doc);

/* The document's top value. */
const pt__cjson *pt__cjson_root(const pt__cjson_doc *doc);

/* 0 if v is an object; else -EINVAL with err saying what the top value was instead. */
int pt__cjson_require_object(const pt__cjson *v, pt__cjson_error *err);

/* The value of obj's member named key (a C string), or NULL if there is none or obj is not an
 * object. Linear in the number of members. */
const pt__cjson *pt__cjson_get(const pt__cjson *obj, const char *key);

/* The number of elements of an array or members of an object; 0 for anything else. */
size_t pt__cjson_count(const pt__cjson *v);

/* The i-th element of an array, or NULL (not an array, or i out of range). */
const pt__cjson *pt__cjson_item(const pt__cjson *arr, size_t i);

/* The i-th member of an object in document order, or NULL. */
const pt__cjson_member *pt__cjson_member_at(const pt__cjson *obj, size_t i);

/* A type for messages, with its article: "null", "a boolean", "an integer", "a number",
 * "a string", "an array", "an object" ("expected an integer, got a string"). */
const char *pt__cjson_type_name(int type);

#endif
