#pragma once
// Shapes, numpy broadcasting and axis arithmetic shared by every op.
#include <cstddef>
#include <string>

#include <xtensor/xstorage.hpp>

namespace tg {

// Dimensions of a tensor, outermost first; small shapes live inline (no allocation).
using Shape = xt::svector<std::size_t, 4>;

std::size_t numel(const Shape& shape);
std::string to_string(const Shape& shape);  // "[32, 128]"

// Note [checked sizes]: every tensor's shape passes checked_numel where it is created (leaf
// tensors, op outputs, views, random arrays), so numel() and the [outer, n, inner] products
// of axis_view never overflow afterwards. A shape is accepted when the product of its sizes,
// with zeros counted as ones (the row-major strides; PyTorch's rule too), and its byte count
// both stay at or below PTRDIFF_MAX: an empty [0, 2^40, 2^40] is refused as well, since no
// layout of it has strides that fit. Returns numel(shape); std::invalid_argument naming `op`
// and the shape otherwise.
std::size_t checked_numel(const char* op, const Shape& shape, std::size_t elem_bytes);

// numpy broadcasting: dimensions are aligned on the right, each pair must be equal or 1.
// Throws std::invalid_argument naming `op` and both shapes.
// The result must pass checked_numel's element rule; else the same error naming both shapes.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

// Maps a possibly negative axis (-1 = last) into [0, rank); throws std::invalid_argument.
std::size_t normalize_axis(const char* op, long axis, std::size_t rank);

// A tensor seen as [outer, n, inner] around `axis`: the layout every axis-wise op walks.
struct AxisView {
  std::size_t outer = 1, n = 1, inner = 1;
};
AxisView axis_view(const Shape& shape, std::size_t axis);

// The shape left by a reduction along `axis`: without it, or with size 1 there (keepdims).
Shape reduced_shape(const Shape& shape, std::size_t axis, bool keepdims);

}  // namespace tg
