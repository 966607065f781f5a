/* Built with -fno-omit-frame-pointer (stack.cmake): see stack_frames.h. */
#include "prof/stack.h"
#include "stack_frames.h"

__attribute__((noinline)) int fp_outer(uintptr_t *pcs, int max)
{
    int n = nofp_middle(pcs, max);

    __asm__ volatile(""); /* no tail call: this frame must be on the stack during the walk */
    return n;
}

__attribute__((noinline)) int fp_inner(uintptr_t *pcs, int max)
{
    int n = pt__stack_walk(NULL, pcs, max);

    __asm__ volatile("");
    return n;
}
