#pragma once
// Internals of tg::dist: the values of many tensors packed into one buffer per dtype, and the
// MPI calls over such a buffer.
//
// Note [one buffer per dtype]: a fused collective needs one MPI datatype, so float32 tensors
// travel in a float buffer (MPI_FLOAT) and float64 ones in a double buffer (MPI_DOUBLE), each in
// the tensors' order. A buffer that is empty makes no call, so a model of one dtype (the common
// case) costs one collective. The ranks stay matched because every rank holds the same model:
// the same dtypes, so the same non-empty buffers of the same sizes.
#include <mpi.h>

#include <algorithm>
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <vector>

#include <tapegrad/autograd/tensor.hpp>

namespace tg::dist::detail {

using Fused = std::tuple<std::vector<float>, std::vector<double>>;

template <class T>
std::vector<T>& buffer_of(Fused& fused) {
  return std::get<std::vector<T>>(fused);
}

template <class T>
MPI_Datatype mpi_type() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "tg::dist moves float32 and float64 only");
  return std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
}

// call(data, count, datatype) over `buffer` in pieces of at most 2^30 elements (MPI counts are
// ints): one call unless it holds more; none when it is empty.
template <class T, class Call>
void in_pieces(std::vector<T>& buffer, Call call) {
  constexpr std::size_t kMaxCount = std::size_t(1) << 30;
  for (std::size_t first = 0; first < buffer.size(); first += kMaxCount)
    call(buffer.data() + first, int(std::min(kMaxCount, buffer.size() - first)), mpi_type<T>());
}

// Values of `dtype` over the tensors: the size of its buffer when all are packed.
inline std::size_t total_numel(const std::vector<Tensor>& tensors, Dtype dtype) {
  std::size_t n = 0;
  for (const auto& t : tensors) n += t.dtype() == dtype ? t.numel() : 0;
  return n;
}

// Appends n values to T's buffer.
template <class T>
void append(Fused& fused, const T* values, std::size_t n) {
  auto& buffer = buffer_of<T>(fused);
  buffer.insert(buffer.end(), values, values + n);
}

// Reads the buffers back in packing order: next<T>(n) is where the next n values of T start.
class FusedReader {
 public:
  explicit FusedReader(Fused& fused) : fused_(fused) {}

  template <class T>
  T* next(std::size_t n) {
    std::size_t& at = std::get<std::is_same_v<T, float> ? 0 : 1>(offsets_);
    T* values = buffer_of<T>(fused_).data() + at;
    at += n;
    return values;
  }

 private:
  Fused& fused_;
  std::tuple<std::size_t, std::size_t> offsets_{0, 0};  // values read from the float, double buffer
};

// fn(buffer) for the float buffer, then the double one (the same order on every rank).
template <class Fn>
void for_each_buffer(Fused& fused, Fn fn) {
  fn(std::get<std::vector<float>>(fused));
  fn(std::get<std::vector<double>>(fused));
}

}  // namespace tg::dist::detail
