/* The registry: creating a pt_stats, making handles (one per name and tags), sanitising
 * names, collectors and the client's own counts (potter/stats.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "stats/loop_internal.h"
#include "stats/stats_internal.h"

/* Prometheus's default buckets, in seconds; a timer keeps them in nanoseconds. */
static const double default_bounds_s[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NDEFAULT (sizeof(default_bounds_s) / sizeof(default_bounds_s[0]))
static double default_bounds_ns[NDEFAULT];
static pthread_once_t bounds_once = PTHREAD_ONCE_INIT;

static void make_bounds(void)
{
    for (size_t i = 0; i < NDEFAULT; i++)
        default_bounds_ns[i] = default_bounds_s[i] * 1e9;
}

void pt__stats_sanitize(char *s)
{
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            *s = '_';
    }
}

/* Tags "k:v,k2:v2": each key and value sanitised on its own (the ':' and ',' kept), empty
 * tags dropped. NULL when there are none. */
static char *clean_tags(const char *tags, int *oom)
{
    if (tags == NULL || *tags == '\0')
        return NULL;
    char *out = malloc(strlen(tags) + 1), *o = out;
    if (out == NULL) {
        *oom = 1;
        return NULL;
    }
    for (const char *p = tags; *p;) {
        size_t n = strcspn(p, ",");
        if (n > 0) {
            if (o != out)
                *o++ = ',';
            const char *colon = memchr(p, ':', n);
            size_t kn = colon ? (size_t)(colon - p) : n;
            char *k = o;
            memcpy(o, p, kn);
            o += kn;
            *o = '\0';
            pt__stats_sanitize(k);
            if (colon) {
                *o++ = ':';
                char *v = o;
                memcpy(o, colon + 1, n - kn - 1);
                o += n - kn - 1;
                *o = '\0';
                pt__stats_sanitize(v);
            }
        }
        p += n + (p[n] == ',');
    }
    *o = '\0';
    if (o == out) {
        free(out);
        return NULL;
    }
    return out;
}

/* ---- creating ------------------------------------------------------------------------------ */

static char *dup_clean(const char *s, int *oom)
{
    char *d = strdup(s);
    if (d == NULL)
        *oom = 1;
    else
        pt__stats_sanitize(d);
    return d;
}

int pt_stats_new(const pt_stats_options *opts, pt_stats **out)
{
    char host[256];
    int oom = 0;

    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (opts == NULL || opts->service == NULL || *opts->service == '\0')
        return -EINVAL;
    if (opts->statsd_socket &&
        (*opts->statsd_socket == '\0' ||
         strlen(opts->statsd_socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)))
        return -EINVAL; /* longer than a unix socket address can hold */
    pt_stats *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->flush_lock, NULL);
    pthread_mutex_init(&s->collect_lock, NULL);
    s->fd = -1;
    s->opts = *opts;
    if (s->opts.interval_ms == 0)
        s->opts.interval_ms = 1000;
    if (s->opts.statsd_port == 0)
        s->opts.statsd_port = 8125;
    if (s->opts.max_packet == 0)
        s->opts.max_packet = opts->statsd_socket ? 8192 : 1432;
    if (s->opts.timer_budget == 0)
        s->opts.timer_budget = 100;
    s->service = dup_clean(opts->service, &oom);
    s->prefix = opts->prefix && *opts->prefix ? dup_clean(opts->prefix, &oom) : NULL;
    if (opts->host == NULL && gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0';
    s->host = dup_clean(opts->host ? opts->host : host, &oom);
    for (char *p = s->host; p && *p; p++)
        if (*p == '.')
            *p = '_'; /* "web1.dc.example.com" is one segment: web1_dc_example_com */
    s->statsd_host = opts->statsd_host ? strdup(opts->statsd_host) : NULL;
    s->statsd_socket = opts->statsd_socket ? strdup(opts->statsd_socket) : NULL;
    s->packet = malloc(s->opts.max_packet);
    s->rng = 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
    if (oom || s->host == NULL || s->packet == NULL ||
        (opts->statsd_host && s->statsd_host == NULL) ||
        (opts->statsd_socket && s->statsd_socket == NULL)) {
        pt_stats_free(s);
        return -ENOMEM;
    }
    size_t n = strlen(s->service) + strlen(s->host) + (s->prefix ? strlen(s->prefix) : 0) + 4;
    if ((s->name_prefix = malloc(n)) == NULL) {
        pt_stats_free(s);
        return -ENOMEM;
    }
    snprintf(s->name_prefix, n, "%s%s%s.%s.", s->prefix ? s->prefix : "", s->prefix ? "." : "",
             s->service, s->host);
    int cn = snprintf(s->crash_packet, sizeof s->crash_packet, "%scrashes:1|c", s->name_prefix);
    s->crash_len = cn > 0 && (size_t)cn < sizeof s->crash_packet ? (size_t)cn : 0;
    if (pt__stats_flush_start(s) < 0) { /* without statsd too: sets and rings need it */
        pt_stats_free(s);
        return -ENOMEM;
    }
    pt__stats_crash_register(s);
    *out = s;
    return 0;
}

void pt_stats_free(pt_stats *s)
{
    if (s == NULL)
        return;
    pt__stats_crash_unregister(s);
    pt__stats_loops_detach(s); /* no lock held: a watcher's tick takes its own, then ours */
    pt__stats_flush_stop(s); /* the last flush */
    for (size_t i = 0; i < s->nmetrics; i++) {
        pt__smetric *m = s->metrics[i];
        free(m->name);
        free(m->tags);
        free(m->statsd_name);
        free(m->batch);
        if (m->bounds != default_bounds_ns)
            free((double *)m->bounds);
        free(m);
    }
    free(s->metrics);
    free(s->hash);
    free(s->collectors);
    free(s->service);
    free(s->prefix);
    free(s->host);
    free(s->statsd_host);
    free(s->statsd_socket);
    free(s->name_prefix);
    free(s->packet);
    pthread_mutex_destroy(&s->flush_lock);
    pthread_mutex_destroy(&s->collect_lock);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- handles ------------------------------------------------------------------------------- */

static uint64_t key_hash(const char *name, const char *tags)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    h = (h ^ '|') * 0x100000001b3ull;
    for (const char *p = tags ? tags : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    return h;
}

static int same_tags(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static int grow_hash(pt_stats *s)
{
    size_t cap = s->hashcap ? s->hashcap * 2 : 256;
    pt__smetric **h = calloc(cap, sizeof(*h));
    if (h == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < s->nmetrics; i++) {
        pt__smetric *m = s->metrics[i];
        size_t b = key_hash(m->name, m->tags) & (cap - 1);
        m->hnext = h[b];
        h[b] = m;
    }
    free(s->hash);
    s->hash = h;
    s->hashcap = cap;
    return 0;
}

/* The statsd name: prefix, then the name, then the tags folded in (".k.v") unless they go
 * as DogStatsD tags. */
static char *statsd_name(const pt_stats *s, const char *name, const char *tags)
{
    size_t n = strlen(s->name_prefix) + strlen(name) + (tags ? strlen(tags) + 1 : 0) + 1;
    char *out = malloc(n);
    if (out == NULL)
        return NULL;
    char *o = out + snprintf(out, n, "%s%s", s->name_prefix, name);
    if (tags && !s->opts.dogstatsd_tags) {
        *o++ = '.';
        for (const char *p = tags; *p; p++)
            *o++ = *p == ':' || *p == ',' ? '.' : *p;
        *o = '\0';
    }
    return out;
}

/* A handle that drops its updates (and counts them as refused). */
static pt__smetric refused_metric[PT__S_SET + 1];

static pt__smetric *refused(int kind)
{
    pt__smetric *m = &refused_metric[kind];
    m->kind = kind;
    m->refused = 1;
    m->slot = PT__STATS_SLOT_REFUSED;
    return m;
}

static pt__smetric *get(pt_stats *s, const char *name, const char *tags, int kind,
                        const double *bounds, size_t nbounds)
{
    int oom = 0;

    if (s == NULL || name == NULL || *name == '\0')
        return refused(kind);
    char *cname = dup_clean(name, &oom), *ctags = clean_tags(tags, &oom);
    if (oom) {
        free(cname);
        free(ctags);
        return refused(kind);
    }
    pthread_mutex_lock(&s->lock);
    pt__smetric *m = NULL;
    if (s->hashcap) {
        for (m = s->hash[key_hash(cname, ctags) & (s->hashcap - 1)]; m; m = m->hnext)
            if (strcmp(m->name, cname) == 0 && same_tags(m->tags, ctags))
                break;
    }
    if (m) {
        pthread_mutex_unlock(&s->lock);
        free(cname);
        free(ctags);
        return m->kind == kind ? m : refused(kind);
    }
    if ((s->nmetrics + 1) * 2 > s->hashcap && grow_hash(s) < 0)
        goto fail;
    if (s->nmetrics == s->capmetrics) {
        size_t cap = s->capmetrics ? 2 * s->capmetrics : 64;
        pt__smetric **ms = realloc(s->metrics, cap * sizeof(*ms));
        if (ms == NULL)
            goto fail;
        s->metrics = ms;
        s->capmetrics = cap;
    }
    if ((m = calloc(1, sizeof(*m))) == NULL)
        goto fail;
    m->kind = kind;
    m->name = cname;
    m->tags = ctags;
    m->id = (uint32_t)s->nmetrics;
    m->statsd_name = statsd_name(s, cname, ctags);
    m->bounds = bounds;
    m->nbounds = nbounds;
    uint32_t nslots = kind == PT__S_COUNTER                            ? 1
                      : kind == PT__S_TIMER || kind == PT__S_HISTOGRAM ? (uint32_t)nbounds + 4
                                                                       : 0;
    if (m->statsd_name == NULL) {
        free(m);
        goto fail;
    }
    if (nslots) {
        pthread_mutex_lock(&pt__stats_lock);
        m->slot = pt__stats_slots_reserve(nslots);
        if (m->slot && kind == PT__S_HISTOGRAM)
            pt__stats_mark_double(m->slot + 1);
        pthread_mutex_unlock(&pt__stats_lock);
        if (m->slot == 0) {
            free(m->statsd_name);
            free(m);
            goto fail;
        }
    }
    s->metrics[s->nmetrics++] = m;
    size_t b = key_hash(cname, ctags) & (s->hashcap - 1);
    m->hnext = s->hash[b];
    s->hash[b] = m;
    pthread_mutex_unlock(&s->lock);
    return m;
fail:
    pthread_mutex_unlock(&s->lock);
    free(cname);
    free(ctags);
    return refused(kind);
}

pt_counter *pt_stats_counter(pt_stats *s, const char *name, const char *tags)
{
    return (pt_counter *)get(s, name, tags, PT__S_COUNTER, NULL, 0);
}

pt_gauge *pt_stats_gauge(pt_stats *s, const char *name, const char *tags)
{
    return (pt_gauge *)get(s, name, tags, PT__S_GAUGE, NULL, 0);
}

pt_timer *pt_stats_timer(pt_stats *s, const char *name, const char *tags)
{
    pthread_once(&bounds_once, make_bounds);
    return (pt_timer *)get(s, name, tags, PT__S_TIMER, default_bounds_ns, NDEFAULT);
}

pt_histogram *pt_stats_histogram(pt_stats *s, const char *name, const char *tags,
                                 const double *buckets, size_t n)
{
    if (buckets == NULL) {
        buckets = default_bounds_s;
        n = NDEFAULT;
    }
    for (size_t i = 0; i < n; i++)
        if (!(buckets[i] == buckets[i]) || (i > 0 && buckets[i] <= buckets[i - 1]))
            return (pt_histogram *)refused(PT__S_HISTOGRAM); /* not increasing, or NaN */
    if (n + 4 > PT__STATS_CHUNK)
        return (pt_histogram *)refused(PT__S_HISTOGRAM);
    double *copy = malloc((n ? n : 1) * sizeof(double));
    if (copy == NULL)
        return (pt_histogram *)refused(PT__S_HISTOGRAM);
    memcpy(copy, buckets, n * sizeof(double));
    pt__smetric *m = get(s, name, tags, PT__S_HISTOGRAM, copy, n);
    if (m->bounds != copy) /* an existing histogram, or a refused handle */
        free(copy);
    return (pt_histogram *)m;
}

pt_set *pt_stats_set(pt_stats *s, const char *name, const char *tags)
{
    return (pt_set *)get(s, name, tags, PT__S_SET, NULL, 0);
}

/* ---- collectors and counts ------------------------------------------------------------------ */

int pt_stats_add_collector(pt_stats *s, pt_stats_collect_fn fn, void *arg)
{
    if (s == NULL || fn == NULL)
        return -EINVAL;
    pthread_mutex_lock(&s->lock);
    pt__scollector *c = realloc(s->collectors, (s->ncollectors + 1) * sizeof(*c));
    if (c == NULL) {
        pthread_mutex_unlock(&s->lock);
        return -ENOMEM;
    }
    c[s->ncollectors].fn = fn;
    c[s->ncollectors].arg = arg;
    s->collectors = c;
    s->ncollectors++;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int pt_stats_remove_collector(pt_stats *s, pt_stats_collect_fn fn, void *arg)
{
    if (s == NULL || fn == NULL)
        return -EINVAL;
    int rc = -ENOENT;
    pthread_mutex_lock(&s->collect_lock); /* a run under way ends first */
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < s->ncollectors; i++) {
        if (s->collectors[i].fn == fn && s->collectors[i].arg == arg) {
            memmove(&s->collectors[i], &s->collectors[i + 1],
                    (s->ncollectors - i - 1) * sizeof(*s->collectors));
            s->ncollectors--;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_unlock(&s->collect_lock);
    return rc;
}

void pt__stats_collect(pt_stats *s)
{
    pthread_mutex_lock(&s->collect_lock); /* one run at a time: flush and /metrics may race */
    pthread_mutex_lock(&s->lock);
    size_t n = s->ncollectors;
    pt__scollector *c = n ? malloc(n * sizeof(*c)) : NULL;
    if (c)
        memcpy(c, s->collectors, n * sizeof(*c));
    pthread_mutex_unlock(&s->lock); /* collectors make handles: not under the lock */
    for (size_t i = 0; c && i < n; i++)
        c[i].fn(s, c[i].arg);
    free(c);
    pthread_mutex_unlock(&s->collect_lock);
}

void pt_stats_counters_get(pt_stats *s, pt_stats_counters *out)
{
    pthread_mutex_lock(&s->flush_lock);
    *out = s->counters;
    pthread_mutex_unlock(&s->flush_lock);
    pthread_mutex_lock(&pt__stats_lock);
    out->refused = pt__stats_slot_total(PT__STATS_SLOT_REFUSED);
    out->samples_dropped = pt__stats_slot_total(PT__STATS_SLOT_DROPPED);
    pthread_mutex_unlock(&pt__stats_lock);
}
