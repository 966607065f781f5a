# Profile output (src/prof/profile.c, pprof.c, folded.c, flame.c): aggregation, pprof read
# back by a protobuf reader and by `go tool pprof` (a declared test dependency:
# scripts/deps.sh installs golang-go), folded stacks, the SVG flame graph (checked with
# python3's XML parser), edges and allocation failures. malloc, calloc and realloc are
# wrapped at link time so the test can fail any one of them.
pt_add_test(test_profile SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_profile.c
  ${CMAKE_CURRENT_SOURCE_DIR}/profile_check.c LABELS prof
  TIMEOUT 120)
target_link_options(test_profile PRIVATE "LINKER:--wrap=malloc,--wrap=calloc,--wrap=realloc")
