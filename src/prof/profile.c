/* The profile: samples aggregated by (stack, thread), the distinct pcs with their source lines
 * and modules, and the small containers the writers share (prof/profile_internal.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "prof/profile_internal.h"

/* ---- the byte buffer ---- */

int pt__pbuf_reserve(struct pt__pbuf *b, size_t more)
{
    if (b->err)
        return b->err;
    if (more <= b->cap - b->len)
        return 0;
    if (b->len + more < b->len)
        return b->err = -ENOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more) {
        if (cap > SIZE_MAX / 2)
            return b->err = -ENOMEM;
        cap *= 2;
    }
    char *np = realloc(b->p, cap);
    if (np == NULL)
        return b->err = -ENOMEM;
    b->p = np;
    b->cap = cap;
    return 0;
}

void pt__pbuf_put(struct pt__pbuf *b, const void *s, size_t n)
{
    if (n == 0 || pt__pbuf_reserve(b, n) != 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void pt__pbuf_puts(struct pt__pbuf *b, const char *s)
{
    pt__pbuf_put(b, s, strlen(s));
}

void pt__pbuf_putc(struct pt__pbuf *b, char c)
{
    if (pt__pbuf_reserve(b, 1) != 0)
        return;
    b->p[b->len++] = c;
}

void pt__pbuf_free(struct pt__pbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int pt__grow(void *arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return -ENOMEM;
        n *= 2;
    }
    if (n > SIZE_MAX / size)
        return -ENOMEM;
    void *np = realloc(*(void **)arr, n * size);
    if (np == NULL)
        return -ENOMEM;
    *(void **)arr = np;
    *cap = n;
    return 0;
}

/* ---- hashing and the index table ---- */

uint64_t pt__hash_bytes(const void *s, size_t n, uint64_t h)
{
    const unsigned char *c = s;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t hash_word(uint64_t h, uint64_t x)
{
    h ^= x;
    h *= 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 31);
}

uint32_t pt__itab_find(const struct pt__itab *t, uint64_t hash, int (*eq)(const void *, uint32_t),
                       const void *ctx)
{
    if (t->cap == 0)
        return PT__PROFILE_NONE;
    size_t mask = t->cap - 1;
    for (size_t pos = hash & mask; t->slot[pos] != 0; pos = (pos + 1) & mask)
        if (eq(ctx, t->slot[pos] - 1))
            return t->slot[pos] - 1;
    return PT__PROFILE_NONE;
}

static void itab_place(uint32_t *slot, size_t cap, uint32_t index, uint64_t hash)
{
    size_t pos = hash & (cap - 1);
    while (slot[pos] != 0)
        pos = (pos + 1) & (cap - 1);
    slot[pos] = index + 1;
}

int pt__itab_insert(struct pt__itab *t, uint32_t index, uint64_t hash,
                    uint64_t (*hash_of)(const void *, uint32_t), const void *hctx)
{
    if (index >= UINT32_MAX - 1)
        return -ENOMEM;
    if ((t->n + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        if (cap > SIZE_MAX / sizeof(uint32_t))
            return -ENOMEM;
        uint32_t *slot = calloc(cap, sizeof(uint32_t));
        if (slot == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < t->cap; i++)
            if (t->slot[i] != 0)
                itab_place(slot, cap, t->slot[i] - 1, hash_of(hctx, t->slot[i] - 1));
        free(t->slot);
        t->slot = slot;
        t->cap = cap;
    }
    itab_place(t->slot, t->cap, index, hash);
    t->n++;
    return 0;
}

void pt__itab_free(struct pt__itab *t)
{
    free(t->slot);
    t->slot = NULL;
    t->cap = t->n = 0;
}

/* ---- interned strings ---- */

struct str_key {
    const struct pt__strtab *t;
    const char *s;
};

static int str_eq(const void *ctx, uint32_t i)
{
    const struct str_key *k = ctx;
    return strcmp(k->t->s[i], k->s) == 0;
}

static uint64_t str_hash(const char *s)
{
    return hash_word(pt__hash_bytes(s, strlen(s), PT__HASH_SEED), 0);
}

static uint64_t str_hash_of(const void *ctx, uint32_t i)
{
    const struct pt__strtab *t = ctx;
    return str_hash(t->s[i]);
}

int64_t pt__strtab_intern(struct pt__strtab *t, const char *s)
{
    uint64_t h = str_hash(s);
    struct str_key k = {t, s};
    uint32_t i = pt__itab_find(&t->idx, h, str_eq, &k);
    if (i != PT__PROFILE_NONE)
        return i;
    if (pt__grow(&t->s, &t->cap, t->n + 1, sizeof(*t->s)) != 0)
        return -ENOMEM;
    char *copy = (char *)s;
    if (t->own) {
        size_t n = strlen(s) + 1;
        copy = malloc(n);
        if (copy == NULL)
            return -ENOMEM;
        memcpy(copy, s, n);
    }
    if (pt__itab_insert(&t->idx, (uint32_t)t->n, h, str_hash_of, t) != 0) {
        if (t->own)
            free(copy);
        return -ENOMEM;
    }
    t->s[t->n] = copy;
    return (int64_t)t->n++;
}

void pt__strtab_free(struct pt__strtab *t)
{
    if (t->own)
        for (size_t i = 0; i < t->n; i++)
            free(t->s[i]);
    free(t->s);
    pt__itab_free(&t->idx);
    t->s = NULL;
    t->n = t->cap = 0;
}

/* ---- the profile ---- */

static int intern32(pt__profile *p, const char *s, uint32_t *out)
{
    int64_t r = pt__strtab_intern(&p->str, s ? s : "");
    if (r < 0)
        return (int)r;
    *out = (uint32_t)r;
    return 0;
}

pt__profile *pt__profile_new(const pt__profile_type *types, size_t nvalues,
                             pt__profile_type period_type, int64_t period)
{
    if (nvalues == 0 || nvalues > PT__PROFILE_MAX_VALUES)
        return NULL;
    pt__profile *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->str.own = 1;
    p->nvalues = nvalues;
    p->period = period;
    int err = intern32(p, period_type.type, &p->period_type);
    if (err == 0)
        err = intern32(p, period_type.unit, &p->period_unit);
    for (size_t i = 0; err == 0 && i < nvalues; i++) {
        err = intern32(p, types[i].type, &p->type[i]);
        if (err == 0)
            err = intern32(p, types[i].unit, &p->unit[i]);
    }
    if (err != 0) {
        pt__profile_free(p);
        return NULL;
    }
    return p;
}

void pt__profile_free(pt__profile *p)
{
    if (p == NULL)
        return;
    pt__strtab_free(&p->str);
    free(p->pcs);
    pt__itab_free(&p->pc_idx);
    free(p->lines);
    free(p->modules);
    free(p->samples);
    free(p->values);
    free(p->frames);
    pt__itab_free(&p->sample_idx);
    free(p);
}

void pt__profile_set_time(pt__profile *p, int64_t time_ns, int64_t duration_ns)
{
    p->time_ns = time_ns;
    p->duration_ns = duration_ns;
}

/* pcs are keyed by (pc, is_return): frame 0 is the exact pc, the rest return addresses. */
struct pc_key {
    const pt__profile *p;
    uintptr_t pc;
    int is_return;
};

static uint64_t pc_hash(uintptr_t pc, int is_return)
{
    return hash_word(hash_word(PT__HASH_SEED, pc), (uint64_t)is_return);
}

static uint64_t pc_hash_of(const void *ctx, uint32_t i)
{
    const pt__profile *p = ctx;
    return pc_hash(p->pcs[i].pc, p->pcs[i].is_return);
}

static int pc_eq(const void *ctx, uint32_t i)
{
    const struct pc_key *k = ctx;
    return k->p->pcs[i].pc == k->pc && k->p->pcs[i].is_return == k->is_return;
}

/* The index of (pc, is_return), added when new. 0 or -ENOMEM. */
static int pc_intern(pt__profile *p, uintptr_t pc, int is_return, uint32_t *out)
{
    uint64_t h = pc_hash(pc, is_return);
    struct pc_key k = {p, pc, is_return};
    uint32_t i = pt__itab_find(&p->pc_idx, h, pc_eq, &k);
    if (i == PT__PROFILE_NONE) {
        if (pt__grow(&p->pcs, &p->pcs_cap, p->npcs + 1, sizeof(*p->pcs)) != 0 ||
            pt__itab_insert(&p->pc_idx, (uint32_t)p->npcs, h, pc_hash_of, p) != 0)
            return -ENOMEM;
        i = (uint32_t)p->npcs++;
        p->pcs[i] = (struct pt__prof_pc){
            .pc = pc, .is_return = (uint8_t)is_return, .module = PT__PROFILE_NONE};
    }
    *out = i;
    return 0;
}

/* Samples are hashed on their raw pcs and the thread's name, so a lookup (every add of a stack
 * seen before, every sub) needs no allocation. */
struct sample_key {
    const pt__profile *p;
    const uintptr_t *pcs;
    size_t depth;
    const char *thread;
};

static uint64_t sample_hash(const uintptr_t *pcs, size_t depth, const char *thread)
{
    uint64_t h = hash_word(PT__HASH_SEED, depth);
    for (size_t i = 0; i < depth; i++)
        h = hash_word(h, pcs[i]);
    if (thread != NULL)
        h = hash_word(pt__hash_bytes(thread, strlen(thread), h), 1);
    return h;
}

static uint64_t sample_hash_of(const void *ctx, uint32_t i)
{
    const pt__profile *p = ctx;
    return p->samples[i].hash;
}

static int sample_eq(const void *ctx, uint32_t i)
{
    const struct sample_key *k = ctx;
    const pt__profile *p = k->p;
    const struct pt__prof_sample *s = &p->samples[i];
    if (s->depth != k->depth)
        return 0;
    if ((s->thread == PT__PROFILE_NONE) != (k->thread == NULL))
        return 0;
    if (k->thread != NULL && strcmp(p->str.s[s->thread], k->thread) != 0)
        return 0;
    const uint32_t *f = p->frames + s->frames;
    for (size_t d = 0; d < k->depth; d++)
        if (p->pcs[f[d]].pc != k->pcs[d])
            return 0;
    return 1;
}

static int64_t add_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* Appends a new sample (known not to be there). 0 or -ENOMEM; on failure the samples are as
 * they were (pcs and strings it interned stay, unreferenced). */
static int sample_new(pt__profile *p, const uintptr_t *pcs, size_t depth, const int64_t *values,
                      const char *thread, uint64_t h)
{
    if (depth > UINT32_MAX || p->nframes + depth < p->nframes)
        return -ENOMEM;
    uint32_t thr = PT__PROFILE_NONE;
    if (thread != NULL && intern32(p, thread, &thr) != 0)
        return -ENOMEM;
    if (pt__grow(&p->frames, &p->frames_cap, p->nframes + depth, sizeof(*p->frames)) != 0 ||
        pt__grow(&p->samples, &p->samples_cap, p->nsamples + 1, sizeof(*p->samples)) != 0)
        return -ENOMEM;
    if (p->nsamples + 1 > SIZE_MAX / p->nvalues)
        return -ENOMEM;
    size_t nv = (p->nsamples + 1) * p->nvalues;
    if (pt__grow(&p->values, &p->values_cap, nv, sizeof(*p->values)) != 0)
        return -ENOMEM;
    for (size_t d = 0; d < depth; d++)
        if (pc_intern(p, pcs[d], d > 0, &p->frames[p->nframes + d]) != 0)
            return -ENOMEM;
    if (pt__itab_insert(&p->sample_idx, (uint32_t)p->nsamples, h, sample_hash_of, p) != 0)
        return -ENOMEM;
    p->samples[p->nsamples] = (struct pt__prof_sample){
        .frames = p->nframes, .depth = (uint32_t)depth, .thread = thr, .hash = h};
    memcpy(p->values + p->nsamples * p->nvalues, values, p->nvalues * sizeof(*values));
    p->nframes += depth;
    p->nsamples++;
    return 0;
}

int pt__profile_add(pt__profile *p, const uintptr_t *pcs, size_t depth, const int64_t *values,
                    const char *thread)
{
    uint64_t h = sample_hash(pcs, depth, thread);
    struct sample_key k = {p, pcs, depth, thread};
    uint32_t i = pt__itab_find(&p->sample_idx, h, sample_eq, &k);
    if (i == PT__PROFILE_NONE)
        return sample_new(p, pcs, depth, values, thread, h);
    int64_t *v = p->values + (size_t)i * p->nvalues;
    for (size_t j = 0; j < p->nvalues; j++)
        v[j] = add_sat(v[j], values[j]);
    return 0;
}

int pt__profile_sub(pt__profile *p, const uintptr_t *pcs, size_t depth, const int64_t *values,
                    const char *thread)
{
    struct sample_key k = {p, pcs, depth, thread};
    uint32_t i = pt__itab_find(&p->sample_idx, sample_hash(pcs, depth, thread), sample_eq, &k);
    if (i == PT__PROFILE_NONE)
        return -ENOENT;
    int64_t *v = p->values + (size_t)i * p->nvalues;
    for (size_t j = 0; j < p->nvalues; j++)
        v[j] = add_sat(v[j], values[j] == INT64_MIN ? INT64_MAX : -values[j]);
    return 0;
}

int64_t pt__profile_total(const pt__profile *p, size_t i)
{
    if (i >= p->nvalues)
        return 0;
    int64_t t = 0;
    for (size_t s = 0; s < p->nsamples; s++)
        t = add_sat(t, p->values[s * p->nvalues + i]);
    return t;
}

/* ---- resolving ---- */

/* The module m names, added when new. 0 or -ENOMEM. */
static int module_intern(pt__profile *p, const pt__sym_module *m, uint32_t *out)
{
    uint32_t path = 0;
    if (intern32(p, m->path, &path) != 0)
        return -ENOMEM;
    for (size_t i = p->nmodules; i-- > 0;) {
        const struct pt__prof_module *e = &p->modules[i];
        if (e->path == path && e->start == m->start && e->end == m->end) {
            *out = (uint32_t)i;
            return 0;
        }
    }
    uint32_t build_id = PT__PROFILE_NONE;
    if (m->build_id[0] != '\0') {
        char id[sizeof(m->build_id)];
        memcpy(id, m->build_id, sizeof(id));
        id[sizeof(id) - 1] = '\0';
        if (intern32(p, id, &build_id) != 0)
            return -ENOMEM;
    }
    if (pt__grow(&p->modules, &p->modules_cap, p->nmodules + 1, sizeof(*p->modules)) != 0)
        return -ENOMEM;
    p->modules[p->nmodules] = (struct pt__prof_module){.path = path,
                                                       .build_id = build_id,
                                                       .start = m->start,
                                                       .end = m->end,
                                                       .file_offset = m->file_offset};
    *out = (uint32_t)p->nmodules++;
    return 0;
}

/* Resolves pcs[i]. 0 or -ENOMEM (the pc then stays unresolved, its lines dropped). */
static int resolve_pc(pt__profile *p, size_t i, pt__profile_lines_fn lines, void *arg,
                      pt__profile_module_fn module, void *marg)
{
    struct pt__prof_pc *pc = &p->pcs[i];
    pt__sym_line got[PT__PROFILE_MAX_LINES];
    size_t n = lines ? lines(arg, pc->pc, pc->is_return, got, PT__PROFILE_MAX_LINES) : 0;
    if (n > PT__PROFILE_MAX_LINES)
        n = PT__PROFILE_MAX_LINES;
    if (p->nlines + n > UINT32_MAX ||
        pt__grow(&p->lines, &p->lines_cap, p->nlines + n, sizeof(*p->lines)) != 0)
        return -ENOMEM;
    for (size_t j = 0; j < n; j++) {
        struct pt__prof_line *l = &p->lines[p->nlines + j];
        l->file = PT__PROFILE_NONE;
        l->line = got[j].line;
        if (intern32(p, got[j].function ? got[j].function : "??", &l->function) != 0 ||
            (got[j].file != NULL && intern32(p, got[j].file, &l->file) != 0))
            return -ENOMEM;
    }
    uint32_t mod = PT__PROFILE_NONE;
    pt__sym_module m;
    memset(&m, 0, sizeof(m));
    if (module != NULL && module(marg, pc->pc, &m) == 0 && m.path != NULL &&
        module_intern(p, &m, &mod) != 0)
        return -ENOMEM;
    pc->line_off = (uint32_t)p->nlines;
    pc->nlines = (uint32_t)n;
    pc->module = mod;
    pc->resolved = 1;
    p->nlines += n;
    return 0;
}

int pt__profile_resolve(pt__profile *p, pt__profile_lines_fn lines, void *arg,
                        pt__profile_module_fn module, void *marg)
{
    for (size_t i = 0; i < p->npcs; i++)
        if (!p->pcs[i].resolved && resolve_pc(p, i, lines, arg, module, marg) != 0)
            return -ENOMEM;
    return 0;
}

/* ---- with the symbolizer ---- */

static size_t sym_lines(void *arg, uintptr_t pc, int is_return, pt__sym_line *out, size_t max)
{
    return pt__symbolize(arg, pc, is_return, out, max);
}

static int sym_module(void *arg, uintptr_t pc, pt__sym_module *out)
{
    return pt__symbolize_module(arg, pc, out);
}

int pt__profile_symbolize(pt__profile *p, pt__symbolizer *s)
{
    return pt__profile_resolve(p, sym_lines, s, sym_module, s);
}
