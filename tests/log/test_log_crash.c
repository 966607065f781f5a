/* What the log part gives the crash path (src/log/log_crash.h): the records in memory written
 * out (the flight recorder's, and those still waiting in a ring, marked pending), and the
 * fatal record taken by pt-log to every sink and flushed, or written straight to the file's
 * descriptor when pt-log cannot. Each case runs in a child process: the fatal record is once
 * per process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "log/log_crash.h"
#include "log/log_internal.h"
#include "testutil.h"

static const char fatal[] = "{\"v\":0,\"level\":60,\"msg\":\"crash: test\"}\n";

/* Runs fn in a child; the child's exit status is its verdict (0: all held). */
static void in_child(int (*fn)(const char *dir), const char *dir)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn(dir));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static int child_dump_and_fatal(const char *dir)
{
    pt_log *log;
    char *path = tu_path(dir, "svc.log"), *dump = tu_path(dir, "dump.txt");
    if (pt_log_new("svc", &log) || pt_log_add_file(log, path, NULL, NULL))
        return 10;
    for (int i = 0; i < 3; i++)
        PT_INFO(log, "before the crash", PT_INT("i", i), PT_STR("s", "a\"b"));
    if (pt_log_flush(2000))
        return 11;
    /* Records pt-log has not seen: it is held on the sinks' lock while they are logged. */
    pthread_mutex_lock(&pt__logs.sinks_mu);
    PT_WARN(log, "still in the ring", PT_UINT("n", 42), PT_DBL("x", 1.5), PT_BOOL("ok", 1));
    PT_INFO(log, "members in the ring", PT__JSON_MEMBERSN("m", "\"k\":[1],\"j\":\"v\"", 15),
            PT_INT("after", 7));
    tu_sleep_ms(50);
    FILE *f = fopen(dump, "w");
    size_t n = pt__log_crash_dump(fileno(f));
    fclose(f);
    pthread_mutex_unlock(&pt__logs.sinks_mu);
    char *text = tu_read_file(dump, NULL);
    if (n < 4 || !strstr(text, "\"msg\":\"before the crash\",\"i\":2,\"s\":\"a\\\"b\"") ||
        !strstr(text, "\"level\":40,\"name\":\"svc\"") ||
        !strstr(text, "\"msg\":\"still in the ring\",\"pending\":true,\"tid\":") ||
        !strstr(text, "\"n\":42,\"x\":1.500000,\"ok\":true}") ||
        !strstr(text, "\"pending\":true,\"tid\":") ||
        !strstr(text, ",\"k\":[1],\"j\":\"v\",\"after\":7}"))
        return 12;
    char id[512];
    if (pt__log_crash_identity(id, sizeof id) == 0 || !strstr(id, "\"name\":\"svc\",\"hostname\":"))
        return 13;
    if (pt__log_crash_fatal(fatal, sizeof fatal - 1, 1000) != 0)
        return 14;
    if (pt__log_crash_fatal(fatal, sizeof fatal - 1, 1000) != -EALREADY)
        return 15;
    char *out = tu_read_file(path, NULL); /* flushed before the call returned */
    if (!out || !strstr(out, "\"msg\":\"still in the ring\"") ||
        !strstr(out, "crash: test") || strstr(out, "crash: test") < strstr(out, "still in"))
        return 16;
    return 0;
}

static void test_dump_and_fatal(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    in_child(child_dump_and_fatal, dir);
    tu_rmtree(dir);
}

/* A sink that never returns: pt-log cannot flush it, so the call gives up at its bound and
 * the line goes straight to the file's descriptor. */
static __attribute__((noreturn)) ssize_t stuck_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    (void)len;
    for (;;)
        pause();
}

static const pt_log_sink_ops stuck = {.kind = "stuck", .write = stuck_write};

static int child_stuck_sink(const char *dir)
{
    pt_log *log;
    char *path = tu_path(dir, "svc.log");
    if (pt_log_new("svc", &log) || pt_log_add_file(log, path, NULL, NULL) ||
        pt_log_add_sink(log, &stuck, NULL, NULL, NULL))
        return 20;
    PT_INFO(log, "one");
    pt_log_flush(200);
    uint64_t t0 = tu_now_ms();
    int rc = pt__log_crash_fatal(fatal, sizeof fatal - 1, 150);
    uint64_t took = tu_now_ms() - t0;
    if (rc != -ETIMEDOUT || took < 140 || took > 1000)
        return 21;
    char *out = tu_read_file(path, NULL);
    return out && strstr(out, "crash: test") ? 0 : 22;
}

static void test_stuck_sink(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    in_child(child_stuck_sink, dir);
    tu_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dump_and_fatal),
        cmocka_unit_test(test_stuck_sink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
