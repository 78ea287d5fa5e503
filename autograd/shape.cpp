#include <tapegrad/autograd/shape.hpp>

#include <cstdint>
#include <stdexcept>

namespace tg {

std::size_t numel(const Shape& shape) {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  return n;
}

namespace {

constexpr std::size_t kMaxBytes = static_cast<std::size_t>(PTRDIFF_MAX);

// The product of the sizes with zeros counted as ones, or false when it passes kMaxBytes.
bool layout_fits(const Shape& shape) {
  std::size_t p = 1;
  for (std::size_t d : shape)
    if (d > 1 && (__builtin_mul_overflow(p, d, &p) || p > kMaxBytes)) return false;
  return true;
}

}  // namespace

std::size_t checked_numel(const char* op, const Shape& shape, std::size_t elem_bytes) {
  if (!layout_fits(shape))
    throw std::invalid_argument(std::string(op) + ": a tensor of shape " + to_string(shape) +
                                " has too many elements (the product of its sizes overflows)");
  const std::size_t n = numel(shape);
  std::size_t bytes;
  if (__builtin_mul_overflow(n, elem_bytes, &bytes) || bytes > kMaxBytes)
    throw std::invalid_argument(std::string(op) + ": a tensor of shape " + to_string(shape) + " needs " +
                                std::to_string(n) + " elements of " + std::to_string(elem_bytes) +
                                " bytes, more bytes than memory can address (PTRDIFF_MAX)");
  return n;
}

std::string to_string(const Shape& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    // i counts from the right; a missing leading dimension acts as 1.
    const std::size_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
    const std::size_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
    if (da != db && da != 1 && db != 1)
      throw std::invalid_argument(std::string(op) + ": shapes " + to_string(a) + " and " +
                                  to_string(b) + " cannot be broadcast together");
    out[rank - 1 - i] = da == 1 ? db : da;
  }
  if (!layout_fits(out))
    throw std::invalid_argument(std::string(op) + ": shapes " + to_string(a) + " and " + to_string(b) +
                                " broadcast to " + to_string(out) + ", which has too many elements");
  return out;
}

std::size_t normalize_axis(const char* op, long axis, std::size_t rank) {
  const long r = static_cast<long>(rank);
  if (axis < -r || axis >= r)
    throw std::invalid_argument(std::string(op) + ": axis " + std::to_string(axis) +
                                " is out of range for a tensor of rank " + std::to_string(rank));
  return static_cast<std::size_t>(axis < 0 ? axis + r : axis);
}

AxisView axis_view(const Shape& shape, std::size_t axis) {
  AxisView v;
  for (std::size_t i = 0; i < axis; ++i) v.outer *= shape[i];
  v.n = shape[axis];
  for (std::size_t i = axis + 1; i < shape.size(); ++i) v.inner *= shape[i];
  return v;
}

Shape reduced_shape(const Shape& shape, std::size_t axis, bool keepdims) {
  Shape r;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (d != axis) r.push_back(shape[d]);
    else if (keepdims) r.push_back(1);
  }
  return r;
}

}  // namespace tg
