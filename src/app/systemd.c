/* What a service under systemd says to it (sd_notify(3)'s protocol, spoken directly: one
 * datagram of "KEY=VALUE\n" lines to the unix socket named by $NOTIFY_SOCKET), and what it
 * learns from it ($WATCHDOG_USEC, $JOURNAL_STREAM). Without systemd these do nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "app/app_internal.h"

int pt__sd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof addr.sun_path)
        return -EINVAL;
    memcpy(addr.sun_path, path, n);
    if (path[0] == '@') /* an abstract socket: the name starts with a NUL byte */
        addr.sun_path[0] = '\0';
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    ssize_t sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, len);
    int err = sent < 0 ? -errno : 0;
    close(fd);
    return err < 0 ? err : 1;
}

uint64_t pt__sd_watchdog_usec(void)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    if (!usec || !*usec)
        return 0;
    if (pid && *pid && strtol(pid, NULL, 10) != (long)getpid())
        return 0; /* meant for another process (our parent) */
    char *end;
    unsigned long long v = strtoull(usec, &end, 10);
    return *end ? 0 : (uint64_t)v;
}

int pt__sd_stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) < 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}
