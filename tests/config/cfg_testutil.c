/* Helpers of the configuration tests (cfg_testutil.h). */
#include "cfg_testutil.h"

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

uint64_t cfgt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void cfgt_sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

char *cfgt_fmt(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    return s;
}

/* ---- the fixture ----------------------------------------------------------------------------- */

static cfgt *live; /* the fixtures not torn down yet */

cfgt *cfgt_setup(void)
{
    cfgt *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    unsetenv("POTTER_ENV");
    unsetenv("POTTER_DATACENTER_FILE");
    const char *tmp = getenv("TMPDIR");
    snprintf(t->root, sizeof(t->root), "%s/pt-cfgtest-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(t->root));
    snprintf(t->dir, sizeof(t->dir), "%s/config", t->root);
    assert_int_equal(mkdir(t->dir, 0700), 0);
    snprintf(t->dcfile, sizeof(t->dcfile), "%s/datacenter", t->root);
    t->out = open_memstream(&t->out_text, &t->out_len);
    t->err = open_memstream(&t->err_text, &t->err_len);
    assert_non_null(t->out);
    assert_non_null(t->err);
    pthread_mutex_init(&t->report_lock, NULL);
    t->opts.version = "1.2.3";
    t->opts.config_dir = t->dir;
    t->opts.datacenter_file = t->dcfile;
    t->opts.out = t->out;
    t->opts.err = t->err;
    t->next = live;
    live = t;
    return t;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void cfgt_teardown(cfgt *t)
{
    if (t == NULL)
        return;
    for (cfgt **link = &live; *link; link = &(*link)->next)
        if (*link == t) {
            *link = t->next;
            break;
        }
    pt_config_free(t->cfg);
    fclose(t->out);
    fclose(t->err);
    free(t->out_text);
    free(t->err_text);
    free(t->reports);
    pthread_mutex_destroy(&t->report_lock);
    nftw(t->root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    free(t);
}

int cfgt_cmocka_setup(void **state)
{
    *state = cfgt_setup();
    return 0;
}

int cfgt_cmocka_teardown(void **state)
{
    cfgt_teardown(*state);
    return 0;
}

int cfgt_group_teardown(void **state)
{
    (void)state;
    while (live)
        cfgt_teardown(live);
    return 0;
}

static void on_report(void *arg, int level, const char *msg)
{
    cfgt *t = arg;
    char *line = cfgt_fmt("%s: %s\n",
                          level == PT_CONFIG_WARN    ? "warn"
                          : level == PT_CONFIG_ERROR ? "error"
                                                     : "?",
                          msg);
    size_t n = strlen(line);
    pthread_mutex_lock(&t->report_lock);
    char *r = realloc(t->reports, t->reports_len + n + 1);
    if (r) {
        memcpy(r + t->reports_len, line, n + 1);
        t->reports = r;
        t->reports_len += n;
    }
    t->nreports++;
    pthread_mutex_unlock(&t->report_lock);
    free(line);
}

void cfgt_use_report(cfgt *t)
{
    t->opts.report = on_report;
    t->opts.report_arg = t;
}

const char *cfgt_reports(cfgt *t)
{
    return t->reports ? t->reports : "";
}

size_t cfgt_nreports(cfgt *t)
{
    pthread_mutex_lock(&t->report_lock);
    size_t n = t->nreports;
    pthread_mutex_unlock(&t->report_lock);
    return n;
}

void cfgt_reports_clear(cfgt *t)
{
    pthread_mutex_lock(&t->report_lock);
    free(t->reports);
    t->reports = NULL;
    t->reports_len = 0;
    t->nreports = 0;
    pthread_mutex_unlock(&t->report_lock);
}

void cfgt_new(cfgt *t, const pt_config_key *keys, size_t n)
{
    assert_int_equal(pt_config_new("svc", &t->opts, &t->cfg), 0);
    int rc = pt_config_declare(t->cfg, keys, n);
    if (rc != 0)
        fail_msg("declare: %d: %s", rc, pt_config_error(t->cfg));
}

int cfgt_loadv(cfgt *t, int argc, const char *const *args)
{
    char **argv = calloc((size_t)argc + 2, sizeof(char *));
    assert_non_null(argv);
    argv[0] = "svc";
    for (int i = 0; i < argc; i++)
        argv[i + 1] = (char *)args[i];
    int rc = pt_config_load(t->cfg, argc + 1, argv);
    free(argv);
    return rc;
}

int cfgt_load(cfgt *t, ...)
{
    const char *args[64];
    int n = 0;
    va_list ap;

    va_start(ap, t);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;) {
        assert_true(n < 64);
        args[n++] = a;
    }
    va_end(ap);
    return cfgt_loadv(t, n, args);
}

/* ---- files ----------------------------------------------------------------------------------- */

char *cfgt_path(cfgt *t, const char *rel)
{
    return cfgt_fmt("%s/%s", t->dir, rel);
}

void cfgt_write_abs(const char *path, const char *text, size_t len)
{
    char *dir = strdup(path);
    assert_non_null(dir);
    for (char *s = dir + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
            fail_msg("mkdir %s: %s", dir, strerror(errno));
        *s = '/';
    }
    free(dir);
    /* Write a new file and rename it in place, as editors and deploy tools do. */
    char *tmp = cfgt_fmt("%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (f == NULL)
        fail_msg("fopen %s: %s", tmp, strerror(errno));
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, path), 0);
    free(tmp);
}

void cfgt_write_n(cfgt *t, const char *rel, const char *text, size_t len)
{
    char *path = cfgt_path(t, rel);
    cfgt_write_abs(path, text, len);
    free(path);
}

void cfgt_write(cfgt *t, const char *rel, const char *text)
{
    cfgt_write_n(t, rel, text, strlen(text));
}

/* ---- output ---------------------------------------------------------------------------------- */

/* After a rewind, open_memstream's buffer keeps the older, longer text past the new size:
 * end the string at the size (the buffer always has room for that NUL). */
const char *cfgt_out(cfgt *t)
{
    fflush(t->out);
    if (t->out_text == NULL)
        return "";
    t->out_text[t->out_len] = '\0';
    return t->out_text;
}

const char *cfgt_err(cfgt *t)
{
    fflush(t->err);
    if (t->err_text == NULL)
        return "";
    t->err_text[t->err_len] = '\0';
    return t->err_text;
}

void cfgt_clear_output(cfgt *t)
{
    fflush(t->out);
    fflush(t->err);
    rewind(t->out);
    rewind(t->err);
}

void cfgt_pos(const char *text, const char *needle, unsigned *line, unsigned *col)
{
    const char *at = strstr(text, needle);
    if (at == NULL)
        fail_msg("\"%s\" is not in the text", needle);
    *line = 1;
    *col = 1;
    for (const char *p = text; p < at; p++) {
        if (*p == '\n') {
            (*line)++;
            *col = 1;
        } else if (((unsigned char)*p & 0xC0) != 0x80) {
            (*col)++;
        }
    }
}

/* ---- subscribers ----------------------------------------------------------------------------- */

void cfgt_watch_init(cfgt_watch *w)
{
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
}

void cfgt_watch_free(cfgt_watch *w)
{
    for (size_t i = 0; i < w->ncalls; i++) {
        for (size_t j = 0; j < w->calls[i].n; j++) {
            free(w->calls[i].c[j].key);
            free(w->calls[i].c[j].old_value);
            free(w->calls[i].c[j].new_value);
            free(w->calls[i].c[j].origin);
        }
        free(w->calls[i].c);
    }
    free(w->calls);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
}

static char *dup_text(const char *s)
{
    char *d = strdup(s ? s : "(NULL)");
    if (d == NULL)
        abort();
    return d;
}

void cfgt_watch_fn(void *arg, const pt_config_change *changes, size_t n)
{
    cfgt_watch *w = arg;
    cfgt_call call = {n, calloc(n ? n : 1, sizeof(cfgt_change))};

    if (call.c == NULL)
        abort();
    for (size_t i = 0; i < n; i++) {
        call.c[i].key = dup_text(changes[i].key);
        call.c[i].old_value = dup_text(changes[i].old_value);
        call.c[i].new_value = dup_text(changes[i].new_value);
        call.c[i].origin = dup_text(changes[i].origin);
    }
    pthread_mutex_lock(&w->lock);
    if (w->ncalls == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 8;
        w->calls = realloc(w->calls, w->cap * sizeof(*w->calls));
        if (w->calls == NULL)
            abort();
    }
    w->calls[w->ncalls++] = call;
    size_t nth = w->ncalls;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    if (w->unsubscribe_after > 0 && nth == (size_t)w->unsubscribe_after)
        pt_config_unsubscribe(w->sub);
}

int cfgt_watch_wait(cfgt_watch *w, size_t calls, unsigned timeout_ms)
{
    struct timespec dl;
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->lock);
    while (w->ncalls < calls && rc == 0)
        rc = pthread_cond_timedwait(&w->cond, &w->lock, &dl);
    int ok = w->ncalls >= calls;
    pthread_mutex_unlock(&w->lock);
    return ok ? 0 : -1;
}

size_t cfgt_watch_count(cfgt_watch *w)
{
    pthread_mutex_lock(&w->lock);
    size_t n = w->ncalls;
    pthread_mutex_unlock(&w->lock);
    return n;
}

struct barrier {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
};

static void barrier_task(void *arg)
{
    struct barrier *b = arg;
    pthread_mutex_lock(&b->lock);
    b->done = 1;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

void cfgt_ops_barrier(void)
{
    struct barrier b = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct timespec dl;

    assert_int_equal(pt_ops_post(barrier_task, &b), 0);
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 5;
    pthread_mutex_lock(&b.lock);
    while (!b.done)
        if (pthread_cond_timedwait(&b.cond, &b.lock, &dl) == ETIMEDOUT)
            break;
    int done = b.done;
    pthread_mutex_unlock(&b.lock);
    if (!done) /* b is on this stack: pt-ops may still touch it, so do not return */
        abort();
}

/* ---- aborting calls -------------------------------------------------------------------------- */

int cfgt_run_child(void (*fn)(void *), void *arg, char *msg, size_t len)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        close(fds[1]);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fds[0], msg + n, len - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == len - 1) {
            char sink[256];
            while (read(fds[0], sink, sizeof(sink)) > 0) {
            }
            break;
        }
    }
    msg[n] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}
