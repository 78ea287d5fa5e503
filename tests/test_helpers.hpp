#pragma once
// Shared by the test suites: gradcheck assertions and small deterministic inputs.
#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

#include <xtensor/xsort.hpp>
#include <xtensor/xview.hpp>

#include <tapegrad/tapegrad.hpp>

namespace tgtest {

// Asserts that f passes tg::gradcheck at the DESIGN §8 tolerances, printing the worst element.
#define CHECK_GRADCHECK(f, inputs)                          \
  do {                                                      \
    const tg::GradcheckResult gc_ = tg::gradcheck(f, inputs); \
    CHECK_MESSAGE(gc_.passed, gc_);                         \
  } while (0)

// A layer held by pointer, converted to float64 for a gradient check (layers start as float32).
template <class Pointer>
Pointer to_f64(Pointer layer) {
  layer->to(tg::kFloat64);
  return layer;
}

// An IdTensor of `shape` holding `values` row-major (xarray<int64_t>{{4}} is ambiguous with a shape).
inline tg::IdTensor ids(const tg::Shape& shape, const std::vector<std::int64_t>& values) {
  xt::xarray<std::int64_t> a = xt::xarray<std::int64_t>::from_shape(shape);
  std::copy(values.begin(), values.end(), a.begin());
  return tg::IdTensor(a);
}

// A double parameter with values drawn uniformly from [lo, hi) by the library RNG.
inline tg::Tensor param(const tg::Shape& shape, double lo = -1.0, double hi = 1.0) {
  return tg::Tensor::param(tg::uniform<double>(shape, lo, hi));
}

// After a failed call: the tape still records and differentiates, d/dx sum(x * x) = 2x.
inline void check_tape_works() {
  auto x = tg::Tensor::param(xt::xarray<float>{1.f, -2.f, 3.f});
  tg::sum(x * x).backward();
  CHECK(x.grad().value<float>()(0) == doctest::Approx(2.0));
  CHECK(x.grad().value<float>()(1) == doctest::Approx(-4.0));
  CHECK(x.grad().value<float>()(2) == doctest::Approx(6.0));
  tg::clear_tape();
}

// Runs body after set(during), then set(after), also when body throws.
template <class Set, class V, class F>
void with_setting(Set set, V during, V after, F body) {
  set(during);
  try {
    body();
  } catch (...) {
    set(after);
    throw;
  }
  set(after);
}

// Runs body with the library at n threads, back to one thread afterwards.
template <class F>
void with_threads(int n, F body) {
  with_setting(tg::set_num_threads, n, 1, body);
}

// n float operands in [-0.5, scale - 0.5), not all alike (a transposed or shifted read shows):
// inputs of the raw GEMM tests.
inline std::vector<float> counting(std::size_t n, float scale) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = scale * float((i * 7919) % 1009) / 1009.0f - 0.5f;
  return v;
}

// The folder of the shared corpora (CMake cache variable TAPEGRAD_DATA_DIR), or "" when it
// is absent: tests that need it skip cleanly.
inline std::string data_dir() {
  const std::string dir = TAPEGRAD_DATA_DIR;
  return std::ifstream(dir + "/tinyshakespeare.txt").good() ? dir : std::string();
}

}  // namespace tgtest
