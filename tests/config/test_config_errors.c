/* What the configuration says when something is wrong, word for word: bad files (JSON syntax,
 * types, ranges, unknown keys, sections), bad flags, the environment and the datacenter,
 * required keys, bad declarations, programming errors that abort (in a forked child), the
 * informative flags (--help, --version, --print-config, --check-config), secrets kept out of
 * every output, and refused runtime overrides. Every load error is checked three ways: the
 * return value, the text written to opts.err (one "svc: " line per problem, every problem of
 * the run) and pt_config_error(). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cfg_testutil.h"
#include "potter/config.h"

#define SECRET_PASSWORD "s3cr3t-Pa55w0rd"

static const pt_config_key keys[] = {
    {"http.port", PT_CONFIG_INT, "8080", "port the service listens on", "1..65535", 0},
    {"http.host", PT_CONFIG_STRING, "127.0.0.1", "address to listen on", NULL, 0},
    {"log.level", PT_CONFIG_ENUM, "info", "least level logged", "debug|info|warn", 0},
    {"db.timeout", PT_CONFIG_DURATION, "250ms", "query deadline", "1ms..1m", 0},
    {"db.pool", PT_CONFIG_SIZE, "64MiB", "pool memory", "..1GiB", 0},
    {"db.password", PT_CONFIG_STRING, NULL, "database password", NULL, PT_CONFIG_SECRET},
    {"db.pin", PT_CONFIG_INT, NULL, "a secret number", "1000..9999", PT_CONFIG_SECRET},
    {"app.tags", PT_CONFIG_LIST, "a,b", "tags", NULL, 0},
    {"app.debug", PT_CONFIG_BOOL, "false", "debug mode", NULL, 0},
    {"app.mode", PT_CONFIG_STRING, "normal", "how it runs", NULL, PT_CONFIG_FIXED},
    {"app.ratio", PT_CONFIG_DOUBLE, "0.5", "a ratio", "0..1", 0},
    {"app.extra", PT_CONFIG_OBJECT, "{}", "free-form settings", NULL, 0},
    {"app.workers", PT_CONFIG_UINT, "4", "", "1..", 0},
    {"app.a-key-with-a-rather-long-name", PT_CONFIG_INT, NULL, "its doc goes below", NULL, 0},
};

/* ---- helpers --------------------------------------------------------------------------------- */

static void new_cfg(cfgt *t)
{
    cfgt_new(t, keys, COUNT(keys));
}

/* Loading with args (NULL-terminated) must fail with exactly the lines of want (joined by
 * "\n", no final newline): each printed to opts.err after "svc: ", all of them in
 * pt_config_error(). */
static void load_fails(cfgt *t, const char *want, ...)
{
    const char *args[32];
    int n = 0;
    va_list ap;

    va_start(ap, want);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;)
        args[n++] = a;
    va_end(ap);
    if (t->cfg == NULL)
        new_cfg(t);
    int rc = cfgt_loadv(t, n, args);
    if (rc != -EINVAL)
        fail_msg("load returned %d, want -EINVAL; err: %s", rc, cfgt_err(t));
    assert_string_equal(pt_config_error(t->cfg), want);
    /* The same lines on opts.err, each with the service's name. */
    char *printed = malloc(2 * strlen(want) + 64);
    assert_non_null(printed);
    char *o = printed;
    for (const char *p = want;;) {
        size_t len = strcspn(p, "\n");
        o += sprintf(o, "svc: %.*s\n", (int)len, p);
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    assert_string_equal(cfgt_err(t), printed);
    assert_string_equal(cfgt_out(t), "");
    free(printed);
}

/* A config folder holding only common.json = text must be refused with `line` (the message
 * after "<dir>/common.json:"). */
static void common_fails(const char *text, size_t len, const char *line)
{
    cfgt *t = cfgt_setup();
    cfgt_write_n(t, "common.json", text, len);
    char *want = cfgt_fmt("%s/common.json:%s", t->dir, line);
    load_fails(t, want, NULL);
    free(want);
    cfgt_teardown(t);
}

#define COMMON_FAILS(lit, line) common_fails(lit, sizeof(lit) - 1, line)

static void load_ok(cfgt *t, ...)
{
    const char *args[32];
    int n = 0;
    va_list ap;

    va_start(ap, t);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;)
        args[n++] = a;
    va_end(ap);
    if (t->cfg == NULL)
        new_cfg(t);
    int rc = cfgt_loadv(t, n, args);
    if (rc != 0)
        fail_msg("load: %d: %s", rc, cfgt_err(t));
    assert_string_equal(cfgt_err(t), "");
}

/* ---- bad files: JSON ------------------------------------------------------------------------- */

static void test_json_syntax(void **state)
{
    (void)state;
    COMMON_FAILS("{\"http.port\": 80,}", "1:18: expected a string key after ',', found '}'");
    COMMON_FAILS("{\n  \"http.port\": 80\n  \"http.host\": \"x\"\n}",
                 "3:3: expected ',' or '}' after a member, found '\"'");
    COMMON_FAILS("{\"http.port\": 80 // the port\n}",
                 "1:18: expected ',' or '}' after a member, found '/' (comments are not "
                 "allowed)");
    COMMON_FAILS("", "1:1: the document is empty (expected a value)");
    COMMON_FAILS("{\"http\": {\"port\": 80}", "1:22: unexpected end of file: the object opened "
                                              "at 1:1 is not closed");
}

static void test_json_top_not_object(void **state)
{
    (void)state;
    COMMON_FAILS("[{\"http.port\": 80}]",
                 "1:1: expected an object at the top of the document, found an array");
    COMMON_FAILS("\n  \"http.port\"",
                 "2:3: expected an object at the top of the document, found a string");
    COMMON_FAILS("null", "1:1: expected an object at the top of the document, found null");
}

static void test_json_duplicate_key(void **state)
{
    (void)state;
    COMMON_FAILS("{\"http.port\": 80,\n \"http.port\": 81}",
                 "2:2: duplicate key \"http.port\" (first at 1:2)");
}

static void test_json_invalid_utf8(void **state)
{
    (void)state;
    COMMON_FAILS("{\"http.host\": \"a\xff\"}", "1:17: invalid UTF-8 (byte 0xFF)");
    COMMON_FAILS("{\"http.host\": \"\xc3\xa9\xc0\xaf\"}", "1:17: invalid UTF-8 (byte 0xC0)");
}

static void test_json_integer_out_of_range(void **state)
{
    (void)state;
    COMMON_FAILS("{\"http.port\": 9223372036854775808}",
                 "1:15: number 9223372036854775808 is out of range");
    COMMON_FAILS("{\"http.port\": -9223372036854775809}",
                 "1:15: number -9223372036854775809 is out of range");
}

static void test_json_trailing_garbage(void **state)
{
    (void)state;
    COMMON_FAILS("{\"http.port\": 80}\n}",
                 "2:1: expected end of file after the top-level value, found '}'");
    COMMON_FAILS("{} x", "1:4: expected end of file after the top-level value, found 'x'");
}

/* ---- bad files: values ----------------------------------------------------------------------- */

static void test_wrong_types(void **state)
{
    (void)state;
    COMMON_FAILS("{\"http.port\": \"8080\"}",
                 "1:15: http.port: expected an integer in 1..65535, found a string (\"8080\")");
    COMMON_FAILS("{\"http.port\": 80.5}",
                 "1:15: http.port: expected an integer in 1..65535, found a number (80.5)");
    COMMON_FAILS("{\"http.port\": true}",
                 "1:15: http.port: expected an integer in 1..65535, found a boolean (true)");
    COMMON_FAILS("{\"http.port\": [80]}",
                 "1:15: http.port: expected an integer in 1..65535, found an array");
    COMMON_FAILS("{\"http.host\": 5}", "1:15: http.host: expected a string, found an integer (5)");
    COMMON_FAILS("{\"http.host\": \"a\\u0000b\"}",
                 "1:15: http.host: expected a string without NUL characters (\\u0000)");
    COMMON_FAILS("{\"app.debug\": \"true\"}",
                 "1:15: app.debug: expected true or false, found a string (\"true\")");
    COMMON_FAILS("{\"app.debug\": 1}", "1:15: app.debug: expected true or false, found an "
                                       "integer (1)");
    COMMON_FAILS("{\"app.extra\": [1]}", "1:15: app.extra: expected an object, found an array");
    COMMON_FAILS("{\"app.tags\": \"a,b\"}",
                 "1:14: app.tags: expected a list of strings, found a string (\"a,b\")");
    COMMON_FAILS("{\"app.workers\": -1}",
                 "1:17: app.workers: expected a non-negative integer of at least 1, found -1");
    COMMON_FAILS("{\"app.ratio\": \"0.5\"}",
                 "1:15: app.ratio: expected a number in 0..1, found a string (\"0.5\")");
    /* A long string is cut in the message. */
    COMMON_FAILS("{\"http.port\": \"0123456789012345678901234567890123456789-and-more\"}",
                 "1:15: http.port: expected an integer in 1..65535, found a string "
                 "(\"0123456789012345678901234567890123456789...\")");
}

static void test_out_of_range(void **state)
{
    (void)state;
    COMMON_FAILS("{\"http.port\": 70000}",
                 "1:15: http.port: expected an integer in 1..65535, found 70000");
    COMMON_FAILS("{\"http.port\": 0}", "1:15: http.port: expected an integer in 1..65535, found 0");
    COMMON_FAILS("{\"app.workers\": 0}",
                 "1:17: app.workers: expected a non-negative integer of at least 1, found 0");
    COMMON_FAILS("{\"app.ratio\": 1.5}", "1:15: app.ratio: expected a number in 0..1, found 1.5");
    COMMON_FAILS("{\"db.pool\": \"2GiB\"}",
                 "1:13: db.pool: expected a size such as \"64MiB\" of at most 1GiB, found \"2GiB\"");
    COMMON_FAILS("{\"db.timeout\": \"2m\"}",
                 "1:16: db.timeout: expected a duration such as \"250ms\" in 1ms..1m, found \"2m\"");
}

static void test_wrong_enum(void **state)
{
    (void)state;
    COMMON_FAILS("{\"log.level\": \"verbose\"}",
                 "1:15: log.level: expected one of debug, info, warn, found \"verbose\"");
    COMMON_FAILS("{\"log.level\": 3}",
                 "1:15: log.level: expected one of debug, info, warn, found an integer (3)");
}

static void test_bad_duration(void **state)
{
    (void)state;
    COMMON_FAILS("{\"db.timeout\": \"5 sec\"}",
                 "1:16: db.timeout: expected a duration such as \"250ms\" or \"5s\", found "
                 "\"5 sec\"");
    COMMON_FAILS("{\"db.timeout\": \"5\"}",
                 "1:16: db.timeout: a duration needs a unit: ns, us, ms, s, m, h or d, found "
                 "\"5\"");
    COMMON_FAILS("{\"db.timeout\": 5}", "1:16: db.timeout: expected a duration such as "
                                        "\"250ms\" in 1ms..1m, found an integer (5)");
}

static void test_bad_size(void **state)
{
    (void)state;
    COMMON_FAILS("{\"db.pool\": \"64kb\"}",
                 "1:13: db.pool: unknown unit \"kb\" in \"64kb\": a size takes B, KB, MB, GB, "
                 "TB, KiB, MiB, GiB or TiB (case-sensitive)");
    COMMON_FAILS("{\"db.pool\": \"1.5B\"}",
                 "1:13: db.pool: size \"1.5B\" is not a whole number of bytes");
    COMMON_FAILS("{\"db.pool\": -1}", "1:13: db.pool: expected a size such as \"64MiB\" of at "
                                      "most 1GiB, found an integer (-1)");
}

static void test_list_with_non_string(void **state)
{
    (void)state;
    COMMON_FAILS("{\"app.tags\": [\"a\", 1]}",
                 "1:14: app.tags: expected a list of strings, found an array whose item 2 (at "
                 "1:20) is an integer");
    COMMON_FAILS("{\"app.tags\": [\"a\",\n  [\"b\"]]}",
                 "1:14: app.tags: expected a list of strings, found an array whose item 2 (at "
                 "2:3) is an array");
}

static void test_unknown_keys(void **state)
{
    (void)state;
    COMMON_FAILS("{\"http.prot\": 1}", "1:2: unknown key \"http.prot\" (did you mean http.port?)");
    COMMON_FAILS("{\"http\": {\n  \"prot\": 1}}",
                 "2:3: unknown key \"http.prot\" (did you mean http.port?)");
    COMMON_FAILS("{\"level\": \"debug\"}", "1:2: unknown key \"level\" (did you mean log.level?)");
    COMMON_FAILS("{\"zzz\": 1}", "1:2: unknown key \"zzz\"");
    COMMON_FAILS("{\"metrics\": {\"interval\": 1}}", "1:2: unknown key \"metrics\"");
    COMMON_FAILS("{\"a\\\"b\": 1}", "1:2: unknown key \"a\\u0022b\"");
}

static void test_section_given_a_scalar(void **state)
{
    (void)state;
    COMMON_FAILS("{\"http\": 5}", "1:10: http is a section (of http.port and others): expected "
                                  "an object, found an integer");
    COMMON_FAILS("{\"db\": \"x\"}", "1:8: db is a section (of db.timeout and others): expected "
                                    "an object, found a string");
    /* null for a section sets nothing. */
    cfgt *t = cfgt_setup();
    cfgt_write(t, "common.json", "{\"http\": null}");
    load_ok(t, NULL);
    cfgt_teardown(t);
}

/* A section of a single key is not "of <key> and others". */
static void test_section_of_one_key(void **state)
{
    (void)state;
    /* Only one key in the section: no "and others". */
    COMMON_FAILS("{\"log\": 5}",
                 "1:9: log is a section (of log.level): expected an object, found an integer");
}

static void test_every_error_of_a_run(void **state)
{
    cfgt *t = *state;
    cfgt_write(t, "common.json",
               "{\"http.port\": \"8080\", \"zzz\": 1,\n \"http\": {\"host\": 2}}");
    cfgt_write(t, "staging.json", "{\"log.level\": \"verbose\",}");
    cfgt_write(t, "secrets/secrets-staging.json", "{\"db.pin\": 1234}");
    char *missing = cfgt_fmt("%s/missing.json", t->root);
    char *flag = cfgt_fmt("--config=%s", missing);
    char *want =
        cfgt_fmt("unknown flag --htp.port (did you mean --http.port?)\n"
                 "--http.port=abc: expected an integer in 1..65535, found \"abc\"\n"
                 "--app.debug=yes: expected true or false, found \"yes\"\n"
                 "%s/common.json:1:15: http.port: expected an integer in 1..65535, found a string "
                 "(\"8080\")\n"
                 "%s/common.json:1:23: unknown key \"zzz\"\n"
                 "%s/common.json:2:19: http.host: expected a string, found an integer (2)\n"
                 "%s/staging.json:1:25: expected a string key after ',', found '}'\n"
                 "--config=%s: cannot read it: No such file or directory",
                 t->dir, t->dir, t->dir, t->dir, missing);
    load_fails(t, want, "--htp.port=1", "--http.port=abc", "--env=staging", "--app.debug=yes", flag,
               NULL);
    free(want);
    free(flag);
    free(missing);
}

static void test_unreadable_files(void **state)
{
    cfgt *t = *state;
    char *dir = cfgt_path(t, "common.json");
    assert_int_equal(mkdir(dir, 0700), 0);
    char *want = cfgt_fmt("%s: cannot read it: it is a directory", dir);
    load_fails(t, want, NULL);
    free(want);
    free(dir);
}

/* ---- flags ----------------------------------------------------------------------------------- */

static void test_unknown_flag(void **state)
{
    cfgt *t = *state;
    load_fails(t,
               "unknown flag --htp.port (did you mean --http.port?)\n"
               "unknown flag --frobnicate\n"
               "--http is a section, not a key: its keys are set one by one, as --http.port=INT",
               "--htp.port=1", "--frobnicate", "--http=1", NULL);
}

static void test_flag_without_value(void **state)
{
    cfgt *t = *state;
    load_fails(t,
               "--http.port needs a value: --http.port=INT\n"
               "--log.level needs a value: --log.level=debug|info|warn\n"
               "--app.tags needs a value: --app.tags=A,B,..\n"
               "--env needs a value: --env=NAME\n"
               "--config needs a value: --config=FILE\n"
               "--config-dir needs a value: --config-dir=DIR\n"
               "--datacenter needs a value: --datacenter=NAME",
               "--http.port", "--log.level", "--app.tags", "--env", "--config=", "--config-dir",
               "--datacenter=", NULL);
}

static void test_bad_flag_values(void **state)
{
    cfgt *t = *state;
    load_fails(t,
               "--http.port=abc: expected an integer in 1..65535, found \"abc\"\n"
               "--http.port=0x10: expected an integer in 1..65535, found \"0x10\"\n"
               "--http.port=99999: expected an integer in 1..65535, found 99999\n"
               "--log.level=verbose: expected one of debug, info, warn, found \"verbose\"\n"
               "--app.debug=yes: expected true or false, found \"yes\"\n"
               "--db.timeout=5: a duration needs a unit: ns, us, ms, s, m, h or d, found \"5\"\n"
               "--db.pool=64k: unknown unit \"k\" in \"64k\": a size takes B, KB, MB, GB, TB, "
               "KiB, MiB, GiB or TiB (case-sensitive)\n"
               "--app.workers=-2: expected a non-negative integer of at least 1, found \"-2\"\n"
               "--app.ratio=nan: expected a number in 0..1, found \"nan\"\n"
               "--app.extra=[1]: expected an object, found an array\n"
               "--app.extra={: expected an object in JSON, found \"{\" (column 2: unexpected "
               "end of file: the object opened at 1:1 is not closed)\n"
               "--help=1: --help takes no value\n"
               "--http.host: expected UTF-8 text, found the byte 0xFF at offset 1",
               "--http.port=abc", "--http.port=0x10", "--http.port=99999", "--log.level=verbose",
               "--app.debug=yes", "--db.timeout=5", "--db.pool=64k", "--app.workers=-2",
               "--app.ratio=nan", "--app.extra=[1]", "--app.extra={", "--help=1",
               "--http.host=a\xff", NULL);
}

static void test_flag_values(void **state)
{
    cfgt *t = *state;
    load_ok(t, "--app.debug", "--log.level=WARN", "--app.tags=x,,y,", "--db.timeout=1m",
            "--db.pool=1.5KiB", "--app.ratio=0.25", "--app.extra={\"a\": [1, 2]}",
            "--app.workers=18446744073709551615", "--http.host=", NULL);
    assert_int_equal(pt_config_bool_get(PT_CONFIG_BOOL(t->cfg, "app.debug")), 1);
    pt_config_enum *level = PT_CONFIG_ENUM(t->cfg, "log.level");
    assert_int_equal(pt_config_enum_get(level), 2);
    assert_string_equal(pt_config_enum_name(level), "warn");
    assert_int_equal(pt_config_duration_get(PT_CONFIG_DURATION(t->cfg, "db.timeout")),
                     60000000000LL);
    assert_int_equal(pt_config_size_get(PT_CONFIG_SIZE(t->cfg, "db.pool")), 1536);
    assert_true(pt_config_double_get(PT_CONFIG_DOUBLE(t->cfg, "app.ratio")) == 0.25);
    assert_true(pt_config_uint_get(PT_CONFIG_UINT(t->cfg, "app.workers")) == UINT64_MAX);
    const pt_config_view *v = pt_config_view_begin(t->cfg);
    size_t n;
    const char *const *items = pt_config_view_list(v, PT_CONFIG_LIST(t->cfg, "app.tags"), &n);
    assert_int_equal(n, 4);
    assert_string_equal(items[0], "x");
    assert_string_equal(items[1], "");
    assert_string_equal(items[2], "y");
    assert_string_equal(items[3], "");
    assert_null(items[4]);
    assert_string_equal(pt_config_view_object(v, PT_CONFIG_OBJECT(t->cfg, "app.extra")),
                        "{\"a\":[1,2]}");
    assert_string_equal(pt_config_view_str(v, PT_CONFIG_STR(t->cfg, "http.host")), "");
    pt_config_view_end(v);
}

static void test_bool_flag_alone_and_forms(void **state)
{
    cfgt *t = *state;
    load_ok(t, "--app.debug", NULL);
    assert_int_equal(pt_config_bool_get(PT_CONFIG_BOOL(t->cfg, "app.debug")), 1);

    cfgt *t2 = cfgt_setup();
    cfgt_write(t2, "common.json", "{\"app.debug\": true}");
    load_ok(t2, "--app.debug=false", NULL);
    assert_int_equal(pt_config_bool_get(PT_CONFIG_BOOL(t2->cfg, "app.debug")), 0);
    cfgt_teardown(t2);

    t2 = cfgt_setup();
    load_ok(t2, "--app.debug=1", NULL);
    assert_int_equal(pt_config_bool_get(PT_CONFIG_BOOL(t2->cfg, "app.debug")), 1);
    cfgt_teardown(t2);
}

static void test_positional_args(void **state)
{
    cfgt *t = *state;
    new_cfg(t);
    char **args;
    assert_int_equal(pt_config_args(t->cfg, &args), 0);
    assert_non_null(args);
    assert_null(args[0]);
    load_ok(t, "first", "--http.port=1", "-x", "-", "--", "--http.port=2", "last", "--", NULL);
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 1);
    assert_int_equal(pt_config_args(t->cfg, &args), 6);
    assert_string_equal(args[0], "first");
    assert_string_equal(args[1], "-x");
    assert_string_equal(args[2], "-");
    assert_string_equal(args[3], "--http.port=2");
    assert_string_equal(args[4], "last");
    assert_string_equal(args[5], "--");
    assert_null(args[6]);
    assert_int_equal(pt_config_args(t->cfg, NULL), 6);
}

static void test_missing_config_file_and_dir(void **state)
{
    cfgt *t = *state;
    char *file = cfgt_fmt("%s/nope.json", t->root);
    char *dir = cfgt_fmt("%s/nodir", t->root);
    char *notdir = cfgt_fmt("%s/datacenter", t->root);
    cfgt_write_abs(notdir, "dc1\n", 4);
    char *f1 = cfgt_fmt("--config=%s", file), *f2 = cfgt_fmt("--config-dir=%s", dir);
    char *want = cfgt_fmt("--config-dir=%s: No such file or directory\n"
                          "--config=%s: cannot read it: No such file or directory",
                          dir, file);
    load_fails(t, want, f1, f2, NULL);
    free(want);

    cfgt *t2 = cfgt_setup();
    char *f3 = cfgt_fmt("--config-dir=%s", notdir);
    /* A --config-dir that is not a folder is the one error: its files are not looked for. */
    want = cfgt_fmt("--config-dir=%s: not a directory", notdir);
    load_fails(t2, want, f3, NULL);
    cfgt_teardown(t2);
    free(want);
    free(f1);
    free(f2);
    free(f3);
    free(file);
    free(dir);
    free(notdir);
}

/* ---- the environment and the datacenter ------------------------------------------------------ */

static void test_env_bad_name(void **state)
{
    cfgt *t = *state;
    load_fails(t,
               "environment \"prod.eu\" (from --env) is not a valid name: expected letters, "
               "digits, '_' or '-'",
               "--env=prod.eu", NULL);

    cfgt *t2 = cfgt_setup();
    setenv("POTTER_ENV", "../etc", 1);
    load_fails(t2,
               "environment \"../etc\" (from POTTER_ENV) is not a valid name: expected letters, "
               "digits, '_' or '-'",
               NULL);
    unsetenv("POTTER_ENV");
    cfgt_teardown(t2);

    t2 = cfgt_setup();
    t2->opts.env = "a b";
    load_fails(t2,
               "environment \"a b\" (from the options) is not a valid name: expected letters, "
               "digits, '_' or '-'",
               NULL);
    cfgt_teardown(t2);
}

static void test_env_sources(void **state)
{
    cfgt *t = *state;
    cfgt_write(t, "staging.json", "{\"http.port\": 2}");
    cfgt_write(t, "test.json", "{\"http.port\": 3}");
    cfgt_write(t, "qa.json", "{\"http.port\": 4}");

    /* POTTER_ENV when the options name none. */
    setenv("POTTER_ENV", "staging", 1);
    load_ok(t, NULL);
    assert_string_equal(pt_config_env(t->cfg), "staging");
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 2);

    /* The options win over POTTER_ENV, and --env over both. */
    cfgt *t2 = cfgt_setup();
    setenv("POTTER_ENV", "staging", 1);
    t2->opts.env = "test";
    memcpy(t2->dir, t->dir, sizeof(t->dir));
    load_ok(t2, NULL);
    assert_string_equal(pt_config_env(t2->cfg), "test");
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t2->cfg, "http.port")), 3);
    cfgt_teardown(t2);

    t2 = cfgt_setup();
    setenv("POTTER_ENV", "staging", 1);
    t2->opts.env = "test";
    memcpy(t2->dir, t->dir, sizeof(t->dir));
    load_ok(t2, "--env=qa", NULL);
    assert_string_equal(pt_config_env(t2->cfg), "qa");
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t2->cfg, "http.port")), 4);
    cfgt_teardown(t2);

    /* An empty POTTER_ENV is no environment: development. */
    t2 = cfgt_setup();
    setenv("POTTER_ENV", "", 1);
    load_ok(t2, NULL);
    assert_string_equal(pt_config_env(t2->cfg), "development");
    cfgt_teardown(t2);
    unsetenv("POTTER_ENV");
}

static void test_production_needs_datacenter(void **state)
{
    cfgt *t = *state;
    char *want = cfgt_fmt("the production environment needs a datacenter: pass "
                          "--datacenter=NAME or write it to %s",
                          t->dcfile);
    load_fails(t, want, "--env=production", NULL);
    free(want);

    /* A file whose first line is blank is no datacenter either. */
    cfgt *t2 = cfgt_setup();
    cfgt_write_abs(t2->dcfile, " \t\ndc1\n", 7);
    want = cfgt_fmt("the production environment needs a datacenter: pass "
                    "--datacenter=NAME or write it to %s",
                    t2->dcfile);
    load_fails(t2, want, "--env=production", NULL);
    free(want);
    cfgt_teardown(t2);
}

static void test_production_from_options_needs_datacenter(void **state)
{
    cfgt *t = *state;
    /* The environment from opts.env, not --env: production still needs a datacenter. */
    t->opts.env = "production";
    char *want = cfgt_fmt("the production environment needs a datacenter: pass "
                          "--datacenter=NAME or write it to %s",
                          t->dcfile);
    load_fails(t, want, NULL);
    free(want);
}

static void test_datacenter_from_file(void **state)
{
    cfgt *t = *state;
    cfgt_write_abs(t->dcfile, " \tdc7  \r\nsecond line\n", 21);
    cfgt_write(t, "common.dc7.json", "{\"http.port\": 7}");
    load_ok(t, "--env=production", NULL);
    assert_string_equal(pt_config_datacenter(t->cfg), "dc7");
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 7);

    /* --datacenter wins over the file. */
    cfgt *t2 = cfgt_setup();
    cfgt_write_abs(t2->dcfile, "dc7\n", 4);
    load_ok(t2, "--datacenter=dc9", NULL);
    assert_string_equal(pt_config_datacenter(t2->cfg), "dc9");
    cfgt_teardown(t2);

    /* $POTTER_DATACENTER_FILE when the options name no file. */
    t2 = cfgt_setup();
    cfgt_write_abs(t2->dcfile, "dc-env\n", 7);
    setenv("POTTER_DATACENTER_FILE", t2->dcfile, 1);
    t2->opts.datacenter_file = NULL;
    load_ok(t2, NULL);
    unsetenv("POTTER_DATACENTER_FILE");
    assert_string_equal(pt_config_datacenter(t2->cfg), "dc-env");
    cfgt_teardown(t2);
}

/* A datacenter file without a final newline. */
static void test_datacenter_file_without_newline(void **state)
{
    cfgt *t = *state;
    /* The datacenter file's first line is read as a string of its own bytes only. */
    cfgt_write_abs(t->dcfile, "dc-x", 4);
    load_ok(t, NULL);
    assert_string_equal(pt_config_datacenter(t->cfg), "dc-x");
}

static void test_datacenter_bad(void **state)
{
    cfgt *t = *state;
    cfgt_write_abs(t->dcfile, "dc 1\n", 5);
    char *want = cfgt_fmt("%s:1: expected a datacenter name of letters, digits, '_' or '-', "
                          "found \"dc 1\"",
                          t->dcfile);
    load_fails(t, want, NULL);
    free(want);

    cfgt *t2 = cfgt_setup();
    load_fails(t2, "--datacenter=a.b: expected a name of letters, digits, '_' or '-'",
               "--datacenter=a.b", NULL);
    cfgt_teardown(t2);

    t2 = cfgt_setup();
    assert_int_equal(mkdir(t2->dcfile, 0700), 0);
    want = cfgt_fmt("%s: cannot read the datacenter: it is a directory", t2->dcfile);
    load_fails(t2, want, NULL);
    free(want);
    cfgt_teardown(t2);
}

/* ---- required keys --------------------------------------------------------------------------- */

static const pt_config_key required_keys[] = {
    {"db.url", PT_CONFIG_STRING, NULL, "database URL", NULL, PT_CONFIG_REQUIRED},
    {"db.port", PT_CONFIG_INT, NULL, "database port", "1..65535", PT_CONFIG_REQUIRED},
    {"db.name", PT_CONFIG_STRING, "main", "database name", NULL, 0},
};

static void test_required_missing(void **state)
{
    cfgt *t = *state;
    cfgt_new(t, required_keys, COUNT(required_keys));
    char *want = cfgt_fmt("required key db.url has no value: set it in a file under %s/ or pass "
                          "--db.url=STRING\n"
                          "required key db.port has no value: set it in a file under %s/ or "
                          "pass --db.port=INT",
                          t->dir, t->dir);
    load_fails(t, want, NULL);
    free(want);

    /* null in a higher file takes the value away again. */
    cfgt *t2 = cfgt_setup();
    cfgt_write(t2, "common.json", "{\"db\": {\"url\": \"pg://x\", \"port\": 5432}}");
    cfgt_write(t2, "development.json", "{\"db.url\": null}");
    cfgt_new(t2, required_keys, COUNT(required_keys));
    want = cfgt_fmt("required key db.url has no value: set it in a file under %s/ or pass "
                    "--db.url=STRING",
                    t2->dir);
    load_fails(t2, want, NULL);
    free(want);
    cfgt_teardown(t2);

    /* Given by a flag or a file: fine. */
    t2 = cfgt_setup();
    cfgt_write(t2, "common.json", "{\"db\": {\"port\": 5432}}");
    cfgt_new(t2, required_keys, COUNT(required_keys));
    load_ok(t2, "--db.url=pg://y", NULL);
    cfgt_teardown(t2);
}

/* ---- declarations ---------------------------------------------------------------------------- */

/* Declaring keys[0..n) fails with rc and exactly `why` about the key named in want. */
static void declare_fails(const pt_config_key *k, size_t n, int rc, const char *want)
{
    pt_config *cfg;
    assert_int_equal(pt_config_new("svc", NULL, &cfg), 0);
    int got = pt_config_declare(cfg, k, n);
    char why[1024];
    snprintf(why, sizeof(why), "%s", pt_config_error(cfg));
    pt_config_free(cfg); /* before asserting: nothing leaks when it fails */
    assert_int_equal(got, rc);
    assert_string_equal(why, want);
}

static void test_declare_errors(void **state)
{
    (void)state;
    const pt_config_key bad_name[] = {{"http..port", PT_CONFIG_INT, NULL, "", NULL, 0}};
    declare_fails(bad_name, 1, -EINVAL,
                  "declaring config key \"http..port\": a key name is dot-separated segments, "
                  "none of them empty");
    const pt_config_key bad_char[] = {{"http port", PT_CONFIG_INT, NULL, "", NULL, 0}};
    declare_fails(bad_char, 1, -EINVAL,
                  "declaring config key \"http port\": a key name takes lower-case letters, digits, '_' "
                  "and '-' in dot-separated segments");
    const pt_config_key reserved[] = {{"config-dir", PT_CONFIG_STRING, NULL, "", NULL, 0}};
    declare_fails(reserved, 1, -EINVAL,
                  "declaring config key \"config-dir\": this name is one of pt_config_load()'s "
                  "own flags");
    const pt_config_key empty[] = {{"", PT_CONFIG_INT, NULL, "", NULL, 0}};
    declare_fails(empty, 1, -EINVAL, "declaring config key \"\": a key needs a name");
    const pt_config_key twice[] = {{"a.b", PT_CONFIG_INT, NULL, "", NULL, 0},
                                   {"a.b", PT_CONFIG_STRING, NULL, "", NULL, 0}};
    declare_fails(twice, 2, -EINVAL, "declaring config key \"a.b\": declared twice");
    const pt_config_key section[] = {{"http", PT_CONFIG_OBJECT, NULL, "", NULL, 0},
                                     {"http.port", PT_CONFIG_INT, NULL, "", NULL, 0}};
    declare_fails(section, 2, -EINVAL,
                  "declaring config key \"http.port\": \"http\" and \"http.port\" cannot both be "
                  "keys (one would be a section of the other)");
    const pt_config_key bad_default[] = {{"http.port", PT_CONFIG_INT, "80a", "", "1..65535", 0}};
    declare_fails(bad_default, 1, -EINVAL,
                  "declaring config key \"http.port\": the default \"80a\" is not valid: "
                  "expected an integer in 1..65535, found \"80a\"");
    const pt_config_key out_of_range[] = {{"http.port", PT_CONFIG_INT, "0", "", "1..65535", 0}};
    declare_fails(out_of_range, 1, -EINVAL,
                  "declaring config key \"http.port\": the default \"0\" is not valid: expected "
                  "an integer in 1..65535, found 0");
    const pt_config_key no_values[] = {{"log.level", PT_CONFIG_ENUM, NULL, "", NULL, 0}};
    declare_fails(no_values, 1, -EINVAL,
                  "declaring config key \"log.level\": an enum needs its values in `range` "
                  "(\"a|b|c\")");
    const pt_config_key empty_value[] = {{"log.level", PT_CONFIG_ENUM, NULL, "", "a||b", 0}};
    declare_fails(empty_value, 1, -EINVAL,
                  "declaring config key \"log.level\": the enum values \"a||b\" have an empty "
                  "one");
    const pt_config_key bool_range[] = {{"app.debug", PT_CONFIG_BOOL, NULL, "", "0..1", 0}};
    declare_fails(bool_range, 1, -EINVAL,
                  "declaring config key \"app.debug\": a bool key takes no range");
    const pt_config_key bad_range[] = {{"n", PT_CONFIG_INT, NULL, "", "1-10", 0}};
    declare_fails(bad_range, 1, -EINVAL,
                  "declaring config key \"n\": the range \"1-10\" is not of the form "
                  "\"MIN..MAX\", \"MIN..\" or \"..MAX\"");
    const pt_config_key required_default[] = {
        {"db.url", PT_CONFIG_STRING, "x", "", NULL, PT_CONFIG_REQUIRED}};
    declare_fails(required_default, 1, -EINVAL,
                  "declaring config key \"db.url\": a required key cannot have a default (the "
                  "default would always satisfy it)");
    const pt_config_key bad_type[] = {{"n", 99, NULL, "", NULL, 0}};
    declare_fails(bad_type, 1, -EINVAL,
                  "declaring config key \"n\": unknown type 99 (expected one of "
                  "PT_CONFIG_STRING .. PT_CONFIG_OBJECT)");
}

static void test_declare_empty_range(void **state)
{
    (void)state;
    /* A range whose minimum is above its maximum is called empty. */
    const pt_config_key empty_range[] = {{"n", PT_CONFIG_INT, NULL, "", "10..1", 0}};
    declare_fails(empty_range, 1, -EINVAL,
                  "declaring config key \"n\": the range \"10..1\" is empty (its minimum is "
                  "above its maximum)");
}

static void test_declare_upper_case_name(void **state)
{
    (void)state;
    /* Key names are lower case: "dot-separated segments of [a-z0-9_-]" (config.h). */
    const pt_config_key upper[] = {{"HTTP.Port", PT_CONFIG_INT, NULL, "", NULL, 0}};
    pt_config *cfg;
    assert_int_equal(pt_config_new("svc", NULL, &cfg), 0);
    int rc = pt_config_declare(cfg, upper, 1);
    pt_config_free(cfg);
    assert_int_equal(rc, -EINVAL);
}

static void test_declare_across_calls_and_nothing_kept(void **state)
{
    cfgt *t = *state;
    const pt_config_key first[] = {{"http.port", PT_CONFIG_INT, "80", "", NULL, 0}};
    const pt_config_key again[] = {{"app.name", PT_CONFIG_STRING, NULL, "", NULL, 0},
                                   {"http.port", PT_CONFIG_INT, NULL, "", NULL, 0}};
    const pt_config_key section[] = {{"http.port.v6", PT_CONFIG_INT, NULL, "", NULL, 0}};
    assert_int_equal(pt_config_new("svc", &t->opts, &t->cfg), 0);
    assert_int_equal(pt_config_declare(t->cfg, first, 1), 0);
    assert_int_equal(pt_config_declare(t->cfg, again, 2), -EINVAL);
    assert_string_equal(pt_config_error(t->cfg), "declaring config key \"http.port\": declared "
                                                 "twice");
    assert_int_equal(pt_config_declare(t->cfg, section, 1), -EINVAL);
    assert_string_equal(pt_config_error(t->cfg),
                        "declaring config key \"http.port.v6\": \"http.port\" and "
                        "\"http.port.v6\" cannot both be keys (one would be a section of the "
                        "other)");
    /* Nothing of a failed call is kept: app.name is unknown. */
    load_fails(t, "unknown flag --app.name", "--app.name=x", NULL);
}

static void test_declare_after_load(void **state)
{
    cfgt *t = *state;
    load_ok(t, NULL);
    const pt_config_key late[] = {{"late.key", PT_CONFIG_INT, NULL, "", NULL, 0}};
    assert_int_equal(pt_config_declare(t->cfg, late, 1), -EBUSY);
    /* The message names the key, as for every other declaration error. */
    assert_non_null(strstr(pt_config_error(t->cfg), "late.key"));
    assert_int_equal(cfgt_load(t, NULL), -EBUSY);
    assert_string_equal(pt_config_error(t->cfg), "pt_config_load() was called already");
}

static void test_load_again_after_failure(void **state)
{
    cfgt *t = *state;
    load_fails(t, "--http.port=x: expected an integer in 1..65535, found \"x\"", "--http.port=x",
               "first", NULL);
    /* config.h: "-EBUSY if called twice", a failed load included (it would leak the
     * first call's layers and keep its positional arguments). */
    assert_int_equal(cfgt_load(t, "--http.port=5", "second", NULL), -EBUSY);
}

static void test_new_bad_arguments(void **state)
{
    (void)state;
    pt_config *cfg = (pt_config *)&cfg;
    assert_int_equal(pt_config_new("", NULL, &cfg), -EINVAL);
    assert_null(cfg);
    assert_int_equal(pt_config_new(NULL, NULL, &cfg), -EINVAL);
    assert_int_equal(pt_config_new("svc", NULL, NULL), -EINVAL);
    pt_config_free(NULL);
    /* Defaults of the options. */
    assert_int_equal(pt_config_new("svc", NULL, &cfg), 0);
    assert_string_equal(pt_config_version(cfg), "0.0.0");
    assert_string_equal(pt_config_service(cfg), "svc");
    pt_config_free(cfg);
}

/* ---- programming errors that abort ----------------------------------------------------------- */

static pt_config *loaded_cfg(void)
{
    pt_config *cfg;
    pt_config_options opts = {0};
    opts.config_dir = "/nonexistent-potter-config-dir";
    opts.datacenter_file = "/nonexistent-potter-datacenter";
    assert_int_equal(pt_config_new("svc", &opts, &cfg), 0);
    assert_int_equal(pt_config_declare(cfg, keys, COUNT(keys)), 0);
    char *argv[] = {"svc", NULL};
    assert_int_equal(pt_config_load(cfg, 1, argv), 0);
    return cfg;
}

static void str_handle_of_int_key(void *cfg)
{
    (void)PT_CONFIG_STR(cfg, "http.port");
}
static const int str_handle_of_int_key_line = __LINE__ - 2;

static void handle_of_undeclared_key(void *cfg)
{
    (void)PT_CONFIG_INT(cfg, "http.prot");
}
static const int handle_of_undeclared_key_line = __LINE__ - 2;

static void str_get_of_changing_key(void *cfg)
{
    pt_config_str *h = PT_CONFIG_STR(cfg, "http.host");
    (void)pt_config_str_get(h);
}

static void check_aborts(void (*fn)(void *), void *arg, const char *want)
{
    char msg[2048];
    int status = cfgt_run_child(fn, arg, msg, sizeof(msg));
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
        fail_msg("the child did not abort (status 0x%x); stderr: %s", status, msg);
    assert_string_equal(msg, want);
}

static void test_programming_errors_abort(void **state)
{
    (void)state;
    pt_config *cfg = loaded_cfg();
    char *want = cfgt_fmt("potter: %s:%d: config key \"http.port\" is declared as int, read as "
                          "string (use PT_CONFIG_INT)\n",
                          __FILE__, str_handle_of_int_key_line);
    check_aborts(str_handle_of_int_key, cfg, want);
    free(want);
    want = cfgt_fmt("potter: %s:%d: config key \"http.prot\" is not declared (did you mean "
                    "http.port?)\n",
                    __FILE__, handle_of_undeclared_key_line);
    check_aborts(handle_of_undeclared_key, cfg, want);
    free(want);
    check_aborts(str_get_of_changing_key, cfg,
                 "potter: config key \"http.host\" may change at run time, so its string is "
                 "read inside a view (pt_config_view_begin(), pt_config_view_str()), or the key "
                 "is declared PT_CONFIG_FIXED\n");
    /* A fixed string reads without a view. */
    assert_string_equal(pt_config_str_get(PT_CONFIG_STR(cfg, "app.mode")), "normal");
    pt_config_free(cfg);
}

/* ---- informative flags ----------------------------------------------------------------------- */

static void test_help(void **state)
{
    cfgt *t = *state;
    /* A bad file is not read for --help. */
    cfgt_write(t, "common.json", "{bad");
    new_cfg(t);
    assert_int_equal(cfgt_load(t, "--http.port=1", "--help", NULL), PT_CONFIG_DONE);
    assert_string_equal(cfgt_err(t), "");
    const char *out = cfgt_out(t);
    char *head = cfgt_fmt("Usage: svc [FLAGS] [--] [ARGS]\n\n"
                          "Configuration (a flag overrides the files in %s/):\n",
                          t->dir);
    assert_true(strncmp(out, head, strlen(head)) == 0);
    free(head);
    static const char *const lines[] = {
        /* A flag too long for the column: its doc on the next line. */
        "  --app.a-key-with-a-rather-long-name=INT\n"
        "                                  its doc goes below\n",
        "  --app.debug=true|false          debug mode (default false)\n",
        "  --app.extra=JSON                free-form settings (default {})\n",
        "  --app.mode=STRING               how it runs (default \"normal\"; fixed at start-up)\n",
        "  --app.ratio=NUMBER              a ratio (default 0.5; 0..1)\n",
        "  --app.tags=A,B,..               tags (default [\"a\",\"b\"])\n",
        "  --app.workers=UINT              (default 4; 1..)\n",
        "  --db.password=STRING            database password (secret)\n",
        "  --db.pin=INT                    a secret number (1000..9999; secret)\n",
        "  --db.pool=SIZE                  pool memory (default \"64MiB\"; ..1GiB)\n",
        "  --db.timeout=DURATION           query deadline (default \"250ms\"; 1ms..1m)\n",
        "  --http.host=STRING              address to listen on (default \"127.0.0.1\")\n",
        "  --http.port=INT                 port the service listens on (default 8080; "
        "1..65535)\n",
        "  --log.level=debug|info|warn     least level logged (default \"info\")\n",
        "  --config=FILE                   one more file, read after the others\n",
        "  --check-config                  check the configuration: exit 0 if good, 78 if not\n",
    };
    /* In order: keys sorted by name, then the general flags. */
    const char *at = out;
    for (size_t i = 0; i < COUNT(lines); i++) {
        const char *found = strstr(at, lines[i]);
        if (found == NULL)
            fail_msg("--help has no line \"%s\" (after the previous one); it printed:\n%s",
                     lines[i], out);
        at = found + strlen(lines[i]);
    }
    /* Every key, with its metavar. */
    for (size_t i = 0; i < COUNT(keys); i++) {
        char *flag = cfgt_fmt("\n  --%s=", keys[i].name);
        assert_non_null(strstr(out, flag));
        free(flag);
    }
    const char *tail = "\nFiles, lowest first: common.json, common.<datacenter>.json, "
                       "<env>.json,\nsecrets/secrets.json (production) or "
                       "secrets/secrets-<env>.json,\n<env>.<datacenter>.json, --config=FILE; "
                       "then flags, then runtime overrides.\n";
    assert_true(strlen(out) > strlen(tail));
    assert_string_equal(out + strlen(out) - strlen(tail), tail);
}

static void test_help_names_datacenter_file(void **state)
{
    cfgt *t = *state;
    new_cfg(t);
    assert_int_equal(cfgt_load(t, "--help", NULL), PT_CONFIG_DONE);
    /* --help names the datacenter file in use (opts.datacenter_file here). */
    char *want = cfgt_fmt("datacenter (default: the first line of %s)", t->dcfile);
    if (strstr(cfgt_out(t), want) == NULL)
        fail_msg("--help does not name %s:\n%s", t->dcfile, cfgt_out(t));
    free(want);
}

static void test_version(void **state)
{
    cfgt *t = *state;
    cfgt_write(t, "common.json", "{bad"); /* not read for --version */
    new_cfg(t);
    assert_int_equal(cfgt_load(t, "--version", "--print-config", NULL), PT_CONFIG_DONE);
    const char *id = pt_build_id();
    assert_true(strlen(id) >= 8);
    assert_int_equal(strspn(id, "0123456789abcdef"), strlen(id));
    char *want = cfgt_fmt("svc 1.2.3 (potter %s, build %s)\n", pt_version_string(), id);
    assert_string_equal(cfgt_out(t), want);
    assert_string_equal(cfgt_err(t), "");
    free(want);
}

static void test_print_config(void **state)
{
    cfgt *t = *state;
    cfgt_write(t, "common.json",
               "{\"http.port\": 8081, \"db.password\": \"" SECRET_PASSWORD "\",\n"
               " \"db.pin\": 4321}");
    new_cfg(t);
    assert_int_equal(cfgt_load(t, "--print-config", "--log.level=debug", NULL), PT_CONFIG_DONE);
    const char *out = cfgt_out(t);
    assert_string_equal(cfgt_err(t), "");
    assert_null(strstr(out, SECRET_PASSWORD));
    assert_null(strstr(out, "4321"));
    json_error_t jerr;
    json_t *root = json_loads(out, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        fail_msg("--print-config is not one JSON document (%s): %s", jerr.text, out);
    assert_int_equal(out[strlen(out) - 1], '\n');
    json_t *k = json_object_get(root, "keys");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(k, "db.password"), "value")),
        "<redacted>");
    assert_string_equal(json_string_value(json_object_get(json_object_get(k, "db.pin"), "value")),
                        "<redacted>");
    char *o = cfgt_fmt("%s/common.json:2:2", t->dir);
    assert_string_equal(json_string_value(json_object_get(json_object_get(k, "db.pin"), "origin")),
                        o);
    free(o);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(k, "http.port"), "value")),
                     8081);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(k, "log.level"), "value")), "debug");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(k, "log.level"), "origin")),
        "--log.level");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(k, "db.timeout"), "value")), "250ms");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(k, "db.timeout"), "origin")), "default");
    assert_true(json_is_array(json_object_get(json_object_get(k, "app.tags"), "value")));
    assert_true(json_is_object(json_object_get(json_object_get(k, "app.extra"), "value")));
    assert_true(json_is_real(json_object_get(json_object_get(k, "app.ratio"), "value")));
    assert_true(json_is_null(
        json_object_get(json_object_get(k, "app.a-key-with-a-rather-long-name"), "value")));
    assert_int_equal(json_object_size(k), COUNT(keys));
    json_decref(root);

    /* The secret reads back through a view; the dump and --help still hide it. */
    const pt_config_view *v = pt_config_view_begin(t->cfg);
    assert_string_equal(pt_config_view_str(v, PT_CONFIG_STR(t->cfg, "db.password")),
                        SECRET_PASSWORD);
    pt_config_view_end(v);
    char *dump = pt_config_dump(t->cfg);
    assert_null(strstr(dump, SECRET_PASSWORD));
    free(dump);
}

static void test_print_config_exact(void **state)
{
    cfgt *t = *state;
    static const pt_config_key two[] = {
        {"a.n", PT_CONFIG_INT, "1", "", NULL, 0},
        {"a.s", PT_CONFIG_STRING, NULL, "", NULL, PT_CONFIG_SECRET},
    };
    cfgt_write(t, "common.json", "{\"a\": {\"s\": \"x\\\"y\"}}");
    cfgt_new(t, two, COUNT(two));
    assert_int_equal(cfgt_load(t, "--print-config", "--datacenter=dc1", NULL), PT_CONFIG_DONE);
    char *want = cfgt_fmt("{\n"
                          "  \"service\": \"svc\",\n"
                          "  \"version\": \"1.2.3\",\n"
                          "  \"env\": \"development\",\n"
                          "  \"datacenter\": \"dc1\",\n"
                          "  \"files\": [\"%s/common.json\"],\n"
                          "  \"keys\": {\n"
                          "    \"a.n\": {\"value\": 1, \"origin\": \"default\"},\n"
                          "    \"a.s\": {\"value\": \"<redacted>\", \"origin\": "
                          "\"%s/common.json:1:8\"}\n"
                          "  }\n"
                          "}\n",
                          t->dir, t->dir);
    assert_string_equal(cfgt_out(t), want);
    free(want);
}

static void test_check_config(void **state)
{
    cfgt *t = *state;
    cfgt_write(t, "common.json", "{\"db.password\": \"" SECRET_PASSWORD "\"}");
    cfgt_write(t, "staging.json", "{}");
    new_cfg(t);
    assert_int_equal(cfgt_load(t, "--check-config", "--env=staging", NULL), PT_CONFIG_DONE);
    char *want = cfgt_fmt("svc: configuration OK (env staging, datacenter none; files: "
                          "%s/common.json, %s/staging.json)\n",
                          t->dir, t->dir);
    assert_string_equal(cfgt_out(t), want);
    assert_string_equal(cfgt_err(t), "");
    free(want);

    /* No files. */
    cfgt *t2 = cfgt_setup();
    new_cfg(t2);
    assert_int_equal(cfgt_load(t2, "--check-config", "--datacenter=eu1", NULL), PT_CONFIG_DONE);
    want = cfgt_fmt("svc: configuration OK (env development, datacenter eu1; no files in %s/)\n",
                    t2->dir);
    assert_string_equal(cfgt_out(t2), want);
    free(want);
    cfgt_teardown(t2);

    /* A bad file: the errors, nothing on out. */
    t2 = cfgt_setup();
    cfgt_write(t2, "common.json", "{\"http.port\": 0}");
    want = cfgt_fmt("%s/common.json:1:15: http.port: expected an integer in 1..65535, found 0",
                    t2->dir);
    load_fails(t2, want, "--check-config", NULL);
    free(want);
    cfgt_teardown(t2);
}

/* ---- secrets never shown --------------------------------------------------------------------- */

/* Loads with common.json = file_text (if not NULL) and flag (if not NULL), which must fail;
 * returns 0 if the secret appears in no message, else -1 after printing where. */
static int secret_not_shown(const char *file_text, const char *flag, const char *secret)
{
    cfgt *t = cfgt_setup();
    int shown = 0;
    if (file_text)
        cfgt_write(t, "common.json", file_text);
    new_cfg(t);
    int rc = cfgt_load(t, flag, NULL);
    assert_int_equal(rc, -EINVAL);
    /* The message still names the key. */
    assert_non_null(strstr(cfgt_err(t), "db.p"));
    if (strstr(cfgt_err(t), secret) || strstr(pt_config_error(t->cfg), secret)) {
        print_error("the secret %s is shown: %s", secret, cfgt_err(t));
        shown = 1;
    }
    cfgt_teardown(t);
    return shown ? -1 : 0;
}

static void test_secret_not_in_errors(void **state)
{
    (void)state;
    int bad = 0;
    /* A bad value of a secret key is never shown: not in a file's error, not in a flag's. */
    bad |= secret_not_shown("{\"db.pin\": 123456}", NULL, "123456");
    bad |= secret_not_shown("{\"db.pin\": \"8675\"}", NULL, "8675");
    bad |= secret_not_shown("{\"db.password\": 8675309}", NULL, "8675309");
    bad |= secret_not_shown("{\"db\": {\"password\": [\"hunter2\"]}}", NULL, "hunter2");
    bad |= secret_not_shown(NULL, "--db.pin=123456", "123456");
    bad |= secret_not_shown(NULL, "--db.pin=hunter2", "hunter2");
    assert_int_equal(bad, 0);
}

static void test_secret_not_in_override_errors(void **state)
{
    cfgt *t = *state;
    int bad = 0;
    load_ok(t, NULL);
    const char *doc = "{\"db.pin\": 99999}";
    assert_int_equal(pt_config_override(t->cfg, doc, strlen(doc), 0, "ctl"), -EINVAL);
    /* Nor in an override's. */
    if (strstr(pt_config_error(t->cfg), "99999")) {
        print_error("shown: %s\n", pt_config_error(t->cfg));
        bad = 1;
    }
    const char *args[] = {"db.pin=hunter2"};
    assert_int_equal(pt_config_override_args(t->cfg, args, 1, 0, "ctl"), -EINVAL);
    if (strstr(pt_config_error(t->cfg), "hunter2")) {
        print_error("shown: %s\n", pt_config_error(t->cfg));
        bad = 1;
    }
    assert_int_equal(bad, 0);
}

/* ---- runtime overrides refused --------------------------------------------------------------- */

static void test_override_errors(void **state)
{
    cfgt *t = *state;
    new_cfg(t);
    const char *good = "{\"http.port\": 9000}";
    assert_int_equal(pt_config_override(t->cfg, good, strlen(good), 0, "ctl"), -EBUSY);
    load_ok(t, NULL);

    static const struct {
        const char *doc, *want;
    } cases[] = {
        {"{\"http.prot\": 1}", "ctl:1:2: unknown key \"http.prot\" (did you mean http.port?)"},
        {"{\"app.mode\": \"fast\"}",
         "ctl:1:2: app.mode cannot change at run time (it is fixed at start-up)"},
        {"{\"app\": {\"mode\": null}}",
         "ctl:1:10: app.mode cannot change at run time (it is fixed at start-up)"},
        {"{\"http.port\": }", "ctl:1:15: expected a value, found '}'"},
        {"[1]", "ctl:1:1: expected an object at the top of the document, found an array"},
        {"{\"http.port\": \"80\"}",
         "ctl:1:15: http.port: expected an integer in 1..65535, found a string (\"80\")"},
        {"{\"http\": 1}",
         "ctl:1:10: http is a section (of http.port and others): expected an object, found an "
         "integer"},
        {"{\"http.port\": 1, \"http\": {\"port\": 2}}",
         "ctl:1:27: http.port is set twice in this document (first at ctl:1:2)"},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        int rc = pt_config_override(t->cfg, cases[i].doc, strlen(cases[i].doc), 0, "ctl");
        if (rc != -EINVAL)
            fail_msg("%s: %d", cases[i].doc, rc);
        assert_string_equal(pt_config_error(t->cfg), cases[i].want);
    }
    /* Only len bytes are read. */
    assert_int_equal(pt_config_override(t->cfg, good, 5, 0, "ctl"), -EINVAL);
    assert_string_equal(pt_config_error(t->cfg),
                        "ctl:1:6: unexpected end of file: the string opened at 1:2 is not closed");
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 8080);
    /* Nothing reached opts.err: the caller has the error. */
    assert_string_equal(cfgt_err(t), "");
}

static void test_override_all_or_nothing(void **state)
{
    cfgt *t = *state;
    cfgt_watch w;
    cfgt_watch_init(&w);
    load_ok(t, NULL);
    pt_config_sub *sub;
    assert_int_equal(pt_config_subscribe(t->cfg, NULL, cfgt_watch_fn, &w, &sub), 0);
    const char *doc = "{\"http.port\": 9000,\n \"log.level\": \"verbose\",\n \"app.mode\": \"x\","
                      " \"http.host\": \"::\"}";
    assert_int_equal(pt_config_override(t->cfg, doc, strlen(doc), 0, "ctl"), -EINVAL);
    /* Every problem, in the order found. */
    assert_string_equal(pt_config_error(t->cfg),
                        "ctl:2:15: log.level: expected one of debug, info, warn, found "
                        "\"verbose\"\n"
                        "ctl:3:2: app.mode cannot change at run time (it is fixed at start-up)");
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 8080);
    const pt_config_view *v = pt_config_view_begin(t->cfg);
    assert_string_equal(pt_config_view_str(v, PT_CONFIG_STR(t->cfg, "http.host")), "127.0.0.1");
    assert_string_equal(pt_config_view_origin(v, "http.port"), "default");
    pt_config_view_end(v);

    const char *args[] = {"http.port",  "htp.port=1", "http.port=abc",
                          "app.mode=x", "app.debug",  "=5"};
    assert_int_equal(pt_config_override_args(t->cfg, args, COUNT(args), 0, "ctl"), -EINVAL);
    assert_string_equal(pt_config_error(t->cfg),
                        "ctl: \"http.port\": expected KEY=VALUE (or a bool key alone)\n"
                        "ctl: unknown key \"htp.port\" (did you mean http.port?)\n"
                        "ctl: http.port=abc: expected an integer in 1..65535, found \"abc\"\n"
                        "ctl: unknown key \"\"\n"
                        "ctl: app.mode cannot change at run time (it is fixed at start-up)");
    assert_int_equal(pt_config_bool_get(PT_CONFIG_BOOL(t->cfg, "app.debug")), 0);

    /* Text from outside must be UTF-8, as in the files; the bad bytes are not echoed. */
    const char *bad_utf8[] = {"http.host=caf\xc3", "app.tags=a,\x98"};
    assert_int_equal(pt_config_override_args(t->cfg, bad_utf8, 2, 0, "ctl"), -EINVAL);
    assert_string_equal(pt_config_error(t->cfg),
                        "ctl: http.host: expected UTF-8 text, found the byte 0xC3 at offset 3\n"
                        "ctl: app.tags: expected UTF-8 text, found the byte 0x98 at offset 2");

    /* Unset: an unknown name removes nothing. */
    const char *over = "{\"http.port\": 9001}";
    assert_int_equal(pt_config_override(t->cfg, over, strlen(over), 0, "ctl"), 0);
    const char *names[] = {"http.port", "htp.port"};
    assert_int_equal(pt_config_unset(t->cfg, names, 2), -EINVAL);
    assert_string_equal(pt_config_error(t->cfg), "unknown key \"htp.port\" (did you mean "
                                                 "http.port?)");
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 9001);

    /* The subscriber saw the one good override and nothing of the refused ones. */
    assert_int_equal(cfgt_watch_wait(&w, 1, 5000), 0);
    cfgt_ops_barrier();
    pthread_mutex_lock(&w.lock);
    assert_int_equal(w.ncalls, 1);
    assert_int_equal(w.calls[0].n, 1);
    assert_string_equal(w.calls[0].c[0].key, "http.port");
    assert_string_equal(w.calls[0].c[0].old_value, "8080");
    assert_string_equal(w.calls[0].c[0].new_value, "9001");
    assert_string_equal(w.calls[0].c[0].origin, "runtime override from ctl");
    pthread_mutex_unlock(&w.lock);
    pt_config_unsubscribe(sub);
    cfgt_watch_free(&w);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, cfgt_cmocka_setup, cfgt_cmocka_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_json_syntax),
        TEST(test_json_top_not_object),
        TEST(test_json_duplicate_key),
        TEST(test_json_invalid_utf8),
        TEST(test_json_integer_out_of_range),
        TEST(test_json_trailing_garbage),
        TEST(test_wrong_types),
        TEST(test_out_of_range),
        TEST(test_wrong_enum),
        TEST(test_bad_duration),
        TEST(test_bad_size),
        TEST(test_list_with_non_string),
        TEST(test_unknown_keys),
        TEST(test_section_given_a_scalar),
        TEST(test_section_of_one_key),
        TEST(test_every_error_of_a_run),
        TEST(test_unreadable_files),
        TEST(test_unknown_flag),
        TEST(test_flag_without_value),
        TEST(test_bad_flag_values),
        TEST(test_flag_values),
        TEST(test_bool_flag_alone_and_forms),
        TEST(test_positional_args),
        TEST(test_missing_config_file_and_dir),
        TEST(test_env_bad_name),
        TEST(test_env_sources),
        TEST(test_production_needs_datacenter),
        TEST(test_production_from_options_needs_datacenter),
        TEST(test_datacenter_file_without_newline),
        TEST(test_datacenter_from_file),
        TEST(test_datacenter_bad),
        TEST(test_required_missing),
        TEST(test_declare_errors),
        TEST(test_declare_empty_range),
        TEST(test_declare_upper_case_name),
        TEST(test_declare_across_calls_and_nothing_kept),
        TEST(test_declare_after_load),
        TEST(test_load_again_after_failure),
        TEST(test_new_bad_arguments),
        TEST(test_programming_errors_abort),
        TEST(test_help),
        TEST(test_help_names_datacenter_file),
        TEST(test_version),
        TEST(test_print_config),
        TEST(test_print_config_exact),
        TEST(test_check_config),
        TEST(test_secret_not_in_errors),
        TEST(test_secret_not_in_override_errors),
        TEST(test_override_errors),
        TEST(test_override_all_or_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, cfgt_group_teardown);
}
