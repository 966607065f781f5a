/* libpotter-heap preloaded (LD_PRELOAD=libpotter-heap.so) into a program that does not link it:
 * libpotter finds it, starts sampling, and the profile holds the program's allocations. Run
 * twice by ctest: over glibc's malloc, and over tcmalloc preloaded after it
 * (PT_TEST_EXPECT_TCMALLOC=1), which the heap library then wraps. */
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "potter/heap.h"
#include "prof/profile_check.h"

static void *kept[20000];

__attribute__((noinline)) static void preload_site(void)
{
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        kept[i] = malloc(100 + i % 400);
        memset(kept[i], 1, 100);
    }
}

static void test_preloaded(void **state)
{
    (void)state;
    const char *tc = getenv("PT_TEST_EXPECT_TCMALLOC");
    if (tc && *tc == '1')
        assert_non_null(dlsym(RTLD_DEFAULT, "tc_malloc")); /* tcmalloc is the real allocator */
    assert_int_equal(pt_prof_heap_available(), 1);
    int (*get)(pt_heap_counters *, size_t) =
        (int (*)(pt_heap_counters *, size_t))dlsym(RTLD_DEFAULT, "pt_heap_get_counters");
    assert_non_null(get);
    pt_heap_counters c;
    /* Off: the program's and its libraries' references go straight to the allocator. */
    assert_int_equal(get(&c, sizeof(c)), 0);
    print_message("off: %" PRIu64 " references direct, %" PRIu64 " wrapped\n", c.refs_direct,
                  c.refs_wrapped);
    assert_true(c.refs_direct > 0);
    assert_int_equal(c.refs_wrapped, 0);
    assert_int_equal(pt_prof_heap_start(16384), 0);
    assert_int_equal(get(&c, sizeof(c)), 0);
    assert_int_equal(c.refs_direct, 0);
    assert_true(c.refs_wrapped > 0);
    preload_site();
    assert_int_equal(pt_prof_heap_stop(), 0);

    assert_int_equal(get(&c, sizeof(c)), 0);
    print_message("samples %" PRIu64 ", live %" PRIu64 ", untracked %" PRIu64 "\n", c.samples,
                  c.live_samples, c.untracked);
    assert_true(c.live_samples > 100); /* ~6 MB at 16 KiB: ~370 */
    assert_int_equal(c.untracked, 0);

    void *gz;
    size_t len;
    assert_int_equal(pt_prof_heap_profile(&gz, &len), 0);
    struct pchk_decoded d;
    pchk_decode(gz, len, &d);
    assert_true(pchk_has_string(&d, "preload_site"));
    assert_true(d.value_sum[3] > 3000000 && d.value_sum[3] < 9000000); /* ~6 MB in use */
    free(d.strings);
    free(gz);
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
        free(kept[i]);
    assert_int_equal(get(&c, sizeof(c)), 0);
    assert_int_equal(c.live_samples, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_preloaded)};
    return cmocka_run_group_tests(tests, pchk_setup, pchk_teardown);
}
