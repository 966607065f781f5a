/* plugins.c: where plugins are looked for, and what is found there.
 *
 * Lookup order: potter's libexec folder, each folder of $POTTER_PLUGIN_PATH, the user's
 * plugin folder, each folder of $PATH. The first executable potter-NAME wins; later ones of
 * the same name are shadowed.
 */
#include <dirent.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#ifndef PT_CLI_LIBEXEC_REL
#define PT_CLI_LIBEXEC_REL "../libexec/potter" /* set by cli/CMakeLists.txt from GNUInstallDirs */
#endif

static const char *const source_names[] = {
    [SOURCE_LIBEXEC] = "libexec",
    [SOURCE_PLUGIN_PATH] = "POTTER_PLUGIN_PATH",
    [SOURCE_USER] = "user",
    [SOURCE_PATH] = "PATH",
};

const char *plugin_source_name(enum plugin_source source)
{
    return source_names[source];
}

/* Appends a folder unless it is one already listed: a folder on both $POTTER_PLUGIN_PATH and
 * $PATH must not report its plugins as shadowing themselves. */
static void add_dir(struct plugin_set *set, char *path, enum plugin_source source)
{
    struct stat st;
    int exists = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    for (size_t i = 0; exists && i < set->ndirs; i++) {
        struct stat seen;
        if (set->dirs[i].exists && stat(set->dirs[i].path, &seen) == 0 &&
            seen.st_dev == st.st_dev && seen.st_ino == st.st_ino) {
            free(path);
            return;
        }
    }
    set->dirs = xrealloc(set->dirs, (set->ndirs + 1) * sizeof *set->dirs);
    set->dirs[set->ndirs++] = (struct plugin_dir){.path = path, .source = source, .exists = exists};
}

/* Adds each folder of a colon-separated list. Empty entries are skipped rather than read as
 * the current folder (as old shells do): running whatever potter-x sits in the working
 * folder would be a trap. */
static void add_dir_list(struct plugin_set *set, const char *list, enum plugin_source source)
{
    if (!list)
        return;
    while (*list) {
        size_t len = strcspn(list, ":");
        if (len > 0)
            add_dir(set, xasprintf("%.*s", (int)len, list), source);
        list += len;
        if (*list == ':')
            list++;
    }
}

/* <folder of the potter binary>/PT_CLI_LIBEXEC_REL, made canonical when it exists. The same
 * relative path serves the installed layout (<prefix>/bin -> <prefix>/libexec/potter) and the
 * build tree (build/cli/potter -> build/libexec/potter). */
static char *libexec_dir(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    char *joined = PT_CLI_LIBEXEC_REL[0] == '/' ? xstrdup(PT_CLI_LIBEXEC_REL)
                                                : xasprintf("%s/%s", exe, PT_CLI_LIBEXEC_REL);
    char *real = realpath(joined, NULL);
    if (!real)
        return joined;
    free(joined);
    return real;
}

char *user_plugin_dir(void)
{
    /* The XDG spec says a relative XDG_DATA_HOME is invalid and must be ignored. */
    const char *data_home = getenv("XDG_DATA_HOME");
    if (data_home && data_home[0] == '/')
        return xasprintf("%s/potter/plugins", data_home);
    const char *home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home || !*home)
        return NULL;
    return xasprintf("%s/.local/share/potter/plugins", home);
}

void plugin_set_init(struct plugin_set *set)
{
    *set = (struct plugin_set){0};
    char *dir = libexec_dir();
    if (dir)
        add_dir(set, dir, SOURCE_LIBEXEC);
    add_dir_list(set, getenv("POTTER_PLUGIN_PATH"), SOURCE_PLUGIN_PATH);
    dir = user_plugin_dir();
    if (dir)
        add_dir(set, dir, SOURCE_USER);
    add_dir_list(set, getenv("PATH"), SOURCE_PATH);
}

static int is_plugin_file_name(const char *name)
{
    return strncmp(name, PLUGIN_PREFIX, PLUGIN_PREFIX_LEN) == 0 && name[PLUGIN_PREFIX_LEN] != '\0';
}

/* A regular file (after following symlinks) that we may execute. */
static int is_runnable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

char *plugin_lookup(const struct plugin_set *set, const char *name)
{
    if (!*name || strchr(name, '/'))
        return NULL;
    for (size_t i = 0; i < set->ndirs; i++) {
        if (!set->dirs[i].exists)
            continue;
        char *path = xasprintf("%s/" PLUGIN_PREFIX "%s", set->dirs[i].path, name);
        if (is_runnable(path))
            return path;
        free(path);
    }
    return NULL;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct plugin *)a)->name, ((const struct plugin *)b)->name);
}

/* True when path is the very file of a plugin already found (a symlink from one PATH folder
 * to another, say): that is one plugin, not one shadowing another. */
static int already_found(const struct plugin_set *set, const struct stat *st)
{
    for (size_t i = 0; i < set->nplugins; i++) {
        struct stat seen;
        if (stat(set->plugins[i].path, &seen) == 0 && seen.st_dev == st->st_dev &&
            seen.st_ino == st->st_ino)
            return 1;
    }
    return 0;
}

static void scan_dir(struct plugin_set *set, const struct plugin_dir *dir)
{
    DIR *d = opendir(dir->path);
    if (!d)
        return;
    size_t first = set->nplugins;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_plugin_file_name(e->d_name))
            continue;
        char *path = xasprintf("%s/%s", dir->path, e->d_name);
        struct stat st;
        /* Folders and dangling links named potter-* are not plugins. */
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || already_found(set, &st)) {
            free(path);
            continue;
        }
        set->plugins = xrealloc(set->plugins, (set->nplugins + 1) * sizeof *set->plugins);
        set->plugins[set->nplugins++] = (struct plugin){
            .name = xstrdup(e->d_name + PLUGIN_PREFIX_LEN),
            .path = path,
            .source = dir->source,
            .executable = access(path, X_OK) == 0,
            .shadowed_by = NOT_SHADOWED,
        };
    }
    closedir(d);
    if (set->nplugins - first > 1) /* set->plugins may still be NULL, which qsort must not get */
        qsort(set->plugins + first, set->nplugins - first, sizeof *set->plugins, by_name);
}

/* A built-in command always wins; otherwise the first executable of the name does. */
static void mark_shadowed(struct plugin_set *set)
{
    for (size_t i = 0; i < set->nplugins; i++) {
        struct plugin *p = &set->plugins[i];
        if (!p->executable)
            continue;
        if (builtin_find(p->name)) {
            p->shadowed_by = SHADOWED_BY_BUILTIN;
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            if (set->plugins[j].executable && strcmp(set->plugins[j].name, p->name) == 0) {
                p->shadowed_by = (int)j;
                break;
            }
        }
    }
}

void plugin_set_scan(struct plugin_set *set)
{
    for (size_t i = 0; i < set->ndirs; i++)
        if (set->dirs[i].exists)
            scan_dir(set, &set->dirs[i]);
    mark_shadowed(set);
}

void plugin_set_free(struct plugin_set *set)
{
    for (size_t i = 0; i < set->ndirs; i++)
        free(set->dirs[i].path);
    for (size_t i = 0; i < set->nplugins; i++) {
        free(set->plugins[i].name);
        free(set->plugins[i].path);
    }
    free(set->dirs);
    free(set->plugins);
    *set = (struct plugin_set){0};
}

char *plugin_find(const char *name)
{
    struct plugin_set set;
    plugin_set_init(&set);
    char *path = plugin_lookup(&set, name);
    plugin_set_free(&set);
    return path;
}
