#include <tapegrad/autograd/gradcheck.hpp>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <random>
#include <sstream>

#include <xtensor/xbuilder.hpp>

#include <tapegrad/autograd/detail/node.hpp>

namespace tg {
namespace {

Tensor evaluate(const GradcheckFn& f, const std::vector<Tensor>& xs) {
  Tensor y = f(xs);
  if (!y.defined()) throw std::logic_error("gradcheck: f returned an undefined tensor");
  if (y.dtype() != kFloat64)
    throw std::invalid_argument(std::string("gradcheck: f returned a ") + dtype_name(y.dtype()) +
                                " tensor; gradcheck runs in float64 (convert with to(kFloat64))");
  return y;
}

// sum(w * f(xs)) without recording anything.
double weighted_output(const GradcheckFn& f, const std::vector<Tensor>& xs,
                       const std::vector<double>& w) {
  NoGradGuard no_grad;
  const Tensor y = evaluate(f, xs);
  if (y.numel() != w.size())
    throw std::logic_error("gradcheck: f returned " + std::to_string(y.numel()) +
                           " elements on one call and " + std::to_string(w.size()) +
                           " on another; it must be deterministic");
  double s = 0;
  for (std::size_t i = 0; i < w.size(); ++i) s += w[i] * y.data<double>()[i];
  return s;
}

// Sets the inputs' gradients aside for the analytic pass and puts them back on every exit
// path, so a throwing f leaves the caller's gradients as they were.
class SavedGrads {
 public:
  // An input without a gradient is put back without one (Note [reading gradients]).
  explicit SavedGrads(const std::vector<Tensor>& xs) : xs_(xs), grads_(xs.size()) {
    for (std::size_t k = 0; k < xs_.size(); ++k)
      if (xs_[k].requires_grad()) {
        grads_[k] = xs_[k].grad();  // undefined when there is none
        Tensor(xs_[k]).zero_grad(true);
      }
  }
  ~SavedGrads() {
    for (std::size_t k = 0; k < xs_.size(); ++k) {
      if (!xs_[k].requires_grad()) continue;
      Tensor x = xs_[k];
      x.zero_grad(true);
      if (grads_[k].defined()) std::copy_n(grads_[k].data<double>(), grads_[k].numel(), x.grad_data<double>());
    }
  }
  SavedGrads(const SavedGrads&) = delete;
  SavedGrads& operator=(const SavedGrads&) = delete;

 private:
  const std::vector<Tensor>& xs_;
  std::vector<Tensor> grads_;
};

// One input element moved by +-eps, put back bit for bit however the scope ends.
class Perturbation {
 public:
  explicit Perturbation(double* v) : v_(v), saved_(*v) {}
  ~Perturbation() { *v_ = saved_; }
  double saved() const { return saved_; }
  void set(double value) { *v_ = value; }
  Perturbation(const Perturbation&) = delete;
  Perturbation& operator=(const Perturbation&) = delete;

 private:
  double* v_;
  double saved_;
};

}  // namespace

std::ostream& operator<<(std::ostream& os, const GradcheckResult& r) {
  return os << (r.passed ? "gradcheck passed: " : "gradcheck FAILED: ") << r.message;
}

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs, double eps,
                          double atol, double rtol) {
  if (!(eps > 0)) throw std::invalid_argument("gradcheck: eps must be positive");
  // Note [gradcheck in place]: the inputs are perturbed in place (and restored bit for bit),
  // so a module's own parameters can be passed as inputs while f calls the module. Their
  // gradients are set aside for the analytic pass and put back afterwards.
  const std::vector<Tensor>& xs = inputs;
  for (const auto& x : xs)
    if (!x.is_leaf())
      throw std::invalid_argument("gradcheck: every input must be a leaf (a param or constant); "
                                  "input produced by op '" + std::string(x.producer_op()) + "' is not");
  for (std::size_t k = 0; k < xs.size(); ++k)
    if (xs[k].requires_grad() && xs[k].dtype() != kFloat64)
      throw std::invalid_argument("gradcheck: input " + std::to_string(k) + " is " + dtype_name(xs[k].dtype()) +
                                  "; gradcheck runs in float64 (convert it with to(kFloat64))");
  const SavedGrads saved_grads(xs);
  clear_tape();

  // Analytic: backward of sum(w * f) is backward of f seeded with w.
  Tensor y = evaluate(f, xs);
  std::mt19937_64 rng(20240601);  // fixed, independent of the library RNG
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<double> w(y.numel());
  for (double& v : w) v = dist(rng);
  if (y.requires_grad()) {
    xt::xarray<double> seed = xt::xarray<double>::from_shape(y.shape());
    std::copy(w.begin(), w.end(), seed.begin());
    y.backward(Tensor::constant(seed));
  }
  clear_tape();
  std::vector<xt::xarray<double>> analytic(xs.size());
  for (std::size_t k = 0; k < xs.size(); ++k)
    if (xs[k].requires_grad()) {
      const Tensor g = xs[k].grad();  // undefined: f does not depend on this input
      analytic[k] = g.defined() ? g.to_xarray<double>() : xt::xarray<double>(xt::zeros<double>(xs[k].shape()));
    }

  GradcheckResult r;
  r.passed = true;
  for (std::size_t k = 0; k < xs.size(); ++k) {
    if (!xs[k].requires_grad()) continue;
    Tensor x = xs[k];
    for (std::size_t e = 0; e < x.numel(); ++e) {
      double plus, minus;
      {
        Perturbation p(x.mutable_data<double>() + e);
        p.set(p.saved() + eps);
        plus = weighted_output(f, xs, w);
        p.set(p.saved() - eps);
        minus = weighted_output(f, xs, w);
      }
      const double numeric = (plus - minus) / (2 * eps);
      const double a = analytic[k].data()[e];
      const double err = std::abs(a - numeric);
      r.elements_checked += 1;
      r.max_abs_error = std::max(r.max_abs_error, err);
      if (r.passed && !(err <= atol + rtol * std::abs(numeric))) {
        r.passed = false;
        std::ostringstream os;
        os.precision(10);
        os << "input " << k << " (shape " << to_string(xs[k].shape()) << ") element " << e
           << ": analytic " << a << " vs numeric " << numeric << " (|diff| " << err
           << " > atol " << atol << " + rtol " << rtol << " * |numeric|)";
        r.message = os.str();
      }
    }
  }
  if (r.passed) {
    std::ostringstream os;
    os << r.elements_checked << " elements, max |analytic - numeric| = " << r.max_abs_error;
    r.message = os.str();
  }
  return r;
}

}  // namespace tg
