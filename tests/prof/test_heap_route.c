/* libpotter-heap's routing (src/prof/heap/route.c): while sampling is off, other modules'
 * references to the allocator hold the real allocator's functions; while it is on, or while
 * sampled blocks live, the wrappers. Watched through a library of the test's own
 * (heap_route_dso.c: data words and GOT entries in a RELRO page) and the counters. Plain build
 * only (ASan owns malloc in the sanitizer build). */
#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "potter/heap.h"

void *route_dso_word_malloc(void);
void *route_dso_word_free(void);
void *route_dso_got_malloc(void);
void *route_dso_got_free(void);
void *route_dso_alloc(size_t size);
void route_dso_release(void *p);

/* "heap" when fn is the heap library's, "allocator" when the real allocator's. */
static const char *owner(void *fn)
{
    Dl_info info;

    if (!dladdr(fn, &info) || !info.dli_fname)
        return "?";
    if (strstr(info.dli_fname, "libpotter-heap"))
        return "heap";
    if (strstr(info.dli_fname, "libc.so") || strstr(info.dli_fname, "tcmalloc"))
        return "allocator";
    return info.dli_fname;
}

static pt_heap_counters counters(void)
{
    pt_heap_counters c;
    assert_int_equal(pt_heap_get_counters(&c, sizeof(c)), 0);
    return c;
}

static void test_off_goes_direct(void **state)
{
    (void)state;
    assert_int_equal(pt_heap_active(), 0);
    pt_heap_counters c = counters();
    print_message("off: %" PRIu64 " references direct, %" PRIu64 " wrapped\n", c.refs_direct,
                  c.refs_wrapped);
    assert_true(c.refs_direct >= 6); /* the library's four, and this program's own */
    assert_int_equal(c.refs_wrapped, 0);
    assert_string_equal(owner(route_dso_word_malloc()), "allocator");
    assert_string_equal(owner(route_dso_word_free()), "allocator");
    assert_string_equal(owner(route_dso_got_malloc()), "allocator");
    assert_string_equal(owner(route_dso_got_free()), "allocator");
    /* And allocation works through them. */
    void *p = route_dso_alloc(100);
    assert_non_null(p);
    memset(p, 1, 100);
    route_dso_release(p);
}

#define N 2000
static void *blocks[N];

static void test_on_goes_through_the_library(void **state)
{
    (void)state;
    pt_heap_counters c0 = counters();
    assert_int_equal(pt_heap_start(4096), 0);
    pt_heap_counters c = counters();
    assert_int_equal(c.refs_direct, 0);
    assert_int_equal(c.refs_wrapped, c0.refs_direct);
    assert_string_equal(owner(route_dso_word_malloc()), "heap");
    assert_string_equal(owner(route_dso_word_free()), "heap");
    assert_string_equal(owner(route_dso_got_malloc()), "heap");
    assert_string_equal(owner(route_dso_got_free()), "heap");
    for (int i = 0; i < N; i++) {
        blocks[i] = route_dso_alloc(1000);
        assert_non_null(blocks[i]);
        memset(blocks[i], 2, 1000);
    }
    c = counters();
    print_message("on: %" PRIu64 " samples of %d blocks of 1000 B at 4 KiB\n",
                  c.samples - c0.samples, N);
    assert_true(c.samples - c0.samples > 200); /* ~2 MB at 4 KiB: ~490 expected */
    assert_true(c.live_samples > 200);

    /* Stopped with samples alive: the makers go direct, the takers stay (so that freeing a
     * sampled block still takes it out of in-use). */
    assert_int_equal(pt_heap_stop(), 0);
    assert_string_equal(owner(route_dso_word_malloc()), "allocator");
    assert_string_equal(owner(route_dso_got_malloc()), "allocator");
    assert_string_equal(owner(route_dso_word_free()), "heap");
    assert_string_equal(owner(route_dso_got_free()), "heap");
    for (int i = 0; i < N; i++)
        route_dso_release(blocks[i]);
    assert_int_equal(counters().live_samples, 0);

    /* A stop with none alive: everything direct again. */
    assert_int_equal(pt_heap_stop(), 0);
    c = counters();
    assert_int_equal(c.refs_wrapped, 0);
    assert_int_equal(c.refs_direct, c0.refs_direct);
    assert_string_equal(owner(route_dso_word_free()), "allocator");
}

/* A free() the program took while the references went direct (a function pointer it keeps)
 * frees sampled blocks past the library: nothing breaks, since sampled blocks are the real
 * allocator's; they only stay counted as in use until their address is seen again. */
static void test_captured_free(void **state)
{
    (void)state;
    void (*captured)(void *) = (void (*)(void *))route_dso_got_free();
    assert_string_equal(owner((void *)captured), "allocator");
    pt_heap_counters c0 = counters();
    assert_int_equal(pt_heap_start(1), 0); /* every allocation sampled */
    for (int i = 0; i < 100; i++) {
        blocks[i] = route_dso_alloc(64);
        assert_non_null(blocks[i]);
    }
    assert_int_equal(counters().live_samples, c0.live_samples + 100);
    for (int i = 0; i < 100; i++)
        captured(blocks[i]);
    assert_int_equal(counters().live_samples, c0.live_samples + 100);
    /* The same sizes again: the allocator hands the same addresses back, and each sample at an
     * address still in the table replaces the stale one. */
    for (int i = 0; i < 100; i++)
        blocks[i] = route_dso_alloc(64);
    assert_true(counters().live_samples <= c0.live_samples + 200);
    for (int i = 0; i < 100; i++)
        route_dso_release(blocks[i]);
    pt_heap_counters c1 = counters();
    print_message("stale samples left: %" PRIu64 "\n", c1.live_samples - c0.live_samples);
    assert_true(c1.live_samples <= c0.live_samples + 100);
    assert_int_equal(pt_heap_stop(), 0);
}

/* Sampling turned on and off 100 times while 3 threads allocate, reallocate and free, through
 * the library's data words and their own calls: every block keeps its bytes, and once all are
 * freed and sampling is off, no sample is left alive. */
static int stop_threads;

static void *churn(void *arg)
{
    void *slots[64] = {0};
    size_t sizes[64] = {0};
    uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15ull + 1;

    while (!__atomic_load_n(&stop_threads, __ATOMIC_RELAXED)) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t k = x % 64, size = 1 + (x >> 20) % 3000;
        if (slots[k]) {
            unsigned char *b = slots[k];
            assert_true(b[0] == (unsigned char)k && b[sizes[k] - 1] == (unsigned char)k);
        }
        switch ((x >> 40) % 4) {
        case 0:
            route_dso_release(slots[k]);
            slots[k] = route_dso_alloc(size);
            break;
        case 1:
            slots[k] = realloc(slots[k], size);
            break;
        case 2:
            free(slots[k]);
            slots[k] = calloc(1, size);
            break;
        default:
            free(slots[k]);
            slots[k] = malloc(size);
            break;
        }
        assert_non_null(slots[k]);
        sizes[k] = size;
        memset(slots[k], (int)k, size);
    }
    for (int k = 0; k < 64; k++)
        free(slots[k]);
    return NULL;
}

static void test_toggle_under_load(void **state)
{
    (void)state;
    pthread_t t[3];
    uint64_t live0 = counters().live_samples;

    __atomic_store_n(&stop_threads, 0, __ATOMIC_RELAXED);
    for (uintptr_t i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, churn, (void *)(i + 1)), 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(pt_heap_start(8192), 0);
        usleep(1000);
        assert_int_equal(pt_heap_stop(), 0);
        usleep(500);
    }
    __atomic_store_n(&stop_threads, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(pt_heap_stop(), 0);
    pt_heap_counters c = counters();
    print_message("toggled 100 times: %" PRIu64 " samples in all, %" PRIu64 " alive\n", c.samples,
                  c.live_samples);
    assert_int_equal(c.live_samples, live0);
    assert_int_equal(c.refs_wrapped, 0);
}

/* fork() while another thread toggles sampling: the child finds the locks free, and can
 * allocate, stop and start. */
static int toggling;

static void *toggler(void *arg)
{
    (void)arg;
    while (__atomic_load_n(&toggling, __ATOMIC_RELAXED)) {
        pt_heap_start(4096);
        pt_heap_stop();
    }
    return NULL;
}

static void test_fork(void **state)
{
    (void)state;
    pthread_t t;
    __atomic_store_n(&toggling, 1, __ATOMIC_RELAXED);
    assert_int_equal(pthread_create(&t, NULL, toggler, NULL), 0);
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            alarm(10); /* a lock left held by the fork would hang the child: fail instead */
            pt_heap_start(1);
            void *p = route_dso_alloc(100);
            route_dso_release(p);
            pt_heap_stop();
            _exit(p ? 0 : 1);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    __atomic_store_n(&toggling, 0, __ATOMIC_RELAXED);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(pt_heap_stop(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_off_goes_direct),
        cmocka_unit_test(test_on_goes_through_the_library),
        cmocka_unit_test(test_captured_free),
        cmocka_unit_test(test_toggle_under_load),
        cmocka_unit_test(test_fork),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
