/* Small file helpers shared by the parts. */
#include <errno.h>
#include <unistd.h>

#include "core/core_internal.h"

size_t pt__read_fd(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    while (len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    return len;
}
