/* The precedence of the configuration layers (docs/config.md, DESIGN.md "Configuration
 * layers"): for every subset of the eight layers above the defaults, in a non-production
 * environment (secrets/secrets-<env>.json) and in production (secrets/secrets.json), the
 * highest layer given wins, through a handle and through a view, with its exact origin
 * (file:line:column, "--http.port", "runtime override from ..."), the list of files read and
 * the dump agreeing. Then nested and dotted keys, null in a higher file, overrides with a
 * time-to-live, null overrides and unsets. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cfg_testutil.h"
#include "potter/config.h"

static const pt_config_key keys[] = {
    {"http.port", PT_CONFIG_INT, "8080", "port the service listens on", "1..65535", 0},
    {"http.host", PT_CONFIG_STRING, "127.0.0.1", "address to listen on", NULL, 0},
    {"app.name", PT_CONFIG_STRING, NULL, "a name", NULL, 0},
    {"opt.count", PT_CONFIG_INT, NULL, "a number without a default", NULL, 0},
    {"db.password", PT_CONFIG_STRING, NULL, "a secret", NULL, PT_CONFIG_SECRET},
};

/* ---- the matrix ------------------------------------------------------------------------------ */

/* The layers above the defaults, lowest first; bit i of a mask includes layer i. */
enum { L_COMMON, L_COMMON_DC, L_ENV, L_SECRETS, L_ENV_DC, L_EXTRA, L_FLAG, L_OVERRIDE, NLAYERS };

#define DC "dc1"

/* The value layer i gives http.port. */
static int layer_value(int i)
{
    return 1001 + i;
}

/* The file of layer i under the config folder, for env (NULL for the non-file layers and
 * --config=FILE, which lives outside it). */
static char *layer_file(int i, const char *env)
{
    switch (i) {
    case L_COMMON: return cfgt_fmt("common.json");
    case L_COMMON_DC: return cfgt_fmt("common.%s.json", DC);
    case L_ENV: return cfgt_fmt("%s.json", env);
    case L_SECRETS:
        return strcmp(env, "production") == 0 ? cfgt_fmt("secrets/secrets.json")
                                              : cfgt_fmt("secrets/secrets-%s.json", env);
    case L_ENV_DC: return cfgt_fmt("%s.%s.json", env, DC);
    }
    return NULL;
}

/* A document setting http.port to value, in one of three layouts (so that positions differ
 * between layers); *needle gets the text of the key whose position the origin names. */
static char *layer_text(int style, int value, const char **needle)
{
    switch (style % 3) {
    case 0: *needle = "\"http.port\""; return cfgt_fmt("{\"http.port\": %d}\n", value);
    case 1:
        /* Nested, with characters of two bytes before the key's line: columns count code
         * points, and the origin names the inner key. */
        *needle = "\"port\"";
        return cfgt_fmt("{\n  \"app.name\": \"h\xc3\xa9llo w\xc3\xb6rld\",\n  \"http\": {\n"
                        "    \"host\": \"h\",\n    \"port\": %d\n  }\n}\n",
                        value);
    default:
        *needle = "\"http.port\"";
        return cfgt_fmt("\n\n  {\"app.name\": \"\xc3\xbc\xc3\xbc\", \"http.port\":\t%d}", value);
    }
}

/* Files no layer reads in env: another datacenter, another environment, the other name of
 * the secrets file. They set http.port to 1 and must never win or be listed. */
static void write_decoys(cfgt *t, const char *env)
{
    const char *doc = "{\"http.port\": 1}";
    cfgt_write(t, "common.dc2.json", doc);
    cfgt_write(t, "development.json", doc);
    cfgt_write(t, strcmp(env, "production") == 0 ? "staging.json" : "production.json", doc);
    cfgt_write(t,
               strcmp(env, "production") == 0 ? "secrets/secrets-production.json"
                                              : "secrets/secrets.json",
               doc);
    char *other = cfgt_fmt("%s.dc2.json", env);
    cfgt_write(t, other, doc);
    free(other);
    cfgt_write(t, "config.json", doc);
}

typedef struct expect {
    int64_t value;
    char *origin;
    const char *files[NLAYERS];
    size_t nfiles;
} expect;

static void check_dump(cfgt *t, const expect *want, const char *env)
{
    char *dump = pt_config_dump(t->cfg);
    assert_non_null(dump);
    json_error_t jerr;
    json_t *root = json_loads(dump, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        fail_msg("the dump is not JSON (%s at %d:%d): %s", jerr.text, jerr.line, jerr.column, dump);
    assert_string_equal(json_string_value(json_object_get(root, "service")), "svc");
    assert_string_equal(json_string_value(json_object_get(root, "version")), "1.2.3");
    assert_string_equal(json_string_value(json_object_get(root, "env")), env);
    assert_string_equal(json_string_value(json_object_get(root, "datacenter")), DC);
    json_t *files = json_object_get(root, "files");
    assert_true(json_is_array(files));
    assert_int_equal(json_array_size(files), want->nfiles);
    for (size_t i = 0; i < want->nfiles; i++)
        assert_string_equal(json_string_value(json_array_get(files, i)), want->files[i]);
    json_t *key = json_object_get(json_object_get(root, "keys"), "http.port");
    assert_non_null(key);
    assert_true(json_is_integer(json_object_get(key, "value")));
    assert_int_equal(json_integer_value(json_object_get(key, "value")), want->value);
    assert_string_equal(json_string_value(json_object_get(key, "origin")), want->origin);
    assert_int_equal(json_object_size(json_object_get(root, "keys")), COUNT(keys));
    json_decref(root);
    free(dump);
}

static void check_state(cfgt *t, const expect *want, const char *env)
{
    pt_config_int *port = PT_CONFIG_INT(t->cfg, "http.port");

    assert_int_equal(pt_config_int_get(port), want->value);
    const pt_config_view *v = pt_config_view_begin(t->cfg);
    assert_int_equal(pt_config_view_int(v, port), want->value);
    assert_string_equal(pt_config_view_origin(v, "http.port"), want->origin);
    pt_config_view_end(v);

    const char *const *paths;
    size_t n = pt_config_files(t->cfg, &paths);
    if (n != want->nfiles) {
        for (size_t i = 0; i < n; i++)
            print_error("file %zu: %s\n", i, paths[i]);
        fail_msg("%zu files read, want %zu", n, want->nfiles);
    }
    for (size_t i = 0; i < n; i++)
        assert_string_equal(paths[i], want->files[i]);
    check_dump(t, want, env);
}

/* One combination: the layers of mask, in env. */
static void run_combination(const char *env, unsigned mask)
{
    cfgt *t = cfgt_setup();
    expect want = {8080, cfgt_fmt("default"), {0}, 0};
    char *paths[NLAYERS] = {0};
    const char *args[4];
    int nargs = 0;
    char *flag_env = cfgt_fmt("--env=%s", env), *flag_config = NULL, *flag_port = NULL;

    cfgt_write_abs(t->dcfile, DC "\n", strlen(DC) + 1);
    write_decoys(t, env);
    args[nargs++] = flag_env;
    for (int i = 0; i < NLAYERS; i++) {
        if (!(mask & (1u << i)))
            continue;
        int value = layer_value(i);
        if (i == L_FLAG) {
            flag_port = cfgt_fmt("--http.port=%d", value);
            args[nargs++] = flag_port;
            free(want.origin);
            want.origin = cfgt_fmt("--http.port");
            want.value = value;
            continue;
        }
        if (i == L_OVERRIDE)
            continue; /* applied after the load */
        const char *needle;
        char *text = layer_text((int)mask + i, value, &needle);
        char *rel = layer_file(i, env);
        paths[i] = rel ? cfgt_path(t, rel) : cfgt_fmt("%s/extra/more.json", t->root);
        cfgt_write_abs(paths[i], text, strlen(text));
        if (i == L_EXTRA) {
            flag_config = cfgt_fmt("--config=%s", paths[i]);
            args[nargs++] = flag_config;
        }
        unsigned line, col;
        cfgt_pos(text, needle, &line, &col);
        free(want.origin);
        want.origin = cfgt_fmt("%s:%u:%u", paths[i], line, col);
        want.value = value;
        want.files[want.nfiles++] = paths[i];
        free(text);
        free(rel);
    }

    cfgt_new(t, keys, COUNT(keys));
    int rc = cfgt_loadv(t, nargs, args);
    if (rc != 0)
        fail_msg("env %s, layers 0x%02x: load: %d: %s", env, mask, rc, cfgt_err(t));
    assert_string_equal(cfgt_err(t), "");
    assert_string_equal(cfgt_out(t), "");
    assert_string_equal(pt_config_env(t->cfg), env);
    assert_string_equal(pt_config_datacenter(t->cfg), DC);
    check_state(t, &want, env);

    if (mask & (1u << L_OVERRIDE)) {
        const char *doc = "{\"http\": {\"port\": 1008}}";
        assert_int_equal(layer_value(L_OVERRIDE), 1008);
        rc = pt_config_override(t->cfg, doc, strlen(doc), 0, "matrix test");
        if (rc != 0)
            fail_msg("override: %d: %s", rc, pt_config_error(t->cfg));
        free(want.origin);
        want.origin = cfgt_fmt("runtime override from matrix test");
        want.value = 1008;
        check_state(t, &want, env);
    }

    cfgt_teardown(t);
    for (int i = 0; i < NLAYERS; i++)
        free(paths[i]);
    free(want.origin);
    free(flag_env);
    free(flag_config);
    free(flag_port);
}

static void test_matrix_staging(void **state)
{
    (void)state;
    for (unsigned mask = 0; mask < (1u << NLAYERS); mask++)
        run_combination("staging", mask);
}

static void test_matrix_production(void **state)
{
    (void)state;
    for (unsigned mask = 0; mask < (1u << NLAYERS); mask++)
        run_combination("production", mask);
}

/* ---- helpers of the other tests -------------------------------------------------------------- */

static void load_ok(cfgt *t, ...)
{
    const char *args[16];
    int n = 0;
    va_list ap;

    va_start(ap, t);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;)
        args[n++] = a;
    va_end(ap);
    if (t->cfg == NULL)
        cfgt_new(t, keys, COUNT(keys));
    int rc = cfgt_loadv(t, n, args);
    if (rc != 0)
        fail_msg("load: %d: %s", rc, cfgt_err(t));
}

static void override_ok(cfgt *t, const char *doc, uint64_t ttl_ms, const char *source)
{
    int rc = pt_config_override(t->cfg, doc, strlen(doc), ttl_ms, source);
    if (rc != 0)
        fail_msg("override %s: %d: %s", doc, rc, pt_config_error(t->cfg));
}

/* The origin of name, copied (the view's text lives until the next call). */
static char *origin_of(cfgt *t, const char *name)
{
    const pt_config_view *v = pt_config_view_begin(t->cfg);
    const char *o = pt_config_view_origin(v, name);
    char *copy = o ? strdup(o) : NULL;
    pt_config_view_end(v);
    return copy;
}

static void assert_origin(cfgt *t, const char *name, const char *want)
{
    char *o = origin_of(t, name);
    assert_non_null(o);
    assert_string_equal(o, want);
    free(o);
}

/* The origin of a key at needle in the file rel. */
static char *file_origin(cfgt *t, const char *rel, const char *text, const char *needle)
{
    unsigned line, col;
    cfgt_pos(text, needle, &line, &col);
    return cfgt_fmt("%s/%s:%u:%u", t->dir, rel, line, col);
}

/* ---- nested and dotted keys ------------------------------------------------------------------ */

static void test_nested_and_dotted(void **state)
{
    cfgt *t = *state;
    const char *common = "{\"http\": {\"port\": 1}}";
    const char *dev = "{\"http.host\": \"::1\", \"http\": {}}";

    cfgt_write(t, "common.json", common);
    cfgt_write(t, "development.json", dev);
    load_ok(t, NULL);
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 1);
    char *o = file_origin(t, "common.json", common, "\"port\"");
    assert_origin(t, "http.port", o);
    free(o);
    o = file_origin(t, "development.json", dev, "\"http.host\"");
    assert_origin(t, "http.host", o);
    free(o);
    const pt_config_view *v = pt_config_view_begin(t->cfg);
    assert_string_equal(pt_config_view_str(v, PT_CONFIG_STR(t->cfg, "http.host")), "::1");
    assert_null(pt_config_view_origin(v, "http.prot"));
    assert_null(pt_config_view_origin(v, "http"));
    pt_config_view_end(v);
}

static void test_dotted_overrides_nested_in_higher_file(void **state)
{
    cfgt *t = *state;
    const char *common = "{\"http.port\": 1, \"http.host\": \"a\"}";
    const char *dev = "{\"http\": {\"port\": 2}}";

    cfgt_write(t, "common.json", common);
    cfgt_write(t, "development.json", dev);
    load_ok(t, NULL);
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 2);
    char *o = file_origin(t, "development.json", dev, "\"port\"");
    assert_origin(t, "http.port", o);
    free(o);
    o = file_origin(t, "common.json", common, "\"http.host\"");
    assert_origin(t, "http.host", o);
    free(o);
}

static void test_nested_and_dotted_in_one_file(void **state)
{
    cfgt *t = *state;
    const char *text = "{\n  \"http\": {\"port\": 1},\n  \"http.port\": 2\n}\n";

    cfgt_write(t, "common.json", text);
    cfgt_new(t, keys, COUNT(keys));
    assert_int_equal(cfgt_load(t, NULL), -EINVAL);
    char *want = cfgt_fmt("%s/common.json:3:3: http.port is set twice in this document (first "
                          "at %s/common.json:2:12)",
                          t->dir, t->dir);
    assert_string_equal(pt_config_error(t->cfg), want);
    char *line = cfgt_fmt("svc: %s\n", want);
    assert_string_equal(cfgt_err(t), line);
    free(line);
    free(want);
}

static void test_nested_twice_in_one_file(void **state)
{
    cfgt *t = *state;
    /* The same key written nested twice: the JSON reader's duplicate key. */
    const char *text = "{\"http\": {\"port\": 1}, \"http\": {\"host\": \"x\"}}";

    cfgt_write(t, "common.json", text);
    cfgt_new(t, keys, COUNT(keys));
    assert_int_equal(cfgt_load(t, NULL), -EINVAL);
    char *want = cfgt_fmt("%s/common.json:1:23: duplicate key \"http\" (first at 1:2)", t->dir);
    assert_string_equal(pt_config_error(t->cfg), want);
    free(want);
}

/* ---- null ------------------------------------------------------------------------------------ */

static void test_null_in_higher_file_unsets(void **state)
{
    cfgt *t = *state;
    const char *common = "{\"opt.count\": 5, \"app.name\": \"n\"}";
    const char *dev = "{\"opt\": {\"count\": null}, \"app.name\": null}";

    cfgt_write(t, "common.json", common);
    cfgt_write(t, "development.json", dev);
    load_ok(t, NULL);
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "opt.count")), 0);
    const pt_config_view *v = pt_config_view_begin(t->cfg);
    assert_int_equal(pt_config_view_int(v, PT_CONFIG_INT(t->cfg, "opt.count")), 0);
    assert_null(pt_config_view_str(v, PT_CONFIG_STR(t->cfg, "app.name")));
    pt_config_view_end(v);
    char *o = file_origin(t, "development.json", dev, "\"count\"");
    assert_origin(t, "opt.count", o);

    char *dump = pt_config_dump(t->cfg);
    json_t *root = json_loads(dump, 0, NULL);
    assert_non_null(root);
    json_t *k = json_object_get(json_object_get(root, "keys"), "opt.count");
    assert_true(json_is_null(json_object_get(k, "value")));
    assert_string_equal(json_string_value(json_object_get(k, "origin")), o);
    k = json_object_get(json_object_get(root, "keys"), "app.name");
    assert_true(json_is_null(json_object_get(k, "value")));
    json_decref(root);
    free(dump);
    free(o);

    /* A key with a default: the default does not come back (docs/config.md), the value is
     * null and reads as 0, even though 0 is outside the key's range 1..65535. */
    cfgt *t3 = cfgt_setup();
    cfgt_write(t3, "common.json", "{\"http.port\": 1}");
    cfgt_write(t3, "development.json", "{\"http.port\": null}");
    load_ok(t3, NULL);
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t3->cfg, "http.port")), 0);
    char *o3 = cfgt_fmt("%s/development.json:1:2", t3->dir);
    assert_origin(t3, "http.port", o3);
    free(o3);
    dump = pt_config_dump(t3->cfg);
    assert_non_null(strstr(dump, "\"http.port\": {\"value\": null, \"origin\": \""));
    free(dump);
    cfgt_teardown(t3);

    /* A flag sets it again above the null. */
    cfgt *t2 = cfgt_setup();
    cfgt_write(t2, "common.json", common);
    cfgt_write(t2, "development.json", dev);
    load_ok(t2, "--opt.count=7", NULL);
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t2->cfg, "opt.count")), 7);
    assert_origin(t2, "opt.count", "--opt.count");
    cfgt_teardown(t2);
}

/* ---- overrides: time-to-live, null, unset ---------------------------------------------------- */

static void test_override_ttl_reverts(void **state)
{
    cfgt *t = *state;
    const char *common = "{\"http.port\": 1001}";
    cfgt_watch w;

    cfgt_watch_init(&w);
    cfgt_write(t, "common.json", common);
    load_ok(t, NULL);
    pt_config_sub *sub;
    assert_int_equal(pt_config_subscribe(t->cfg, "http.", cfgt_watch_fn, &w, &sub), 0);
    pt_config_int *port = PT_CONFIG_INT(t->cfg, "http.port");
    char *file = file_origin(t, "common.json", common, "\"http.port\"");

    uint64_t t0 = cfgt_now_ms();
    override_ok(t, "{\"http.port\": 2002}", 400, "ttl test");
    assert_int_equal(pt_config_int_get(port), 2002);
    char *o = origin_of(t, "http.port");
    const char *prefix = "runtime override from ttl test (expires in ";
    assert_true(strncmp(o, prefix, strlen(prefix)) == 0);
    if (cfgt_now_ms() - t0 < 300) {
        /* Whole milliseconds below a second, rounded up: at most the time-to-live. */
        int ms = atoi(o + strlen(prefix));
        assert_true(ms > 0 && ms <= 400);
        char *want = cfgt_fmt("%s%dms)", prefix, ms);
        assert_string_equal(o, want);
        free(want);
    }
    /* The dump shows the same text. */
    char *dump = pt_config_dump(t->cfg);
    assert_non_null(strstr(dump, "\"origin\": \"runtime override from ttl test (expires in "));
    free(dump);
    free(o);

    /* The override, then its expiry: two calls, the second back to the file's value. */
    if (cfgt_watch_wait(&w, 2, 5000) != 0)
        fail_msg("the override did not expire within 5 s");
    assert_true(cfgt_now_ms() - t0 >= 400);
    assert_int_equal(pt_config_int_get(port), 1001);
    assert_origin(t, "http.port", file);
    pthread_mutex_lock(&w.lock);
    assert_int_equal(w.ncalls, 2);
    assert_int_equal(w.calls[0].n, 1);
    assert_string_equal(w.calls[0].c[0].key, "http.port");
    assert_string_equal(w.calls[0].c[0].old_value, "1001");
    assert_string_equal(w.calls[0].c[0].new_value, "2002");
    assert_true(strncmp(w.calls[0].c[0].origin, prefix, strlen(prefix)) == 0);
    assert_int_equal(w.calls[1].n, 1);
    assert_string_equal(w.calls[1].c[0].key, "http.port");
    assert_string_equal(w.calls[1].c[0].old_value, "2002");
    assert_string_equal(w.calls[1].c[0].new_value, "1001");
    assert_string_equal(w.calls[1].c[0].origin, file);
    pthread_mutex_unlock(&w.lock);

    pt_config_unsubscribe(sub);
    cfgt_watch_free(&w);
    free(file);
}

static void test_override_ttl_in_seconds(void **state)
{
    cfgt *t = *state;
    load_ok(t, NULL);
    override_ok(t, "{\"http.port\": 2002}", 90000, "ctl");
    char *o = origin_of(t, "http.port");
    /* Whole seconds from a second on, rounded up: 90 s left shows as 1m30s. */
    assert_string_equal(o, "runtime override from ctl (expires in 1m30s)");
    free(o);
    /* An override without a time-to-live replaces it: nothing expires any more. */
    override_ok(t, "{\"http.port\": 2003}", 0, "ctl");
    assert_origin(t, "http.port", "runtime override from ctl");
}

/* A time-to-live too long to count in nanoseconds is as good as none. */
static void test_override_ttl_huge(void **state)
{
    cfgt *t = *state;
    load_ok(t, NULL);
    /* A TTL beyond int64 nanoseconds saturates: the override stays, no overflow. */
    override_ok(t, "{\"http.port\": 2002}", UINT64_MAX, "ctl");
    cfgt_ops_barrier();
    cfgt_sleep_ms(50);
    cfgt_ops_barrier();
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 2002);
    char *o = origin_of(t, "http.port");
    assert_null(strstr(o, "(expiring)"));
    free(o);
    /* 2^62 ms: the multiplication by 10^6 overflows int64 (UBSan aborts the sanitizer build
     * here while the bug is there). */
    override_ok(t, "{\"http.port\": 2003}", (uint64_t)1 << 62, "ctl");
    cfgt_ops_barrier();
    cfgt_sleep_ms(50);
    cfgt_ops_barrier();
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 2003);
}

static void test_override_null_and_unset(void **state)
{
    cfgt *t = *state;
    const char *common = "{\"http.port\": 1001, \"http.host\": \"a\"}";

    cfgt_write(t, "common.json", common);
    load_ok(t, "--http.host=b", NULL);
    pt_config_int *port = PT_CONFIG_INT(t->cfg, "http.port");
    pt_config_int *count = PT_CONFIG_INT(t->cfg, "opt.count");
    char *file = file_origin(t, "common.json", common, "\"http.port\"");

    override_ok(t, "{\"http.port\": 2, \"http.host\": \"c\", \"opt.count\": 3}", 0, "one");
    assert_int_equal(pt_config_int_get(port), 2);
    assert_origin(t, "http.host", "runtime override from one");

    /* null removes one key's override: the layer below shows through again. */
    override_ok(t, "{\"http\": {\"port\": null}}", 0, "two");
    assert_int_equal(pt_config_int_get(port), 1001);
    assert_origin(t, "http.port", file);
    assert_origin(t, "http.host", "runtime override from one");
    assert_int_equal(pt_config_int_get(count), 3);

    /* A null for a key without an override changes nothing. */
    override_ok(t, "{\"http.port\": null}", 0, "two");
    assert_origin(t, "http.port", file);

    /* unset by name. */
    const char *names[] = {"http.host"};
    assert_int_equal(pt_config_unset(t->cfg, names, 1), 0);
    assert_origin(t, "http.host", "--http.host");
    assert_origin(t, "opt.count", "runtime override from one");

    /* unset of every override. */
    override_ok(t, "{\"http.port\": 5}", 60000, "three");
    assert_int_equal(pt_config_unset(t->cfg, NULL, 0), 0);
    assert_int_equal(pt_config_int_get(port), 1001);
    assert_int_equal(pt_config_int_get(count), 0);
    assert_origin(t, "http.port", file);
    assert_origin(t, "opt.count", "default");
    assert_origin(t, "http.host", "--http.host");
    /* Unsetting what has no override is fine. */
    assert_int_equal(pt_config_unset(t->cfg, names, 1), 0);
    free(file);
}

static void test_override_args(void **state)
{
    cfgt *t = *state;
    load_ok(t, NULL);
    const char *args[] = {"http.port=9000", "http.host=::", "opt.count=-4"};
    assert_int_equal(pt_config_override_args(t->cfg, args, 3, 0, "ctl"), 0);
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 9000);
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "opt.count")), -4);
    assert_origin(t, "http.port", "runtime override from ctl");
    assert_origin(t, "opt.count", "runtime override from ctl");
    /* NULL or empty source: "the API". */
    const char *one[] = {"http.port=9001"};
    assert_int_equal(pt_config_override_args(t->cfg, one, 1, 0, NULL), 0);
    assert_origin(t, "http.port", "runtime override from the API");
}

/* ---- other sources of the layers ------------------------------------------------------------- */

static void test_flag_given_twice(void **state)
{
    cfgt *t = *state;
    load_ok(t, "--http.port=1", "--http.port=2", NULL);
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 2);
    assert_origin(t, "http.port", "--http.port");
}

static void test_config_dir_flag(void **state)
{
    cfgt *t = *state;
    char *other = cfgt_fmt("%s/elsewhere/", t->root);
    char *path = cfgt_fmt("%scommon.json", other);
    const char *text = "{\"http.port\": 4242}";

    cfgt_write(t, "common.json", "{\"http.port\": 1}"); /* opts.config_dir: not read */
    cfgt_write_abs(path, text, strlen(text));
    char *flag = cfgt_fmt("--config-dir=%s", other);
    load_ok(t, flag, NULL);
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 4242);
    char *want = cfgt_fmt("%s:1:2", path);
    assert_origin(t, "http.port", want);
    const char *const *files;
    assert_int_equal(pt_config_files(t->cfg, &files), 1);
    assert_string_equal(files[0], path);
    free(want);
    free(flag);
    free(path);
    free(other);
}

static void test_development_by_default(void **state)
{
    cfgt *t = *state;
    /* No datacenter: the datacenter files are not looked for. */
    cfgt_write(t, "development.json", "{\"http.port\": 3}");
    cfgt_write(t, "secrets/secrets-development.json", "{\"db.password\": \"s3cret-dev\"}");
    cfgt_write(t, "common..json", "{\"http.port\": 1}");
    cfgt_write(t, "development..json", "{\"http.port\": 1}");
    load_ok(t, NULL);
    assert_string_equal(pt_config_env(t->cfg), "development");
    assert_null(pt_config_datacenter(t->cfg));
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 3);
    const char *const *files;
    assert_int_equal(pt_config_files(t->cfg, &files), 2);
    char *a = cfgt_path(t, "development.json"),
         *b = cfgt_path(t, "secrets/secrets-development.json");
    assert_string_equal(files[0], a);
    assert_string_equal(files[1], b);
    char *o = cfgt_fmt("%s:1:2", b);
    assert_origin(t, "db.password", o);
    free(o);
    free(a);
    free(b);
}

/* An origin longer than the view's buffer of 512 bytes: a --config=FILE deep in folders. */
static void test_long_origin(void **state)
{
    cfgt *t = *state;
    char *path = cfgt_fmt("%s/", t->root);
    for (int i = 0; i < 12; i++) {
        char *longer = cfgt_fmt("%s%s/", path, "a-rather-long-folder-name-for-the-test-x");
        free(path);
        path = longer;
    }
    char *file = cfgt_fmt("%smore.json", path);
    cfgt_write_abs(file, "{\"http.port\": 7}", 16);
    char *flag = cfgt_fmt("--config=%s", file);
    load_ok(t, flag, NULL);
    char *want = cfgt_fmt("%s:1:2", file);
    assert_true(strlen(want) > 512);
    /* An origin of any length comes back whole, as the dump shows it. */
    assert_origin(t, "http.port", want);
    free(want);
    free(flag);
    free(file);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matrix_staging),
        cmocka_unit_test(test_matrix_production),
        cmocka_unit_test_setup_teardown(test_nested_and_dotted, cfgt_cmocka_setup,
                                        cfgt_cmocka_teardown),
        cmocka_unit_test_setup_teardown(test_dotted_overrides_nested_in_higher_file,
                                        cfgt_cmocka_setup, cfgt_cmocka_teardown),
        cmocka_unit_test_setup_teardown(test_nested_and_dotted_in_one_file, cfgt_cmocka_setup,
                                        cfgt_cmocka_teardown),
        cmocka_unit_test_setup_teardown(test_nested_twice_in_one_file, cfgt_cmocka_setup,
                                        cfgt_cmocka_teardown),
        cmocka_unit_test_setup_teardown(test_null_in_higher_file_unsets, cfgt_cmocka_setup,
                                        cfgt_cmocka_teardown),
        cmocka_unit_test_setup_teardown(test_override_ttl_reverts, cfgt_cmocka_setup,
                                        cfgt_cmocka_teardown),
        cmocka_unit_test_setup_teardown(test_override_ttl_in_seconds, cfgt_cmocka_setup,
                                        cfgt_cmocka_teardown),
        cmocka_unit_test_setup_teardown(test_override_ttl_huge, cfgt_cmocka_setup,
                                        cfgt_cmocka_teardown),
        cmocka_unit_test_setup_teardown(test_override_null_and_unset, cfgt_cmocka_setup,
                                        cfgt_cmocka_teardown),
        cmocka_unit_test_setup_teardown(test_override_args, cfgt_cmocka_setup,
                                        cfgt_cmocka_teardown),
        cmocka_unit_test_setup_teardown(test_flag_given_twice, cfgt_cmocka_setup,
                                        cfgt_cmocka_teardown),
        cmocka_unit_test_setup_teardown(test_config_dir_flag, cfgt_cmocka_setup,
                                        cfgt_cmocka_teardown),
        cmocka_unit_test_setup_teardown(test_development_by_default, cfgt_cmocka_setup,
                                        cfgt_cmocka_teardown),
        cmocka_unit_test_setup_teardown(test_long_origin, cfgt_cmocka_setup, cfgt_cmocka_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, cfgt_group_teardown);
}
