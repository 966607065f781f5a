/* The HTTP router: method + path -> handler, with `:param` segments and a trailing `*wildcard`
 * (docs/http.md, "Router", is the user's view of every rule below).
 *
 * Routes are added at start-up, before serving; then pt__router_freeze() compiles the table
 * into one contiguous block and pt__router_find() may run on any number of threads at once,
 * with no lock and no allocation: the result goes into a pt__router_match struct the caller
 * owns (on its stack or in its connection).
 *
 *     pt__router *r = pt__router_new();
 *     char why[PT__ROUTER_ERR_LEN];
 *     if (pt__router_add(r, "GET", "/users/:id", get_user, why, sizeof(why)) < 0)
 *         fprintf(stderr, "%s\n", why);
 *     ...
 *     pt__router_freeze(r);
 *     pt__router_match m;
 *     switch (pt__router_find(r, PT__ROUTER_GET, path, path_len, &m)) {
 *     case PT__ROUTE_FOUND: ((handler_fn *)m.handler)(req, m.params, m.nparams); break;
 *     case PT__ROUTE_METHOD_NOT_ALLOWED: reply(405, "Allow", m.allow); break;
 *     case PT__ROUTE_NOT_FOUND: reply(404); break;
 *     }
 */
#ifndef PT_HTTP_ROUTER_H
#define PT_HTTP_ROUTER_H

#include <stddef.h>
#include <stdint.h>

/* The most `:param` and `*wildcard` segments a pattern may hold; pt__router_add() refuses
 * more, so a match never has more values than the fixed array holds. */
#define PT__ROUTER_MAX_PARAMS 16

/* Room for any registration message, with its NUL (longer patterns are cut with "..."). */
#define PT__ROUTER_ERR_LEN 256

/* Room for the longest Allow value, every method listed, with its NUL. */
#define PT__ROUTER_ALLOW_LEN 72

/* The methods a route may name (RFC 9110 and PATCH), case-sensitive as HTTP says. Any other
 * request method is PT__ROUTER_OTHER: it finds no handler, and gets 405 when the path has
 * routes for other methods. */
typedef enum {
    PT__ROUTER_GET,
    PT__ROUTER_HEAD,
    PT__ROUTER_POST,
    PT__ROUTER_PUT,
    PT__ROUTER_DELETE,
    PT__ROUTER_CONNECT,
    PT__ROUTER_OPTIONS,
    PT__ROUTER_TRACE,
    PT__ROUTER_PATCH,
    PT__ROUTER_OTHER,
} pt__router_method;

#define PT__ROUTER_METHODS PT__ROUTER_OTHER /* how many methods a route may name */

typedef enum {
    PT__ROUTE_FOUND,
    PT__ROUTE_NOT_FOUND, /* 404: no route's pattern matches the path */
    PT__ROUTE_METHOD_NOT_ALLOWED, /* 405: some do, none for this method; see allow */
} pt__router_result;

/* One `:param` or `*wildcard` value: name as written in the pattern without ':' or '*'
 * (NUL-terminated, owned by the router), value pointing into the caller's path, raw bytes. */
typedef struct {
    const char *name;
    const char *value;
    size_t value_len;
} pt__router_param;

/* What pt__router_find() writes. FOUND sets handler, pattern and params; METHOD_NOT_ALLOWED
 * sets allow (and allow_mask, bit i = method i); NOT_FOUND sets nothing but nparams = 0. */
typedef struct {
    void *handler;
    const char *pattern; /* the route's template, e.g. "/users/:id"; owned by the router */
    unsigned nparams;
    pt__router_param params[PT__ROUTER_MAX_PARAMS]; /* in pattern order */
    unsigned allow_mask;
    char allow[PT__ROUTER_ALLOW_LEN]; /* "GET, HEAD, POST": for the Allow header of a 405 */
} pt__router_match;

typedef struct pt__router pt__router;

/* A new empty router, or NULL when out of memory. */
pt__router *pt__router_new(void);

/* Frees the router and everything it holds; accepts NULL. No match may be running, and the
 * names and patterns of earlier matches die with it. */
void pt__router_free(pt__router *r);

/* The method named by method[0..len), or PT__ROUTER_OTHER. */
pt__router_method pt__router_method_parse(const char *method, size_t len);

/* The name of a method ("GET"), or "OTHER". */
const char *pt__router_method_name(pt__router_method m);

/* Adds the route method + pattern -> handler (handler may be anything, NULL included; the
 * router only hands it back). Returns 0; -EEXIST when the same method and pattern are already
 * registered; -EINVAL for an unknown method or a bad pattern: not starting with '/', an empty
 * or non-[A-Za-z0-9_] parameter name, the same name twice, a wildcard that is not the last
 * segment, more than PT__ROUTER_MAX_PARAMS parameters, or a parameter whose name differs from
 * the one an earlier route gave the same position ("/a/:id" then "/a/:name"); -ENOMEM. On
 * error nothing is added and a message naming the route is written into why[0..whylen) when
 * why is not NULL. Not thread-safe: add every route before matching starts on other threads.
 * Adding after a match is allowed (the next match compiles the table again). */
int pt__router_add(pt__router *r, const char *method, const char *pattern, void *handler, char *why,
                   size_t whylen);

/* Compiles the routes added so far into the block pt__router_find() reads (one contiguous
 * allocation, reserved by pt__router_add(), so this cannot fail). Call it after the last add,
 * before serving: pt__router_find() compiles a changed table itself, but then the first
 * request pays for it (about a millisecond for 10,000 routes) and threads that find at the
 * same moment wait for it. Not to be called while a pt__router_add() runs. */
void pt__router_freeze(pt__router *r);

/* How many method + pattern routes the router holds (the "route table size" metric). */
size_t pt__router_count(const pt__router *r);

/* Finds the route for method and path[0..len) (the path as received, query string already
 * cut off by the caller, not percent-decoded: bytes are compared as they are, and param
 * values are returned raw). Priority at each segment: a static segment wins over a `:param`,
 * which wins over a `*wildcard`; when the preferred branch dead-ends further on (or has no
 * route for this method), the next one is tried. HEAD is served by a GET route when the route
 * has no HEAD handler. Returns a pt__router_result and fills *m as its comment says. Never
 * allocates, never locks; safe on many threads at once once routes are added (compiles the
 * table first if an add changed it: see pt__router_freeze()). */
pt__router_result pt__router_find(const pt__router *r, pt__router_method method, const char *path,
                                  size_t len, pt__router_match *m);

#endif
