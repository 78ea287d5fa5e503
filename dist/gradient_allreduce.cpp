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
void pack(Tensor& p, detail::Fused& buffers) {
  if (p.has_grad()) detail::append(buffers, p.grad_data<T>(), p.numel());
  else detail::buffer_of<T>(buffers).resize(detail::buffer_of<T>(buffers).size() + p.numel(), T(0));
}

// grad(p) = its summed gradients, the reader's next values, / ranks.
template <class T>
void unpack(Tensor& p, detail::FusedReader& reader, int ranks) {
  const T* sum = reader.next<T>(p.numel());
  T* g = p.grad_data<T>();  // allocates a zero gradient where this rank had none
  for (std::size_t i = 0; i < p.numel(); ++i) g[i] = sum[i] / T(ranks);
}

}  // namespace

GradientAllreduce::GradientAllreduce(std::vector<Tensor> params) : params_(std::move(params)) {
  for (const auto& p : params_)
    if (!p.requires_grad()) throw std::invalid_argument("tg::dist::GradientAllreduce: a parameter does not require grad");
  flags_.resize(params_.size());
  if (!initialized()) return;
  unsigned long long lo = numel(), hi = numel();
  MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
  if (lo != hi)
    throw std::invalid_argument("tg::dist::GradientAllreduce: the ranks have from " + std::to_string(lo) + " to " +
                                std::to_string(hi) + " parameters: every rank must build the same model");
}

std::size_t GradientAllreduce::numel() const {
  return detail::total_numel(params_, kFloat32) + detail::total_numel(params_, kFloat64);
}

std::size_t GradientAllreduce::bytes() const {
  return detail::total_numel(params_, kFloat32) * dtype_size(kFloat32) +
         detail::total_numel(params_, kFloat64) * dtype_size(kFloat64);
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
      visit_dtype(params_[k].dtype(), [&](auto v) { pack<decltype(v)>(params_[k], buffers_); });
  if (initialized()) {
    const auto t1 = Clock::now();
    detail::for_each_buffer(buffers_, [](auto& b) {
      detail::in_pieces(b, [](auto* data, int count, MPI_Datatype type) {
        MPI_Allreduce(MPI_IN_PLACE, data, count, type, MPI_SUM, MPI_COMM_WORLD);
      });
    });
    seconds_ += since(t1);
  }
  detail::FusedReader reader(buffers_);
  for (std::size_t k = 0; k < params_.size(); ++k) {  // unpack: sum -> mean over ranks
    if (!(flags_[k] & kHasGrad)) continue;  // no rank reached it: it stays without a gradient
    visit_dtype(params_[k].dtype(), [&](auto v) { unpack<decltype(v)>(params_[k], reader, ranks); });
  }
  total_seconds_ += since(t0);
  ++calls_;
}

}  // namespace tg::dist
