/* help.c: the help page, assembled from the plugins' own descriptions, and the message for
 * a command that does not exist. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define NAME_COLUMN_MIN 8
#define NAME_COLUMN_MAX 24

/* The plugins `potter NAME` would run: executable, not shadowed. Sorted by name. */
static const struct plugin **runnable_plugins(const struct plugin_set *set, size_t *n)
{
    const struct plugin **list = xmalloc((set->nplugins + 1) * sizeof *list);
    *n = 0;
    for (size_t i = 0; i < set->nplugins; i++)
        if (set->plugins[i].executable && set->plugins[i].shadowed_by == NOT_SHADOWED)
            list[(*n)++] = &set->plugins[i];
    return list;
}

static int by_plugin_name(const void *a, const void *b)
{
    return strcmp((*(const struct plugin *const *)a)->name,
                  (*(const struct plugin *const *)b)->name);
}

static int name_column(const struct plugin *const *plugins, size_t n)
{
    size_t width = NAME_COLUMN_MIN;
    for (size_t i = 0; i < builtin_count; i++)
        if (strlen(builtins[i].name) > width)
            width = strlen(builtins[i].name);
    for (size_t i = 0; i < n; i++)
        if (strlen(plugins[i]->name) > width)
            width = strlen(plugins[i]->name);
    return (int)(width > NAME_COLUMN_MAX ? NAME_COLUMN_MAX : width);
}

static void print_entry(int width, const char *name, const char *summary)
{
    char *safe_name = printable_copy(name, 0);
    if ((int)strlen(safe_name) > width)
        printf("  %s\n  %-*s  %s\n", safe_name, width, "", summary);
    else
        printf("  %-*s  %s\n", width, safe_name, summary);
    free(safe_name);
}

void print_help_page(void)
{
    struct plugin_set set;
    plugin_set_init(&set);
    plugin_set_scan(&set);
    size_t n;
    const struct plugin **plugins = runnable_plugins(&set, &n);
    qsort(plugins, n, sizeof *plugins, by_plugin_name);
    struct description *desc = xmalloc((n + 1) * sizeof *desc);
    describe_plugins(plugins, n, desc);

    int width = name_column(plugins, n);
    printf("usage: potter <command> [<args>...]\n\nBuilt-in commands:\n");
    for (size_t i = 0; i < builtin_count; i++)
        print_entry(width, builtins[i].name, builtins[i].summary);
    printf("\nPlugins:\n");
    if (n == 0)
        printf("  (none found; see 'potter plugin dirs' for where potter looks)\n");
    for (size_t i = 0; i < n; i++)
        print_entry(width, plugins[i]->name,
                    desc[i].error ? "(no description: its --describe failed, see below)"
                                  : desc[i].summary);
    printf("\nRun 'potter help <command>' for a command's full usage.\n");

    for (size_t i = 0; i < n; i++) {
        if (desc[i].error)
            warning_msg("%s: %s", plugins[i]->path, desc[i].error);
        else if (desc[i].note)
            warning_msg("%s: %s", plugins[i]->path, desc[i].note);
        description_free(&desc[i]);
    }
    free(desc);
    free(plugins);
    plugin_set_free(&set);
}

/* `potter help NAME` for a plugin: its usage, as it describes it. */
static int help_for_plugin(const char *name)
{
    char *path = plugin_find(name);
    if (!path)
        return unknown_command(name);

    struct plugin plugin = {.name = (char *)name, .path = path, .executable = 1};
    const struct plugin *one = &plugin;
    struct description d;
    describe_plugins(&one, 1, &d);
    int rc = EXIT_OK;
    if (d.error) {
        error_msg("cannot show help for '%s': %s: %s", name, path, d.error);
        rc = EXIT_ERROR;
    } else {
        size_t len = strlen(d.usage);
        printf("potter %s - %s\n\n%s%s", name, d.summary, d.usage,
               len && d.usage[len - 1] == '\n' ? "" : "\n");
        if (d.note)
            warning_msg("%s: %s", path, d.note);
    }
    description_free(&d);
    free(path);
    return rc;
}

int cmd_help(int argc, char **argv)
{
    if (argc == 1) {
        print_help_page();
        return EXIT_OK;
    }
    if (argc > 2) {
        error_msg("help takes at most one command name");
        fputs(builtin_find("help")->usage, stderr);
        return EXIT_ERROR;
    }
    const struct builtin *b = builtin_find(argv[1]);
    if (b) {
        fputs(b->usage, stdout);
        return EXIT_OK;
    }
    return help_for_plugin(argv[1]);
}

/* Edit distance counting a swap of neighbours as one edit (optimal string alignment), so
 * "hlep" is one step from "help". Names longer than 64 bytes are never "close". */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return (size_t)-1;
    size_t d[65][65];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

/* Close enough to suggest: a typo or two, or the start of the name. */
static int is_close(const char *typed, const char *name)
{
    size_t len = strlen(typed);
    size_t limit = len <= 4 ? 1 : 2;
    return edit_distance(typed, name) <= limit || (len >= 2 && strncmp(typed, name, len) == 0);
}

/* Every command name, built-ins first, each once. The caller frees the array only. */
static const char **command_names(const struct plugin_set *set, size_t *n)
{
    const char **names = xmalloc((builtin_count + set->nplugins + 1) * sizeof *names);
    *n = 0;
    for (size_t i = 0; i < builtin_count; i++)
        names[(*n)++] = builtins[i].name;
    for (size_t i = 0; i < set->nplugins; i++)
        if (set->plugins[i].executable && set->plugins[i].shadowed_by == NOT_SHADOWED)
            names[(*n)++] = set->plugins[i].name;
    return names;
}

/* A file name may hold anything but '/'; keep escape sequences off the terminal. */
static void print_name(FILE *f, const char *before, const char *name, const char *after)
{
    char *safe = printable_copy(name, 0);
    fprintf(f, "%s%s%s", before, safe, after);
    free(safe);
}

int unknown_command(const char *name)
{
    struct plugin_set set;
    plugin_set_init(&set);
    plugin_set_scan(&set);
    size_t n;
    const char **names = command_names(&set, &n);

    char *safe = printable_copy(name, 0);
    error_msg("'%s' is not a potter command. See 'potter help'.", safe);
    free(safe);
    size_t close_count = 0;
    for (size_t i = 0; i < n; i++)
        if (is_close(name, names[i]))
            close_count++;
    if (close_count) {
        fprintf(stderr, "\nThe most similar command%s\n", close_count > 1 ? "s are" : " is");
        for (size_t i = 0; i < n; i++)
            if (is_close(name, names[i]))
                print_name(stderr, "\t", names[i], "\n");
    }
    fprintf(stderr, "\nCommands:");
    for (size_t i = 0; i < n; i++)
        print_name(stderr, " ", names[i], "");
    fputc('\n', stderr);
    free(names);
    plugin_set_free(&set);
    return EXIT_ERROR;
}
