#include <tapegrad/autograd/blas_library.hpp>

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>

#include <tapegrad/autograd/detail/dnnl_gemm.hpp>
#include <tapegrad/autograd/detail/kernels.hpp>

// OpenBLAS's own API (tapegrad links OpenBLAS by name).
extern "C" char* openblas_get_config(void);
extern "C" char* openblas_get_corename(void);
extern "C" int openblas_get_parallel(void);  // 0 serial, 1 pthread, 2 OpenMP

namespace tg {

const char* expected_blas_threading() { return "pthread"; }

BlasLibrary blas_library() {
  BlasLibrary lib;
  lib.config = openblas_get_config();
  lib.core = openblas_get_corename();
  const int parallel = openblas_get_parallel();
  lib.threading = parallel == 0 ? "serial" : parallel == 1 ? "pthread" : parallel == 2 ? "openmp" : "unknown";
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&openblas_get_config), &info) != 0 && info.dli_fname != nullptr)
    lib.path = info.dli_fname;
  return lib;
}

namespace detail {

bool any_blas_allowed() {
  const char* any = std::getenv("TAPEGRAD_ANY_BLAS");
  return any != nullptr && std::strcmp(any, "1") == 0;
}

void check_blas_library() {
  static const bool checked = [] {  // once per process: the loaded library cannot change
    const BlasLibrary lib = blas_library();
    if (lib.threading != expected_blas_threading() && !any_blas_allowed())
      throw BlasLibraryError("tapegrad was built for OpenBLAS's " + std::string(expected_blas_threading()) +
                               " build, but this process loaded its " + lib.threading + " build (" +
                               (lib.path.empty() ? lib.config : lib.path) +
                               "): unset LD_LIBRARY_PATH/LD_PRELOAD, or set TAPEGRAD_ANY_BLAS=1 to run with it");
    check_dnnl_library();
    return true;
  }();
  (void)checked;
}

}  // namespace detail
}  // namespace tg
