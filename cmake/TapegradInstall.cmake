# install(EXPORT) + package config: find_package(tapegrad) + tapegrad::tapegrad from a prefix.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(TAPEGRAD_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/tapegrad")

install(TARGETS tapegrad EXPORT tapegradTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# Public headers only: the detail/ folders are the library's internals and are not installed.
foreach(dir IN LISTS TAPEGRAD_HEADER_DIRS)
  install(DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}/${dir}/"
    DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/tapegrad/${dir}"
    FILES_MATCHING PATTERN "*.hpp" PATTERN "detail" EXCLUDE)
endforeach()
if(TAPEGRAD_WITH_MPI)  # the optional tapegrad::dist component, in its own export set: MPI is
  # looked for only when a consumer asks for COMPONENTS dist
  install(TARGETS tapegrad_dist EXPORT tapegradDistTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}/dist/"
    DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/tapegrad/dist"
    FILES_MATCHING PATTERN "*.hpp" PATTERN "detail" EXCLUDE)
  install(EXPORT tapegradDistTargets NAMESPACE tapegrad:: DESTINATION "${TAPEGRAD_CMAKE_DIR}")
  set(TAPEGRAD_HAS_DIST TRUE)  # read by tapegradConfig.cmake.in
else()
  set(TAPEGRAD_HAS_DIST FALSE)
endif()
install(FILES "${TAPEGRAD_GENERATED_INCLUDE_DIR}/tapegrad/tapegrad.hpp"
              "${TAPEGRAD_GENERATED_INCLUDE_DIR}/tapegrad/version.hpp"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/tapegrad")
install(EXPORT tapegradTargets NAMESPACE tapegrad:: DESTINATION "${TAPEGRAD_CMAKE_DIR}")

configure_package_config_file(cmake/tapegradConfig.cmake.in
  "${CMAKE_CURRENT_BINARY_DIR}/tapegradConfig.cmake"
  INSTALL_DESTINATION "${TAPEGRAD_CMAKE_DIR}")
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/tapegradConfigVersion.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/tapegradConfig.cmake"
              "${CMAKE_CURRENT_BINARY_DIR}/tapegradConfigVersion.cmake"
              "${CMAKE_CURRENT_SOURCE_DIR}/cmake/TapegradBlas.cmake"
              "${CMAKE_CURRENT_SOURCE_DIR}/cmake/TapegradDnnl.cmake"
  DESTINATION "${TAPEGRAD_CMAKE_DIR}")
