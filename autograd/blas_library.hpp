#pragma once
// The BLAS library this process loaded, and the check that it is the one tapegrad was built for.
//
// tapegrad links OpenBLAS's pthread build by path, with its folder as RUNPATH
// (cmake/TapegradBlas.cmake): tg::set_num_threads drives its thread pool, and every figure in
// the README was measured with it. LD_LIBRARY_PATH or LD_PRELOAD can still load another build
// (Debian's serial build ignores the thread count; its openmp build runs a second pool), so
// tapegrad checks the loaded library before its first GEMM and before it sets a thread count,
// and refuses with BlasLibraryError naming both builds. TAPEGRAD_ANY_BLAS=1 in the
// environment lets any OpenBLAS build through, for those who choose another one on purpose.
#include <stdexcept>
#include <string>

namespace tg {

// Another OpenBLAS build than the one tapegrad was built for is serving its GEMMs.
class BlasLibraryError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct BlasLibrary {
  std::string config;     // openblas_get_config(): "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64"
  std::string core;       // openblas_get_corename(): the kernels it dispatched to here ("Zen", "Cooperlake")
  std::string threading;  // "pthread", "openmp" or "serial" (openblas_get_parallel())
  std::string path;       // the file the loader mapped, "" when unknown
};

// The library that serves tapegrad's GEMMs in this process.
BlasLibrary blas_library();

// The threading build tapegrad was built and measured with: "pthread".
const char* expected_blas_threading();

// The library that serves the float products oneDNN runs faster (Note [oneDNN for small
// products] in detail/dnnl_gemm.hpp: a batch's rows times a weight, products with a small right
// operand), "oneDNN 2.6.3" say; "" when OpenBLAS serves every product (tapegrad built without
// oneDNN, or TAPEGRAD_GEMM=openblas in the environment). A oneDNN of another major.minor version
// than the one tapegrad was built with is refused like another OpenBLAS build.
std::string small_gemm_library();

}  // namespace tg
