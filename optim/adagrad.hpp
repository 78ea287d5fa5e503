#pragma once
// Adagrad: torch.optim.Adagrad.
//   γ̃_t = γ / (1 + (t - 1) η)                (η lr_decay)
//   g_t = grad + λ θ_{t-1}
//   s_t = s_{t-1} + g_t²                      (s_0 = initial_accumulator_value)
//   θ_t = θ_{t-1} - γ̃_t g_t / (√s_t + ε)
// State: "step.<name>", "sum.<name>" (s).
#include <tapegrad/optim/optimizer.hpp>

namespace tg {

struct AdagradOptions {
  double lr = 1e-2;
  double lr_decay = 0.0;
  double weight_decay = 0.0;
  double initial_accumulator_value = 0.0;
  double eps = 1e-10;
};

template <class T>
class AdagradT : public OptimizerT<T> {
 public:
  AdagradT(std::vector<ParamGroupT<T>> groups, const AdagradOptions& options = {});
  AdagradT(const NamedTensorsT<T>& params, const AdagradOptions& options = {})
      : AdagradT(std::vector<ParamGroupT<T>>{ParamGroupT<T>(params)}, options) {}
  AdagradT(const std::vector<Tensor>& params, const AdagradOptions& options = {})
      : AdagradT(std::vector<ParamGroupT<T>>{ParamGroupT<T>(params)}, options) {}

  const char* name() const override { return "Adagrad"; }
  const AdagradOptions& options() const { return options_; }

 protected:
  T initial_value(std::size_t) const override { return T(options_.initial_accumulator_value); }
  void update(typename OptimizerT<T>::Slot& slot, double lr, double weight_decay) override;

 private:
  AdagradOptions options_;
};

using Adagrad = AdagradT<float>;
using AdagradD = AdagradT<double>;

extern template class AdagradT<float>;
extern template class AdagradT<double>;

}  // namespace tg
