// Activations beyond tanh/sigmoid/relu, with PyTorch's formulas, defaults and subgradients:
// softplus, gelu (exact erf form or the tanh approximation), leaky_relu and elu.
#include <cmath>
#include <string>

#include <tapegrad/autograd/detail/elementwise.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tg {
namespace {

using detail::Cost;
using detail::Reads;
using detail::unary;

void require_finite(const char* op, const char* name, double value) {
  if (!std::isfinite(value))
    throw std::invalid_argument(std::string(op) + ": " + name + " must be finite, got " + std::to_string(value));
}

template <class T>
Tensor softplus_kernel(const Tensor& x, T beta, T threshold) {
  // y = log(1 + e^(βx)) / β, or x where βx > threshold (where the two agree to float precision)
  return unary<T>("softplus", x, Reads::x,
                  [beta, threshold](const auto& v) { return xt::where(beta * v > threshold, v, xt::log1p(xt::exp(beta * v)) / beta); },
                  // dx = dy σ(βx), or dy past the threshold
                  [beta, threshold](const auto& dy, const auto& x_, const auto&) {
                    return xt::where(beta * x_ > threshold, dy, dy / (T(1) + xt::exp(-beta * x_)));
                  }, Cost::transcendental, Cost::transcendental);
}

template <class T>
Tensor gelu_kernel(const Tensor& x, GeluApproximation approximate) {
  if (approximate == GeluApproximation::tanh) {
    const T k = T(std::sqrt(2.0 / M_PI)), c = T(0.044715);
    // y = x (1 + tanh(u)) / 2, u = √(2/π) (x + 0.044715 x³)
    return unary<T>("gelu", x, Reads::x,
                    [k, c](const auto& v) { return T(0.5) * v * (T(1) + xt::tanh(k * (v + c * v * v * v))); },
                    // dx = dy [ (1 + t) / 2 + x (1 - t²) √(2/π) (1 + 3 · 0.044715 x²) / 2 ], t = tanh(u)
                    [k, c](const auto& dy, const auto& x_, const auto&) {
                      // t is rebuilt as a temporary at each use: the lazy result must not refer to
                      // a local expression that dies when this lambda returns
                      const auto t = [&] { return xt::tanh(k * (x_ + c * x_ * x_ * x_)); };
                      return dy * (T(0.5) * (T(1) + t()) + T(0.5) * x_ * (T(1) - t() * t()) * k * (T(1) + T(3) * c * x_ * x_));
                    }, Cost::transcendental, Cost::transcendental);
  }
  const T inv_sqrt2 = T(1.0 / std::sqrt(2.0)), inv_sqrt_2pi = T(1.0 / std::sqrt(2.0 * M_PI));
  // y = x Φ(x), Φ(x) = (1 + erf(x / √2)) / 2
  return unary<T>("gelu", x, Reads::x,
                  [inv_sqrt2](const auto& v) { return T(0.5) * v * (T(1) + xt::erf(v * inv_sqrt2)); },
                  // dx = dy (Φ(x) + x φ(x)), φ(x) = e^(-x²/2) / √(2π)
                  [inv_sqrt2, inv_sqrt_2pi](const auto& dy, const auto& x_, const auto&) {
                    return dy * (T(0.5) * (T(1) + xt::erf(x_ * inv_sqrt2)) + x_ * inv_sqrt_2pi * xt::exp(T(-0.5) * x_ * x_));
                  }, Cost::transcendental, Cost::transcendental);
}

template <class T>
Tensor leaky_relu_kernel(const Tensor& x, T slope) {
  return unary<T>("leaky_relu", x, Reads::x, [slope](const auto& v) { return xt::where(v > T(0), v, slope * v); },
                  // dx = dy where x > 0, else slope dy (at 0 too, as in PyTorch)
                  [slope](const auto& dy, const auto& x_, const auto&) { return xt::where(x_ > T(0), dy, slope * dy); });
}

template <class T>
Tensor elu_kernel(const Tensor& x, T alpha) {
  return unary<T>("elu", x, Reads::x, [alpha](const auto& v) { return xt::where(v > T(0), v, alpha * xt::expm1(v)); },
                  // dx = dy where x > 0, else α e^x dy (at 0: α, as in PyTorch)
                  [alpha](const auto& dy, const auto& x_, const auto&) { return xt::where(x_ > T(0), dy, alpha * xt::exp(x_) * dy); }, Cost::transcendental, Cost::transcendental);
}

}  // namespace

// ===== the public ops: each runs its kernel for its tensors' dtype =====

Tensor softplus(const Tensor& x, double beta, double threshold) {
  require_finite("softplus", "beta", beta);
  require_finite("softplus", "threshold", threshold);
  if (beta == 0.0) throw std::invalid_argument("softplus: beta must not be 0");
  return detail::dispatch("softplus", {&x}, [&](auto t) { return softplus_kernel<decltype(t)>(x, beta, threshold); });
}

Tensor gelu(const Tensor& x, GeluApproximation approximate) {
  return detail::dispatch("gelu", {&x}, [&](auto t) { return gelu_kernel<decltype(t)>(x, approximate); });
}

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  require_finite("leaky_relu", "negative_slope", negative_slope);
  return detail::dispatch("leaky_relu", {&x}, [&](auto t) { return leaky_relu_kernel<decltype(t)>(x, negative_slope); });
}

Tensor elu(const Tensor& x, double alpha) {
  require_finite("elu", "alpha", alpha);
  return detail::dispatch("elu", {&x}, [&](auto t) { return elu_kernel<decltype(t)>(x, alpha); });
}

}  // namespace tg
