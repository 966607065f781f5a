/* The schema: creating a configuration, declaring keys, finding them, resolving handles, and
 * the accessors of what load found (config.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config_internal.h"
#include "config/suggest.h"

#define MAX_NAME 128

/* Names a key may not take: the flags pt_config_load() itself reads. */
static const char *const reserved[] = {
    "env", "datacenter", "config", "config-dir", "help", "version", "print-config", "check-config",
};

static const char *const type_names[] = {
    [PT_CONFIG_STRING] = "string", [PT_CONFIG_INT] = "int",   [PT_CONFIG_UINT] = "uint",
    [PT_CONFIG_DOUBLE] = "double", [PT_CONFIG_BOOL] = "bool", [PT_CONFIG_DURATION] = "duration",
    [PT_CONFIG_SIZE] = "size",     [PT_CONFIG_ENUM] = "enum", [PT_CONFIG_LIST] = "list",
    [PT_CONFIG_OBJECT] = "object",
};

static const char *const handle_macros[] = {
    [PT_CONFIG_STRING] = "PT_CONFIG_STR", [PT_CONFIG_INT] = "PT_CONFIG_INT",
    [PT_CONFIG_UINT] = "PT_CONFIG_UINT",  [PT_CONFIG_DOUBLE] = "PT_CONFIG_DOUBLE",
    [PT_CONFIG_BOOL] = "PT_CONFIG_BOOL",  [PT_CONFIG_DURATION] = "PT_CONFIG_DURATION",
    [PT_CONFIG_SIZE] = "PT_CONFIG_SIZE",  [PT_CONFIG_ENUM] = "PT_CONFIG_ENUM",
    [PT_CONFIG_LIST] = "PT_CONFIG_LIST",  [PT_CONFIG_OBJECT] = "PT_CONFIG_OBJECT",
};

static int valid_type(int type)
{
    return type >= PT_CONFIG_STRING && type <= PT_CONFIG_OBJECT;
}

/* ---- messages ---------------------------------------------------------------------------- */

/* Each thread's last failure, so that concurrent callers never see (or free) each other's. */
static __thread char *last_error;
static pthread_key_t error_key;
static pthread_once_t error_once = PTHREAD_ONCE_INIT;

static void error_init(void)
{
    pthread_key_create(&error_key, free); /* frees a thread's message when it exits */
}

void pt__config_fail(pt_config *cfg, const char *msg)
{
    (void)cfg;
    char *copy = strdup(msg ? msg : "out of memory");
    if (copy == NULL)
        return; /* keep the older message rather than none */
    pthread_once(&error_once, error_init);
    free(last_error);
    last_error = copy;
    pthread_setspecific(error_key, copy);
}

const char *pt_config_error(const pt_config *cfg)
{
    (void)cfg;
    return last_error ? last_error : "";
}

void pt__config_report(pt_config *cfg, int level, const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;

    va_start(ap, fmt);
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    for (char *p = msg; (p = strchr(p, '\n')) != NULL;) /* one line: "a\nb" is "a; b" */
        *p = ';';
    if (cfg->report)
        cfg->report(cfg->report_arg, level, msg);
    else
        fprintf(cfg->err ? cfg->err : stderr, "%s: %s: %s\n", cfg->service,
                level >= PT_CONFIG_ERROR ? "error" : "warning", msg);
    free(msg);
}

/* ---- creating -------------------------------------------------------------------------- */

static char *dup_or_null(const char *s, int *oom)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *oom = 1;
    return d;
}

int pt_config_new(const char *service, const pt_config_options *opts, pt_config **out)
{
    static const pt_config_options none;
    int oom = 0;

    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (service == NULL || *service == '\0')
        return -EINVAL;
    if (opts == NULL)
        opts = &none;
    pt_config *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        return -ENOMEM;
    pthread_mutex_init(&cfg->lock, NULL);
    cfg->service = dup_or_null(service, &oom);
    cfg->version = dup_or_null(opts->version ? opts->version : "0.0.0", &oom);
    cfg->config_dir = dup_or_null(opts->config_dir ? opts->config_dir : "config", &oom);
    cfg->env = dup_or_null(opts->env, &oom);
    cfg->datacenter_file = dup_or_null(opts->datacenter_file, &oom);
    cfg->out = opts->out ? opts->out : stdout;
    cfg->err = opts->err ? opts->err : stderr;
    cfg->report = opts->report;
    cfg->report_arg = opts->report_arg;
    if (oom || pt__config_hub_new(cfg) < 0) {
        pt_config_free(cfg);
        return -ENOMEM;
    }
    *out = cfg;
    return 0;
}

static void key_free(pt__ckey *k)
{
    if (k == NULL)
        return;
    free(k->name);
    free(k->doc);
    free(k->def_text);
    free(k->range_text);
    for (size_t i = 0; i < k->n_enum; i++)
        free(k->enum_names[i]);
    free(k->enum_names);
    pt__cval_free(&k->def);
    free((char *)k->fixed_str);
    free(k);
}

void pt_config_free(pt_config *cfg)
{
    if (cfg == NULL)
        return;
    pt__config_remote_stop(cfg);
    pt__config_stop_tasks(cfg);
    for (int i = 0; i < PT__L_NFILES; i++) {
        pt__clayer_free(&cfg->files[i], cfg->nkeys);
        free(cfg->paths[i]);
    }
    pt__clayer_free(&cfg->flags, cfg->nkeys);
    pt__clayer_free(&cfg->over, cfg->nkeys);
    pt__cbuf_free(&cfg->scratch);
    pt__cstate_free(cfg->cur);
    pt__config_reclaim_all(cfg);
    pt__config_hub_release(cfg->hub);
    for (size_t i = 0; i < cfg->nkeys; i++)
        key_free(cfg->keys[i]);
    free(cfg->keys);
    free(cfg->sorted);
    free(cfg->names);
    for (int i = 0; i < cfg->nargs; i++)
        free(cfg->args[i]);
    free(cfg->args);
    free(cfg->service);
    free(cfg->version);
    free(cfg->config_dir);
    free(cfg->env);
    free(cfg->datacenter);
    free(cfg->datacenter_file);
    free(cfg->extra_file);
    pthread_mutex_destroy(&cfg->lock);
    free(cfg);
}

/* ---- declaring --------------------------------------------------------------------------- */

static int name_cmp(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

/* The index in sorted[0..n) where name is or would go. */
static size_t lower_bound(pt__ckey *const *sorted, size_t n, const char *name, size_t len)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (name_cmp(name, len, sorted[mid]->name) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

pt__ckey *pt__config_find(const pt_config *cfg, const char *name, size_t len)
{
    size_t i = lower_bound(cfg->sorted, cfg->nkeys, name, len);
    if (i < cfg->nkeys && name_cmp(name, len, cfg->sorted[i]->name) == 0)
        return cfg->sorted[i];
    return NULL;
}

/* "" if name is a valid key name, else why not. */
static const char *bad_name(const char *name)
{
    size_t n = strlen(name), seg = 0;

    if (n == 0)
        return "a key needs a name";
    if (n > MAX_NAME)
        return "a key name is at most 128 characters";
    for (size_t i = 0; i <= n; i++) {
        char c = name[i];
        if (c == '.' || c == '\0') {
            if (seg == 0)
                return "a key name is dot-separated segments, none of them empty";
            seg = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-') {
            seg++;
        } else {
            return "a key name takes lower-case letters, digits, '_' and '-' in dot-separated "
                   "segments";
        }
    }
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (strcmp(name, reserved[i]) == 0)
            return "this name is one of pt_config_load()'s own flags";
    return "";
}

/* Is a a dotted prefix of b ("http" of "http.port")? */
static int is_section_of(const char *a, const char *b)
{
    size_t n = strlen(a);
    return strncmp(a, b, n) == 0 && b[n] == '.';
}

/* Parses key->range_text into the key's bounds or enum names. */
static int parse_range(pt__ckey *k, char *why, size_t whylen)
{
    const char *r = k->range_text;

    if (k->type == PT_CONFIG_ENUM) {
        if (r == NULL || *r == '\0')
            return snprintf(why, whylen, "an enum needs its values in `range` (\"a|b|c\")"),
                   -EINVAL;
        for (const char *p = r;;) {
            const char *bar = strchr(p, '|');
            size_t n = bar ? (size_t)(bar - p) : strlen(p);
            if (n == 0)
                return snprintf(why, whylen, "the enum values \"%s\" have an empty one", r),
                       -EINVAL;
            for (size_t i = 0; i < k->n_enum; i++)
                if (strlen(k->enum_names[i]) == n && strncasecmp(k->enum_names[i], p, n) == 0)
                    return snprintf(why, whylen, "the enum value \"%.*s\" is listed twice", (int)n,
                                    p),
                           -EINVAL;
            char **names = realloc(k->enum_names, (k->n_enum + 1) * sizeof(char *));
            if (names == NULL)
                return -ENOMEM;
            k->enum_names = names;
            if ((names[k->n_enum] = strndup(p, n)) == NULL)
                return -ENOMEM;
            k->n_enum++;
            if (bar == NULL)
                break;
            p = bar + 1;
        }
        return 0;
    }
    if (r == NULL)
        return 0;
    if (k->type != PT_CONFIG_INT && k->type != PT_CONFIG_UINT && k->type != PT_CONFIG_DOUBLE &&
        k->type != PT_CONFIG_DURATION && k->type != PT_CONFIG_SIZE)
        return snprintf(why, whylen, "a %s key takes no range", type_names[k->type]), -EINVAL;
    const char *dots = strstr(r, "..");
    if (dots == NULL || (dots == r && dots[2] == '\0'))
        return snprintf(why, whylen,
                        "the range \"%s\" is not of the form \"MIN..MAX\", "
                        "\"MIN..\" or \"..MAX\"",
                        r),
               -EINVAL;
    /* Parse each bound as a value of the key's type, with no range yet. */
    char *lo = strndup(r, (size_t)(dots - r)), *hi = strdup(dots + 2);
    int rc = lo && hi ? 0 : -ENOMEM;
    char sub[200];
    for (int side = 0; side < 2 && rc == 0; side++) {
        const char *text = side ? hi : lo;
        pt__cval v;
        if (*text == '\0')
            continue;
        rc = pt__cval_from_text(k, text, &v, sub, sizeof(sub));
        if (rc == -EINVAL) {
            snprintf(why, whylen, "the range \"%s\" has a bad bound: %s", r, sub);
            break;
        }
        if (rc < 0)
            break;
        if (side) /* k->has_max is set below, so that the max is not checked against the min */
            memcpy(&k->max, &v.bits, sizeof(v.bits));
        else
            memcpy(&k->min, &v.bits, sizeof(v.bits));
        pt__cval_free(&v);
    }
    if (rc == 0) {
        k->has_min = lo && *lo;
        k->has_max = hi && *hi;
    }
    free(lo);
    free(hi);
    if (rc == 0 && k->has_min && k->has_max) {
        int empty = k->type == PT_CONFIG_DOUBLE ? k->min.d > k->max.d
                    : (k->type == PT_CONFIG_UINT || k->type == PT_CONFIG_SIZE)
                        ? k->min.u > k->max.u
                        : k->min.i > k->max.i;
        if (empty)
            return snprintf(why, whylen,
                            "the range \"%s\" is empty (its minimum is above its "
                            "maximum)",
                            r),
                   -EINVAL;
    }
    return rc;
}

/* Builds one key from its declaration, or says why it cannot. */
static int key_make(const pt_config_key *d, pt__ckey **out, char *why, size_t whylen)
{
    pt__ckey *k = calloc(1, sizeof(*k));
    int oom = 0, rc;

    *out = NULL;
    if (k == NULL)
        return -ENOMEM;
    k->type = d->type;
    k->flags = d->flags;
    k->name = dup_or_null(d->name, &oom);
    k->doc = dup_or_null(d->doc ? d->doc : "", &oom);
    k->def_text = dup_or_null(d->def, &oom);
    k->range_text = dup_or_null(d->range, &oom);
    if (oom) {
        key_free(k);
        return -ENOMEM;
    }
    if (!valid_type(d->type)) {
        snprintf(why, whylen,
                 "unknown type %d (expected one of PT_CONFIG_STRING .. "
                 "PT_CONFIG_OBJECT)",
                 d->type);
        key_free(k);
        return -EINVAL;
    }
    if (d->flags & ~(PT_CONFIG_REQUIRED | PT_CONFIG_SECRET | PT_CONFIG_FIXED)) {
        snprintf(why, whylen, "unknown flags 0x%x", d->flags);
        key_free(k);
        return -EINVAL;
    }
    if ((rc = parse_range(k, why, whylen)) < 0) {
        key_free(k);
        return rc;
    }
    if (d->def && (d->flags & PT_CONFIG_REQUIRED)) {
        snprintf(why, whylen,
                 "a required key cannot have a default (the default would always "
                 "satisfy it)");
        key_free(k);
        return -EINVAL;
    }
    if (d->def) {
        char sub[200];
        rc = pt__cval_from_text(k, d->def, &k->def, sub, sizeof(sub));
        if (rc == -EINVAL)
            snprintf(why, whylen, "the default \"%s\" is not valid: %s", d->def, sub);
        if (rc < 0) {
            key_free(k);
            return rc;
        }
    }
    k->bits = k->def.bits;
    *out = k;
    return 0;
}

int pt_config_declare(pt_config *cfg, const pt_config_key *keys, size_t n)
{
    char why[400], msg[600];
    size_t total;
    int rc = 0;

    if (cfg == NULL || (keys == NULL && n > 0))
        return -EINVAL;
    if (cfg->load_called) {
        snprintf(msg, sizeof(msg),
                 "declaring config key \"%.128s\": keys are declared before "
                 "pt_config_load()",
                 n > 0 && keys && keys[0].name ? keys[0].name : "");
        pt__config_fail(cfg, msg);
        return -EBUSY;
    }
    total = cfg->nkeys + n;
    pt__ckey **made = calloc(n ? n : 1, sizeof(*made));
    if (made == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *name = keys[i].name ? keys[i].name : "";
        const char *bad = bad_name(name);
        why[0] = '\0';
        if (*bad) {
            snprintf(why, sizeof(why), "%s", bad);
            rc = -EINVAL;
        }
        for (size_t j = 0; rc == 0 && j < total - n + i; j++) {
            const char *other = j < cfg->nkeys ? cfg->keys[j]->name : keys[j - cfg->nkeys].name;
            if (strcmp(other, name) == 0)
                snprintf(why, sizeof(why), "declared twice");
            else if (is_section_of(other, name) || is_section_of(name, other))
                snprintf(why, sizeof(why),
                         "\"%s\" and \"%s\" cannot both be keys (one would be "
                         "a section of the other)",
                         other, name);
            else
                continue;
            rc = -EINVAL;
        }
        if (rc == 0)
            rc = key_make(&keys[i], &made[i], why, sizeof(why));
        if (rc == -EINVAL) {
            snprintf(msg, sizeof(msg), "declaring config key \"%.128s\": %s", name, why);
            pt__config_fail(cfg, msg);
        }
    }
    pt__ckey **all = NULL, **sorted = NULL;
    const char **names = NULL;
    if (rc == 0) {
        all = realloc(cfg->keys, total * sizeof(*all));
        if (all)
            cfg->keys = all;
        sorted = realloc(cfg->sorted, total * sizeof(*sorted));
        if (sorted)
            cfg->sorted = sorted;
        names = realloc(cfg->names, total * sizeof(*names));
        if (names)
            cfg->names = names;
        if (all == NULL || sorted == NULL || names == NULL)
            rc = -ENOMEM;
    }
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            key_free(made[i]);
        free(made);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        pt__ckey *k = made[i];
        k->cfg = cfg;
        k->idx = (unsigned)cfg->nkeys;
        cfg->keys[cfg->nkeys] = k;
        cfg->names[cfg->nkeys] = k->name;
        size_t at = lower_bound(cfg->sorted, cfg->nkeys, k->name, strlen(k->name));
        memmove(&cfg->sorted[at + 1], &cfg->sorted[at], (cfg->nkeys - at) * sizeof(*sorted));
        cfg->sorted[at] = k;
        cfg->nkeys++;
    }
    free(made);
    return 0;
}

/* ---- handles ----------------------------------------------------------------------------- */

void *pt_config_handle(pt_config *cfg, const char *name, int type, const char *file, int line)
{
    pt__ckey *k = cfg && name ? pt__config_find(cfg, name, strlen(name)) : NULL;

    if (k && k->type == type)
        return k;
    fflush(stdout);
    if (cfg == NULL || name == NULL) {
        fprintf(stderr, "potter: %s:%d: config handle asked with a NULL %s\n", file, line,
                cfg ? "name" : "configuration");
    } else if (k == NULL) {
        const char *hint = pt__cfg_suggest(name, cfg->names, cfg->nkeys);
        fprintf(stderr, "potter: %s:%d: config key \"%s\" is not declared%s%s%s\n", file, line,
                name, hint ? " (did you mean " : "", hint ? hint : "", hint ? "?)" : "");
    } else {
        fprintf(stderr, "potter: %s:%d: config key \"%s\" is declared as %s, read as %s (use %s)\n",
                file, line, name, type_names[k->type],
                valid_type(type) ? type_names[type] : "an unknown type", handle_macros[k->type]);
    }
    abort();
}

const char *pt_config_enum_name(const pt_config_enum *h)
{
    const pt__ckey *k = (const pt__ckey *)h;
    return k->enum_names[pt_config_enum_get(h)];
}

const char *pt_config_str_get(const pt_config_str *h)
{
    const pt__ckey *k = (const pt__ckey *)h;
    if (!(k->flags & PT_CONFIG_FIXED)) {
        fflush(stdout);
        fprintf(stderr,
                "potter: config key \"%s\" may change at run time, so its string is read "
                "inside a view (pt_config_view_begin(), pt_config_view_str()), or the key is "
                "declared PT_CONFIG_FIXED\n",
                k->name);
        abort();
    }
    return k->fixed_str;
}

/* ---- what load found --------------------------------------------------------------------- */

int pt_config_args(const pt_config *cfg, char ***argv)
{
    static char *empty[1];
    if (argv)
        *argv = cfg->args ? cfg->args : empty;
    return cfg->nargs;
}

const char *pt_config_service(const pt_config *cfg)
{
    return cfg->service;
}

const char *pt_config_version(const pt_config *cfg)
{
    return cfg->version;
}

const char *pt_config_env(const pt_config *cfg)
{
    return cfg->env ? cfg->env : "development";
}

const char *pt_config_datacenter(const pt_config *cfg)
{
    return cfg->datacenter;
}

size_t pt_config_files(const pt_config *cfg, const char *const **paths)
{
    if (paths)
        *paths = cfg->found;
    return cfg->nfound;
}

const char *pt__config_type_name(int type)
{
    return valid_type(type) ? type_names[type] : "?";
}
