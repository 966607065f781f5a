#include "crash/crash_testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PT_CRASH_CHILD
#define PT_CRASH_CHILD "crash_child"
#endif

const char *crash_child_path(void)
{
    return PT_CRASH_CHILD;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Folders made and not yet removed: a failed assertion leaves its test early, so the group's
 * teardown removes what is left (crash_dirs_cleanup). */
static char made[32][256];

void crash_dirs_cleanup(void)
{
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++)
        if (made[i][0])
            crash_dir_remove(made[i]);
}

int crash_group_teardown(void **state)
{
    (void)state;
    crash_dirs_cleanup();
    return 0;
}

void crash_dir_make(char *dir, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, cap, "%s/pt-crash-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++) {
        if (!made[i][0]) {
            snprintf(made[i], sizeof made[i], "%s", dir);
            break;
        }
    }
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void crash_dir_remove(const char *dir)
{
    char copy[256];

    if (!dir || !*dir)
        return;
    snprintf(copy, sizeof copy, "%s", dir); /* dir may be one of made[] */
    nftw(copy, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++)
        if (strcmp(made[i], copy) == 0)
            made[i][0] = '\0';
}

char *crash_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (!f)
        return NULL;
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap + 1);
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

static int is_report(const struct dirent *e)
{
    size_t len = strlen(e->d_name);
    return len > 10 && !strncmp(e->d_name, "crash-", 6) && !strcmp(e->d_name + len - 4, ".txt");
}

/* The prefix of a relative core_pattern before its first specifier ("core" for "core.%p"). */
static int core_prefix(char *out, size_t cap)
{
    char pat[256] = "";
    FILE *f = fopen("/proc/sys/kernel/core_pattern", "r");

    if (!f)
        return -1;
    if (!fgets(pat, sizeof pat, f))
        pat[0] = '\0';
    fclose(f);
    pat[strcspn(pat, "\n")] = '\0';
    if (pat[0] == '|' || pat[0] == '/' || pat[0] == '\0' || strchr(pat, '/'))
        return -1;
    pat[strcspn(pat, "%")] = '\0';
    snprintf(out, cap, "%s", pat[0] ? pat : "core");
    return 0;
}

int crash_cores_checkable(void)
{
    static int said;
    char prefix[64];
    struct rlimit rl;
    int ok = 1;
    const char *why = "";

    if (core_prefix(prefix, sizeof prefix) != 0) {
        ok = 0;
        why = "/proc/sys/kernel/core_pattern pipes to a helper or names an absolute path";
    } else if (getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_max == 0) {
        ok = 0;
        why = "the hard RLIMIT_CORE is 0";
    }
    if (!ok && !said) {
        said = 1;
        fprintf(stderr, "crash tests: %s: the core file checks (file, gdb) are SKIPPED; "
                        "everything else is checked\n", why);
    }
    return ok;
}

static void find_core(crash_run *r)
{
    char prefix[64];
    DIR *d;
    struct dirent *e;

    r->core_path[0] = '\0';
    if (core_prefix(prefix, sizeof prefix) != 0)
        return;
    d = opendir(r->dir);
    if (!d)
        return;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && strcmp(e->d_name, "crash") != 0) {
            snprintf(r->core_path, sizeof r->core_path, "%s/%s", r->dir, e->d_name);
            break;
        }
    }
    closedir(d);
}

int crash_spawn(crash_run *r, const char *dir, const char *scenario, unsigned max_cores,
                double timeout_s)
{
    char path[600], cores[16];
    struct dirent **names = NULL;
    double start = now_s();
    int killed = 0;

    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    snprintf(cores, sizeof cores, "%u", max_cores);
    r->pid = fork();
    if (r->pid == 0) {
        struct rlimit rl;
        snprintf(path, sizeof path, "%s/child.out", dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || chdir(dir) != 0)
            _exit(120);
        dup2(fd, 1);
        dup2(fd, 2);
        if (getrlimit(RLIMIT_CORE, &rl) == 0) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_CORE, &rl);
        }
        execl(crash_child_path(), crash_child_path(), scenario, cores, (char *)NULL);
        _exit(121);
    }
    for (;;) {
        pid_t p = waitpid(r->pid, &r->status, WNOHANG);
        if (p == r->pid)
            break;
        if (now_s() - start > timeout_s && !killed) {
            fprintf(stderr, "crash child %s: still running after %.0f s: killed\n", scenario,
                    timeout_s);
            kill(r->pid, SIGKILL);
            killed = 1;
        }
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    r->seconds = now_s() - start;

    snprintf(path, sizeof path, "%s/crash", dir);
    int n = scandir(path, &names, is_report, alphasort);
    r->nreports = n > 0 ? n : 0;
    /* This child's: crash-<time>-<pid>.txt */
    char suffix[32];
    snprintf(suffix, sizeof suffix, "-%d.txt", (int)r->pid);
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        size_t len = strlen(name), slen = strlen(suffix);
        if (len > slen && strcmp(name + len - slen, suffix) == 0) {
            snprintf(r->report_path, sizeof r->report_path, "%s/crash/%s", dir, name);
            r->report = crash_read_file(r->report_path, NULL);
        }
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    snprintf(path, sizeof path, "%s/backup.txt", dir);
    r->backup = crash_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/app.log", dir);
    r->log = crash_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/child.out", dir);
    r->out = crash_read_file(path, NULL);
    find_core(r);
    return killed ? -1 : 0;
}

void crash_run_free(crash_run *r)
{
    free(r->report);
    free(r->backup);
    free(r->log);
    free(r->out);
    r->report = r->backup = r->log = r->out = NULL;
}

int crash_gdb_has_frame(const char *core, const char *function, int frames)
{
    char out_path[600], cmd[2048];
    pid_t pid;
    int status, found = 0;

    snprintf(out_path, sizeof out_path, "%s.gdb.txt", core);
    pid = fork();
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            _exit(120);
        dup2(fd, 1);
        dup2(fd, 2);
        execlp("gdb", "gdb", "-nx", "-batch", "-ex", "thread apply all bt", "-ex",
               "echo ==CRASHED-THREAD==\\n", "-ex", "bt", crash_child_path(), core,
               (char *)NULL);
        _exit(127);
    }
    double start = now_s();
    for (;;) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            break;
        if (now_s() - start > 120) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "gdb: still running after 120 s: killed\n");
            return -1;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        fprintf(stderr, "gdb is not installed (scripts/deps.sh installs it)\n");
        return -1;
    }
    char *text = crash_read_file(out_path, NULL);
    unlink(out_path);
    const char *bt = text ? strstr(text, "==CRASHED-THREAD==") : NULL;
    if (!bt) {
        fprintf(stderr, "gdb printed no backtrace:\n%s\n", text ? text : "(nothing)");
        free(text);
        return -1;
    }
    /* Frames "#N  0x... in function (...)" or "#N  function (...)", N < frames. */
    for (const char *l = bt; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        int n;
        if (sscanf(l, "#%d", &n) != 1 || n >= frames)
            continue;
        const char *eol = strchr(l, '\n');
        size_t len = eol ? (size_t)(eol - l) : strlen(l);
        snprintf(cmd, sizeof cmd, "%.*s", (int)len, l);
        char needle[256];
        snprintf(needle, sizeof needle, " %s (", function);
        if (strstr(cmd, needle))
            found = 1;
    }
    if (!found)
        fprintf(stderr, "gdb: %s is not among the crashed thread's first %d frames:\n%s\n",
                function, frames, bt);
    free(text);
    return found;
}

/* ---- the report format ---- */

int report_check(const char *text)
{
    const char *p = text, *last = NULL;
    int in_sections = 0;

    if (!text) {
        fprintf(stderr, "report: missing\n");
        return -1;
    }
    if (strncmp(text, "potter-crash-report 1\n", 22) != 0) {
        fprintf(stderr, "report: no version line\n");
        return -1;
    }
    p = text + 22;
    while (*p) {
        const char *eol = strchr(p, '\n');
        if (!eol) {
            fprintf(stderr, "report: the last line has no newline: cut short\n");
            return -1;
        }
        if (strncmp(p, "== ", 3) == 0) {
            in_sections = 1;
            last = p;
        } else if (!in_sections) {
            const char *colon = memchr(p, ':', (size_t)(eol - p));
            if (!colon || colon == p || colon[1] != ' ') {
                fprintf(stderr, "report: header line not \"key: value\": %.*s\n",
                        (int)(eol - p), p);
                return -1;
            }
        }
        p = eol + 1;
    }
    if (!last || strcmp(last, "== end\n") != 0) {
        fprintf(stderr, "report: does not end with \"== end\"\n");
        return -1;
    }
    return 0;
}

int report_key(const char *text, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);

    for (const char *p = text; p && *p && strncmp(p, "== ", 3) != 0;) {
        const char *eol = strchr(p, '\n');
        if (!eol)
            break;
        if (strncmp(p, key, klen) == 0 && p[klen] == ':' && p[klen + 1] == ' ') {
            snprintf(out, cap, "%.*s", (int)(eol - p - klen - 2), p + klen + 2);
            return 0;
        }
        p = eol + 1;
    }
    return -1;
}

const char *report_section(const char *text, const char *name, size_t *len)
{
    char head[128];
    const char *p, *end;

    snprintf(head, sizeof head, "\n== %s\n", name);
    p = text ? strstr(text, head) : NULL;
    if (!p)
        return NULL;
    p += strlen(head);
    end = strstr(p - 1, "\n== ");
    *len = end ? (size_t)(end + 1 - p) : strlen(p);
    return p;
}

int report_section_lines(const char *text, const char *name)
{
    size_t len;
    const char *p = report_section(text, name, &len);
    int n = 0;

    if (!p)
        return -1;
    for (size_t i = 0; i < len; i++)
        n += p[i] == '\n';
    return n;
}
