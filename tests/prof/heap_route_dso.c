/* A library whose references to the allocator test_heap_route watches: data words relocated
 * against malloc and free (as jansson's `do_malloc = malloc`), and GOT entries (read afresh by
 * each call of the functions below). Linked -z now -z relro, so those entries sit in a page
 * made read-only after relocation. */
#include <stdlib.h>

static void *(*dso_malloc)(size_t) = malloc;
static void (*dso_free)(void *) = free;

/* The data words' values. (Not the words themselves: a program that reads a library's
 * variable gets a copy of its own, made at load, which no relocation names.) */
__attribute__((noinline)) void *route_dso_word_malloc(void)
{
    return (void *)dso_malloc;
}

__attribute__((noinline)) void *route_dso_word_free(void)
{
    return (void *)dso_free;
}

__attribute__((noinline)) void *route_dso_got_malloc(void)
{
    return (void *)malloc;
}

__attribute__((noinline)) void *route_dso_got_free(void)
{
    return (void *)free;
}

/* Allocations made from this library through its data words (as jansson's are). */
__attribute__((noinline)) void *route_dso_alloc(size_t size)
{
    return dso_malloc(size);
}

__attribute__((noinline)) void route_dso_release(void *p)
{
    dso_free(p);
}
