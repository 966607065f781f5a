/* plugin_cmd.c: `potter plugin list|dirs|install`. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* After an error message: the usage, and the exit code for a usage error. */
static int plugin_usage(void)
{
    fputs(builtin_find("plugin")->usage, stderr);
    return EXIT_ERROR;
}

/* ---- list ------------------------------------------------------------------------------ */

static const char *status_of(const struct plugin *p)
{
    if (!p->executable)
        return "  (not executable)";
    if (p->shadowed_by == SHADOWED_BY_BUILTIN)
        return "  (shadowed by a built-in)";
    if (p->shadowed_by != NOT_SHADOWED)
        return "  (shadowed)";
    return "";
}

static void warn_about(const struct plugin_set *set, const struct plugin *p)
{
    if (!p->executable)
        warning_msg("%s is not executable, so 'potter %s' ignores it", p->path, p->name);
    else if (p->shadowed_by == SHADOWED_BY_BUILTIN)
        warning_msg("%s is shadowed by the built-in command '%s' and never runs", p->path, p->name);
    else if (p->shadowed_by != NOT_SHADOWED)
        warning_msg(
            "%s is shadowed by %s, found earlier in the lookup order; 'potter %s' runs that one",
            p->path, set->plugins[p->shadowed_by].path, p->name);
}

static int plugin_list(void)
{
    struct plugin_set set;
    plugin_set_init(&set);
    plugin_set_scan(&set);
    if (set.nplugins == 0) {
        printf("No plugins found. 'potter plugin dirs' shows where potter looks.\n");
        plugin_set_free(&set);
        return EXIT_OK;
    }
    int width = 4;
    for (size_t i = 0; i < set.nplugins; i++)
        if ((int)strlen(set.plugins[i].name) > width)
            width = (int)strlen(set.plugins[i].name);
    printf("%-*s  %-18s  %s\n", width, "NAME", "SOURCE", "PATH");
    for (size_t i = 0; i < set.nplugins; i++) {
        const struct plugin *p = &set.plugins[i];
        char *name = printable_copy(p->name, 0), *path = printable_copy(p->path, 0);
        printf("%-*s  %-18s  %s%s\n", width, name, plugin_source_name(p->source), path,
               status_of(p));
        free(name);
        free(path);
    }
    for (size_t i = 0; i < set.nplugins; i++)
        warn_about(&set, &set.plugins[i]);
    plugin_set_free(&set);
    return EXIT_OK;
}

static int plugin_dirs(void)
{
    struct plugin_set set;
    plugin_set_init(&set);
    for (size_t i = 0; i < set.ndirs; i++)
        printf("%-18s  %s%s\n", plugin_source_name(set.dirs[i].source), set.dirs[i].path,
               set.dirs[i].exists ? "" : "  (missing)");
    plugin_set_free(&set);
    return EXIT_OK;
}

/* ---- install --------------------------------------------------------------------------- */

/* mkdir -p with mode 0755 for each folder it creates. */
static int make_dirs(const char *path)
{
    char *copy = xstrdup(path);
    int rc = 0;
    for (char *p = copy + 1; rc == 0; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(copy, 0755) < 0 && errno != EEXIST)
            rc = -errno;
        *p = saved;
        if (saved == '\0')
            break;
    }
    struct stat st;
    if (rc == 0 && (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)))
        rc = -ENOTDIR;
    free(copy);
    return rc;
}

static int copy_fd(int from, int to)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(from, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : 0;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(to, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return -errno;
            done += w;
        }
    }
}

/* Writes a 0755 copy of src to a temporary file in dir; returns its path or NULL. */
static char *copy_to_temp(const char *src, const char *dir, const char *base)
{
    char *tmp = xasprintf("%s/.%s.XXXXXX", dir, base);
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        error_msg("cannot read %s: %s", src, strerror(errno));
        free(tmp);
        return NULL;
    }
    int out = mkostemp(tmp, O_CLOEXEC);
    if (out < 0) {
        error_msg("cannot create a file in %s: %s", dir, strerror(errno));
        close(in);
        free(tmp);
        return NULL;
    }
    /* fchmod, not the umask-filtered open mode: the plugin must end up 0755 exactly. */
    int rc = copy_fd(in, out);
    if (rc == 0 && fchmod(out, 0755) < 0)
        rc = -errno;
    if (rc == 0 && fsync(out) < 0)
        rc = -errno;
    if (close(out) < 0 && rc == 0)
        rc = -errno;
    close(in);
    if (rc < 0) {
        error_msg("cannot copy %s to %s: %s", src, dir, strerror(-rc));
        unlink(tmp);
        free(tmp);
        return NULL;
    }
    return tmp;
}

/* Moves tmp to dest in one step. Without force, link() rather than rename() so that a
 * plugin installed meanwhile by someone else is not silently replaced. */
static int put_in_place(const char *tmp, const char *dest, int force)
{
    int rc = 0;
    if (force) {
        if (rename(tmp, dest) < 0)
            rc = -errno;
    } else if (link(tmp, dest) < 0) {
        rc = -errno;
        /* Some file systems have no hard links; fall back to check-then-rename. */
        if (rc != -EEXIST && access(dest, F_OK) != 0)
            rc = rename(tmp, dest) < 0 ? -errno : 0;
    }
    unlink(tmp); /* after link(), or after a failed rename(); harmless after a rename() */
    return rc;
}

/* Checks that src can be a plugin: an executable regular file named potter-NAME. */
static int check_installable(const char *src, const char *base)
{
    struct stat st;
    if (stat(src, &st) < 0) {
        error_msg("cannot install %s: %s", src, strerror(errno));
        return -1;
    }
    const char *name = base + PLUGIN_PREFIX_LEN;
    if (!S_ISREG(st.st_mode))
        error_msg("refusing to install %s: not a regular file", src);
    else if (!(st.st_mode & 0111) || access(src, X_OK) != 0)
        error_msg("refusing to install %s: not executable (chmod +x it first)", src);
    else if (strncmp(base, PLUGIN_PREFIX, PLUGIN_PREFIX_LEN) != 0 || !*name)
        error_msg("refusing to install %s: a plugin's file name must be potter-<name>", src);
    else if (name[0] == '-')
        error_msg("refusing to install %s: 'potter %s' would read as an option", src, name);
    else if (builtin_find(name))
        error_msg("refusing to install %s: '%s' is a built-in command, so it would never run", src,
                  name);
    else
        return 0;
    return -1;
}

/* After an install: say so if `potter NAME` will still run another copy. */
static void warn_if_shadowed(const char *name, const char *dest)
{
    struct plugin_set set;
    plugin_set_init(&set);
    char *runs = plugin_lookup(&set, name);
    plugin_set_free(&set);
    char *real_dest = realpath(dest, NULL), *real_runs = runs ? realpath(runs, NULL) : NULL;
    if (runs && real_dest && real_runs && strcmp(real_dest, real_runs) != 0)
        warning_msg("'potter %s' will still run %s, found earlier in the lookup order", name, runs);
    free(real_dest);
    free(real_runs);
    free(runs);
}

/* Runs --describe on the new copy so a broken plugin is reported now, not at `potter help`. */
static void warn_if_undescribable(const char *name, const char *dest)
{
    struct plugin plugin = {.name = (char *)name, .path = (char *)dest, .executable = 1};
    const struct plugin *one = &plugin;
    struct description d;
    describe_plugins(&one, 1, &d);
    if (d.error)
        warning_msg("%s: %s; 'potter help' will not describe it", dest, d.error);
    description_free(&d);
}

static int plugin_install(const char *src, int force)
{
    char *src_copy = xstrdup(src);
    const char *base = basename(src_copy);
    int rc = EXIT_ERROR;
    char *dir = NULL, *dest = NULL, *tmp = NULL;
    if (check_installable(src, base) < 0)
        goto out;
    dir = user_plugin_dir();
    if (!dir) {
        error_msg("cannot find your plugin folder: neither XDG_DATA_HOME nor HOME is set");
        goto out;
    }
    int err = make_dirs(dir);
    if (err < 0) {
        error_msg("cannot create %s: %s", dir, strerror(-err));
        goto out;
    }
    dest = xasprintf("%s/%s", dir, base);
    if (!force && access(dest, F_OK) == 0) {
        error_msg("%s is already installed; use --force to replace it", dest);
        goto out;
    }
    tmp = copy_to_temp(src, dir, base);
    if (!tmp)
        goto out;
    err = put_in_place(tmp, dest, force);
    if (err == -EEXIST)
        error_msg("%s is already installed; use --force to replace it", dest);
    else if (err < 0)
        error_msg("cannot install %s as %s: %s", src, dest, strerror(-err));
    if (err < 0)
        goto out;
    printf("Installed %s\n", dest);
    warn_if_shadowed(base + PLUGIN_PREFIX_LEN, dest);
    warn_if_undescribable(base + PLUGIN_PREFIX_LEN, dest);
    rc = EXIT_OK;
out:
    free(tmp);
    free(dest);
    free(dir);
    free(src_copy);
    return rc;
}

static int plugin_install_args(int argc, char **argv)
{
    int force = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        if (strcmp(argv[i], "--force") != 0 && strcmp(argv[i], "-f") != 0) {
            error_msg("plugin install: unknown option '%s'", argv[i]);
            return plugin_usage();
        }
        force = 1;
    }
    if (argc - i != 1) {
        error_msg("plugin install takes one file, got %d", argc - i);
        return plugin_usage();
    }
    return plugin_install(argv[i], force);
}

/* ---- dispatch -------------------------------------------------------------------------- */

int cmd_plugin(int argc, char **argv)
{
    if (argc < 2) {
        error_msg("plugin needs a subcommand");
        return plugin_usage();
    }
    const char *sub = argv[1];
    if (strcmp(sub, "install") == 0)
        return plugin_install_args(argc - 1, argv + 1);
    if (argc > 2) {
        error_msg("plugin %s takes no arguments", sub);
        return plugin_usage();
    }
    if (strcmp(sub, "list") == 0)
        return plugin_list();
    if (strcmp(sub, "dirs") == 0)
        return plugin_dirs();
    error_msg("'%s' is not a plugin subcommand", sub);
    return plugin_usage();
}
