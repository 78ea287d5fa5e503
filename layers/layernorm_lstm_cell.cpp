#include <tapegrad/layers/layernorm_lstm_cell.hpp>

#include <cmath>

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/autograd/random.hpp>

namespace tg {

LayerNormLSTMCell::LayerNormLSTMCell(std::size_t I, std::size_t H) : Cell(I, H, "LayerNormLSTMCell") {
  const float k = 1.0f / std::sqrt(float(H));
  auto param = [this](const char* name, xt::xarray<float> v) { return register_parameter(name, Tensor::param(v)); };
  weight_ih = param("weight_ih", uniform<float>({4 * H, I}, -k, k));
  weight_hh = param("weight_hh", uniform<float>({4 * H, H}, -k, k));
  bias = param("bias", uniform<float>({4 * H}, -k, k));
  ln_ih_weight = param("ln_ih_weight", xt::ones<float>({4 * H}));
  ln_ih_bias = param("ln_ih_bias", xt::zeros<float>({4 * H}));
  ln_hh_weight = param("ln_hh_weight", xt::ones<float>({4 * H}));
  ln_hh_bias = param("ln_hh_bias", xt::zeros<float>({4 * H}));
  ln_c_weight = param("ln_c_weight", xt::ones<float>({H}));
  ln_c_bias = param("ln_c_bias", xt::zeros<float>({H}));
}

Tensor LayerNormLSTMCell::project_input(const Tensor& x) const {
  return layer_norm(linear(x, weight_ih), ln_ih_weight, ln_ih_bias);  // LN_ih(x W_ih^T)
}

State LayerNormLSTMCell::step(const Tensor& xp, const State& state) const {
  const Tensor& h = state[0];
  const Tensor& c = state[1];
  const Tensor gates = xp + layer_norm(linear(h, weight_hh), ln_hh_weight, ln_hh_bias) + bias;  // [B, 4H]
  const auto g4 = chunk(gates, 4, 1);
  const Tensor i = sigmoid(g4[0]), f = sigmoid(g4[1]), g = tanh(g4[2]), o = sigmoid(g4[3]);
  const Tensor c_next = f * c + i * g;
  return {o * tanh(layer_norm(c_next, ln_c_weight, ln_c_bias)), c_next};
}

}  // namespace tg
