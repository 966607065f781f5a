/* fork() and exit(): a child of a process whose logger threads run logs synchronously with
 * its own pid and does not repeat the parent's records; exit() without a flush still writes
 * what was logged, within a short bound even when a sink is stuck. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "log/testutil.h"

static int setup(void **state)
{
    return tu_fx_setup(state, "fork", "fork.log", TU_FX_NO_SINK);
}

typedef struct bg {
    pt_log *log;
    int stop;
    long long n;
} bg;

static void *bg_main(void *arg)
{
    bg *b = arg;
    while (!__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE)) {
        PT_INFO(b->log, "bg", PT_INT("i", b->n));
        b->n++;
        if ((b->n & 15) == 0)
            usleep(200);
    }
    return NULL;
}

/* Waits for a child at most timeout_ms (then kills it); returns its status or -1. */
static int wait_child(pid_t pid, unsigned timeout_ms)
{
    uint64_t end = tu_now_ms() + timeout_ms;
    for (;;) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            return st;
        if (tu_now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        tu_sleep_ms(5);
    }
}

static void fork_case(tu_fx *f, int child_records)
{
    /* Nothing dropped in the parent, so that counts are exact. */
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, -1), 0);
    bg b = {.log = f->log};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bg_main, &b), 0);
    for (int i = 0; i < 20000; i++)
        PT_INFO(f->log, "pre", PT_INT("i", i));
    /* No flush: the parent's rings (likely) hold records at the moment of the fork. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pt_log *c = PT_LOG_CHILD(f->log, PT_STR("side", "child"));
        if (c == NULL)
            _exit(2);
        for (int i = 0; i < child_records; i++)
            PT_INFO(c, "child", PT_INT("i", i), PT_INT("mypid", getpid()));
        int rc = pt_log_flush(1000);
        _exit(rc == 0 ? 0 : 3);
    }
    for (int i = 20000; i < 20200; i++)
        PT_INFO(f->log, "pre", PT_INT("i", i));
    int st = wait_child(pid, 20000);
    __atomic_store_n(&b.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    assert_int_equal(pt_log_flush(10000), 0);
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, 0), 0);
    if (st == -1)
        fail_msg("the child did not finish in 20 s");
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("the child ended with %s %d (3: its flush failed)",
                 WIFEXITED(st) ? "status" : "signal",
                 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));

    tu_lines ls;
    tu_lines_load(&ls, f->path);
    TU_ASSERT_LINES_GOOD(&ls);
    long long npre = 0, nbg = 0, nchild = 0;
    for (size_t i = 0; i < ls.n; i++) {
        json_t *r = ls.rec[i];
        const char *m = tu_str(r, "msg");
        long long v = json_integer_value(json_object_get(r, "i"));
        long long rpid = json_integer_value(json_object_get(r, "pid"));
        if (strcmp(m, "child") == 0) {
            if (rpid != pid)
                fail_msg("a child record has pid %lld, the child is %d", rpid, (int)pid);
            assert_int_equal(json_integer_value(json_object_get(r, "mypid")), pid);
            assert_string_equal(tu_str(r, "side"), "child");
            assert_int_equal(v, nchild);
            nchild++;
            continue;
        }
        if (rpid != getpid())
            fail_msg("line %zu: parent record \"%s\" %lld written with pid %lld (child %d)", i + 1,
                     m, v, rpid, (int)pid);
        /* Each parent record exactly once, in order: the child repeated none. */
        if (strcmp(m, "pre") == 0) {
            if (v != npre)
                fail_msg("line %zu: pre %lld, expected %lld", i + 1, v, npre);
            npre++;
        } else if (strcmp(m, "bg") == 0) {
            if (v != nbg)
                fail_msg("line %zu: bg %lld, expected %lld", i + 1, v, nbg);
            nbg++;
        }
    }
    assert_int_equal(nchild, child_records);
    assert_int_equal(npre, 20200);
    assert_int_equal(nbg, b.n);
    tu_lines_free(&ls);
}

static void test_fork_child_logs(void **state)
{
    fork_case(*state, 10);
}

/* More records than a ring holds: the child has no pt-log thread to drain one. */
static void test_fork_child_logs_many(void **state)
{
    fork_case(*state, 20000);
}

/* ---- exit() ------------------------------------------------------------------------------ */
static void *exit_thread(void *arg)
{
    pt_log *log = arg;
    for (int i = 0; i < 100; i++)
        PT_WARN(log, "thread", PT_INT("i", i));
    return NULL;
}

/* Static, so that LeakSanitizer sees the logger still referenced at exit(). */
static pt_log *exit_log;

/* Makes exit_log, writing to exit.log in dir. */
static pt_log *new_exit_log(const char *dir)
{
    char *path = tu_path(dir, "exit.log");
    CHECK(pt_log_new("exit", &exit_log) == 0);
    CHECK(pt_log_add_file(exit_log, path, NULL, NULL) == 0);
    free(path);
    return exit_log;
}

static int scenario_exit(const char *dir)
{
    pt_log *log = new_exit_log(dir);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, exit_thread, log) == 0);
    pthread_join(th, NULL);
    for (int i = 0; i < 100; i++)
        PT_INFO(log, "main", PT_INT("i", i));
    exit(0);
}

static int scenario_exit_stuck_sink(const char *dir)
{
    pt_log *log = new_exit_log(dir);
    static tu_sink held; /* never released: exit() must not wait for it for long */
    tu_sink_init(&held, 0);
    held.hold = 1;
    CHECK(pt_log_add_sink(log, &tu_sink_ops, &held, NULL, NULL) == 0);
    for (int i = 0; i < 100; i++)
        PT_INFO(log, "main", PT_INT("i", i));
    exit(0);
}

/* Checks the file the exit scenarios wrote; returns NULL or what is wrong. */
static const char *exit_file_problem(const char *path, int want_thread)
{
    static char why[256];
    tu_lines ls;
    tu_lines_load(&ls, path);
    int nmain = 0, nthread = 0, order = 1;
    for (size_t i = 0; i < ls.n; i++) {
        const char *m = ls.rec[i] ? tu_str(ls.rec[i], "msg") : NULL;
        long long v = ls.rec[i] ? json_integer_value(json_object_get(ls.rec[i], "i")) : -1;
        if (m && strcmp(m, "main") == 0)
            order &= v == nmain++;
        else if (m && strcmp(m, "thread") == 0)
            order &= v == nthread++;
    }
    size_t bad = tu_lines_report_bad(&ls);
    tu_lines_free(&ls);
    if (bad || !order || nmain != 100 || nthread != want_thread) {
        snprintf(why, sizeof why,
                 "%zu bad lines; %d main records (want 100), %d thread records (want %d)%s", bad,
                 nmain, nthread, want_thread, order ? "" : ", out of order");
        return why;
    }
    return NULL;
}

static void run_exit_case(const char *scenario, int want_thread, uint64_t max_ms)
{
    static char verdict[32768];
    char *dir = tu_mkdtemp();
    tu_run r;
    tu_run_scenario(&r, scenario, dir, 20000);
    if (r.outlen)
        fprintf(stderr, "[%s output]\n%s", scenario, r.out);
    fprintf(stderr, "%s: the process took %llu ms\n", scenario, (unsigned long long)r.took_ms);
    uint64_t took = r.took_ms;
    int ok = tu__scenario_verdict(&r, verdict, sizeof verdict);
    char *path = tu_path(dir, "exit.log");
    const char *problem = exit_file_problem(path, want_thread);
    free(path);
    tu_rmtree(dir);
    if (!ok)
        fail_msg("%s", verdict);
    if (problem)
        fail_msg("after exit(): %s", problem);
    /* "exit() flushes logs under a short bound" (DESIGN.md). */
    if (took > max_ms)
        fail_msg("exit() took %llu ms", (unsigned long long)took);
}

static void test_exit_writes_records(void **state)
{
    (void)state;
    run_exit_case("exit", 100, 10000);
}

static void test_exit_bounded_with_stuck_sink(void **state)
{
    (void)state;
    /* docs/log.md: the atexit handler flushes for at most 500 ms. */
    run_exit_case("exit_stuck_sink", 0, 2500);
}

static const tu_scenario scenarios[] = {
    {"exit", scenario_exit},
    {"exit_stuck_sink", scenario_exit_stuck_sink},
    {NULL, NULL},
};

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_fork_child_logs, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_fork_child_logs_many, setup, tu_fx_teardown),
    cmocka_unit_test(test_exit_writes_records),
    cmocka_unit_test(test_exit_bounded_with_stuck_sink),
};

TU_MAIN(scenarios, tests)
