/* The crash part without crashing: the hand formatter, the report's format and its copy to
 * the backup descriptor, the fatal record, the crash budget's file, pt_crash_collect(),
 * pt_crash_init()'s errors, pt_thread_init(). Runs in the sanitizer build too. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "crash/crash_internal.h"
#include "crash/crash_testutil.h"
#include "potter/crash.h"

static const char *fmt_u64(uint64_t v)
{
    static char buf[64];
    pt__cbuf b = {buf, 0, sizeof buf - 1, 0};
    pt__cb_u64(&b, v);
    buf[b.len] = '\0';
    return buf;
}

static void test_numbers(void **state)
{
    (void)state;
    char buf[64];
    pt__cbuf b = {buf, 0, sizeof buf - 1, 0};

    assert_string_equal(fmt_u64(0), "0");
    assert_string_equal(fmt_u64(18446744073709551615u), "18446744073709551615");
    pt__cb_i64(&b, INT64_MIN);
    pt__cb_char(&b, ' ');
    pt__cb_hex(&b, 0, 0);
    pt__cb_char(&b, ' ');
    pt__cb_hex(&b, 0xdeadbeef, 16);
    buf[b.len] = '\0';
    assert_string_equal(buf, "-9223372036854775808 0x0 0x00000000deadbeef");

    /* What does not fit is cut, and said so. */
    char small[4];
    pt__cbuf s = {small, 0, sizeof small, 0};
    pt__cb_str(&s, "abcdef");
    assert_int_equal(s.len, 4);
    assert_true(s.cut);
}

static const char *fmt_time(int64_t sec, long nsec, int compact)
{
    static char buf[64];
    struct timespec ts = {(time_t)sec, nsec};
    pt__cbuf b = {buf, 0, sizeof buf - 1, 0};
    pt__cb_time(&b, &ts, compact);
    buf[b.len] = '\0';
    return buf;
}

static void test_times(void **state)
{
    (void)state;
    assert_string_equal(fmt_time(0, 0, 0), "1970-01-01T00:00:00.000Z");
    assert_string_equal(fmt_time(951782400, 123456789, 0), "2000-02-29T00:00:00.123Z");
    assert_string_equal(fmt_time(1795367999, 999999999, 0), "2026-11-22T17:19:59.999Z");
    assert_string_equal(fmt_time(1795367999, 5000000, 1), "20261122T171959.005Z");
    assert_string_equal(fmt_time(-1, 0, 0), "1969-12-31T23:59:59.000Z");
    /* Against gmtime_r over a spread of instants. */
    for (int64_t t = -86400 * 400; t < INT64_C(4102444800); t += 86400 * 37 + 3671) {
        struct tm tm;
        time_t tt = (time_t)t;
        char want[64];
        gmtime_r(&tt, &tm);
        strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
        assert_string_equal(fmt_time(t, 0, 0), want);
    }
}

static const char *fmt_json(const char *s, size_t n)
{
    static char buf[256];
    pt__cbuf b = {buf, 0, sizeof buf - 1, 0};
    pt__cb_json(&b, s, n);
    buf[b.len] = '\0';
    return buf;
}

static void test_json_strings(void **state)
{
    (void)state;
    assert_string_equal(fmt_json("a\"b\\c\nd\te\x01", 10), "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
    assert_string_equal(fmt_json("h\xc3\xa9 \xe2\x82\xac", 7), "\"h\xc3\xa9 \xe2\x82\xac\"");
    /* Invalid UTF-8 (a lone continuation byte, an overlong form, a surrogate) is replaced. */
    assert_string_equal(fmt_json("\x80x\xc0\xafy\xed\xa0\x80", 8),
                        "\"\\ufffdx\\ufffd\\ufffdy\\ufffd\\ufffd\\ufffd\"");
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(pt__crash_signal_name(SIGSEGV), "SIGSEGV");
    assert_string_equal(pt__crash_signal_name(SIGSYS), "SIGSYS");
    assert_null(pt__crash_signal_name(SIGTERM));
    assert_string_equal(pt__crash_code_name(SIGSEGV, SEGV_MAPERR), "SEGV_MAPERR");
    assert_string_equal(pt__crash_code_name(SIGBUS, BUS_ADRERR), "BUS_ADRERR");
    assert_string_equal(pt__crash_code_name(SIGFPE, FPE_INTDIV), "FPE_INTDIV");
    assert_string_equal(pt__crash_code_name(SIGILL, ILL_ILLOPN), "ILL_ILLOPN");
    assert_string_equal(pt__crash_code_name(SIGTRAP, TRAP_BRKPT), "TRAP_BRKPT");
    assert_string_equal(pt__crash_code_name(SIGSYS, 1), "SYS_SECCOMP");
    assert_string_equal(pt__crash_code_name(SIGABRT, SI_TKILL), "SI_TKILL");
    assert_string_equal(pt__crash_code_name(SIGSEGV, SI_KERNEL), "SI_KERNEL");
    assert_null(pt__crash_code_name(SIGSEGV, 99));
    assert_true(pt__crash_refaults(SIGSEGV, SEGV_MAPERR));
    assert_false(pt__crash_refaults(SIGSEGV, SI_USER));
    assert_false(pt__crash_refaults(SIGTRAP, TRAP_BRKPT));
    assert_false(pt__crash_refaults(SIGABRT, SI_TKILL));
}

/* ---- the report ------------------------------------------------------------------------ */

static void section_requests(int fd, void *arg)
{
    (void)arg;
    (void)!write(fd, "req_id=a GET /x\nno newline at the end", 37);
}

static pt__crash_info *sample_info(int panic)
{
    static pt__crash_info ci;
    memset(&ci, 0, sizeof ci);
    ci.kind = panic ? PT__CRASH_PANIC : PT__CRASH_SIGNAL;
    ci.signo = panic ? SIGABRT : SIGSEGV;
    ci.code = panic ? SI_TKILL : SEGV_MAPERR;
    ci.has_addr = !panic;
    ci.addr = 0x10;
    ci.message = panic ? "two\nlines and \"quotes\"" : NULL;
    ci.pid = getpid();
    ci.tid = 1234;
    snprintf(ci.thread, sizeof ci.thread, "worker-1");
    clock_gettime(CLOCK_REALTIME, &ci.when);
    ci.npcs = pt__stack_walk(NULL, ci.pcs, PT__STACK_MAX);
    snprintf(ci.report_path, sizeof ci.report_path, "/var/crash/crash-x-1.txt");
    return &ci;
}

static char *write_report(const pt__crash_info *ci, char **backup_text)
{
    char dir[256], path[600];
    crash_dir_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/primary", dir);
    int primary = open(path, O_RDWR | O_CREAT, 0600);
    snprintf(path, sizeof path, "%s/backup", dir);
    int backup = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    assert_true(primary >= 0 && backup >= 0);
    pt__crash_report_write(ci, primary, backup, pt__crash_mono_ns() + 1000000000ull);
    close(primary);
    close(backup);
    *backup_text = crash_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/primary", dir);
    char *text = crash_read_file(path, NULL);
    crash_dir_remove(dir);
    return text;
}

static void test_report_format(void **state)
{
    (void)state;
    char *backup, v[256];
    size_t len;

    pt__crash_modules_load();
    char *text = write_report(sample_info(0), &backup);
    assert_int_equal(report_check(text), 0);
    assert_string_equal(text, backup);
    assert_int_equal(report_key(text, "kind", v, sizeof v), 0);
    assert_string_equal(v, "signal");
    assert_int_equal(report_key(text, "signal", v, sizeof v), 0);
    assert_string_equal(v, "SIGSEGV (11)");
    assert_int_equal(report_key(text, "code", v, sizeof v), 0);
    assert_string_equal(v, "SEGV_MAPERR (1)");
    assert_int_equal(report_key(text, "addr", v, sizeof v), 0);
    assert_string_equal(v, "0x10");
    assert_int_equal(report_key(text, "tid", v, sizeof v), 0);
    assert_string_equal(v, "1234");
    assert_int_equal(report_key(text, "thread", v, sizeof v), 0);
    assert_string_equal(v, "worker-1");
    assert_int_equal(report_key(text, "report", v, sizeof v), 0);
    assert_string_equal(v, "/var/crash/crash-x-1.txt");
    assert_int_equal(report_key(text, "core", v, sizeof v), 0);
    assert_string_equal(v, "allowed");
    assert_int_equal(report_key(text, "message", v, sizeof v), -1);
    assert_null(report_section(text, "registers", &len)); /* no context given */
    assert_true(report_section_lines(text, "backtrace") >= 2);
    /* Frames resolve to module+offset: this test program is the first module. */
    const char *bt = report_section(text, "backtrace", &len);
    assert_non_null(memmem(bt, len, "test_crash_unit+0x", 18));
    assert_true(report_section_lines(text, "modules") >= 2);
    assert_non_null(report_section(text, "log", &len));
    free(text);
    free(backup);
}

static void test_report_panic_and_sections(void **state)
{
    (void)state;
    char *backup, v[256];
    size_t len;

    /* Added before pt_crash_init(): sections need no init. */
    assert_int_equal(pt_crash_add_section("requests", section_requests, NULL), 0);
    assert_int_equal(pt_crash_add_section("", section_requests, NULL), -EINVAL);
    assert_int_equal(pt_crash_add_section("a\nb", section_requests, NULL), -EINVAL);
    assert_int_equal(pt_crash_add_section("x", NULL, NULL), -EINVAL);
    char *text = write_report(sample_info(1), &backup);
    assert_int_equal(report_check(text), 0);
    assert_string_equal(text, backup);
    assert_int_equal(report_key(text, "kind", v, sizeof v), 0);
    assert_string_equal(v, "panic");
    assert_int_equal(report_key(text, "code", v, sizeof v), 0);
    assert_string_equal(v, "panic (-6)");
    /* The message stays one line: a JSON string. */
    assert_int_equal(report_key(text, "message", v, sizeof v), 0);
    assert_string_equal(v, "\"two\\nlines and \\\"quotes\\\"\"");
    const char *req = report_section(text, "requests", &len);
    assert_non_null(req);
    /* A section's last line is completed with its newline. */
    assert_int_equal(len, 38);
    assert_memory_equal(req, "req_id=a GET /x\nno newline at the end\n", 38);
    free(text);
    free(backup);
    /* At most 16 sections. */
    int rc = 0, n = 1;
    while ((rc = pt_crash_add_section("more", section_requests, NULL)) == 0)
        n++;
    assert_int_equal(rc, -ENOSPC);
    assert_int_equal(n, PT__CRASH_MAX_SECTIONS);
}

/* A backup pipe nobody reads: the writes give up at the deadline, the primary is whole. */
static void test_report_backup_pipe_full(void **state)
{
    (void)state;
    int p[2];
    char dir[256], path[600];

    assert_int_equal(pipe(p), 0);
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    char junk[4096] = {0};
    while (write(p[1], junk, sizeof junk) > 0)
        ;
    fcntl(p[1], F_SETFL, 0); /* blocking again, and full */
    crash_dir_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/primary", dir);
    int primary = open(path, O_RDWR | O_CREAT, 0600);
    uint64_t start = pt__crash_mono_ns();
    pt__crash_report_write(sample_info(0), primary, p[1], start + 200000000ull);
    uint64_t took = pt__crash_mono_ns() - start;
    close(primary);
    assert_true(took < 1500000000ull);
    char *text = crash_read_file(path, NULL);
    assert_int_equal(report_check(text), 0);
    free(text);
    close(p[0]);
    close(p[1]);
    crash_dir_remove(dir);
}

static void test_fatal_line(void **state)
{
    (void)state;
    static char line[16384];
    json_error_t err;

    for (int panic = 0; panic <= 1; panic++) {
        size_t n = pt__crash_fatal_line(sample_info(panic), line, sizeof line);
        assert_true(n > 0);
        assert_int_equal(line[n - 1], '\n');
        assert_null(memchr(line, '\n', n - 1));
        json_t *j = json_loadb(line, n, JSON_REJECT_DUPLICATES, &err);
        if (!j)
            fprintf(stderr, "%s: %.*s\n", err.text, (int)n, line);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "level")), 60);
        assert_int_equal(json_integer_value(json_object_get(j, "pid")), getpid());
        assert_non_null(json_string_value(json_object_get(j, "name")));
        assert_non_null(json_string_value(json_object_get(j, "hostname")));
        const char *msg = json_string_value(json_object_get(j, "msg"));
        if (panic) {
            assert_string_equal(msg, "panic: two\nlines and \"quotes\"");
            assert_string_equal(json_string_value(json_object_get(j, "code")), "panic");
            assert_null(json_object_get(j, "addr"));
        } else {
            assert_string_equal(msg, "crash: SIGSEGV at 0x10 (SEGV_MAPERR)");
            assert_string_equal(json_string_value(json_object_get(j, "addr")), "0x10");
        }
        assert_string_equal(json_string_value(json_object_get(j, "report")),
                            "/var/crash/crash-x-1.txt");
        assert_int_equal(json_integer_value(json_object_get(j, "tid")), 1234);
        assert_true(json_array_size(json_object_get(j, "backtrace")) >= 2);
        assert_true(json_array_size(json_object_get(j, "frames")) >= 2);
        json_decref(j);
    }
}

/* ---- the budget's file ----------------------------------------------------------------- */

static void test_budget_file(void **state)
{
    (void)state;
    char dir[256], path[600];
    unsigned count = 0;
    int64_t now = (int64_t)time(NULL);

    crash_dir_make(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/%s", dir, PT__CRASH_BUDGET_FILE);
    FILE *f = fopen(path, "w");
    /* Two cores long ago, one within the window, a line cut short. */
    fprintf(f, "%lld 1\n%lld 2\n%lld 3\n12", (long long)(now - 7200), (long long)(now - 4000),
            (long long)(now - 100));
    fclose(f);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    int fd = pt__crash_budget_open(dfd, 3600);
    assert_true(fd >= 0);
    char *text = crash_read_file(path, NULL);
    char want[64];
    snprintf(want, sizeof want, "%lld 3\n", (long long)(now - 100));
    assert_string_equal(text, want); /* only the window's lines are kept */
    free(text);
    assert_int_equal(pt__crash_budget_take(fd, now, 3600, 3, &count), 1);
    assert_int_equal(count, 2);
    assert_int_equal(pt__crash_budget_take(fd, now, 3600, 3, &count), 1);
    assert_int_equal(count, 3);
    assert_int_equal(pt__crash_budget_take(fd, now, 3600, 3, &count), 0);
    assert_int_equal(count, 3);
    /* An hour later the window has room again. */
    assert_int_equal(pt__crash_budget_take(fd, now + 3700, 3600, 3, &count), 1);
    assert_int_equal(count, 1);
    close(fd);
    close(dfd);
    crash_dir_remove(dir);
}

/* ---- pt_crash_collect ------------------------------------------------------------------ */

struct seen {
    int n;
    char paths[4][512];
    char texts[4][64];
};

static void on_report(void *arg, const char *path, const char *text, size_t len)
{
    struct seen *s = arg;
    if (s->n < 4) {
        snprintf(s->paths[s->n], sizeof s->paths[0], "%s", path);
        snprintf(s->texts[s->n], sizeof s->texts[0], "%.*s", (int)len, text);
    }
    s->n++;
}

static void put_file(const char *dir, const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_collect(void **state)
{
    (void)state;
    char dir[256], path[600];
    struct seen s;

    crash_dir_make(dir, sizeof dir);
    memset(&s, 0, sizeof s);
    assert_int_equal(pt_crash_collect(dir, on_report, &s), 0);
    put_file(dir, "crash-20261122T172105.123Z-2.txt", "second");
    put_file(dir, "crash-20261122T172104.000Z-1.txt", "first");
    put_file(dir, "notes.txt", "not a report");
    put_file(dir, PT__CRASH_BUDGET_FILE, "1 1\n");
    assert_int_equal(pt_crash_collect(dir, on_report, &s), 2);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.texts[0], "first"); /* oldest first */
    assert_string_equal(s.texts[1], "second");
    snprintf(path, sizeof path, "%s/crash-20261122T172104.000Z-1.txt", dir);
    assert_string_equal(s.paths[0], path);
    snprintf(path, sizeof path, "%s/archive/crash-20261122T172105.123Z-2.txt", dir);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    assert_int_equal(access(path, F_OK), 0);
    /* Archived: not reported again. */
    memset(&s, 0, sizeof s);
    assert_int_equal(pt_crash_collect(dir, on_report, &s), 0);
    assert_int_equal(s.n, 0);
    snprintf(path, sizeof path, "%s/missing", dir);
    assert_int_equal(pt_crash_collect(path, on_report, &s), 0);
    assert_int_equal(pt_crash_collect(dir, NULL, &s), -EINVAL);
    assert_int_equal(pt_crash_collect(NULL, on_report, &s), -EINVAL);
    crash_dir_remove(dir);
}

/* ---- pt_crash_init --------------------------------------------------------------------- */

static void test_init_errors(void **state)
{
    (void)state;
    char dir[256], path[600];
    pt_crash_options o;

    crash_dir_make(dir, sizeof dir);
    assert_int_equal(pt_crash_init(NULL), -EINVAL);
    memset(&o, 0, sizeof o);
    snprintf(path, sizeof path, "%s/no/such/dir/backup.txt", dir);
    o.backup_file = path;
    assert_int_equal(pt_crash_init(&o), -ENOENT);
    assert_non_null(strstr(pt_crash_error(), "crash.backup_file"));
    assert_non_null(strstr(pt_crash_error(), path));

    memset(&o, 0, sizeof o);
    o.dir = "/dev/null/crash";
    assert_true(pt_crash_init(&o) < 0);
    assert_non_null(strstr(pt_crash_error(), "crash.dir \"/dev/null/crash\""));

    memset(&o, 0, sizeof o);
    o.service = "a\nb";
    assert_int_equal(pt_crash_init(&o), -EINVAL);
    assert_non_null(strstr(pt_crash_error(), "service"));
    memset(&o, 0, sizeof o);
    o.max_cores = 5000;
    assert_int_equal(pt_crash_init(&o), -EINVAL);
    assert_non_null(strstr(pt_crash_error(), "max_cores"));

    /* A successful init installs handlers: done in a child, which reports by exit code. */
    pid_t pid = fork();
    if (pid == 0) {
        memset(&o, 0, sizeof o);
        snprintf(path, sizeof path, "%s/crash", dir);
        o.dir = path;
        if (pt_crash_init(&o) != 0)
            _exit(1);
        if (pt_crash_init(&o) != -EALREADY)
            _exit(2);
        if (pt_crash_core_pattern()[0] == '\0')
            _exit(3);
        struct stat st;
        snprintf(path, sizeof path, "%s/crash/%s", dir, PT__CRASH_BUDGET_FILE);
        if (stat(path, &st) != 0)
            _exit(4);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    crash_dir_remove(dir);
}

/* ---- pt_thread_init -------------------------------------------------------------------- */

static void *thread_checks(void *arg)
{
    int *ok = arg;
    stack_t a, b;

    *ok = 0;
    if (pt_thread_init() != 0 || sigaltstack(NULL, &a) != 0 || (a.ss_flags & SS_DISABLE))
        return NULL;
    if (pt_thread_init() != 0 || sigaltstack(NULL, &b) != 0 || a.ss_sp != b.ss_sp)
        return NULL;
    /* AddressSanitizer's own (smaller) stack is kept under it. */
    if (!getenv("PT_SANITIZED") && a.ss_size < 64 * 1024)
        return NULL;
    *ok = 1;
    return NULL;
}

static void test_thread_init(void **state)
{
    (void)state;
    for (int i = 0; i < 50; i++) { /* each thread's stack is released at its exit */
        pthread_t t;
        int ok = 0;
        assert_int_equal(pthread_create(&t, NULL, thread_checks, &ok), 0);
        pthread_join(t, NULL);
        assert_true(ok);
    }
}

static void ops_check(void *arg)
{
    stack_t ss;
    int *ok = arg;
    *ok = sigaltstack(NULL, &ss) == 0 && !(ss.ss_flags & SS_DISABLE) ? 1 : 2;
}

/* libpotter's own threads have one. */
static void test_background_threads_have_altstack(void **state)
{
    (void)state;
    volatile int ok = 0;
    assert_int_equal(pt_ops_post(ops_check, (void *)&ok), 0);
    for (int i = 0; i < 500 && !ok; i++)
        usleep(10000);
    assert_int_equal(ok, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_json_strings),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_report_format),
        cmocka_unit_test(test_report_panic_and_sections),
        cmocka_unit_test(test_report_backup_pipe_full),
        cmocka_unit_test(test_fatal_line),
        cmocka_unit_test(test_budget_file),
        cmocka_unit_test(test_collect),
        cmocka_unit_test(test_init_errors),
        cmocka_unit_test(test_thread_init),
        cmocka_unit_test(test_background_threads_have_altstack),
    };
    return cmocka_run_group_tests(tests, NULL, crash_group_teardown);
}
