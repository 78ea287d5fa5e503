#pragma once
// LSTM cell, PyTorch's LSTMCell. Gates in PyTorch's order i | f | g | o:
//   gates = x W_ih^T + b_ih + h W_hh^T + b_hh                  [B, 4H]
//   i = sigmoid(gates_i), f = sigmoid(gates_f), g = tanh(gates_g), o = sigmoid(gates_o)
//   c' = f * c + i * g
//   h' = o * tanh(c')
// State: {h, c}. Option: forget-gate bias 1 (b_ih's f slice set to 1 and b_hh's to 0 at init).
#include <tapegrad/layers/affine_cell.hpp>

namespace tg {

class LSTMCell : public AffineCell {
 public:
  LSTMCell(std::size_t input_size, std::size_t hidden_size, bool forget_bias_one = false);
  std::size_t state_size() const override { return 2; }
  State step(const Tensor& xp, const State& state) const override;
};

}  // namespace tg
