/* Three functions in a chain, fp_outer -> nofp_middle -> fp_inner, whose innermost one walks
 * the stack: the outer two are built with frame pointers (stack_fp.c), the middle one without
 * (stack_nofp.c), so a walk that followed the frame pointer chain through nofp_middle would
 * silently skip fp_outer. test_stack.c checks that it does not. */
#ifndef PT_TEST_STACK_FRAMES_H
#define PT_TEST_STACK_FRAMES_H

#include <stdint.h>

int fp_outer(uintptr_t *pcs, int max);
int nofp_middle(uintptr_t *pcs, int max);
int fp_inner(uintptr_t *pcs, int max);

#endif
