/* The health document served at /health and /ready (public form) and on the control port's
 * /health (detailed form). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "health/health_internal.h"
#include "potter/health.h"

struct buf {
    char *data;
    size_t len, cap;
    int oom;
};

static void buf_reserve(struct buf *b, size_t more)
{
    size_t cap;
    char *data;

    if (b->oom)
        return;
    if (b->len + more + 1 <= b->cap)
        return;
    if (b->len + more + 1 <= b->len) {
        b->oom = 1;
        return;
    }
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    data = realloc(b->data, cap);
    if (!data) {
        b->oom = 1;
        return;
    }
    b->data = data;
    b->cap = cap;
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) { /* only short numbers and dates come here */
        b->oom = 1;
        return;
    }
    buf_add(b, tmp, (size_t)n);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if the bytes there are not one. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    size_t n, i;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    /* Overlong forms, surrogates and code points past U+10FFFF are not UTF-8. */
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Appends s as a JSON string: quotes, escapes, U+FFFD for bytes that are not UTF-8. */
static void buf_json_str(struct buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);

    buf_add(b, "\"", 1);
    while (left) {
        size_t n = utf8_len(p, left);
        if (n == 0) {
            buf_str(b, "\\ufffd");
            n = 1;
        } else if (*p == '"' || *p == '\\') {
            buf_add(b, "\\", 1);
            buf_add(b, (const char *)p, 1);
        } else if (*p == '\n') {
            buf_str(b, "\\n");
        } else if (*p == '\r') {
            buf_str(b, "\\r");
        } else if (*p == '\t') {
            buf_str(b, "\\t");
        } else if (*p < 0x20 || *p == 0x7f) {
            buf_printf(b, "\\u%04x", *p);
        } else {
            buf_add(b, (const char *)p, n);
        }
        p += n;
        left -= n;
    }
    buf_add(b, "\"", 1);
}

/* "2026-11-22T17:21:05.123Z", or null for 0. */
static void buf_time(struct buf *b, int64_t wall_ns)
{
    time_t secs;
    struct tm tm;
    char text[40];

    if (wall_ns <= 0) {
        buf_str(b, "null");
        return;
    }
    secs = (time_t)(wall_ns / 1000000000);
    if (!gmtime_r(&secs, &tm) || strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        buf_str(b, "null");
        return;
    }
    buf_printf(b, "\"%s.%03dZ\"", text, (int)(wall_ns / 1000000 % 1000));
}

static void check_detailed(struct buf *b, const struct pt__health_check *c)
{
    const pt_health_result *r = &c->result;

    buf_str(b, "{\"status\":\"");
    buf_str(b, pt_health_state_name(r->state));
    buf_str(b, c->critical ? "\",\"critical\":true" : "\",\"critical\":false");
    if (r->runs)
        buf_printf(b, ",\"latency_ms\":%.3f", (double)r->latency_ns / 1e6);
    else
        buf_str(b, ",\"latency_ms\":null");
    buf_str(b, ",\"error\":");
    if (r->error[0])
        buf_json_str(b, r->error);
    else
        buf_str(b, "null");
    buf_str(b, ",\"since\":");
    buf_time(b, r->since_wall_ns);
    buf_printf(b, ",\"consecutive_failures\":%" PRIu64 ",\"last_run\":", r->consecutive_failures);
    buf_time(b, r->last_run_wall_ns);
    buf_add(b, "}", 1);
}

int pt_health_json(pt_health *h, unsigned view, char **out, int *http_status)
{
    struct buf b = {0};
    pt_health_state status;
    size_t i;

    if (!h || !out || !http_status || (view & ~(PT_HEALTH_VIEW_READY | PT_HEALTH_VIEW_DETAILED)))
        return -EINVAL;
    *out = NULL;
    pthread_mutex_lock(&h->core->lock);
    status = pt__health_status_locked(h, (view & PT_HEALTH_VIEW_READY) != 0);
    buf_str(&b, "{\"status\":\"");
    buf_str(&b, pt_health_state_name(status));
    buf_str(&b, "\",\"checks\":{");
    for (i = 0; i < h->n; i++) {
        const struct pt__health_check *c = h->checks[i];
        if (i)
            buf_add(&b, ",", 1);
        buf_json_str(&b, c->name);
        buf_add(&b, ":", 1);
        if (view & PT_HEALTH_VIEW_DETAILED) {
            check_detailed(&b, c);
        } else {
            buf_add(&b, "\"", 1);
            buf_str(&b, pt_health_state_name(c->result.state));
            buf_add(&b, "\"", 1);
        }
    }
    pthread_mutex_unlock(&h->core->lock);
    buf_str(&b, "}}");
    if (b.oom) {
        free(b.data);
        return -ENOMEM;
    }
    *out = b.data;
    *http_status = status == PT_HEALTH_FAILING || status == PT_HEALTH_DRAINING ? 503 : 200;
    return 0;
}
