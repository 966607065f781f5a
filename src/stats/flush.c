/* The flush: every interval on pt-ops, sum the shards, turn every metric into statsd lines,
 * pack them into datagrams of at most max_packet bytes and send them on a non-blocking
 * socket. A statsd host is resolved on pt-work (getaddrinfo blocks), again at each flush
 * until it works; until then counts wait (counters keep growing) and samples are dropped.
 *
 * Wire forms (DESIGN.md, "Formats spoken"):
 *   counter    name:412|c                 what it grew by since the last flush
 *   gauge      name:3.5|g                 a negative value goes as "name:0|g" then the value,
 *                                         in one datagram, since "-5|g" alone means "less 5"
 *   timer      name:1.25|ms[|@0.5]        each sample in milliseconds; beyond timer_budget
 *                                         samples a uniform sample of that many with @rate,
 *                                         so statsd's count (samples / rate) stays exact
 *   histogram  name:42|ms[|@rate]         as timers, in the value's own unit
 *   set        name:9f3a..|s              each distinct member of the interval (its hash)
 * with "|#k:v,k2:v2" after each when dogstatsd_tags is set. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/number_internal.h"
#include "core/ops_internal.h"
#include "stats/stats_internal.h"

/* ---- the socket -------------------------------------------------------------------------- */

/* Resolves statsd_host and connects a UDP socket to it: IPv4 addresses first, since etsy
 * statsd listens on udp4 unless told otherwise and "localhost" may list ::1 first. Blocks in
 * getaddrinfo(). Returns the socket or -1. */
static int resolve(const pt_stats *s)
{
    char port[16];
    struct addrinfo hints = {0}, *res = NULL;
    int fd = -1;

    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_ADDRCONFIG;
    snprintf(port, sizeof(port), "%u", s->opts.statsd_port);
    if (getaddrinfo(s->statsd_host, port, &hints, &res) != 0)
        return -1;
    for (int pass = 0; pass < 2 && fd < 0; pass++)
        for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
            if ((a->ai_family == AF_INET) != (pass == 0))
                continue;
            fd = socket(a->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
                close(fd);
                fd = -1;
            }
        }
    freeaddrinfo(res);
    return fd;
}

/* Under flush_lock: takes a socket resolve() made (or counts the failure). */
static void adopt(pt_stats *s, int fd)
{
    if (fd >= 0 && s->fd < 0)
        s->fd = fd;
    else if (fd >= 0)
        close(fd);
    if (fd < 0)
        s->counters.resolve_errors++;
}

static void resolve_job(void *arg, int status)
{
    pt_stats *s = arg;
    int fd = -1;

    if (status == 0 && !__atomic_load_n(&s->closing, __ATOMIC_ACQUIRE))
        fd = resolve(s);
    pthread_mutex_lock(&s->flush_lock);
    adopt(s, fd);
    pthread_mutex_unlock(&s->flush_lock);
    __atomic_store_n(&s->resolving, 0, __ATOMIC_RELEASE);
    __atomic_sub_fetch(&s->tasks, 1, __ATOMIC_ACQ_REL);
}

/* Under flush_lock: a socket, or a resolution started for the next flush. */
static void connect_statsd(pt_stats *s)
{
    if (s->fd >= 0)
        return;
    if (s->statsd_socket) { /* local and non-blocking: right here */
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->statsd_socket);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            s->fd = fd;
            return;
        }
        if (fd >= 0)
            close(fd);
        s->counters.send_errors++;
        s->counters.last_error = -errno;
        return;
    }
    if (s->statsd_host == NULL || __atomic_load_n(&s->closing, __ATOMIC_ACQUIRE) ||
        __atomic_exchange_n(&s->resolving, 1, __ATOMIC_ACQ_REL))
        return; /* at the end, pt__stats_flush_stop() resolves itself */
    __atomic_add_fetch(&s->tasks, 1, __ATOMIC_ACQ_REL);
    if (pt_work_submit(resolve_job, s, 5000) < 0) {
        __atomic_sub_fetch(&s->tasks, 1, __ATOMIC_ACQ_REL);
        __atomic_store_n(&s->resolving, 0, __ATOMIC_RELEASE);
    }
}

/* ---- packing ------------------------------------------------------------------------------- */

static void send_packet(pt_stats *s)
{
    if (s->plen == 0)
        return;
    if (s->fd >= 0 && send(s->fd, s->packet, s->plen, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
        s->counters.datagrams++;
        s->counters.bytes += s->plen;
    } else {
        s->counters.send_errors++;
        s->counters.last_error = s->fd >= 0 ? -errno : -ENOTCONN;
    }
    s->plen = 0;
}

/* A sample rate in fixed notation (statsd reads /^@([\d.]+)/: "5e-05" would be 5), with the
 * fewest digits that read back as the same double, so that statsd's count, the sum of 1/rate,
 * is as exact as a double allows ("0.25", "0.1", "0.3333333333333333"). */
static void fmt_rate(double rate, char *out, size_t len)
{
    int zeros = 0; /* zeros after the point before the first significant digit */
    for (double r = rate; r > 0 && r < 0.1 && zeros < 300; r *= 10)
        zeros++;
    for (int digits = 1; digits <= 17; digits++) {
        int n = snprintf(out, len, "%.*f", zeros + digits, rate);
        for (char *c = out; *c; c++)
            if (*c == ',')
                *c = '.'; /* a locale's decimal comma */
        while (n > 2 && out[n - 1] == '0')
            out[--n] = '\0';
        if (pt__strtod_c(out, NULL) == rate)
            return;
    }
}

void pt__stats_fmt_scaled(uint64_t v, int decimals, char *out, size_t len)
{
    uint64_t unit = 1;
    for (int i = 0; i < decimals; i++)
        unit *= 10;
    int n = snprintf(out, len, "%llu.%0*llu", (unsigned long long)(v / unit), decimals,
                     (unsigned long long)(v % unit));
    while (n > 0 && out[n - 1] == '0')
        out[--n] = '\0';
    if (n > 0 && out[n - 1] == '.')
        out[--n] = '\0';
}

static void fmt_double(double d, char *out, size_t len)
{
    pt__fmt_double(out, len, d);
}

/* ---- one flush ------------------------------------------------------------------------------- */

static void collect_sample(void *arg, const pt__stats_sample *smp)
{
    (void)arg;
    pt__smetric *m = smp->metric;
    if (m->nbatch == m->capbatch) {
        size_t cap = m->capbatch ? 2 * m->capbatch : 64;
        pt__stats_sample *b = realloc(m->batch, cap * sizeof(*b));
        if (b == NULL) {
            m->lost++; /* this sample does not travel; it still counts */
            return;
        }
        m->batch = b;
        m->capbatch = cap;
    }
    m->batch[m->nbatch++] = *smp;
}

static uint64_t next_rand(pt_stats *s)
{
    uint64_t x = s->rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = ((const pt__stats_sample *)a)->value, y = ((const pt__stats_sample *)b)->value;
    return (x > y) - (x < y);
}

/* The decimal digits of v at out (room for 20); returns how many. */
static size_t put_u64(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

/* Nanoseconds as milliseconds, exactly, by hand (the flush's hottest path): "1.25". */
static size_t put_ms(char *out, uint64_t ns)
{
    size_t n = put_u64(out, ns / 1000000);
    uint32_t frac = (uint32_t)(ns % 1000000);
    if (frac == 0)
        return n;
    out[n++] = '.';
    for (uint32_t div = 100000; frac != 0; div /= 10) {
        out[n++] = (char)('0' + frac / div);
        frac %= div;
    }
    return n;
}

/* "|type[|@rate][|#tags]", the same for every line of a metric in one flush. */
static size_t make_suffix(const pt_stats *s, const pt__smetric *m, const char *type, double rate,
                          char *out, size_t cap)
{
    char r[48] = "";
    if (rate < 1)
        fmt_rate(rate, r, sizeof(r));
    int n = snprintf(out, cap, "|%s%s%s%s%s", type, *r ? "|@" : "", r,
                     s->opts.dogstatsd_tags && m->tags ? "|#" : "",
                     s->opts.dogstatsd_tags && m->tags ? m->tags : "");
    return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

/* Makes room for n more bytes of lines (and their separator) in the packet, sending it first
 * if they would not fit. Returns 0, or -1 for lines longer than a packet: dropped, counted. */
static int make_room(pt_stats *s, size_t n)
{
    if (n > s->opts.max_packet) {
        s->counters.send_errors++;
        s->counters.last_error = -EMSGSIZE;
        return -1;
    }
    if (s->plen > 0 && s->plen + 1 + n > s->opts.max_packet)
        send_packet(s);
    return 0;
}

/* Writes "<name>:<value><suffix>" straight into the packet. */
static void emit(pt_stats *s, const pt__smetric *m, const char *value, size_t vlen,
                 const char *suffix, size_t slen)
{
    size_t nlen = strlen(m->statsd_name);
    if (make_room(s, nlen + 1 + vlen + slen) < 0)
        return;
    char *p = s->packet + s->plen;
    if (s->plen > 0)
        *p++ = '\n';
    memcpy(p, m->statsd_name, nlen);
    p += nlen;
    *p++ = ':';
    memcpy(p, value, vlen);
    p += vlen;
    memcpy(p, suffix, slen);
    s->plen = (size_t)(p + slen - s->packet);
}

/* A timer's or histogram's samples of this flush. The count statsd must add up to is what was
 * recorded since the last flush: the samples drained now, plus those a full ring dropped (the
 * metric's own slot) or that could not be kept. Counting drained samples rather than reading
 * the count slot keeps it exact when a thread records during the flush. */
static void flush_samples(pt_stats *s, pt__smetric *m)
{
    char v[64], suffix[512];
    uint64_t dropped = pt__stats_slot_total(m->slot + 3 + (uint32_t)m->nbounds);
    uint64_t dcount = m->nbatch + m->lost + (dropped - m->sent_dropped);
    uint64_t count = pt__stats_slot_total(m->slot), dsum_count = count - m->sent_count;
    size_t k = m->nbatch, vlen, slen;

    m->sent_dropped = dropped;
    m->lost = 0;
    if (dcount > 0 && k == 0) { /* every sample was lost: one at the mean keeps the count */
        if (m->kind == PT__S_TIMER) {
            uint64_t sum = pt__stats_slot_total(m->slot + 1) - m->sent_sum;
            vlen = put_ms(v, dsum_count ? sum / dsum_count : 0);
        } else {
            double sum = pt__stats_slot_total_double(m->slot + 1) - m->sent_sum_d;
            double mean = dsum_count ? sum / (double)dsum_count : 0;
            fmt_double(mean > 0 ? mean : 0, v, sizeof(v));
            vlen = strlen(v);
        }
        slen = make_suffix(s, m, "ms", 1.0 / (double)dcount, suffix, sizeof(suffix));
        emit(s, m, v, vlen, suffix, slen);
    } else if (dcount > 0) {
        if (k > s->opts.timer_budget) { /* a uniform sample of budget of them, in place */
            for (size_t i = 0; i < s->opts.timer_budget; i++) {
                size_t j = i + (size_t)(next_rand(s) % (k - i));
                pt__stats_sample t = m->batch[i];
                m->batch[i] = m->batch[j];
                m->batch[j] = t;
            }
            k = s->opts.timer_budget;
        }
        double rate = k < dcount ? (double)k / (double)dcount : 1;
        slen = make_suffix(s, m, "ms", rate, suffix, sizeof(suffix));
        for (size_t i = 0; i < k; i++) {
            if (m->kind == PT__S_TIMER) {
                vlen = put_ms(v, m->batch[i].value);
            } else { /* statsd's timers take no negative value: those go as 0 */
                double d;
                memcpy(&d, &m->batch[i].value, sizeof(d));
                fmt_double(d > 0 ? d : 0, v, sizeof(v));
                vlen = strlen(v);
            }
            emit(s, m, v, vlen, suffix, slen);
        }
    }
    m->sent_count = count;
    if (m->kind == PT__S_TIMER)
        m->sent_sum = pt__stats_slot_total(m->slot + 1);
    else
        m->sent_sum_d = pt__stats_slot_total_double(m->slot + 1);
}

/* Sorts the set's members and counts the distinct ones. */
static size_t count_unique(pt__smetric *m)
{
    size_t unique = 0;
    if (m->nbatch > 1)
        qsort(m->batch, m->nbatch, sizeof(*m->batch), cmp_u64);
    for (size_t i = 0; i < m->nbatch; i++)
        unique += i == 0 || m->batch[i].value != m->batch[i - 1].value;
    return unique;
}

/* Each distinct member of the interval, as its hash. */
static void flush_set(pt_stats *s, pt__smetric *m)
{
    char v[32], suffix[512];
    size_t slen = make_suffix(s, m, "s", 1, suffix, sizeof(suffix));

    m->last_unique = count_unique(m); /* sorts the batch */
    for (size_t i = 0; i < m->nbatch; i++)
        if (i == 0 || m->batch[i].value != m->batch[i - 1].value)
            emit(s, m, v,
                 (size_t)snprintf(v, sizeof(v), "%016llx", (unsigned long long)m->batch[i].value),
                 suffix, slen);
}

/* A gauge, once set; a negative one goes as "0|g" first, in the same datagram, since "-5|g"
 * alone subtracts. */
static void flush_gauge(pt_stats *s, pt__smetric *m)
{
    char v[64], suffix[512];

    if (!__atomic_load_n(&m->gauge_set, __ATOMIC_RELAXED))
        return;
    uint64_t bits = __atomic_load_n(&m->gauge, __ATOMIC_RELAXED);
    double d;
    memcpy(&d, &bits, sizeof(d));
    if (d == 0)
        d = 0; /* -0 would read as "less 0" */
    fmt_double(d, v, sizeof(v));
    size_t vlen = strlen(v), slen = make_suffix(s, m, "g", 1, suffix, sizeof(suffix));
    if (d < 0) {
        size_t nlen = strlen(m->statsd_name);
        if (make_room(s, (nlen + 2 + slen) + 1 + (nlen + 1 + vlen + slen)) < 0)
            return;
        emit(s, m, "0", 1, suffix, slen);
    }
    emit(s, m, v, vlen, suffix, slen);
}

void pt__stats_flush_now(pt_stats *s)
{
    char v[32];

    pt__stats_collect(s);
    pthread_mutex_lock(&s->flush_lock);
    connect_statsd(s);
    int reachable = s->fd >= 0; /* never, without a destination: then nothing is sent */
    pthread_mutex_lock(&s->lock);
    pthread_mutex_lock(&pt__stats_lock);
    pt__stats_drain(collect_sample, NULL);
    for (size_t i = 0; i < s->nmetrics; i++) {
        pt__smetric *m = s->metrics[i];
        if (!reachable) { /* counters wait; samples cannot (their count does); sets count */
            if (m->kind == PT__S_SET)
                m->last_unique = count_unique(m);
            else
                m->lost += m->nbatch;
            m->nbatch = 0;
            continue;
        }
        switch (m->kind) {
        case PT__S_COUNTER: {
            uint64_t total = pt__stats_slot_total(m->slot);
            if (total != m->sent) {
                char suffix[512];
                size_t vlen = put_u64(v, total - m->sent);
                emit(s, m, v, vlen, suffix, make_suffix(s, m, "c", 1, suffix, sizeof(suffix)));
                m->sent = total;
            }
            break;
        }
        case PT__S_GAUGE: flush_gauge(s, m); break;
        case PT__S_TIMER:
        case PT__S_HISTOGRAM: flush_samples(s, m); break;
        case PT__S_SET: flush_set(s, m); break;
        }
        m->nbatch = 0;
    }
    pthread_mutex_unlock(&pt__stats_lock);
    pthread_mutex_unlock(&s->lock);
    send_packet(s);
    s->counters.flushes++;
    pthread_mutex_unlock(&s->flush_lock);
}

/* ---- the timer -------------------------------------------------------------------------------- */

static void flush_tick(void *arg)
{
    pt__stats_flush_now(arg);
}

int pt__stats_flush_start(pt_stats *s)
{
    pthread_mutex_lock(&s->flush_lock);
    connect_statsd(s); /* resolve now: the first flush may already send */
    pthread_mutex_unlock(&s->flush_lock);
    /* The tick runs without a destination too: it drains the sample rings and counts sets. */
    int rc = pt_ops_timer_start(s->opts.interval_ms, s->opts.interval_ms, flush_tick, s, &s->timer);
    return rc == -ENOMEM ? rc : 0; /* no pt-ops (shut down): flush on demand only */
}

void pt__stats_flush_stop(pt_stats *s)
{
    __atomic_store_n(&s->closing, 1, __ATOMIC_RELEASE);
    if (s->timer) {
        pt_ops_timer_free(s->timer); /* waits for a flush under way */
        s->timer = NULL;
    }
    for (int i = 0; i < 5000 && __atomic_load_n(&s->tasks, __ATOMIC_ACQUIRE) > 0; i++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL); /* a resolution under way (getaddrinfo has its own timeout) */
    }
    if (s->fd < 0 && s->statsd_host && !s->statsd_socket) {
        int fd = resolve(s); /* never resolved yet: once more, here, for the last values */
        pthread_mutex_lock(&s->flush_lock);
        adopt(s, fd);
        pthread_mutex_unlock(&s->flush_lock);
    }
    pt__stats_flush_now(s); /* the last interval's values (and the rings drained) */
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

static void flush_task(void *arg)
{
    pt_stats *s = arg;
    pt__stats_flush_now(s);
    __atomic_sub_fetch(&s->tasks, 1, __ATOMIC_ACQ_REL);
}

int pt_stats_flush(pt_stats *s, uint64_t timeout_ms)
{
    __atomic_add_fetch(&s->tasks, 1, __ATOMIC_ACQ_REL); /* pt_stats_free() waits for it */
    int rc = pt__ops_call(flush_task, s, timeout_ms);
    if (rc == -ETIMEDOUT)
        return rc;
    if (rc < 0) { /* pt-ops cannot take it: flush here */
        __atomic_sub_fetch(&s->tasks, 1, __ATOMIC_ACQ_REL);
        pt__stats_flush_now(s);
        return rc == -ENOMEM ? rc : -ESHUTDOWN;
    }
    return 0;
}
