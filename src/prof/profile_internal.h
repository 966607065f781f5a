/* The profile's insides, shared by its writers (profile.c, pprof.c, folded.c, flame.c). Not
 * for the profilers: they use prof/profile.h. */
#ifndef PT_PROF_PROFILE_INTERNAL_H
#define PT_PROF_PROFILE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "prof/profile.h"

#define PT__PROFILE_MAX_VALUES 8
/* Source lines kept per pc (innermost first); deeper inlining is cut at the outer end. */
#define PT__PROFILE_MAX_LINES 32
#define PT__PROFILE_NONE UINT32_MAX

/* ---- a growable byte buffer with a sticky error ----
 * Appends never fail: the first failed growth sets err (-ENOMEM) and later appends do
 * nothing, so a writer appends freely and checks err once at the end. */
struct pt__pbuf {
    char *p;
    size_t len, cap;
    int err;
};
int pt__pbuf_reserve(struct pt__pbuf *b, size_t more);
void pt__pbuf_put(struct pt__pbuf *b, const void *s, size_t n);
void pt__pbuf_puts(struct pt__pbuf *b, const char *s);
void pt__pbuf_putc(struct pt__pbuf *b, char c);
void pt__pbuf_free(struct pt__pbuf *b);

/* Grows *arr (of *cap elements of size) geometrically to hold at least need. 0 or -ENOMEM. */
int pt__grow(void *arr, size_t *cap, size_t need, size_t size);

/* ---- an open-addressing table of indices ----
 * Slots hold index + 1 (0: empty); the caller keeps the entries and compares them. The
 * capacity is a power of two, at most half full. */
struct pt__itab {
    uint32_t *slot;
    size_t cap, n;
};
/* Finds the index whose entry eq(ctx, index) says is equal, probing from hash; returns it, or
 * PT__PROFILE_NONE. */
uint32_t pt__itab_find(const struct pt__itab *t, uint64_t hash, int (*eq)(const void *, uint32_t),
                       const void *ctx);
/* Adds index (not in yet) under hash, growing first when needed: rehashing calls
 * hash_of(hctx, index) for every index already in. 0 or -ENOMEM. */
int pt__itab_insert(struct pt__itab *t, uint32_t index, uint64_t hash,
                    uint64_t (*hash_of)(const void *, uint32_t), const void *hctx);
void pt__itab_free(struct pt__itab *t);

uint64_t pt__hash_bytes(const void *s, size_t n, uint64_t h);
#define PT__HASH_SEED 0xcbf29ce484222325ull

/* ---- interned strings ---- */
struct pt__strtab {
    char **s; /* owned when own */
    size_t n, cap;
    struct pt__itab idx;
    int own;
};
/* The index of s (copied when own, else borrowed) in t, added when new; -ENOMEM. */
int64_t pt__strtab_intern(struct pt__strtab *t, const char *s);
void pt__strtab_free(struct pt__strtab *t);

/* ---- the profile ---- */

/* One source line of a pc; strings are indices into the profile's strtab. */
struct pt__prof_line {
    uint32_t function, file; /* file PT__PROFILE_NONE when unknown */
    int32_t line;
};

struct pt__prof_module {
    uint32_t path, build_id; /* build_id PT__PROFILE_NONE when none */
    uint64_t start, end, file_offset;
};

/* A distinct pc: the same address as a leaf and as a return address are two pcs. */
struct pt__prof_pc {
    uintptr_t pc;
    uint8_t is_return, resolved;
    uint32_t line_off, nlines; /* into lines; nlines 0: unknown */
    uint32_t module; /* PT__PROFILE_NONE when unknown */
};

struct pt__prof_sample {
    size_t frames; /* offset into frames[] of depth pc indices, leaf first */
    uint32_t depth;
    uint32_t thread; /* strtab index, PT__PROFILE_NONE when none */
    uint64_t hash;
};

struct pt__profile {
    size_t nvalues;
    uint32_t type[PT__PROFILE_MAX_VALUES], unit[PT__PROFILE_MAX_VALUES];
    uint32_t period_type, period_unit;
    int64_t period, time_ns, duration_ns;

    struct pt__strtab str;

    struct pt__prof_pc *pcs;
    size_t npcs, pcs_cap;
    struct pt__itab pc_idx;

    struct pt__prof_line *lines;
    size_t nlines, lines_cap;

    struct pt__prof_module *modules;
    size_t nmodules, modules_cap;

    struct pt__prof_sample *samples;
    size_t nsamples, samples_cap;
    int64_t *values; /* nsamples * nvalues */
    size_t values_cap;
    uint32_t *frames; /* the samples' pc indices */
    size_t nframes, frames_cap;
    struct pt__itab sample_idx;
};

/* ---- stacks as text (folded.c; the flame graph builds on them) ---- */

/* One distinct stack of names, root first, frames joined by ';'. */
struct pt__prof_stack {
    const char *text;
    int64_t value;
};
/* The distinct stacks of value index i with a non-zero value (with the thread's name as the
 * first frame when threads), sorted frame by frame (the ';' orders below every other byte, so
 * stacks sharing a prefix of frames are next to each other). *out is one malloc'd block
 * (free() it); *n how many. 0 or -ENOMEM. */
int pt__profile_stacks(const pt__profile *p, size_t i, int threads, struct pt__prof_stack **out,
                       size_t *n);

#endif
