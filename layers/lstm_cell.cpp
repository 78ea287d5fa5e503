#include <tapegrad/layers/lstm_cell.hpp>

#include <algorithm>

#include <tapegrad/autograd/ops.hpp>

namespace tg {

LSTMCell::LSTMCell(std::size_t I, std::size_t H, bool forget_bias_one) : AffineCell(I, H, 4, "LSTMCell") {
  if (forget_bias_one) {  // rows [H, 2H) of the biases are the forget gate's
    std::fill_n(bias_ih.mutable_data<float>() + H, H, 1.0f);
    std::fill_n(bias_hh.mutable_data<float>() + H, H, 0.0f);
  }
}

State LSTMCell::step(const Tensor& xp, const State& state) const {
  const Tensor& h = state[0];  // [B, H]
  const Tensor& c = state[1];  // [B, H]
  const Tensor gates = preactivation(xp, h);  // xp + h W_hh^T + b_hh: [B, 4H]
  const auto g4 = chunk(gates, 4, 1);            // i | f | g | o, each [B, H]
  const Tensor i = sigmoid(g4[0]), f = sigmoid(g4[1]), g = tanh(g4[2]), o = sigmoid(g4[3]);
  const Tensor c_next = f * c + i * g;  // [B, H]
  return {o * tanh(c_next), c_next};
}

}  // namespace tg
