/* The logger's keys: declared here, mapped onto pt_log_config, pt_log_add_stderr() and
 * pt_log_add_file() at start, and applied through pt_log_set_level() and
 * pt_log_set_flight_level() when they change at run time. */
#include <errno.h>
#include <string.h>

#include "app/app_internal.h"

/* The enum's values are in level order, so value i is level (i + 1) * 10 (off is 70). */
#define LEVELS "trace|debug|info|warn|error|fatal|off"
#define LEVEL_OF(index) (((index) + 1) * 10)

static const pt_config_key keys[] = {
    {"log.level", PT_CONFIG_ENUM, "info", "records below this level are not logged", LEVELS, 0},
    {"log.stderr", PT_CONFIG_BOOL, "true", "log to standard error", NULL, PT_CONFIG_FIXED},
    {"log.file", PT_CONFIG_STRING, NULL, "log to this file too (its folders are created)", NULL,
     PT_CONFIG_FIXED},
    {"log.file_max_size", PT_CONFIG_SIZE, "0",
     "rotate the file when it would grow past this "
     "(0: never)",
     NULL, PT_CONFIG_FIXED},
    {"log.file_daily", PT_CONFIG_BOOL, "false", "rotate the file when the UTC date changes", NULL,
     PT_CONFIG_FIXED},
    {"log.file_keep", PT_CONFIG_UINT, "7", "rotated files kept", "1..1000", PT_CONFIG_FIXED},
    {"log.file_cache_size", PT_CONFIG_SIZE, "64MiB",
     "written bytes of the file the page cache keeps: older ones are dropped once on disk "
     "(0: all kept)",
     NULL, PT_CONFIG_FIXED},
    {"log.flight_level", PT_CONFIG_ENUM, "debug",
     "records from this level on are kept in the in-memory flight recorder", LEVELS, 0},
    {"log.flight_records", PT_CONFIG_UINT, "1024", "records the flight recorder keeps",
     "1..1000000", PT_CONFIG_FIXED},
    {"log.ring_size", PT_CONFIG_SIZE, "1MiB", "each thread's record ring", "4KiB..1GiB",
     PT_CONFIG_FIXED},
};

int pt__app_log_declare(pt_config *cfg)
{
    return pt_config_declare(cfg, keys, sizeof(keys) / sizeof(keys[0]));
}

static void on_change(void *arg, const pt_config_change *changes, size_t n)
{
    pt__app_log *part = arg;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(changes[i].key, "log.level") == 0)
            pt_log_set_level(part->log, LEVEL_OF(pt_config_enum_get(part->level)));
        else if (strcmp(changes[i].key, "log.flight_level") == 0)
            pt_log_set_flight_level(LEVEL_OF(pt_config_enum_get(part->flight_level)));
    }
}

int pt__app_log_start(pt__app_log *part, pt_config *cfg, const char *name, pt_log **out)
{
    pt_log_config lc = {0};
    int rc;

    memset(part, 0, sizeof(*part));
    part->level = PT_CONFIG_ENUM(cfg, "log.level");
    part->flight_level = PT_CONFIG_ENUM(cfg, "log.flight_level");
    lc.ring_bytes = pt_config_size_get(PT_CONFIG_SIZE(cfg, "log.ring_size"));
    lc.flight_records = (unsigned)pt_config_uint_get(PT_CONFIG_UINT(cfg, "log.flight_records"));
    lc.flight_level = LEVEL_OF(pt_config_enum_get(part->flight_level));
    rc = pt_log_configure(&lc);
    if (rc < 0 && rc != -EBUSY) /* -EBUSY: something logged already; keep what is set */
        return rc;
    if ((rc = pt_log_new(name, &part->log)) < 0)
        return rc;
    const char *file = pt_config_str_get(PT_CONFIG_STR(cfg, "log.file"));
    int to_stderr = pt_config_bool_get(PT_CONFIG_BOOL(cfg, "log.stderr"));
    if (to_stderr && file && *file && pt__sd_stderr_is_journal()) {
        /* Under systemd, stderr is the journal: with a file as well, every record would be
         * kept twice on this machine. Unless log.stderr was asked for, the file is enough. */
        const pt_config_view *v = pt_config_view_begin(cfg);
        const char *origin = pt_config_view_origin(v, "log.stderr");
        part->journal_skipped = origin && strcmp(origin, "default") == 0;
        pt_config_view_end(v);
        to_stderr = !part->journal_skipped;
    }
    if (to_stderr && (rc = pt_log_add_stderr(part->log, NULL, NULL)) < 0)
        goto fail;
    if (file && *file) {
        pt_log_file_options fo = {0};
        fo.max_bytes = pt_config_size_get(PT_CONFIG_SIZE(cfg, "log.file_max_size"));
        fo.daily = pt_config_bool_get(PT_CONFIG_BOOL(cfg, "log.file_daily"));
        fo.keep = (unsigned)pt_config_uint_get(PT_CONFIG_UINT(cfg, "log.file_keep"));
        fo.cache_bytes = pt_config_size_get(PT_CONFIG_SIZE(cfg, "log.file_cache_size"));
        if (fo.cache_bytes == 0)
            fo.cache_bytes = PT_LOG_FILE_CACHE_ALL;
        if ((rc = pt_log_add_file(part->log, file, &fo, NULL)) < 0)
            goto fail;
    }
    pt_log_set_level(part->log, LEVEL_OF(pt_config_enum_get(part->level)));
    if ((rc = pt_config_subscribe(cfg, "log.", on_change, part, &part->sub)) < 0)
        goto fail;
    *out = part->log;
    return 0;
fail:
    pt_log_free(part->log);
    part->log = NULL;
    return rc;
}

void pt__app_log_stop(pt__app_log *part)
{
    pt_config_unsubscribe(part->sub);
    part->sub = NULL;
}
