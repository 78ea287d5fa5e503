#pragma once
// A custom cell, written only with autograd ops, that plugs into Recurrent and TBPTT with no
// change to them: the layer-normalised LSTM of Ba, Kiros & Hinton (2016), as in PyTorch's
// JIT benchmark LayerNormLSTMCell. Gate order i | f | g | o:
//   gates = LN_ih(x W_ih^T) + LN_hh(h W_hh^T) + bias         [B, 4H]
//   i, f, o = sigmoid, g = tanh;  c' = f * c + i * g;  h' = o * tanh(LN_c(c'))
// LN_ih of a whole block is one GEMM plus a row-wise normalisation (project_input).
#include <tapegrad/layers/cell.hpp>

namespace tg {

class LayerNormLSTMCell : public Cell {
 public:
  LayerNormLSTMCell(std::size_t input_size, std::size_t hidden_size);
  std::size_t state_size() const override { return 2; }
  Tensor project_input(const Tensor& x) const override;  // [N, I] -> [N, 4H]
  State step(const Tensor& xp, const State& state) const override;

  Tensor weight_ih, weight_hh, bias;                // [4H, I], [4H, H], [4H]
  Tensor ln_ih_weight, ln_ih_bias, ln_hh_weight, ln_hh_bias;  // [4H] each
  Tensor ln_c_weight, ln_c_bias;                    // [H]
};

}  // namespace tg
