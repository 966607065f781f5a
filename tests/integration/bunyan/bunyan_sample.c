/* Writes a broad sample of records to the file named by argv[1]: every level, every field
 * type, escapes, invalid UTF-8, children, reserved names, a cut value. Prints how many
 * records it logged. check_bunyan.py then reads the file with the real bunyan CLI. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <potter.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    pt_log *log;
    pt_log_file_options all = {.sink = {.levels = PT_LOG_ROUTE_CONSOLE}}; /* trace too */
    if (pt_log_new("bunyan-sample", &log) != 0 || pt_log_add_file(log, argv[1], &all, NULL) != 0) {
        fprintf(stderr, "cannot log to %s\n", argv[1]);
        return 1;
    }
    pt_log_set_level(log, PT_LOG_TRACE);
    /* Nothing may be dropped: the script compares counts. */
    for (int lv = PT_LOG_TRACE; lv <= PT_LOG_FATAL; lv += 10)
        pt_log_set_full_policy(lv, -1);
    int n = 0;

    PT_TRACE(log, "a trace record");
    n++;
    PT_DEBUG(log, "a debug record");
    n++;
    PT_INFO(log, "an info record");
    n++;
    PT_WARN(log, "a warn record");
    n++;
    PT_ERROR(log, "an error record");
    n++;
    PT_FATAL(log, "a fatal record");
    n++;

    PT_INFO(log, "integers", PT_INT("zero", 0), PT_INT("neg", -7), PT_INT("min", INT64_MIN),
            PT_INT("max", INT64_MAX), PT_INT("p53", INT64_C(9007199254740992)),
            PT_INT("p53p1", INT64_C(9007199254740993)), PT_UINT("umax", UINT64_MAX),
            PT_UINT("u", 12345));
    n++;
    PT_INFO(log, "doubles", PT_DBL("half", 0.5), PT_DBL("third", 1.0 / 3.0), PT_DBL("big", 1e300),
            PT_DBL("tiny", 5e-324), PT_DBL("negzero", -0.0), PT_DBL("nan", NAN),
            PT_DBL("inf", INFINITY), PT_DBL("ninf", -INFINITY), PT_DBL("three", 3.0));
    n++;
    PT_INFO(log, "bools and nulls", PT_BOOL("yes", 1), PT_BOOL("no", 0),
            PT_STR("nothing", (const char *)NULL));
    n++;
    PT_ERROR(log, "an error", PT_ERR(ENOENT), PT_STR("path", "/nonexistent"));
    n++;
    PT_ERROR(log, "a potter error", PT_ERR(-ETIMEDOUT));
    n++;
    PT_INFO(log, "request done", PT_DUR("took", 1250000), PT_DUR("tiny", 1), PT_INT("status", 200));
    n++;
    PT_INFO(log, "json", PT_JSON("obj", "{\"a\":[1,2,{\"b\":null}],\"s\":\"x\\ny\"}"),
            PT_JSON("bad", "{\"unterminated\":"), PT_JSON("spaced", " [ 1 ,\n 2 ] "));
    n++;
    PT_INFO(log, "escapes",
            PT_STR("ctl", "a\x01"
                          "b\x1f"
                          "c\x7f"
                          "d"),
            PT_STR("ws", "tab\there\nnl\rcr"), PT_STR("quote", "say \"hi\" \\ back\\slash /slash"),
            PT_STRN("nul", "x\0y", 3));
    n++;
    PT_INFO(log, "unicode",
            PT_STR("good", "h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80"),
            PT_STR("bad", "a\x80"
                          "b\xff"
                          "c\xc3"),
            PT_STR("overlong", "\xc0\xaf"), PT_STR("surrogate", "\xed\xa0\x80"),
            PT_STR("sep", "\xe2\x80\xa8\xe2\x80\xa9"));
    n++;
    PT_INFO(log, "bad \xff message\nwith a newline");
    n++;
    PT_INFO(log, "reserved names", PT_STR("msg", "m"), PT_STR("_msg", "m_"), PT_STR("time", "t"),
            PT_STR("v", "v"), PT_STR("level", "l"), PT_STR("name", "n"), PT_STR("pid", "p"),
            PT_STR("hostname", "h"), PT_STR("src", "s"));
    n++;
    PT_INFO(log, "duplicates", PT_STR("k", "first"), PT_STR("k", "last"));
    n++;
    char *big = malloc(20001);
    memset(big, 'x', 20000);
    big[20000] = '\0';
    PT_INFO(log, "cut", PT_STR("big", big));
    n++;
    free(big);

    pt_log *child = PT_LOG_CHILD(log, PT_STR("req_id", "r-1"), PT_STR("k", "child"));
    pt_log *grand = PT_LOG_CHILD(child, PT_STR("span_id", "s-1"), PT_STR("k", "grand"));
    PT_INFO(child, "from a child");
    n++;
    PT_WARN(grand, "from a grandchild", PT_INT("n", 3));
    n++;
    PT_INFO(grand, "call beats bound", PT_STR("k", "call"));
    n++;
    pt_log_free(grand);
    pt_log_free(child);

    pt_field fields[] = {{"bridge", PT_FIELD_STR, {.s = {"yes", (size_t)-1}}},
                         {"count", PT_FIELD_UINT, {.u = 2}}};
    pt_log_emit(log, PT_LOG_INFO, "emitted \"message\"", fields, 2);
    n++;
    pt_log_emit(log, PT_LOG_WARN, "", NULL, 0);
    n++;
    for (int i = 0; i < 100; i++) {
        PT_DEBUG(log, "many", PT_INT("i", i));
        n++;
    }

    if (pt_log_flush(5000) != 0) {
        fprintf(stderr, "flush failed\n");
        return 1;
    }
    pt_log_free(log);
    printf("%d\n", n);
    return 0;
}
