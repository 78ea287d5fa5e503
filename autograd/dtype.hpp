#pragma once
// The element type of a tensor, chosen at run time: float32 for training, float64 for gradient
// checks (Note [dtypes] in tensor.hpp).
#include <cstddef>
#include <stdexcept>
#include <type_traits>

namespace tg {

enum class Dtype { float32, float64 };
constexpr Dtype kFloat32 = Dtype::float32;
constexpr Dtype kFloat64 = Dtype::float64;

inline const char* dtype_name(Dtype dtype) { return dtype == Dtype::float32 ? "float32" : "float64"; }
inline std::size_t dtype_size(Dtype dtype) { return dtype == Dtype::float32 ? 4 : 8; }  // bytes per element

// float -> float32, double -> float64.
template <class T>
constexpr Dtype dtype_of() {
  static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value,
                "tensors hold float (float32) or double (float64)");
  return std::is_same<T, float>::value ? Dtype::float32 : Dtype::float64;
}

// f(T{}) with T the C++ type of `dtype`: how a function written for both element types runs
// for a tensor's dtype (every case is handled: a new dtype is a compile error here).
template <class F>
decltype(auto) visit_dtype(Dtype dtype, F&& f) {
  switch (dtype) {
    case Dtype::float32: return f(float{});
    case Dtype::float64: return f(double{});
  }
  throw std::logic_error("visit_dtype: not a dtype");  // unreachable: the switch covers them
}

}  // namespace tg
