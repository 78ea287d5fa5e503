// Linear algebra (autograd/ops_linalg.cpp): matmul and linear on BLAS, transpose.
// Gradchecks in double; values against hand-computed numbers and plain triple loops.
#include <vector>

#include <xtensor-blas/xlinalg.hpp>  // an independent reference for the products

#include "op_checks.hpp"

using tg::Shape;
using tg::Tensor;

using tgtest::check_close;
using tgtest::check_error;

namespace {

// c[m, n] = sum_k a[m, k] b[k, n]
xt::xarray<double> matmul_reference(const xt::xarray<double>& a, const xt::xarray<double>& b) {
  const std::size_t M = a.shape()[0], K = a.shape()[1], N = b.shape()[1];
  xt::xarray<double> c = xt::zeros<double>({M, N});
  for (std::size_t m = 0; m < M; ++m)
    for (std::size_t n = 0; n < N; ++n)
      for (std::size_t k = 0; k < K; ++k) c(m, n) += a(m, k) * b(k, n);
  return c;
}

// torch.matmul written out: a vector a is a row and a vector b a column (that dimension is dropped
// from the result), batch dims broadcast; c[batch, m, n] = sum_k a[batch', m, k] b[batch'', k, n].
xt::xarray<double> batched_matmul_reference(const xt::xarray<double>& a, const xt::xarray<double>& b) {
  Shape as(a.shape().begin(), a.shape().end()), bs(b.shape().begin(), b.shape().end());
  const bool a_vector = as.size() == 1, b_vector = bs.size() == 1;
  if (a_vector) as.insert(as.begin(), 1);
  if (b_vector) bs.push_back(1);
  const std::size_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  const Shape a_batch(as.begin(), as.end() - 2), b_batch(bs.begin(), bs.end() - 2);
  const Shape batch = tg::broadcast_shapes("reference", a_batch, b_batch);
  Shape os = batch;
  os.push_back(M);
  os.push_back(N);
  xt::xarray<double> c = xt::zeros<double>(os);
  // The batch of `in` that output batch index idx reads: size-1 dims read 0, missing ones nothing.
  auto source = [&batch](const Shape& in, const Shape& idx) {
    Shape at(in.size(), 0);
    for (std::size_t d = 0; d < in.size(); ++d) at[d] = in[d] == 1 ? 0 : idx[batch.size() - in.size() + d];
    return tgtest::ravel(at, in);
  };
  for (std::size_t i = 0; i < tg::numel(batch); ++i) {
    const Shape idx = tgtest::unravel(i, batch);
    const std::size_t ia = source(a_batch, idx), ib = source(b_batch, idx);
    for (std::size_t m = 0; m < M; ++m)
      for (std::size_t n = 0; n < N; ++n)
        for (std::size_t k = 0; k < K; ++k)
          c.data()[(i * M + m) * N + n] += a.data()[(ia * M + m) * K + k] * b.data()[(ib * K + k) * N + n];
  }
  Shape final_shape = batch;
  if (!a_vector) final_shape.push_back(M);
  if (!b_vector) final_shape.push_back(N);
  return xt::xarray<double>(xt::reshape_view(c, final_shape));
}

// matmul of parameters of shapes a and b: gradcheck with respect to both, values against
// batched_matmul_reference.
void check_batched_matmul(const Shape& a_shape, const Shape& b_shape) {
  CAPTURE(tg::to_string(a_shape));
  CAPTURE(tg::to_string(b_shape));
  tg::manual_seed(47);
  const Tensor a = tgtest::param(a_shape), b = tgtest::param(b_shape);
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) { return tg::matmul(in[0], in[1]); };
  const std::vector<Tensor> inputs = {a, b};
  CHECK_GRADCHECK(f, inputs);
  check_close(tg::matmul(a, b).value<double>(), batched_matmul_reference(a.to_xarray<double>(), b.to_xarray<double>()));
}

// y[n, o] = sum_i x[n, i] w[o, i] + bias[o] (bias of any shape with O elements, or none)
xt::xarray<double> linear_reference(const xt::xarray<double>& x, const xt::xarray<double>& w,
                                    const xt::xarray<double>* bias) {
  const std::size_t N = x.shape()[0], I = x.shape()[1], O = w.shape()[0];
  xt::xarray<double> y = xt::zeros<double>({N, O});
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t o = 0; o < O; ++o) {
      for (std::size_t i = 0; i < I; ++i) y(n, o) += x(n, i) * w(o, i);
      if (bias) y(n, o) += bias->data()[o];
    }
  return y;
}

// x [N=4, I=3], weight [O=5, I]: gradcheck with respect to x, weight and (if given) the bias,
// and values against linear_reference.
void check_linear(const Shape& bias_shape, bool with_bias) {
  tg::manual_seed(29);
  const tg::Tensor x = tgtest::param({4, 3});
  const tg::Tensor w = tgtest::param({5, 3});
  const tg::Tensor b = with_bias ? tgtest::param(bias_shape) : tg::Tensor();
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) {
    return in.size() == 3 ? tg::linear(in[0], in[1], in[2]) : tg::linear(in[0], in[1]);
  };
  std::vector<Tensor> inputs = {x, w};
  if (with_bias) inputs.push_back(b);
  CHECK_GRADCHECK(f, inputs);
  const xt::xarray<double> bv = with_bias ? b.to_xarray<double>() : xt::xarray<double>();
  check_close(tg::linear(x, w, b).value<double>(),
              linear_reference(x.to_xarray<double>(), w.to_xarray<double>(), with_bias ? &bv : nullptr));
}

// x [R, C]: gradcheck, and y[c, r] == x[r, c] for every element.
void check_transpose(std::size_t R, std::size_t C) {
  tg::manual_seed(43);
  const tg::Tensor x = tgtest::param({R, C});
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) { return tg::transpose(in[0]); };
  const std::vector<Tensor> inputs = {x};
  CHECK_GRADCHECK(f, inputs);
  xt::xarray<double> expected = xt::zeros<double>({C, R});
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t c = 0; c < C; ++c) expected(c, r) = x.value<double>()(r, c);
  check_close(tg::transpose(x).value<double>(), expected);
}

}  // namespace

// ===== matmul =====

TEST_CASE("matmul: gradcheck [3,4] x [4,2]") {
  tg::manual_seed(31);
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) { return tg::matmul(in[0], in[1]); };
  const std::vector<Tensor> inputs = {tgtest::param({3, 4}), tgtest::param({4, 2})};
  CHECK_GRADCHECK(f, inputs);
}

TEST_CASE("matmul: gradcheck with one constant operand (each side)") {
  tg::manual_seed(37);
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) { return tg::matmul(in[0], in[1]); };
  const std::vector<Tensor> left_param = {tgtest::param({2, 3}), tg::Tensor::constant(tg::uniform<double>({3, 5}, -1, 1))};
  const std::vector<Tensor> right_param = {tg::Tensor::constant(tg::uniform<double>({2, 3}, -1, 1)), tgtest::param({3, 5})};
  CHECK_GRADCHECK(f, left_param);
  CHECK_GRADCHECK(f, right_param);
}

TEST_CASE("matmul: hand-computed 2x3 by 3x2 value and gradients") {
  tg::Tensor a = tg::Tensor::param(xt::xarray<double>{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  tg::Tensor b = tg::Tensor::param(xt::xarray<double>{{7.0, 8.0}, {9.0, 10.0}, {11.0, 12.0}});
  const tg::Tensor c = tg::matmul(a, b);
  check_close(c.value<double>(), {{58.0, 64.0}, {139.0, 154.0}});
  tg::sum(c).backward();
  check_close(a.grad().value<double>(), {{15.0, 19.0, 23.0}, {15.0, 19.0, 23.0}});  // row sums of b
  check_close(b.grad().value<double>(), {{5.0, 5.0}, {7.0, 7.0}, {9.0, 9.0}});      // column sums of a
}

TEST_CASE("matmul: values of a [33,40] x [40,35] product match a triple loop") {
  tg::manual_seed(41);
  const tg::Tensor a = tg::Tensor::constant(tg::uniform<double>({33, 40}, -1, 1));
  const tg::Tensor b = tg::Tensor::constant(tg::uniform<double>({40, 35}, -1, 1));
  check_close(tg::matmul(a, b).value<double>(), matmul_reference(a.to_xarray<double>(), b.to_xarray<double>()));
}

TEST_CASE("matmul, linear: values match xtensor-blas's xt::linalg::dot, an independent product") {
  tg::manual_seed(43);
  const Tensor a = Tensor::constant(tg::uniform<float>({37, 65}, -1, 1));
  const Tensor b = Tensor::constant(tg::uniform<float>({65, 29}, -1, 1));
  const xt::xarray<float> expected = xt::linalg::dot(a.to_xarray<float>(), b.to_xarray<float>());  // [37, 29]
  check_close(tg::matmul(a, b).value<float>(), xt::cast<double>(expected), 1e-5);
  // linear(x, W) = x W^T, with W = b^T stored [29, 65]
  const Tensor w = Tensor::constant(xt::xarray<float>(xt::transpose(b.to_xarray<float>())));
  check_close(tg::linear(a, w).value<float>(), xt::cast<double>(expected), 1e-5);
}

// ===== N-D matmul (Note [batched matmul]) =====

TEST_CASE("matmul N-D: batches of the same shape") { check_batched_matmul({2, 3, 4}, {2, 4, 5}); }
TEST_CASE("matmul N-D: [B, T, K] x [K, N] folds into one product, forward and backward") {
  check_batched_matmul({2, 3, 4}, {4, 5});
  check_batched_matmul({2, 2, 3, 4}, {1, 4, 5});  // b's batch of one folds too
}
TEST_CASE("matmul N-D: batch dimensions broadcast both ways, and a 2-D a against batches of b") {
  check_batched_matmul({2, 1, 3, 4}, {3, 4, 2});
  check_batched_matmul({3, 4}, {2, 4, 5});
  check_batched_matmul({1, 3, 4}, {2, 4, 5});
}
TEST_CASE("matmul N-D: vectors are a row on the left and a column on the right, their dimension dropped") {
  check_batched_matmul({4}, {4, 5});
  check_batched_matmul({3, 4}, {4});
  check_batched_matmul({4}, {4});
  check_batched_matmul({4}, {2, 4, 3});
  check_batched_matmul({2, 3, 4}, {4});
  CHECK(tg::matmul(tgtest::param({4}), tgtest::param({4})).shape() == Shape{});
}
TEST_CASE("matmul N-D: one constant operand, broadcast, takes no gradient and the other's is right") {
  tg::manual_seed(53);
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) { return tg::matmul(in[0], in[1]); };
  const std::vector<Tensor> left = {tgtest::param({2, 3, 4}), Tensor::constant(tg::uniform<double>({1, 4, 5}, -1, 1))};
  const std::vector<Tensor> right = {Tensor::constant(tg::uniform<double>({3, 4}, -1, 1)), tgtest::param({2, 4, 5})};
  CHECK_GRADCHECK(f, left);
  CHECK_GRADCHECK(f, right);
}
TEST_CASE("matmul N-D: a broadcast operand's gradient sums over the batches that read it, across two backward passes") {
  // a [3, 4] is read by both batches of b [2, 4, 5]: da = sum over batches of dy[i] b[i]^T.
  const Tensor a = tgtest::param({3, 4}), b = tgtest::param({2, 4, 5});
  tg::sum(tg::matmul(a, b)).backward();
  const xt::xarray<double> once = a.grad().to_xarray<double>();
  xt::xarray<double> expected = xt::zeros<double>({3, 4});
  const xt::xarray<double> bv = b.to_xarray<double>();
  for (std::size_t m = 0; m < 3; ++m)
    for (std::size_t k = 0; k < 4; ++k)
      for (std::size_t i = 0; i < 2; ++i)
        for (std::size_t n = 0; n < 5; ++n) expected(m, k) += bv(i, k, n);
  check_close(once, expected);
  tg::sum(tg::matmul(a, b)).backward();  // gradients accumulate: twice the first
  check_close(a.grad().to_xarray<double>(), 2.0 * expected);
}
TEST_CASE("matmul N-D: zero-size batches and K = 0") {
  check_batched_matmul({0, 3, 4}, {4, 5});
  check_batched_matmul({2, 0, 3, 4}, {1, 4, 5});
  const Tensor a = tgtest::param({2, 3, 0}), b = tgtest::param({2, 0, 4});
  const Tensor c = tg::matmul(a, b);
  CHECK(c.shape() == Shape{2, 3, 4});
  check_close(c.value<double>(), xt::zeros<double>({2, 3, 4}));  // an empty sum, as in PyTorch
  tg::sum(c).backward();
}

// ===== transpose =====

TEST_CASE("transpose: gradcheck and values [3,5]") { check_transpose(3, 5); }
// Larger than one 32x32 tile in both dimensions, with ragged edges.
TEST_CASE("transpose: gradcheck and values [40,70] (several tiles)") { check_transpose(40, 70); }

// ===== linear: x [N, I], weight [O, I], bias [O] / [1, O] / none =====

TEST_CASE("linear: gradcheck and values without bias") { check_linear({}, false); }
TEST_CASE("linear: gradcheck and values with a [O] bias") { check_linear({5}, true); }
TEST_CASE("linear: gradcheck and values with a [1,O] bias") { check_linear({1, 5}, true); }

TEST_CASE("linear: gradcheck of a layer on constant data (only weight and bias require grad)") {
  tg::manual_seed(53);
  const tg::Tensor x = tg::Tensor::constant(tg::uniform<double>({6, 3}, -1, 1));
  const tg::GradcheckFn f = [x](const std::vector<Tensor>& in) { return tg::tanh(tg::linear(x, in[0], in[1])); };
  const std::vector<Tensor> inputs = {tgtest::param({2, 3}), tgtest::param({2})};
  CHECK_GRADCHECK(f, inputs);
}

TEST_CASE("linear: hand-computed value and bias gradient") {
  const tg::Tensor x = tg::Tensor::constant(xt::xarray<double>{{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}});  // [N=3, I=2]
  tg::Tensor w = tg::Tensor::param(xt::xarray<double>{{1.0, 0.0}, {0.5, -1.0}});                    // [O=2, I=2]
  tg::Tensor b = tg::Tensor::param(xt::xarray<double>{10.0, 20.0});                                 // [O]
  const tg::Tensor y = tg::linear(x, w, b);
  check_close(y.value<double>(), {{11.0, 18.5}, {13.0, 17.5}, {15.0, 16.5}});
  tg::sum(y).backward();
  check_close(b.grad().value<double>(), {3.0, 3.0});                 // one per row
  check_close(w.grad().value<double>(), {{9.0, 12.0}, {9.0, 12.0}});  // column sums of x
}

// ===== errors =====

TEST_CASE("matmul: 0-D operands and batches that do not broadcast are rejected; 1-argument transpose is 2-D") {
  const tg::Tensor m = tgtest::param({2, 3});
  const tg::Tensor scalar = tg::Tensor::param(xt::xarray<double>(2.0));
  check_error<std::invalid_argument>([&] { tg::matmul(scalar, m); }, {"matmul", "at least 1 dimension", "[]", "[2, 3]"});
  check_error<std::invalid_argument>([&] { tg::matmul(m, scalar); }, {"matmul", "at least 1 dimension"});
  check_error<std::invalid_argument>([&] { tg::matmul(tgtest::param({2, 2, 3}), tgtest::param({3, 3, 4})); },
                                     {"matmul", "batch dimensions", "[2, 2, 3]", "[3, 3, 4]"});
  check_error<std::invalid_argument>([&] { tg::matmul(tgtest::param({3}), m); }, {"matmul", "inner dimensions", "[3]", "[2, 3]"});
  check_error<std::invalid_argument>([&] { tg::transpose(tgtest::param({2, 3, 4})); }, {"transpose", "[2, 3, 4]"});
  tgtest::check_tape_still_works();
}

TEST_CASE("matmul: inner dimensions that differ name both shapes") {
  const tg::Tensor a = tgtest::param({2, 3});
  check_error<std::invalid_argument>([&] { tg::matmul(tg::tanh(a), tgtest::param({4, 5})); },
                                     {"matmul", "[2, 3]", "[4, 5]"});
  tgtest::check_tape_still_works();
}

TEST_CASE("linear: mismatched weight or bias shapes are rejected") {
  const tg::Tensor x = tgtest::param({4, 3});
  const tg::Tensor w = tgtest::param({5, 3});
  check_error<std::invalid_argument>([&] { tg::linear(x, tgtest::param({5, 4})); }, {"linear", "[4, 3]", "[5, 4]"});
  check_error<std::invalid_argument>([&] { tg::linear(tgtest::param({3}), w); }, {"linear", "2-D", "[3]"});
  check_error<std::invalid_argument>([&] { tg::linear(x, w, tgtest::param({4})); }, {"linear", "bias", "[4]"});
  check_error<std::invalid_argument>([&] { tg::linear(x, w, tgtest::param({1, 6})); }, {"linear", "bias", "[1, 6]"});
  // [O, 1] has O elements but is a column, not a row of biases
  check_error<std::invalid_argument>([&] { tg::linear(x, w, tgtest::param({5, 1})); }, {"linear", "bias", "[5, 1]"});
  check_error<std::invalid_argument>([&] { tg::linear(x, w, tgtest::param({1, 1, 5})); }, {"linear", "bias", "[1, 1, 5]"});
  tgtest::check_tape_still_works();
}

// ===== float instantiation =====

TEST_CASE("linalg: float forward values and gradients match double") {
  const auto f = [](const auto& x) {
    // x[0] [4, 3], x[1] [5, 3], x[2] [2, 5], x[3] [2]
    return tg::linear(tg::matmul(x[0], tg::transpose(x[1])), x[2], x[3]);
  };
  tg::manual_seed(59);
  tgtest::check_float_matches_double(f, {tg::uniform<double>({4, 3}, -1, 1), tg::uniform<double>({5, 3}, -1, 1),
                                         tg::uniform<double>({2, 5}, -1, 1), tg::uniform<double>({2}, -1, 1)});
}

// ---- Note [skinny GEMMs]: few-row float products cut into pieces equal the whole product ----

TEST_CASE("linear: float skinny products (cut into column and inner pieces) match double, remainders included") {
  tg::set_num_threads(1);  // the cut is taken with one BLAS thread only
  // x [N, 200] . W [600, 200]^T: forward pieces of 32 of the 600 outputs (the last one 24 wide);
  // backward dx = dy [N, 600] . W: pieces of 64 of the 600 inner products (the last one 24).
  // Both products have N * 120,000 multiply-adds: cut from N = 9 on, below 33 rows.
  const auto f = [](const auto& x) { return tg::square(tg::linear(x[0], x[1], x[2], x[3])); };
  for (std::size_t N : {9, 20, 32, 33}) {  // 33 rows: the single call, for comparison
    CAPTURE(N);
    tg::manual_seed(61 + N);
    tgtest::check_float_matches_double(f, {tg::uniform<double>({N, 200}, -1, 1), tg::uniform<double>({600, 200}, -0.1, 0.1),
                                           tg::uniform<double>({600}, -1, 1), tg::uniform<double>({N, 600}, -1, 1)});
  }
}

// ---- Note [deferred weight gradients]: staged small-row gradients equal immediate ones ----

TEST_CASE("linear: a weight shared by many small calls gets the same gradient as one big call") {
  tg::manual_seed(91);
  const tg::Tensor w = tgtest::param({5, 3}), x = tg::Tensor::constant(tg::uniform<double>({40, 3}, -1, 1));
  // 40 calls of 1 row each (staged, flushed at the end of backward) ...
  tg::Tensor total = tg::Tensor::scalar(0.0, tg::kFloat64);
  for (std::size_t r = 0; r < 40; ++r) total = total + tg::sum(tg::square(tg::linear(tg::slice(x, 0, r, 1), w)));
  total.backward();
  const xt::xarray<double> staged = w.grad().value<double>();
  tg::Tensor(w).zero_grad();
  // ... equal one call of 40 rows, and a call of 300 rows (not staged) passes gradcheck.
  tg::sum(tg::square(tg::linear(x, w))).backward();
  CHECK(xt::allclose(staged, w.grad().value<double>(), 1e-12, 1e-12));
  auto f = [](const std::vector<Tensor>& in) { return tg::linear(in[0], in[1], in[2]); };
  CHECK_GRADCHECK(f, (std::vector<Tensor>{tgtest::param({300, 2}), tgtest::param({2, 2}), tgtest::param({2})}));
}

TEST_CASE("linear: anomaly mode names linear when a staged weight gradient is non-finite") {
  // y = x w^T = 2 and the loss 2e200 are finite; dW = 1e200 * x = 1e400 overflows.
  tg::Tensor w = tg::Tensor::param(xt::xarray<double>{{1e-200, 1e-200}});
  const tg::Tensor x = tg::Tensor::constant(xt::xarray<double>{{1e200, 1e200}});
  tg::AnomalyModeGuard anomaly;
  tg::Tensor loss = tg::sum(tg::linear(x, w)) * 1e200;
  CHECK_THROWS_WITH_AS(loss.backward(), doctest::Contains("'linear'"), tg::NonFiniteError);
  CHECK(tg::tape_stats().nodes == 0);
}

TEST_CASE("linear with a residual: gradcheck w.r.t. all four inputs, and the value equals linear + add") {
  tg::manual_seed(92);
  auto f = [](const std::vector<Tensor>& in) { return tg::linear(in[0], in[1], in[2], in[3]); };
  CHECK_GRADCHECK(f, (std::vector<Tensor>{tgtest::param({3, 4}), tgtest::param({5, 4}), tgtest::param({5}),
                                           tgtest::param({3, 5})}));
  const tg::Tensor x = tgtest::param({2, 3}), w = tgtest::param({4, 3}), r = tgtest::param({2, 4});
  CHECK(xt::allclose(tg::linear(x, w, tg::Tensor(), r).value<double>(), (tg::linear(x, w) + r).value<double>(), 1e-14, 1e-14));
  CHECK_THROWS_WITH_AS(tg::linear(x, w, tg::Tensor(), tgtest::param({2, 5})), doctest::Contains("residual"),
                       std::invalid_argument);
  tg::clear_tape();
}
