/* Formatting by hand into fixed buffers, for the crash path: printf and friends may take
 * locks and allocate (locale, the stream lock), so numbers, times and JSON strings are
 * written here, with nothing but the buffer they are given. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/number_internal.h"
#include "crash/crash_internal.h"

void pt__cb_mem(pt__cbuf *b, const char *s, size_t n)
{
    size_t room = b->cap - b->len;

    if (n > room) {
        n = room;
        b->cut = 1;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void pt__cb_str(pt__cbuf *b, const char *s)
{
    if (s)
        pt__cb_mem(b, s, strlen(s));
}

void pt__cb_char(pt__cbuf *b, char c)
{
    pt__cb_mem(b, &c, 1);
}

void pt__cb_u64(pt__cbuf *b, uint64_t v)
{
    char tmp[20];
    pt__cb_mem(b, tmp, pt__fmt_u64(tmp, v));
}

void pt__cb_i64(pt__cbuf *b, int64_t v)
{
    if (v < 0) {
        pt__cb_char(b, '-');
        pt__cb_u64(b, (uint64_t)0 - (uint64_t)v);
        return;
    }
    pt__cb_u64(b, (uint64_t)v);
}

void pt__cb_hex(pt__cbuf *b, uint64_t v, int digits)
{
    static const char xd[] = "0123456789abcdef";
    char tmp[18];
    int i = (int)sizeof tmp, n = 0;

    do {
        tmp[--i] = xd[v & 15];
        v >>= 4;
        n++;
    } while (v || n < digits);
    tmp[--i] = 'x';
    tmp[--i] = '0';
    pt__cb_mem(b, tmp + i, sizeof tmp - (size_t)i);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp;

    if (s[0] < 0xc2 || s[0] > 0xf4)
        return 0;
    len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
    if (len > n)
        return 0;
    cp = s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void pt__cb_json(pt__cbuf *b, const char *s, size_t n)
{
    static const char xd[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;

    pt__cb_char(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        if (c >= 0x80) {
            size_t k = utf8_len(u + i, n - i);
            if (k) {
                pt__cb_mem(b, s + i, k);
                i += k;
            } else {
                pt__cb_mem(b, "\\ufffd", 6);
                i++;
            }
            continue;
        }
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            pt__cb_mem(b, esc, 2);
        } else if (c == '\n') {
            pt__cb_mem(b, "\\n", 2);
        } else if (c == '\t') {
            pt__cb_mem(b, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', xd[c >> 4], xd[c & 15]};
            pt__cb_mem(b, esc, 6);
        } else {
            pt__cb_char(b, (char)c);
        }
        i++;
    }
    pt__cb_char(b, '"');
}

void pt__cb_time(pt__cbuf *b, const struct timespec *ts, int compact)
{
    char t[32];
    size_t n = pt__fmt_utc_ms(t, (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec, compact);
    pt__cb_mem(b, t, n);
}

/* ---- names ----------------------------------------------------------------------------- */

const char *pt__crash_signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    case SIGTRAP: return "SIGTRAP";
    case SIGSYS: return "SIGSYS";
    case SIGKILL: return "SIGKILL";
    default: return NULL;
    }
}

static const char *generic_code(int code)
{
    switch (code) {
    case SI_USER: return "SI_USER";
    case SI_KERNEL: return "SI_KERNEL";
    case SI_QUEUE: return "SI_QUEUE";
    case SI_TIMER: return "SI_TIMER";
    case SI_MESGQ: return "SI_MESGQ";
    case SI_ASYNCIO: return "SI_ASYNCIO";
    case SI_SIGIO: return "SI_SIGIO";
    case SI_TKILL: return "SI_TKILL";
    default: return NULL;
    }
}

const char *pt__crash_code_name(int sig, int code)
{
    static const char *const segv[] = {NULL, "SEGV_MAPERR", "SEGV_ACCERR", "SEGV_BNDERR",
                                       "SEGV_PKUERR", "SEGV_ACCADI", "SEGV_ADIDERR",
                                       "SEGV_ADIPERR", "SEGV_MTEAERR", "SEGV_MTESERR",
                                       "SEGV_CPERR"};
    static const char *const bus[] = {NULL, "BUS_ADRALN", "BUS_ADRERR", "BUS_OBJERR",
                                      "BUS_MCEERR_AR", "BUS_MCEERR_AO"};
    static const char *const fpe[] = {NULL, "FPE_INTDIV", "FPE_INTOVF", "FPE_FLTDIV",
                                      "FPE_FLTOVF", "FPE_FLTUND", "FPE_FLTRES", "FPE_FLTINV",
                                      "FPE_FLTSUB", "FPE_FLTUNK", "FPE_CONDTRAP"};
    static const char *const ill[] = {NULL, "ILL_ILLOPC", "ILL_ILLOPN", "ILL_ILLADR",
                                      "ILL_ILLTRP", "ILL_PRVOPC", "ILL_PRVREG", "ILL_COPROC",
                                      "ILL_BADSTK", "ILL_BADIADDR"};
    static const char *const trap[] = {NULL, "TRAP_BRKPT", "TRAP_TRACE", "TRAP_BRANCH",
                                       "TRAP_HWBKPT", "TRAP_UNK", "TRAP_PERF"};
    static const char *const sys[] = {NULL, "SYS_SECCOMP", "SYS_USER_DISPATCH"};
#define PICK(t) (code > 0 && (size_t)code < sizeof(t) / sizeof((t)[0]) ? (t)[code] : NULL)

    if (code <= 0 || code == SI_KERNEL)
        return generic_code(code);
    switch (sig) {
    case SIGSEGV: return PICK(segv);
    case SIGBUS: return PICK(bus);
    case SIGFPE: return PICK(fpe);
    case SIGILL: return PICK(ill);
    case SIGTRAP: return PICK(trap);
    case SIGSYS: return PICK(sys);
    default: return NULL;
    }
#undef PICK
}

/* An instruction that faulted (SIGSEGV, SIGBUS, SIGFPE, SIGILL from the kernel) faults again
 * when the handler returns to it. A breakpoint (SIGTRAP) or a seccomp trap (SIGSYS) resumes
 * after the instruction, and a signal sent by someone (si_code <= 0) does not repeat at all:
 * those are raised again instead. */
int pt__crash_refaults(int sig, int code)
{
    if (code <= 0)
        return 0;
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL;
}

/* ---- system calls ---------------------------------------------------------------------- */

pid_t pt__crash_gettid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

uint64_t pt__crash_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A write that fits in a pipe once poll(2) says POLLOUT: no more than PIPE_BUF, which an
 * empty pipe buffer slot always takes. */
#define CHUNK 4096

int pt__crash_write_all(int fd, const char *buf, size_t len, uint64_t deadline_ns)
{
    while (len) {
        if (deadline_ns) {
            uint64_t now = pt__crash_mono_ns();
            if (now >= deadline_ns)
                return -1;
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int ms = (int)((deadline_ns - now + 999999) / 1000000);
            int r = poll(&p, 1, ms);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0 || (p.revents & (POLLERR | POLLHUP | POLLNVAL)))
                return -1;
        }
        ssize_t n = write(fd, buf, deadline_ns && len > CHUNK ? CHUNK : len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}
