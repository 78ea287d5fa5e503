#include <tapegrad/layers/gru_cell.hpp>

#include <tapegrad/autograd/ops.hpp>

namespace tg {

GRUCell::GRUCell(std::size_t I, std::size_t H) : AffineCell(I, H, 3, "GRUCell") {}

State GRUCell::step(const Tensor& xp, const State& state) const {
  const Tensor& h = state[0];                        // [B, H]
  const auto x3 = chunk(xp, 3, 1);                        // x_r | x_z | x_n
  const auto h3 = chunk(project_hidden(h), 3, 1);  // h_r | h_z | h_n
  const Tensor r = sigmoid(x3[0] + h3[0]);
  const Tensor z = sigmoid(x3[1] + h3[1]);
  const Tensor n = tanh(x3[2] + r * h3[2]);
  return {n + z * (h - n)};  // (1 - z) n + z h
}

}  // namespace tg
