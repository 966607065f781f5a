/* The HTTP router (router.h): one radix tree for all methods, a method table per route.
 *
 * Why one tree and not one per method: a 405 needs every method registered for the path, and
 * one tree gives that from the same walk (a tree per method would walk all nine trees for
 * every miss); the trees of a service's methods mostly share their paths anyway, so one tree
 * is also smaller. The cost is a mask test at the end of a walk.
 *
 * The tree: a static node holds a byte prefix (compressed: runs without branches are one
 * node, and a prefix may span several segments); its static children differ in their first
 * byte, which `first` indexes. A node whose prefix ends with '/' may also have one `:param`
 * child (which takes one non-empty segment, then continues with static children that start
 * with '/') and one `*wildcard` child (which takes the rest). A node that ends a pattern holds
 * the route: a handler per method and the template.
 *
 * Matching walks depth-first in priority order (static, param, wildcard), so the first route
 * reached that has the method is the answer; a branch that dead-ends returns and the next is
 * tried (backtracking). At most one static child can match a given byte, so a node has at
 * most three branches to try. Nothing is allocated: params are pushed into the caller's
 * struct and popped on the way back.
 *
 * Registration grows that tree of separate allocations (node, prefix, first-byte index,
 * children array, route); matching never reads it. Before the first match, compile() lays
 * every node out again in one contiguous block, depth-first, prefix bytes, first-byte index
 * and 32-bit child offsets inline, the route's handlers at the node's end: a step of a walk
 * then reads one or two cache lines instead of four or five allocations. On 10,000 routes the
 * tree was 3.3 MB, past L2, and a lookup missed cache at nearly every step; the block is a
 * fraction of that (bench/http_router, docs/http.md "Performance"). The block's space is
 * reserved by pt__router_add() (an upper bound per route), so compiling cannot fail and
 * pt__router_find() can do it lazily.
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
    char *prefix; /* static bytes; for param and wildcard nodes, NULL */
    size_t prefix_len;
    char *name; /* param or wildcard name */
    size_t nchildren;
    char *first; /* first byte of each static child's prefix */
    node **children;
    node *param;
    node *wild;
    route *route;
};

/* A node of the compiled block, 8-aligned, followed by uint32_t child[nchildren],
 * first[nchildren], prefix[prefix_len], and at `tail` (8-aligned): the name, for a param or
 * wildcard node; then, when allow != 0, the route's pattern and one handler per bit of
 * methods, in method order. Offsets count from the block's start; 0 (the root) means none. */
typedef struct {
    uint32_t prefix_len;
    uint32_t tail; /* from the node's start */
    uint32_t param, wild;
    uint16_t nchildren;
    uint16_t allow; /* the route's methods, plus HEAD with GET; 0: no route ends here */
    uint16_t methods;
    uint16_t named;
} cnode;

/* What one node may take in the block beyond its prefix, child slots and handlers: header,
 * two alignments, name or pattern; plus its slot in its parent (a byte and an offset). */
#define CNODE_FIXED (sizeof(cnode) + 3 + 7 + 8 + 1 + sizeof(uint32_t))

enum { STALE, COMPILING, READY };

struct pt__router {
    node root; /* static, empty prefix: every pattern starts with '/' under it */
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
    free(n->prefix);
    free(n->name);
    free(n->first);
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

static node *node_new_static(const char *s, size_t len)
{
    node *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->prefix = malloc(len + 1);
    if (n->prefix == NULL) {
        free(n);
        return NULL;
    }
    memcpy(n->prefix, s, len);
    n->prefix[len] = 0;
    n->prefix_len = len;
    return n;
}

static int add_child(node *parent, node *child)
{
    char *first = realloc(parent->first, parent->nchildren + 1);
    if (first == NULL)
        return -ENOMEM;
    parent->first = first;
    node **children = realloc(parent->children, (parent->nchildren + 1) * sizeof(*children));
    if (children == NULL)
        return -ENOMEM;
    parent->children = children;
    parent->first[parent->nchildren] = child->prefix[0];
    parent->children[parent->nchildren++] = child;
    return 0;
}

/* Splits child i of parent at k bytes of its prefix (0 < k < its length): a new node with the
 * first k bytes takes its place and holds it, with the rest of the prefix, as only child. */
static node *split(node *parent, size_t i, size_t k)
{
    node *c = parent->children[i];
    node *mid = node_new_static(c->prefix, k);
    char *rest = mid == NULL ? NULL : malloc(c->prefix_len - k + 1);
    if (rest == NULL || add_child(mid, c) < 0) {
        if (mid != NULL) {
            free(mid->prefix);
            free(mid->first);
            free(mid->children);
        }
        free(mid);
        free(rest);
        return NULL;
    }
    memcpy(rest, c->prefix + k, c->prefix_len - k + 1);
    free(c->prefix);
    c->prefix = rest;
    c->prefix_len -= k;
    mid->first[0] = rest[0];
    parent->children[i] = mid;
    return mid;
}

/* The node reached from n by the static bytes s[0..len), created (and splitting what must be
 * split) as needed; NULL when out of memory. A split leaves the tree matching the same paths,
 * so a failure further on leaves no visible trace beyond unused nodes. */
static node *insert_static(node *n, const char *s, size_t len)
{
    while (len > 0) {
        size_t i = 0;
        while (i < n->nchildren && n->first[i] != s[0])
            i++;
        if (i == n->nchildren) {
            node *c = node_new_static(s, len);
            if (c == NULL || add_child(n, c) < 0) {
                if (c != NULL)
                    free(c->prefix);
                free(c);
                return NULL;
            }
            return c;
        }
        node *c = n->children[i];
        size_t k = 0;
        while (k < len && k < c->prefix_len && c->prefix[k] == s[k])
            k++;
        if (k < c->prefix_len && (c = split(n, i, k)) == NULL)
            return NULL;
        n = c;
        s += k;
        len -= k;
    }
    return n;
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

/* Walks (and grows) the tree along the pattern; returns the node that ends it, or NULL with
 * *rc set and, for a name conflict, the conflicting names in reason. */
static node *insert_pattern(node *root, const char *p, int *rc, char *reason, size_t cap)
{
    node *n = root;
    const char *s = p;
    while (*s != 0) {
        /* The static run: up to a segment that starts with ':' or '*'. */
        const char *e = s;
        while (*e != 0 && !(e > p && e[-1] == '/' && (*e == ':' || *e == '*')))
            e++;
        if ((n = insert_static(n, s, (size_t)(e - s))) == NULL) {
            *rc = -ENOMEM;
            return NULL;
        }
        if (*e == 0)
            break;
        size_t len = strcspn(e + 1, "/");
        node **slot = *e == ':' ? &n->param : &n->wild;
        node *c = insert_named(slot, e + 1, len, rc);
        if (c == NULL) {
            if (*rc == -EINVAL)
                snprintf(reason, cap,
                         "'%c%.*s' conflicts with '%c%s' of an earlier route at the same "
                         "position; give the parameter one name in every route",
                         *e, (int)len, e + 1, *e, (*slot)->name);
            return NULL;
        }
        n = c;
        s = e + 1 + len;
    }
    return n;
}

/* Grows the space of the compiled block by what adding pattern can add to it, whether or
 * not the add then succeeds (a failed add may leave nodes behind): per static run at most a
 * split and a new node, per parameter one node, and one handler (plus a pattern per route).
 * Returns 0, -ENOMEM, or -E2BIG when the block would pass what 32-bit offsets reach. */
static int reserve(pt__router *r, const char *pattern)
{
    size_t params = 0, len = strlen(pattern);
    for (size_t i = 1; i < len; i++)
        params += pattern[i - 1] == '/' && (pattern[i] == ':' || pattern[i] == '*');
    size_t bound = r->bound + (3 * params + 2) * CNODE_FIXED + len + 2 * sizeof(void *);
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

static const uint32_t *child_offsets(const cnode *c)
{
    return (const uint32_t *)(c + 1);
}

static const char *first_bytes(const cnode *c)
{
    return (const char *)(child_offsets(c) + c->nchildren);
}

static const char *prefix_bytes(const cnode *c)
{
    return first_bytes(c) + c->nchildren;
}

/* Writes n and, after it, its subtrees (static children, param, wildcard) at block + *at;
 * returns n's offset. The space was reserved by pt__router_add(), so nothing can fail. */
static uint32_t compile_node(char *block, size_t *at, const node *n)
{
    uint32_t off = (uint32_t)*at;
    cnode *c = (cnode *)(block + off);
    size_t children = sizeof(cnode);
    size_t tail = align_up(children + n->nchildren * (sizeof(uint32_t) + 1) + n->prefix_len, 8);
    unsigned methods = n->route != NULL ? n->route->methods : 0;
    size_t size = tail + (n->name != NULL ? sizeof(char *) : 0) +
                  (methods != 0 ? sizeof(char *) + popcount(methods) * sizeof(void *) : 0);
    memset(c, 0, size);
    c->prefix_len = (uint32_t)n->prefix_len;
    c->tail = (uint32_t)tail;
    c->nchildren = (uint16_t)n->nchildren;
    c->allow = (uint16_t)(methods != 0 ? n->route->allow : 0);
    c->methods = (uint16_t)methods;
    c->named = n->name != NULL;
    if (n->nchildren > 0)
        memcpy((char *)first_bytes(c), n->first, n->nchildren);
    if (n->prefix_len > 0)
        memcpy((char *)prefix_bytes(c), n->prefix, n->prefix_len);
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
        uint32_t child = compile_node(block, at, n->children[i]);
        memcpy(block + off + children + i * sizeof(uint32_t), &child, sizeof(child));
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

/* The index of byte b in s[0..n), or n. Eight bytes at a time where the byte order allows
 * (a node of a big table has up to 26 children, one per letter): a word's lowest zero byte
 * after the XOR is the first match, found exactly by the borrow trick. */
static unsigned find_byte(const char *s, unsigned n, char b)
{
    unsigned i = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ull, highs = ones << 7;
    const uint64_t pattern = ones * (unsigned char)b;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, sizeof(x));
        x ^= pattern;
        uint64_t zero = (x - ones) & ~x & highs;
        if (zero != 0)
            return i + (unsigned)__builtin_ctzll(zero) / 8;
    }
#endif
    while (i < n && s[i] != b)
        i++;
    return i;
}

/* The static child of n whose prefix starts p[0..len) (len > 0), or NULL. */
static inline const cnode *static_child(const cnode *n, const char *p, size_t len, const walk *w)
{
    unsigned i = find_byte(first_bytes(n), n->nchildren, p[0]);
    if (i == n->nchildren)
        return NULL;
    const cnode *c = at(w, child_offsets(n)[i]);
    if (c->prefix_len <= len && memcmp(prefix_bytes(c), p, c->prefix_len) == 0)
        return c;
    return NULL;
}

/* Tries the branches below n (whose prefix has been consumed) for p[0..len). */
static const cnode *children(const cnode *n, const char *p, size_t len, walk *w)
{
    const cnode *found, *c;
    /* Down static nodes without a param or wildcard in a loop: nothing to come back to. */
    while (len > 0 && n->param == 0 && n->wild == 0) {
        if ((c = static_child(n, p, len, w)) == NULL)
            return NULL;
        p += c->prefix_len;
        len -= c->prefix_len;
        n = c;
    }
    if (len == 0) {
        if ((found = terminal(n, w)) != NULL)
            return found;
    } else {
        if ((c = static_child(n, p, len, w)) != NULL &&
            (found = children(c, p + c->prefix_len, len - c->prefix_len, w)) != NULL)
            return found;
        if (n->param != 0) {
            c = at(w, n->param);
            const char *slash = memchr(p, '/', len);
            size_t seg = slash == NULL ? len : (size_t)(slash - p);
            unsigned saved = w->m->nparams;
            if (seg > 0 && push(w, name_of(c), p, seg) &&
                (found = children(c, p + seg, len - seg, w)) != NULL)
                return found;
            w->m->nparams = saved;
        }
    }
    if (n->wild != 0) {
        c = at(w, n->wild);
        unsigned saved = w->m->nparams;
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
