// layer_norm: gradcheck with and without affine, values against plain loops, errors.
#include <cmath>

#include "test_helpers.hpp"

using tg::Tensor;


TEST_CASE("layer_norm: gradcheck w.r.t. x, gamma and beta") {
  tg::manual_seed(41);
  auto f = [](const std::vector<Tensor>& in) { return tg::layer_norm(in[0], in[1], in[2]); };
  CHECK_GRADCHECK(f, (std::vector<Tensor>{tgtest::param({3, 5}), tgtest::param({5}), tgtest::param({5})}));
  CHECK_GRADCHECK(f, (std::vector<Tensor>{tgtest::param({2, 3, 4}), tgtest::param({4}), tgtest::param({4})}));
  auto plain = [](const std::vector<Tensor>& in) { return tg::layer_norm(in[0], tg::Tensor(), tg::Tensor()); };
  CHECK_GRADCHECK(plain, (std::vector<Tensor>{tgtest::param({4, 6})}));
}

TEST_CASE("layer_norm: rows longer than the eight lanes of its sums, with gamma or beta alone") {
  // N = 19 and 16: the eight-lane sums of Note [row sums] run whole blocks, and a tail.
  tg::manual_seed(42);
  auto with_gamma = [](const std::vector<Tensor>& in) { return tg::layer_norm(in[0], in[1], tg::Tensor()); };
  auto with_beta = [](const std::vector<Tensor>& in) { return tg::layer_norm(in[0], tg::Tensor(), in[1]); };
  auto both = [](const std::vector<Tensor>& in) { return tg::layer_norm(in[0], in[1], in[2]); };
  CHECK_GRADCHECK(with_gamma, (std::vector<Tensor>{tgtest::param({3, 19}), tgtest::param({19})}));
  CHECK_GRADCHECK(with_beta, (std::vector<Tensor>{tgtest::param({2, 16}), tgtest::param({16})}));
  CHECK_GRADCHECK(both, (std::vector<Tensor>{tgtest::param({2, 19}), tgtest::param({19}), tgtest::param({19})}));
}

TEST_CASE("layer_norm: x's gradient right whether layer_norm writes it first or adds to it") {
  // The sweep runs nodes newest first. Here layer_norm is newer than x * 2, so its dx is x's
  // first gradient (assigned, Note [first write assigns]) and x * 2 adds to it...
  tg::manual_seed(45);
  auto ln_first = [](const std::vector<Tensor>& in) {
    const Tensor twice = in[0] * 2.0;
    return tg::layer_norm(in[0], in[1], in[2]) * twice;
  };
  // ...and here it is older, so it adds its dx to what x * 2 wrote.
  auto ln_second = [](const std::vector<Tensor>& in) {
    const Tensor y = tg::layer_norm(in[0], in[1], in[2]);
    return y * (in[0] * 2.0);
  };
  const std::vector<Tensor> inputs{tgtest::param({3, 11}), tgtest::param({11}), tgtest::param({11})};
  CHECK_GRADCHECK(ln_first, inputs);
  CHECK_GRADCHECK(ln_second, inputs);
}

TEST_CASE("layer_norm: float32 rows of 37 equal a double-precision plain loop") {
  tg::manual_seed(43);
  const xt::xarray<float> x = tg::randn<float>({5, 37}, 3.0f, 2.0f);  // mean far from 0
  const xt::xarray<float> g = tg::randn<float>({37}), b = tg::randn<float>({37});
  const tg::Tensor y = tg::layer_norm(tg::Tensor::constant(x), tg::Tensor::constant(g), tg::Tensor::constant(b), 1e-5);
  for (std::size_t r = 0; r < 5; ++r) {
    double mean = 0, var = 0;
    for (std::size_t j = 0; j < 37; ++j) mean += x(r, j) / 37.0;
    for (std::size_t j = 0; j < 37; ++j) var += (x(r, j) - mean) * (x(r, j) - mean) / 37.0;
    for (std::size_t j = 0; j < 37; ++j)
      CHECK(y.value<float>()(r, j) ==
            doctest::Approx((x(r, j) - mean) / std::sqrt(var + 1e-5) * g(j) + b(j)).epsilon(1e-5));
  }
}

TEST_CASE("layer_norm: float32 rows far from zero keep their precision, forward and backward") {
  // Mean 1000, std 1: rounding the mean to float before subtracting would be off by ~6e-5.
  tg::manual_seed(44);
  // Inputs exactly representable in float, so the two runs see the same numbers.
  const xt::xarray<double> x64 = xt::xarray<float>(tg::randn<double>({4, 24}, 1000.0, 1.0));
  const xt::xarray<double> g64 = xt::xarray<float>(tg::randn<double>({24}));
  const xt::xarray<double> w64 = xt::xarray<float>(tg::randn<double>({4, 24}));
  auto run = [&](auto scalar) {
    using T = decltype(scalar);
    tg::Tensor x = tg::Tensor::param(xt::xarray<T>(x64)), g = tg::Tensor::param(xt::xarray<T>(g64));
    const tg::Tensor y = tg::layer_norm(x, g, tg::Tensor(), 1e-5);
    tg::sum(y * tg::Tensor::constant(xt::xarray<T>(w64))).backward();
    return std::vector<xt::xarray<double>>{y.to(tg::kFloat64).value<double>(), x.grad().to(tg::kFloat64).value<double>(),
                                           g.grad().to(tg::kFloat64).value<double>()};
  };
  const auto f32 = run(float{}), f64 = run(double{});
  const char* names[] = {"y", "dx", "dgamma"};
  for (std::size_t k = 0; k < 3; ++k) {
    CAPTURE(names[k]);
    CHECK(xt::amax(xt::abs(f32[k] - f64[k]))() < 2e-6 * (1.0 + xt::amax(xt::abs(f64[k]))()));
  }
}

TEST_CASE("layer_norm: float32 against float64 when a row's first element is far from the rest") {
  // The moments take one pass shifted by the row's first element; here that shift is 1e4 away
  // from the other 39 values (std ~1), the worst case for the cancellation in S2/N - (S1/N)^2.
  // With gamma and beta both trained, the backward runs its one-pass case.
  tg::manual_seed(46);
  xt::xarray<double> x64 = xt::xarray<float>(tg::randn<double>({3, 40}));
  x64(0, 0) = 1e4;
  x64(1, 0) = -3e3;
  const xt::xarray<double> g64 = xt::xarray<float>(tg::randn<double>({40}));
  const xt::xarray<double> b64 = xt::xarray<float>(tg::randn<double>({40}));
  const xt::xarray<double> w64 = xt::xarray<float>(tg::randn<double>({3, 40}));
  auto run = [&](auto scalar) {
    using T = decltype(scalar);
    tg::Tensor x = tg::Tensor::param(xt::xarray<T>(x64)), g = tg::Tensor::param(xt::xarray<T>(g64)),
               b = tg::Tensor::param(xt::xarray<T>(b64));
    const tg::Tensor y = tg::layer_norm(x, g, b, 1e-5);
    tg::sum(y * tg::Tensor::constant(xt::xarray<T>(w64))).backward();
    return std::vector<xt::xarray<double>>{y.to(tg::kFloat64).value<double>(), x.grad().to(tg::kFloat64).value<double>(),
                                           g.grad().to(tg::kFloat64).value<double>(),
                                           b.grad().to(tg::kFloat64).value<double>()};
  };
  const auto f32 = run(float{}), f64 = run(double{});
  const char* names[] = {"y", "dx", "dgamma", "dbeta"};
  for (std::size_t k = 0; k < 4; ++k) {
    CAPTURE(names[k]);
    CHECK(xt::amax(xt::abs(f32[k] - f64[k]))() < 2e-5 * (1.0 + xt::amax(xt::abs(f64[k]))()));
  }
}

TEST_CASE("layer_norm: a row holding NaN gives NaN in that row only") {
  xt::xarray<float> x = {{1.0f, 2.0f, 3.0f, 4.0f}, {1.0f, std::nanf(""), 3.0f, 4.0f}};
  const tg::Tensor y = tg::layer_norm(tg::Tensor::constant(x), tg::Tensor(), tg::Tensor());
  for (std::size_t j = 0; j < 4; ++j) {
    CHECK(std::isfinite(y.value<float>()(0, j)));
    CHECK(std::isnan(y.value<float>()(1, j)));
  }
}

TEST_CASE("layer_norm: values equal plain loops") {
  const xt::xarray<double> x = {{1.0, 2.0, 4.0}, {-1.0, 0.0, 0.5}};
  const tg::Tensor g = tg::Tensor::constant(xt::xarray<double>{2.0, 1.0, 0.5}), b = tg::Tensor::constant(xt::xarray<double>{0.1, 0.2, 0.3});
  const tg::Tensor y = tg::layer_norm(tg::Tensor::constant(x), g, b, 1e-5);
  for (std::size_t r = 0; r < 2; ++r) {
    const double mean = (x(r, 0) + x(r, 1) + x(r, 2)) / 3;
    double var = 0;
    for (std::size_t j = 0; j < 3; ++j) var += (x(r, j) - mean) * (x(r, j) - mean) / 3;
    for (std::size_t j = 0; j < 3; ++j)
      CHECK(y.value<double>()(r, j) ==
            doctest::Approx((x(r, j) - mean) / std::sqrt(var + 1e-5) * g.value<double>()(j) + b.value<double>()(j)).epsilon(1e-12));
  }
}

TEST_CASE("layer_norm: bad shapes and eps are rejected") {
  const tg::Tensor x = tg::Tensor::zeros({2, 3}, tg::kFloat64);
  CHECK_THROWS_WITH_AS(tg::layer_norm(x, tg::Tensor::zeros({4}, tg::kFloat64), tg::Tensor()), doctest::Contains("layer_norm"),
                       std::invalid_argument);
  CHECK_THROWS_AS(tg::layer_norm(x, tg::Tensor(), tg::Tensor(), 0.0), std::invalid_argument);
}
