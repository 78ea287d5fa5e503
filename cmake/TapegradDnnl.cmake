# oneDNN's sgemm for the float products it runs faster (Note [oneDNN for small products] in
# autograd/detail/dnnl_gemm.hpp; Debian: libdnnl-dev). Optional: without it OpenBLAS serves every
# product. Defines tapegrad::dnnl when TAPEGRAD_WITH_DNNL is on.
#
# oneDNN is linked by library path rather than through its own package config, which asks for
# the OpenCL headers of its GPU runtime (ocl-icd-opencl-dev) that tapegrad never uses. Its
# OpenMP runtime, libgomp, is linked too: tapegrad sets oneDNN's thread count through it.
#
# Used by the build (CMakeLists.txt) and by the installed package config
# (TAPEGRAD_IN_PACKAGE_CONFIG), so a consumer's find_package(tapegrad) links the same libraries.
find_library(TAPEGRAD_DNNL_LIBRARY dnnl)
find_path(TAPEGRAD_DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.h)
find_library(TAPEGRAD_GOMP_LIBRARY NAMES gomp libgomp.so.1)
if(TAPEGRAD_DNNL_LIBRARY AND TAPEGRAD_DNNL_INCLUDE_DIR AND TAPEGRAD_GOMP_LIBRARY)
  set(_tapegrad_dnnl_found ON)
else()
  set(_tapegrad_dnnl_found OFF)
endif()

if(TAPEGRAD_IN_PACKAGE_CONFIG)  # find_package(tapegrad): the library was built with oneDNN
  if(NOT _tapegrad_dnnl_found)
    set(tapegrad_NOT_FOUND_MESSAGE
        "this tapegrad was built with oneDNN, which is not installed: apt-get install libdnnl-dev")
    set(tapegrad_FOUND FALSE)
    return()
  endif()
else()
  # Declared before anything returns, so the option is always defined (the package config reads it)
  option(TAPEGRAD_WITH_DNNL "Serve small float products with oneDNN's sgemm (Debian: libdnnl-dev)" ${_tapegrad_dnnl_found})
  if(NOT TAPEGRAD_WITH_DNNL)
    message(STATUS "tapegrad: without oneDNN (libdnnl-dev): OpenBLAS serves every product, 5-9% slower at S")
    return()
  endif()
  if(NOT _tapegrad_dnnl_found)
    message(FATAL_ERROR "TAPEGRAD_WITH_DNNL is on but oneDNN was not found: apt-get install libdnnl-dev")
  endif()
endif()

if(NOT TARGET tapegrad::dnnl)
  add_library(tapegrad::dnnl INTERFACE IMPORTED)
  set_target_properties(tapegrad::dnnl PROPERTIES
    INTERFACE_LINK_LIBRARIES "${TAPEGRAD_DNNL_LIBRARY};${TAPEGRAD_GOMP_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${TAPEGRAD_DNNL_INCLUDE_DIR}")
endif()
