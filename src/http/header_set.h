/* Header-name sets (server.h: pt__http_header_set): the hash and the probe, inline for the
 * request path (server.c) and for building a set (header_set.c). */
#ifndef PT_HTTP_HEADER_SET_H
#define PT_HTTP_HEADER_SET_H

#include <stdint.h>
#include <string.h>

#include "http/server.h"

/* A header name is read a word at a time: for 8 bytes or more, its 8-byte words, the last one
 * overlapping the one before; shorter, one word (short_word). Two names of one length are equal
 * when their words are, and no byte past the name is read. */
static inline uint64_t short_word(const char *s, size_t n)
{
    if (n >= 4) {
        uint32_t a0, a1;
        memcpy(&a0, s, 4);
        memcpy(&a1, s + n - 4, 4);
        return (uint64_t)a1 << 32 | a0;
    }
    const unsigned char *b = (const unsigned char *)s;
    return n ? (uint64_t)b[0] | (uint64_t)b[n / 2] << 8 | (uint64_t)b[n - 1] << 16 : 0;
}

static inline size_t name_words(size_t n)
{
    return n < 8 ? 1 : (n + 7) / 8;
}

/* 0x20 in every byte: set, it makes capitals small, and a few other bytes alike ('^' and
 * '~'), which only the hash confuses. */
#define SMALL 0x2020202020202020ull
#define MIX 0x9e3779b97f4a7c15ull

/* A header name's hash, the same whatever the case of its ASCII letters: its length and its
 * first and last words (its one word under 8 bytes; all of it up to 16) with SMALL set, mixed
 * by multiplying. Longer names that differ only in between share a hash: the lookup tells
 * them apart by their words, at the cost of a longer probe. */
static inline uint32_t name_hash(const char *s, size_t n)
{
    uint64_t first, last;
    if (n < 8)
        return (uint32_t)((((uint64_t)n ^ (short_word(s, n) | SMALL)) * MIX) >> 32);
    memcpy(&first, s, 8);
    memcpy(&last, s + n - 8, 8);
    uint64_t h = ((uint64_t)n ^ (first | SMALL)) * MIX;
    return (uint32_t)(((h ^ (last | SMALL)) * MIX) >> 32);
}

/* s[0..n) is the name whose words are w (n its length), letters in either case (strncasecmp
 * in the C locale): each word of s, with 0x20 set where the name has a letter, is the name's. */
static inline int name_is(const uint64_t *w, const char *s, size_t n)
{
    uint64_t x;
    if (n < 8)
        return (short_word(s, n) | w[1]) == w[0];
    const char *last = s + n - 8;
    for (; s < last; s += 8, w += 2) {
        memcpy(&x, s, 8);
        if ((x | w[1]) != w[0])
            return 0;
    }
    memcpy(&x, last, 8);
    return (x | w[1]) == w[0];
}

#define NOT_IN_SET SIZE_MAX

/* The index of the first name of set equal to s[0..n) (either case), hash its name_hash(), or
 * NOT_IN_SET. */
static inline size_t set_find(const pt__http_header_set *set, const char *s, size_t n,
                              uint32_t hash)
{
    uint32_t slot;
    for (uint32_t at = hash & set->mask; (slot = set->slots[at]) != 0; at = (at + 1) & set->mask) {
        if ((slot ^ hash) >> 16)
            continue; /* another name's: its hash's high half differs */
        size_t k = (slot & 0xffff) - 1;
        const pt__http_header_name *e = &set->names[k];
        if (e->hash == hash && e->len == n && name_is(e->words, s, n))
            return k;
    }
    return NOT_IN_SET;
}

#endif
