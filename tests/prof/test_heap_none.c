/* libpotter's heap functions in a process without libpotter-heap: everything answers
 * -ENOTSUP (the control port then says "link libpotter-heap or LD_PRELOAD it"). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "potter/heap.h"

static void test_not_loaded(void **state)
{
    (void)state;
    void *out = NULL;
    size_t len = 0;

    assert_int_equal(pt_prof_heap_available(), 0);
    assert_int_equal(pt_prof_heap_start(0), -ENOTSUP);
    assert_int_equal(pt_prof_heap_stop(), -ENOTSUP);
    assert_int_equal(pt_prof_heap_profile(&out, &len), -ENOTSUP);
    assert_null(out);
    assert_int_equal(pt_prof_heap_profile(NULL, &len), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_not_loaded)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
