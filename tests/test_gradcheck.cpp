// gradcheck itself: it must pass correct gradients and catch wrong ones.
#include "test_helpers.hpp"

using tg::Tensor;


TEST_CASE("gradcheck: passes a correct composite function") {
  tg::manual_seed(3);
  auto f = [](const std::vector<Tensor>& in) { return tg::tanh(tg::matmul(in[0], in[1])) * in[0]; };
  const auto r = tg::gradcheck(f, {tgtest::param({3, 3}), tgtest::param({3, 3})});
  CHECK_MESSAGE(r.passed, r);
  CHECK(r.elements_checked == 18);
}

TEST_CASE("gradcheck: catches a gradient that is missing a path") {
  // f = detach(x) * x has value x^2 but analytic gradient x (one path cut): must fail.
  auto f = [](const std::vector<Tensor>& in) { return tg::detach(in[0]) * in[0]; };
  const auto r = tg::gradcheck(f, {tg::Tensor::param(xt::xarray<double>{1.0, 2.0, -3.0})});
  CHECK_FALSE(r.passed);
  CHECK(r.message.find("input 0") != std::string::npos);
}

TEST_CASE("gradcheck: skips inputs that do not require grad and validates eps") {
  auto f = [](const std::vector<Tensor>& in) { return in[0] * in[1]; };
  const auto r = tg::gradcheck(f, {tg::Tensor::param(xt::xarray<double>{1.0, 2.0}), tg::Tensor::constant(xt::xarray<double>{3.0, 4.0})});
  CHECK_MESSAGE(r.passed, r);
  CHECK(r.elements_checked == 2);
  CHECK_THROWS_AS(tg::gradcheck(f, {tg::Tensor::param(xt::xarray<double>{1.0})}, 0.0), std::invalid_argument);
}

TEST_CASE("gradcheck: leaves the caller's tensors and gradients untouched") {
  tg::Tensor x = tg::Tensor::param(xt::xarray<double>{0.5, 1.5});
  auto f = [](const std::vector<Tensor>& in) { return tg::exp(in[0]); };
  CHECK(tg::gradcheck(f, {x}));
  CHECK_FALSE(x.has_grad());  // it had none, and has none afterwards
  CHECK_FALSE(x.grad().defined());
  CHECK(x.value<double>()(1) == 1.5);
  x.grad_data<double>()[1] = 4.0;  // a gradient of [0, 4] is put back as it was
  CHECK(tg::gradcheck(f, {x}));
  CHECK(x.grad().value<double>() == xt::xarray<double>{0.0, 4.0});
}
