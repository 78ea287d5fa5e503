#pragma once
// AffineCell: the parameters PyTorch's RNNCell, LSTMCell and GRUCell share, with their names,
// shapes and initialisation:
//   weight_ih [G*H, I], weight_hh [G*H, H], bias_ih [G*H], bias_hh [G*H], all U(-1/sqrt(H), 1/sqrt(H))
// The input projection of a whole block is x W_ih^T + b_ih (one GEMM); each step adds
// h W_hh^T + b_hh (one fused [B, H] x [H, G*H] GEMM) and slices the G gates.
#include <tapegrad/layers/cell.hpp>

namespace tg {

class AffineCell : public Cell {
 public:
  AffineCell(std::size_t input_size, std::size_t hidden_size, std::size_t gates, const char* name);
  std::size_t gates() const { return gates_; }
  Tensor project_input(const Tensor& x) const override;  // [N, I] -> [N, G*H]

  Tensor weight_ih, weight_hh, bias_ih, bias_hh;

 protected:
  Tensor project_hidden(const Tensor& h) const;  // [B, H] -> [B, G*H]
  // xp + h W_hh^T + b_hh in one op: [B, G*H] (the pre-activation of RNN and LSTM gates)
  Tensor preactivation(const Tensor& xp, const Tensor& h) const;

 private:
  std::size_t gates_;
};

}  // namespace tg
