#include <tapegrad/dist/gradient_allreduce.hpp>

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>

#include <tapegrad/dist/environment.hpp>

namespace tg::dist {
namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

GradientAllreduce::GradientAllreduce(std::vector<Tensor> params) : params_(std::move(params)) {
  std::size_t n = 0;
  for (const auto& p : params_) {
    if (!p.requires_grad()) throw std::invalid_argument("tg::dist::GradientAllreduce: a parameter does not require grad");
    n += p.numel();
  }
  buffer_.resize(n);
  has_grad_.resize(params_.size());
  if (!initialized()) return;
  unsigned long long lo = n, hi = n;
  MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
  if (lo != hi)
    throw std::invalid_argument("tg::dist::GradientAllreduce: the ranks have from " + std::to_string(lo) + " to " +
                                std::to_string(hi) + " parameters: every rank must build the same model");
}

void GradientAllreduce::average() {
  const auto t0 = Clock::now();
  const int ranks = world_size();
  // Note [missing gradients across ranks]: which parameters any rank has a gradient for.
  for (std::size_t k = 0; k < params_.size(); ++k) has_grad_[k] = params_[k].has_grad() ? 1 : 0;
  if (initialized() && !has_grad_.empty()) {
    const auto t1 = Clock::now();
    MPI_Allreduce(MPI_IN_PLACE, has_grad_.data(), int(has_grad_.size()), MPI_UNSIGNED_CHAR, MPI_BOR, MPI_COMM_WORLD);
    seconds_ += since(t1);
  }
  float* at = buffer_.data();
  for (std::size_t k = 0; k < params_.size(); ++k) {  // pack; zeros where this rank has none
    if (!has_grad_[k]) continue;
    Tensor& p = params_[k];
    at = p.has_grad() ? std::copy(p.grad_data<float>(), p.grad_data<float>() + p.numel(), at) : std::fill_n(at, p.numel(), 0.0f);
  }
  const std::size_t count = std::size_t(at - buffer_.data());  // the same on every rank
  if (initialized()) {
    const auto t1 = Clock::now();
    // One call unless the model has more than 2^30 parameters (MPI counts are ints).
    constexpr std::size_t kMaxCount = std::size_t(1) << 30;
    for (std::size_t first = 0; first < count; first += kMaxCount)
      MPI_Allreduce(MPI_IN_PLACE, buffer_.data() + first, int(std::min(kMaxCount, count - first)), MPI_FLOAT,
                    MPI_SUM, MPI_COMM_WORLD);
    seconds_ += since(t1);
  }
  const float n = float(ranks);
  const float* from = buffer_.data();
  for (std::size_t k = 0; k < params_.size(); ++k) {  // unpack: sum -> mean over ranks
    if (!has_grad_[k]) continue;  // no rank reached it: it stays without a gradient
    Tensor& p = params_[k];
    float* g = p.grad_data<float>();  // allocates a zero gradient where this rank had none
    for (std::size_t i = 0; i < p.numel(); ++i) g[i] = from[i] / n;
    from += p.numel();
  }
  total_seconds_ += since(t0);
  ++calls_;
}

}  // namespace tg::dist
