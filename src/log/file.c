/* The two sinks every service has: stderr and a file (with reopen and rotation). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log/log_internal.h"

/* Up to `max` bytes of buf ending at a line end, or max itself when no line ends there. */
static size_t whole_lines(const char *buf, size_t len, size_t max)
{
    if (len <= max)
        return len;
    const char *nl = memrchr(buf, '\n', max);
    return nl ? (size_t)(nl - buf) + 1 : max;
}

/* ---- stderr --------------------------------------------------------------------------- */

/* Polls before writing and, on a pipe or socket, writes at most PIPE_BUF bytes at a time,
 * which a ready descriptor takes without blocking: so the descriptor stays blocking (it is
 * shared with the rest of the program) and a reader that stops reading stalls this sink
 * only. */
static ssize_t stderr_write(void *ctx, const char *buf, size_t len)
{
    (void)ctx;
    struct pollfd p = {STDERR_FILENO, POLLOUT, 0};
    int r = poll(&p, 1, 100);
    if (r == 0 || (r < 0 && errno == EINTR))
        return 0;
    if (r < 0)
        return -errno;
    if (p.revents & POLLNVAL)
        return -EBADF;
    struct stat st;
    size_t max = len;
    if (fstat(STDERR_FILENO, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
        max = PIPE_BUF;
    ssize_t n = write(STDERR_FILENO, buf, whole_lines(buf, len, max));
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    return n;
}

static const pt_log_sink_ops stderr_ops = {.kind = "stderr", .write = stderr_write};

int pt_log_add_stderr(pt_log *log, const pt_log_sink_options *opts, pt_log_sink **out)
{
    if (log == NULL)
        return -EINVAL;
    return pt__sink_create(log, &stderr_ops, NULL, opts, PT_LOG_ROUTE_CONSOLE, "stderr", out);
}

/* ---- file ----------------------------------------------------------------------------- */

struct file_sink {
    char *path;
    int fd;
    uint64_t size; /* bytes in the current file */
    dev_t dev;
    ino_t ino;
    long day; /* UTC day number of the current file, for daily rotation */
    uint64_t max_bytes;
    int daily;
    unsigned keep;
    mode_t mode;
    uint64_t cache_bytes; /* PT_LOG_FILE_CACHE_ALL: never dropped */
    uint64_t written_back; /* offset up to which writeback was started */
    uint64_t dropped; /* offset up to which the page cache was dropped */
    int no_writeback; /* the file takes neither (a pipe, a device): not asked again */
    /* The file before the current one (rotated, reopened or replaced), kept open while its
     * last pages are within cache_bytes of what is written now, so that they can be dropped
     * as the current file grows: with files smaller than cache_bytes, nothing would be. */
    int old_fd;
    uint64_t old_size, old_dropped;
};

/* Writeback is started this many bytes at a time. */
#define WRITEBACK_BYTES (8u << 20)

static long utc_day(void)
{
    return (long)(time(NULL) / 86400);
}

/* Creates the missing folders above path. */
static void make_parents(const char *path)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        mkdir(tmp, 0755);
        *p = '/';
    }
}

static void retire(struct file_sink *f);

static int file_open(struct file_sink *f)
{
    make_parents(f->path);
    int fd = open(f->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, f->mode);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    if (f->fd >= 0)
        retire(f);
    f->fd = fd;
    f->size = (uint64_t)st.st_size;
    f->written_back = f->dropped = f->size; /* what was there before is left alone */
    f->no_writeback = !S_ISREG(st.st_mode);
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->day = utc_day();
    return 0;
}

/* path -> path.1 -> ... -> path.keep (the oldest goes), then a fresh path. */
static int file_rotate(struct file_sink *f)
{
    size_t n = strlen(f->path) + 16;
    char *from = malloc(n), *to = malloc(n);
    if (from == NULL || to == NULL) {
        free(from);
        free(to);
        return -ENOMEM;
    }
    for (unsigned i = f->keep; i >= 1; i--) {
        snprintf(to, n, "%s.%u", f->path, i);
        if (i == 1)
            snprintf(from, n, "%s", f->path);
        else
            snprintf(from, n, "%s.%u", f->path, i - 1);
        rename(from, to);
    }
    free(from);
    free(to);
    return file_open(f);
}

/* Drops fd's pages from *dropped up to upto from the page cache (not waiting for the disk:
 * pages still dirty or under writeback stay), and moves *dropped there. */
static void drop_cache(int fd, uint64_t *dropped, uint64_t upto)
{
    if (upto <= *dropped)
        return;
    posix_fadvise(fd, (off_t)*dropped, (off_t)(upto - *dropped), POSIX_FADV_DONTNEED);
    *dropped = upto;
}

/* Starts the writeback of what was written since the last start, without waiting for it.
 * Returns 0, or -1 for a file that has no pages to write back (ESPIPE, EINVAL). */
static int start_writeback(struct file_sink *f)
{
    if (f->size > f->written_back &&
        sync_file_range(f->fd, (off_t)f->written_back, (off_t)(f->size - f->written_back),
                        SYNC_FILE_RANGE_WRITE) != 0)
        return -1;
    f->written_back = f->size;
    return 0;
}

/* Drops from the page cache what the previous file holds beyond the cache_bytes written last
 * (the current file's bytes count first), and closes it once nothing of it is left within. */
static void drop_old(struct file_sink *f, int all)
{
    if (f->old_fd < 0)
        return;
    uint64_t keep = all || f->size >= f->cache_bytes ? 0 : f->cache_bytes - f->size;
    if (f->old_size > keep)
        drop_cache(f->old_fd, &f->old_dropped, f->old_size - keep);
    if (keep == 0) {
        close(f->old_fd);
        f->old_fd = -1;
    }
}

/* The current file is being replaced: its writeback is started for what is left, and it
 * becomes the old file (an old file still open is dropped whole first). */
static void retire(struct file_sink *f)
{
    if (f->no_writeback || f->cache_bytes == PT_LOG_FILE_CACHE_ALL) {
        close(f->fd);
        return;
    }
    drop_old(f, 1);
    start_writeback(f);
    f->old_fd = f->fd;
    f->old_size = f->size;
    f->old_dropped = f->dropped;
}

/* Starts writeback of what was written since the last start, WRITEBACK_BYTES at a time, and
 * drops from the page cache what was written more than cache_bytes ago, in this file or the
 * one before (pages still dirty or under writeback stay: the kernel skips them). Neither
 * call waits for the disk. */
static void file_writeback(struct file_sink *f)
{
    if (f->no_writeback || f->size - f->written_back < WRITEBACK_BYTES)
        return;
    if (start_writeback(f) != 0) {
        f->no_writeback = 1; /* not asked again */
        return;
    }
    if (f->cache_bytes == PT_LOG_FILE_CACHE_ALL)
        return;
    drop_old(f, 0);
    if (f->written_back > f->cache_bytes)
        drop_cache(f->fd, &f->dropped, f->written_back - f->cache_bytes);
}

static ssize_t file_write(void *ctx, const char *buf, size_t len)
{
    struct file_sink *f = ctx;
    if (f->fd < 0) {
        int rc = file_open(f);
        if (rc < 0)
            return rc;
    }
    if (f->daily && utc_day() != f->day && f->size > 0) {
        int rc = file_rotate(f);
        if (rc < 0)
            return rc;
    }
    size_t chunk = len;
    if (f->max_bytes) {
        const char *nl = memchr(buf, '\n', len);
        size_t first = nl ? (size_t)(nl - buf) + 1 : len;
        if (f->size > 0 && f->size + first > f->max_bytes) {
            int rc = file_rotate(f);
            if (rc < 0)
                return rc;
        }
        /* Never split a line between files: write the lines that fit, or, when not even
         * one does (a line longer than the limit), that line alone in a file of its own. */
        size_t room = f->max_bytes > f->size ? (size_t)(f->max_bytes - f->size) : 0;
        chunk = whole_lines(buf, len, room);
        if (chunk == 0 || buf[chunk - 1] != '\n')
            chunk = first;
    }
    ssize_t n = write(f->fd, buf, chunk);
    if (n < 0) {
        int err = errno;
        if (err == EBADF) {
            f->fd = -1; /* someone closed it under us: open again next time */
            return -EBADF;
        }
        return err == EINTR ? 0 : -err;
    }
    f->size += (uint64_t)n;
    file_writeback(f);
    return n;
}

/* Follows the path: a file that was removed or replaced is reopened. */
static int file_tick(void *ctx)
{
    struct file_sink *f = ctx;
    struct stat st;
    if (f->fd >= 0 && stat(f->path, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino)
        return 0;
    return file_open(f);
}

static int file_reopen(void *ctx)
{
    return file_open(ctx);
}

static void file_close(void *ctx)
{
    struct file_sink *f = ctx;
    if (f->fd >= 0)
        close(f->fd);
    if (f->old_fd >= 0)
        close(f->old_fd);
    free(f->path);
    free(f);
}

static const pt_log_sink_ops file_ops = {
    .kind = "file",
    .write = file_write,
    .reopen = file_reopen,
    .tick = file_tick,
    .close = file_close,
};

int pt_log_add_file(pt_log *log, const char *path, const pt_log_file_options *opts,
                    pt_log_sink **out)
{
    if (log == NULL || path == NULL || *path == 0)
        return -EINVAL;
    struct file_sink *f = calloc(1, sizeof *f);
    if (f == NULL || (f->path = strdup(path)) == NULL) {
        free(f);
        return -ENOMEM;
    }
    f->fd = f->old_fd = -1;
    f->mode = opts && opts->mode ? opts->mode : 0644;
    f->max_bytes = opts ? opts->max_bytes : 0;
    f->daily = opts ? opts->daily : 0;
    f->keep = opts && opts->keep ? opts->keep : 7;
    f->cache_bytes = opts && opts->cache_bytes ? opts->cache_bytes : (uint64_t)64 << 20;
    int rc = file_open(f);
    if (rc < 0) {
        file_close(f);
        return rc;
    }
    char label[PATH_MAX + 8];
    snprintf(label, sizeof label, "file %s", path);
    rc = pt__sink_create(log, &file_ops, f, opts ? &opts->sink : NULL, PT_LOG_ROUTE_DISK, label,
                         out);
    if (rc < 0)
        file_close(f);
    return rc;
}

/* The crash path writes its fatal line straight here when pt-log cannot (log_crash.h). A plain
 * read of the descriptor: the file sink's thread may be reopening it, and the crash handler
 * takes whatever it finds. */
int pt__sink_direct_fd(const struct pt__sink *s)
{
    if (s->ops.write == stderr_write)
        return STDERR_FILENO;
    if (s->ops.write == file_ops.write)
        return __atomic_load_n(&((const struct file_sink *)s->ctx)->fd, __ATOMIC_RELAXED);
    return -1;
}
