// More elementwise math and activations (autograd/ops_math.cpp, ops_activation.cpp) and the
// logsumexp/cumsum reductions: gradchecks in double away from kinks, values against <cmath>,
// PyTorch's subgradients at the kinks by hand.
#include <cmath>
#include <functional>
#include <vector>

#include "op_checks.hpp"

using tg::Shape;
using tg::Tensor;

using tgtest::check_close;
using tgtest::check_error;

namespace {

// op on a random [3, 4] parameter in [lo, hi): gradcheck, and values equal `scalar` elementwise.
void check_unary(const char* name, const std::function<Tensor(const Tensor&)>& op,
                 const std::function<double(double)>& scalar, double lo = -2.0, double hi = 2.0) {
  CAPTURE(name);
  tg::manual_seed(139);
  const Tensor x = tgtest::param({3, 4}, lo, hi);
  const tg::GradcheckFn f = [op](const std::vector<Tensor>& in) { return op(in[0]); };
  CHECK_GRADCHECK(f, std::vector<Tensor>{x});
  const xt::xarray<double> xv = x.to_xarray<double>();
  xt::xarray<double> expected = xv;
  for (auto& e : expected) e = scalar(e);
  check_close(op(x).value<double>(), expected, 1e-12);
}

// d op(x) / dx at the given points, by backward.
xt::xarray<double> gradient_at(const std::function<Tensor(const Tensor&)>& op, const xt::xarray<double>& points) {
  Tensor x = Tensor::param(points);
  tg::sum(op(x)).backward();
  return x.grad().to_xarray<double>();
}

const double kSqrt2 = std::sqrt(2.0), kPi = std::acos(-1.0);

}  // namespace

TEST_CASE("abs, sin, cos, log1p: gradcheck and values") {
  check_unary("abs", [](const Tensor& x) { return tg::abs(x); }, [](double v) { return std::abs(v); });
  check_unary("sin", [](const Tensor& x) { return tg::sin(x); }, [](double v) { return std::sin(v); });
  check_unary("cos", [](const Tensor& x) { return tg::cos(x); }, [](double v) { return std::cos(v); });
  check_unary("log1p", [](const Tensor& x) { return tg::log1p(x); }, [](double v) { return std::log1p(v); }, -0.9, 3.0);
  // log1p keeps the digits log(1 + x) loses near 0.
  CHECK(tg::log1p(Tensor::constant(xt::xarray<double>{1e-18})).data<double>()[0] == 1e-18);
}

TEST_CASE("activations: gradcheck and values of softplus, gelu (both forms), leaky_relu and elu") {
  check_unary("softplus", [](const Tensor& x) { return tg::softplus(x); }, [](double v) { return std::log1p(std::exp(v)); });
  check_unary("softplus beta 2, threshold 1", [](const Tensor& x) { return tg::softplus(x, 2.0, 1.0); },
              [](double v) { return 2.0 * v > 1.0 ? v : std::log1p(std::exp(2.0 * v)) / 2.0; });
  check_unary("gelu", [](const Tensor& x) { return tg::gelu(x); },
              [](double v) { return 0.5 * v * (1.0 + std::erf(v / kSqrt2)); });
  check_unary("gelu tanh", [](const Tensor& x) { return tg::gelu(x, tg::GeluApproximation::tanh); },
              [](double v) { return 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / kPi) * (v + 0.044715 * v * v * v))); });
  check_unary("leaky_relu", [](const Tensor& x) { return tg::leaky_relu(x, 0.1); }, [](double v) { return v > 0 ? v : 0.1 * v; });
  check_unary("elu", [](const Tensor& x) { return tg::elu(x, 1.5); }, [](double v) { return v > 0 ? v : 1.5 * std::expm1(v); });
  // softplus far past its threshold is x itself, with no overflow on the way.
  check_close(tg::softplus(Tensor::constant(xt::xarray<double>{1000.0, -1000.0})).value<double>(), {1000.0, 0.0});
}

TEST_CASE("kinks: PyTorch's subgradients at 0") {
  const xt::xarray<double> zero{0.0};
  check_close(gradient_at([](const Tensor& x) { return tg::abs(x); }, zero), {0.0});
  check_close(gradient_at([](const Tensor& x) { return tg::relu(x); }, zero), {0.0});
  check_close(gradient_at([](const Tensor& x) { return tg::leaky_relu(x, 0.2); }, zero), {0.2});
  check_close(gradient_at([](const Tensor& x) { return tg::elu(x, 0.7); }, zero), {0.7});
  check_close(gradient_at([](const Tensor& x) { return tg::gelu(x); }, zero), {0.5});
}

TEST_CASE("maximum, minimum: gradcheck with broadcasting; ties split the gradient; NaN propagates") {
  tg::manual_seed(149);
  const Tensor a = tgtest::param({3, 4}), b = tgtest::param({4});
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) { return tg::maximum(in[0], in[1]) * tg::minimum(in[0], in[1]); };
  CHECK_GRADCHECK(f, (std::vector<Tensor>{a, b}));
  const xt::xarray<double> av = a.to_xarray<double>(), bv = b.to_xarray<double>();
  check_close(tg::maximum(a, b).value<double>(), xt::maximum(av, bv));
  check_close(tg::minimum(a, b).value<double>(), xt::minimum(av, bv));
  Tensor u = Tensor::param(xt::xarray<double>{1.0, 2.0, 3.0}), w = Tensor::param(xt::xarray<double>{1.0, 5.0, 0.0});
  tg::sum(tg::maximum(u, w)).backward();
  check_close(u.grad().value<double>(), {0.5, 0.0, 1.0});
  check_close(w.grad().value<double>(), {0.5, 1.0, 0.0});
  const Tensor n = Tensor::constant(xt::xarray<double>{std::nan(""), 1.0});
  CHECK(std::isnan(tg::maximum(n, Tensor::constant(xt::xarray<double>{5.0, 0.0})).data<double>()[0]));
  CHECK(std::isnan(tg::minimum(Tensor::constant(xt::xarray<double>{5.0, 0.0}), n).data<double>()[0]));
}

TEST_CASE("logsumexp: gradcheck and values along each axis; no overflow; -inf rows and empty axes") {
  tg::manual_seed(151);
  const Tensor x = tgtest::param({3, 4, 2}, -3.0, 3.0);
  const xt::xarray<double> xv = x.to_xarray<double>();
  for (long axis : {0L, 1L, -1L}) {
    for (bool keep : {false, true}) {
      CAPTURE(axis);
      const tg::GradcheckFn f = [axis, keep](const std::vector<Tensor>& in) { return tg::logsumexp(in[0], axis, keep); };
      CHECK_GRADCHECK(f, std::vector<Tensor>{x});
      const std::size_t ax = axis < 0 ? 2 : std::size_t(axis);
      xt::xarray<double> expected = xt::log(xt::sum(xt::exp(xv), {ax}));
      if (keep) {
        Shape ks(xv.shape().begin(), xv.shape().end());
        ks[ax] = 1;
        expected.reshape(ks);
      }
      check_close(tg::logsumexp(x, axis, keep).value<double>(), expected);
    }
  }
  check_close(tg::logsumexp(Tensor::constant(xt::xarray<double>{1000.0, 1000.0}), 0).value<double>(), 1000.0 + std::log(2.0));
  Tensor ninf = Tensor::param(xt::xarray<double>{-INFINITY, -INFINITY});
  const Tensor y = tg::logsumexp(ninf, 0);
  CHECK(y.data<double>()[0] == -INFINITY);
  tg::sum(y).backward();
  check_close(ninf.grad().value<double>(), {0.0, 0.0});  // not NaN
  const Tensor empty = tg::logsumexp(tgtest::param({2, 0}), 1);
  CHECK(empty.shape() == Shape{2});
  CHECK(empty.data<double>()[0] == -INFINITY);
}

TEST_CASE("cumsum: gradcheck and values along each axis, empty axes") {
  tg::manual_seed(157);
  const Tensor x = tgtest::param({3, 4});
  const xt::xarray<double> xv = x.to_xarray<double>();
  for (long axis : {0L, 1L, -2L}) {
    CAPTURE(axis);
    const tg::GradcheckFn f = [axis](const std::vector<Tensor>& in) { return tg::cumsum(in[0], axis); };
    CHECK_GRADCHECK(f, std::vector<Tensor>{x});
    const std::size_t ax = axis < 0 ? std::size_t(axis + 2) : std::size_t(axis);
    check_close(tg::cumsum(x, axis).value<double>(), xt::cumsum(xv, ax));
  }
  CHECK(tg::cumsum(tgtest::param({0, 3}), 0).shape() == Shape{0, 3});
}

TEST_CASE("math and activations: bad arguments name the op") {
  const Tensor x = tgtest::param({2, 3});
  check_error<std::invalid_argument>([&] { tg::maximum(x, tgtest::param({2})); }, {"maximum", "[2, 3]", "[2]"});
  check_error<std::invalid_argument>([&] { tg::softplus(x, 0.0); }, {"softplus", "beta"});
  check_error<std::invalid_argument>([&] { tg::softplus(x, 1.0, NAN); }, {"softplus", "threshold"});
  check_error<std::invalid_argument>([&] { tg::leaky_relu(x, INFINITY); }, {"leaky_relu", "negative_slope"});
  check_error<std::invalid_argument>([&] { tg::elu(x, NAN); }, {"elu", "alpha"});
  check_error<std::invalid_argument>([&] { tg::logsumexp(x, 2); }, {"logsumexp", "axis 2"});
  check_error<std::invalid_argument>([&] { tg::cumsum(x, -3); }, {"cumsum", "axis -3"});
  tgtest::check_tape_still_works();
}

TEST_CASE("math: float forward values and gradients match double") {
  const auto f = [](const auto& x) {
    return tg::gelu(tg::maximum(tg::sin(x[0]), tg::cos(x[1]))) + tg::softplus(tg::cumsum(x[0], 1)) +
           tg::elu(tg::logsumexp(x[0], 1, true)) * tg::leaky_relu(tg::abs(x[1])) + tg::log1p(tg::abs(x[0]));
  };
  tg::manual_seed(163);
  tgtest::check_float_matches_double(f, {tg::uniform<double>({2, 3}, -1, 1), tg::uniform<double>({2, 3}, -1, 1)});
}
