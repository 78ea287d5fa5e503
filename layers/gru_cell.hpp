#pragma once
// GRU cell, PyTorch's GRUCell. Gates in PyTorch's order r | z | n:
//   [x_r | x_z | x_n] = x W_ih^T + b_ih,  [h_r | h_z | h_n] = h W_hh^T + b_hh   each [B, H]
//   r = sigmoid(x_r + h_r),  z = sigmoid(x_z + h_z)
//   n = tanh(x_n + r * h_n)
//   h' = (1 - z) * n + z * h  =  n + z * (h - n)
#include <tapegrad/layers/affine_cell.hpp>

namespace tg {

class GRUCell : public AffineCell {
 public:
  GRUCell(std::size_t input_size, std::size_t hidden_size);
  std::size_t state_size() const override { return 1; }
  State step(const Tensor& xp, const State& state) const override;
};

}  // namespace tg
