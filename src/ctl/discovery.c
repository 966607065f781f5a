/* The discovery file: <runtime dir>/<name>.<pid>.json names a running service's control
 * address and socket, so `potter ctl --pid` and `--name` find it (docs/ctl.md).
 *
 *     {"name":"hello","pid":4242,"host":"127.0.0.1","port":8081,
 *      "socket":"/run/user/1000/potter/hello.4242.sock","version":"0.2.0",
 *      "started":"2026-11-23T01:02:03.456Z"}
 *
 * The folder holds sockets, so it must be the service user's own: made 0700 when missing, and
 * refused when it is a symlink, someone else's, or writable by others (a folder in /tmp that
 * another user made first could otherwise collect our sockets). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/number_internal.h"
#include "ctl/ctl_internal.h"
#include "ctl/runtime_dir.h"

int pt_ctl_runtime_dir(char *buf, size_t len)
{
    return pt__runtime_dir(NULL, buf, len) < 0 ? -ENAMETOOLONG : 0;
}

int pt__ctl_runtime_dir_ready(pt_ctl *ctl, const char *dir)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        int err = -errno;
        snprintf(ctl->error, sizeof ctl->error,
                 "control port: cannot make the runtime folder %.400s (ctl.runtime_dir, "
                 "$POTTER_RUNTIME_DIR): %s", dir, pt_strerror(err));
        return err;
    }
    struct stat st;
    if (lstat(dir, &st) < 0) {
        int err = -errno;
        snprintf(ctl->error, sizeof ctl->error, "control port: runtime folder %.400s: %s", dir,
                 pt_strerror(err));
        return err;
    }
    const char *why = NULL;
    if (!S_ISDIR(st.st_mode))
        why = "is not a folder (a symlink is refused)";
    else if (st.st_uid != geteuid())
        why = "belongs to another user";
    else if (st.st_mode & 022)
        why = "is writable by others (chmod 700 it)";
    if (why) {
        snprintf(ctl->error, sizeof ctl->error,
                 "control port: runtime folder %.400s %s; set ctl.runtime_dir or "
                 "$POTTER_RUNTIME_DIR to a folder of the service's own", dir, why);
        return -EACCES;
    }
    return 0;
}

int pt__ctl_discovery_write(pt_ctl *ctl, const char *dir)
{
    int n = snprintf(ctl->discovery, sizeof ctl->discovery, "%s/%s.%d.json", dir,
                     ctl->opts.name, (int)getpid());
    if (n < 0 || (size_t)n >= sizeof ctl->discovery) {
        ctl->discovery[0] = '\0';
        snprintf(ctl->error, sizeof ctl->error, "control port: discovery file path too long");
        return -ENAMETOOLONG;
    }
    struct pt__buf b = {0};
    char num[32], time[32];
    pt__buf_put(&b, "{\"name\":", 8);
    pt__ctl_json_str(&b, ctl->opts.name);
    snprintf(num, sizeof num, ",\"pid\":%d", (int)getpid());
    pt__buf_put(&b, num, strlen(num));
    pt__buf_put(&b, ",\"host\":", 8);
    pt__ctl_json_str(&b, ctl->port >= 0 ? ctl->opts.host : NULL);
    if (ctl->port >= 0)
        snprintf(num, sizeof num, ",\"port\":%d", ctl->port);
    else
        snprintf(num, sizeof num, ",\"port\":null");
    pt__buf_put(&b, num, strlen(num));
    pt__buf_put(&b, ",\"socket\":", 10);
    pt__ctl_json_str(&b, ctl->socket_path[0] ? ctl->socket_path : NULL);
    pt__buf_put(&b, ",\"version\":", 11);
    pt__ctl_json_str(&b, ctl->opts.version);
    pt__fmt_utc_ms(time, ctl->start_wall_ns, 0);
    pt__buf_put(&b, ",\"started\":", 11);
    pt__ctl_json_str(&b, time);
    pt__buf_put(&b, ",\"token\":", 9);
    pt__buf_put(&b, ctl->opts.token && ctl->opts.token[0] ? "true}\n" : "false}\n",
                ctl->opts.token && ctl->opts.token[0] ? 6 : 7);
    if (!b.p) {
        ctl->discovery[0] = '\0';
        return -ENOMEM;
    }
    /* Written beside, then renamed: a reader sees the whole file or none. */
    char tmp[sizeof ctl->discovery + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", ctl->discovery);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    int err = fd < 0 ? -errno : 0;
    if (!err && write(fd, b.p, b.len) != (ssize_t)b.len)
        err = errno ? -errno : -EIO;
    if (fd >= 0 && close(fd) < 0 && !err)
        err = -errno;
    if (!err && rename(tmp, ctl->discovery) < 0)
        err = -errno;
    if (err) {
        if (fd >= 0)
            unlink(tmp);
        snprintf(ctl->error, sizeof ctl->error, "control port: cannot write %.400s: %s",
                 ctl->discovery, pt_strerror(err));
        ctl->discovery[0] = '\0';
    }
    free(b.p);
    return err;
}

void pt__ctl_discovery_remove(pt_ctl *ctl)
{
    if (ctl->discovery[0])
        unlink(ctl->discovery);
    ctl->discovery[0] = '\0';
}
