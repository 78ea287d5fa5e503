#include "test_helpers.hpp"
// Elementwise ops (autograd/ops_elementwise.cpp): binary ops with numpy broadcasting, unary
// math, scalar forms and the operators. Each op: a double gradcheck and forward values
// against the same math written out here.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "op_checks.hpp"

using tg::Shape;
using tg::Tensor;

using tgtest::check_close;
using tgtest::check_error;

namespace {

// Where an op's inputs are drawn from: away from kinks (relu at 0) and poles (log, sqrt, 1/x).
enum class Domain { any, positive, away_from_zero };

tg::Tensor draw(const Shape& shape, Domain d) {
  switch (d) {
    case Domain::positive: return tgtest::param(shape, 0.5, 2.0);
    case Domain::away_from_zero: return tgtest::param_away_from_zero(shape);
    default: return tgtest::param(shape, -1.0, 1.0);
  }
}

// ---- unary and scalar ops: the op, and its math written independently ----
struct UnaryCase {
  const char* name;
  std::function<tg::Tensor(const tg::Tensor&)> op;
  std::function<double(double)> reference;
  Domain domain;
};

const std::vector<UnaryCase>& unary_cases() {
  static const std::vector<UnaryCase> cases = {
      {"neg", [](const tg::Tensor& x) { return tg::neg(x); }, [](double v) { return -v; }, Domain::any},
      {"-x", [](const tg::Tensor& x) { return -x; }, [](double v) { return -v; }, Domain::any},
      {"add_scalar", [](const tg::Tensor& x) { return tg::add_scalar(x, 0.7); },
       [](double v) { return v + 0.7; }, Domain::any},
      {"mul_scalar", [](const tg::Tensor& x) { return tg::mul_scalar(x, -1.3); },
       [](double v) { return v * -1.3; }, Domain::any},
      {"rsub_scalar", [](const tg::Tensor& x) { return tg::rsub_scalar(x, 0.4); },
       [](double v) { return 0.4 - v; }, Domain::any},
      {"rdiv_scalar", [](const tg::Tensor& x) { return tg::rdiv_scalar(x, 1.5); },
       [](double v) { return 1.5 / v; }, Domain::positive},
      {"x + s", [](const tg::Tensor& x) { return x + 0.7; }, [](double v) { return v + 0.7; }, Domain::any},
      {"s + x", [](const tg::Tensor& x) { return 0.7 + x; }, [](double v) { return 0.7 + v; }, Domain::any},
      {"x - s", [](const tg::Tensor& x) { return x - 0.7; }, [](double v) { return v - 0.7; }, Domain::any},
      {"s - x", [](const tg::Tensor& x) { return 0.4 - x; }, [](double v) { return 0.4 - v; }, Domain::any},
      {"x * s", [](const tg::Tensor& x) { return x * 2.5; }, [](double v) { return v * 2.5; }, Domain::any},
      {"s * x", [](const tg::Tensor& x) { return 2.5 * x; }, [](double v) { return 2.5 * v; }, Domain::any},
      {"x / s", [](const tg::Tensor& x) { return x / 3.0; }, [](double v) { return v / 3.0; }, Domain::any},
      {"s / x", [](const tg::Tensor& x) { return 1.5 / x; }, [](double v) { return 1.5 / v; },
       Domain::positive},
      {"tanh", [](const tg::Tensor& x) { return tg::tanh(x); },
       [](double v) { return (std::exp(v) - std::exp(-v)) / (std::exp(v) + std::exp(-v)); }, Domain::any},
      {"sigmoid", [](const tg::Tensor& x) { return tg::sigmoid(x); },
       [](double v) { return 1.0 / (1.0 + std::exp(-v)); }, Domain::any},
      {"relu", [](const tg::Tensor& x) { return tg::relu(x); },
       [](double v) { return v > 0 ? v : 0.0; }, Domain::away_from_zero},
      {"exp", [](const tg::Tensor& x) { return tg::exp(x); }, [](double v) { return std::exp(v); }, Domain::any},
      {"log", [](const tg::Tensor& x) { return tg::log(x); }, [](double v) { return std::log(v); },
       Domain::positive},
      {"sqrt", [](const tg::Tensor& x) { return tg::sqrt(x); }, [](double v) { return std::sqrt(v); },
       Domain::positive},
      {"square", [](const tg::Tensor& x) { return tg::square(x); }, [](double v) { return v * v; },
       Domain::any},
      {"pow 3", [](const tg::Tensor& x) { return tg::pow(x, 3.0); }, [](double v) { return v * v * v; },
       Domain::any},
      {"pow 1.5", [](const tg::Tensor& x) { return tg::pow(x, 1.5); },
       [](double v) { return v * std::sqrt(v); }, Domain::positive},
      {"pow -2", [](const tg::Tensor& x) { return tg::pow(x, -2.0); }, [](double v) { return 1 / (v * v); },
       Domain::positive},
  };
  return cases;
}

// Gradcheck on a [3, 4] input, and forward values against the reference, element by element.
void check_unary(const std::string& name) {
  const auto& cases = unary_cases();
  const auto it = std::find_if(cases.begin(), cases.end(), [&](const UnaryCase& c) { return name == c.name; });
  REQUIRE(it != cases.end());
  tg::manual_seed(11);
  const tg::Tensor x = draw({3, 4}, it->domain);
  const tg::GradcheckFn f = [op = it->op](const std::vector<Tensor>& in) { return op(in[0]); };
  const std::vector<Tensor> inputs = {x};
  CHECK_GRADCHECK(f, inputs);

  xt::xarray<double> expected = x.to_xarray<double>();
  for (double& v : expected) v = it->reference(v);
  check_close(it->op(x).value<double>(), expected);
}

// ---- binary ops: the op and its scalar math ----
struct BinaryCase {
  const char* name;
  tg::Tensor (*op)(const tg::Tensor&, const tg::Tensor&);
  double (*reference)(double, double);
  Domain b_domain;  // div needs a denominator away from 0
};
const BinaryCase kAdd{"add", &tg::add, [](double u, double v) { return u + v; }, Domain::any};
const BinaryCase kSub{"sub", &tg::sub, [](double u, double v) { return u - v; }, Domain::any};
const BinaryCase kMul{"mul", &tg::mul, [](double u, double v) { return u * v; }, Domain::any};
const BinaryCase kDiv{"div", &tg::div, [](double u, double v) { return u / v; }, Domain::positive};

// out = f(a, b) with numpy broadcasting, by explicit index arithmetic: shapes are aligned on
// the right, and a size-1 (or missing) dimension repeats its one element.
xt::xarray<double> broadcast_reference(const xt::xarray<double>& a, const xt::xarray<double>& b,
                                       double (*f)(double, double)) {
  const std::size_t rank = std::max(a.dimension(), b.dimension());
  std::vector<std::size_t> da(rank, 1), db(rank, 1), dout(rank);
  std::copy(a.shape().begin(), a.shape().end(), da.end() - a.dimension());
  std::copy(b.shape().begin(), b.shape().end(), db.end() - b.dimension());
  for (std::size_t d = 0; d < rank; ++d) dout[d] = std::max(da[d], db[d]);
  xt::xarray<double> out = xt::xarray<double>::from_shape(dout);
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::size_t rest = i, ia = 0, ib = 0, sa = 1, sb = 1;
    for (std::size_t d = rank; d-- > 0;) {  // innermost dimension first
      const std::size_t idx = rest % dout[d];
      rest /= dout[d];
      ia += (idx % da[d]) * sa;
      ib += (idx % db[d]) * sb;
      sa *= da[d];
      sb *= db[d];
    }
    out.data()[i] = f(a.data()[ia], b.data()[ib]);
  }
  return out;
}

// Gradcheck with respect to both operands (each broadcast gradient must be summed back to its
// own shape), and forward values against broadcast_reference.
void check_binary(const BinaryCase& c, const Shape& sa, const Shape& sb) {
  tg::manual_seed(7);
  const tg::Tensor a = draw(sa, Domain::any);
  const tg::Tensor b = draw(sb, c.b_domain);
  const tg::GradcheckFn f = [op = c.op](const std::vector<Tensor>& in) { return op(in[0], in[1]); };
  const std::vector<Tensor> inputs = {a, b};
  CHECK_GRADCHECK(f, inputs);
  check_close(c.op(a, b).value<double>(), broadcast_reference(a.to_xarray<double>(), b.to_xarray<double>(), c.reference));
}

}  // namespace

// ===== binary ops, every broadcasting pattern =====

TEST_CASE("add: gradcheck, same shape [2,3]") { check_binary(kAdd, {2, 3}, {2, 3}); }
TEST_CASE("add: gradcheck, [B,N] with [N] bias") { check_binary(kAdd, {3, 4}, {4}); }
TEST_CASE("add: gradcheck, [B,N] with [1,N]") { check_binary(kAdd, {3, 4}, {1, 4}); }
TEST_CASE("add: gradcheck, [B,1] with [1,N]") { check_binary(kAdd, {3, 1}, {1, 4}); }
TEST_CASE("add: gradcheck, [N] with [B,N] (left operand broadcast)") { check_binary(kAdd, {4}, {3, 4}); }
TEST_CASE("add: gradcheck, [2,3,4] with [3,1]") { check_binary(kAdd, {2, 3, 4}, {3, 1}); }
TEST_CASE("add: gradcheck, [2,3] with scalar []") { check_binary(kAdd, {2, 3}, {}); }
TEST_CASE("add: gradcheck, scalar [] with [2,3]") { check_binary(kAdd, {}, {2, 3}); }

TEST_CASE("sub: gradcheck, same shape [2,3]") { check_binary(kSub, {2, 3}, {2, 3}); }
TEST_CASE("sub: gradcheck, [B,N] with [N] bias") { check_binary(kSub, {3, 4}, {4}); }
TEST_CASE("sub: gradcheck, [B,N] with [1,N]") { check_binary(kSub, {3, 4}, {1, 4}); }
TEST_CASE("sub: gradcheck, [B,1] with [1,N]") { check_binary(kSub, {3, 1}, {1, 4}); }
TEST_CASE("sub: gradcheck, [N] with [B,N] (left operand broadcast)") { check_binary(kSub, {4}, {3, 4}); }
TEST_CASE("sub: gradcheck, [2,3,4] with [3,1]") { check_binary(kSub, {2, 3, 4}, {3, 1}); }
TEST_CASE("sub: gradcheck, [2,3] with scalar []") { check_binary(kSub, {2, 3}, {}); }
TEST_CASE("sub: gradcheck, scalar [] with [2,3]") { check_binary(kSub, {}, {2, 3}); }

TEST_CASE("mul: gradcheck, same shape [2,3]") { check_binary(kMul, {2, 3}, {2, 3}); }
TEST_CASE("mul: gradcheck, [B,N] with [N] bias") { check_binary(kMul, {3, 4}, {4}); }
TEST_CASE("mul: gradcheck, [B,N] with [1,N]") { check_binary(kMul, {3, 4}, {1, 4}); }
TEST_CASE("mul: gradcheck, [B,1] with [1,N]") { check_binary(kMul, {3, 1}, {1, 4}); }
TEST_CASE("mul: gradcheck, [N] with [B,N] (left operand broadcast)") { check_binary(kMul, {4}, {3, 4}); }
TEST_CASE("mul: gradcheck, [2,3,4] with [3,1]") { check_binary(kMul, {2, 3, 4}, {3, 1}); }
TEST_CASE("mul: gradcheck, [2,3] with scalar []") { check_binary(kMul, {2, 3}, {}); }
TEST_CASE("mul: gradcheck, scalar [] with [2,3]") { check_binary(kMul, {}, {2, 3}); }

TEST_CASE("div: gradcheck, same shape [2,3]") { check_binary(kDiv, {2, 3}, {2, 3}); }
TEST_CASE("div: gradcheck, [B,N] with [N] bias") { check_binary(kDiv, {3, 4}, {4}); }
TEST_CASE("div: gradcheck, [B,N] with [1,N]") { check_binary(kDiv, {3, 4}, {1, 4}); }
TEST_CASE("div: gradcheck, [B,1] with [1,N]") { check_binary(kDiv, {3, 1}, {1, 4}); }
TEST_CASE("div: gradcheck, [N] with [B,N] (left operand broadcast)") { check_binary(kDiv, {4}, {3, 4}); }
TEST_CASE("div: gradcheck, [2,3,4] with [3,1]") { check_binary(kDiv, {2, 3, 4}, {3, 1}); }
TEST_CASE("div: gradcheck, [2,3] with scalar []") { check_binary(kDiv, {2, 3}, {}); }
TEST_CASE("div: gradcheck, scalar [] with [2,3]") { check_binary(kDiv, {}, {2, 3}); }

// ===== binary ops: hand-computed values, aliasing, constants =====

TEST_CASE("add, sub, mul, div: hand-computed values of a [N] bias over [B,N]") {
  const tg::Tensor x = tg::Tensor::constant(xt::xarray<double>{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});  // [2, 3]
  const tg::Tensor b = tg::Tensor::constant(xt::xarray<double>{10.0, 20.0, 40.0});                   // [3]
  check_close((x + b).value<double>(), {{11.0, 22.0, 43.0}, {14.0, 25.0, 46.0}});
  check_close((x - b).value<double>(), {{-9.0, -18.0, -37.0}, {-6.0, -15.0, -34.0}});
  check_close((b - x).value<double>(), {{9.0, 18.0, 37.0}, {6.0, 15.0, 34.0}});
  check_close((x * b).value<double>(), {{10.0, 40.0, 120.0}, {40.0, 100.0, 240.0}});
  check_close((x / b).value<double>(), {{0.1, 0.1, 0.075}, {0.4, 0.25, 0.15}});
}

TEST_CASE("add: a [N] bias gets the column sums of the output gradient") {
  tg::Tensor x = tg::Tensor::param(xt::xarray<double>{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});  // [2, 3]
  tg::Tensor b = tg::Tensor::param(xt::xarray<double>{0.5, 0.5, 0.5});                     // [3]
  tg::sum((x + b) * x).backward();  // d/db = column sums of x, d/dx = 2x + b
  check_close(b.grad().value<double>(), {5.0, 7.0, 9.0});
  check_close(x.grad().value<double>(), {{2.5, 4.5, 6.5}, {8.5, 10.5, 12.5}});
}

TEST_CASE("mul: gradcheck, both operands the same tensor") {
  tg::manual_seed(3);
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) { return in[0] * in[0] / (in[0] + 3.0); };
  const std::vector<Tensor> inputs = {tgtest::param({2, 3})};
  CHECK_GRADCHECK(f, inputs);
}

TEST_CASE("mul, div: gradcheck with one constant operand, each side (only the other side's value is saved)") {
  tg::manual_seed(5);
  const tg::Tensor k = tg::Tensor::constant(tg::uniform<double>({3, 4}, 0.5, 2.0));
  const tg::GradcheckFn left = [k](const std::vector<Tensor>& in) { return in[0] * k + k / in[0]; };
  const tg::GradcheckFn right = [k](const std::vector<Tensor>& in) { return k * in[0] + in[0] / k; };
  const std::vector<Tensor> inputs = {tgtest::param({3, 4}, 0.5, 2.0)};
  CHECK_GRADCHECK(left, inputs);
  CHECK_GRADCHECK(right, inputs);
}

TEST_CASE("div: a constant operand gets no gradient, the parameter still does") {
  tg::Tensor a = tg::Tensor::param(xt::xarray<double>{1.0, 2.0});
  const tg::Tensor b = tg::Tensor::constant(xt::xarray<double>{4.0, 0.5});
  tg::sum(a / b).backward();
  check_close(a.grad().value<double>(), {0.25, 2.0});
  CHECK_FALSE(b.requires_grad());
  CHECK_THROWS_AS(b.grad(), std::logic_error);

  tg::manual_seed(5);
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) { return in[1] / in[0]; };
  const std::vector<Tensor> inputs = {tgtest::param({3}, 0.5, 2.0), tg::Tensor::constant(xt::xarray<double>{1.0, -2.0, 3.0})};
  CHECK_GRADCHECK(f, inputs);
}

// ===== unary and scalar ops =====

TEST_CASE("neg: gradcheck and values") { check_unary("neg"); }
TEST_CASE("operator -x: gradcheck and values") { check_unary("-x"); }
TEST_CASE("add_scalar: gradcheck and values") { check_unary("add_scalar"); }
TEST_CASE("mul_scalar: gradcheck and values") { check_unary("mul_scalar"); }
TEST_CASE("rsub_scalar: gradcheck and values") { check_unary("rsub_scalar"); }
TEST_CASE("rdiv_scalar: gradcheck and values") { check_unary("rdiv_scalar"); }
TEST_CASE("operator x + s: gradcheck and values") { check_unary("x + s"); }
TEST_CASE("operator s + x: gradcheck and values") { check_unary("s + x"); }
TEST_CASE("operator x - s: gradcheck and values") { check_unary("x - s"); }
TEST_CASE("operator s - x: gradcheck and values") { check_unary("s - x"); }
TEST_CASE("operator x times s: gradcheck and values") { check_unary("x * s"); }
TEST_CASE("operator s times x: gradcheck and values") { check_unary("s * x"); }
TEST_CASE("operator x / s: gradcheck and values") { check_unary("x / s"); }
TEST_CASE("operator s / x: gradcheck and values") { check_unary("s / x"); }
TEST_CASE("tanh: gradcheck and values") { check_unary("tanh"); }
TEST_CASE("sigmoid: gradcheck and values") { check_unary("sigmoid"); }
TEST_CASE("relu: gradcheck and values") { check_unary("relu"); }
TEST_CASE("exp: gradcheck and values") { check_unary("exp"); }
TEST_CASE("log: gradcheck and values") { check_unary("log"); }
TEST_CASE("sqrt: gradcheck and values") { check_unary("sqrt"); }
TEST_CASE("square: gradcheck and values") { check_unary("square"); }
TEST_CASE("pow: gradcheck and values, integer exponent 3") { check_unary("pow 3"); }
TEST_CASE("pow: gradcheck and values, fractional exponent 1.5") { check_unary("pow 1.5"); }
TEST_CASE("pow: gradcheck and values, negative exponent -2") { check_unary("pow -2"); }

// clamp's kinks are at low and high: inputs below, inside and above [-0.5, 0.5], none near them.
TEST_CASE("clamp: gradcheck and values") {
  const tg::Tensor x = tg::Tensor::param(xt::xarray<double>{{-1.0, -0.7, -0.3, 0.05}, {0.2, 0.35, 0.6, 0.9}});
  const tg::GradcheckFn f = [](const std::vector<Tensor>& in) { return tg::clamp(in[0], -0.5, 0.5); };
  const std::vector<Tensor> inputs = {x};
  CHECK_GRADCHECK(f, inputs);
  check_close(tg::clamp(x, -0.5, 0.5).value<double>(), {{-0.5, -0.5, -0.3, 0.05}, {0.2, 0.35, 0.5, 0.5}});

  tg::Tensor y = tg::Tensor::param(xt::xarray<double>{-1.0, 0.0, 0.3, 2.0});
  tg::sum(tg::clamp(y, 0.0, 1.0) * 3.0).backward();  // the gradient passes where 0 <= y <= 1
  check_close(y.grad().value<double>(), {0.0, 3.0, 3.0, 0.0});
}

// ===== errors =====

TEST_CASE("add, sub, mul, div: shapes that do not broadcast name the op and both shapes") {
  const tg::Tensor a = tgtest::param({2, 3});
  const tg::Tensor b = tgtest::param({4});
  const std::vector<BinaryCase> ops = {kAdd, kSub, kMul, kDiv};
  for (const BinaryCase& c : ops) {
    CAPTURE(c.name);
    check_error<std::invalid_argument>([&] { c.op(tg::tanh(a), b); }, {c.name, "[2, 3]", "[4]"});
    check_error<std::invalid_argument>([&] { c.op(b, a); }, {c.name, "[4]", "[2, 3]"});
  }
  check_error<std::invalid_argument>([&] { tgtest::param({2, 3, 3}) * tgtest::param({4, 1}); },
                                     {"mul", "[2, 3, 3]", "[4, 1]"});
  tgtest::check_tape_still_works();
}

TEST_CASE("clamp: low > high is rejected") {
  const tg::Tensor x = tgtest::param({3});
  check_error<std::invalid_argument>([&] { tg::clamp(x, 1.0, -1.0); }, {"clamp", "low", "high"});
  tgtest::check_tape_still_works();
}

// ===== float instantiation =====

TEST_CASE("elementwise: float forward values and gradients match double") {
  const auto f = [](const auto& x) {
    using T = double;  // the scalars; the ops run in the tensors' dtype
    const auto& a = x[0];  // [2, 3], any sign
    const auto& b = x[1];  // [3], positive
    auto u = tg::tanh(a) * tg::sigmoid(b) + tg::relu(a) - tg::exp(a) / (tg::square(b) + T(1));
    auto v = tg::log(b) + tg::sqrt(b) + tg::pow(b, T(1.5)) + T(2) / b - T(0.5) * b;
    return tg::clamp(u - v, T(-3), T(3)) + (-a) * T(0.25);
  };
  tgtest::check_float_matches_double(f, {{{-0.9, -0.35, 0.2}, {0.4, 0.75, -0.15}}, {0.6, 1.1, 1.7}});
}

// Note [float tanh]: float32 tanh is a rational function; against the double libm tanh it is
// within 6 ulp everywhere (5.2 measured with FMA, near |x| = 8.8; scripts/fit_tanh.py finds 5.6
// with every multiply and add rounded apart, as a build without FMA runs it), never past +-1,
// odd to the bit, and exact at the special values.
TEST_CASE("tanh: float32 is within 6 ulp of the exact tanh, odd, in [-1, 1], and exact at special values") {
  std::vector<float> xs;
  for (int i = -1'200'000; i <= 1'200'000; ++i) xs.push_back(float(i) * 1e-5f);  // [-12, 12]
  for (float x = 1e-30f; x < 1.0f; x *= 1.01f) xs.push_back(x);                  // tiny: tanh x = x
  const std::size_t n = xs.size();
  std::vector<float> both = xs;
  for (float x : xs) both.push_back(-x);
  const tg::Tensor y = tg::tanh(tg::Tensor::constant(xt::adapt(both, {both.size()})));
  const float* v = y.data<float>();
  double worst_ulp = 0;
  float worst_x = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double exact = std::tanh(double(xs[i]));
    // the spacing below |tanh x| in float (near 1 that is 2^-24, not the 2^-23 above 1)
    const float at = std::abs(float(exact));
    const double ulp = double(at - std::nextafter(at, 0.0f));
    const double err = std::abs(double(v[i]) - exact) / ulp;
    if (err > worst_ulp) {
      worst_ulp = err;
      worst_x = xs[i];
    }
    if (!(std::abs(v[i]) <= 1.0f) || !(v[i + n] == -v[i]) || std::signbit(v[i + n]) == std::signbit(v[i])) {
      FAIL_CHECK("x = " << xs[i] << ": tanh " << v[i] << ", tanh(-x) " << v[i + n]);
      break;
    }
  }
  MESSAGE("float tanh: worst " << worst_ulp << " ulp, at x = " << worst_x);
  CHECK(worst_ulp <= 6.0);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> special{0.0f, -0.0f, inf, -inf, nan, 20.0f, 1e-38f};
  const tg::Tensor s = tg::tanh(tg::Tensor::constant(xt::adapt(special, {special.size()})));
  const float* sv = s.data<float>();
  CHECK(sv[0] == 0.0f);
  CHECK_FALSE(std::signbit(sv[0]));
  CHECK(std::signbit(sv[1]));
  CHECK(sv[2] == 1.0f);
  CHECK(sv[3] == -1.0f);
  CHECK(std::isnan(sv[4]));
  CHECK(sv[5] == 1.0f);
  CHECK(sv[6] == 1e-38f);
}
