#include <tapegrad/layers/affine_cell.hpp>

#include <cmath>

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/autograd/random.hpp>

namespace tg {

template <class T>
AffineCellT<T>::AffineCellT(std::size_t I, std::size_t H, std::size_t G, const char* name)
    : CellT<T>(I, H, name), gates_(G) {
  const T k = T(1) / std::sqrt(T(H));  // PyTorch: every weight and bias U(-1/sqrt(H), 1/sqrt(H))
  weight_ih = this->register_parameter("weight_ih", TensorT<T>::param(uniform<T>({G * H, I}, -k, k)));
  weight_hh = this->register_parameter("weight_hh", TensorT<T>::param(uniform<T>({G * H, H}, -k, k)));
  bias_ih = this->register_parameter("bias_ih", TensorT<T>::param(uniform<T>({G * H}, -k, k)));
  bias_hh = this->register_parameter("bias_hh", TensorT<T>::param(uniform<T>({G * H}, -k, k)));
}

template <class T>
TensorT<T> AffineCellT<T>::project_input(const TensorT<T>& x) const {
  return linear(x, weight_ih, bias_ih);
}

template <class T>
TensorT<T> AffineCellT<T>::project_hidden(const TensorT<T>& h) const {
  return linear(h, weight_hh, bias_hh);
}

template <class T>
TensorT<T> AffineCellT<T>::preactivation(const TensorT<T>& xp, const TensorT<T>& h) const {
  return linear(h, weight_hh, bias_hh, xp);
}

template class AffineCellT<float>;
template class AffineCellT<double>;

}  // namespace tg
