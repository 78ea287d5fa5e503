#pragma once
// Reductions along one contiguous row, written as interleaved lanes.
//
// Note [row sums]: the sums of a row are taken in double, as eight interleaved partial sums:
// independent chains the compiler keeps in vector registers, where one running double sum is a
// chain of dependent scalar adds (layer_norm's forward and backward were 24% of the S
// LayerNorm-LSTM step that way; a cross-entropy over 65 classes spent 2.8% of the S RNN step
// in one running sum and one running max per row). The order is fixed, so the result is
// deterministic. A max is exact in any order, so its lanes change nothing but the speed.
// (Sixteen or 32 lanes, tried for layer_norm: GCC no longer vectorises the two-sum loops, and
// they ran slower.)
#include <cstddef>

#if defined(__AVX__)
#include <immintrin.h>
#endif

namespace tg::detail {

constexpr std::size_t kRowLanes = 8;

template <class Term>
double lane_sum(std::size_t n, Term term) {
  double part[kRowLanes] = {};
  std::size_t j = 0;
  for (; j + kRowLanes <= n; j += kRowLanes)
    for (std::size_t l = 0; l < kRowLanes; ++l) part[l] += term(j + l);
  for (; j < n; ++j) part[j % kRowLanes] += term(j);
  double total = 0;
  for (double p : part) total += p;
  return total;
}

template <class T>
double row_sum(const T* a, std::size_t n) {
  return lane_sum(n, [a](std::size_t j) { return double(a[j]); });
}

// The two-sum loops below are written out: the same loop taking two lambdas, as lane_sum takes
// one, is not vectorised by GCC 12 and made layer_norm's forward 2x slower.

// sum = a[0] + ... + a[n-1] and dot = a[0] b[0] + ... + a[n-1] b[n-1], in one pass; each the
// same bits as its own lane sum.
template <class T>
void row_sum_and_dot(const T* a, const T* b, std::size_t n, double& sum, double& dot) {
  double s[kRowLanes] = {}, p[kRowLanes] = {};
  std::size_t j = 0;
  for (; j + kRowLanes <= n; j += kRowLanes)
    for (std::size_t l = 0; l < kRowLanes; ++l) {
      s[l] += double(a[j + l]);
      p[l] += double(a[j + l]) * double(b[j + l]);
    }
  for (; j < n; ++j) {
    s[j % kRowLanes] += double(a[j]);
    p[j % kRowLanes] += double(a[j]) * double(b[j]);
  }
  sum = dot = 0;
  for (std::size_t l = 0; l < kRowLanes; ++l) {
    sum += s[l];
    dot += p[l];
  }
}

// sum = (a[0] - k) + ... + (a[n-1] - k) and squares = (a[0] - k)^2 + ... + (a[n-1] - k)^2, in
// one pass.
template <class T>
void row_sum_and_square(const T* a, double k, std::size_t n, double& sum, double& squares) {
  double s[kRowLanes] = {}, q[kRowLanes] = {};
  std::size_t j = 0;
  for (; j + kRowLanes <= n; j += kRowLanes)
    for (std::size_t l = 0; l < kRowLanes; ++l) {
      const double v = double(a[j + l]) - k;
      s[l] += v;
      q[l] += v * v;
    }
  for (; j < n; ++j) {
    const double v = double(a[j]) - k;
    s[j % kRowLanes] += v;
    q[j % kRowLanes] += v * v;
  }
  sum = squares = 0;
  for (std::size_t l = 0; l < kRowLanes; ++l) {
    sum += s[l];
    squares += q[l];
  }
}

#if defined(__AVX__)
// Note [float rows with AVX]: layer_norm's float rows take their two sums with AVX, written
// out: sixteen double lanes in four registers per sum, each four floats widened once. GCC 12
// vectorises the eight-lane loops above only into two registers per sum, so every eight
// elements wait on the adds' latency, and it does not vectorise sixteen lanes at all. The order
// is fixed, so the result is deterministic; it rounds differently from the eight-lane form, and
// from a build without AVX (as OpenBLAS's kernels differ by CPU). [32, 1024] layer_norm in
// tapegrad_opbench: see docs/gemm_study.md.
namespace avx_rows {
constexpr std::size_t kLanes = 16;
inline __m256d widen(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
inline __m256d mul_add(__m256d a, __m256d b, __m256d c) {
#if defined(__FMA__)
  return _mm256_fmadd_pd(a, b, c);
#else
  return _mm256_add_pd(_mm256_mul_pd(a, b), c);
#endif
}
// Two sums over a row of n floats in sixteen double lanes, four registers per sum: block(i, s,
// p) adds elements i .. i + 3 into the registers s and p, tail(i, s, p) adds element i into
// the lanes s and p; then the lanes are added in order.
template <class Block, class Tail>
void two_sums(std::size_t n, Block block, Tail tail, double& first, double& second) {
  __m256d s[4], p[4];
  for (int r = 0; r < 4; ++r) s[r] = p[r] = _mm256_setzero_pd();
  std::size_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int r = 0; r < 4; ++r) block(j + 4 * r, s[r], p[r]);
  alignas(32) double sl[kLanes], pl[kLanes];
  for (int r = 0; r < 4; ++r) {
    _mm256_store_pd(sl + 4 * r, s[r]);
    _mm256_store_pd(pl + 4 * r, p[r]);
  }
  for (; j < n; ++j) tail(j, sl[j % kLanes], pl[j % kLanes]);
  first = second = 0;
  for (std::size_t l = 0; l < kLanes; ++l) {
    first += sl[l];
    second += pl[l];
  }
}
}  // namespace avx_rows

inline void row_sum_and_dot(const float* a, const float* b, std::size_t n, double& sum, double& dot) {
  using namespace avx_rows;
  two_sums(n, [a, b](std::size_t i, __m256d& s, __m256d& p) {
    const __m256d x = widen(a + i), y = widen(b + i);
    s = _mm256_add_pd(s, x);
    p = mul_add(x, y, p);
  }, [a, b](std::size_t i, double& s, double& p) {
    s += double(a[i]);
    p += double(a[i]) * double(b[i]);
  }, sum, dot);
}

inline void row_sum_and_square(const float* a, double k, std::size_t n, double& sum, double& squares) {
  using namespace avx_rows;
  const __m256d shift = _mm256_set1_pd(k);
  two_sums(n, [a, shift](std::size_t i, __m256d& s, __m256d& q) {
    const __m256d v = _mm256_sub_pd(widen(a + i), shift);
    s = _mm256_add_pd(s, v);
    q = mul_add(v, v, q);
  }, [a, k](std::size_t i, double& s, double& q) {
    const double v = double(a[i]) - k;
    s += v;
    q += v * v;
  }, sum, squares);
}
#endif

// The largest of a[0..n), n >= 1. Where the row holds a NaN the result may or may not be NaN
// (as with std::max_element); a caller that goes on to exp(a[j] - max) gets NaN either way.
template <class T>
T row_max(const T* a, std::size_t n) {
  T part[kRowLanes];
  for (std::size_t l = 0; l < kRowLanes; ++l) part[l] = a[0];
  std::size_t j = 0;
  for (; j + kRowLanes <= n; j += kRowLanes)
    for (std::size_t l = 0; l < kRowLanes; ++l) part[l] = part[l] < a[j + l] ? a[j + l] : part[l];
  for (; j < n; ++j) part[0] = part[0] < a[j] ? a[j] : part[0];
  T m = part[0];
  for (std::size_t l = 1; l < kRowLanes; ++l) m = m < part[l] ? part[l] : m;
  return m;
}

}  // namespace tg::detail
