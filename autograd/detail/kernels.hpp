#pragma once
// Raw kernels the ops are built from: BLAS GEMM into our own buffers, broadcasting loops,
// and the `sum_to` reduction every broadcasting backward ends with. Internal to tapegrad.
#include <algorithm>
#include <array>
#include <cstddef>
#include <vector>

#include <xtensor/xadapt.hpp>

#include <tapegrad/autograd/shape.hpp>
#include <tapegrad/autograd/detail/thread_pool.hpp>

namespace tg::detail {

// A contiguous buffer as a rank-1 xtensor (fixed rank: xsimd-vectorised, no shape allocation).
template <class T>
auto flat(T* p, std::size_t n) {
  return xt::adapt(p, n, xt::no_ownership(), std::array<std::size_t, 1>{n});
}

// C[M,N] = alpha * op(A) * op(B) + beta * C, row-major; op(X) = X^T when trans_X.
// lda/ldb are the row strides of A and B as stored. One overload per scalar type.
void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, float alpha,
          const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta, float* C,
          std::size_t ldc);
void gemm(bool trans_a, bool trans_b, std::size_t M, std::size_t N, std::size_t K, double alpha,
          const double* A, std::size_t lda, const double* B, std::size_t ldb, double beta, double* C,
          std::size_t ldc);

// Before a GEMM: checks the OpenBLAS build and sets it to one thread (Note [one pool]) once
// per process, and warms it up once per calling thread.
void ensure_blas_threads();
// Throws BlasLibraryError when the loaded OpenBLAS is not the build tapegrad expects
// (blas_library.hpp); checked once per process.
void check_blas_library();
// Whether TAPEGRAD_ANY_BLAS=1 lets another OpenBLAS build or oneDNN version through.
bool any_blas_allowed();
// One large product, once per thread, before its first real one: Note [OpenBLAS warm-up].
void warm_up_blas();

// The float GEMMs a stretch of code asks gemm() for (the products as asked, before gemm()
// splits any into pieces), by shape, for the utilization figure of the benchmarks (DESIGN §6)
// and bench/gemm_study: record them, then replay the same shapes back to back.
struct GemmShape {
  bool trans_a, trans_b;
  std::size_t M, N, K;
  bool accumulate;  // beta != 0
};
void start_gemm_recording();
std::vector<GemmShape> stop_gemm_recording();
// Runs the shapes once through gemm() (split as the step splits them) on scratch buffers;
// returns the seconds it took.
double replay_gemms(const std::vector<GemmShape>& shapes);

// dst[i] += src[i]
template <class T>
void add_into(T* dst, const T* src, std::size_t n);

// Note [copies on the pool]: at two threads the pool's worker spins while the caller runs
// anything serial, so a copy of a few hundred KB (a slice's columns, linear's prefill, the
// staging of dy for a weight gradient) costs the step twice its own time. These cut such copies
// and row sums across the pool (parallel_pieces) once they are large enough to pay for the
// hand-off (elementwise_chunks). Each output element is written by one thread, and a sum over
// rows keeps its row order, so the bits do not depend on the thread count.

// dst[r * dst_stride + j] = src[r * src_stride + j] for r < rows, j < run (src_stride 0: one
// row repeated, as a bias broadcast).
template <class T>
void copy_rows(T* dst, std::size_t dst_stride, const T* src, std::size_t src_stride, std::size_t rows,
               std::size_t run) {
  if (rows == 0 || run == 0) return;  // a [2^40, 0] tensor has rows but nothing to copy
  parallel_pieces(rows, elementwise_chunks(rows * run), [&](std::size_t begin, std::size_t end) {
    for (std::size_t r = begin; r < end; ++r)
      std::copy_n(src + r * src_stride, run, dst + r * dst_stride);
  });
}

// dst[j] += sum over r < rows of src[r * n + j], the rows added in order (a bias gradient).
template <class T>
void add_rows_into(T* dst, const T* src, std::size_t rows, std::size_t n) {
  if (rows == 0 || n == 0) return;
  parallel_pieces(n, elementwise_chunks(rows * n), [&](std::size_t begin, std::size_t end) {
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t j = begin; j < end; ++j) dst[j] += src[r * n + j];
  });
}

// Strides (in elements) of `in` seen from the broadcast shape `out`: 0 on broadcast dims.
Shape broadcast_strides(const Shape& in, const Shape& out);

// out = f(a, b) elementwise with numpy broadcasting of a (shape as) and b (shape bs) to `os`.
template <class T, class F>
void broadcast_binary(const Shape& os, const T* a, const Shape& as, const T* b, const Shape& bs,
                      T* out, F f) {
  const std::size_t n = numel(os);
  if (as == os && bs == os) {
    parallel_range(n, [&](std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i < end; ++i) out[i] = f(a[i], b[i]);
    });
    return;
  }
  const Shape sa = broadcast_strides(as, os), sb = broadcast_strides(bs, os);
  const std::size_t rank = os.size();
  const std::size_t inner = rank ? os[rank - 1] : 1;
  const std::size_t ia = rank ? sa[rank - 1] : 0, ib = rank ? sb[rank - 1] : 0;
  Shape idx(rank, 0);  // odometer over the outer dims
  std::size_t oa = 0, ob = 0;
  for (std::size_t o = 0; o < n; o += inner) {
    T* dst = out + o;
    const T* pa = a + oa;
    const T* pb = b + ob;
    // The four inner-loop cases, each a simple loop the compiler vectorises.
    if (ia && ib) for (std::size_t j = 0; j < inner; ++j) dst[j] = f(pa[j], pb[j]);
    else if (ia)  for (std::size_t j = 0; j < inner; ++j) dst[j] = f(pa[j], pb[0]);
    else if (ib)  for (std::size_t j = 0; j < inner; ++j) dst[j] = f(pa[0], pb[j]);
    else          for (std::size_t j = 0; j < inner; ++j) dst[j] = f(pa[0], pb[0]);
    for (std::size_t d = rank > 0 ? rank - 1 : 0; d-- > 0;) {  // advance the odometer
      oa += sa[d];
      ob += sb[d];
      if (++idx[d] < os[d]) break;
      oa -= sa[d] * os[d];
      ob -= sb[d] * os[d];
      idx[d] = 0;
    }
  }
}

// dst (shape ds) += src (shape ss) summed over the dimensions that broadcasting expanded.
template <class T>
void accumulate_sum_to(T* dst, const Shape& ds, const T* src, const Shape& ss);

}  // namespace tg::detail
