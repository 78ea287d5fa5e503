#include <tapegrad/layers/rnn_cell.hpp>

#include <tapegrad/autograd/ops.hpp>

namespace tg {

RNNCell::RNNCell(std::size_t I, std::size_t H, Nonlinearity act)
    : AffineCell(I, H, 1, "RNNCell"), act_(act) {}

State RNNCell::step(const Tensor& xp, const State& state) const {
  const Tensor pre = preactivation(xp, state[0]);  // xp + h W_hh^T + b_hh: [B, H]
  return {act_ == Nonlinearity::tanh ? tanh(pre) : relu(pre)};
}

}  // namespace tg
