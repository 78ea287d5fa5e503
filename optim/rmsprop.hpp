#pragma once
// RMSprop: torch.optim.RMSprop.
//   g_t = grad + λ θ_{t-1}
//   v_t = α v_{t-1} + (1 - α) g_t²            (square average)
//   ṽ_t = v_t, or v_t - ḡ_t² when centered with ḡ_t = α ḡ_{t-1} + (1 - α) g_t
//   with momentum μ > 0:  b_t = μ b_{t-1} + g_t / (√ṽ_t + ε),  θ_t = θ_{t-1} - γ b_t
//   without:              θ_t = θ_{t-1} - γ g_t / (√ṽ_t + ε)
// State: "step.<name>", "square_avg.<name>" (v), "momentum_buffer.<name>" (b, when μ > 0),
// "grad_avg.<name>" (ḡ, when centered).
#include <tapegrad/optim/optimizer.hpp>

namespace tg {

struct RMSpropOptions {
  double lr = 1e-2;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.0;
  bool centered = false;
};

template <class T>
class RMSpropT : public OptimizerT<T> {
 public:
  RMSpropT(std::vector<ParamGroupT<T>> groups, const RMSpropOptions& options = {});
  RMSpropT(const NamedTensorsT<T>& params, const RMSpropOptions& options = {})
      : RMSpropT(std::vector<ParamGroupT<T>>{ParamGroupT<T>(params)}, options) {}
  RMSpropT(const std::vector<Tensor>& params, const RMSpropOptions& options = {})
      : RMSpropT(std::vector<ParamGroupT<T>>{ParamGroupT<T>(params)}, options) {}

  const char* name() const override { return "RMSprop"; }
  const RMSpropOptions& options() const { return options_; }

 protected:
  void update(typename OptimizerT<T>::Slot& slot, double lr, double weight_decay) override;

 private:
  RMSpropOptions options_;
};

using RMSprop = RMSpropT<float>;
using RMSpropD = RMSpropT<double>;

extern template class RMSpropT<float>;
extern template class RMSpropT<double>;

}  // namespace tg
