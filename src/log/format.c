/* One record to one JSON line, bunyan's core fields first. */
#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log/log_internal.h"

char pt__log_hostname_json[320];
size_t pt__log_hostname_json_len;

/* Nonzero when a later field of the call, or any call field for a bound key, has the name
 * (len long; lens[] holds the fields' name lengths, so most names differ at the first look). */
static int overridden(const char *name, size_t len, const struct pt__field *fields,
                      const size_t *lens, size_t from, size_t n)
{
    for (size_t j = from; j < n; j++)
        if (lens[j] == len && fields[j].name != NULL &&
            (fields[j].name == name || (len && memcmp(fields[j].name, name, len) == 0)))
            return 1;
    return 0;
}

/* ---- the keys of a call site, encoded once ------------------------------------------------
 *
 * A site's field names are constants, so what the general path below works out for every
 * record (each key's `,"name":` with the reserved-name rule, and which fields a later one of
 * the same name overrides) is the same each time: it is kept per site, in a small table that
 * only the formatting thread uses. An entry is taken when the site at that address still has
 * the same name pointers; the table is emptied when a pass begins after a library was unloaded
 * (another one loaded in its place may put a different site, with other names, there). */

#define SITE_KEYS 256 /* entries, found from a hash of the site's address */
#define SITE_PROBES 4 /* slots looked at from there; when all are taken, the general path */

struct site_keys {
    const pt_log_site *site;
    unsigned n;
    const char *name[16]; /* the site's name pointers when the entry was made */
    /* The site's msg as a JSON string: frags[0 .. frag_at[0]); key i: frags[frag_at[i] ..
     * frag_at[i + 1]), empty when skipped. */
    uint16_t frag_at[17];
    char *frags;
};

static struct site_keys *site_keys_table[SITE_KEYS];

static int site_keys_match(const struct site_keys *k, const pt_log_site *site)
{
    if (k->site != site || k->n != site->nfields)
        return 0;
    for (unsigned i = 0; i < k->n; i++)
        if (site->names[i] != k->name[i])
            return 0;
    return 1;
}

static void site_keys_free(struct site_keys *k)
{
    if (k) {
        free(k->frags);
        free(k);
    }
}

static int count_unloads(struct dl_phdr_info *info, size_t size, void *arg)
{
    if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs)
        *(unsigned long long *)arg = info->dlpi_subs;
    return 1; /* the first module tells */
}

void pt__format_pass_begin(void)
{
    static unsigned long long seen;
    unsigned long long unloads = 0;
    dl_iterate_phdr(count_unloads, &unloads);
    if (unloads == seen)
        return;
    seen = unloads;
    for (size_t i = 0; i < SITE_KEYS; i++) {
        site_keys_free(site_keys_table[i]);
        site_keys_table[i] = NULL;
    }
}

/* Encodes the keys of site's fields (decoded as fields[0..n)), as the general path would. */
static struct site_keys *site_keys_make(const pt_log_site *site, const struct pt__field *fields,
                                        size_t n, const size_t *lens)
{
    struct site_keys *k = calloc(1, sizeof *k);
    struct pt__buf frags = {0};
    int whole = 1; /* every key went in (out of memory: not kept) */
    if (k == NULL)
        return NULL;
    k->site = site;
    k->n = (unsigned)n;
    pt__json_str(&frags, site->msg, strlen(site->msg), 0);
    whole &= frags.len > 0;
    for (size_t i = 0; i < n; i++) {
        k->name[i] = fields[i].name;
        k->frag_at[i] = (uint16_t)frags.len;
        if (!overridden(fields[i].name, lens[i], fields, lens, i + 1, n)) {
            size_t before = frags.len;
            pt__json_field_key(&frags, &fields[i], lens[i]);
            whole &= frags.len > before;
        }
    }
    k->frag_at[n] = (uint16_t)frags.len;
    k->frags = frags.p;
    /* Short names only: the offsets are 16 bits. */
    if (!whole || frags.len > 8192) {
        site_keys_free(k);
        return NULL;
    }
    return k;
}

/* The keys of a site's record, or NULL when it has to take the general path. Entries stay
 * once made (a program has a bounded number of sites), so two busy sites never evict each
 * other. */
static const struct site_keys *site_keys(const pt_log_site *site, const struct pt__field *fields,
                                         size_t n)
{
    if (site == NULL || n == 0 || n > 16 || n != site->nfields)
        return NULL;
    size_t h = (size_t)(((uint64_t)(uintptr_t)site * 0x9e3779b97f4a7c15ull) >> 56);
    struct site_keys **slot = NULL;
    for (size_t p = 0; p < SITE_PROBES; p++) {
        struct site_keys **at = &site_keys_table[(h + p) % SITE_KEYS];
        if (*at == NULL) {
            slot = at;
            break;
        }
        if (site_keys_match(*at, site))
            return *at;
    }
    if (slot == NULL)
        return NULL;
    size_t lens[16];
    for (size_t i = 0; i < n; i++) {
        if (fields[i].name == NULL)
            return NULL;
        lens[i] = strlen(fields[i].name);
    }
    *slot = site_keys_make(site, fields, n, lens);
    return *slot;
}

/* ---- a record ------------------------------------------------------------------------------ */

/* pt__json_value(), the commonest kinds without its call. */
static inline void value(struct pt__buf *b, const struct pt__field *f)
{
    if (f->type == PT_FIELD_STR && f->v.s.p != NULL)
        pt__json_str(b, f->v.s.p, f->v.s.n, f->cut);
    else if ((f->type == PT__FIELD_JSON_BUILT || f->type == PT__FIELD_JSON_MEMBERS) &&
             f->v.s.p != NULL && f->cut == 0)
        pt__buf_put(b, f->v.s.p, f->v.s.n);
    else
        pt__json_value(b, f);
}

void pt__format_record(struct pt__buf *b, int level, pt_log *log, int64_t wall_ns, const char *msg,
                       size_t msg_len, const struct pt__field *fields, size_t n,
                       const pt_log_site *site)
{
    pt_log *root = log->root;
    /* ,"pid":N is the same for every record: it changes only in a forked child, which formats
     * on the thread that forked. */
    static pid_t pid_of_json;
    static char pid_json[32];
    static size_t pid_json_len;
    if (pid_json_len == 0 || pid_of_json != pt__log_pid) {
        char *end = pid_json + sizeof pid_json, *p = end;
        unsigned pid = (unsigned)pt__log_pid;
        do {
            *--p = (char)('0' + pid % 10);
            pid /= 10;
        } while (pid);
        memcpy(p -= 7, ",\"pid\":", 7);
        pid_json_len = (size_t)(end - p);
        memmove(pid_json, p, pid_json_len);
        pid_of_json = pt__log_pid;
    }
    /* {"v":0,"level":N,"name":...,"hostname":...,"pid":N,"time":"...","msg": written in place,
     * without printf and without a copy through the stack: copying bytes just stored one by
     * one makes the load wait for the stores before it, among them the previous record's
     * into the sinks' queues and the flight recorder, which miss the cache. */
    size_t head_len = 18 + root->name_json_len + pt__log_hostname_json_len + pid_json_len + 41;
    if (pt__buf_reserve(b, head_len + 1) != 0) /* + 1: pt__json_time's NUL */
        return;
    char *o = b->p + b->len;
    memcpy(o, "{\"v\":0,\"level\":00,", 18);
    o[15] = (char)('0' + level / 10 % 10);
    o[16] = (char)('0' + level % 10);
    o += 18;
    pt__copy_short(o, root->name_json, root->name_json_len);
    o += root->name_json_len;
    pt__copy_short(o, pt__log_hostname_json, pt__log_hostname_json_len);
    o += pt__log_hostname_json_len;
    pt__copy_short(o, pid_json, pid_json_len);
    o += pid_json_len;
    memcpy(o, ",\"time\":\"", 9);
    pt__json_time(o + 9, wall_ns);
    memcpy(o + 33, "\",\"msg\":", 8);
    b->len += head_len;
    /* A logger without bound fields: the site's msg and keys, as encoded before. */
    const struct site_keys *k = log->nbound ? NULL : site_keys(site, fields, n);
    if (k && msg == site->msg)
        pt__buf_put(b, k->frags, k->frag_at[0]);
    else
        pt__json_str(b, msg, msg_len, 0);
    if (k) {
        for (size_t i = 0; i < n; i++) {
            size_t at = k->frag_at[i], len = k->frag_at[i + 1] - at;
            if (len == 0)
                continue; /* the last field of a name wins */
            pt__buf_put(b, k->frags + at, len);
            value(b, &fields[i]);
        }
        pt__buf_put(b, "}\n", 2);
        return;
    }
    size_t lens[64]; /* n is at most 64 (struct pt__decoded) */
    if (n > 64)
        n = 64;
    for (size_t i = 0; i < n; i++)
        lens[i] = fields[i].name ? strlen(fields[i].name) : 0;
    /* Bound fields of the logger, unless the call names the same key (innermost wins). */
    if (log->nbound) {
        int clash = 0;
        for (size_t i = 0; i < log->nbound && !clash; i++)
            clash = overridden(log->bound[i].key, strlen(log->bound[i].key), fields, lens, 0, n);
        if (!clash) {
            pt__buf_put(b, log->bound_frag, log->bound_len);
        } else {
            for (size_t i = 0; i < log->nbound; i++)
                if (!overridden(log->bound[i].key, strlen(log->bound[i].key), fields, lens, 0, n))
                    pt__buf_put(b, log->bound[i].frag, log->bound[i].frag_len);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (fields[i].name == NULL || overridden(fields[i].name, lens[i], fields, lens, i + 1, n))
            continue; /* the last field of a name wins */
        pt__json_field_key(b, &fields[i], lens[i]);
        value(b, &fields[i]);
    }
    pt__buf_put(b, "}\n", 2);
}
