/* pprof's profile.proto (github.com/google/pprof, proto/profile.proto), encoded by hand and
 * gzip-compressed: what `go tool pprof` and every pprof-speaking tool reads. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "prof/profile_internal.h"

/* profile.proto's field numbers. */
enum {
    PROFILE_SAMPLE_TYPE = 1,
    PROFILE_SAMPLE = 2,
    PROFILE_MAPPING = 3,
    PROFILE_LOCATION = 4,
    PROFILE_FUNCTION = 5,
    PROFILE_STRING_TABLE = 6,
    PROFILE_TIME_NANOS = 9,
    PROFILE_DURATION_NANOS = 10,
    PROFILE_PERIOD_TYPE = 11,
    PROFILE_PERIOD = 12,
    VALUE_TYPE_TYPE = 1,
    VALUE_TYPE_UNIT = 2,
    SAMPLE_LOCATION_ID = 1,
    SAMPLE_VALUE = 2,
    SAMPLE_LABEL = 3,
    LABEL_KEY = 1,
    LABEL_STR = 2,
    MAPPING_ID = 1,
    MAPPING_MEMORY_START = 2,
    MAPPING_MEMORY_LIMIT = 3,
    MAPPING_FILE_OFFSET = 4,
    MAPPING_FILENAME = 5,
    MAPPING_BUILD_ID = 6,
    MAPPING_HAS_FUNCTIONS = 7,
    MAPPING_HAS_FILENAMES = 8,
    MAPPING_HAS_LINE_NUMBERS = 9,
    MAPPING_HAS_INLINE_FRAMES = 10,
    LOCATION_ID = 1,
    LOCATION_MAPPING_ID = 2,
    LOCATION_ADDRESS = 3,
    LOCATION_LINE = 4,
    LINE_FUNCTION_ID = 1,
    LINE_LINE = 2,
    FUNCTION_ID = 1,
    FUNCTION_NAME = 2,
    FUNCTION_SYSTEM_NAME = 3,
    FUNCTION_FILENAME = 4,
};

enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

/* ---- protobuf encoding ---- */

static void put_varint(struct pt__pbuf *b, uint64_t v)
{
    char tmp[10];
    size_t n = 0;
    do {
        tmp[n++] = (char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v != 0);
    pt__pbuf_put(b, tmp, n);
}

/* A varint field; zero is proto3's default and is left out. */
static void put_uint(struct pt__pbuf *b, unsigned field, uint64_t v)
{
    if (v == 0)
        return;
    put_varint(b, (uint64_t)field << 3 | WIRE_VARINT);
    put_varint(b, v);
}

/* int64 fields encode negative numbers as their 64-bit two's complement (10 bytes). */
static void put_int(struct pt__pbuf *b, unsigned field, int64_t v)
{
    put_uint(b, field, (uint64_t)v);
}

static void put_bytes(struct pt__pbuf *b, unsigned field, const void *s, size_t n)
{
    put_varint(b, (uint64_t)field << 3 | WIRE_LEN);
    put_varint(b, n);
    pt__pbuf_put(b, s, n);
}

/* Appends msg as field of b and empties msg for the next one. */
static void put_msg(struct pt__pbuf *b, unsigned field, struct pt__pbuf *msg)
{
    if (msg->err)
        b->err = msg->err;
    put_bytes(b, field, msg->p, msg->len);
    msg->len = 0;
}

/* ---- the writer ---- */

struct writer {
    const pt__profile *p;
    struct pt__pbuf out, msg, sub;
    struct pt__strtab str; /* the output's string table, borrowing the profile's strings */
    int err;
    /* Functions, one per distinct (name, file) of the profile's strtab. */
    struct {
        uint32_t name, file;
    } * funcs;
    size_t nfuncs, funcs_cap;
    struct pt__itab func_idx;
    uint32_t *line_func; /* the function id of each of the profile's lines */
};

/* The output string index of s; errors are remembered in w->err. */
static uint64_t str(struct writer *w, const char *s)
{
    int64_t r = pt__strtab_intern(&w->str, s);
    if (r < 0) {
        w->err = (int)r;
        return 0;
    }
    return (uint64_t)r;
}

static uint64_t pstr(struct writer *w, uint32_t i)
{
    return i == PT__PROFILE_NONE ? 0 : str(w, w->p->str.s[i]);
}

struct func_key {
    const struct writer *w;
    uint32_t name, file;
};

static uint64_t func_hash(uint32_t name, uint32_t file)
{
    return pt__hash_bytes(&file, sizeof(file), pt__hash_bytes(&name, sizeof(name), PT__HASH_SEED));
}

static uint64_t func_hash_of(const void *ctx, uint32_t i)
{
    const struct writer *w = ctx;
    return func_hash(w->funcs[i].name, w->funcs[i].file);
}

static int func_eq(const void *ctx, uint32_t i)
{
    const struct func_key *k = ctx;
    return k->w->funcs[i].name == k->name && k->w->funcs[i].file == k->file;
}

/* Gives every line of the profile its function (ids from 1), one per distinct (name, file). */
static int number_functions(struct writer *w)
{
    const pt__profile *p = w->p;
    if (p->nlines == 0)
        return 0;
    w->line_func = malloc(p->nlines * sizeof(*w->line_func));
    if (w->line_func == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < p->nlines; i++) {
        const struct pt__prof_line *l = &p->lines[i];
        uint64_t h = func_hash(l->function, l->file);
        struct func_key k = {w, l->function, l->file};
        uint32_t f = pt__itab_find(&w->func_idx, h, func_eq, &k);
        if (f == PT__PROFILE_NONE) {
            if (pt__grow(&w->funcs, &w->funcs_cap, w->nfuncs + 1, sizeof(*w->funcs)) != 0 ||
                pt__itab_insert(&w->func_idx, (uint32_t)w->nfuncs, h, func_hash_of, w) != 0)
                return -ENOMEM;
            f = (uint32_t)w->nfuncs++;
            w->funcs[f].name = l->function;
            w->funcs[f].file = l->file;
        }
        w->line_func[i] = f + 1;
    }
    return 0;
}

static void write_value_type(struct writer *w, unsigned field, uint32_t type, uint32_t unit)
{
    put_uint(&w->msg, VALUE_TYPE_TYPE, pstr(w, type));
    put_uint(&w->msg, VALUE_TYPE_UNIT, pstr(w, unit));
    put_msg(&w->out, field, &w->msg);
}

/* Every non-zero sample: its locations leaf first, its values, its thread as a label. */
static void write_samples(struct writer *w)
{
    const pt__profile *p = w->p;
    uint64_t thread_key = str(w, "thread");
    for (size_t i = 0; i < p->nsamples; i++) {
        const struct pt__prof_sample *s = &p->samples[i];
        const int64_t *v = p->values + i * p->nvalues;
        size_t j = 0;
        while (j < p->nvalues && v[j] == 0)
            j++;
        if (j == p->nvalues)
            continue;
        for (uint32_t d = 0; d < s->depth; d++)
            put_varint(&w->sub, (uint64_t)p->frames[s->frames + d] + 1);
        put_msg(&w->msg, SAMPLE_LOCATION_ID, &w->sub);
        for (j = 0; j < p->nvalues; j++)
            put_varint(&w->sub, (uint64_t)v[j]);
        put_msg(&w->msg, SAMPLE_VALUE, &w->sub);
        if (s->thread != PT__PROFILE_NONE) {
            put_uint(&w->sub, LABEL_KEY, thread_key);
            put_uint(&w->sub, LABEL_STR, pstr(w, s->thread));
            put_msg(&w->msg, SAMPLE_LABEL, &w->sub);
        }
        put_msg(&w->out, PROFILE_SAMPLE, &w->msg);
    }
}

/* A mapping's has_* fields tell pprof its locations are symbolized already (so it does not
 * look for the binary to do it again): set when every pc in it resolved to lines with them. */
static void write_mappings(struct writer *w)
{
    const pt__profile *p = w->p;
    for (size_t m = 0; m < p->nmodules; m++) {
        int funcs = 1, files = 1, lines = 1;
        for (size_t i = 0; i < p->npcs; i++) {
            const struct pt__prof_pc *pc = &p->pcs[i];
            if (pc->module != m)
                continue;
            if (pc->nlines == 0)
                funcs = files = lines = 0;
            for (uint32_t l = 0; l < pc->nlines; l++) {
                files &= p->lines[pc->line_off + l].file != PT__PROFILE_NONE;
                lines &= p->lines[pc->line_off + l].line > 0;
            }
        }
        const struct pt__prof_module *mod = &p->modules[m];
        put_uint(&w->msg, MAPPING_ID, m + 1);
        put_uint(&w->msg, MAPPING_MEMORY_START, mod->start);
        put_uint(&w->msg, MAPPING_MEMORY_LIMIT, mod->end);
        put_uint(&w->msg, MAPPING_FILE_OFFSET, mod->file_offset);
        put_uint(&w->msg, MAPPING_FILENAME, pstr(w, mod->path));
        put_uint(&w->msg, MAPPING_BUILD_ID, pstr(w, mod->build_id));
        put_uint(&w->msg, MAPPING_HAS_FUNCTIONS, (uint64_t)funcs);
        put_uint(&w->msg, MAPPING_HAS_FILENAMES, (uint64_t)(funcs && files));
        put_uint(&w->msg, MAPPING_HAS_LINE_NUMBERS, (uint64_t)(funcs && lines));
        put_uint(&w->msg, MAPPING_HAS_INLINE_FRAMES, (uint64_t)funcs);
        put_msg(&w->out, PROFILE_MAPPING, &w->msg);
    }
}

/* A location per distinct pc (id: its index + 1). A return address is given as the byte
 * before it, inside the call instruction, where its lines were looked up. */
static void write_locations(struct writer *w)
{
    const pt__profile *p = w->p;
    for (size_t i = 0; i < p->npcs; i++) {
        const struct pt__prof_pc *pc = &p->pcs[i];
        put_uint(&w->msg, LOCATION_ID, i + 1);
        if (pc->module != PT__PROFILE_NONE)
            put_uint(&w->msg, LOCATION_MAPPING_ID, (uint64_t)pc->module + 1);
        put_uint(&w->msg, LOCATION_ADDRESS, pc->pc - (pc->is_return && pc->pc > 0));
        for (uint32_t l = 0; l < pc->nlines; l++) {
            put_uint(&w->sub, LINE_FUNCTION_ID, w->line_func[pc->line_off + l]);
            put_int(&w->sub, LINE_LINE, p->lines[pc->line_off + l].line);
            put_msg(&w->msg, LOCATION_LINE, &w->sub);
        }
        put_msg(&w->out, PROFILE_LOCATION, &w->msg);
    }
}

static void write_functions(struct writer *w)
{
    for (size_t f = 0; f < w->nfuncs; f++) {
        uint64_t name = pstr(w, w->funcs[f].name);
        put_uint(&w->msg, FUNCTION_ID, f + 1);
        put_uint(&w->msg, FUNCTION_NAME, name);
        put_uint(&w->msg, FUNCTION_SYSTEM_NAME, name);
        put_uint(&w->msg, FUNCTION_FILENAME, pstr(w, w->funcs[f].file));
        put_msg(&w->out, PROFILE_FUNCTION, &w->msg);
    }
}

/* The string table comes last: every other part has put its strings in by then. */
static void write_profile(struct writer *w)
{
    const pt__profile *p = w->p;
    str(w, ""); /* string_table[0] */
    for (size_t i = 0; i < p->nvalues; i++)
        write_value_type(w, PROFILE_SAMPLE_TYPE, p->type[i], p->unit[i]);
    write_samples(w);
    write_mappings(w);
    write_locations(w);
    write_functions(w);
    write_value_type(w, PROFILE_PERIOD_TYPE, p->period_type, p->period_unit);
    put_int(&w->out, PROFILE_PERIOD, p->period);
    put_int(&w->out, PROFILE_TIME_NANOS, p->time_ns);
    put_int(&w->out, PROFILE_DURATION_NANOS, p->duration_ns);
    for (size_t i = 0; i < w->str.n; i++)
        put_bytes(&w->out, PROFILE_STRING_TABLE, w->str.s[i], strlen(w->str.s[i]));
    if (w->msg.err || w->sub.err)
        w->out.err = -ENOMEM;
}

/* gzip of in[0..n) in *out (malloc'd), *len bytes. 0 or -ENOMEM. */
static int gzip(const void *in, size_t n, void **out, size_t *len)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (n > UINT32_MAX)
        return -ENOMEM; /* zlib's avail_in is a uInt; profiles are far smaller */
    int rc = deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK)
        return rc == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
    /* deflateBound() counts the gzip wrapper, so one deflate() call finishes. */
    uLong cap = deflateBound(&z, (uLong)n);
    unsigned char *buf = malloc(cap);
    if (buf == NULL) {
        deflateEnd(&z);
        return -ENOMEM;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    rc = deflate(&z, Z_FINISH);
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(buf);
        return rc == Z_MEM_ERROR ? -ENOMEM : -EIO;
    }
    *out = buf;
    *len = z.total_out;
    return 0;
}

int pt__profile_pprof(const pt__profile *p, void **out, size_t *len)
{
    struct writer w;
    memset(&w, 0, sizeof(w));
    w.p = p;
    int err = number_functions(&w);
    if (err == 0) {
        write_profile(&w);
        err = w.err ? w.err : w.out.err;
    }
    if (err == 0)
        err = gzip(w.out.p, w.out.len, out, len);
    pt__pbuf_free(&w.out);
    pt__pbuf_free(&w.msg);
    pt__pbuf_free(&w.sub);
    pt__strtab_free(&w.str);
    free(w.funcs);
    pt__itab_free(&w.func_idx);
    free(w.line_func);
    return err;
}
