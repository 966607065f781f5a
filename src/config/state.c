/* The effective configuration ("state"): built from the layers under cfg->lock, published
 * with one atomic store, read lock-free through handles and views, and freed once no view
 * holds it.
 *
 * Views use hazard pointers: a thread's reader slot names the state it reads; a writer frees
 * a retired state only when no slot names it. A reader publishes its slot, fences, and checks
 * that the state is still the current one; the writer stores the new state, fences, and scans
 * the slots. With both fences one of them sees the other: either the writer sees the slot
 * and keeps the state, or the reader sees the new state and retries. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config_internal.h"
#include "config/units.h"

/* ---- layers ------------------------------------------------------------------------------ */

void pt__centry_free(pt__centry *e)
{
    pt__cval_free(&e->v);
    free(e->origin);
    free(e->source);
    memset(e, 0, sizeof(*e));
}

int pt__clayer_init(pt__clayer *l, size_t nkeys)
{
    l->e = calloc(nkeys ? nkeys : 1, sizeof(*l->e));
    return l->e ? 0 : -ENOMEM;
}

void pt__clayer_clear(pt__clayer *l, size_t nkeys)
{
    for (size_t i = 0; l->e && i < nkeys; i++)
        pt__centry_free(&l->e[i]);
}

void pt__clayer_free(pt__clayer *l, size_t nkeys)
{
    pt__clayer_clear(l, nkeys);
    free(l->e);
    l->e = NULL;
}

const pt__centry *pt__config_winner(const pt_config *cfg, size_t i)
{
    if (cfg->over.e && cfg->over.e[i].present)
        return &cfg->over.e[i];
    if (cfg->flags.e && cfg->flags.e[i].present)
        return &cfg->flags.e[i];
    for (int l = PT__L_NFILES - 1; l >= 0; l--)
        if (cfg->files[l].e && cfg->files[l].e[i].present)
            return &cfg->files[l].e[i];
    return NULL;
}

void pt__config_origin(pt__cbuf *b, const char *origin, int64_t expires_ns)
{
    pt__cbuf_puts(b, origin);
    if (expires_ns == 0)
        return;
    int64_t left = expires_ns - (int64_t)pt_clock_mono_ns();
    char d[PT__CFG_DURATION_LEN];
    if (left <= 0) {
        pt__cbuf_puts(b, " (expiring)");
        return;
    }
    /* Whole seconds from a second on, whole milliseconds below, rounded up. */
    int64_t unit = left >= 1000000000 ? 1000000000 : 1000000;
    left = (left + unit - 1) / unit * unit;
    pt__cfg_format_duration(left, d, sizeof(d));
    pt__cbuf_printf(b, " (expires in %s)", d);
}

/* ---- building a state -------------------------------------------------------------------- */

void pt__cstate_free(pt__cstate *s)
{
    free(s);
}

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* The value and origin key i has, given the layers. */
static void effective(const pt_config *cfg, size_t i, const pt__cval **v, const char **origin,
                      int64_t *expires)
{
    const pt__centry *w = pt__config_winner(cfg, i);
    *v = w ? &w->v : &cfg->keys[i]->def;
    *origin = w ? w->origin : "default";
    *expires = w ? w->expires_ns : 0;
}

static pt__cstate *build(const pt_config *cfg)
{
    size_t n = cfg->nkeys;
    size_t size = align8(sizeof(pt__cstate)) + align8(n * sizeof(pt__csval));
    static const char *const no_items[1];

    for (size_t i = 0; i < n; i++) {
        const pt__cval *v;
        const char *origin;
        int64_t exp;
        effective(cfg, i, &v, &origin, &exp);
        size += strlen(origin) + 1;
        if (v->str)
            size += v->len + 1;
        if (v->n) {
            size = align8(size) + (v->n + 1) * sizeof(char *);
            for (size_t j = 0; j < v->n; j++)
                size += strlen(v->items[j]) + 1;
        }
        size = align8(size);
    }
    char *mem = malloc(size);
    if (mem == NULL)
        return NULL;
    pt__cstate *s = (pt__cstate *)mem;
    s->retired_next = NULL;
    s->n = n;
    s->v = (pt__csval *)(mem + align8(sizeof(pt__cstate)));
    char *p = (char *)s->v + align8(n * sizeof(pt__csval));
    for (size_t i = 0; i < n; i++) {
        const pt__ckey *k = cfg->keys[i];
        const pt__cval *v;
        const char *origin;
        pt__csval *sv = &s->v[i];
        effective(cfg, i, &v, &origin, &sv->expires_ns);
        sv->set = v->set;
        sv->bits = v->bits;
        sv->str = NULL;
        sv->items = no_items;
        sv->n = 0;
        size_t olen = strlen(origin) + 1;
        memcpy(p, origin, olen);
        sv->origin = p;
        p += olen;
        if (v->set && k->type == PT_CONFIG_ENUM)
            sv->str = k->enum_names[v->bits];
        if (v->str) {
            memcpy(p, v->str, v->len + 1);
            sv->str = p;
            p += v->len + 1;
        }
        if (v->n) {
            p = mem + align8((size_t)(p - mem));
            char **items = (char **)p;
            p += (v->n + 1) * sizeof(char *);
            for (size_t j = 0; j < v->n; j++) {
                size_t len = strlen(v->items[j]) + 1;
                memcpy(p, v->items[j], len);
                items[j] = p;
                p += len;
            }
            items[v->n] = NULL;
            sv->items = (const char *const *)items;
            sv->n = v->n;
        }
        p = mem + align8((size_t)(p - mem));
    }
    return s;
}

/* A state value as a layer value, to compare and print it (no copy: do not free). */
static pt__cval as_cval(const pt__ckey *k, const pt__csval *sv)
{
    pt__cval v = {0};
    v.set = sv->set;
    v.bits = sv->bits;
    if (sv->str && k->type != PT_CONFIG_ENUM) {
        v.str = (char *)sv->str;
        v.len = strlen(sv->str);
    }
    v.items = (char **)sv->items;
    v.n = sv->n;
    return v;
}

void pt__csval_json(pt__cbuf *b, const pt__ckey *k, const pt__csval *sv, int redact)
{
    pt__cval v = as_cval(k, sv);
    pt__cval_json(b, k, &v, redact);
}

/* The changes from `old` to `s`, as one notification; NULL if nothing changed (or no
 * memory: subscribers then miss this step, which the report says). */
static pt__cchanges *diff(pt_config *cfg, const pt__cstate *old, const pt__cstate *s)
{
    pt__cbuf text = cfg->scratch; /* kept between steps: no allocation once it is large enough */
    size_t count = 0;

    text.len = 0;
    /* One buffer of NUL-separated texts: key, old, new, origin for each change. */
    for (size_t i = 0; i < s->n; i++) {
        const pt__ckey *k = cfg->keys[i];
        pt__cval a = as_cval(k, &old->v[i]), b = as_cval(k, &s->v[i]);
        if (pt__cval_equal(&a, &b) && strcmp(old->v[i].origin, s->v[i].origin) == 0 &&
            old->v[i].expires_ns == s->v[i].expires_ns)
            continue;
        pt__cbuf_add(&text, k->name, strlen(k->name) + 1);
        pt__cval_json(&text, k, &a, 1);
        pt__cbuf_add(&text, "", 1);
        pt__cval_json(&text, k, &b, 1);
        pt__cbuf_add(&text, "", 1);
        pt__config_origin(&text, s->v[i].origin, s->v[i].expires_ns);
        pt__cbuf_add(&text, "", 1);
        count++;
    }
    /* One block for the notice: its header, the changes, then the texts. */
    size_t head = sizeof(pt__cchanges) + count * sizeof(pt_config_change);
    pt__cchanges *c = count && !text.oom ? malloc(head + text.len) : NULL;
    if (text.oom || (count && c == NULL)) {
        pt__config_report(cfg, PT_CONFIG_ERROR,
                          "config: out of memory: subscribers miss a "
                          "change");
        pt__cbuf_free(&text);
    }
    cfg->scratch = text;
    if (c == NULL)
        return NULL;
    c->n = count;
    c->text = (char *)c + head;
    memcpy(c->text, text.p, text.len);
    const char *p = c->text;
    for (size_t i = 0; i < count; i++) {
        const char **f[4] = {&c->c[i].key, &c->c[i].old_value, &c->c[i].new_value, &c->c[i].origin};
        for (int j = 0; j < 4; j++) {
            *f[j] = p;
            p += strlen(p) + 1;
        }
    }
    return c;
}

int pt__config_publish(pt_config *cfg)
{
    pt__cstate *s = build(cfg), *old = cfg->cur;

    if (s == NULL)
        return -ENOMEM;
    pt__cchanges *changes = old && pt__config_has_subscribers(cfg) ? diff(cfg, old, s) : NULL;
    __atomic_store_n(&cfg->cur, s, __ATOMIC_RELEASE);
    for (size_t i = 0; i < cfg->nkeys; i++)
        __atomic_store_n(&cfg->keys[i]->bits, s->v[i].bits, __ATOMIC_RELAXED);
    if (old) {
        old->retired_next = cfg->retired;
        cfg->retired = old;
        pt__config_reclaim(cfg);
    }
    if (changes)
        pt__config_notify(cfg, changes);
    return 0;
}

/* ---- readers ----------------------------------------------------------------------------- */

struct pt_config_view {
    pt__cstate *hp; /* atomic: the state this thread reads, NULL outside views */
    int used; /* atomic: the slot belongs to a live thread */
    struct pt_config_view *next; /* set once, before the slot is published */
    /* The owning thread's own: */
    pt_config *cfg;
    const pt__cstate *state;
    unsigned depth;
    char **texts; /* origins formatted for this view, freed when it ends */
    size_t ntexts, captexts;
};

static struct pt_config_view *readers; /* atomic: the slots, newest first; never freed */
static pthread_mutex_t readers_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t reader_key;
static pthread_once_t readers_once = PTHREAD_ONCE_INIT;
static __thread struct pt_config_view *self;

static void reader_exit(void *arg)
{
    struct pt_config_view *r = arg;
    r->depth = 0;
    __atomic_store_n(&r->hp, NULL, __ATOMIC_RELEASE);
    __atomic_store_n(&r->used, 0, __ATOMIC_RELEASE);
}

static void readers_prepare(void)
{
    pthread_mutex_lock(&readers_lock);
}

static void readers_parent(void)
{
    pthread_mutex_unlock(&readers_lock);
}

/* Only this thread is left: the other threads' slots are free again. */
static void readers_child(void)
{
    for (struct pt_config_view *r = readers; r; r = r->next)
        if (r != self)
            reader_exit(r);
    pthread_mutex_unlock(&readers_lock);
}

static void readers_init(void)
{
    if (pthread_key_create(&reader_key, reader_exit) != 0)
        abort();
    pthread_atfork(readers_prepare, readers_parent, readers_child);
}

static struct pt_config_view *reader_self(void)
{
    struct pt_config_view *r;

    if (self)
        return self;
    pthread_once(&readers_once, readers_init);
    pthread_mutex_lock(&readers_lock);
    for (r = readers; r; r = r->next)
        if (__atomic_load_n(&r->used, __ATOMIC_ACQUIRE) == 0)
            break;
    if (r == NULL && (r = calloc(1, sizeof(*r))) != NULL) {
        r->next = readers;
        __atomic_store_n(&readers, r, __ATOMIC_RELEASE);
    }
    if (r)
        __atomic_store_n(&r->used, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&readers_lock);
    if (r == NULL) {
        fprintf(stderr, "potter: config: out of memory for a thread's view slot\n");
        abort();
    }
    pthread_setspecific(reader_key, r);
    self = r;
    return r;
}

const pt_config_view *pt_config_view_begin(pt_config *cfg)
{
    struct pt_config_view *r = reader_self();
    pt__cstate *s;

    if (__atomic_load_n(&cfg->cur, __ATOMIC_ACQUIRE) == NULL) {
        fprintf(stderr, "potter: config: a view begun before pt_config_load() succeeded\n");
        abort();
    }

    if (r->depth > 0) {
        if (r->cfg != cfg) {
            fprintf(stderr, "potter: config: a view of one configuration is nested in a view "
                            "of another\n");
            abort();
        }
        r->depth++;
        return r;
    }
    do {
        s = __atomic_load_n(&cfg->cur, __ATOMIC_ACQUIRE);
        __atomic_store_n(&r->hp, s, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    } while (__atomic_load_n(&cfg->cur, __ATOMIC_ACQUIRE) != s);
    r->cfg = cfg;
    r->state = s;
    r->depth = 1;
    return r;
}

void pt_config_view_end(const pt_config_view *view)
{
    struct pt_config_view *r = (struct pt_config_view *)view;
    if (r->depth == 0 || --r->depth > 0)
        return;
    __atomic_store_n(&r->hp, NULL, __ATOMIC_RELEASE);
    for (size_t i = 0; i < r->ntexts; i++)
        free(r->texts[i]);
    r->ntexts = 0;
}

const pt__cstate *pt__config_view_state(const pt_config_view *v)
{
    return v->state;
}

static int pinned(const pt__cstate *s)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    for (struct pt_config_view *r = __atomic_load_n(&readers, __ATOMIC_ACQUIRE); r; r = r->next)
        if (__atomic_load_n(&r->hp, __ATOMIC_ACQUIRE) == s)
            return 1;
    return 0;
}

void pt__config_reclaim(pt_config *cfg)
{
    pt__cstate **link = &cfg->retired;
    while (*link) {
        pt__cstate *s = *link;
        if (pinned(s)) {
            link = &s->retired_next;
            continue;
        }
        *link = s->retired_next;
        pt__cstate_free(s);
    }
}

void pt__config_reclaim_all(pt_config *cfg)
{
    for (int i = 0; i < 1000 && cfg->retired; i++) {
        pt__config_reclaim(cfg);
        if (cfg->retired) {
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
        }
    }
    while (cfg->retired) { /* a view outlived its configuration: the caller's bug */
        pt__cstate *s = cfg->retired;
        cfg->retired = s->retired_next;
        pt__cstate_free(s);
    }
}

/* ---- reading through a view --------------------------------------------------------------- */

static const pt__csval *at(const pt_config_view *v, const void *h)
{
    return &v->state->v[((const pt__ckey *)h)->idx];
}

int64_t pt_config_view_int(const pt_config_view *v, const pt_config_int *h)
{
    return (int64_t)at(v, h)->bits;
}

uint64_t pt_config_view_uint(const pt_config_view *v, const pt_config_uint *h)
{
    return at(v, h)->bits;
}

double pt_config_view_double(const pt_config_view *v, const pt_config_double *h)
{
    double d;
    memcpy(&d, &at(v, h)->bits, sizeof(d));
    return d;
}

int pt_config_view_bool(const pt_config_view *v, const pt_config_bool *h)
{
    return (int)at(v, h)->bits;
}

int64_t pt_config_view_duration(const pt_config_view *v, const pt_config_duration *h)
{
    return (int64_t)at(v, h)->bits;
}

uint64_t pt_config_view_size(const pt_config_view *v, const pt_config_size *h)
{
    return at(v, h)->bits;
}

int pt_config_view_enum(const pt_config_view *v, const pt_config_enum *h)
{
    return (int)at(v, h)->bits;
}

const char *pt_config_view_str(const pt_config_view *v, const pt_config_str *h)
{
    return at(v, h)->str;
}

const char *const *pt_config_view_list(const pt_config_view *v, const pt_config_list *h, size_t *n)
{
    const pt__csval *sv = at(v, h);
    if (n)
        *n = sv->n;
    return sv->items;
}

const char *pt_config_view_object(const pt_config_view *v, const pt_config_object *h)
{
    return at(v, h)->str;
}

const char *pt_config_view_origin(const pt_config_view *v, const char *name)
{
    const pt__ckey *k = name ? pt__config_find(v->cfg, name, strlen(name)) : NULL;

    if (k == NULL)
        return NULL;
    const pt__csval *sv = &v->state->v[k->idx];
    if (sv->expires_ns == 0)
        return sv->origin; /* lives as long as the view */
    struct pt_config_view *r = (struct pt_config_view *)v;
    if (r->ntexts == r->captexts) {
        size_t cap = r->captexts ? 2 * r->captexts : 8;
        char **texts = realloc(r->texts, cap * sizeof(*texts));
        if (texts == NULL)
            return sv->origin;
        r->texts = texts;
        r->captexts = cap;
    }
    pt__cbuf b = {0};
    pt__config_origin(&b, sv->origin, sv->expires_ns);
    char *text = pt__cbuf_take(&b);
    if (text == NULL)
        return sv->origin; /* without "(expires in ...)" rather than nothing */
    r->texts[r->ntexts++] = text;
    return text;
}
