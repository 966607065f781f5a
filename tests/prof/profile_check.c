/* What the profile tests check output with (profile_check.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "prof/profile_check.h"

/* ---- files and commands ---- */

char pchk_tmpdir[64];

int pchk_setup(void **state)
{
    (void)state;
    strcpy(pchk_tmpdir, "/tmp/pt-test-profile-XXXXXX");
    if (mkdtemp(pchk_tmpdir) == NULL)
        return -1;
    /* go tool pprof keeps fetched profiles under $HOME/pprof (or $PPROF_TMPDIR). */
    setenv("HOME", pchk_tmpdir, 1);
    setenv("PPROF_TMPDIR", pchk_tmpdir, 1);
    return 0;
}

int pchk_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pchk_tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

void pchk_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* What cmd printed (stdout and stderr); fails the test unless it exited 0. */
char *pchk_run(const char *cmd)
{
    char full[1024];
    snprintf(full, sizeof(full), "%s 2>&1", cmd);
    FILE *f = popen(full, "r");
    assert_non_null(f);
    size_t cap = 1 << 16, len = 0, n;
    char *out = malloc(cap);
    assert_non_null(out);
    while ((n = fread(out + len, 1, cap - 1 - len, f)) > 0) {
        len += n;
        if (len + 1 == cap) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
    }
    out[len] = '\0';
    int st = pclose(f);
    if (st != 0)
        fail_msg("`%s` exited with %d:\n%s", cmd, st, out);
    return out;
}

void pchk_require_go(void)
{
    if (system("command -v go >/dev/null 2>&1") != 0)
        fail_msg("`go` is not on PATH: the pprof tests read profiles back with `go tool pprof` "
                 "(golang-go; scripts/deps.sh installs it)");
}

/* Runs go tool pprof with args on file; returns its output. */
char *pchk_pprof(const char *args, const char *file)
{
    pchk_require_go();
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "go tool pprof %s '%s'", args, file);
    return pchk_run(cmd);
}

/* The flat% and cum% go tool pprof -top printed for function name ("name" or
 * "name (inline)"); fails when the function is not there. */
static void top_shares(const char *top, const char *name, double *flat, double *cum)
{
    for (const char *l = top; *l != '\0';) {
        const char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        char line[512];
        if (len < sizeof(line)) {
            memcpy(line, l, len);
            line[len] = '\0';
            char fv[32], fp[32], sp[32], cv[32], cp[32];
            int off = 0;
            if (sscanf(line, " %31s %31[0-9.]%% %31[0-9.]%% %31s %31[0-9.]%% %n", fv, fp, sp, cv,
                       cp, &off) == 5 &&
                off > 0) {
                const char *fn = line + off;
                size_t n = strlen(name);
                if (strncmp(fn, name, n) == 0 && (fn[n] == '\0' || fn[n] == ' ')) {
                    *flat = atof(fp);
                    *cum = atof(cp);
                    return;
                }
            }
        }
        l += len + (nl != NULL);
    }
    fail_msg("%s is not in go tool pprof -top's output:\n%s", name, top);
}

void pchk_assert_share(const char *top, const char *name, double flat, double cum)
{
    double f = -1, c = -1;
    top_shares(top, name, &f, &c);
    if (f < flat - 0.5 || f > flat + 0.5 || c < cum - 0.5 || c > cum + 0.5)
        fail_msg("%s: flat %.2f%% cum %.2f%%, expected %.2f%% and %.2f%%:\n%s", name, f, c, flat,
                 cum, top);
}

/* ---- a small protobuf reader, for pprof's output ---- */

struct rd {
    const uint8_t *p, *end;
};

static int rd_varint(struct rd *r, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return -1;
        uint8_t c = *r->p++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return 0;
    }
    return -1;
}

/* The next field: its number, and either its varint (*v) or its bytes (*sub). 1 at the end,
 * -1 on broken input. */
static int rd_field(struct rd *r, unsigned *field, uint64_t *v, struct rd *sub)
{
    if (r->p == r->end)
        return 1;
    uint64_t tag;
    if (rd_varint(r, &tag) != 0)
        return -1;
    *field = (unsigned)(tag >> 3);
    switch (tag & 7) {
    case 0: return rd_varint(r, v);
    case 2:
        if (rd_varint(r, v) != 0 || *v > (uint64_t)(r->end - r->p))
            return -1;
        sub->p = r->p;
        sub->end = r->p + *v;
        r->p += *v;
        return 0;
    }
    return -1;
}

static uint8_t *gunzip(const void *gz, size_t n, size_t *out_len)
{
    size_t cap = 1 << 16;
    uint8_t *out = malloc(cap);
    assert_non_null(out);
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)gz;
    z.avail_in = (uInt)n;
    int rc;
    do {
        if (z.total_out == cap) {
            cap *= 2;
            out = realloc(out, cap);
            assert_non_null(out);
        }
        z.next_out = out + z.total_out;
        z.avail_out = (uInt)(cap - z.total_out);
        rc = inflate(&z, Z_NO_FLUSH);
    } while (rc == Z_OK);
    assert_int_equal(rc, Z_STREAM_END);
    *out_len = z.total_out;
    inflateEnd(&z);
    return out;
}

#define MAX_IDS 200000

static uint8_t *loc_seen, *fn_seen;
static uint64_t *loc_refs, *fn_refs; /* as many as the bytes of the input: a varint has one */
static size_t nloc_refs, nfn_refs;

static void note_ref(uint64_t **refs, size_t *n, uint64_t id)
{
    (*refs)[(*n)++] = id;
}

/* Walks a serialized Profile: counts, string table, and which ids exist and are referenced. */
void pchk_decode(const void *gz, size_t n, struct pchk_decoded *d)
{
    memset(d, 0, sizeof(*d));
    size_t len;
    uint8_t *pb = gunzip(gz, n, &len);
    loc_seen = calloc(MAX_IDS, 1);
    fn_seen = calloc(MAX_IDS, 1);
    loc_refs = malloc((len + 1) * sizeof(uint64_t));
    fn_refs = malloc((len + 1) * sizeof(uint64_t));
    d->strings = malloc(len + 1);
    assert_true(loc_seen && fn_seen && loc_refs && fn_refs && d->strings);
    nloc_refs = nfn_refs = 0;
    struct rd r = {pb, pb + len}, m, s, t;
    unsigned f, g, h;
    uint64_t v, w, x;
    int rc;
    while ((rc = rd_field(&r, &f, &v, &m)) == 0) {
        switch (f) {
        case 1: d->nsample_types++; break;
        case 2: { /* Sample */
            d->nsamples++;
            size_t nvalues = 0;
            while ((rc = rd_field(&m, &g, &w, &s)) == 0) {
                if (g == 1) /* packed location ids */
                    while (s.p < s.end) {
                        assert_int_equal(rd_varint(&s, &x), 0);
                        note_ref(&loc_refs, &nloc_refs, x);
                    }
                else if (g == 2)
                    while (s.p < s.end) {
                        assert_int_equal(rd_varint(&s, &x), 0);
                        assert_true(nvalues < 8);
                        d->value_sum[nvalues++] += (int64_t)x;
                    }
                else if (g == 3) {
                    d->thread_labels++;
                    while ((rc = rd_field(&s, &h, &x, &t)) == 0)
                        if (h == 1 || h == 2)
                            d->max_string_ref = x > d->max_string_ref ? x : d->max_string_ref;
                    assert_int_equal(rc, 1);
                }
            }
            assert_int_equal(rc, 1);
            break;
        }
        case 3: /* Mapping */
            d->nmappings++;
            while ((rc = rd_field(&m, &g, &w, &s)) == 0)
                if (g >= 7 && g <= 10 && w)
                    d->mapping_flags |= 1 << (g - 7);
            assert_int_equal(rc, 1);
            break;
        case 4: { /* Location */
            d->nlocations++;
            size_t nl = 0;
            while ((rc = rd_field(&m, &g, &w, &s)) == 0) {
                if (g == 1) {
                    assert_true(w > 0 && w < MAX_IDS);
                    assert_false(loc_seen[w]);
                    loc_seen[w] = 1;
                } else if (g == 4) {
                    nl++;
                    while ((rc = rd_field(&s, &h, &x, &t)) == 0)
                        if (h == 1)
                            note_ref(&fn_refs, &nfn_refs, x);
                    assert_int_equal(rc, 1);
                }
            }
            assert_int_equal(rc, 1);
            if (nl > d->nlines_per_location_max)
                d->nlines_per_location_max = nl;
            break;
        }
        case 5: /* Function */
            d->nfunctions++;
            while ((rc = rd_field(&m, &g, &w, &s)) == 0) {
                if (g == 1) {
                    assert_true(w > 0 && w < MAX_IDS);
                    assert_false(fn_seen[w]);
                    fn_seen[w] = 1;
                } else if (g >= 2 && g <= 4) {
                    d->max_string_ref = w > d->max_string_ref ? w : d->max_string_ref;
                }
            }
            assert_int_equal(rc, 1);
            break;
        case 6: /* string */
            if (d->nstrings == 0) {
                assert_true(v < sizeof(d->first_string));
                memcpy(d->first_string, m.p, v);
            }
            memcpy(d->strings + d->strings_len, m.p, v);
            d->strings_len += v;
            d->strings[d->strings_len++] = '\0';
            d->nstrings++;
            break;
        case 9: d->time_nanos = v; break;
        case 10: d->duration_nanos = v; break;
        case 12: d->period = v; break;
        }
    }
    assert_int_equal(rc, 1);
    for (size_t i = 0; i < nloc_refs; i++)
        if (loc_refs[i] >= MAX_IDS || !loc_seen[loc_refs[i]])
            fail_msg("a sample refers to location %llu, which is not there",
                     (unsigned long long)loc_refs[i]);
    for (size_t i = 0; i < nfn_refs; i++)
        if (fn_refs[i] >= MAX_IDS || !fn_seen[fn_refs[i]])
            fail_msg("a line refers to function %llu, which is not there",
                     (unsigned long long)fn_refs[i]);
    assert_true(d->max_string_ref < d->nstrings);
    free(pb);
    free(loc_seen);
    free(fn_seen);
    free(loc_refs);
    free(fn_refs);
}

int pchk_has_string(const struct pchk_decoded *d, const char *s)
{
    for (size_t off = 0; off < d->strings_len; off += strlen(d->strings + off) + 1)
        if (strcmp(d->strings + off, s) == 0)
            return 1;
    return 0;
}

void pchk_assert_xml(const char *svg, size_t len, const char *name)
{
    char file[128], cmd[512];
    snprintf(file, sizeof(file), "%s/%s", pchk_tmpdir, name);
    pchk_write_file(file, svg, len);
    snprintf(cmd, sizeof(cmd),
             "python3 -c 'import xml.etree.ElementTree as E,sys; E.parse(sys.argv[1])' '%s'", file);
    free(pchk_run(cmd));
}

size_t pchk_count(const char *s, const char *what)
{
    /* By hand: ASan's strstr() measures the rest of s on every call. */
    size_t n = 0, len = strlen(what);
    for (const char *q = s; *q != '\0'; q++)
        if (*q == what[0] && strncmp(q, what, len) == 0) {
            n++;
            q += len - 1;
        }
    return n;
}
