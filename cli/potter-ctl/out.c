/* Printing what the service said. Its strings are untrusted: an error message or a check's
 * name could carry escape sequences that a terminal would act on, so everything from the
 * service that reaches a table goes through ctl_put_safe(). (--json, metrics, get and post
 * print the reply as it came, as curl would.) */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"

/* Bytes of s[i..] a terminal would act on: control characters, DEL, and the C1 codes
 * (U+0080..U+009F, 0xC2 0x80..0x9F in UTF-8; some terminals read U+009B as CSI). Returns
 * how many bytes make the sequence, 0 when s[i] is fine. */
static size_t unsafe_at(const unsigned char *s, size_t i, int keep_newlines)
{
    if (s[i] == '\n')
        return keep_newlines ? 0 : 1;
    if (s[i] < 0x20 || s[i] == 0x7f)
        return 1;
    if (s[i] == 0xc2 && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
        return 2;
    return 0;
}

void ctl_put_safe(FILE *f, const char *s, int keep_newlines)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; u[i];) {
        size_t bad = unsafe_at(u, i, keep_newlines);
        if (bad) {
            fputc(u[i] == '\t' || u[i] == '\n' ? ' ' : '?', f);
            i += bad;
        } else {
            fputc(u[i++], f);
        }
    }
}

size_t ctl_safe_len(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = 0;
    for (size_t i = 0; u[i];) {
        size_t bad = unsafe_at(u, i, 0);
        if (bad) {
            n++;
            i += bad;
            continue;
        }
        n += (u[i] & 0xc0) != 0x80; /* a character, not a UTF-8 continuation byte */
        i++;
    }
    return n;
}

void ctl_put_cell(FILE *f, const char *s, size_t width)
{
    ctl_put_safe(f, s, 0);
    for (size_t n = ctl_safe_len(s); n < width; n++)
        fputc(' ', f);
}

/* A string `config set` would read back as the same string: no spaces, quotes, backslashes
 * or control characters, and not a JSON literal ("true", "12", "null"). */
static int plain(const char *s)
{
    if (!s[0])
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '\\' || *p == 0x7f || *p == 0xc2)
            return 0;
    json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
    json_decref(v);
    return v == NULL;
}

char *ctl_value_text(const json_t *v)
{
    if (json_is_string(v) && plain(json_string_value(v)))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

const char *ctl_human_bytes(double n, char *buf, size_t len)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (n < 1024) {
        snprintf(buf, len, "%.0f B", n);
        return buf;
    }
    size_t u = 0;
    n /= 1024;
    while (n >= 1024 && u + 1 < sizeof units / sizeof *units) {
        n /= 1024;
        u++;
    }
    snprintf(buf, len, "%.1f %s", n, units[u]);
    return buf;
}

const char *ctl_human_seconds(double s, char *buf, size_t len)
{
    if (!(s >= 0) || s > 1e12) /* NaN, negative, absurd: as it came */
        snprintf(buf, len, "%g s", s);
    else if (s < 60)
        snprintf(buf, len, "%.1fs", s);
    else if (s < 3600)
        snprintf(buf, len, "%dm %ds", (int)(s / 60), (int)s % 60);
    else if (s < 86400)
        snprintf(buf, len, "%dh %dm", (int)(s / 3600), (int)s % 3600 / 60);
    else
        snprintf(buf, len, "%lldd %dh", (long long)s / 86400, (int)((long long)s % 86400 / 3600));
    return buf;
}

const char *ctl_jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

int ctl_jnum(const json_t *o, const char *key, double *out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        return -1;
    *out = json_number_value(v);
    return 0;
}

int ctl_write_file(const char *path, const void *data, size_t len)
{
    if (strcmp(path, "-") == 0) {
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
            perror("potter ctl: writing to stdout");
            return CTL_FAILED;
        }
        return CTL_OK;
    }
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
        fputs("potter ctl: out of memory\n", stderr);
        return CTL_FAILED;
    }
    int fd = mkstemp(tmp);
    int err = fd < 0 ? errno : 0;
    if (!err) {
        /* mkstemp makes it 0600; a profile is an ordinary file, as the umask says. */
        mode_t mask = umask(0);
        umask(mask);
        if (fchmod(fd, 0666 & ~mask) < 0)
            err = errno;
    }
    for (size_t done = 0; !err && done < len;) {
        ssize_t n = write(fd, (const char *)data + done, len - done);
        if (n < 0 && errno != EINTR)
            err = errno;
        else if (n > 0)
            done += (size_t)n;
    }
    if (fd >= 0 && close(fd) < 0 && !err)
        err = errno;
    if (!err && rename(tmp, path) < 0)
        err = errno;
    if (err) {
        if (fd >= 0)
            unlink(tmp);
        fprintf(stderr, "potter ctl: cannot write %s: %s\n", path, strerror(err));
    }
    free(tmp);
    return err ? CTL_FAILED : CTL_OK;
}

int ctl_print_body(const ctl_reply *r)
{
    if ((r->len && fwrite(r->body, 1, r->len, stdout) != r->len) ||
        (r->len && r->body[r->len - 1] != '\n' && fputc('\n', stdout) == EOF)) {
        perror("potter ctl: writing the output");
        return CTL_FAILED;
    }
    return CTL_OK;
}
