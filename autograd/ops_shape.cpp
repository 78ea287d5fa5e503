// Shape ops: reshape, concat, slice (narrow), split and chunk. Every tensor along an axis is
// seen as [outer, n, inner], so these are block copies of n*inner contiguous elements.
#include <algorithm>
#include <cstring>

#include <tapegrad/autograd/detail/elementwise.hpp>
#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/op_helpers.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tg {

template <class T>
Tensor reshape_kernel(const Tensor& x, const Shape& shape) {
  // Checked first: [2^32, 2^32] has "0 elements" modulo 2^64 and would pass for an empty x.
  try {
    checked_numel("reshape", shape, sizeof(T));
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument(detail::shapes_message(
        "reshape", "the target shape has too many elements (its size overflows)", x.shape(), shape));
  }
  if (numel(shape) != x.numel())
    throw std::invalid_argument(detail::shapes_message(
        "reshape", "the element counts differ", x.shape(), shape));
  auto out = detail::new_view<T>(shape, x, 0);  // same elements, same order: Note [views]
  // same elements, same order: the gradient is dy itself (passes_dy)
  return detail::finish<T>("reshape", out, {detail::impl_ptr(x)}, {0, detail::input_bit(0)}, nullptr);
}

template <class T>
Tensor concat_kernel(const std::vector<Tensor>& xs, long axis) {
  if (xs.empty()) throw std::invalid_argument("concat: needs at least one tensor");
  const Shape& first = xs[0].shape();
  const std::size_t ax = normalize_axis("concat", axis, first.size());
  Shape os = first;
  os[ax] = 0;
  for (const auto& x : xs) {
    bool same = x.dim() == first.size();
    for (std::size_t d = 0; same && d < first.size(); ++d) same = d == ax || x.shape()[d] == first[d];
    if (!same)
      throw std::invalid_argument(detail::shapes_message(
          "concat", "all dimensions but axis " + std::to_string(ax) + " must match",
          first, x.shape()));
    if (__builtin_add_overflow(os[ax], x.shape()[ax], &os[ax]))
      throw std::invalid_argument("concat: the sizes along axis " + std::to_string(ax) +
                                  " add up past SIZE_MAX (first shape " + to_string(first) + ", " +
                                  std::to_string(xs.size()) + " tensors)");
  }
  auto out = detail::new_output<T>("concat", os);
  const AxisView ov = axis_view(os, ax);
  detail::Inputs inputs;
  std::size_t at = 0;
  for (const auto& x : xs) {
    const AxisView v = axis_view(x.shape(), ax);
    if (v.outer != 0 && v.n * v.inner != 0)  // out[o, at:at+n, :] = x[o, :, :] (an empty x may have no buffer)
      detail::copy_rows(out->value.template data<T>() + at * ov.inner, ov.n * ov.inner, detail::values<T>(x),
                        v.n * v.inner, v.outer, v.n * v.inner);
    inputs.push_back(detail::impl_ptr(x));
    at += v.n;
  }
  return detail::finish<T>("concat", out, inputs, {}, [n = xs.size(), ax, ov](const detail::Grad<T>& g) {
    std::size_t at = 0;  // where input k starts along the axis
    for (std::size_t k = 0; k < n; at += g.in(k).shape[ax], ++k) {
      TensorImpl& x = g.in(k);
      if (!x.requires_grad || numel(x.shape) == 0) continue;  // an empty piece has no gradient
      const AxisView v = axis_view(x.shape, ax);
      bool fresh;  // every element of dx is written: Note [first write assigns]
      T* dx = x.template grad_for_overwrite<T>(fresh);
      const std::size_t run = v.n * v.inner;  // dx[r, :, :] (+)= dy[r, at:at+n, :]
      if (fresh)  // the forward's copy the other way round (Note [copies on the pool])
        detail::copy_rows(dx, run, g.dy() + at * ov.inner, ov.n * ov.inner, v.outer, run);
      else
        for (std::size_t r = 0; r < v.outer; ++r) detail::add_into(dx + r * run, g.dy() + (r * ov.n + at) * ov.inner, run);
    }
  });
}

template <class T>
Tensor slice_kernel(const Tensor& x, long axis, std::size_t start, std::size_t length) {
  const std::size_t ax = normalize_axis("slice", axis, x.dim());
  const AxisView v = axis_view(x.shape(), ax);
  if (start > v.n || length > v.n - start)
    throw std::out_of_range("slice: elements [" + std::to_string(start) + ", " +
                            std::to_string(start + length) + ") are out of range for axis " +
                            std::to_string(ax) + " of shape " + to_string(x.shape()));
  Shape os = x.shape();
  os[ax] = length;
  const std::size_t run = length * v.inner;  // contiguous elements per outer index
  std::shared_ptr<TensorImpl> out;
  if (v.outer == 1) {  // one contiguous run: a view (Note [views])
    out = detail::new_view<T>(os, x, start * v.inner);
  } else {
    out = detail::new_output<T>("slice", os);
    if (v.outer != 0 && run != 0)  // out[o, :, :] = x[o, start:start+length, :] (an empty x may have no buffer)
      detail::copy_rows(out->value.template data<T>(), run, detail::values<T>(x) + start * v.inner, v.n * v.inner,
                        v.outer, run);
  }
  // Output element i is x's element (i / run) * stride + offset + i % run: pointwise but for
  // that map, so the backward runs with the gate math around it (Note [windows tile]).
  const detail::PointwiseWindow map{run, v.n * v.inner, start * v.inner};
  const detail::PointwiseWindow window = length < v.n ? map : detail::PointwiseWindow{};  // else the identity
  return detail::finish_pointwise<T>("slice", out, {detail::impl_ptr(x)}, {}, detail::input_bit(0), detail::Cost::cheap,
                                     [map](const detail::PointwiseGrad<T>& g, std::size_t begin, std::size_t end) {
    T* dx = g.dx(0);
    if (!dx) return;
    const T* dy = g.dy();
    for (std::size_t i = begin; i < end;) {  // dx[o, start:start+length, :] (+)= dy[o], one row piece at a time
      const std::size_t o = i / map.run, j = i % map.run, len = std::min(end - i, map.run - j);
      T* to = dx + o * map.stride + map.offset + j;
      if (g.fresh(0)) std::memcpy(to, dy + i, len * sizeof(T));
      else detail::add_into(to, dy + i, len);
      i += len;
    }
  }, window);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<std::size_t>& sizes, long axis) {
  const std::size_t ax = normalize_axis("split", axis, x.dim());
  std::size_t total = 0;
  for (std::size_t s : sizes)
    if (__builtin_add_overflow(total, s, &total))
      throw std::invalid_argument("split: the sizes add up past SIZE_MAX, axis " + std::to_string(ax) +
                                  " of shape " + to_string(x.shape()) + " has " + std::to_string(x.shape()[ax]));
  if (total != x.shape()[ax])
    throw std::invalid_argument("split: the sizes add up to " + std::to_string(total) +
                                " but axis " + std::to_string(ax) + " of shape " +
                                to_string(x.shape()) + " has " + std::to_string(x.shape()[ax]));
  std::vector<Tensor> parts;
  std::size_t at = 0;
  for (std::size_t s : sizes) {
    parts.push_back(slice(x, long(ax), at, s));
    at += s;
  }
  return parts;
}

std::vector<Tensor> chunk(const Tensor& x, std::size_t n, long axis) {
  const std::size_t ax = normalize_axis("chunk", axis, x.dim());
  // An axis of size 0 is cut into n empty pieces (PyTorch too), but not more than a vector holds.
  if (n == 0 || x.shape()[ax] % n != 0 || n > std::vector<Tensor>().max_size())
    throw std::invalid_argument("chunk: axis " + std::to_string(ax) + " of shape " +
                                to_string(x.shape()) + " cannot be cut into " +
                                std::to_string(n) + " equal pieces");
  return split(x, std::vector<std::size_t>(n, x.shape()[ax] / n), long(ax));
}

Tensor unsqueeze(const Tensor& x, long axis) {
  const std::size_t ax = normalize_axis("unsqueeze", axis, x.dim() + 1);  // the new axis' place
  Shape s;
  for (std::size_t d = 0; d <= x.dim(); ++d) {
    if (d == ax) s.push_back(1);
    if (d < x.dim()) s.push_back(x.shape()[d]);
  }
  return reshape(x, s);
}

Tensor squeeze(const Tensor& x) {
  Shape s;
  for (std::size_t d : x.shape())
    if (d != 1) s.push_back(d);
  return reshape(x, s);
}

Tensor squeeze(const Tensor& x, long axis) {
  const std::size_t ax = normalize_axis("squeeze", axis, x.dim());
  Shape s = x.shape();
  if (s[ax] == 1) s.erase(s.begin() + long(ax));  // another size is left alone, as in PyTorch
  return reshape(x, s);
}

Tensor flatten(const Tensor& x, long start_axis, long end_axis) {
  if (x.dim() == 0) return reshape(x, {1});  // PyTorch: a scalar flattens to [1]
  const std::size_t first = normalize_axis("flatten", start_axis, x.dim());
  const std::size_t last = normalize_axis("flatten", end_axis, x.dim());
  if (first > last)
    throw std::invalid_argument("flatten: start axis " + std::to_string(first) + " comes after end axis " +
                                std::to_string(last) + " (shape " + to_string(x.shape()) + ")");
  const Shape& xs = x.shape();
  Shape s(xs.begin(), xs.begin() + long(first));
  s.push_back(numel(Shape(xs.begin() + long(first), xs.begin() + long(last) + 1)));  // [first..last] as one
  s.insert(s.end(), xs.begin() + long(last) + 1, xs.end());
  return reshape(x, s);
}

Tensor stack(const std::vector<Tensor>& xs, long axis) {
  if (xs.empty()) throw std::invalid_argument("stack: needs at least one tensor");
  for (const auto& x : xs)
    if (x.shape() != xs[0].shape())
      throw std::invalid_argument(detail::shapes_message("stack", "all tensors must have the same shape",
                                                         xs[0].shape(), x.shape()));
  const std::size_t ax = normalize_axis("stack", axis, xs[0].dim() + 1);
  std::vector<Tensor> pieces;  // each [..., 1, ...] at the new axis: views
  pieces.reserve(xs.size());
  for (const auto& x : xs) pieces.push_back(unsqueeze(x, long(ax)));
  return concat(pieces, long(ax));
}

// y = x converted to To; dx += dy converted back to From.
template <class From, class To>
Tensor to_dtype_kernel(const Tensor& x) {
  auto out = detail::new_output<To>("to_dtype", x.shape());
  std::copy_n(detail::values<From>(x), x.numel(), out->value.template data<To>());
  return detail::finish<To>("to_dtype", out, {detail::impl_ptr(x)}, {}, [](const detail::Grad<To>& g) {
    const std::size_t n = numel(g.out().shape);
    From* dx = g.in(0).template grad_acc<From>();
    for (std::size_t i = 0; i < n; ++i) dx[i] += static_cast<From>(g.dy()[i]);
  });
}

// ===== the public ops: each runs its kernel for its tensors' dtype =====

Tensor reshape(const Tensor& x, const Shape& shape) {
  return detail::dispatch("reshape", {&x}, [&](auto t) { return reshape_kernel<decltype(t)>(x, shape); });
}

Tensor concat(const std::vector<Tensor>& xs, long axis) {
  if (xs.empty()) throw std::invalid_argument("concat: needs at least one tensor");
  return visit_dtype(detail::common_dtype("concat", xs), [&](auto t) { return concat_kernel<decltype(t)>(xs, axis); });
}

Tensor slice(const Tensor& x, long axis, std::size_t start, std::size_t length) {
  return detail::dispatch("slice", {&x}, [&](auto t) { return slice_kernel<decltype(t)>(x, axis, start, length); });
}

Tensor to_dtype(const Tensor& x, Dtype dtype) {
  if (x.dtype() == dtype) return x;
  return visit_dtype(x.dtype(), [&](auto from) {
    return visit_dtype(dtype, [&](auto to) { return to_dtype_kernel<decltype(from), decltype(to)>(x); });
  });
}

}  // namespace tg
