/* Thread dumps (prof/threads.c): every thread with its name, state and symbolized stack, in
 * JSON (read back with jansson) and text; a thread that blocks the signal is listed without a
 * stack; libpotter's own threads answer; an application handler for the signal is not
 * replaced. Built with -O2 -g (stack.cmake). */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "potter/core.h"
#include "potter/prof.h"
#include "prof/prof_internal.h"

struct sleeper {
    int pipe[2];
    atomic_int tid;
    int block_signal; /* the "deaf" thread blocks PT_PROF_SIGNAL_THREADS */
    ssize_t got;      /* what read() returned */
    int read_errno;
};

/* Where the dump must find the thread: blocked in read() on a pipe nobody writes to (until
 * the test does, to end it). */
__attribute__((noinline)) static ssize_t blocked_in_read(struct sleeper *s)
{
    char c;
    ssize_t n = read(s->pipe[0], &c, 1);

    __asm__ volatile("");
    return n;
}

static void *sleeper_main(void *arg)
{
    struct sleeper *s = arg;

    if (s->block_signal) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, PT_PROF_SIGNAL_THREADS);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
    }
    atomic_store(&s->tid, (int)syscall(SYS_gettid));
    s->got = blocked_in_read(s);
    s->read_errno = errno;
    if (s->block_signal) {
        /* The dump's signal is still pending here: delivered late, it must do nothing. */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, PT_PROF_SIGNAL_THREADS);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    }
    return NULL;
}

static void wait_sleeping(pid_t tid)
{
    char name[16], state = '?';

    for (int i = 0; i < 2000; i++) {
        if (pt__prof_task_info(tid, name, &state) == 0 && state == 'S')
            return;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    fail_msg("thread %d never slept", (int)tid);
}

static void sleeper_start(struct sleeper *s, pthread_t *t, const char *name, int block_signal)
{
    memset(s, 0, sizeof *s);
    s->block_signal = block_signal;
    assert_int_equal(pipe(s->pipe), 0);
    assert_int_equal(pthread_create(t, NULL, sleeper_main, s), 0);
    assert_int_equal(pthread_setname_np(*t, name), 0);
    for (int i = 0; i < 2000 && !atomic_load(&s->tid); i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    assert_true(atomic_load(&s->tid) > 0);
    wait_sleeping(atomic_load(&s->tid));
}

static void sleeper_stop(struct sleeper *s, pthread_t t)
{
    assert_int_equal(write(s->pipe[1], "x", 1), 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    close(s->pipe[0]);
    close(s->pipe[1]);
}

static json_t *thread_by_name(json_t *threads, const char *name)
{
    size_t i;
    json_t *t;

    json_array_foreach(threads, i, t) {
        if (strcmp(json_string_value(json_object_get(t, "name")), name) == 0)
            return t;
    }
    return NULL;
}

static json_t *thread_by_tid(json_t *threads, json_int_t tid)
{
    size_t i;
    json_t *t;

    json_array_foreach(threads, i, t) {
        if (json_integer_value(json_object_get(t, "tid")) == tid)
            return t;
    }
    return NULL;
}

/* The index of the first frame calling function, or -1. */
static long frame_of(json_t *thread, const char *function)
{
    json_t *frames = json_object_get(thread, "frames"), *f;
    size_t i;

    json_array_foreach(frames, i, f) {
        if (strcmp(json_string_value(json_object_get(f, "function")), function) == 0)
            return (long)i;
    }
    return -1;
}

static void noop_job(void *arg, int status)
{
    atomic_store((atomic_int *)arg, 1);
}

static void start_pt_work(void)
{
    static atomic_int ran;

    assert_int_equal(pt_work_submit(noop_job, &ran, 0), 0);
    for (int i = 0; i < 5000 && !atomic_load(&ran); i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    assert_true(atomic_load(&ran));
}

static void test_json_dump(void **state)
{
    struct sleeper blocked, deaf;
    pthread_t tb, td;
    json_error_t jerr;
    char *out;
    size_t len;

    start_pt_work();
    sleeper_start(&blocked, &tb, "blocked-here", 0);
    sleeper_start(&deaf, &td, "deaf", 1);
    assert_int_equal(pt_prof_threads(PT_PROF_JSON, &out, &len), 0);
    assert_int_equal(strlen(out), len);

    json_t *doc = json_loadb(out, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        fail_msg("JSON does not parse: %s at %d: %s", jerr.text, jerr.position, out);
    assert_int_equal(json_integer_value(json_object_get(doc, "pid")), getpid());
    json_t *threads = json_object_get(doc, "threads");
    assert_true(json_array_size(threads) >= 4); /* main, pt-work, blocked-here, deaf */

    /* The blocked thread: its name, its state, the function it waits in, with the line. */
    json_t *b = thread_by_name(threads, "blocked-here");
    assert_non_null(b);
    assert_int_equal(json_integer_value(json_object_get(b, "tid")), atomic_load(&blocked.tid));
    assert_string_equal(json_string_value(json_object_get(b, "state")), "S");
    long at = frame_of(b, "blocked_in_read");
    if (at < 0)
        fail_msg("blocked_in_read not in %s", out);
    json_t *f = json_array_get(json_object_get(b, "frames"), (size_t)at);
    assert_non_null(strstr(json_string_value(json_object_get(f, "file")), "test_threads.c"));
    assert_true(json_integer_value(json_object_get(f, "line")) > 0);
    assert_true(json_is_false(json_object_get(f, "inlined")));
    assert_true(frame_of(b, "sleeper_main") > at);
    assert_true(json_string_length(json_object_get(f, "pc")) > 2);

    /* The calling thread walked its own stack, up to main. */
    json_t *m = thread_by_tid(threads, getpid());
    assert_non_null(m);
    assert_true(frame_of(m, "test_json_dump") >= 0);
    assert_true(frame_of(m, "main") > frame_of(m, "test_json_dump"));

    /* A thread that blocks the signal is listed, without a stack, saying why. */
    json_t *d = thread_by_name(threads, "deaf");
    assert_non_null(d);
    assert_true(json_is_null(json_object_get(d, "frames")));
    assert_non_null(strstr(json_string_value(json_object_get(d, "reason")), "did not answer"));

    /* libpotter's own threads leave the signal open. */
    json_t *w = thread_by_name(threads, "pt-work");
    assert_non_null(w);
    assert_true(json_array_size(json_object_get(w, "frames")) > 0);

    json_decref(doc);
    free(out);
    /* The handler restarted the interrupted read(): the thread still waits for its byte. */
    sleeper_stop(&blocked, tb);
    assert_int_equal(blocked.got, 1);
    sleeper_stop(&deaf, td);
    assert_int_equal(deaf.got, 1);
}

static void test_text_dump(void **state)
{
    struct sleeper blocked;
    pthread_t tb;
    char *out, head[64];
    size_t len;

    sleeper_start(&blocked, &tb, "blocked-here", 0);
    assert_int_equal(pt_prof_threads(PT_PROF_TEXT, &out, &len), 0);
    assert_int_equal(strlen(out), len);
    snprintf(head, sizeof head, "\"blocked-here\" tid=%d state=S\n", atomic_load(&blocked.tid));
    const char *t = strstr(out, head);
    if (!t)
        fail_msg("no \"%s\" in:\n%s", head, out);
    const char *frame = strstr(t, "    at blocked_in_read (");
    const char *next = strstr(t + 1, "\n\n"); /* the next thread */
    assert_non_null(frame);
    assert_true(!next || frame < next);
    assert_non_null(strstr(frame, "tests/prof/test_threads.c:"));
    snprintf(head, sizeof head, "tid=%d state=", (int)getpid());
    assert_non_null(strstr(out, head));
    assert_non_null(strstr(out, "    at main ("));
    free(out);
    sleeper_stop(&blocked, tb);
}

/* Many dumps in a row while threads come and go. */
static void *short_lived(void *arg)
{
    nanosleep(&(struct timespec){0, 2000000}, NULL);
    return arg;
}

static void test_dumps_while_threads_come_and_go(void **state)
{
    for (int i = 0; i < 20; i++) {
        pthread_t t[4];
        char *out;
        size_t len;
        for (int j = 0; j < 4; j++)
            assert_int_equal(pthread_create(&t[j], NULL, short_lived, NULL), 0);
        assert_int_equal(pt_prof_threads(i % 2 ? PT_PROF_TEXT : PT_PROF_JSON, &out, &len), 0);
        assert_true(len > 0);
        free(out);
        for (int j = 0; j < 4; j++)
            pthread_join(t[j], NULL);
    }
}

static void test_bad_arguments(void **state)
{
    char *out = (char *)1;
    size_t len = 1;

    assert_int_equal(pt_prof_threads(PT_PROF_PPROF, &out, &len), -EINVAL);
    assert_int_equal(pt_prof_threads(0, &out, &len), -EINVAL);
    assert_int_equal(pt_prof_threads(PT_PROF_JSON, NULL, &len), -EINVAL);
    assert_int_equal(pt_prof_threads(PT_PROF_JSON, &out, NULL), -EINVAL);
}

static void user_handler(int sig)
{
    (void)sig;
}

/* An application that owns the signal keeps it: the dump refuses. In a child, so the handler
 * does not stay in this process. */
static void test_refuses_over_an_application_handler(void **state)
{
    pid_t pid = fork();
    int status;

    assert_true(pid >= 0);
    if (pid == 0) {
        struct sigaction sa = {0}, now;
        char *out = NULL;
        size_t len;
        sa.sa_handler = user_handler;
        sigaction(PT_PROF_SIGNAL_THREADS, &sa, NULL);
        int err = pt_prof_threads(PT_PROF_JSON, &out, &len);
        sigaction(PT_PROF_SIGNAL_THREADS, NULL, &now);
        _exit(err == -EBUSY && out == NULL && now.sa_handler == user_handler ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refuses_over_an_application_handler),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_json_dump),
        cmocka_unit_test(test_text_dump),
        cmocka_unit_test(test_dumps_while_threads_come_and_go),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);

    pt_core_shutdown(5000);
    return failed;
}
