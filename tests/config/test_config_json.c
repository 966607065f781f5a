/* The config part's JSON reader (src/config/json.h): values and their positions, escapes,
 * number limits, every error with its exact message and position, duplicate keys, the depth
 * limit, and linear time on large documents. */
#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "config/json.h"

/* Parses text[0..len), which must be valid; the caller frees the document. */
static pt__cjson_doc *parse_n(const char *text, size_t len)
{
    pt__cjson_doc *doc = NULL;
    pt__cjson_error e;
    int rc = pt__cjson_parse(text, len, &doc, &e);

    if (rc != 0)
        print_error("unexpected error %d at %u:%u: %s\n", rc, e.line, e.col, e.msg);
    assert_int_equal(rc, 0);
    assert_non_null(doc);
    return doc;
}

#define PARSE(lit) parse_n(lit, sizeof(lit) - 1)

/* text[0..len) must be refused with exactly this position and message. */
static void check_error(const char *text, size_t len, unsigned line, unsigned col, const char *msg)
{
    pt__cjson_doc *doc = (pt__cjson_doc *)&doc;
    pt__cjson_error e;
    int rc = pt__cjson_parse(text, len, &doc, &e);

    if (rc != -EINVAL || e.line != line || e.col != col || strcmp(e.msg, msg) != 0)
        print_error("input [%.*s]: got %d %u:%u \"%s\", want %u:%u \"%s\"\n",
                    (int)(len > 80 ? 80 : len), text, rc, e.line, e.col, e.msg, line, col, msg);
    assert_int_equal(rc, -EINVAL);
    assert_null(doc);
    assert_string_equal(e.msg, msg);
    assert_int_equal(e.line, line);
    assert_int_equal(e.col, col);
}

#define BAD(lit, line, col, msg) check_error(lit, sizeof(lit) - 1, line, col, msg)

static void assert_pos(unsigned line, unsigned col, unsigned want_line, unsigned want_col)
{
    assert_int_equal(line, want_line);
    assert_int_equal(col, want_col);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- values and positions --------------------------------------------------------------- */

static void test_every_type(void **state)
{
    pt__cjson_doc *doc =
        PARSE("{\"n\": null, \"t\": true, \"f\": false, \"i\": -42, \"d\": 1.5, \"s\": \"hi\",\n"
              " \"a\": [1, \"x\", []], \"o\": {}}");
    const pt__cjson *root = pt__cjson_root(doc);

    assert_int_equal(root->type, PT__CJSON_OBJECT);
    assert_pos(root->line, root->col, 1, 1);
    assert_int_equal(pt__cjson_count(root), 8);
    static const char *keys[] = {"n", "t", "f", "i", "d", "s", "a", "o"};
    static const unsigned key_cols[] = {2, 13, 24, 36, 46, 56, 2, 21};
    for (size_t i = 0; i < 8; i++) {
        const pt__cjson_member *m = pt__cjson_member_at(root, i);
        assert_string_equal(m->key, keys[i]);
        assert_int_equal(m->key_len, 1);
        assert_pos(m->line, m->col, i < 6 ? 1 : 2, key_cols[i]);
        assert_int_equal(m->value.col, key_cols[i] + 5);
    }
    assert_int_equal(pt__cjson_get(root, "n")->type, PT__CJSON_NULL);
    assert_int_equal(pt__cjson_get(root, "t")->type, PT__CJSON_BOOL);
    assert_int_equal(pt__cjson_get(root, "t")->u.b, 1);
    assert_int_equal(pt__cjson_get(root, "f")->u.b, 0);
    assert_int_equal(pt__cjson_get(root, "i")->type, PT__CJSON_INT);
    assert_int_equal(pt__cjson_get(root, "i")->u.i, -42);
    assert_int_equal(pt__cjson_get(root, "d")->type, PT__CJSON_DOUBLE);
    assert_true(pt__cjson_get(root, "d")->u.d == 1.5);
    const pt__cjson *s = pt__cjson_get(root, "s");
    assert_int_equal(s->type, PT__CJSON_STRING);
    assert_int_equal(s->u.str.len, 2);
    assert_string_equal(s->u.str.p, "hi");

    const pt__cjson *a = pt__cjson_get(root, "a");
    assert_int_equal(a->type, PT__CJSON_ARRAY);
    assert_int_equal(pt__cjson_count(a), 3);
    assert_int_equal(pt__cjson_item(a, 0)->u.i, 1);
    assert_pos(pt__cjson_item(a, 1)->line, pt__cjson_item(a, 1)->col, 2, 11);
    assert_int_equal(pt__cjson_item(a, 2)->type, PT__CJSON_ARRAY);
    assert_int_equal(pt__cjson_count(pt__cjson_item(a, 2)), 0);
    assert_null(pt__cjson_item(a, 3));
    const pt__cjson *o = pt__cjson_get(root, "o");
    assert_int_equal(o->type, PT__CJSON_OBJECT);
    assert_int_equal(pt__cjson_count(o), 0);
    pt__cjson_free(doc);
}

static void test_top_level_scalars(void **state)
{
    static const struct {
        const char *text;
        int type;
    } cases[] = {{"null", PT__CJSON_NULL},  {" true ", PT__CJSON_BOOL},  {"7", PT__CJSON_INT},
                 {"7.0", PT__CJSON_DOUBLE}, {"\"x\"", PT__CJSON_STRING}, {"[]", PT__CJSON_ARRAY}};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pt__cjson_doc *doc = parse_n(cases[i].text, strlen(cases[i].text));
        assert_int_equal(pt__cjson_root(doc)->type, cases[i].type);
        pt__cjson_free(doc);
    }
}

/* Columns count code points, lines end at LF (so CRLF works), tabs are one column. */
static void test_positions_multibyte_crlf(void **state)
{
    pt__cjson_doc *doc = PARSE("{\r\n  \"\xC3\xA9\": \"\xC3\xBC\", \"k\": 1,\r\n\t\"e\": "
                               "[\"\xF0\x9F\x98\x80\xE2\x82\xAC\", 7]\r\n}\r\n");
    const pt__cjson *root = pt__cjson_root(doc);
    const pt__cjson_member *m = pt__cjson_member_at(root, 0);

    assert_string_equal(m->key, "\xC3\xA9");
    assert_int_equal(m->key_len, 2);
    assert_pos(m->line, m->col, 2, 3);
    assert_pos(m->value.line, m->value.col, 2, 8);
    m = pt__cjson_member_at(root, 1);
    assert_pos(m->line, m->col, 2, 13);
    assert_pos(m->value.line, m->value.col, 2, 18);
    m = pt__cjson_member_at(root, 2);
    assert_pos(m->line, m->col, 3, 2);
    const pt__cjson *seven = pt__cjson_item(&m->value, 1);
    assert_int_equal(seven->u.i, 7);
    assert_pos(seven->line, seven->col, 3, 14);
    pt__cjson_free(doc);

    /* An error after CRLF lines and a multibyte character is placed the same way. */
    BAD("{\r\n\"\xC3\xA9\": 1,\r\n  \"\xE2\x82\xAC\": x}", 3, 8, "expected a value, found 'x'");
}

/* A UTF-8 byte order mark is skipped and takes no column. */
static void test_bom(void **state)
{
    pt__cjson_doc *doc = PARSE("\xEF\xBB\xBF{\"a\": 1}");
    const pt__cjson *root = pt__cjson_root(doc);

    assert_pos(root->line, root->col, 1, 1);
    assert_pos(pt__cjson_member_at(root, 0)->line, pt__cjson_member_at(root, 0)->col, 1, 2);
    pt__cjson_free(doc);
    BAD("\xEF\xBB\xBF", 1, 1, "the document is empty (expected a value)");
    BAD("\xEF\xBB\xBF x", 1, 2, "expected a value, found 'x'");
    /* Only at the start: elsewhere it is an unexpected character. */
    BAD("[\xEF\xBB\xBF]", 1, 2, "expected a value, found '\xEF\xBB\xBF'");
}

/* ---- strings ---------------------------------------------------------------------------- */

static void test_escapes(void **state)
{
    pt__cjson_doc *doc =
        PARSE("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041 \\u00e9 \\u20AC \\u007f\"");
    const pt__cjson *s = pt__cjson_root(doc);
    static const char want[] = "\" \\ / \b \f \n \r \t A \xC3\xA9 \xE2\x82\xAC \x7F";

    assert_int_equal(s->u.str.len, sizeof(want) - 1);
    assert_memory_equal(s->u.str.p, want, sizeof(want));
    pt__cjson_free(doc);

    doc = PARSE("[\"a\\u0000b\", \"\"]");
    s = pt__cjson_item(pt__cjson_root(doc), 0);
    assert_int_equal(s->u.str.len, 3);
    assert_memory_equal(s->u.str.p, "a\0b", 4);
    assert_int_equal(pt__cjson_item(pt__cjson_root(doc), 1)->u.str.len, 0);
    assert_string_equal(pt__cjson_item(pt__cjson_root(doc), 1)->u.str.p, "");
    pt__cjson_free(doc);

    BAD("\"\\q\"", 1, 2, "invalid escape '\\q' in a string");
    BAD("[\"ab\\\x01\"]", 1, 5, "invalid escape in a string");
    BAD("\"\\u12G4\"", 1, 2, "invalid escape: expected 4 hex digits after \\u");
    BAD("\"\\u12\"", 1, 2, "invalid escape: expected 4 hex digits after \\u");
    BAD("\"a\tb\"", 1, 3, "control character U+0009 in a string (escape it)");
    BAD("{\"k\": \"a\nb\"}", 1, 9, "control character U+000A in a string (escape it)");
    BAD("\"\x1F\"", 1, 2, "control character U+001F in a string (escape it)");
}

static void test_surrogates(void **state)
{
    pt__cjson_doc *doc = PARSE("[\"\\uD83D\\uDE00\", \"\\udbff\\udfff\", \"\\uD7FF\\uE000\"]");
    const pt__cjson *a = pt__cjson_root(doc);

    assert_int_equal(pt__cjson_item(a, 0)->u.str.len, 4);
    assert_memory_equal(pt__cjson_item(a, 0)->u.str.p, "\xF0\x9F\x98\x80", 4);
    assert_memory_equal(pt__cjson_item(a, 1)->u.str.p, "\xF4\x8F\xBF\xBF", 4);
    assert_memory_equal(pt__cjson_item(a, 2)->u.str.p, "\xED\x9F\xBF\xEE\x80\x80", 6);
    pt__cjson_free(doc);

    static const char high[] = "lone surrogate \\uD800 in a string (a high surrogate must be "
                               "followed by a low one, \\uDC00..\\uDFFF)";
    BAD("\"\\uD800\"", 1, 2, high);
    BAD("\"ab\\uD800\\u0041\"", 1, 4, high);
    BAD("\"\\uD800\\uD800\"", 1, 2, high);
    BAD("\"\\uD800", 1, 2, high);
    BAD("\"\\uDC00\"", 1, 2,
        "lone surrogate \\uDC00 in a string (a low surrogate must follow a high one)");
    BAD("\"\\uD83D\\uDE00\\uDFFF\"", 1, 14,
        "lone surrogate \\uDFFF in a string (a low surrogate must follow a high one)");
}

static void test_invalid_utf8(void **state)
{
    BAD("\"a\xFF"
        "b\"",
        1, 3, "invalid UTF-8 (byte 0xFF)");
    BAD("\"\xC3\xA9\xC3\"", 1, 3, "invalid UTF-8 (byte 0xC3)"); /* truncated */
    BAD("\"\xC0\x80\"", 1, 2, "invalid UTF-8 (byte 0xC0)"); /* overlong NUL */
    BAD("\"\xE0\x80\xAF\"", 1, 2, "invalid UTF-8 (byte 0xE0)"); /* overlong '/' */
    BAD("\"\xED\xA0\x80\"", 1, 2, "invalid UTF-8 (byte 0xED)"); /* encoded surrogate */
    BAD("\"\xF4\x90\x80\x80\"", 1, 2, "invalid UTF-8 (byte 0xF4)"); /* beyond U+10FFFF */
    BAD("\"\x80\"", 1, 2, "invalid UTF-8 (byte 0x80)"); /* lone continuation */
    BAD("\"\xE2\x82", 1, 2, "invalid UTF-8 (byte 0xE2)"); /* cut by the end */
    BAD("{\"\xFE\": 1}", 1, 3, "invalid UTF-8 (byte 0xFE)"); /* in a key */
    BAD("[1, \xFF]", 1, 5, "invalid UTF-8 (byte 0xFF)"); /* outside strings */
    BAD("{} \x80", 1, 4, "invalid UTF-8 (byte 0x80)"); /* after the top value */
    BAD("[\"\xC3\xA9\", \xC3]", 1, 7, "invalid UTF-8 (byte 0xC3)");
    /* The longest valid sequences of each length are accepted. */
    pt__cjson_doc *doc = PARSE("\"\x7F\xDF\xBF\xEF\xBF\xBF\xF4\x8F\xBF\xBF\"");
    assert_int_equal(pt__cjson_root(doc)->u.str.len, 10);
    pt__cjson_free(doc);
}

/* ---- numbers ---------------------------------------------------------------------------- */

static void test_int64_limits(void **state)
{
    pt__cjson_doc *doc =
        PARSE("[9223372036854775807, -9223372036854775808, 0, -0, 123456789012345678]");
    const pt__cjson *a = pt__cjson_root(doc);

    for (size_t i = 0; i < 5; i++)
        assert_int_equal(pt__cjson_item(a, i)->type, PT__CJSON_INT);
    assert_true(pt__cjson_item(a, 0)->u.i == INT64_MAX);
    assert_true(pt__cjson_item(a, 1)->u.i == INT64_MIN);
    assert_true(pt__cjson_item(a, 2)->u.i == 0);
    assert_true(pt__cjson_item(a, 3)->u.i == 0);
    assert_true(pt__cjson_item(a, 4)->u.i == 123456789012345678);
    pt__cjson_free(doc);

    BAD("9223372036854775808", 1, 1, "number 9223372036854775808 is out of range");
    BAD("-9223372036854775809", 1, 1, "number -9223372036854775809 is out of range");
    BAD("{\"a\": 18446744073709551616}", 1, 7, "number 18446744073709551616 is out of range");
    BAD("[1, 99999999999999999999999999999999999999999999999999]", 1, 5,
        "number 9999999999999999999999999999999999999999... is out of range");
}

static void test_doubles(void **state)
{
    pt__cjson_doc *doc =
        PARSE("[1e308, -0.0, 1e-320, 1.5E+3, 2e-1, 1e-400, -1.7976931348623157e308,"
              " 0.1, 1E2]");
    const pt__cjson *a = pt__cjson_root(doc);

    for (size_t i = 0; i < pt__cjson_count(a); i++)
        assert_int_equal(pt__cjson_item(a, i)->type, PT__CJSON_DOUBLE);
    assert_true(pt__cjson_item(a, 0)->u.d == 1e308);
    assert_true(pt__cjson_item(a, 1)->u.d == 0 && signbit(pt__cjson_item(a, 1)->u.d));
    double sub = pt__cjson_item(a, 2)->u.d;
    assert_true(sub > 0 && sub < DBL_MIN);
    assert_true(pt__cjson_item(a, 3)->u.d == 1500);
    assert_true(pt__cjson_item(a, 4)->u.d == 0.2);
    assert_true(pt__cjson_item(a, 5)->u.d == 0 && !signbit(pt__cjson_item(a, 5)->u.d));
    assert_true(pt__cjson_item(a, 6)->u.d == -DBL_MAX);
    assert_true(pt__cjson_item(a, 7)->u.d == 0.1);
    assert_true(pt__cjson_item(a, 8)->u.d == 100);
    pt__cjson_free(doc);

    BAD("1e400", 1, 1, "number 1e400 is out of range");
    BAD("[0, -1e400]", 1, 5, "number -1e400 is out of range");
    BAD("1.8e308", 1, 1, "number 1.8e308 is out of range");
    BAD("1e99999999999999999999", 1, 1, "number 1e99999999999999999999 is out of range");
}

static void test_number_syntax(void **state)
{
    BAD("-x", 1, 2, "expected a digit after '-', found 'x'");
    BAD("[-]", 1, 3, "expected a digit after '-', found ']'");
    BAD("01", 1, 1, "leading zeros are not allowed in a number");
    BAD("[-00]", 1, 2, "leading zeros are not allowed in a number");
    BAD("1.", 1, 3, "expected a digit after '.', found end of file");
    BAD("1.e5", 1, 3, "expected a digit after '.', found 'e5'");
    BAD("1e+", 1, 4, "expected a digit in the exponent, found end of file");
    BAD("1E-x", 1, 4, "expected a digit in the exponent, found 'x'");
    BAD(".5", 1, 1, "expected a value, found '.'");
    BAD("+1", 1, 1, "expected a value, found '+'");
    BAD("0x10", 1, 2, "expected end of file after the top-level value, found 'x10'");
    BAD("NaN", 1, 1, "expected a value, found 'NaN'");
    BAD("-Infinity", 1, 2, "expected a digit after '-', found 'Infinity'");
}

/* ---- syntax errors ---------------------------------------------------------------------- */

static void test_syntax_errors(void **state)
{
    BAD("{\"a\":1 x}", 1, 8, "expected ',' or '}' after a member, found 'x'");
    BAD("{\"a\" 1}", 1, 6, "expected ':' after the key \"a\", found '1'");
    BAD("{1:2}", 1, 2, "expected a string key or '}', found '1'");
    BAD("{'a':2}", 1, 2, "expected a string key or '}', found '''");
    BAD("{\"a\":1,}", 1, 8, "expected a string key after ',', found '}'");
    BAD("{\"a\":}", 1, 6, "expected a value, found '}'");
    BAD("[1,]", 1, 4, "expected a value, found ']'");
    BAD("[,1]", 1, 2, "expected a value, found ','");
    BAD("[1 2]", 1, 4, "expected ',' or ']' after an element, found '2'");
    BAD("[1}", 1, 3, "expected ',' or ']' after an element, found '}'");
    BAD("[True]", 1, 2, "expected a value, found 'True'");
    BAD("nul", 1, 1, "expected a value, found 'nul'");
    BAD("truex", 1, 1, "expected a value, found 'truex'");
    BAD("[\xC3\xA9]", 1, 2, "expected a value, found '\xC3\xA9'");
    BAD("\x01", 1, 1, "expected a value, found U+0001");
    BAD("[\x7F]", 1, 2, "expected a value, found U+007F");
    BAD("// comment\n{}", 1, 1, "expected a value, found '/' (comments are not allowed)");
    BAD("{\"a\": 1 # comment\n}", 1, 9,
        "expected ',' or '}' after a member, found '#' (comments are not allowed)");
    BAD("{\"a\": 1 /* c */}", 1, 9,
        "expected ',' or '}' after a member, found '/' (comments are not allowed)");
    BAD("[\"\\uD800\\uDC00\" \"x\"]", 1, 17, "expected ',' or ']' after an element, found '\"'");
}

static void test_unexpected_end(void **state)
{
    BAD("[1,\n 2,\n", 3, 1, "unexpected end of file: the array opened at 1:1 is not closed");
    BAD("{\n  \"a\": {\n    \"b\": 1\n", 4, 1,
        "unexpected end of file: the object opened at 2:8 is not closed");
    BAD("{\"a\": \"abc", 1, 11, "unexpected end of file: the string opened at 1:7 is not closed");
    BAD("\"abc\\", 1, 6, "unexpected end of file: the string opened at 1:1 is not closed");
    BAD("\"\xC3\xA9", 1, 3, "unexpected end of file: the string opened at 1:1 is not closed");
    BAD("{\"a\":", 1, 6, "unexpected end of file: the object opened at 1:1 is not closed");
    BAD("{\"a\"", 1, 5, "unexpected end of file: the object opened at 1:1 is not closed");
    BAD("{", 1, 2, "unexpected end of file: the object opened at 1:1 is not closed");
    BAD("[[[", 1, 4, "unexpected end of file: the array opened at 1:3 is not closed");
    BAD("[1.", 1, 4, "unexpected end of file: the array opened at 1:1 is not closed");
    BAD("[tr", 1, 2, "expected a value, found 'tr'");
}

static void test_trailing_garbage(void **state)
{
    BAD("{\"a\":1} x", 1, 9, "expected end of file after the top-level value, found 'x'");
    BAD("{} {}", 1, 4, "expected end of file after the top-level value, found '{'");
    BAD("1 2", 1, 3, "expected end of file after the top-level value, found '2'");
    BAD("[]]", 1, 3, "expected end of file after the top-level value, found ']'");
    BAD("{}\n\n  ,", 3, 3, "expected end of file after the top-level value, found ','");
    BAD("[1]\0", 1, 4, "expected end of file after the top-level value, found U+0000");
    /* Whitespace after the value is fine. */
    pt__cjson_doc *doc = PARSE("{} \r\n\t \n");
    pt__cjson_free(doc);
}

static void test_empty(void **state)
{
    pt__cjson_doc *doc = (pt__cjson_doc *)&doc;
    pt__cjson_error e;

    BAD("", 1, 1, "the document is empty (expected a value)");
    BAD("  \n\t ", 2, 3, "the document is empty (expected a value)");
    BAD("\r\n\r\n", 3, 1, "the document is empty (expected a value)");
    assert_int_equal(pt__cjson_parse(NULL, 0, &doc, &e), -EINVAL);
    assert_null(doc);
    assert_string_equal(e.msg, "the document is empty (expected a value)");
    /* Without an error struct the result is the same. */
    assert_int_equal(pt__cjson_parse("[", 1, &doc, NULL), -EINVAL);
    assert_null(doc);
}

/* ---- duplicate keys --------------------------------------------------------------------- */

static void test_duplicates(void **state)
{
    BAD("{\"port\": 1, \"port\": 2}", 1, 13, "duplicate key \"port\" (first at 1:2)");
    BAD("{\"a\": {\"a\": 1}, \"a\": 2}", 1, 17, "duplicate key \"a\" (first at 1:2)");
    BAD("{\n"
        "  \"a\": {\"x\": 1},\n"
        "  \"b\": {\"x\": 2, \"y\": {\"x\": 3}},\n"
        "  \"c\": {\"k\": 1,\n"
        "        \"k\": 2}\n"
        "}",
        5, 9, "duplicate key \"k\" (first at 4:9)");
    BAD("{\"a\": 1, \"\\u0061\": 2}", 1, 10, "duplicate key \"a\" (first at 1:2)");
    BAD("{\"a\\u0000b\":1,\"a\\u0000b\":2}", 1, 15, "duplicate key \"a\\u0000b\" (first at 1:2)");
    BAD("{\"\xC3\xA9\":1,\"\xC3\xA9\":2}", 1, 8, "duplicate key \"\xC3\xA9\" (first at 1:2)");
    /* Found at the key, before anything after it is read. */
    BAD("{\"a\":1,\"a\" x", 1, 8, "duplicate key \"a\" (first at 1:2)");
    BAD("{\"0123456789012345678901234567890123456789012345678901234567890123456789\":1,"
        "\"0123456789012345678901234567890123456789012345678901234567890123456789\":2}",
        1, 77, "duplicate key \"0123456789012345678901234567890123456789...\" (first at 1:2)");

    /* The same key in different objects, and keys equal up to an embedded NUL, are fine. */
    pt__cjson_doc *doc = PARSE("[{\"a\": 1}, {\"a\": {\"a\": {\"a\": 2}}}, "
                               "{\"a\\u0000b\": 1, \"a\\u0000c\": 2, \"a\": 3}]");
    const pt__cjson *third = pt__cjson_item(pt__cjson_root(doc), 2);
    assert_int_equal(pt__cjson_count(third), 3);
    assert_int_equal(pt__cjson_get(third, "a")->u.i, 3);
    pt__cjson_free(doc);
}

/* ---- limits and size -------------------------------------------------------------------- */

static void test_depth_limit(void **state)
{
    char buf[4 * PT__CJSON_MAX_DEPTH + 16];
    int n = PT__CJSON_MAX_DEPTH;

    memset(buf, '[', (size_t)n);
    memset(buf + n, ']', (size_t)n);
    pt__cjson_doc *doc = parse_n(buf, 2 * (size_t)n);
    const pt__cjson *v = pt__cjson_root(doc);
    for (int i = 1; i < n; i++)
        v = pt__cjson_item(v, 0);
    assert_int_equal(v->type, PT__CJSON_ARRAY);
    assert_int_equal(pt__cjson_count(v), 0);
    pt__cjson_free(doc);

    memset(buf, '[', (size_t)n + 1);
    memset(buf + n + 1, ']', (size_t)n + 1);
    check_error(buf, 2 * (size_t)n + 2, 1, (unsigned)n + 1, "nesting deeper than 64 levels");

    /* Objects count the same as arrays. */
    size_t len = 0;
    for (int i = 0; i <= n; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, i % 2 ? "[" : "{\"\":");
    assert_true(len < sizeof(buf));
    check_error(buf, len, 1, 5 * (unsigned)n / 2 + 1, "nesting deeper than 64 levels");
}

/* Builds {"k0": 0, "k1": 1, ...} with n members, one per line or all on one line. */
static char *big_object(size_t n, int one_line, size_t *len)
{
    size_t cap = n * 32 + 16, o = 0;
    char *buf = malloc(cap);

    assert_non_null(buf);
    buf[o++] = '{';
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s\"k%zu\": %zu",
                              i ? (one_line ? ", " : ",\n ") : "", i, i);
    buf[o++] = '}';
    *len = o;
    return buf;
}

static void test_large_objects_fast(void **state)
{
    size_t len;
    char *text = big_object(10000, 0, &len);
    double t0 = now_s();
    pt__cjson_doc *doc = parse_n(text, len);
    double took = now_s() - t0;
    const pt__cjson *root = pt__cjson_root(doc);

    print_message("10,000 members: %.2f ms\n", took * 1e3);
    assert_true(took < 0.1);
    assert_int_equal(pt__cjson_count(root), 10000);
    const pt__cjson_member *last = pt__cjson_member_at(root, 9999);
    assert_string_equal(last->key, "k9999");
    assert_pos(last->line, last->col, 10000, 2);
    assert_int_equal(last->value.u.i, 9999);
    assert_int_equal(pt__cjson_get(root, "k5000")->u.i, 5000);
    pt__cjson_free(doc);

    /* A duplicate at the very end is still found. */
    memcpy(text + len - 1, ", \"k0\": 1}", 11);
    check_error(text, len + 9, 10000, 17, "duplicate key \"k0\" (first at 1:2)");
    free(text);

    /* 200,000 members on one line: columns are counted forward, not from the line start. */
    text = big_object(200000, 1, &len);
    t0 = now_s();
    doc = parse_n(text, len);
    took = now_s() - t0;
    print_message("200,000 members on one line: %.2f ms\n", took * 1e3);
    assert_true(took < 0.5);
    last = pt__cjson_member_at(pt__cjson_root(doc), 199999);
    assert_int_equal(last->line, 1);
    assert_int_equal(last->col, len - strlen("\"k199999\": 199999}") + 1);
    pt__cjson_free(doc);
    free(text);
}

static void test_large_array(void **state)
{
    const size_t n = 1000000;
    size_t cap = n * 12 + 4, o = 0;
    char *buf = malloc(cap);

    assert_non_null(buf);
    buf[o++] = '[';
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(buf + o, cap - o, i ? ",%zu" : "%zu", i);
    buf[o++] = ']';
    double t0 = now_s();
    pt__cjson_doc *doc = parse_n(buf, o);
    print_message("1,000,000 elements: %.2f ms\n", (now_s() - t0) * 1e3);
    const pt__cjson *a = pt__cjson_root(doc);
    assert_int_equal(pt__cjson_count(a), n);
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += pt__cjson_item(a, i)->u.i;
    assert_true(sum == (int64_t)(n * (n - 1) / 2));
    assert_int_equal(pt__cjson_item(a, n - 1)->col, o - 6);
    pt__cjson_free(doc);
    free(buf);
}

/* ---- helpers ---------------------------------------------------------------------------- */

static void test_require_object(void **state)
{
    pt__cjson_error e;
    pt__cjson_doc *doc = PARSE("{\"a\": [1]}");

    assert_int_equal(pt__cjson_require_object(pt__cjson_root(doc), &e), 0);
    const pt__cjson *a = pt__cjson_get(pt__cjson_root(doc), "a");
    assert_int_equal(pt__cjson_require_object(a, &e), -EINVAL);
    assert_pos(e.line, e.col, 1, 7);
    assert_string_equal(e.msg, "expected an object at the top of the document, found an array");
    assert_int_equal(pt__cjson_require_object(a, NULL), -EINVAL);
    pt__cjson_free(doc);

    doc = PARSE("\n  \"x\"");
    assert_int_equal(pt__cjson_require_object(pt__cjson_root(doc), &e), -EINVAL);
    assert_pos(e.line, e.col, 2, 3);
    assert_string_equal(e.msg, "expected an object at the top of the document, found a string");
    pt__cjson_free(doc);
}

static void test_accessors(void **state)
{
    pt__cjson_doc *doc = PARSE("{\"a\": 1, \"b\\u0000c\": 2, \"s\": \"x\"}");
    const pt__cjson *root = pt__cjson_root(doc), *s = pt__cjson_get(root, "s");

    assert_null(pt__cjson_get(root, "missing"));
    assert_null(pt__cjson_get(root, "b"));
    assert_null(pt__cjson_get(s, "a"));
    assert_null(pt__cjson_get(NULL, "a"));
    assert_int_equal(pt__cjson_count(s), 0);
    assert_null(pt__cjson_item(root, 0));
    assert_null(pt__cjson_member_at(root, 3));
    assert_null(pt__cjson_member_at(s, 0));
    assert_int_equal(pt__cjson_member_at(root, 1)->key_len, 3);
    pt__cjson_free(doc);
    pt__cjson_free(NULL);

    assert_string_equal(pt__cjson_type_name(PT__CJSON_NULL), "null");
    assert_string_equal(pt__cjson_type_name(PT__CJSON_BOOL), "a boolean");
    assert_string_equal(pt__cjson_type_name(PT__CJSON_INT), "an integer");
    assert_string_equal(pt__cjson_type_name(PT__CJSON_DOUBLE), "a number");
    assert_string_equal(pt__cjson_type_name(PT__CJSON_STRING), "a string");
    assert_string_equal(pt__cjson_type_name(PT__CJSON_ARRAY), "an array");
    assert_string_equal(pt__cjson_type_name(PT__CJSON_OBJECT), "an object");
    assert_string_equal(pt__cjson_type_name(99), "an unknown type");
}

/* Numbers are read in the C locale whatever LC_NUMERIC says (when a comma locale exists). */
static void test_locale_independent(void **state)
{
    static const char *names[] = {"de_DE.UTF-8", "fr_FR.UTF-8", "de_DE", "C"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (setlocale(LC_NUMERIC, names[i]))
            break;
    pt__cjson_doc *doc = PARSE("2.5");
    assert_true(pt__cjson_root(doc)->u.d == 2.5);
    pt__cjson_free(doc);
    setlocale(LC_NUMERIC, "C");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type),
        cmocka_unit_test(test_top_level_scalars),
        cmocka_unit_test(test_positions_multibyte_crlf),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_surrogates),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_int64_limits),
        cmocka_unit_test(test_doubles),
        cmocka_unit_test(test_number_syntax),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_unexpected_end),
        cmocka_unit_test(test_trailing_garbage),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_large_objects_fast),
        cmocka_unit_test(test_large_array),
        cmocka_unit_test(test_require_object),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_locale_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
