/* config (show, get, explain, set, unset) and log (level, reopen). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* "KEY = VALUE (ORIGIN)" */
static void print_key(const char *key, const json_t *v)
{
    char *value = ctl_value_text(json_object_get(v, "value"));
    const char *origin = ctl_jstr(v, "origin");
    ctl_put_safe(stdout, key, 0);
    fputs(" = ", stdout);
    ctl_put_safe(stdout, value ? value : "?", 0);
    if (origin) {
        fputs(" (", stdout);
        ctl_put_safe(stdout, origin, 0);
        fputc(')', stdout);
    }
    fputc('\n', stdout);
    free(value);
}

static int config_show(ctl *c)
{
    json_t *doc;
    int rc = ctl_get_object(c, "/config", &doc);
    if (rc != CTL_OK || !doc)
        return rc;
    const json_t *keys = json_object_get(doc, "keys"), *files = json_object_get(doc, "files");
    if (!json_is_object(keys)) {
        fputs("potter ctl: GET /config: the reply has no \"keys\" object\n", stderr);
        json_decref(doc);
        return CTL_FAILED;
    }
    const char *service = ctl_jstr(doc, "service"), *version = ctl_jstr(doc, "version");
    const char *env = ctl_jstr(doc, "env"), *dc = ctl_jstr(doc, "datacenter");
    if (service) {
        fputs("# ", stdout);
        ctl_put_safe(stdout, service, 0);
        if (version) {
            fputc(' ', stdout);
            ctl_put_safe(stdout, version, 0);
        }
        fputs(", env ", stdout);
        ctl_put_safe(stdout, env ? env : "-", 0);
        fputs(", datacenter ", stdout);
        ctl_put_safe(stdout, dc ? dc : "-", 0);
        fputc('\n', stdout);
    }
    if (json_array_size(files) > 0) {
        size_t i;
        json_t *f;
        fputs("# files:", stdout);
        json_array_foreach(files, i, f) {
            fputc(' ', stdout);
            ctl_put_safe(stdout, json_is_string(f) ? json_string_value(f) : "?", 0);
        }
        fputc('\n', stdout);
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)keys, key, v)
        print_key(key, v);
    json_decref(doc);
    return CTL_OK;
}

/* GET /config/KEY, the key escaped. */
static int get_key(ctl *c, const char *key, json_t **doc)
{
    char *esc = ctl_escape(key), *path = NULL;
    if (!esc || asprintf(&path, "/config/%s", esc) < 0) {
        free(esc);
        fputs("potter ctl: out of memory\n", stderr);
        return CTL_FAILED;
    }
    int rc = ctl_get_object(c, path, doc);
    free(esc);
    free(path);
    return rc;
}

static int config_get(ctl *c, const char *key)
{
    json_t *doc;
    int rc = get_key(c, key, &doc);
    if (rc != CTL_OK || !doc)
        return rc;
    print_key(key, doc);
    json_decref(doc);
    return CTL_OK;
}

static int config_explain(ctl *c, const char *key)
{
    static const char *const fields[][2] = {
        {"key", "key:"},         {"type", "type:"},       {"value", "value:"},
        {"origin", "origin:"},   {"default", "default:"}, {"range", "range:"},
        {"doc", "doc:"},
    };
    json_t *doc;
    int rc = get_key(c, key, &doc);
    if (rc != CTL_OK || !doc)
        return rc;
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        const json_t *v = json_object_get(doc, fields[i][0]);
        printf("%-9s", fields[i][1]);
        if (!v || json_is_null(v)) {
            fputs("-", stdout);
        } else if (json_is_string(v) && strcmp(fields[i][0], "value") != 0 &&
                   strcmp(fields[i][0], "default") != 0) {
            ctl_put_safe(stdout, json_string_value(v), 0);
        } else {
            char *text = ctl_value_text(v);
            ctl_put_safe(stdout, text ? text : "?", 0);
            free(text);
        }
        fputc('\n', stdout);
    }
    const json_t *runtime = json_object_get(doc, "runtime");
    printf("%-9s%s\n", "runtime:",
           json_is_true(runtime)    ? "yes: `config set` changes it while the service runs"
           : json_is_false(runtime) ? "no: read at start-up only"
                                    : "-");
    if (json_is_true(json_object_get(doc, "secret")))
        printf("%-9s%s\n", "secret:", "yes: its value is never shown");
    json_decref(doc);
    return CTL_OK;
}

/* POST /config[?ttl=...] with the object; "set"/"unset" lines after. */
static int post_config(ctl *c, json_t *obj, const char *done)
{
    char *body = json_dumps(obj, JSON_COMPACT), *path = NULL, *ttl = NULL;
    int rc = CTL_FAILED;
    if (!body || (c->o.ttl && !(ttl = ctl_escape(c->o.ttl))) ||
        asprintf(&path, "/config%s%s", ttl ? "?ttl=" : "", ttl ? ttl : "") < 0) {
        path = NULL;
        fputs("potter ctl: out of memory\n", stderr);
        goto out;
    }
    ctl_reply r;
    if ((rc = ctl_call(c, "POST", path, body, strlen(body), &r)) != CTL_OK)
        goto out;
    if (c->o.json) {
        rc = ctl_print_body(&r);
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(obj, key, v) {
            printf("%s ", done);
            ctl_put_safe(stdout, key, 0);
            if (!json_is_null(v)) {
                char *text = ctl_value_text(v);
                fputs(" = ", stdout);
                ctl_put_safe(stdout, text ? text : "?", 0);
                free(text);
            }
            if (c->o.ttl) {
                fputs(" for ", stdout);
                ctl_put_safe(stdout, c->o.ttl, 0);
            }
            fputc('\n', stdout);
        }
    }
    ctl_reply_free(&r);
out:
    free(body);
    free(path);
    free(ttl);
    return rc;
}

static int config_set(ctl *c, int argc, char **argv)
{
    if (argc == 0)
        return ctl_usage_error("'config set' needs KEY=VALUE (such as log.level=debug)");
    json_t *obj = json_object();
    if (!obj) {
        fputs("potter ctl: out of memory\n", stderr);
        return CTL_FAILED;
    }
    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i]) {
            json_decref(obj);
            return ctl_usage_error("config set: expected KEY=VALUE (such as log.level=debug), "
                                   "got \"%s\"", argv[i]);
        }
        /* JSON when it parses (8080, true, null, "x", {...}), else the text as a string. */
        json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
        if (!v)
            v = json_string(eq + 1);
        *eq = '\0';
        int bad = !v || json_object_set_new(obj, argv[i], v) < 0;
        *eq = '=';
        if (bad) {
            json_decref(obj);
            return ctl_usage_error("config set: \"%s\" is not valid UTF-8", argv[i]);
        }
    }
    int rc = post_config(c, obj, "set");
    json_decref(obj);
    return rc;
}

static int config_unset(ctl *c, int argc, char **argv)
{
    if (argc == 0)
        return ctl_usage_error("'config unset' needs a KEY");
    json_t *obj = json_object();
    if (!obj) {
        fputs("potter ctl: out of memory\n", stderr);
        return CTL_FAILED;
    }
    for (int i = 0; i < argc; i++) {
        if (!argv[i][0] || json_object_set_new(obj, argv[i], json_null()) < 0) {
            json_decref(obj);
            return ctl_usage_error("config unset: expected a key's name, got \"%s\"", argv[i]);
        }
    }
    int rc = post_config(c, obj, "unset");
    json_decref(obj);
    return rc;
}

int cmd_config(ctl *c, int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : "";
    static const char *const subs[] = {"", "get", "explain", "set", "unset"};
    int known = 0;
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++)
        known |= strcmp(sub, subs[i]) == 0;
    if (!known)
        return ctl_usage_error("config: '%s' is not one of get, explain, set, unset", sub);
    char command[32];
    snprintf(command, sizeof command, "config%s%s", sub[0] ? " " : "", sub);
    int rc = ctl_only_options(c, strcmp(sub, "set") == 0 ? OPT_TTL : 0, command);
    if (rc != CTL_OK)
        return rc;
    if (!sub[0])
        return config_show(c);
    if (strcmp(sub, "set") == 0)
        return config_set(c, argc - 1, argv + 1);
    if (strcmp(sub, "unset") == 0)
        return config_unset(c, argc - 1, argv + 1);
    if (argc != 2 || !argv[1][0])
        return ctl_usage_error("'config %s' needs one KEY (such as log.level)", sub);
    return sub[0] == 'g' ? config_get(c, argv[1]) : config_explain(c, argv[1]);
}

/* ---- log ----------------------------------------------------------------------------------- */

static int log_levels(ctl *c)
{
    json_t *doc;
    int rc = ctl_get_object(c, "/log/level", &doc);
    if (rc != CTL_OK || !doc)
        return rc;
    const json_t *loggers = json_object_get(doc, "loggers");
    size_t i, width = 6;
    json_t *l;
    json_array_foreach(loggers, i, l) {
        const char *name = ctl_jstr(l, "name");
        if (name && ctl_safe_len(name) > width)
            width = ctl_safe_len(name);
    }
    printf("%-*s  LEVEL\n", (int)width, "LOGGER");
    json_array_foreach(loggers, i, l) {
        const char *name = ctl_jstr(l, "name"), *level = ctl_jstr(l, "level");
        ctl_put_cell(stdout, name ? name : "?", width);
        fputs("  ", stdout);
        ctl_put_safe(stdout, level ? level : "?", 0);
        fputc('\n', stdout);
    }
    json_decref(doc);
    return CTL_OK;
}

static int log_set_level(ctl *c, const char *level)
{
    if (c->o.ttl && c->o.logger)
        return ctl_usage_error("--ttl applies to the service's level (log.level), not to a named "
                               "logger's");
    json_t *obj = json_pack("{s:s}", "level", level);
    if (obj && c->o.logger && json_object_set_new(obj, "logger", json_string(c->o.logger)) < 0) {
        json_decref(obj);
        return ctl_usage_error("--logger: \"%s\" is not valid UTF-8", c->o.logger);
    }
    char *body = obj ? json_dumps(obj, JSON_COMPACT) : NULL, *path = NULL, *ttl = NULL;
    json_decref(obj);
    int rc = CTL_FAILED;
    if (!body || (c->o.ttl && !(ttl = ctl_escape(c->o.ttl))) ||
        asprintf(&path, "/log/level%s%s", ttl ? "?ttl=" : "", ttl ? ttl : "") < 0) {
        if (!body)
            return ctl_usage_error("log level: \"%s\" is not valid UTF-8", level);
        path = NULL;
        fputs("potter ctl: out of memory\n", stderr);
        goto out;
    }
    ctl_reply r;
    if ((rc = ctl_call(c, "POST", path, body, strlen(body), &r)) != CTL_OK)
        goto out;
    if (c->o.json) {
        rc = ctl_print_body(&r);
    } else {
        if (c->o.logger) {
            fputs("logger ", stdout);
            ctl_put_safe(stdout, c->o.logger, 0);
        } else {
            fputs("log.level", stdout);
        }
        fputs(" set to ", stdout);
        ctl_put_safe(stdout, level, 0);
        if (c->o.ttl) {
            fputs(" for ", stdout);
            ctl_put_safe(stdout, c->o.ttl, 0);
        }
        fputc('\n', stdout);
    }
    ctl_reply_free(&r);
out:
    free(body);
    free(path);
    free(ttl);
    return rc;
}

int cmd_log(ctl *c, int argc, char **argv)
{
    const char *sub = argc > 0 ? argv[0] : NULL;
    int rc;
    if (sub && strcmp(sub, "reopen") == 0) {
        if ((rc = ctl_only_options(c, 0, "log reopen")) != CTL_OK)
            return rc;
        if (argc > 1)
            return ctl_usage_error("'log reopen' takes no arguments, got \"%s\"", argv[1]);
        ctl_reply r;
        if ((rc = ctl_call(c, "POST", "/log/reopen", NULL, 0, &r)) != CTL_OK)
            return rc;
        if (c->o.json)
            rc = ctl_print_body(&r);
        else
            puts("log files reopened");
        ctl_reply_free(&r);
        return rc;
    }
    if (!sub || strcmp(sub, "level") != 0)
        return ctl_usage_error("log: expected 'level' or 'reopen'%s%s%s", sub ? ", got \"" : "",
                               sub ? sub : "", sub ? "\"" : "");
    if (argc == 2)
        return log_set_level(c, argv[1]);
    if (argc > 2)
        return ctl_usage_error("'log level' takes at most a LEVEL, got \"%s\" too", argv[2]);
    if ((rc = ctl_only_options(c, 0, "log level")) != CTL_OK)
        return rc;
    return log_levels(c);
}
