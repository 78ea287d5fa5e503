#pragma once
// Linear: y = x W^T + b with PyTorch's layout (weight [O, I], bias [O]) and initialisation
// U(-1/sqrt(I), 1/sqrt(I)). Inputs [N, I] or [T, B, I] (leading dims are flattened).
#include <tapegrad/layers/module.hpp>

namespace tg {

class Linear : public Module {
 public:
  Linear(std::size_t in_features, std::size_t out_features);
  Tensor forward(const Tensor& x) const;  // [..., I] -> [..., O]
  Tensor operator()(const Tensor& x) const { return forward(x); }
  std::size_t in_features() const { return weight.shape()[1]; }
  std::size_t out_features() const { return weight.shape()[0]; }

  Tensor weight;  // [O, I]
  Tensor bias;    // [O]
};

}  // namespace tg
