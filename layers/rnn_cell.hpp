#pragma once
// Elman RNN cell, PyTorch's RNNCell:  h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act = tanh or relu.
#include <tapegrad/layers/affine_cell.hpp>

namespace tg {

enum class Nonlinearity { tanh, relu };

class RNNCell : public AffineCell {
 public:
  RNNCell(std::size_t input_size, std::size_t hidden_size, Nonlinearity act = Nonlinearity::tanh);
  std::size_t state_size() const override { return 1; }
  State step(const Tensor& xp, const State& state) const override;
  Nonlinearity nonlinearity() const { return act_; }

 private:
  Nonlinearity act_;
};

}  // namespace tg
