/* tests/log/testutil.h: helpers shared by the logger's tests.
 *
 *  - temporary folders (mkdtemp, removed recursively);
 *  - reading a log file as lines and checking each one strictly: valid UTF-8, no raw control
 *    character, valid JSON with no duplicate key (jansson's JSON_REJECT_DUPLICATES), one
 *    object per line, the file ending in '\n';
 *  - checking bunyan's core fields;
 *  - a fixture: a temporary folder and a logger writing to a file in it;
 *  - a sink of our own (pt_log_sink_ops) that keeps what it is given and can be held blocked;
 *  - running a scenario of the same executable in a fresh process (fork + exec of
 *    /proc/self/exe) with a time limit, for tests that need pt_log_configure() or that exit.
 *
 * The functions are in testutil.c, which pt_log_test() builds into each test. Include after
 * <cmocka.h>: the macros use its asserts.
 */
#ifndef PT_TESTS_LOG_TESTUTIL_H
#define PT_TESTS_LOG_TESTUTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <potter.h>

/* ---- time ------------------------------------------------------------------------------ */
uint64_t tu_now_ns(void);
uint64_t tu_now_ms(void);
void tu_sleep_ms(unsigned ms);

/* Nonzero when running in the sanitizer build (the Makefile sets PT_SANITIZED=1). */
int tu_sanitized(void);

/* ---- temporary folders ------------------------------------------------------------------ */
char *tu_mkdtemp(void);

/* Removes a folder and everything in it, and frees the string. */
void tu_rmtree(char *dir);

char *tu_path(const char *dir, const char *name);
int tu_exists(const char *path);
long long tu_file_size(const char *path);

/* Reads a whole file; NULL when it cannot be opened. The result is NUL-terminated. */
char *tu_read_file(const char *path, size_t *len);

/* ---- UTF-8 ------------------------------------------------------------------------------- */
/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. Returns the offset
 * of the first bad byte, or (size_t)-1 when all is valid. */
size_t tu_utf8_bad_at(const char *s, size_t n);

/* ---- log lines ----------------------------------------------------------------------------- */
typedef struct tu_lines {
    size_t n;
    char **raw; /* each line, without its '\n' */
    json_t **rec; /* parsed, or NULL when the line is bad */
    char **why; /* NULL, or what is wrong with the line */
    size_t nbad;
    int partial; /* the data did not end in '\n' */
} tu_lines;

/* Checks one line strictly; returns the parsed object (new reference) or NULL with *why set. */
json_t *tu_parse_line(const char *line, size_t len, char **why);

/* Splits data into lines and checks each; see tu_lines. */
void tu_lines_parse(tu_lines *ls, const char *data, size_t len);

/* Reads and checks a log file; a missing file gives zero lines. */
void tu_lines_load(tu_lines *ls, const char *path);

void tu_lines_free(tu_lines *ls);

/* Prints the bad lines (at most a few) to stderr; returns how many there are. */
size_t tu_lines_report_bad(const tu_lines *ls);

/* The first record whose msg is `msg` (after index `from`), or NULL. */
json_t *tu_find_msg(const tu_lines *ls, const char *msg, size_t *index);

size_t tu_count_msg(const tu_lines *ls, const char *msg);

/* Checks "time": ^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$; returns the time in ms since the
 * epoch, or -1 when the form is wrong. */
int64_t tu_parse_time(const char *t);

int64_t tu_wall_ms(void);

/* Checks bunyan's core fields of a record; returns NULL when all is well, else what is wrong
 * (a static string). `name` may be NULL (not checked); `level` 0 means any of 10..60. */
const char *tu_check_core(json_t *rec, const char *name, int level, pid_t pid);

/* Asserts (cmocka) that a record's core fields are right. */
#define TU_ASSERT_CORE(rec, name, level, pid)                                                      \
    do {                                                                                           \
        const char *tu__w = tu_check_core((rec), (name), (level), (pid));                          \
        if (tu__w != NULL)                                                                         \
            fail_msg("core fields: %s", tu__w);                                                    \
    } while (0)

/* Asserts that every line of ls is good. */
#define TU_ASSERT_LINES_GOOD(ls)                                                                   \
    do {                                                                                           \
        if (tu_lines_report_bad(ls) != 0)                                                          \
            fail_msg("%zu bad line(s) of %zu", (ls)->nbad, (ls)->n);                               \
    } while (0)

/* Asserts that a record's field `key` is the string `want` (NULL-safe, shows the record). */
#define TU_ASSERT_FIELD_STR(rec, key, want)                                                        \
    do {                                                                                           \
        json_t *tu__r = (rec);                                                                     \
        const char *tu__g = json_string_value(json_object_get(tu__r, (key)));                      \
        if (tu__g == NULL || strcmp(tu__g, (want)) != 0) {                                         \
            char *tu__d = json_dumps(json_object_get(tu__r, (key)), JSON_ENCODE_ANY);              \
            fail_msg("field \"%s\": want \"%s\", got %s", (key), (want),                           \
                     tu__d ? tu__d : "(none)");                                                    \
        }                                                                                          \
    } while (0)

/* A string field of a record, or NULL. */
const char *tu_str(json_t *rec, const char *key);

/* ---- the file-logger fixture ------------------------------------------------------------ */
/* A temporary folder, a logger writing to a file in it, and the lines last read from it. */
typedef struct tu_fx {
    char *dir;
    char *path; /* the log file, below dir */
    pt_log *log;
    pt_log_sink *file; /* the file sink, when tu_fx_setup() was asked for it */
    tu_lines lines; /* for tu_flush_and_load(&f->lines, f->path) */
} tu_fx;

/* Whether tu_fx_setup() keeps the file sink's handle in f->file. */
enum { TU_FX_NO_SINK = 0, TU_FX_KEEP_SINK = 1 };

/* A cmocka setup: *state becomes a tu_fx whose logger `name` writes to `file` below a new
 * temporary folder (missing folders on the way are created). With TU_FX_KEEP_SINK, f->file is
 * the file sink and must not be NULL; with TU_FX_NO_SINK, pt_log_add_file() is given NULL.
 *
 *     static int setup(void **state)
 *     {
 *         return tu_fx_setup(state, "enc", "enc.log", TU_FX_NO_SINK);
 *     }
 *     ... cmocka_unit_test_setup_teardown(test_x, setup, tu_fx_teardown), ... */
int tu_fx_setup(void **state, const char *name, const char *file, int want_sink);

/* The cmocka teardown of tu_fx_setup(): frees the logger and the lines, removes the folder. */
int tu_fx_teardown(void **state);

/* Flushes every logger, then reads the log file at `path` into *ls (freeing what it held) and
 * asserts that every line is good. */
void tu_flush_and_load(tu_lines *ls, const char *path);

/* Reads and checks a log file; stores the "i" field of each record whose msg is `msg` (any
 * msg when NULL), in order, in out[0..max) and returns how many records there are. */
size_t tu_seqs(const char *path, const char *msg, long long *out, size_t max);

/* ---- a sink of our own ------------------------------------------------------------------- */
typedef struct tu_sink {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int hold; /* while nonzero, write() waits */
    int entered; /* write() has been called at least once */
    int waiting; /* write() is waiting on hold now */
    unsigned delay_us; /* sleep this long in each write() */
    char *buf; /* everything written */
    size_t len, cap;
    size_t lines; /* '\n' seen */
    size_t writes;
    int closed;
    int keep; /* keep the bytes (else only count lines) */
    int fail; /* the next `fail` writes return fail_err */
    int fail_err;
    size_t max_write; /* consume at most this many bytes per write (0: all) */
} tu_sink;

void tu_sink_init(tu_sink *s, int keep);
void tu_sink_destroy(tu_sink *s);
ssize_t tu_sink_write(void *ctx, const char *buf, size_t len);
void tu_sink_close(void *ctx);

extern const pt_log_sink_ops tu_sink_ops;

void tu_sink_set_hold(tu_sink *s, int hold);
size_t tu_sink_lines(tu_sink *s);

/* Waits (at most timeout_ms) until the logger closed the sink; returns nonzero if it did.
 * Only then may the tu_sink be destroyed. */
int tu_sink_wait_closed(tu_sink *s, unsigned timeout_ms);

/* Waits (at most timeout_ms) until write() waits on hold; returns nonzero if it does. */
int tu_sink_wait_blocked(tu_sink *s, unsigned timeout_ms);

/* ---- scenarios in a fresh process ---------------------------------------------------------- */
/* In a scenario process, cmocka's asserts are not available: CHECK prints and exits 1. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            fflush(stderr);                                                                        \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

/* Prints a failed CHECKF or SOFT_CHECKF: where, the condition, and the message. */
void __attribute__((format(printf, 4, 5)))
tu__check_failed(const char *file, int line, const char *cond, const char *fmt, ...);

#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            tu__check_failed(__FILE__, __LINE__, #cond, __VA_ARGS__);                              \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

/* A check that reports and goes on; the scenario returns tu_soft_failed at its end. */
extern int tu_soft_failed;
#define SOFT_CHECKF(cond, ...)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            tu__check_failed(__FILE__, __LINE__, #cond, __VA_ARGS__);                              \
            tu_soft_failed = 1;                                                                    \
        }                                                                                          \
    } while (0)

typedef struct tu_scenario {
    const char *name;
    int (*fn)(const char *dir); /* returns the exit status */
} tu_scenario;

/* Runs the scenario table entry `name` if argv asks for one ("--scenario NAME DIR"); returns
 * -1 when argv does not. Use at the top of main(). */
int tu_scenario_dispatch(int argc, char **argv, const tu_scenario *table);

typedef struct tu_run {
    int status; /* as from waitpid; -1 when killed for taking too long */
    char *out; /* stdout and stderr of the process, NUL-terminated */
    size_t outlen;
    uint64_t took_ms;
} tu_run;

/* Runs this executable again as "--scenario NAME DIR" with stdout and stderr captured,
 * killing it after timeout_ms. */
void tu_run_scenario(tu_run *r, const char *name, const char *dir, unsigned timeout_ms);

/* Describes how a scenario ended into buf; returns nonzero when it succeeded. Frees r->out
 * (so that a failing assertion leaks nothing). */
int tu__scenario_verdict(tu_run *r, char *buf, size_t cap);

/* Asserts that a scenario exited with status 0, showing its output otherwise. */
#define TU_ASSERT_SCENARIO_OK(r)                                                                   \
    do {                                                                                           \
        static char tu__msg[32768];                                                                \
        if (!tu__scenario_verdict((r), tu__msg, sizeof tu__msg))                                   \
            fail_msg("%s", tu__msg);                                                               \
    } while (0)

/* Runs a scenario in a fresh temporary folder, asserts it succeeded and removes the folder.
 * Its output is shown either way. */
#define TU_RUN_SCENARIO_OK(name, timeout_ms)                                                       \
    do {                                                                                           \
        char *tu__dir = tu_mkdtemp();                                                              \
        tu_run tu__r;                                                                              \
        tu_run_scenario(&tu__r, (name), tu__dir, (timeout_ms));                                    \
        tu_rmtree(tu__dir);                                                                        \
        if (tu__r.outlen)                                                                          \
            fprintf(stderr, "[%s output]\n%s", (name), tu__r.out);                                 \
        TU_ASSERT_SCENARIO_OK(&tu__r);                                                             \
    } while (0)

/* Defines the cmocka test `fn`: scenario `name` succeeds in a fresh process within timeout_ms. */
#define TU_SCENARIO_TEST(fn, name, timeout_ms)                                                     \
    static void fn(void **state)                                                                   \
    {                                                                                              \
        (void)state;                                                                               \
        TU_RUN_SCENARIO_OK((name), (timeout_ms));                                                  \
    }

/* Defines main() for an executable with scenarios: "--scenario NAME DIR" runs one of the table
 * `scenarios`, anything else runs the cmocka tests of the array `tests`. */
#define TU_MAIN(scenarios, tests)                                                                  \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        int tu__rc = tu_scenario_dispatch(argc, argv, (scenarios));                                \
        if (tu__rc >= 0)                                                                           \
            return tu__rc;                                                                         \
        return cmocka_run_group_tests(tests, NULL, NULL);                                          \
    }

/* ---- counters ------------------------------------------------------------------------------- */
uint64_t tu_sum(const uint64_t *a);

/* RSS in bytes from /proc/self/statm. */
long long tu_rss_bytes(void);

#endif /* PT_TESTS_LOG_TESTUTIL_H */
