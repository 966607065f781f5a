/* main.c: potter's entry point: built-in commands, else exec the plugin potter-NAME.
 *
 *   potter                      the help page (exit 1, as git does: no command is a usage error)
 *   potter help [NAME]          the help page, or one command's usage
 *   potter plugin list|dirs|install [--force] FILE
 *   potter version              also --version
 *   potter NAME ARGS...         exec potter-NAME ARGS... (see plugins.c for the lookup order)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "potter/version.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define VERSION_STRING STR(PT_VERSION_MAJOR) "." STR(PT_VERSION_MINOR) "." STR(PT_VERSION_PATCH)

static int cmd_version(int argc, char **argv)
{
    if (argc > 1) {
        error_msg("version takes no arguments");
        return EXIT_ERROR;
    }
    printf("potter version %s\n", VERSION_STRING);
    return EXIT_OK;
}

const struct builtin builtins[] = {
    {"help", "Show this page, or one command's full usage",
     "usage: potter help [<command>]\n"
     "\n"
     "Without a command, list every command: the built-in ones, then each plugin with the\n"
     "summary it gives for --describe. With one, show that command's full usage.\n"
     "Also: potter --help, potter -h.\n",
     cmd_help},
    {"plugin", "List, locate and install plugins",
     "usage: potter plugin list\n"
     "       potter plugin dirs\n"
     "       potter plugin install [--force] <file>\n"
     "\n"
     "  list     every potter-<name> found, in lookup order, with its source (libexec,\n"
     "           POTTER_PLUGIN_PATH, user, PATH) and path; warns about shadowed plugins\n"
     "  dirs     the folders potter searches, in lookup order\n"
     "  install  copy an executable named potter-<name> into your plugin folder,\n"
     "           ${XDG_DATA_HOME:-~/.local/share}/potter/plugins, with mode 0755;\n"
     "           --force (-f) replaces one already there\n",
     cmd_plugin},
    {"version", "Print potter's version",
     "usage: potter version\n"
     "\n"
     "Print potter's version. Also: potter --version.\n",
     cmd_version},
};
const size_t builtin_count = sizeof builtins / sizeof builtins[0];

const struct builtin *builtin_find(const char *name)
{
    for (size_t i = 0; i < builtin_count; i++)
        if (strcmp(builtins[i].name, name) == 0)
            return &builtins[i];
    return NULL;
}

/* With fd 0, 1 or 2 closed, a pipe created later could take its number and a plugin's
 * output would land in the wrong place; occupy them with /dev/null (git does the same). */
static void open_standard_fds(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0)
            continue;
        int null_fd = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (null_fd >= 0 && null_fd > 2)
            close(null_fd);
    }
}

/* Replaces potter with the plugin, so its exit status, signals, terminal and environment
 * are the plugin's own. Returns only on failure. */
static int run_plugin(const char *name, int argc, char **argv)
{
    char *path = plugin_find(name);
    if (!path)
        return unknown_command(name);
    char **args = xmalloc((size_t)(argc + 2) * sizeof *args);
    args[0] = path;
    for (int i = 0; i < argc; i++)
        args[i + 1] = argv[i];
    args[argc + 1] = NULL;
    fflush(NULL);
    execv(path, args);
    error_msg("cannot run %s: %s", path, strerror(errno));
    free(args);
    free(path);
    return EXIT_CANNOT_RUN;
}

int main(int argc, char **argv)
{
    open_standard_fds();
    if (argc < 2) {
        print_help_page();
        return EXIT_ERROR;
    }
    const char *command = argv[1];
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0)
        command = "help";
    else if (strcmp(command, "--version") == 0)
        command = "version";
    if (command[0] == '-') {
        error_msg("unknown option '%s'", command);
        fputs("usage: potter <command> [<args>...]; see 'potter help'\n", stderr);
        return EXIT_ERROR;
    }
    const struct builtin *b = builtin_find(command);
    if (b)
        return b->run(argc - 1, argv + 1);
    return run_plugin(command, argc - 2, argv + 2);
}
