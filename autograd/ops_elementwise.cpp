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
void backprop_binary(TensorImpl<T>& in, const T* dy, const Shape& os, const T* other,
                     const Shape& other_shape, F f) {
  const std::size_t n = numel(os);
  if (in.shape == os && other_shape == os) {
    bool fresh;  // Note [first write assigns]
    T* g = in.grad_for_overwrite(fresh);
    if (fresh) for (std::size_t i = 0; i < n; ++i) g[i] = f(dy[i], other[i]);
    else for (std::size_t i = 0; i < n; ++i) g[i] += f(dy[i], other[i]);
    return;
  }
  Buffer<T> tmp(n);
  detail::broadcast_binary(os, dy, os, other, other_shape, tmp.data(), f);
  detail::accumulate_sum_to(in.grad_acc(), in.shape, tmp.data(), os);
}

// The forward half shared by the four binary ops.
template <class T, class F>
std::shared_ptr<TensorImpl<T>> binary_forward(const char* op, const TensorT<T>& a,
                                              const TensorT<T>& b, F f) {
  const Shape os = broadcast_shapes(op, a.shape(), b.shape());
  auto out = detail::new_output<T>(op, os);
  detail::broadcast_binary(os, a.data(), a.shape(), b.data(), b.shape(), out->value.data(), f);
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
TensorT<T> unary(const char* op, const TensorT<T>& x, Reads reads, F f, DF df) {
  const std::size_t n = x.numel();
  auto out = detail::new_output<T>(op, x.shape());
  auto xv = flat(x.data(), n);
  auto yv = flat(out->value.data(), n);
  xt::noalias(yv) = f(xv);
  return detail::finish<T>(op, out, {detail::impl_ptr(x)}, {saved_by(reads)}, [df, n](const detail::Grad<T>& g) {
    auto dy = flat(g.dy(), n);
    auto xv = flat(static_cast<const T*>(g.in(0).value.data()), n);
    auto yv = flat(g.out().value.data(), n);
    bool fresh;  // Note [first write assigns]
    auto dx = flat(g.in(0).grad_for_overwrite(fresh), n);
    if (fresh) xt::noalias(dx) = df(dy, xv, yv);
    else xt::noalias(dx) += df(dy, xv, yv);
  });
}

}  // namespace

// ===== binary =====

template <class T>
TensorT<T> add(const TensorT<T>& a, const TensorT<T>& b) {
  auto out = binary_forward("add", a, b, [](T u, T v) { return u + v; });
  // d(a+b) = dy for both, summed over broadcast dims: all the engine's work (passes_dy)
  return detail::finish<T>("add", out, {detail::impl_ptr(a), detail::impl_ptr(b)},
                           {0, detail::input_bit(0) | detail::input_bit(1)}, nullptr);
}

template <class T>
TensorT<T> sub(const TensorT<T>& a, const TensorT<T>& b) {
  auto out = binary_forward("sub", a, b, [](T u, T v) { return u - v; });
  // d(a-b)/da = dy (passes_dy), d(a-b)/db = -dy
  return detail::finish<T>("sub", out, {detail::impl_ptr(a), detail::impl_ptr(b)}, {0, detail::input_bit(0)},
                           [](const detail::Grad<T>& g) {
    if (g.needs(1))
      backprop_binary(g.in(1), g.dy(), g.out().shape, g.dy(), g.out().shape, [](T d, T) { return -d; });
  });
}

template <class T>
TensorT<T> mul(const TensorT<T>& a, const TensorT<T>& b) {
  auto out = binary_forward("mul", a, b, [](T u, T v) { return u * v; });  // checks the shapes
  // da reads b and db reads a: each is saved only when the other takes a gradient
  const detail::TensorSet saves = (b.requires_grad() ? detail::input_bit(0) : 0) |
                                  (a.requires_grad() ? detail::input_bit(1) : 0);
  return detail::finish<T>("mul", out, {detail::impl_ptr(a), detail::impl_ptr(b)}, {saves},
                           [](const detail::Grad<T>& g) {
    auto times = [](T d, T v) { return d * v; };
    const TensorImpl<T>& A = g.in(0);
    const TensorImpl<T>& B = g.in(1);
    // da = dy * b, db = dy * a, each summed over the dims broadcasting expanded
    if (g.needs(0)) backprop_binary(g.in(0), g.dy(), g.out().shape, B.value.data(), B.shape, times);
    if (g.needs(1)) backprop_binary(g.in(1), g.dy(), g.out().shape, A.value.data(), A.shape, times);
  });
}

template <class T>
TensorT<T> div(const TensorT<T>& a, const TensorT<T>& b) {
  auto out = binary_forward("div", a, b, [](T u, T v) { return u / v; });
  // da reads b; db reads b and y = a / b
  const detail::TensorSet saves = detail::input_bit(1) | (b.requires_grad() ? detail::kOutput : 0);
  return detail::finish<T>("div", out, {detail::impl_ptr(a), detail::impl_ptr(b)}, {saves},
                           [](const detail::Grad<T>& g) {
    const T* dy = g.dy();
    const TensorImpl<T>& o = g.out();
    const TensorImpl<T>& B = g.in(1);
    // da = dy / b
    if (g.needs(0)) backprop_binary(g.in(0), dy, o.shape, B.value.data(), B.shape, [](T d, T v) { return d / v; });
    if (g.needs(1)) {
      // db = -dy * a / b^2 = -(dy * y) / b, with y = a / b
      const std::size_t n = numel(o.shape);
      Buffer<T> dy_y(n);
      for (std::size_t i = 0; i < n; ++i) dy_y.data()[i] = dy[i] * o.value.data()[i];
      backprop_binary(g.in(1), dy_y.data(), o.shape, B.value.data(), B.shape, [](T d, T v) { return -d / v; });
    }
  });
}

// ===== unary =====

template <class T>
TensorT<T> neg(const TensorT<T>& x) {
  return mul_scalar(x, T(-1));
}

template <class T>
TensorT<T> add_scalar(const TensorT<T>& x, T s) {
  return unary("add_scalar", x, Reads::none, [s](const auto& v) { return v + s; },
               [](const auto& dy, const auto&, const auto&) { return dy; });  // d(x+s) = dy
}

template <class T>
TensorT<T> mul_scalar(const TensorT<T>& x, T s) {
  return unary("mul_scalar", x, Reads::none, [s](const auto& v) { return v * s; },
               [s](const auto& dy, const auto&, const auto&) { return s * dy; });  // d(sx) = s dy
}

template <class T>
TensorT<T> rsub_scalar(const TensorT<T>& x, T s) {
  return unary("rsub_scalar", x, Reads::none, [s](const auto& v) { return s - v; },
               [](const auto& dy, const auto&, const auto&) { return -dy; });  // d(s-x) = -dy
}

template <class T>
TensorT<T> rdiv_scalar(const TensorT<T>& x, T s) {
  return unary("rdiv_scalar", x, Reads::both, [s](const auto& v) { return s / v; },
               // y = s / x: dx = -dy y / x
               [](const auto& dy, const auto& x_, const auto& y) { return -dy * y / x_; });
}

template <class T>
TensorT<T> tanh(const TensorT<T>& x) {
  return unary("tanh", x, Reads::y, [](const auto& v) { return xt::tanh(v); },
               // y = tanh x: dx = dy (1 - y^2)
               [](const auto& dy, const auto&, const auto& y) { return dy * (T(1) - y * y); });
}

template <class T>
TensorT<T> sigmoid(const TensorT<T>& x) {
  return unary("sigmoid", x, Reads::y, [](const auto& v) { return T(1) / (T(1) + xt::exp(-v)); },
               // y = 1 / (1 + e^-x): dx = dy y (1 - y)
               [](const auto& dy, const auto&, const auto& y) { return dy * y * (T(1) - y); });
}

template <class T>
TensorT<T> relu(const TensorT<T>& x) {
  return unary("relu", x, Reads::x, [](const auto& v) { return xt::maximum(v, T(0)); },
               // dx = dy where x > 0
               [](const auto& dy, const auto& x_, const auto&) { return xt::where(x_ > T(0), dy, T(0)); });
}

template <class T>
TensorT<T> exp(const TensorT<T>& x) {
  return unary("exp", x, Reads::y, [](const auto& v) { return xt::exp(v); },
               // y = e^x: dx = dy y
               [](const auto& dy, const auto&, const auto& y) { return dy * y; });
}

template <class T>
TensorT<T> log(const TensorT<T>& x) {
  return unary("log", x, Reads::x, [](const auto& v) { return xt::log(v); },
               // y = log x: dx = dy / x
               [](const auto& dy, const auto& x_, const auto&) { return dy / x_; });
}

template <class T>
TensorT<T> sqrt(const TensorT<T>& x) {
  return unary("sqrt", x, Reads::y, [](const auto& v) { return xt::sqrt(v); },
               // y = sqrt x: dx = dy / (2 y)
               [](const auto& dy, const auto&, const auto& y) { return dy / (T(2) * y); });
}

template <class T>
TensorT<T> square(const TensorT<T>& x) {
  return unary("square", x, Reads::x, [](const auto& v) { return v * v; },
               // y = x^2: dx = 2 x dy
               [](const auto& dy, const auto& x_, const auto&) { return T(2) * x_ * dy; });
}

template <class T>
TensorT<T> pow(const TensorT<T>& x, T p) {
  return unary("pow", x, Reads::x, [p](const auto& v) { return xt::pow(v, p); },
               // y = x^p: dx = p x^(p-1) dy
               [p](const auto& dy, const auto& x_, const auto&) { return p * xt::pow(x_, p - T(1)) * dy; });
}

template <class T>
TensorT<T> clamp(const TensorT<T>& x, T low, T high) {
  if (!(low <= high))
    throw std::invalid_argument("clamp: low (" + std::to_string(low) +
                                ") must not exceed high (" + std::to_string(high) + ")");
  return unary("clamp", x, Reads::x, [low, high](const auto& v) { return xt::clip(v, low, high); },
               // dx = dy where low <= x <= high
               [low, high](const auto& dy, const auto& x_, const auto&) {
                 return xt::where(x_ >= low && x_ <= high, dy, T(0));
               });
}

#define TG_INSTANTIATE(T)                                                  \
  template TensorT<T> add(const TensorT<T>&, const TensorT<T>&);           \
  template TensorT<T> sub(const TensorT<T>&, const TensorT<T>&);           \
  template TensorT<T> mul(const TensorT<T>&, const TensorT<T>&);           \
  template TensorT<T> div(const TensorT<T>&, const TensorT<T>&);           \
  template TensorT<T> neg(const TensorT<T>&);                              \
  template TensorT<T> add_scalar(const TensorT<T>&, T);                    \
  template TensorT<T> mul_scalar(const TensorT<T>&, T);                    \
  template TensorT<T> rsub_scalar(const TensorT<T>&, T);                   \
  template TensorT<T> rdiv_scalar(const TensorT<T>&, T);                   \
  template TensorT<T> tanh(const TensorT<T>&);                             \
  template TensorT<T> sigmoid(const TensorT<T>&);                          \
  template TensorT<T> relu(const TensorT<T>&);                             \
  template TensorT<T> exp(const TensorT<T>&);                              \
  template TensorT<T> log(const TensorT<T>&);                              \
  template TensorT<T> sqrt(const TensorT<T>&);                             \
  template TensorT<T> square(const TensorT<T>&);                           \
  template TensorT<T> pow(const TensorT<T>&, T);                           \
  template TensorT<T> clamp(const TensorT<T>&, T, T);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
