#include "test_helpers.hpp"
// Neural-network ops (autograd/ops_nn.cpp): softmax, log_softmax, embedding, cross_entropy,
// mse, dropout. Gradchecks in double; values against loops written here.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "op_checks.hpp"

using tg::Shape;
using tg::Tensor;

using tgtest::check_close;
using tgtest::check_error;

namespace {

// softmax (or its log) along axis: each element's line is walked with the axis index varied.
xt::xarray<double> softmax_reference(const xt::xarray<double>& x, std::size_t axis, bool log) {
  const Shape xs(x.shape().begin(), x.shape().end());
  xt::xarray<double> out = xt::xarray<double>::from_shape(xs);
  for (std::size_t i = 0; i < x.size(); ++i) {
    Shape idx = tgtest::unravel(i, xs);
    double denom = 0;
    for (idx[axis] = 0; idx[axis] < xs[axis]; ++idx[axis]) denom += std::exp(x.data()[tgtest::ravel(idx, xs)]);
    out.data()[i] = log ? x.data()[i] - std::log(denom) : std::exp(x.data()[i]) / denom;
  }
  return out;
}

// mean over rows of -log(exp(logit[target]) / sum_c exp(logit[c])), logits seen as [N, C].
double cross_entropy_reference(const xt::xarray<double>& logits, const std::vector<std::int64_t>& targets) {
  const std::size_t C = logits.shape().back(), N = logits.size() / C;
  double loss = 0;
  for (std::size_t r = 0; r < N; ++r) {
    double denom = 0;
    for (std::size_t c = 0; c < C; ++c) denom += std::exp(logits.data()[r * C + c]);
    loss -= std::log(std::exp(logits.data()[r * C + targets[r]]) / denom);
  }
  return loss / double(N);
}

using SoftmaxOp = tg::Tensor (*)(const tg::Tensor&, long);

// Along every axis of a [2, 3, 4] tensor: gradcheck, and values against softmax_reference.
void check_softmax(SoftmaxOp op, bool log) {
  tg::manual_seed(97);
  const tg::Tensor x = tgtest::param({2, 3, 4}, -2.0, 2.0);
  for (long axis : {0L, 1L, 2L, -1L}) {
    CAPTURE(axis);
    const tg::GradcheckFn f = [op, axis](const std::vector<Tensor>& in) { return op(in[0], axis); };
    const std::vector<Tensor> inputs = {x};
    CHECK_GRADCHECK(f, inputs);
    const std::size_t ax = axis < 0 ? std::size_t(axis + 3) : std::size_t(axis);
    check_close(op(x, axis).value<double>(), softmax_reference(x.to_xarray<double>(), ax, log));
  }
}

// Embedding rows for any integer id array: gradcheck of the [V=5, E=3] weight (repeated ids
// must scatter-add), and every output row a copy of its id's weight row.
template <class Ids>
void check_embedding(const Ids& ids) {
  tg::manual_seed(101);
  const tg::Tensor w = tgtest::param({5, 3});
  const tg::GradcheckFn f = [ids](const std::vector<Tensor>& in) { return tg::embedding(in[0], ids); };
  const std::vector<Tensor> inputs = {w};
  CHECK_GRADCHECK(f, inputs);

  const tg::Tensor y = tg::embedding(w, ids);
  Shape expected_shape(ids.shape().begin(), ids.shape().end());
  expected_shape.push_back(3);
  REQUIRE(y.shape() == expected_shape);
  for (std::size_t r = 0; r < ids.size(); ++r)
    for (std::size_t e = 0; e < 3; ++e) CHECK(y.data<double>()[r * 3 + e] == w.value<double>()(ids.data()[r], e));
}

// Cross-entropy of logits [..., C=4] against integer targets: gradcheck of the logits, and the
// loss against cross_entropy_reference.
template <class Ids>
void check_cross_entropy(const Shape& logits_shape, const Ids& targets) {
  tg::manual_seed(103);
  const tg::Tensor logits = tgtest::param(logits_shape, -2.0, 2.0);
  const tg::GradcheckFn f = [targets](const std::vector<Tensor>& in) { return tg::cross_entropy(in[0], targets); };
  const std::vector<Tensor> inputs = {logits};
  CHECK_GRADCHECK(f, inputs);
  const std::vector<std::int64_t> t(targets.begin(), targets.end());
  const tg::Tensor loss = tg::cross_entropy(logits, targets);
  CHECK(loss.shape() == Shape{});
  CHECK(loss.item() == doctest::Approx(cross_entropy_reference(logits.to_xarray<double>(), t)).epsilon(1e-12));
}

}  // namespace

// ===== softmax, log_softmax =====

TEST_CASE("softmax: gradcheck and values along each axis") { check_softmax(&tg::softmax, false); }
TEST_CASE("log_softmax: gradcheck and values along each axis") { check_softmax(&tg::log_softmax, true); }

TEST_CASE("softmax: rows sum to 1, hand-computed values, huge logits stay finite") {
  const tg::Tensor x = tg::Tensor::constant(xt::xarray<double>{{0.0, 1.0, 2.0}, {1000.0, 1001.0, 1002.0}});
  const tg::Tensor y = tg::softmax(x);  // both rows are softmax([0, 1, 2]) = e^k / (1 + e + e^2)
  const double d = 1 + std::exp(1.0) + std::exp(2.0);
  const xt::xarray<double> row = {1 / d, std::exp(1.0) / d, std::exp(2.0) / d};
  check_close(y.value<double>(), xt::xarray<double>(xt::stack(xt::xtuple(row, row))));
  for (std::size_t r = 0; r < 2; ++r) CHECK(y.value<double>()(r, 0) + y.value<double>()(r, 1) + y.value<double>()(r, 2) == doctest::Approx(1.0));
  const tg::Tensor ly = tg::log_softmax(x);
  check_close(ly.value<double>(), {{-std::log(d), 1 - std::log(d), 2 - std::log(d)}, {-std::log(d), 1 - std::log(d), 2 - std::log(d)}});
}

// ===== embedding =====

TEST_CASE("embedding: gradcheck and rows, repeated int64 ids") {
  check_embedding(xt::xarray<std::int64_t>{1, 3, 1, 0, 1});
}
TEST_CASE("embedding: gradcheck and rows, repeated int32 ids") {
  check_embedding(xt::xarray<std::int32_t>{4, 4, 2});
}
TEST_CASE("embedding: gradcheck and rows, 2-D ids [T,B]") {
  check_embedding(xt::xarray<std::int32_t>{{0, 2, 2}, {4, 0, 2}});
}

TEST_CASE("embedding: repeated ids add up their rows' gradients") {
  tg::Tensor w = tg::Tensor::param(xt::xarray<double>{{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}, {7.0, 8.0}});  // [V=4, E=2]
  const tg::Tensor y = tg::embedding(w, {1, 1, 3});
  check_close(y.value<double>(), {{3.0, 4.0}, {3.0, 4.0}, {7.0, 8.0}});
  tg::sum(y * tg::Tensor::constant(xt::xarray<double>{1.0, 10.0})).backward();
  check_close(w.grad().value<double>(), {{0.0, 0.0}, {2.0, 20.0}, {0.0, 0.0}, {1.0, 10.0}});
}

// ===== cross_entropy =====

TEST_CASE("cross_entropy: gradcheck and loss, logits [N,C] with int64 targets") {
  check_cross_entropy({5, 4}, xt::xarray<std::int64_t>{0, 3, 3, 1, 2});
}
TEST_CASE("cross_entropy: gradcheck and loss, logits [T,B,C] with int32 targets [T,B]") {
  check_cross_entropy({3, 2, 4}, xt::xarray<std::int32_t>{{1, 0}, {3, 3}, {2, 0}});
}

TEST_CASE("cross_entropy: hand-computed losses, huge logits stay finite") {
  CHECK(tg::cross_entropy(tg::Tensor::zeros({2, 4}, tg::kFloat64), {1, 3}).item() == doctest::Approx(std::log(4.0)));
  // -log softmax([1000, 0])[1] = 1000 + log(1 + e^-1000) = 1000
  CHECK(tg::cross_entropy(tg::Tensor::constant(xt::xarray<double>{{1000.0, 0.0}}), {1}).item() == doctest::Approx(1000.0));
  tg::Tensor logits = tg::Tensor::param(xt::xarray<double>{{2000.0, 0.0, -2000.0}});
  tg::Tensor loss = tg::cross_entropy(logits, {0});
  CHECK(loss.item() == doctest::Approx(0.0));
  loss.backward();
  check_close(logits.grad().value<double>(), {{0.0, 0.0, 0.0}});  // p = one-hot(target)
}

// ===== mse =====

TEST_CASE("mse: gradcheck with respect to prediction and target, values") {
  tg::manual_seed(107);
  const tg::Tensor p = tgtest::param({3, 4});
  const tg::Tensor t = tgtest::param({3, 4});
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) { return tg::mse(in[0], in[1]); };
  const std::vector<Tensor> inputs = {p, t};
  CHECK_GRADCHECK(f, inputs);
  double s = 0;
  for (std::size_t i = 0; i < 12; ++i) s += (p.data<double>()[i] - t.data<double>()[i]) * (p.data<double>()[i] - t.data<double>()[i]);
  CHECK(tg::mse(p, t).item() == doctest::Approx(s / 12).epsilon(1e-12));
}

TEST_CASE("mse: hand-computed value and gradients") {
  tg::Tensor p = tg::Tensor::param(xt::xarray<double>{1.0, 2.0, 3.0});
  tg::Tensor t = tg::Tensor::param(xt::xarray<double>{1.0, 0.0, 0.0});
  tg::Tensor loss = tg::mse(p, t);
  CHECK(loss.item() == doctest::Approx(13.0 / 3.0));
  loss.backward();  // d/dp = 2 (p - t) / 3, d/dt = -d/dp
  check_close(p.grad().value<double>(), {0.0, 4.0 / 3.0, 2.0});
  check_close(t.grad().value<double>(), {0.0, -4.0 / 3.0, -2.0});
}

// ===== dropout =====

TEST_CASE("dropout: gradcheck in train mode with p = 0.3 (the mask fixed by a seed)") {
  tg::manual_seed(109);
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) {
    tg::manual_seed(2024);  // the same mask on every call
    return tg::dropout(in[0], 0.3, true);
  };
  const std::vector<Tensor> inputs = {tgtest::param({4, 5})};
  CHECK_GRADCHECK(f, inputs);
}

TEST_CASE("dropout: train mode zeroes about p of the elements and scales survivors by 1/(1-p)") {
  const std::size_t n = 20000;
  const tg::Tensor x = tg::Tensor::full({n}, 2.0, tg::kFloat64);
  tg::manual_seed(113);
  const tg::Tensor y = tg::dropout(x, 0.3, true);
  std::size_t zeros = 0, scaled = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double v = y.data<double>()[i];
    zeros += v == 0.0;
    scaled += std::abs(v - 2.0 / 0.7) < 1e-12;
  }
  CHECK(zeros + scaled == n);                         // every element dropped or scaled
  CHECK(std::abs(double(zeros) / n - 0.3) < 0.013);  // 4 standard errors
  tg::manual_seed(113);
  CHECK(tg::dropout(x, 0.3, true).to_xarray<double>() == y.to_xarray<double>());  // same seed, same mask
  check_close(tg::dropout(x, 1.0, true).value<double>(), xt::zeros<double>({n}));
}

TEST_CASE("dropout: eval mode and p = 0 return the input values unchanged") {
  tg::manual_seed(127);
  tg::Tensor x = tgtest::param({3, 4});
  const xt::xarray<double> before = x.to_xarray<double>();
  check_close(tg::dropout(x, 0.3, false).value<double>(), before, 0.0);
  check_close(tg::dropout(x, 0.0, true).value<double>(), before, 0.0);
  check_close(tg::dropout(x, 1.0, false).value<double>(), before, 0.0);
  tg::sum(tg::dropout(x, 0.5, false) * 3.0).backward();  // gradient passes through unchanged
  check_close(x.grad().value<double>(), xt::xarray<double>(xt::ones<double>({3, 4}) * 3.0));
}

// ===== errors =====

TEST_CASE("softmax, log_softmax: a bad axis is rejected") {
  const tg::Tensor x = tgtest::param({2, 3});
  check_error<std::invalid_argument>([&] { tg::softmax(x, 2); }, {"softmax", "axis 2"});
  check_error<std::invalid_argument>([&] { tg::log_softmax(tg::exp(x), -3); }, {"log_softmax", "axis -3"});
  tgtest::check_tape_still_works();
}

TEST_CASE("embedding: ids out of range (too large or negative) are out_of_range") {
  const tg::Tensor w = tgtest::param({4, 2});
  check_error<std::out_of_range>([&] { tg::embedding(w, {0, 4}); }, {"embedding", "id 4", "[4, 2]"});
  check_error<std::out_of_range>([&] { tg::embedding(w, xt::xarray<std::int32_t>{{1, -1}}); },
                                 {"embedding", "id -1"});
  check_error<std::invalid_argument>([&] { tg::embedding(tgtest::param({4}), {0}); }, {"embedding", "[4]"});
  tgtest::check_tape_still_works();
}

TEST_CASE("cross_entropy: bad targets are out_of_range, mismatched shapes name both") {
  const tg::Tensor logits = tgtest::param({2, 3});
  check_error<std::out_of_range>([&] { tg::cross_entropy(logits, {0, 3}); }, {"cross_entropy", "target 3", "[2, 3]"});
  check_error<std::out_of_range>([&] { tg::cross_entropy(logits, xt::xarray<std::int32_t>{-1, 0}); },
                                 {"cross_entropy", "target -1"});
  check_error<std::invalid_argument>([&] { tg::cross_entropy(tg::tanh(logits), {0, 1, 2}); },
                                     {"cross_entropy", "[2, 3]", "[3]"});
  check_error<std::invalid_argument>([&] { tg::cross_entropy(logits, xt::xarray<std::int64_t>{{0, 1}}); },
                                     {"cross_entropy", "[2, 3]", "[1, 2]"});
  tgtest::check_tape_still_works();
}

TEST_CASE("mse: mismatched shapes name both") {
  check_error<std::invalid_argument>([] { tg::mse(tgtest::param({2, 3}), tgtest::param({3, 2})); },
                                     {"mse", "[2, 3]", "[3, 2]"});
  tgtest::check_tape_still_works();
}

TEST_CASE("dropout: p outside [0, 1] is rejected") {
  const tg::Tensor x = tgtest::param({3});
  for (double p : {-0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    CAPTURE(p);
    check_error<std::invalid_argument>([&] { tg::dropout(x, p, true); }, {"dropout", "[0, 1]"});
    check_error<std::invalid_argument>([&] { tg::dropout(x, p, false); }, {"dropout"});
  }
  tgtest::check_tape_still_works();
}

// ===== float instantiation =====

TEST_CASE("nn: float forward values and gradients match double") {
  const auto f = [](const auto& x) {
    using T = double;  // the scalars; the ops run in the tensors' dtype
    const auto z = tg::embedding(x[1], xt::xarray<std::int32_t>{2, 0, 2}) + x[0];  // [3, 4]
    tg::manual_seed(7);
    const auto dropped = tg::dropout(z, 0.3, true);
    return tg::cross_entropy(z, {3, 1, 0}) + tg::mse(tg::softmax(z, 0), tg::exp(tg::log_softmax(z))) +
           tg::mean(dropped) * T(0.5);
  };
  tg::manual_seed(131);
  tgtest::check_float_matches_double(f, {tg::uniform<double>({3, 4}, -1, 1), tg::uniform<double>({3, 4}, -1, 1)});
}

// ---- cross_entropy with a mask (padded steps of variable-length batches) ----

TEST_CASE("cross_entropy with mask: gradcheck, and padded rows get no gradient") {
  tg::manual_seed(61);
  const tg::IdTensor targets = xt::xarray<int>{{1, 0, 2}, {2, 1, 0}};  // [T=2, B=3]
  const tg::IdTensor mask = xt::xarray<int>{{1, 1, 1}, {1, 0, 0}};
  auto f = [&](const std::vector<Tensor>& in) { return tg::cross_entropy(in[0], targets, mask); };
  CHECK_GRADCHECK(f, (std::vector<Tensor>{tgtest::param({2, 3, 3})}));
  tg::Tensor logits = tgtest::param({2, 3, 3});
  tg::cross_entropy(logits, targets, mask).backward();
  for (std::size_t c = 0; c < 3; ++c) {
    CHECK(logits.grad().value<double>()(1, 1, c) == 0.0);
    CHECK(logits.grad().value<double>()(1, 2, c) == 0.0);
  }
}

TEST_CASE("cross_entropy with mask: the mean over kept rows equals a plain loop") {
  const xt::xarray<double> z = {{0.5, -1.0, 2.0}, {1.0, 1.0, 0.0}, {3.0, -2.0, 0.25}};
  const tg::IdTensor targets = xt::xarray<int>{2, 0, 5};  // the padded row's target is not read
  const tg::IdTensor mask = xt::xarray<int>{1, 1, 0};
  double want = 0;
  for (std::size_t r = 0; r < 2; ++r) {
    const double lse = std::log(std::exp(z(r, 0)) + std::exp(z(r, 1)) + std::exp(z(r, 2)));
    want += lse - z(r, std::size_t(targets.data()[r]));
  }
  CHECK(tg::cross_entropy(tg::Tensor::constant(z), targets, mask).item() == doctest::Approx(want / 2).epsilon(1e-12));
  CHECK_THROWS_WITH_AS(tg::cross_entropy(tg::Tensor::constant(z), targets, tg::IdTensor(xt::xarray<int>{0, 0, 0})),
                       doctest::Contains("selects no element"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(tg::cross_entropy(tg::Tensor::constant(z), targets, tg::IdTensor(xt::xarray<int>{1, 1})),
                       doctest::Contains("cross_entropy"), std::invalid_argument);
}
