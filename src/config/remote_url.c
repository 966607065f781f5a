/* A polled URL as a remote source of overrides (pt_config_watch_url()): a pt-ops timer, and
 * libcurl on pt-work with If-None-Match (remote_internal.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/remote_internal.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_err;

/* libcurl's global state is made once and kept for the life of the process. */
static void curl_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        curl_init_err = -ENOMEM;
}

/* ---- a polled URL ----------------------------------------------------------------------- */

/* What one fetch gathers. */
struct fetch {
    struct pt__cremote *r;
    pt__cbuf body;
    char *etag;
    int too_big;
};

static size_t body_cb(char *data, size_t size, size_t n, void *arg)
{
    struct fetch *f = arg;
    size_t len = size * n;

    if (len > REMOTE_MAX_DOC - f->body.len) {
        f->too_big = 1;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    pt__cbuf_add(&f->body, data, len);
    return f->body.oom ? 0 : len;
}

/* Keeps the ETag of the last response (a redirect's headers come first). */
static size_t header_cb(char *data, size_t size, size_t n, void *arg)
{
    struct fetch *f = arg;
    size_t len = size * n;
    const char *v, *end = data + len;

    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        free(f->etag);
        f->etag = NULL;
        return len;
    }
    if (len <= 5 || strncasecmp(data, "etag:", 5) != 0)
        return len;
    v = data + 5;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    free(f->etag);
    f->etag = end > v ? strndup(v, (size_t)(end - v)) : NULL; /* NULL on oom: no ETag */
    return len;
}

/* Called about once a second, and more often while data flows: ends a fetch when the
 * source stops, so pt__config_remote_stop() does not wait for a slow server. */
static int progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    return pt__cremote_stopping(arg);
}

/* Kinds of failure, for url_failed(): a CURLcode, or one of these. */
enum { FAIL_TOO_BIG = -1, FAIL_NO_MEMORY = -2, FAIL_HTTP = 1000 /* + the status */ };

/* Reports a failed fetch, unless it failed the same way the last time: a server that stays
 * down is reported once, not at every poll. On pt-work. */
static void url_failed(struct pt__cremote *r, int kind, const char *what)
{
    if (r->last_fail == kind)
        return;
    r->last_fail = kind;
    pt__cremote_report(r, "config: %s: %s", r->source, what);
}

/* A 200: applies the document unless it was seen last. The ETag is kept only for an
 * accepted document, so that after a refused one the server is asked again. */
static void url_apply(struct pt__cremote *r, struct fetch *f)
{
    size_t len = f->body.len;
    char *doc;
    int rc;

    if (f->body.oom || !(doc = pt__cbuf_take(&f->body))) {
        url_failed(r, FAIL_NO_MEMORY, "out of memory");
        return;
    }
    r->last_fail = 0;
    if (pt__cremote_seen_before(r, doc, len)) {
        /* Refused before (and reported then), or the same document under a new ETag. */
        if (r->last_ok) {
            free(r->etag);
            r->etag = f->etag;
            f->etag = NULL;
        }
        free(doc);
        return;
    }
    rc = pt__cremote_apply(r, doc, len);
    if (rc != 0 && rc != -EINVAL) {
        free(doc);
        return;
    }
    pt__cremote_remember(r, doc, len);
    r->last_ok = rc == 0;
    if (rc == 0) {
        free(r->etag);
        r->etag = f->etag;
        f->etag = NULL;
    }
}

/* Sets up r->curl for one GET. Returns the request's headers (NULL is fine) in *hdrs. */
static void url_setup(struct pt__cremote *r, struct fetch *f, char *errbuf,
                      struct curl_slist **hdrs)
{
    CURL *c = r->curl;
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");

    if (h && r->etag) {
        char *line = malloc(strlen(r->etag) + sizeof "If-None-Match: ");
        struct curl_slist *more = NULL;

        if (line) {
            sprintf(line, "If-None-Match: %s", r->etag);
            more = curl_slist_append(h, line);
            free(line);
        }
        /* Without it the server sends the whole document again: still right. */
        if (more)
            h = more;
    }
    *hdrs = h;

    curl_easy_reset(c); /* keeps the open connection and the DNS cache */
    curl_easy_setopt(c, CURLOPT_URL, r->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM: we are one thread of many */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, REMOTE_MAX_REDIRS);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85: the bitmask options are deprecated */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)REMOTE_MAX_DOC);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_USERAGENT, REMOTE_USER_AGENT);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, f);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, r);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
}

/* One GET of the URL, on pt-work: 304 keeps the last document, 200 brings a new one,
 * anything else is reported and changes nothing. */
static void url_fetch(struct pt__cremote *r)
{
    struct fetch f = {.r = r};
    struct curl_slist *hdrs = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    char what[64];
    long code = 0;
    CURLcode rc;

    if (!r->curl)
        r->curl = curl_easy_init();
    if (!r->curl) {
        url_failed(r, FAIL_NO_MEMORY, "out of memory");
        return;
    }
    url_setup(r, &f, errbuf, &hdrs);
    rc = curl_easy_perform(r->curl);
    curl_slist_free_all(hdrs);
    if (rc == CURLE_OK)
        curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &code);

    if (rc == CURLE_ABORTED_BY_CALLBACK && pt__cremote_stopping(r)) {
        /* stopped: nothing to say */
    } else if (f.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        snprintf(what, sizeof what, "the document is larger than %u KiB", REMOTE_MAX_DOC / 1024);
        url_failed(r, FAIL_TOO_BIG, what);
    } else if (rc != CURLE_OK) {
        url_failed(r, (int)rc, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    } else if (code == 304) {
        r->last_fail = 0;
        /* The server still has the last accepted document; a refused one since then is
         * gone, so the same bad document coming back is reported again. */
        if (!r->last_ok)
            pt__cremote_forget(r);
    } else if (code == 200) {
        url_apply(r, &f);
    } else {
        snprintf(what, sizeof what, "HTTP %ld", code);
        url_failed(r, FAIL_HTTP + (int)code, what);
    }
    pt__cbuf_free(&f.body);
    free(f.etag);
}

static void url_fetch_job(void *arg, int status)
{
    struct pt__cremote *r = arg;

    if (status == 0 && !pt__cremote_stopping(r))
        url_fetch(r);
    pt__cremote_job_end(r, url_fetch_job);
}

/* On pt-ops, every interval: a fetch, unless the last one still runs. One still queued
 * when the next tick comes is dropped by pt-work (its deadline). */
static void url_tick(void *arg)
{
    struct pt__cremote *r = arg;

    pt__cremote_queue_job(r, url_fetch_job, r->interval_ms, 0);
}

/* Checks that url is an http or https URL. *shown gets the URL to name in origins and
 * messages: as given, or without its password if it has one. Returns 0, -EINVAL or
 * -ENOMEM. */
static int url_check(const char *url, char **shown)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *pass = NULL, *bare = NULL;
    int err = -EINVAL;

    *shown = NULL;
    if (!u)
        return -ENOMEM;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0)) {
        err = 0;
        if (curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK &&
            curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_URL, &bare, 0) == CURLUE_OK)
            *shown = strdup(bare);
        else
            *shown = strdup(url);
        if (!*shown)
            err = -ENOMEM;
    }
    curl_free(scheme);
    curl_free(pass);
    curl_free(bare);
    curl_url_cleanup(u);
    return err;
}

int pt_config_watch_url(pt_config *cfg, const char *url, uint64_t interval_ms, uint64_t timeout_ms)
{
    struct pt__cremote *r;
    char *shown;
    int err;

    if (!cfg || !url || !*url || interval_ms == 0)
        return -EINVAL;
    if (!cfg->loaded)
        return -EBUSY;
    pthread_once(&pt__cremote_once, pt__cremote_init);
    pthread_once(&curl_once, curl_init);
    if (curl_init_err)
        return curl_init_err;
    err = url_check(url, &shown);
    if (err)
        return err;
    r = pt__cremote_new(cfg, REMOTE_URL, shown);
    free(shown);
    if (!r)
        return -ENOMEM;
    r->url = strdup(url);
    if (!r->url) {
        pt__cremote_free(r);
        return -ENOMEM;
    }
    r->interval_ms = interval_ms;
    if (timeout_ms == 0)
        timeout_ms = REMOTE_DEFAULT_TIMEOUT_MS;
    r->timeout_ms = timeout_ms > LONG_MAX ? LONG_MAX : (long)timeout_ms;

    err = pt__cremote_add(r, 0);
    if (err) {
        pt__cremote_free(r);
        return err;
    }
    /* The first fetch right away, then one every interval. */
    err = pt_ops_timer_start(0, interval_ms, url_tick, r, &r->tick);
    if (err) {
        pt__cremote_remove(r);
        pt__cremote_free(r);
    }
    return err;
}
