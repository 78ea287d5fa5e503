#include "test_helpers.hpp"
// Reductions (autograd/ops_reduce.cpp): sum and mean over all elements or along one axis,
// keepdims on or off, negative axes. Gradchecks in double; values against plain loops.
#include <cmath>
#include <vector>

#include "op_checks.hpp"

using tg::Shape;
using tg::Tensor;

using tgtest::check_close;
using tgtest::check_error;

namespace {

// The reference: every element of x is added into the output cell that has its index with
// the reduced axis set to 0 (then divided by the axis' size for a mean).
xt::xarray<double> reduce_reference(const xt::xarray<double>& x, std::size_t axis, bool keepdims,
                                    bool mean) {
  const Shape xs(x.shape().begin(), x.shape().end());
  Shape kept = xs;
  kept[axis] = 1;
  xt::xarray<double> out = xt::zeros<double>(kept);
  for (std::size_t i = 0; i < x.size(); ++i) {
    Shape idx = tgtest::unravel(i, xs);
    idx[axis] = 0;
    out.data()[tgtest::ravel(idx, kept)] += x.data()[i];
  }
  if (mean) out /= double(x.shape()[axis]);
  if (!keepdims) {
    Shape dropped;
    for (std::size_t d = 0; d < kept.size(); ++d)
      if (d != axis) dropped.push_back(kept[d]);
    out.reshape(dropped);
  }
  return out;
}

using AxisReduce = tg::Tensor (*)(const tg::Tensor&, long, bool);
const AxisReduce kSumAxis = &tg::sum;
const AxisReduce kMeanAxis = &tg::mean;

// Along every axis of a [2, 3, 4] tensor, positive and negative spellings: gradcheck, and
// values (and shape) against reduce_reference.
void check_axis_reduction(AxisReduce op, bool mean, bool keepdims) {
  tg::manual_seed(17);
  const tg::Tensor x = tgtest::param({2, 3, 4});
  for (long axis : {0L, 1L, 2L, -1L, -2L, -3L}) {
    CAPTURE(axis);
    const tg::GradcheckFn f = [op, axis, keepdims](const std::vector<Tensor>& in) {
      return op(in[0], axis, keepdims);
    };
    const std::vector<Tensor> inputs = {x};
    CHECK_GRADCHECK(f, inputs);
    const std::size_t ax = axis < 0 ? std::size_t(axis + 3) : std::size_t(axis);
    check_close(op(x, axis, keepdims).value<double>(), reduce_reference(x.to_xarray<double>(), ax, keepdims, mean));
  }
}

using AllReduce = tg::Tensor (*)(const tg::Tensor&);

// Over all elements of a [3, 4] tensor: shape [], value the plain loop's total (or average).
void check_all_reduction(AllReduce op, bool mean) {
  tg::manual_seed(19);
  const tg::Tensor x = tgtest::param({3, 4});
  const tg::GradcheckFn f = [op](const std::vector<Tensor>& in) { return op(in[0]); };
  const std::vector<Tensor> inputs = {x};
  CHECK_GRADCHECK(f, inputs);
  double total = 0;
  for (double v : x.to_xarray<double>()) total += v;
  const tg::Tensor y = op(x);
  CHECK(y.shape() == Shape{});
  CHECK(y.item() == doctest::Approx(mean ? total / 12 : total).epsilon(1e-14));
}

}  // namespace

// ===== gradchecks: all elements, each axis, keepdims on and off =====

TEST_CASE("sum: gradcheck and values over all elements") { check_all_reduction(static_cast<AllReduce>(&tg::sum), false); }
TEST_CASE("mean: gradcheck and values over all elements") { check_all_reduction(static_cast<AllReduce>(&tg::mean), true); }
TEST_CASE("sum: gradcheck and values along each axis, keepdims=false") { check_axis_reduction(kSumAxis, false, false); }
TEST_CASE("sum: gradcheck and values along each axis, keepdims=true") { check_axis_reduction(kSumAxis, false, true); }
TEST_CASE("mean: gradcheck and values along each axis, keepdims=false") { check_axis_reduction(kMeanAxis, true, false); }
TEST_CASE("mean: gradcheck and values along each axis, keepdims=true") { check_axis_reduction(kMeanAxis, true, true); }

// ===== hand-computed values and gradients =====

TEST_CASE("sum, mean: hand-computed values and shapes of a [2, 3] matrix") {
  const tg::Tensor x = tg::Tensor::constant(xt::xarray<double>{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  CHECK(tg::sum(x).item() == 21.0);
  CHECK(tg::mean(x).item() == 3.5);
  check_close(tg::sum(x, 0).value<double>(), {5.0, 7.0, 9.0});
  check_close(tg::sum(x, -1).value<double>(), {6.0, 15.0});
  xt::xarray<double> row_sums = {6.0, 15.0};
  row_sums.reshape({2, 1});  // keepdims: [2, 1]
  check_close(tg::sum(x, 1, true).value<double>(), row_sums);
  check_close(tg::mean(x, 0, true).value<double>(), {{2.5, 3.5, 4.5}});
  check_close(tg::mean(x, -1).value<double>(), {2.0, 5.0});
  CHECK(tg::sum(tg::Tensor::constant(xt::xarray<double>{4.0, -1.0}), 0).shape() == Shape{});  // 1-D to a scalar
}

TEST_CASE("mean: the gradient spreads 1/n to every element of its line") {
  tg::Tensor x = tg::Tensor::param(xt::xarray<double>{{1.0, 2.0, 3.0, 4.0}, {5.0, 6.0, 7.0, 8.0}});
  tg::Tensor y = tg::mean(x, 1) * tg::Tensor::constant(xt::xarray<double>{1.0, 2.0});  // [2]
  tg::sum(y).backward();
  check_close(x.grad().value<double>(), {{0.25, 0.25, 0.25, 0.25}, {0.5, 0.5, 0.5, 0.5}});
}

// ===== errors =====

TEST_CASE("sum, mean: an axis outside -rank..rank-1 is rejected") {
  const tg::Tensor x = tgtest::param({2, 3, 4});
  check_error<std::invalid_argument>([&] { tg::sum(x, 3); }, {"sum", "axis 3", "rank 3"});
  check_error<std::invalid_argument>([&] { tg::sum(tg::exp(x), -4, true); }, {"sum", "axis -4"});
  check_error<std::invalid_argument>([&] { tg::mean(x, 5); }, {"mean", "axis 5"});
  check_error<std::invalid_argument>([&] { tg::mean(x, -4, true); }, {"mean", "axis -4"});
  check_error<std::invalid_argument>([&] { tg::sum(tg::Tensor::scalar(1.0, tg::kFloat64, true), 0); }, {"sum", "rank 0"});
  tgtest::check_tape_still_works();
}

TEST_CASE("mean: over an empty tensor or an empty axis is NaN, as in PyTorch; an empty sum is 0") {
  const tg::Tensor empty = tg::Tensor::zeros({2, 0}, tg::kFloat64, true);
  CHECK(std::isnan(tg::mean(empty).item()));
  const tg::Tensor m = tg::mean(empty, 1);
  REQUIRE(m.shape() == tg::Shape{2});
  CHECK(std::isnan(m.data<double>()[0]));
  CHECK(std::isnan(m.data<double>()[1]));
  CHECK(tg::sum(empty).item() == 0.0);
  tg::sum(tg::mean(empty, 1)).backward();  // backward through NaN into an empty gradient
  CHECK_FALSE(empty.grad().defined());  // a tensor of no elements never holds a gradient
  tgtest::check_tape_still_works();
}

// ===== float instantiation =====

TEST_CASE("reduce: float forward values and gradients match double") {
  const auto f = [](const auto& x) {
    const auto& a = x[0];  // [3, 4]
    return tg::mean(a, 0) * tg::sum(a, -1, true) + tg::sum(a) - tg::mean(a) + tg::mean(a, 1, true);
  };
  tg::manual_seed(23);
  tgtest::check_float_matches_double(f, {tg::uniform<double>({3, 4}, -1.0, 1.0)});
}
