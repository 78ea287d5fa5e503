# ctest -P script: install tapegrad into a fresh prefix, then configure, build and run the
# consumer project against it. Any failing step fails the test.
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
run_step("configure consumer" "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${WORK_DIR}/build"
         -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${prefix}")
run_step("build consumer" "${CMAKE_COMMAND}" --build "${WORK_DIR}/build" -j2)
run_step("run consumer" "${WORK_DIR}/build/consumer")
