// Reductions: sum and mean over all elements or along one axis (keepdims optional), logsumexp
// and cumsum along an axis.
// Sums accumulate in double: a float running sum of a million terms drifts (STACK.md).
// Over no elements, as in PyTorch: a sum is 0 and a mean NaN (0 / 0).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <tapegrad/autograd/detail/op_helpers.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tg {
namespace {

// x seen as [outer, n, inner]; out[o, i] = scale * sum_k x[o, k, i], with scale 1 (sum) or
// 1/n (mean). An empty x has nothing to walk: out is 0 (sum) or NaN (mean) everywhere, and its
// backward adds nothing (x's gradient is empty); this also keeps [2^40, 0] from looping 2^40 times.
template <class T>
Tensor reduce(const char* op, const Tensor& x, AxisView v, const Shape& out_shape, bool mean) {
  auto out = detail::new_output<T>(op, out_shape);
  const T* xv = detail::values<T>(x);
  T* y = out->value.template data<T>();
  const bool empty = x.numel() == 0;
  const double scale = mean && v.n ? 1.0 / double(v.n) : 1.0;
  if (empty) std::fill_n(y, out->value.size(), mean ? std::numeric_limits<T>::quiet_NaN() : T(0));
  std::vector<double> acc(empty ? 0 : v.inner);
  for (std::size_t o = 0; o < (empty ? 0 : v.outer); ++o) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (std::size_t k = 0; k < v.n; ++k) {
      const T* row = xv + (o * v.n + k) * v.inner;
      for (std::size_t i = 0; i < v.inner; ++i) acc[i] += row[i];
    }
    for (std::size_t i = 0; i < v.inner; ++i) y[o * v.inner + i] = static_cast<T>(scale * acc[i]);
  }
  return detail::finish<T>(op, out, {detail::impl_ptr(x)}, {}, [v, scale, empty](const detail::Grad<T>& g) {
    if (empty) return;  // no element of x was summed
    // dx[o, k, i] += scale * dy[o, i]: every summed element gets the output's gradient
    const T* dy = g.dy();
    T* dx = g.grad_acc(0);
    const T s = static_cast<T>(scale);
    for (std::size_t o = 0; o < v.outer; ++o)
      for (std::size_t k = 0; k < v.n; ++k) {
        T* row = dx + (o * v.n + k) * v.inner;
        for (std::size_t i = 0; i < v.inner; ++i) row[i] += s * dy[o * v.inner + i];
      }
  });
}

template <class T>
Tensor reduce_axis(const char* op, const Tensor& x, long axis, bool keepdims, bool mean) {
  const std::size_t ax = normalize_axis(op, axis, x.dim());
  return reduce<T>(op, x, axis_view(x.shape(), ax), reduced_shape(x.shape(), ax, keepdims), mean);
}

}  // namespace

// y[o, i] = m + log sum_k e^(x[o, k, i] - m), m the row's max (a row of -inf, or an empty axis,
// gives -inf, as in PyTorch); dx = dy e^(x - y), the softmax, and nothing where y is -inf.
template <class T>
Tensor logsumexp_kernel(const Tensor& x, long axis, bool keepdims) {
  const std::size_t ax = normalize_axis("logsumexp", axis, x.dim());
  const AxisView v = axis_view(x.shape(), ax);
  auto out = detail::new_output<T>("logsumexp", reduced_shape(x.shape(), ax, keepdims));
  const T* xv = detail::values<T>(x);
  T* y = out->value.template data<T>();
  for (std::size_t o = 0; o < (x.numel() ? v.outer : 0); ++o)
    for (std::size_t i = 0; i < v.inner; ++i) {
      const auto at = [&](std::size_t k) { return xv[(o * v.n + k) * v.inner + i]; };
      T m = -std::numeric_limits<T>::infinity();
      for (std::size_t k = 0; k < v.n; ++k) m = std::max(m, at(k));
      const T shift = std::isinf(m) ? T(0) : m;  // all -inf (or +inf): no shift, the sum says it
      double s = 0;
      for (std::size_t k = 0; k < v.n; ++k) s += std::exp(double(at(k) - shift));
      y[o * v.inner + i] = shift + T(std::log(s));
    }
  if (x.numel() == 0) std::fill_n(y, out->value.size(), -std::numeric_limits<T>::infinity());
  return detail::finish<T>("logsumexp", out, {detail::impl_ptr(x)}, {detail::input_bit(0) | detail::kOutput},
                           [v](const detail::Grad<T>& g) {
    if (numel(g.in(0).shape) == 0) return;  // no element of x was summed
    T* dx = g.grad_acc(0);
    for (std::size_t o = 0; o < v.outer; ++o)
      for (std::size_t i = 0; i < v.inner; ++i) {
        const T yv = g.y()[o * v.inner + i], d = g.dy()[o * v.inner + i];
        if (yv == -std::numeric_limits<T>::infinity()) continue;  // every term was e^-inf = 0
        for (std::size_t k = 0; k < v.n; ++k) {
          const std::size_t at = (o * v.n + k) * v.inner + i;
          dx[at] += d * std::exp(g.x(0)[at] - yv);  // dy softmax(x)_k
        }
      }
  });
}

// y[o, k, i] = sum_{j <= k} x[o, j, i], accumulated in double; dx[o, k, i] = sum_{j >= k} dy[o, j, i].
template <class T>
Tensor cumsum_kernel(const Tensor& x, long axis) {
  const std::size_t ax = normalize_axis("cumsum", axis, x.dim());
  const AxisView v = axis_view(x.shape(), ax);
  auto out = detail::new_output<T>("cumsum", x.shape());
  const T* xv = detail::values<T>(x);
  T* y = out->value.template data<T>();
  const std::size_t outer = x.numel() ? v.outer : 0;  // [2^40, 0] walks nothing
  std::vector<double> acc(outer ? v.inner : 0);
  for (std::size_t o = 0; o < outer; ++o) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (std::size_t k = 0; k < v.n; ++k)
      for (std::size_t i = 0; i < v.inner; ++i) {
        const std::size_t at = (o * v.n + k) * v.inner + i;
        acc[i] += xv[at];
        y[at] = T(acc[i]);
      }
  }
  return detail::finish<T>("cumsum", out, {detail::impl_ptr(x)}, {}, [v](const detail::Grad<T>& g) {
    T* dx = g.grad_acc(0);
    std::vector<double> acc(v.inner);
    for (std::size_t o = 0; o < v.outer; ++o) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (std::size_t k = v.n; k-- > 0;)  // the suffix sums of dy
        for (std::size_t i = 0; i < v.inner; ++i) {
          const std::size_t at = (o * v.n + k) * v.inner + i;
          acc[i] += g.dy()[at];
          dx[at] += T(acc[i]);
        }
    }
  });
}

template <class T>
Tensor sum_kernel(const Tensor& x) {
  return reduce<T>("sum", x, AxisView{1, x.numel(), 1}, Shape{}, false);
}

template <class T>
Tensor mean_kernel(const Tensor& x) {
  return reduce<T>("mean", x, AxisView{1, x.numel(), 1}, Shape{}, true);
}

template <class T>
Tensor sum_kernel(const Tensor& x, long axis, bool keepdims) {
  return reduce_axis<T>("sum", x, axis, keepdims, false);
}

template <class T>
Tensor mean_kernel(const Tensor& x, long axis, bool keepdims) {
  return reduce_axis<T>("mean", x, axis, keepdims, true);
}

// ===== the public ops: each runs its kernel for its tensors' dtype =====

Tensor sum(const Tensor& x) {
  return detail::dispatch("sum", {&x}, [&](auto t) { return sum_kernel<decltype(t)>(x); });
}

Tensor sum(const Tensor& x, long axis, bool keepdims) {
  return detail::dispatch("sum", {&x}, [&](auto t) { return sum_kernel<decltype(t)>(x, axis, keepdims); });
}

Tensor mean(const Tensor& x) {
  return detail::dispatch("mean", {&x}, [&](auto t) { return mean_kernel<decltype(t)>(x); });
}

Tensor logsumexp(const Tensor& x, long axis, bool keepdims) {
  return detail::dispatch("logsumexp", {&x}, [&](auto t) { return logsumexp_kernel<decltype(t)>(x, axis, keepdims); });
}

Tensor cumsum(const Tensor& x, long axis) {
  return detail::dispatch("cumsum", {&x}, [&](auto t) { return cumsum_kernel<decltype(t)>(x, axis); });
}

Tensor mean(const Tensor& x, long axis, bool keepdims) {
  return detail::dispatch("mean", {&x}, [&](auto t) { return mean_kernel<decltype(t)>(x, axis, keepdims); });
}

}  // namespace tg
