/* threads, profile cpu|heap, heap start|stop: the profilers' endpoints (docs/prof.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* The slack a CPU profile's request gets past its seconds: symbolizing, gzip, the transfer. */
#define PROFILE_SLACK_S 30

/* An integer option in min..max; -1 after a usage error. */
static long int_option(const char *name, const char *text, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (!text[0] || *end || errno || v < min || v > max) {
        ctl_usage_error("%s: expected a whole number in %ld..%ld, got \"%s\"", name, min, max,
                        text);
        return -1;
    }
    return v;
}

int cmd_threads(ctl *c, int argc, char **argv)
{
    if (argc > 0)
        return ctl_usage_error("'threads' takes no arguments, got \"%s\"", argv[0]);
    const char *path = c->o.json ? "/debug/threads" : "/debug/threads?format=text";
    ctl_reply r;
    int rc = ctl_call(c, "GET", path, NULL, 0, &r);
    if (rc != CTL_OK)
        return rc;
    rc = ctl_print_body(&r);
    ctl_reply_free(&r);
    return rc;
}

/* "<service>.<pid>.<suffix>" (or "<service>.<suffix>" when the pid is unknown) into buf. */
static int default_file(ctl *c, const char *suffix, char *buf, size_t len)
{
    int rc = ctl_identity(c);
    if (rc != CTL_OK)
        return rc;
    if (c->t.pid > 0)
        snprintf(buf, len, "%s.%ld.%s", c->t.name, c->t.pid, suffix);
    else
        snprintf(buf, len, "%s.%s", c->t.name, suffix);
    return CTL_OK;
}

static int is_gzip(const ctl_reply *r)
{
    return r->len >= 2 && (unsigned char)r->body[0] == 0x1f && (unsigned char)r->body[1] == 0x8b;
}

static int is_svg(const ctl_reply *r)
{
    const char *p = r->body;
    while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
        p++;
    return strncmp(p, "<?xml", 5) == 0 || strncmp(p, "<svg", 4) == 0;
}

/* The profile written, and what to do with it, on stdout (stderr when it went to stdout). */
static int save(const char *path, const ctl_reply *r, const char *before, const char *after)
{
    int rc = ctl_write_file(path, r->body, r->len);
    if (rc != CTL_OK || strcmp(path, "-") == 0)
        return rc;
    char size[32];
    printf("wrote %s (%s)\n", path, ctl_human_bytes((double)r->len, size, sizeof size));
    if (before)
        printf("%s%s%s\n", before, path, after);
    return CTL_OK;
}

static int profile_cpu(ctl *c)
{
    const char *format = c->o.format ? c->o.format : "pprof";
    long seconds = 10, hz = 0;
    if (strcmp(format, "pprof") && strcmp(format, "folded") && strcmp(format, "svg"))
        return ctl_usage_error("--format: expected pprof, folded or svg, got \"%s\"", format);
    if (c->o.seconds && (seconds = int_option("--seconds", c->o.seconds, 1, 300)) < 0)
        return CTL_USAGE;
    if (c->o.hz && (hz = int_option("--hz", c->o.hz, 1, 1000)) < 0)
        return CTL_USAGE;
    char file[600] = "-", query[64];
    int rc = ctl_resolve(c);
    if (rc != CTL_OK)
        return rc;
    if (c->o.output)
        snprintf(file, sizeof file, "%s", c->o.output);
    else if (strcmp(format, "folded") != 0 &&
             (rc = default_file(c, strcmp(format, "svg") == 0 ? "flame.svg" : "cpu.pb.gz", file,
                                sizeof file)) != CTL_OK)
        return rc;
    if (hz)
        snprintf(query, sizeof query, "?seconds=%ld&hz=%ld", seconds, hz);
    else
        snprintf(query, sizeof query, "?seconds=%ld", seconds);
    char path[128];
    snprintf(path, sizeof path, "%s%s%s",
             strcmp(format, "svg") == 0 ? "/debug/flame.svg" : "/debug/pprof/profile", query,
             strcmp(format, "folded") == 0 ? "&format=folded" : "");
    fprintf(stderr, "potter ctl: profiling ");
    if (c->t.name[0]) {
        ctl_put_safe(stderr, c->t.name, 0);
        fprintf(stderr, " (pid %ld)", c->t.pid);
    } else {
        fputs(c->t.where, stderr);
    }
    fprintf(stderr, " for %ld s...\n", seconds);
    ctl_reply r;
    if ((rc = ctl_request(c, "GET", path, NULL, 0, seconds + PROFILE_SLACK_S, &r)) != CTL_OK)
        return rc;
    if (r.status < 200 || r.status > 299) {
        rc = ctl_refused(c, "GET", path, &r);
    } else if (strcmp(format, "pprof") == 0 && !is_gzip(&r)) {
        fprintf(stderr, "potter ctl: GET %s: the reply is not a gzip'd pprof profile\n", path);
        rc = CTL_FAILED;
    } else if (strcmp(format, "svg") == 0 && !is_svg(&r)) {
        fprintf(stderr, "potter ctl: GET %s: the reply is not an SVG image\n", path);
        rc = CTL_FAILED;
    } else if (strcmp(format, "pprof") == 0) {
        rc = save(file, &r, "see it with: go tool pprof -top ", "");
    } else if (strcmp(format, "svg") == 0) {
        rc = save(file, &r, "open ", " in a web browser");
    } else {
        rc = save(file, &r, NULL, NULL);
    }
    ctl_reply_free(&r);
    return rc;
}

static int profile_heap(ctl *c)
{
    char file[600];
    int rc = ctl_resolve(c);
    if (rc != CTL_OK)
        return rc;
    if (c->o.output)
        snprintf(file, sizeof file, "%s", c->o.output);
    else if ((rc = default_file(c, "heap.pb.gz", file, sizeof file)) != CTL_OK)
        return rc;
    ctl_reply r;
    if ((rc = ctl_call(c, "GET", "/debug/pprof/heap", NULL, 0, &r)) != CTL_OK)
        return rc;
    if (!is_gzip(&r)) {
        fputs("potter ctl: GET /debug/pprof/heap: the reply is not a gzip'd pprof profile\n",
              stderr);
        rc = CTL_FAILED;
    } else {
        rc = save(file, &r, "see it with: go tool pprof -top ", "");
    }
    ctl_reply_free(&r);
    return rc;
}

int cmd_profile(ctl *c, int argc, char **argv)
{
    int rc;
    if (argc == 0 || (strcmp(argv[0], "cpu") != 0 && strcmp(argv[0], "heap") != 0))
        return ctl_usage_error("profile: expected 'cpu' or 'heap'%s%s%s", argc ? ", got \"" : "",
                               argc ? argv[0] : "", argc ? "\"" : "");
    if (argc > 1)
        return ctl_usage_error("'profile %s' takes no arguments, got \"%s\"", argv[0], argv[1]);
    if (strcmp(argv[0], "heap") == 0) {
        if ((rc = ctl_only_options(c, OPT_OUTPUT, "profile heap")) != CTL_OK)
            return rc;
        return profile_heap(c);
    }
    return profile_cpu(c);
}

int cmd_heap(ctl *c, int argc, char **argv)
{
    if (argc == 0 || (strcmp(argv[0], "start") != 0 && strcmp(argv[0], "stop") != 0))
        return ctl_usage_error("heap: expected 'start' or 'stop'%s%s%s", argc ? ", got \"" : "",
                               argc ? argv[0] : "", argc ? "\"" : "");
    if (argc > 1)
        return ctl_usage_error("'heap %s' takes no arguments, got \"%s\"", argv[0], argv[1]);
    int start = strcmp(argv[0], "start") == 0, rc;
    if (!start && (rc = ctl_only_options(c, 0, "heap stop")) != CTL_OK)
        return rc;
    char path[64] = "/debug/heap/stop";
    if (start) {
        long rate = 0;
        if (c->o.rate && (rate = int_option("--rate", c->o.rate, 1, 1L << 30)) < 0)
            return CTL_USAGE;
        if (rate)
            snprintf(path, sizeof path, "/debug/heap/start?rate=%ld", rate);
        else
            snprintf(path, sizeof path, "/debug/heap/start");
    }
    ctl_reply r;
    if ((rc = ctl_call(c, "POST", path, NULL, 0, &r)) != CTL_OK)
        return rc;
    if (c->o.json)
        rc = ctl_print_body(&r);
    else if (start)
        printf("heap profiling started%s%s%s; 'potter ctl profile heap' takes a profile\n",
               c->o.rate ? " (a sample every " : "", c->o.rate ? c->o.rate : "",
               c->o.rate ? " bytes)" : "");
    else
        puts("heap profiling stopped");
    ctl_reply_free(&r);
    return rc;
}
