// layer_norm: gradcheck with and without affine, values against plain loops, errors; and the
// row sums it takes (autograd/detail/row_sums.hpp).
#include <cmath>

#include <tapegrad/autograd/detail/row_sums.hpp>

#include "op_checks.hpp"
#include "test_helpers.hpp"

using tg::Tensor;
using tgtest::check_close;


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
  // Mean 1000, std 1: rounding the mean to float before subtracting would be off by ~6e-5. Run
  // without beta and with a trained beta (the backward's one-pass case): both keep the mean's
  // low bits.
  tg::manual_seed(44);
  // Inputs exactly representable in float, so the two runs see the same numbers.
  const xt::xarray<double> x64 = xt::xarray<float>(tg::randn<double>({4, 24}, 1000.0, 1.0));
  const xt::xarray<double> g64 = xt::xarray<float>(tg::randn<double>({24}));
  const xt::xarray<double> b64 = xt::xarray<float>(tg::randn<double>({24}));
  const xt::xarray<double> w64 = xt::xarray<float>(tg::randn<double>({4, 24}));
  for (const bool with_beta : {false, true}) {
    CAPTURE(with_beta);
    auto run = [&](auto scalar) {
      using T = decltype(scalar);
      tg::Tensor x = tg::Tensor::param(xt::xarray<T>(x64)), g = tg::Tensor::param(xt::xarray<T>(g64));
      const tg::Tensor b = with_beta ? tg::Tensor::param(xt::xarray<T>(b64)) : tg::Tensor();
      const tg::Tensor y = tg::layer_norm(x, g, b, 1e-5);
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
}

TEST_CASE("layer_norm: float64 rows of mean 1e8 and std 1 equal a two-pass plain loop") {
  // Unshifted, S2 / N - mean^2 would cancel 16 digits here and leave nothing of the variance.
  tg::manual_seed(47);
  const xt::xarray<double> x = tg::randn<double>({3, 50}, 1e8, 1.0);
  const tg::Tensor y = tg::layer_norm(tg::Tensor::constant(x), tg::Tensor(), tg::Tensor(), 1e-5);
  for (std::size_t r = 0; r < 3; ++r) {
    double mean = 0, var = 0;
    for (std::size_t j = 0; j < 50; ++j) mean += x(r, j) / 50.0;
    for (std::size_t j = 0; j < 50; ++j) var += (x(r, j) - mean) * (x(r, j) - mean) / 50.0;
    for (std::size_t j = 0; j < 50; ++j)
      CHECK(y.value<double>()(r, j) == doctest::Approx((x(r, j) - mean) / std::sqrt(var + 1e-5)).epsilon(1e-7));
  }
}

TEST_CASE("layer_norm: float32 against float64 when a row's first element is far from the rest") {
  // The moments take one pass shifted by the row's first element; here that element is 1e4 (or
  // -3e3) away from the row's 39 other values, so the shift is far from the mean (the row's std
  // is ~1.6e3, ~470): float32 still agrees with float64. With gamma and beta both trained, the
  // backward runs its one-pass case.
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

TEST_CASE("layer_norm: a row holding NaN or Inf gives NaN in that row only") {
  const float nan = std::nanf(""), inf = INFINITY;
  xt::xarray<float> x = {{1.0f, 2.0f, 3.0f, 4.0f},
                         {1.0f, nan, 3.0f, 4.0f},
                         {nan, 2.0f, 3.0f, 4.0f},  // NaN where the moments' shift is taken
                         {1.0f, 2.0f, inf, 4.0f}};
  const tg::Tensor y = tg::layer_norm(tg::Tensor::constant(x), tg::Tensor(), tg::Tensor());
  for (std::size_t j = 0; j < 4; ++j) {
    CHECK(std::isfinite(y.value<float>()(0, j)));
    for (std::size_t r = 1; r < 4; ++r) CHECK(std::isnan(y.value<float>()(r, j)));
  }
}

TEST_CASE("layer_norm: float64 rows spread beyond 1e154 give beta, not NaN") {
  // S2 overflows: the variance is infinite, 1 / std is 0 and y = xhat gamma + beta = beta.
  const xt::xarray<double> x = {{0.0, 1e200, -1e200, 3.0}};
  const xt::xarray<double> b = {0.5, -0.5, 1.0, 2.0};
  const tg::Tensor y = tg::layer_norm(tg::Tensor::constant(x), tg::Tensor(), tg::Tensor::constant(b));
  for (std::size_t j = 0; j < 4; ++j) CHECK(y.value<double>()(0, j) == b(j));
}

TEST_CASE("layer_norm: gamma and beta one tensor, or x one of them: gradients right") {
  // One tensor as gamma and beta makes their gradients one buffer, which the backward's one-pass
  // case must not take; x as gamma or beta shares a value with a parameter.
  tg::manual_seed(48);
  auto same_affine = [](const std::vector<Tensor>& in) { return tg::layer_norm(in[0], in[1], in[1]); };
  CHECK_GRADCHECK(same_affine, (std::vector<Tensor>{tgtest::param({3, 9}), tgtest::param({9})}));
  auto x_is_gamma = [](const std::vector<Tensor>& in) { return tg::layer_norm(in[0], in[0], in[1]); };
  CHECK_GRADCHECK(x_is_gamma, (std::vector<Tensor>{tgtest::param({9}), tgtest::param({9})}));
  auto x_is_beta = [](const std::vector<Tensor>& in) { return tg::layer_norm(in[0], in[1], in[0]); };
  CHECK_GRADCHECK(x_is_beta, (std::vector<Tensor>{tgtest::param({9}), tgtest::param({9})}));
}

TEST_CASE("layer_norm: gamma and beta trained on a constant x: their gradients equal plain sums") {
  // x takes no gradient, so only gamma's gradient reads x (the op saves x for it).
  tg::manual_seed(49);
  const xt::xarray<double> x = tg::randn<double>({4, 10}, 2.0, 3.0), w = tg::randn<double>({4, 10});
  tg::Tensor g = Tensor::param(tg::randn<double>({10})), b = Tensor::param(tg::randn<double>({10}));
  tg::sum(tg::layer_norm(Tensor::constant(x), g, b, 1e-5) * Tensor::constant(w)).backward();
  xt::xarray<double> dgamma = xt::zeros<double>({10}), dbeta = xt::zeros<double>({10});
  for (std::size_t r = 0; r < 4; ++r) {
    double mean = 0, var = 0;
    for (std::size_t j = 0; j < 10; ++j) mean += x(r, j) / 10.0;
    for (std::size_t j = 0; j < 10; ++j) var += (x(r, j) - mean) * (x(r, j) - mean) / 10.0;
    for (std::size_t j = 0; j < 10; ++j) {
      dgamma(j) += w(r, j) * (x(r, j) - mean) / std::sqrt(var + 1e-5);
      dbeta(j) += w(r, j);
    }
  }
  check_close(g.grad().value<double>(), dgamma);
  check_close(b.grad().value<double>(), dbeta);
}

TEST_CASE("layer_norm: writing into x before the backward is refused only when the backward reads x") {
  const xt::xarray<double> x0 = {{1.0, 2.0, 4.0}, {0.0, -1.0, 3.0}};
  SUBCASE("gamma trained: its gradient reads x") {
    Tensor x = Tensor::constant(x0);
    tg::Tensor g = Tensor::param(xt::xarray<double>{1.0, 2.0, 3.0});
    Tensor loss = tg::sum(tg::layer_norm(x, g, Tensor()) * Tensor::constant(x0));
    x.mutable_data<double>()[0] = 5.0;
    tgtest::check_error<std::logic_error>([&] { loss.backward(); }, {"layer_norm"});
  }
  SUBCASE("only beta trained: nothing reads x") {
    Tensor x = Tensor::constant(x0);
    tg::Tensor b = Tensor::param(xt::xarray<double>{0.0, 0.0, 0.0});
    Tensor loss = tg::sum(tg::layer_norm(x, Tensor(), b) * Tensor::constant(x0));
    x.mutable_data<double>()[0] = 5.0;
    loss.backward();
    check_close(b.grad().value<double>(), xt::xarray<double>{1.0, 1.0, 7.0});
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

TEST_CASE("row sums: float rows' two sums (AVX where the build has it) equal long-double sums, every tail") {
  // n from 0 to 70 runs no block, one or more blocks of the sixteen lanes, and every tail length.
  tg::manual_seed(50);
  const xt::xarray<float> a = tg::randn<float>({70}, 3.0f, 2.0f), b = tg::randn<float>({70});
  for (std::size_t n = 0; n <= 70; ++n) {
    CAPTURE(n);
    long double s = 0, p = 0, s_shift = 0, q_shift = 0;
    const double k = n ? double(a(0)) : 0.0;
    for (std::size_t j = 0; j < n; ++j) {
      s += a(j);
      p += static_cast<long double>(a(j)) * b(j);
      s_shift += static_cast<long double>(a(j)) - k;
      q_shift += (static_cast<long double>(a(j)) - k) * (static_cast<long double>(a(j)) - k);
    }
    double sum = -1, dot = -1, sum2 = -1, squares = -1;
    tg::detail::row_sum_and_dot(a.data(), b.data(), n, sum, dot);
    tg::detail::row_sum_and_square(a.data(), k, n, sum2, squares);
    CHECK(sum == doctest::Approx(double(s)).epsilon(1e-12));
    CHECK(dot == doctest::Approx(double(p)).epsilon(1e-12));
    CHECK(sum2 == doctest::Approx(double(s_shift)).epsilon(1e-12));
    CHECK(squares == doctest::Approx(double(q_shift)).epsilon(1e-12));
  }
}
