/* potter-ctl: `potter ctl`, the client of a running service's control port (docs/ctl.md).
 *
 *     potter ctl health                        # the only service running here
 *     potter ctl --name hello config set log.level=debug --ttl 10m
 *     potter ctl --pid 4242 profile cpu --seconds 30
 *
 * This file reads the command line and hands the words after the command's name to its
 * function (cmd_*.c). Options may come before or after the command; `--` ends them. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "ctl.h"

#define USAGE_LINE                                                                         \
    "usage: potter ctl [--port P [--host H] | --socket PATH | --pid PID | --name SERVICE]\n" \
    "                  [--runtime-dir DIR] [--token T] [--json] COMMAND [ARGS...]\n"

static const char usage_text[] =
    USAGE_LINE
    "\n"
    "Talks to a running service's control port (docs/ctl.md).\n"
    "\n"
    "Finding the service:\n"
    "  --port P          127.0.0.1:P (or --host H)\n"
    "  --socket PATH     the unix socket PATH\n"
    "  --pid PID         the service whose discovery file is <name>.PID.json\n"
    "  --name SERVICE    the running service called SERVICE\n"
    "  (none)            the only service running; several: they are listed (exit 2)\n"
    "  --runtime-dir DIR where discovery files are (default: $POTTER_RUNTIME_DIR, else\n"
    "                    $XDG_RUNTIME_DIR/potter, else /run/potter for root, else\n"
    "                    /tmp/potter-<uid>)\n"
    "  --token T         the service's ctl.token (default: $POTTER_CTL_TOKEN)\n"
    "  --json            print the service's JSON as it came, not a table\n"
    "\n"
    "Commands:\n"
    "  health                       every check: status, latency, since, error (exit 1: failing)\n"
    "  ready                        the same for readiness (exit 1: not ready, or draining)\n"
    "  metrics                      every metric, Prometheus text\n"
    "  stats                        every metric, \"name{tags} value\"\n"
    "  build                        version, commit, build id, compiler, pid, uptime\n"
    "  memory                       malloc's and the kernel's view of the memory\n"
    "  config                       every key: key = value (origin)\n"
    "  config get KEY               one key's value and origin\n"
    "  config explain KEY           type, value, origin, default, range, doc, runtime\n"
    "  config set KEY=VALUE... [--ttl 10m]\n"
    "                               runtime overrides; VALUE is JSON when it parses, else a\n"
    "                               string; with --ttl they revert after that long\n"
    "  config unset KEY...          drop runtime overrides\n"
    "  log level                    the loggers' levels\n"
    "  log level LEVEL [--logger NAME] [--ttl 10m]\n"
    "                               set the service's level (or a named logger's)\n"
    "  log reopen                   reopen the log files (after logrotate)\n"
    "  threads                      every thread's stack, like jstack\n"
    "  profile cpu [--seconds N] [--hz H] [--format pprof|folded|svg] [-o FILE]\n"
    "                               a CPU profile (default 10 s, at most 300): pprof writes\n"
    "                               <service>.<pid>.cpu.pb.gz, folded prints to stdout,\n"
    "                               svg writes <service>.<pid>.flame.svg; -o - is stdout\n"
    "  profile heap [-o FILE]       the heap profile (<service>.<pid>.heap.pb.gz)\n"
    "  heap start [--rate BYTES]    start heap profiling (a sample every BYTES on average)\n"
    "  heap stop                    stop it\n"
    "  quit                         a graceful shutdown, as SIGTERM\n"
    "  endpoints                    the control port's endpoints\n"
    "  get PATH                     GET any endpoint, printed as it came\n"
    "  post PATH [BODY]             POST to any endpoint\n"
    "  help                         this page\n"
    "\n"
    "Exit status: 0 done; 1 the service refused or answered something unexpected, or (health,\n"
    "ready) is failing; 2 bad usage, or several services match; 3 no such service, or it\n"
    "cannot be reached.\n";

int ctl_usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("potter ctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n" USAGE_LINE "See 'potter ctl --help'.\n", stderr);
    return CTL_USAGE;
}

static const struct {
    unsigned bit;
    const char *name;
} command_options[] = {
    {OPT_TTL, "--ttl"},         {OPT_LOGGER, "--logger"}, {OPT_SECONDS, "--seconds"},
    {OPT_HZ, "--hz"},           {OPT_FORMAT, "--format"}, {OPT_OUTPUT, "-o"},
    {OPT_RATE, "--rate"},
};

int ctl_only_options(const ctl *c, unsigned allowed, const char *command)
{
    for (size_t i = 0; i < sizeof command_options / sizeof *command_options; i++)
        if ((c->o.given & command_options[i].bit) && !(allowed & command_options[i].bit))
            return ctl_usage_error("%s does not apply to '%s'", command_options[i].name,
                                   command);
    return CTL_OK;
}

static int describe(void)
{
    json_t *d = json_pack("{s:s, s:s, s:s}", "name", "ctl", "summary",
                          "Talk to a running service's control port: health, config, log "
                          "levels, profiles, quit",
                          "usage", usage_text);
    char *s = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    if (!s) {
        fputs("potter ctl: out of memory\n", stderr);
        return CTL_FAILED;
    }
    puts(s);
    free(s);
    return CTL_OK;
}

/* The options, each with where its value goes (value == NULL: a flag). */
struct option_def {
    const char *name;
    const char **value;
    unsigned bit;
};

static int parse(ctl *c, int argc, char **argv, char **words, int *nwords, int *help)
{
    ctl_opts *o = &c->o;
    const struct option_def defs[] = {
        {"--port", &o->port, 0},         {"--socket", &o->socket, 0},
        {"--pid", &o->pid, 0},           {"--name", &o->name, 0},
        {"--host", &o->host, 0},         {"--token", &o->token, 0},
        {"--runtime-dir", &o->runtime_dir, 0},
        {"--ttl", &o->ttl, OPT_TTL},     {"--logger", &o->logger, OPT_LOGGER},
        {"--seconds", &o->seconds, OPT_SECONDS}, {"--hz", &o->hz, OPT_HZ},
        {"--format", &o->format, OPT_FORMAT},    {"-o", &o->output, OPT_OUTPUT},
        {"--output", &o->output, OPT_OUTPUT},    {"--rate", &o->rate, OPT_RATE},
    };
    int options_done = 0;
    *nwords = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (options_done || a[0] != '-' || strcmp(a, "-") == 0) {
            words[(*nwords)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options_done = 1;
            continue;
        }
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help = 1;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
        const struct option_def *d = NULL;
        for (size_t k = 0; k < sizeof defs / sizeof *defs && !d; k++)
            if (strlen(defs[k].name) == n && strncmp(a, defs[k].name, n) == 0)
                d = &defs[k];
        if (!d)
            return ctl_usage_error("unknown option %.*s", (int)n, a);
        if (eq) {
            *d->value = eq + 1;
        } else if (i + 1 < argc) {
            *d->value = argv[++i];
        } else {
            return ctl_usage_error("%s needs a value", d->name);
        }
        o->given |= d->bit;
    }
    return CTL_OK;
}

typedef int (*command_fn)(ctl *c, int argc, char **argv);

static const struct {
    const char *name;
    command_fn fn;
    unsigned options; /* the command options it takes (its subcommands check further) */
} commands[] = {
    {"health", cmd_health, 0},
    {"ready", cmd_ready, 0},
    {"metrics", cmd_metrics, 0},
    {"stats", cmd_stats, 0},
    {"build", cmd_build, 0},
    {"memory", cmd_memory, 0},
    {"config", cmd_config, OPT_TTL},
    {"log", cmd_log, OPT_TTL | OPT_LOGGER},
    {"threads", cmd_threads, 0},
    {"profile", cmd_profile, OPT_SECONDS | OPT_HZ | OPT_FORMAT | OPT_OUTPUT},
    {"heap", cmd_heap, OPT_RATE},
    {"quit", cmd_quit, 0},
    {"endpoints", cmd_endpoints, 0},
    {"get", cmd_get, 0},
    {"post", cmd_post, 0},
};

/* Where the service is, given one way only. */
static int check_target_options(const ctl_opts *o)
{
    int ways = (o->port != NULL) + (o->socket != NULL) + (o->pid || o->name);
    if (ways > 1)
        return ctl_usage_error("give one of --port, --socket, or --pid/--name");
    if (o->host && !o->port)
        return ctl_usage_error("--host goes with --port");
    if (o->runtime_dir && (o->port || o->socket))
        return ctl_usage_error("--runtime-dir goes with --pid, --name or neither, not with "
                               "--port or --socket");
    return CTL_OK;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--describe") == 0)
        return describe();
    ctl c = {0};
    char **words = calloc((size_t)argc + 1, sizeof *words);
    if (!words) {
        fputs("potter ctl: out of memory\n", stderr);
        return CTL_FAILED;
    }
    int nwords = 0, help = 0;
    int rc = parse(&c, argc, argv, words, &nwords, &help);
    if (rc == CTL_OK && (help || (nwords > 0 && strcmp(words[0], "help") == 0))) {
        fputs(usage_text, stdout);
        free(words);
        return CTL_OK;
    }
    if (rc == CTL_OK && nwords == 0)
        rc = ctl_usage_error("no command given");
    if (rc == CTL_OK)
        rc = check_target_options(&c.o);
    if (rc != CTL_OK) {
        free(words);
        return rc;
    }
    c.token = c.o.token ? c.o.token : getenv("POTTER_CTL_TOKEN");
    if (c.token && !c.token[0])
        c.token = NULL;
    if (c.token && strpbrk(c.token, "\r\n")) {
        free(words);
        return ctl_usage_error("the token (--token or $POTTER_CTL_TOKEN) holds a line break");
    }
    command_fn fn = NULL;
    unsigned allowed = 0;
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(words[0], commands[i].name) == 0) {
            fn = commands[i].fn;
            allowed = commands[i].options;
        }
    if (!fn) {
        rc = ctl_usage_error("'%s' is not a command (health, ready, metrics, stats, build, "
                             "memory, config, log, threads, profile, heap, quit, endpoints, "
                             "get, post)", words[0]);
    } else if ((rc = ctl_only_options(&c, allowed, words[0])) == CTL_OK) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            fputs("potter ctl: libcurl did not start\n", stderr);
            rc = CTL_FAILED;
        } else {
            rc = fn(&c, nwords - 1, words + 1);
            ctl_http_cleanup(&c);
            curl_global_cleanup();
        }
    }
    free(words);
    if (fflush(stdout) != 0 && rc == CTL_OK) {
        perror("potter ctl: writing the output");
        rc = CTL_FAILED;
    }
    return rc;
}
