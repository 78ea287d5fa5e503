#include <tapegrad/layers/affine_cell.hpp>

#include <cmath>

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/autograd/random.hpp>

namespace tg {

template <class T>
AffineCellT<T>::AffineCellT(std::size_t I, std::size_t H, std::size_t G, const char* name)
    : CellT<T>(I, H, name), gates_(G) {
  const T k = T(1) / std::sqrt(T(H));  // PyTorch: every weight and bias U(-1/sqrt(H), 1/sqrt(H))
  weight_ih = this->register_parameter("weight_ih", Tensor::param(uniform<T>({G * H, I}, -k, k)));
  weight_hh = this->register_parameter("weight_hh", Tensor::param(uniform<T>({G * H, H}, -k, k)));
  bias_ih = this->register_parameter("bias_ih", Tensor::param(uniform<T>({G * H}, -k, k)));
  bias_hh = this->register_parameter("bias_hh", Tensor::param(uniform<T>({G * H}, -k, k)));
}

template <class T>
Tensor AffineCellT<T>::project_input(const Tensor& x) const {
  return linear(x, weight_ih, bias_ih);
}

template <class T>
Tensor AffineCellT<T>::project_hidden(const Tensor& h) const {
  return linear(h, weight_hh, bias_hh);
}

template <class T>
Tensor AffineCellT<T>::preactivation(const Tensor& xp, const Tensor& h) const {
  return linear(h, weight_hh, bias_hh, xp);
}

template class AffineCellT<float>;
template class AffineCellT<double>;

}  // namespace tg
