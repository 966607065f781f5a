/* The GNU build id of the program, which --version prints and crash reports and core analysis
 * use to match a core file with its binary. */
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "potter/core.h"

static char build_id[2 * 64 + 1];
static pthread_once_t build_id_once = PTHREAD_ONCE_INIT;

#define ALIGN4(n) (((n) + 3u) & ~3u)

/* Finds NT_GNU_BUILD_ID in the notes of the first object: the main program. */
static int scan(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const char *p = (const char *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
            const char *name = p + sizeof(*n);
            const unsigned char *desc = (const unsigned char *)name + ALIGN4(n->n_namesz);
            if ((const char *)desc + n->n_descsz > end)
                break;
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
                n->n_descsz <= 64) {
                for (unsigned j = 0; j < n->n_descsz; j++)
                    snprintf(build_id + 2 * j, 3, "%02x", desc[j]);
                return 1;
            }
            p = (const char *)desc + ALIGN4(n->n_descsz);
        }
    }
    return 1; /* only the first object is the program */
}

static void find_build_id(void)
{
    dl_iterate_phdr(scan, NULL);
}

const char *pt_build_id(void)
{
    pthread_once(&build_id_once, find_build_id);
    return build_id;
}
