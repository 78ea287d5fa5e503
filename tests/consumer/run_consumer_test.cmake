# ctest -P script: install tapegrad into a fresh prefix, then configure, build and run the
# consumer project against it. Any failing step fails the test. The prefix must hold no
# internal header (no detail/ folder), and the core must be usable without MPI: the consumer
# is configured with MPI hidden. When the dist component was built, a second configuration
# asks for it (COMPONENTS dist) with MPI visible.
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${err}")
  endif()
endfunction()

run_step("install" "${CMAKE_COMMAND}" --install "${TAPEGRAD_BUILD_DIR}" --prefix "${prefix}")

file(GLOB_RECURSE installed LIST_DIRECTORIES true RELATIVE "${prefix}/include" "${prefix}/include/*")
set(internal "${installed}")
list(FILTER internal INCLUDE REGEX "(^|/)detail(/|$)")
if(internal)
  message(FATAL_ERROR "internal headers were installed: ${internal}")
endif()
file(GLOB public_headers "${prefix}/include/tapegrad/autograd/*.hpp")
if(NOT public_headers)
  message(FATAL_ERROR "no public header under ${prefix}/include/tapegrad/autograd")
endif()

run_step("configure consumer without MPI" "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${WORK_DIR}/build"
         -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON)
run_step("build consumer" "${CMAKE_COMMAND}" --build "${WORK_DIR}/build" -j2)
run_step("run consumer" "${WORK_DIR}/build/consumer")

if(EXISTS "${prefix}/lib/cmake/tapegrad/tapegradDistTargets.cmake")
  run_step("configure consumer with COMPONENTS dist" "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}"
           -B "${WORK_DIR}/build-dist" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${prefix}"
           -DCONSUMER_WITH_DIST=ON)
  run_step("build consumer with dist" "${CMAKE_COMMAND}" --build "${WORK_DIR}/build-dist" -j2)
  run_step("run consumer with dist" "${WORK_DIR}/build-dist/consumer_dist")
endif()
