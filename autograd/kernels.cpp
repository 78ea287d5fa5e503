#include <tapegrad/autograd/kernels.hpp>

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <vector>

#include <tapegrad/autograd/threads.hpp>

namespace tg::detail {

namespace {
// BLAS wants leading dimensions >= 1 even for empty matrices; an empty product scales C.
template <class T>
bool gemm_is_trivial(std::size_t M, std::size_t N, std::size_t K, T beta, T* C, std::size_t ldc) {
  if (M == 0 || N == 0) return true;
  if (K > 0) return false;
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
  return true;
}

thread_local bool recording = false;
thread_local std::vector<GemmShape> recorded;

}  // namespace

void start_gemm_recording() {
  recorded.clear();
  recording = true;
}

std::vector<GemmShape> stop_gemm_recording() {
  recording = false;
  return std::move(recorded);
}

double replay_gemms(const std::vector<GemmShape>& shapes) {
  std::size_t most = 1;
  for (const auto& g : shapes) most = std::max({most, g.M * g.K, g.K * g.N, g.M * g.N});
  std::vector<float> a(most, 0.5f), b(most, 0.25f), c(most, 0.0f);
  ensure_blas_threads();
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& g : shapes)
    cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans, g.trans_b ? CblasTrans : CblasNoTrans,
                int(g.M), int(g.N), int(g.K), 1.0f, a.data(), int(g.trans_a ? g.M : g.K), b.data(),
                int(g.trans_b ? g.K : g.N), g.accumulate ? 1.0f : 0.0f, c.data(), int(g.N));
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <>
void gemm<float>(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, float alpha,
                 const float* A, std::size_t lda, const float* B, std::size_t ldb, float beta,
                 float* C, std::size_t ldc) {
  if (gemm_is_trivial(M, N, K, beta, C, ldc)) return;
  ensure_blas_threads();
  if (recording) recorded.push_back({ta, tb, M, N, K, beta != 0.0f});
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              int(M), int(N), int(K), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}

template <>
void gemm<double>(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, double alpha,
                  const double* A, std::size_t lda, const double* B, std::size_t ldb,
                  double beta, double* C, std::size_t ldc) {
  if (gemm_is_trivial(M, N, K, beta, C, ldc)) return;
  ensure_blas_threads();
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              int(M), int(N), int(K), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}

template <class T>
void add_into(T* dst, const T* src, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dst[i] += src[i];
}

Shape broadcast_strides(const Shape& in, const Shape& out) {
  Shape s(out.size(), 0);
  std::size_t stride = 1;
  const std::size_t lead = out.size() - in.size();  // missing leading dims broadcast
  for (std::size_t d = in.size(); d-- > 0;) {
    s[lead + d] = in[d] == 1 ? 0 : stride;
    stride *= in[d];
  }
  return s;
}

template <class T>
void accumulate_sum_to(T* dst, const Shape& ds, const T* src, const Shape& ss) {
  const std::size_t n = numel(ss), m = numel(ds);
  if (n == m) {  // same element count: broadcasting only added or kept size-1 dims
    add_into(dst, src, n);
    return;
  }
  // Fast path: dst is a trailing block of src (a [N] bias of a [B, N] output): sum rows.
  bool trailing = ds.size() <= ss.size();
  for (std::size_t i = 0; trailing && i < ds.size(); ++i)
    trailing = ds[ds.size() - 1 - i] == ss[ss.size() - 1 - i] || ds[ds.size() - 1 - i] == 1;
  if (trailing && m > 0 && n % m == 0) {
    std::size_t tail = 1;  // product of src's trailing dims that dst matches exactly
    bool exact = true;
    for (std::size_t i = 0; i < ds.size(); ++i) {
      exact = exact && ds[ds.size() - 1 - i] == ss[ss.size() - 1 - i];
      if (exact) tail *= ds[ds.size() - 1 - i];
    }
    if (tail == m) {
      for (std::size_t r = 0; r < n / m; ++r) add_into(dst, src + r * m, m);
      return;
    }
  }
  // General case: walk src with an odometer, dst strides 0 on broadcast dims.
  const Shape sd = broadcast_strides(ds, ss);
  const std::size_t rank = ss.size();
  Shape idx(rank, 0);
  std::size_t od = 0;
  for (std::size_t i = 0; i < n; ++i) {
    dst[od] += src[i];
    for (std::size_t d = rank; d-- > 0;) {
      od += sd[d];
      if (++idx[d] < ss[d]) break;
      od -= sd[d] * ss[d];
      idx[d] = 0;
    }
  }
}

template void add_into<float>(float*, const float*, std::size_t);
template void add_into<double>(double*, const double*, std::size_t);
template void accumulate_sum_to<float>(float*, const Shape&, const float*, const Shape&);
template void accumulate_sum_to<double>(double*, const Shape&, const double*, const Shape&);

}  // namespace tg::detail
