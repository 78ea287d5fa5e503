// Selecting reductions along an axis: max/min with their indices, amax/amin, argmax/argmin.
// As in PyTorch: the first index wins among ties, NaN counts as the extremum (it propagates),
// and an axis of size 0 has no extremum (std::invalid_argument).
#include <cmath>
#include <string>
#include <vector>

#include <tapegrad/autograd/detail/op_helpers.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tg {
namespace {

// x seen as [outer, n, inner] around the checked axis; a 0-D x is one row of one.
AxisView extremum_view(const char* op, const Tensor& x, std::size_t axis) {
  if (x.dim() == 0) return AxisView{1, 1, 1};
  const AxisView v = axis_view(x.shape(), axis);
  if (v.n == 0)
    throw std::invalid_argument(std::string(op) + ": axis " + std::to_string(axis) + " of shape " +
                                to_string(x.shape()) + " has size 0, so it has no extremum");
  return v;
}

// For each (o, i): the position along the axis of the largest (Max) or smallest element, the
// first among ties, a NaN winning at once. [outer * inner]
template <class T, bool Max>
std::vector<std::size_t> pick(const T* x, const AxisView& v) {
  std::vector<std::size_t> at(v.outer * v.inner, 0);
  for (std::size_t o = 0; o < v.outer; ++o)
    for (std::size_t i = 0; i < v.inner; ++i) {
      std::size_t best = 0;
      T b = x[o * v.n * v.inner + i];
      for (std::size_t k = 1; k < v.n && !std::isnan(b); ++k) {
        const T e = x[(o * v.n + k) * v.inner + i];
        if (std::isnan(e) || (Max ? e > b : e < b)) {
          b = e;
          best = k;
        }
      }
      at[o * v.inner + i] = best;
    }
  return at;
}

std::size_t axis_of(const char* op, const Tensor& x, long axis) {
  return x.dim() == 0 && (axis == 0 || axis == -1) ? 0 : normalize_axis(op, axis, x.dim());  // a scalar has axis 0, as in PyTorch
}

Shape out_shape(const Tensor& x, std::size_t axis, bool keepdims) {
  return x.dim() == 0 ? Shape{} : reduced_shape(x.shape(), axis, keepdims);
}

IdTensor ids_of(const std::vector<std::size_t>& at, const Shape& shape) {
  xt::xarray<std::int64_t> ids = xt::xarray<std::int64_t>::from_shape(shape);
  std::copy(at.begin(), at.end(), ids.begin());
  return IdTensor(ids);
}

// The picked positions, for max/min's backward.
struct Picked {
  std::vector<std::size_t> at;
};

template <class T, bool Max>
std::pair<Tensor, IdTensor> extremum_kernel(const char* op, const Tensor& x, long axis, bool keepdims) {
  const std::size_t ax = axis_of(op, x, axis);
  const AxisView v = extremum_view(op, x, ax);
  const Shape os = out_shape(x, ax, keepdims);
  auto picked = std::make_shared<Picked>(Picked{pick<T, Max>(detail::values<T>(x), v)});
  auto out = detail::new_output<T>(op, os);
  const T* xv = detail::values<T>(x);
  T* y = out->value.template data<T>();
  for (std::size_t o = 0; o < v.outer; ++o)
    for (std::size_t i = 0; i < v.inner; ++i) y[o * v.inner + i] = xv[(o * v.n + picked->at[o * v.inner + i]) * v.inner + i];
  IdTensor indices = ids_of(picked->at, os);
  Tensor values = detail::finish<T>(op, out, {detail::impl_ptr(x)}, {0, 0, picked}, [v](const detail::Grad<T>& g) {
    const std::vector<std::size_t>& at = g.template data<Picked>().at;
    T* dx = g.grad_acc(0);
    for (std::size_t o = 0; o < v.outer; ++o)  // dx[o, at, i] += dy[o, i]: only the picked element
      for (std::size_t i = 0; i < v.inner; ++i) dx[(o * v.n + at[o * v.inner + i]) * v.inner + i] += g.dy()[o * v.inner + i];
  });
  return {values, indices};
}

template <class T, bool Max>
Tensor amax_kernel(const char* op, const Tensor& x, long axis, bool keepdims) {
  const std::size_t ax = axis_of(op, x, axis);
  const AxisView v = extremum_view(op, x, ax);
  const std::vector<std::size_t> at = pick<T, Max>(detail::values<T>(x), v);
  auto out = detail::new_output<T>(op, out_shape(x, ax, keepdims));
  const T* xv = detail::values<T>(x);
  T* y = out->value.template data<T>();
  for (std::size_t o = 0; o < v.outer; ++o)
    for (std::size_t i = 0; i < v.inner; ++i) y[o * v.inner + i] = xv[(o * v.n + at[o * v.inner + i]) * v.inner + i];
  // dx = dy / (number of ties) at every element equal to the extremum (NaN ties with NaN)
  return detail::finish<T>(op, out, {detail::impl_ptr(x)}, {detail::input_bit(0) | detail::kOutput},
                           [v](const detail::Grad<T>& g) {
    const T* x = g.x(0);
    const T* y = g.y();
    T* dx = g.grad_acc(0);
    const auto ties = [](T a, T b) { return a == b || (std::isnan(a) && std::isnan(b)); };
    for (std::size_t o = 0; o < v.outer; ++o)
      for (std::size_t i = 0; i < v.inner; ++i) {
        const T best = y[o * v.inner + i];
        std::size_t count = 0;
        for (std::size_t k = 0; k < v.n; ++k) count += ties(x[(o * v.n + k) * v.inner + i], best);
        const T share = g.dy()[o * v.inner + i] / T(count);
        for (std::size_t k = 0; k < v.n; ++k)
          if (ties(x[(o * v.n + k) * v.inner + i], best)) dx[(o * v.n + k) * v.inner + i] += share;
      }
  });
}

template <class T, bool Max>
IdTensor arg_kernel(const char* op, const Tensor& x, long axis, bool keepdims) {
  const std::size_t ax = axis_of(op, x, axis);
  const AxisView v = extremum_view(op, x, ax);
  return ids_of(pick<T, Max>(detail::values<T>(x), v), out_shape(x, ax, keepdims));
}

template <class T, bool Max>
IdTensor arg_all_kernel(const char* op, const Tensor& x) {
  if (x.numel() == 0)
    throw std::invalid_argument(std::string(op) + ": the tensor of shape " + to_string(x.shape()) +
                                " is empty, so it has no extremum");
  return ids_of(pick<T, Max>(detail::values<T>(x), AxisView{1, x.numel(), 1}), Shape{});  // over the flattened x
}

}  // namespace

// ===== the public ops: each runs its kernel for its tensors' dtype =====

std::pair<Tensor, IdTensor> max(const Tensor& x, long axis, bool keepdims) {
  return detail::dispatch("max", {&x}, [&](auto t) { return extremum_kernel<decltype(t), true>("max", x, axis, keepdims); });
}

std::pair<Tensor, IdTensor> min(const Tensor& x, long axis, bool keepdims) {
  return detail::dispatch("min", {&x}, [&](auto t) { return extremum_kernel<decltype(t), false>("min", x, axis, keepdims); });
}

Tensor amax(const Tensor& x, long axis, bool keepdims) {
  return detail::dispatch("amax", {&x}, [&](auto t) { return amax_kernel<decltype(t), true>("amax", x, axis, keepdims); });
}

Tensor amin(const Tensor& x, long axis, bool keepdims) {
  return detail::dispatch("amin", {&x}, [&](auto t) { return amax_kernel<decltype(t), false>("amin", x, axis, keepdims); });
}

IdTensor argmax(const Tensor& x, long axis, bool keepdims) {
  return detail::dispatch("argmax", {&x}, [&](auto t) { return arg_kernel<decltype(t), true>("argmax", x, axis, keepdims); });
}

IdTensor argmin(const Tensor& x, long axis, bool keepdims) {
  return detail::dispatch("argmin", {&x}, [&](auto t) { return arg_kernel<decltype(t), false>("argmin", x, axis, keepdims); });
}

IdTensor argmax(const Tensor& x) {
  return detail::dispatch("argmax", {&x}, [&](auto t) { return arg_all_kernel<decltype(t), true>("argmax", x); });
}

IdTensor argmin(const Tensor& x) {
  return detail::dispatch("argmin", {&x}, [&](auto t) { return arg_all_kernel<decltype(t), false>("argmin", x); });
}

}  // namespace tg
