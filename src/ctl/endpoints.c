/* The control port's built-in endpoints (docs/ctl.md lists them with examples). They run on
 * pt-ops; none of them blocks. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/json.h"
#include "config/units.h"
#include "core/clock_internal.h"
#include "core/number_internal.h"
#include "ctl/ctl_internal.h"
#include "potter/version.h"

#define PUT(b, lit) pt__buf_put((b), "" lit "", sizeof(lit) - 1)

static void put_num(struct pt__buf *b, const char *fmt, double v)
{
    char tmp[64];
    int n = snprintf(tmp, sizeof tmp, fmt, v);
    pt__buf_put(b, tmp, (size_t)n);
}

static void put_int(struct pt__buf *b, long long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", v);
    pt__buf_put(b, tmp, (size_t)n);
}

/* A malloc'd text answered as is (NULL: out of memory). */
static void reply_owned(pt_ctl_req *req, int status, const char *type, char *text)
{
    if (!text) {
        pt_ctl_reply_error(req, 500, "out of memory");
        return;
    }
    pt_ctl_reply(req, status, type, text, strlen(text));
    free(text);
}

/* GET / */
static void ep_index(pt_ctl_req *req, void *arg)
{
    (void)arg;
    pt_ctl *ctl = req->ctl;
    struct pt__buf b = {0};
    PUT(&b, "{\"service\":");
    pt__ctl_json_str(&b, ctl->opts.name);
    PUT(&b, ",\"endpoints\":");
    pt__ctl_put_endpoints(ctl, &b);
    PUT(&b, "}\n");
    pt__ctl_reply_buf(req, 200, &b);
}

/* GET /health, GET /ready: every check with its latency, last error and since when. */
static void health(pt_ctl_req *req, unsigned view)
{
    char *json = NULL;
    int status = 500;
    int err = pt_health_json(req->ctl->opts.health, view | PT_HEALTH_VIEW_DETAILED, &json,
                             &status);
    if (err < 0) {
        pt_ctl_reply_error(req, 500, "health: %s", pt_strerror(err));
        return;
    }
    reply_owned(req, status, NULL, json);
}

static void ep_health(pt_ctl_req *req, void *arg)
{
    (void)arg;
    health(req, 0);
}

static void ep_ready(pt_ctl_req *req, void *arg)
{
    (void)arg;
    health(req, PT_HEALTH_VIEW_READY);
}

/* GET /metrics (Prometheus text), GET /stats (JSON) */
static void ep_metrics(pt_ctl_req *req, void *arg)
{
    (void)arg;
    reply_owned(req, 200, "text/plain; version=0.0.4; charset=utf-8",
                pt_stats_prometheus(req->ctl->opts.stats));
}

static void ep_stats(pt_ctl_req *req, void *arg)
{
    (void)arg;
    reply_owned(req, 200, NULL, pt_stats_json(req->ctl->opts.stats));
}

/* GET /build */
static void ep_build(pt_ctl_req *req, void *arg)
{
    (void)arg;
    pt_ctl *ctl = req->ctl;
    struct pt__buf b = {0};
    char time[32];
    PUT(&b, "{\"service\":");
    pt__ctl_json_str(&b, ctl->opts.name);
    PUT(&b, ",\"version\":");
    pt__ctl_json_str(&b, ctl->opts.version);
    PUT(&b, ",\"commit\":");
    pt__ctl_json_str(&b, ctl->opts.commit);
    PUT(&b, ",\"build_id\":");
    const char *id = pt_build_id();
    pt__ctl_json_str(&b, id && id[0] ? id : NULL);
    char potter[32];
    snprintf(potter, sizeof potter, "%d.%d.%d", PT_VERSION_MAJOR, PT_VERSION_MINOR,
             PT_VERSION_PATCH);
    PUT(&b, ",\"potter\":");
    pt__ctl_json_str(&b, potter);
    PUT(&b, ",\"compiler\":");
    pt__ctl_json_str(&b, __VERSION__);
    PUT(&b, ",\"pid\":");
    put_int(&b, (long long)getpid());
    pt__fmt_utc_ms(time, ctl->start_wall_ns, 0);
    PUT(&b, ",\"started\":");
    pt__ctl_json_str(&b, time);
    PUT(&b, ",\"uptime_s\":");
    put_num(&b, "%.3f", (double)(pt_clock_mono_ns() - ctl->start_mono_ns) / 1e9);
    PUT(&b, "}\n");
    pt__ctl_reply_buf(req, 200, &b);
}

/* GET /config: every key with its value and origin. GET /config/:key: one key explained. */
static void ep_config(pt_ctl_req *req, void *arg)
{
    (void)arg;
    reply_owned(req, 200, NULL, pt_config_dump(req->ctl->opts.config));
}

static void ep_config_key(pt_ctl_req *req, void *arg)
{
    (void)arg;
    char key[256];
    if (!pt_ctl_req_param(req, "key", key, sizeof key)) {
        pt_ctl_reply_error(req, 400, "config: the key's name is longer than 255 bytes");
        return;
    }
    char *json = pt_config_explain(req->ctl->opts.config, key);
    if (!json) {
        pt_ctl_reply_error(req, 404, "config: no key \"%s\" is declared (GET /config lists "
                                     "them)", key);
        return;
    }
    size_t n = strlen(json);
    pt_ctl_reply(req, 200, NULL, json, n);
    free(json);
}

/* ?ttl=10m (a duration, as config files write them); 0 when absent. Returns -EINVAL after
 * answering 400. */
static int ttl_of(pt_ctl_req *req, uint64_t *ms)
{
    char text[64], why[256];
    int64_t ns = 0;
    *ms = 0;
    if (!pt_ctl_req_param(req, "ttl", text, sizeof text))
        return 0;
    if (pt__cfg_parse_duration(text, &ns, why, sizeof why) < 0 || ns <= 0) {
        pt_ctl_reply_error(req, 400, "ttl: %s", ns <= 0 && !why[0] ? "must be positive" : why);
        return -EINVAL;
    }
    *ms = (uint64_t)(ns / 1000000);
    if (*ms == 0)
        *ms = 1;
    return 0;
}

/* POST /config?ttl=10m with a JSON object of keys: {"log.level":"debug"} (null removes a
 * key's override). Validated whole: one bad key refuses all, and the answer lists why. */
static void ep_config_set(pt_ctl_req *req, void *arg)
{
    (void)arg;
    pt_config *cfg = req->ctl->opts.config;
    uint64_t ttl_ms;
    if (ttl_of(req, &ttl_ms) < 0)
        return;
    size_t n;
    const char *body = pt_ctl_req_body(req, &n);
    if (!body) {
        pt_ctl_reply_error(req, 400, "config: the body must be a JSON object of keys and "
                                     "values, e.g. {\"log.level\":\"debug\"}");
        return;
    }
    int err = pt_config_override(cfg, body, n, ttl_ms, "control port");
    if (err == -EINVAL) {
        pt_ctl_reply_error(req, 400, "%s", pt_config_error(cfg));
        return;
    }
    if (err < 0) {
        pt_ctl_reply_error(req, 500, "config: %s", pt_strerror(err));
        return;
    }
    PT_INFO(req->ctl->log, "control port: configuration overridden",
            PT_STRN("keys", body, n > 512 ? 512 : n), PT_UINT("ttl_ms", ttl_ms));
    static const char ok[] = "{\"ok\":true}\n";
    pt_ctl_reply(req, 200, NULL, ok, sizeof ok - 1);
}

/* GET /log/level: the root loggers and their levels. */
static void ep_log_level(pt_ctl_req *req, void *arg)
{
    (void)arg;
    pt_log_level_info levels[64];
    size_t n = pt_log_levels(levels, 64);
    struct pt__buf b = {0};
    PUT(&b, "{\"loggers\":[");
    for (size_t i = 0; i < n && i < 64; i++) {
        if (i)
            PUT(&b, ",");
        PUT(&b, "{\"name\":");
        pt__ctl_json_str(&b, levels[i].name);
        PUT(&b, ",\"level\":");
        pt__ctl_json_str(&b, pt_log_level_name(levels[i].level));
        PUT(&b, "}");
    }
    PUT(&b, "]}\n");
    pt__ctl_reply_buf(req, 200, &b);
}

/* POST /log/level {"level":"debug"[,"logger":"db"]}[?ttl=10m]. Without a logger it is the
 * service's log.level key (an override, so /config shows where it came from, and the TTL
 * works); a named logger is set directly. */
static void ep_log_level_set(pt_ctl_req *req, void *arg)
{
    (void)arg;
    pt_ctl *ctl = req->ctl;
    size_t n;
    const char *body = pt_ctl_req_body(req, &n);
    pt__cjson_doc *doc = NULL;
    pt__cjson_error jerr;
    if (!body || pt__cjson_parse(body, n, &doc, &jerr) < 0) {
        pt_ctl_reply_error(req, 400, "log level: the body must be {\"level\":\"debug\"} "
                                     "(optionally with \"logger\":\"name\")");
        pt__cjson_free(doc);
        return;
    }
    const pt__cjson *root = pt__cjson_root(doc);
    const pt__cjson *lv = pt__cjson_get(root, "level"), *lg = pt__cjson_get(root, "logger");
    int level;
    if (!lv || lv->type != PT__CJSON_STRING || pt_log_level_parse(lv->u.str.p, &level) < 0 ||
        (lg && lg->type != PT__CJSON_STRING)) {
        pt_ctl_reply_error(req, 400, "log level: \"level\" must be one of trace, debug, info, "
                                     "warn, error, fatal; \"logger\" a logger's name");
        pt__cjson_free(doc);
        return;
    }
    uint64_t ttl_ms;
    if (ttl_of(req, &ttl_ms) < 0) {
        pt__cjson_free(doc);
        return;
    }
    int err;
    if (lg) {
        err = pt_log_set_level_named(lg->u.str.p, level);
        if (err == -ENOENT)
            pt_ctl_reply_error(req, 404, "log level: no logger \"%s\" (GET /log/level lists "
                                         "them)", lg->u.str.p);
    } else if (ctl->opts.config) {
        char set[64];
        snprintf(set, sizeof set, "{\"log.level\":\"%s\"}", pt_log_level_name(level));
        err = pt_config_override(ctl->opts.config, set, strlen(set), ttl_ms, "control port");
        if (err < 0)
            pt_ctl_reply_error(req, 400, "%s", pt_config_error(ctl->opts.config));
    } else {
        err = pt_log_set_level(ctl->log, level);
    }
    if (err == 0) {
        PT_INFO(ctl->log, "control port: log level set", PT_STR("new_level", pt_log_level_name(level)),
                PT_STR("logger", lg ? lg->u.str.p : NULL), PT_UINT("ttl_ms", ttl_ms));
        static const char ok[] = "{\"ok\":true}\n";
        pt_ctl_reply(req, 200, NULL, ok, sizeof ok - 1);
    } else if (err != -ENOENT && err != -EINVAL) {
        pt_ctl_reply_error(req, 500, "log level: %s", pt_strerror(err));
    }
    pt__cjson_free(doc);
}

/* POST /log/reopen: what logrotate's postrotate runs. */
static void ep_log_reopen(pt_ctl_req *req, void *arg)
{
    (void)arg;
    int err = pt_log_reopen(NULL);
    if (err < 0) {
        pt_ctl_reply_error(req, 500, "log reopen: %s", pt_strerror(err));
        return;
    }
    static const char ok[] = "{\"ok\":true}\n";
    pt_ctl_reply(req, 200, NULL, ok, sizeof ok - 1);
}

/* POST /quit: a graceful shutdown, as SIGTERM. */
static void ep_quit(pt_ctl_req *req, void *arg)
{
    (void)arg;
    PT_WARN(req->ctl->log, "control port: quit asked; shutting down");
    static const char ok[] = "{\"ok\":true,\"stopping\":true}\n";
    req->ctl->opts.quit(req->ctl->opts.quit_arg); /* before the answer: it tells it was done */
    pt_ctl_reply(req, 202, NULL, ok, sizeof ok - 1);
}

/* GET /debug/memory: the allocator's view (mallinfo2) and the kernel's (/proc/self/status). */
static void ep_memory(pt_ctl_req *req, void *arg)
{
    (void)arg;
    struct mallinfo2 mi = mallinfo2();
    struct pt__buf b = {0};
    PUT(&b, "{\"malloc\":{\"arena_bytes\":");
    put_int(&b, (long long)mi.arena);
    PUT(&b, ",\"mmap_bytes\":");
    put_int(&b, (long long)mi.hblkhd);
    PUT(&b, ",\"in_use_bytes\":");
    put_int(&b, (long long)mi.uordblks);
    PUT(&b, ",\"free_bytes\":");
    put_int(&b, (long long)mi.fordblks);
    PUT(&b, ",\"releasable_bytes\":");
    put_int(&b, (long long)mi.keepcost);
    PUT(&b, "},\"process\":{");
    FILE *f = fopen("/proc/self/status", "re");
    static const char *const keys[] = {"VmPeak", "VmSize", "VmHWM", "VmRSS", "RssAnon",
                                       "RssFile", "VmData", "VmStk", "VmSwap", "Threads"};
    char line[256];
    const char *sep = "";
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
            if (strcmp(line, keys[i]) != 0)
                continue;
            long long v = strtoll(colon + 1, NULL, 10);
            int kb = strstr(colon + 1, "kB") != NULL;
            pt__buf_put(&b, sep, strlen(sep));
            pt__ctl_json_str(&b, i == sizeof keys / sizeof *keys - 1 ? "threads" : keys[i]);
            PUT(&b, ":");
            put_int(&b, kb ? v * 1024 : v);
            sep = ",";
        }
    }
    if (f)
        fclose(f);
    PUT(&b, "},\"units\":\"bytes\"}\n");
    pt__ctl_reply_buf(req, 200, &b);
}

int pt__ctl_add_builtins(pt_ctl *ctl)
{
    const pt_ctl_options *o = &ctl->opts;
    struct {
        const char *method, *path;
        pt_ctl_fn fn;
        int on;
        const char *about;
    } eps[] = {
        {"GET", "/", ep_index, 1, "this list"},
        {"GET", "/health", ep_health, o->health != NULL,
         "health with each check's latency, last error and since when"},
        {"GET", "/ready", ep_ready, o->health != NULL, "readiness (fails while draining)"},
        {"GET", "/metrics", ep_metrics, o->stats != NULL, "metrics, Prometheus text"},
        {"GET", "/stats", ep_stats, o->stats != NULL, "metrics, a JSON snapshot"},
        {"GET", "/build", ep_build, 1, "version, git commit, build id, compiler, uptime"},
        {"GET", "/config", ep_config, o->config != NULL, "the effective config with origins"},
        {"GET", "/config/:key", ep_config_key, o->config != NULL, "one key explained"},
        {"POST", "/config", ep_config_set, o->config != NULL,
         "runtime overrides: a JSON object of keys; ?ttl=10m reverts them after that"},
        {"GET", "/log/level", ep_log_level, 1, "the loggers' levels"},
        {"POST", "/log/level", ep_log_level_set, 1,
         "{\"level\":\"debug\"[,\"logger\":\"name\"]}; ?ttl=10m"},
        {"POST", "/log/reopen", ep_log_reopen, 1, "reopen the log files (after logrotate)"},
        {"GET", "/debug/memory", ep_memory, 1, "malloc and /proc/self/status summary"},
        {"POST", "/quit", ep_quit, o->quit != NULL, "graceful shutdown"},
    };
    for (size_t i = 0; i < sizeof eps / sizeof *eps; i++) {
        if (!eps[i].on)
            continue;
        int err = pt_ctl_handle(ctl, eps[i].method, eps[i].path, eps[i].fn, NULL, eps[i].about);
        if (err < 0)
            return err;
    }
    return pt__ctl_add_debug(ctl);
}
