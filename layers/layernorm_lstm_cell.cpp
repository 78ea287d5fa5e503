#include <tapegrad/layers/layernorm_lstm_cell.hpp>

#include <cmath>

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/autograd/random.hpp>

namespace tg {

template <class T>
LayerNormLSTMCellT<T>::LayerNormLSTMCellT(std::size_t I, std::size_t H) : CellT<T>(I, H, "LayerNormLSTMCell") {
  const T k = T(1) / std::sqrt(T(H));
  auto param = [this](const char* name, xt::xarray<T> v) { return this->register_parameter(name, Tensor::param(v)); };
  weight_ih = param("weight_ih", uniform<T>({4 * H, I}, -k, k));
  weight_hh = param("weight_hh", uniform<T>({4 * H, H}, -k, k));
  bias = param("bias", uniform<T>({4 * H}, -k, k));
  ln_ih_weight = param("ln_ih_weight", xt::ones<T>({4 * H}));
  ln_ih_bias = param("ln_ih_bias", xt::zeros<T>({4 * H}));
  ln_hh_weight = param("ln_hh_weight", xt::ones<T>({4 * H}));
  ln_hh_bias = param("ln_hh_bias", xt::zeros<T>({4 * H}));
  ln_c_weight = param("ln_c_weight", xt::ones<T>({H}));
  ln_c_bias = param("ln_c_bias", xt::zeros<T>({H}));
}

template <class T>
Tensor LayerNormLSTMCellT<T>::project_input(const Tensor& x) const {
  return layer_norm(linear(x, weight_ih), ln_ih_weight, ln_ih_bias);  // LN_ih(x W_ih^T)
}

template <class T>
StateT<T> LayerNormLSTMCellT<T>::step(const Tensor& xp, const StateT<T>& state) const {
  const Tensor& h = state[0];
  const Tensor& c = state[1];
  const Tensor gates = xp + layer_norm(linear(h, weight_hh), ln_hh_weight, ln_hh_bias) + bias;  // [B, 4H]
  const auto g4 = chunk(gates, 4, 1);
  const Tensor i = sigmoid(g4[0]), f = sigmoid(g4[1]), g = tanh(g4[2]), o = sigmoid(g4[3]);
  const Tensor c_next = f * c + i * g;
  return {o * tanh(layer_norm(c_next, ln_c_weight, ln_c_bias)), c_next};
}

template class LayerNormLSTMCellT<float>;
template class LayerNormLSTMCellT<double>;

}  // namespace tg
