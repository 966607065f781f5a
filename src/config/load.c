/* Loading: the command line, the environment and datacenter, the file layers, and the checks
 * that make a bad configuration refuse to start with every problem named (config.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config_internal.h"
#include "config/suggest.h"

#define MAX_FILE (16u << 20)

/* ---- documents ----------------------------------------------------------------------------- */

/* Is `name` (len bytes) a section, i.e. the dotted prefix of a declared key? Sets *example to
 * one such key. */
static int is_section(const pt_config *cfg, const char *name, size_t len, const char **example)
{
    int n = 0;
    for (size_t i = 0; i < cfg->nkeys; i++) {
        const char *k = cfg->names[i];
        if (strncmp(k, name, len) == 0 && k[len] == '.' && n++ == 0)
            *example = k;
    }
    return n;
}

/* Writes a key for a message: as is when short and printable, else escaped and cut. */
static void shown_key(pt__cbuf *b, const char *k, size_t n)
{
    pt__cbuf_add(b, "\"", 1);
    for (size_t i = 0; i < n && i < 80; i++) {
        unsigned char c = (unsigned char)k[i];
        if (c < 0x20 || c == '"' || c == '\\')
            pt__cbuf_printf(b, "\\u%04x", c);
        else
            pt__cbuf_add(b, k + i, 1);
    }
    pt__cbuf_puts(b, n > 80 ? "...\"" : "\"");
}

struct walk {
    pt_config *cfg;
    const char *where;
    pt__clayer *layer;
    pt__cbuf *errs;
    int bad;
    pt__cbuf path; /* the dotted name so far */
};

static void walk_object(struct walk *w, const pt__cjson *obj);

static void member(struct walk *w, const pt__cjson_member *m)
{
    pt_config *cfg = w->cfg;
    size_t base = w->path.len;
    char why[400];
    const char *example = NULL;
    int section;

    if (base > 0)
        pt__cbuf_add(&w->path, ".", 1);
    pt__cbuf_add(&w->path, m->key, m->key_len);
    if (w->path.oom) {
        w->bad = -ENOMEM;
        return;
    }
    const char *name = w->path.p;
    size_t len = w->path.len;
    pt__ckey *k = memchr(name, '\0', len) ? NULL : pt__config_find(cfg, name, len);
    if (k) {
        pt__centry *e = &w->layer->e[k->idx];
        if (e->present) {
            pt__cbuf_printf(w->errs, "%s:%u:%u: %s is set twice in this document (first at %s)\n",
                            w->where, m->line, m->col, k->name, e->origin);
            w->bad = 1;
        } else {
            int rc = pt__cval_from_json(k, &m->value, &e->v, why, sizeof(why));
            if (rc == 0) {
                e->present = 1;
                pt__cbuf o = {0};
                pt__cbuf_printf(&o, "%s:%u:%u", w->where, m->line, m->col);
                e->origin = pt__cbuf_take(&o);
                if (e->origin == NULL)
                    rc = -ENOMEM;
            } else if (rc == -EINVAL) {
                pt__cbuf_printf(w->errs, "%s:%u:%u: %s: %s\n", w->where, m->value.line,
                                m->value.col, k->name, why);
                w->bad = 1;
            }
            if (rc == -ENOMEM)
                w->bad = rc;
            if (rc == -EINVAL) { /* keep its place, to catch it set twice; the layer is refused */
                e->present = 1;
                pt__cbuf o = {0};
                pt__cbuf_printf(&o, "%s:%u:%u", w->where, m->line, m->col);
                e->origin = pt__cbuf_take(&o);
            }
        }
    } else if ((section = is_section(cfg, name, len, &example)) > 0) {
        if (m->value.type == PT__CJSON_OBJECT) {
            walk_object(w, &m->value);
        } else if (m->value.type != PT__CJSON_NULL) {
            pt__cbuf_printf(w->errs,
                            "%s:%u:%u: %s is a section (of %s%s): expected an object, "
                            "found %s\n",
                            w->where, m->value.line, m->value.col, name, example,
                            section > 1 ? " and others" : "", pt__cjson_type_name(m->value.type));
            w->bad = 1;
        }
    } else {
        const char *hint = pt__cfg_suggest(name, cfg->names, cfg->nkeys);
        pt__cbuf_printf(w->errs, "%s:%u:%u: unknown key ", w->where, m->line, m->col);
        shown_key(w->errs, name, len);
        if (hint)
            pt__cbuf_printf(w->errs, " (did you mean %s?)", hint);
        pt__cbuf_puts(w->errs, "\n");
        w->bad = 1;
    }
    w->path.len = base;
    if (w->path.p)
        w->path.p[base] = '\0';
}

static void walk_object(struct walk *w, const pt__cjson *obj)
{
    for (size_t i = 0; i < obj->u.obj.n && w->bad >= 0; i++)
        member(w, &obj->u.obj.members[i]);
}

int pt__config_read_doc(pt_config *cfg, const char *text, size_t len, const char *where,
                        pt__clayer *layer, pt__cbuf *errs)
{
    pt__cjson_doc *doc;
    pt__cjson_error e;
    int rc = pt__cjson_parse(text, len, &doc, &e);

    if (rc == 0 && pt__cjson_require_object(pt__cjson_root(doc), &e) < 0)
        rc = -EINVAL;
    if (rc == -EINVAL)
        pt__cbuf_printf(errs, "%s:%u:%u: %s\n", where, e.line, e.col, e.msg);
    if (rc < 0) {
        pt__cjson_free(doc);
        return rc;
    }
    struct walk w = {cfg, where, layer, errs, 0, {0}};
    walk_object(&w, pt__cjson_root(doc));
    pt__cbuf_free(&w.path);
    pt__cjson_free(doc);
    return w.bad < 0 ? w.bad : w.bad ? -EINVAL : 0;
}

/* ---- files --------------------------------------------------------------------------------- */

int pt__config_read_file(const char *path, size_t max, char **text, size_t *len)
{
    size_t cap = 4096, n = 0;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), rc = 0;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = fstat(fd, &st) != 0 ? -errno : S_ISDIR(st.st_mode) ? -EISDIR : -ENODEV;
        close(fd);
        return rc;
    }
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 == cap) {
            char *bigger = cap > max ? NULL : realloc(buf, cap * 2);
            if (bigger == NULL) {
                rc = cap > max ? -EFBIG : -ENOMEM;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            rc = got < 0 ? -errno : n > max ? -EFBIG : 0;
            break;
        }
        n += (size_t)got;
    }
    close(fd);
    if (buf == NULL)
        return -ENOMEM;
    if (rc < 0) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

const char *pt__config_file_error(int err)
{
    switch (err) {
    case -EISDIR: return "it is a directory";
    case -ENODEV: return "not a regular file";
    case -EFBIG: return "larger than the limit";
    }
    return pt_strerror(err);
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    pt__cbuf b = {0};
    pt__cbuf_puts(&b, dir);
    if (n > 0 && dir[n - 1] != '/')
        pt__cbuf_puts(&b, "/");
    pt__cbuf_puts(&b, name);
    return pt__cbuf_take(&b);
}

/* The candidate paths of the file layers for cfg's env and datacenter. */
static int make_paths(pt_config *cfg)
{
    const char *env = pt_config_env(cfg), *dc = cfg->datacenter;
    char name[600];

    for (int i = 0; i < PT__L_NFILES; i++) {
        free(cfg->paths[i]);
        cfg->paths[i] = NULL;
    }
    if (cfg->bad_dir)
        dc = NULL;
    else
        cfg->paths[PT__L_COMMON] = join(cfg->config_dir, "common.json");
    if (dc) {
        snprintf(name, sizeof(name), "common.%s.json", dc);
        cfg->paths[PT__L_COMMON_DC] = join(cfg->config_dir, name);
        snprintf(name, sizeof(name), "%s.%s.json", env, dc);
        cfg->paths[PT__L_ENV_DC] = join(cfg->config_dir, name);
    }
    snprintf(name, sizeof(name), "%s.json", env);
    if (!cfg->bad_dir)
        cfg->paths[PT__L_ENV] = join(cfg->config_dir, name);
    if (strcmp(env, "production") == 0)
        snprintf(name, sizeof(name), "secrets/secrets.json");
    else
        snprintf(name, sizeof(name), "secrets/secrets-%s.json", env);
    if (!cfg->bad_dir)
        cfg->paths[PT__L_SECRETS] = join(cfg->config_dir, name);
    if (cfg->extra_file)
        cfg->paths[PT__L_EXTRA] = strdup(cfg->extra_file);
    int dir = !cfg->bad_dir;
    int want[PT__L_NFILES] = {dir, dc != NULL, dir, dir, dc != NULL, cfg->extra_file != NULL};
    for (int i = 0; i < PT__L_NFILES; i++)
        if (want[i] && cfg->paths[i] == NULL)
            return -ENOMEM;
    return 0;
}

int pt__config_read_files(pt_config *cfg, pt__clayer files[PT__L_NFILES], pt__cbuf *errs)
{
    int bad = 0;

    cfg->nfound = 0;
    for (int i = 0; i < PT__L_NFILES; i++) {
        const char *path = cfg->paths[i];
        char *text;
        size_t len;
        if (pt__clayer_init(&files[i], cfg->nkeys) < 0)
            return -ENOMEM;
        if (path == NULL)
            continue;
        int rc = pt__config_read_file(path, MAX_FILE, &text, &len);
        if (rc == -ENOENT && i != PT__L_EXTRA)
            continue; /* every file but --config's is optional */
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0) {
            pt__cbuf_printf(errs, "%s%s: cannot read it: %s\n", i == PT__L_EXTRA ? "--config=" : "",
                            path, rc == -EFBIG ? "larger than 16 MiB" : pt__config_file_error(rc));
            bad = 1;
            continue;
        }
        cfg->found[cfg->nfound++] = path;
        rc = pt__config_read_doc(cfg, text, len, path, &files[i], errs);
        free(text);
        if (rc == -ENOMEM)
            return rc;
        bad |= rc < 0;
    }
    return bad ? -EINVAL : 0;
}

int pt__config_check_required(pt_config *cfg, pt__cbuf *errs)
{
    int bad = 0;
    for (size_t i = 0; i < cfg->nkeys; i++) {
        const pt__ckey *k = cfg->keys[i];
        const pt__centry *w = pt__config_winner(cfg, i);
        if (!(k->flags & PT_CONFIG_REQUIRED) || (w && w->v.set))
            continue;
        pt__cbuf_printf(errs,
                        "required key %s has no value: set it in a file under %s/ or "
                        "pass --%s=%s\n",
                        k->name, cfg->config_dir, k->name, pt__ckey_metavar(k));
        bad = 1;
    }
    return bad ? -EINVAL : 0;
}

/* ---- the command line ----------------------------------------------------------------------- */

enum { DO_RUN, DO_HELP, DO_VERSION, DO_PRINT, DO_CHECK };

struct cmdline {
    int what;
    const char *env, *env_from; /* the environment's name and where it came from */
    const char *datacenter;
    const char *config_dir;
    const char *config_file;
};

/* A name for a file name: letters, digits, '_', '-' and inner dots are refused too, so that
 * "<env>.<dc>.json" splits one way. */
static int valid_word(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static int add_arg(pt_config *cfg, const char *a)
{
    char **args = realloc(cfg->args, (size_t)(cfg->nargs + 2) * sizeof(char *));
    if (args == NULL)
        return -ENOMEM;
    cfg->args = args;
    if ((args[cfg->nargs] = strdup(a)) == NULL)
        return -ENOMEM;
    args[++cfg->nargs] = NULL;
    return 0;
}

static const char *const informative[] = {"help", "version", "print-config", "check-config"};
static const char *const valued[] = {"env", "datacenter", "config-dir", "config"};

/* Reads argv into cmd and the flag layer. Problems go to errs. */
static int parse_argv(pt_config *cfg, int argc, char **argv, struct cmdline *cmd, pt__cbuf *errs)
{
    int bad = 0, rest = 0;
    char why[400];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a == NULL)
            break;
        if (rest || strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (!rest && strcmp(a, "--") == 0) {
                rest = 1;
                continue;
            }
            if (add_arg(cfg, a) < 0)
                return -ENOMEM;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const char *value = eq ? eq + 1 : NULL;
        int done = 0;
        for (int j = 0; j < 4 && !done; j++) {
            if (strlen(informative[j]) == len && strncmp(name, informative[j], len) == 0) {
                if (value) {
                    pt__cbuf_printf(errs, "%s: --%s takes no value\n", a, informative[j]);
                    bad = 1;
                } else if (cmd->what == DO_RUN || j < 2) {
                    /* --help and --version win over the others */
                    if (cmd->what == DO_RUN || cmd->what > DO_VERSION)
                        cmd->what = DO_HELP + j;
                }
                done = 1;
            } else if (strlen(valued[j]) == len && strncmp(name, valued[j], len) == 0) {
                if (value == NULL || *value == '\0') {
                    pt__cbuf_printf(errs, "--%s needs a value: --%s=%s\n", valued[j], valued[j],
                                    j == 2   ? "DIR"
                                    : j == 3 ? "FILE"
                                             : "NAME");
                    bad = 1;
                } else if (j == 0) {
                    cmd->env = value;
                    cmd->env_from = "--env";
                } else if (j == 1) {
                    cmd->datacenter = value;
                } else if (j == 2) {
                    cmd->config_dir = value;
                } else {
                    cmd->config_file = value;
                }
                done = 1;
            }
        }
        if (done)
            continue;
        pt__ckey *k = pt__config_find(cfg, name, len);
        const char *example = NULL;
        if (k == NULL && is_section(cfg, name, len, &example) > 0) {
            pt__cbuf_printf(errs,
                            "--%.*s is a section, not a key: its keys are set one by one, "
                            "as --%s=%s\n",
                            (int)len, name, example,
                            pt__ckey_metavar(pt__config_find(cfg, example, strlen(example))));
            bad = 1;
            continue;
        }
        if (k == NULL) {
            char *n = strndup(name, len);
            if (n == NULL)
                return -ENOMEM;
            const char *hint = pt__cfg_suggest(n, cfg->names, cfg->nkeys);
            pt__cbuf_printf(errs, "unknown flag --%s%s%s%s\n", n, hint ? " (did you mean --" : "",
                            hint ? hint : "", hint ? "?)" : "");
            free(n);
            bad = 1;
            continue;
        }
        if (value == NULL && k->type != PT_CONFIG_BOOL) {
            pt__cbuf_printf(errs, "--%s needs a value: --%s=%s\n", k->name, k->name,
                            pt__ckey_metavar(k));
            bad = 1;
            continue;
        }
        pt__centry *e = &cfg->flags.e[k->idx];
        pt__cval v;
        int rc = pt__cval_from_text(k, value ? value : "true", &v, why, sizeof(why));
        if (rc == -ENOMEM)
            return rc;
        if (rc < 0) {
            if (k->flags & PT_CONFIG_SECRET)
                pt__cbuf_printf(errs, "--%s=<redacted>: %s\n", k->name, why);
            else if (!pt__cutf8_valid(a))
                pt__cbuf_printf(errs, "--%s: %s\n", k->name, why);
            else
                pt__cbuf_printf(errs, "%s: %s\n", a, why);
            bad = 1;
            continue;
        }
        pt__centry_free(e); /* a flag given twice: the last one wins */
        e->v = v;
        e->present = 1;
        if ((e->origin = malloc(len + 3)) == NULL)
            return -ENOMEM;
        snprintf(e->origin, len + 3, "--%s", k->name);
    }
    return bad ? -EINVAL : 0;
}

const char *pt__config_datacenter_file(const pt_config *cfg)
{
    const char *f = cfg->datacenter_file;
    if (f == NULL && (f = getenv("POTTER_DATACENTER_FILE")) != NULL && *f == '\0')
        f = NULL;
    return f ? f : "/etc/datacenter";
}

/* The environment and the datacenter, checked. */
static int settle_env(pt_config *cfg, struct cmdline *cmd, pt__cbuf *errs)
{
    const char *env = cmd->env, *from = cmd->env_from;
    int bad = 0;

    if (env == NULL && cfg->env) {
        env = cfg->env;
        from = "the options";
    }
    if (env == NULL && (env = getenv("POTTER_ENV")) != NULL && *env)
        from = "POTTER_ENV";
    if (env == NULL || *env == '\0') {
        env = "development";
        from = "the default";
    }
    if (!valid_word(env)) {
        pt__cbuf_printf(errs,
                        "environment \"%s\" (from %s) is not a valid name: expected "
                        "letters, digits, '_' or '-'\n",
                        env, from);
        bad = 1;
    }
    char *e = strdup(env);
    if (e == NULL)
        return -ENOMEM;
    free(cfg->env); /* env may point into it */
    cfg->env = e;
    env = e;

    const char *dcfile = pt__config_datacenter_file(cfg);
    char *dc = NULL;
    if (cmd->datacenter) {
        if (!valid_word(cmd->datacenter)) {
            pt__cbuf_printf(errs,
                            "--datacenter=%s: expected a name of letters, digits, '_' or "
                            "'-'\n",
                            cmd->datacenter);
            bad = 1;
        } else if ((dc = strdup(cmd->datacenter)) == NULL) {
            return -ENOMEM;
        }
    } else {
        char *text;
        size_t len;
        int rc = pt__config_read_file(dcfile, 4096, &text, &len);
        if (rc == 0) {
            size_t n = strcspn(text, "\r\n"); /* the first line, spaces around it removed */
            size_t s = 0;
            while (s < n && (text[s] == ' ' || text[s] == '\t'))
                s++;
            while (n > s && (text[n - 1] == ' ' || text[n - 1] == '\t'))
                n--;
            if (memchr(text, '\0', len) == NULL && n > s) {
                dc = strndup(text + s, n - s);
                if (dc && !valid_word(dc)) {
                    pt__cbuf_printf(errs,
                                    "%s:1: expected a datacenter name of letters, digits, "
                                    "'_' or '-', found \"%s\"\n",
                                    dcfile, dc);
                    bad = 1;
                }
            }
            free(text);
        } else if (rc != -ENOENT) {
            pt__cbuf_printf(errs, "%s: cannot read the datacenter: %s\n", dcfile,
                            pt__config_file_error(rc));
            bad = 1;
        }
    }
    free(cfg->datacenter);
    cfg->datacenter = dc;
    if (dc == NULL && strcmp(env, "production") == 0 && !bad) {
        pt__cbuf_printf(errs,
                        "the production environment needs a datacenter: pass "
                        "--datacenter=NAME or write it to %s\n",
                        dcfile);
        bad = 1;
    }
    if (cmd->config_dir) {
        struct stat st;
        if (stat(cmd->config_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
            cfg->bad_dir = 1; /* its files are not looked for */
            pt__cbuf_printf(errs, "--config-dir=%s: %s\n", cmd->config_dir,
                            stat(cmd->config_dir, &st) < 0 ? pt_strerror(-errno)
                                                           : "not a directory");
            bad = 1;
        }
        char *d = strdup(cmd->config_dir);
        if (d == NULL)
            return -ENOMEM;
        free(cfg->config_dir);
        cfg->config_dir = d;
    }
    if (cmd->config_file && (cfg->extra_file = strdup(cmd->config_file)) == NULL)
        return -ENOMEM;
    return bad ? -EINVAL : 0;
}

/* ---- load ----------------------------------------------------------------------------------- */

static void print_errors(pt_config *cfg, const pt__cbuf *errs)
{
    const char *p = errs->p ? errs->p : "";
    while (*p) {
        size_t n = strcspn(p, "\n");
        fprintf(cfg->err, "%s: %.*s\n", cfg->service, (int)n, p);
        p += n + (p[n] == '\n');
    }
    fflush(cfg->err);
}

/* Records errs, without its last newline, as the failure. */
static void fail_with(pt_config *cfg, pt__cbuf *errs)
{
    if (errs->len > 0 && errs->p[errs->len - 1] == '\n')
        errs->p[--errs->len] = '\0';
    pt__config_fail(cfg, errs->oom ? NULL : errs->p);
}

int pt_config_load(pt_config *cfg, int argc, char **argv)
{
    struct cmdline cmd = {DO_RUN, NULL, NULL, NULL, NULL, NULL};
    pt__cbuf errs = {0};
    int rc;

    if (cfg == NULL)
        return -EINVAL;
    if (cfg->load_called) {
        pt__config_fail(cfg, "pt_config_load() was called already");
        return -EBUSY;
    }
    cfg->load_called = 1;
    if (pt__clayer_init(&cfg->flags, cfg->nkeys) < 0 || pt__clayer_init(&cfg->over, cfg->nkeys) < 0)
        return -ENOMEM;
    rc = parse_argv(cfg, argc, argv, &cmd, &errs);
    if (rc == -ENOMEM)
        goto out;
    if (cmd.what == DO_HELP || cmd.what == DO_VERSION) {
        if (cmd.what == DO_HELP)
            pt_config_help(cfg, cfg->out);
        else
            fprintf(cfg->out, "%s %s (potter %s, build %s)\n", cfg->service, cfg->version,
                    pt_version_string(), *pt_build_id() ? pt_build_id() : "unknown");
        fflush(cfg->out);
        rc = PT_CONFIG_DONE;
        goto out;
    }
    int bad = rc < 0;
    rc = settle_env(cfg, &cmd, &errs);
    if (rc == -ENOMEM)
        goto out;
    bad |= rc < 0;
    if ((rc = make_paths(cfg)) < 0)
        goto out;
    rc = pt__config_read_files(cfg, cfg->files, &errs);
    if (rc == -ENOMEM)
        goto out;
    bad |= rc < 0;
    if (!bad)
        bad |= pt__config_check_required(cfg, &errs) < 0;
    if (bad) {
        print_errors(cfg, &errs);
        fail_with(cfg, &errs);
        rc = -EINVAL;
        goto out;
    }
    pthread_mutex_lock(&cfg->lock);
    rc = pt__config_publish(cfg);
    pthread_mutex_unlock(&cfg->lock);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < cfg->nkeys; i++) {
        pt__ckey *k = cfg->keys[i];
        const char *s = cfg->cur->v[i].str;
        if ((k->flags & PT_CONFIG_FIXED) && k->type == PT_CONFIG_STRING && s &&
            (k->fixed_str = strdup(s)) == NULL) {
            rc = -ENOMEM;
            goto out;
        }
    }
    cfg->loaded = 1;
    if (cmd.what == DO_PRINT) {
        char *dump = pt_config_dump(cfg);
        if (dump == NULL) {
            rc = -ENOMEM;
            goto out;
        }
        fprintf(cfg->out, "%s\n", dump);
        free(dump);
        rc = PT_CONFIG_DONE;
    } else if (cmd.what == DO_CHECK) {
        fprintf(cfg->out, "%s: configuration OK (env %s, datacenter %s; ", cfg->service,
                pt_config_env(cfg), cfg->datacenter ? cfg->datacenter : "none");
        if (cfg->nfound == 0)
            fprintf(cfg->out, "no files in %s/)\n", cfg->config_dir);
        for (size_t i = 0; i < cfg->nfound; i++)
            fprintf(cfg->out, "%s%s", i ? ", " : "files: ", cfg->found[i]);
        if (cfg->nfound)
            fprintf(cfg->out, ")\n");
        rc = PT_CONFIG_DONE;
    }
    fflush(cfg->out);
out:
    if (rc == -ENOMEM)
        pt__config_fail(cfg, "out of memory");
    pt__cbuf_free(&errs);
    return rc;
}
