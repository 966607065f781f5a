/* Talking to the control port over HTTP with libcurl, and saying what went wrong in terms of
 * what the user typed: "cannot connect to 127.0.0.1:8081 (connection refused)", "the service
 * answered 403: ...". The service's replies are untrusted: their size is capped, and what of
 * them reaches the terminal goes through ctl_put_safe(). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "ctl.h"

#define CONNECT_TIMEOUT_S 3
/* The largest reply kept: a profile of a big program with many threads is a few MB. */
#define MAX_REPLY (256u << 20)

struct sink {
    char *p;
    size_t len, cap;
    int too_big;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    struct sink *s = arg;
    size_t n = size * nmemb;
    if (n > MAX_REPLY - s->len - 1) {
        s->too_big = 1;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 16384;
        while (cap < s->len + n + 1)
            cap *= 2;
        if (cap > MAX_REPLY)
            cap = MAX_REPLY;
        char *p = realloc(s->p, cap);
        if (!p)
            return 0;
        s->p = p;
        s->cap = cap;
    }
    memcpy(s->p + s->len, data, n);
    s->len += n;
    s->p[s->len] = '\0';
    return n;
}

char *ctl_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, (int)strlen(s));
    char *copy = e ? strdup(e) : NULL;
    curl_free(e);
    return copy;
}

void ctl_reply_free(ctl_reply *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}

void ctl_http_cleanup(ctl *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    c->curl = NULL;
}

/* strerror() as a phrase inside a sentence: "connection refused". */
static void os_error(long err, char *buf, size_t len)
{
    snprintf(buf, len, "%s", strerror((int)err));
    if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
        buf[0] = (char)(buf[0] - 'A' + 'a');
}

/* Why a request got no HTTP answer, on stderr; the exit status. */
static int report_failure(const ctl *c, CURL *h, CURLcode rc, const char *errbuf,
                          const struct sink *s, const char *method, const char *path,
                          long timeout_s)
{
    const ctl_target *t = &c->t;
    long oserr = 0;
    curl_off_t connected = 0;
    char why[256];
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
    curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connected);
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        if (oserr)
            os_error(oserr, why, sizeof why);
        else
            snprintf(why, sizeof why, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
        fprintf(stderr, "potter ctl: cannot connect to %s (%s): ", t->where, why);
        if (oserr == EACCES && t->use_socket)
            fputs("the socket answers the service's own user and root only\n", stderr);
        else
            fputs("is the service running? (--port, --socket, --pid, --name)\n", stderr);
        return CTL_UNREACHABLE;
    case CURLE_OPERATION_TIMEDOUT:
        if (connected == 0)
            fprintf(stderr, "potter ctl: cannot connect to %s (no answer within %d s): is the "
                            "service running? (--port, --socket, --pid, --name)\n",
                    t->where, CONNECT_TIMEOUT_S);
        else
            fprintf(stderr, "potter ctl: %s %s: no answer from %s within %ld s\n", method, path,
                    t->where, timeout_s);
        return CTL_UNREACHABLE;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        fprintf(stderr, "potter ctl: %s %s: %s closed the connection without a whole answer "
                        "(%s); is it stopping?\n", method, path, t->where,
                errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return CTL_UNREACHABLE;
    case CURLE_WRITE_ERROR:
    case CURLE_OUT_OF_MEMORY:
        if (s->too_big)
            fprintf(stderr, "potter ctl: %s %s: the reply is larger than %u MiB; refused it\n",
                    method, path, MAX_REPLY >> 20);
        else
            fprintf(stderr, "potter ctl: %s %s: out of memory for the reply\n", method, path);
        return CTL_FAILED;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_UNSUPPORTED_PROTOCOL:
        fprintf(stderr, "potter ctl: %s %s: %s did not answer in HTTP (%s): is it a potter "
                        "control port?\n", method, path, t->where,
                errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return CTL_FAILED;
    default:
        fprintf(stderr, "potter ctl: %s %s to %s: %s\n", method, path, t->where,
                errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return CTL_UNREACHABLE;
    }
}

static CURL *handle(ctl *c)
{
    if (c->curl) {
        curl_easy_reset(c->curl);
        return c->curl;
    }
    c->curl = curl_easy_init();
    return c->curl;
}

int ctl_request(ctl *c, const char *method, const char *path, const char *body, size_t len,
                long timeout_s, ctl_reply *r)
{
    memset(r, 0, sizeof *r);
    int rc = ctl_resolve(c);
    if (rc != CTL_OK)
        return rc;
    const ctl_target *t = &c->t;
    CURL *h = handle(c);
    if (!h) {
        fputs("potter ctl: libcurl: out of memory\n", stderr);
        return CTL_FAILED;
    }
    char *url = NULL;
    int n = t->use_socket ? asprintf(&url, "http://localhost%s", path)
                          : asprintf(&url, strchr(t->host, ':') ? "http://[%s]:%d%s"
                                                                : "http://%s:%d%s",
                                     t->host, t->port, path);
    if (n < 0) {
        fputs("potter ctl: out of memory\n", stderr);
        return CTL_FAILED;
    }
    struct curl_slist *headers = NULL, *more;
    char *auth = NULL;
    int oom = 0;
#define ADD_HEADER(text)                                 \
    do {                                                 \
        if (!oom && (more = curl_slist_append(headers, text)) != NULL) \
            headers = more;                              \
        else                                             \
            oom = 1;                                     \
    } while (0)
    if (c->token) {
        if (asprintf(&auth, "Authorization: Bearer %s", c->token) < 0)
            auth = NULL, oom = 1;
        else
            ADD_HEADER(auth);
    }
    int post = strcmp(method, "POST") == 0;
    if (post) {
        ADD_HEADER("X-Potter-Ctl: 1");
        ADD_HEADER("Expect:"); /* no 100-continue round trip */
        if (body)
            ADD_HEADER("Content-Type: application/json");
    }
#undef ADD_HEADER
    if (oom) {
        curl_slist_free_all(headers);
        free(auth);
        free(url);
        fputs("potter ctl: out of memory\n", stderr);
        return CTL_FAILED;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    struct sink s = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (t->use_socket)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, t->socket);
    /* Never a proxy from $http_proxy: the control port is on this machine. */
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "potter-ctl");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    if (post) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
    }
    CURLcode cr = curl_easy_perform(h);
    if (cr == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
        r->body = s.p ? s.p : calloc(1, 1);
        r->len = s.len;
        rc = r->body ? CTL_OK : CTL_FAILED;
        if (rc != CTL_OK)
            fputs("potter ctl: out of memory\n", stderr);
    } else {
        free(s.p);
        rc = report_failure(c, h, cr, errbuf, &s, method, path, timeout_s);
    }
    curl_slist_free_all(headers);
    free(auth);
    free(url);
    return rc;
}

int ctl_call(ctl *c, const char *method, const char *path, const char *body, size_t len,
             ctl_reply *r)
{
    int rc = ctl_request(c, method, path, body, len, CTL_TIMEOUT_S, r);
    if (rc != CTL_OK)
        return rc;
    if (r->status >= 200 && r->status < 300)
        return CTL_OK;
    rc = ctl_refused(c, method, path, r);
    ctl_reply_free(r);
    return rc;
}

void ctl_print_endpoints(FILE *f, const json_t *list)
{
    size_t i, width = 0;
    json_t *e;
    json_array_foreach(list, i, e) {
        const char *path = ctl_jstr(e, "path");
        if (path && ctl_safe_len(path) > width)
            width = ctl_safe_len(path);
    }
    if (width > 40)
        width = 40;
    json_array_foreach(list, i, e) {
        const char *method = ctl_jstr(e, "method"), *path = ctl_jstr(e, "path");
        const char *about = ctl_jstr(e, "about");
        if (!method || !path)
            continue;
        fputs("  ", f);
        ctl_put_cell(f, method, 5);
        fputc(' ', f);
        ctl_put_cell(f, path, width);
        if (about && about[0]) {
            fputs("  ", f);
            ctl_put_safe(f, about, 0);
        }
        fputc('\n', f);
    }
}

int ctl_refused(const ctl *c, const char *method, const char *path, const ctl_reply *r)
{
    json_t *doc = json_loadb(r->body, r->len, 0, NULL);
    const char *msg = ctl_jstr(doc, "error");
    fprintf(stderr, "potter ctl: %s %s: the service answered %ld", method, path, r->status);
    if (msg) {
        fputs(": ", stderr);
        ctl_put_safe(stderr, msg, 1);
    } else if (r->len) {
        /* Not one of ours: its first line, cut short. */
        char first[201];
        size_t n = strcspn(r->body, "\r\n");
        snprintf(first, sizeof first, "%.*s", (int)(n > 200 ? 200 : n), r->body);
        fputs(": ", stderr);
        ctl_put_safe(stderr, first, 0);
    }
    fputc('\n', stderr);
    json_t *list = json_object_get(doc, "endpoints");
    if (r->status == 404 && json_is_array(list)) {
        if (c->user_path) {
            fputs("its endpoints:\n", stderr);
            ctl_print_endpoints(stderr, list);
        } else {
            /* A command of ours whose endpoint the service lacks: an older potter. */
            fprintf(stderr, "potter ctl: this service has no %s %.*s endpoint (its potter may "
                            "be older than this tool); 'potter ctl endpoints' lists its own\n",
                    method, (int)strcspn(path, "?"), path);
        }
    }
    if (r->status == 401)
        fprintf(stderr, c->token ? "potter ctl: the token given (--token or $POTTER_CTL_TOKEN) "
                                   "is not the service's ctl.token\n"
                                 : "potter ctl: this service needs its ctl.token: give it with "
                                   "--token T or $POTTER_CTL_TOKEN\n");
    json_decref(doc);
    return CTL_FAILED;
}

json_t *ctl_json_object(const char *method, const char *path, const ctl_reply *r)
{
    json_error_t jerr;
    json_t *doc = json_loadb(r->body, r->len, 0, &jerr);
    if (doc && json_is_object(doc))
        return doc;
    fprintf(stderr, "potter ctl: %s %s: the reply is not a JSON object (", method, path);
    if (doc) {
        fputs("another JSON value", stderr);
    } else {
        fprintf(stderr, "line %d, column %d: ", jerr.line, jerr.column);
        ctl_put_safe(stderr, jerr.text, 0);
    }
    fputs("); is it a potter control port?\n", stderr);
    json_decref(doc);
    return NULL;
}

int ctl_get_object(ctl *c, const char *path, json_t **doc)
{
    ctl_reply r;
    *doc = NULL;
    int rc = ctl_call(c, "GET", path, NULL, 0, &r);
    if (rc != CTL_OK)
        return rc;
    if (c->o.json)
        rc = ctl_print_body(&r);
    else if (!(*doc = ctl_json_object("GET", path, &r)))
        rc = CTL_FAILED;
    ctl_reply_free(&r);
    return rc;
}
