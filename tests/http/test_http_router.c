/* The router (src/http/router.h): static, param and wildcard segments and their priority with
 * backtracking, params, 404, 405 and Allow, HEAD served by GET, the trailing-slash policy,
 * every registration error, long paths, 10,000 random routes, and a cross-check against a
 * linear reference matcher that implements the same priority rules on random routes/paths. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/router.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* xorshift64*: the same sequence on every run and platform. */
static uint64_t next_random(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 2685821657736338717ULL;
}

/* Handlers are small integers disguised as pointers. */
#define H(i) ((void *)(uintptr_t)(i))

static void add_ok(pt__router *r, const char *method, const char *pattern, uintptr_t h)
{
    char why[PT__ROUTER_ERR_LEN] = "";
    int rc = pt__router_add(r, method, pattern, H(h), why, sizeof(why));
    if (rc != 0)
        fail_msg("add %s %s: %d %s", method, pattern, rc, why);
}

static pt__router_result find(const pt__router *r, pt__router_method m, const char *path,
                              pt__router_match *out)
{
    return pt__router_find(r, m, path, strlen(path), out);
}

/* Expects FOUND with handler h and pattern; returns the match for param checks. */
static pt__router_match expect(const pt__router *r, pt__router_method m, const char *path,
                               uintptr_t h, const char *pattern)
{
    pt__router_match out;
    pt__router_result res = find(r, m, path, &out);
    if (res != PT__ROUTE_FOUND)
        fail_msg("%s %s: result %d, expected FOUND %s", pt__router_method_name(m), path, res,
                 pattern);
    if (out.handler != H(h) || strcmp(out.pattern, pattern) != 0)
        fail_msg("%s %s: got %s (%zu), expected %s (%zu)", pt__router_method_name(m), path,
                 out.pattern, (size_t)(uintptr_t)out.handler, pattern, (size_t)h);
    return out;
}

static void expect_param(const pt__router_match *m, unsigned i, const char *name,
                         const char *value)
{
    assert_true(i < m->nparams);
    assert_string_equal(m->params[i].name, name);
    assert_int_equal(m->params[i].value_len, strlen(value));
    assert_memory_equal(m->params[i].value, value, strlen(value));
}

static void expect_404(const pt__router *r, pt__router_method m, const char *path)
{
    pt__router_match out;
    pt__router_result res = find(r, m, path, &out);
    if (res != PT__ROUTE_NOT_FOUND)
        fail_msg("%s %s: result %d, expected NOT_FOUND", pt__router_method_name(m), path, res);
    assert_int_equal(out.nparams, 0);
}

static void expect_405(const pt__router *r, pt__router_method m, const char *path,
                       const char *allow)
{
    pt__router_match out;
    pt__router_result res = find(r, m, path, &out);
    if (res != PT__ROUTE_METHOD_NOT_ALLOWED)
        fail_msg("%s %s: result %d, expected 405", pt__router_method_name(m), path, res);
    assert_string_equal(out.allow, allow);
}

static void add_fails(pt__router *r, const char *method, const char *pattern, int want,
                      const char *needle)
{
    char why[PT__ROUTER_ERR_LEN] = "";
    size_t before = pt__router_count(r);
    int rc = pt__router_add(r, method, pattern, H(99), why, sizeof(why));
    if (rc != want || strstr(why, needle) == NULL)
        fail_msg("add %s %s: %d \"%s\", expected %d with \"%s\"", method, pattern, rc, why,
                 want, needle);
    assert_int_equal(pt__router_count(r), before);
    /* Without a buffer: the same code, nothing written. */
    assert_int_equal(pt__router_add(r, method, pattern, H(99), NULL, 0), want);
}

/* ---- the rules -------------------------------------------------------------------------- */

static void test_static_and_params(void **state)
{
    pt__router *r = pt__router_new();
    add_ok(r, "GET", "/", 1);
    add_ok(r, "GET", "/users", 2);
    add_ok(r, "GET", "/users/:id", 3);
    add_ok(r, "GET", "/users/:id/posts/:post", 4);
    add_ok(r, "GET", "/userspace", 5);
    add_ok(r, "POST", "/users", 6);
    assert_int_equal(pt__router_count(r), 6);

    expect(r, PT__ROUTER_GET, "/", 1, "/");
    expect(r, PT__ROUTER_GET, "/users", 2, "/users");
    expect(r, PT__ROUTER_POST, "/users", 6, "/users");
    expect(r, PT__ROUTER_GET, "/userspace", 5, "/userspace");
    pt__router_match m = expect(r, PT__ROUTER_GET, "/users/42", 3, "/users/:id");
    assert_int_equal(m.nparams, 1);
    expect_param(&m, 0, "id", "42");
    m = expect(r, PT__ROUTER_GET, "/users/ann/posts/7", 4, "/users/:id/posts/:post");
    assert_int_equal(m.nparams, 2);
    expect_param(&m, 0, "id", "ann");
    expect_param(&m, 1, "post", "7");

    expect_404(r, PT__ROUTER_GET, "");
    expect_404(r, PT__ROUTER_GET, "/user");
    expect_404(r, PT__ROUTER_GET, "/users/"); /* a param is never empty */
    expect_404(r, PT__ROUTER_GET, "/users/42/posts");
    expect_404(r, PT__ROUTER_GET, "/users/42/posts/");
    expect_404(r, PT__ROUTER_GET, "/users/42/posts/7/8");
    expect_404(r, PT__ROUTER_GET, "users");
    pt__router_free(r);
}

static void test_priority(void **state)
{
    pt__router *r = pt__router_new();
    add_ok(r, "GET", "/a/*rest", 3);
    add_ok(r, "GET", "/a/:x", 2);
    add_ok(r, "GET", "/a/b", 1);
    expect(r, PT__ROUTER_GET, "/a/b", 1, "/a/b");
    pt__router_match m = expect(r, PT__ROUTER_GET, "/a/c", 2, "/a/:x");
    expect_param(&m, 0, "x", "c");
    m = expect(r, PT__ROUTER_GET, "/a/bc", 2, "/a/:x"); /* a static prefix is not a segment */
    expect_param(&m, 0, "x", "bc");
    m = expect(r, PT__ROUTER_GET, "/a/b/c", 3, "/a/*rest");
    expect_param(&m, 0, "rest", "b/c");
    m = expect(r, PT__ROUTER_GET, "/a/", 3, "/a/*rest");
    expect_param(&m, 0, "rest", "");
    pt__router_free(r);
}

static void test_backtracking(void **state)
{
    pt__router *r = pt__router_new();
    add_ok(r, "GET", "/a/b/c", 1);
    add_ok(r, "GET", "/a/:x/d", 2);
    add_ok(r, "GET", "/a/:x/:y/e", 3);
    add_ok(r, "GET", "/a/*w", 4);
    add_ok(r, "GET", "/b/c/d/e", 5);
    add_ok(r, "GET", "/b/:p/d/f", 6);
    add_ok(r, "GET", "/b/c/:q/g", 7);
    expect(r, PT__ROUTER_GET, "/a/b/c", 1, "/a/b/c");
    pt__router_match m = expect(r, PT__ROUTER_GET, "/a/b/d", 2, "/a/:x/d");
    assert_int_equal(m.nparams, 1);
    expect_param(&m, 0, "x", "b");
    m = expect(r, PT__ROUTER_GET, "/a/b/c/e", 3, "/a/:x/:y/e");
    assert_int_equal(m.nparams, 2);
    expect_param(&m, 0, "x", "b");
    expect_param(&m, 1, "y", "c");
    m = expect(r, PT__ROUTER_GET, "/a/b/z", 4, "/a/*w"); /* both deeper branches dead-end */
    assert_int_equal(m.nparams, 1); /* the params of dead ends are dropped */
    expect_param(&m, 0, "w", "b/z");
    expect(r, PT__ROUTER_GET, "/b/c/d/e", 5, "/b/c/d/e");
    m = expect(r, PT__ROUTER_GET, "/b/c/d/f", 6, "/b/:p/d/f");
    expect_param(&m, 0, "p", "c");
    m = expect(r, PT__ROUTER_GET, "/b/c/d/g", 7, "/b/c/:q/g");
    expect_param(&m, 0, "q", "d");
    expect_404(r, PT__ROUTER_GET, "/b/c/d/h");

    /* The method takes part: a static route without it does not hide a param route. */
    add_ok(r, "GET", "/users/:id", 8);
    add_ok(r, "POST", "/users/new", 9);
    m = expect(r, PT__ROUTER_GET, "/users/new", 8, "/users/:id");
    expect_param(&m, 0, "id", "new");
    expect(r, PT__ROUTER_POST, "/users/new", 9, "/users/new");
    expect_405(r, PT__ROUTER_DELETE, "/users/new", "GET, HEAD, POST"); /* both routes */
    expect_405(r, PT__ROUTER_POST, "/users/1", "GET, HEAD");
    pt__router_free(r);
}

static void test_wildcard(void **state)
{
    pt__router *r = pt__router_new();
    add_ok(r, "GET", "/files/*path", 1);
    add_ok(r, "GET", "/*all", 2);
    pt__router_match m = expect(r, PT__ROUTER_GET, "/files/a/b/c.txt", 1, "/files/*path");
    expect_param(&m, 0, "path", "a/b/c.txt");
    m = expect(r, PT__ROUTER_GET, "/files/", 1, "/files/*path");
    expect_param(&m, 0, "path", "");
    m = expect(r, PT__ROUTER_GET, "/files", 2, "/*all"); /* "/files" is not under "/files/" */
    expect_param(&m, 0, "all", "files");
    m = expect(r, PT__ROUTER_GET, "/", 2, "/*all");
    expect_param(&m, 0, "all", "");
    m = expect(r, PT__ROUTER_GET, "/x//y/", 2, "/*all");
    expect_param(&m, 0, "all", "x//y/");
    expect_404(r, PT__ROUTER_GET, "");
    expect_404(r, PT__ROUTER_GET, "x");

    /* A param before a wildcard. */
    add_ok(r, "GET", "/u/:id/*rest", 3);
    m = expect(r, PT__ROUTER_GET, "/u/7/a/b", 3, "/u/:id/*rest");
    assert_int_equal(m.nparams, 2);
    expect_param(&m, 0, "id", "7");
    expect_param(&m, 1, "rest", "a/b");
    m = expect(r, PT__ROUTER_GET, "/u/7", 2, "/*all");
    pt__router_free(r);
}

static void test_trailing_slash(void **state)
{
    pt__router *r = pt__router_new();
    add_ok(r, "GET", "/a", 1);
    add_ok(r, "GET", "/b/", 2);
    add_ok(r, "GET", "/c", 3);
    add_ok(r, "GET", "/c/", 4);
    add_ok(r, "GET", "/p/:id", 5);
    expect(r, PT__ROUTER_GET, "/a", 1, "/a");
    expect_404(r, PT__ROUTER_GET, "/a/");
    expect(r, PT__ROUTER_GET, "/b/", 2, "/b/");
    expect_404(r, PT__ROUTER_GET, "/b");
    expect(r, PT__ROUTER_GET, "/c", 3, "/c");
    expect(r, PT__ROUTER_GET, "/c/", 4, "/c/");
    expect_404(r, PT__ROUTER_GET, "/p/1/");
    expect_404(r, PT__ROUTER_POST, "/a/"); /* no 405 either: the path has no route */
    pt__router_free(r);
}

static void test_405_and_head(void **state)
{
    pt__router *r = pt__router_new();
    add_ok(r, "POST", "/items", 1);
    add_ok(r, "GET", "/items", 2);
    add_ok(r, "DELETE", "/items/:id", 3);
    add_ok(r, "PATCH", "/items/:id", 4);
    add_ok(r, "GET", "/doc", 5);
    add_ok(r, "HEAD", "/doc", 6);
    add_ok(r, "PUT", "/only-put", 7);
    const char *all[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                         "PATCH"};
    for (size_t i = 0; i < COUNT(all); i++)
        add_ok(r, all[i], "/every", 10 + i);

    expect_405(r, PT__ROUTER_PUT, "/items", "GET, HEAD, POST");
    expect_405(r, PT__ROUTER_GET, "/items/1", "DELETE, PATCH");
    expect_405(r, PT__ROUTER_HEAD, "/items/1", "DELETE, PATCH");
    expect_405(r, PT__ROUTER_HEAD, "/only-put", "PUT"); /* HEAD comes with GET only */
    expect_405(r, PT__ROUTER_OTHER, "/items", "GET, HEAD, POST");
    expect_404(r, PT__ROUTER_OTHER, "/nothing");
    expect_404(r, PT__ROUTER_DELETE, "/items/");

    /* HEAD: the GET handler, unless the route has its own. */
    expect(r, PT__ROUTER_HEAD, "/items", 2, "/items");
    expect(r, PT__ROUTER_HEAD, "/doc", 6, "/doc");
    expect(r, PT__ROUTER_GET, "/doc", 5, "/doc");
    for (size_t i = 0; i < COUNT(all); i++)
        expect(r, (pt__router_method)i, "/every", 10 + i, "/every");

    pt__router_match m;
    assert_int_equal(find(r, PT__ROUTER_OTHER, "/every", &m), PT__ROUTE_METHOD_NOT_ALLOWED);
    assert_string_equal(m.allow, "GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH");
    assert_true(strlen(m.allow) < PT__ROUTER_ALLOW_LEN);
    assert_int_equal(m.allow_mask, (1u << PT__ROUTER_METHODS) - 1);

    /* HEAD through GET follows priority too: the most specific route that has GET. */
    add_ok(r, "HEAD", "/h/:x", 20);
    add_ok(r, "GET", "/h/b", 21);
    expect(r, PT__ROUTER_HEAD, "/h/b", 21, "/h/b");
    expect(r, PT__ROUTER_HEAD, "/h/c", 20, "/h/:x");
    expect_405(r, PT__ROUTER_GET, "/h/c", "HEAD");
    pt__router_free(r);
}

/* The compiled table: freezing is optional and repeatable, and an add after a match (or a
 * freeze) is seen by the next match. */
static void test_freeze(void **state)
{
    pt__router *r = pt__router_new();
    pt__router_freeze(r);
    expect_404(r, PT__ROUTER_GET, "/a");
    add_ok(r, "GET", "/a", 1);
    pt__router_freeze(r);
    pt__router_freeze(r);
    expect(r, PT__ROUTER_GET, "/a", 1, "/a");
    add_ok(r, "GET", "/a/:id", 2);
    add_ok(r, "POST", "/a", 3);
    pt__router_match m = expect(r, PT__ROUTER_GET, "/a/7", 2, "/a/:id");
    expect_param(&m, 0, "id", "7");
    expect(r, PT__ROUTER_POST, "/a", 3, "/a");
    expect_405(r, PT__ROUTER_PUT, "/a", "GET, HEAD, POST");
    pt__router_free(r);
}

static void test_methods(void **state)
{
    assert_int_equal(pt__router_method_parse("GET", 3), PT__ROUTER_GET);
    assert_int_equal(pt__router_method_parse("PATCH", 5), PT__ROUTER_PATCH);
    assert_int_equal(pt__router_method_parse("get", 3), PT__ROUTER_OTHER);
    assert_int_equal(pt__router_method_parse("GETX", 3), PT__ROUTER_GET);
    assert_int_equal(pt__router_method_parse("GETX", 4), PT__ROUTER_OTHER);
    assert_int_equal(pt__router_method_parse("", 0), PT__ROUTER_OTHER);
    assert_string_equal(pt__router_method_name(PT__ROUTER_OPTIONS), "OPTIONS");
    assert_string_equal(pt__router_method_name(PT__ROUTER_OTHER), "OTHER");
}

static void test_raw_bytes(void **state)
{
    pt__router *r = pt__router_new();
    add_ok(r, "GET", "/caf%C3%A9", 1);
    add_ok(r, "GET", "/q/:v", 2);
    add_ok(r, "GET", "/a:b/*c", 3); /* ':' and '*' inside a segment are plain bytes */
    expect(r, PT__ROUTER_GET, "/caf%C3%A9", 1, "/caf%C3%A9");
    expect_404(r, PT__ROUTER_GET, "/caf%c3%a9"); /* no decoding, no case folding */
    pt__router_match m = expect(r, PT__ROUTER_GET, "/q/a%2Fb", 2, "/q/:v");
    expect_param(&m, 0, "v", "a%2Fb");
    m = expect(r, PT__ROUTER_GET, "/a:b/x", 3, "/a:b/*c");
    expect_param(&m, 0, "c", "x");

    /* A path with a NUL byte and its length: matched as bytes, no C string assumed. */
    const char path[] = "/q/x\0y";
    assert_int_equal(pt__router_find(r, PT__ROUTER_GET, path, sizeof(path) - 1, &m),
                     PT__ROUTE_FOUND);
    assert_int_equal(m.params[0].value_len, 3);
    pt__router_free(r);
}

static void test_errors(void **state)
{
    pt__router *r = pt__router_new();
    add_ok(r, "GET", "/a/:id", 1);
    add_ok(r, "GET", "/f/*path", 2);
    add_fails(r, "GET", "/a/:id", -EEXIST, "route GET /a/:id: already registered");
    add_ok(r, "POST", "/a/:id", 3); /* another method is another route */
    add_fails(r, "POST", "/a/:id", -EEXIST, "already registered");
    add_fails(r, "GET", "/a/:name", -EINVAL,
              "route GET /a/:name: ':name' conflicts with ':id' of an earlier route");
    add_fails(r, "PUT", "/a/:name/x", -EINVAL, "conflicts with ':id'");
    add_fails(r, "GET", "/f/*rest", -EINVAL, "'*rest' conflicts with '*path'");
    add_fails(r, "GET", "/x/*w/y", -EINVAL, "the wildcard '*w' must be the last segment");
    add_fails(r, "GET", "/x/*w/", -EINVAL, "must be the last segment");
    add_fails(r, "GET", "/x/:", -EINVAL, "':' at offset 3 needs a name");
    add_fails(r, "GET", "/x/:/y", -EINVAL, "needs a name");
    add_fails(r, "GET", "/x/*", -EINVAL, "'*' at offset 3 needs a name");
    add_fails(r, "GET", "x/y", -EINVAL, "must start with '/'");
    add_fails(r, "GET", "", -EINVAL, "must start with '/'");
    add_fails(r, "GET", "/x/:a.json", -EINVAL, "the name of ':a.json' must be letters");
    add_fails(r, "GET", "/x/:a/:a", -EINVAL, "the name 'a' is used twice");
    add_fails(r, "get", "/x", -EINVAL, "unknown method");
    add_fails(r, "BREW", "/x", -EINVAL, "unknown method");
    char many[256] = "";
    for (int i = 0; i <= PT__ROUTER_MAX_PARAMS; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "/:p%d", i);
    add_fails(r, "GET", many, -EINVAL, "more than 16 parameters");

    /* A long pattern is cut in the message, which stays whole. */
    char longp[1200] = "/";
    memset(longp + 1, 'z', 1000);
    strcat(longp, "/*w/x");
    char why[PT__ROUTER_ERR_LEN];
    assert_int_equal(pt__router_add(r, "GET", longp, NULL, why, sizeof(why)), -EINVAL);
    assert_non_null(strstr(why, "...: the wildcard '*w' must be the last segment"));
    /* A short buffer gets a truncated, terminated message. */
    char tiny[8];
    assert_int_equal(pt__router_add(r, "GET", "/a/:id", NULL, tiny, sizeof(tiny)), -EEXIST);
    assert_string_equal(tiny, "route G");

    /* Nothing of the refused routes was added. */
    assert_int_equal(pt__router_count(r), 3);
    expect_404(r, PT__ROUTER_GET, "/x/1/y");
    pt__router_match m = expect(r, PT__ROUTER_GET, "/a/7", 1, "/a/:id");
    expect_param(&m, 0, "id", "7");
    pt__router_free(r);
    pt__router_free(NULL);
}

static void test_long(void **state)
{
    pt__router *r = pt__router_new();
    /* The most params a pattern may have, all returned. */
    char pat[512] = "", path[512] = "";
    for (int i = 0; i < PT__ROUTER_MAX_PARAMS; i++) {
        snprintf(pat + strlen(pat), sizeof(pat) - strlen(pat), "/:p%d", i);
        snprintf(path + strlen(path), sizeof(path) - strlen(path), "/v%d", i);
    }
    add_ok(r, "GET", pat, 1);
    pt__router_match m = expect(r, PT__ROUTER_GET, path, 1, pat);
    assert_int_equal(m.nparams, PT__ROUTER_MAX_PARAMS);
    expect_param(&m, 15, "p15", "v15");

    /* A 4000-byte static pattern, a 64 KiB wildcard value, a 64 KiB miss. */
    static char big[70000];
    big[0] = '/';
    memset(big + 1, 's', 3999);
    big[4000] = 0;
    add_ok(r, "GET", big, 2);
    expect(r, PT__ROUTER_GET, big, 2, big);
    big[3999] = 't';
    expect_404(r, PT__ROUTER_GET, big);
    add_ok(r, "GET", "/w/*rest", 3);
    memcpy(big, "/w/", 3);
    memset(big + 3, 'x', sizeof(big) - 4);
    for (size_t i = 100; i < sizeof(big) - 1; i += 100)
        big[i] = '/';
    big[sizeof(big) - 1] = 0;
    m = expect(r, PT__ROUTER_GET, big, 3, "/w/*rest");
    assert_int_equal(m.params[0].value_len, sizeof(big) - 4);
    big[1] = 'v';
    expect_404(r, PT__ROUTER_GET, big);
    pt__router_free(r);
}

/* ---- many routes ------------------------------------------------------------------------ */

/* A random word of 1..8 lowercase letters from a 6-letter alphabet (so words share prefixes
 * and the tree splits a lot). */
static void random_word(uint64_t *rnd, char *out)
{
    size_t len = 1 + next_random(rnd) % 8;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)('a' + next_random(rnd) % 6);
    out[len] = 0;
}

static void test_many_routes(void **state)
{
    enum { N = 10000 };
    static char patterns[N][64], paths[N][64];
    pt__router *r = pt__router_new();
    uint64_t rnd = 0x9e3779b97f4a7c15ULL;
    size_t n = 0;
    while (n < N) {
        /* 2..4 segments; one route in 4 has a param named after its position. */
        char pat[64] = "", path[64] = "", w[16];
        size_t segs = 2 + next_random(&rnd) % 3;
        for (size_t s = 0; s < segs; s++) {
            random_word(&rnd, w);
            if (s > 0 && next_random(&rnd) % 4 == 0) {
                snprintf(pat + strlen(pat), sizeof(pat) - strlen(pat), "/:p%zu", s);
                snprintf(path + strlen(path), sizeof(path) - strlen(path), "/9%s", w);
            } else {
                snprintf(pat + strlen(pat), sizeof(pat) - strlen(pat), "/%s", w);
                snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s", w);
            }
        }
        int rc = pt__router_add(r, "GET", pat, H(n + 1), NULL, 0);
        if (rc == -EEXIST)
            continue;
        assert_int_equal(rc, 0);
        strcpy(patterns[n], pat);
        strcpy(paths[n], path);
        n++;
    }
    assert_int_equal(pt__router_count(r), N);
    for (size_t i = 0; i < N; i++) {
        pt__router_match m;
        assert_int_equal(find(r, PT__ROUTER_GET, paths[i], &m), PT__ROUTE_FOUND);
        /* Param values start with '9', outside the alphabet: no route shadows another. */
        assert_ptr_equal(m.handler, H(i + 1));
        assert_string_equal(m.pattern, patterns[i]);
    }
    /* Misses: a letter outside the alphabet, more segments than any pattern has. */
    for (size_t i = 0; i < N; i++) {
        char path[80];
        snprintf(path, sizeof(path), "%.63s/z/z/z/z", paths[i]); /* %.63s: gcc's truncation check */
        expect_404(r, PT__ROUTER_GET, path);
        snprintf(path, sizeof(path), "/z%.63s", paths[i]);
        expect_404(r, PT__ROUTER_GET, path);
        expect_405(r, PT__ROUTER_POST, paths[i], "GET, HEAD");
    }
    pt__router_free(r);
}

/* ---- the reference ---------------------------------------------------------------------- */

/* A linear matcher that states the rules plainly: a pattern matches when its segments match
 * the path's (static: equal; ':x': one non-empty segment; '*x': the rest, maybe empty); of
 * the matching routes that have the method (HEAD: or GET), the one whose segment kinds
 * (static < param < wildcard) are least in lexicographic order wins. */
typedef struct {
    char pattern[64];
    unsigned methods;
    uintptr_t handler[PT__ROUTER_METHODS];
} ref_route;

static int ref_match(const char *pat, const char *path, size_t len, char kinds[32])
{
    size_t nk = 0, i = 0;
    const char *p = pat;
    while (*p == '/') {
        if (i >= len || path[i] != '/')
            return -1;
        p++, i++;
        size_t seg = strcspn(p, "/");
        size_t pseg = 0;
        while (i + pseg < len && path[i + pseg] != '/')
            pseg++;
        if (*p == '*') {
            kinds[nk++] = 2;
            return (int)nk;
        } else if (*p == ':') {
            if (pseg == 0)
                return -1;
            kinds[nk++] = 1;
        } else {
            if (pseg != seg || memcmp(p, path + i, seg) != 0)
                return -1;
            kinds[nk++] = 0;
        }
        p += seg;
        i += pseg;
    }
    return i == len ? (int)nk : -1;
}

static pt__router_result ref_find(const ref_route *routes, size_t n, pt__router_method method,
                                  const char *path, size_t *best, unsigned *allow)
{
    char kb[32], kinds[32];
    int bn = -1;
    *allow = 0;
    for (size_t i = 0; i < n; i++) {
        int k = ref_match(routes[i].pattern, path, strlen(path), kinds);
        if (k < 0)
            continue;
        unsigned a = routes[i].methods;
        if (a & (1u << PT__ROUTER_GET))
            a |= 1u << PT__ROUTER_HEAD;
        *allow |= a;
        if ((unsigned)method >= PT__ROUTER_METHODS || !(a & (1u << method)))
            continue;
        int cmp = bn < 0 ? -1 : memcmp(kinds, kb, (size_t)(k < bn ? k : bn));
        assert_true(bn < 0 || cmp != 0); /* distinct templates differ in kinds */
        if (cmp < 0) {
            memcpy(kb, kinds, (size_t)k);
            bn = k;
            *best = i;
        }
    }
    if (bn >= 0)
        return PT__ROUTE_FOUND;
    return *allow ? PT__ROUTE_METHOD_NOT_ALLOWED : PT__ROUTE_NOT_FOUND;
}

static void random_segment(uint64_t *rnd, char *out, size_t cap, bool pattern, size_t pos)
{
    static const char *const words[] = {"a", "b", "ab", "ba", "abc", ""};
    unsigned k = (unsigned)(next_random(rnd) % 10);
    if (pattern && k == 0)
        snprintf(out, cap, ":p%zu", pos);
    else if (pattern && k == 1)
        snprintf(out, cap, "*w");
    else if (!pattern && k == 0)
        snprintf(out, cap, "x%u", (unsigned)(next_random(rnd) % 3));
    else
        snprintf(out, cap, "%s", words[next_random(rnd) % (pattern ? 5 : 6)]);
}

static void test_against_reference(void **state)
{
    enum { ROUNDS = 60, ROUTES = 120, PATHS = 1500 };
    static const pt__router_method ms[] = {PT__ROUTER_GET, PT__ROUTER_POST, PT__ROUTER_HEAD,
                                           PT__ROUTER_DELETE};
    uint64_t rnd = 42;
    size_t checked = 0, found = 0, nf = 0, na = 0;
    for (int round = 0; round < ROUNDS; round++) {
        static ref_route routes[ROUTES];
        size_t n = 0;
        pt__router *r = pt__router_new();
        for (int t = 0; t < ROUTES; t++) {
            char pat[64] = "", seg[16];
            size_t segs = 1 + next_random(&rnd) % 4;
            for (size_t s = 0; s < segs; s++) {
                random_segment(&rnd, seg, sizeof(seg), true, s);
                snprintf(pat + strlen(pat), sizeof(pat) - strlen(pat), "/%s", seg);
                if (seg[0] == '*')
                    break;
            }
            pt__router_method m = ms[next_random(&rnd) % COUNT(ms)];
            uintptr_t h = (uintptr_t)t + 1;
            int rc = pt__router_add(r, pt__router_method_name(m), pat, H(h), NULL, 0);
            size_t j = 0;
            while (j < n && strcmp(routes[j].pattern, pat) != 0)
                j++;
            if (j < n && (routes[j].methods & (1u << m))) {
                assert_int_equal(rc, -EEXIST);
                continue;
            }
            assert_int_equal(rc, 0);
            if (j == n) {
                memset(&routes[n], 0, sizeof(routes[n]));
                strcpy(routes[n++].pattern, pat);
            }
            routes[j].methods |= 1u << m;
            routes[j].handler[m] = h;
        }
        for (int t = 0; t < PATHS; t++) {
            char path[96] = "", seg[16];
            size_t segs = next_random(&rnd) % 6;
            for (size_t s = 0; s < segs; s++) {
                random_segment(&rnd, seg, sizeof(seg), false, s);
                snprintf(path + strlen(path), sizeof(path) - strlen(path), "/%s", seg);
            }
            if (segs == 0)
                strcpy(path, next_random(&rnd) % 2 ? "/" : "");
            pt__router_method m = (pt__router_method)(next_random(&rnd) % 10);
            size_t best = 0;
            unsigned allow;
            pt__router_result want = ref_find(routes, n, m, path, &best, &allow);
            pt__router_match got;
            pt__router_result res = pt__router_find(r, m, path, strlen(path), &got);
            if (res != want)
                fail_msg("round %d: %s %s: %d, reference %d", round,
                         pt__router_method_name(m), path, res, want);
            checked++;
            if (res == PT__ROUTE_FOUND) {
                found++;
                const ref_route *rr = &routes[best];
                uintptr_t h = m == PT__ROUTER_HEAD && !(rr->methods & (1u << PT__ROUTER_HEAD))
                                  ? rr->handler[PT__ROUTER_GET]
                                  : rr->handler[m];
                if (strcmp(got.pattern, rr->pattern) != 0 || got.handler != H(h))
                    fail_msg("%s %s: %s, reference %s", pt__router_method_name(m), path,
                             got.pattern, rr->pattern);
                /* The params: the pattern's names, in order, with the path's segments. */
                unsigned np = 0;
                for (const char *p = rr->pattern; *p; p++)
                    np += (p[-1 + (p == rr->pattern)] == '/' && (*p == ':' || *p == '*'));
                assert_int_equal(got.nparams, np);
                for (unsigned i = 0; i < got.nparams; i++) {
                    assert_true(got.params[i].value >= path);
                    assert_true(got.params[i].value + got.params[i].value_len <=
                                path + strlen(path));
                    assert_non_null(strstr(rr->pattern, got.params[i].name));
                }
            } else if (res == PT__ROUTE_METHOD_NOT_ALLOWED) {
                na++;
                assert_int_equal(got.allow_mask, allow);
            } else {
                nf++;
            }
        }
        pt__router_free(r);
    }
    /* The random mix must exercise every outcome. */
    assert_true(found > checked / 20 && na > checked / 50 && nf > checked / 20);
}

/* The per-node hash table of static segments: siblings of every length from 0 to 19 (each of
 * the hash's length classes), segments that are prefixes of one another, a sibling table of
 * 300, and a miss that must fall back to the param. */
static void test_segment_table(void **state)
{
    (void)state;
    pt__router *r = pt__router_new();
    char pattern[64], path[64];
    const char *word = "abcdefghijklmnopqrst";
    for (int n = 0; n < 20; n++) {
        snprintf(pattern, sizeof(pattern), "/s/%.*s", n, word);
        add_ok(r, "GET", pattern, (uintptr_t)n + 1);
    }
    for (int i = 0; i < 300; i++) {
        snprintf(pattern, sizeof(pattern), "/t/w%d/x", i);
        add_ok(r, "GET", pattern, (uintptr_t)i + 100);
    }
    add_ok(r, "GET", "/t/:id/x", 1000);
    pt__router_freeze(r);
    for (int n = 0; n < 20; n++) {
        snprintf(pattern, sizeof(pattern), "/s/%.*s", n, word);
        expect(r, PT__ROUTER_GET, pattern, (uintptr_t)n + 1, pattern);
        snprintf(path, sizeof(path), "/s/%.*sz", n, word);
        expect_404(r, PT__ROUTER_GET, path);
    }
    for (int i = 0; i < 300; i++) {
        snprintf(path, sizeof(path), "/t/w%d/x", i);
        expect(r, PT__ROUTER_GET, path, (uintptr_t)i + 100, path);
    }
    pt__router_match m = expect(r, PT__ROUTER_GET, "/t/w300/x", 1000, "/t/:id/x");
    expect_param(&m, 0, "id", "w300");
    expect_404(r, PT__ROUTER_GET, "/t/w1");
    expect_404(r, PT__ROUTER_GET, "/s/abc/");
    pt__router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static_and_params),
        cmocka_unit_test(test_priority),
        cmocka_unit_test(test_backtracking),
        cmocka_unit_test(test_wildcard),
        cmocka_unit_test(test_trailing_slash),
        cmocka_unit_test(test_405_and_head),
        cmocka_unit_test(test_freeze),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_raw_bytes),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_long),
        cmocka_unit_test(test_many_routes),
        cmocka_unit_test(test_against_reference),
        cmocka_unit_test(test_segment_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
