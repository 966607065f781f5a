# The CPU profiler (src/prof/cpu.c): attribution, threads started during a profile, the rate,
# stacks through libuv, start/stop rules, output formats. Built with -O2 -g (the profiles are
# checked by function name). The workloads are CPU-bound: about 4 s of CPU in all.
pt_add_test(test_cpu SOURCES test_cpu.c LABELS prof unit TIMEOUT 60)
target_compile_options(test_cpu PRIVATE -O2 -g)
