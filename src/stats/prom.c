/* The registry in the Prometheus text exposition format 0.0.4 (pt_stats_prometheus()).
 *
 * Mapping (DESIGN.md, "Formats spoken"): the metric's own name, without the statsd prefix,
 * service and host (the scrape adds the target's labels), every character outside
 * [a-zA-Z0-9_:] as '_' and a leading digit behind a '_'; tags become labels.
 *
 *   counter    requests.done         requests_done_total                   counter
 *   gauge      queue.depth           queue_depth                           gauge
 *   timer      requests.time         requests_time_seconds_bucket{le=...}  histogram
 *                                    requests_time_seconds_sum, _count     (in seconds)
 *   histogram  body.bytes            body_bytes_bucket{le=...}, _sum, _count  histogram
 *   set        users                 users (the last interval's unique count)  gauge
 *
 * The series of one family (one name, several tag sets) stand together under one HELP and
 * one TYPE line, families in name order. Where two registry names map to one Prometheus name
 * ("a.b" and "a_b"), their series share the family; a series of another type there, or a
 * second one with the same labels, would make the text invalid and is left out. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/number_internal.h"
#include "stats/prom_internal.h"
#include "stats/stats_internal.h"

/* ---- a growing text --------------------------------------------------------------------- */

typedef struct buf {
    char *p;
    size_t len, cap;
    int oom;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap) {
            if (cap > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void put_str(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void put_char(buf *b, char c)
{
    put(b, &c, 1);
}

/* Hands the text over (the caller frees it); NULL when out of memory. */
static char *buf_take(buf *b)
{
    if (!b->oom && b->p == NULL)
        put(b, "", 0);
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    return b->p;
}

/* ---- names, labels, numbers -------------------------------------------------------------- */

/* n bytes of s, escaped. */
static void put_escaped(buf *b, const char *s, size_t n, int label_value)
{
    for (; n > 0; s++, n--) {
        if (*s == '\\')
            put(b, "\\\\", 2);
        else if (*s == '\n')
            put(b, "\\n", 2);
        else if (*s == '"' && label_value)
            put(b, "\\\"", 2);
        else
            put_char(b, *s);
    }
}

char *pt__prom_escape(const char *s, int label_value)
{
    buf b = {0};
    put_escaped(&b, s, strlen(s), label_value);
    return buf_take(&b);
}

static int is_alpha_(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or, with colon 0, a label name
 * ([a-zA-Z_][a-zA-Z0-9_]*), from n bytes of s. */
static void put_name(buf *b, const char *s, size_t n, int colon)
{
    if (n > 0 && is_digit(s[0]))
        put_char(b, '_');
    for (size_t i = 0; i < n; i++)
        put_char(b, is_alpha_(s[i]) || is_digit(s[i]) || (colon && s[i] == ':') ? s[i] : '_');
}

/* The shortest text that reads back as the same double; +Inf, -Inf and NaN as the format
 * spells them. */
static void fmt_double(double d, char *out, size_t len)
{
    if (isnan(d)) {
        snprintf(out, len, "NaN");
        return;
    }
    if (isinf(d)) {
        snprintf(out, len, d > 0 ? "+Inf" : "-Inf");
        return;
    }
    pt__fmt_double(out, len, d);
}

static void put_double(buf *b, double d)
{
    char v[40];
    fmt_double(d, v, sizeof(v));
    put_str(b, v);
}

static void put_u64(buf *b, uint64_t n)
{
    char v[24];
    snprintf(v, sizeof(v), "%llu", (unsigned long long)n);
    put_str(b, v);
}

/* Nanoseconds as seconds, exactly: "0.005", "1.25", "10". */
static void fmt_ns_seconds(uint64_t ns, char *out, size_t len)
{
    pt__stats_fmt_scaled(ns, 9, out, len);
}

static void put_ns_seconds(buf *b, uint64_t ns)
{
    char v[32];
    fmt_ns_seconds(ns, v, sizeof(v));
    put_str(b, v);
}

/* ---- one series each ----------------------------------------------------------------------- */

typedef struct entry {
    const pt__smetric *m;
    char *family; /* "requests_done_total" */
    char *labels; /* `k="v",k2="v2"` (mapped, escaped, in name order), or "" */
    const char *type; /* "counter", "gauge" or "histogram" */
} entry;

typedef struct label {
    char *name; /* mapped */
    const char *value; /* in m->tags, vn bytes */
    size_t vn;
    size_t pos; /* among the tags, to keep the first of two with one name */
} label;

static int cmp_label(const void *a, const void *b)
{
    const label *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

/* `k="v",...` of the tags "k:v,...": label names mapped, values escaped, sorted by name (so
 * "a:1,b:2" and "b:2,a:1" are one series), of two tags with one name the first only, tags
 * with no name left out. A tag "le" becomes "tag_le" (on a histogram it would clash with the
 * buckets' label, and promtool's lint refuses it on any other type), and so do names that
 * begin with "__", which Prometheus keeps for itself ("__name__" is the metric's name).
 * Returns NULL when out of memory. */
static char *make_labels(const char *tags)
{
    buf out = {0};
    size_t n = 1, k = 0;

    if (tags == NULL)
        return buf_take(&out);
    for (const char *p = tags; *p; p++)
        n += *p == ',';
    label *ls = calloc(n, sizeof(*ls));
    if (ls == NULL)
        return NULL;
    for (const char *p = tags; *p;) {
        size_t len = strcspn(p, ","), kn = len;
        const char *colon = memchr(p, ':', len);
        if (colon)
            kn = (size_t)(colon - p);
        if (kn > 0) {
            buf name = {0};
            if ((kn == 2 && memcmp(p, "le", 2) == 0) || (kn >= 2 && memcmp(p, "__", 2) == 0))
                put_str(&name, "tag_");
            put_name(&name, p, kn, 0);
            ls[k].name = buf_take(&name);
            ls[k].value = colon ? colon + 1 : p + len;
            ls[k].vn = colon ? len - kn - 1 : 0;
            ls[k].pos = k;
            if (ls[k].name == NULL)
                out.oom = 1;
            k++;
        }
        p += len + (p[len] == ',');
    }
    if (!out.oom)
        qsort(ls, k, sizeof(*ls), cmp_label);
    for (size_t i = 0; i < k && !out.oom; i++) {
        if (i > 0 && strcmp(ls[i].name, ls[i - 1].name) == 0)
            continue;
        if (out.len > 0)
            put_char(&out, ',');
        put_str(&out, ls[i].name);
        put(&out, "=\"", 2);
        put_escaped(&out, ls[i].value, ls[i].vn, 1);
        put_char(&out, '"');
    }
    for (size_t i = 0; i < k; i++)
        free(ls[i].name);
    free(ls);
    return buf_take(&out);
}

/* The family's name: the mapped name and the kind's suffix, unless it already ends so. */
static char *make_family(const pt__smetric *m)
{
    buf b = {0};
    const char *suffix = m->kind == PT__S_COUNTER ? "_total"
                         : m->kind == PT__S_TIMER ? "_seconds"
                                                  : "";
    size_t sn = strlen(suffix);

    put_name(&b, m->name, strlen(m->name), 1);
    if (!b.oom && sn > 0 && !(b.len >= sn && strcmp(b.p + b.len - sn, suffix) == 0))
        put_str(&b, suffix);
    return buf_take(&b);
}

static const char *type_of(int kind)
{
    switch (kind) {
    case PT__S_COUNTER: return "counter";
    case PT__S_TIMER:
    case PT__S_HISTOGRAM: return "histogram";
    default: return "gauge";
    }
}

static const char *help_of(int kind)
{
    switch (kind) {
    case PT__S_COUNTER: return " (potter counter)";
    case PT__S_GAUGE: return " (potter gauge)";
    case PT__S_TIMER: return " (potter timer, in seconds)";
    case PT__S_HISTOGRAM: return " (potter histogram)";
    default: return " (potter set: unique values in the last interval)";
    }
}

static int cmp_entry(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    int c = strcmp(x->family, y->family);
    if (c == 0)
        c = strcmp(x->type, y->type);
    if (c == 0)
        c = strcmp(x->labels, y->labels);
    return c ? c : (x->m->id > y->m->id) - (x->m->id < y->m->id);
}

/* ---- rendering ------------------------------------------------------------------------------ */

/* `family<suffix>{labels[,le="..."]} ` */
static void put_series(buf *b, const entry *e, const char *suffix, const char *le)
{
    put_str(b, e->family);
    put_str(b, suffix);
    if (e->labels[0] || le) {
        put_char(b, '{');
        put_str(b, e->labels);
        if (le) {
            put_str(b, e->labels[0] ? ",le=\"" : "le=\"");
            put_str(b, le);
            put_char(b, '"');
        }
        put_char(b, '}');
    }
    put_char(b, ' ');
}

/* A timer's or histogram's buckets (cumulative), sum and count. The count is the +Inf
 * bucket's, so the two always agree even while other threads record. Under pt__stats_lock. */
static void put_histogram(buf *b, const entry *e)
{
    const pt__smetric *m = e->m;
    uint64_t cumulative = 0;
    char le[40];

    for (size_t i = 0; i <= m->nbounds; i++) {
        cumulative += pt__stats_slot_total(m->slot + 2 + (uint32_t)i);
        if (i == m->nbounds) {
            snprintf(le, sizeof(le), "+Inf");
        } else if (m->kind == PT__S_TIMER) {
            fmt_ns_seconds((uint64_t)(m->bounds[i] + 0.5), le, sizeof(le)); /* whole ns */
        } else {
            fmt_double(m->bounds[i], le, sizeof(le));
        }
        put_series(b, e, "_bucket", le);
        put_u64(b, cumulative);
        put_char(b, '\n');
    }
    put_series(b, e, "_sum", NULL);
    if (m->kind == PT__S_TIMER)
        put_ns_seconds(b, pt__stats_slot_total(m->slot + 1));
    else
        put_double(b, pt__stats_slot_total_double(m->slot + 1));
    put_char(b, '\n');
    put_series(b, e, "_count", NULL);
    put_u64(b, cumulative);
    put_char(b, '\n');
}

/* A gauge's value (its bits are stored atomically as a uint64). */
static double gauge_value(const pt__smetric *m)
{
    uint64_t bits = __atomic_load_n(&m->gauge, __ATOMIC_RELAXED);
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

/* One series' lines. Under stats->lock and pt__stats_lock. */
static void put_entry(buf *b, const entry *e)
{
    const pt__smetric *m = e->m;

    switch (m->kind) {
    case PT__S_COUNTER:
        put_series(b, e, "", NULL);
        put_u64(b, pt__stats_slot_total(m->slot));
        break;
    case PT__S_GAUGE:
        put_series(b, e, "", NULL);
        put_double(b, gauge_value(m));
        break;
    case PT__S_SET:
        put_series(b, e, "", NULL);
        put_u64(b, m->last_unique);
        break;
    default: put_histogram(b, e); return;
    }
    put_char(b, '\n');
}

static void put_family_head(buf *b, const entry *e)
{
    put_str(b, "# HELP ");
    put_str(b, e->family);
    put_char(b, ' ');
    put_escaped(b, e->m->name, strlen(e->m->name), 0);
    put_str(b, help_of(e->m->kind));
    put_str(b, "\n# TYPE ");
    put_str(b, e->family);
    put_char(b, ' ');
    put_str(b, e->type);
    put_char(b, '\n');
}

static void free_entries(entry *es, size_t n)
{
    for (size_t i = 0; es && i < n; i++) {
        free(es[i].family);
        free(es[i].labels);
    }
    free(es);
}

/* The series to show (gauges never set are not), sorted into families, in *out (free with
 * free_entries()). Under stats->lock. Returns their count, or -1 when out of memory. */
static long make_entries(pt_stats *s, entry **out)
{
    entry *es = calloc(s->nmetrics ? s->nmetrics : 1, sizeof(*es));
    size_t n = 0;

    if (es == NULL)
        return -1;
    for (size_t i = 0; i < s->nmetrics; i++) {
        const pt__smetric *m = s->metrics[i];
        if (m->kind == PT__S_GAUGE && !__atomic_load_n(&m->gauge_set, __ATOMIC_RELAXED))
            continue;
        entry *e = &es[n++];
        e->m = m;
        e->type = type_of(m->kind);
        e->family = make_family(m);
        e->labels = make_labels(m->tags);
        if (e->family == NULL || e->labels == NULL) {
            free_entries(es, n);
            return -1;
        }
    }
    qsort(es, n, sizeof(*es), cmp_entry);
    *out = es;
    return (long)n;
}

/* Runs the collectors (on the calling thread, outside the locks: they make handles), then
 * takes the registry's lock and the slots' (the order of flush.c) and the sorted series in
 * *es. Returns their count, or -1 with no lock held when out of memory. */
static long lock_entries(pt_stats *s, entry **es)
{
    pt__stats_collect(s);
    pthread_mutex_lock(&s->lock);
    long n = make_entries(s, es);
    if (n < 0) {
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    pthread_mutex_lock(&pt__stats_lock);
    return n;
}

static void unlock_entries(pt_stats *s, entry *es, long n)
{
    pthread_mutex_unlock(&pt__stats_lock);
    pthread_mutex_unlock(&s->lock);
    free_entries(es, (size_t)n);
}

/* Returns the registry as text, or NULL when out of memory. Runs the collectors first, on
 * the calling thread and outside the locks (they make handles). */
char *pt_stats_prometheus(pt_stats *s)
{
    buf b = {0};
    entry *es;

    if (s == NULL)
        return NULL;
    long n = lock_entries(s, &es);
    if (n < 0)
        return NULL;
    const entry *head = NULL, *last = NULL; /* the family's first series, the last shown */
    for (long i = 0; i < n; i++) {
        const entry *e = &es[i];
        if (head == NULL || strcmp(e->family, head->family) != 0) {
            head = e;
            put_family_head(&b, e);
        } else if (strcmp(e->type, head->type) != 0 || strcmp(e->labels, last->labels) == 0) {
            continue; /* another type in the family, or the same series again */
        }
        put_entry(&b, e);
        last = e;
    }
    unlock_entries(s, es, n);
    return buf_take(&b);
}

/* ---- the JSON snapshot (pt_stats_json()) ---------------------------------------------------- */

/* A JSON string of s (names and tags are sanitised to [A-Za-z0-9_.:,-], but a collector's
 * could hold anything). */
static void put_json_str(buf *b, const char *s)
{
    put_char(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            put_char(b, '\\');
            put_char(b, (char)c);
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put_str(b, esc);
        } else {
            put_char(b, (char)c);
        }
    }
    put_char(b, '"');
}

/* {"k":"v",...} from "k:v,k2:v2". */
static void put_json_tags(buf *b, const char *tags)
{
    put_char(b, '{');
    const char *sep = "";
    for (const char *t = tags; t && *t;) {
        const char *end = strchr(t, ',');
        size_t n = end ? (size_t)(end - t) : strlen(t);
        char kv[256];
        snprintf(kv, sizeof kv, "%.*s", (int)(n < sizeof kv - 1 ? n : sizeof kv - 1), t);
        char *colon = strchr(kv, ':');
        if (colon)
            *colon = '\0';
        put_str(b, sep);
        put_json_str(b, kv);
        put_char(b, ':');
        put_json_str(b, colon ? colon + 1 : "");
        sep = ",";
        t = end ? end + 1 : t + n;
    }
    put_char(b, '}');
}

static void put_json_entry(buf *b, const pt__smetric *m)
{
    static const char *const kinds[] = {
        [PT__S_COUNTER] = "counter", [PT__S_GAUGE] = "gauge", [PT__S_TIMER] = "timer",
        [PT__S_HISTOGRAM] = "histogram", [PT__S_SET] = "set",
    };
    put_str(b, "{\"name\":");
    put_json_str(b, m->name);
    put_str(b, ",\"tags\":");
    put_json_tags(b, m->tags);
    put_str(b, ",\"type\":");
    put_json_str(b, kinds[m->kind]);
    switch (m->kind) {
    case PT__S_COUNTER:
        put_str(b, ",\"value\":");
        put_u64(b, pt__stats_slot_total(m->slot));
        break;
    case PT__S_GAUGE:
        put_str(b, ",\"value\":");
        put_double(b, gauge_value(m));
        break;
    case PT__S_SET:
        put_str(b, ",\"value\":");
        put_u64(b, m->last_unique);
        break;
    default: {
        uint64_t count = 0;
        for (size_t i = 0; i <= m->nbounds; i++)
            count += pt__stats_slot_total(m->slot + 2 + (uint32_t)i);
        put_str(b, ",\"count\":");
        put_u64(b, count);
        if (m->kind == PT__S_TIMER) {
            put_str(b, ",\"sum_seconds\":");
            put_ns_seconds(b, pt__stats_slot_total(m->slot + 1));
        } else {
            put_str(b, ",\"sum\":");
            put_double(b, pt__stats_slot_total_double(m->slot + 1));
        }
    }
    }
    put_char(b, '}');
}

/* Returns {"metrics":[{"name":..,"tags":{..},"type":..,"value":..},..]} (timers and
 * histograms give count and sum instead of value) sorted as the Prometheus text is, or NULL
 * when out of memory. Runs the collectors first. */
char *pt_stats_json(pt_stats *s)
{
    buf b = {0};
    entry *es;

    if (s == NULL)
        return NULL;
    long n = lock_entries(s, &es);
    if (n < 0)
        return NULL;
    put_str(&b, "{\"metrics\":[");
    for (long i = 0; i < n; i++) {
        if (i)
            put_char(&b, ',');
        put_json_entry(&b, es[i].m);
    }
    put_str(&b, "]}");
    unlock_entries(s, es, n);
    return buf_take(&b);
}
