#include <tapegrad/layers/affine_cell.hpp>

#include <cmath>

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/autograd/random.hpp>

namespace tg {

AffineCell::AffineCell(std::size_t I, std::size_t H, std::size_t G, const char* name)
    : Cell(I, H, name), gates_(G) {
  const float k = 1.0f / std::sqrt(float(H));  // PyTorch: every weight and bias U(-1/sqrt(H), 1/sqrt(H))
  weight_ih = register_parameter("weight_ih", Tensor::param(uniform<float>({G * H, I}, -k, k)));
  weight_hh = register_parameter("weight_hh", Tensor::param(uniform<float>({G * H, H}, -k, k)));
  bias_ih = register_parameter("bias_ih", Tensor::param(uniform<float>({G * H}, -k, k)));
  bias_hh = register_parameter("bias_hh", Tensor::param(uniform<float>({G * H}, -k, k)));
}

Tensor AffineCell::project_input(const Tensor& x) const {
  return linear(x, weight_ih, bias_ih);
}

Tensor AffineCell::project_hidden(const Tensor& h) const {
  return linear(h, weight_hh, bias_hh);
}

Tensor AffineCell::preactivation(const Tensor& xp, const Tensor& h) const {
  return linear(h, weight_hh, bias_hh, xp);
}

}  // namespace tg
