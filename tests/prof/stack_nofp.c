/* Built with -fomit-frame-pointer (stack.cmake): see stack_frames.h. The function leaves rbp
 * alone, so fp_inner's saved rbp is still fp_outer's. */
#include "stack_frames.h"

__attribute__((noinline)) int nofp_middle(uintptr_t *pcs, int max)
{
    int n = fp_inner(pcs, max);

    __asm__ volatile("");
    return n + 0;
}
