/* Thread dumps: every thread of the process with its symbolized stack, like jstack
 * (docs/prof.md).
 *
 * A thread's stack can only be walked by the thread itself (its registers are nowhere else),
 * so the dumping thread asks each other thread with a signal. Before it sends any, it
 * publishes a request: one slot per thread, with room for a whole stack. The handler finds its
 * thread's slot, walks into it, marks it done and wakes the requester through a futex, which
 * is all async-signal-safe. Every thread is signalled at once and all answers are awaited
 * against one deadline, so threads that block the signal cost 200 ms in all, not each.
 *
 * A handler may still be running (or about to read the request) when the deadline passes.
 * The request is freed only after it has been unpublished and the count of handlers inside
 * has fallen to zero; both sides use sequentially consistent atomics, so a handler either
 * counted itself before the requester looked or finds nothing published.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "log/log_internal.h"
#include "potter/prof.h"
#include "prof/prof_internal.h"
#include "prof/stack.h"

#define ANSWER_MS 200
/* How long the requester waits, past the deadline, for handlers still inside to leave. A walk
 * takes microseconds; one that takes this long is stuck, and its request is leaked rather than
 * freed under it. */
#define LEAVE_MS 1000
#define MAX_LINES 16

enum { SLOT_ARMED, SLOT_WALKING, SLOT_DONE };

struct slot {
    pid_t tid;
    atomic_int state;
    int depth;
    uintptr_t pcs[PT__STACK_MAX];
};

struct request {
    atomic_uint done; /* slots answered; the futex word */
    size_t n;
    struct slot slots[];
};

static _Atomic(struct request *) current;
static atomic_int handlers_inside;
static pthread_mutex_t dump_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static pid_t gettid_raw(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- /proc/self/task ------------------------------------------------------------------- */

int pt__prof_tasks(pid_t **tids, size_t *n)
{
    DIR *dir = opendir("/proc/self/task");
    struct dirent *e;
    pid_t *t = NULL;
    size_t len = 0, cap = 0;

    *tids = NULL;
    *n = 0;
    if (!dir)
        return -errno;
    while ((e = readdir(dir)) != NULL) {
        long tid = strtol(e->d_name, NULL, 10);
        if (tid <= 0)
            continue; /* "." and ".." */
        if (len == cap) {
            pid_t *more = realloc(t, (cap = cap ? cap * 2 : 64) * sizeof *t);
            if (!more) {
                closedir(dir);
                free(t);
                return -ENOMEM;
            }
            t = more;
        }
        t[len++] = (pid_t)tid;
    }
    closedir(dir);
    *tids = t;
    *n = len;
    return 0;
}

/* Reads /proc/self/task/TID/<file> into buf (NUL-terminated). Returns the length or a
 * negative errno. */
static ssize_t read_task_file(pid_t tid, const char *file, char *buf, size_t size)
{
    char path[64];
    FILE *f;
    size_t got;

    snprintf(path, sizeof path, "/proc/self/task/%d/%s", (int)tid, file);
    if (!(f = fopen(path, "re")))
        return -errno;
    got = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[got] = '\0';
    return (ssize_t)got;
}

int pt__prof_task_info(pid_t tid, char name[16], char *state)
{
    char stat[512];
    const char *paren;
    ssize_t len;

    name[0] = '\0';
    if (state)
        *state = '?';
    len = read_task_file(tid, "comm", name, 16);
    if (len < 0)
        return (int)len;
    if (len > 0 && name[len - 1] == '\n')
        name[len - 1] = '\0';
    if (!state)
        return 0;
    /* "TID (comm) S ...": comm may hold spaces and parentheses, so the state follows the
     * last ')'. */
    len = read_task_file(tid, "stat", stat, sizeof stat);
    if (len < 0)
        return (int)len;
    if ((paren = strrchr(stat, ')')) != NULL && paren[1] == ' ' && paren[2])
        *state = paren[2];
    return 0;
}

/* ---- the signal ------------------------------------------------------------------------ */

int pt__prof_install(int sig, void (*handler)(int, siginfo_t *, void *), int also)
{
    struct sigaction sa, old;

    if (sigaction(sig, NULL, &old) != 0)
        return -errno;
    if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == handler)
        return 0;
    if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler != SIG_DFL)
        return -EBUSY;
    if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction != handler)
        return -EBUSY;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (also)
        sigaddset(&sa.sa_mask, also);
    return sigaction(sig, &sa, NULL) == 0 ? 0 : -errno;
}

/* Answers the published request if it has a slot for this thread still waiting. A signal
 * that arrives late (the thread had it blocked, or the dump is over) finds nothing to do. */
static void on_dump_signal(int sig, siginfo_t *info, void *uc)
{
    int saved_errno = errno;
    struct request *r;

    atomic_fetch_add(&handlers_inside, 1);
    r = atomic_load(&current);
    if (r) {
        pid_t tid = gettid_raw();
        for (size_t i = 0; i < r->n; i++) {
            struct slot *s = &r->slots[i];
            int armed = SLOT_ARMED;
            if (s->tid != tid)
                continue;
            if (atomic_compare_exchange_strong(&s->state, &armed, SLOT_WALKING)) {
                s->depth = pt__stack_walk(uc, s->pcs, PT__STACK_MAX);
                atomic_store(&s->state, SLOT_DONE);
                atomic_fetch_add(&r->done, 1);
                syscall(SYS_futex, &r->done, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
            }
            break;
        }
    }
    atomic_fetch_sub(&handlers_inside, 1);
    errno = saved_errno;
}

/* The child of a fork() has only the thread that forked: a dump in progress elsewhere is not
 * its own. */
static void atfork_child(void)
{
    pthread_mutex_init(&dump_lock, NULL);
    atomic_store(&current, NULL);
    atomic_store(&handlers_inside, 0);
}

static void atfork_register(void)
{
    pthread_atfork(NULL, NULL, atfork_child);
}

/* Waits until every signalled thread answered or the deadline passed. */
static void await_answers(struct request *r, unsigned sent, int64_t deadline_ms)
{
    for (;;) {
        unsigned done = atomic_load(&r->done);
        int64_t left = deadline_ms - mono_ms();
        if (done >= sent || left <= 0)
            return;
        struct timespec ts = {left / 1000, (left % 1000) * 1000000};
        syscall(SYS_futex, &r->done, FUTEX_WAIT_PRIVATE, done, &ts, NULL, 0);
    }
}

/* Unpublishes the request and waits for the handlers still inside. Returns 0, or -EDEADLK
 * when one did not leave in time: the request must then not be freed. */
static int retire(void)
{
    int64_t until = mono_ms() + LEAVE_MS;

    atomic_store(&current, NULL);
    while (atomic_load(&handlers_inside) > 0) {
        if (mono_ms() >= until)
            return -EDEADLK;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    return 0;
}

/* ---- the dump -------------------------------------------------------------------------- */

struct thread_info {
    pid_t tid;
    char name[16];
    char state;
    const char *reason; /* why there is no stack; NULL when there is one */
};

static struct request *request_new(const pid_t *tids, size_t n)
{
    struct request *r;

    if (n > (SIZE_MAX - sizeof *r) / sizeof r->slots[0])
        return NULL;
    r = calloc(1, sizeof *r + n * sizeof r->slots[0]);
    if (!r)
        return NULL;
    r->n = n;
    for (size_t i = 0; i < n; i++) {
        r->slots[i].tid = tids[i];
        atomic_init(&r->slots[i].state, SLOT_ARMED);
    }
    return r;
}

/* Collects every thread's stack into r (which has a slot per thread) and each thread's
 * name, state and, where the stack is missing, why. Returns 0 or -EDEADLK (r must then be
 * leaked, not freed). */
static int collect(struct request *r, struct thread_info *info)
{
    pid_t pid = getpid(), self = gettid_raw();
    unsigned sent = 0;

    for (size_t i = 0; i < r->n; i++) {
        info[i].tid = r->slots[i].tid;
        if (pt__prof_task_info(info[i].tid, info[i].name, &info[i].state) == -ENOENT)
            info[i].reason = "exited";
    }
    atomic_store(&current, r);
    for (size_t i = 0; i < r->n; i++) {
        struct slot *s = &r->slots[i];
        if (s->tid == self || info[i].reason)
            continue;
        if (syscall(SYS_tgkill, pid, s->tid, PT_PROF_SIGNAL_THREADS) == 0)
            sent++;
        else
            info[i].reason = errno == ESRCH ? "exited" : "could not be signalled";
    }
    /* Our own stack, while the others answer. */
    for (size_t i = 0; i < r->n; i++)
        if (r->slots[i].tid == self) {
            r->slots[i].depth = pt__stack_walk(NULL, r->slots[i].pcs, PT__STACK_MAX);
            atomic_store(&r->slots[i].state, SLOT_DONE);
        }
    await_answers(r, sent, mono_ms() + ANSWER_MS);
    if (retire() != 0)
        return -EDEADLK;
    for (size_t i = 0; i < r->n; i++)
        if (!info[i].reason && atomic_load(&r->slots[i].state) != SLOT_DONE)
            info[i].reason = "did not answer within 200 ms; the signal may be blocked";
    return 0;
}

/* ---- output ---------------------------------------------------------------------------- */

struct out {
    struct pt__buf b;
    int err;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->err || (o->err = pt__buf_reserve(&o->b, n)) != 0)
        return;
    pt__buf_put(&o->b, s, n);
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void printf_(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void printf_(struct out *o, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        put(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void json_str(struct out *o, const char *s)
{
    size_t n;

    if (!s) {
        puts_(o, "null");
        return;
    }
    n = strlen(s);
    /* pt__json_str() reserves this much itself but cannot report failing to. */
    if (o->err || (o->err = pt__buf_reserve(&o->b, n * 6 + 48)) != 0)
        return;
    pt__json_str(&o->b, s, n, 0);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

/* One frame (a pc) as JSON objects or text lines, one per source line (inlined ones first). */
static void put_frame(struct out *o, unsigned format, pt__symbolizer *sym, uintptr_t pc,
                      int is_return, int *first)
{
    pt__sym_line lines[MAX_LINES];
    pt__sym_module mod;
    size_t n = pt__symbolize(sym, pc, is_return, lines, MAX_LINES);
    int has_mod = pt__symbolize_module(sym, pc, &mod) == 0;

    for (size_t k = 0; k < n; k++) {
        int inlined = k + 1 < n;
        if (format == PT_PROF_TEXT) {
            printf_(o, "    at %s (", lines[k].function);
            if (lines[k].file)
                printf_(o, "%s:%d", lines[k].file, lines[k].line);
            else if (has_mod)
                puts_(o, base_name(mod.path));
            else
                printf_(o, "%#lx", (unsigned long)pc);
            puts_(o, inlined ? ") [inlined]\n" : ")\n");
            continue;
        }
        puts_(o, *first ? "{\"pc\":" : ",{\"pc\":");
        *first = 0;
        printf_(o, "\"%#lx\",\"function\":", (unsigned long)pc);
        json_str(o, lines[k].function);
        puts_(o, ",\"file\":");
        json_str(o, lines[k].file);
        printf_(o, ",\"line\":%d,\"inlined\":%s,\"module\":", lines[k].line,
                inlined ? "true" : "false");
        json_str(o, has_mod ? mod.path : NULL);
        puts_(o, "}");
    }
}

static void put_thread(struct out *o, unsigned format, pt__symbolizer *sym,
                       const struct thread_info *t, const struct slot *s, int first)
{
    int first_frame = 1;

    if (format == PT_PROF_TEXT) {
        printf_(o, "%s\"%s\" tid=%d state=%c\n", first ? "" : "\n", t->name, (int)t->tid, t->state);
        if (t->reason)
            printf_(o, "    (no stack: %s)\n", t->reason);
        for (int i = 0; !t->reason && i < s->depth; i++)
            put_frame(o, format, sym, s->pcs[i], i > 0, &first_frame);
        return;
    }
    printf_(o, "%s{\"tid\":%d,\"name\":", first ? "" : ",", (int)t->tid);
    json_str(o, t->name);
    printf_(o, ",\"state\":\"%c\",\"frames\":", t->state);
    if (t->reason) {
        puts_(o, "null,\"reason\":");
        json_str(o, t->reason);
    } else {
        puts_(o, "[");
        for (int i = 0; i < s->depth; i++)
            put_frame(o, format, sym, s->pcs[i], i > 0, &first_frame);
        puts_(o, "]");
    }
    puts_(o, "}");
}

static int render(unsigned format, const struct request *r, const struct thread_info *info,
                  char **out, size_t *len)
{
    struct out o = {{NULL, 0, 0}, 0};
    pt__symbolizer *sym;
    int err = pt__symbolizer_new(&sym);

    if (err)
        return err;
    if (format == PT_PROF_JSON)
        printf_(&o, "{\"pid\":%d,\"threads\":[", (int)getpid());
    for (size_t i = 0; i < r->n; i++)
        put_thread(&o, format, sym, &info[i], &r->slots[i], i == 0);
    if (format == PT_PROF_JSON)
        puts_(&o, "]}\n");
    put(&o, "", 1); /* the NUL */
    pt__symbolizer_free(sym);
    if (o.err) {
        free(o.b.p);
        return o.err;
    }
    *out = o.b.p;
    *len = o.b.len - 1;
    return 0;
}

int pt_prof_threads(unsigned format, char **out, size_t *len)
{
    struct thread_info *info = NULL;
    struct request *r = NULL;
    pid_t *tids;
    size_t n;
    int err;

    if ((format != PT_PROF_JSON && format != PT_PROF_TEXT) || !out || !len)
        return -EINVAL;
    *out = NULL;
    *len = 0;
    pthread_once(&atfork_once, atfork_register);
    pthread_mutex_lock(&dump_lock);
    if ((err = pt__prof_install(PT_PROF_SIGNAL_THREADS, on_dump_signal, PT_PROF_SIGNAL_CPU)) ||
        (err = pt__stack_init()) || (err = pt__prof_tasks(&tids, &n))) {
        pthread_mutex_unlock(&dump_lock);
        return err;
    }
    r = request_new(tids, n);
    info = calloc(n ? n : 1, sizeof *info);
    free(tids);
    if (!r || !info) {
        err = -ENOMEM;
    } else if ((err = collect(r, info)) == -EDEADLK) {
        r = NULL; /* a handler may still write into it: leaked on purpose */
        err = -ETIMEDOUT;
    }
    pthread_mutex_unlock(&dump_lock);
    if (!err)
        err = render(format, r, info, out, len);
    free(r);
    free(info);
    return err;
}
