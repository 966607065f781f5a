/* crash_internal.h: what the files of src/crash share (docs/crash.md).
 *
 *   crash.c    pt_crash_init() and the setters: everything the handler needs is opened,
 *              allocated and touched here, before any crash
 *   handler.c  the signal handler, pt_panic(), and the state machine of the crash path
 *   report.c   the report and the fatal record, formatted by hand (async-signal-safe)
 *   format.c   a fixed-buffer formatter: numbers, JSON strings, UTC times, names of signals
 *   budget.c   the crash budget: how many cores in the window, kept in crash.dir
 *   collect.c  pt_crash_collect(): the reports earlier runs left behind
 *
 * Everything reachable from the handler is async-signal-safe: system calls, memory prepared
 * by pt_crash_init() (in .bss, pre-touched), and no lock. Only one thread at a time runs the
 * crash path (pt__crash.owner), so its buffers need none.
 */
#ifndef PT_CRASH_INTERNAL_H
#define PT_CRASH_INTERNAL_H

#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "prof/stack.h"

#define PT__CRASH_REPORT_VERSION 1
#define PT__CRASH_MAX_SECTIONS 16
#define PT__CRASH_MAX_MODULES 256
#define PT__CRASH_MESSAGE_MAX 1024
/* The report's file name: crash-20261122T172105.123Z-12345.txt */
#define PT__CRASH_BUDGET_FILE "core-budget"

/* ---- the fixed-buffer formatter (format.c) --------------------------------------------- */

/* Appends what fits; len never passes cap, and `cut` says something did not fit. */
typedef struct pt__cbuf {
    char *p;
    size_t len, cap;
    int cut;
} pt__cbuf;

void pt__cb_mem(pt__cbuf *b, const char *s, size_t n);
void pt__cb_str(pt__cbuf *b, const char *s); /* NULL appends nothing */
void pt__cb_char(pt__cbuf *b, char c);
void pt__cb_u64(pt__cbuf *b, uint64_t v);
void pt__cb_i64(pt__cbuf *b, int64_t v);
/* "0x" and at least `digits` hex digits (0: as many as needed). */
void pt__cb_hex(pt__cbuf *b, uint64_t v, int digits);
/* A JSON string with its quotes; control characters and invalid UTF-8 are escaped. */
void pt__cb_json(pt__cbuf *b, const char *s, size_t n);
/* "2026-11-22T17:21:05.123Z" (iso) or "20261122T172105.123Z" (compact, for file names). */
void pt__cb_time(pt__cbuf *b, const struct timespec *ts, int compact);

/* "SIGSEGV", or NULL for a signal the crash path does not know. */
const char *pt__crash_signal_name(int sig);
/* "SEGV_MAPERR", "SI_TKILL", ...; NULL when unknown. */
const char *pt__crash_code_name(int sig, int code);
/* Whether the kernel raised sig for an instruction that will fault again when the handler
 * returns (so the core shows the faulting instruction). */
int pt__crash_refaults(int sig, int code);

/* ---- the state prepared by pt_crash_init() (crash.c) ------------------------------------ */

typedef struct pt__crash_module {
    uintptr_t start, end; /* the mapped range of its PT_LOAD segments */
    uintptr_t base;       /* dlpi_addr: offsets in the report are pc - base */
    const char *path;     /* in pt__crash.names */
    char build_id[41];    /* hex, "" when none */
} pt__crash_module;

typedef struct pt__crash_section {
    char name[64];
    void (*fn)(int fd, void *arg);
    void *arg;
} pt__crash_section;

struct pt__crash_state {
    int initialized;
    char service[128], version[64];
    uint64_t logger_timeout_ms, shutdown_timeout_ms;
    unsigned max_cores;
    uint64_t core_window_s;

    int backup_fd;  /* crash.backup_file or a duplicate of stderr; 2 before init */
    int dir_fd;     /* crash.dir, -1 without */
    int scratch_fd; /* a memfd: the report's first copy when crash.dir has no room */
    int budget_fd;  /* crash.dir/core-budget, O_APPEND; -1 without */
    char dir[PATH_MAX];         /* absolute */
    char exe[PATH_MAX];         /* /proc/self/exe at init */
    char build_id[129];
    char hostname[256];
    char core_pattern[256];     /* /proc/sys/kernel/core_pattern, "" if unreadable */
    int64_t core_hard_limit;    /* RLIMIT_CORE's hard limit at init, -1: unlimited */

    pt__crash_module modules[PT__CRASH_MAX_MODULES];
    size_t nmodules;
    char names[32768]; /* the modules' paths */

    pt__crash_section sections[PT__CRASH_MAX_SECTIONS];
    _Atomic unsigned nsections;

    void (*_Atomic shutdown_fn)(void *arg, uint64_t timeout_ms);
    void *_Atomic shutdown_arg;

    /* The thread running the crash path (0: none). The one that sets it first owns the
     * path; another thread that crashes meanwhile waits; the owner faulting again goes
     * straight to the default action. */
    _Atomic pid_t owner;
    /* The first other thread that crashed while the owner ran (noted in the report). */
    _Atomic pid_t other_tid;
    _Atomic int other_signo;
};
extern struct pt__crash_state pt__crash;

/* ---- one crash ------------------------------------------------------------------------- */

enum pt__crash_kind { PT__CRASH_SIGNAL = 1, PT__CRASH_PANIC };

enum pt__crash_core {
    PT__CORE_ALLOWED = 0,  /* within the budget (or no budget: no crash.dir) */
    PT__CORE_OVER_BUDGET,  /* the budget is spent: not dumpable, RLIMIT_CORE 0 */
    PT__CORE_DISABLED,     /* RLIMIT_CORE's hard limit is 0: the kernel writes none */
};

typedef struct pt__crash_info {
    enum pt__crash_kind kind;
    int signo, code; /* for a panic: SIGABRT, SI_TKILL */
    uintptr_t addr;
    int has_addr;
    const void *uc; /* ucontext_t *, NULL if none */
    const char *message; /* a panic's, NUL-terminated; NULL for a signal */
    pid_t pid, tid;
    char thread[17];
    struct timespec when; /* CLOCK_REALTIME */
    uintptr_t pcs[PT__STACK_MAX];
    int npcs;
    enum pt__crash_core core;
    unsigned cores_in_window; /* cores counted in the window, this one included if allowed */
    char report_path[PATH_MAX]; /* the file in crash.dir, "" if none */
    char report_name[64];
} pt__crash_info;

/* Step 1: writes the report to primary (a regular file: crash.dir's file or the scratch
 * memfd; -1 if neither) and the same bytes to backup (-1: none). Writes to backup give up at
 * deadline_ns (CLOCK_MONOTONIC): a pipe nobody reads cannot hold the crash path. */
void pt__crash_report_write(const pt__crash_info *ci, int primary, int backup,
                            uint64_t deadline_ns);

/* Step 2's record: one bunyan line with its newline, in buf. Returns its length (0 when
 * cap is too small for even a cut record). */
size_t pt__crash_fatal_line(const pt__crash_info *ci, char *buf, size_t cap);

/* Touches report.c's buffers (at init). */
void pt__crash_report_pretouch(void);

/* The module a pc falls in, from the table taken at init; NULL when none. */
const pt__crash_module *pt__crash_module_of(uintptr_t pc);

/* Fills pt__crash.modules (dl_iterate_phdr: not in a handler). */
void pt__crash_modules_load(void);

/* ---- the budget (budget.c) ------------------------------------------------------------- */

/* At init: opens crash.dir/core-budget (dir_fd), keeping only the lines of the window.
 * Returns the descriptor or a negative errno. */
int pt__crash_budget_open(int dir_fd, uint64_t window_s);

/* In the handler: counts the cores of the window (read from the file again, so that other
 * processes sharing crash.dir count) and, if one more is allowed, appends now's. Returns
 * whether a core is allowed; *count receives the cores of the window, this one included. */
int pt__crash_budget_take(int fd, int64_t now_s, uint64_t window_s, unsigned max,
                          unsigned *count);

/* ---- helpers shared by the handler files ----------------------------------------------- */

pid_t pt__crash_gettid(void);
uint64_t pt__crash_mono_ns(void);
/* write(2) all of buf, retrying on EINTR and short writes; for a descriptor that may block
 * (a pipe), each write waits with poll(2) until deadline_ns first (0: no deadline).
 * Returns 0 or -1. errno is not kept (callers keep it). */
int pt__crash_write_all(int fd, const char *buf, size_t len, uint64_t deadline_ns);

#endif /* PT_CRASH_INTERNAL_H */
