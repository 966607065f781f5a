/* libpotter's side of the heap profiler (docs/prof.md, "Heap profiler"): it turns
 * libpotter-heap's samples into Go's heap profile. libpotter never depends on the heap
 * library (which wraps the allocator, and is opt-in): its functions are looked up at run time
 * with dlsym(RTLD_DEFAULT), so they are found when the program links libpotter-heap or runs
 * with it preloaded, and everything here answers -ENOTSUP otherwise. */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "potter/core.h"
#include "potter/heap.h"
#include "prof/profile.h"
#include "prof/stack.h"

static void *heap_fn(const char *name)
{
    return dlsym(RTLD_DEFAULT, name);
}

PT_EXTERN int pt_prof_heap_available(void)
{
    return heap_fn("pt_heap_snapshot") != NULL;
}

PT_EXTERN int pt_prof_heap_start(uint64_t mean_bytes)
{
    int (*start)(uint64_t) = (int (*)(uint64_t))heap_fn("pt_heap_start");
    return start ? start(mean_bytes) : -ENOTSUP;
}

PT_EXTERN int pt_prof_heap_stop(void)
{
    int (*stop)(void) = (int (*)(void))heap_fn("pt_heap_stop");
    return stop ? stop() : -ENOTSUP;
}

struct heap_build {
    pt__profile *p;
    int err;
};

static void add_stack(void *arg, const uintptr_t *pcs, size_t depth,
                      const pt_heap_stack_stats *st)
{
    struct heap_build *b = arg;
    int64_t v[4] = {(int64_t)st->alloc_objects, (int64_t)st->alloc_bytes,
                    (int64_t)st->inuse_objects, (int64_t)st->inuse_bytes};

    for (int i = 0; i < 4; i++)
        if (v[i] < 0)
            v[i] = INT64_MAX;
    if (b->err == 0)
        b->err = pt__profile_add(b->p, pcs, depth, v, NULL);
}

/* Go's order of sample types; pprof shows the last (inuse_space) unless told otherwise. */
static const pt__profile_type heap_types[] = {
    {"alloc_objects", "count"},
    {"alloc_space", "bytes"},
    {"inuse_objects", "count"},
    {"inuse_space", "bytes"},
};

PT_EXTERN int pt_prof_heap_profile(void **out, size_t *len)
{
    int (*snapshot)(pt_heap_stack_fn, void *, uint64_t *) =
        (int (*)(pt_heap_stack_fn, void *, uint64_t *))heap_fn("pt_heap_snapshot");
    uint64_t mean = 0;
    int err;

    if (!out || !len)
        return -EINVAL;
    if (!snapshot)
        return -ENOTSUP;
    if ((err = snapshot(NULL, NULL, &mean)) != 0)
        return err;
    struct heap_build b = {
        pt__profile_new(heap_types, 4, (pt__profile_type){"space", "bytes"},
                        mean > INT64_MAX ? INT64_MAX : (int64_t)mean),
        0};
    if (!b.p)
        return -ENOMEM;
    pt__profile_set_time(b.p, pt_clock_wall_ns(), 0);
    err = snapshot(add_stack, &b, NULL);
    if (err == 0)
        err = b.err;
    pt__symbolizer *sym = NULL;
    if (err == 0 && (err = pt__symbolizer_new(&sym)) == 0 &&
        (err = pt__profile_symbolize(b.p, sym)) == 0)
        err = pt__profile_pprof(b.p, out, len);
    pt__symbolizer_free(sym);
    pt__profile_free(b.p);
    return err;
}
