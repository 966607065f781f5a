/* pt_crash_collect(): the reports that crashed runs left in crash.dir, handed to the caller
 * (pt_app logs each as an error record), then moved to crash.dir/archive/ so that the next
 * start does not report them again. Runs at start-up, on the calling thread: it may allocate. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core_internal.h"
#include "crash/crash_internal.h"
#include "potter/crash.h"

/* A report larger than this is handed over cut (a report is a few KiB to a few hundred). */
#define MAX_REPORT (16u << 20)

static int is_report(const struct dirent *e)
{
    size_t len = strlen(e->d_name);

    return len > 10 && strncmp(e->d_name, "crash-", 6) == 0 &&
           strcmp(e->d_name + len - 4, ".txt") == 0;
}

/* Reads dir_fd/name whole (at most MAX_REPORT bytes) into a malloc'd, NUL-terminated buffer. */
static int read_report(int dir_fd, const char *name, char **out, size_t *out_len)
{
    struct stat st;
    size_t len = 0, cap;
    char *buf;
    int fd;

    fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    cap = st.st_size > (off_t)MAX_REPORT ? MAX_REPORT : (size_t)st.st_size;
    buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    len = pt__read_fd(fd, buf, cap);
    close(fd);
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return 0;
}

int pt_crash_collect(const char *dir,
                     void (*fn)(void *arg, const char *path, const char *text, size_t len),
                     void *arg)
{
    struct dirent **names = NULL;
    char path[PATH_MAX];
    int n, dir_fd, found = 0, err = 0;

    if (!dir || !*dir || !fn)
        return -EINVAL;
    dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0)
        return errno == ENOENT ? 0 : -errno;
    /* Oldest first: the names start with their UTC time. */
    n = scandir(dir, &names, is_report, alphasort);
    if (n < 0) {
        err = -errno;
        close(dir_fd);
        return err;
    }
    if (n > 0 && mkdirat(dir_fd, "archive", 0750) != 0 && errno != EEXIST)
        err = -errno;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char *text = NULL;
        size_t len = 0;
        if (!err && read_report(dir_fd, name, &text, &len) == 0) {
            snprintf(path, sizeof path, "%s/%s", dir, name);
            fn(arg, path, text, len);
            free(text);
            found++;
            snprintf(path, sizeof path, "archive/%s", name);
            if (renameat(dir_fd, name, dir_fd, path) != 0 && !err)
                err = -errno;
        }
        free(names[i]);
    }
    free(names);
    close(dir_fd);
    return err ? err : found;
}
