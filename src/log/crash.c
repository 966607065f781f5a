/* What the log part does for the crash path (log_crash.h, docs/crash.md): the records held in
 * memory written out from a signal handler, and the fatal record to every sink. Everything
 * here is async-signal-safe: memory prepared beforehand, write(2), poll(2), futex wake-ups,
 * numbers and times formatted by hand. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/clock_internal.h"
#include "core/number_internal.h"
#include "log/log_crash.h"
#include "log/log_internal.h"

struct pt__log_crash_state pt__log_crash = {.pipe = {-1, -1}};

/* ---- a line in a fixed buffer ----------------------------------------------------------- */

/* The dump formats one line at a time here; the crash part lets one thread in at a time. */
static char line_buf[64 * 1024];

typedef struct {
    char *p;
    size_t len, cap;
} fixed;

static void put(fixed *b, const char *s, size_t n)
{
    if (n > b->cap - b->len)
        n = b->cap - b->len;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void putc_(fixed *b, char c)
{
    if (b->len < b->cap)
        b->p[b->len++] = c;
}

static void put_u64(fixed *b, uint64_t v)
{
    char tmp[20];
    put(b, tmp, pt__fmt_u64(tmp, v));
}

static void put_i64(fixed *b, int64_t v)
{
    if (v < 0) {
        putc_(b, '-');
        put_u64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        put_u64(b, (uint64_t)v);
    }
}

/* A double with 6 decimals, or null where that would be wrong (NaN, infinities, beyond
 * 1e18): a crash report does not need more. */
static void put_double(fixed *b, double d)
{
    if (!(d == d) || d > 1e18 || d < -1e18) {
        put(b, "null", 4);
        return;
    }
    if (d < 0) {
        putc_(b, '-');
        d = -d;
    }
    uint64_t whole = (uint64_t)d;
    uint64_t frac = (uint64_t)((d - (double)whole) * 1e6 + 0.5);
    if (frac >= 1000000) {
        whole++;
        frac -= 1000000;
    }
    put_u64(b, whole);
    putc_(b, '.');
    char f[6];
    for (int i = 5; i >= 0; i--, frac /= 10)
        f[i] = (char)('0' + frac % 10);
    put(b, f, 6);
}

/* s[0..n) as a JSON string; bytes >= 0x80 are passed as they are (the formatter on pt-log
 * checks UTF-8; a crash report keeps what was there). */
static void put_str(fixed *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    putc_(b, '"');
    for (size_t i = 0; i < n && b->len + 8 < b->cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            putc_(b, '\\');
            putc_(b, (char)c);
        } else if (c < 0x20) {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(b, u, 6);
        } else {
            putc_(b, (char)c);
        }
    }
    putc_(b, '"');
}

/* "2026-11-23T01:02:03.456Z", quoted. */
static void put_time(fixed *b, int64_t ns)
{
    char t[32];
    size_t n = pt__fmt_utc_ms(t, ns, 0);
    putc_(b, '"');
    put(b, t, n);
    putc_(b, '"');
}

static int is_reserved(const char *key)
{
    static const char *const core[] = {"v", "level", "name", "hostname", "pid", "time", "msg",
                                       "src"};
    while (*key == '_')
        key++;
    for (size_t i = 0; i < sizeof core / sizeof *core; i++)
        if (strcmp(key, core[i]) == 0)
            return 1;
    return 0;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* ---- the records in memory ------------------------------------------------------------------ */

static size_t dump_flight(int fd)
{
    const pt_flight_header *h = pt_flight_recorder;
    if (h == NULL)
        return 0;
    uint64_t end = __atomic_load_n(&h->written, __ATOMIC_ACQUIRE);
    uint64_t k = end > h->slot_count ? end - h->slot_count : 0;
    size_t room = h->slot_size - sizeof(pt_flight_slot), n = 0;
    for (; k < end; k++) {
        const pt_flight_slot *s =
            (const pt_flight_slot *)((const char *)h + h->header_size +
                                     (size_t)(k % h->slot_count) * h->slot_size);
        if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != k + 1)
            continue; /* being written, or overwritten */
        write_all(fd, (const char *)(s + 1), s->len < room ? s->len : room);
        write_all(fd, "\n", 1);
        n++;
    }
    return n;
}

/* One record still in a ring, as a JSON line marked "pending". */
static void put_pending(fixed *b, const struct pt__rec *rec, pid_t tid)
{
    static struct pt__decoded d;
    static char names[64][64];
    pt__log_decode(rec, &d, names);
    pt_log *root = rec->log ? rec->log->root : NULL;
    put(b, "{\"v\":0,\"level\":", 15);
    put_u64(b, rec->level);
    if (root && root->name_json) {
        putc_(b, ',');
        put(b, root->name_json, root->name_json_len);
    }
    put(b, pt__log_hostname_json, pt__log_hostname_json_len);
    put(b, ",\"pid\":", 7);
    put_u64(b, (uint64_t)pt__log_pid);
    put(b, ",\"time\":", 8);
    put_time(b, pt__clock_ticks_to_wall_signal_safe(rec->ticks));
    put(b, ",\"msg\":", 7);
    put_str(b, d.msg, d.msg_len);
    put(b, ",\"pending\":true,\"tid\":", 22);
    put_u64(b, (uint64_t)tid);
    for (size_t i = 0; i < d.n; i++) {
        const struct pt__field *f = &d.f[i];
        putc_(b, ',');
        if (f->type == PT__FIELD_JSON_MEMBERS) { /* made by potter, and not cut */
            if (f->cut == 0 && f->v.s.p) {
                put(b, f->v.s.p, f->v.s.n);
            } else { /* as pt__json_value() says it: the bytes the members had */
                put(b, "\"members_cut\":", 14);
                put_u64(b, f->v.s.n + f->cut);
            }
            continue;
        }
        putc_(b, '"');
        if (is_reserved(f->name))
            putc_(b, '_');
        put(b, f->name, strlen(f->name)); /* names are identifiers the code wrote */
        put(b, "\":", 2);
        switch (f->type) {
        case PT_FIELD_STR:
        case PT_FIELD_JSON:
            if (f->v.s.p)
                put_str(b, f->v.s.p, f->v.s.n);
            else
                put(b, "null", 4);
            break;
        case PT__FIELD_JSON_BUILT: put(b, f->v.s.p, f->v.s.n); break; /* made by potter */
        case PT_FIELD_INT: put_i64(b, f->v.i); break;
        case PT_FIELD_UINT: put_u64(b, f->v.u); break;
        case PT_FIELD_DBL: put_double(b, f->v.d); break;
        case PT_FIELD_BOOL: put(b, f->v.u ? "true" : "false", f->v.u ? 4 : 5); break;
        case PT_FIELD_ERR:
            put(b, "{\"code\":", 8);
            put_i64(b, f->v.i < 0 ? -f->v.i : f->v.i);
            putc_(b, '}');
            break;
        case PT_FIELD_DUR: put_double(b, (double)f->v.i / 1e6); break;
        default: put(b, "null", 4);
        }
    }
    put(b, "}\n", 2);
    if (b->len == b->cap) /* cut: end it as a line all the same */
        b->p[b->cap - 1] = '\n';
}

static size_t dump_pending(int fd)
{
    size_t n = 0;
    for (struct pt__ring *r = atomic_load(&pt__rings); r; r = atomic_load(&r->next)) {
        uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
        uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        /* pt-log may consume meanwhile (it is alive unless it crashed): what it takes is
         * written by it, what is left is read here; a record torn by the race is cut short
         * by its size check. */
        while (tail < head && head - tail <= r->size) {
            const struct pt__rec *rec =
                (const struct pt__rec *)(r->buf + (tail & (r->size - 1)));
            if (rec->size < sizeof *rec || rec->size > head - tail || rec->nfields > 64)
                break;
            if (rec->kind == PT__REC_SITE || rec->kind == PT__REC_EMIT) {
                fixed b = {line_buf, 0, sizeof line_buf};
                put_pending(&b, rec, r->tid);
                write_all(fd, b.p, b.len);
                n++;
            }
            tail += rec->size;
        }
    }
    return n;
}

size_t pt__log_crash_dump(int fd)
{
    size_t n = dump_flight(fd);
    return n + dump_pending(fd);
}

/* ---- the fatal record -------------------------------------------------------------------- */

/* Straight to the descriptors of the file and stderr sinks. Returns 0 when each took it. */
static int write_direct(const char *line, size_t len)
{
    int rc = 0;
    for (struct pt__sink *s = pt__logs.sinks; s; s = s->next_global) {
        if (!(s->levels & PT_LOG_MASK(PT_LOG_FATAL)))
            continue;
        int fd = pt__sink_direct_fd(s);
        if (fd < 0) {
            rc = -ETIMEDOUT; /* a sink we cannot reach from here */
            continue;
        }
        write_all(fd, line, len);
    }
    return rc;
}

int pt__log_crash_fatal(const char *line, size_t len, uint64_t timeout_ms)
{
    static atomic_int called;
    int no = 0;
    if (!atomic_compare_exchange_strong(&called, &no, 1))
        return -EALREADY;
    pid_t me = (pid_t)syscall(SYS_gettid);
    if (timeout_ms && pt__writer_running() && !atomic_load(&pt__log_sync) &&
        pt__log_crash.pipe[0] >= 0 && me != atomic_load(&pt__log_crash.writer_tid)) {
        pt__log_crash.line = line;
        pt__log_crash.len = len;
        pt__log_crash.deadline_ns = pt_clock_mono_ns() + timeout_ms * 1000000;
        atomic_store(&pt__log_crash.state, PT__CRASH_ASKED);
        pt__writer_wake_always();
        uint64_t end = pt__log_crash.deadline_ns;
        for (;;) {
            uint64_t now = pt_clock_mono_ns();
            if (now >= end)
                break;
            struct pollfd p = {pt__log_crash.pipe[0], POLLIN, 0};
            int r = poll(&p, 1, (int)((end - now + 999999) / 1000000));
            if (r > 0)
                return 0;
            if (r < 0 && errno != EINTR)
                break;
        }
        /* pt-log did not make it in time (a sink hangs, or pt-log is stuck): the line goes
         * to the descriptors too, which may write it twice where pt-log is merely late. */
        write_direct(line, len);
        return -ETIMEDOUT;
    }
    return write_direct(line, len);
}

size_t pt__log_crash_identity(char *buf, size_t len)
{
    fixed b = {buf, 0, len ? len - 1 : 0};
    pt_log *named = NULL;
    for (pt_log *l = pt__logs.all; l && !named; l = l->all_next)
        if (l == l->root && l->nsinks && l->name_json)
            named = l;
    if (named) {
        put(&b, named->name_json, named->name_json_len);
    } else {
        extern char *program_invocation_short_name;
        put(&b, "\"name\":", 7);
        put_str(&b, program_invocation_short_name, strlen(program_invocation_short_name));
    }
    put(&b, pt__log_hostname_json, pt__log_hostname_json_len);
    put(&b, ",\"pid\":", 7);
    put_u64(&b, (uint64_t)getpid());
    if (b.len == b.cap || len == 0)
        return 0;
    buf[b.len] = '\0';
    return b.len;
}
