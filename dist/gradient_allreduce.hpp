#pragma once
// The data-parallel gradient average: after each rank's backward(), every parameter's gradient
// becomes the mean over ranks, so an optimizer step (and gradient clipping before it) is the
// same on every rank. All gradients travel in one fused float buffer, packed and unpacked
// around a single in-place MPI_Allreduce (MPI_SUM, then / world size), never one call per
// tensor. The buffer is allocated once and reused every step.
//
// Note [equal shares]: the mean of the ranks' gradients equals the gradient of a single
// process's loss over the whole batch only if each rank's loss is the mean over its own
// tokens and every rank holds the same number of them (B divisible by the world size).
#include <cstddef>
#include <vector>

#include <tapegrad/autograd/tensor.hpp>

namespace tg::dist {

class GradientAllreduce {
 public:
  // The parameters whose gradients are averaged (the same list, in the same order, on every
  // rank: construction checks the total size across ranks, std::invalid_argument if it differs).
  explicit GradientAllreduce(std::vector<Tensor> params);

  // grad(p) = (1/N) sum over ranks of grad(p), for every parameter. A parameter that no
  // backward reached counts as zeros.
  void average();

  std::size_t numel() const { return buffer_.size(); }  // floats per step: bytes = 4 * numel()
  double seconds_in_allreduce() const { return seconds_; }  // MPI_Allreduce only, summed over calls
  double seconds_total() const { return total_seconds_; }   // pack + allreduce + unpack
  std::size_t calls() const { return calls_; }

 private:
  std::vector<Tensor> params_;
  std::vector<float> buffer_;  // [sum of numel(p)], in params_ order
  double seconds_ = 0, total_seconds_ = 0;
  std::size_t calls_ = 0;
};

}  // namespace tg::dist
