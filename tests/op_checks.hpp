#pragma once
// Checks shared by the five op suites (test_ops_*.cpp): value comparison, error messages,
// "the tape still works after an error", and the float-vs-double forward smoke test.
#include <cmath>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <vector>

#include <xtensor/xarray.hpp>

#include "test_helpers.hpp"

namespace tgtest {

using tg::Tensor;


// Row-major flat index <-> multi-index, for the reference loops.
inline tg::Shape unravel(std::size_t i, const tg::Shape& shape) {
  tg::Shape idx(shape.size(), 0);
  for (std::size_t d = shape.size(); d-- > 0;) {
    idx[d] = i % shape[d];
    i /= shape[d];
  }
  return idx;
}
inline std::size_t ravel(const tg::Shape& idx, const tg::Shape& shape) {
  std::size_t i = 0;
  for (std::size_t d = 0; d < shape.size(); ++d) i = i * shape[d] + idx[d];
  return i;
}

// actual (any xtensor expression, float or double) equals expected elementwise:
// |a - e| <= tol (1 + |e|). Reports the shape or the first element that differs.
template <class E>
void check_close(const E& actual, const xt::xarray<double>& expected, double tol = 1e-12) {
  const xt::xarray<double> a = xt::cast<double>(actual);
  REQUIRE_MESSAGE(tg::Shape(a.shape()) == tg::Shape(expected.shape()),
                  "shape " << tg::to_string(tg::Shape(a.shape())) << " vs expected "
                           << tg::to_string(tg::Shape(expected.shape())));
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double x = a.data()[i], e = expected.data()[i];
    if (!(std::abs(x - e) <= tol * (1 + std::abs(e)))) {
      CHECK_MESSAGE(false, "element " << i << ": " << x << " vs expected " << e);
      return;
    }
  }
}

// f() throws exactly an E whose message contains every fragment (the op name, both shapes).
template <class E, class F>
void check_error(F f, std::initializer_list<std::string> fragments) {
  bool thrown = false;
  std::string expected;
  for (const auto& frag : fragments) expected += " '" + frag + "'";
  try {
    f();
  } catch (const E& e) {
    thrown = true;
    const std::string what = e.what();
    for (const auto& frag : fragments)
      CHECK_MESSAGE(what.find(frag) != std::string::npos, "'" << frag << "' not in: " << what);
  }
  CHECK_MESSAGE(thrown, "expected an exception naming" << expected);
}

// After an op threw, the thread's tape still records and differentiates: d/dx sum(x * x) = 2x.
inline void check_tape_still_works() {
  tg::Tensor x = tg::Tensor::param(xt::xarray<double>{1.5, -2.0, 0.5});
  tg::Tensor loss = tg::sum(x * x);
  loss.backward();
  check_close(x.grad().value<double>(), xt::xarray<double>{3.0, -4.0, 1.0});
}

// f (a function of std::vector<Tensor>) gives the same forward values, and the same
// gradients of sum(f), in float as in double (within 1e-5).
template <class F>
void check_float_matches_double(F f, const std::vector<xt::xarray<double>>& inputs) {
  std::vector<tg::Tensor> xd;
  std::vector<tg::Tensor> xf;
  for (const auto& v : inputs) {
    xd.push_back(tg::Tensor::param(v));
    xf.push_back(tg::Tensor::param(xt::xarray<float>(xt::cast<float>(v))));
  }
  // One backward releases the whole tape, so each precision runs forward + backward in turn.
  const tg::Tensor yd = f(xd);
  tg::sum(yd).backward();
  const Tensor yf = f(xf);
  tg::sum(yf).backward();
  check_close(yf.value<float>(), yd.to_xarray<float>(), 1e-5);
  for (std::size_t k = 0; k < inputs.size(); ++k) {
    CAPTURE(k);
    check_close(xf[k].grad().to_xarray<double>(), xd[k].grad().to_xarray<double>(), 1e-5);
  }
}

// A double parameter whose elements are at least lo away from 0 (uniform magnitude in
// [lo, hi), alternating sign): keeps relu and friends away from their kink.
inline tg::Tensor param_away_from_zero(const tg::Shape& shape, double lo = 0.1, double hi = 1.0) {
  xt::xarray<double> v = tg::uniform<double>(shape, lo, hi);
  for (std::size_t i = 0; i < v.size(); i += 2) v.data()[i] = -v.data()[i];
  return tg::Tensor::param(v);
}

}  // namespace tgtest
