#pragma once
// The data-parallel gradient average: after each rank's backward(), every parameter's gradient
// becomes the mean over ranks, so an optimizer step (and gradient clipping before it) is the
// same on every rank. The gradients travel in one fused buffer per dtype (float32 ones as
// MPI_FLOAT, float64 ones as MPI_DOUBLE: Note [one buffer per dtype] in detail/fused.hpp),
// packed and unpacked around an in-place MPI_Allreduce (MPI_SUM, then / world size) per
// non-empty buffer: one call for a model of one dtype, never one per tensor. The buffers are
// allocated on the first step and reused.
//
// Note [missing gradients across ranks]: which parameters have a gradient can differ between
// ranks (a rank whose share of the batch never reached a parameter). Before packing, the ranks
// OR-allreduce their has-gradient flags (one small MPI_Allreduce), so every rank packs the same
// parameters and the collectives stay matched. A parameter some rank reached is averaged on
// every rank, counting zeros where it was missing: those ranks allocate a zero gradient for it
// (grad_data()), so afterwards it has a gradient everywhere. A parameter that no rank reached
// is left alone: no gradient anywhere afterwards, so the optimizer step skips it on every rank,
// as a single process would (Note [which parameters step() updates]). The same flags carry each
// parameter's dtype, so a model converted (Module::to) on some ranks only is refused on every
// rank (std::invalid_argument) instead of mismatching the collectives.
//
// Note [equal shares]: the mean of the ranks' gradients equals the gradient of a single
// process's loss over the whole batch only if each rank's loss is the mean over its own
// tokens and every rank holds the same number of them (B divisible by the world size).
#include <cstddef>
#include <tuple>
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

  // Elements and bytes per step when every parameter has a gradient (the parameters' current
  // dtypes: Module::to may have converted them since construction).
  std::size_t numel() const;
  std::size_t bytes() const;
  double seconds_in_allreduce() const { return seconds_; }  // MPI_Allreduce only (flags and data), summed over calls
  double seconds_total() const { return total_seconds_; }   // pack + allreduce + unpack
  std::size_t calls() const { return calls_; }

 private:
  std::vector<Tensor> params_;
  // detail::Fused (not installed: it includes mpi.h): the float32 gradients, then the float64 ones,
  // each [sum of numel(p) over the parameters packed this step], in params_ order.
  std::tuple<std::vector<float>, std::vector<double>> buffers_;
  std::vector<unsigned char> flags_;  // per parameter: kHasGrad | its dtype's bit, on this rank, then ORed over ranks
  double seconds_ = 0, total_seconds_ = 0;
  std::size_t calls_ = 0;
};

}  // namespace tg::dist
