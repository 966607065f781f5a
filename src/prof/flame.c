/* An SVG flame graph, drawn by potter itself in the manner of Brendan Gregg's flamegraph.pl:
 * the stacks merged into a tree, root ("all") at the bottom, each box as wide as its share,
 * children above their parent in name order. Plain SVG: a browser shows each box's title on
 * hover; no script. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prof/profile_internal.h"

#define IMAGE_WIDTH 1200
#define XPAD 10
#define FRAME_HEIGHT 16
#define FONT_SIZE 12
#define TITLE_HEIGHT 36 /* above the boxes */
#define BOTTOM_PAD 18 /* below them */
/* Average glyph width of a 12px sans-serif font, in hundredths of a pixel. */
#define CHAR_WIDTH_100 708
/* Boxes under a thousandth of the total are left out (they would be under 1.2 px). */
#define MIN_SHARE_DIV 1000

struct node {
    const char *name;
    size_t name_len;
    int64_t value, x; /* x: the value left of it, in its row */
    int64_t used; /* the value of its children so far */
    uint32_t depth;
};

struct tree {
    struct node *n;
    size_t count, cap;
};

/* Adds stack st (value > 0) to the tree: the frames it shares with the path of open nodes
 * (path[0] the root, path[1..*depth] the last stack's frames) are reused, the rest are new
 * nodes. Stacks come sorted frame by frame, so a node is complete before its next sibling
 * starts and a new node's x is its parent's x plus the siblings before it. 0 or -ENOMEM. */
static int tree_add(struct tree *t, const struct pt__prof_stack *st, size_t **path,
                    size_t *path_cap, size_t *depth)
{
    const char *f = st->text;
    size_t d = 0; /* the level of the parent of frame f */
    int shared = 1;
    t->n[0].value += st->value;
    while (*f != '\0') {
        const char *end = strchr(f, ';');
        size_t len = end ? (size_t)(end - f) : strlen(f);
        struct node *parent = &t->n[(*path)[d]];
        size_t child;
        if (shared && d + 1 <= *depth && t->n[(*path)[d + 1]].name_len == len &&
            memcmp(t->n[(*path)[d + 1]].name, f, len) == 0) {
            child = (*path)[d + 1];
        } else {
            shared = 0;
            if (pt__grow(&t->n, &t->cap, t->count + 1, sizeof(*t->n)) != 0 ||
                pt__grow(path, path_cap, d + 2, sizeof(**path)) != 0)
                return -ENOMEM;
            parent = &t->n[(*path)[d]];
            child = t->count++;
            t->n[child] = (struct node){.name = f,
                                        .name_len = len,
                                        .x = parent->x + parent->used,
                                        .depth = (uint32_t)(d + 1)};
            (*path)[d + 1] = child;
        }
        parent->used += st->value;
        t->n[child].value += st->value;
        d++;
        f = end ? end + 1 : f + len;
    }
    *depth = d;
    return 0;
}

/* A non-negative number with two decimals, without the locale's decimal comma. */
static void put_fixed(struct pt__pbuf *b, double v)
{
    char s[32];
    long long h = (long long)(v * 100 + 0.5);
    snprintf(s, sizeof(s), "%lld.%02lld", h / 100, h % 100);
    pt__pbuf_puts(b, s);
}

static void put_int(struct pt__pbuf *b, int64_t v)
{
    char s[24];
    snprintf(s, sizeof(s), "%" PRId64, v);
    pt__pbuf_puts(b, s);
}

/* Length of the valid UTF-8 sequence at s[0..n) (2..4), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (len == 0 || len > n || (len == 4 && s[0] > 0xf4))
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

/* Appends s[0..n) as XML character data or an attribute value: markup escaped, bytes XML
 * cannot hold (control bytes, broken UTF-8) as '?'. */
static void put_xml(struct pt__pbuf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = u[i];
        if (c == '&')
            pt__pbuf_puts(b, "&amp;");
        else if (c == '<')
            pt__pbuf_puts(b, "&lt;");
        else if (c == '>')
            pt__pbuf_puts(b, "&gt;");
        else if (c == '"')
            pt__pbuf_puts(b, "&quot;");
        else if (c == '\'')
            pt__pbuf_puts(b, "&#39;");
        else if (c < 0x20 || c == 0x7f)
            pt__pbuf_putc(b, '?');
        else if (c < 0x80)
            pt__pbuf_putc(b, (char)c);
        else {
            size_t len = utf8_len(u + i, n - i);
            if (len == 0) {
                pt__pbuf_putc(b, '?');
            } else {
                pt__pbuf_put(b, u + i, len);
                i += len - 1;
            }
        }
    }
}

/* The deterministic warm colour of a name (flamegraph.pl's "hot" palette: red to yellow). */
static void put_colour(struct pt__pbuf *b, const char *name, size_t len)
{
    uint64_t h = pt__hash_bytes(name, len, PT__HASH_SEED);
    h ^= h >> 29;
    char s[32];
    snprintf(s, sizeof(s), "rgb(%u,%u,%u)", 205 + (unsigned)(h % 51), (unsigned)((h >> 8) % 231),
             (unsigned)((h >> 16) % 56));
    pt__pbuf_puts(b, s);
}

/* One box: <g><title>name (N unit, P%)</title><rect/><text>clipped name</text></g>. */
static void put_box(struct pt__pbuf *b, const struct node *n, int64_t total, const char *unit,
                    int height)
{
    double scale = (double)(IMAGE_WIDTH - 2 * XPAD) / (double)total;
    double x = XPAD + (double)n->x * scale, w = (double)n->value * scale;
    int y = height - BOTTOM_PAD - ((int)n->depth + 1) * FRAME_HEIGHT;
    pt__pbuf_puts(b, "<g><title>");
    put_xml(b, n->name, n->name_len);
    pt__pbuf_puts(b, " (");
    put_int(b, n->value);
    pt__pbuf_putc(b, ' ');
    put_xml(b, unit, strlen(unit));
    pt__pbuf_puts(b, ", ");
    put_fixed(b, (double)n->value * 100 / (double)total);
    pt__pbuf_puts(b, "%)</title><rect x=\"");
    put_fixed(b, x);
    pt__pbuf_puts(b, "\" y=\"");
    put_int(b, y);
    pt__pbuf_puts(b, "\" width=\"");
    put_fixed(b, w);
    pt__pbuf_puts(b, "\" height=\"");
    put_int(b, FRAME_HEIGHT - 1);
    pt__pbuf_puts(b, "\" rx=\"2\" fill=\"");
    put_colour(b, n->name, n->name_len);
    pt__pbuf_puts(b, "\"/>");
    /* As many characters as fit, ".." marking a cut; none in a box under 3 characters. */
    double chars = (w - 6) * 100 / CHAR_WIDTH_100;
    if (chars >= 3) {
        size_t fit = (size_t)chars;
        size_t len = n->name_len;
        int cut = len > fit;
        if (cut) {
            len = fit - 2;
            while (len > 0 && ((unsigned char)n->name[len] & 0xc0) == 0x80)
                len--; /* not inside a UTF-8 character */
        }
        pt__pbuf_puts(b, "<text x=\"");
        put_fixed(b, x + 3);
        pt__pbuf_puts(b, "\" y=\"");
        put_int(b, y + FRAME_HEIGHT - 4);
        pt__pbuf_puts(b, "\">");
        put_xml(b, n->name, len);
        if (cut)
            pt__pbuf_puts(b, "..");
        pt__pbuf_puts(b, "</text>");
    }
    pt__pbuf_puts(b, "</g>\n");
}

static void put_head(struct pt__pbuf *b, const char *title, int height)
{
    pt__pbuf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
                     "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"");
    put_int(b, IMAGE_WIDTH);
    pt__pbuf_puts(b, "\" height=\"");
    put_int(b, height);
    pt__pbuf_puts(b, "\" viewBox=\"0 0 ");
    put_int(b, IMAGE_WIDTH);
    pt__pbuf_putc(b, ' ');
    put_int(b, height);
    pt__pbuf_puts(b, "\" font-family=\"Verdana, sans-serif\" font-size=\"12\">\n"
                     "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"#f8f8f0\"/>\n"
                     "<text x=\"600\" y=\"24\" text-anchor=\"middle\" font-size=\"17\">");
    put_xml(b, title, strlen(title));
    pt__pbuf_puts(b, "</text>\n");
}

/* The tree of p's stacks of value index i with a positive value; node 0 is the root. */
static int build_tree(const pt__profile *p, size_t i, struct tree *t,
                      struct pt__prof_stack **stacks)
{
    size_t n;
    int err = pt__profile_stacks(p, i, 0, stacks, &n);
    if (err != 0)
        return err;
    /* Every node's value is at most the root's: a total that fits keeps all sums in range. */
    int64_t total = 0;
    for (size_t k = 0; k < n; k++)
        if ((*stacks)[k].value > 0 && __builtin_add_overflow(total, (*stacks)[k].value, &total))
            return -EOVERFLOW;
    size_t *path = NULL, path_cap = 0, depth = 0;
    if (pt__grow(&t->n, &t->cap, 1, sizeof(*t->n)) != 0 ||
        pt__grow(&path, &path_cap, 1, sizeof(*path)) != 0) {
        free(path);
        return -ENOMEM;
    }
    t->n[0] = (struct node){.name = "all", .name_len = 3};
    t->count = 1;
    path[0] = 0;
    for (size_t k = 0; k < n && err == 0; k++)
        if ((*stacks)[k].value > 0)
            err = tree_add(t, &(*stacks)[k], &path, &path_cap, &depth);
    free(path);
    return err;
}

int pt__profile_flame_svg(const pt__profile *p, size_t i, const char *title, char **out,
                          size_t *len)
{
    struct tree t = {0};
    struct pt__prof_stack *stacks = NULL;
    int err = build_tree(p, i, &t, &stacks);
    if (err != 0)
        goto done;
    if (title == NULL)
        title = "Flame Graph";
    const char *unit = p->str.s[p->unit[i]];
    if (strcmp(unit, "count") == 0)
        unit = "samples";
    int64_t total = t.n[0].value;
    uint32_t max_depth = 0;
    for (size_t k = 0; k < t.count; k++)
        if (t.n[k].value * (double)MIN_SHARE_DIV >= (double)total && t.n[k].depth > max_depth)
            max_depth = t.n[k].depth;
    int height = TITLE_HEIGHT + ((int)max_depth + 1) * FRAME_HEIGHT + BOTTOM_PAD;
    struct pt__pbuf b = {0};
    if (total <= 0) {
        height = TITLE_HEIGHT + 3 * FRAME_HEIGHT;
        put_head(&b, title, height);
        pt__pbuf_puts(&b, "<text x=\"600\" y=\"64\" text-anchor=\"middle\">no samples</text>\n");
    } else {
        put_head(&b, title, height);
        for (size_t k = 0; k < t.count; k++)
            if (t.n[k].value * (double)MIN_SHARE_DIV >= (double)total)
                put_box(&b, &t.n[k], total, unit, height);
    }
    pt__pbuf_puts(&b, "</svg>\n");
    pt__pbuf_putc(&b, '\0');
    if (b.err) {
        pt__pbuf_free(&b);
        err = -ENOMEM;
        goto done;
    }
    *out = b.p;
    *len = b.len - 1;
done:
    free(t.n);
    free(stacks);
    return err;
}
