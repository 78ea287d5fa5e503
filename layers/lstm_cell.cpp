#include <tapegrad/layers/lstm_cell.hpp>

#include <algorithm>

#include <tapegrad/autograd/ops.hpp>

namespace tg {

template <class T>
LSTMCellT<T>::LSTMCellT(std::size_t I, std::size_t H, bool forget_bias_one) : AffineCellT<T>(I, H, 4, "LSTMCell") {
  if (forget_bias_one) {  // rows [H, 2H) of the biases are the forget gate's
    std::fill_n(this->bias_ih.template mutable_data<T>() + H, H, T(1));
    std::fill_n(this->bias_hh.template mutable_data<T>() + H, H, T(0));
  }
}

template <class T>
StateT<T> LSTMCellT<T>::step(const Tensor& xp, const StateT<T>& state) const {
  const Tensor& h = state[0];  // [B, H]
  const Tensor& c = state[1];  // [B, H]
  const Tensor gates = this->preactivation(xp, h);  // xp + h W_hh^T + b_hh: [B, 4H]
  const auto g4 = chunk(gates, 4, 1);            // i | f | g | o, each [B, H]
  const Tensor i = sigmoid(g4[0]), f = sigmoid(g4[1]), g = tanh(g4[2]), o = sigmoid(g4[3]);
  const Tensor c_next = f * c + i * g;  // [B, H]
  return {o * tanh(c_next), c_next};
}

template class LSTMCellT<float>;
template class LSTMCellT<double>;

}  // namespace tg
