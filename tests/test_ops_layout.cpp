// Layout ops (autograd/ops_layout.cpp: permute, transpose(x, a, b), expand) and the axis views
// of ops_shape.cpp (unsqueeze, squeeze, flatten) with stack. Gradchecks in double; values
// against element-by-element index arithmetic written here.
#include <numeric>
#include <vector>

#include "op_checks.hpp"

using tg::Shape;
using tg::Tensor;

using tgtest::check_close;
using tgtest::check_error;
using tgtest::ravel;
using tgtest::unravel;

namespace {

// out[idx] = x[idx'] with idx'[dims[d]] = idx[d].
xt::xarray<double> permute_reference(const xt::xarray<double>& x, const std::vector<std::size_t>& dims) {
  const Shape xs(x.shape().begin(), x.shape().end());
  Shape os;
  for (std::size_t d : dims) os.push_back(xs[d]);
  xt::xarray<double> out = xt::xarray<double>::from_shape(os);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const Shape idx = unravel(i, os);
    Shape src(xs.size(), 0);
    for (std::size_t d = 0; d < dims.size(); ++d) src[dims[d]] = idx[d];
    out.data()[i] = x.data()[ravel(src, xs)];
  }
  return out;
}

void check_permute(const Shape& shape, const std::vector<std::size_t>& dims) {
  CAPTURE(tg::to_string(shape));
  tg::manual_seed(71);
  const Tensor x = tgtest::param(shape);
  const tg::GradcheckFn f = [dims](const std::vector<Tensor>& in) { return tg::permute(in[0], dims); };
  CHECK_GRADCHECK(f, std::vector<Tensor>{x});
  check_close(tg::permute(x, dims).value<double>(), permute_reference(x.to_xarray<double>(), dims));
}

// out[idx] = x[idx with repeated dims at 0], x aligned on the right.
xt::xarray<double> expand_reference(const xt::xarray<double>& x, const Shape& os) {
  const Shape xs(x.shape().begin(), x.shape().end());
  xt::xarray<double> out = xt::xarray<double>::from_shape(os);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const Shape idx = unravel(i, os);
    Shape src(xs.size(), 0);
    for (std::size_t d = 0; d < xs.size(); ++d) src[d] = xs[d] == 1 ? 0 : idx[os.size() - xs.size() + d];
    out.data()[i] = x.data()[ravel(src, xs)];
  }
  return out;
}

}  // namespace

// ===== permute and transpose(x, a, b) =====

TEST_CASE("permute: gradcheck and values in 2, 3 and 4 dimensions, and the identity") {
  check_permute({3, 4}, {1, 0});
  check_permute({2, 3, 4}, {2, 0, 1});
  check_permute({2, 3, 4, 5}, {1, 3, 0, 2});
  check_permute({2, 3, 4}, {0, 1, 2});
  check_permute({}, {});  // a scalar
}

TEST_CASE("permute: zero-size axes give an empty result of the permuted shape") {
  const Tensor x = tgtest::param({2, 0, 3});
  const Tensor y = tg::permute(x, {2, 1, 0});
  CHECK(y.shape() == Shape{3, 0, 2});
  tg::sum(y).backward();  // nothing to reach, and nothing breaks
}

TEST_CASE("transpose(x, a, b): gradcheck and values on any two axes, negative ones too") {
  tg::manual_seed(73);
  const Tensor x = tgtest::param({2, 3, 4});
  for (auto [a, b, dims] : std::vector<std::tuple<long, long, std::vector<std::size_t>>>{
           {0, 2, {2, 1, 0}}, {-1, 1, {0, 2, 1}}, {1, 1, {0, 1, 2}}, {-3, -2, {1, 0, 2}}}) {
    CAPTURE(a);
    CAPTURE(b);
    const tg::GradcheckFn f = [a = a, b = b](const std::vector<Tensor>& in) { return tg::transpose(in[0], a, b); };
    CHECK_GRADCHECK(f, std::vector<Tensor>{x});
    check_close(tg::transpose(x, a, b).value<double>(), permute_reference(x.to_xarray<double>(), dims));
  }
  // On a matrix it is the one-argument transpose.
  const Tensor m = tgtest::param({3, 5});
  check_close(tg::transpose(m, 0, 1).value<double>(), tg::transpose(m).value<double>());
}

// ===== expand =====

TEST_CASE("expand: gradcheck and values, size-1 axes and new leading axes repeat; broadcast_to is the same") {
  tg::manual_seed(79);
  for (auto [from, to] : std::vector<std::pair<Shape, Shape>>{
           {{3, 1}, {2, 3, 4}}, {{1}, {5}}, {{2, 3}, {2, 3}}, {{}, {2, 2}}, {{1, 3, 1}, {2, 3, 2}}}) {
    CAPTURE(tg::to_string(from));
    const Tensor x = tgtest::param(from);
    const tg::GradcheckFn f = [to = to](const std::vector<Tensor>& in) { return tg::expand(in[0], to); };
    CHECK_GRADCHECK(f, std::vector<Tensor>{x});
    check_close(tg::expand(x, to).value<double>(), expand_reference(x.to_xarray<double>(), to));
    check_close(tg::broadcast_to(x, to).value<double>(), expand_reference(x.to_xarray<double>(), to));
  }
}

TEST_CASE("expand: to a zero-size axis gives an empty result") {
  const Tensor x = tgtest::param({1, 4});
  CHECK(tg::expand(x, {0, 4}).shape() == Shape{0, 4});
  CHECK(tg::expand(x, {3, 0, 4}).numel() == 0);
}

// ===== unsqueeze, squeeze, flatten (views) and stack =====

TEST_CASE("unsqueeze, squeeze, flatten: shapes as in PyTorch, gradients pass through, and they are views") {
  const Tensor x = tgtest::param({2, 1, 3});
  CHECK(tg::unsqueeze(x, 0).shape() == Shape{1, 2, 1, 3});
  CHECK(tg::unsqueeze(x, 3).shape() == Shape{2, 1, 3, 1});
  CHECK(tg::unsqueeze(x, -1).shape() == Shape{2, 1, 3, 1});
  CHECK(tg::unsqueeze(x, -4).shape() == Shape{1, 2, 1, 3});
  CHECK(tg::squeeze(x).shape() == Shape{2, 3});
  CHECK(tg::squeeze(x, 1).shape() == Shape{2, 3});
  CHECK(tg::squeeze(x, -2).shape() == Shape{2, 3});
  CHECK(tg::squeeze(x, 0).shape() == Shape{2, 1, 3});  // not of size 1: unchanged
  CHECK(tg::squeeze(tgtest::param({1, 1})).shape() == Shape{});
  CHECK(tg::flatten(x).shape() == Shape{6});
  CHECK(tg::flatten(tgtest::param({2, 3, 4, 5}), 1, 2).shape() == Shape{2, 12, 5});
  CHECK(tg::flatten(tgtest::param({2, 3, 4, 5}), -2).shape() == Shape{2, 3, 20});
  CHECK(tg::flatten(tgtest::param({2, 0, 4}), 0, 1).shape() == Shape{0, 4});
  CHECK(tg::flatten(tg::Tensor::param(xt::xarray<double>(1.5))).shape() == Shape{1});
  for (const Tensor& v : {tg::unsqueeze(x, 1), tg::squeeze(x), tg::flatten(x)})
    CHECK(v.data<double>() == x.data<double>());  // the same memory (Note [views])
  tg::manual_seed(83);
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) {
    return tg::tanh(tg::flatten(tg::squeeze(tg::unsqueeze(in[0], -1), 1))) * tg::flatten(in[0]);
  };
  CHECK_GRADCHECK(f, std::vector<Tensor>{x});
}

TEST_CASE("stack: gradcheck and values on a new first, middle and last axis") {
  tg::manual_seed(89);
  const Tensor a = tgtest::param({2, 3}), b = tgtest::param({2, 3}), c = tgtest::param({2, 3});
  for (long axis : {0L, 1L, 2L, -1L, -3L}) {
    CAPTURE(axis);
    const tg::GradcheckFn f = [axis](const std::vector<Tensor>& in) { return tg::stack(in, axis); };
    CHECK_GRADCHECK(f, (std::vector<Tensor>{a, b, c}));
    const Tensor s = tg::stack({a, b, c}, axis);
    const std::size_t ax = axis < 0 ? std::size_t(axis + 3) : std::size_t(axis);
    for (std::size_t k = 0; k < 3; ++k)  // slice k of the new axis is input k
      check_close(tg::squeeze(tg::slice(s, long(ax), k, 1), long(ax)).value<double>(),
                  std::vector<Tensor>{a, b, c}[k].to_xarray<double>());
  }
  CHECK(tg::stack({tgtest::param({0, 2}), tgtest::param({0, 2})}, 1).shape() == Shape{0, 2, 2});
}

// ===== errors =====

TEST_CASE("layout ops: bad permutations, axes, target shapes and stacks name the op and the shapes") {
  const Tensor x = tgtest::param({2, 3, 4});
  check_error<std::invalid_argument>([&] { tg::permute(x, {0, 1}); }, {"permute", "not a permutation", "[2, 3, 4]"});
  check_error<std::invalid_argument>([&] { tg::permute(x, {0, 1, 1}); }, {"permute", "(0, 1, 1)"});
  check_error<std::invalid_argument>([&] { tg::permute(x, {0, 1, 3}); }, {"permute", "(0, 1, 3)"});
  check_error<std::invalid_argument>([&] { tg::transpose(x, 0, 3); }, {"transpose", "axis 3"});
  check_error<std::invalid_argument>([&] { tg::transpose(x, -4, 0); }, {"transpose", "axis -4"});
  check_error<std::invalid_argument>([&] { tg::expand(x, {2, 5, 4}); }, {"expand", "[2, 3, 4]", "[2, 5, 4]"});
  check_error<std::invalid_argument>([&] { tg::expand(x, {3, 4}); }, {"expand", "[2, 3, 4]", "[3, 4]"});
  check_error<std::invalid_argument>([&] { tg::expand(tgtest::param({1}), {std::size_t(1) << 40, std::size_t(1) << 40}); },
                                     {"expand"});
  check_error<std::invalid_argument>([&] { tg::stack({}, 0); }, {"stack", "at least one"});
  check_error<std::invalid_argument>([&] { tg::stack({x, tgtest::param({2, 4, 3})}, 0); },
                                     {"stack", "[2, 3, 4]", "[2, 4, 3]"});
  check_error<std::invalid_argument>([&] { tg::stack({x}, 4); }, {"stack", "axis 4"});
  check_error<std::invalid_argument>([&] { tg::unsqueeze(x, 4); }, {"unsqueeze", "axis 4"});
  check_error<std::invalid_argument>([&] { tg::squeeze(x, 3); }, {"squeeze", "axis 3"});
  check_error<std::invalid_argument>([&] { tg::flatten(x, 2, 1); }, {"flatten", "[2, 3, 4]"});
  tgtest::check_tape_still_works();
}

TEST_CASE("layout: float forward values and gradients match double") {
  const auto f = [](const auto& x) {
    const auto p = tg::permute(x[0], {2, 0, 1});                  // [4, 2, 3]
    const auto e = tg::expand(x[1], {4, 2, 3});                    // [3] repeated
    const auto s = tg::stack({p, e}, 1);                           // [4, 2, 2, 3]
    return tg::matmul(tg::transpose(s, 0, 2), tg::unsqueeze(x[1], -1));  // [2, 2, 4, 3] x [3, 1]
  };
  tg::manual_seed(97);
  tgtest::check_float_matches_double(f, {tg::uniform<double>({2, 3, 4}, -1, 1), tg::uniform<double>({3}, -1, 1)});
}
