/* The encoder, through the public API: records go to a file sink, are read back and parsed
 * strictly (tests/log/testutil.h), and every field type, escape and key rule is checked. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "core/number_internal.h"
#include "log/log_internal.h"
#include "log/testutil.h"

static int setup(void **state)
{
    return tu_fx_setup(state, "enc", "enc.log", TU_FX_NO_SINK);
}

/* Flushes, reads the file, checks every line and its core fields. */
static void load(tu_fx *f)
{
    tu_flush_and_load(&f->lines, f->path);
    for (size_t i = 0; i < f->lines.n; i++)
        TU_ASSERT_CORE(f->lines.rec[i], NULL, 0, getpid());
}

/* The only record with msg `msg`. */
static json_t *one(tu_fx *f, const char *msg)
{
    assert_int_equal(tu_count_msg(&f->lines, msg), 1);
    return tu_find_msg(&f->lines, msg, NULL);
}

static void test_core_fields(void **state)
{
    tu_fx *f = *state;
    int64_t before = tu_wall_ms();
    PT_INFO(f->log, "hello core");
    PT_WARN(f->log, "warn core");
    load(f);
    int64_t after = tu_wall_ms();
    assert_int_equal(f->lines.n, 2);
    json_t *r = one(f, "hello core");
    TU_ASSERT_CORE(r, "enc", PT_LOG_INFO, getpid());
    int64_t t = tu_parse_time(tu_str(r, "time"));
    /* The record's time is taken when it is logged, in ms, within the clock calibration. */
    assert_true(t >= before - 50 && t <= after + 50);
    TU_ASSERT_CORE(one(f, "warn core"), "enc", PT_LOG_WARN, getpid());
    /* Only core fields when the record has none of its own. */
    assert_int_equal(json_object_size(r), 7);
}

/* "time" is when the call was made, to the millisecond. */
static void test_time_per_record(void **state)
{
    tu_fx *f = *state;
    PT_INFO(f->log, "t0");
    tu_sleep_ms(250);
    PT_INFO(f->log, "t1");
    load(f);
    int64_t t0 = tu_parse_time(tu_str(one(f, "t0"), "time"));
    int64_t t1 = tu_parse_time(tu_str(one(f, "t1"), "time"));
    if (t1 - t0 < 245 || t1 - t0 > 400)
        fail_msg("records logged 250 ms apart are %lld ms apart", (long long)(t1 - t0));
}

static void test_integers(void **state)
{
    tu_fx *f = *state;
    const int64_t two53 = INT64_C(9007199254740992);
    PT_INFO(f->log, "ints", PT_INT("zero", 0), PT_INT("neg", -42), PT_INT("p53", two53),
            PT_INT("m53", -two53), PT_INT("p53p1", two53 + 1), PT_INT("m53m1", -two53 - 1),
            PT_INT("min", INT64_MIN), PT_INT("max", INT64_MAX));
    PT_INFO(f->log, "uints", PT_UINT("zero", 0), PT_UINT("u53", (uint64_t)two53),
            PT_UINT("u53p1", (uint64_t)two53 + 1), PT_UINT("umax", UINT64_MAX),
            PT_UINT("u32", UINT32_MAX));
    load(f);
    json_t *r = one(f, "ints");
    assert_true(json_is_integer(json_object_get(r, "zero")));
    assert_int_equal(json_integer_value(json_object_get(r, "zero")), 0);
    assert_int_equal(json_integer_value(json_object_get(r, "neg")), -42);
    /* |v| <= 2^53 stays a JSON number; beyond, the decimal value as a string. */
    assert_true(json_is_integer(json_object_get(r, "p53")));
    assert_int_equal(json_integer_value(json_object_get(r, "p53")), two53);
    assert_true(json_is_integer(json_object_get(r, "m53")));
    assert_int_equal(json_integer_value(json_object_get(r, "m53")), -two53);
    TU_ASSERT_FIELD_STR(r, "p53p1", "9007199254740993");
    TU_ASSERT_FIELD_STR(r, "m53m1", "-9007199254740993");
    TU_ASSERT_FIELD_STR(r, "min", "-9223372036854775808");
    TU_ASSERT_FIELD_STR(r, "max", "9223372036854775807");

    r = one(f, "uints");
    assert_int_equal(json_integer_value(json_object_get(r, "zero")), 0);
    assert_true(json_is_integer(json_object_get(r, "u53")));
    assert_int_equal(json_integer_value(json_object_get(r, "u53")), two53);
    TU_ASSERT_FIELD_STR(r, "u53p1", "9007199254740993");
    TU_ASSERT_FIELD_STR(r, "umax", "18446744073709551615");
    assert_int_equal(json_integer_value(json_object_get(r, "u32")), UINT32_MAX);
}

static void assert_close(double got, double want)
{
    if (want == 0) {
        assert_true(got == 0);
        return;
    }
    if (fabs(got - want) > fabs(want) * 1e-12)
        fail_msg("got %.17g, want %.17g", got, want);
}

static void test_doubles(void **state)
{
    tu_fx *f = *state;
    PT_INFO(f->log, "dbls", PT_DBL("a", 1.5), PT_DBL("b", 0.1), PT_DBL("c", 1.0 / 3.0),
            PT_DBL("d", -2.5e-300), PT_DBL("e", 1e300), PT_DBL("f", 3.0), PT_DBL("g", 0.0),
            PT_DBL("h", -0.0), PT_DBL("i", 4.9406564584124654e-324), PT_DBL("j", 123456789.125),
            PT_DBL("k", 1e21), PT_DBL("l", DBL_MAX));
    PT_INFO(f->log, "nonfinite", PT_DBL("nan", NAN), PT_DBL("inf", INFINITY),
            PT_DBL("ninf", -INFINITY), PT_DBL("mnan", -NAN));
    load(f);
    json_t *r = one(f, "dbls");
    const char *keys[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"};
    const double want[] = {
        1.5,           0.1,  1.0 / 3.0, -2.5e-300, 1e300, 3.0, 0.0, -0.0, 4.9406564584124654e-324,
        123456789.125, 1e21, DBL_MAX};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(r, keys[i]);
        if (!json_is_number(v))
            fail_msg("field %s is not a number in %s", keys[i], f->lines.raw[0]);
        assert_close(json_number_value(v), want[i]);
    }
    r = one(f, "nonfinite");
    TU_ASSERT_FIELD_STR(r, "nan", "NaN");
    TU_ASSERT_FIELD_STR(r, "inf", "Infinity");
    TU_ASSERT_FIELD_STR(r, "ninf", "-Infinity");
    TU_ASSERT_FIELD_STR(r, "mnan", "NaN");
}

static void test_bool_dur_null(void **state)
{
    tu_fx *f = *state;
    const char *nothing = NULL;
    PT_INFO(f->log, "misc", PT_BOOL("t", 1), PT_BOOL("f", 0), PT_BOOL("t2", 42),
            PT_DUR("d1", 1250000), PT_DUR("d2", 1), PT_DUR("d3", -1500000),
            PT_DUR("d4", INT64_C(3600000000000)), PT_DUR("d5", 999), PT_STR("null", nothing),
            PT_DUR("d6", 1234567));
    load(f);
    json_t *r = one(f, "misc");
    assert_true(json_is_true(json_object_get(r, "t")));
    assert_true(json_is_false(json_object_get(r, "f")));
    assert_true(json_is_true(json_object_get(r, "t2")));
    /* Durations: milliseconds with 3 decimals. */
    assert_true(json_is_number(json_object_get(r, "d1")));
    assert_close(json_number_value(json_object_get(r, "d1")), 1.25);
    assert_true(fabs(json_number_value(json_object_get(r, "d2"))) < 0.0015);
    assert_close(json_number_value(json_object_get(r, "d3")), -1.5);
    assert_close(json_number_value(json_object_get(r, "d4")), 3600000.0);
    assert_true(fabs(json_number_value(json_object_get(r, "d5")) - 0.001) < 0.0015);
    assert_true(json_is_null(json_object_get(r, "null")));
    /* docs/log.md: PT_DUR("took", 1234567) is "took":1.234. */
    assert_true(fabs(json_number_value(json_object_get(r, "d6")) - 1.234) < 1e-9);
}

static void test_err(void **state)
{
    tu_fx *f = *state;
    PT_ERROR(f->log, "err enoent", PT_ERR(ENOENT));
    PT_ERROR(f->log, "err negative", PT_ERR(-ETIMEDOUT));
    load(f);
    json_t *e = json_object_get(one(f, "err enoent"), "err");
    assert_true(json_is_object(e));
    TU_ASSERT_FIELD_STR(e, "message", strerror(ENOENT));
    TU_ASSERT_FIELD_STR(e, "message", pt_strerror(-ENOENT));
    const char *name = json_string_value(json_object_get(e, "name"));
    assert_non_null(name);
    assert_true(strlen(name) > 0);
    /* bunyan's err has a stack, which `bunyan -o long` prints: "NAME: message". */
    char stack[128];
    snprintf(stack, sizeof stack, "%s: %s", name, strerror(ENOENT));
    TU_ASSERT_FIELD_STR(e, "stack", stack);
    json_t *code = json_object_get(e, "code");
    /* "code" as node does ("ENOENT") or as the errno (2 or -2). */
    if (json_is_string(code))
        assert_string_equal(json_string_value(code), "ENOENT");
    else if (json_is_integer(code))
        assert_true(json_integer_value(code) == ENOENT || json_integer_value(code) == -ENOENT);
    else
        fail_msg("err.code is neither a string nor an integer");

    e = json_object_get(one(f, "err negative"), "err");
    assert_true(json_is_object(e));
    TU_ASSERT_FIELD_STR(e, "message", pt_strerror(-ETIMEDOUT));
    code = json_object_get(e, "code");
    if (json_is_string(code))
        assert_string_equal(json_string_value(code), "ETIMEDOUT");
    else
        assert_true(json_integer_value(code) == ETIMEDOUT ||
                    json_integer_value(code) == -ETIMEDOUT);
}

static void test_json_field(void **state)
{
    tu_fx *f = *state;
    PT_INFO(f->log, "json", PT_JSON("ok", "{\"a\":[1,2,{\"b\":null}],\"c\":\"d\"}"),
            PT_JSON("bad", "{\"a\":"), PT_JSON("nl", "[1,\n 2]"), PT_JSON("num", "12.5"),
            PT_JSON("trail", "[1] x"), PT_JSON("empty", ""), PT_JSON("badutf", "[\"\xff\"]"),
            PT_JSON("ctl", "\"a\x01\""));
    load(f);
    json_t *r = one(f, "json");
    json_t *want = json_loads("{\"a\":[1,2,{\"b\":null}],\"c\":\"d\"}", 0, NULL);
    assert_true(json_equal(json_object_get(r, "ok"), want));
    json_decref(want);
    /* Invalid JSON is written as a string holding the text. */
    TU_ASSERT_FIELD_STR(r, "bad", "{\"a\":");
    TU_ASSERT_FIELD_STR(r, "trail", "[1] x");
    json_t *empty = json_object_get(r, "empty");
    assert_true(json_is_string(empty) || json_is_null(empty));
    if (json_is_string(empty))
        assert_string_equal(json_string_value(empty), "");
    /* Valid JSON with a newline inside stays on one line (load() checked the line). */
    want = json_loads("[1,2]", 0, NULL);
    assert_true(json_equal(json_object_get(r, "nl"), want));
    json_decref(want);
    assert_close(json_number_value(json_object_get(r, "num")), 12.5);
    /* Invalid UTF-8 and raw control characters inside "JSON" never reach the line raw
     * (load() checked the line); whatever form it takes, the value is there. */
    assert_non_null(json_object_get(r, "badutf"));
    assert_non_null(json_object_get(r, "ctl"));
}

static void test_string_escapes(void **state)
{
    tu_fx *f = *state;
    const char *s = "a\x01"
                    "b\nc\td\"e\\f/g\rh\x1fi\x7fj\bk\fl";
    char nul[] = {'x', '\0', 'y'};
    PT_INFO(f->log, "esc", PT_STR("s", s), PT_STRN("n", "abcdef", 3), PT_STRN("nul", nul, 3),
            PT_STR("empty", ""));
    load(f);
    json_t *r = one(f, "esc");
    TU_ASSERT_FIELD_STR(r, "s", s);
    TU_ASSERT_FIELD_STR(r, "n", "abc");
    json_t *jn = json_object_get(r, "nul");
    assert_int_equal(json_string_length(jn), 3);
    assert_memory_equal(json_string_value(jn), nul, 3);
    TU_ASSERT_FIELD_STR(r, "empty", "");
}

static void test_utf8(void **state)
{
    tu_fx *f = *state;
    const char *good = "h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 \xef\xbf\xbd end";
    PT_INFO(f->log, "utf8", PT_STR("good", good),
            PT_STR("lone", "a\x80"
                           "b"),
            PT_STR("ff", "\xff"), PT_STR("trunc", "x\xc3"),
            PT_STR("trunc3", "x\xe6\x97"
                             "y"),
            PT_STR("overlong", "<\xc0\xaf>"), PT_STR("surrogate", "<\xed\xa0\x80>"),
            PT_STR("toobig", "<\xf4\x90\x80\x80>"), PT_STR("fe", "\xfe\xfe"),
            PT_STRN("bin", "\x00\xff\x01", 3));
    PT_INFO(f->log, "bad \xff msg \x01");
    load(f);
    json_t *r = one(f, "utf8");
    TU_ASSERT_FIELD_STR(r, "good", good);
    /* One U+FFFD for the one bad byte, the rest intact. */
    TU_ASSERT_FIELD_STR(r, "lone",
                        "a\xef\xbf\xbd"
                        "b");
    TU_ASSERT_FIELD_STR(r, "ff", "\xef\xbf\xbd");
    TU_ASSERT_FIELD_STR(r, "trunc", "x\xef\xbf\xbd");
    const char *keys[] = {"trunc3", "overlong", "surrogate", "toobig", "fe", "bin"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(r, keys[i]);
        if (!json_is_string(v))
            fail_msg("%s is not a string", keys[i]);
        if (memmem(json_string_value(v), json_string_length(v), "\xef\xbf\xbd", 3) == NULL)
            fail_msg("%s has no U+FFFD: %s", keys[i], json_string_value(v));
    }
    const char *ov = tu_str(r, "overlong");
    assert_true(ov[0] == '<' && ov[strlen(ov) - 1] == '>');
    /* A raw message with bad bytes is made valid as well (load() checked the line). */
    size_t found = 0;
    for (size_t i = 0; i < f->lines.n; i++) {
        const char *m = tu_str(f->lines.rec[i], "msg");
        if (strncmp(m, "bad ", 4) == 0) {
            found++;
            assert_non_null(strstr(m, "\xef\xbf\xbd"));
            assert_non_null(strstr(m, " msg \x01"));
        }
    }
    assert_int_equal(found, 1);
}

static void test_names_escaped(void **state)
{
    tu_fx *f = *state;
    pt_log *odd;
    assert_int_equal(pt_log_new("we\"ird\\name", &odd), 0);
    char *path = tu_path(f->dir, "odd.log");
    assert_int_equal(pt_log_add_file(odd, path, NULL, NULL), 0);
    PT_INFO(odd, "odd", PT_STR("k\"e\\y\n", "v"), PT_STR("k\xff", "w"), PT_INT("", 5));
    assert_int_equal(pt_log_flush(5000), 0);
    tu_lines ls;
    tu_lines_load(&ls, path);
    TU_ASSERT_LINES_GOOD(&ls);
    assert_int_equal(ls.n, 1);
    json_t *r = ls.rec[0];
    const char *name = tu_str(r, "name");
    assert_non_null(name);
    assert_string_equal(name, "we\"ird\\name");
    TU_ASSERT_FIELD_STR(r, "k\"e\\y\n", "v");
    TU_ASSERT_FIELD_STR(r, "k\xef\xbf\xbd", "w");
    tu_lines_free(&ls);
    pt_log_free(odd);
    free(path);
}

static void test_cut(void **state)
{
    tu_fx *f = *state;
    /* Static, so that a failing assertion leaks nothing. */
    static char big[20001], multi[9001], exact[8193];
    const size_t n = 20000;
    memset(big, 'x', n);
    big[n] = '\0';
    /* 3000 x U+65E5 (3 bytes each): a cut must not split a character. */
    const size_t nm = 3000 * 3;
    for (size_t i = 0; i < nm; i += 3)
        memcpy(multi + i, "\xe6\x97\xa5", 3);
    multi[nm] = '\0';
    memset(exact, 'e', 8192);
    exact[8192] = '\0';
    PT_INFO(f->log, "cut", PT_STR("big", big), PT_STRN("multi", multi, nm), PT_STR("exact", exact));
    load(f);
    json_t *r = one(f, "cut");
    struct {
        const char *key;
        size_t total;
        const char *unit;
    } cases[] = {{"big", n, "x"}, {"multi", nm, "\xe6\x97\xa5"}};
    for (size_t c = 0; c < 2; c++) {
        const char *v = tu_str(r, cases[c].key);
        assert_non_null(v);
        const char *mark = strstr(v, "...[cut ");
        if (mark == NULL)
            fail_msg("%s: no \"...[cut N bytes]\" marker (length %zu)", cases[c].key, strlen(v));
        size_t kept = (size_t)(mark - v);
        unsigned long long cutn = 0;
        char tail[32] = "";
        int got = sscanf(mark, "...[cut %llu bytes%31s", &cutn, tail);
        fprintf(stderr, "%s: %zu bytes kept, then \"%s\"\n", cases[c].key, kept, mark);
        assert_int_equal(got, 2);
        assert_string_equal(tail, "]");
        /* The cut falls between characters: no U+FFFD made of a split character. */
        if (memmem(v, kept, "\xef\xbf\xbd", 3) != NULL)
            fail_msg("%s: the cut split a character (U+FFFD at byte %zu of %zu kept)", cases[c].key,
                     (size_t)((const char *)memmem(v, kept, "\xef\xbf\xbd", 3) - v), kept);
        size_t ul = strlen(cases[c].unit);
        assert_int_equal(kept % ul, 0);
        for (size_t i = 0; i < kept; i += ul)
            assert_memory_equal(v + i, cases[c].unit, ul);
        /* What was kept and what was cut add up to the original. */
        assert_int_equal(kept + cutn, cases[c].total);
        assert_true(kept <= 8192);
        assert_true(kept >= 8192 - 64);
    }
    /* Exactly the limit is not cut. */
    TU_ASSERT_FIELD_STR(r, "exact", exact);
}

static void test_reserved_keys(void **state)
{
    tu_fx *f = *state;
    PT_INFO(f->log, "reserved", PT_STR("v", "a"), PT_STR("level", "b"), PT_STR("name", "c"),
            PT_STR("hostname", "d"), PT_STR("pid", "e"), PT_STR("time", "f"), PT_STR("msg", "g"),
            PT_STR("src", "h"), PT_STR("_msg", "i"), PT_STR("__msg", "j"), PT_STR("msgx", "k"),
            PT_STR("_msgx", "l"), PT_STR("xmsg", "m"), PT_STR("_", "n"));
    load(f);
    json_t *r = one(f, "reserved");
    TU_ASSERT_CORE(r, "enc", PT_LOG_INFO, getpid());
    assert_false(json_object_get(r, "src") != NULL);
    const char *pairs[][2] = {{"_v", "a"},    {"_level", "b"}, {"_name", "c"}, {"_hostname", "d"},
                              {"_pid", "e"},  {"_time", "f"},  {"_msg", "g"},  {"_src", "h"},
                              {"__msg", "i"}, {"___msg", "j"}, {"msgx", "k"},  {"_msgx", "l"},
                              {"xmsg", "m"},  {"_", "n"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const char *v = tu_str(r, pairs[i][0]);
        if (v == NULL || strcmp(v, pairs[i][1]) != 0)
            fail_msg("key %s: want \"%s\", got %s in %s", pairs[i][0], pairs[i][1],
                     v ? v : "(none)", f->lines.raw[0]);
    }
    assert_int_equal(json_object_size(r), 7 + 14);
}

static void test_duplicates(void **state)
{
    tu_fx *f = *state;
    PT_INFO(f->log, "dup call", PT_STR("k", "1"), PT_INT("k", 2), PT_STR("k", "3"), PT_ERR(EINVAL),
            PT_ERR(ENOENT));

    pt_log *child = PT_LOG_CHILD(f->log, PT_STR("k", "child"), PT_STR("c", "c1"),
                                 PT_STR("msg", "bound"), PT_STR("_msg", "bound_"));
    assert_non_null(child);
    pt_log *grand = PT_LOG_CHILD(child, PT_STR("k", "grand"), PT_STR("c", "c2"), PT_STR("g", "g"));
    assert_non_null(grand);
    PT_INFO(child, "dup child");
    PT_INFO(child, "dup child call", PT_STR("k", "call"));
    PT_INFO(grand, "dup grand");
    PT_INFO(grand, "dup grand call", PT_STR("c", "call"), PT_STR("msg", "m"));
    PT_INFO(f->log, "dup parent");
    load(f);

    json_t *r = one(f, "dup call");
    TU_ASSERT_FIELD_STR(r, "k", "3");
    TU_ASSERT_FIELD_STR(json_object_get(r, "err"), "message", strerror(ENOENT));

    r = one(f, "dup child");
    TU_ASSERT_FIELD_STR(r, "k", "child");
    TU_ASSERT_FIELD_STR(r, "c", "c1");
    TU_ASSERT_FIELD_STR(r, "_msg", "bound");
    TU_ASSERT_FIELD_STR(r, "__msg", "bound_");

    r = one(f, "dup child call");
    TU_ASSERT_FIELD_STR(r, "k", "call");

    r = one(f, "dup grand");
    TU_ASSERT_FIELD_STR(r, "k", "grand");
    TU_ASSERT_FIELD_STR(r, "c", "c2");
    TU_ASSERT_FIELD_STR(r, "g", "g");
    TU_ASSERT_FIELD_STR(r, "_msg", "bound");

    r = one(f, "dup grand call");
    TU_ASSERT_FIELD_STR(r, "k", "grand");
    TU_ASSERT_FIELD_STR(r, "c", "call");
    /* The call's "msg" beats the one bound by the child (both become "_msg"). */
    TU_ASSERT_FIELD_STR(r, "_msg", "m");
    TU_ASSERT_FIELD_STR(r, "__msg", "bound_");

    r = one(f, "dup parent");
    assert_null(json_object_get(r, "k"));
    assert_null(json_object_get(r, "c"));

    pt_log_free(grand);
    pt_log_free(child);
}

static void test_child_copies_values(void **state)
{
    tu_fx *f = *state;
    char buf[32];
    strcpy(buf, "original");
    pt_log *c1 = PT_LOG_CHILD(f->log, PT_STR("s", buf), PT_INT("i", 7));
    pt_field fields[] = {
        {"fs", PT_FIELD_STR, {.s = {buf, (size_t)-1}}},
        {"fi", PT_FIELD_INT, {.i = -3}},
        {"fd", PT_FIELD_DBL, {.d = 2.5}},
    };
    pt_log *c2 = pt_log_child(f->log, fields, 3);
    assert_non_null(c1);
    assert_non_null(c2);
    strcpy(buf, "CHANGED!");
    PT_INFO(c1, "copied 1");
    PT_INFO(c2, "copied 2");
    char msg[32];
    strcpy(msg, "emitted");
    pt_field ef[] = {{"e", PT_FIELD_STR, {.s = {buf, 3}}}, {"n", PT_FIELD_UINT, {.u = 9}}};
    pt_log_emit(f->log, PT_LOG_WARN, msg, ef, 2);
    strcpy(msg, "XXXXXXX");
    strcpy(buf, "zzzzzzzz");
    pt_log_free(c1);
    pt_log_free(c2);
    load(f);
    json_t *r = one(f, "copied 1");
    TU_ASSERT_FIELD_STR(r, "s", "original");
    assert_int_equal(json_integer_value(json_object_get(r, "i")), 7);
    r = one(f, "copied 2");
    TU_ASSERT_FIELD_STR(r, "fs", "original");
    assert_int_equal(json_integer_value(json_object_get(r, "fi")), -3);
    assert_close(json_number_value(json_object_get(r, "fd")), 2.5);
    r = one(f, "emitted");
    TU_ASSERT_CORE(r, "enc", PT_LOG_WARN, getpid());
    TU_ASSERT_FIELD_STR(r, "e", "CHA");
    assert_int_equal(json_integer_value(json_object_get(r, "n")), 9);
}

/* The three ways a field reaches a record (a call's macro fields, pt_log_emit(), fields bound
 * by a child, which are pre-encoded once) encode every type the same way. */
static void test_three_paths_agree(void **state)
{
    tu_fx *f = *state;
    static char longs[10000];
    memset(longs, 'L', sizeof longs - 1);
    const char *nul = NULL;
    const pt_field fields[] = {
        {"s", PT_FIELD_STR, {.s = {"q\"\\\n\x01\xff\xe6\x97\xa5", (size_t)-1}}},
        {"sn", PT_FIELD_STR, {.s = {"abcdef", 2}}},
        {"snull", PT_FIELD_STR, {.s = {NULL, (size_t)-1}}},
        {"long", PT_FIELD_STR, {.s = {longs, (size_t)-1}}},
        {"imin", PT_FIELD_INT, {.i = INT64_MIN}},
        {"i", PT_FIELD_INT, {.i = -5}},
        {"umax", PT_FIELD_UINT, {.u = UINT64_MAX}},
        {"d", PT_FIELD_DBL, {.d = 0.1}},
        {"nan", PT_FIELD_DBL, {.d = NAN}},
        {"ninf", PT_FIELD_DBL, {.d = -INFINITY}},
        {"b", PT_FIELD_BOOL, {.u = 1}},
        {"err", PT_FIELD_ERR, {.i = EACCES}},
        {"dur", PT_FIELD_DUR, {.i = 1234567}},
        {"j", PT_FIELD_JSON, {.s = {"{\"a\": [1,\n 2]}", (size_t)-1}}},
        {"jbad", PT_FIELD_JSON, {.s = {"{nope", (size_t)-1}}},
        {"msg", PT_FIELD_STR, {.s = {"reserved", (size_t)-1}}},
    };
    const size_t n = sizeof fields / sizeof fields[0];
    PT_INFO(f->log, "by call", PT_STR("s", fields[0].v.s.p), PT_STRN("sn", "abcdef", 2),
            PT_STR("snull", nul), PT_STR("long", longs), PT_INT("imin", INT64_MIN), PT_INT("i", -5),
            PT_UINT("umax", UINT64_MAX), PT_DBL("d", 0.1), PT_DBL("nan", NAN),
            PT_DBL("ninf", -INFINITY), PT_BOOL("b", 1), PT_ERR(EACCES), PT_DUR("dur", 1234567),
            PT_JSON("j", fields[13].v.s.p), PT_JSON("jbad", "{nope"), PT_STR("msg", "reserved"));
    pt_log_emit(f->log, PT_LOG_INFO, "by emit", fields, n);
    pt_log *c = pt_log_child(f->log, fields, n);
    assert_non_null(c);
    PT_INFO(c, "by child");
    pt_log_free(c);
    load(f);
    json_t *a = json_deep_copy(one(f, "by call"));
    json_t *b = json_deep_copy(one(f, "by emit"));
    json_t *d = json_deep_copy(one(f, "by child"));
    const char *core[] = {"v", "level", "name", "hostname", "pid", "time", "msg"};
    for (size_t i = 0; i < 7; i++) {
        json_object_del(a, core[i]);
        json_object_del(b, core[i]);
        json_object_del(d, core[i]);
    }
    char *ja = json_dumps(a, JSON_SORT_KEYS), *jb = json_dumps(b, JSON_SORT_KEYS),
         *jd = json_dumps(d, JSON_SORT_KEYS);
    int ok_b = json_equal(a, b), ok_d = json_equal(a, d);
    static char msg[65536];
    snprintf(msg, sizeof msg, "call:  %.2000s\nemit:  %.2000s\nchild: %.2000s", ja, jb, jd);
    free(ja);
    free(jb);
    free(jd);
    size_t na = json_object_size(a);
    json_decref(a);
    json_decref(b);
    json_decref(d);
    if (!ok_b || !ok_d)
        fail_msg("the paths disagree:\n%s", msg);
    assert_int_equal(na, n);
}

/* A child freed right after logging: its records (and bound fields) are still written. */
static void test_child_freed_with_records_pending(void **state)
{
    tu_fx *f = *state;
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, -1), 0);
    for (int k = 0; k < 50; k++) {
        char id[32];
        snprintf(id, sizeof id, "req-%d", k);
        pt_log *c = PT_LOG_CHILD(f->log, PT_STR("req_id", id), PT_INT("k", k));
        assert_non_null(c);
        for (int i = 0; i < 20; i++)
            PT_INFO(c, "pending", PT_INT("i", i));
        pt_log_free(c);
    }
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, 0), 0);
    load(f);
    assert_int_equal(f->lines.n, 50 * 20);
    for (size_t n = 0; n < f->lines.n; n++) {
        json_t *r = f->lines.rec[n];
        char id[32];
        snprintf(id, sizeof id, "req-%zu", n / 20);
        TU_ASSERT_FIELD_STR(r, "req_id", id);
        assert_int_equal(json_integer_value(json_object_get(r, "k")), n / 20);
        assert_int_equal(json_integer_value(json_object_get(r, "i")), n % 20);
    }
}

static void test_emit_escapes(void **state)
{
    tu_fx *f = *state;
    pt_log_emit(f->log, PT_LOG_INFO, "line1\nline2 \"q\" \xc3", NULL, 0);
    load(f);
    assert_int_equal(f->lines.n, 1);
    TU_ASSERT_FIELD_STR(f->lines.rec[0], "msg", "line1\nline2 \"q\" \xef\xbf\xbd");
}

static void test_sixteen_fields(void **state)
{
    tu_fx *f = *state;
    PT_INFO(f->log, "sixteen", PT_INT("f1", 1), PT_INT("f2", 2), PT_INT("f3", 3), PT_INT("f4", 4),
            PT_INT("f5", 5), PT_INT("f6", 6), PT_INT("f7", 7), PT_INT("f8", 8), PT_INT("f9", 9),
            PT_INT("f10", 10), PT_INT("f11", 11), PT_INT("f12", 12), PT_INT("f13", 13),
            PT_INT("f14", 14), PT_INT("f15", 15), PT_STR("f16", "sixteen"));
    load(f);
    json_t *r = one(f, "sixteen");
    assert_int_equal(json_object_size(r), 7 + 16);
    for (int i = 1; i <= 15; i++) {
        char k[8];
        snprintf(k, sizeof k, "f%d", i);
        assert_int_equal(json_integer_value(json_object_get(r, k)), i);
    }
    TU_ASSERT_FIELD_STR(r, "f16", "sixteen");
}

static int evaluated;
static int bump(void)
{
    return ++evaluated;
}

static void test_args_lazy(void **state)
{
    tu_fx *f = *state;
    evaluated = 0;
    /* The logger is at info and the flight recorder at debug: trace is off. */
    PT_TRACE(f->log, "lazy", PT_INT("n", bump()));
    assert_int_equal(evaluated, 0);
    PT_INFO(f->log, "eager", PT_INT("n", bump()));
    assert_int_equal(evaluated, 1);
    load(f);
    assert_int_equal(tu_count_msg(&f->lines, "lazy"), 0);
    assert_int_equal(json_integer_value(json_object_get(one(f, "eager"), "n")), 1);
}

static void test_many_records_order(void **state)
{
    tu_fx *f = *state;
    /* 5000 records outrun pt-log: wait for room rather than drop (the default for info). */
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, -1), 0);
    for (int i = 0; i < 5000; i++)
        PT_INFO(f->log, "seq", PT_INT("i", i), PT_STR("pad", "some text to make lines longer"));
    assert_int_equal(pt_log_set_full_policy(PT_LOG_INFO, 0), 0);
    load(f);
    assert_int_equal(f->lines.n, 5000);
    for (size_t i = 0; i < 5000; i++)
        assert_int_equal(json_integer_value(json_object_get(f->lines.rec[i], "i")), (int)i);
}

/* In a fresh process, so that the file sink added to the process-wide logger cannot outlive
 * the folder this test removes. */
static int scenario_default_logger(const char *dir)
{
    pt_log *d = pt_log_default();
    CHECK(d != NULL);
    CHECK(pt_log_default() == d);
    CHECK(pt_log_level(d) == PT_LOG_INFO);
    char *path = tu_path(dir, "default.log");
    CHECK(pt_log_add_file(d, path, NULL, NULL) == 0);
    PT_INFO(NULL, "via null", PT_INT("x", 1));
    PT_DEBUG(NULL, "debug via null"); /* below the default logger's level */
    PT_INFO(d, "via default");
    CHECK(pt_log_flush(5000) == 0);
    tu_lines ls;
    tu_lines_load(&ls, path);
    CHECK(tu_lines_report_bad(&ls) == 0);
    CHECKF(ls.n == 2, "%zu lines", ls.n);
    const char *why =
        tu_check_core(ls.rec[0], program_invocation_short_name, PT_LOG_INFO, getpid());
    CHECKF(why == NULL, "%s", why);
    CHECK(strcmp(tu_str(ls.rec[0], "msg"), "via null") == 0);
    CHECK(json_integer_value(json_object_get(ls.rec[0], "x")) == 1);
    CHECK(strcmp(tu_str(ls.rec[1], "msg"), "via default") == 0);
    tu_lines_free(&ls);
    free(path);
    return 0;
}

TU_SCENARIO_TEST(test_default_logger, "default_logger", 20000)

/* ---- fast paths against the general ones -------------------------------------------------- */

/* A string with nothing to escape goes out in one copy; anything else through the general
 * loop, which is also the one a cut value takes. So s with cut 1 must give the same bytes,
 * then the cut marker; and a string of plain bytes only must come out as it is. */
static void expect_str_as_general(const char *s, size_t n)
{
    static const char mark[] = "...[cut 1 bytes]\"";
    struct pt__buf fast = {0}, general = {0};
    pt__json_str(&fast, s, n, 0);
    pt__json_str(&general, s, n, 1);
    assert_non_null(fast.p);
    assert_non_null(general.p);
    if (general.len != fast.len + sizeof mark - 2 || memcmp(fast.p, general.p, fast.len - 1) != 0 ||
        memcmp(general.p + fast.len - 1, mark, sizeof mark - 1) != 0)
        fail_msg("%.*s (fast) vs %.*s (general)", (int)fast.len, fast.p, (int)general.len,
                 general.p);
    int plain = 1;
    for (size_t i = 0; i < n; i++)
        plain &= (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x80 && s[i] != '"' &&
                 s[i] != '\\';
    if (plain && (fast.len != n + 2 || memcmp(fast.p + 1, s, n) != 0))
        fail_msg("plain %.*s came out as %.*s", (int)n, s, (int)fast.len, fast.p);
    free(fast.p);
    free(general.p);
}

static void test_str_fast_path(void **state)
{
    (void)state;
    char s[48];
    static const char base[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJK";
    for (size_t n = 0; n <= 40; n++) {
        memcpy(s, base, n);
        expect_str_as_general(s, n);
        for (size_t at = 0; at < n; at++) { /* every byte value at every place */
            for (int c = 0; c < 256; c++) {
                s[at] = (char)c;
                expect_str_as_general(s, n);
            }
            s[at] = base[at];
        }
    }
    expect_str_as_general("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac", 13);
}

/* A key that needs no escaping and is no reserved name goes out in one piece; the same bytes as
 * `,` + the key as a JSON string (with '_' first for a reserved name) + `:`. */
static void test_key_fast_path(void **state)
{
    (void)state;
    static const char *const keys[] = {
        "a", "req_id", "latency_ms", "abcdefgh", "abcdefghijklmnopq", "v", "vv", "level",
        "levels", "_msg", "__src", "msgx", "xmsg", "time", "tim", "pid", "name", "hostname",
        "_", "", "q\"k", "tab\tkey", "caf\xc3\xa9", "bad\xff", "back\\slash",
    };
    static const char *const reserved[] = {"v", "level", "name", "hostname", "pid", "time",
                                           "msg", "src"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *k = keys[i], *bare = k;
        while (*bare == '_')
            bare++;
        int is_reserved = 0;
        for (size_t r = 0; r < sizeof reserved / sizeof reserved[0]; r++)
            is_reserved |= strcmp(bare, reserved[r]) == 0;
        struct pt__buf str = {0}, want = {0}, got = {0};
        pt__json_str(&str, k, strlen(k), 0);
        pt__buf_put(&want, ",\"", 2);
        if (is_reserved)
            pt__buf_putc(&want, '_');
        pt__buf_put(&want, str.p + 1, str.len - 1);
        pt__buf_putc(&want, ':');
        pt__json_key(&got, k);
        if (got.len != want.len || memcmp(got.p, want.p, got.len) != 0)
            fail_msg("key %s: %.*s, want %.*s", k, (int)got.len, got.p, (int)want.len, want.p);
        free(str.p);
        free(want.p);
        free(got.p);
    }
}

/* A line as written, but its time (the only field that may differ between two records). */
static char *without_time(const char *line)
{
    char *copy = strdup(line), *t = strstr(copy, "\"time\":\"");
    assert_non_null(t);
    memmove(t, t + 33, strlen(t + 33) + 1);
    return copy;
}

static void log_site_record(pt_log *log)
{
    PT_INFO(log, "keys once", PT_STR("a", "x"), PT_INT("n", 5), PT_STR("msg", "m"),
            PT_STR("q\"k", "v"), PT_DBL("d", 0.25), PT_STR("a", "y"), PT_JSON("j", "{\"k\":1}"),
            PT_STR("_v", "w"), PT_STR("", "e"), PT_UINT("n", 6));
}

/* A call site's keys are encoded once and kept: its records carry the same bytes as the same
 * fields sent through pt_log_emit(), which encodes them each time. */
static void test_site_keys_as_general(void **state)
{
    tu_fx *f = *state;
    const pt_field fields[] = {
        {"a", PT_FIELD_STR, {.s = {"x", (size_t)-1}}},
        {"n", PT_FIELD_INT, {.i = 5}},
        {"msg", PT_FIELD_STR, {.s = {"m", (size_t)-1}}},
        {"q\"k", PT_FIELD_STR, {.s = {"v", (size_t)-1}}},
        {"d", PT_FIELD_DBL, {.d = 0.25}},
        {"a", PT_FIELD_STR, {.s = {"y", (size_t)-1}}},
        {"j", PT_FIELD_JSON, {.s = {"{\"k\":1}", (size_t)-1}}},
        {"_v", PT_FIELD_STR, {.s = {"w", (size_t)-1}}},
        {"", PT_FIELD_STR, {.s = {"e", (size_t)-1}}},
        {"n", PT_FIELD_UINT, {.u = 6}},
    };
    log_site_record(f->log); /* makes the site's keys */
    log_site_record(f->log); /* uses them */
    pt_log_emit(f->log, PT_LOG_INFO, "keys once", fields, sizeof fields / sizeof fields[0]);
    load(f);
    assert_int_equal(f->lines.n, 3);
    char *first = without_time(f->lines.raw[0]), *second = without_time(f->lines.raw[1]),
         *emitted = without_time(f->lines.raw[2]);
    assert_string_equal(first, emitted);
    assert_string_equal(second, emitted);
    free(first);
    free(second);
    free(emitted);
}

/* libpotter's own members field (the access record's): its members go in the record as they
 * are, by the site's keys and by the general path alike; cut, it says so; from pt_log_emit the
 * kind is not trusted. */
static void test_members(void **state)
{
    tu_fx *f = *state;
    static const char m[] = "\"x\":\"y\",\"z\":[1,2]";
    for (int i = 0; i < 2; i++) /* the site's keys made, then used */
        PT_INFO(f->log, "members", PT_INT("a", 1), PT__JSON_MEMBERSN("m", m, sizeof m - 1),
                PT_STR("b", "c"));
    pt_log *child = PT_LOG_CHILD(f->log, PT_STR("bound", "q"));
    PT_INFO(child, "members bound", PT__JSON_MEMBERSN("m", m, sizeof m - 1));
    size_t big_len = 9000; /* over log.max_value_bytes (8192) */
    char *big = malloc(big_len);
    assert_non_null(big);
    memcpy(big, "\"k\":\"", 5);
    memset(big + 5, 'a', big_len - 6);
    big[big_len - 1] = '"';
    PT_INFO(f->log, "members cut", PT__JSON_MEMBERSN("m", big, big_len));
    pt_field pf = {"m", PT__FIELD_JSON_MEMBERS, {.s = {m, sizeof m - 1}}};
    pt_log_emit(f->log, PT_LOG_INFO, "members emitted", &pf, 1);
    load(f);
    assert_int_equal(tu_count_msg(&f->lines, "members"), 2);
    json_t *r = tu_find_msg(&f->lines, "members", NULL);
    assert_int_equal(json_integer_value(json_object_get(r, "a")), 1);
    TU_ASSERT_FIELD_STR(r, "x", "y");
    assert_int_equal(json_array_size(json_object_get(r, "z")), 2);
    TU_ASSERT_FIELD_STR(r, "b", "c");
    assert_null(json_object_get(r, "m"));
    assert_string_equal(strstr(f->lines.raw[1], "\"msg\":"),
                        "\"msg\":\"members\",\"a\":1,\"x\":\"y\",\"z\":[1,2],\"b\":\"c\"}");
    r = one(f, "members bound");
    TU_ASSERT_FIELD_STR(r, "bound", "q");
    TU_ASSERT_FIELD_STR(r, "x", "y");
    r = one(f, "members cut");
    assert_null(json_object_get(r, "k"));
    assert_int_equal(json_integer_value(json_object_get(r, "members_cut")), big_len);
    r = one(f, "members emitted"); /* not valid as one JSON value: written as a string */
    TU_ASSERT_FIELD_STR(r, "m", m);
    assert_null(json_object_get(r, "x"));
    free(big);
    pt_log_free(child);
}

/* Numbers as the encoder writes them, against printf. */
static void test_number_text(void **state)
{
    (void)state;
    char got[32], want[32];
    uint64_t u[] = {0, 1, 9, 10, 99, 100, 101, 999, 1000, 65535, 99999, 100000, 4294967295u,
                    999999999999999999u, 1000000000000000000u, 9999999999999999999u,
                    10000000000000000000u, UINT64_MAX};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
        size_t n = pt__fmt_u64(got, u[i]);
        snprintf(want, sizeof want, "%llu", (unsigned long long)u[i]);
        assert_int_equal(n, strlen(want));
        assert_memory_equal(got, want, n);
    }
    /* Doubles with at most six decimals are written without printf: the same shortest text
     * "%.15g" .. "%.17g" gives. */
    double d[] = {1e-4, 0.000123, 0.001, 0.05, 0.1, 0.25, 1.5, 3.000001, 12.345678, 100,
                  4.142176, 0.049993, 999999.999999, 123456789.123456, 999999999.999999, 7e8};
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        for (int sign = 1; sign >= -1; sign -= 2) {
            double v = sign * d[i];
            size_t n = pt__fmt_double(got, sizeof got, v);
            for (int prec = 15; prec <= 17; prec++) {
                snprintf(want, sizeof want, "%.*g", prec, v);
                if (strtod(want, NULL) == v)
                    break;
            }
            if (n != strlen(want) || memcmp(got, want, n) != 0)
                fail_msg("%.17g: %.*s, printf %s", v, (int)n, got, want);
        }
    }
}

static const tu_scenario scenarios[] = {
    {"default_logger", scenario_default_logger},
    {NULL, NULL},
};

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_core_fields, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_time_per_record, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_integers, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_doubles, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_bool_dur_null, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_err, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_json_field, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_string_escapes, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_utf8, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_names_escaped, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_cut, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_reserved_keys, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_duplicates, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_child_copies_values, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_three_paths_agree, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_child_freed_with_records_pending, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_emit_escapes, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_sixteen_fields, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_args_lazy, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_many_records_order, setup, tu_fx_teardown),
    cmocka_unit_test(test_str_fast_path),
    cmocka_unit_test(test_key_fast_path),
    cmocka_unit_test_setup_teardown(test_site_keys_as_general, setup, tu_fx_teardown),
    cmocka_unit_test_setup_teardown(test_members, setup, tu_fx_teardown),
    cmocka_unit_test(test_number_text),
    cmocka_unit_test(test_default_logger),
};

TU_MAIN(scenarios, tests)
