/* Loggers: roots with sinks, children with bound fields, levels, process-wide settings. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log/log_internal.h"

struct pt__logs pt__logs = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .sinks_mu = PTHREAD_MUTEX_INITIALIZER,
    .flight_level = PT_LOG_DEBUG,
    .block_us = {0, 0, 0, 0, 5000, 5000},
};

static const char *const level_names[] = {"trace", "debug", "info", "warn", "error", "fatal"};

const char *pt_log_level_name(int level)
{
    if (level < PT_LOG_TRACE || level > PT_LOG_FATAL || level % 10)
        return NULL;
    return level_names[PT_LOG_LEVEL_INDEX(level)];
}

int pt_log_level_parse(const char *text, int *level)
{
    if (text == NULL || level == NULL)
        return -EINVAL;
    for (int i = 0; i < PT_LOG_NLEVELS; i++) {
        if (strcasecmp(text, level_names[i]) == 0) {
            *level = (i + 1) * 10;
            return 0;
        }
    }
    if (strcasecmp(text, "off") == 0) {
        *level = PT_LOG_OFF;
        return 0;
    }
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == 0 || *end != 0 || v < PT_LOG_TRACE || v > PT_LOG_OFF || v % 10)
        return -EINVAL;
    *level = (int)v;
    return 0;
}

static int valid_level(int level)
{
    return level >= PT_LOG_TRACE && level <= PT_LOG_OFF && level % 10 == 0;
}

/* ---- thresholds ------------------------------------------------------------------- */

static void retune(pt_log *log)
{
    int level = atomic_load(&log->level);
    int flight = atomic_load(&pt__logs.flight_level);
    int t = flight < level ? flight : level;
    for (int i = 0; i < PT_LOG_NLEVELS; i++) {
        int l = (i + 1) * 10;
        unsigned char d = (l >= level ? PT__TO_SINKS : 0) | (l >= flight ? PT__TO_FLIGHT : 0);
        atomic_store_explicit(&log->dest[i], d, memory_order_relaxed);
    }
    __atomic_store_n(&log->head.threshold, (unsigned char)t, __ATOMIC_RELAXED);
}

void pt__log_retune_all(void)
{
    pthread_mutex_lock(&pt__logs.mu);
    for (pt_log *l = pt__logs.all; l; l = l->all_next)
        retune(l);
    pthread_mutex_unlock(&pt__logs.mu);
}

/* Callers hold logs.mu. */
static void link_all(pt_log *log)
{
    log->all_next = pt__logs.all;
    log->all_prev = NULL;
    if (pt__logs.all)
        pt__logs.all->all_prev = log;
    pt__logs.all = log;
}

static void unlink_all(pt_log *log)
{
    if (log->all_prev)
        log->all_prev->all_next = log->all_next;
    else if (pt__logs.all == log)
        pt__logs.all = log->all_next;
    if (log->all_next)
        log->all_next->all_prev = log->all_prev;
    log->all_next = log->all_prev = NULL;
}

/* ---- roots ------------------------------------------------------------------------- */

static char *json_fragment(const char *prefix, const char *value, size_t *len)
{
    struct pt__buf b = {0};
    pt__buf_put(&b, prefix, strlen(prefix));
    pt__json_str(&b, value, strlen(value), 0);
    pt__buf_putc(&b, 0);
    if (b.p == NULL)
        return NULL;
    *len = b.len - 1;
    return b.p;
}

static void fill_hostname(void)
{
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    size_t len;
    char *frag = json_fragment(",\"hostname\":", host, &len);
    if (frag && len < sizeof pt__log_hostname_json) {
        memcpy(pt__log_hostname_json, frag, len);
        pt__log_hostname_json_len = len;
    }
    free(frag);
    if (pt__log_pid == 0)
        pt__log_pid = getpid();
}

static void init_hostname(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fill_hostname);
}

int pt_log_new(const char *name, pt_log **out)
{
    if (name == NULL || out == NULL)
        return -EINVAL;
    init_hostname();
    pt_log *log = calloc(1, sizeof *log);
    if (log == NULL)
        return -ENOMEM;
    log->name = strdup(name);
    log->name_json = json_fragment("\"name\":", name, &log->name_json_len);
    if (log->name == NULL || log->name_json == NULL) {
        free(log->name);
        free(log->name_json);
        free(log);
        return -ENOMEM;
    }
    log->root = log;
    atomic_init(&log->level, PT_LOG_INFO);
    atomic_init(&log->refs, 1);
    retune(log);
    pthread_mutex_lock(&pt__logs.mu);
    link_all(log);
    pthread_mutex_unlock(&pt__logs.mu);
    *out = log;
    return 0;
}

static void destroy_root(pt_log *root)
{
    pthread_mutex_lock(&pt__logs.sinks_mu);
    struct pt__sink **sinks = root->sinks;
    size_t n = root->nsinks;
    root->sinks = NULL;
    root->nsinks = 0;
    for (size_t i = 0; i < n; i++) {
        for (struct pt__sink **pp = &pt__logs.sinks; *pp; pp = &(*pp)->next_global) {
            if (*pp == sinks[i]) {
                *pp = sinks[i]->next_global;
                break;
            }
        }
    }
    pthread_mutex_unlock(&pt__logs.sinks_mu);
    for (size_t i = 0; i < n; i++)
        pt__sink_destroy(sinks[i]);
    free(sinks);
    free(root->name);
    free(root->name_json);
    free(root);
}

void pt__log_release_root(pt_log *root)
{
    if (atomic_fetch_sub(&root->refs, 1) == 1)
        destroy_root(root);
}

/* ---- children ---------------------------------------------------------------------- */

static void free_bound(pt_log *log)
{
    for (size_t i = 0; i < log->nbound; i++) {
        free(log->bound[i].key);
        free(log->bound[i].frag);
    }
    free(log->bound);
    free(log->bound_frag);
}

static int bound_add(pt_log *log, const char *key, const struct pt__field *f)
{
    struct pt__buf b = {0};
    pt__json_key(&b, key);
    pt__json_value(&b, f);
    char *k = strdup(key);
    if (b.p == NULL || k == NULL) {
        free(b.p);
        free(k);
        return -ENOMEM;
    }
    struct pt__bound *e = &log->bound[log->nbound++];
    e->key = k;
    e->frag = b.p;
    e->frag_len = b.len;
    return 0;
}

static int has_key(const struct pt__field *f, size_t from, size_t n, const char *key)
{
    for (size_t i = from; i < n; i++)
        if (f[i].name && strcmp(f[i].name, key) == 0)
            return 1;
    return 0;
}

/* Builds the child's bound set: the parent's, less the keys the child rebinds, then the
 * child's own (the last of a repeated key wins). */
static int bind_fields(pt_log *child, const pt_log *parent, const struct pt__field *f, size_t n)
{
    child->bound = calloc(parent->nbound + n + 1, sizeof *child->bound);
    if (child->bound == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < parent->nbound; i++) {
        if (has_key(f, 0, n, parent->bound[i].key))
            continue;
        struct pt__bound *e = &child->bound[child->nbound];
        e->key = strdup(parent->bound[i].key);
        e->frag = malloc(parent->bound[i].frag_len);
        if (e->key == NULL || e->frag == NULL) {
            free(e->key);
            free(e->frag);
            return -ENOMEM;
        }
        memcpy(e->frag, parent->bound[i].frag, parent->bound[i].frag_len);
        e->frag_len = parent->bound[i].frag_len;
        child->nbound++;
    }
    for (size_t i = 0; i < n; i++) {
        if (f[i].name == NULL || has_key(f, i + 1, n, f[i].name))
            continue;
        if (bound_add(child, f[i].name, &f[i]) != 0)
            return -ENOMEM;
    }
    size_t total = 0;
    for (size_t i = 0; i < child->nbound; i++)
        total += child->bound[i].frag_len;
    child->bound_frag = malloc(total + 1);
    if (child->bound_frag == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < child->nbound; i++) {
        memcpy(child->bound_frag + child->bound_len, child->bound[i].frag,
               child->bound[i].frag_len);
        child->bound_len += child->bound[i].frag_len;
    }
    return 0;
}

static pt_log *make_child(pt_log *parent, const struct pt__field *f, size_t n)
{
    if (parent == NULL)
        parent = pt_log_default();
    if (parent == NULL)
        return NULL;
    pt_log *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    if (bind_fields(c, parent, f, n) != 0) {
        free_bound(c);
        free(c);
        return NULL;
    }
    c->root = parent->root;
    atomic_fetch_add(&c->root->refs, 1);
    pthread_mutex_lock(&pt__logs.mu);
    c->parent = parent;
    atomic_init(&c->level, atomic_load(&parent->level));
    retune(c);
    c->next_sibling = parent->first_child;
    if (parent->first_child)
        parent->first_child->prev_sibling = c;
    parent->first_child = c;
    link_all(c);
    pthread_mutex_unlock(&pt__logs.mu);
    return c;
}

pt_log *pt__log_child(pt_log *parent, const char *const *names, const unsigned char *types,
                      const pt_value *values, size_t n)
{
    struct pt__field f[16];
    if (n > 16)
        n = 16;
    size_t max = pt__logs.cfg.max_value_bytes ? pt__logs.cfg.max_value_bytes : 8192;
    for (size_t i = 0; i < n; i++) {
        f[i].name = names[i];
        f[i].type = types[i];
        f[i].v = values[i];
        f[i].cut = 0;
        if (pt__field_is_str(types[i]) && values[i].s.p) {
            size_t len = values[i].s.n == (size_t)-1 ? strlen(values[i].s.p) : values[i].s.n;
            size_t keep = len > max ? pt__utf8_cut(values[i].s.p, max) : len;
            f[i].v.s.n = keep;
            f[i].cut = (uint32_t)(len - keep);
        }
    }
    return make_child(parent, f, n);
}

pt_log *pt_log_child(pt_log *parent, const pt_field *fields, size_t n)
{
    const char *names[16];
    unsigned char types[16];
    pt_value values[16];
    if (n > 16)
        n = 16;
    for (size_t i = 0; i < n; i++) {
        names[i] = fields[i].name;
        types[i] = (unsigned char)pt__public_type(fields[i].type);
        values[i] = fields[i].v;
    }
    return pt__log_child(parent, names, types, values, n);
}

void pt__log_destroy_child(pt_log *log)
{
    pt_log *root = log->root;
    free_bound(log);
    free(log);
    pt__log_release_root(root);
}

/* ---- levels ------------------------------------------------------------------------ */

/* Callers hold logs.mu. Children that follow their parent take its new level. */
static void propagate(pt_log *log, int level)
{
    for (pt_log *c = log->first_child; c; c = c->next_sibling) {
        if (c->own_level)
            continue;
        atomic_store(&c->level, (unsigned char)level);
        retune(c);
        propagate(c, level);
    }
}

int pt_log_set_level(pt_log *log, int level)
{
    if (!valid_level(level))
        return -EINVAL;
    if (log == NULL)
        log = pt_log_default();
    pthread_mutex_lock(&pt__logs.mu);
    atomic_store(&log->level, (unsigned char)level);
    if (log != log->root)
        log->own_level = 1;
    retune(log);
    propagate(log, level);
    pthread_mutex_unlock(&pt__logs.mu);
    return 0;
}

int pt_log_set_level_named(const char *name, int level)
{
    if (!valid_level(level) || name == NULL)
        return -EINVAL;
    int found = 0;
    pthread_mutex_lock(&pt__logs.mu);
    for (pt_log *l = pt__logs.all; l; l = l->all_next) {
        if (l != l->root || strcmp(l->name, name) != 0)
            continue;
        atomic_store(&l->level, (unsigned char)level);
        retune(l);
        propagate(l, level);
        found = 1;
    }
    pthread_mutex_unlock(&pt__logs.mu);
    return found ? 0 : -ENOENT;
}

size_t pt_log_levels(pt_log_level_info *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&pt__logs.mu);
    for (pt_log *l = pt__logs.all; l; l = l->all_next) {
        if (l != l->root)
            continue;
        if (n < max) {
            snprintf(out[n].name, sizeof out[n].name, "%s", l->name);
            out[n].level = atomic_load(&l->level);
        }
        n++;
    }
    pthread_mutex_unlock(&pt__logs.mu);
    return n;
}

int pt_log_level(const pt_log *log)
{
    if (log == NULL)
        log = pt_log_default();
    return atomic_load(&((pt_log *)log)->level);
}

int pt_log_set_flight_level(int level)
{
    if (!valid_level(level))
        return -EINVAL;
    atomic_store(&pt__logs.flight_level, level);
    pt__log_retune_all();
    return 0;
}

/* ---- release ----------------------------------------------------------------------- */

void pt_log_free(pt_log *log)
{
    if (log == NULL || log == pt_log_default())
        return;
    if (log->root == log) {
        pt_log_flush(1000);
        pthread_mutex_lock(&pt__logs.mu);
        unlink_all(log);
        pthread_mutex_unlock(&pt__logs.mu);
        pt__log_release_root(log);
        return;
    }
    pthread_mutex_lock(&pt__logs.mu);
    pt_log *parent = log->parent;
    /* The children of a released child follow its parent from now on. */
    for (pt_log *c = log->first_child; c;) {
        pt_log *next = c->next_sibling;
        c->parent = parent;
        c->prev_sibling = NULL;
        c->next_sibling = parent->first_child;
        if (parent->first_child)
            parent->first_child->prev_sibling = c;
        parent->first_child = c;
        c = next;
    }
    log->first_child = NULL;
    if (log->prev_sibling)
        log->prev_sibling->next_sibling = log->next_sibling;
    else
        parent->first_child = log->next_sibling;
    if (log->next_sibling)
        log->next_sibling->prev_sibling = log->prev_sibling;
    unlink_all(log);
    pthread_mutex_unlock(&pt__logs.mu);
    pt__writer_defer_free(log);
}

/* ---- the default logger ------------------------------------------------------------ */

static pt_log *default_log;

static void make_default(void)
{
    extern char *program_invocation_short_name;
    const char *name = program_invocation_short_name;
    if (name == NULL || *name == 0)
        name = "potter";
    if (pt_log_new(name, &default_log) != 0)
        return;
    pt_log_add_stderr(default_log, NULL, NULL);
}

pt_log *pt_log_default(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, make_default);
    return default_log;
}

/* ---- settings and counters --------------------------------------------------------- */

int pt_log_configure(const pt_log_config *config)
{
    if (config == NULL)
        return -EINVAL;
    if (atomic_load(&pt__logs.started))
        return -EBUSY;
    if (config->flight_level && !valid_level(config->flight_level))
        return -EINVAL;
    pt__logs.cfg = *config;
    if (config->flight_level) {
        atomic_store(&pt__logs.flight_level, config->flight_level);
        pt__log_retune_all();
    }
    return 0;
}

int pt_log_set_full_policy(int level, int64_t block_us)
{
    if (level < PT_LOG_TRACE || level > PT_LOG_FATAL || level % 10)
        return -EINVAL;
    atomic_store(&pt__logs.block_us[PT_LOG_LEVEL_INDEX(level)], block_us < 0 ? -1 : block_us);
    return 0;
}

void pt_log_counters_get(pt_log_counters *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < PT_LOG_NLEVELS; i++) {
        out->logged[i] = atomic_load(&pt__log_orphan_logged[i]);
        out->dropped[i] = atomic_load(&pt__log_orphan_dropped[i]);
    }
    /* Rings are only unlinked (and freed) by pt-log after their counts moved to the orphan
     * totals, under logs.mu; holding it keeps the walk safe. */
    pthread_mutex_lock(&pt__logs.mu);
    for (struct pt__ring *r = atomic_load(&pt__rings); r; r = atomic_load(&r->next)) {
        for (int i = 0; i < PT_LOG_NLEVELS; i++) {
            out->logged[i] += atomic_load_explicit(&r->logged[i], memory_order_relaxed);
            out->dropped[i] += atomic_load_explicit(&r->dropped[i], memory_order_relaxed);
        }
    }
    pthread_mutex_unlock(&pt__logs.mu);
    out->suppressed = atomic_load(&pt__log_suppressed);
    out->formatted = atomic_load(&pt__log_formatted);
}
