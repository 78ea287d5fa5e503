#pragma once
// Truncated backpropagation through time over a long stream cut into blocks.
//
//   tg::TBPTT tbptt(lstm, 64);              // TBPTT(k1 = 64, k2 = 64)
//   for (each block x [64, B, I] of the stream) {
//     auto out = tbptt.forward(x);                  // starts from the carried state
//     loss(out.output).backward();                  // backward stops at the block boundary
//     opt.step(); opt.zero_grad();
//   }
//
// Note [TBPTT]: the state's *value* flows from block to block; its *history* does not: each
// forward() detaches the carried state first, so a block's graph ends at its own first step,
// memory is O(block), and the previous block's already-released tape is never touched again.
// With k2 < k1, the state is detached once more k1 - k2 steps into the block, so the
// gradient flows back through the last k2 steps only.
#include <tapegrad/layers/recurrent.hpp>

namespace tg {

class TBPTT {
 public:
  // k2 = 0 means k2 = k1. std::invalid_argument if k2 > k1, if k1 = 0, or if the layer is
  // bidirectional (its reverse direction would need the future of the stream).
  TBPTT(const Recurrent& layer, std::size_t k1, std::size_t k2 = 0);

  // One block x [T, B, I] with T <= k1 (the stream's last block may be shorter); a mask gives
  // the valid steps of each stream in this block.
  RecurrentOutput forward(const Tensor& x);
  RecurrentOutput forward(const Tensor& x, const SequenceMask& mask);

  // Forget the carried state: the next block starts from zeros (a new epoch).
  void reset() { state_.clear(); }
  // Zero the carried state of some streams only (stream b wrapped around to its start).
  void reset_streams(const std::vector<std::size_t>& streams);
  // The carried state (detached values), e.g. to checkpoint it; and setting it back.
  const std::vector<State>& state() const { return state_; }
  void set_state(std::vector<State> state);

  std::size_t k1() const { return k1_; }
  std::size_t k2() const { return k2_; }

 private:
  RecurrentOutput run(const Tensor& x, const SequenceMask* mask);

  const Recurrent& layer_;
  std::size_t k1_, k2_;
  std::vector<State> state_;  // empty: zeros
};

}  // namespace tg
