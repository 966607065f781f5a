/* libFuzzer target: runtime overrides of a loaded configuration, on any bytes. The input is
 * cut at its first 0 byte: the part before is a JSON document for pt_config_override() (the
 * reader and validation the files go through), the part after is split at '\n' into
 * KEY=VALUE texts for pt_config_override_args() (the flag parser). Then every override is
 * removed again. One configuration, with a key of every type, lives across inputs.
 *
 * Properties checked, beyond "no crash, no sanitizer report":
 *  - each call returns 0 or -EINVAL, and -EINVAL comes with a message;
 *  - a refused call changes nothing (every value, read through a view, is as before);
 *  - after an accepted one every value is of its type and within its declared range, and
 *    the PT_CONFIG_FIXED key keeps its start-up value;
 *  - views give NUL-terminated strings and NULL-terminated lists of the stated length;
 *  - pt_config_dump() is valid JSON (UTF-8 included) and shows the secret as "<redacted>";
 *  - subscribers get values that are valid JSON texts, the secret's redacted;
 *  - pt_config_unset(cfg, NULL, 0) brings back exactly the state after loading. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "potter/config.h"
#include "config/json.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_ARGS 32

static void require(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "config_load: property failed: %s\n", what);
        abort();
    }
}

static const pt_config_key keys[] = {
    {"s.str", PT_CONFIG_STRING, "x", "a string", NULL, 0},
    {"n.int", PT_CONFIG_INT, "0", "an int with a range", "-100..100", 0},
    {"n.uint", PT_CONFIG_UINT, NULL, "a uint", NULL, 0},
    {"n.dbl", PT_CONFIG_DOUBLE, "0.5", "a double with a range", "-1.5..1e6", 0},
    {"b.flag", PT_CONFIG_BOOL, "false", "a bool", NULL, 0},
    {"t.timeout", PT_CONFIG_DURATION, "250ms", "a duration", "1ms..1h", 0},
    {"sz.buf", PT_CONFIG_SIZE, "1MiB", "a size", "..64MiB", 0},
    {"e.level", PT_CONFIG_ENUM, "info", "an enum", "debug|info|warn", 0},
    {"l.list", PT_CONFIG_LIST, "a,b", "a list", NULL, 0},
    {"o.obj", PT_CONFIG_OBJECT, "{}", "an object", NULL, 0},
    {"db.password", PT_CONFIG_STRING, NULL, "a secret", NULL, PT_CONFIG_SECRET},
    {"fixed.name", PT_CONFIG_STRING, "svc", "fixed at start-up", NULL, PT_CONFIG_FIXED},
    {"a.b.c", PT_CONFIG_INT, "1", "nested", NULL, 0},
    {"a.b.d", PT_CONFIG_STRING, NULL, "nested", NULL, 0},
    {"a.x", PT_CONFIG_BOOL, "true", "nested", NULL, 0},
    {"a.b.e-f_g", PT_CONFIG_DURATION, NULL, "nested, no range", NULL, 0},
};

static struct {
    pt_config *cfg;
    char dir[256], dcfile[300];
    pt_config_str *str, *secret, *fixed, *abd;
    pt_config_int *i, *abc;
    pt_config_uint *u;
    pt_config_double *d;
    pt_config_bool *b, *ax;
    pt_config_duration *t, *abe;
    pt_config_size *sz;
    pt_config_enum *e;
    pt_config_list *l;
    pt_config_object *o;
    char *initial; /* the values after loading, as snapshot() writes them */
} g;

static void on_report(void *arg, int level, const char *msg)
{
    (void)arg;
    (void)level;
    (void)msg;
}

static int valid_json(const char *text)
{
    pt__cjson_doc *doc = NULL;
    pt__cjson_error e;
    if (pt__cjson_parse(text, strlen(text), &doc, &e) != 0)
        return 0;
    pt__cjson_free(doc);
    return 1;
}

/* On pt-ops: every value told is a JSON text; the secret's is redacted. */
static void on_change(void *arg, const pt_config_change *c, size_t n)
{
    (void)arg;
    for (size_t i = 0; i < n; i++) {
        require(c[i].key != NULL && c[i].origin != NULL, "change: NULL key or origin");
        if (!valid_json(c[i].old_value) || !valid_json(c[i].new_value)) {
            fprintf(stderr, "change of %s: %s -> %s\n", c[i].key, c[i].old_value, c[i].new_value);
            require(0, "change: a value that is not JSON");
        }
        if (strcmp(c[i].key, "db.password") == 0)
            require(strcmp(c[i].new_value, "\"<redacted>\"") == 0 ||
                        strcmp(c[i].new_value, "null") == 0,
                    "change: the secret shown");
    }
}

static void cleanup(void)
{
    rmdir(g.dir);
}

static void init(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g.dir, sizeof(g.dir), "%s/pt-fuzz-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    require(mkdtemp(g.dir) != NULL, "mkdtemp");
    atexit(cleanup);
    snprintf(g.dcfile, sizeof(g.dcfile), "%s/no-datacenter", g.dir);

    pt_config_options opts = {0};
    opts.config_dir = g.dir;
    opts.env = "fuzz";
    opts.datacenter_file = g.dcfile;
    opts.report = on_report;
    require(pt_config_new("fuzz", &opts, &g.cfg) == 0, "pt_config_new");
    if (pt_config_declare(g.cfg, keys, COUNT(keys)) != 0) {
        fprintf(stderr, "declare: %s\n", pt_config_error(g.cfg));
        abort();
    }
    char *argv[] = {"fuzz_config_load", NULL};
    if (pt_config_load(g.cfg, 1, argv) != 0) {
        fprintf(stderr, "load: %s\n", pt_config_error(g.cfg));
        abort();
    }
    g.str = PT_CONFIG_STR(g.cfg, "s.str");
    g.i = PT_CONFIG_INT(g.cfg, "n.int");
    g.u = PT_CONFIG_UINT(g.cfg, "n.uint");
    g.d = PT_CONFIG_DOUBLE(g.cfg, "n.dbl");
    g.b = PT_CONFIG_BOOL(g.cfg, "b.flag");
    g.t = PT_CONFIG_DURATION(g.cfg, "t.timeout");
    g.sz = PT_CONFIG_SIZE(g.cfg, "sz.buf");
    g.e = PT_CONFIG_ENUM(g.cfg, "e.level");
    g.l = PT_CONFIG_LIST(g.cfg, "l.list");
    g.o = PT_CONFIG_OBJECT(g.cfg, "o.obj");
    g.secret = PT_CONFIG_STR(g.cfg, "db.password");
    g.fixed = PT_CONFIG_STR(g.cfg, "fixed.name");
    g.abc = PT_CONFIG_INT(g.cfg, "a.b.c");
    g.abd = PT_CONFIG_STR(g.cfg, "a.b.d");
    g.ax = PT_CONFIG_BOOL(g.cfg, "a.x");
    g.abe = PT_CONFIG_DURATION(g.cfg, "a.b.e-f_g");
    pt_config_sub *sub;
    require(pt_config_subscribe(g.cfg, "", on_change, NULL, &sub) == 0, "subscribe");
}

/* ---- snapshots ---------------------------------------------------------------------------- */

struct text {
    char *p;
    size_t len, cap;
};

static void put(struct text *t, const void *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->p = realloc(t->p, t->cap);
        require(t->p != NULL, "realloc");
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = 0;
}

static void put_u64(struct text *t, uint64_t v)
{
    char num[32];
    int n = snprintf(num, sizeof(num), "%llu;", (unsigned long long)v);
    put(t, num, (size_t)n);
}

/* A string's bytes with its length, so that "a" "bc" and "ab" "c" differ. */
static void put_str(struct text *t, const char *s)
{
    if (s == NULL) {
        put(t, "N;", 2);
        return;
    }
    size_t n = strlen(s);
    put_u64(t, n);
    put(t, s, n);
}

/* Every value, read through one view, as one text; checks the views' promises on the way. */
static char *snapshot(void)
{
    struct text t = {0};
    const pt_config_view *v = pt_config_view_begin(g.cfg);

    put_u64(&t, (uint64_t)pt_config_view_int(v, g.i));
    put_u64(&t, pt_config_view_uint(v, g.u));
    double d = pt_config_view_double(v, g.d);
    uint64_t dbits;
    memcpy(&dbits, &d, sizeof(d));
    put_u64(&t, dbits);
    put_u64(&t, (uint64_t)pt_config_view_bool(v, g.b));
    put_u64(&t, (uint64_t)pt_config_view_duration(v, g.t));
    put_u64(&t, pt_config_view_size(v, g.sz));
    put_u64(&t, (uint64_t)pt_config_view_enum(v, g.e));
    put_u64(&t, (uint64_t)pt_config_view_int(v, g.abc));
    put_u64(&t, (uint64_t)pt_config_view_bool(v, g.ax));
    put_u64(&t, (uint64_t)pt_config_view_duration(v, g.abe));
    put_str(&t, pt_config_view_str(v, g.str));
    put_str(&t, pt_config_view_str(v, g.secret));
    put_str(&t, pt_config_view_str(v, g.fixed));
    put_str(&t, pt_config_view_str(v, g.abd));
    const char *obj = pt_config_view_object(v, g.o);
    require(obj == NULL || valid_json(obj), "view: an object that is not JSON");
    put_str(&t, obj);
    size_t n = 12345;
    const char *const *items = pt_config_view_list(v, g.l, &n);
    require(items != NULL, "view: a NULL list");
    for (size_t i = 0; i < n; i++)
        put_str(&t, items[i]);
    require(items[n] == NULL, "view: a list not NULL-terminated at its count");
    for (size_t k = 0; k < COUNT(keys); k++) {
        const char *origin = pt_config_view_origin(v, keys[k].name);
        require(origin != NULL, "view: no origin");
        /* Without the time left, which moves between two snapshots. */
        const char *left = strstr(origin, " (expires in");
        put(&t, origin, left ? (size_t)(left - origin) : strlen(origin));
        put(&t, ";", 1);
    }
    pt_config_view_end(v);
    return t.p;
}

/* After an accepted call: every value is within its declared range. */
static void check_ranges(void)
{
    int64_t i = pt_config_int_get(g.i);
    double d = pt_config_double_get(g.d);
    int64_t t = pt_config_duration_get(g.t);
    int e = pt_config_enum_get(g.e);
    require(i >= -100 && i <= 100, "n.int out of range");
    require(d >= -1.5 && d <= 1e6, "n.dbl out of range");
    require(pt_config_bool_get(g.b) == 0 || pt_config_bool_get(g.b) == 1, "b.flag not 0/1");
    require(pt_config_bool_get(g.ax) == 0 || pt_config_bool_get(g.ax) == 1, "a.x not 0/1");
    require(t >= 1000000 && t <= 3600 * 1000000000LL, "t.timeout out of range");
    require(pt_config_duration_get(g.abe) >= 0, "a.b.e-f_g negative");
    require(pt_config_size_get(g.sz) <= 64u << 20, "sz.buf out of range");
    require(e >= 0 && e <= 2, "e.level out of range");
    static const char *const names[] = {"debug", "info", "warn"};
    require(strcmp(pt_config_enum_name(g.e), names[e]) == 0, "e.level's name");
    require(strcmp(pt_config_str_get(g.fixed), "svc") == 0, "fixed.name changed");
}

/* The outcome of one call: -EINVAL with a message and nothing changed, or 0 and values in
 * range. */
static void check_call(int rc, const char *before)
{
    require(rc == 0 || rc == -EINVAL, "a result other than 0 or -EINVAL");
    if (rc == 0) {
        check_ranges();
        return;
    }
    const char *msg = pt_config_error(g.cfg);
    require(msg != NULL && msg[0] != 0, "-EINVAL without a message");
    char *after = snapshot();
    require(strcmp(before, after) == 0, "a refused call changed a value");
    free(after);
}

/* The secret, when set, shows as "<redacted>" in the dump, which is valid JSON. */
static void check_dump(void)
{
    char *dump = pt_config_dump(g.cfg);
    require(dump != NULL, "dump: NULL");
    pt__cjson_doc *doc = NULL;
    pt__cjson_error e;
    if (pt__cjson_parse(dump, strlen(dump), &doc, &e) != 0) {
        fprintf(stderr, "dump %u:%u: %s\n%s\n", e.line, e.col, e.msg, dump);
        require(0, "dump: not JSON");
    }
    const pt__cjson *k = pt__cjson_get(pt__cjson_root(doc), "keys");
    require(k != NULL, "dump: no \"keys\"");
    const pt__cjson *secret = pt__cjson_get(pt__cjson_get(k, "db.password"), "value");
    require(secret != NULL, "dump: no value for db.password");
    require(secret->type == PT__CJSON_NULL ||
                (secret->type == PT__CJSON_STRING && strcmp(secret->u.str.p, "<redacted>") == 0),
            "dump: the secret shown");
    pt__cjson_free(doc);
    free(dump);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g.cfg == NULL) {
        init();
        g.initial = snapshot();
    }
    const char *text = (const char *)data;
    const char *zero = memchr(text, 0, size);
    size_t doc_len = zero ? (size_t)(zero - text) : size;
    uint64_t ttl = doc_len % 4 == 1 ? 3600 * 1000 : 0; /* never expires during a run */

    char *before = snapshot();
    int rc = pt_config_override(g.cfg, text, doc_len, ttl, "fuzz");
    int accepted = rc == 0;
    check_call(rc, before);
    free(before);

    if (zero != NULL) {
        size_t rest = size - doc_len - 1;
        char *copy = malloc(rest + 1);
        require(copy != NULL, "malloc");
        memcpy(copy, zero + 1, rest);
        copy[rest] = 0;
        const char *args[MAX_ARGS];
        size_t n = 0;
        for (char *p = copy; n < MAX_ARGS;) {
            args[n++] = p;
            char *nl = memchr(p, '\n', (size_t)(copy + rest - p));
            if (nl == NULL)
                break;
            *nl = 0;
            p = nl + 1;
        }
        before = snapshot();
        rc = pt_config_override_args(g.cfg, args, n, ttl, "fuzz args");
        accepted |= rc == 0;
        check_call(rc, before);
        free(before);
        free(copy);
    }

    /* Here rather than only in the subscriber, so that a bad value fails with its input. */
    if (accepted || size % 8 == 7)
        check_dump();
    require(pt_config_unset(g.cfg, NULL, 0) == 0, "unset all");
    char *after = snapshot();
    if (strcmp(after, g.initial) != 0) {
        fprintf(stderr, "after unset: %s\nafter load: %s\n", after, g.initial);
        require(0, "unset did not bring back the state after loading");
    }
    free(after);
    return 0;
}
