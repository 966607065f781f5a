/* The control port's insides (docs/ctl.md): the server and its checks (ctl.c), the
 * discovery file (discovery.c), the built-in endpoints (endpoints.c). */
#ifndef PT_CTL_INTERNAL_H
#define PT_CTL_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "potter/ctl.h"
#include "http/server.h"
#include "log/log_internal.h" /* pt__buf, pt__json_str */

#define PT__CTL_MAX_ENDPOINTS 64

typedef struct pt__ctl_endpoint {
    char *method, *path, *about;
    pt_ctl_fn fn;
    void *arg;
    pt__http_route route; /* what the router holds: dispatch(), this endpoint */
} pt__ctl_endpoint;

struct pt_ctl_req {
    pt_ctl *ctl;
    pt__http_request *core;
    pt__http_response *res;
    atomic_int replied;
};

struct pt_ctl {
    pt_ctl_options opts; /* strings owned */
    pt_log *log;
    pt__ctl_endpoint endpoints[PT__CTL_MAX_ENDPOINTS];
    unsigned nendpoints;
    pt__router *router;
    pt__http_server *servers[2]; /* TCP, the unix socket (either may be NULL) */
    int started;
    atomic_int closed; /* close callbacks that ran */
    int nservers; /* servers made */
    int port;
    char socket_path[108];
    char discovery[4096];
    char host_port[64]; /* "127.0.0.1:8081", for the Host check */
    char error[1024];
    int64_t start_wall_ns;
    uint64_t start_mono_ns;
    /* The rate limit: a token bucket, touched on pt-ops only. */
    double tokens;
    uint64_t tokens_ns;
    struct cpu_job *cpu_job; /* the CPU profile waiting for its time (debug.c), on pt-ops */
};

/* endpoints.c: adds the built-in endpoints (before the service's own). Returns 0 or an error. */
int pt__ctl_add_builtins(pt_ctl *ctl);

/* debug.c: the profiling endpoints; ending a profile in progress when the port closes (on
 * pt-ops). */
int pt__ctl_add_debug(pt_ctl *ctl);
void pt__ctl_debug_stop(pt_ctl *ctl);

/* discovery.c: makes the runtime dir (0700, ours, not a symlink) and writes the discovery file
 * atomically; removes it. Return 0 or a negative errno with ctl->error filled in. */
int pt__ctl_runtime_dir_ready(pt_ctl *ctl, const char *dir);
int pt__ctl_discovery_write(pt_ctl *ctl, const char *dir);
void pt__ctl_discovery_remove(pt_ctl *ctl);

/* The endpoints as a JSON array of {"method","path","about"}. */
void pt__ctl_put_endpoints(const pt_ctl *ctl, struct pt__buf *b);

/* A JSON string value (quotes included) into b. */
void pt__ctl_json_str(struct pt__buf *b, const char *s);

/* Answers with b's text (JSON) and frees it; -ENOMEM when b ran out of memory. */
int pt__ctl_reply_buf(pt_ctl_req *req, int status, struct pt__buf *b);

#endif
