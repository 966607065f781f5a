/* The control port's keys (ctl.*): declared here, mapped onto pt_ctl_options when the app
 * makes its control port (pt_app_ctl()). Read once, at start: all are fixed. */
#include <string.h>

#include "app/app_internal.h"

#define F PT_CONFIG_FIXED

static const pt_config_key keys[] = {
    {"ctl.enabled", PT_CONFIG_BOOL, "true", "serve the control port (docs/ctl.md)", NULL, F},
    {"ctl.host", PT_CONFIG_STRING, "127.0.0.1",
     "control port address (empty: no TCP, the unix socket only); a non-loopback one is "
     "warned about", NULL, F},
    {"ctl.port", PT_CONFIG_UINT, "0",
     "control port (0: any free port; the discovery file and the start-up log name it)",
     "0..65535", F},
    {"ctl.socket", PT_CONFIG_STRING, "auto",
     "control unix socket (mode 0600): auto: <runtime dir>/<name>.<pid>.sock; empty: none",
     NULL, F},
    {"ctl.runtime_dir", PT_CONFIG_STRING, "",
     "folder of the discovery file and socket (empty: $POTTER_RUNTIME_DIR, "
     "$XDG_RUNTIME_DIR/potter, /run/potter for root, /tmp/potter-<uid>)", NULL, F},
    {"ctl.token", PT_CONFIG_STRING, "",
     "when set, every control request needs `Authorization: Bearer <token>`", NULL,
     F | PT_CONFIG_SECRET},
    {"ctl.rate", PT_CONFIG_UINT, "50", "control requests per second (bursts of twice that)",
     "1..100000", F},
    {"ctl.max_body_size", PT_CONFIG_SIZE, "64KiB", "largest control request body",
     "1KiB..16MiB", F},
};

int pt__app_ctl_declare(pt_config *cfg)
{
    return pt_config_declare(cfg, keys, sizeof(keys) / sizeof(keys[0]));
}

static const char *str_key(pt_config *cfg, const char *key)
{
    const char *s = pt_config_str_get(PT_CONFIG_STR(cfg, key));
    return s ? s : "";
}

int pt__app_ctl_new(pt_app *app, pt_ctl **out)
{
    pt_config *cfg = app->cfg;
    const char *sock = str_key(cfg, "ctl.socket"), *dir = str_key(cfg, "ctl.runtime_dir");
    pt_ctl_options o = {
        .name = app->name,
        .version = pt_config_version(cfg),
        .commit = app->commit,
        .host = str_key(cfg, "ctl.host"),
        .port = (int)pt_config_uint_get(PT_CONFIG_UINT(cfg, "ctl.port")),
        .socket = strcmp(sock, "auto") == 0 ? NULL : sock,
        .runtime_dir = dir[0] ? dir : NULL,
        .token = str_key(cfg, "ctl.token"),
        .rate = (unsigned)pt_config_uint_get(PT_CONFIG_UINT(cfg, "ctl.rate")),
        .max_body = pt_config_size_get(PT_CONFIG_SIZE(cfg, "ctl.max_body_size")),
        .config = cfg,
        .log = app->log,
        .stats = app->stats,
        .health = pt_app_health(app),
        .quit = (void (*)(void *))pt_app_stop,
        .quit_arg = app,
    };
    return pt_ctl_new(&o, out);
}

int pt__app_ctl_enabled(pt_app *app)
{
    return pt_config_bool_get(PT_CONFIG_BOOL(app->cfg, "ctl.enabled"));
}
