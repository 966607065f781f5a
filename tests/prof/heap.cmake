# The heap profiler (src/prof/heap/: libpotter-heap; src/prof/heap.c: its profile in libpotter).
# Every test here is labelled no-sanitizer: ASan owns malloc in the sanitizer build, so the
# heap library would not see allocations there (or would fight ASan for them). Built -O2 -g
# whatever the build type: the tests name functions from their stacks.
#
# test_heap links libpotter-heap (its malloc interposes on glibc's: it comes before libc in the
# lookup order) and checks that sampling really happens; test_heap_none does not link it and
# gets -ENOTSUP; test_heap_preload does not link it either and runs with it preloaded, once
# over glibc's malloc and once over tcmalloc (preloaded after it, so wrapped by it).
if(TARGET potter_heap)
  pt_add_test(test_heap SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_heap.c
    ${CMAKE_CURRENT_SOURCE_DIR}/profile_check.c LABELS prof no-sanitizer TIMEOUT 60)
  target_compile_options(test_heap PRIVATE -O2 -g)
  target_link_libraries(test_heap PRIVATE potter_heap)

  # test_heap_route: the references of a library of the test's own (data words, and GOT
  # entries in a RELRO page) go straight to the allocator while sampling is off.
  add_library(heap_route_dso SHARED ${CMAKE_CURRENT_SOURCE_DIR}/heap_route_dso.c)
  target_compile_options(heap_route_dso PRIVATE -O2)
  target_link_options(heap_route_dso PRIVATE -Wl,-z,now -Wl,-z,relro)
  pt_add_test(test_heap_route SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_heap_route.c
    LABELS prof no-sanitizer TIMEOUT 60)
  target_link_libraries(test_heap_route PRIVATE heap_route_dso potter_heap ${CMAKE_DL_LIBS})

  pt_add_test(test_heap_none SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_heap_none.c
    LABELS prof no-sanitizer TIMEOUT 60)

  pt_add_test(test_heap_preload SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_heap_preload.c
    ${CMAKE_CURRENT_SOURCE_DIR}/profile_check.c LABELS prof no-sanitizer TIMEOUT 60)
  target_compile_options(test_heap_preload PRIVATE -O2 -g)
  target_link_libraries(test_heap_preload PRIVATE ${CMAKE_DL_LIBS})
  add_dependencies(test_heap_preload potter_heap)
  set_property(TEST test_heap_preload APPEND PROPERTY ENVIRONMENT
    "LD_PRELOAD=$<TARGET_FILE:potter_heap>")

  find_library(PT_TCMALLOC_LIB NAMES tcmalloc_minimal tcmalloc)
  if(PT_TCMALLOC_LIB)
    add_test(NAME test_heap_preload_tcmalloc COMMAND test_heap_preload)
    set_tests_properties(test_heap_preload_tcmalloc PROPERTIES TIMEOUT 60
      LABELS "prof;no-sanitizer"
      ENVIRONMENT "LD_PRELOAD=$<TARGET_FILE:potter_heap> ${PT_TCMALLOC_LIB};PT_TEST_EXPECT_TCMALLOC=1;PT_SOURCE_DIR=${PROJECT_SOURCE_DIR};PT_BUILD_DIR=${PROJECT_BINARY_DIR}")
  else()
    message(STATUS "tests: tcmalloc not found (Debian libgoogle-perftools-dev); test_heap_preload_tcmalloc is not run")
  endif()
endif()
