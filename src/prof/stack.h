/* Stacks (internal to the prof part; docs/prof.md): walked inside a signal handler, symbolized
 * later on pt-work.
 *
 *     pt__stack_init();                            // once, before the first walk in a handler
 *     ...in a SA_SIGINFO handler:
 *     int n = pt__stack_walk(ucontext, pcs, PT__STACK_MAX);
 *     ...later, on pt-work:
 *     pt__symbolizer *sym;
 *     pt__symbolizer_new(&sym);
 *     pt__sym_line lines[8];
 *     size_t k = pt__symbolize(sym, pcs[i], i > 0, lines, 8);  // innermost inlined frame first
 *     pt__symbolizer_free(sym);
 */
#ifndef PT_PROF_STACK_H
#define PT_PROF_STACK_H

#include <stddef.h>
#include <stdint.h>

/* The deepest stack recorded; deeper ones are cut at the root end. */
#define PT__STACK_MAX 128

/* Prepares walking: sets libunwind's per-thread caching (lock-free) and warms the caches for
 * the calling thread and the loaded modules, so a first walk in a handler has less to do.
 * Idempotent. Returns 0, or -ENOTSUP when the stack cannot be walked at all. */
int pt__stack_init(void);

/* Walks the calling thread's stack. uc is the ucontext_t * a SA_SIGINFO handler got (the walk
 * starts at the interrupted instruction), or NULL (it starts at the caller of this function).
 * The walk follows the unwind tables (.eh_frame, which every module has, frame pointers or
 * not: Debian builds libc and libuv without them, gcc -O2 omits them), through libunwind's
 * per-thread cache of frame descriptions; libunwind itself falls back to the frame pointer,
 * validating each read, where a module has no tables. Frame pointers are not followed first:
 * through a function without them the chain stays valid but skips its caller (stack.c).
 * pcs[0] is the interrupted instruction (or an address inside the call of this function);
 * pcs[1..] are return addresses. Returns the depth (at most max and PT__STACK_MAX; 0 when
 * called from a handler that interrupted a walk on the same thread, or when another walk held
 * the process-wide walk lock for 10 ms: see stack.c). Async-signal-safe: no malloc, errno
 * kept, one spin lock with a bounded wait (never a wait that can deadlock with the dynamic
 * loader's lock); a thread's first walk maps libunwind's cache for it (mmap), which
 * pt__stack_init() does ahead for the calling thread. */
int pt__stack_walk(void *uc, uintptr_t *pcs, int max);

/* ---- symbolizing (libdw) ---- */

typedef struct pt__symbolizer pt__symbolizer;

/* One source line of a pc. Strings are the symbolizer's, valid until pt__symbolizer_free();
 * file may be NULL (no debug info) and line then 0; function is never NULL ("??" when unknown,
 * or "module+0xoffset" when only the module is known). */
typedef struct {
    const char *function;
    const char *file;
    int line;
} pt__sym_line;

/* The loaded module (ELF file) a pc falls in. */
typedef struct {
    const char *path; /* the symbolizer's string */
    uintptr_t start, end; /* mapped range */
    uint64_t file_offset; /* of start */
    char build_id[41]; /* hex, "" when none (longer ids are cut) */
} pt__sym_module;

/* A symbolizer for this process's modules as they are loaded now (modules loaded later are
 * found on a miss). Not thread-safe: one user at a time. Returns 0 or a negative errno. */
int pt__symbolizer_new(pt__symbolizer **out);
void pt__symbolizer_free(pt__symbolizer *s);

/* The source lines of pc, innermost first: when pc is inside inlined code, the inlined
 * function's line, then the line of its caller where it was inlined, ..., last the real
 * function's. is_return: pc is a return address (looked up at pc - 1). Returns how many lines
 * were written (at most max; at least 1 when max >= 1). */
size_t pt__symbolize(pt__symbolizer *s, uintptr_t pc, int is_return, pt__sym_line *lines,
                     size_t max);

/* The module pc falls in. Returns 0, or -ENOENT. */
int pt__symbolize_module(pt__symbolizer *s, uintptr_t pc, pt__sym_module *out);

#endif
