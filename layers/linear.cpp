#include <tapegrad/layers/linear.hpp>

#include <cmath>

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/autograd/random.hpp>

namespace tg {

template <class T>
LinearT<T>::LinearT(std::size_t in, std::size_t out) {
  if (in == 0 || out == 0)
    throw std::invalid_argument("Linear: sizes must be positive, got in_features " +
                                std::to_string(in) + ", out_features " + std::to_string(out));
  const T k = T(1) / std::sqrt(T(in));
  weight = this->register_parameter("weight", Tensor::param(uniform<T>({out, in}, -k, k)));
  bias = this->register_parameter("bias", Tensor::param(uniform<T>({out}, -k, k)));
}

template <class T>
Tensor LinearT<T>::forward(const Tensor& x) const {
  if (x.dim() < 1 || x.shape().back() != in_features())
    throw std::invalid_argument("Linear: input " + to_string(x.shape()) +
                                " must end in in_features = " + std::to_string(in_features()));
  if (x.dim() == 2) return linear(x, weight, bias);
  // [..., I] -> [N, I] -> [N, O] -> [..., O]
  Shape out_shape = x.shape();
  out_shape.back() = out_features();
  const Tensor flat = reshape(x, {x.numel() / in_features(), in_features()});
  return reshape(linear(flat, weight, bias), out_shape);
}

template class LinearT<float>;
template class LinearT<double>;

}  // namespace tg
