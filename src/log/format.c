/* One record to one JSON line, bunyan's core fields first. */
#include <string.h>

#include "log/log_internal.h"

char pt__log_hostname_json[320];
size_t pt__log_hostname_json_len;

/* Nonzero when a later field of the call, or any call field for a bound key, has the name. */
static int overridden(const char *name, const struct pt__field *fields, size_t from, size_t n)
{
    for (size_t j = from; j < n; j++)
        if (fields[j].name != NULL && fields[j].name[0] == name[0] &&
            (fields[j].name == name || (name[0] && fields[j].name[1] == name[1] &&
                                        strcmp(fields[j].name, name) == 0)))
            return 1;
    return 0;
}

void pt__format_record(struct pt__buf *b, int level, pt_log *log, int64_t wall_ns, const char *msg,
                       size_t msg_len, const struct pt__field *fields, size_t n)
{
    char head[96];
    char when[25];
    pt_log *root = log->root;
    memcpy(head, "{\"v\":0,\"level\":00,", 18);
    head[15] = (char)('0' + level / 10 % 10);
    head[16] = (char)('0' + level % 10);
    pt__buf_put(b, head, 18);
    pt__buf_put(b, root->name_json, root->name_json_len);
    pt__buf_put(b, pt__log_hostname_json, pt__log_hostname_json_len);
    pt__json_time(when, wall_ns);
    /* ,"pid":N,"time":"...","msg": without printf: this runs once per record. */
    char *end = head + sizeof head, *p = end;
    memcpy(p -= 8, "\",\"msg\":", 8);
    memcpy(p -= 24, when, 24);
    memcpy(p -= 9, ",\"time\":\"", 9);
    unsigned pid = (unsigned)pt__log_pid;
    do {
        *--p = (char)('0' + pid % 10);
        pid /= 10;
    } while (pid);
    memcpy(p -= 7, ",\"pid\":", 7);
    pt__buf_put(b, p, (size_t)(end - p));
    pt__json_str(b, msg, msg_len, 0);

    /* Bound fields of the logger, unless the call names the same key (innermost wins). */
    if (log->nbound) {
        int clash = 0;
        for (size_t i = 0; i < log->nbound && !clash; i++)
            clash = overridden(log->bound[i].key, fields, 0, n);
        if (!clash) {
            pt__buf_put(b, log->bound_frag, log->bound_len);
        } else {
            for (size_t i = 0; i < log->nbound; i++)
                if (!overridden(log->bound[i].key, fields, 0, n))
                    pt__buf_put(b, log->bound[i].frag, log->bound[i].frag_len);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (fields[i].name == NULL || overridden(fields[i].name, fields, i + 1, n))
            continue; /* the last field of a name wins */
        pt__json_key(b, fields[i].name);
        pt__json_value(b, &fields[i]);
    }
    pt__buf_put(b, "}\n", 2);
}
