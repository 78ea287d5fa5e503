#include <tapegrad/layers/rnn_cell.hpp>

#include <tapegrad/autograd/ops.hpp>

namespace tg {

template <class T>
RNNCellT<T>::RNNCellT(std::size_t I, std::size_t H, Nonlinearity act)
    : AffineCellT<T>(I, H, 1, "RNNCell"), act_(act) {}

template <class T>
StateT<T> RNNCellT<T>::step(const Tensor& xp, const StateT<T>& state) const {
  const Tensor pre = this->preactivation(xp, state[0]);  // xp + h W_hh^T + b_hh: [B, H]
  return {act_ == Nonlinearity::tanh ? tanh(pre) : relu(pre)};
}

template class RNNCellT<float>;
template class RNNCellT<double>;

}  // namespace tg
