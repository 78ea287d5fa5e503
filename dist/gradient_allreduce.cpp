#include <tapegrad/dist/gradient_allreduce.hpp>

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>

#include <tapegrad/dist/detail/fused.hpp>
#include <tapegrad/dist/environment.hpp>

namespace tg::dist {
namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A parameter's flags (Note [missing gradients across ranks]); ORed over ranks, both dtype bits
// set means the ranks disagree on its dtype.
constexpr unsigned char kHasGrad = 1, kIsFloat32 = 2, kIsFloat64 = 4;

// Appends p's gradient, or zeros where this rank has none (grad_data() allocates none when it has one).
template <class T>
void pack(Tensor& p, std::vector<T>& buffer) {
  if (p.has_grad()) buffer.insert(buffer.end(), p.grad_data<T>(), p.grad_data<T>() + p.numel());
  else buffer.resize(buffer.size() + p.numel(), T(0));
}

// grad(p) = the summed gradients at `from` / ranks; returns where the next parameter's sum starts.
template <class T>
const T* unpack(Tensor& p, const T* from, T ranks) {
  T* g = p.grad_data<T>();  // allocates a zero gradient where this rank had none
  for (std::size_t i = 0; i < p.numel(); ++i) g[i] = from[i] / ranks;
  return from + p.numel();
}

}  // namespace

GradientAllreduce::GradientAllreduce(std::vector<Tensor> params) : params_(std::move(params)) {
  std::size_t n = 0;
  for (const auto& p : params_) {
    if (!p.requires_grad()) throw std::invalid_argument("tg::dist::GradientAllreduce: a parameter does not require grad");
    n += p.numel();
  }
  flags_.resize(params_.size());
  if (!initialized()) return;
  unsigned long long lo = n, hi = n;
  MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
  if (lo != hi)
    throw std::invalid_argument("tg::dist::GradientAllreduce: the ranks have from " + std::to_string(lo) + " to " +
                                std::to_string(hi) + " parameters: every rank must build the same model");
}

std::size_t GradientAllreduce::numel() const {
  std::size_t n = 0;
  for (const auto& p : params_) n += p.numel();
  return n;
}

std::size_t GradientAllreduce::bytes() const {
  std::size_t n = 0;
  for (const auto& p : params_) n += p.numel() * dtype_size(p.dtype());
  return n;
}

void GradientAllreduce::average() {
  const auto t0 = Clock::now();
  const int ranks = world_size();
  // Note [missing gradients across ranks]: which parameters any rank has a gradient for.
  for (std::size_t k = 0; k < params_.size(); ++k)
    flags_[k] = (params_[k].has_grad() ? kHasGrad : 0) | (params_[k].dtype() == kFloat32 ? kIsFloat32 : kIsFloat64);
  if (initialized() && !flags_.empty()) {
    const auto t1 = Clock::now();
    MPI_Allreduce(MPI_IN_PLACE, flags_.data(), int(flags_.size()), MPI_UNSIGNED_CHAR, MPI_BOR, MPI_COMM_WORLD);
    seconds_ += since(t1);
  }
  for (std::size_t k = 0; k < params_.size(); ++k)  // the same flags on every rank: all throw, or none
    if ((flags_[k] & kIsFloat32) && (flags_[k] & kIsFloat64))
      throw std::invalid_argument("tg::dist::GradientAllreduce: parameter " + std::to_string(k) +
                                  " is float32 on some ranks and float64 on others: convert the model on every rank");
  // Note [one buffer per dtype]: pack, one allreduce per non-empty buffer, unpack.
  detail::for_each_buffer(buffers_, [](auto& b) { b.clear(); });  // keeps the capacity
  for (std::size_t k = 0; k < params_.size(); ++k)
    if (flags_[k] & kHasGrad)
      visit_dtype(params_[k].dtype(), [&](auto v) { pack(params_[k], detail::buffer_of<decltype(v)>(buffers_)); });
  if (initialized()) {
    const auto t1 = Clock::now();
    detail::for_each_buffer(buffers_, [](auto& b) {
      detail::in_pieces(b, [](auto* data, int count, MPI_Datatype type) {
        MPI_Allreduce(MPI_IN_PLACE, data, count, type, MPI_SUM, MPI_COMM_WORLD);
      });
    });
    seconds_ += since(t1);
  }
  const float* from32 = std::get<std::vector<float>>(buffers_).data();
  const double* from64 = std::get<std::vector<double>>(buffers_).data();
  for (std::size_t k = 0; k < params_.size(); ++k) {  // unpack: sum -> mean over ranks
    if (!(flags_[k] & kHasGrad)) continue;  // no rank reached it: it stays without a gradient
    Tensor& p = params_[k];
    if (p.dtype() == kFloat32) from32 = unpack(p, from32, float(ranks));
    else from64 = unpack(p, from64, double(ranks));
  }
  total_seconds_ += since(t0);
  ++calls_;
}

}  // namespace tg::dist
