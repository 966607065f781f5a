/* The checks every crash test makes on a run of crash_child (crash_expect.h). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "crash/crash_expect.h"

/* The fatal record in the file sink: exactly one level-60 line, valid JSON, with its fields. */
static void check_fatal_record(const crash_expect *e, const crash_run *r)
{
    const char *line = NULL;
    int nfatal = 0;

    assert_non_null(r->log);
    for (const char *p = r->log; p && *p;) {
        const char *eol = strchr(p, '\n');
        if (strstr(p, "\"level\":60") && (!eol || strstr(p, "\"level\":60") < eol)) {
            nfatal++;
            if (!line)
                line = p;
        }
        p = eol ? eol + 1 : NULL;
    }
    if (nfatal == 0)
        fprintf(stderr, "app.log has no fatal record:\n%s\n", r->log);
    assert_true(nfatal >= 1);
    /* pt-log being late, the line may also have been written straight to the file. */
    assert_true(nfatal <= 2);

    json_error_t err;
    size_t len = strcspn(line, "\n");
    json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
    if (!j)
        fprintf(stderr, "fatal record is not JSON (%s): %.*s\n", err.text, (int)len, line);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "v")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "level")), 60);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "crashtest");
    assert_int_equal(json_integer_value(json_object_get(j, "pid")), r->pid);
    assert_non_null(json_string_value(json_object_get(j, "hostname")));
    const char *time = json_string_value(json_object_get(j, "time"));
    assert_non_null(time);
    assert_int_equal(strlen(time), 24); /* 2026-11-22T17:21:05.123Z */
    assert_int_equal(time[23], 'Z');
    const char *msg = json_string_value(json_object_get(j, "msg"));
    assert_non_null(msg);
    if (!strstr(msg, e->msg))
        fprintf(stderr, "msg \"%s\" lacks \"%s\"\n", msg, e->msg);
    assert_non_null(strstr(msg, e->msg));
    assert_string_equal(json_string_value(json_object_get(j, "signal")), e->signal);
    assert_true(json_integer_value(json_object_get(j, "tid")) > 0);
    assert_non_null(json_string_value(json_object_get(j, "thread")));
    const char *report = json_string_value(json_object_get(j, "report"));
    assert_non_null(report);
    const char *name = strrchr(r->report_path, '/');
    assert_non_null(strstr(report, name));
    json_t *bt = json_object_get(j, "backtrace");
    assert_true(json_is_array(bt));
    assert_true(json_array_size(bt) >= 2);
    assert_true(strncmp(json_string_value(json_array_get(bt, 0)), "0x", 2) == 0);
    json_t *frames = json_object_get(j, "frames");
    assert_true(json_is_array(frames));
    assert_true(json_array_size(frames) >= 1);
    json_decref(j);
}

static void check_report(const crash_expect *e, const crash_run *r)
{
    char v[512];
    size_t len;

    assert_non_null(r->report);
    assert_int_equal(report_check(r->report), 0);
    assert_int_equal(report_key(r->report, "kind", v, sizeof v), 0);
    assert_string_equal(v, e->kind);
    assert_int_equal(report_key(r->report, "service", v, sizeof v), 0);
    assert_string_equal(v, "crashtest");
    assert_int_equal(report_key(r->report, "signal", v, sizeof v), 0);
    assert_true(strncmp(v, e->signal, strlen(e->signal)) == 0);
    if (e->code) {
        assert_int_equal(report_key(r->report, "code", v, sizeof v), 0);
        if (strncmp(v, e->code, strlen(e->code)) != 0)
            fprintf(stderr, "code: %s, expected %s\n", v, e->code);
        assert_true(strncmp(v, e->code, strlen(e->code)) == 0);
    }
    if (e->addr) {
        assert_int_equal(report_key(r->report, "addr", v, sizeof v), 0);
        assert_string_equal(v, e->addr);
    }
    assert_int_equal(report_key(r->report, "pid", v, sizeof v), 0);
    assert_int_equal(atoi(v), r->pid);
    assert_int_equal(report_key(r->report, "tid", v, sizeof v), 0);
    assert_true(atoi(v) > 0);
    assert_int_equal(report_key(r->report, "thread", v, sizeof v), 0);
    assert_int_equal(report_key(r->report, "build-id", v, sizeof v), 0);
    assert_true(strlen(v) >= 16);
    assert_int_equal(report_key(r->report, "time", v, sizeof v), 0);
    assert_int_equal(strlen(v), 24);
    if (!strcmp(e->kind, "panic")) {
        /* The message as a JSON string: the fatal record's msg without its "panic: ". */
        char want[512];
        size_t n = 0;
        for (const char *m = e->msg + strlen("panic: "); *m && n + 3 < sizeof want; m++) {
            if (*m == '"' || *m == '\\')
                want[n++] = '\\';
            want[n++] = *m;
        }
        want[n] = '\0';
        assert_int_equal(report_key(r->report, "message", v, sizeof v), 0);
        if (!strstr(v, want))
            fprintf(stderr, "message %s lacks %s\n", v, want);
        assert_non_null(strstr(v, want));
    }
    assert_true(report_section_lines(r->report, "registers") >= 16);
    assert_true(report_section_lines(r->report, "backtrace") >= 2);
    assert_true(report_section_lines(r->report, "modules") >= 2);
    /* The flight recorder's records and those still in the rings. */
    const char *log = report_section(r->report, "log", &len);
    assert_non_null(log);
    static const char *const usual[] = {"\"msg\":\"child ready\"", "\"msg\":\"about to crash\"", NULL};
    const char *const *want = e->log_has[0] ? e->log_has : usual;
    for (int i = 0; i < 3 && want[i]; i++) {
        if (!memmem(log, len, want[i], strlen(want[i])))
            fprintf(stderr, "the report's log section lacks %s:\n%.*s\n", want[i], (int)len, log);
        assert_non_null(memmem(log, len, want[i], strlen(want[i])));
    }
    const char *req = report_section(r->report, "requests", &len);
    assert_non_null(req);
    assert_non_null(memmem(req, len, "req_id=r-2 POST /upload\n", 24));

    /* The backup descriptor got the same report, byte for byte. */
    assert_non_null(r->backup);
    if (strcmp(r->backup, r->report) != 0)
        fprintf(stderr, "backup.txt differs from %s\n", r->report_path);
    assert_string_equal(r->backup, r->report);
}

static void check_core(const crash_expect *e, crash_run *r)
{
    char v[64];

    assert_int_equal(report_key(r->report, "core", v, sizeof v), 0);
    assert_string_equal(v, e->core ? "allowed" : "over-budget");
    if (!crash_cores_checkable())
        return;
    if (e->core) {
        if (!WCOREDUMP(r->status) || !r->core_path[0])
            fprintf(stderr, "no core (WCOREDUMP %d, file \"%s\")\n", WCOREDUMP(r->status),
                    r->core_path);
        assert_true(WCOREDUMP(r->status));
        assert_true(r->core_path[0] != '\0');
        if (e->function)
            assert_int_not_equal(crash_gdb_has_frame(r->core_path, e->function, e->frames), 0);
    } else {
        assert_false(WCOREDUMP(r->status));
        assert_true(r->core_path[0] == '\0');
    }
    if (r->core_path[0])
        unlink(r->core_path);
}

void crash_expect_run(const crash_expect *e)
{
    char dir[256];
    crash_run r;

    crash_dir_make(dir, sizeof dir);
    int rc = crash_spawn(&r, dir, e->scenario, 100, 30);
    if (!WIFSIGNALED(r.status) || WTERMSIG(r.status) != e->signo)
        fprintf(stderr, "child %s: status 0x%x, output:\n%s\n", e->scenario, r.status,
                r.out ? r.out : "");
    assert_int_equal(rc, 0);
    crash_expect_check(e, &r);
    crash_run_free(&r);
    crash_dir_remove(dir);
}

void crash_expect_check(const crash_expect *e, crash_run *r)
{
    assert_true(WIFSIGNALED(r->status));
    assert_int_equal(WTERMSIG(r->status), e->signo);
    assert_true(r->nreports >= 1);
    check_report(e, r);
    check_fatal_record(e, r);
    check_core(e, r);
    if (r->seconds > e->max_seconds)
        fprintf(stderr, "%s took %.2f s\n", e->scenario, r->seconds);
    assert_true(r->seconds <= e->max_seconds);
}
