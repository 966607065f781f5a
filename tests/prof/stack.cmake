# Stacks, symbols and thread dumps (src/prof/stack.c, symbolize.c, threads.c). The tests check
# function names, files and lines, so they are built with -O2 -g whatever the build type (-O2:
# the walk must work on optimized code; -g: the lines come from the debug information).
pkg_check_modules(PT_PROF_JANSSON REQUIRED IMPORTED_TARGET jansson)

pt_add_test(test_stack SOURCES test_stack.c stack_fp.c stack_nofp.c LABELS prof unit TIMEOUT 60)
target_compile_options(test_stack PRIVATE -O2 -g)
# A function without frame pointers between two with them (stack_frames.h). Source options
# come after the target's and the sanitizer build's -fno-omit-frame-pointer, so they win.
set_source_files_properties(stack_fp.c PROPERTIES COMPILE_OPTIONS "-fno-omit-frame-pointer")
set_source_files_properties(stack_nofp.c PROPERTIES COMPILE_OPTIONS "-fomit-frame-pointer")

pt_add_test(test_threads SOURCES test_threads.c LABELS prof unit TIMEOUT 60)
target_compile_options(test_threads PRIVATE -O2 -g)
target_link_libraries(test_threads PRIVATE PkgConfig::PT_PROF_JANSSON)
