// Elementwise ops: binary with numpy broadcasting, unary math, scalar forms.
// Every broadcasting backward ends in accumulate_sum_to(grad, input_shape).
#include <cmath>

#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/op_helpers.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tg {
namespace {

using detail::flat;

// in.grad += sum_to(f(dy, other), in.shape): f is evaluated at the broadcast shape os.
template <class T, class F>
void backprop_binary(TensorImpl& in, const T* dy, const Shape& os, const T* other,
                     const Shape& other_shape, F f) {
  const std::size_t n = numel(os);
  if (in.shape == os && other_shape == os) {
    bool fresh;  // Note [first write assigns]
    T* g = in.template grad_for_overwrite<T>(fresh);
    if (fresh) for (std::size_t i = 0; i < n; ++i) g[i] = f(dy[i], other[i]);
    else for (std::size_t i = 0; i < n; ++i) g[i] += f(dy[i], other[i]);
    return;
  }
  Buffer<T> tmp(n);
  detail::broadcast_binary(os, dy, os, other, other_shape, tmp.data(), f);
  detail::accumulate_sum_to(in.template grad_acc<T>(), in.shape, tmp.data(), os);
}

// The forward half shared by the four binary ops.
template <class T, class F>
std::shared_ptr<TensorImpl> binary_forward(const char* op, const Tensor& a,
                                              const Tensor& b, F f) {
  const Shape os = broadcast_shapes(op, a.shape(), b.shape());
  auto out = detail::new_output<T>(op, os);
  detail::broadcast_binary(os, detail::values<T>(a), a.shape(), detail::values<T>(b), b.shape(), out->value.template data<T>(), f);
  return out;
}

// What a unary op's derivative reads, besides dy: nothing, x, y = f(x), or both.
enum class Reads { none, x, y, both };

detail::TensorSet saved_by(Reads r) {
  switch (r) {
    case Reads::none: return 0;
    case Reads::x: return detail::input_bit(0);
    case Reads::y: return detail::kOutput;
    case Reads::both: return detail::input_bit(0) | detail::kOutput;
  }
  return 0;  // unreachable: every enumerator returns above
}

// A unary op from its value f(x) and its derivative df(dy, x, y) (both xtensor expressions
// over flat views, so xsimd vectorises them). Lambdas take their views by const reference:
// the expressions they return refer to them. `reads` says which of x and y df uses, so only
// those are checked for in-place writes (Note [versions]).
template <class T, class F, class DF>
Tensor unary(const char* op, const Tensor& x, Reads reads, F f, DF df) {
  const std::size_t n = x.numel();
  auto out = detail::new_output<T>(op, x.shape());
  auto xv = flat(detail::values<T>(x), n);
  auto yv = flat(out->value.template data<T>(), n);
  xt::noalias(yv) = f(xv);
  return detail::finish<T>(op, out, {detail::impl_ptr(x)}, {saved_by(reads)}, [df, n](const detail::Grad<T>& g) {
    auto dy = flat(g.dy(), n);
    auto xv = flat(static_cast<const T*>(g.x(0)), n);
    auto yv = flat(g.y(), n);
    bool fresh;  // Note [first write assigns]
    auto dx = flat(g.grad_for_overwrite(0, fresh), n);
    if (fresh) xt::noalias(dx) = df(dy, xv, yv);
    else xt::noalias(dx) += df(dy, xv, yv);
  });
}

}  // namespace

// ===== binary =====

template <class T>
Tensor add_kernel(const Tensor& a, const Tensor& b) {
  auto out = binary_forward<T>("add", a, b, [](T u, T v) { return u + v; });
  // d(a+b) = dy for both, summed over broadcast dims: all the engine's work (passes_dy)
  return detail::finish<T>("add", out, {detail::impl_ptr(a), detail::impl_ptr(b)},
                           {0, detail::input_bit(0) | detail::input_bit(1)}, nullptr);
}

template <class T>
Tensor sub_kernel(const Tensor& a, const Tensor& b) {
  auto out = binary_forward<T>("sub", a, b, [](T u, T v) { return u - v; });
  // d(a-b)/da = dy (passes_dy), d(a-b)/db = -dy
  return detail::finish<T>("sub", out, {detail::impl_ptr(a), detail::impl_ptr(b)}, {0, detail::input_bit(0)},
                           [](const detail::Grad<T>& g) {
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
  return detail::finish<T>("mul", out, {detail::impl_ptr(a), detail::impl_ptr(b)}, {saves},
                           [](const detail::Grad<T>& g) {
    auto times = [](T d, T v) { return d * v; };
    // da = dy * b, db = dy * a, each summed over the dims broadcasting expanded
    if (g.needs(0)) backprop_binary(g.in(0), g.dy(), g.out().shape, g.x(1), g.in(1).shape, times);
    if (g.needs(1)) backprop_binary(g.in(1), g.dy(), g.out().shape, g.x(0), g.in(0).shape, times);
  });
}

template <class T>
Tensor div_kernel(const Tensor& a, const Tensor& b) {
  auto out = binary_forward<T>("div", a, b, [](T u, T v) { return u / v; });
  // da reads b; db reads b and y = a / b
  const detail::TensorSet saves = detail::input_bit(1) | (b.requires_grad() ? detail::kOutput : 0);
  return detail::finish<T>("div", out, {detail::impl_ptr(a), detail::impl_ptr(b)}, {saves},
                           [](const detail::Grad<T>& g) {
    const T* dy = g.dy();
    const TensorImpl& o = g.out();
    const TensorImpl& B = g.in(1);
    // da = dy / b
    if (g.needs(0)) backprop_binary(g.in(0), dy, o.shape, B.value.template data<T>(), B.shape, [](T d, T v) { return d / v; });
    if (g.needs(1)) {
      // db = -dy * a / b^2 = -(dy * y) / b, with y = a / b
      const std::size_t n = numel(o.shape);
      Buffer<T> dy_y(n);
      for (std::size_t i = 0; i < n; ++i) dy_y.data()[i] = dy[i] * o.value.template data<T>()[i];
      backprop_binary(g.in(1), dy_y.data(), o.shape, B.value.template data<T>(), B.shape, [](T d, T v) { return -d / v; });
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
  return unary<T>("tanh", x, Reads::y, [](const auto& v) { return xt::tanh(v); },
               // y = tanh x: dx = dy (1 - y^2)
               [](const auto& dy, const auto&, const auto& y) { return dy * (T(1) - y * y); });
}

template <class T>
Tensor sigmoid_kernel(const Tensor& x) {
  return unary<T>("sigmoid", x, Reads::y, [](const auto& v) { return T(1) / (T(1) + xt::exp(-v)); },
               // y = 1 / (1 + e^-x): dx = dy y (1 - y)
               [](const auto& dy, const auto&, const auto& y) { return dy * y * (T(1) - y); });
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
               [](const auto& dy, const auto&, const auto& y) { return dy * y; });
}

template <class T>
Tensor log_kernel(const Tensor& x) {
  return unary<T>("log", x, Reads::x, [](const auto& v) { return xt::log(v); },
               // y = log x: dx = dy / x
               [](const auto& dy, const auto& x_, const auto&) { return dy / x_; });
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
               [p](const auto& dy, const auto& x_, const auto&) { return p * xt::pow(x_, p - T(1)) * dy; });
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
