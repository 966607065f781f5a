/* The HTTP router (router.h): one segment tree for all methods, a method table per route.
 *
 * Why one tree and not one per method: a 405 needs every method registered for the path, and
 * one tree gives that from the same walk (a tree per method would walk all nine trees for
 * every miss); the trees of a service's methods mostly share their paths anyway, so one tree
 * is also smaller. The cost is a mask test at the end of a walk.
 *
 * The tree: a pattern is a '/' followed by segments separated by '/'; each segment is static
 * bytes, a `:param` or a last `*wildcard`. A node stands for the end of a segment (the root
 * for the start of the path, before its first '/'); an edge takes a '/' and one segment. A
 * node may have any number of static children (one per distinct segment, the empty one
 * included: "/a/" is "a" then ""), one `:param` child (which takes one non-empty segment) and
 * one `*wildcard` child (which takes the rest of the path, empty included). A node that ends
 * a pattern holds the route: a handler per method and the template.
 *
 * Why whole segments and not a byte radix tree: with many routes, random words split every
 * segment into two or three radix nodes, and a lookup compared a first byte at each of them
 * (about 7 nodes and 36 bytes per lookup on 10,000 routes, against 3.6 and 6.5 on 10). Here a
 * static segment is found at once, by its hash in a small open-addressing table of the node,
 * so a lookup costs one step per segment whatever the table's size.
 *
 * Matching walks depth-first in priority order (static, param, wildcard), so the first route
 * reached that has the method is the answer; a branch that dead-ends returns and the next is
 * tried (backtracking). At most one static child can match a given segment, so a node has at
 * most three branches to try. Nothing is allocated: params are pushed into the caller's
 * struct and popped on the way back.
 *
 * Registration grows that tree of separate allocations (node, segment, children array,
 * route); matching never reads it. Before the first match, compile() lays every node out
 * again in one contiguous block, depth-first: the segment's bytes, the hash table of the
 * static children (hash and 32-bit offset per slot) and the route's handlers inline, so a
 * step of a walk reads one or two cache lines instead of four or five allocations. The
 * block's space is reserved by pt__router_add() (an upper bound per route), so compiling
 * cannot fail and pt__router_find() can do it lazily.
 */
#include "http/router.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct route {
    void *handler[PT__ROUTER_METHODS];
    unsigned methods; /* bit i: method i registered */
    unsigned allow; /* methods, plus HEAD when GET is there */
    char *pattern;
} route;

typedef struct node node;
struct node {
    char *segment; /* static bytes (not NUL-terminated); for param and wildcard nodes, NULL */
    size_t segment_len;
    char *name; /* param or wildcard name */
    size_t nchildren;
    node **children; /* static children, distinct segments */
    node *param;
    node *wild;
    route *route;
};

/* A node of the compiled block, 8-aligned, followed by segment[segment_len], then (8-aligned)
 * slot[slots], then at `tail` (8-aligned): the name, for a param or wildcard node; then, when
 * allow != 0, the route's pattern and one handler per bit of methods, in method order.
 * Offsets count from the block's start; 0 (the root) means none. The segment comes first so
 * that checking a child reads its header and bytes from the same cache line. */
typedef struct {
    uint32_t segment_len;
    uint32_t slots; /* the static children's table: 0, or a power of two >= 2 * children */
    uint32_t param, wild;
    uint32_t tail; /* from the node's start */
    uint16_t allow; /* the route's methods, plus HEAD with GET; 0: no route ends here */
    uint16_t methods;
    uint32_t named; /* a param or wildcard node: its name comes first in the tail */
} cnode;

/* A static child in its parent's table: the segment's hash, and the child's offset (0: an
 * empty slot). Linear probing; at most half the slots are used. */
typedef struct {
    uint32_t hash;
    uint32_t child;
} table_slot;

/* What one node may take in the block beyond its segment and handlers: header, alignment,
 * name or pattern; plus its share of its parent's table (a table of n children has at most
 * 4n slots: the power of two >= 2n). */
#define CNODE_FIXED (sizeof(cnode) + 7 + 8 + 4 * sizeof(table_slot))

enum { STALE, COMPILING, READY };

struct pt__router {
    node root; /* the start of the path: every pattern continues with '/' under it */
    size_t count;
    char *block; /* the compiled tree, valid when state is READY */
    size_t reserved; /* bytes allocated for block: at least what compiling can write */
    size_t bound; /* what compiling can write, by pt__router_add()'s accounting */
    atomic_int state;
};

static const char *const method_names[PT__ROUTER_METHODS] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
};

pt__router_method pt__router_method_parse(const char *method, size_t len)
{
    for (int i = 0; i < PT__ROUTER_METHODS; i++)
        if (strlen(method_names[i]) == len && memcmp(method_names[i], method, len) == 0)
            return (pt__router_method)i;
    return PT__ROUTER_OTHER;
}

const char *pt__router_method_name(pt__router_method m)
{
    return (unsigned)m < PT__ROUTER_METHODS ? method_names[m] : "OTHER";
}

pt__router *pt__router_new(void)
{
    pt__router *r = calloc(1, sizeof(pt__router));
    if (r == NULL)
        return NULL;
    r->bound = CNODE_FIXED; /* the root, compiled even when no route is added */
    r->reserved = 4096;
    if ((r->block = malloc(r->reserved)) == NULL) {
        free(r);
        return NULL;
    }
    atomic_init(&r->state, STALE);
    return r;
}

static void node_free_children(node *n)
{
    for (size_t i = 0; i < n->nchildren; i++) {
        node_free_children(n->children[i]);
        free(n->children[i]);
    }
    if (n->param != NULL) {
        node_free_children(n->param);
        free(n->param);
    }
    if (n->wild != NULL) {
        node_free_children(n->wild);
        free(n->wild);
    }
    if (n->route != NULL)
        free(n->route->pattern);
    free(n->route);
    free(n->segment);
    free(n->name);
    free(n->children);
}

void pt__router_free(pt__router *r)
{
    if (r == NULL)
        return;
    node_free_children(&r->root);
    free(r->block);
    free(r);
}

size_t pt__router_count(const pt__router *r)
{
    return r->count;
}

/* ---- registration ----------------------------------------------------------------------- */

static int fail(char *why, size_t whylen, int rc, const char *method, const char *pattern,
                const char *fmt, ...)
{
    if (why == NULL || whylen == 0)
        return rc;
    int n = snprintf(why, whylen, "route %s %.160s%s: ", method, pattern,
                     strlen(pattern) > 160 ? "..." : "");
    if (n >= 0 && (size_t)n < whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why + n, whylen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Checks the pattern's syntax; on error writes the reason (without the route) into reason. */
static int check_pattern(const char *p, char *reason, size_t cap)
{
    if (p[0] != '/') {
        snprintf(reason, cap, "a pattern must start with '/'");
        return -EINVAL;
    }
    const char *names[PT__ROUTER_MAX_PARAMS];
    size_t lens[PT__ROUTER_MAX_PARAMS], n = 0;
    for (const char *s = p; *s != 0; s++) {
        if (s == p || s[-1] != '/' || (*s != ':' && *s != '*'))
            continue;
        const char *name = s + 1;
        size_t len = 0;
        while (name[len] != 0 && name[len] != '/') {
            if (!name_char(name[len])) {
                snprintf(reason, cap,
                         "the name of '%c%.*s' must be letters, digits or '_' (a parameter "
                         "is a whole segment)",
                         *s, (int)strcspn(name, "/"), name);
                return -EINVAL;
            }
            len++;
        }
        if (len == 0) {
            snprintf(reason, cap, "'%c' at offset %zu needs a name", *s, (size_t)(s - p));
            return -EINVAL;
        }
        if (*s == '*' && name[len] != 0) {
            snprintf(reason, cap, "the wildcard '*%.*s' must be the last segment", (int)len, name);
            return -EINVAL;
        }
        for (size_t i = 0; i < n; i++) {
            if (lens[i] == len && memcmp(names[i], name, len) == 0) {
                snprintf(reason, cap, "the name '%.*s' is used twice", (int)len, name);
                return -EINVAL;
            }
        }
        if (n == PT__ROUTER_MAX_PARAMS) {
            snprintf(reason, cap, "more than %d parameters", PT__ROUTER_MAX_PARAMS);
            return -EINVAL;
        }
        names[n] = name;
        lens[n++] = len;
        s = name + len - 1;
    }
    return 0;
}

/* The static child of n for the segment s[0..len), created if n has none; NULL when out of
 * memory. Registration scans the children in turn: it runs once per route, before serving. */
static node *insert_static(node *n, const char *s, size_t len)
{
    for (size_t i = 0; i < n->nchildren; i++) {
        node *c = n->children[i];
        if (c->segment_len == len && memcmp(c->segment, s, len) == 0)
            return c;
    }
    node *c = calloc(1, sizeof(*c));
    char *copy = malloc(len + 1); /* + 1: never malloc(0) for the empty segment */
    node **children = realloc(n->children, (n->nchildren + 1) * sizeof(*children));
    if (children != NULL)
        n->children = children;
    if (c == NULL || copy == NULL || children == NULL) {
        free(c);
        free(copy);
        return NULL;
    }
    memcpy(copy, s, len);
    c->segment = copy;
    c->segment_len = len;
    n->children[n->nchildren++] = c;
    return c;
}

/* The param or wildcard child of n named name[0..len), created if n has none; -EINVAL via
 * *rc when n has one with another name. */
static node *insert_named(node **slot, const char *name, size_t len, int *rc)
{
    if (*slot != NULL) {
        if (strlen((*slot)->name) != len || memcmp((*slot)->name, name, len) != 0) {
            *rc = -EINVAL;
            return NULL;
        }
        return *slot;
    }
    node *c = calloc(1, sizeof(*c));
    char *copy = malloc(len + 1);
    if (c == NULL || copy == NULL) {
        free(c);
        free(copy);
        *rc = -ENOMEM;
        return NULL;
    }
    memcpy(copy, name, len);
    copy[len] = 0;
    c->name = copy;
    *slot = c;
    return c;
}

/* Walks (and grows) the tree along the pattern, a segment at a time; returns the node that
 * ends it, or NULL with *rc set and, for a name conflict, the conflicting names in reason.
 * A failure leaves at most unused nodes behind, which match nothing. */
static node *insert_pattern(node *root, const char *p, int *rc, char *reason, size_t cap)
{
    node *n = root;
    for (const char *s = p; *s == '/';) {
        s++;
        size_t len = strcspn(s, "/");
        if (*s != ':' && *s != '*') {
            if ((n = insert_static(n, s, len)) == NULL) {
                *rc = -ENOMEM;
                return NULL;
            }
        } else {
            node **slot = *s == ':' ? &n->param : &n->wild;
            node *c = insert_named(slot, s + 1, len - 1, rc);
            if (c == NULL) {
                if (*rc == -EINVAL)
                    snprintf(reason, cap,
                             "'%c%.*s' conflicts with '%c%s' of an earlier route at the same "
                             "position; give the parameter one name in every route",
                             *s, (int)(len - 1), s + 1, *s, (*slot)->name);
                return NULL;
            }
            n = c;
        }
        s += len;
    }
    return n;
}

/* Grows the space of the compiled block by what adding pattern can add to it, whether or
 * not the add then succeeds (a failed add may leave nodes behind): per segment at most one
 * node, and one handler (plus a pattern per route). Returns 0, -ENOMEM, or -E2BIG when the
 * block would pass what 32-bit offsets reach. */
static int reserve(pt__router *r, const char *pattern)
{
    size_t segments = 0, len = strlen(pattern);
    for (size_t i = 0; i < len; i++)
        segments += pattern[i] == '/';
    size_t bound = r->bound + segments * CNODE_FIXED + len + 2 * sizeof(void *);
    if (bound > UINT32_MAX)
        return -E2BIG;
    if (bound > r->reserved) {
        size_t cap = r->reserved < 4096 ? 4096 : r->reserved;
        while (cap < bound)
            cap *= 2;
        char *block = realloc(r->block, cap);
        if (block == NULL)
            return -ENOMEM;
        r->block = block;
        r->reserved = cap;
    }
    r->bound = bound;
    return 0;
}

int pt__router_add(pt__router *r, const char *method, const char *pattern, void *handler, char *why,
                   size_t whylen)
{
    char reason[PT__ROUTER_ERR_LEN];
    pt__router_method m = pt__router_method_parse(method, strlen(method));
    if (m == PT__ROUTER_OTHER)
        return fail(why, whylen, -EINVAL, method, pattern,
                    "unknown method (expected GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, "
                    "TRACE or PATCH)");
    int rc = check_pattern(pattern, reason, sizeof(reason));
    if (rc < 0)
        return fail(why, whylen, rc, method, pattern, "%s", reason);
    if ((rc = reserve(r, pattern)) < 0)
        return fail(why, whylen, rc, method, pattern,
                    rc == -ENOMEM ? "out of memory" : "the route table passes 4 GiB");
    atomic_store_explicit(&r->state, STALE, memory_order_relaxed);
    node *n = insert_pattern(&r->root, pattern, &rc, reason, sizeof(reason));
    if (n == NULL)
        return rc == -EINVAL ? fail(why, whylen, rc, method, pattern, "%s", reason)
                             : fail(why, whylen, rc, method, pattern, "out of memory");
    if (n->route == NULL) {
        route *rt = calloc(1, sizeof(*rt));
        char *copy = rt == NULL ? NULL : strdup(pattern);
        if (copy == NULL) {
            free(rt);
            return fail(why, whylen, -ENOMEM, method, pattern, "out of memory");
        }
        rt->pattern = copy;
        n->route = rt;
    }
    if (n->route->methods & (1u << m))
        return fail(why, whylen, -EEXIST, method, pattern,
                    "already registered (each method and pattern may have one handler)");
    n->route->handler[m] = handler;
    n->route->methods |= 1u << m;
    n->route->allow = n->route->methods;
    if (n->route->methods & (1u << PT__ROUTER_GET))
        n->route->allow |= 1u << PT__ROUTER_HEAD;
    r->count++;
    return 0;
}

/* ---- compiling ------------------------------------------------------------------------- */

static size_t align_up(size_t x, size_t a)
{
    return (x + a - 1) & ~(a - 1);
}

/* The bits set in a method mask (9 bits; __builtin_popcount is a library call without
 * -mpopcnt). */
static unsigned popcount(unsigned x)
{
    unsigned n = 0;
    for (; x != 0; x &= x - 1)
        n++;
    return n;
}

static uint64_t load64(const char *s)
{
    uint64_t x;
    memcpy(&x, s, sizeof(x));
    return x;
}

static uint64_t load32(const char *s)
{
    uint32_t x;
    memcpy(&x, s, sizeof(x));
    return x;
}

static uint64_t mix(uint64_t h, uint64_t x)
{
    h = (h ^ x) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

/* The hash of a segment's bytes s[0..len): a word at a time, reading nothing outside s (the
 * tails overlap instead), so that hashing a path's segment costs a few multiplications. The
 * byte order does not matter: compiling and matching hash on the same machine. */
static uint32_t segment_hash(const char *s, size_t len)
{
    uint64_t h = 0x2545F4914F6CDD1Dull ^ len;
    if (len >= 8) {
        size_t i = 0;
        for (; i + 8 < len; i += 8)
            h = mix(h, load64(s + i));
        h = mix(h, load64(s + len - 8));
    } else if (len >= 4) {
        h = mix(h, load32(s) | load32(s + len - 4) << 32);
    } else if (len > 0) {
        h = mix(h, (uint64_t)(unsigned char)s[0] | (uint64_t)(unsigned char)s[len / 2] << 8 |
                       (uint64_t)(unsigned char)s[len - 1] << 16);
    }
    h *= 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32);
}

static const char *segment_bytes(const cnode *c)
{
    return (const char *)(c + 1);
}

static const table_slot *slots_of(const cnode *c)
{
    return (const table_slot *)((const char *)c + align_up(sizeof(cnode) + c->segment_len, 8));
}

/* The number of table slots for n static children: none, or the power of two >= 2n. */
static size_t table_size(size_t n)
{
    if (n == 0)
        return 0;
    size_t slots = 2;
    while (slots < 2 * n)
        slots *= 2;
    return slots;
}

/* Writes n and, after it, its subtrees (static children, param, wildcard) at block + *at;
 * returns n's offset. The space was reserved by pt__router_add(), so nothing can fail. */
static uint32_t compile_node(char *block, size_t *at, const node *n)
{
    uint32_t off = (uint32_t)*at;
    cnode *c = (cnode *)(block + off);
    size_t slots = table_size(n->nchildren);
    size_t table = align_up(sizeof(cnode) + n->segment_len, 8);
    size_t tail = table + slots * sizeof(table_slot);
    unsigned methods = n->route != NULL ? n->route->methods : 0;
    size_t size = tail + (n->name != NULL ? sizeof(char *) : 0) +
                  (methods != 0 ? sizeof(char *) + popcount(methods) * sizeof(void *) : 0);
    memset(c, 0, size);
    c->segment_len = (uint32_t)n->segment_len;
    c->slots = (uint32_t)slots;
    c->tail = (uint32_t)tail;
    c->allow = (uint16_t)(methods != 0 ? n->route->allow : 0);
    c->methods = (uint16_t)methods;
    c->named = n->name != NULL;
    if (n->segment_len > 0)
        memcpy((char *)segment_bytes(c), n->segment, n->segment_len);
    char *t = block + off + tail;
    if (n->name != NULL) {
        memcpy(t, &n->name, sizeof(n->name));
        t += sizeof(n->name);
    }
    if (methods != 0) {
        memcpy(t, &n->route->pattern, sizeof(n->route->pattern));
        t += sizeof(n->route->pattern);
        for (int m = 0; m < PT__ROUTER_METHODS; m++) {
            if (methods & (1u << m)) {
                memcpy(t, &n->route->handler[m], sizeof(void *));
                t += sizeof(void *);
            }
        }
    }
    *at += size;
    for (size_t i = 0; i < n->nchildren; i++) {
        const node *child = n->children[i];
        table_slot s = {segment_hash(child->segment, child->segment_len), 0};
        s.child = compile_node(block, at, child);
        table_slot *table_slots = (table_slot *)(block + off + table);
        size_t k = s.hash & (slots - 1);
        while (table_slots[k].child != 0)
            k = (k + 1) & (slots - 1);
        table_slots[k] = s;
    }
    if (n->param != NULL)
        c->param = compile_node(block, at, n->param);
    if (n->wild != NULL)
        c->wild = compile_node(block, at, n->wild);
    return off;
}

/* Compiles the tree once, whichever thread gets here first; the others wait for it. */
static void compile(pt__router *r)
{
    int expected = STALE;
    if (atomic_compare_exchange_strong(&r->state, &expected, COMPILING)) {
        size_t at = 0;
        compile_node(r->block, &at, &r->root);
        atomic_store_explicit(&r->state, READY, memory_order_release);
        return;
    }
    while (atomic_load_explicit(&r->state, memory_order_acquire) != READY)
        sched_yield(); /* compiling 10,000 routes takes about a millisecond */
}

void pt__router_freeze(pt__router *r)
{
    if (atomic_load_explicit(&r->state, memory_order_acquire) != READY)
        compile(r);
}

/* ---- matching --------------------------------------------------------------------------- */

typedef struct {
    const char *block;
    unsigned want; /* the method's bit; 0 to collect every match's methods into all */
    unsigned all;
    pt__router_match *m;
} walk;

static const cnode *at(const walk *w, uint32_t off)
{
    return (const cnode *)(w->block + off);
}

static const char *name_of(const cnode *c)
{
    const char *name;
    memcpy(&name, (const char *)c + c->tail, sizeof(name));
    return name;
}

/* The end of a path at node n: n if its route takes the method (or, collecting, noted). */
static const cnode *terminal(const cnode *n, walk *w)
{
    if (w->want == 0) {
        w->all |= n->allow;
        return NULL;
    }
    return (n->allow & w->want) ? n : NULL;
}

static bool push(walk *w, const char *name, const char *v, size_t len)
{
    pt__router_match *m = w->m;
    if (m->nparams == PT__ROUTER_MAX_PARAMS) /* cannot happen: add() refuses more */
        return false;
    m->params[m->nparams].name = name;
    m->params[m->nparams].value = v;
    m->params[m->nparams++].value_len = len;
    return true;
}

/* The length of the segment at p[0..len): up to the first '/', or len. Eight bytes at a time
 * while eight remain: a word's lowest zero byte after the XOR is the first '/', found exactly
 * by the borrow trick. */
static size_t segment_end(const char *p, size_t len)
{
    size_t i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ull, highs = ones << 7;
    for (; i + 8 <= len; i += 8) {
        uint64_t x = load64(p + i) ^ (ones * '/');
        uint64_t zero = (x - ones) & ~x & highs;
        if (zero != 0)
            return i + (size_t)__builtin_ctzll(zero) / 8;
    }
#endif
    while (i < len && p[i] != '/')
        i++;
    return i;
}

/* Whether a[0..len) and b[0..len) hold the same bytes: inline, a word at a time as in
 * segment_hash(), since a libc memcmp call cost more than the rest of a step. */
static bool same_bytes(const char *a, const char *b, size_t len)
{
    if (len >= 8) {
        for (size_t i = 0; i + 8 < len; i += 8)
            if (load64(a + i) != load64(b + i))
                return false;
        return load64(a + len - 8) == load64(b + len - 8);
    }
    if (len >= 4)
        return load32(a) == load32(b) && load32(a + len - 4) == load32(b + len - 4);
    for (size_t i = 0; i < len; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

/* The static child of n for the segment p[0..len), or NULL. */
static inline const cnode *static_child(const cnode *n, const char *p, size_t len, const walk *w)
{
    if (n->slots == 0)
        return NULL;
    uint32_t hash = segment_hash(p, len), mask = n->slots - 1;
    const table_slot *table = slots_of(n);
    for (uint32_t k = hash & mask; table[k].child != 0; k = (k + 1) & mask) {
        if (table[k].hash != hash)
            continue;
        const cnode *c = at(w, table[k].child);
        if (c->segment_len == len && same_bytes(segment_bytes(c), p, len))
            return c;
    }
    return NULL;
}

/* Tries the branches below n, whose segment ends where p[0..len) starts: the end of the path
 * (len == 0), or a '/' and the next segment. */
static const cnode *children(const cnode *n, const char *p, size_t len, walk *w)
{
    const cnode *found, *c;
    size_t seg;
    /* Down nodes without a param or wildcard in a loop: nothing to come back to. */
    for (;;) {
        if (len == 0)
            return terminal(n, w);
        if (p[0] != '/') /* only a path that does not start with '/' gets here */
            return NULL;
        p++, len--;
        seg = segment_end(p, len);
        if (n->param != 0 || n->wild != 0)
            break;
        if ((c = static_child(n, p, seg, w)) == NULL)
            return NULL;
        p += seg, len -= seg;
        n = c;
    }
    if ((c = static_child(n, p, seg, w)) != NULL &&
        (found = children(c, p + seg, len - seg, w)) != NULL)
        return found;
    unsigned saved = w->m->nparams;
    if (n->param != 0 && seg > 0) {
        c = at(w, n->param);
        if (push(w, name_of(c), p, seg) && (found = children(c, p + seg, len - seg, w)) != NULL)
            return found;
        w->m->nparams = saved;
    }
    if (n->wild != 0) {
        c = at(w, n->wild);
        if (push(w, name_of(c), p, len) && (found = terminal(c, w)) != NULL)
            return found;
        w->m->nparams = saved;
    }
    return NULL;
}

static void allow_text(char *out, size_t cap, unsigned mask)
{
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < PT__ROUTER_METHODS; i++) {
        if (!(mask & (1u << i)))
            continue;
        int n = snprintf(out + len, cap - len, "%s%s", len > 0 ? ", " : "", method_names[i]);
        if (n < 0 || (size_t)n >= cap - len)
            return;
        len += (size_t)n;
    }
}

pt__router_result pt__router_find(const pt__router *r, pt__router_method method, const char *path,
                                  size_t len, pt__router_match *m)
{
    /* The block is a cache of the tree: building it does not change what r matches. */
    if (atomic_load_explicit(&r->state, memory_order_acquire) != READY)
        compile((pt__router *)r);
    walk w = {.block = r->block,
              .want = (unsigned)method < PT__ROUTER_METHODS ? 1u << method : 0,
              .m = m};
    m->nparams = 0;
    if (w.want != 0) {
        const cnode *n = children(at(&w, 0), path, len, &w);
        if (n != NULL) {
            /* The tail: the name (param and wildcard nodes), the pattern, the handlers. */
            const char *t = (const char *)n + n->tail + (n->named ? sizeof(char *) : 0);
            unsigned bit = method == PT__ROUTER_HEAD && !(n->methods & (1u << PT__ROUTER_HEAD))
                               ? 1u << PT__ROUTER_GET
                               : w.want;
            memcpy(&m->pattern, t, sizeof(char *));
            memcpy(&m->handler,
                   t + sizeof(char *) + popcount(n->methods & (bit - 1)) * sizeof(void *),
                   sizeof(void *));
            return PT__ROUTE_FOUND;
        }
    }
    /* No route for the method: collect the methods of every route matching the path. */
    w.want = 0;
    m->nparams = 0;
    children(at(&w, 0), path, len, &w);
    m->nparams = 0;
    if (w.all == 0)
        return PT__ROUTE_NOT_FOUND;
    m->allow_mask = w.all;
    allow_text(m->allow, sizeof(m->allow), w.all);
    return PT__ROUTE_METHOD_NOT_ALLOWED;
}
