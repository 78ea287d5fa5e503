#pragma once
// The data-parallel gradient average: after each rank's backward(), every parameter's gradient
// becomes the mean over ranks, so an optimizer step (and gradient clipping before it) is the
// same on every rank. All gradients travel in one fused float buffer, packed and unpacked
// around a single in-place MPI_Allreduce (MPI_SUM, then / world size), never one call per
// tensor. The buffer is allocated once and reused every step.
//
// Note [missing gradients across ranks]: which parameters have a gradient can differ between
// ranks (a rank whose share of the batch never reached a parameter). Before packing, the ranks
// OR-allreduce their has-gradient flags (one small MPI_Allreduce), so every rank packs the same
// parameters and the collectives stay matched. A parameter some rank reached is averaged on
// every rank, counting zeros where it was missing: those ranks allocate a zero gradient for it
// (grad_data()), so afterwards it has a gradient everywhere. A parameter that no rank reached
// is left alone: no gradient anywhere afterwards, so the optimizer step skips it on every rank,
// as a single process would (Note [which parameters step() updates]).
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

  // grad(p) = (1/N) sum over ranks of grad(p), for every parameter that has a gradient on at
  // least one rank (Note [missing gradients across ranks]); the others are left without one.
  void average();

  std::size_t numel() const { return buffer_.size(); }  // floats per step: bytes = 4 * numel()
  double seconds_in_allreduce() const { return seconds_; }  // MPI_Allreduce only (flags and data), summed over calls
  double seconds_total() const { return total_seconds_; }   // pack + allreduce + unpack
  std::size_t calls() const { return calls_; }

 private:
  std::vector<Tensor> params_;
  std::vector<float> buffer_;  // [sum of numel(p)], in params_ order
  std::vector<unsigned char> has_grad_;  // per parameter: a gradient on this rank, then on any rank
  double seconds_ = 0, total_seconds_ = 0;
  std::size_t calls_ = 0;
};

}  // namespace tg::dist
