/* Changes after start-up: runtime overrides (with time-to-live), unsets, reloads of the file
 * layers, the documents of remote sources, and the subscribers told of each change on pt-ops.
 *
 * Every change follows one shape: validate into a fresh layer without the lock, then under
 * cfg->lock build the new layers beside the old ones, publish the state they give, and only
 * then swap them in; any failure leaves the old layers and state in place. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config_internal.h"
#include "config/suggest.h"

/* ---- tasks that outlive a call --------------------------------------------------------------- */

int pt__config_task_hold(pt_config *cfg)
{
    __atomic_add_fetch(&cfg->tasks, 1, __ATOMIC_ACQ_REL);
    if (__atomic_load_n(&cfg->closing, __ATOMIC_ACQUIRE)) {
        __atomic_sub_fetch(&cfg->tasks, 1, __ATOMIC_ACQ_REL);
        return -ESHUTDOWN;
    }
    return 0;
}

void pt__config_task_release(pt_config *cfg)
{
    __atomic_sub_fetch(&cfg->tasks, 1, __ATOMIC_ACQ_REL);
}

void pt__config_stop_tasks(pt_config *cfg)
{
    __atomic_store_n(&cfg->closing, 1, __ATOMIC_RELEASE);
    /* Posted tasks run soon on pt-ops; wait at most 2 s (pt-ops stuck or gone: give up). */
    for (int i = 0; i < 2000 && __atomic_load_n(&cfg->tasks, __ATOMIC_ACQUIRE) > 0; i++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    if (cfg->ttl_timer) {
        pt_ops_timer_free(cfg->ttl_timer);
        cfg->ttl_timer = NULL;
    }
}

/* ---- subscribers ------------------------------------------------------------------------------- */

struct pt_config_sub {
    struct pt_config_sub *next;
    pt__chub *hub;
    char *prefix;
    size_t plen;
    pt_config_watch_fn fn;
    void *arg;
    int dead;
};

/* Notices wait in a queue that one posted task drains, so a burst of changes costs one post;
 * a delivered notice goes back to the writers' side to be freed there, since a block freed
 * on pt-ops while a writer allocates makes both contend on malloc's arena lock. */
struct pt__chub {
    pthread_mutex_t lock; /* recursive: a callback may unsubscribe */
    int refs; /* atomic: cfg's, and a posted drain's */
    int dispatching;
    struct pt_config_sub *subs;
    pthread_mutex_t qlock; /* guards the queue, the done list and `posted` */
    pt__cchanges *queue, **tail; /* waiting for pt-ops, in order */
    pt__cchanges *done; /* delivered, to be freed by the next writer */
    int posted; /* a drain is posted and has not yet found the queue empty */
};

int pt__config_hub_new(pt_config *cfg)
{
    pthread_mutexattr_t a;
    pt__chub *hub = calloc(1, sizeof(*hub));
    if (hub == NULL)
        return -ENOMEM;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&hub->lock, &a);
    pthread_mutexattr_destroy(&a);
    pthread_mutex_init(&hub->qlock, NULL);
    hub->tail = &hub->queue;
    hub->refs = 1;
    cfg->hub = hub;
    return 0;
}

void pt__config_hub_release(pt__chub *hub)
{
    if (hub == NULL || __atomic_sub_fetch(&hub->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    while (hub->subs) {
        struct pt_config_sub *s = hub->subs;
        hub->subs = s->next;
        free(s->prefix);
        free(s);
    }
    for (pt__cchanges *lists[2] = {hub->queue, hub->done}, **l = lists; l < lists + 2; l++)
        while (*l) {
            pt__cchanges *c = *l;
            *l = c->next;
            free(c);
        }
    pthread_mutex_destroy(&hub->qlock);
    pthread_mutex_destroy(&hub->lock);
    free(hub);
}

int pt_config_subscribe(pt_config *cfg, const char *prefix, pt_config_watch_fn fn, void *arg,
                        pt_config_sub **out)
{
    if (cfg == NULL || fn == NULL)
        return -EINVAL;
    pt_config_sub *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->prefix = strdup(prefix ? prefix : "")) == NULL) {
        free(s);
        return -ENOMEM;
    }
    s->plen = strlen(s->prefix);
    s->fn = fn;
    s->arg = arg;
    s->hub = cfg->hub;
    pthread_mutex_lock(&cfg->hub->lock);
    pt_config_sub **link = &cfg->hub->subs; /* at the end: subscribers run in order */
    while (*link)
        link = &(*link)->next;
    __atomic_store_n(link, s, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&cfg->hub->lock);
    if (out)
        *out = s;
    return 0;
}

static void sweep(pt__chub *hub)
{
    for (pt_config_sub **link = &hub->subs; *link;) {
        pt_config_sub *s = *link;
        if (!s->dead) {
            link = &s->next;
            continue;
        }
        __atomic_store_n(link, s->next, __ATOMIC_RELEASE); /* pt__config_has_subscribers() */
        free(s->prefix);
        free(s);
    }
}

void pt_config_unsubscribe(pt_config_sub *sub)
{
    if (sub == NULL)
        return;
    pt__chub *hub = sub->hub;
    pthread_mutex_lock(&hub->lock); /* waits for a dispatch on another thread */
    sub->dead = 1;
    if (!hub->dispatching) /* else we are inside a callback: the dispatch sweeps */
        sweep(hub);
    pthread_mutex_unlock(&hub->lock);
}

static void dispatch(pt__chub *hub, pt__cchanges *ch)
{
    pt_config_change few[32], *mine = ch->n <= 32 ? few : malloc(ch->n * sizeof(*mine));

    pthread_mutex_lock(&hub->lock);
    hub->dispatching++;
    for (pt_config_sub *s = hub->subs; s && mine; s = s->next) {
        size_t n = 0;
        if (s->dead)
            continue;
        for (size_t i = 0; i < ch->n; i++)
            if (strncmp(ch->c[i].key, s->prefix, s->plen) == 0)
                mine[n++] = ch->c[i];
        if (n > 0)
            s->fn(s->arg, mine, n);
    }
    if (--hub->dispatching == 0)
        sweep(hub);
    pthread_mutex_unlock(&hub->lock);
    if (mine != few)
        free(mine);
}

/* On pt-ops: delivers the queued notices in order until the queue is empty. */
static void drain(void *arg)
{
    pt__chub *hub = arg;
    for (;;) {
        pthread_mutex_lock(&hub->qlock);
        pt__cchanges *ch = hub->queue;
        if (ch == NULL) {
            hub->posted = 0;
            pthread_mutex_unlock(&hub->qlock);
            break;
        }
        if ((hub->queue = ch->next) == NULL)
            hub->tail = &hub->queue;
        pthread_mutex_unlock(&hub->qlock);
        dispatch(hub, ch);
        pthread_mutex_lock(&hub->qlock);
        ch->next = hub->done;
        hub->done = ch;
        pthread_mutex_unlock(&hub->qlock);
    }
    pt__config_hub_release(hub);
}

int pt__config_has_subscribers(const pt_config *cfg)
{
    return __atomic_load_n(&cfg->hub->subs, __ATOMIC_ACQUIRE) != NULL;
}

void pt__config_notify(pt_config *cfg, pt__cchanges *changes)
{
    pt__chub *hub = cfg->hub;
    int post = 0;

    changes->next = NULL;
    pthread_mutex_lock(&hub->qlock);
    pt__cchanges *done = hub->done;
    hub->done = NULL;
    *hub->tail = changes; /* queued under cfg->lock: in the order of the changes */
    hub->tail = &changes->next;
    if (!hub->posted)
        post = hub->posted = 1;
    pthread_mutex_unlock(&hub->qlock);
    while (done) {
        pt__cchanges *c = done;
        done = c->next;
        free(c);
    }
    if (!post)
        return;
    __atomic_add_fetch(&hub->refs, 1, __ATOMIC_ACQ_REL);
    if (pt_ops_post(drain, hub) == 0)
        return;
    /* pt-ops is gone (shut down): nobody will be told. Drop what waits. */
    __atomic_sub_fetch(&hub->refs, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_lock(&hub->qlock);
    done = hub->queue;
    hub->queue = NULL;
    hub->tail = &hub->queue;
    hub->posted = 0;
    pthread_mutex_unlock(&hub->qlock);
    while (done) {
        pt__cchanges *c = done;
        done = c->next;
        free(c);
    }
    pt__config_report(cfg, PT_CONFIG_ERROR,
                      "config: subscribers were not told of a change "
                      "(pt-ops is not running)");
}

/* ---- time-to-live ------------------------------------------------------------------------------ */

static void ttl_arm(void *arg);

static int apply(pt_config *cfg, pt__clayer *set, const char *replace_source, uint64_t ttl_ms,
                 const char *source);

/* On pt-ops: drops the overrides whose time is up, then arms the timer for the next one. */
static void ttl_fire(void *arg)
{
    pt_config *cfg = arg;
    pt__clayer set;

    if (pt__config_task_hold(cfg) < 0)
        return;
    cfg->ttl_armed_ns = 0;
    if (pt__clayer_init(&set, cfg->nkeys) == 0) {
        int64_t now = (int64_t)pt_clock_mono_ns(), due = 0;
        pthread_mutex_lock(&cfg->lock);
        for (size_t i = 0; i < cfg->nkeys; i++) {
            const pt__centry *e = &cfg->over.e[i];
            if (e->present && e->expires_ns && e->expires_ns <= now)
                due = set.e[i].present = 1; /* v.set == 0: remove */
        }
        if (due && apply(cfg, &set, NULL, 0, "expiry") < 0)
            pt__config_report(cfg, PT_CONFIG_ERROR,
                              "config: out of memory: expired runtime "
                              "overrides stay until the next try");
        pthread_mutex_unlock(&cfg->lock);
        pt__clayer_free(&set, cfg->nkeys);
    }
    ttl_arm(cfg);
    pt__config_task_release(cfg);
}

/* On pt-ops: the timer fires at the earliest deadline among the overrides. */
static void ttl_arm(void *arg)
{
    pt_config *cfg = arg;
    int64_t next = 0;

    if (__atomic_load_n(&cfg->closing, __ATOMIC_ACQUIRE))
        return;
    pthread_mutex_lock(&cfg->lock);
    for (size_t i = 0; i < cfg->nkeys; i++) {
        const pt__centry *e = &cfg->over.e[i];
        if (e->present && e->expires_ns && (next == 0 || e->expires_ns < next))
            next = e->expires_ns;
    }
    pthread_mutex_unlock(&cfg->lock);
    if (next == cfg->ttl_armed_ns && cfg->ttl_timer)
        return;
    if (cfg->ttl_timer) {
        pt_ops_timer_free(cfg->ttl_timer); /* on pt-ops: closes at once */
        cfg->ttl_timer = NULL;
    }
    cfg->ttl_armed_ns = 0;
    if (next == 0)
        return;
    int64_t wait = next - (int64_t)pt_clock_mono_ns();
    uint64_t ms = wait <= 0 ? 0 : (uint64_t)((wait + 999999) / 1000000);
    if (pt_ops_timer_start(ms, 0, ttl_fire, cfg, &cfg->ttl_timer) == 0)
        cfg->ttl_armed_ns = next;
    else
        pt__config_report(cfg, PT_CONFIG_ERROR,
                          "config: cannot start the timer of runtime "
                          "overrides: they will not expire");
}

static void ttl_arm_task(void *arg)
{
    ttl_arm(arg);
    pt__config_task_release(arg);
}

/* Asks pt-ops to re-arm the timer (after an override with a deadline). */
static void ttl_rearm(pt_config *cfg)
{
    if (pt_ops_is_current()) {
        ttl_arm(cfg);
        return;
    }
    if (pt__config_task_hold(cfg) < 0)
        return;
    if (pt_ops_post(ttl_arm_task, cfg) < 0) {
        pt__config_task_release(cfg);
        pt__config_report(cfg, PT_CONFIG_ERROR,
                          "config: pt-ops is not running: runtime "
                          "overrides will not expire");
    }
}

/* ---- applying a set of overrides ---------------------------------------------------------------- */

/* Validates `set` (entries present: v.set == 0 means "remove the override") against the
 * rules of run time: fixed keys refuse. Appends problems to errs. */
static int check_runtime(pt_config *cfg, const pt__clayer *set, const char *where, pt__cbuf *errs)
{
    int bad = 0;
    for (size_t i = 0; i < cfg->nkeys; i++) {
        if (!set->e[i].present || !(cfg->keys[i]->flags & PT_CONFIG_FIXED))
            continue;
        pt__cbuf_printf(errs, "%s: %s cannot change at run time (it is fixed at start-up)\n",
                        set->e[i].origin ? set->e[i].origin : where, cfg->keys[i]->name);
        bad = 1;
    }
    return bad ? -EINVAL : 0;
}

/* Under lock: the override layer that results from applying `set` to the current one, with
 * the overrides of `replace_source` dropped first (NULL: none). Entries of `set` are moved
 * out of it. Returns 0 or -ENOMEM (set untouched then). */
static int merged(pt_config *cfg, pt__clayer *set, const char *replace_source, uint64_t ttl_ms,
                  const char *source, pt__clayer *out)
{
    int64_t now = (int64_t)pt_clock_mono_ns(), expires = 0;
    if (ttl_ms > 0) /* saturating: a TTL beyond int64 nanoseconds is "never", in effect */
        expires = ttl_ms > (uint64_t)(INT64_MAX - now) / 1000000 ? INT64_MAX
                                                                 : now + (int64_t)ttl_ms * 1000000;
    char *origin = NULL, *src = NULL;
    pt__cbuf o = {0};

    if (pt__clayer_init(out, cfg->nkeys) < 0)
        return -ENOMEM;
    pt__cbuf_printf(&o, "runtime override from %s", source);
    origin = pt__cbuf_take(&o);
    src = strdup(source);
    int rc = origin && src ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < cfg->nkeys; i++) {
        const pt__centry *cur = &cfg->over.e[i];
        pt__centry *e = &out->e[i];
        if (set->e[i].present) {
            if (!set->e[i].v.set)
                continue; /* null: the override goes */
            if ((e->origin = strdup(origin)) == NULL || (e->source = strdup(src)) == NULL ||
                pt__cval_copy(&e->v, &set->e[i].v) < 0)
                rc = -ENOMEM;
            e->present = 1;
            e->expires_ns = expires;
            continue;
        }
        if (!cur->present || (replace_source && strcmp(cur->source, replace_source) == 0))
            continue;
        if (pt__cval_copy(&e->v, &cur->v) < 0 || (e->origin = strdup(cur->origin)) == NULL ||
            (e->source = strdup(cur->source)) == NULL)
            rc = -ENOMEM;
        e->present = 1;
        e->expires_ns = cur->expires_ns;
    }
    free(origin);
    free(src);
    if (rc < 0)
        pt__clayer_free(out, cfg->nkeys);
    return rc;
}

/* Applies a validated set under lock: all or nothing. */
static int apply(pt_config *cfg, pt__clayer *set, const char *replace_source, uint64_t ttl_ms,
                 const char *source)
{
    pt__clayer next;
    int rc = merged(cfg, set, replace_source, ttl_ms, source, &next);
    if (rc < 0)
        return rc;
    pt__clayer old = cfg->over;
    cfg->over = next;
    if ((rc = pt__config_publish(cfg)) < 0) {
        cfg->over = old;
        pt__clayer_free(&next, cfg->nkeys);
        return rc;
    }
    pt__clayer_free(&old, cfg->nkeys);
    return 0;
}

/* The end of every override call: reports failures, arms the timer. */
static int finish(pt_config *cfg, int rc, pt__cbuf *errs, uint64_t ttl_ms)
{
    if (rc == -EINVAL) {
        if (errs->len && errs->p[errs->len - 1] == '\n')
            errs->p[--errs->len] = '\0';
        pt__config_fail(cfg, errs->oom ? NULL : errs->p);
    } else if (rc == -ENOMEM) {
        pt__config_fail(cfg, "out of memory");
    }
    pt__cbuf_free(errs);
    if (rc == 0 && ttl_ms)
        ttl_rearm(cfg);
    return rc;
}

static int override_layer(pt_config *cfg, pt__clayer *set, pt__cbuf *errs, int rc,
                          const char *replace_source, uint64_t ttl_ms, const char *source)
{
    if (rc != -ENOMEM && check_runtime(cfg, set, source, errs) < 0)
        rc = -EINVAL;
    if (rc == 0) {
        pthread_mutex_lock(&cfg->lock);
        rc = apply(cfg, set, replace_source, ttl_ms, source);
        pthread_mutex_unlock(&cfg->lock);
    }
    pt__clayer_free(set, cfg->nkeys);
    return finish(cfg, rc, errs, ttl_ms);
}

/* What every override call checks first; makes the empty set to fill. */
static int begin(pt_config *cfg, int args_ok, const char **source, pt__clayer *set)
{
    if (cfg == NULL || !args_ok)
        return -EINVAL;
    if (!cfg->loaded)
        return -EBUSY;
    if (*source == NULL || **source == '\0')
        *source = "the API";
    return pt__clayer_init(set, cfg->nkeys);
}

int pt_config_override(pt_config *cfg, const char *assignments, size_t len, uint64_t ttl_ms,
                       const char *source)
{
    pt__clayer set;
    pt__cbuf errs = {0};
    int rc = begin(cfg, assignments != NULL, &source, &set);

    if (rc < 0)
        return rc;
    rc = pt__config_read_doc(cfg, assignments, len, source, &set, &errs);
    return override_layer(cfg, &set, &errs, rc, NULL, ttl_ms, source);
}

int pt_config_override_args(pt_config *cfg, const char *const *assignments, size_t n,
                            uint64_t ttl_ms, const char *source)
{
    pt__clayer set;
    pt__cbuf errs = {0};
    char why[400];
    int rc = begin(cfg, assignments != NULL || n == 0, &source, &set);

    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n && rc != -ENOMEM; i++) {
        const char *a = assignments[i] ? assignments[i] : "";
        const char *eq = strchr(a, '=');
        pt__ckey *bare = eq ? NULL : pt__config_find(cfg, a, strlen(a));
        if (bare && bare->type == PT_CONFIG_BOOL) { /* "debug" alone means debug=true */
            pt__centry_free(&set.e[bare->idx]);
            set.e[bare->idx].present = 1;
            set.e[bare->idx].v.set = 1;
            set.e[bare->idx].v.bits = 1;
            continue;
        }
        if (eq == NULL) {
            pt__cbuf_printf(&errs, "%s: \"%.80s\": expected KEY=VALUE (or a bool key alone)\n",
                            source, a);
            rc = -EINVAL;
            continue;
        }
        pt__ckey *k = pt__config_find(cfg, a, (size_t)(eq - a));
        if (k == NULL) {
            char *name = strndup(a, (size_t)(eq - a));
            const char *hint = name ? pt__cfg_suggest(name, cfg->names, cfg->nkeys) : NULL;
            pt__cbuf_printf(&errs, "%s: unknown key \"%.80s\"%s%s%s\n", source, name ? name : "",
                            hint ? " (did you mean " : "", hint ? hint : "", hint ? "?)" : "");
            free(name);
            rc = -EINVAL;
            continue;
        }
        pt__centry *e = &set.e[k->idx];
        pt__cval v;
        int r = pt__cval_from_text(k, eq + 1, &v, why, sizeof(why));
        if (r < 0) {
            if (r == -EINVAL && (k->flags & PT_CONFIG_SECRET))
                pt__cbuf_printf(&errs, "%s: %s=<redacted>: %s\n", source, k->name, why);
            else if (r == -EINVAL)
                pt__cbuf_printf(&errs, "%s: %s: %s\n", source, pt__cutf8_valid(a) ? a : k->name,
                                why);
            rc = r;
            continue;
        }
        pt__centry_free(e);
        e->v = v;
        e->present = 1;
    }
    return override_layer(cfg, &set, &errs, rc, NULL, ttl_ms, source);
}

int pt__config_source_apply(pt_config *cfg, const char *source, const char *doc, size_t len)
{
    pt__clayer set;
    pt__cbuf errs = {0};

    if (pt__clayer_init(&set, cfg->nkeys) < 0)
        return -ENOMEM;
    int rc = pt__config_read_doc(cfg, doc, len, source, &set, &errs);
    if (rc != -ENOMEM && check_runtime(cfg, &set, source, &errs) < 0)
        rc = -EINVAL;
    if (rc == 0) {
        pthread_mutex_lock(&cfg->lock);
        rc = apply(cfg, &set, source, 0, source);
        pthread_mutex_unlock(&cfg->lock);
    }
    pt__clayer_free(&set, cfg->nkeys);
    /* Not a caller's failure: reported, not left in pt_config_error(). */
    if (rc == -EINVAL) {
        if (errs.len && errs.p[errs.len - 1] == '\n')
            errs.p[--errs.len] = '\0';
        pt__config_report(cfg, PT_CONFIG_ERROR,
                          "config: refused the overrides from %s, the "
                          "last good ones stay: %s",
                          source, errs.oom ? "out of memory" : errs.p);
    } else if (rc == -ENOMEM) {
        pt__config_report(cfg, PT_CONFIG_ERROR,
                          "config: out of memory: the overrides from %s "
                          "are not applied",
                          source);
    }
    pt__cbuf_free(&errs);
    return rc;
}

int pt_config_unset(pt_config *cfg, const char *const *names, size_t n)
{
    pt__clayer set;
    pt__cbuf errs = {0};
    int rc = 0;

    if (cfg == NULL || (names == NULL && n > 0))
        return -EINVAL;
    if (!cfg->loaded)
        return -EBUSY;
    if (pt__clayer_init(&set, cfg->nkeys) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < cfg->nkeys && n == 0; i++)
        set.e[i].present = 1; /* v.set == 0: remove */
    for (size_t i = 0; i < n; i++) {
        pt__ckey *k = names[i] ? pt__config_find(cfg, names[i], strlen(names[i])) : NULL;
        if (k == NULL) {
            const char *hint = names[i] ? pt__cfg_suggest(names[i], cfg->names, cfg->nkeys) : 0;
            pt__cbuf_printf(&errs, "unknown key \"%.80s\"%s%s%s\n", names[i] ? names[i] : "",
                            hint ? " (did you mean " : "", hint ? hint : "", hint ? "?)" : "");
            rc = -EINVAL;
            continue;
        }
        set.e[k->idx].present = 1;
    }
    if (rc == 0) {
        pthread_mutex_lock(&cfg->lock);
        rc = apply(cfg, &set, NULL, 0, "unset");
        pthread_mutex_unlock(&cfg->lock);
    }
    pt__clayer_free(&set, cfg->nkeys);
    return finish(cfg, rc, &errs, 0);
}

/* ---- reload ------------------------------------------------------------------------------------- */

/* The value key i has across the file layers of `files`, or NULL. */
static const pt__centry *file_winner(const pt__clayer *files, size_t i)
{
    for (int l = PT__L_NFILES - 1; l >= 0; l--)
        if (files[l].e[i].present)
            return &files[l].e[i];
    return NULL;
}

int pt_config_reload(pt_config *cfg)
{
    pt__clayer files[PT__L_NFILES];
    pt__cbuf errs = {0}, fixed = {0};
    const char *found[PT__L_NFILES];
    size_t nfound;
    int rc;

    if (cfg == NULL)
        return -EINVAL;
    if (!cfg->loaded)
        return -EBUSY;
    memset(files, 0, sizeof(files));
    pthread_mutex_lock(&cfg->lock); /* reloads and dumps see whole lists of files */
    memcpy(found, cfg->found, sizeof(found));
    nfound = cfg->nfound;
    rc = pt__config_read_files(cfg, files, &errs);
    if (rc == 0) {
        /* Fixed keys keep what the files gave them at start-up. */
        for (size_t i = 0; i < cfg->nkeys; i++) {
            if (!(cfg->keys[i]->flags & PT_CONFIG_FIXED))
                continue;
            const pt__centry *a = file_winner(cfg->files, i), *b = file_winner(files, i);
            if ((a == NULL && b == NULL) || (a && b && pt__cval_equal(&a->v, &b->v)))
                continue;
            for (int l = 0; l < PT__L_NFILES && rc == 0; l++) {
                pt__centry *e = &files[l].e[i];
                const pt__centry *o = &cfg->files[l].e[i];
                pt__centry_free(e);
                if (!o->present)
                    continue;
                e->present = 1;
                if (pt__cval_copy(&e->v, &o->v) < 0 || (e->origin = strdup(o->origin)) == NULL)
                    rc = -ENOMEM;
            }
            pt__cbuf_printf(&fixed, "%s%s", fixed.len ? ", " : "", cfg->keys[i]->name);
        }
    }
    pt__clayer old[PT__L_NFILES];
    if (rc == 0) {
        memcpy(old, cfg->files, sizeof(old));
        memcpy(cfg->files, files, sizeof(files));
        rc = pt__config_check_required(cfg, &errs);
        if (rc == 0)
            rc = pt__config_publish(cfg);
        if (rc < 0)
            memcpy(cfg->files, old, sizeof(old));
        else
            memcpy(files, old, sizeof(old)); /* the old ones are freed below */
    }
    if (rc < 0) {
        memcpy(cfg->found, found, sizeof(found)); /* the last good list stays */
        cfg->nfound = nfound;
    }
    pthread_mutex_unlock(&cfg->lock);
    for (int l = 0; l < PT__L_NFILES; l++)
        pt__clayer_free(&files[l], cfg->nkeys);
    if (rc == 0 && fixed.len)
        pt__config_report(cfg, PT_CONFIG_WARN,
                          "config: reload: keys fixed at start-up keep "
                          "their value until a restart: %s",
                          fixed.p);
    pt__cbuf_free(&fixed);
    if (rc == -EINVAL) {
        if (errs.len && errs.p[errs.len - 1] == '\n')
            errs.p[--errs.len] = '\0';
        pt__config_fail(cfg, errs.oom ? NULL : errs.p);
        pt__config_report(cfg, PT_CONFIG_ERROR,
                          "config: reload refused, the configuration "
                          "stays as it was: %s",
                          pt_config_error(cfg));
    } else if (rc == -ENOMEM) {
        pt__config_fail(cfg, "out of memory");
    }
    pt__cbuf_free(&errs);
    return rc;
}
