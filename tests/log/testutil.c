/* tests/log/testutil.c: the helpers declared in testutil.h; pt_log_test() builds this file
 * into every test of the logger. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "log/testutil.h"

/* ---- time ------------------------------------------------------------------------------ */
uint64_t tu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t tu_now_ms(void)
{
    return tu_now_ns() / 1000000u;
}

void tu_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int tu_sanitized(void)
{
    const char *s = getenv("PT_SANITIZED");
    return s != NULL && *s != '\0' && strcmp(s, "0") != 0;
}

/* ---- temporary folders ------------------------------------------------------------------ */
char *tu_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/pt-logtest-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    if (d == NULL) {
        fprintf(stderr, "mkdtemp(%s): %s\n", tmpl, strerror(errno));
        abort();
    }
    return strdup(d);
}

static int tu__rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void tu_rmtree(char *dir)
{
    if (dir == NULL)
        return;
    nftw(dir, tu__rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

char *tu_path(const char *dir, const char *name)
{
    char *p;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        abort();
    return p;
}

int tu_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

long long tu_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* ---- UTF-8 ------------------------------------------------------------------------------- */
size_t tu_utf8_bad_at(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (i + len > n)
            return i;
        for (size_t k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return i;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += len;
    }
    return (size_t)-1;
}

/* ---- log lines ----------------------------------------------------------------------------- */
static void tu__bad(tu_lines *ls, size_t i, const char *fmt, ...)
{
    char *msg;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        abort();
    va_end(ap);
    if (ls->why[i] == NULL) {
        ls->why[i] = msg;
        ls->nbad++;
    } else {
        free(msg);
    }
}

json_t *tu_parse_line(const char *line, size_t len, char **why)
{
    *why = NULL;
    size_t bad = tu_utf8_bad_at(line, len);
    if (bad != (size_t)-1) {
        if (asprintf(why, "invalid UTF-8 at byte %zu", bad) < 0)
            abort();
        return NULL;
    }
    for (size_t k = 0; k < len; k++) {
        if ((unsigned char)line[k] < 0x20) {
            if (asprintf(why, "raw control character 0x%02x at byte %zu", line[k], k) < 0)
                abort();
            return NULL;
        }
    }
    json_error_t err;
    json_t *j =
        json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &err);
    if (j == NULL) {
        if (asprintf(why, "not JSON (%s at column %d)", err.text, err.column) < 0)
            abort();
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        if (asprintf(why, "not a JSON object") < 0)
            abort();
        return NULL;
    }
    return j;
}

void tu_lines_parse(tu_lines *ls, const char *data, size_t len)
{
    memset(ls, 0, sizeof *ls);
    size_t cap = 0;
    size_t start = 0;
    while (start < len) {
        const char *nl = memchr(data + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - data) : len;
        if (nl == NULL)
            ls->partial = 1;
        if (ls->n == cap) {
            cap = cap ? cap * 2 : 256;
            ls->raw = realloc(ls->raw, cap * sizeof *ls->raw);
            ls->rec = realloc(ls->rec, cap * sizeof *ls->rec);
            ls->why = realloc(ls->why, cap * sizeof *ls->why);
        }
        size_t i = ls->n++;
        ls->raw[i] = strndup(data + start, end - start);
        ls->why[i] = NULL;
        /* strndup stops at a NUL: keep the real bytes for the checks. */
        ls->rec[i] = tu_parse_line(data + start, end - start, &ls->why[i]);
        if (ls->why[i] != NULL)
            ls->nbad++;
        start = end + 1;
    }
    if (ls->partial && ls->n > 0)
        tu__bad(ls, ls->n - 1, "last line has no newline");
}

void tu_lines_load(tu_lines *ls, const char *path)
{
    size_t len = 0;
    char *data = tu_read_file(path, &len);
    tu_lines_parse(ls, data ? data : "", data ? len : 0);
    free(data);
}

void tu_lines_free(tu_lines *ls)
{
    for (size_t i = 0; i < ls->n; i++) {
        free(ls->raw[i]);
        free(ls->why[i]);
        json_decref(ls->rec[i]);
    }
    free(ls->raw);
    free(ls->rec);
    free(ls->why);
    memset(ls, 0, sizeof *ls);
}

size_t tu_lines_report_bad(const tu_lines *ls)
{
    size_t shown = 0;
    for (size_t i = 0; i < ls->n && shown < 5; i++) {
        if (ls->why[i] != NULL) {
            fprintf(stderr, "bad line %zu: %s: %.300s\n", i + 1, ls->why[i], ls->raw[i]);
            shown++;
        }
    }
    return ls->nbad;
}

json_t *tu_find_msg(const tu_lines *ls, const char *msg, size_t *index)
{
    for (size_t i = 0; i < ls->n; i++) {
        if (ls->rec[i] == NULL)
            continue;
        const char *m = json_string_value(json_object_get(ls->rec[i], "msg"));
        if (m != NULL && strcmp(m, msg) == 0) {
            if (index)
                *index = i;
            return ls->rec[i];
        }
    }
    return NULL;
}

size_t tu_count_msg(const tu_lines *ls, const char *msg)
{
    size_t c = 0;
    for (size_t i = 0; i < ls->n; i++) {
        const char *m = ls->rec[i] ? json_string_value(json_object_get(ls->rec[i], "msg")) : NULL;
        if (m != NULL && strcmp(m, msg) == 0)
            c++;
    }
    return c;
}

int64_t tu_parse_time(const char *t)
{
    static const char form[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (t == NULL || strlen(t) != sizeof form - 1)
        return -1;
    for (size_t i = 0; i < sizeof form - 1; i++) {
        if (form[i] == 'd' ? (t[i] < '0' || t[i] > '9') : t[i] != form[i])
            return -1;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int ms = 0;
    if (sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return -1;
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + ms;
}

int64_t tu_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *tu_check_core(json_t *rec, const char *name, int level, pid_t pid)
{
    static __thread char why[512];
    json_t *v = json_object_get(rec, "v");
    if (!json_is_integer(v) || json_integer_value(v) != 0)
        return "v is not the integer 0";
    json_t *l = json_object_get(rec, "level");
    if (!json_is_integer(l))
        return "level is not an integer";
    json_int_t lv = json_integer_value(l);
    if (lv < 10 || lv > 60 || lv % 10 != 0)
        return "level is not one of 10..60";
    if (level != 0 && lv != level) {
        snprintf(why, sizeof why, "level is %lld, expected %d", (long long)lv, level);
        return why;
    }
    const char *n = json_string_value(json_object_get(rec, "name"));
    if (n == NULL)
        return "name is not a string";
    if (name != NULL && strcmp(n, name) != 0) {
        snprintf(why, sizeof why, "name is \"%s\", expected \"%s\"", n, name);
        return why;
    }
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    const char *h = json_string_value(json_object_get(rec, "hostname"));
    if (h == NULL)
        return "hostname is not a string";
    if (strcmp(h, host) != 0) {
        snprintf(why, sizeof why, "hostname is \"%s\", expected \"%s\"", h, host);
        return why;
    }
    json_t *p = json_object_get(rec, "pid");
    if (!json_is_integer(p))
        return "pid is not an integer";
    if (pid != 0 && json_integer_value(p) != pid) {
        snprintf(why, sizeof why, "pid is %lld, expected %d", (long long)json_integer_value(p),
                 (int)pid);
        return why;
    }
    const char *t = json_string_value(json_object_get(rec, "time"));
    int64_t ms = tu_parse_time(t);
    if (ms < 0) {
        snprintf(why, sizeof why, "time \"%s\" is not YYYY-MM-DDTHH:MM:SS.mmmZ", t ? t : "(none)");
        return why;
    }
    int64_t now = tu_wall_ms();
    if (ms > now + 2000 || ms < now - 120000) {
        snprintf(why, sizeof why, "time %s is not close to now", t);
        return why;
    }
    if (!json_is_string(json_object_get(rec, "msg")))
        return "msg is not a string";
    return NULL;
}

const char *tu_str(json_t *rec, const char *key)
{
    return json_string_value(json_object_get(rec, key));
}

/* ---- the file-logger fixture ------------------------------------------------------------ */
int tu_fx_setup(void **state, const char *name, const char *file, int want_sink)
{
    tu_fx *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    f->path = tu_path(f->dir, file);
    assert_int_equal(pt_log_new(name, &f->log), 0);
    assert_int_equal(pt_log_add_file(f->log, f->path, NULL, want_sink ? &f->file : NULL), 0);
    if (want_sink)
        assert_non_null(f->file);
    *state = f;
    return 0;
}

int tu_fx_teardown(void **state)
{
    tu_fx *f = *state;
    pt_log_free(f->log);
    tu_lines_free(&f->lines);
    free(f->path);
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

void tu_flush_and_load(tu_lines *ls, const char *path)
{
    assert_int_equal(pt_log_flush(5000), 0);
    tu_lines_free(ls);
    tu_lines_load(ls, path);
    TU_ASSERT_LINES_GOOD(ls);
}

size_t tu_seqs(const char *path, const char *msg, long long *out, size_t max)
{
    tu_lines ls;
    tu_lines_load(&ls, path);
    TU_ASSERT_LINES_GOOD(&ls);
    size_t n = 0;
    for (size_t i = 0; i < ls.n; i++) {
        if (msg && strcmp(tu_str(ls.rec[i], "msg"), msg) != 0)
            continue;
        if (n < max)
            out[n] = json_integer_value(json_object_get(ls.rec[i], "i"));
        n++;
    }
    tu_lines_free(&ls);
    return n;
}

/* ---- a sink of our own ------------------------------------------------------------------- */
void tu_sink_init(tu_sink *s, int keep)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->keep = keep;
}

void tu_sink_destroy(tu_sink *s)
{
    free(s->buf);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

ssize_t tu_sink_write(void *ctx, const char *buf, size_t len)
{
    tu_sink *s = ctx;
    pthread_mutex_lock(&s->mu);
    s->entered = 1;
    s->writes++;
    while (s->hold) {
        s->waiting = 1;
        pthread_cond_broadcast(&s->cv);
        pthread_cond_wait(&s->cv, &s->mu);
    }
    s->waiting = 0;
    if (s->fail > 0) {
        s->fail--;
        int err = s->fail_err;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        return err;
    }
    if (s->max_write && len > s->max_write)
        len = s->max_write;
    if (s->keep) {
        if (s->len + len + 1 > s->cap) {
            s->cap = (s->len + len + 1) * 2;
            s->buf = realloc(s->buf, s->cap);
        }
        memcpy(s->buf + s->len, buf, len);
        s->len += len;
        s->buf[s->len] = '\0';
    }
    for (size_t i = 0; i < len; i++)
        s->lines += buf[i] == '\n';
    unsigned delay = s->delay_us;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (delay)
        usleep(delay);
    return (ssize_t)len;
}

void tu_sink_close(void *ctx)
{
    tu_sink *s = ctx;
    pthread_mutex_lock(&s->mu);
    s->closed = 1;
    pthread_mutex_unlock(&s->mu);
}

const pt_log_sink_ops tu_sink_ops = {
    .kind = "test",
    .write = tu_sink_write,
    .close = tu_sink_close,
};

void tu_sink_set_hold(tu_sink *s, int hold)
{
    pthread_mutex_lock(&s->mu);
    s->hold = hold;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

size_t tu_sink_lines(tu_sink *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->lines;
    pthread_mutex_unlock(&s->mu);
    return n;
}

int tu_sink_wait_closed(tu_sink *s, unsigned timeout_ms)
{
    uint64_t end = tu_now_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int c = s->closed;
        pthread_mutex_unlock(&s->mu);
        if (c)
            return 1;
        if (tu_now_ms() >= end)
            return 0;
        tu_sleep_ms(2);
    }
}

int tu_sink_wait_blocked(tu_sink *s, unsigned timeout_ms)
{
    uint64_t end = tu_now_ms() + timeout_ms;
    pthread_mutex_lock(&s->mu);
    while (!s->waiting && tu_now_ms() < end) {
        pthread_mutex_unlock(&s->mu);
        tu_sleep_ms(2);
        pthread_mutex_lock(&s->mu);
    }
    int w = s->waiting;
    pthread_mutex_unlock(&s->mu);
    return w;
}

/* ---- scenarios in a fresh process ---------------------------------------------------------- */
void __attribute__((format(printf, 4, 5)))
tu__check_failed(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: CHECK failed: %s: ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

/* Set by SOFT_CHECKF; a scenario returns it at its end. */
int tu_soft_failed;

int tu_scenario_dispatch(int argc, char **argv, const tu_scenario *table)
{
    if (argc < 4 || strcmp(argv[1], "--scenario") != 0)
        return -1;
    for (const tu_scenario *s = table; s->name; s++) {
        if (strcmp(s->name, argv[2]) == 0)
            return s->fn(argv[3]);
    }
    fprintf(stderr, "no scenario %s\n", argv[2]);
    return 2;
}

void tu_run_scenario(tu_run *r, const char *name, const char *dir, unsigned timeout_ms)
{
    memset(r, 0, sizeof *r);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        abort();
    exe[n] = '\0';
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        abort();
    uint64_t start = tu_now_ms();
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        execl(exe, exe, "--scenario", name, dir, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t cap = 4096;
    r->out = malloc(cap);
    int eof = 0, killed = 0;
    for (;;) {
        uint64_t now = tu_now_ms();
        if (now - start > timeout_ms && !killed) {
            kill(pid, SIGKILL);
            killed = 1;
        }
        if (!eof) {
            struct pollfd pfd = {fds[0], POLLIN, 0};
            if (poll(&pfd, 1, 50) > 0) {
                if (r->outlen + 4096 + 1 > cap) {
                    cap *= 2;
                    r->out = realloc(r->out, cap);
                }
                ssize_t got = read(fds[0], r->out + r->outlen, 4096);
                if (got > 0)
                    r->outlen += (size_t)got;
                else if (got == 0 || errno != EINTR)
                    eof = 1;
            }
        }
        if (eof)
            tu_sleep_ms(5);
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            r->status = killed ? -1 : st;
            break;
        }
        if (w < 0 && errno != EINTR) {
            r->status = -1;
            break;
        }
    }
    /* Take what is left in the pipe, without waiting for a grandchild that may hold it. */
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    for (;;) {
        if (r->outlen + 4096 + 1 > cap) {
            cap *= 2;
            r->out = realloc(r->out, cap);
        }
        ssize_t got = read(fds[0], r->out + r->outlen, 4096);
        if (got <= 0)
            break;
        r->outlen += (size_t)got;
    }
    close(fds[0]);
    r->out[r->outlen] = '\0';
    r->took_ms = tu_now_ms() - start;
}

int tu__scenario_verdict(tu_run *r, char *buf, size_t cap)
{
    int ok = r->status != -1 && WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
    if (r->status == -1)
        snprintf(buf, cap, "scenario killed after %llu ms; output:\n%s",
                 (unsigned long long)r->took_ms, r->out ? r->out : "");
    else if (!ok)
        snprintf(buf, cap, "scenario ended with %s %d; output:\n%s",
                 WIFEXITED(r->status) ? "status" : "signal",
                 WIFEXITED(r->status) ? WEXITSTATUS(r->status) : WTERMSIG(r->status),
                 r->out ? r->out : "");
    free(r->out);
    r->out = NULL;
    return ok;
}

/* ---- counters ------------------------------------------------------------------------------- */
uint64_t tu_sum(const uint64_t *a)
{
    uint64_t s = 0;
    for (int i = 0; i < PT_LOG_NLEVELS; i++)
        s += a[i];
    return s;
}

long long tu_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long long size = 0, rss = 0;
    if (f == NULL)
        return -1;
    if (fscanf(f, "%lld %lld", &size, &rss) != 2)
        rss = -1;
    fclose(f);
    return rss * sysconf(_SC_PAGESIZE);
}
