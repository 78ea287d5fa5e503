// Indexing and comparisons: eq ne lt le gt ge (IdTensor masks, no gradient), where,
// masked_fill, gather (take_along_axis) and index_select. Indices and masks are tg::IdTensor;
// an index outside [0, size) is std::out_of_range naming the op, the index and the axis.
#include <functional>
#include <string>

#include <tapegrad/autograd/detail/kernels.hpp>
#include <tapegrad/autograd/detail/op_helpers.hpp>
#include <tapegrad/autograd/ops.hpp>

namespace tg {
namespace {

// fn(i, offsets) for every element i of the broadcast shape `os`, with offsets[k] the element
// of input k (of shape shapes[k]) that broadcasting maps to it.
template <std::size_t N, class Fn>
void for_each_broadcast(const Shape& os, const std::array<Shape, N>& shapes, Fn fn) {
  const std::size_t n = numel(os), rank = os.size();
  std::array<Shape, N> stride;
  for (std::size_t k = 0; k < N; ++k) stride[k] = detail::broadcast_strides(shapes[k], os);
  std::array<std::size_t, N> at{};
  Shape idx(rank, 0);  // odometer over os
  for (std::size_t i = 0; i < n; ++i) {
    fn(i, at);
    for (std::size_t d = rank; d-- > 0;) {
      for (std::size_t k = 0; k < N; ++k) at[k] += stride[k][d];
      if (++idx[d] < os[d]) break;
      for (std::size_t k = 0; k < N; ++k) at[k] -= stride[k][d] * os[d];
      idx[d] = 0;
    }
  }
}

// The mask broadcast to `os`, as 0/1 bytes: where's and masked_fill's saved selection.
std::vector<unsigned char> expand_mask(const IdTensor& mask, const Shape& os) {
  std::vector<unsigned char> full(numel(os));
  for_each_broadcast<1>(os, {mask.shape()}, [&](std::size_t i, const auto& at) { full[i] = mask.data()[at[0]] != 0; });
  return full;
}

template <class T, class Compare>
IdTensor compare_kernel(const char* op, const Tensor& a, const Tensor& b, Compare cmp) {
  const Shape os = broadcast_shapes(op, a.shape(), b.shape());
  checked_numel(op, os, sizeof(std::int64_t));
  xt::xarray<std::int64_t> out = xt::xarray<std::int64_t>::from_shape(os);
  const T* pa = detail::values<T>(a);
  const T* pb = detail::values<T>(b);
  for_each_broadcast<2>(os, {a.shape(), b.shape()}, [&](std::size_t i, const auto& at) {
    out.data()[i] = cmp(pa[at[0]], pb[at[1]]) ? 1 : 0;
  });
  return IdTensor(out);
}

template <class Compare>
IdTensor compare(const char* op, const Tensor& a, const Tensor& b, Compare cmp) {
  return detail::dispatch(op, {&a, &b}, [&](auto t) { return compare_kernel<decltype(t)>(op, a, b, cmp); });
}

template <class Compare>
IdTensor compare(const char* op, const Tensor& a, double b, Compare cmp) {
  return compare(op, a, Tensor::scalar(b, a.dtype()), cmp);
}

// The selection where's and masked_fill's backward read: the condition at the output's shape.
struct Selection {
  std::vector<unsigned char> chosen;
};

template <class T>
Tensor where_kernel(const IdTensor& cond, const Tensor& a, const Tensor& b) {
  Shape os;
  try {
    os = broadcast_shapes("where", broadcast_shapes("where", cond.shape(), a.shape()), b.shape());
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument("where: the condition " + to_string(cond.shape()) + ", a " + to_string(a.shape()) +
                                " and b " + to_string(b.shape()) + " do not broadcast together");
  }
  auto out = detail::new_output<T>("where", os);
  auto sel = std::make_shared<Selection>(Selection{expand_mask(cond, os)});
  const T* pa = detail::values<T>(a);
  const T* pb = detail::values<T>(b);
  T* y = out->value.template data<T>();
  for_each_broadcast<2>(os, {a.shape(), b.shape()}, [&](std::size_t i, const auto& at) {
    y[i] = sel->chosen[i] ? pa[at[0]] : pb[at[1]];  // the other branch is never read: inf/NaN there stay out
  });
  return detail::finish<T>("where", out, {detail::impl_ptr(a), detail::impl_ptr(b)}, {0, 0, sel},
                           [](const detail::Grad<T>& g) {
    const std::vector<unsigned char>& chosen = g.template data<Selection>().chosen;
    const Shape& os = g.out().shape;
    const std::size_t n = numel(os);
    Buffer<T> part(n);
    for (std::size_t k = 0; k < 2; ++k) {  // da = dy where chosen, db = dy elsewhere; each summed to its shape
      if (!g.needs(k) || numel(g.in(k).shape) == 0) continue;
      const bool want = k == 0;
      for (std::size_t i = 0; i < n; ++i) part.data()[i] = bool(chosen[i]) == want ? g.dy()[i] : T(0);
      detail::accumulate_sum_to(g.grad_acc(k), g.in(k).shape, part.data(), os);
    }
  });
}

template <class T>
Tensor masked_fill_kernel(const Tensor& x, const IdTensor& mask, double value) {
  if (broadcast_shapes("masked_fill", mask.shape(), x.shape()) != x.shape())
    throw std::invalid_argument(detail::shapes_message("masked_fill", "the mask must broadcast to x's shape",
                                                       x.shape(), mask.shape()));
  auto out = detail::new_output<T>("masked_fill", x.shape());
  auto sel = std::make_shared<Selection>(Selection{expand_mask(mask, x.shape())});
  const T* px = detail::values<T>(x);
  T* y = out->value.template data<T>();
  for (std::size_t i = 0; i < x.numel(); ++i) y[i] = sel->chosen[i] ? T(value) : px[i];
  return detail::finish<T>("masked_fill", out, {detail::impl_ptr(x)}, {0, 0, sel}, [](const detail::Grad<T>& g) {
    const std::vector<unsigned char>& chosen = g.template data<Selection>().chosen;
    T* dx = g.grad_acc(0);
    for (std::size_t i = 0; i < chosen.size(); ++i)  // dx = dy where x was kept
      if (!chosen[i]) dx[i] += g.dy()[i];
  });
}

// index checked against an axis of `size`: std::out_of_range naming the op otherwise.
std::size_t checked_index(const char* op, std::int64_t index, std::size_t size, std::size_t axis, const Shape& xs) {
  if (index < 0 || std::uint64_t(index) >= size)
    throw std::out_of_range(std::string(op) + ": index " + std::to_string(index) + " is out of range for axis " +
                            std::to_string(axis) + " of size " + std::to_string(size) + " (shape " + to_string(xs) + ")");
  return std::size_t(index);
}

// Where gather's output element i reads x: flat offsets, computed once (checked) in the forward.
struct GatherMap {
  std::vector<std::size_t> source;
};

template <class T>
Tensor gather_kernel(const Tensor& x, long axis, const IdTensor& index) {
  const Shape& xs = x.shape();
  const Shape& is = index.shape();
  const std::size_t ax = normalize_axis("gather", axis, xs.size());
  bool fits = is.size() == xs.size();
  for (std::size_t d = 0; fits && d < xs.size(); ++d) fits = d == ax || is[d] <= xs[d];
  if (!fits)
    throw std::invalid_argument(detail::shapes_message(
        "gather", "the index needs x's rank and no larger size than x on the axes other than " + std::to_string(ax),
        xs, is));
  auto out = detail::new_output<T>("gather", is);
  auto map = std::make_shared<GatherMap>();
  map->source.resize(index.size());
  const AxisView v = axis_view(xs, ax);  // x as [outer, n, inner]
  for (std::size_t i = 0; i < index.size(); ++i) {
    Shape idx(is.size(), 0);  // i as a multi-index of the index tensor
    for (std::size_t d = is.size(), r = i; d-- > 0; r /= is[d]) idx[d] = r % is[d];
    std::size_t at = 0;  // the same multi-index in x, with the axis' entry replaced by the index
    for (std::size_t d = 0; d < xs.size(); ++d)
      at = at * xs[d] + (d == ax ? checked_index("gather", index.data()[i], v.n, ax, xs) : idx[d]);
    map->source[i] = at;
  }
  const T* px = detail::values<T>(x);
  T* y = out->value.template data<T>();
  for (std::size_t i = 0; i < index.size(); ++i) y[i] = px[map->source[i]];
  return detail::finish<T>("gather", out, {detail::impl_ptr(x)}, {0, 0, map}, [](const detail::Grad<T>& g) {
    const std::vector<std::size_t>& source = g.template data<GatherMap>().source;
    T* dx = g.grad_acc(0);
    for (std::size_t i = 0; i < source.size(); ++i) dx[source[i]] += g.dy()[i];  // repeated indices accumulate
  });
}

// index_select's indices, checked, for the backward.
struct Rows {
  std::vector<std::size_t> index;
};

template <class T>
Tensor index_select_kernel(const Tensor& x, long axis, const IdTensor& index) {
  const std::size_t ax = normalize_axis("index_select", axis, x.dim());
  if (index.shape().size() != 1)
    throw std::invalid_argument("index_select: the index must be 1-D, got shape " + to_string(index.shape()));
  const AxisView v = axis_view(x.shape(), ax);  // x as [outer, n, inner]
  auto rows = std::make_shared<Rows>();
  for (std::size_t k = 0; k < index.size(); ++k)
    rows->index.push_back(checked_index("index_select", index.data()[k], v.n, ax, x.shape()));
  Shape os = x.shape();
  os[ax] = index.size();
  auto out = detail::new_output<T>("index_select", os);
  const std::size_t m = index.size();
  const T* px = detail::values<T>(x);
  T* y = out->value.template data<T>();
  for (std::size_t o = 0; o < v.outer; ++o)  // y[o, k, :] = x[o, index[k], :]
    for (std::size_t k = 0; k < m; ++k)
      std::copy_n(px + (o * v.n + rows->index[k]) * v.inner, v.inner, y + (o * m + k) * v.inner);
  return detail::finish<T>("index_select", out, {detail::impl_ptr(x)}, {0, 0, rows}, [v, m](const detail::Grad<T>& g) {
    const std::vector<std::size_t>& index = g.template data<Rows>().index;
    T* dx = g.grad_acc(0);
    for (std::size_t o = 0; o < v.outer; ++o)  // dx[o, index[k], :] += dy[o, k, :]; repeated rows accumulate
      for (std::size_t k = 0; k < m; ++k)
        detail::add_into(dx + (o * v.n + index[k]) * v.inner, g.dy() + (o * m + k) * v.inner, v.inner);
  });
}

}  // namespace

// ===== the public ops: each runs its kernel for its tensors' dtype =====

IdTensor eq(const Tensor& a, const Tensor& b) { return compare("eq", a, b, std::equal_to<>()); }
IdTensor ne(const Tensor& a, const Tensor& b) { return compare("ne", a, b, std::not_equal_to<>()); }
IdTensor lt(const Tensor& a, const Tensor& b) { return compare("lt", a, b, std::less<>()); }
IdTensor le(const Tensor& a, const Tensor& b) { return compare("le", a, b, std::less_equal<>()); }
IdTensor gt(const Tensor& a, const Tensor& b) { return compare("gt", a, b, std::greater<>()); }
IdTensor ge(const Tensor& a, const Tensor& b) { return compare("ge", a, b, std::greater_equal<>()); }
IdTensor eq(const Tensor& a, double b) { return compare("eq", a, b, std::equal_to<>()); }
IdTensor ne(const Tensor& a, double b) { return compare("ne", a, b, std::not_equal_to<>()); }
IdTensor lt(const Tensor& a, double b) { return compare("lt", a, b, std::less<>()); }
IdTensor le(const Tensor& a, double b) { return compare("le", a, b, std::less_equal<>()); }
IdTensor gt(const Tensor& a, double b) { return compare("gt", a, b, std::greater<>()); }
IdTensor ge(const Tensor& a, double b) { return compare("ge", a, b, std::greater_equal<>()); }

Tensor where(const IdTensor& cond, const Tensor& a, const Tensor& b) {
  return detail::dispatch("where", {&a, &b}, [&](auto t) { return where_kernel<decltype(t)>(cond, a, b); });
}

Tensor masked_fill(const Tensor& x, const IdTensor& mask, double value) {
  return detail::dispatch("masked_fill", {&x}, [&](auto t) { return masked_fill_kernel<decltype(t)>(x, mask, value); });
}

Tensor gather(const Tensor& x, long axis, const IdTensor& index) {
  return detail::dispatch("gather", {&x}, [&](auto t) { return gather_kernel<decltype(t)>(x, axis, index); });
}

Tensor index_select(const Tensor& x, long axis, const IdTensor& index) {
  return detail::dispatch("index_select", {&x}, [&](auto t) { return index_select_kernel<decltype(t)>(x, axis, index); });
}

}  // namespace tg
