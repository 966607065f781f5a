/* The crash path's count (stats_crash.h): one datagram per live pt_stats, sent from the
 * signal handler with send(2) on the socket the flush already connected. The registry of live
 * instances is a fixed array written under a lock by pt_stats_new()/pt_stats_free() and read
 * without one by the handler (a pointer load per slot). */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/socket.h>

#include "stats/stats_crash.h"
#include "stats/stats_internal.h"

#define MAX_LIVE 16

static pt_stats *_Atomic live[MAX_LIVE];
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;

void pt__stats_crash_register(pt_stats *s)
{
    pthread_mutex_lock(&live_mu);
    for (int i = 0; i < MAX_LIVE; i++) {
        if (atomic_load(&live[i]) == NULL) {
            atomic_store(&live[i], s);
            break;
        }
    }
    pthread_mutex_unlock(&live_mu);
}

void pt__stats_crash_unregister(pt_stats *s)
{
    pthread_mutex_lock(&live_mu);
    for (int i = 0; i < MAX_LIVE; i++)
        if (atomic_load(&live[i]) == s)
            atomic_store(&live[i], NULL);
    pthread_mutex_unlock(&live_mu);
}

int pt__stats_crash_send(void)
{
    int sent = 0;
    for (int i = 0; i < MAX_LIVE; i++) {
        pt_stats *s = atomic_load(&live[i]);
        if (s == NULL || s->crash_len == 0)
            continue;
        int fd = __atomic_load_n(&s->fd, __ATOMIC_RELAXED);
        if (fd >= 0 && send(fd, s->crash_packet, s->crash_len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
            sent++;
    }
    return sent;
}
