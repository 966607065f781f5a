/* The commands that read the service's state (health, ready, metrics, stats, build, memory,
 * endpoints), quit, and get/post for any other endpoint. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static int no_arguments(const char *command, int argc, char **argv)
{
    if (argc > 0)
        return ctl_usage_error("'%s' takes no arguments, got \"%s\"", command, argv[0]);
    return CTL_OK;
}

/* A JSON number (or anything else) as text: integers whole, reals without float noise. */
static void put_value(FILE *f, const json_t *v)
{
    if (json_is_integer(v)) {
        fprintf(f, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        fprintf(f, "%.10g", json_real_value(v));
    } else {
        char *s = ctl_value_text(v);
        ctl_put_safe(f, s ? s : "?", 0);
        free(s);
    }
}

/* ---- health, ready ------------------------------------------------------------------------ */

struct check_row {
    const char *name, *status, *since, *error;
    char latency[32];
    int critical;
};

static void print_checks(const json_t *checks)
{
    size_t n = json_object_size(checks), i = 0;
    struct check_row *rows = calloc(n ? n : 1, sizeof *rows);
    if (!rows)
        return;
    size_t w[4] = {5, 6, 7, 5}; /* CHECK STATUS LATENCY SINCE */
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)checks, key, v) {
        struct check_row *row = &rows[i++];
        double ms;
        row->name = key;
        row->critical = 1;
        if (json_is_string(v)) { /* the short view: a status only */
            row->status = json_string_value(v);
        } else {
            row->status = ctl_jstr(v, "status");
            row->since = ctl_jstr(v, "since");
            row->error = ctl_jstr(v, "error");
            row->critical = !json_is_false(json_object_get(v, "critical"));
            if (ctl_jnum(v, "latency_ms", &ms) == 0)
                snprintf(row->latency, sizeof row->latency, "%.1f ms", ms);
        }
        if (!row->status)
            row->status = "?";
        if (!row->latency[0])
            snprintf(row->latency, sizeof row->latency, "-");
        size_t sw = ctl_safe_len(row->status) + (row->critical ? 0 : 15);
        const size_t lens[4] = {ctl_safe_len(key), sw, strlen(row->latency),
                                row->since ? ctl_safe_len(row->since) : 1};
        for (int k = 0; k < 4; k++)
            if (lens[k] > w[k])
                w[k] = lens[k];
    }
    printf("%-*s  %-*s  %-*s  %-*s  ERROR\n", (int)w[0], "CHECK", (int)w[1], "STATUS", (int)w[2],
           "LATENCY", (int)w[3], "SINCE");
    for (i = 0; i < n; i++) {
        struct check_row *row = &rows[i];
        char status[300];
        snprintf(status, sizeof status, "%s%s", row->status,
                 row->critical ? "" : " (non-critical)");
        ctl_put_cell(stdout, row->name, w[0]);
        fputs("  ", stdout);
        ctl_put_cell(stdout, status, w[1]);
        printf("  %-*s  ", (int)w[2], row->latency);
        ctl_put_cell(stdout, row->since ? row->since : "-", w[3]);
        fputs("  ", stdout);
        ctl_put_safe(stdout, row->error && row->error[0] ? row->error : "-", 0);
        fputc('\n', stdout);
    }
    free(rows);
}

/* GET /health or /ready: 200 or 503 both carry the checks. Exit 0 when ok or degraded. */
static int health(ctl *c, const char *command, const char *path, int argc, char **argv)
{
    int rc = no_arguments(command, argc, argv);
    if (rc != CTL_OK)
        return rc;
    ctl_reply r;
    if ((rc = ctl_request(c, "GET", path, NULL, 0, CTL_TIMEOUT_S, &r)) != CTL_OK)
        return rc;
    if (r.status != 200 && r.status != 503) {
        rc = ctl_refused(c, "GET", path, &r);
        ctl_reply_free(&r);
        return rc;
    }
    json_t *doc = ctl_json_object("GET", path, &r);
    const char *status = ctl_jstr(doc, "status");
    if (doc && !status)
        fprintf(stderr, "potter ctl: GET %s: the reply has no \"status\"; is it a potter "
                        "control port?\n", path);
    if (!status) {
        json_decref(doc);
        ctl_reply_free(&r);
        return CTL_FAILED;
    }
    int healthy = strcmp(status, "ok") == 0 || strcmp(status, "degraded") == 0;
    if (c->o.json) {
        rc = ctl_print_body(&r);
    } else {
        fputs("status: ", stdout);
        ctl_put_safe(stdout, status, 0);
        fputc('\n', stdout);
        const json_t *checks = json_object_get(doc, "checks");
        if (json_object_size(checks) == 0)
            puts("(no health checks)");
        else
            print_checks(checks);
    }
    json_decref(doc);
    ctl_reply_free(&r);
    return rc != CTL_OK ? rc : healthy ? CTL_OK : CTL_FAILED;
}

int cmd_health(ctl *c, int argc, char **argv)
{
    return health(c, "health", "/health", argc, argv);
}

int cmd_ready(ctl *c, int argc, char **argv)
{
    return health(c, "ready", "/ready", argc, argv);
}

/* ---- metrics, stats ------------------------------------------------------------------------ */

int cmd_metrics(ctl *c, int argc, char **argv)
{
    int rc = no_arguments("metrics", argc, argv);
    ctl_reply r;
    if (rc != CTL_OK || (rc = ctl_call(c, "GET", "/metrics", NULL, 0, &r)) != CTL_OK)
        return rc;
    rc = ctl_print_body(&r);
    ctl_reply_free(&r);
    return rc;
}

/* "name{tag=v,...} value", or for timers and histograms "name{...} count=3 sum=0.5". */
static void print_metric(const json_t *m)
{
    const char *name = ctl_jstr(m, "name");
    if (!name)
        return;
    ctl_put_safe(stdout, name, 0);
    const json_t *tags = json_object_get(m, "tags");
    const char *key;
    json_t *v;
    if (json_object_size(tags) > 0) {
        const char *sep = "{";
        json_object_foreach((json_t *)tags, key, v) {
            fputs(sep, stdout);
            ctl_put_safe(stdout, key, 0);
            fputc('=', stdout);
            put_value(stdout, v);
            sep = ",";
        }
        fputc('}', stdout);
    }
    const json_t *value = json_object_get(m, "value");
    if (value) {
        fputc(' ', stdout);
        put_value(stdout, value);
    } else {
        json_object_foreach((json_t *)m, key, v) {
            if (!strcmp(key, "name") || !strcmp(key, "tags") || !strcmp(key, "type"))
                continue;
            fputc(' ', stdout);
            ctl_put_safe(stdout, key, 0);
            fputc('=', stdout);
            put_value(stdout, v);
        }
    }
    fputc('\n', stdout);
}

int cmd_stats(ctl *c, int argc, char **argv)
{
    json_t *doc;
    int rc = no_arguments("stats", argc, argv);
    if (rc != CTL_OK || (rc = ctl_get_object(c, "/stats", &doc)) != CTL_OK || !doc)
        return rc;
    const json_t *metrics = json_object_get(doc, "metrics");
    if (!json_is_array(metrics)) {
        fputs("potter ctl: GET /stats: the reply has no \"metrics\" list\n", stderr);
        json_decref(doc);
        return CTL_FAILED;
    }
    size_t i;
    json_t *m;
    json_array_foreach(metrics, i, m)
        print_metric(m);
    json_decref(doc);
    return CTL_OK;
}

/* ---- build, memory ------------------------------------------------------------------------- */

static void print_field(const char *label, const json_t *v)
{
    printf("%-10s ", label);
    if (!v || json_is_null(v))
        fputs("(unknown)", stdout);
    else if (json_is_string(v))
        ctl_put_safe(stdout, json_string_value(v), 0);
    else
        put_value(stdout, v);
    fputc('\n', stdout);
}

int cmd_build(ctl *c, int argc, char **argv)
{
    static const char *const known[][2] = {
        {"service", "service:"}, {"version", "version:"},   {"commit", "commit:"},
        {"build_id", "build id:"}, {"potter", "potter:"},   {"compiler", "compiler:"},
        {"pid", "pid:"},         {"started", "started:"},
    };
    json_t *doc;
    int rc = no_arguments("build", argc, argv);
    if (rc != CTL_OK || (rc = ctl_get_object(c, "/build", &doc)) != CTL_OK || !doc)
        return rc;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        print_field(known[i][1], json_object_get(doc, known[i][0]));
    double up;
    if (ctl_jnum(doc, "uptime_s", &up) == 0) {
        char text[64];
        printf("%-10s %s\n", "uptime:", ctl_human_seconds(up, text, sizeof text));
    }
    /* What a later server adds, as it comes. */
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v) {
        int seen = strcmp(key, "uptime_s") == 0;
        for (size_t i = 0; i < sizeof known / sizeof *known && !seen; i++)
            seen = strcmp(key, known[i][0]) == 0;
        if (!seen && ctl_safe_len(key) < 64) {
            char label[80];
            snprintf(label, sizeof label, "%s:", key);
            print_field(label, v);
        }
    }
    json_decref(doc);
    return CTL_OK;
}

/* "in_use_bytes" as "in use". */
static void put_label(const char *key)
{
    char label[64];
    size_t n = strlen(key);
    if (n > 6 && strcmp(key + n - 6, "_bytes") == 0)
        n -= 6;
    if (n >= sizeof label)
        n = sizeof label - 1;
    memcpy(label, key, n);
    label[n] = '\0';
    for (char *p = label; *p; p++)
        if (*p == '_')
            *p = ' ';
    fputs("  ", stdout);
    ctl_put_cell(stdout, label, 12);
}

int cmd_memory(ctl *c, int argc, char **argv)
{
    static const char *const about[][2] = {
        {"malloc", "malloc (the allocator's view: mallinfo2)"},
        {"process", "process (the kernel's view: /proc/self/status)"},
    };
    json_t *doc;
    int rc = no_arguments("memory", argc, argv);
    if (rc != CTL_OK || (rc = ctl_get_object(c, "/debug/memory", &doc)) != CTL_OK || !doc)
        return rc;
    const char *units = ctl_jstr(doc, "units");
    int bytes = !units || strcmp(units, "bytes") == 0;
    const char *part;
    json_t *fields;
    json_object_foreach(doc, part, fields) {
        if (!json_is_object(fields))
            continue;
        const char *title = NULL;
        for (size_t i = 0; i < sizeof about / sizeof *about; i++)
            if (strcmp(part, about[i][0]) == 0)
                title = about[i][1];
        if (title) {
            puts(title);
        } else {
            ctl_put_safe(stdout, part, 0);
            fputc('\n', stdout);
        }
        const char *key;
        json_t *v;
        json_object_foreach(fields, key, v) {
            put_label(key);
            char size[32];
            if (bytes && json_is_number(v) && strcmp(key, "threads") != 0)
                printf("%10s\n", ctl_human_bytes(json_number_value(v), size, sizeof size));
            else if (json_is_integer(v))
                printf("%10lld\n", (long long)json_integer_value(v));
            else {
                put_value(stdout, v);
                fputc('\n', stdout);
            }
        }
    }
    json_decref(doc);
    return CTL_OK;
}

/* ---- endpoints, quit, get, post ------------------------------------------------------------ */

int cmd_endpoints(ctl *c, int argc, char **argv)
{
    json_t *doc;
    int rc = no_arguments("endpoints", argc, argv);
    if (rc != CTL_OK || (rc = ctl_get_object(c, "/", &doc)) != CTL_OK || !doc)
        return rc;
    const json_t *list = json_object_get(doc, "endpoints");
    if (!json_is_array(list)) {
        fputs("potter ctl: GET /: the reply has no \"endpoints\" list\n", stderr);
        json_decref(doc);
        return CTL_FAILED;
    }
    ctl_print_endpoints(stdout, list);
    json_decref(doc);
    return CTL_OK;
}

int cmd_quit(ctl *c, int argc, char **argv)
{
    ctl_reply r;
    int rc = no_arguments("quit", argc, argv);
    if (rc != CTL_OK || (rc = ctl_call(c, "POST", "/quit", NULL, 0, &r)) != CTL_OK)
        return rc;
    if (c->o.json) {
        rc = ctl_print_body(&r);
    } else if (c->t.name[0]) {
        ctl_put_safe(stdout, c->t.name, 0);
        printf(" (pid %ld) is stopping\n", c->t.pid);
    } else {
        printf("the service at %s is stopping\n", c->t.where);
    }
    ctl_reply_free(&r);
    return rc;
}

/* A path as it may go on the request line: "/" and then printable ASCII without spaces. */
static int path_ok(const char *path)
{
    if (path[0] != '/')
        return 0;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || *p == '#')
            return 0;
    return 1;
}

static int raw_request(ctl *c, const char *method, int argc, char **argv, int max_args)
{
    const char *command = strcmp(method, "GET") == 0 ? "get" : "post";
    if (argc < 1)
        return ctl_usage_error("'%s' needs a PATH, such as /health", command);
    if (argc > max_args)
        return ctl_usage_error("'%s' takes at most %d argument%s, got \"%s\"", command, max_args,
                               max_args == 1 ? "" : "s", argv[max_args]);
    if (!path_ok(argv[0]))
        return ctl_usage_error("%s: expected a PATH such as /health (a '/', then no spaces or "
                               "control characters; percent-encode them), got \"%s\"",
                               command, argv[0]);
    const char *body = argc > 1 ? argv[1] : NULL;
    ctl_reply r;
    c->user_path = 1;
    int rc = ctl_call(c, method, argv[0], body, body ? strlen(body) : 0, &r);
    if (rc != CTL_OK)
        return rc;
    rc = ctl_print_body(&r);
    ctl_reply_free(&r);
    return rc;
}

int cmd_get(ctl *c, int argc, char **argv)
{
    return raw_request(c, "GET", argc, argv, 1);
}

int cmd_post(ctl *c, int argc, char **argv)
{
    return raw_request(c, "POST", argc, argv, 2);
}
