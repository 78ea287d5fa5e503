#pragma once
// Running one cell over a block of time steps, and the masks of variable-length batches.
//   T time steps, B batch, I input, H hidden
#include <limits>
#include <utility>
#include <vector>

#include <tapegrad/layers/cell.hpp>
#include <tapegrad/layers/recurrent_options.hpp>

namespace tg {

// Which steps of each stream are real: stream b is valid for t < length[b], padding after.
// Built from a [T, B] 0/1 mask (which must be a prefix mask: once 0, 0 to the end) or from
// lengths. A stream's state is frozen past its end and its outputs there are zeros.
class SequenceMask {
 public:
  SequenceMask(const IdTensor& mask);  // [T, B] of 0/1
  SequenceMask(std::vector<std::size_t> lengths, std::size_t steps);
  std::size_t steps() const { return steps_; }
  std::size_t batch() const { return lengths_.size(); }
  const std::vector<std::size_t>& lengths() const { return lengths_; }
  bool all_valid(std::size_t t) const { return t < min_length_; }
  // 1 where step t of a stream is real, 0 where it is padding: [B, 1] of `dtype`, broadcasts
  // over H.
  Tensor keep(std::size_t t, Dtype dtype) const;
  // The same as a [T, B] 0/1 integer tensor (for masked losses).
  IdTensor as_ids() const;

 private:
  std::vector<std::size_t> lengths_;
  std::size_t steps_ = 0, min_length_ = 0;
};

constexpr std::size_t kNoDetach = std::numeric_limits<std::size_t>::max();

struct SequenceRun {
  Tensor outputs;  // [T*B, H], row t*B + b is step t of stream b
  State state;     // the final state
};

// How run_cell walks: reverse walks t = T-1 .. 0; detach_at detaches the state before the step
// with that index in walking order, so the gradient flows back through the last
// (T - detach_at) steps only (TBPTT(k1, k2)); context is what the cell reads at every step
// (Cell::step_in_context), e.g. an attention decoder's encoder memory and its mask.
class RunCellOptions {
 public:
  RunCellOptions& direction(Direction value) { direction_ = value; return *this; }
  RunCellOptions& detach_at(std::size_t step) { detach_at_ = step; return *this; }
  RunCellOptions& context(CellContext value) { context_ = std::move(value); return *this; }
  Direction direction() const { return direction_; }
  std::size_t detach_at() const { return detach_at_; }
  const CellContext& context() const { return context_; }

 private:
  Direction direction_ = Direction::forward;
  std::size_t detach_at_ = kNoDetach;
  CellContext context_;
};

// Runs `cell` over x [T*B, I] (time-major rows) from `state`; with a mask, streams stop at
// their lengths.
SequenceRun run_cell(const Cell& cell, const Tensor& x, std::size_t steps, State state,
                     const RunCellOptions& options = {});
SequenceRun run_cell(const Cell& cell, const Tensor& x, std::size_t steps, State state, const SequenceMask& mask,
                     const RunCellOptions& options = {});

}  // namespace tg
