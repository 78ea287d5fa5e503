#pragma once
// Full BPTT over a long sequence in bounded memory: the sequence runs as segments, each one a
// tg::checkpoint (Note [checkpoint]), so only the state at segment boundaries is kept and each
// segment's steps are recomputed during backward.
//
//   auto segment = [&](const tg::IdTensor& ids, const std::vector<tg::Tensor>& state) {
//     ... embed ids [k, B], run the cell k steps from `state`, the head, the loss ...
//     return tg::SegmentOutput{loss_sum, {h, c}};
//   };
//   auto run = tg::run_checkpointed(ids, {h0, c0}, segment, tg::SegmentLength::memory(256 << 20));
//   run.loss.backward();  // through all T steps
//
// Memory: the token ids (O(T) integers), the T/k boundary states, and one segment's graph
// (k steps) at a time, forward and backward.
#include <cstddef>
#include <functional>
#include <vector>

#include <tapegrad/autograd/tensor.hpp>

namespace tg {

struct SegmentOutput {
  Tensor loss;                // a one-element tensor: the segment's share of the loss
  std::vector<Tensor> state;  // the outgoing state, as many tensors as came in
};

// (the segment's token ids [k, ...], the incoming state) -> its loss and outgoing state. It runs
// again during backward, so what it captures by reference must outlive backward().
using SegmentFn = std::function<SegmentOutput(const IdTensor& ids, const std::vector<Tensor>& state)>;

// How long a segment is: a fixed number of steps, or the longest whose memory fits a budget.
class SegmentLength {
 public:
  static SegmentLength steps(std::size_t k);
  // The segment length k is chosen among those with k * step_bytes + ceil(T / k) * boundary_bytes
  // <= bytes: the one nearest a segment graph of about 8 MiB, the fastest measured (Note
  // [segment length] in checkpointed_sequence.cpp). step_bytes is measured by recording a short
  // probe segment (the tape's own counter), counted three times for the backward's gradients
  // and pooled blocks; boundary_bytes is the state's size plus 24 KB of bookkeeping (both
  // measured, Note [segment length]). The budget is what the run holds, not the
  // process: the ids, the model and the optimizer come on top. std::invalid_argument from
  // run_checkpointed if no k fits.
  static SegmentLength memory(std::size_t bytes);

  bool is_budget() const { return budget_; }
  std::size_t value() const { return value_; }

 private:
  SegmentLength(bool budget, std::size_t value) : budget_(budget), value_(value) {}
  bool budget_;
  std::size_t value_;
};

struct CheckpointedRun {
  Tensor loss;                // the sum of the segments' losses
  std::vector<Tensor> state;  // the state after the last step
  std::size_t segment_steps = 0;  // k
  std::size_t segments = 0;       // ceil(T / k)
};

// Runs fn over ids [T, ...] in segments of k steps along axis 0, each checkpointed. The ids are
// kept until backward (std::move them in to keep one copy).
// std::invalid_argument for T = 0, k = 0, a state tensor that is undefined, or a segment that
// returns a loss of more than one element or a state of another length or shape.
CheckpointedRun run_checkpointed(IdTensor ids, const std::vector<Tensor>& state, const SegmentFn& fn,
                                    const SegmentLength& length);

// The k that SegmentLength::memory(bytes) gives for T steps of step_bytes each and boundaries of
// boundary_bytes each (exposed for tests and benchmarks); 0 when no k fits.
std::size_t segment_steps_for_budget(std::size_t bytes, std::size_t T, std::size_t step_bytes, std::size_t boundary_bytes);

}  // namespace tg
