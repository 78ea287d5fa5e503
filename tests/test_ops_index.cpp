// Indexing and comparisons (autograd/ops_index.cpp): eq ne lt le gt ge, where, masked_fill,
// gather / take_along_axis and index_select. Gradchecks in double; values against loops here.
#include <vector>

#include "op_checks.hpp"

using tg::IdTensor;
using tg::Shape;
using tg::Tensor;

using tgtest::check_close;
using tgtest::check_error;
using tgtest::ravel;
using tgtest::unravel;

namespace {

xt::xarray<double> values_of(const IdTensor& m) { return xt::cast<double>(m.array()); }

}  // namespace

// ===== comparisons =====

TEST_CASE("comparisons: 0/1 masks with broadcasting and against a scalar, no gradient recorded") {
  const Tensor a = Tensor::param(xt::xarray<double>{{1.0, 2.0, 3.0}, {3.0, 2.0, 1.0}});
  const Tensor b = Tensor::param(xt::xarray<double>{2.0, 2.0, 2.0});
  check_close(values_of(tg::eq(a, b)), {{0, 1, 0}, {0, 1, 0}});
  check_close(values_of(tg::ne(a, b)), {{1, 0, 1}, {1, 0, 1}});
  check_close(values_of(tg::lt(a, b)), {{1, 0, 0}, {0, 0, 1}});
  check_close(values_of(tg::le(a, b)), {{1, 1, 0}, {0, 1, 1}});
  check_close(values_of(tg::gt(a, b)), {{0, 0, 1}, {1, 0, 0}});
  check_close(values_of(tg::ge(a, b)), {{0, 1, 1}, {1, 1, 0}});
  check_close(values_of(tg::gt(a, 1.5)), {{0, 1, 1}, {1, 1, 0}});
  check_close(values_of(tg::eq(a, 3.0)), {{0, 0, 1}, {1, 0, 0}});
  CHECK(tg::lt(tgtest::param({2, 1}), tgtest::param({3})).shape() == Shape{2, 3});
  CHECK(tg::eq(tgtest::param({0, 3}), 1.0).shape() == Shape{0, 3});
  const Tensor nan = Tensor::constant(xt::xarray<double>{std::nan("")});
  CHECK(tg::eq(nan, nan).data()[0] == 0);  // IEEE: NaN equals nothing, as in PyTorch
  CHECK(tg::ne(nan, nan).data()[0] == 1);
}

// ===== where and masked_fill =====

TEST_CASE("where: gradcheck and values, condition and both branches broadcast") {
  tg::manual_seed(101);
  const IdTensor cond = tgtest::ids({3, 1}, {1, 0, 1});  // [3, 1]
  const Tensor a = tgtest::param({3, 4}), b = tgtest::param({4});
  const tg::GradcheckFn f = [cond](const std::vector<Tensor>& in) { return tg::where(cond, in[0], in[1]); };
  CHECK_GRADCHECK(f, (std::vector<Tensor>{a, b}));
  const xt::xarray<double> av = a.to_xarray<double>(), bv = b.to_xarray<double>();
  xt::xarray<double> expected = xt::zeros<double>({3, 4});
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t c = 0; c < 4; ++c) expected(r, c) = r != 1 ? av(r, c) : bv(c);
  check_close(tg::where(cond, a, b).value<double>(), expected);
}

TEST_CASE("where: the branch not taken never reaches the value or the gradient, inf and NaN included") {
  const Tensor x = Tensor::param(xt::xarray<double>{0.0, 4.0, -1.0});
  const IdTensor positive = tg::gt(x, 0.0);
  // sqrt and log are inf/NaN where x <= 0; the selected branch is finite everywhere.
  const Tensor y = tg::where(positive, tg::log(x), tg::mul_scalar(x, 2.0));
  check_close(y.value<double>(), {0.0, std::log(4.0), -2.0});
  tg::sum(y).backward();
  // At x = 0 log's own backward is 0/0 whatever where passes it (PyTorch's pitfall too: mask
  // the input, not the output); the other places get exactly the taken branch's gradient.
  CHECK(x.grad().data<double>()[1] == doctest::Approx(0.25));
  CHECK(x.grad().data<double>()[2] == doctest::Approx(2.0));
}

TEST_CASE("masked_fill: gradcheck and values; the mask broadcasts to x and filled places get no gradient") {
  tg::manual_seed(103);
  const IdTensor mask = xt::xarray<std::int64_t>{0, 1, 0, 1};  // [4] against x [2, 4]
  const Tensor x = tgtest::param({2, 4});
  const tg::GradcheckFn f = [mask](const std::vector<Tensor>& in) { return tg::masked_fill(in[0], mask, -5.0); };
  CHECK_GRADCHECK(f, std::vector<Tensor>{x});
  xt::xarray<double> expected = x.to_xarray<double>();
  for (std::size_t r = 0; r < 2; ++r) expected(r, 1) = expected(r, 3) = -5.0;
  check_close(tg::masked_fill(x, mask, -5.0).value<double>(), expected);
  tg::sum(tg::masked_fill(x, mask, -5.0)).backward();
  check_close(x.grad().value<double>(), {{1, 0, 1, 0}, {1, 0, 1, 0}});
  // The attention idiom: -inf where masked, then softmax gives those positions exactly zero.
  const Tensor scores = tgtest::param({2, 3});
  const IdTensor pad = xt::xarray<std::int64_t>{{0, 0, 1}, {0, 1, 1}};
  const Tensor p = tg::softmax(tg::masked_fill(scores, pad, -INFINITY), -1);
  CHECK(p.value<double>()(0, 2) == 0.0);
  CHECK(p.value<double>()(1, 1) == 0.0);
  CHECK(p.value<double>()(1, 0) == 1.0);
}

// ===== gather and index_select =====

TEST_CASE("gather: gradcheck and values along each axis, repeated indices accumulate") {
  tg::manual_seed(107);
  const Tensor x = tgtest::param({3, 4});
  const xt::xarray<double> xv = x.to_xarray<double>();
  const IdTensor rows = xt::xarray<std::int64_t>{{2, 0, 2, 1}, {2, 2, 0, 0}};  // axis 0: [2, 4]
  const IdTensor cols = xt::xarray<std::int64_t>{{3, 3}, {0, 1}, {2, 2}};      // axis 1: [3, 2]
  for (auto [axis, index] : std::vector<std::pair<long, IdTensor>>{{0, rows}, {1, cols}, {-1, cols}}) {
    CAPTURE(axis);
    const tg::GradcheckFn f = [axis = axis, index = index](const std::vector<Tensor>& in) {
      return tg::gather(in[0], axis, index);
    };
    CHECK_GRADCHECK(f, std::vector<Tensor>{x});
    const Shape is = index.shape();
    xt::xarray<double> expected = xt::zeros<double>(is);
    for (std::size_t i = 0; i < index.size(); ++i) {
      Shape idx = unravel(i, is);
      idx[axis == 0 ? 0 : 1] = std::size_t(index.data()[i]);
      expected.data()[i] = xv.data()[ravel(idx, {3, 4})];
    }
    check_close(tg::gather(x, axis, index).value<double>(), expected);
    check_close(tg::take_along_axis(x, index, axis).value<double>(), expected);
  }
  Tensor y = tgtest::param({3});
  tg::sum(tg::gather(y, 0, IdTensor{1, 1, 1, 2})).backward();
  check_close(y.grad().value<double>(), {0.0, 3.0, 1.0});  // index 1 three times
}

TEST_CASE("index_select: gradcheck and values along the first, middle and last axis, with repeats") {
  tg::manual_seed(109);
  const Tensor x = tgtest::param({3, 4, 2});
  const IdTensor index{2, 0, 2};
  for (long axis : {0L, 1L, -1L}) {
    CAPTURE(axis);
    const IdTensor idx = axis == -1 ? IdTensor{1, 1, 0} : index;
    const tg::GradcheckFn f = [axis, idx](const std::vector<Tensor>& in) { return tg::index_select(in[0], axis, idx); };
    CHECK_GRADCHECK(f, std::vector<Tensor>{x});
    const std::size_t ax = axis < 0 ? 2 : std::size_t(axis);
    const Tensor y = tg::index_select(x, axis, idx);
    for (std::size_t k = 0; k < 3; ++k)  // slice k of y along the axis is slice idx[k] of x
      check_close(tg::slice(y, long(ax), k, 1).value<double>(),
                  tg::slice(x, long(ax), std::size_t(idx.data()[k]), 1).to_xarray<double>());
  }
  CHECK(tg::index_select(x, 1, xt::xarray<std::int64_t>(xt::zeros<std::int64_t>({0}))).shape() == Shape{3, 0, 2});
}

// ===== errors =====

TEST_CASE("indexing: out-of-range indices are out_of_range; shapes and ranks are invalid_argument") {
  const Tensor x = tgtest::param({3, 4});
  check_error<std::out_of_range>([&] { tg::gather(x, 1, tgtest::ids({1, 1}, {4})); }, {"gather", "index 4", "axis 1"});
  check_error<std::out_of_range>([&] { tg::gather(x, 0, tgtest::ids({1, 1}, {-1})); }, {"gather", "index -1"});
  check_error<std::invalid_argument>([&] { tg::gather(x, 0, IdTensor{0}); }, {"gather", "rank", "[3, 4]", "[1]"});
  check_error<std::invalid_argument>([&] { tg::gather(x, 0, xt::xarray<std::int64_t>{{0, 0, 0, 0, 0}}); },
                                     {"gather", "[3, 4]", "[1, 5]"});
  check_error<std::invalid_argument>([&] { tg::gather(x, 2, tgtest::ids({1, 1}, {0})); }, {"gather", "axis 2"});
  check_error<std::out_of_range>([&] { tg::index_select(x, 0, IdTensor{0, 3}); }, {"index_select", "index 3", "size 3"});
  check_error<std::invalid_argument>([&] { tg::index_select(x, 0, tgtest::ids({1, 1}, {0})); }, {"index_select", "1-D"});
  check_error<std::invalid_argument>([&] { tg::masked_fill(x, IdTensor{1, 0, 1}, 0.0); }, {"masked_fill", "[3, 4]", "[3]"});
  check_error<std::invalid_argument>([&] { tg::masked_fill(tgtest::param({4}), xt::xarray<std::int64_t>{{1, 0, 1, 0}}, 0.0); },
                                     {"masked_fill", "[4]", "[1, 4]"});
  check_error<std::invalid_argument>([&] { tg::where(IdTensor{1, 0}, x, x); }, {"where", "[2]", "[3, 4]"});
  check_error<std::invalid_argument>([&] { tg::where(IdTensor{1, 0, 1, 0}, x, tgtest::param({3})); }, {"where", "[3]"});
  check_error<std::invalid_argument>([&] { tg::eq(x, tgtest::param({3})); }, {"eq", "[3, 4]", "[3]"});
  check_error<std::invalid_argument>([&] { tg::where(IdTensor{1}, x, Tensor::param(tg::uniform<float>({3, 4}, -1, 1))); },
                                     {"where", "float64", "float32"});
  tgtest::check_tape_still_works();
}

TEST_CASE("indexing: float forward values and gradients match double") {
  const auto f = [](const auto& x) {
    const IdTensor idx{2, 0, 1};
    const auto picked = tg::index_select(x[0], 1, idx);                                  // [2, 3]
    const auto g = tg::gather(picked, 1, xt::xarray<std::int64_t>{{0, 0}, {2, 1}});      // [2, 2]
    return tg::where(tg::gt(g, 0.0), g, tg::masked_fill(g, IdTensor{1, 0}, 0.5));
  };
  tg::manual_seed(113);
  tgtest::check_float_matches_double(f, {tg::uniform<double>({2, 3}, -1, 1)});
}
