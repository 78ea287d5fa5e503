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
