// Elementwise ops: binary with numpy broadcasting, unary math, scalar forms.
// Every broadcasting backward ends in accumulate_sum_to(grad, input_shape).
#include <cmath>
#include <type_traits>

#include <tapegrad/autograd/detail/elementwise.hpp>
#include <tapegrad/autograd/detail/float_tanh.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tg {

using detail::Cost;
using detail::PointwiseGrad;
using detail::write_grad;
using detail::Reads;
using detail::backprop_binary;
using detail::binary_forward;
using detail::unary;

// ===== binary =====

// Records a binary op: pointwise (`range`, Note [pointwise runs]) when a, b and the output
// have one shape, else with `broadcast`, its backward over broadcast shapes.
template <class T, class Range, class Backward>
Tensor finish_binary(const char* op, std::shared_ptr<TensorImpl> out, const Tensor& a, const Tensor& b,
                     detail::Recording&& rec, detail::TensorSet writes, Range&& range, Backward&& broadcast) {
  if (a.shape() == out->shape && b.shape() == out->shape)
    return detail::finish_pointwise<T>(op, std::move(out), {detail::impl_ptr(a), detail::impl_ptr(b)}, std::move(rec),
                                       writes, Cost::cheap, std::forward<Range>(range));
  return detail::finish<T>(op, std::move(out), {detail::impl_ptr(a), detail::impl_ptr(b)}, std::move(rec),
                           std::forward<Backward>(broadcast));
}

template <class T>
Tensor add_kernel(const Tensor& a, const Tensor& b) {
  auto out = binary_forward<T>("add", a, b, [](T u, T v) { return u + v; });
  // d(a+b) = dy for both, summed over broadcast dims: all the engine's work (passes_dy)
  return finish_binary<T>("add", out, a, b, {0, detail::input_bit(0) | detail::input_bit(1)}, 0, nullptr, nullptr);
}

template <class T>
Tensor sub_kernel(const Tensor& a, const Tensor& b) {
  auto out = binary_forward<T>("sub", a, b, [](T u, T v) { return u - v; });
  // d(a-b)/da = dy (passes_dy), d(a-b)/db = -dy
  return finish_binary<T>("sub", out, a, b, {0, detail::input_bit(0)}, detail::input_bit(1),
                          [](const PointwiseGrad<T>& g, std::size_t begin, std::size_t end) {
    const T* dy = g.dy();
    write_grad(g, 1, begin, end, [&](std::size_t i) { return -dy[i]; });
  }, [](const detail::Grad<T>& g) {
    if (g.needs(1))
      backprop_binary(g.in(1), g.dy(), g.out().shape, g.dy(), g.out().shape, [](T d, T) { return -d; });
  });
}

template <class T>
Tensor mul_kernel(const Tensor& a, const Tensor& b) {
  auto out = binary_forward<T>("mul", a, b, [](T u, T v) { return u * v; });  // checks the shapes
  // da reads b and db reads a: each is saved only when the other takes a gradient
  const detail::TensorSet saves = (b.requires_grad() ? detail::input_bit(0) : 0) |
                                  (a.requires_grad() ? detail::input_bit(1) : 0);
  // da = dy * b, db = dy * a (each summed over the dims broadcasting expanded)
  return finish_binary<T>("mul", out, a, b, {saves}, detail::input_bit(0) | detail::input_bit(1),
                          [](const PointwiseGrad<T>& g, std::size_t begin, std::size_t end) {
    const T *dy = g.dy(), *x0 = g.x(0), *x1 = g.x(1);
    write_grad(g, 0, begin, end, [&](std::size_t i) { return dy[i] * x1[i]; });
    write_grad(g, 1, begin, end, [&](std::size_t i) { return dy[i] * x0[i]; });
  }, [](const detail::Grad<T>& g) {
    auto times = [](T d, T v) { return d * v; };
    if (g.needs(0)) backprop_binary(g.in(0), g.dy(), g.out().shape, g.x(1), g.in(1).shape, times);
    if (g.needs(1)) backprop_binary(g.in(1), g.dy(), g.out().shape, g.x(0), g.in(0).shape, times);
  });
}

template <class T>
Tensor div_kernel(const Tensor& a, const Tensor& b) {
  auto out = binary_forward<T>("div", a, b, [](T u, T v) { return u / v; });
  // da reads b; db reads b and y = a / b
  const detail::TensorSet saves = detail::input_bit(1) | (b.requires_grad() ? detail::kOutput : 0);
  // da = dy / b, db = -dy * a / b^2 = -(dy * y) / b, with y = a / b
  return finish_binary<T>("div", out, a, b, {saves}, detail::input_bit(0) | detail::input_bit(1),
                          [](const PointwiseGrad<T>& g, std::size_t begin, std::size_t end) {
    const T *dy = g.dy(), *x1 = g.x(1), *y = g.y();
    write_grad(g, 0, begin, end, [&](std::size_t i) { return dy[i] / x1[i]; });
    write_grad(g, 1, begin, end, [&](std::size_t i) { return -(dy[i] * y[i]) / x1[i]; });
  }, [](const detail::Grad<T>& g) {
    const T* dy = g.dy();
    const Shape& os = g.out().shape;
    const Shape& bs = g.in(1).shape;
    if (g.needs(0)) backprop_binary(g.in(0), dy, os, g.x(1), bs, [](T d, T v) { return d / v; });
    if (g.needs(1)) {
      const std::size_t n = numel(os);
      const T* y = g.y();
      Buffer<T> dy_y(n);
      for (std::size_t i = 0; i < n; ++i) dy_y.data()[i] = dy[i] * y[i];
      backprop_binary(g.in(1), dy_y.data(), os, g.x(1), bs, [](T d, T v) { return -d / v; });
    }
  });
}

// ===== unary =====

template <class T>
Tensor neg_kernel(const Tensor& x) {
  return mul_scalar(x, T(-1));
}

template <class T>
Tensor add_scalar_kernel(const Tensor& x, T s) {
  return unary<T>("add_scalar", x, Reads::none, [s](const auto& v) { return v + s; },
               [](const auto& dy, const auto&, const auto&) { return dy; });  // d(x+s) = dy
}

template <class T>
Tensor mul_scalar_kernel(const Tensor& x, T s) {
  return unary<T>("mul_scalar", x, Reads::none, [s](const auto& v) { return v * s; },
               [s](const auto& dy, const auto&, const auto&) { return s * dy; });  // d(sx) = s dy
}

template <class T>
Tensor rsub_scalar_kernel(const Tensor& x, T s) {
  return unary<T>("rsub_scalar", x, Reads::none, [s](const auto& v) { return s - v; },
               [](const auto& dy, const auto&, const auto&) { return -dy; });  // d(s-x) = -dy
}

template <class T>
Tensor rdiv_scalar_kernel(const Tensor& x, T s) {
  return unary<T>("rdiv_scalar", x, Reads::both, [s](const auto& v) { return s / v; },
               // y = s / x: dx = -dy y / x
               [](const auto& dy, const auto& x_, const auto& y) { return -dy * y / x_; });
}

template <class T>
Tensor tanh_kernel(const Tensor& x) {
  return unary<T>("tanh", x, Reads::y,
               [](const auto& v) {
                 if constexpr (std::is_same_v<T, float>)  // Note [float tanh]
                   return xt::detail::make_xfunction<detail::float_tanh_fun>(v);
                 else
                   return xt::tanh(v);
               },
               // y = tanh x: dx = dy (1 - y^2)
               [](const auto& dy, const auto&, const auto& y) { return dy * (T(1) - y * y); }, Cost::transcendental);
}

template <class T>
Tensor sigmoid_kernel(const Tensor& x) {
  return unary<T>("sigmoid", x, Reads::y, [](const auto& v) { return T(1) / (T(1) + xt::exp(-v)); },
               // y = 1 / (1 + e^-x): dx = dy y (1 - y)
               [](const auto& dy, const auto&, const auto& y) { return dy * y * (T(1) - y); }, Cost::transcendental);
}

template <class T>
Tensor relu_kernel(const Tensor& x) {
  return unary<T>("relu", x, Reads::x, [](const auto& v) { return xt::maximum(v, T(0)); },
               // dx = dy where x > 0
               [](const auto& dy, const auto& x_, const auto&) { return xt::where(x_ > T(0), dy, T(0)); });
}

template <class T>
Tensor exp_kernel(const Tensor& x) {
  return unary<T>("exp", x, Reads::y, [](const auto& v) { return xt::exp(v); },
               // y = e^x: dx = dy y
               [](const auto& dy, const auto&, const auto& y) { return dy * y; }, Cost::transcendental);
}

template <class T>
Tensor log_kernel(const Tensor& x) {
  return unary<T>("log", x, Reads::x, [](const auto& v) { return xt::log(v); },
               // y = log x: dx = dy / x
               [](const auto& dy, const auto& x_, const auto&) { return dy / x_; }, Cost::transcendental);
}

template <class T>
Tensor sqrt_kernel(const Tensor& x) {
  return unary<T>("sqrt", x, Reads::y, [](const auto& v) { return xt::sqrt(v); },
               // y = sqrt x: dx = dy / (2 y)
               [](const auto& dy, const auto&, const auto& y) { return dy / (T(2) * y); });
}

template <class T>
Tensor square_kernel(const Tensor& x) {
  return unary<T>("square", x, Reads::x, [](const auto& v) { return v * v; },
               // y = x^2: dx = 2 x dy
               [](const auto& dy, const auto& x_, const auto&) { return T(2) * x_ * dy; });
}

template <class T>
Tensor pow_kernel(const Tensor& x, T p) {
  return unary<T>("pow", x, Reads::x, [p](const auto& v) { return xt::pow(v, p); },
               // y = x^p: dx = p x^(p-1) dy
               [p](const auto& dy, const auto& x_, const auto&) { return p * xt::pow(x_, p - T(1)) * dy; }, Cost::transcendental, Cost::transcendental);
}

template <class T>
Tensor clamp_kernel(const Tensor& x, T low, T high) {
  if (!(low <= high))
    throw std::invalid_argument("clamp: low (" + std::to_string(low) +
                                ") must not exceed high (" + std::to_string(high) + ")");
  return unary<T>("clamp", x, Reads::x, [low, high](const auto& v) { return xt::clip(v, low, high); },
               // dx = dy where low <= x <= high
               [low, high](const auto& dy, const auto& x_, const auto&) {
                 return xt::where(x_ >= low && x_ <= high, dy, T(0));
               });
}

// ===== the public ops: each runs its kernel for its tensors' dtype =====

Tensor add(const Tensor& a, const Tensor& b) {
  return detail::dispatch("add", {&a, &b}, [&](auto t) { return add_kernel<decltype(t)>(a, b); });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  return detail::dispatch("sub", {&a, &b}, [&](auto t) { return sub_kernel<decltype(t)>(a, b); });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  return detail::dispatch("mul", {&a, &b}, [&](auto t) { return mul_kernel<decltype(t)>(a, b); });
}

Tensor div(const Tensor& a, const Tensor& b) {
  return detail::dispatch("div", {&a, &b}, [&](auto t) { return div_kernel<decltype(t)>(a, b); });
}

Tensor neg(const Tensor& x) {
  return detail::dispatch("neg", {&x}, [&](auto t) { return neg_kernel<decltype(t)>(x); });
}

Tensor add_scalar(const Tensor& x, double s) {
  return detail::dispatch("add_scalar", {&x}, [&](auto t) { return add_scalar_kernel<decltype(t)>(x, s); });
}

Tensor mul_scalar(const Tensor& x, double s) {
  return detail::dispatch("mul_scalar", {&x}, [&](auto t) { return mul_scalar_kernel<decltype(t)>(x, s); });
}

Tensor rsub_scalar(const Tensor& x, double s) {
  return detail::dispatch("rsub_scalar", {&x}, [&](auto t) { return rsub_scalar_kernel<decltype(t)>(x, s); });
}

Tensor rdiv_scalar(const Tensor& x, double s) {
  return detail::dispatch("rdiv_scalar", {&x}, [&](auto t) { return rdiv_scalar_kernel<decltype(t)>(x, s); });
}

Tensor tanh(const Tensor& x) {
  return detail::dispatch("tanh", {&x}, [&](auto t) { return tanh_kernel<decltype(t)>(x); });
}

Tensor sigmoid(const Tensor& x) {
  return detail::dispatch("sigmoid", {&x}, [&](auto t) { return sigmoid_kernel<decltype(t)>(x); });
}

Tensor relu(const Tensor& x) {
  return detail::dispatch("relu", {&x}, [&](auto t) { return relu_kernel<decltype(t)>(x); });
}

Tensor exp(const Tensor& x) {
  return detail::dispatch("exp", {&x}, [&](auto t) { return exp_kernel<decltype(t)>(x); });
}

Tensor log(const Tensor& x) {
  return detail::dispatch("log", {&x}, [&](auto t) { return log_kernel<decltype(t)>(x); });
}

Tensor sqrt(const Tensor& x) {
  return detail::dispatch("sqrt", {&x}, [&](auto t) { return sqrt_kernel<decltype(t)>(x); });
}

Tensor square(const Tensor& x) {
  return detail::dispatch("square", {&x}, [&](auto t) { return square_kernel<decltype(t)>(x); });
}

Tensor pow(const Tensor& x, double p) {
  return detail::dispatch("pow", {&x}, [&](auto t) { return pow_kernel<decltype(t)>(x, p); });
}

Tensor clamp(const Tensor& x, double low, double high) {
  return detail::dispatch("clamp", {&x}, [&](auto t) { return clamp_kernel<decltype(t)>(x, low, high); });
}

}  // namespace tg
