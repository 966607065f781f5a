/* Stack walks (prof/stack.c) and their symbols (prof/symbolize.c): walks from a call and from
 * a signal handler, through libc frames without frame pointers, and back to main; file:line,
 * inlined frames, modules and build ids. Built with -O2 -g (stack.cmake). */
#include <errno.h>
#include <pthread.h>
#include <search.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "potter/core.h"
#include "prof/stack.h"
#include "stack_frames.h"

#define MAX_NAMES 512

/* The function names of pcs[0..n), every source line of each (inlined ones first), in
 * names[]; also each name's file and line. Returns how many. */
struct named {
    const char *function, *file;
    int line;
    size_t frame; /* index into pcs */
};

static size_t name_frames(pt__symbolizer *sym, const uintptr_t *pcs, int n, struct named *out)
{
    size_t k = 0;

    for (int i = 0; i < n; i++) {
        pt__sym_line lines[8];
        size_t m = pt__symbolize(sym, pcs[i], i > 0, lines, 8);
        assert_true(m >= 1);
        for (size_t j = 0; j < m && k < MAX_NAMES; j++)
            out[k++] = (struct named){lines[j].function, lines[j].file, lines[j].line, (size_t)i};
    }
    return k;
}

/* Index of the first name equal to function at or after from, or -1. */
static long find_name(const struct named *names, size_t n, const char *function, size_t from)
{
    for (size_t i = from; i < n; i++)
        if (strcmp(names[i].function, function) == 0)
            return (long)i;
    return -1;
}

static void print_names(const struct named *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "  #%zu %s (%s:%d)\n", names[i].frame, names[i].function,
                names[i].file ? names[i].file : "?", names[i].line);
}

/* Asserts that the given functions appear in names in this order (other frames may sit
 * between them). */
static void assert_in_order(const struct named *names, size_t n, const char *const *want,
                            size_t nwant)
{
    long at = 0;

    for (size_t i = 0; i < nwant; i++) {
        long found = find_name(names, n, want[i], (size_t)at);
        if (found < 0) {
            fprintf(stderr, "%s not found (in order) in:\n", want[i]);
            print_names(names, n);
        }
        assert_true(found >= 0);
        at = found + 1;
    }
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = s ? strlen(s) : 0, m = strlen(suffix);

    return s && n >= m && strcmp(s + n - m, suffix) == 0;
}

/* ---- a walk from a call ------------------------------------------------------------------ */

static uintptr_t chain_pcs[PT__STACK_MAX];
static int chain_line; /* the line of the walk's call in f3 */

__attribute__((noinline)) static int f3(void)
{
    chain_line = __LINE__ + 1;
    int n = pt__stack_walk(NULL, chain_pcs, PT__STACK_MAX);
    __asm__ volatile(""); /* no tail calls: every frame stays on the stack */
    return n;
}

__attribute__((noinline)) static int f2(void)
{
    int n = f3();
    __asm__ volatile("");
    return n;
}

__attribute__((noinline)) static int f1(void)
{
    int n = f2();
    __asm__ volatile("");
    return n;
}

static void test_walk_reaches_main(void **state)
{
    static const char *const want[] = {"f3", "f2", "f1", "main"};
    static struct named names[MAX_NAMES];
    pt__symbolizer *sym;
    int n;

    assert_int_equal(pt__stack_init(), 0);
    n = f1();
    assert_true(n >= 5); /* f3 f2 f1 this test, cmocka's runner ..., main */
    assert_int_equal(pt__symbolizer_new(&sym), 0);
    size_t k = name_frames(sym, chain_pcs, n, names);
    /* pcs[0] is the walk's own call instruction, in f3, at the line of the call. */
    assert_string_equal(names[0].function, "f3");
    assert_int_equal(names[0].frame, 0);
    assert_true(ends_with(names[0].file, "tests/prof/test_stack.c"));
    assert_int_equal(names[0].line, chain_line);
    assert_in_order(names, k, want, 4);
    /* f2 and f1 are the very next frames: nothing was skipped. */
    assert_string_equal(names[1].function, "f2");
    assert_string_equal(names[2].function, "f1");
    pt__symbolizer_free(sym);
}

static void test_walk_respects_max(void **state)
{
    uintptr_t pcs[3] = {0, 0, 0};

    assert_int_equal(pt__stack_walk(NULL, pcs, 2), 2);
    assert_true(pcs[0] != 0 && pcs[1] != 0);
    assert_true(pcs[2] == 0);
    assert_int_equal(pt__stack_walk(NULL, pcs, 0), 0);
}

/* A function built without frame pointers, between two built with them, leaves the frame
 * pointer chain valid but one frame short: the walk must not trust it. */
static void test_walk_through_function_without_frame_pointer(void **state)
{
    static const char *const want[] = {"fp_inner", "nofp_middle", "fp_outer", "main"};
    static struct named names[MAX_NAMES];
    uintptr_t pcs[PT__STACK_MAX];
    pt__symbolizer *sym;
    int n = fp_outer(pcs, PT__STACK_MAX);

    assert_int_equal(pt__symbolizer_new(&sym), 0);
    size_t k = name_frames(sym, pcs, n, names);
    assert_in_order(names, k, want, 4);
    assert_string_equal(names[0].function, "fp_inner");
    assert_string_equal(names[1].function, "nofp_middle");
    assert_string_equal(names[2].function, "fp_outer");
    pt__symbolizer_free(sym);
}

/* ---- a walk from a signal handler, through libc ---------------------------------------- */

static uintptr_t signal_pcs[PT__STACK_MAX];
static atomic_int signal_depth;
static atomic_int compares_started;
static int saw_errno_kept;

static void on_usr2(int sig, siginfo_t *info, void *uc)
{
    errno = 1234;
    int n = pt__stack_walk(uc, signal_pcs, PT__STACK_MAX);
    saw_errno_kept = errno == 1234;
    atomic_store(&signal_depth, n);
}

/* The comparison libc calls back: the first call spins, outside any libc code (not even
 * clock_gettime: the signal would land in the vDSO now and then), until the signal has walked
 * the stack (bounded by a count: a few seconds at most). */
__attribute__((noinline)) static int compare_and_spin(const void *a, const void *b)
{
    if (atomic_fetch_add(&compares_started, 1) == 0) {
        for (long round = 0; round < 5000000 &&
                             atomic_load_explicit(&signal_depth, memory_order_relaxed) < 0;
             round++)
            for (volatile int i = 0; i < 1000; i++)
                ;
    }
    return *(const int *)a - *(const int *)b;
}

__attribute__((noinline)) static void sort_caller(int use_lfind)
{
    int v[16], key = 15;
    size_t n = 16;

    for (int i = 0; i < 16; i++)
        v[i] = (i * 7) % 16;
    if (use_lfind)
        assert_non_null(lfind(&key, v, &n, sizeof v[0], compare_and_spin));
    else
        qsort(v, 16, sizeof v[0], compare_and_spin);
    __asm__ volatile("");
}

struct pinger {
    pid_t tid;
    atomic_int stop;
};

/* Signals the sorting thread every millisecond, once it is inside the comparison. */
static void *ping(void *arg)
{
    struct pinger *p = arg;

    for (int i = 0; i < 5000 && !atomic_load(&p->stop); i++) {
        if (atomic_load(&compares_started) > 0 && atomic_load(&signal_depth) < 0)
            syscall(SYS_tgkill, getpid(), p->tid, SIGUSR2);
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    return NULL;
}

/* Interrupts compare_and_spin() called back by qsort() or lfind(), walks from the signal's
 * context, and checks the walk found the comparison, then libc's frames, then the caller and
 * main. */
static void walk_through_libc(int use_lfind)
{
    static struct named names[MAX_NAMES];
    static const char *const want[] = {"compare_and_spin", "sort_caller", "main"};
    struct sigaction sa = {0}, old;
    struct pinger p = {.tid = (pid_t)syscall(SYS_gettid)};
    pt__symbolizer *sym;
    pthread_t t;

    atomic_store(&signal_depth, -1);
    atomic_store(&compares_started, 0);
    sa.sa_sigaction = on_usr2;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    assert_int_equal(sigaction(SIGUSR2, &sa, &old), 0);
    assert_int_equal(pthread_create(&t, NULL, ping, &p), 0);
    sort_caller(use_lfind);
    atomic_store(&p.stop, 1);
    pthread_join(t, NULL);
    sigaction(SIGUSR2, &old, NULL);

    int n = atomic_load(&signal_depth);
    assert_true(n > 4);
    assert_true(saw_errno_kept);
    assert_int_equal(pt__symbolizer_new(&sym), 0);
    size_t k = name_frames(sym, signal_pcs, n, names);
    /* The interrupted instruction itself is in the comparison function... */
    assert_string_equal(names[0].function, "compare_and_spin");
    assert_true(ends_with(names[0].file, "tests/prof/test_stack.c"));
    assert_in_order(names, k, want, 3);
    /* ...called from libc, which Debian builds without frame pointers. */
    long caller = find_name(names, k, "sort_caller", 0);
    int through_libc = 0;
    for (long i = 1; i < caller; i++) {
        pt__sym_module mod;
        assert_int_equal(pt__symbolize_module(sym, signal_pcs[names[i].frame], &mod), 0);
        through_libc |= strstr(mod.path, "libc.so") != NULL;
    }
    if (!through_libc)
        print_names(names, k);
    assert_true(through_libc);
    pt__symbolizer_free(sym);
}

static void test_walk_from_signal_through_qsort(void **state)
{
    pt__symbolizer *sym;
    pt__sym_module mod;
    int in_libc;

    /* AddressSanitizer replaces qsort() with its own (then lfind's test below covers it). */
    assert_int_equal(pt__symbolizer_new(&sym), 0);
    in_libc = pt__symbolize_module(sym, (uintptr_t)&qsort, &mod) == 0 &&
              strstr(mod.path, "libc.so") != NULL;
    pt__symbolizer_free(sym);
    if (!in_libc)
        skip();
    walk_through_libc(0);
}

static void test_walk_from_signal_through_lfind(void **state)
{
    walk_through_libc(1);
}

/* ---- symbols ----------------------------------------------------------------------------- */

static int inline_line, outer_line;

static inline __attribute__((always_inline)) int inlined_walk(uintptr_t *pcs)
{
    inline_line = __LINE__ + 1;
    int n = pt__stack_walk(NULL, pcs, PT__STACK_MAX);
    __asm__ volatile("");
    return n;
}

__attribute__((noinline)) static int outer_of_inline(uintptr_t *pcs)
{
    outer_line = __LINE__ + 1;
    int n = inlined_walk(pcs);
    __asm__ volatile("");
    return n + 1;
}

static void test_inlined_function_is_an_extra_line(void **state)
{
    uintptr_t pcs[PT__STACK_MAX];
    pt__sym_line lines[8], again[8];
    pt__symbolizer *sym;

    assert_true(outer_of_inline(pcs) > 2);
    assert_int_equal(pt__symbolizer_new(&sym), 0);
    size_t n = pt__symbolize(sym, pcs[0], 0, lines, 8);
    assert_int_equal(n, 2);
    assert_string_equal(lines[0].function, "inlined_walk");
    assert_true(ends_with(lines[0].file, "tests/prof/test_stack.c"));
    assert_int_equal(lines[0].line, inline_line);
    assert_string_equal(lines[1].function, "outer_of_inline");
    assert_true(ends_with(lines[1].file, "tests/prof/test_stack.c"));
    assert_int_equal(lines[1].line, outer_line);
    /* The second time comes from the cache: the same strings. */
    assert_int_equal(pt__symbolize(sym, pcs[0], 0, again, 8), 2);
    assert_ptr_equal(again[0].function, lines[0].function);
    assert_ptr_equal(again[1].file, lines[1].file);
    /* With room for one line only, the innermost comes first. */
    assert_int_equal(pt__symbolize(sym, pcs[0], 0, again, 1), 1);
    assert_string_equal(again[0].function, "inlined_walk");
    assert_int_equal(pt__symbolize(sym, pcs[0], 0, again, 0), 0);
    pt__symbolizer_free(sym);
}

static void test_module_and_build_id(void **state)
{
    uintptr_t pcs[PT__STACK_MAX];
    char exe[4096];
    pt__sym_module mod;
    pt__symbolizer *sym;
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);

    assert_true(len > 0);
    exe[len] = '\0';
    assert_true(f1() > 0);
    memcpy(pcs, chain_pcs, sizeof pcs);
    assert_int_equal(pt__symbolizer_new(&sym), 0);
    assert_int_equal(pt__symbolize_module(sym, pcs[0], &mod), 0);
    assert_string_equal(mod.path, exe);
    assert_true(mod.start <= pcs[0] && pcs[0] < mod.end);
    assert_int_equal(mod.file_offset, 0);
    assert_string_equal(mod.build_id, pt_build_id()); /* both from the same note */
    assert_true(strlen(mod.build_id) == 40);
    /* libc's own module (getpid: ASan intercepts qsort). */
    assert_int_equal(pt__symbolize_module(sym, (uintptr_t)&getpid, &mod), 0);
    assert_non_null(strstr(mod.path, "libc.so"));
    /* Nothing is mapped at page 1. */
    assert_int_equal(pt__symbolize_module(sym, 4096, &mod), -ENOENT);
    pt__sym_line line;
    assert_int_equal(pt__symbolize(sym, 4096, 0, &line, 1), 1);
    assert_string_equal(line.function, "??");
    assert_null(line.file);
    assert_int_equal(line.line, 0);
    pt__symbolizer_free(sym);
}

/* libc's functions are named (from its symbol table, or its debug information when
 * libc6-dbg is installed). */
static void test_libc_function_is_named(void **state)
{
    pt__sym_line lines[8];
    pt__symbolizer *sym;

    assert_int_equal(pt__symbolizer_new(&sym), 0);
    size_t n = pt__symbolize(sym, (uintptr_t)&getpid, 0, lines, 8);
    assert_true(n >= 1);
    assert_non_null(strstr(lines[n - 1].function, "getpid"));
    pt__symbolizer_free(sym);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk_reaches_main),
        cmocka_unit_test(test_walk_respects_max),
        cmocka_unit_test(test_walk_through_function_without_frame_pointer),
        cmocka_unit_test(test_walk_from_signal_through_qsort),
        cmocka_unit_test(test_walk_from_signal_through_lfind),
        cmocka_unit_test(test_inlined_function_is_an_extra_line),
        cmocka_unit_test(test_module_and_build_id),
        cmocka_unit_test(test_libc_function_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
