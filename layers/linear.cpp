#include <tapegrad/layers/linear.hpp>

#include <cmath>

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/autograd/random.hpp>

namespace tg {

Linear::Linear(std::size_t in, std::size_t out) {
  if (in == 0 || out == 0)
    throw std::invalid_argument("Linear: sizes must be positive, got in_features " +
                                std::to_string(in) + ", out_features " + std::to_string(out));
  const float k = 1.0f / std::sqrt(float(in));
  weight = register_parameter("weight", Tensor::param(uniform<float>({out, in}, -k, k)));
  bias = register_parameter("bias", Tensor::param(uniform<float>({out}, -k, k)));
}

Tensor Linear::forward(const Tensor& x) const {
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

}  // namespace tg
