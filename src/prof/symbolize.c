/* Turning pcs into function names, source lines and modules, with libdw (docs/prof.md).
 *
 * libdwfl finds the process's modules from /proc/self/maps and their debug information
 * (in the file, or by build id / debuglink under /usr/lib/debug). A pc is looked up once:
 * the lines it resolved to are kept in a hash map, because a profile repeats the same few
 * hundred pcs thousands of times. Every string handed out is copied into the symbolizer's own
 * table, so it outlives the modules libdwfl may drop when it re-reads the maps.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "prof/stack.h"

/* Inlined levels kept per pc; deeper inlining (rare past 5) is cut at the outer end. */
#define MAX_LEVELS 16
/* A pc that falls in no known module re-reads /proc/self/maps (a library dlopen()ed since),
 * at most this often: a JIT's thousands of unknown pcs must not each cost a re-read. */
#define REREPORT_NS 1000000000LL

struct pc_entry {
    uintptr_t addr; /* the address looked up (pc, or pc - 1 for a return address); 0: empty */
    uint32_t first; /* index into lines */
    uint32_t count;
};

/* A compilation unit's address range (module-relative, as DWARF has them). */
struct cu_range {
    Dwarf_Addr start, end;
    Dwarf_Die cu;
};

struct module_entry {
    Dwfl_Module *mod;
    int has_info;
    pt__sym_module info;
    /* Built on the first address libdwfl could not place in a CU: clang emits no
     * .debug_aranges, and libdw 0.188 finds CUs only through them. Sorted by start. */
    int ranges_built;
    struct cu_range *ranges;
    size_t nranges;
};

struct pt__symbolizer {
    Dwfl *dwfl;
    Dwfl_Callbacks callbacks; /* libdwfl keeps a pointer to it */
    int64_t reported_ns; /* when /proc/self/maps was last read */

    struct pc_entry *pcs; /* open addressing, cap a power of two, at most half full */
    size_t pcs_cap, pcs_used;
    pt__sym_line *lines;
    size_t lines_len, lines_cap;

    char **strings; /* interned: open addressing, cap a power of two, at most half full */
    size_t strings_cap, strings_used;

    struct module_entry *modules;
    size_t modules_len, modules_cap;
};

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */

    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3u;
    return h;
}

static uint64_t hash_addr(uintptr_t a)
{
    uint64_t h = (uint64_t)a * 0x9e3779b97f4a7c15u;

    return h ^ (h >> 29);
}

/* ---- interned strings ------------------------------------------------------------------ */

static int strings_grow(pt__symbolizer *s)
{
    size_t cap = s->strings_cap ? s->strings_cap * 2 : 256;
    char **t = calloc(cap, sizeof *t);

    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < s->strings_cap; i++) {
        char *str = s->strings[i];
        if (!str)
            continue;
        size_t j = hash_bytes(str, strlen(str)) & (cap - 1);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = str;
    }
    free(s->strings);
    s->strings = t;
    s->strings_cap = cap;
    return 0;
}

/* The symbolizer's copy of str (NULL stays NULL). NULL also when out of memory: callers
 * then show the frame as unknown rather than fail the whole output. */
static const char *intern(pt__symbolizer *s, const char *str)
{
    size_t n, j;

    if (!str)
        return NULL;
    if ((s->strings_used + 1) * 2 > s->strings_cap && strings_grow(s) != 0)
        return NULL;
    n = strlen(str);
    j = hash_bytes(str, n) & (s->strings_cap - 1);
    for (; s->strings[j]; j = (j + 1) & (s->strings_cap - 1))
        if (strcmp(s->strings[j], str) == 0)
            return s->strings[j];
    s->strings[j] = strdup(str);
    if (!s->strings[j])
        return NULL;
    s->strings_used++;
    return s->strings[j];
}

/* ---- the pc cache ---------------------------------------------------------------------- */

static int pcs_grow(pt__symbolizer *s)
{
    size_t cap = s->pcs_cap ? s->pcs_cap * 2 : 1024;
    struct pc_entry *t = calloc(cap, sizeof *t);

    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < s->pcs_cap; i++) {
        if (!s->pcs[i].addr)
            continue;
        size_t j = hash_addr(s->pcs[i].addr) & (cap - 1);
        while (t[j].addr)
            j = (j + 1) & (cap - 1);
        t[j] = s->pcs[i];
    }
    free(s->pcs);
    s->pcs = t;
    s->pcs_cap = cap;
    return 0;
}

static const struct pc_entry *pcs_find(const pt__symbolizer *s, uintptr_t addr)
{
    if (!s->pcs_cap)
        return NULL;
    for (size_t j = hash_addr(addr) & (s->pcs_cap - 1); s->pcs[j].addr;
         j = (j + 1) & (s->pcs_cap - 1))
        if (s->pcs[j].addr == addr)
            return &s->pcs[j];
    return NULL;
}

/* Stores the resolved lines of addr; failing (out of memory) only means no caching. */
static void pcs_store(pt__symbolizer *s, uintptr_t addr, const pt__sym_line *lines, size_t n)
{
    size_t j;

    if ((s->pcs_used + 1) * 2 > s->pcs_cap && pcs_grow(s) != 0)
        return;
    if (s->lines_len + n > s->lines_cap) {
        size_t cap = s->lines_cap ? s->lines_cap * 2 : 1024;
        while (cap < s->lines_len + n)
            cap *= 2;
        pt__sym_line *l = realloc(s->lines, cap * sizeof *l);
        if (!l)
            return;
        s->lines = l;
        s->lines_cap = cap;
    }
    memcpy(s->lines + s->lines_len, lines, n * sizeof *lines);
    for (j = hash_addr(addr) & (s->pcs_cap - 1); s->pcs[j].addr; j = (j + 1) & (s->pcs_cap - 1))
        ;
    s->pcs[j] = (struct pc_entry){addr, (uint32_t)s->lines_len, (uint32_t)n};
    s->lines_len += n;
    s->pcs_used++;
}

/* ---- life ------------------------------------------------------------------------------ */

/* Reads /proc/self/maps into libdwfl's module list. add: keep the modules already known
 * (a re-read after a miss), so the pointers cached for them stay valid. Returns 0 or a
 * negative errno. */
static int report_modules(pt__symbolizer *s, int add)
{
    int err;

    if (add)
        dwfl_report_begin_add(s->dwfl);
    else
        dwfl_report_begin(s->dwfl);
    err = dwfl_linux_proc_report(s->dwfl, getpid());
    if (dwfl_report_end(s->dwfl, NULL, NULL) != 0 && err == 0)
        err = -1;
    s->reported_ns = mono_ns();
    if (err > 0)
        return -err;
    return err < 0 ? -EIO : 0; /* a libdwfl error (dwfl_errmsg() has no errno) */
}

int pt__symbolizer_new(pt__symbolizer **out)
{
    pt__symbolizer *s = calloc(1, sizeof *s);
    int err;

    *out = NULL;
    if (!s)
        return -ENOMEM;
    s->callbacks.find_elf = dwfl_linux_proc_find_elf;
    s->callbacks.find_debuginfo = dwfl_standard_find_debuginfo;
    s->callbacks.section_address = dwfl_offline_section_address;
    s->dwfl = dwfl_begin(&s->callbacks);
    if (!s->dwfl) {
        free(s);
        return -ENOMEM;
    }
    err = report_modules(s, 0);
    if (err) {
        pt__symbolizer_free(s);
        return err;
    }
    *out = s;
    return 0;
}

void pt__symbolizer_free(pt__symbolizer *s)
{
    if (!s)
        return;
    if (s->dwfl)
        dwfl_end(s->dwfl);
    for (size_t i = 0; i < s->strings_cap; i++)
        free(s->strings[i]);
    free(s->strings);
    free(s->pcs);
    free(s->lines);
    for (size_t i = 0; i < s->modules_len; i++)
        free(s->modules[i].ranges);
    free(s->modules);
    free(s);
}

/* ---- lookups --------------------------------------------------------------------------- */

/* The module addr falls in, re-reading the maps once in a while when it is in none. */
static Dwfl_Module *find_module(pt__symbolizer *s, uintptr_t addr)
{
    Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, addr);

    if (!mod && mono_ns() - s->reported_ns >= REREPORT_NS && report_modules(s, 1) == 0)
        mod = dwfl_addrmodule(s->dwfl, addr);
    return mod;
}

/* The symbolizer's record of mod, created empty on first use. NULL when out of memory. */
static struct module_entry *module_entry(pt__symbolizer *s, Dwfl_Module *mod)
{
    for (size_t i = 0; i < s->modules_len; i++)
        if (s->modules[i].mod == mod)
            return &s->modules[i];
    if (s->modules_len == s->modules_cap) {
        size_t cap = s->modules_cap ? s->modules_cap * 2 : 32;
        struct module_entry *m = realloc(s->modules, cap * sizeof *m);
        if (!m)
            return NULL;
        s->modules = m;
        s->modules_cap = cap;
    }
    s->modules[s->modules_len] = (struct module_entry){.mod = mod};
    return &s->modules[s->modules_len++];
}

static int range_cmp(const void *a, const void *b)
{
    const struct cu_range *x = a, *y = b;

    return x->start < y->start ? -1 : x->start > y->start;
}

/* Collects every CU's address ranges of m's module. Failing (no memory) leaves fewer. */
static void build_ranges(struct module_entry *m)
{
    Dwarf_Die *cu = NULL;
    Dwarf_Addr bias;
    size_t cap = 0;

    m->ranges_built = 1;
    while ((cu = dwfl_module_nextcu(m->mod, cu, &bias)) != NULL) {
        Dwarf_Addr base, start, end;
        ptrdiff_t off = 0;
        while ((off = dwarf_ranges(cu, off, &base, &start, &end)) > 0) {
            if (m->nranges == cap) {
                struct cu_range *r = realloc(m->ranges, (cap = cap ? cap * 2 : 64) * sizeof *r);
                if (!r)
                    goto sort;
                m->ranges = r;
            }
            m->ranges[m->nranges++] = (struct cu_range){start, end, *cu};
        }
    }
sort:
    qsort(m->ranges, m->nranges, sizeof *m->ranges, range_cmp);
}

/* The compilation unit of addr in mod (into *cu) and the module's bias. Returns 0 or -1. */
static int find_cu(pt__symbolizer *s, Dwfl_Module *mod, uintptr_t addr, Dwarf_Die *cu,
                   Dwarf_Addr *bias)
{
    Dwarf_Die *found = dwfl_module_addrdie(mod, addr, bias);
    struct module_entry *m;
    Dwarf_Addr rel;
    size_t lo, hi;

    if (found) {
        *cu = *found;
        return 0;
    }
    if (!dwfl_module_getdwarf(mod, bias) || !(m = module_entry(s, mod)))
        return -1;
    if (!m->ranges_built)
        build_ranges(m);
    /* The last range starting at or before rel; ranges of different CUs do not overlap. */
    rel = addr - *bias;
    for (lo = 0, hi = m->nranges; lo < hi;) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->ranges[mid].start <= rel)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || rel >= m->ranges[lo - 1].end)
        return -1;
    *cu = m->ranges[lo - 1].cu;
    return 0;
}

/* A function's name as its DIE (or the DIE it was inlined or cloned from) gives it: the
 * linkage name where there is one (C++: mangled, as in the symbol table, which pprof
 * demangles), else the plain name. */
static const char *die_name(Dwarf_Die *die)
{
    Dwarf_Attribute attr;

    if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
        dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
        return dwarf_formstring(&attr);
    if (dwarf_attr_integrate(die, DW_AT_name, &attr))
        return dwarf_formstring(&attr);
    return NULL;
}

/* Where the inlined subroutine die was called from: its DW_AT_call_file (an index into its
 * compilation unit's file table) and DW_AT_call_line. */
static void call_site(Dwarf_Die *die, const char **file, int *line)
{
    Dwarf_Attribute attr;
    Dwarf_Word index, lineno;
    Dwarf_Die cu;
    Dwarf_Files *files;
    size_t nfiles;

    *file = NULL;
    *line = 0;
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &lineno) == 0)
        *line = (int)lineno;
    if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &index) == 0 &&
        dwarf_diecu(die, &cu, NULL, NULL) && dwarf_getsrcfiles(&cu, &files, &nfiles) == 0 &&
        index < nfiles)
        *file = dwarf_filesrc(files, index, NULL, NULL);
}

/* Fills lines (at most MAX_LEVELS) from the debug information of mod at addr: the innermost
 * inlined function at the line of addr, each caller at its call site, last the function the
 * code really is in. Returns how many, 0 when mod has no debug information for addr. Strings
 * are still libdw's. */
static size_t dwarf_lines(pt__symbolizer *s, Dwfl_Module *mod, uintptr_t addr, pt__sym_line *lines)
{
    Dwarf_Addr bias;
    Dwarf_Die cu, *scopes = NULL, *chain = NULL;
    Dwarf_Line *src;
    const char *file = NULL;
    int line = 0, nchain;
    size_t n = 0;

    if (find_cu(s, mod, addr, &cu, &bias) != 0 || dwarf_getscopes(&cu, addr - bias, &scopes) <= 0) {
        free(scopes);
        return 0;
    }
    /* dwarf_getscopes() continues from an inlined subroutine into its abstract definition's
     * scopes; the concrete chain of callers comes from the innermost scope's own parents. */
    nchain = dwarf_getscopes_die(&scopes[0], &chain);
    free(scopes);
    if ((src = dwarf_getsrc_die(&cu, addr - bias)) != NULL) {
        file = dwarf_linesrc(src, NULL, NULL);
        if (dwarf_lineno(src, &line) != 0)
            line = 0;
    }
    for (int i = 0; i < nchain && n < MAX_LEVELS; i++) {
        int tag = dwarf_tag(&chain[i]);

        if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram &&
            tag != DW_TAG_entry_point)
            continue;
        lines[n].function = die_name(&chain[i]);
        lines[n].file = file;
        lines[n].line = file ? line : 0;
        n++;
        if (tag != DW_TAG_inlined_subroutine)
            break;
        call_site(&chain[i], &file, &line);
    }
    free(chain);
    return n;
}

/* Resolves addr into lines (MAX_LEVELS room) with interned strings. Returns how many (>= 1). */
static size_t resolve(pt__symbolizer *s, uintptr_t addr, pt__sym_line *lines)
{
    Dwfl_Module *mod = find_module(s, addr);
    const char *symbol = NULL;
    char fallback[256];
    size_t n = 0;

    if (mod) {
        GElf_Off offset;
        GElf_Sym sym;

        symbol = dwfl_module_addrinfo(mod, addr, &offset, &sym, NULL, NULL, NULL);
        n = dwarf_lines(s, mod, addr, lines);
    }
    for (size_t i = 0; i < n; i++) {
        /* The real function (last line) may lack a name in DWARF (assembly): take the
         * symbol table's. */
        if (!lines[i].function && i == n - 1)
            lines[i].function = symbol;
        lines[i].function = intern(s, lines[i].function);
        lines[i].file = intern(s, lines[i].file);
        if (!lines[i].file)
            lines[i].line = 0;
        if (!lines[i].function)
            lines[i].function = "??";
    }
    if (n)
        return n;
    lines[0] = (pt__sym_line){"??", NULL, 0};
    if (symbol) {
        lines[0].function = intern(s, symbol);
    } else if (mod) {
        Dwarf_Addr start, bias = 0;
        const char *path = dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL, NULL, NULL);
        const char *base = path ? strrchr(path, '/') : NULL;

        dwfl_module_getelf(mod, &bias);
        snprintf(fallback, sizeof fallback, "%s+0x%" PRIxPTR, base ? base + 1 : (path ? path : "?"),
                 addr - (uintptr_t)bias);
        lines[0].function = intern(s, fallback);
    }
    if (!lines[0].function)
        lines[0].function = "??";
    return 1;
}

size_t pt__symbolize(pt__symbolizer *s, uintptr_t pc, int is_return, pt__sym_line *lines,
                     size_t max)
{
    pt__sym_line found[MAX_LEVELS];
    const struct pc_entry *e;
    uintptr_t addr = is_return && pc ? pc - 1 : pc;
    const pt__sym_line *src;
    size_t n;

    if (max == 0)
        return 0;
    if (addr == 0) {
        lines[0] = (pt__sym_line){"??", NULL, 0};
        return 1;
    }
    if ((e = pcs_find(s, addr)) != NULL) {
        src = s->lines + e->first;
        n = e->count;
    } else {
        n = resolve(s, addr, found);
        pcs_store(s, addr, found, n);
        src = found;
    }
    /* Cut at the outer end; the last line kept then is an inlined one. */
    if (n > max)
        n = max;
    memcpy(lines, src, n * sizeof *lines);
    return n;
}

int pt__symbolize_module(pt__symbolizer *s, uintptr_t pc, pt__sym_module *out)
{
    Dwfl_Module *mod = find_module(s, pc);
    struct module_entry *m;
    Dwarf_Addr start, end, bias;
    const unsigned char *bits;
    GElf_Addr vaddr;
    const char *path;
    int len;

    if (!mod)
        return -ENOENT;
    m = module_entry(s, mod);
    if (m && m->has_info) {
        *out = m->info;
        return 0;
    }
    path = dwfl_module_info(mod, NULL, &start, &end, NULL, NULL, NULL, NULL);
    memset(out, 0, sizeof *out);
    out->path = intern(s, path ? path : "");
    if (!out->path)
        out->path = "";
    out->start = (uintptr_t)start;
    out->end = (uintptr_t)end;
    /* libdwfl reports a module from the lowest mapping of its file, which for anything the
     * dynamic loader mapped is the one of file offset 0. */
    out->file_offset = 0;
    dwfl_module_getelf(mod, &bias); /* the build id note is read from the ELF file */
    len = dwfl_module_build_id(mod, &bits, &vaddr);
    for (int i = 0; i < len && i < 20; i++)
        snprintf(out->build_id + 2 * i, 3, "%02x", bits[i]);
    if (m) { /* else answered, only not cached */
        m->info = *out;
        m->has_info = 1;
    }
    return 0;
}
