// Selecting reductions (autograd/ops_extrema.cpp): max/min with indices, amax/amin,
// argmax/argmin. Gradchecks in double (random values: no ties); ties, NaN and errors by hand.
#include <cmath>
#include <vector>

#include "op_checks.hpp"

using tg::IdTensor;
using tg::Shape;
using tg::Tensor;

using tgtest::check_close;
using tgtest::check_error;

namespace {

xt::xarray<double> values_of(const IdTensor& m) { return xt::cast<double>(m.array()); }

}  // namespace

TEST_CASE("max, min: gradcheck, values and indices along each axis, keepdims") {
  tg::manual_seed(127);
  const Tensor x = tgtest::param({3, 4, 2});
  const xt::xarray<double> xv = x.to_xarray<double>();
  for (long axis : {0L, 1L, 2L, -1L}) {
    for (bool keep : {false, true}) {
      CAPTURE(axis);
      CAPTURE(keep);
      const tg::GradcheckFn fmax = [axis, keep](const std::vector<Tensor>& in) { return tg::max(in[0], axis, keep).first; };
      const tg::GradcheckFn fmin = [axis, keep](const std::vector<Tensor>& in) { return tg::min(in[0], axis, keep).first; };
      CHECK_GRADCHECK(fmax, std::vector<Tensor>{x});
      CHECK_GRADCHECK(fmin, std::vector<Tensor>{x});
      const std::size_t ax = axis < 0 ? 2 : std::size_t(axis);
      const auto [mx, imx] = tg::max(x, axis, keep);
      const auto [mn, imn] = tg::min(x, axis, keep);
      xt::xarray<double> want_max = xt::amax(xv, {ax}), want_min = xt::amin(xv, {ax});
      xt::xarray<double> want_imax = xt::cast<double>(xt::argmax(xv, ax)), want_imin = xt::cast<double>(xt::argmin(xv, ax));
      if (keep) {
        Shape ks(xv.shape().begin(), xv.shape().end());
        ks[ax] = 1;
        for (auto* a : {&want_max, &want_min, &want_imax, &want_imin}) a->reshape(ks);
      }
      check_close(mx.value<double>(), want_max);
      check_close(mn.value<double>(), want_min);
      check_close(values_of(imx), want_imax);
      check_close(values_of(imn), want_imin);
      check_close(values_of(tg::argmax(x, axis, keep)), want_imax);
      check_close(values_of(tg::argmin(x, axis, keep)), want_imin);
      check_close(tg::amax(x, axis, keep).value<double>(), want_max);
      check_close(tg::amin(x, axis, keep).value<double>(), want_min);
    }
  }
}

TEST_CASE("amax, amin: gradcheck without ties; with ties the gradient is split evenly") {
  tg::manual_seed(131);
  const Tensor x = tgtest::param({3, 5});
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) { return tg::amax(in[0], 1, true) * tg::amin(in[0], 0, true); };
  CHECK_GRADCHECK(f, std::vector<Tensor>{x});
  Tensor t = Tensor::param(xt::xarray<double>{{1.0, 3.0, 3.0, 0.0}, {2.0, 2.0, 2.0, 2.0}});
  tg::sum(tg::amax(t, 1)).backward();
  check_close(t.grad().value<double>(), {{0.0, 0.5, 0.5, 0.0}, {0.25, 0.25, 0.25, 0.25}});
  // max with indices sends it all to the first of the ties, as PyTorch does.
  Tensor u = Tensor::param(xt::xarray<double>{{1.0, 3.0, 3.0, 0.0}});
  const auto [v, i] = tg::max(u, 1);
  CHECK(i.data()[0] == 1);
  tg::sum(v).backward();
  check_close(u.grad().value<double>(), {{0.0, 1.0, 0.0, 0.0}});
}

TEST_CASE("argmax, argmin: over the flattened tensor, first among ties; NaN is the extremum") {
  const Tensor x = Tensor::constant(xt::xarray<double>{{1.0, 5.0, 5.0}, {-2.0, 0.0, -2.0}});
  CHECK(tg::argmax(x).shape() == Shape{});
  CHECK(tg::argmax(x).data()[0] == 1);
  CHECK(tg::argmin(x).data()[0] == 3);
  const Tensor n = Tensor::constant(xt::xarray<double>{1.0, std::nan(""), 7.0, std::nan("")});
  CHECK(tg::argmax(n).data()[0] == 1);
  CHECK(tg::argmin(n).data()[0] == 1);
  CHECK(std::isnan(tg::max(n, 0).first.data<double>()[0]));
  CHECK(std::isnan(tg::amin(n, 0).data<double>()[0]));
  // A 0-D tensor is its own extremum, at index 0.
  const Tensor s = Tensor::param(xt::xarray<double>(2.5));
  CHECK(tg::max(s, 0).first.shape() == Shape{});
  CHECK(tg::argmax(s, -1).data()[0] == 0);
}

TEST_CASE("extrema: zero-size rows give empty results; an axis of size 0 has no extremum") {
  const Tensor e = tgtest::param({0, 3});
  CHECK(tg::max(e, 1).first.shape() == Shape{0});
  CHECK(tg::argmin(e, 1, true).shape() == Shape{0, 1});
  check_error<std::invalid_argument>([&] { tg::max(e, 0); }, {"max", "axis 0", "[0, 3]", "size 0"});
  check_error<std::invalid_argument>([&] { tg::amin(e, 0); }, {"amin", "size 0"});
  check_error<std::invalid_argument>([&] { tg::argmax(e); }, {"argmax", "empty"});
  check_error<std::invalid_argument>([&] { tg::argmax(tgtest::param({2, 3}), 2); }, {"argmax", "axis 2"});
  check_error<std::invalid_argument>([&] { tg::min(tgtest::param({2, 3}), -3); }, {"min", "axis -3"});
  tgtest::check_tape_still_works();
}

TEST_CASE("extrema: float forward values and gradients match double") {
  const auto f = [](const auto& x) { return tg::max(x[0], 1).first * tg::amin(x[0], 1); };
  tg::manual_seed(137);
  tgtest::check_float_matches_double(f, {tg::uniform<double>({3, 4}, -1, 1)});
}
