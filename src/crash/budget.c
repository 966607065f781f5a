/* The crash budget: at most crash.max_cores cores per crash.core_window, because a service
 * in a crash loop that dumps a core per crash fills disks and takes hosts (and fleets) down.
 *
 * The cores are remembered in crash.dir/core-budget, one line each, "<unix seconds> <pid>\n",
 * appended with one write(2) on an O_APPEND descriptor (atomic between processes sharing the
 * folder). pt_crash_init() drops the lines older than the window; the handler reads the tail
 * of the file again, so that the cores of sibling processes since then count too. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crash/crash_internal.h"

/* Enough for hundreds of lines: more than any sensible max_cores. */
#define TAIL 8192

/* Counts the "<sec> <pid>\n" lines of buf[0..len) since `since`; copies them to out when given. */
static unsigned count_window(const char *buf, size_t len, int64_t since, char *out,
                             size_t *out_len, size_t out_cap)
{
    unsigned n = 0;
    size_t i = 0;

    while (i < len) {
        size_t start = i;
        int64_t sec = 0;
        int digits = 0;
        while (i < len && buf[i] >= '0' && buf[i] <= '9' && digits < 18) {
            sec = sec * 10 + (buf[i++] - '0');
            digits++;
        }
        while (i < len && buf[i] != '\n')
            i++;
        if (i >= len)
            break; /* a line cut short (a write in progress elsewhere) */
        i++;
        if (!digits || sec < since)
            continue;
        n++;
        if (out && *out_len + (i - start) <= out_cap) {
            memcpy(out + *out_len, buf + start, i - start);
            *out_len += i - start;
        }
    }
    return n;
}

int pt__crash_budget_open(int dir_fd, uint64_t window_s)
{
    static char in[65536], out[65536];
    size_t len = 0, out_len = 0;
    int64_t now = (int64_t)time(NULL);
    int fd;

    fd = openat(dir_fd, PT__CRASH_BUDGET_FILE, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        struct stat st;
        off_t off = 0;
        if (fstat(fd, &st) == 0 && st.st_size > (off_t)sizeof in)
            off = st.st_size - (off_t)sizeof in;
        ssize_t n = pread(fd, in, sizeof in, off);
        len = n > 0 ? (size_t)n : 0;
        close(fd);
        /* A tail read starts in the middle of a line: skip to the next one. */
        size_t skip = 0;
        if (off > 0)
            while (skip < len && in[skip++] != '\n')
                ;
        count_window(in + skip, len - skip, now - (int64_t)window_s, out, &out_len, sizeof out);
        fd = openat(dir_fd, PT__CRASH_BUDGET_FILE ".tmp",
                    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (fd >= 0) {
            int ok = write(fd, out, out_len) == (ssize_t)out_len;
            close(fd);
            if (!ok || renameat(dir_fd, PT__CRASH_BUDGET_FILE ".tmp", dir_fd,
                                PT__CRASH_BUDGET_FILE) != 0)
                unlinkat(dir_fd, PT__CRASH_BUDGET_FILE ".tmp", 0);
        }
    } else if (errno != ENOENT) {
        return -errno;
    }
    fd = openat(dir_fd, PT__CRASH_BUDGET_FILE, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    return fd >= 0 ? fd : -errno;
}

int pt__crash_budget_take(int fd, int64_t now_s, uint64_t window_s, unsigned max,
                          unsigned *count)
{
    static char buf[TAIL];
    struct stat st;
    off_t off = 0;
    size_t len = 0, skip = 0;
    unsigned n;

    if (fstat(fd, &st) == 0 && st.st_size > (off_t)TAIL)
        off = st.st_size - TAIL;
    ssize_t r = pread(fd, buf, TAIL, off);
    if (r > 0)
        len = (size_t)r;
    if (off > 0)
        while (skip < len && buf[skip++] != '\n')
            ;
    n = count_window(buf + skip, len - skip, now_s - (int64_t)window_s, NULL, NULL, 0);
    if (n >= max) {
        *count = n;
        return 0;
    }
    char line[48];
    pt__cbuf b = {line, 0, sizeof line, 0};
    pt__cb_i64(&b, now_s);
    pt__cb_char(&b, ' ');
    pt__cb_i64(&b, (int64_t)getpid());
    pt__cb_char(&b, '\n');
    /* A failed append still allows this core: the budget protects the fleet, and one more
     * core on a host whose crash.dir is full is the lesser harm. */
    (void)!write(fd, b.p, b.len);
    *count = n + 1;
    return 1;
}
