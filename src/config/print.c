/* What the configuration shows of itself: --help generated from the schema, and the
 * effective configuration with the origin of every value (--print-config, /config). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_internal.h"

#define FLAG_COLUMN 34

static void flag_line(FILE *out, const char *flag, const char *text)
{
    if (*text == '\0') {
        fprintf(out, "  %s\n", flag);
        return;
    }
    int n = fprintf(out, "  %s", flag);
    if (n >= FLAG_COLUMN)
        fprintf(out, "\n%*s", FLAG_COLUMN, "");
    else
        fprintf(out, "%*s", FLAG_COLUMN - n, "");
    fprintf(out, "%s\n", text);
}

void pt_config_help(const pt_config *cfg, FILE *out)
{
    pt__cbuf flag = {0}, text = {0};

    fprintf(out, "Usage: %s [FLAGS] [--] [ARGS]\n\n", cfg->service);
    if (cfg->nkeys > 0)
        fprintf(out, "Configuration (a flag overrides the files in %s/):\n", cfg->config_dir);
    for (size_t i = 0; i < cfg->nkeys; i++) {
        const pt__ckey *k = cfg->sorted[i];
        flag.len = text.len = 0;
        pt__cbuf_printf(&flag, "--%s=%s", k->name, pt__ckey_metavar(k));
        pt__cbuf_puts(&text, k->doc);
        const char *sep = *k->doc ? " (" : "(";
        if (k->def_text) {
            pt__cbuf_printf(&text, "%sdefault ", sep);
            if (k->flags & PT_CONFIG_SECRET)
                pt__cbuf_puts(&text, "<redacted>");
            else
                pt__cval_json(&text, k, &k->def, 0);
            sep = "; ";
        }
        if (k->range_text && k->type != PT_CONFIG_ENUM) {
            pt__cbuf_printf(&text, "%s%s", sep, k->range_text);
            sep = "; ";
        }
        static const struct {
            unsigned flag;
            const char *word;
        } words[] = {{PT_CONFIG_REQUIRED, "required"},
                     {PT_CONFIG_SECRET, "secret"},
                     {PT_CONFIG_FIXED, "fixed at start-up"}};
        for (size_t j = 0; j < 3; j++)
            if (k->flags & words[j].flag) {
                pt__cbuf_printf(&text, "%s%s", sep, words[j].word);
                sep = "; ";
            }
        if (strcmp(sep, "; ") == 0)
            pt__cbuf_puts(&text, ")");
        flag_line(out, flag.p ? flag.p : "", text.p ? text.p : "");
    }
    if (cfg->nkeys > 0)
        fprintf(out, "\n");
    fprintf(out, "General:\n");
    flag_line(out, "--env=NAME",
              "environment: development (the default), production, staging, "
              "test, ...; also $POTTER_ENV");
    pt__cbuf_free(&text);
    pt__cbuf_printf(&text, "datacenter (default: the first line of %s); production needs one",
                    pt__config_datacenter_file(cfg));
    flag_line(out, "--datacenter=NAME", text.p ? text.p : "");
    pt__cbuf_free(&text);
    pt__cbuf_printf(&text, "folder of the configuration files (default: %s)", cfg->config_dir);
    flag_line(out, "--config-dir=DIR", text.p ? text.p : "");
    flag_line(out, "--config=FILE", "one more file, read after the others");
    flag_line(out, "--print-config",
              "print the configuration and where each value came "
              "from, then exit");
    flag_line(out, "--check-config", "check the configuration: exit 0 if good, 78 if not");
    flag_line(out, "--version", "print the version and build id, then exit");
    flag_line(out, "--help", "print this help, then exit");
    fprintf(out, "\nFiles, lowest first: common.json, common.<datacenter>.json, <env>.json,\n"
                 "secrets/secrets.json (production) or secrets/secrets-<env>.json,\n"
                 "<env>.<datacenter>.json, --config=FILE; then flags, then runtime "
                 "overrides.\n");
    pt__cbuf_free(&flag);
    pt__cbuf_free(&text);
}

static void json_str_or_null(pt__cbuf *b, const char *s)
{
    if (s)
        pt__cbuf_json_str(b, s, strlen(s));
    else
        pt__cbuf_puts(b, "null");
}

/* `"value": ..., "origin": "..."` of key k in view v (secrets redacted). */
static void put_value_origin(pt__cbuf *b, const pt_config_view *v, const pt__ckey *k)
{
    const pt__csval *sv = &pt__config_view_state(v)->v[k->idx];
    pt__cbuf_puts(b, "\"value\": ");
    pt__csval_json(b, k, sv, 1);
    pt__cbuf_puts(b, ", \"origin\": ");
    pt__cbuf o = {0};
    pt__config_origin(&o, sv->origin, sv->expires_ns);
    json_str_or_null(b, o.oom ? sv->origin : o.p);
    pt__cbuf_free(&o);
}

char *pt_config_dump(pt_config *cfg)
{
    pt__cbuf b = {0};

    pt__cbuf_puts(&b, "{\n  \"service\": ");
    json_str_or_null(&b, cfg->service);
    pt__cbuf_puts(&b, ",\n  \"version\": ");
    json_str_or_null(&b, cfg->version);
    pt__cbuf_puts(&b, ",\n  \"env\": ");
    json_str_or_null(&b, pt_config_env(cfg));
    pt__cbuf_puts(&b, ",\n  \"datacenter\": ");
    json_str_or_null(&b, cfg->datacenter);
    pt__cbuf_puts(&b, ",\n  \"files\": [");
    pthread_mutex_lock(&cfg->lock); /* the list of files changes on reload */
    for (size_t i = 0; i < cfg->nfound; i++) {
        pt__cbuf_puts(&b, i ? ", " : "");
        json_str_or_null(&b, cfg->found[i]);
    }
    pthread_mutex_unlock(&cfg->lock);
    pt__cbuf_puts(&b, "],\n  \"keys\": {");
    const pt_config_view *v = pt_config_view_begin(cfg);
    for (size_t i = 0; i < cfg->nkeys; i++) {
        const pt__ckey *k = cfg->sorted[i];
        pt__cbuf_puts(&b, i ? ",\n    " : "\n    ");
        pt__cbuf_json_str(&b, k->name, strlen(k->name));
        pt__cbuf_puts(&b, ": {");
        put_value_origin(&b, v, k);
        pt__cbuf_puts(&b, "}");
    }
    pt_config_view_end(v);
    pt__cbuf_puts(&b, cfg->nkeys ? "\n  }\n}" : "}\n}");
    return pt__cbuf_take(&b);
}

char *pt_config_explain(pt_config *cfg, const char *name)
{
    const pt__ckey *k = name ? pt__config_find(cfg, name, strlen(name)) : NULL;
    if (k == NULL)
        return NULL;
    pt__cbuf b = {0};
    pt__cbuf_puts(&b, "{\"key\": ");
    pt__cbuf_json_str(&b, k->name, strlen(k->name));
    pt__cbuf_puts(&b, ", \"type\": ");
    json_str_or_null(&b, pt__config_type_name(k->type));
    const pt_config_view *v = pt_config_view_begin(cfg);
    pt__cbuf_puts(&b, ", ");
    put_value_origin(&b, v, k);
    pt_config_view_end(v);
    pt__cbuf_puts(&b, ", \"default\": ");
    json_str_or_null(&b, (k->flags & PT_CONFIG_SECRET) && k->def_text ? "<redacted>" : k->def_text);
    pt__cbuf_puts(&b, ", \"range\": ");
    json_str_or_null(&b, k->range_text);
    pt__cbuf_puts(&b, ", \"doc\": ");
    json_str_or_null(&b, k->doc);
    pt__cbuf_puts(&b, (k->flags & PT_CONFIG_FIXED) ? ", \"runtime\": false" : ", \"runtime\": true");
    pt__cbuf_puts(&b, (k->flags & PT_CONFIG_SECRET) ? ", \"secret\": true}" : ", \"secret\": false}");
    return pt__cbuf_take(&b);
}
