/* core_test.h: small helpers shared by the core tests. Every wait has a deadline. */
#ifndef PT_CORE_TEST_H
#define PT_CORE_TEST_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t test_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static inline void test_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Waits until *v >= target; returns 1, or 0 after timeout_ms. */
static inline int test_wait_ge(atomic_int *v, int target, unsigned timeout_ms)
{
    uint64_t end = test_now_ms() + timeout_ms;

    while (atomic_load(v) < target) {
        if (test_now_ms() > end)
            return 0;
        test_sleep_ms(1);
    }
    return 1;
}

/* Waits for a child; returns its exit status (0..255), 128+signal if it was killed, or -1
 * if it did not end within timeout_ms (it is then killed). */
static inline int test_wait_child(pid_t pid, unsigned timeout_ms)
{
    uint64_t end = test_now_ms() + timeout_ms;
    int status;

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0)
            return -1;
        if (test_now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        test_sleep_ms(2);
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

#endif /* PT_CORE_TEST_H */
