# The BLAS tapegrad links: OpenBLAS's pthread build, pinned (Debian: libopenblas-pthread-dev).
#
# Debian ships OpenBLAS three ways (pthread, openmp, serial), each in its own folder, and picks
# the one behind libopenblas.so.0 with update-alternatives. tapegrad sets the BLAS thread count
# itself (tg::set_num_threads -> openblas_set_num_threads) and runs no OpenMP pool of its own, so
# the pthread build is the one it is measured and tuned with (README, "The GEMM backend"): the
# serial build would silently ignore the thread count, the openmp one would add a second pool.
# So the library is linked by its variant's path, and every executable linking tapegrad gets
# that folder as RUNPATH: switching the system alternative no longer swaps the BLAS under it.
# At run time, tapegrad checks the build it loaded (autograd/blas_library.cpp): LD_LIBRARY_PATH
# or LD_PRELOAD can still hand it another.
#
# Used by the build (CMakeLists.txt) and by the installed package config, so a consumer's
# find_package(tapegrad) links the same library the same way. Defines tapegrad::openblas.
if(TARGET tapegrad::openblas)
  return()
endif()

set(BLA_VENDOR OpenBLAS)  # never the reference BLAS: it is ~20x slower
if(COMMAND find_dependency)  # in the package config: a missing BLAS makes find_package(tapegrad) fail
  find_dependency(BLAS)
else()
  find_package(BLAS REQUIRED)
endif()

# The pthread build lives beside the alternative's link: <libdir>/openblas-pthread/.
list(GET BLAS_LIBRARIES 0 _tapegrad_blas_found)
get_filename_component(_tapegrad_blas_libdir "${_tapegrad_blas_found}" DIRECTORY)
find_library(TAPEGRAD_OPENBLAS_PTHREAD openblas
  PATHS "${_tapegrad_blas_libdir}/openblas-pthread" /usr/lib/x86_64-linux-gnu/openblas-pthread
  NO_DEFAULT_PATH)
if(NOT TAPEGRAD_OPENBLAS_PTHREAD)
  message(FATAL_ERROR "tapegrad needs OpenBLAS's pthread build (<libdir>/openblas-pthread/libopenblas.so), "
                      "found only ${_tapegrad_blas_found}: apt-get install libopenblas-pthread-dev")
endif()
get_filename_component(_tapegrad_blas_pinned_dir "${TAPEGRAD_OPENBLAS_PTHREAD}" DIRECTORY)

add_library(tapegrad::openblas INTERFACE IMPORTED)
set_target_properties(tapegrad::openblas PROPERTIES
  INTERFACE_LINK_LIBRARIES "${TAPEGRAD_OPENBLAS_PTHREAD}"
  # RUNPATH: the loader looks in the pinned folder before the alternatives' link.
  INTERFACE_LINK_OPTIONS "LINKER:-rpath,${_tapegrad_blas_pinned_dir}")
