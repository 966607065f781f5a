/* One record to one JSON line, bunyan's core fields first. */
#include <stdio.h>
#include <string.h>

#include "log/log_internal.h"

char pt__log_hostname_json[320];
size_t pt__log_hostname_json_len;

/* Nonzero when a later field of the call, or any call field for a bound key, has the name. */
static int overridden(const char *name, const struct pt__field *fields, size_t from, size_t n)
{
    for (size_t j = from; j < n; j++)
        if (fields[j].name != NULL && strcmp(fields[j].name, name) == 0)
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
    int len = snprintf(head, sizeof head, ",\"pid\":%d,\"time\":\"%s\",\"msg\":", (int)pt__log_pid, when);
    pt__buf_put(b, head, (size_t)len);
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
