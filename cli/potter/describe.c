/* describe.c: asking plugins to describe themselves, without trusting them.
 *
 * A plugin is any executable someone dropped on PATH, so `potter-x --describe` may fail,
 * hang, print megabytes or print nonsense. All describes of one `potter help` run at once
 * under one deadline; whatever overruns is killed with its whole process group (a shell
 * script's `sleep` included) and reaped, and becomes a message instead of a crash or a hang.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

#define DESCRIBE_TIMEOUT_MS 2000
#define DESCRIBE_MAX_OUTPUT (64 * 1024)
/* Two pipes per child: batches keep far below the usual limit of 1024 open files. */
#define DESCRIBE_BATCH 64
#define STDERR_KEEP 512

enum { OUT, ERR };

struct job {
    const struct plugin *plugin;
    pid_t pid; /* 0 if the child never started */
    int reaped; /* after waitpid: its pid (and so its process group id) may be reused */
    int status;
    int fd[2]; /* read ends of its stdout and stderr; -1 once closed */
    char *out;
    size_t out_len, out_cap;
    char err[STDERR_KEEP + 1]; /* the start of its stderr, for the message */
    size_t err_len;
    char *failure; /* set when potter gave up on it or could not start it */
};

/* Children run in their own process groups, so a Ctrl-C (or a kill) aimed at potter does not
 * reach them; without this, an interrupted `potter help` would leave hanging plugins behind.
 * While describes run, these signals kill the children's groups, then potter as before. */
static const int fatal_signals[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM};
#define FATAL_SIGNAL_COUNT (sizeof fatal_signals / sizeof fatal_signals[0])
static struct job *volatile signal_jobs;
static volatile size_t signal_job_count;

static void on_fatal_signal(int sig)
{
    for (size_t i = 0; i < signal_job_count; i++)
        if (signal_jobs[i].pid > 0 && !signal_jobs[i].reaped)
            kill(-signal_jobs[i].pid, SIGKILL);
    raise(sig); /* SA_RESETHAND restored the default action; delivered once we return */
}

/* Signals that find their default action in place get on_fatal_signal; one that potter was
 * told to ignore (nohup, a shell's background job) stays ignored. */
static void catch_fatal_signals(struct sigaction *saved)
{
    struct sigaction sa = {.sa_handler = on_fatal_signal, .sa_flags = SA_RESETHAND};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < FATAL_SIGNAL_COUNT; i++) {
        sigaction(fatal_signals[i], NULL, &saved[i]);
        if (saved[i].sa_handler == SIG_DFL)
            sigaction(fatal_signals[i], &sa, NULL);
    }
}

static void restore_fatal_signals(const struct sigaction *saved)
{
    for (size_t i = 0; i < FATAL_SIGNAL_COUNT; i++)
        sigaction(fatal_signals[i], &saved[i], NULL);
}

/* Blocks them around the moments a pid is born or reaped, so on_fatal_signal never sees a
 * child missing from the table, nor kills the group of a pid that may have been reused. */
static void block_fatal_signals(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < FATAL_SIGNAL_COUNT; i++)
        sigaddset(&set, fatal_signals[i]);
    sigprocmask(SIG_BLOCK, &set, old);
}

/* In the child: own process group (so a timeout can kill all it started), stdin from
 * /dev/null (a describe must not wait for the terminal), then exec. main() made sure fds
 * 0-2 are open, so the pipe ends are above 2 and the dup2s cannot trample each other. */
static void child_exec(const char *path, int out_fd, int err_fd, const sigset_t *mask)
{
    setpgid(0, 0);
    sigprocmask(SIG_SETMASK, mask, NULL); /* a blocked mask would survive exec */
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
        dup2(err_fd, STDERR_FILENO) < 0)
        _exit(127);
    execl(path, path, "--describe", (char *)NULL);
    dprintf(STDERR_FILENO, "cannot run it: %s\n", strerror(errno));
    _exit(127);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void job_start(struct job *job)
{
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    /* O_CLOEXEC: a sibling describe must not inherit these, or our EOF would never come. */
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        job->failure = xasprintf("cannot create a pipe: %s", strerror(errno));
        goto fail;
    }
    sigset_t mask;
    block_fatal_signals(&mask);
    pid_t pid = fork();
    if (pid == 0)
        child_exec(job->plugin->path, out[1], err[1], &mask);
    if (pid > 0) {
        /* Also here, so the group exists before we may need to kill it; one of the two calls
     * fails harmlessly (EACCES once the child has exec'd). */
        setpgid(pid, pid);
        job->pid = pid;
    }
    sigprocmask(SIG_SETMASK, &mask, NULL);
    if (pid < 0) {
        job->failure = xasprintf("cannot fork: %s", strerror(errno));
        goto fail;
    }
    close(out[1]);
    close(err[1]);
    job->fd[OUT] = out[0];
    job->fd[ERR] = err[0];
    return;
fail:
    for (int i = 0; i < 2; i++) {
        close_fd(&out[i]);
        close_fd(&err[i]);
    }
}

/* Gives up on a child: kills its process group while the leader is still unreaped (so the
 * group id cannot have been reused), and stops reading. Keeps the first reason. */
static void job_abandon(struct job *job, const char *why)
{
    if (job->pid > 0 && !job->reaped) {
        kill(-job->pid, SIGKILL);
        kill(job->pid, SIGKILL); /* in case it left its group */
    }
    close_fd(&job->fd[OUT]);
    close_fd(&job->fd[ERR]);
    if (!job->failure)
        job->failure = xstrdup(why);
}

static void job_read(struct job *job, int which)
{
    char buf[8192];
    ssize_t n = read(job->fd[which], buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        close_fd(&job->fd[which]);
        return;
    }
    if (which == ERR) {
        size_t keep = STDERR_KEEP - job->err_len;
        if ((size_t)n < keep)
            keep = (size_t)n;
        memcpy(job->err + job->err_len, buf, keep);
        job->err_len += keep;
        return;
    }
    if (job->out_len + (size_t)n > DESCRIBE_MAX_OUTPUT) {
        job_abandon(job, "--describe printed more than 64 KiB; killed it");
        return;
    }
    if (job->out_len + (size_t)n > job->out_cap) {
        size_t cap = job->out_cap ? job->out_cap : 4096;
        while (cap < job->out_len + (size_t)n)
            cap *= 2; /* ends at most at DESCRIBE_MAX_OUTPUT, a power of two */
        job->out = xrealloc(job->out, cap);
        job->out_cap = cap;
    }
    memcpy(job->out + job->out_len, buf, (size_t)n);
    job->out_len += (size_t)n;
}

/* Reads every child's output until all reach EOF or the deadline passes. */
static void read_all(struct job *jobs, size_t n, int64_t deadline)
{
    struct pollfd pfd[2 * DESCRIBE_BATCH];
    struct job *owner[2 * DESCRIBE_BATCH];
    int which[2 * DESCRIBE_BATCH];
    for (;;) {
        nfds_t np = 0;
        for (size_t i = 0; i < n; i++) {
            for (int k = OUT; k <= ERR; k++) {
                if (jobs[i].fd[k] < 0)
                    continue;
                pfd[np] = (struct pollfd){.fd = jobs[i].fd[k], .events = POLLIN};
                owner[np] = &jobs[i];
                which[np++] = k;
            }
        }
        int64_t left = deadline - now_ms();
        if (np == 0 || left <= 0)
            return;
        int ready = poll(pfd, np, (int)left);
        if (ready < 0 && errno != EINTR)
            return;
        for (nfds_t i = 0; ready > 0 && i < np; i++)
            if (pfd[i].revents && owner[i]->fd[which[i]] == pfd[i].fd)
                job_read(owner[i], which[i]);
    }
}

static int try_reap(struct job *job, int flags)
{
    sigset_t mask;
    block_fatal_signals(&mask);
    pid_t r;
    do
        r = waitpid(job->pid, &job->status, flags);
    while (r < 0 && errno == EINTR);
    if (r == job->pid || r < 0)
        job->reaped = 1; /* r < 0 (ECHILD) means nothing is left to wait for */
    sigprocmask(SIG_SETMASK, &mask, NULL);
    return job->reaped;
}

/* Waits for every child. One that closed its output but lingers gets until the deadline,
 * then is killed like one that kept its output open. Nothing is left unreaped. */
static void reap_all(struct job *jobs, size_t n, int64_t deadline)
{
    for (;;) {
        size_t waiting = 0;
        for (size_t i = 0; i < n; i++)
            if (jobs[i].pid > 0 && !jobs[i].reaped && !try_reap(&jobs[i], WNOHANG))
                waiting++;
        if (waiting == 0 || now_ms() >= deadline)
            break;
        poll(NULL, 0, 5);
    }
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].pid > 0 && !jobs[i].reaped) {
            job_abandon(&jobs[i], "--describe did not finish within 2 s; killed it");
            try_reap(&jobs[i], 0);
        }
    }
}

static void run_batch(struct job *jobs, size_t n)
{
    int64_t deadline = now_ms() + DESCRIBE_TIMEOUT_MS;
    for (size_t i = 0; i < n; i++)
        job_start(&jobs[i]);
    read_all(jobs, n, deadline);
    for (size_t i = 0; i < n; i++)
        if (jobs[i].fd[OUT] >= 0 || jobs[i].fd[ERR] >= 0)
            job_abandon(&jobs[i], "--describe did not finish within 2 s; killed it");
    reap_all(jobs, n, deadline);
}

/* ": <first line the plugin wrote to stderr>", or "" when it wrote nothing. */
static char *stderr_hint(struct job *job)
{
    job->err[job->err_len] = '\0';
    char *line = job->err + strspn(job->err, " \t\r\n");
    line[strcspn(line, "\r\n")] = '\0';
    if (!*line)
        return xstrdup("");
    char *safe = printable_copy(line, 0);
    char *hint = xasprintf(": %s", safe);
    free(safe);
    return hint;
}

static char *string_field(json_t *root, const char *field, char **error)
{
    json_t *v = json_object_get(root, field);
    if (!v)
        *error = xasprintf("--describe JSON lacks the \"%s\" field", field);
    else if (!json_is_string(v))
        *error = xasprintf("--describe JSON field \"%s\" is not a string", field);
    return *error ? NULL : xstrdup(json_string_value(v));
}

/* The contract: one JSON object with string fields name, summary and usage. */
static void parse_description(const char *buf, size_t len, const char *name, struct description *d)
{
    size_t blank = 0;
    while (blank < len && strchr(" \t\r\n", buf[blank]) && buf[blank] != '\0')
        blank++;
    if (blank == len) {
        d->error = xstrdup("--describe printed nothing (expected a JSON object)");
        return;
    }
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, 0, &jerr);
    if (!root) {
        char *text = printable_copy(jerr.text, 0);
        d->error = xasprintf("--describe printed invalid JSON (line %d, column %d: %s)", jerr.line,
                             jerr.column, text);
        free(text);
        return;
    }
    char *got_name = NULL, *summary = NULL, *usage = NULL;
    if (!json_is_object(root))
        d->error = xstrdup("--describe printed JSON that is not an object");
    if (!d->error)
        got_name = string_field(root, "name", &d->error);
    if (!d->error)
        summary = string_field(root, "summary", &d->error);
    if (!d->error)
        usage = string_field(root, "usage", &d->error);
    json_decref(root);
    if (!d->error) {
        d->summary = printable_copy(summary, 0);
        d->usage = printable_copy(usage, 1);
        if (strcmp(got_name, name) != 0) {
            char *safe = printable_copy(got_name, 0);
            d->note =
                xasprintf("--describe says its name is \"%s\"; it runs as 'potter %s'", safe, name);
            free(safe);
        }
    }
    free(got_name);
    free(summary);
    free(usage);
}

static void job_conclude(struct job *job, struct description *d)
{
    if (job->failure) {
        d->error = job->failure;
        job->failure = NULL;
        return;
    }
    char *hint = stderr_hint(job);
    if (WIFSIGNALED(job->status))
        d->error = xasprintf("--describe was killed by signal %d (%s)%s", WTERMSIG(job->status),
                             strsignal(WTERMSIG(job->status)), hint);
    else if (!WIFEXITED(job->status) || WEXITSTATUS(job->status) != 0)
        d->error = xasprintf("--describe exited with status %d%s", WEXITSTATUS(job->status), hint);
    else
        parse_description(job->out ? job->out : "", job->out_len, job->plugin->name, d);
    free(hint);
}

void describe_plugins(const struct plugin *const *plugins, size_t n, struct description *out)
{
    /* An inherited SIG_IGN for SIGCHLD would make the kernel reap our children itself and
   * waitpid fail; we need their exit statuses. */
    signal(SIGCHLD, SIG_DFL);
    for (size_t start = 0; start < n; start += DESCRIBE_BATCH) {
        size_t count = n - start < DESCRIBE_BATCH ? n - start : DESCRIBE_BATCH;
        struct job jobs[DESCRIBE_BATCH];
        for (size_t i = 0; i < count; i++)
            jobs[i] = (struct job){.plugin = plugins[start + i], .fd = {-1, -1}};
        struct sigaction saved[FATAL_SIGNAL_COUNT];
        signal_jobs = jobs;
        signal_job_count = count;
        catch_fatal_signals(saved);
        run_batch(jobs, count);
        restore_fatal_signals(saved);
        signal_job_count = 0;
        for (size_t i = 0; i < count; i++) {
            out[start + i] = (struct description){0};
            job_conclude(&jobs[i], &out[start + i]);
            free(jobs[i].out);
            free(jobs[i].failure);
        }
    }
}

void description_free(struct description *d)
{
    free(d->summary);
    free(d->usage);
    free(d->error);
    free(d->note);
    *d = (struct description){0};
}
