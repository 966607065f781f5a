/* bench/alloc_count.c: malloc interposition that counts per thread (see alloc_count.h).
 *
 * The counters are initial-exec thread-locals of the executable, so reading or bumping them
 * never allocates (a dynamic TLS block would, and would recurse into malloc). */
#include "alloc_count.h"

#include <errno.h>
#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void __libc_free(void *p);

static __thread pt_bench_heap_counts counts __attribute__((tls_model("initial-exec")));

pt_bench_heap_counts pt_bench_heap_counts_get(void)
{
    return counts;
}

void *malloc(size_t size)
{
    counts.allocs++;
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    counts.allocs++;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    counts.allocs++;
    return __libc_realloc(p, size);
}

void free(void *p)
{
    if (p == NULL)
        return;
    counts.frees++;
    __libc_free(p);
}

void *memalign(size_t align, size_t size)
{
    counts.allocs++;
    return __libc_memalign(align, size);
}

void *aligned_alloc(size_t align, size_t size)
{
    counts.allocs++;
    return __libc_memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    counts.allocs++;
    void *p = __libc_memalign(align, size);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

void *valloc(size_t size)
{
    counts.allocs++;
    return __libc_memalign(4096, size);
}
