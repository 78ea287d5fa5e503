#include <tapegrad/layers/tbptt.hpp>

#include <stdexcept>

#include <tapegrad/autograd/ops.hpp>

namespace tg {

TBPTT::TBPTT(const Recurrent& layer, std::size_t k1, std::size_t k2)
    : layer_(layer), k1_(k1), k2_(k2 == 0 ? k1 : k2) {
  if (k1 == 0) throw std::invalid_argument("TBPTT: k1 (steps per block) must be at least 1");
  if (k2_ > k1_)
    throw std::invalid_argument("TBPTT: k2 = " + std::to_string(k2_) + " exceeds k1 = " + std::to_string(k1_) +
                                "; a block of k1 steps cannot backpropagate through more than k1 steps");
  if (layer.num_directions() != 1)
    throw std::invalid_argument("TBPTT: the layer is bidirectional; carrying its state across blocks is "
                                "meaningless (the reverse direction would need the rest of the stream). "
                                "Run bidirectional layers on whole sequences instead.");
}

RecurrentOutput TBPTT::forward(const Tensor& x) { return run(x, nullptr); }

RecurrentOutput TBPTT::forward(const Tensor& x, const SequenceMask& mask) { return run(x, &mask); }

RecurrentOutput TBPTT::run(const Tensor& x, const SequenceMask* mask) {
  if (x.dim() != 3 || x.shape()[0] == 0 || x.shape()[0] > k1_)
    throw std::invalid_argument("TBPTT: a block must be [T, B, I] with 1 <= T <= k1 = " + std::to_string(k1_) +
                                ", got " + to_string(x.shape()));
  const std::size_t steps = x.shape()[0];
  if (!state_.empty() && state_[0][0].shape()[0] != x.shape()[1])
    throw std::invalid_argument("TBPTT: the block has batch " + std::to_string(x.shape()[1]) +
                                " but the carried state has " + std::to_string(state_[0][0].shape()[0]) +
                                "; call reset() when the batch changes");
  // The carried state was detached when stored: this block's graph starts here.
  const std::size_t detach_at = steps > k2_ ? steps - k2_ : kNoDetach;
  RecurrentOutput out = layer_.run(x, state_, mask, detach_at);
  state_.clear();
  for (const auto& s : out.states) {
    State d;
    for (const auto& t : s) d.push_back(detach(t));
    state_.push_back(std::move(d));
  }
  return out;
}

void TBPTT::reset_streams(const std::vector<std::size_t>& streams) {
  if (state_.empty()) return;  // already zeros
  const std::size_t B = state_[0][0].shape()[0];
  for (std::size_t b : streams)
    if (b >= B) throw std::out_of_range("TBPTT::reset_streams: stream " + std::to_string(b) +
                                        " is out of range for batch " + std::to_string(B));
  for (auto& s : state_)
    for (auto& t : s) {
      const std::size_t H = t.shape()[1];
      visit_dtype(t.dtype(), [&](auto v) {
        for (std::size_t b : streams) std::fill_n(t.mutable_data<decltype(v)>() + b * H, H, decltype(v)(0));
      });
    }
}

void TBPTT::set_state(std::vector<State> state) {
  if (!state.empty() && state.size() != layer_.num_layers() * layer_.num_directions())
    throw std::invalid_argument("TBPTT::set_state: expected one state per layer, got " + std::to_string(state.size()));
  for (std::size_t k = 0; k < state.size(); ++k) {
    if (state[k].empty()) throw std::invalid_argument("TBPTT::set_state: empty state");
    layer_.cell(k).check_state(state[k], state[k][0].shape()[0], "TBPTT::set_state");
    for (auto& t : state[k]) t = detach(t);
  }
  state_ = std::move(state);
}

}  // namespace tg
