/* What the crash tests share: running tests/crash/crash_child.c in a temporary folder (the
 * core lands there when core_pattern is relative), waiting for it with a bound, reading what
 * it left, checking the report's format and the core with gdb. */
#ifndef PT_TESTS_CRASH_TESTUTIL_H
#define PT_TESTS_CRASH_TESTUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* One run of the child. The files are read after it ended; each is NULL when missing. */
typedef struct crash_run {
    char dir[256];        /* the child's working directory; crash.dir is dir/crash */
    pid_t pid;
    int status;           /* waitpid's */
    double seconds;       /* from spawn to reaped */
    int nreports;         /* crash-*.txt in dir/crash */
    char report_path[512];
    char *report;         /* this child's (crash-<time>-<pid>.txt) */
    char *backup;         /* dir/backup.txt */
    char *log;            /* dir/app.log: the file sink */
    char *out;            /* the child's stdout and stderr */
    char core_path[512];  /* "" when none was found */
} crash_run;

/* A new temporary folder for runs (removed by crash_dir_remove()). */
void crash_dir_make(char *dir, size_t cap);
void crash_dir_remove(const char *dir);
/* Removes every folder crash_dir_make() made that is still there; as a cmocka group
 * teardown, crash_group_teardown(). */
void crash_dirs_cleanup(void);
int crash_group_teardown(void **state);

/* Runs `crash_child scenario max_cores` in dir (made by crash_dir_make) with RLIMIT_CORE at
 * its hard limit, killing it after timeout_s. Returns 0, or -1 if it had to be killed. */
int crash_spawn(crash_run *r, const char *dir, const char *scenario, unsigned max_cores,
                double timeout_s);
/* Frees what crash_spawn read (the folder stays). */
void crash_run_free(crash_run *r);

/* Whether this machine puts cores where a test can read them (core_pattern relative, the
 * hard RLIMIT_CORE above 0); when not, prints why once and returns 0. */
int crash_cores_checkable(void);

/* Runs gdb -batch -ex 'thread apply all bt' -ex bt on the core; returns 1 when `function`
 * is among the first `frames` frames of the crashed thread's `bt`, 0 if not (printing the
 * backtrace), -1 when gdb is missing or fails (printing why). */
int crash_gdb_has_frame(const char *core, const char *function, int frames);

/* ---- the report format ---- */

/* 0 when text is a complete report: the version line first, "key: value" lines, sections
 * "== name", the last line "== end". Otherwise -1 and why on stderr. */
int report_check(const char *text);
/* The value of "key: value" before the first section, copied into out; -1 if absent. */
int report_key(const char *text, const char *key, char *out, size_t cap);
/* The body of section `name` (between its "== name" line and the next section), or NULL. */
const char *report_section(const char *text, const char *name, size_t *len);
/* The number of lines of a section. */
int report_section_lines(const char *text, const char *name);

/* Reads a whole file (NUL-terminated, malloc'd); NULL if missing. */
char *crash_read_file(const char *path, size_t *len);

/* The path of the crash child executable. */
const char *crash_child_path(void);

#endif
