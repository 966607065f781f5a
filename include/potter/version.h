/* potter/version.h: the version of the headers in use. pt_version_number() gives the
 * library's at run time, so a program can tell the two apart. */
#ifndef POTTER_VERSION_H
#define POTTER_VERSION_H

#define PT_VERSION_MAJOR 0
#define PT_VERSION_MINOR 1
#define PT_VERSION_PATCH 0
#define PT_VERSION_NUMBER (PT_VERSION_MAJOR * 10000 + PT_VERSION_MINOR * 100 + PT_VERSION_PATCH)

#endif /* POTTER_VERSION_H */
