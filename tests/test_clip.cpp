// Gradient clipping (optim/clip): the norm returned, the scaled gradients, skipped parameters,
// non-finite gradients, and clip_grad_value's bounds.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "test_helpers.hpp"

using tg::Tensor;


namespace {

template <class T>
tg::Tensor with_grad(std::vector<T> value, std::vector<T> grad) {
  tg::Tensor t = tg::Tensor::param(xt::adapt(value, {value.size()}));
  std::copy(grad.begin(), grad.end(), t.grad_data<T>());
  return t;
}

template <class T = double>
std::vector<T> grad_of(const tg::Tensor& t) {
  const xt::xarray<T> g = t.grad().to_xarray<T>();
  return std::vector<T>(g.begin(), g.end());
}

// Bit patterns of every gradient: "unchanged" means equal.
template <class T>
std::vector<std::vector<unsigned char>> grad_bits(const std::vector<tg::Tensor>& ts) {
  std::vector<std::vector<unsigned char>> out;
  for (auto t : ts) {
    const auto* p = reinterpret_cast<const unsigned char*>(t.grad_data<T>());
    out.emplace_back(p, p + t.numel() * sizeof(T));
  }
  return out;
}

}  // namespace

TEST_CASE("clip_grad_norm: returns the pre-clip norm and scales by max_norm over norm plus 1e-6") {
  // Gradients (3, 4) and (12): total norm sqrt(9 + 16 + 144) = 13, exactly.
  tg::Tensor a = with_grad<double>({1, 2}, {3, 4});
  tg::Tensor b = with_grad<double>({5}, {12});
  const double norm = tg::clip_grad_norm(std::vector<Tensor>{a, b}, 6.5);
  CHECK(norm == 13.0);
  const double coef = 6.5 / (13.0 + 1e-6);  // PyTorch's clip coefficient
  CHECK(grad_of(a) == std::vector<double>{3 * coef, 4 * coef});
  CHECK(grad_of(b) == std::vector<double>{12 * coef});
  CHECK(a.data<double>()[0] == 1.0);  // values untouched

  // float: the coefficient is applied in float, the norm accumulates in double.
  Tensor fa = with_grad<float>({0, 0}, {3, 4});
  Tensor fb = with_grad<float>({0}, {12});
  CHECK(tg::clip_grad_norm(tg::NamedTensors{{"a", fa}, {"b", fb}}, 1.0) == 13.0);
  const float fcoef = float(1.0 / (13.0 + 1e-6));
  CHECK(grad_of<float>(fa) == std::vector<float>{3.0f * fcoef, 4.0f * fcoef});
  CHECK(grad_of<float>(fb) == std::vector<float>{12.0f * fcoef});
}

TEST_CASE("clip_grad_norm: a norm within max_norm leaves the gradients bit-identical") {
  tg::Tensor a = with_grad<double>({1, 2}, {0.3, -0.4});
  const auto before = grad_bits<double>({a});
  CHECK(tg::clip_grad_norm(std::vector<Tensor>{a}, 1.0) == doctest::Approx(0.5).epsilon(1e-15));
  CHECK(grad_bits<double>({a}) == before);
  // max_norm equal to the norm: the coefficient norm/(norm+1e-6) < 1 still scales, as in PyTorch.
  const double total = std::sqrt(0.3 * 0.3 + 0.4 * 0.4);
  CHECK(tg::clip_grad_norm(std::vector<Tensor>{a}, total) == total);
  CHECK(grad_of(a)[0] == 0.3 * (total / (total + 1e-6)));
}

TEST_CASE("clip_grad_norm: many gradients match an independent double computation") {
  tg::manual_seed(11);
  std::vector<Tensor> ps;
  double sum_sq = 0.0;
  std::vector<std::vector<float>> expected;
  for (std::size_t n : {1u, 7u, 64u, 1000u, 33u}) {
    Tensor p = Tensor::param(tg::randn<float>({n}));
    const auto g = tg::randn<float>({n}, 0.0f, 3.0f);
    std::copy(g.begin(), g.end(), p.grad_data<float>());
    for (float x : g) sum_sq += double(x) * double(x);
    ps.push_back(p);
  }
  const double total = std::sqrt(sum_sq);
  std::vector<std::vector<float>> original;
  for (auto p : ps) original.push_back(grad_of<float>(p));
  const double norm = tg::clip_grad_norm(ps, 2.0);
  CHECK(norm == doctest::Approx(total).epsilon(1e-14));  // summation order differs
  const float coef = float(2.0 / (norm + 1e-6));
  for (std::size_t k = 0; k < ps.size(); ++k) {
    expected.emplace_back();
    for (float g : original[k]) expected.back().push_back(g * coef);
    CHECK(grad_of<float>(ps[k]) == expected[k]);
  }
  double after = 0.0;
  for (auto p : ps)
    for (float x : grad_of<float>(p)) after += double(x) * double(x);
  CHECK(std::sqrt(after) == doctest::Approx(2.0).epsilon(1e-5));
}

TEST_CASE("clip_grad_norm: frozen parameters and parameters without a gradient are skipped") {
  tg::Tensor a = with_grad<double>({1, 2}, {3, 4});
  tg::Tensor frozen = with_grad<double>({1}, {100});
  frozen.set_requires_grad(false);  // releases its gradient
  tg::Tensor no_grad = tg::Tensor::param(xt::xarray<double>{7.0});
  tg::Tensor constant = tg::Tensor::constant(xt::xarray<double>{1.0});
  CHECK(tg::clip_grad_norm(std::vector<Tensor>{a, frozen, no_grad, constant}, 100.0) == 5.0);
  CHECK_FALSE(no_grad.has_grad());  // no buffer was created for it
  CHECK(tg::clip_grad_norm(std::vector<Tensor>{no_grad}, 1.0) == 0.0);
}

TEST_CASE("clip_grad_norm and clip_grad_value: a parameter whose grad() was read but that backward never "
          "reached is left alone") {
  tg::Tensor a = tg::Tensor::param(xt::xarray<double>{1.0, 2.0});
  tg::Tensor unreached = tg::Tensor::param(xt::xarray<double>{7.0, 8.0});
  tg::sum(a * tg::Tensor::constant(xt::xarray<double>{3.0, 4.0})).backward();  // grad a = [3, 4]
  (void)unreached.grad();
  CHECK_FALSE(unreached.has_grad());
  const std::vector<Tensor> ps{a, unreached};
  CHECK(tg::clip_grad_norm(ps, 1.0) == doctest::Approx(5.0));
  CHECK_FALSE(unreached.has_grad());
  tg::clip_grad_value(ps, 0.1);
  CHECK_FALSE(unreached.has_grad());
  CHECK(grad_of(a) == std::vector<double>{0.1, 0.1});
}

TEST_CASE("clip_grad_norm: NaN or infinite gradients throw NonFiniteError and change nothing") {
  const double inf = std::numeric_limits<double>::infinity();
  for (double bad : {std::nan(""), inf, -inf}) {
    CAPTURE(bad);
    tg::Tensor a = with_grad<double>({1, 2}, {3, 4});
    tg::Tensor b = with_grad<double>({1, 2, 3}, {1, bad, 2});
    const auto before = grad_bits<double>({a, b});
    try {
      tg::clip_grad_norm(tg::NamedTensors{{"a", a}, {"rnn.weight", b}}, 1.0);
      FAIL("no exception");
    } catch (const tg::NonFiniteError& e) {
      const std::string msg = e.what();
      MESSAGE(msg);
      CHECK(msg.find("'rnn.weight'") != std::string::npos);
      CHECK(msg.find("element 1") != std::string::npos);
      CHECK(msg.find("left unchanged") != std::string::npos);
    }
    CHECK(grad_bits<double>({a, b}) == before);
  }
  // float gradients too, and a NonFiniteError is a std::runtime_error.
  Tensor f = with_grad<float>({0}, {std::numeric_limits<float>::infinity()});
  CHECK_THROWS_AS(tg::clip_grad_norm(std::vector<Tensor>{f}, 1.0), std::runtime_error);
}

TEST_CASE("clip_grad_norm: huge finite double gradients do not overflow the norm") {
  tg::Tensor a = with_grad<double>({0, 0}, {3e200, 4e200});
  const double norm = tg::clip_grad_norm(std::vector<Tensor>{a}, 1.0);
  CHECK(norm == doctest::Approx(5e200).epsilon(1e-15));
  CHECK(grad_of(a)[0] == doctest::Approx(0.6).epsilon(1e-12));
  CHECK(grad_of(a)[1] == doctest::Approx(0.8).epsilon(1e-12));
}

TEST_CASE("clip_grad_norm: max_norm must be non-negative, and infinity only measures") {
  tg::Tensor a = with_grad<double>({1}, {3});
  CHECK_THROWS_WITH_AS(tg::clip_grad_norm(std::vector<Tensor>{a}, -1.0),
                       "clip_grad_norm: max_norm must be >= 0 (or +inf: no clipping), got -1",
                       std::invalid_argument);
  CHECK(tg::clip_grad_norm(std::vector<Tensor>{a}, std::numeric_limits<double>::infinity()) == 3.0);
  CHECK(grad_of(a)[0] == 3.0);
  CHECK_THROWS_AS(tg::clip_grad_norm(std::vector<Tensor>{a}, std::nan("")), std::invalid_argument);
  CHECK_THROWS_AS(tg::clip_grad_norm(std::vector<Tensor>{tg::Tensor()}, 1.0), std::invalid_argument);
  CHECK(tg::clip_grad_norm(std::vector<Tensor>{a}, 0.0) == 3.0);  // max_norm 0 zeroes them
  CHECK(grad_of(a)[0] == 0.0);
}

TEST_CASE("clip_grad_value: every element ends in the closed interval, the rest unchanged") {
  const double inf = std::numeric_limits<double>::infinity();
  tg::Tensor a = with_grad<double>({0, 0, 0, 0, 0, 0}, {-3.0, -0.5, 0.0, 0.49, 2.0, inf});
  tg::Tensor b = with_grad<double>({0, 0}, {-inf, 0.5});
  tg::clip_grad_value(std::vector<Tensor>{a, b}, 0.5);
  CHECK(grad_of(a) == std::vector<double>{-0.5, -0.5, 0.0, 0.49, 0.5, 0.5});
  CHECK(grad_of(b) == std::vector<double>{-0.5, 0.5});

  tg::manual_seed(5);
  Tensor f = Tensor::param(tg::randn<float>({257}));
  const auto g = tg::randn<float>({257}, 0.0f, 4.0f);
  std::copy(g.begin(), g.end(), f.grad_data<float>());
  tg::clip_grad_value(tg::NamedTensors{{"f", f}}, 1.25);
  for (std::size_t i = 0; i < 257; ++i) {
    CHECK(f.grad_data<float>()[i] >= -1.25f);
    CHECK(f.grad_data<float>()[i] <= 1.25f);
    if (std::fabs(g(i)) <= 1.25f) CHECK(f.grad_data<float>()[i] == g(i));
  }
}

TEST_CASE("clip_grad_value: a NaN throws NonFiniteError and changes nothing") {
  tg::Tensor a = with_grad<double>({0, 0}, {5.0, -5.0});
  tg::Tensor b = with_grad<double>({0, 0}, {1.0, std::nan("")});
  const auto before = grad_bits<double>({a, b});
  CHECK_THROWS_AS(tg::clip_grad_value(std::vector<Tensor>{a, b}, 1.0), tg::NonFiniteError);
  CHECK(grad_bits<double>({a, b}) == before);
  CHECK_THROWS_AS(tg::clip_grad_value(std::vector<Tensor>{a}, -1.0), std::invalid_argument);
}
