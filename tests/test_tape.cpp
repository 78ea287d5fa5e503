// The tape: iterative backward, accumulation, detach, no-grad, retain_grad, release, errors.
#include <cmath>
#include <thread>

#include "test_helpers.hpp"

using tg::Tensor;


TEST_CASE("backward: gradients reach leaves through a shared subexpression") {
  tg::Tensor x = tg::Tensor::param(xt::xarray<double>{2.0});
  tg::Tensor y = x * x;      // y = x^2
  tg::Tensor z = y * y + y;  // z = x^4 + x^2, dz/dx = 4x^3 + 2x = 36
  z.backward();
  CHECK(x.grad().value<double>()(0) == doctest::Approx(36.0));
  CHECK(tg::tape_stats().nodes == 0);  // the tape is released after backward
}

TEST_CASE("backward: gradients accumulate over two backward calls until zero_grad") {
  tg::Tensor w = tg::Tensor::param(xt::xarray<double>{{1.0, -2.0}});
  for (int i = 0; i < 2; ++i) tg::sum(w * 3.0).backward();  // d/dw = 3 each time
  CHECK(w.grad().value<double>()(0, 0) == doctest::Approx(6.0));
  CHECK(w.grad().value<double>()(0, 1) == doctest::Approx(6.0));
  w.zero_grad();
  CHECK(w.grad().value<double>()(0, 1) == 0.0);
}

TEST_CASE("backward: a 100,000-op chain runs without stack overflow and empties the tape") {
  tg::Tensor x = tg::Tensor::param(xt::xarray<double>{1.0});
  tg::Tensor y = x;
  const int n = 100000;
  for (int i = 0; i < n; ++i) y = y * 1.00001;  // y = x * 1.00001^n
  CHECK(tg::tape_stats().nodes == std::size_t(n));
  y.backward();
  CHECK(x.grad().value<double>()(0) == doctest::Approx(std::pow(1.00001, n)).epsilon(1e-9));
  CHECK(tg::tape_stats().nodes == 0);
}

TEST_CASE("clear_tape: a 100,000-op graph that is never backwarded is released without overflow") {
  const auto before = tg::memory_stats().live_bytes;
  {
    tg::Tensor x = tg::Tensor::param(xt::xarray<double>{1.0, 2.0});
    tg::Tensor y = x;
    for (int i = 0; i < 100000; ++i) y = tg::tanh(y);
    tg::clear_tape();
    CHECK(tg::tape_stats().nodes == 0);
  }
  CHECK(tg::memory_stats().live_bytes == before);  // every intermediate buffer went back
}

TEST_CASE("backward: intermediate values are freed after backward - the pool recycles them") {
  tg::Tensor w = tg::Tensor::param(tg::uniform<double>({64, 64}, -1, 1));
  tg::Tensor x = tg::Tensor::constant(tg::uniform<double>({8, 64}, -1, 1));
  auto step = [&] { tg::sum(tg::tanh(tg::matmul(x, w))).backward(); };
  step();  // allocates w's gradient once
  const auto live = tg::memory_stats().live_bytes;
  const auto allocations = tg::memory_stats().system_allocations;
  for (int i = 0; i < 5; ++i) step();
  CHECK(tg::memory_stats().live_bytes == live);
  CHECK(tg::memory_stats().system_allocations == allocations);  // no new memory after step 1
}

TEST_CASE("detach: gradients stop at a detached value - the forward value flows on") {
  tg::Tensor x = tg::Tensor::param(xt::xarray<double>{3.0});
  tg::Tensor h = x * x;
  tg::Tensor d = tg::detach(h);
  CHECK(d.is_leaf());
  CHECK_FALSE(d.requires_grad());
  CHECK(d.item() == 9.0);
  tg::Tensor loss = tg::sum(d * x);  // d is a constant 9 here, so dloss/dx = 9, not 3x^2 = 27
  loss.backward();
  CHECK(x.grad().value<double>()(0) == doctest::Approx(9.0));
}

TEST_CASE("NoGradGuard: records nothing and produces constants") {
  tg::Tensor x = tg::Tensor::param(xt::xarray<double>{1.0, 2.0});
  tg::clear_tape();
  {
    tg::NoGradGuard guard;
    CHECK_FALSE(tg::is_grad_enabled());
    tg::Tensor y = tg::exp(x) * x;
    CHECK_FALSE(y.requires_grad());
    CHECK(tg::tape_stats().nodes == 0);
    CHECK_THROWS_AS(tg::sum(y).backward(), std::logic_error);
  }
  CHECK(tg::is_grad_enabled());
  CHECK(tg::tanh(x).requires_grad());
  tg::clear_tape();
}

TEST_CASE("retain_grad: a non-leaf keeps its gradient - without it grad() is a logic_error") {
  tg::Tensor x = tg::Tensor::param(xt::xarray<double>{0.5, -1.0});
  tg::Tensor h = tg::tanh(x);
  h.retain_grad();
  tg::Tensor g = x * 2.0;
  tg::sum(h * 3.0 + g).backward();
  CHECK(h.grad().value<double>()(0) == doctest::Approx(3.0));
  CHECK(h.grad().value<double>()(1) == doctest::Approx(3.0));
  CHECK_THROWS_WITH_AS(g.grad(), doctest::Contains("retain_grad()"), std::logic_error);
}

TEST_CASE("gradient hand-over: ops that pass dy on unchanged keep retained gradients and shared inputs right") {
  // add, sub, reshape and linear's residual give their output's gradient buffer to an input
  // instead of copying it, unless the output retains its gradient or the input has one already.
  tg::Tensor x = tg::Tensor::param(xt::xarray<double>{0.5, -1.0, 2.0, 3.0});
  tg::Tensor s = x + x;               // both inputs are x: the second must add, not replace
  s.retain_grad();                 // and s must keep its own gradient
  tg::Tensor r = tg::reshape(s, {2, 2});
  r.retain_grad();
  tg::Tensor w = tg::Tensor::param(xt::xarray<double>{{1.0, 0.0}, {0.0, 1.0}});
  tg::Tensor y = tg::linear(r, w, tg::Tensor(), r);  // y = r + r W^T = 2r
  tg::Tensor d = y - tg::Tensor::constant(xt::xarray<double>{{1.0, 1.0}, {1.0, 1.0}});
  tg::sum(d * d).backward();
  // L = sum (4x - 1)^2 per element: dL/dx = 8 (4x - 1); dL/dr = 2 * 2 (2r - 1) = 4 (4x - 1).
  const double xs[] = {0.5, -1.0, 2.0, 3.0};
  for (std::size_t k = 0; k < 4; ++k) {
    CHECK(x.grad().value<double>()(k) == doctest::Approx(8.0 * (4.0 * xs[k] - 1.0)));
    CHECK(s.grad().value<double>()(k) == doctest::Approx(4.0 * (4.0 * xs[k] - 1.0)));
    CHECK(r.grad().value<double>()(k / 2, k % 2) == doctest::Approx(4.0 * (4.0 * xs[k] - 1.0)));
  }
}

TEST_CASE("backward: a non-scalar output needs a seed gradient") {
  tg::Tensor x = tg::Tensor::param(xt::xarray<double>{1.0, 2.0});
  tg::Tensor y = x * x;
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("seed"), std::logic_error);
  CHECK_THROWS_AS(y.backward(tg::Tensor::constant(xt::xarray<double>{1.0, 2.0, 3.0})), std::invalid_argument);
  y.backward(tg::Tensor::constant(xt::xarray<double>{1.0, 10.0}));  // dy/dx = 2x, weighted by the seed
  CHECK(x.grad().value<double>()(0) == doctest::Approx(2.0));
  CHECK(x.grad().value<double>()(1) == doctest::Approx(40.0));
}

TEST_CASE("backward: twice through one graph is a logic_error unless the graph is retained") {
  tg::Tensor x = tg::Tensor::param(xt::xarray<double>{2.0});
  tg::Tensor y = tg::sum(x * x * x);  // dy/dx = 3x^2 = 12
  y.backward(true);                 // retain_graph
  y.backward();
  CHECK(x.grad().value<double>()(0) == doctest::Approx(24.0));
  CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("retain_graph"), std::logic_error);
}

TEST_CASE("backward: through a graph released by an earlier backward asks to detach") {
  tg::Tensor w = tg::Tensor::param(xt::xarray<double>{0.5});
  tg::Tensor h = tg::Tensor::constant(xt::xarray<double>{1.0});
  h = tg::tanh(h * w);  // block 1
  tg::sum(h).backward();
  tg::Tensor h2 = tg::tanh(h * w);  // block 2 reads block 1's h without detaching it
  CHECK_THROWS_WITH_AS(tg::sum(h2).backward(), doctest::Contains("detach"), std::logic_error);
  CHECK(tg::tape_stats().nodes == 0);  // the failed backward left a clean tape
  // The fix the message names works:
  w.zero_grad();
  tg::Tensor h3 = tg::tanh(tg::detach(h) * w);
  tg::sum(h3).backward();
  CHECK(w.grad().value<double>()(0) != 0.0);
}

TEST_CASE("backward: a tensor that does not require grad cannot be backwarded") {
  tg::Tensor c = tg::Tensor::constant(xt::xarray<double>{1.0});
  CHECK_THROWS_WITH_AS(tg::sum(c * 2.0).backward(), doctest::Contains("does not require grad"),
                       std::logic_error);
  CHECK_THROWS_AS(tg::Tensor().shape(), std::logic_error);  // undefined tensor
}

TEST_CASE("anomaly mode: names the op whose value or gradient is first non-finite") {
  tg::Tensor x = tg::Tensor::param(xt::xarray<double>{-1.0, 4.0});
  {
    tg::AnomalyModeGuard anomaly;
    CHECK_THROWS_WITH_AS(tg::log(x), doctest::Contains("'log'"), tg::NonFiniteError);
    tg::Tensor z = tg::Tensor::param(xt::xarray<double>{0.0, 1.0});
    tg::Tensor r = tg::sqrt(z);  // value 0 is fine; d sqrt/dz at 0 is infinite
    CHECK_THROWS_WITH_AS(tg::sum(r).backward(), doctest::Contains("'sqrt'"), tg::NonFiniteError);
    CHECK(tg::tape_stats().nodes == 0);
  }
  CHECK_FALSE(tg::is_anomaly_enabled());
  tg::Tensor quiet = tg::log(x);  // off: NaN flows silently, like PyTorch
  CHECK(std::isnan(quiet.value<double>()(0)));
  tg::clear_tape();
}

TEST_CASE("threads: each thread records on its own tape") {
  // The same little model trained in two threads at once gives the same gradient as alone.
  auto grad_of = [](double scale) {
    tg::Tensor w = tg::Tensor::param(xt::xarray<double>{{0.1, 0.2}, {0.3, 0.4}});
    tg::Tensor x = tg::Tensor::constant(xt::xarray<double>{{1.0, -1.0}});
    for (int i = 0; i < 200; ++i) tg::sum(tg::tanh(tg::matmul(x, w)) * scale).backward();
    return xt::xarray<double>(w.grad().value<double>());
  };
  const auto alone_a = grad_of(1.0), alone_b = grad_of(2.0);
  xt::xarray<double> a, b;
  std::thread ta([&] { a = grad_of(1.0); }), tb([&] { b = grad_of(2.0); });
  ta.join();
  tb.join();
  CHECK(a == alone_a);
  CHECK(b == alone_b);
}
