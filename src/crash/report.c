/* The crash report (format "potter-crash-report 1", docs/crash.md) and the fatal record,
 * formatted by hand with the crash path's own buffers: async-signal-safe.
 *
 * The report is written to two descriptors: the primary one, a regular file (the report in
 * crash.dir, or a memfd when there is none), and the backup descriptor, which may be a pipe
 * (stderr). Our own lines go to both. A section written by someone else through a descriptor
 * (the log's records, the sections added with pt_crash_add_section()) is written once, to the
 * primary file, then copied from there to the backup descriptor: both get the same bytes and
 * no section writer ever blocks on a pipe. Writes to the backup give up at the deadline. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "crash/crash_internal.h"
#include "log/log_crash.h"
#include "potter/core.h"

typedef struct report_writer {
    int primary, backup;
    int backup_ok;
    uint64_t deadline_ns;
    char buf[4096];
    size_t len;
} report_writer;

static report_writer w;
static char line_buf[1024];

void pt__crash_report_pretouch(void)
{
    memset(&w, 0, sizeof w);
    memset(line_buf, 0, sizeof line_buf);
}

static void flush(void)
{
    if (w.len == 0)
        return;
    if (w.primary >= 0)
        pt__crash_write_all(w.primary, w.buf, w.len, 0);
    if (w.backup_ok && pt__crash_write_all(w.backup, w.buf, w.len, w.deadline_ns) != 0)
        w.backup_ok = 0;
    w.len = 0;
}

static void put(const char *s, size_t n)
{
    while (n) {
        size_t k = sizeof w.buf - w.len;
        if (k > n)
            k = n;
        memcpy(w.buf + w.len, s, k);
        w.len += k;
        s += k;
        n -= k;
        if (w.len == sizeof w.buf)
            flush();
    }
}

/* A line is formatted in line_buf through a pt__cbuf, then put. */
static pt__cbuf line(void)
{
    pt__cbuf b = {line_buf, 0, sizeof line_buf - 1, 0};
    return b;
}

static void end_line(pt__cbuf *b)
{
    b->p[b->len++] = '\n'; /* cap left one byte for it */
    put(b->p, b->len);
}

static void key_str(const char *key, const char *value)
{
    pt__cbuf b = line();
    pt__cb_str(&b, key);
    pt__cb_str(&b, ": ");
    pt__cb_str(&b, value);
    end_line(&b);
}

static void key_u64(const char *key, uint64_t value)
{
    pt__cbuf b = line();
    pt__cb_str(&b, key);
    pt__cb_str(&b, ": ");
    pt__cb_u64(&b, value);
    end_line(&b);
}

/* "SIGSEGV (11)"; a number alone when the name is unknown. */
static void key_named(const char *key, const char *name, int64_t value)
{
    pt__cbuf b = line();
    pt__cb_str(&b, key);
    pt__cb_str(&b, ": ");
    if (name) {
        pt__cb_str(&b, name);
        pt__cb_str(&b, " (");
    }
    pt__cb_i64(&b, value);
    if (name)
        pt__cb_char(&b, ')');
    end_line(&b);
}

static void section(const char *name)
{
    pt__cbuf b = line();
    pt__cb_str(&b, "== ");
    pt__cb_str(&b, name);
    end_line(&b);
}

/* A section written by fn on a descriptor: to the primary file, then copied to the backup. */
static void section_fd(void (*fn)(int fd, void *arg), void *arg)
{
    off_t from, to;

    flush();
    if (w.primary < 0) {
        if (w.backup_ok)
            fn(w.backup, arg);
        return;
    }
    from = lseek(w.primary, 0, SEEK_CUR);
    fn(w.primary, arg);
    to = lseek(w.primary, 0, SEEK_CUR);
    if (from < 0 || to <= from)
        return;
    char last = '\n';
    if (pread(w.primary, &last, 1, to - 1) == 1 && last != '\n') {
        pt__crash_write_all(w.primary, "\n", 1, 0);
        to++;
    }
    while (from < to && w.backup_ok) {
        size_t want = (size_t)(to - from) < sizeof w.buf ? (size_t)(to - from) : sizeof w.buf;
        ssize_t n = pread(w.primary, w.buf, want, from);
        if (n <= 0)
            break;
        if (pt__crash_write_all(w.backup, w.buf, (size_t)n, w.deadline_ns) != 0)
            w.backup_ok = 0;
        from += n;
    }
}

static void log_records(int fd, void *arg)
{
    (void)arg;
    pt__log_crash_dump(fd);
}

/* ---- the parts of the report ----------------------------------------------------------- */

#if defined(__x86_64__)
static void registers(const ucontext_t *uc)
{
    static const struct {
        const char *name;
        int reg;
    } regs[] = {
        {"rip", REG_RIP}, {"rsp", REG_RSP}, {"rbp", REG_RBP}, {"rax", REG_RAX},
        {"rbx", REG_RBX}, {"rcx", REG_RCX}, {"rdx", REG_RDX}, {"rsi", REG_RSI},
        {"rdi", REG_RDI}, {"r8", REG_R8},   {"r9", REG_R9},   {"r10", REG_R10},
        {"r11", REG_R11}, {"r12", REG_R12}, {"r13", REG_R13}, {"r14", REG_R14},
        {"r15", REG_R15}, {"eflags", REG_EFL}, {"csgsfs", REG_CSGSFS}, {"err", REG_ERR},
        {"trapno", REG_TRAPNO}, {"cr2", REG_CR2},
    };
    for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++) {
        pt__cbuf b = line();
        pt__cb_str(&b, regs[i].name);
        pt__cb_char(&b, ' ');
        pt__cb_hex(&b, (uint64_t)uc->uc_mcontext.gregs[regs[i].reg], 16);
        end_line(&b);
    }
}
#elif defined(__aarch64__)
static void registers(const ucontext_t *uc)
{
    for (int i = 0; i < 31; i++) {
        pt__cbuf b = line();
        pt__cb_char(&b, 'x');
        pt__cb_u64(&b, (uint64_t)i);
        pt__cb_char(&b, ' ');
        pt__cb_hex(&b, uc->uc_mcontext.regs[i], 16);
        end_line(&b);
    }
    static const char *const names[] = {"sp", "pc", "pstate", "fault_address"};
    uint64_t vals[] = {uc->uc_mcontext.sp, uc->uc_mcontext.pc, uc->uc_mcontext.pstate,
                       uc->uc_mcontext.fault_address};
    for (int i = 0; i < 4; i++) {
        pt__cbuf b = line();
        pt__cb_str(&b, names[i]);
        pt__cb_char(&b, ' ');
        pt__cb_hex(&b, vals[i], 16);
        end_line(&b);
    }
}
#else
static void registers(const ucontext_t *uc)
{
    (void)uc;
    put("(not known on this architecture)\n", 33);
}
#endif

/* "/usr/lib/libc.so.6+0x29d90", or "?" outside every module known at init. */
static void module_offset(pt__cbuf *b, uintptr_t pc, int basename)
{
    const pt__crash_module *m = pt__crash_module_of(pc);
    const char *path;

    if (!m) {
        pt__cb_char(b, '?');
        return;
    }
    path = m->path;
    if (basename) {
        const char *slash = strrchr(path, '/');
        if (slash)
            path = slash + 1;
    }
    pt__cb_str(b, path);
    pt__cb_char(b, '+');
    pt__cb_hex(b, pc - m->base, 0);
}

static void backtrace(const pt__crash_info *ci)
{
    for (int i = 0; i < ci->npcs; i++) {
        pt__cbuf b = line();
        pt__cb_char(&b, '#');
        pt__cb_u64(&b, (uint64_t)i);
        pt__cb_char(&b, ' ');
        pt__cb_hex(&b, ci->pcs[i], 16);
        pt__cb_char(&b, ' ');
        module_offset(&b, ci->pcs[i], 0);
        end_line(&b);
    }
}

static void modules(void)
{
    for (size_t i = 0; i < pt__crash.nmodules; i++) {
        const pt__crash_module *m = &pt__crash.modules[i];
        pt__cbuf b = line();
        pt__cb_hex(&b, m->start, 0);
        pt__cb_char(&b, '-');
        pt__cb_hex(&b, m->end, 0);
        pt__cb_char(&b, ' ');
        pt__cb_hex(&b, m->base, 0);
        pt__cb_char(&b, ' ');
        pt__cb_str(&b, m->build_id[0] ? m->build_id : "-");
        pt__cb_char(&b, ' ');
        pt__cb_str(&b, m->path);
        end_line(&b);
    }
}

static void core_lines(const pt__crash_info *ci)
{
    static const char *const names[] = {"allowed", "over-budget", "disabled"};
    struct rlimit rl;
    pt__cbuf b;

    key_str("core", names[ci->core]);
    if (pt__crash.budget_fd >= 0) {
        b = line();
        pt__cb_str(&b, "core-budget: ");
        pt__cb_u64(&b, ci->cores_in_window);
        pt__cb_char(&b, '/');
        pt__cb_u64(&b, pt__crash.max_cores);
        pt__cb_str(&b, " per ");
        pt__cb_u64(&b, pt__crash.core_window_s);
        pt__cb_str(&b, " s");
        end_line(&b);
    }
    key_str("core-pattern", pt__crash.core_pattern);
    if (getrlimit(RLIMIT_CORE, &rl) == 0) {
        if (rl.rlim_cur == RLIM_INFINITY)
            key_str("core-limit", "unlimited");
        else
            key_u64("core-limit", (uint64_t)rl.rlim_cur);
    }
    /* Where a relative core_pattern puts the core. */
    static char cwd[PATH_MAX];
    long n = syscall(SYS_getcwd, cwd, sizeof cwd);
    if (n > 0)
        key_str("cwd", cwd);
}

static void header(const pt__crash_info *ci)
{
    pt__cbuf b;

    b = line();
    pt__cb_str(&b, "potter-crash-report ");
    pt__cb_u64(&b, PT__CRASH_REPORT_VERSION);
    end_line(&b);
    key_str("kind", ci->kind == PT__CRASH_PANIC ? "panic" : "signal");
    key_str("service", pt__crash.service);
    key_str("version", pt__crash.version);
    key_str("potter", pt_version_string());
    b = line();
    pt__cb_str(&b, "time: ");
    pt__cb_time(&b, &ci->when, 0);
    end_line(&b);
    key_u64("pid", (uint64_t)ci->pid);
    key_u64("tid", (uint64_t)ci->tid);
    key_str("thread", ci->thread);
    key_named("signal", pt__crash_signal_name(ci->signo), ci->signo);
    key_named("code", ci->kind == PT__CRASH_PANIC ? "panic" : pt__crash_code_name(ci->signo, ci->code),
              ci->code);
    if (ci->has_addr) {
        b = line();
        pt__cb_str(&b, "addr: ");
        pt__cb_hex(&b, ci->addr, 0);
        end_line(&b);
    }
    if (ci->message) {
        b = line();
        pt__cb_str(&b, "message: ");
        pt__cb_json(&b, ci->message, strlen(ci->message));
        end_line(&b);
    }
    key_str("executable", pt__crash.exe);
    key_str("build-id", pt__crash.build_id);
    key_str("host", pt__crash.hostname);
    core_lines(ci);
    if (ci->report_path[0])
        key_str("report", ci->report_path);
}

void pt__crash_report_write(const pt__crash_info *ci, int primary, int backup,
                            uint64_t deadline_ns)
{
    unsigned nsections;

    w.primary = primary;
    w.backup = backup;
    w.backup_ok = backup >= 0;
    w.deadline_ns = deadline_ns;
    w.len = 0;

    header(ci);
    if (ci->uc) {
        section("registers");
        registers(ci->uc);
    }
    section("backtrace");
    backtrace(ci);
    section("modules");
    modules();
    section("log");
    section_fd(log_records, NULL);
    nsections = atomic_load_explicit(&pt__crash.nsections, memory_order_acquire);
    for (unsigned i = 0; i < nsections; i++) {
        section(pt__crash.sections[i].name);
        section_fd(pt__crash.sections[i].fn, pt__crash.sections[i].arg);
    }
    /* Another thread that crashed while this report was written (it waits, then dies with
     * the process). */
    pid_t other = atomic_load(&pt__crash.other_tid);
    if (other) {
        section("other-crashes");
        pt__cbuf b = line();
        pt__cb_str(&b, "tid ");
        pt__cb_u64(&b, (uint64_t)other);
        pt__cb_char(&b, ' ');
        int sig = atomic_load(&pt__crash.other_signo);
        const char *name = pt__crash_signal_name(sig);
        if (name)
            pt__cb_str(&b, name);
        else
            pt__cb_i64(&b, sig);
        end_line(&b);
    }
    section("end");
    flush();
}

/* ---- the fatal record ------------------------------------------------------------------ */

static void json_key(pt__cbuf *b, const char *key)
{
    pt__cb_str(b, ",\"");
    pt__cb_str(b, key);
    pt__cb_str(b, "\":");
}

static void json_str(pt__cbuf *b, const char *key, const char *value)
{
    json_key(b, key);
    pt__cb_json(b, value, strlen(value));
}

static void message(pt__cbuf *b, const pt__crash_info *ci)
{
    static char msg[PT__CRASH_MESSAGE_MAX + 128];
    pt__cbuf m = {msg, 0, sizeof msg, 0};
    const char *sig = pt__crash_signal_name(ci->signo), *code;

    if (ci->kind == PT__CRASH_PANIC) {
        pt__cb_str(&m, "panic: ");
        pt__cb_str(&m, ci->message);
    } else {
        pt__cb_str(&m, "crash: ");
        if (sig)
            pt__cb_str(&m, sig);
        else
            pt__cb_i64(&m, ci->signo);
        if (ci->has_addr) {
            pt__cb_str(&m, " at ");
            pt__cb_hex(&m, ci->addr, 0);
        }
        code = pt__crash_code_name(ci->signo, ci->code);
        pt__cb_str(&m, " (");
        if (code)
            pt__cb_str(&m, code);
        else
            pt__cb_i64(&m, ci->code);
        pt__cb_char(&m, ')');
    }
    json_key(b, "msg");
    pt__cb_json(b, m.p, m.len);
}

size_t pt__crash_fatal_line(const pt__crash_info *ci, char *buf, size_t cap)
{
    static char ident[1024];
    /* Room kept for closing the record whatever was cut before. */
    const size_t close_room = 8;
    pt__cbuf b = {buf, 0, cap > close_room ? cap - close_room : 0, 0};
    const char *code;
    size_t n;

    if (cap < 256)
        return 0;
    pt__cb_str(&b, "{\"v\":0,\"level\":60,");
    n = pt__log_crash_identity(ident, sizeof ident);
    if (n) {
        pt__cb_mem(&b, ident, n);
        /* Before the log part knows the host, ours. */
        if (!memmem(ident, n, "\"hostname\":", 11))
            json_str(&b, "hostname", pt__crash.hostname);
    } else {
        pt__cb_str(&b, "\"name\":");
        pt__cb_json(&b, pt__crash.service, strlen(pt__crash.service));
        json_str(&b, "hostname", pt__crash.hostname);
        json_key(&b, "pid");
        pt__cb_u64(&b, (uint64_t)ci->pid);
    }
    json_key(&b, "time");
    pt__cb_char(&b, '"');
    pt__cb_time(&b, &ci->when, 0);
    pt__cb_char(&b, '"');
    message(&b, ci);
    if (pt__crash_signal_name(ci->signo))
        json_str(&b, "signal", pt__crash_signal_name(ci->signo));
    code = ci->kind == PT__CRASH_PANIC ? "panic" : pt__crash_code_name(ci->signo, ci->code);
    if (code)
        json_str(&b, "code", code);
    if (ci->has_addr) {
        json_key(&b, "addr");
        pt__cb_char(&b, '"');
        pt__cb_hex(&b, ci->addr, 0);
        pt__cb_char(&b, '"');
    }
    json_key(&b, "tid");
    pt__cb_u64(&b, (uint64_t)ci->tid);
    json_str(&b, "thread", ci->thread);
    if (ci->report_path[0])
        json_str(&b, "report", ci->report_path);
    if (pt__crash.build_id[0])
        json_str(&b, "build_id", pt__crash.build_id);

    /* Frames are added while whole ones fit, so the arrays always close. */
    json_key(&b, "backtrace");
    pt__cb_char(&b, '[');
    for (int i = 0; i < ci->npcs && b.len + 40 < b.cap / 2; i++) {
        if (i)
            pt__cb_char(&b, ',');
        pt__cb_char(&b, '"');
        pt__cb_hex(&b, ci->pcs[i], 0);
        pt__cb_char(&b, '"');
    }
    pt__cb_char(&b, ']');
    json_key(&b, "frames");
    pt__cb_char(&b, '[');
    for (int i = 0; i < ci->npcs; i++) {
        static char frame[PATH_MAX + 32];
        pt__cbuf f = {frame, 0, sizeof frame, 0};
        module_offset(&f, ci->pcs[i], 1);
        if (b.len + f.len + 8 > b.cap)
            break;
        if (i)
            pt__cb_char(&b, ',');
        pt__cb_json(&b, f.p, f.len);
    }
    pt__cb_char(&b, ']');
    /* Whatever was cut, the record closes: the room was kept aside. */
    b.cap = cap;
    pt__cb_str(&b, "}\n");
    return b.len;
}
