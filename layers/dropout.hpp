#pragma once
// Dropout as a module: active in train mode only (Module::train / eval).
#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/layers/module.hpp>

namespace tg {

class Dropout : public Module {
 public:
  explicit Dropout(double p) : p_(p) {
    if (!(p >= 0.0 && p <= 1.0))
      throw std::invalid_argument("Dropout: p must be in [0, 1], got " + std::to_string(p));
  }
  Tensor forward(const Tensor& x) const { return dropout(x, p_, is_training()); }
  Tensor operator()(const Tensor& x) const { return forward(x); }
  double p() const { return p_; }

 private:
  double p_;
};

}  // namespace tg
