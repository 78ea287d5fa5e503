// Ops that move or repeat elements into a new layout: permute, transpose(x, a, b) and expand.
// Tensors are contiguous (no strides), so these copy (Note [views] lists what is a view).
// Each is a walk over the output's rows, reading the input at a stride per output dimension.
#include <algorithm>
#include <numeric>

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/op_helpers.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tg {
namespace {

// fn(out_offset, in_offset) for each row of the output (its last dimension), where output
// dimension d steps the input by in_stride[d] elements; a rank-0 output is one row of one.
template <class Fn>
void for_each_row(const Shape& os, const Shape& in_stride, Fn fn) {
  const std::size_t n = numel(os), rank = os.size();
  const std::size_t row = rank ? os[rank - 1] : 1;
  if (n == 0) return;
  Shape idx(rank, 0);  // odometer over the dims before the last
  std::size_t in = 0;
  for (std::size_t out = 0; out < n; out += row) {
    fn(out, in);
    for (std::size_t d = rank > 0 ? rank - 1 : 0; d-- > 0;) {
      in += in_stride[d];
      if (++idx[d] < os[d]) break;
      in -= in_stride[d] * os[d];
      idx[d] = 0;
    }
  }
}

// Row-major strides of a shape, in elements.
Shape strides_of(const Shape& s) {
  Shape st(s.size(), 1);
  for (std::size_t d = s.size(); d-- > 1;) st[d - 1] = st[d] * s[d];
  return st;
}

// perm is a permutation of 0..rank-1 (each axis once, none out of range), else invalid_argument.
void require_permutation(const char* op, const std::vector<std::size_t>& perm, const Shape& xs) {
  std::vector<bool> seen(xs.size(), false);
  bool ok = perm.size() == xs.size();
  for (std::size_t p : perm) {
    ok = ok && p < xs.size() && !seen[p];
    if (p < xs.size()) seen[p] = true;
  }
  if (!ok) {
    std::string dims;
    for (std::size_t p : perm) dims += (dims.empty() ? "" : ", ") + std::to_string(p);
    throw std::invalid_argument(std::string(op) + ": (" + dims + ") is not a permutation of the " +
                                std::to_string(xs.size()) + " axes of shape " + to_string(xs));
  }
}

// What permute's backward needs: the output's shape, and the input stride of each output dim.
struct PermuteData {
  Shape out_shape, in_stride;
};

template <class T>
Tensor permute_kernel(const char* op, const Tensor& x, const std::vector<std::size_t>& perm) {
  const Shape& xs = x.shape();
  const Shape x_stride = strides_of(xs);
  auto data = std::make_shared<PermuteData>();
  for (std::size_t p : perm) {  // output dim d is input dim perm[d]
    data->out_shape.push_back(xs[p]);
    data->in_stride.push_back(x_stride[p]);
  }
  const Shape& os = data->out_shape;
  auto out = detail::new_output<T>(op, os);
  const std::size_t row = os.empty() ? 1 : os.back(), step = os.empty() ? 1 : data->in_stride.back();
  const T* src = detail::values<T>(x);
  T* dst = out->value.template data<T>();
  for_each_row(os, data->in_stride, [&](std::size_t o, std::size_t i) {  // out row = x read at `step`
    for (std::size_t j = 0; j < row; ++j) dst[o + j] = src[i + j * step];
  });
  return detail::finish<T>(op, out, {detail::impl_ptr(x)}, {0, 0, data}, [row, step](const detail::Grad<T>& g) {
    const PermuteData& d = g.template data<PermuteData>();
    bool fresh;  // every element of dx is written once: Note [first write assigns]
    T* dx = g.grad_for_overwrite(0, fresh);
    const T* dy = g.dy();
    for_each_row(d.out_shape, d.in_stride, [&](std::size_t o, std::size_t i) {  // dx, walked the same way, += dy
      if (fresh) for (std::size_t j = 0; j < row; ++j) dx[i + j * step] = dy[o + j];
      else for (std::size_t j = 0; j < row; ++j) dx[i + j * step] += dy[o + j];
    });
  });
}

template <class T>
Tensor expand_kernel(const Tensor& x, const Shape& shape) {
  bool ok = shape.size() >= x.dim();
  for (std::size_t i = 0; ok && i < x.dim(); ++i) {
    const std::size_t have = x.shape()[x.dim() - 1 - i], want = shape[shape.size() - 1 - i];
    ok = have == want || have == 1;
  }
  if (!ok)
    throw std::invalid_argument(detail::shapes_message(
        "expand", "each dimension must equal the target's or be 1 (aligned on the right)", x.shape(), shape));
  checked_numel("expand", shape, sizeof(T));
  auto out = detail::new_output<T>("expand", shape);
  const Shape in_stride = detail::broadcast_strides(x.shape(), shape);  // 0 on repeated dims
  const std::size_t row = shape.empty() ? 1 : shape.back(), step = shape.empty() ? 1 : in_stride.back();
  const T* src = detail::values<T>(x);
  T* dst = out->value.template data<T>();
  for_each_row(shape, in_stride, [&](std::size_t o, std::size_t i) {
    for (std::size_t j = 0; j < row; ++j) dst[o + j] = src[i + j * step];
  });
  // dx = dy summed over the repeated dims
  return detail::finish<T>("expand", out, {detail::impl_ptr(x)}, {}, [](const detail::Grad<T>& g) {
    if (numel(g.in(0).shape) == 0) return;  // Note [empty tensors]: no gradient buffer
    detail::accumulate_sum_to(g.grad_acc(0), g.in(0).shape, g.dy(), g.out().shape);
  });
}

}  // namespace

// ===== the public ops: each runs its kernel for its tensors' dtype =====

Tensor permute(const Tensor& x, const std::vector<std::size_t>& dims) {
  require_permutation("permute", dims, x.shape());
  return detail::dispatch("permute", {&x}, [&](auto t) { return permute_kernel<decltype(t)>("permute", x, dims); });
}

Tensor transpose(const Tensor& x, long axis_a, long axis_b) {
  std::vector<std::size_t> perm(x.dim());
  std::iota(perm.begin(), perm.end(), std::size_t(0));
  std::swap(perm[normalize_axis("transpose", axis_a, x.dim())], perm[normalize_axis("transpose", axis_b, x.dim())]);
  return detail::dispatch("transpose", {&x}, [&](auto t) { return permute_kernel<decltype(t)>("transpose", x, perm); });
}

Tensor expand(const Tensor& x, const Shape& shape) {
  return detail::dispatch("expand", {&x}, [&](auto t) { return expand_kernel<decltype(t)>(x, shape); });
}

}  // namespace tg
