/* Where services write their discovery files and sockets: one rule for the library
 * (pt_ctl_runtime_dir()) and for `potter ctl`, which does not link libpotter and includes
 * this header alone. */
#ifndef PT_CTL_RUNTIME_DIR_H
#define PT_CTL_RUNTIME_DIR_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* given (when not NULL or ""), else $POTTER_RUNTIME_DIR, else $XDG_RUNTIME_DIR/potter, else
 * /run/potter for root, else /tmp/potter-<uid>, into buf. Returns 0, or -1 when it does not
 * fit. */
static inline int pt__runtime_dir(const char *given, char *buf, size_t len)
{
    const char *own = getenv("POTTER_RUNTIME_DIR"), *xdg = getenv("XDG_RUNTIME_DIR");
    int n;
    if (given && given[0])
        n = snprintf(buf, len, "%s", given);
    else if (own && own[0])
        n = snprintf(buf, len, "%s", own);
    else if (xdg && xdg[0])
        n = snprintf(buf, len, "%s/potter", xdg);
    else if (geteuid() == 0)
        n = snprintf(buf, len, "/run/potter");
    else
        n = snprintf(buf, len, "/tmp/potter-%u", (unsigned)geteuid());
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

#endif
