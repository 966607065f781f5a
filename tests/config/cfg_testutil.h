/* Helpers of the configuration tests (test_config_layers.c, test_config_errors.c,
 * test_config_reload.c): a temporary folder per test with the config folder and a datacenter
 * file in it, captured output, reports and subscriber calls recorded with a deadline, and
 * running a call in a forked child that must abort. */
#ifndef PT_CFG_TESTUTIL_H
#define PT_CFG_TESTUTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "potter/config.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* What a subscriber was told: the changes of each call, copied. */
typedef struct cfgt_change {
    char *key, *old_value, *new_value, *origin;
} cfgt_change;

typedef struct cfgt_call {
    size_t n;
    cfgt_change *c;
} cfgt_call;

typedef struct cfgt_watch {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    cfgt_call *calls;
    size_t ncalls, cap;
    pt_config_sub *sub; /* for the callback that unsubscribes itself */
    int unsubscribe_after; /* > 0: unsubscribe inside the call with this number (1-based) */
} cfgt_watch;

typedef struct cfgt {
    struct cfgt *next; /* every live fixture, for cfgt_group_teardown() */
    char root[256]; /* the mkdtemp folder, removed at teardown */
    char dir[300]; /* root/config: the config folder (created empty) */
    char dcfile[300]; /* root/datacenter: not written unless a test writes it */
    char *out_text, *err_text;
    size_t out_len, err_len;
    FILE *out, *err;
    pt_config_options opts;
    pt_config *cfg;
    /* opts.report, when a test asks for it (cfgt_use_report()): "warn: msg\n" lines. */
    pthread_mutex_t report_lock;
    char *reports;
    size_t reports_len;
    size_t nreports; /* calls of opts.report */
} cfgt;

/* A fresh fixture: the folders, captured out and err, POTTER_ENV and POTTER_DATACENTER_FILE
 * unset, opts pointing at them (env NULL). pt_config_new() is left to cfgt_new(). */
cfgt *cfgt_setup(void);
/* Frees cfg (if any), the captures and the folder. */
void cfgt_teardown(cfgt *t);
/* cmocka setup and teardown around cfgt_setup()/cfgt_teardown(). */
int cfgt_cmocka_setup(void **state);
int cfgt_cmocka_teardown(void **state);
/* The group teardown: tears down the fixtures a failed test left (a failing assertion jumps
 * past the test's own cfgt_teardown()), so no folder stays behind. */
int cfgt_group_teardown(void **state);

/* Sends opts.report to the fixture's recorder. Call before cfgt_new(). */
void cfgt_use_report(cfgt *t);
/* The reports so far ("" if none), one "warn: msg" or "error: msg" a line; and how many
 * calls of opts.report there were. */
const char *cfgt_reports(cfgt *t);
size_t cfgt_nreports(cfgt *t);
void cfgt_reports_clear(cfgt *t);

/* pt_config_new("svc", &t->opts) and declares keys; asserts both succeed. */
void cfgt_new(cfgt *t, const pt_config_key *keys, size_t n);
/* pt_config_load() with argv {"svc", args..., NULL} (args NULL-terminated). */
int cfgt_load(cfgt *t, ...);
int cfgt_loadv(cfgt *t, int argc, const char *const *args);

/* Writes text to dir/rel, making its folders (cfgt_write_abs: to an absolute path). */
void cfgt_write(cfgt *t, const char *rel, const char *text);
void cfgt_write_n(cfgt *t, const char *rel, const char *text, size_t len);
void cfgt_write_abs(const char *path, const char *text, size_t len);
/* t->dir + "/" + rel, malloc'd. */
char *cfgt_path(cfgt *t, const char *rel);

/* What has been written to opts.out and opts.err ("" if nothing). */
const char *cfgt_out(cfgt *t);
const char *cfgt_err(cfgt *t);
/* Forgets what was captured so far. */
void cfgt_clear_output(cfgt *t);

/* The line:column of the first occurrence of needle in text, counting characters (UTF-8 code
 * points) from 1, as the config reader does. Fails the test if needle is not there. */
void cfgt_pos(const char *text, const char *needle, unsigned *line, unsigned *col);

/* printf into a malloc'd string. */
char *cfgt_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- subscribers -------------------------------------------------------------------------- */
void cfgt_watch_init(cfgt_watch *w);
void cfgt_watch_free(cfgt_watch *w);
/* The callback to give pt_config_subscribe() with arg = the watch. */
void cfgt_watch_fn(void *arg, const pt_config_change *changes, size_t n);
/* Waits until the watch has seen at least `calls` calls; returns 0, or -1 after timeout_ms. */
int cfgt_watch_wait(cfgt_watch *w, size_t calls, unsigned timeout_ms);
size_t cfgt_watch_count(cfgt_watch *w);
/* Makes sure every notification posted so far has been delivered: posts a task to pt-ops
 * and waits for it (notifications are delivered in order on pt-ops). */
void cfgt_ops_barrier(void);

/* ---- aborting calls ------------------------------------------------------------------------- */
/* Runs fn(arg) in a forked child with stderr sent to a pipe. Returns the child's wait status
 * and puts what it wrote to stderr in msg[0..len). */
int cfgt_run_child(void (*fn)(void *), void *arg, char *msg, size_t len);

uint64_t cfgt_now_ms(void);
void cfgt_sleep_ms(unsigned ms);

#endif
