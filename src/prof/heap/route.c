/* libpotter-heap: routing the other modules' references to the allocator (docs/prof.md, "Heap
 * profiler", "What it costs").
 *
 * Once the dynamic linker has bound them, every module's references to malloc, free and the
 * rest (its GOT entries, and data words such as jansson's `do_malloc = malloc`) hold this
 * library's wrappers, since the library comes first in the lookup order. While sampling is off
 * the wrappers have nothing to do, so the references are rewritten to hold the real
 * allocator's functions instead: a call then costs exactly what it costs without the library.
 * Starting sampling writes the wrappers back. This is how heaptrack attaches to a running
 * process; here it only ever swaps one of two known values for the other.
 *
 * Which references. For each module (dl_iterate_phdr: the program and its libraries, never
 * this library itself), its relocations of type JUMP_SLOT, GLOB_DAT and 64 (addend 0) against
 * one of the names below. A reference is rewritten only when it holds the expected value (the
 * wrapper, or the real function; a lazily bound GOT entry not yet resolved, which points into
 * its own module, may be bound straight to the real function): anything else (a pointer the
 * program changed, another library that interposes) is left alone. A page made read-only
 * after relocation (RELRO) is made writable for the write and given back its protection as
 * /proc/self/maps reports it (so that a module still being relocated by a concurrent dlopen()
 * keeps its writable pages).
 *
 * Why it is safe. Makers (malloc, calloc, the aligned ones) routed straight to the allocator
 * only miss samples. Takers (free, realloc, reallocarray, malloc_usable_size) routed straight
 * to it would not see a sampled block freed; but sampled blocks are the real allocator's own
 * blocks (sample.c), so that costs accuracy, not memory safety, and it happens only through a
 * function pointer the program copied while no sample lived. Bootstrap blocks must never reach
 * the real free(): while one exists the takers stay routed through the library.
 *
 * Modules loaded later (dlopen) are bound to the wrappers and pay their tests. The dynamic
 * linker's own pointers to the allocator are not relocations and keep the wrappers too. x86-64
 * only, as the rest of the library.
 */
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <dlfcn.h>

#include "prof/heap/heap_internal.h"

typedef struct {
    const char *name;
    size_t off; /* in ph_next_fns */
    int kind; /* PH_MAKERS or PH_TAKERS */
} route_name;

#define NAME(fn, kind) {#fn, offsetof(ph_next_fns, fn), kind}
static const route_name names[] = {
    NAME(malloc, PH_MAKERS),         NAME(calloc, PH_MAKERS),
    NAME(posix_memalign, PH_MAKERS), NAME(aligned_alloc, PH_MAKERS),
    NAME(memalign, PH_MAKERS),       NAME(valloc, PH_MAKERS),
    NAME(pvalloc, PH_MAKERS),        NAME(free, PH_TAKERS),
    NAME(realloc, PH_TAKERS),        NAME(reallocarray, PH_TAKERS),
    NAME(malloc_usable_size, PH_TAKERS),
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

static pthread_mutex_t route_mutex = PTHREAD_MUTEX_INITIALIZER;

/* -1: not yet looked; 0: routing disabled (the library is not what the lookup finds first);
 * 1: on. Under route_mutex. */
static int enabled = -1;

/* Per name: the direction wanted, and references found each way at the last pass. */
static int want_direct[NNAMES];
static uint64_t seen_direct, seen_wrapped;

void ph__route_lock(void)
{
    pthread_mutex_lock(&route_mutex);
}

void ph__route_unlock(void)
{
    pthread_mutex_unlock(&route_mutex);
}

void ph__route_counts(uint64_t *direct, uint64_t *wrapped)
{
    pthread_mutex_lock(&route_mutex);
    *direct = seen_direct;
    *wrapped = seen_wrapped;
    pthread_mutex_unlock(&route_mutex);
}

static void *fn_at(const ph_next_fns *fns, size_t off)
{
    void *f;
    memcpy(&f, (const char *)fns + off, sizeof(f));
    return f;
}

/* ---- one module -------------------------------------------------------------------------- */

typedef struct {
    uintptr_t base;
    const ElfW(Sym) *symtab;
    const char *strtab;
    size_t strsz;
    uintptr_t exec_lo[4], exec_hi[4];
    int nexec;
    uintptr_t data_lo[4], data_hi[4]; /* writable segments (RELRO lies in one) */
    int ndata;
    uintptr_t relro_lo, relro_hi; /* page-aligned; empty when none */
    int prot; /* of the RELRO page being written: -1 until read */
    uintptr_t prot_page;
} module;

/* The protection of the page holding addr, from /proc/self/maps (read without allocating),
 * or -1. */
static int page_prot(uintptr_t addr)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[4096];
    size_t have = 0;
    int prot = -1;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (r <= 0)
            break;
        have += (size_t)r;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = 0;
            char *end;
            unsigned long lo = strtoul(line, &end, 16);
            unsigned long hi = *end == '-' ? strtoul(end + 1, &end, 16) : 0;
            if (addr >= lo && addr < hi && end[0] == ' ' && end[1] != 0 && end[2] != 0) {
                prot = (end[1] == 'r' ? PROT_READ : 0) | (end[2] == 'w' ? PROT_WRITE : 0);
                goto done;
            }
            line = nl + 1;
        }
        have = (size_t)(buf + have - line);
        memmove(buf, line, have);
        if (have == sizeof(buf) - 1)
            have = 0; /* a line longer than the buffer: not one of ours */
    }
done:
    close(fd);
    return prot;
}

static int in_range(const uintptr_t *lo, const uintptr_t *hi, int n, uintptr_t v)
{
    for (int i = 0; i < n; i++)
        if (v >= lo[i] && v < hi[i])
            return 1;
    return 0;
}

/* Writes value at slot; a RELRO page is made writable for it. 1 when written. A slot outside
 * the module's writable segments (a text relocation) is left alone. */
static int write_ref(module *m, uintptr_t slot, void *value)
{
    uintptr_t page = slot & ~(uintptr_t)(PH_PAGE - 1);

    if (!in_range(m->data_lo, m->data_hi, m->ndata, slot))
        return 0;

    if (slot >= m->relro_lo && slot < m->relro_hi) {
        if (m->prot_page != page) {
            m->prot_page = page;
            m->prot = page_prot(slot);
        }
        if (m->prot < 0)
            return 0;
        if (!(m->prot & PROT_WRITE)) {
            if (mprotect((void *)page, PH_PAGE, m->prot | PROT_WRITE) != 0)
                return 0;
            __atomic_store_n((void **)slot, value, __ATOMIC_RELAXED);
            mprotect((void *)page, PH_PAGE, m->prot);
            return 1;
        }
    }
    __atomic_store_n((void **)slot, value, __ATOMIC_RELAXED);
    return 1;
}

/* The index in names[] of the symbol a relocation names, or -1. */
static int name_index(const module *m, uint32_t sym)
{
    uint32_t off = m->symtab[sym].st_name;

    if (off >= m->strsz)
        return -1;
    const char *s = m->strtab + off;
    for (size_t i = 0; i < NNAMES; i++)
        if (strcmp(s, names[i].name) == 0)
            return (int)i;
    return -1;
}

static void route_rela(module *m, const ElfW(Rela) *r, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        uint32_t type = (uint32_t)ELF64_R_TYPE(r[k].r_info);
        uint32_t sym = (uint32_t)ELF64_R_SYM(r[k].r_info);
        if (sym == 0 || (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT &&
                         !(type == R_X86_64_64 && r[k].r_addend == 0)))
            continue;
        int i = name_index(m, sym);
        if (i < 0)
            continue;
        uintptr_t slot = m->base + r[k].r_offset;
        void *cur = __atomic_load_n((void **)slot, __ATOMIC_RELAXED);
        void *self = fn_at(&ph__self, names[i].off), *real = fn_at(&ph__next, names[i].off);
        int direct = want_direct[i];
        void *to = direct ? real : self;
        if (cur == to) {
            direct ? seen_direct++ : seen_wrapped++;
            continue;
        }
        /* A lazily bound entry not yet resolved points into its own module: it would resolve
         * to the wrapper, which is what "wrapped" means already. */
        int lazy = type == R_X86_64_JUMP_SLOT &&
                   in_range(m->exec_lo, m->exec_hi, m->nexec, (uintptr_t)cur);
        if (cur != (direct ? self : real) && !(direct && lazy))
            continue;
        if (write_ref(m, slot, to))
            direct ? seen_direct++ : seen_wrapped++;
        else
            direct ? seen_wrapped++ : seen_direct++;
    }
}

static uintptr_t dyn_ptr(uintptr_t base, ElfW(Addr) v)
{
    /* The dynamic linker relocates these in place on x86-64; a value below the load address
     * was not. */
    return v < base ? base + v : v;
}

static int route_module(struct dl_phdr_info *info, size_t size, void *arg)
{
    uintptr_t me = (uintptr_t)&ph__route;
    module m = {.base = info->dlpi_addr, .prot = -1};
    const ElfW(Dyn) *dyn = NULL;

    (void)size;
    (void)arg;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = m.base + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (ph->p_type == PT_DYNAMIC)
            dyn = (const ElfW(Dyn) *)lo;
        else if (ph->p_type == PT_GNU_RELRO) {
            m.relro_lo = lo & ~(uintptr_t)(PH_PAGE - 1);
            m.relro_hi = hi & ~(uintptr_t)(PH_PAGE - 1);
        } else if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            if (me >= lo && me < hi)
                return 0; /* this library: its references stay its own */
            if (m.nexec < 4) {
                m.exec_lo[m.nexec] = lo;
                m.exec_hi[m.nexec++] = hi;
            }
        } else if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W) && m.ndata < 4) {
            m.data_lo[m.ndata] = lo;
            m.data_hi[m.ndata++] = hi;
        }
    }
    if (!dyn || (info->dlpi_name && strstr(info->dlpi_name, "linux-vdso")))
        return 0;

    uintptr_t rela = 0, jmprel = 0;
    size_t relasz = 0, relaent = sizeof(ElfW(Rela)), pltrelsz = 0;
    long pltrel = DT_RELA;
    for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: m.symtab = (const ElfW(Sym) *)dyn_ptr(m.base, d->d_un.d_ptr); break;
        case DT_STRTAB: m.strtab = (const char *)dyn_ptr(m.base, d->d_un.d_ptr); break;
        case DT_STRSZ: m.strsz = d->d_un.d_val; break;
        case DT_RELA: rela = dyn_ptr(m.base, d->d_un.d_ptr); break;
        case DT_RELASZ: relasz = d->d_un.d_val; break;
        case DT_RELAENT: relaent = d->d_un.d_val; break;
        case DT_JMPREL: jmprel = dyn_ptr(m.base, d->d_un.d_ptr); break;
        case DT_PLTRELSZ: pltrelsz = d->d_un.d_val; break;
        case DT_PLTREL: pltrel = (long)d->d_un.d_val; break;
        default: break;
        }
    }
    if (!m.symtab || !m.strtab || relaent != sizeof(ElfW(Rela)))
        return 0;
    if (rela)
        route_rela(&m, (const ElfW(Rela) *)rela, relasz / sizeof(ElfW(Rela)));
    if (jmprel && pltrel == DT_RELA)
        route_rela(&m, (const ElfW(Rela) *)jmprel, pltrelsz / sizeof(ElfW(Rela)));
    return 0;
}

/* ---- the API ----------------------------------------------------------------------------- */

/* Routing needs this library to be what the lookup order finds first for every name (else
 * another library interposes, and the references are its business), and every real function
 * found: a name the next allocator lacks keeps its bootstrap stand-in (in this library), which
 * makes bootstrap blocks, which the real free() must never see. */
static int check_enabled(void)
{
    Dl_info self_info, real_info;

    if (!dladdr((void *)&ph__route, &self_info))
        return 0;
    for (size_t i = 0; i < NNAMES; i++) {
        void *found = dlsym(RTLD_DEFAULT, names[i].name);
        void *real = fn_at(&ph__next, names[i].off);
        if (found != fn_at(&ph__self, names[i].off) || !dladdr(real, &real_info) ||
            real_info.dli_fbase == self_info.dli_fbase)
            return 0;
    }
    return 1;
}

void ph__route(int which, int direct)
{
    if (enabled < 0)
        enabled = check_enabled();
    if (!enabled)
        return;
    for (size_t i = 0; i < NNAMES; i++)
        if (names[i].kind & which)
            want_direct[i] = direct;
    seen_direct = seen_wrapped = 0;
    dl_iterate_phdr(route_module, NULL);
}
