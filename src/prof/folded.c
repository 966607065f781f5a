/* Folded stacks (Brendan Gregg's stackcollapse format): "main;uv_run;handler 42\n", one line
 * per distinct stack, which flamegraph.pl, speedscope and inferno read. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prof/profile_internal.h"

/* Appends a frame's name with the bytes the format cannot carry replaced: ';' separates
 * frames, a newline ends the line, and control bytes would break the sort order below. */
static void put_name(struct pt__pbuf *b, const char *s)
{
    size_t start = b->len;
    pt__pbuf_puts(b, s);
    if (b->err)
        return;
    for (size_t i = start; i < b->len; i++) {
        unsigned char c = (unsigned char)b->p[i];
        if (c == ';')
            b->p[i] = ':';
        else if (c < 0x20 || c == 0x7f)
            b->p[i] = '?';
    }
}

/* A pc without lines: "module+0xoffset" when its module is known, else "0xaddress". */
static void put_unknown(struct pt__pbuf *b, const pt__profile *p, const struct pt__prof_pc *pc)
{
    char hex[2 + 16 + 1];
    if (pc->module == PT__PROFILE_NONE) {
        snprintf(hex, sizeof(hex), "0x%" PRIxPTR, pc->pc);
        pt__pbuf_puts(b, hex);
        return;
    }
    const struct pt__prof_module *m = &p->modules[pc->module];
    const char *path = p->str.s[m->path];
    const char *base = strrchr(path, '/');
    put_name(b, base ? base + 1 : path);
    snprintf(hex, sizeof(hex), "0x%" PRIx64, (uint64_t)pc->pc - m->start + m->file_offset);
    pt__pbuf_putc(b, '+');
    pt__pbuf_puts(b, hex);
}

/* Appends sample s's frames root first: the thread (when asked), then for every pc its lines
 * outermost first (inlined functions are frames of their own). */
static void put_stack(struct pt__pbuf *b, const pt__profile *p, const struct pt__prof_sample *s,
                      int threads)
{
    size_t start = b->len;
    if (threads && s->thread != PT__PROFILE_NONE)
        put_name(b, p->str.s[s->thread]);
    for (uint32_t d = s->depth; d-- > 0;) {
        const struct pt__prof_pc *pc = &p->pcs[p->frames[s->frames + d]];
        if (pc->nlines == 0) {
            if (b->len > start)
                pt__pbuf_putc(b, ';');
            put_unknown(b, p, pc);
        }
        for (uint32_t l = pc->nlines; l-- > 0;) {
            if (b->len > start)
                pt__pbuf_putc(b, ';');
            put_name(b, p->str.s[p->lines[pc->line_off + l].function]);
        }
    }
    if (b->len == start)
        pt__pbuf_puts(b, "[no stack]");
    pt__pbuf_putc(b, '\0');
}

/* strcmp with ';' ordered below every other byte, so that "a;b" < "a b" and the stacks under
 * one frame stay together. */
static int frame_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned ca = *a == ';' ? 1u : (unsigned char)*a;
        unsigned cb = *b == ';' ? 1u : (unsigned char)*b;
        if (ca != cb)
            return ca < cb ? -1 : 1;
        if (ca == 0)
            return 0;
    }
}

static int stack_cmp(const void *a, const void *b)
{
    return frame_cmp(((const struct pt__prof_stack *)a)->text,
                     ((const struct pt__prof_stack *)b)->text);
}

int pt__profile_stacks(const pt__profile *p, size_t i, int threads, struct pt__prof_stack **out,
                       size_t *n)
{
    if (i >= p->nvalues)
        return -EINVAL;
    struct pt__pbuf text = {0};
    struct pt__prof_stack *st = NULL;
    size_t count = 0;
    /* First the texts, one NUL-terminated string each, in one buffer (text.p moves while it
     * grows, so the stacks keep offsets until it is done)... */
    for (size_t s = 0; s < p->nsamples; s++)
        if (p->values[s * p->nvalues + i] != 0) {
            put_stack(&text, p, &p->samples[s], threads);
            count++;
        }
    if (text.err)
        goto fail;
    /* ...then one block holding the stacks and the text after them. */
    size_t head = count * sizeof(*st);
    if (head + text.len < head)
        goto fail;
    st = malloc(head + text.len + 1);
    if (st == NULL)
        goto fail;
    char *t = (char *)st + head;
    if (text.len)
        memcpy(t, text.p, text.len);
    pt__pbuf_free(&text);
    size_t k = 0, off = 0;
    for (size_t s = 0; s < p->nsamples; s++) {
        int64_t v = p->values[s * p->nvalues + i];
        if (v == 0)
            continue;
        st[k].text = t + off;
        st[k].value = v;
        off += strlen(t + off) + 1;
        k++;
    }
    qsort(st, count, sizeof(*st), stack_cmp);
    /* Merge equal stacks (other threads, other pcs of the same lines); drop what sums to 0. */
    size_t m = 0;
    for (k = 0; k < count; k++) {
        if (m > 0 && strcmp(st[m - 1].text, st[k].text) == 0) {
            if (__builtin_add_overflow(st[m - 1].value, st[k].value, &st[m - 1].value))
                st[m - 1].value = st[k].value > 0 ? INT64_MAX : INT64_MIN;
        } else {
            if (m > 0 && st[m - 1].value == 0)
                m--;
            st[m++] = st[k];
        }
    }
    if (m > 0 && st[m - 1].value == 0)
        m--;
    *out = st;
    *n = m;
    return 0;
fail:
    pt__pbuf_free(&text);
    return -ENOMEM;
}

int pt__profile_folded(const pt__profile *p, size_t i, int threads, char **out, size_t *len)
{
    struct pt__prof_stack *st;
    size_t n;
    int err = pt__profile_stacks(p, i, threads, &st, &n);
    if (err != 0)
        return err;
    struct pt__pbuf b = {0};
    pt__pbuf_reserve(&b, 1);
    for (size_t k = 0; k < n; k++) {
        char num[24];
        snprintf(num, sizeof(num), " %" PRId64 "\n", st[k].value);
        pt__pbuf_puts(&b, st[k].text);
        pt__pbuf_puts(&b, num);
    }
    free(st);
    pt__pbuf_putc(&b, '\0');
    if (b.err) {
        pt__pbuf_free(&b);
        return -ENOMEM;
    }
    *out = b.p;
    *len = b.len - 1;
    return 0;
}
