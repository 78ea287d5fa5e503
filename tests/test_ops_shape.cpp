#include "test_helpers.hpp"
// Shape ops (autograd/ops_shape.cpp): reshape, concat, slice (narrow), split, chunk.
// Gradchecks in double; values against element-by-element index arithmetic written here.
#include <vector>

#include "op_checks.hpp"

using tg::Shape;
using tg::Tensor;

using tgtest::check_close;
using tgtest::check_error;
using tgtest::ravel;
using tgtest::unravel;

namespace {

// out[idx] = x[idx with idx[axis] + start]: elements [start, start + length) along axis.
xt::xarray<double> slice_reference(const xt::xarray<double>& x, std::size_t axis, std::size_t start,
                                   std::size_t length) {
  const Shape xs(x.shape().begin(), x.shape().end());
  Shape os = xs;
  os[axis] = length;
  xt::xarray<double> out = xt::xarray<double>::from_shape(os);
  for (std::size_t i = 0; i < out.size(); ++i) {
    Shape idx = unravel(i, os);
    idx[axis] += start;
    out.data()[i] = x.data()[ravel(idx, xs)];
  }
  return out;
}

// Every element of input k lands at its own index, shifted along axis by the sizes before it.
xt::xarray<double> concat_reference(const std::vector<xt::xarray<double>>& xs, std::size_t axis) {
  Shape os(xs[0].shape().begin(), xs[0].shape().end());
  os[axis] = 0;
  for (const auto& x : xs) os[axis] += x.shape()[axis];
  xt::xarray<double> out = xt::xarray<double>::from_shape(os);
  std::size_t offset = 0;
  for (const auto& x : xs) {
    const Shape s(x.shape().begin(), x.shape().end());
    for (std::size_t i = 0; i < x.size(); ++i) {
      Shape idx = unravel(i, s);
      idx[axis] += offset;
      out.data()[ravel(idx, os)] = x.data()[i];
    }
    offset += s[axis];
  }
  return out;
}

// Three parameters of the given shapes concatenated along axis: gradcheck with respect to all
// three, and values against concat_reference.
void check_concat(const std::vector<Shape>& shapes, long axis) {
  tg::manual_seed(61);
  std::vector<Tensor> inputs;
  std::vector<xt::xarray<double>> values;
  for (const Shape& s : shapes) {
    inputs.push_back(tgtest::param(s));
    values.push_back(inputs.back().to_xarray<double>());
  }
  const tg::GradcheckFn f = [axis](const std::vector<Tensor>& in) { return tg::concat(in, axis); };
  CHECK_GRADCHECK(f, inputs);
  const std::size_t ax = axis < 0 ? std::size_t(axis + long(shapes[0].size())) : std::size_t(axis);
  check_close(tg::concat(inputs, axis).value<double>(), concat_reference(values, ax));
}

// slice(x, axis, start, length) of a [3, 4, 5] parameter: gradcheck and values.
void check_slice(long axis, std::size_t start, std::size_t length) {
  tg::manual_seed(67);
  const tg::Tensor x = tgtest::param({3, 4, 5});
  const tg::GradcheckFn f = [=](const std::vector<Tensor>& in) { return tg::slice(in[0], axis, start, length); };
  const std::vector<Tensor> inputs = {x};
  CHECK_GRADCHECK(f, inputs);
  const std::size_t ax = axis < 0 ? std::size_t(axis + 3) : std::size_t(axis);
  check_close(tg::slice(x, axis, start, length).value<double>(), slice_reference(x.to_xarray<double>(), ax, start, length));
}

}  // namespace

// ===== reshape =====

TEST_CASE("reshape: gradcheck and values, [2,3,4] to [6,4], [24] and [4,1,6]") {
  tg::manual_seed(71);
  const tg::Tensor x = tgtest::param({2, 3, 4});
  for (const Shape& to : {Shape{6, 4}, Shape{24}, Shape{4, 1, 6}}) {
    CAPTURE(tg::to_string(to));
    const tg::GradcheckFn f = [to](const std::vector<Tensor>& in) { return tg::reshape(in[0], to); };
    const std::vector<Tensor> inputs = {x};
    CHECK_GRADCHECK(f, inputs);
    const tg::Tensor y = tg::reshape(x, to);
    REQUIRE(y.shape() == to);
    for (std::size_t i = 0; i < 24; ++i) CHECK(y.data<double>()[i] == x.data<double>()[i]);  // same elements, same order
  }
  CHECK(tg::reshape(tg::Tensor::constant(xt::xarray<double>{2.5}), {}).item() == 2.5);  // [1] to a scalar
}

// ===== concat: three inputs of different sizes along the axis =====

TEST_CASE("concat: gradcheck and values along axis 0") { check_concat({{1, 4}, {2, 4}, {3, 4}}, 0); }
TEST_CASE("concat: gradcheck and values along axis 1") { check_concat({{3, 1}, {3, 2}, {3, 4}}, 1); }
TEST_CASE("concat: gradcheck and values along the last axis (-1) of 3-D tensors") {
  check_concat({{2, 3, 1}, {2, 3, 2}, {2, 3, 3}}, -1);
}
TEST_CASE("concat: gradcheck and values along the middle axis of 3-D tensors") {
  check_concat({{2, 1, 4}, {2, 3, 4}, {2, 2, 4}}, 1);
}

TEST_CASE("concat: hand-computed values, a constant input gets no gradient") {
  tg::Tensor a = tg::Tensor::param(xt::xarray<double>{{1.0, 2.0}, {3.0, 4.0}});  // [2, 2]
  xt::xarray<double> column = {5.0, 6.0};
  column.reshape({2, 1});
  const tg::Tensor b = tg::Tensor::constant(column);           // [2, 1]
  const tg::Tensor y = tg::concat({a, b}, 1);
  check_close(y.value<double>(), {{1.0, 2.0, 5.0}, {3.0, 4.0, 6.0}});
  check_close(tg::concat({a, a}, 0).value<double>(), {{1.0, 2.0}, {3.0, 4.0}, {1.0, 2.0}, {3.0, 4.0}});
  tg::sum(y * tg::Tensor::constant(xt::xarray<double>{1.0, 2.0, 3.0})).backward();
  check_close(a.grad().value<double>(), {{1.0, 2.0}, {1.0, 2.0}});
  CHECK_THROWS_AS(b.grad(), std::logic_error);
}

// ===== slice =====

TEST_CASE("slice: gradcheck and values along axis 0") { check_slice(0, 1, 2); }
TEST_CASE("slice: gradcheck and values along axis 1") { check_slice(1, 2, 2); }
TEST_CASE("slice: gradcheck and values along the last axis (-1)") { check_slice(-1, 0, 3); }
TEST_CASE("slice: gradcheck and values, the whole axis and an empty slice") {
  check_slice(2, 0, 5);
  CHECK(tg::slice(tgtest::param({3, 4}), 1, 4, 0).shape() == Shape{3, 0});
}

// ===== split and chunk =====

// The pieces are put back in reverse order, so gradcheck sees every piece land in its own place.
TEST_CASE("split: gradcheck and values, sizes {1, 3, 2} along axis 1") {
  tg::manual_seed(73);
  const tg::Tensor x = tgtest::param({2, 6, 3});
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) {
    auto p = tg::split(in[0], {1, 3, 2}, 1);
    return tg::concat({p[2], p[1] * 2.0, p[0]}, 1);
  };
  const std::vector<Tensor> inputs = {x};
  CHECK_GRADCHECK(f, inputs);
  const auto pieces = tg::split(x, {1, 3, 2}, -2);
  REQUIRE(pieces.size() == 3);
  check_close(pieces[0].value<double>(), slice_reference(x.to_xarray<double>(), 1, 0, 1));
  check_close(pieces[1].value<double>(), slice_reference(x.to_xarray<double>(), 1, 1, 3));
  check_close(pieces[2].value<double>(), slice_reference(x.to_xarray<double>(), 1, 4, 2));
}

// LSTM gate slicing: gates [B, 4H] -> i, f, g, o, each [B, H]; c' = f c + i g; h' = o tanh(c').
TEST_CASE("chunk: gradcheck and values, the 4 gates of a [B,4H] tensor") {
  const std::size_t B = 2, H = 3;
  tg::manual_seed(79);
  const tg::Tensor gates = tgtest::param({B, 4 * H});
  const tg::Tensor c = tgtest::param({B, H});
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) {
    const auto g = tg::chunk(in[0], 4, 1);
    const tg::Tensor c_next = tg::sigmoid(g[1]) * in[1] + tg::sigmoid(g[0]) * tg::tanh(g[2]);
    return tg::sigmoid(g[3]) * tg::tanh(c_next);
  };
  const std::vector<Tensor> inputs = {gates, c};
  CHECK_GRADCHECK(f, inputs);
  const auto g = tg::chunk(gates, 4, -1);
  REQUIRE(g.size() == 4);
  for (std::size_t k = 0; k < 4; ++k) {
    CAPTURE(k);
    xt::xarray<double> expected = xt::zeros<double>({B, H});  // columns [kH, (k+1)H)
    for (std::size_t b = 0; b < B; ++b)
      for (std::size_t h = 0; h < H; ++h) expected(b, h) = gates.value<double>()(b, k * H + h);
    check_close(g[k].value<double>(), expected);
  }
}

TEST_CASE("chunk: gradcheck along axis 0 of a [6,2] tensor") {
  tg::manual_seed(83);
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) {
    auto p = tg::chunk(in[0], 3, 0);
    return p[0] * p[1] - p[2];
  };
  const std::vector<Tensor> inputs = {tgtest::param({6, 2})};
  CHECK_GRADCHECK(f, inputs);
}

// ===== errors =====

TEST_CASE("views: reshape and row slices share their input's memory and keep it alive") {
  tg::Tensor kept_reshape, kept_slice;
  const float* base_data = nullptr;
  {
    auto x = tg::Tensor::param(xt::arange<float>(24).reshape({6, 4}));  // dropped at the end of the block
    base_data = x.data<float>();
    kept_reshape = tg::reshape(tg::reshape(x, {24}), {2, 12});  // a view of a view: still x's memory
    kept_slice = tg::slice(x, 0, 2, 3);                          // rows 2-4
    CHECK(kept_reshape.data<float>() == base_data);
    CHECK(kept_slice.data<float>() == base_data + 8);
    CHECK(tg::slice(x, 1, 1, 2).data<float>() != base_data + 1);  // columns are not contiguous: a copy
    // Writing into the base shows through the view (Note [views]), as in PyTorch.
    x.mutable_data<float>()[9] = 100.f;
    CHECK(kept_slice.value<float>()(0, 1) == 100.f);
    tg::clear_tape();  // no node owns x now; only the views do
  }
  CHECK(kept_slice.value<float>()(2, 3) == 19.f);  // read after x's handle is gone (ASan: no use after free)
  CHECK(kept_reshape.value<float>()(1, 11) == 23.f);
  // Views hold no memory of their own: the tape's byte count is the base's alone.
  tg::clear_tape();
  auto y = tg::Tensor::param(xt::ones<float>({4, 8}));
  auto r = tg::reshape(tg::slice(y * 2.f, 0, 1, 2), {16});
  CHECK(tg::tape_stats().recorded_bytes == 4 * 8 * sizeof(float));
  tg::sum(r).backward();  // gradients are ordinary buffers: rows 1-2 get 2, the others 0
  CHECK(y.grad().value<float>()(0, 0) == 0.f);
  CHECK(y.grad().value<float>()(1, 0) == 2.f);
  CHECK(y.grad().value<float>()(2, 7) == 2.f);
  CHECK(y.grad().value<float>()(3, 7) == 0.f);
}

TEST_CASE("reshape: a different element count names both shapes") {
  check_error<std::invalid_argument>([] { tg::reshape(tgtest::param({2, 3, 4}), {5, 5}); },
                                     {"reshape", "[2, 3, 4]", "[5, 5]"});
  tgtest::check_tape_still_works();
}

TEST_CASE("concat: mismatched shapes, ranks, an empty list or a bad axis are rejected") {
  const tg::Tensor a = tgtest::param({2, 3});
  check_error<std::invalid_argument>([&] { tg::concat({a, tgtest::param({4, 4})}, 0); },
                                     {"concat", "[2, 3]", "[4, 4]"});
  check_error<std::invalid_argument>([&] { tg::concat({tg::exp(a), tgtest::param({2, 3, 1})}, 1); },
                                     {"concat", "[2, 3]", "[2, 3, 1]"});
  check_error<std::invalid_argument>([] { tg::concat(std::vector<Tensor>{}, 0); }, {"concat"});
  check_error<std::invalid_argument>([&] { tg::concat({a, a}, 2); }, {"concat", "axis 2"});
  tgtest::check_tape_still_works();
}

TEST_CASE("slice: a range past the end is out_of_range, a bad axis is invalid_argument") {
  const tg::Tensor x = tgtest::param({3, 4});
  check_error<std::out_of_range>([&] { tg::slice(x, 1, 2, 3); }, {"slice", "[2, 5)", "[3, 4]"});
  check_error<std::out_of_range>([&] { tg::slice(x, 0, 4, 0); }, {"slice", "[3, 4]"});
  check_error<std::out_of_range>([&] { tg::slice(x, -1, 5, 1); }, {"slice", "[3, 4]"});
  check_error<std::invalid_argument>([&] { tg::slice(x, 2, 0, 1); }, {"slice", "axis 2"});
  check_error<std::invalid_argument>([&] { tg::slice(x, -3, 0, 1); }, {"slice", "axis -3"});
  tgtest::check_tape_still_works();
}

TEST_CASE("split, chunk: sizes that do not add up, indivisible axes and bad axes are rejected") {
  const tg::Tensor x = tgtest::param({2, 12});
  check_error<std::invalid_argument>([&] { tg::split(x, {5, 5}, 1); }, {"split", "10", "[2, 12]"});
  check_error<std::invalid_argument>([&] { tg::split(x, {1, 1}, 2); }, {"split", "axis 2"});
  check_error<std::invalid_argument>([&] { tg::chunk(x, 5, 1); }, {"chunk", "[2, 12]", "5"});
  check_error<std::invalid_argument>([&] { tg::chunk(x, 0, 1); }, {"chunk", "[2, 12]"});
  check_error<std::invalid_argument>([&] { tg::chunk(x, 2, -3); }, {"chunk", "axis -3"});
  tgtest::check_tape_still_works();
}

// ===== float instantiation =====

TEST_CASE("shape: float forward values and gradients match double") {
  const auto f = [](const auto& x) {
    using Vec = std::decay_t<decltype(x)>;  // std::vector<Tensor>
    const auto g = tg::chunk(x[0], 4, 1);                                           // 4 x [2, 2]
    const auto joined = tg::concat(Vec{g[3], g[0], tg::slice(x[1], 1, 1, 2)}, 0);  // [6, 2]
    const auto s = tg::split(joined, {2, 4}, 0);                                    // [2, 2], [4, 2]
    return tg::reshape(tg::tanh(s[1]), {2, 4}) * tg::reshape(tg::concat(Vec{s[0], s[0]}, 1), {2, 4});
  };
  tg::manual_seed(89);
  tgtest::check_float_matches_double(f, {tg::uniform<double>({2, 8}, -1, 1), tg::uniform<double>({2, 3}, -1, 1)});
}
