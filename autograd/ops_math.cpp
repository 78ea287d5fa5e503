// More elementwise math: abs, sin, cos, log1p, and the binary maximum/minimum with numpy
// broadcasting. Kinks take PyTorch's subgradients: abs'(0) = 0; maximum and minimum split dy
// evenly between tied inputs.
#include <cmath>
#include <limits>

#include <tapegrad/autograd/detail/elementwise.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tg {
namespace {

using detail::Cost;
using detail::Reads;
using detail::unary;

template <class T>
Tensor abs_kernel(const Tensor& x) {
  return unary<T>("abs", x, Reads::x, [](const auto& v) { return xt::abs(v); },
                  // dx = dy sign(x), sign(0) = 0
                  [](const auto& dy, const auto& x_, const auto&) { return dy * xt::sign(x_); });
}

template <class T>
Tensor sin_kernel(const Tensor& x) {
  return unary<T>("sin", x, Reads::x, [](const auto& v) { return xt::sin(v); },
                  [](const auto& dy, const auto& x_, const auto&) { return dy * xt::cos(x_); }, Cost::transcendental, Cost::transcendental);  // dx = dy cos x
}

template <class T>
Tensor cos_kernel(const Tensor& x) {
  return unary<T>("cos", x, Reads::x, [](const auto& v) { return xt::cos(v); },
                  [](const auto& dy, const auto& x_, const auto&) { return -dy * xt::sin(x_); }, Cost::transcendental, Cost::transcendental);  // dx = -dy sin x
}

template <class T>
Tensor log1p_kernel(const Tensor& x) {
  return unary<T>("log1p", x, Reads::x, [](const auto& v) { return xt::log1p(v); },
                  [](const auto& dy, const auto& x_, const auto&) { return dy / (T(1) + x_); }, Cost::transcendental);  // dx = dy / (1 + x)
}

// maximum (Max) or minimum of a and b, broadcast. An input's share of dy: all of it where it is
// the one chosen, half where a == b, none where the other wins (PyTorch's rule; a NaN, never
// equal nor beaten, takes all of it, as in PyTorch).
template <class T, bool Max>
Tensor extreme_of_two_kernel(const char* op, const Tensor& a, const Tensor& b) {
  auto out = detail::binary_forward<T>(op, a, b, [](T u, T v) {
    if (std::isnan(u) || std::isnan(v)) return std::numeric_limits<T>::quiet_NaN();  // NaN propagates
    return Max ? (u < v ? v : u) : (v < u ? v : u);
  });
  return detail::finish<T>(op, out, {detail::impl_ptr(a), detail::impl_ptr(b)},
                           {detail::input_bit(0) | detail::input_bit(1)}, [](const detail::Grad<T>& g) {
    const Shape& os = g.out().shape;
    const std::size_t n = numel(os);
    Buffer<T> share(n);
    for (std::size_t k = 0; k < 2; ++k) {
      if (!g.needs(k) || numel(g.in(k).shape) == 0) continue;
      const std::size_t other = 1 - k;
      // share[i] = this input's fraction of dy at output element i
      detail::broadcast_binary(os, g.x(k), g.in(k).shape, g.x(other), g.in(other).shape, share.data(), [](T mine, T theirs) {
        if (mine == theirs) return T(0.5);
        return (Max ? mine < theirs : theirs < mine) ? T(0) : T(1);
      });
      for (std::size_t i = 0; i < n; ++i) share.data()[i] *= g.dy()[i];
      detail::accumulate_sum_to(g.grad_acc(k), g.in(k).shape, share.data(), os);
    }
  });
}

}  // namespace

// ===== the public ops: each runs its kernel for its tensors' dtype =====

Tensor abs(const Tensor& x) {
  return detail::dispatch("abs", {&x}, [&](auto t) { return abs_kernel<decltype(t)>(x); });
}

Tensor sin(const Tensor& x) {
  return detail::dispatch("sin", {&x}, [&](auto t) { return sin_kernel<decltype(t)>(x); });
}

Tensor cos(const Tensor& x) {
  return detail::dispatch("cos", {&x}, [&](auto t) { return cos_kernel<decltype(t)>(x); });
}

Tensor log1p(const Tensor& x) {
  return detail::dispatch("log1p", {&x}, [&](auto t) { return log1p_kernel<decltype(t)>(x); });
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  return detail::dispatch("maximum", {&a, &b}, [&](auto t) { return extreme_of_two_kernel<decltype(t), true>("maximum", a, b); });
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  return detail::dispatch("minimum", {&a, &b}, [&](auto t) { return extreme_of_two_kernel<decltype(t), false>("minimum", a, b); });
}

}  // namespace tg
