/* pt_crash_init() and the setters (docs/crash.md). Everything the crash handler will need is
 * prepared here, outside any handler: the descriptors (backup, crash.dir, the budget file, a
 * scratch memfd), the program's and modules' identities, libunwind's caches, the handler's
 * alternate stack on the calling thread; the static buffers are touched so that a crash under
 * memory pressure does not fault them in. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crash/crash_internal.h"
#include "potter/crash.h"

struct pt__crash_state pt__crash = {
    .backup_fd = 2,
    .dir_fd = -1,
    .scratch_fd = -1,
    .budget_fd = -1,
    .logger_timeout_ms = 50,
    .shutdown_timeout_ms = 5000,
    .max_cores = 3,
    .core_window_s = 3600,
    .core_hard_limit = -1,
};

static atomic_int init_called;
static char init_error[512];

/* The handler (handler.c). */
void pt__crash_handler(int sig, siginfo_t *si, void *uc);
/* Touches the handler's static buffers (handler.c). */
void pt__crash_pretouch(void);

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};

static int fail(int err, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(init_error, sizeof init_error, fmt, ap);
    va_end(ap);
    if (err != -EINVAL && n >= 0 && (size_t)n < sizeof init_error)
        snprintf(init_error + n, sizeof init_error - (size_t)n, ": %s", strerror(-err));
    return err;
}

const char *pt_crash_error(void)
{
    return init_error;
}

const char *pt_crash_core_pattern(void)
{
    return pt__crash.core_pattern;
}

/* mkdir -p, mode 0750 for what it makes. */
static int make_dirs(const char *path)
{
    char tmp[PATH_MAX];
    size_t len = strlen(path);

    if (len >= sizeof tmp)
        return -ENAMETOOLONG;
    memcpy(tmp, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char c = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
            return -errno;
        tmp[i] = c;
    }
    return 0;
}

static int open_dir(const char *dir)
{
    int err, fd;

    if ((err = make_dirs(dir)) < 0)
        return fail(err, "crash.dir \"%s\": cannot make it", dir);
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail(-errno, "crash.dir \"%s\": cannot open it", dir);
    /* Writable? A report that cannot be written there is found out now, not at the crash. */
    if (faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) != 0) {
        err = -errno;
        close(fd);
        return fail(err, "crash.dir \"%s\": not writable", dir);
    }
    if (!realpath(dir, pt__crash.dir)) {
        err = -errno;
        close(fd);
        return fail(err, "crash.dir \"%s\"", dir);
    }
    return fd;
}

static int open_backup(const char *path)
{
    int fd;

    if (!path || !*path) {
        fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
        return fd >= 0 ? fd : fail(-errno, "crash.backup_file: cannot duplicate stderr");
    }
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    return fd >= 0 ? fd : fail(-errno, "crash.backup_file \"%s\": cannot open it", path);
}

static void read_core_pattern(void)
{
    int fd = open("/proc/sys/kernel/core_pattern", O_RDONLY | O_CLOEXEC);
    struct rlimit rl;

    if (fd >= 0) {
        ssize_t n = read(fd, pt__crash.core_pattern, sizeof pt__crash.core_pattern - 1);
        close(fd);
        if (n > 0 && pt__crash.core_pattern[n - 1] == '\n')
            n--;
        pt__crash.core_pattern[n > 0 ? n : 0] = '\0';
    }
    if (getrlimit(RLIMIT_CORE, &rl) == 0)
        pt__crash.core_hard_limit = rl.rlim_max == RLIM_INFINITY ? -1 : (int64_t)rl.rlim_max;
}

/* ---- the modules, for "module+offset" in backtraces --------------------------------- */

#define ALIGN4(n) (((n) + 3u) & ~3u)

static void note_build_id(const struct dl_phdr_info *info, const ElfW(Phdr) *ph, char *out)
{
    const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
    static const char xd[] = "0123456789abcdef";

    while (p + sizeof(ElfW(Nhdr)) <= end) {
        const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
        const char *name = p + sizeof(*n);
        const unsigned char *desc = (const unsigned char *)name + ALIGN4(n->n_namesz);
        if ((const char *)desc + n->n_descsz > end)
            return;
        if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
            unsigned k = n->n_descsz < 20 ? n->n_descsz : 20;
            for (unsigned j = 0; j < k; j++) {
                out[2 * j] = xd[desc[j] >> 4];
                out[2 * j + 1] = xd[desc[j] & 15];
            }
            out[2 * k] = '\0';
            return;
        }
        p = (const char *)desc + ALIGN4(n->n_descsz);
    }
}

static int add_module(struct dl_phdr_info *info, size_t size, void *data)
{
    size_t *names_used = data;
    pt__crash_module *m;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    const char *path = info->dlpi_name;

    (void)size;
    if (pt__crash.nmodules >= PT__CRASH_MAX_MODULES)
        return 1;
    m = &pt__crash.modules[pt__crash.nmodules];
    memset(m, 0, sizeof *m);
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD) {
            uintptr_t s = info->dlpi_addr + ph->p_vaddr;
            if (s < lo)
                lo = s;
            if (s + ph->p_memsz > hi)
                hi = s + ph->p_memsz;
        } else if (ph->p_type == PT_NOTE && !m->build_id[0]) {
            note_build_id(info, ph, m->build_id);
        }
    }
    if (lo >= hi)
        return 0;
    /* The program itself comes first, with an empty name. */
    if (!path || !*path)
        path = pt__crash.nmodules == 0 ? pt__crash.exe : "?";
    size_t len = strlen(path);
    if (*names_used + len + 1 > sizeof pt__crash.names)
        return 0;
    memcpy(pt__crash.names + *names_used, path, len + 1);
    m->path = pt__crash.names + *names_used;
    *names_used += len + 1;
    m->start = lo;
    m->end = hi;
    m->base = info->dlpi_addr;
    pt__crash.nmodules++;
    return 0;
}

void pt__crash_modules_load(void)
{
    size_t used = 0;

    if (!pt__crash.exe[0]) {
        ssize_t n = readlink("/proc/self/exe", pt__crash.exe, sizeof pt__crash.exe - 1);
        pt__crash.exe[n > 0 ? n : 0] = '\0';
    }
    if (!pt__crash.hostname[0] && gethostname(pt__crash.hostname, sizeof pt__crash.hostname - 1))
        pt__crash.hostname[0] = '\0';
    pt__crash.nmodules = 0;
    dl_iterate_phdr(add_module, &used);
}

const pt__crash_module *pt__crash_module_of(uintptr_t pc)
{
    for (size_t i = 0; i < pt__crash.nmodules; i++)
        if (pc >= pt__crash.modules[i].start && pc < pt__crash.modules[i].end)
            return &pt__crash.modules[i];
    return NULL;
}

/* ---- init ------------------------------------------------------------------------------ */

static int copy_opt(char *dst, size_t cap, const char *src, const char *key)
{
    size_t len = src ? strlen(src) : 0;

    if (len >= cap)
        return fail(-EINVAL, "crash: %s is longer than %zu bytes", key, cap - 1);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)src[i] < 0x20)
            return fail(-EINVAL, "crash: %s has a control character", key);
    memcpy(dst, src ? src : "", len + 1);
    return 0;
}

static int check_options(const pt_crash_options *o)
{
    int err;

    if ((err = copy_opt(pt__crash.service, sizeof pt__crash.service, o->service, "service")) ||
        (err = copy_opt(pt__crash.version, sizeof pt__crash.version, o->version, "version")))
        return err;
    /* A day is far beyond any sensible bound; larger values are typos (ms for s). */
    if (o->logger_timeout_ms > 86400000 || o->shutdown_timeout_ms > 86400000)
        return fail(-EINVAL, "crash: logger_timeout and shutdown_timeout must be at most a day");
    if (o->max_cores > 1000)
        return fail(-EINVAL, "crash: max_cores must be at most 1000, got %u", o->max_cores);
    if (o->core_window_s > UINT64_C(10) * 365 * 86400)
        return fail(-EINVAL, "crash: core_window must be at most ten years");
    if (o->dir && strlen(o->dir) >= PATH_MAX - 64)
        return fail(-EINVAL, "crash.dir is too long");
    return 0;
}

static void install_handlers(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = pt__crash_handler;
    /* SA_NODEFER: a fault inside the crash path, and the watchdog's SIGABRT, must reach the
     * handler again (which then takes the default action) rather than be held pending. Every
     * other signal waits: no user handler runs on a crashing thread. */
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigfillset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
        sigdelset(&sa.sa_mask, fatal_signals[i]);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++)
        sigaction(fatal_signals[i], &sa, NULL);
}

int pt_crash_init(const pt_crash_options *opts)
{
    int expected = 0, err, fd;

    if (!opts)
        return fail(-EINVAL, "crash: no options");
    if (!atomic_compare_exchange_strong(&init_called, &expected, 1))
        return fail(-EALREADY, "crash: pt_crash_init() was called already");
    init_error[0] = '\0';
    if ((err = check_options(opts)) < 0)
        goto undo;
    pt__crash.logger_timeout_ms = opts->logger_timeout_ms ? opts->logger_timeout_ms : 50;
    pt__crash.shutdown_timeout_ms = opts->shutdown_timeout_ms ? opts->shutdown_timeout_ms : 5000;
    pt__crash.max_cores = opts->max_cores ? opts->max_cores : 3;
    pt__crash.core_window_s = opts->core_window_s ? opts->core_window_s : 3600;

    if (opts->dir && *opts->dir) {
        if ((fd = open_dir(opts->dir)) < 0) {
            err = fd;
            goto undo;
        }
        pt__crash.dir_fd = fd;
        if ((fd = pt__crash_budget_open(fd, pt__crash.core_window_s)) < 0) {
            err = fail(fd, "crash.dir \"%s\": cannot open %s", opts->dir, PT__CRASH_BUDGET_FILE);
            goto undo;
        }
        pt__crash.budget_fd = fd;
    }
    if ((fd = open_backup(opts->backup_file)) < 0) {
        err = fd;
        goto undo;
    }
    pt__crash.backup_fd = fd;
    /* Where the report goes first when crash.dir cannot take it (or there is none): a file
     * in memory, copied to the backup descriptor section by section. Optional. */
    pt__crash.scratch_fd = memfd_create("pt-crash", MFD_CLOEXEC);

    snprintf(pt__crash.build_id, sizeof pt__crash.build_id, "%s", pt_build_id());
    read_core_pattern();
    pt__crash_modules_load();
    pt__stack_init(); /* libunwind's caches: the handler's walk then needs no setup */
    pt__crash_pretouch();
    pt_thread_init();
    pt__crash.initialized = 1;
    install_handlers();
    return 0;

undo:
    if (pt__crash.dir_fd >= 0)
        close(pt__crash.dir_fd);
    if (pt__crash.budget_fd >= 0)
        close(pt__crash.budget_fd);
    pt__crash.dir_fd = pt__crash.budget_fd = -1;
    pt__crash.dir[0] = '\0';
    atomic_store(&init_called, 0);
    return err;
}

void pt_crash_set_shutdown(void (*fn)(void *arg, uint64_t timeout_ms), void *arg)
{
    /* The argument first: the handler reads fn, then arg. */
    atomic_store(&pt__crash.shutdown_arg, arg);
    atomic_store(&pt__crash.shutdown_fn, fn);
}

int pt_crash_add_section(const char *name, void (*fn)(int fd, void *arg), void *arg)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    size_t len = name ? strlen(name) : 0;
    unsigned n;

    if (!fn || len == 0 || len >= sizeof pt__crash.sections[0].name)
        return -EINVAL;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)name[i] < 0x20)
            return -EINVAL;
    /* Adders serialize among themselves; the handler reads nsections (release/acquire) and
     * only ever sees complete entries. */
    pthread_mutex_lock(&lock);
    n = atomic_load(&pt__crash.nsections);
    if (n >= PT__CRASH_MAX_SECTIONS) {
        pthread_mutex_unlock(&lock);
        return -ENOSPC;
    }
    memcpy(pt__crash.sections[n].name, name, len + 1);
    pt__crash.sections[n].fn = fn;
    pt__crash.sections[n].arg = arg;
    atomic_store_explicit(&pt__crash.nsections, n + 1, memory_order_release);
    pthread_mutex_unlock(&lock);
    return 0;
}
