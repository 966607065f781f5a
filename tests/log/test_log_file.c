/* File sinks: reopen after a rename, a reopen that fails, a removed file recreated, rotation by size (also of a
 * line longer than max_bytes) and by day, file mode, two loggers on one file, open errors,
 * a full disk (RLIMIT_FSIZE) with recovery, and the page cache kept of what was written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <cmocka.h>

#include "log/testutil.h"

static int setup(void **state)
{
    /* The missing folders are created. */
    return tu_fx_setup(state, "sinks", "sub/dir/sinks.log", TU_FX_KEEP_SINK);
}

static void test_reopen_after_rename(void **state)
{
    tu_fx *f = *state;
    for (int i = 0; i < 100; i++)
        PT_INFO(f->log, "rot", PT_INT("i", i));
    assert_int_equal(pt_log_flush(5000), 0);
    char *old = tu_path(f->dir, "sub/dir/sinks.log.old");
    assert_int_equal(rename(f->path, old), 0);
    for (int i = 100; i < 200; i++)
        PT_INFO(f->log, "rot", PT_INT("i", i));
    assert_int_equal(pt_log_reopen(f->log), 0);
    for (int i = 200; i < 300; i++)
        PT_INFO(f->log, "rot", PT_INT("i", i));
    assert_int_equal(pt_log_flush(5000), 0);
    assert_true(tu_exists(f->path));

    long long a[400], b[400];
    size_t na = tu_seqs(old, "rot", a, 400), nb = tu_seqs(f->path, "rot", b, 400);
    assert_int_equal(na + nb, 300);
    /* Old file: 0..k-1, new file: k..299, with k >= 100. */
    for (size_t i = 0; i < na; i++)
        assert_int_equal(a[i], i);
    for (size_t i = 0; i < nb; i++)
        assert_int_equal(b[i], na + i);
    assert_true(na >= 100);
    /* Records logged after pt_log_reopen() returned are in the new file. */
    assert_true(nb >= 100);
    free(old);

    /* Every logger (NULL) works too. */
    assert_int_equal(pt_log_reopen(NULL), 0);
}

/* A reopen that cannot open the path says why, and the sink keeps writing where it was. */
static void test_reopen_error(void **state)
{
    tu_fx *f = *state;
    PT_INFO(f->log, "ro", PT_INT("i", 0));
    assert_int_equal(pt_log_flush(5000), 0);
    char *sub = tu_path(f->dir, "sub"), *moved = tu_path(f->dir, "moved");
    assert_int_equal(rename(sub, moved), 0);
    FILE *blocker = fopen(sub, "w"); /* "sub" is a file now: sub/dir/ cannot exist */
    assert_non_null(blocker);
    fclose(blocker);
    assert_int_equal(pt_log_reopen(f->log), -ENOTDIR);
    PT_INFO(f->log, "ro", PT_INT("i", 1)); /* goes on into the file it had open */
    assert_int_equal(pt_log_flush(5000), 0);
    char *old = tu_path(f->dir, "moved/dir/sinks.log");
    long long got[4];
    assert_int_equal(tu_seqs(old, "ro", got, 4), 2);
    assert_int_equal(got[1], 1);

    assert_int_equal(unlink(sub), 0);
    assert_int_equal(pt_log_reopen(f->log), 0); /* creates sub/dir/sinks.log again */
    PT_INFO(f->log, "ro", PT_INT("i", 2));
    assert_int_equal(pt_log_flush(5000), 0);
    assert_int_equal(tu_seqs(f->path, "ro", got, 4), 1);
    assert_int_equal(got[0], 2);
    tu_rmtree(moved); /* frees moved */
    free(old);
    free(sub);
}

static void test_removed_file_recreated(void **state)
{
    tu_fx *f = *state;
    PT_INFO(f->log, "before removal", PT_INT("i", 0));
    assert_int_equal(pt_log_flush(5000), 0);
    assert_int_equal(unlink(f->path), 0);
    uint64_t t0 = tu_now_ms();
    int k = 1;
    long long got[1];
    while (tu_now_ms() - t0 < 10000) {
        PT_INFO(f->log, "after removal", PT_INT("i", k++));
        pt_log_flush(1000);
        if (tu_exists(f->path) && tu_seqs(f->path, "after removal", got, 1) > 0)
            break;
        tu_sleep_ms(50);
    }
    uint64_t took = tu_now_ms() - t0;
    assert_true(tu_exists(f->path));
    assert_true(tu_seqs(f->path, "after removal", got, 1) > 0);
    if (took > 5000)
        fail_msg("the removed file came back after %llu ms", (unsigned long long)took);
    /* Once it is back, every record goes there. */
    int first = k;
    for (int i = 0; i < 20; i++)
        PT_INFO(f->log, "after removal", PT_INT("i", k++));
    assert_int_equal(pt_log_flush(5000), 0);
    long long all[2048];
    size_t n = tu_seqs(f->path, "after removal", all, 2048);
    assert_true(n >= 20 && n <= 2048);
    assert_int_equal(all[n - 1], k - 1);
    assert_int_equal(all[n - 20], first);
}

static void test_rotation_by_size(void **state)
{
    tu_fx *f = *state;
    char *path = tu_path(f->dir, "rot.log");
    pt_log_file_options o = {.max_bytes = 4096, .keep = 3};
    pt_log_sink *s = NULL;
    assert_int_equal(pt_log_add_file(f->log, path, &o, &s), 0);
    const int n = 400;
    for (int i = 0; i < n; i++)
        PT_INFO(f->log, "size", PT_INT("i", i), PT_STR("pad", "0123456789012345678901234567890"));
    assert_int_equal(pt_log_flush(5000), 0);

    char name[4096];
    long long all[2000];
    size_t total = 0;
    for (int k = 3; k >= 0; k--) {
        if (k)
            snprintf(name, sizeof name, "%s.%d", path, k);
        else
            snprintf(name, sizeof name, "%s", path);
        if (!tu_exists(name))
            fail_msg("%s is missing", name);
        long long size = tu_file_size(name);
        if (size > 4096)
            fail_msg("%s has %lld bytes, more than max_bytes", name, size);
        size_t got = tu_seqs(name, "size", all + total, 2000 - total);
        if (k)
            assert_true(got > 0 && size > 4096 - 200); /* rotated only when full */
        total += got;
    }
    snprintf(name, sizeof name, "%s.4", path);
    assert_false(tu_exists(name));
    /* Oldest to newest: one consecutive run that ends with the last record. */
    assert_true(total >= 3 * 4096 / 200);
    for (size_t i = 0; i < total; i++)
        assert_int_equal(all[i], n - (long long)total + (long long)i);
    pt_log_sink_counters c;
    pt_log_sink_counters_get(s, &c);
    assert_int_equal(c.records, n);
    assert_int_equal(c.errors, 0);
    free(path);
}

/* A line longer than max_bytes gets a file of its own: never split, no endless rotation. */
static void test_rotation_line_longer_than_max(void **state)
{
    tu_fx *f = *state;
    char *path = tu_path(f->dir, "huge.log");
    pt_log_file_options o = {.max_bytes = 1024, .keep = 7};
    assert_int_equal(pt_log_add_file(f->log, path, &o, NULL), 0);
    static char big[3001];
    memset(big, 'h', 3000);
    for (int i = 0; i < 4; i++)
        PT_INFO(f->log, "huge", PT_INT("i", i), PT_STR("big", big));
    assert_int_equal(pt_log_flush(5000), 0);
    long long all[16];
    size_t total = 0;
    char name[4096];
    for (int k = 8; k >= 0; k--) {
        if (k)
            snprintf(name, sizeof name, "%s.%d", path, k);
        else
            snprintf(name, sizeof name, "%s", path);
        if (!tu_exists(name))
            continue;
        size_t got = tu_seqs(name, "huge", all + total, 16 - total);
        assert_true(got <= 1); /* each is longer than max_bytes */
        total += got;
    }
    assert_int_equal(total, 4);
    for (size_t i = 0; i < total; i++)
        assert_int_equal(all[i], i);
    free(path);
}

/* Two loggers append to the same file from two threads: every line stays whole. */
typedef struct appender {
    pt_log *log;
    int id;
} appender;

static void *appender_main(void *arg)
{
    appender *a = arg;
    for (int i = 0; i < 10000; i++)
        PT_INFO(a->log, "append", PT_INT("t", a->id), PT_INT("i", i),
                PT_STR("pad", "the same file from two loggers, each with its own sink"));
    return NULL;
}

static void test_two_loggers_one_file(void **state)
{
    tu_fx *f = *state;
    char *path = tu_path(f->dir, "shared.log");
    pt_log *other;
    assert_int_equal(pt_log_new("other", &other), 0);
    assert_int_equal(pt_log_add_file(f->log, path, NULL, NULL), 0);
    assert_int_equal(pt_log_add_file(other, path, NULL, NULL), 0);
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, -1), 0);
    appender a[2] = {{f->log, 0}, {other, 1}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, appender_main, &a[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(pt_log_flush(10000), 0);
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, 0), 0);
    pt_log_free(other);
    tu_lines ls;
    tu_lines_load(&ls, path);
    TU_ASSERT_LINES_GOOD(&ls);
    long long next[2] = {0, 0};
    for (size_t i = 0; i < ls.n; i++) {
        long long t = json_integer_value(json_object_get(ls.rec[i], "t"));
        assert_true(t == 0 || t == 1);
        assert_int_equal(json_integer_value(json_object_get(ls.rec[i], "i")), next[t]);
        TU_ASSERT_FIELD_STR(ls.rec[i], "name", t ? "other" : "sinks");
        next[t]++;
    }
    assert_int_equal(next[0], 10000);
    assert_int_equal(next[1], 10000);
    tu_lines_free(&ls);
    free(path);
}

static void test_rotation_keep_default(void **state)
{
    tu_fx *f = *state;
    char *path = tu_path(f->dir, "keep.log");
    pt_log_file_options o = {.max_bytes = 1024};
    assert_int_equal(pt_log_add_file(f->log, path, &o, NULL), 0);
    for (int i = 0; i < 200; i++)
        PT_INFO(f->log, "keep", PT_INT("i", i), PT_STR("pad", "0123456789012345678901234567890"));
    assert_int_equal(pt_log_flush(5000), 0);
    char name[4096];
    for (int k = 1; k <= 8; k++) {
        snprintf(name, sizeof name, "%s.%d", path, k);
        if (k <= 7 && !tu_exists(name))
            fail_msg("%s is missing (keep 0 means 7)", name);
        if (k == 8 && tu_exists(name))
            fail_msg("%s exists (keep 0 means 7)", name);
    }
    free(path);
}

static void test_rotation_daily_same_day(void **state)
{
    /* Rotation when the UTC date changes cannot be tested without waiting for midnight or
     * faking the clock, which the public API does not allow: only check that a daily file
     * does not rotate within a day. */
    tu_fx *f = *state;
    time_t t0 = time(NULL);
    char *path = tu_path(f->dir, "daily.log");
    pt_log_file_options o = {.daily = 1};
    assert_int_equal(pt_log_add_file(f->log, path, &o, NULL), 0);
    for (int i = 0; i < 50; i++)
        PT_INFO(f->log, "daily", PT_INT("i", i));
    assert_int_equal(pt_log_flush(5000), 0);
    long long got[64];
    assert_int_equal(tu_seqs(path, "daily", got, 64), 50);
    char *p1 = tu_path(f->dir, "daily.log.1");
    if (t0 / 86400 == time(NULL) / 86400)
        assert_false(tu_exists(p1));
    free(p1);
    free(path);
}

static void test_file_mode(void **state)
{
    tu_fx *f = *state;
    char *path = tu_path(f->dir, "mode.log");
    pt_log_file_options o = {.mode = 0600};
    mode_t old = umask(0);
    int rc = pt_log_add_file(f->log, path, &o, NULL);
    umask(old);
    assert_int_equal(rc, 0);
    PT_INFO(f->log, "mode");
    assert_int_equal(pt_log_flush(5000), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    free(path);
}

/* ---- the page cache ------------------------------------------------------------------- */

/* The share of the file's pages in [from, to) that are in the page cache. */
static double resident_fd(int fd, off_t from, off_t to)
{
    long page = sysconf(_SC_PAGESIZE);
    from = from / page * page;
    void *map = mmap(NULL, (size_t)(to - from), PROT_READ, MAP_SHARED, fd, from);
    assert_true(map != MAP_FAILED);
    size_t n = (size_t)((to - from + page - 1) / page), in = 0;
    unsigned char *vec = malloc(n);
    assert_int_equal(mincore(map, (size_t)(to - from), vec), 0);
    for (size_t i = 0; i < n; i++)
        in += vec[i] & 1;
    free(vec);
    munmap(map, (size_t)(to - from));
    return (double)in / (double)n;
}

static double resident(const char *path, off_t from, off_t to)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    double r = resident_fd(fd, from, to);
    close(fd);
    return r;
}

/* Whether the folder's file system drops clean pages on request (tmpfs keeps them). */
static int drops_pages(const char *dir)
{
    char *path = tu_path(dir, "probe");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    char buf[65536];
    memset(buf, 'x', sizeof buf);
    for (int i = 0; i < 16; i++)
        assert_int_equal(write(fd, buf, sizeof buf), (ssize_t)sizeof buf);
    assert_int_equal(fdatasync(fd), 0);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    int drops = resident(path, 0, 16 * 65536) < 0.5;
    unlink(path);
    free(path);
    return drops;
}

static void fill(pt_log *log, size_t bytes)
{
    char pad[1001];
    memset(pad, 'p', 1000);
    pad[1000] = 0;
    for (size_t done = 0, i = 1; done < bytes; done += 1100, i++) {
        PT_INFO(log, "fill", PT_STR("pad", pad));
        if (i % 200 == 0) /* the ring (1 MiB) drops info records when full: pace them */
            assert_int_equal(pt_log_flush(5000), 0);
    }
    assert_int_equal(pt_log_flush(5000), 0);
}

static void data_sync(const char *path)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(fdatasync(fd), 0);
    close(fd);
}

/* A sink keeps cache_bytes of what it wrote in the page cache: what was written (and reached
 * the disk) before that is dropped; PT_LOG_FILE_CACHE_ALL leaves it. */
static void test_page_cache(void **state)
{
    tu_fx *f = *state;
    if (!drops_pages(f->dir))
        skip(); /* tmpfs: pages are the file */
    char *kept = tu_path(f->dir, "kept.log"), *all = tu_path(f->dir, "all.log");
    pt_log_file_options o_kept = {.cache_bytes = 8u << 20};
    pt_log_file_options o_all = {.cache_bytes = PT_LOG_FILE_CACHE_ALL};
    assert_int_equal(pt_log_add_file(f->log, kept, &o_kept, NULL), 0);
    assert_int_equal(pt_log_add_file(f->log, all, &o_all, NULL), 0);
    fill(f->log, 24u << 20);
    off_t kept_at = (off_t)tu_file_size(kept), all_at = (off_t)tu_file_size(all);
    assert_true(kept_at > (16 << 20) && all_at == kept_at);
    /* Clean now: what the sink drops from here on leaves the cache. */
    data_sync(kept);
    data_sync(all);
    fill(f->log, 24u << 20);
    /* The last 8 MiB before the sync were dropped once 8 MiB more had been written back. */
    off_t from = kept_at - (8 << 20) + 4096, to = kept_at - 4096;
    double r_kept = resident(kept, from, to), r_all = resident(all, from, to);
    print_message("resident: %.3f with 8 MiB kept, %.3f with all kept\n", r_kept, r_all);
    assert_true(r_kept < 0.05);
    assert_true(r_all > 0.9);
    free(kept);
    free(all);
}

/* Rotated files count in the cache_bytes written last too: with files smaller than that, a
 * file is dropped once cache_bytes more were written after it. */
static void test_page_cache_rotated(void **state)
{
    tu_fx *f = *state;
    if (!drops_pages(f->dir))
        skip();
    char *kept = tu_path(f->dir, "kept.log"), *all = tu_path(f->dir, "all.log");
    char *kept1 = tu_path(f->dir, "kept.log.1"), *all1 = tu_path(f->dir, "all.log.1");
    pt_log_file_options o_kept = {.cache_bytes = 8u << 20, .max_bytes = 4u << 20, .keep = 50};
    pt_log_file_options o_all = {.cache_bytes = PT_LOG_FILE_CACHE_ALL, .max_bytes = 4u << 20,
                                 .keep = 50};
    assert_int_equal(pt_log_add_file(f->log, kept, &o_kept, NULL), 0);
    assert_int_equal(pt_log_add_file(f->log, all, &o_all, NULL), 0);
    fill(f->log, 10u << 20);
    /* A whole rotated file of each, held by descriptor as later rotations rename it. */
    data_sync(kept1);
    data_sync(all1);
    int fd_kept = open(kept1, O_RDONLY), fd_all = open(all1, O_RDONLY);
    assert_true(fd_kept >= 0 && fd_all >= 0);
    off_t size = (off_t)tu_file_size(kept1);
    assert_true(size > (3 << 20) && size <= (4 << 20));
    fill(f->log, 16u << 20);
    double r_kept = resident_fd(fd_kept, 0, size), r_all = resident_fd(fd_all, 0, size);
    print_message("rotated file resident: %.3f with 8 MiB kept, %.3f with all kept\n", r_kept,
                  r_all);
    assert_true(r_kept < 0.05);
    assert_true(r_all > 0.9);
    close(fd_kept);
    close(fd_all);
    free(kept);
    free(all);
    free(kept1);
    free(all1);
}

static void test_add_file_errors(void **state)
{
    tu_fx *f = *state;
    /* A folder that cannot be created: a file stands in the way. */
    char *blocker = tu_path(f->dir, "blocker");
    FILE *b = fopen(blocker, "w");
    assert_non_null(b);
    fclose(b);
    char *bad = tu_path(f->dir, "blocker/x.log");
    assert_true(pt_log_add_file(f->log, bad, NULL, NULL) < 0);
    assert_int_equal(pt_log_add_file(f->log, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(pt_log_add_sink(f->log, NULL, NULL, NULL, NULL), -EINVAL);
    free(bad);
    free(blocker);
}

/* ---- a full disk: RLIMIT_FSIZE in a fresh process -------------------------------------- */
static int count_lines(const char *path)
{
    size_t len;
    char *d = tu_read_file(path, &len);
    int n = 0;
    for (size_t i = 0; d && i < len; i++)
        n += d[i] == '\n';
    free(d);
    return n;
}

static int scenario_disk_full(const char *dir)
{
    /* Writing past the limit raises SIGXFSZ; ignored, write() fails with EFBIG instead. */
    signal(SIGXFSZ, SIG_IGN);
    char *path = tu_path(dir, "full.log");
    char *errpath = tu_path(dir, "stderr.txt");
    pt_log *log;
    pt_log_sink *s;
    CHECK(pt_log_new("full", &log) == 0);
    CHECK(pt_log_add_file(log, path, NULL, &s) == 0);
    for (int i = 0; i < 10; i++)
        PT_INFO(log, "before", PT_INT("i", i));
    CHECK(pt_log_flush(5000) == 0);
    long long size = tu_file_size(path);
    CHECK(size > 0);

    int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    int saved = dup(2);
    dup2(fd, 2);
    close(fd);
    struct rlimit rl = {(rlim_t)size + 300, RLIM_INFINITY};
    CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);

    /* 2.5 s of failures. */
    uint64_t t0 = tu_now_ms();
    for (int i = 0; i < 50; i++) {
        PT_INFO(log, "during", PT_INT("i", i), PT_STR("pad", "0123456789012345678901234567890"));
        tu_sleep_ms(50);
    }
    uint64_t failing_ms = tu_now_ms() - t0;
    CHECK(pt_log_flush(100) == -ETIMEDOUT);
    pt_log_sink_counters c;
    pt_log_sink_counters_get(s, &c);
    int reports = count_lines(errpath);

    rl.rlim_cur = RLIM_INFINITY;
    CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
    for (int i = 0; i < 10; i++)
        PT_INFO(log, "after", PT_INT("i", i));
    int flushed = pt_log_flush(5000);
    dup2(saved, 2);
    close(saved);

    CHECKF(c.errors > 0, "errors %llu", (unsigned long long)c.errors);
    /* Retried after a back-off (100 ms doubling to 1 s, as for every sink): a handful of
     * failed writes in 2.5 s, not a busy loop. */
    SOFT_CHECKF(c.errors <= 25, "%llu failed writes in %llu ms: no back-off on a full disk",
                (unsigned long long)c.errors, (unsigned long long)failing_ms);
    CHECKF(c.last_error == -EFBIG, "last_error %d", c.last_error);
    /* Reported on stderr, at most once a second. */
    size_t elen;
    char *err = tu_read_file(errpath, &elen);
    fprintf(stderr, "stderr while the disk was full (%llu ms):\n%s", (unsigned long long)failing_ms,
            err ? err : "");
    free(err);
    CHECKF(reports >= 1, "no report on stderr");
    CHECKF(reports <= (int)(failing_ms / 1000) + 2, "%d reports in %llu ms", reports,
           (unsigned long long)failing_ms);
    CHECKF(flushed == 0, "flush after the limit was raised: %d", flushed);

    tu_lines ls;
    tu_lines_load(&ls, path);
    CHECK(tu_lines_report_bad(&ls) == 0);
    int nb = 0, nd = 0, na = 0;
    for (size_t i = 0; i < ls.n; i++) {
        const char *m = tu_str(ls.rec[i], "msg");
        long long v = json_integer_value(json_object_get(ls.rec[i], "i"));
        if (strcmp(m, "before") == 0)
            CHECK(v == nb++);
        else if (strcmp(m, "during") == 0)
            CHECK(v == nd++);
        else if (strcmp(m, "after") == 0)
            CHECK(v == na++);
    }
    /* Nothing lost: the data was kept and offered again. */
    CHECKF(nb == 10 && nd == 50 && na == 10, "before %d during %d after %d", nb, nd, na);
    pt_log_sink_counters_get(s, &c);
    CHECK(c.records == 70);
    CHECK(c.dropped == 0);
    tu_lines_free(&ls);
    pt_log_free(log);
    free(path);
    free(errpath);
    return tu_soft_failed;
}

TU_SCENARIO_TEST(test_disk_full, "disk_full", 30000)

static const tu_scenario scenarios[] = {
    {"disk_full", scenario_disk_full},
    {NULL, NULL},
};

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_reopen_after_rename, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_reopen_error, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_removed_file_recreated, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_rotation_by_size, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_rotation_line_longer_than_max, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_two_loggers_one_file, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_rotation_keep_default, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_rotation_daily_same_day, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_file_mode, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_add_file_errors, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_page_cache, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_page_cache_rotated, setup, tu_fx_teardown),
    cmocka_unit_test(test_disk_full),
};

TU_MAIN(scenarios, tests)
