# Installation of libpotter: the shared and static libraries, the public headers, a
# pkg-config file (potter.pc) and a CMake package (find_package(potter) gives the imported
# targets potter::potter and potter::potter_static). Included at the end of the top-level
# CMakeLists.txt; paths follow GNUInstallDirs.
#
#   cmake --install build --prefix /usr/local            # or DESTDIR=/tmp/stage cmake --install ...
include(CMakePackageConfigHelpers)

set(PT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/potter)

install(TARGETS potter potter_static
  EXPORT potterTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(FILES ${PROJECT_SOURCE_DIR}/include/potter.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/potter
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")

# ---- pkg-config ----------------------------------------------------------------------------
# The prefix is the one given at install time (cmake --install --prefix), not the one the
# build was configured with, so the file is written by the install step itself.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(PT_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  set(PT_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(PT_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(PT_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
set(PT_PC_PREFIX "@PT_PC_PREFIX@") # filled in at install time
configure_file(${CMAKE_CURRENT_LIST_DIR}/potter.pc.in ${PROJECT_BINARY_DIR}/potter.pc.in @ONLY)
install(CODE "
  set(PT_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${PROJECT_BINARY_DIR}/potter.pc.in\" \"${PROJECT_BINARY_DIR}/potter.pc\" @ONLY)
")
install(FILES ${PROJECT_BINARY_DIR}/potter.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# ---- CMake package -------------------------------------------------------------------------
install(EXPORT potterTargets NAMESPACE potter:: DESTINATION ${PT_CMAKE_DIR})

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/potterConfig.cmake.in
  ${PROJECT_BINARY_DIR}/potterConfig.cmake
  INSTALL_DESTINATION ${PT_CMAKE_DIR})
# While the major version is 0, every minor release may change the API and the ABI.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/potterConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/potterConfig.cmake
  ${PROJECT_BINARY_DIR}/potterConfigVersion.cmake
  DESTINATION ${PT_CMAKE_DIR})
