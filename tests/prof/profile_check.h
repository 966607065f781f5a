/* What the profile tests check output with: temporary files, commands (go tool pprof,
 * python3's XML parser), pprof -top's shares, and a small protobuf reader for pprof's
 * profile.proto. Failures end the running cmocka test. */
#ifndef PT_TESTS_PROF_PROFILE_CHECK_H
#define PT_TESTS_PROF_PROFILE_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* The group's temporary directory (also $HOME and $PPROF_TMPDIR for go tool pprof). */
extern char pchk_tmpdir[64];
int pchk_setup(void **state);
int pchk_teardown(void **state);

void pchk_write_file(const char *path, const void *data, size_t n);
/* What cmd printed (stdout and stderr, malloc'd); fails the test unless it exited 0. */
char *pchk_run(const char *cmd);
/* Fails the test when `go` is not on PATH. */
void pchk_require_go(void);
/* go tool pprof's output for args and file (malloc'd). */
char *pchk_pprof(const char *args, const char *file);
/* Fails unless go tool pprof -top's output top shows name with flat% and cum% within 0.5. */
void pchk_assert_share(const char *top, const char *name, double flat, double cum);
/* Fails unless python3's xml.etree parses svg[0..len) (written to pchk_tmpdir/name). */
void pchk_assert_xml(const char *svg, size_t len, const char *name);
/* How many times what occurs in s. */
size_t pchk_count(const char *s, const char *what);

/* What pchk_decode() found in a gzip'd profile.proto. */
struct pchk_decoded {
    size_t nstrings, nsamples, nlocations, nfunctions, nmappings, nsample_types;
    char first_string[8];
    char *strings; /* all strings, NUL-separated, for looking names up */
    size_t strings_len;
    uint64_t max_string_ref;
    int64_t value_sum[8];
    uint64_t period, time_nanos, duration_nanos;
    int mapping_flags; /* has_functions, has_filenames, has_line_numbers, has_inline_frames */
    size_t nlines_per_location_max;
    size_t thread_labels;
};

/* Un-gzips and walks a profile: fails on broken protobuf, a location or function id given
 * twice, a sample's location or a line's function that is not there, or a string index out of
 * the table. d->strings is malloc'd. */
void pchk_decode(const void *gz, size_t n, struct pchk_decoded *d);
int pchk_has_string(const struct pchk_decoded *d, const char *s);

#endif
