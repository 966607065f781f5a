/* The prof part's internals shared between its files: the process's threads as /proc lists
 * them (threads.c), the CPU profiler's profile for the control port (cpu.c). */
#ifndef PT_PROF_INTERNAL_H
#define PT_PROF_INTERNAL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "prof/profile.h"

/* The ids of the process's threads now, from /proc/self/task, in its order (the main thread
 * first), in *tids (malloc'd; free() it). Returns 0, -ENOMEM or the error of reading it. */
int pt__prof_tasks(pid_t **tids, size_t *n);

/* The name (/proc/self/task/TID/comm, at most 15 bytes) and state letter ("R", "S", "D", ...:
 * the third field of its stat) of a thread. state may be NULL. Returns 0 or a negative errno
 * (-ENOENT: the thread has exited); name is "" and *state '?' then. */
int pt__prof_task_info(pid_t tid, char name[16], char *state);

/* Installs handler for sig with SA_SIGINFO | SA_RESTART, masking `also` (a second signal, or
 * 0) while it runs, unless it is installed already. Returns 0, or -EBUSY when the application
 * has a handler of its own for sig (or ignores it): prof never replaces one. */
int pt__prof_install(int sig, void (*handler)(int, siginfo_t *, void *), int also);

/* Stops the running CPU profile and hands over its samples, unsymbolized, in *out (the
 * caller owns it: pt__profile_free()). Returns 0, -ESRCH (none runs) or -ENOMEM. */
int pt__prof_cpu_stop(pt__profile **out);

/* Of the last (or running) CPU profile: samples added to it, and samples lost (the ring was
 * full, or adding failed for want of memory). Lost ones are final only once it stopped. */
void pt__prof_cpu_counts(uint64_t *samples, uint64_t *lost);

#endif
