#include <tapegrad/autograd/detail/dnnl_gemm.hpp>

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include <tapegrad/autograd/blas_library.hpp>
#include <tapegrad/autograd/detail/kernels.hpp>

#if TAPEGRAD_HAS_DNNL
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_version.h>

// The OpenMP runtime oneDNN runs on (libgomp): its thread count is set per calling thread.
extern "C" int omp_get_max_threads(void);
extern "C" void omp_set_num_threads(int);
#endif

namespace tg {
namespace {

// TAPEGRAD_GEMM: unset or "auto" (oneDNN serves the products it runs faster), or "openblas"
// (OpenBLAS serves every product: the library's own A/B switch).
bool openblas_only() {
  static const bool only = [] {
    const char* v = std::getenv("TAPEGRAD_GEMM");
    if (v == nullptr || std::strcmp(v, "auto") == 0) return false;
    if (std::strcmp(v, "openblas") == 0) return true;
    throw BlasLibraryError("TAPEGRAD_GEMM must be 'auto' or 'openblas', got '" + std::string(v) + "'");
  }();
  return only;
}

#if TAPEGRAD_HAS_DNNL
// "oneDNN 2.6.3": the library this process loaded.
std::string loaded_dnnl() {
  const dnnl_version_t* v = dnnl_version();
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}
#endif

}  // namespace

std::string small_gemm_library() {
#if TAPEGRAD_HAS_DNNL
  return openblas_only() ? "" : loaded_dnnl();
#else
  return "";
#endif
}

namespace detail {

#if TAPEGRAD_HAS_DNNL

bool dnnl_serves(bool trans_a, std::size_t M, std::size_t N, std::size_t K) {
  // Note [oneDNN for small products]
  constexpr std::size_t kFewRows = 64, kShortInner = 1024, kSmallOperand = std::size_t(1) << 18;
  return !trans_a && ((M <= kFewRows && K <= kShortInner) || K * N <= kSmallOperand) && !openblas_only();
}

void dnnl_gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, float alpha, const float* A,
               std::size_t lda, const float* B, std::size_t ldb, float beta, float* C, std::size_t ldc) {
  // One OpenMP thread for this call, the caller's own setting back after it (also if it throws).
  struct OneOpenMPThread {
    const int caller = omp_get_max_threads();
    OneOpenMPThread() {
      if (caller != 1) omp_set_num_threads(1);
    }
    ~OneOpenMPThread() {
      if (caller != 1) omp_set_num_threads(caller);
    }
  };
  dnnl_status_t status;
  {
    const OneOpenMPThread one;
    status = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', dnnl_dim_t(M), dnnl_dim_t(N), dnnl_dim_t(K), alpha,
                        A, dnnl_dim_t(lda), B, dnnl_dim_t(ldb), beta, C, dnnl_dim_t(ldc));
  }
  if (status != dnnl_success)  // sizes are checked before (gemm_is_trivial), so: out of memory
    throw std::runtime_error("gemm: oneDNN's sgemm failed on the product [" + std::to_string(M) + ", " +
                             std::to_string(K) + "] x [" + std::to_string(K) + ", " + std::to_string(N) +
                             "] (status " + std::to_string(int(status)) + ")");
}

void check_dnnl_library() {
  static const bool checked = [] {
    openblas_only();  // a bad TAPEGRAD_GEMM is refused here, before the first product
    const dnnl_version_t* v = dnnl_version();
    if ((v->major != DNNL_VERSION_MAJOR || v->minor != DNNL_VERSION_MINOR) && !any_blas_allowed())
      throw BlasLibraryError("tapegrad was built with oneDNN " + std::to_string(DNNL_VERSION_MAJOR) + "." +
                             std::to_string(DNNL_VERSION_MINOR) + ", but this process loaded " + loaded_dnnl() +
                             ": set TAPEGRAD_ANY_BLAS=1 to run with it");
    return true;
  }();
  (void)checked;
}

#else  // built without oneDNN: OpenBLAS serves every product

bool dnnl_serves(bool, std::size_t, std::size_t, std::size_t) { return false; }

void dnnl_gemm(bool, bool, std::size_t, std::size_t, std::size_t, float, const float*, std::size_t, const float*,
               std::size_t, float, float*, std::size_t) {
  throw std::logic_error("tapegrad internal error: dnnl_gemm called in a build without oneDNN");
}

void check_dnnl_library() {
  static const bool checked = (openblas_only(), true);  // the variable is still validated
  (void)checked;
}

#endif

}  // namespace detail
}  // namespace tg
