// Reductions: sum and mean over all elements or along one axis (keepdims optional).
// Sums accumulate in double: a float running sum of a million terms drifts (STACK.md).
#include <vector>

#include <tapegrad/autograd/op_helpers.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tg {
namespace {

// x seen as [outer, n, inner]; out[o, i] = scale * sum_k x[o, k, i].
template <class T>
TensorT<T> reduce(const char* op, const TensorT<T>& x, AxisView v, const Shape& out_shape,
                  double scale) {
  auto out = detail::new_output<T>(out_shape);
  const T* xv = x.data();
  T* y = out->value.data();
  std::vector<double> acc(v.inner);
  for (std::size_t o = 0; o < v.outer; ++o) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (std::size_t k = 0; k < v.n; ++k) {
      const T* row = xv + (o * v.n + k) * v.inner;
      for (std::size_t i = 0; i < v.inner; ++i) acc[i] += row[i];
    }
    for (std::size_t i = 0; i < v.inner; ++i) y[o * v.inner + i] = static_cast<T>(scale * acc[i]);
  }
  auto X = x.impl_ptr();
  return detail::finish<T>(op, out, {X}, [X, v, scale, o_ = out.get()] {
    // dx[o, k, i] += scale * dy[o, i]: every summed element gets the output's gradient
    const T* dy = o_->grad.data();
    T* dx = X->grad_acc();
    const T s = static_cast<T>(scale);
    for (std::size_t o = 0; o < v.outer; ++o)
      for (std::size_t k = 0; k < v.n; ++k) {
        T* row = dx + (o * v.n + k) * v.inner;
        for (std::size_t i = 0; i < v.inner; ++i) row[i] += s * dy[o * v.inner + i];
      }
  });
}

Shape reduced_shape(const Shape& s, std::size_t axis, bool keepdims) {
  Shape r;
  for (std::size_t d = 0; d < s.size(); ++d) {
    if (d != axis) r.push_back(s[d]);
    else if (keepdims) r.push_back(1);
  }
  return r;
}

template <class T>
TensorT<T> reduce_axis(const char* op, const TensorT<T>& x, long axis, bool keepdims, bool mean) {
  const std::size_t ax = normalize_axis(op, axis, x.dim());
  const AxisView v = axis_view(x.shape(), ax);
  if (mean && v.n == 0)
    throw std::invalid_argument(std::string(op) + ": mean over an empty axis of shape " +
                                to_string(x.shape()));
  return reduce(op, x, v, reduced_shape(x.shape(), ax, keepdims), mean ? 1.0 / double(v.n) : 1.0);
}

}  // namespace

template <class T>
TensorT<T> sum(const TensorT<T>& x) {
  return reduce("sum", x, AxisView{1, x.numel(), 1}, Shape{}, 1.0);
}

template <class T>
TensorT<T> mean(const TensorT<T>& x) {
  if (x.numel() == 0)
    throw std::invalid_argument("mean: the tensor is empty (shape " + to_string(x.shape()) + ")");
  return reduce("mean", x, AxisView{1, x.numel(), 1}, Shape{}, 1.0 / double(x.numel()));
}

template <class T>
TensorT<T> sum(const TensorT<T>& x, long axis, bool keepdims) {
  return reduce_axis("sum", x, axis, keepdims, false);
}

template <class T>
TensorT<T> mean(const TensorT<T>& x, long axis, bool keepdims) {
  return reduce_axis("mean", x, axis, keepdims, true);
}

#define TG_INSTANTIATE(T)                                 \
  template TensorT<T> sum(const TensorT<T>&);             \
  template TensorT<T> mean(const TensorT<T>&);            \
  template TensorT<T> sum(const TensorT<T>&, long, bool); \
  template TensorT<T> mean(const TensorT<T>&, long, bool);
TG_INSTANTIATE(float)
TG_INSTANTIATE(double)
#undef TG_INSTANTIATE

}  // namespace tg
