/* pt_config_reload() and subscribers: a changed file is applied whole and subscribers (on
 * pt-ops) get each key's old and new value and origin; fixed keys keep their value with a
 * warning; a bad file, a missing --config=FILE or a required key gone refuse the whole reload
 * and change nothing; files that appeared or went away since the load are taken into account.
 * Subscriptions: prefixes, one call per step with every key of it, unsubscribing from inside
 * a callback. */
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

#include "cfg_testutil.h"
#include "potter/config.h"

static const pt_config_key keys[] = {
    {"http.port", PT_CONFIG_INT, "8080", "port", "1..65535", 0},
    {"http.host", PT_CONFIG_STRING, "127.0.0.1", "address", NULL, 0},
    {"log.level", PT_CONFIG_ENUM, "info", "level", "debug|info|warn", 0},
    {"app.mode", PT_CONFIG_STRING, "normal", "fixed", NULL, PT_CONFIG_FIXED},
    {"app.workers", PT_CONFIG_INT, "4", "fixed too", NULL, PT_CONFIG_FIXED},
    {"db.password", PT_CONFIG_STRING, NULL, "secret", NULL, PT_CONFIG_SECRET},
};

static const pt_config_key required_keys[] = {
    {"db.url", PT_CONFIG_STRING, NULL, "database URL", NULL, PT_CONFIG_REQUIRED},
    {"db.pool", PT_CONFIG_INT, "4", "pool", NULL, 0},
};

/* A fixture with reports recorded and a watch subscribed to every key. */
typedef struct fixture {
    cfgt *t;
    cfgt_watch w;
    pt_config_sub *sub;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->t = cfgt_setup();
    cfgt_use_report(f->t);
    cfgt_watch_init(&f->w);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->sub)
        pt_config_unsubscribe(f->sub);
    cfgt_teardown(f->t);
    cfgt_watch_free(&f->w);
    free(f);
    return 0;
}

/* Declares keys (or `k`), loads with args (NULL-terminated), subscribes f->w to everything. */
static void start(fixture *f, const pt_config_key *k, size_t n, ...)
{
    const char *args[16];
    int nargs = 0;
    va_list ap;

    va_start(ap, n);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;)
        args[nargs++] = a;
    va_end(ap);
    cfgt_new(f->t, k ? k : keys, k ? n : COUNT(keys));
    int rc = cfgt_loadv(f->t, nargs, args);
    if (rc != 0)
        fail_msg("load: %d: %s", rc, cfgt_err(f->t));
    assert_int_equal(pt_config_subscribe(f->t->cfg, "", cfgt_watch_fn, &f->w, &f->sub), 0);
}

static void reload_ok(fixture *f)
{
    int rc = pt_config_reload(f->t->cfg);
    if (rc != 0)
        fail_msg("reload: %d: %s", rc, pt_config_error(f->t->cfg));
}

/* Waits for call number `nth` (1-based) of f->w, and checks that no other came. */
static cfgt_call *wait_call(fixture *f, size_t nth)
{
    if (cfgt_watch_wait(&f->w, nth, 5000) != 0)
        fail_msg("subscriber call %zu did not come within 5 s", nth);
    cfgt_ops_barrier();
    assert_int_equal(cfgt_watch_count(&f->w), nth);
    return &f->w.calls[nth - 1];
}

/* No subscriber call beyond the first `calls`. */
static void no_more_calls(fixture *f, size_t calls)
{
    cfgt_ops_barrier();
    assert_int_equal(cfgt_watch_count(&f->w), calls);
}

static void assert_change(const cfgt_change *c, const char *key, const char *old_value,
                          const char *new_value, const char *origin)
{
    assert_string_equal(c->key, key);
    assert_string_equal(c->old_value, old_value);
    assert_string_equal(c->new_value, new_value);
    assert_string_equal(c->origin, origin);
}

static char *origin_of(cfgt *t, const char *name)
{
    const pt_config_view *v = pt_config_view_begin(t->cfg);
    char *o = strdup(pt_config_view_origin(v, name));
    pt_config_view_end(v);
    return o;
}

static void assert_origin(cfgt *t, const char *name, const char *want)
{
    char *o = origin_of(t, name);
    assert_string_equal(o, want);
    free(o);
}

/* ---- reloads that apply ---------------------------------------------------------------------- */

static void test_changed_file_applied(void **state)
{
    fixture *f = *state;
    cfgt *t = f->t;
    cfgt_write(t, "common.json",
               "{\"http.port\": 1001, \"log.level\": \"info\",\n"
               " \"http.host\": \"a\"}");
    start(f, NULL, 0, NULL);
    pt_config_int *port = PT_CONFIG_INT(t->cfg, "http.port");
    pt_config_enum *level = PT_CONFIG_ENUM(t->cfg, "log.level");

    /* No change: nothing to tell. */
    reload_ok(f);
    no_more_calls(f, 0);

    /* http.host keeps its value and its position: it did not change. */
    cfgt_write(t, "common.json",
               "{\"log\": {\"level\": \"warn\"},\n \"http.host\": \"a\",\n"
               "  \"http.port\": 1002\n}");
    reload_ok(f);
    /* Handles read the new values as soon as the reload returns. */
    assert_int_equal(pt_config_int_get(port), 1002);
    assert_int_equal(pt_config_enum_get(level), 2);
    char *o_port = cfgt_fmt("%s/common.json:3:3", t->dir);
    char *o_level = cfgt_fmt("%s/common.json:1:10", t->dir);
    assert_origin(t, "http.port", o_port);
    assert_origin(t, "log.level", o_level);

    /* One call for the step with both changes, in declaration order. */
    cfgt_call *c = wait_call(f, 1);
    assert_int_equal(c->n, 2);
    assert_change(&c->c[0], "http.port", "1001", "1002", o_port);
    assert_change(&c->c[1], "log.level", "\"info\"", "\"warn\"", o_level);
    assert_string_equal(cfgt_reports(t), "");
    free(o_port);
    free(o_level);
}

static void test_fixed_key_kept(void **state)
{
    fixture *f = *state;
    cfgt *t = f->t;
    const char *first = "{\"app.mode\": \"fast\", \"http.port\": 1}";
    cfgt_write(t, "common.json", first);
    start(f, NULL, 0, NULL);
    pt_config_str *mode = PT_CONFIG_STR(t->cfg, "app.mode");
    pt_config_int *workers = PT_CONFIG_INT(t->cfg, "app.workers");
    char *o_mode = cfgt_fmt("%s/common.json:1:2", t->dir);

    cfgt_write(t, "common.json", "{\"app.mode\": \"slow\", \"http.port\": 2, \"app.workers\": 9}");
    reload_ok(f);
    assert_string_equal(pt_config_str_get(mode), "fast");
    assert_int_equal(pt_config_int_get(workers), 4);
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 2);
    const pt_config_view *v = pt_config_view_begin(t->cfg);
    assert_string_equal(pt_config_view_str(v, mode), "fast");
    assert_string_equal(pt_config_view_origin(v, "app.mode"), o_mode);
    assert_string_equal(pt_config_view_origin(v, "app.workers"), "default");
    pt_config_view_end(v);
    assert_string_equal(cfgt_reports(t), "warn: config: reload: keys fixed at start-up keep "
                                         "their value until a restart: app.mode, app.workers\n");
    /* Only http.port changed. */
    cfgt_call *c = wait_call(f, 1);
    assert_int_equal(c->n, 1);
    assert_string_equal(c->c[0].key, "http.port");

    /* Moving a fixed key within its file, same value: no warning. */
    cfgt_reports_clear(t);
    cfgt_write(t, "common.json", "{\"http.port\": 2,\n \"app\": {\"mode\": \"fast\"}}");
    reload_ok(f);
    assert_string_equal(cfgt_reports(t), "");
    free(o_mode);
}

static void test_fixed_key_warning_without_report(void **state)
{
    fixture *f = *state;
    cfgt *t = f->t;
    t->opts.report = NULL; /* messages go to opts.err */
    cfgt_write(t, "common.json", "{\"app.mode\": \"fast\"}");
    start(f, NULL, 0, NULL);
    cfgt_write(t, "common.json", "{\"app.mode\": \"slow\"}");
    reload_ok(f);
    assert_string_equal(cfgt_err(t), "svc: warning: config: reload: keys fixed at start-up keep "
                                     "their value until a restart: app.mode\n");
}

static void test_file_appeared_and_went(void **state)
{
    fixture *f = *state;
    cfgt *t = f->t;
    cfgt_write(t, "common.json", "{\"http.port\": 1}");
    start(f, NULL, 0, "--env=staging", NULL);
    char *common = cfgt_path(t, "common.json"), *staging = cfgt_path(t, "staging.json");
    char *secrets = cfgt_path(t, "secrets/secrets-staging.json");
    const char *const *files;
    assert_int_equal(pt_config_files(t->cfg, &files), 1);

    cfgt_write(t, "secrets/secrets-staging.json", "{\"db.password\": \"pw-1\"}");
    cfgt_write(t, "staging.json", "{\"http.port\": 2}");
    reload_ok(f);
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 2);
    assert_int_equal(pt_config_files(t->cfg, &files), 3);
    assert_string_equal(files[0], common);
    assert_string_equal(files[1], staging);
    assert_string_equal(files[2], secrets);
    cfgt_call *c = wait_call(f, 1);
    assert_int_equal(c->n, 2);
    char *o = cfgt_fmt("%s:1:2", staging);
    assert_change(&c->c[0], "http.port", "1", "2", o);
    free(o);
    /* A secret's values are not shown to subscribers. */
    o = cfgt_fmt("%s:1:2", secrets);
    assert_change(&c->c[1], "db.password", "null", "\"<redacted>\"", o);
    free(o);

    cfgt_write(t, "secrets/secrets-staging.json", "{\"db.password\": \"pw-2\"}");
    reload_ok(f);
    c = wait_call(f, 2);
    assert_int_equal(c->n, 1);
    assert_string_equal(c->c[0].old_value, "\"<redacted>\"");
    assert_string_equal(c->c[0].new_value, "\"<redacted>\"");
    const pt_config_view *v = pt_config_view_begin(t->cfg);
    assert_string_equal(pt_config_view_str(v, PT_CONFIG_STR(t->cfg, "db.password")), "pw-2");
    pt_config_view_end(v);

    /* staging.json goes away: common.json shows through again. */
    assert_int_equal(unlink(staging), 0);
    reload_ok(f);
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 1);
    assert_int_equal(pt_config_files(t->cfg, &files), 2);
    assert_string_equal(files[0], common);
    assert_string_equal(files[1], secrets);
    c = wait_call(f, 3);
    o = cfgt_fmt("%s:1:2", common);
    assert_int_equal(c->n, 1);
    assert_change(&c->c[0], "http.port", "2", "1", o);
    free(o);
    free(common);
    free(staging);
    free(secrets);
}

static void test_higher_layers_hide_file_changes(void **state)
{
    fixture *f = *state;
    cfgt *t = f->t;
    cfgt_write(t, "common.json", "{\"http.port\": 1, \"http.host\": \"a\"}");
    start(f, NULL, 0, "--http.port=5", NULL);
    const char *doc = "{\"http.host\": \"o\"}";
    assert_int_equal(pt_config_override(t->cfg, doc, strlen(doc), 0, "ctl"), 0);
    wait_call(f, 1);

    cfgt_write(t, "common.json", "{\"http.port\": 2, \"http.host\": \"b\"}");
    reload_ok(f);
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 5);
    assert_origin(t, "http.port", "--http.port");
    assert_origin(t, "http.host", "runtime override from ctl");
    no_more_calls(f, 1);

    /* Removing the override shows the reloaded file's value. */
    const char *names[] = {"http.host"};
    assert_int_equal(pt_config_unset(t->cfg, names, 1), 0);
    cfgt_call *c = wait_call(f, 2);
    char *o = cfgt_fmt("%s/common.json:1:18", t->dir);
    assert_int_equal(c->n, 1);
    assert_change(&c->c[0], "http.host", "\"o\"", "\"b\"", o);
    free(o);
}

/* ---- reloads refused ------------------------------------------------------------------------- */

static void test_bad_file_refuses_reload(void **state)
{
    fixture *f = *state;
    cfgt *t = f->t;
    cfgt_write(t, "common.json", "{\"http.port\": 1, \"log.level\": \"info\"}");
    cfgt_write(t, "development.json", "{\"http.host\": \"a\"}");
    start(f, NULL, 0, NULL);
    char *o_port = origin_of(t, "http.port"), *o_host = origin_of(t, "http.host");

    /* development.json's change is good, common.json's is not: nothing is applied. */
    cfgt_write(t, "development.json", "{\"http.host\": \"b\"}");
    cfgt_write(t, "common.json", "{\"http.port\": 70000, \"log.level\": \"warn\"}");
    assert_int_equal(pt_config_reload(t->cfg), -EINVAL);
    char *why = cfgt_fmt("%s/common.json:1:15: http.port: expected an integer in 1..65535, "
                         "found 70000",
                         t->dir);
    assert_string_equal(pt_config_error(t->cfg), why);
    char *report = cfgt_fmt("error: config: reload refused, the configuration stays as it was: "
                            "%s\n",
                            why);
    assert_string_equal(cfgt_reports(t), report);
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 1);
    assert_int_equal(pt_config_enum_get(PT_CONFIG_ENUM(t->cfg, "log.level")), 1);
    const pt_config_view *v = pt_config_view_begin(t->cfg);
    assert_string_equal(pt_config_view_str(v, PT_CONFIG_STR(t->cfg, "http.host")), "a");
    assert_string_equal(pt_config_view_origin(v, "http.port"), o_port);
    assert_string_equal(pt_config_view_origin(v, "http.host"), o_host);
    pt_config_view_end(v);
    const char *const *files;
    assert_int_equal(pt_config_files(t->cfg, &files), 2);
    no_more_calls(f, 0);
    /* Nothing went to opts.err: there is a report function. */
    assert_string_equal(cfgt_err(t), "");

    /* Fixed, the next reload applies both files. */
    cfgt_write(t, "common.json", "{\"http.port\": 2, \"log.level\": \"warn\"}");
    reload_ok(f);
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 2);
    cfgt_call *c = wait_call(f, 1);
    assert_int_equal(c->n, 3);
    free(report);
    free(why);
    free(o_port);
    free(o_host);
}

static void test_bad_reload_report_is_one_line(void **state)
{
    fixture *f = *state;
    cfgt *t = f->t;
    cfgt_write(t, "common.json", "{\"http.port\": 1}");
    start(f, NULL, 0, NULL);
    cfgt_write(t, "common.json", "{\"http.port\": 0}");
    cfgt_write(t, "development.json", "{\"htp.port\": 0}");
    assert_int_equal(pt_config_reload(t->cfg), -EINVAL);
    /* pt_config_error() has every problem, one a line. */
    char *why = cfgt_fmt("%s/common.json:1:15: http.port: expected an integer in 1..65535, "
                         "found 0\n"
                         "%s/development.json:1:2: unknown key \"htp.port\" (did you mean "
                         "http.port?)",
                         t->dir, t->dir);
    assert_string_equal(pt_config_error(t->cfg), why);
    free(why);
    /* config.h: the report's msg "is one line", whatever the number of errors (the same
     * holds for remote documents). */
    assert_int_equal(cfgt_nreports(t), 1);
    const char *r = cfgt_reports(t);
    assert_int_equal(strchr(r, '\n') - r, (ptrdiff_t)strlen(r) - 1);
}

static void test_bad_json_refuses_reload(void **state)
{
    fixture *f = *state;
    cfgt *t = f->t;
    cfgt_write(t, "common.json", "{\"http.port\": 1}");
    start(f, NULL, 0, NULL);
    cfgt_write(t, "common.json", "{\"http.port\": 2,\n}");
    assert_int_equal(pt_config_reload(t->cfg), -EINVAL);
    char *why = cfgt_fmt("%s/common.json:2:1: expected a string key after ',', found '}'", t->dir);
    assert_string_equal(pt_config_error(t->cfg), why);
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 1);
    no_more_calls(f, 0);
    free(why);
}

static void test_missing_config_file_refuses_reload(void **state)
{
    fixture *f = *state;
    cfgt *t = f->t;
    char *extra = cfgt_fmt("%s/extra.json", t->root);
    cfgt_write_abs(extra, "{\"http.port\": 3}", 16);
    char *flag = cfgt_fmt("--config=%s", extra);
    start(f, NULL, 0, flag, NULL);
    assert_int_equal(unlink(extra), 0);
    cfgt_write(t, "common.json", "{\"http.host\": \"new\"}");
    assert_int_equal(pt_config_reload(t->cfg), -EINVAL);
    char *why = cfgt_fmt("--config=%s: cannot read it: No such file or directory", extra);
    assert_string_equal(pt_config_error(t->cfg), why);
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "http.port")), 3);
    const char *const *files;
    assert_int_equal(pt_config_files(t->cfg, &files), 1);
    assert_string_equal(files[0], extra);
    no_more_calls(f, 0);
    free(why);
    free(flag);
    free(extra);
}

static void test_required_key_removed_refuses_reload(void **state)
{
    fixture *f = *state;
    cfgt *t = f->t;
    cfgt_write(t, "common.json", "{\"db.url\": \"pg://a\", \"db.pool\": 1}");
    start(f, required_keys, COUNT(required_keys), NULL);
    cfgt_write(t, "common.json", "{\"db.pool\": 2}");
    assert_int_equal(pt_config_reload(t->cfg), -EINVAL);
    char *why = cfgt_fmt("required key db.url has no value: set it in a file under %s/ or pass "
                         "--db.url=STRING",
                         t->dir);
    assert_string_equal(pt_config_error(t->cfg), why);
    char *report = cfgt_fmt("error: config: reload refused, the configuration stays as it was: "
                            "%s\n",
                            why);
    assert_string_equal(cfgt_reports(t), report);
    assert_int_equal(pt_config_int_get(PT_CONFIG_INT(t->cfg, "db.pool")), 1);
    const pt_config_view *v = pt_config_view_begin(t->cfg);
    assert_string_equal(pt_config_view_str(v, PT_CONFIG_STR(t->cfg, "db.url")), "pg://a");
    pt_config_view_end(v);
    no_more_calls(f, 0);

    /* null takes it away too. */
    cfgt_write(t, "common.json", "{\"db.url\": null, \"db.pool\": 2}");
    assert_int_equal(pt_config_reload(t->cfg), -EINVAL);
    assert_string_equal(pt_config_error(t->cfg), why);
    free(report);
    free(why);
}

static void test_reload_before_load(void **state)
{
    fixture *f = *state;
    cfgt_new(f->t, keys, COUNT(keys));
    assert_int_equal(pt_config_reload(f->t->cfg), -EBUSY);
}

/* ---- subscriptions --------------------------------------------------------------------------- */

static void test_prefixes(void **state)
{
    fixture *f = *state;
    cfgt *t = f->t;
    cfgt_watch http, log, none;
    pt_config_sub *s_http, *s_log, *s_none;

    cfgt_watch_init(&http);
    cfgt_watch_init(&log);
    cfgt_watch_init(&none);
    start(f, NULL, 0, NULL);
    assert_int_equal(pt_config_subscribe(t->cfg, "http.", cfgt_watch_fn, &http, &s_http), 0);
    assert_int_equal(pt_config_subscribe(t->cfg, "log.", cfgt_watch_fn, &log, &s_log), 0);
    assert_int_equal(pt_config_subscribe(t->cfg, "db.", cfgt_watch_fn, &none, &s_none), 0);
    assert_int_equal(pt_config_subscribe(t->cfg, "x", NULL, NULL, NULL), -EINVAL);

    /* One override of three keys: one call for each subscriber with its keys, the
     * subscriber to everything gets all three at once. */
    const char *doc = "{\"http\": {\"port\": 81, \"host\": \"h\"}, \"log.level\": \"debug\"}";
    assert_int_equal(pt_config_override(t->cfg, doc, strlen(doc), 0, "ctl"), 0);
    cfgt_call *all = wait_call(f, 1);
    assert_int_equal(all->n, 3);
    assert_change(&all->c[0], "http.port", "8080", "81", "runtime override from ctl");
    assert_change(&all->c[1], "http.host", "\"127.0.0.1\"", "\"h\"", "runtime override from ctl");
    assert_change(&all->c[2], "log.level", "\"info\"", "\"debug\"", "runtime override from ctl");
    assert_int_equal(cfgt_watch_count(&http), 1);
    assert_int_equal(http.calls[0].n, 2);
    assert_string_equal(http.calls[0].c[0].key, "http.port");
    assert_string_equal(http.calls[0].c[1].key, "http.host");
    assert_int_equal(cfgt_watch_count(&log), 1);
    assert_int_equal(log.calls[0].n, 1);
    assert_change(&log.calls[0].c[0], "log.level", "\"info\"", "\"debug\"",
                  "runtime override from ctl");
    assert_int_equal(cfgt_watch_count(&none), 0);

    /* pt_config_override_args(): both keys in one call too. */
    const char *args[] = {"http.port=82", "log.level=warn"};
    assert_int_equal(pt_config_override_args(t->cfg, args, 2, 0, "ops"), 0);
    all = wait_call(f, 2);
    assert_int_equal(all->n, 2);
    assert_change(&all->c[0], "http.port", "81", "82", "runtime override from ops");
    assert_change(&all->c[1], "log.level", "\"debug\"", "\"warn\"", "runtime override from ops");
    assert_int_equal(cfgt_watch_count(&http), 2);
    assert_int_equal(http.calls[1].n, 1);

    /* An unset of everything: one call again. */
    assert_int_equal(pt_config_unset(t->cfg, NULL, 0), 0);
    all = wait_call(f, 3);
    assert_int_equal(all->n, 3);
    assert_change(&all->c[0], "http.port", "82", "8080", "default");
    assert_change(&all->c[1], "http.host", "\"h\"", "\"127.0.0.1\"", "default");
    assert_change(&all->c[2], "log.level", "\"warn\"", "\"info\"", "default");
    assert_int_equal(cfgt_watch_count(&none), 0);

    pt_config_unsubscribe(s_http);
    pt_config_unsubscribe(s_log);
    pt_config_unsubscribe(s_none);
    cfgt_watch_free(&http);
    cfgt_watch_free(&log);
    cfgt_watch_free(&none);
}

static void test_unsubscribe_in_callback(void **state)
{
    fixture *f = *state;
    cfgt *t = f->t;
    cfgt_watch once;

    cfgt_watch_init(&once);
    start(f, NULL, 0, NULL);
    once.unsubscribe_after = 1;
    assert_int_equal(pt_config_subscribe(t->cfg, "http.", cfgt_watch_fn, &once, &once.sub), 0);
    for (int i = 0; i < 3; i++) {
        char doc[64];
        snprintf(doc, sizeof(doc), "{\"http.port\": %d}", 100 + i);
        assert_int_equal(pt_config_override(t->cfg, doc, strlen(doc), 0, "ctl"), 0);
    }
    /* The subscriber to everything sees the three; the one that left inside its first call
     * sees one. */
    wait_call(f, 3);
    assert_int_equal(cfgt_watch_count(&once), 1);
    assert_string_equal(once.calls[0].c[0].new_value, "100");
    assert_string_equal(f->w.calls[2].c[0].new_value, "102");
    cfgt_watch_free(&once);
}

static void test_unsubscribe_stops_calls(void **state)
{
    fixture *f = *state;
    cfgt *t = f->t;
    start(f, NULL, 0, NULL);
    const char *doc = "{\"http.port\": 9}";
    assert_int_equal(pt_config_override(t->cfg, doc, strlen(doc), 0, "ctl"), 0);
    wait_call(f, 1);
    pt_config_unsubscribe(f->sub);
    f->sub = NULL;
    assert_int_equal(pt_config_unset(t->cfg, NULL, 0), 0);
    no_more_calls(f, 1);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_changed_file_applied),
        TEST(test_fixed_key_kept),
        TEST(test_fixed_key_warning_without_report),
        TEST(test_file_appeared_and_went),
        TEST(test_higher_layers_hide_file_changes),
        TEST(test_bad_file_refuses_reload),
        TEST(test_bad_reload_report_is_one_line),
        TEST(test_bad_json_refuses_reload),
        TEST(test_missing_config_file_refuses_reload),
        TEST(test_required_key_removed_refuses_reload),
        TEST(test_reload_before_load),
        TEST(test_prefixes),
        TEST(test_unsubscribe_in_callback),
        TEST(test_unsubscribe_stops_calls),
    };
    return cmocka_run_group_tests(tests, NULL, cfgt_group_teardown);
}
