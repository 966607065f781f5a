/* Errors and version. */
#include <string.h>

#include "potter/core.h"

#define PT__STR(x) #x
#define PT__XSTR(x) PT__STR(x)

const char *pt_strerror(int err)
{
    if (err == 0)
        return "success";
    if (err > 0)
        err = -err;
    /* strerror() is thread-safe in glibc for known codes, and we only pass those. */
    return strerror(-err);
}

const char *pt_version_string(void)
{
    return PT__XSTR(PT_VERSION_MAJOR) "." PT__XSTR(PT_VERSION_MINOR) "." PT__XSTR(PT_VERSION_PATCH);
}

unsigned pt_version_number(void)
{
    return PT_VERSION_NUMBER;
}
