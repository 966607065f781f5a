/* remote_internal.h: what the three files of the remote sources share (remote.c: a source's
 * life, references and stop; remote_file.c: a watched file; remote_url.c: a polled URL).
 * remote.c's header comment explains references, holds and uses of cfg. */
#ifndef PT_CONFIG_REMOTE_INTERNAL_H
#define PT_CONFIG_REMOTE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <uv.h>

#include "config/config_internal.h"

#define REMOTE_MAX_DOC (1u << 20) /* 1 MiB: a document of overrides is small */
#define REMOTE_DEBOUNCE_MS 50 /* an editor's save is several events in a row */
#define REMOTE_STOP_WAIT_MS 5000
#define REMOTE_DEFAULT_TIMEOUT_MS 5000
#define REMOTE_MAX_REDIRS 5L

#define REMOTE_STR(x) #x
#define REMOTE_XSTR(x) REMOTE_STR(x)
#define REMOTE_USER_AGENT                                                                          \
    "potter/" REMOTE_XSTR(PT_VERSION_MAJOR) "." REMOTE_XSTR(PT_VERSION_MINOR) "." REMOTE_XSTR(     \
        PT_VERSION_PATCH)

enum { REMOTE_FILE = 1, REMOTE_URL };

struct pt__cremote {
    struct pt__cremote *next; /* cfg->remotes */
    pt_config *cfg;
    int kind;
    char *source; /* the path, or the URL without its password: what origins and messages show */

    /* remote_lock */
    int refs; /* the list, each queued task or job, each open handle */
    int holds; /* queued tasks and jobs that hold cfg */
    int in_cfg; /* uses of cfg going on right now */
    int stopping; /* written under remote_lock, read anywhere: use cfg no more */
    int orphan; /* stop gave up waiting and gave back the holds itself */
    int busy; /* a read or fetch is queued or running */
    int again; /* the file changed while it was being read: read it once more */

    /* The last document seen, applied or refused (pt-work only). */
    char *last;
    size_t last_len;
    int have_last;

    /* A file. */
    char *dir, *base; /* what is watched, and the name its events must carry */
    uv_fs_event_t event; /* pt-ops only, as `handles` */
    uv_timer_t debounce;
    int handles; /* both handles are open */
    int symlink; /* atomic: the path was a symbolic link at the last read */

    /* A URL. */
    char *url; /* as given, password included */
    uint64_t interval_ms;
    long timeout_ms;
    pt_ops_timer *tick;
    CURL *curl; /* kept between fetches for its connection; pt-work only, as below */
    char *etag; /* of the last document accepted */
    int last_ok; /* the last document seen was accepted */
    int last_fail; /* the kind of the last failure reported (url_failed()), 0: none */
};

/* Guards every source's counts and cfg->remotes (remote.c). */
extern pthread_mutex_t pt__cremote_lock;
extern pthread_once_t pt__cremote_once;
void pt__cremote_init(void);

struct pt__cremote *pt__cremote_new(pt_config *cfg, int kind, const char *source);
int pt__cremote_stopping(struct pt__cremote *r);
void pt__cremote_unref(struct pt__cremote *r);
int pt__cremote_hold_locked(struct pt__cremote *r);
void pt__cremote_done(struct pt__cremote *r);
int pt__cremote_enter_cfg(struct pt__cremote *r);
void pt__cremote_leave_cfg(struct pt__cremote *r);
void pt__cremote_report(struct pt__cremote *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int pt__cremote_apply(struct pt__cremote *r, const char *doc, size_t len);
void pt__cremote_remember(struct pt__cremote *r, char *doc, size_t len);
void pt__cremote_forget(struct pt__cremote *r);
int pt__cremote_seen_before(const struct pt__cremote *r, const char *doc, size_t len);
void pt__cremote_job_end(struct pt__cremote *r, pt_work_fn job);
void pt__cremote_queue_job(struct pt__cremote *r, pt_work_fn job, uint64_t deadline_ms, int again);
int pt__cremote_add(struct pt__cremote *r, int hold);
void pt__cremote_remove(struct pt__cremote *r);

void pt__cremote_free(struct pt__cremote *r);
/* remote_file.c: closes a file source's handles (on pt-ops), or posts that (any thread). */
void pt__cremote_file_close(struct pt__cremote *r);
void pt__cremote_file_close_task(void *arg);

#endif /* PT_CONFIG_REMOTE_INTERNAL_H */
