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

class RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<ParamGroup> groups, const RMSpropOptions& options = {});
  RMSprop(const NamedTensors& params, const RMSpropOptions& options = {})
      : RMSprop(std::vector<ParamGroup>{ParamGroup(params)}, options) {}
  RMSprop(const std::vector<Tensor>& params, const RMSpropOptions& options = {})
      : RMSprop(std::vector<ParamGroup>{ParamGroup(params)}, options) {}

  const char* name() const override { return "RMSprop"; }
  const RMSpropOptions& options() const { return options_; }

 protected:
  void update(Slot& slot, double lr, double weight_decay) override;
  template <class T>
  void update_as(Slot& slot, double lr, double weight_decay);  // for a parameter of T

 private:
  RMSpropOptions options_;
};

}  // namespace tg
