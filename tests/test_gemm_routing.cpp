// Note [oneDNN for small products]: which library serves each float product, and that oneDNN's
// products are the products (every entry against a plain double sum, in every layout it serves).
#include <doctest/doctest.h>

#include <cblas.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include <tapegrad/autograd/blas_library.hpp>
#include <tapegrad/autograd/detail/dnnl_gemm.hpp>
#include <tapegrad/autograd/detail/kernels.hpp>

#include "test_helpers.hpp"

#if TAPEGRAD_EXPECT_DNNL  // libgomp is linked with oneDNN only
extern "C" int omp_get_max_threads(void);
extern "C" void omp_set_num_threads(int);
#endif

using tgtest::counting;

namespace {

// Whether this process routes products to oneDNN: built with it (TAPEGRAD_EXPECT_DNNL, from
// CMake's TAPEGRAD_WITH_DNNL) and not turned off in the environment.
bool expect_dnnl() {
  const char* v = std::getenv("TAPEGRAD_GEMM");
  return TAPEGRAD_EXPECT_DNNL && !(v && std::string(v) == "openblas");
}

}  // namespace

TEST_CASE("gemm routing: oneDNN serves the few-row and small-operand float products, OpenBLAS the rest") {
  const std::string lib = tg::small_gemm_library();
  if (!expect_dnnl()) {
    CHECK(lib.empty());
    CHECK_FALSE(tg::detail::dnnl_serves(false, 32, 512, 128));
    return;
  }
  CHECK_MESSAGE(lib.rfind("oneDNN ", 0) == 0, lib);
  using tg::detail::dnnl_serves;
  CHECK(dnnl_serves(false, 32, 512, 128));      // a recurrent step's h W^T
  CHECK(dnnl_serves(false, 64, 2048, 512));     // at M: few rows, a 4 MB weight, K = 512
  CHECK(dnnl_serves(false, 64, 512, 1024));     // K = 1024, the bound itself
  CHECK_FALSE(dnnl_serves(false, 64, 512, 2048));  // M's backward dy W: K = 2048, OpenBLAS
  CHECK(dnnl_serves(false, 2048, 64, 512));     // the input projection's dx at S: K N = 2^15
  CHECK(dnnl_serves(false, 6400, 128, 2048));   // K N = 2^18, the bound itself
  CHECK_FALSE(dnnl_serves(false, 6400, 2048, 512));  // many rows and a 4 MB operand: OpenBLAS
  CHECK_FALSE(dnnl_serves(false, 65, 4096, 128));    // 65 rows and K N = 2^19
  CHECK_FALSE(dnnl_serves(true, 512, 128, 256));     // weight gradients dY^T X: OpenBLAS
  CHECK_FALSE(dnnl_serves(true, 8, 8, 8));
}

TEST_CASE("gemm routing: every product oneDNN serves equals the plain sum, in every layout it serves") {
  if (!expect_dnnl()) {
    MESSAGE("skipped: OpenBLAS serves every product in this build");
    return;
  }
  struct Case {
    std::size_t M, N, K;
  };
  // few rows (a recurrent step), a small operand with many rows, odd sizes, one column
  const std::vector<Case> cases = {{32, 512, 128}, {64, 300, 70}, {700, 65, 128}, {5, 7, 3}, {17, 1, 33}};
  const std::size_t pad = 3;  // every leading dimension 3 past the matrix: padding must stay as it was
  for (const Case& c : cases)
    for (bool tb : {false, true})
      for (float beta : {0.0f, 1.0f, 0.5f}) {
        REQUIRE(tg::detail::dnnl_serves(false, c.M, c.N, c.K));
        const std::size_t lda = c.K + pad, ldb = (tb ? c.K : c.N) + pad, ldc = c.N + pad;
        const std::vector<float> a = counting(c.M * lda, 1.0f), b = counting((tb ? c.N : c.K) * ldb, 0.5f);
        std::vector<float> out = counting(c.M * ldc, 2.0f);
        // beta = 0 writes C without reading it: NaN there must not reach the result (BLAS's rule)
        if (beta == 0.0f)
          for (std::size_t i = 0; i < c.M; ++i)
            for (std::size_t j = 0; j < c.N; ++j) out[i * ldc + j] = std::numeric_limits<float>::quiet_NaN();
        const std::vector<float> c0 = out;
        tg::detail::gemm(false, tb, c.M, c.N, c.K, 2.0f, a.data(), lda, b.data(), ldb, beta, out.data(), ldc);
        std::vector<float> blas = c0;  // OpenBLAS's own product of the same operands
        cblas_sgemm(CblasRowMajor, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(c.M), int(c.N), int(c.K), 2.0f,
                    a.data(), int(lda), b.data(), int(ldb), beta, blas.data(), int(ldc));
        CAPTURE(c.M);
        CAPTURE(c.N);
        CAPTURE(c.K);
        CAPTURE(tb);
        CAPTURE(beta);
        bool ok = true;
        for (std::size_t i = 0; i < c.M && ok; ++i)
          for (std::size_t j = 0; j < ldc && ok; ++j) {
            const float got = out[i * ldc + j];
            if (j >= c.N) {  // padding
              if (!(got == c0[i * ldc + j])) FAIL_CHECK("padding (" << i << ", " << j << ") was written: " << got);
              ok = got == c0[i * ldc + j];
              continue;
            }
            double want = beta == 0.0f ? 0.0 : double(beta) * double(c0[i * ldc + j]);
            for (std::size_t k = 0; k < c.K; ++k)
              want += 2.0 * double(a[i * lda + k]) * double(tb ? b[j * ldb + k] : b[k * ldb + j]);
            const double tol = 1e-5 * (1 + std::abs(want));
            if (!(std::abs(double(got) - want) <= tol) || !(std::abs(double(got) - double(blas[i * ldc + j])) <= tol)) {
              FAIL_CHECK("entry (" << i << ", " << j << "): " << got << ", want " << want << ", OpenBLAS "
                                   << blas[i * ldc + j]);
              ok = false;
            }
          }
      }
}

#if TAPEGRAD_EXPECT_DNNL
TEST_CASE("gemm routing: oneDNN runs on the calling thread alone and keeps the caller's OpenMP setting") {
  if (!expect_dnnl()) {
    MESSAGE("skipped: OpenBLAS serves every product in this build");
    return;
  }
  const int before = omp_get_max_threads();
  omp_set_num_threads(3);
  const std::vector<float> a = counting(32 * 128, 1.0f), b = counting(512 * 128, 1.0f);
  std::vector<float> c1(32 * 512), c2(32 * 512);
  tg::detail::gemm(false, true, 32, 512, 128, 1.0f, a.data(), 128, b.data(), 128, 0.0f, c1.data(), 512);
  CHECK(omp_get_max_threads() == 3);  // restored after the call
  omp_set_num_threads(1);
  tg::detail::gemm(false, true, 32, 512, 128, 1.0f, a.data(), 128, b.data(), 128, 0.0f, c2.data(), 512);
  CHECK(c1 == c2);  // one thread either way: the same bits
  omp_set_num_threads(before);
}
#endif
