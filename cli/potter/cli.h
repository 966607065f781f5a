/* cli.h: what the files of the potter tool share.
 *
 * potter is a plugin host in the style of git and kubectl: `potter NAME ARGS...` execs the
 * first executable named potter-NAME found in its libexec folder, $POTTER_PLUGIN_PATH, the
 * user's plugin folder, then PATH. A few commands (help, plugin, version) are built in.
 *
 * These are the tool's internal names, not libpotter's API: no pt_ prefix. On allocation
 * failure the x* helpers print a message and exit, which is what a short-lived command wants.
 */
#ifndef POTTER_CLI_H
#define POTTER_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PLUGIN_PREFIX "potter-"
#define PLUGIN_PREFIX_LEN (sizeof PLUGIN_PREFIX - 1)

/* ---- exit codes (documented in docs/potter-tool.md) ---------------------------------- */
#define EXIT_OK 0
#define EXIT_ERROR 1 /* unknown command, bad usage, a built-in command failed */
#define EXIT_CANNOT_RUN 126 /* the plugin was found but exec failed */

/* ---- built-in commands (main.c) ------------------------------------------------------- */
struct builtin {
    const char *name;
    const char *summary; /* one line for the help page */
    const char *usage; /* the full text of `potter help NAME` */
    int (*run)(int argc, char **argv); /* argv[0] is the command's name */
};

extern const struct builtin builtins[];
extern const size_t builtin_count;

/* The built-in command called name, or NULL. */
const struct builtin *builtin_find(const char *name);

/* ---- plugin folders and plugins (plugins.c) ------------------------------------------- */

/* Where a folder came from; the order of the values is the lookup order. */
enum plugin_source { SOURCE_LIBEXEC, SOURCE_PLUGIN_PATH, SOURCE_USER, SOURCE_PATH };

struct plugin_dir {
    char *path;
    enum plugin_source source;
    int exists; /* a folder that is missing is kept so `potter plugin dirs` can show it */
};

/* shadowed_by values besides the index of an earlier plugin of the same name. */
#define NOT_SHADOWED (-1)
#define SHADOWED_BY_BUILTIN (-2)

struct plugin {
    char *name; /* "foo" for potter-foo */
    char *path; /* folder + "/potter-foo" */
    enum plugin_source source;
    int executable; /* a non-executable potter-foo is listed (with a warning), never run */
    int shadowed_by; /* NOT_SHADOWED, SHADOWED_BY_BUILTIN, or an index into plugins */
};

struct plugin_set {
    struct plugin_dir *dirs; /* in lookup order */
    size_t ndirs;
    struct plugin *plugins; /* in lookup order; by name within one folder */
    size_t nplugins;
};

/* Fills set->dirs from /proc/self/exe, $POTTER_PLUGIN_PATH, $XDG_DATA_HOME or $HOME, and
 * $PATH. Folders listed twice (same device and inode) are kept once, at their first place. */
void plugin_set_init(struct plugin_set *set);

/* Fills set->plugins by reading every folder, and marks which ones are shadowed. */
void plugin_set_scan(struct plugin_set *set);

void plugin_set_free(struct plugin_set *set);

/* The path of the executable that `potter name` runs, or NULL; the caller frees it.
 * Reads only as many folders as it must, so running a plugin stays cheap. */
char *plugin_lookup(const struct plugin_set *set, const char *name);
/* The same in the folders of the lookup order, read afresh (NULL if none; caller frees). */
char *plugin_find(const char *name);

/* "libexec", "POTTER_PLUGIN_PATH", "user" or "PATH". */
const char *plugin_source_name(enum plugin_source source);

/* ${XDG_DATA_HOME:-$HOME/.local/share}/potter/plugins, or NULL when no home is known.
 * The caller frees it. */
char *user_plugin_dir(void);

/* ---- --describe (describe.c) ---------------------------------------------------------- */

struct description {
    char *summary; /* one line, control characters replaced */
    char *usage; /* may span lines */
    char *error; /* what went wrong, or NULL; then summary and usage are NULL */
    char *note; /* a lesser problem worth a warning (say, a different "name"), or NULL */
};

/* Runs `path --describe` for each plugin at once, each with stdin from /dev/null, under one
 * 2 s deadline and a 64 KiB output limit, and parses the JSON each prints. Every child is
 * reaped (killed with its process group first, if it overran) before this returns.
 * out[i] describes plugins[i]; release each with description_free(). */
void describe_plugins(const struct plugin *const *plugins, size_t n, struct description *out);

void description_free(struct description *d);

/* ---- commands (help.c, plugin_cmd.c) -------------------------------------------------- */
int cmd_help(int argc, char **argv);
int cmd_plugin(int argc, char **argv);

/* Prints the help page to stdout, and warnings about broken plugins to stderr. */
void print_help_page(void);

/* Says that name is not a command, suggests close names, lists the commands; returns
 * EXIT_ERROR. */
int unknown_command(const char *name);

/* ---- helpers (util.c) ----------------------------------------------------------------- */
void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "potter: ..." and "potter: warning: ..." on stderr, after flushing stdout so the two
 * streams interleave in order on a terminal. */
void error_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warning_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int64_t now_ms(void);

/* A copy of s safe to print: control characters become spaces (newlines and tabs too unless
 * keep_lines), so a plugin cannot send escape sequences to the user's terminal. */
char *printable_copy(const char *s, int keep_lines);

#endif /* POTTER_CLI_H */
