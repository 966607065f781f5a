/* Building and freeing header-name sets (server.h); the lookup is server.c's. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/header_set.h"

/* Writes the words of name[0..n) to w, each followed by 0x20 in its letters' bytes. */
static void name_words_of(const char *name, size_t n, uint64_t *w)
{
    for (size_t j = 0; j < name_words(n); j++) {
        uint64_t x = 0, letters = 0;
        if (n < 8)
            x = short_word(name, n);
        else
            memcpy(&x, name + (j + 1 < name_words(n) ? 8 * j : n - 8), 8);
        for (int b = 0; b < 8; b++) {
            unsigned char c = (unsigned char)(x >> 8 * b);
            if (c >= 'a' && c <= 'z')
                letters |= (uint64_t)0x20 << 8 * b;
        }
        w[2 * j] = x;
        w[2 * j + 1] = letters;
    }
}

int pt__http_header_set_init(pt__http_header_set *s, const char *const *names, size_t n)
{
    memset(s, 0, sizeof *s);
    if (n > UINT16_MAX)
        return -EINVAL; /* slots hold index + 1 in their low 16 bits */
    size_t nwords = 0;
    for (size_t k = 0; k < n; k++) {
        if (!names[k])
            return -EINVAL;
        for (const char *p = names[k]; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                return -EINVAL;
        size_t len = strlen(names[k]);
        if (len > UINT32_MAX)
            return -EINVAL; /* no request's header is that long */
        nwords += name_words(len); /* the names are in memory: no overflow */
    }
    if (n == 0)
        return 0;
    /* At most a quarter full: most probes for a name not in the set end at once. */
    size_t nslots = 16;
    while (nslots < 4 * n)
        nslots *= 2;
    /* One block: the names, their words, the slots. */
    size_t fixed = n * sizeof *s->names + nslots * sizeof *s->slots;
    if (nwords > (SIZE_MAX - fixed) / (2 * sizeof(uint64_t)))
        return -ENOMEM;
    size_t size = fixed + nwords * 2 * sizeof(uint64_t);
    char *p = calloc(1, size);
    if (!p)
        return -ENOMEM;
    s->names = (pt__http_header_name *)p;
    uint64_t *words = (uint64_t *)(s->names + n);
    s->slots = (uint32_t *)(words + 2 * nwords);
    s->mask = (uint32_t)nslots - 1;
    s->n = n;
    for (size_t k = 0; k < n; k++) {
        pt__http_header_name *e = &s->names[k];
        size_t len = strlen(names[k]);
        e->name = names[k];
        e->len = (uint32_t)len;
        e->hash = name_hash(e->name, len);
        e->words = words;
        name_words_of(e->name, len, words);
        words += 2 * name_words(len);
        e->first = set_find(s, e->name, len, e->hash);
        if (e->first != NOT_IN_SET)
            continue;
        e->first = k;
        uint32_t slot = e->hash & s->mask;
        while (s->slots[slot])
            slot = (slot + 1) & s->mask;
        s->slots[slot] = (e->hash & 0xffff0000u) | (uint32_t)(k + 1);
        s->ndistinct++;
    }
    return 0;
}

void pt__http_header_set_free(pt__http_header_set *s)
{
    free(s->names); /* the block */
    memset(s, 0, sizeof *s);
}

