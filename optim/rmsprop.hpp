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
#include <tapegrad/optim/optimizer_options.hpp>

namespace tg {

class RMSpropOptions : public detail::OptimizerOptionsBase<RMSpropOptions> {
 public:
  explicit RMSpropOptions(double lr = 1e-2) : OptimizerOptionsBase(lr, 0.0) {}

  // α in [0, 1], the decay of the square average.
  RMSpropOptions& alpha(double value) { alpha_ = value; return *this; }
  // ε (>= 0), added to √ṽ in the denominator.
  RMSpropOptions& eps(double value) { eps_ = value; return *this; }
  // μ (>= 0); > 0 keeps a momentum buffer.
  RMSpropOptions& momentum(double value) { momentum_ = value; return *this; }
  // Normalise by the variance estimate v - ḡ² instead of v.
  RMSpropOptions& centered(bool value) { centered_ = value; return *this; }

  double alpha() const { return alpha_; }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }
  bool centered() const { return centered_; }

 private:
  double alpha_ = 0.99;
  double eps_ = 1e-8;
  double momentum_ = 0.0;
  bool centered_ = false;
};

class RMSprop : public Optimizer {
 public:
  RMSprop(std::vector<ParamGroup> groups, const RMSpropOptions& options = RMSpropOptions());
  RMSprop(const NamedTensors& params, const RMSpropOptions& options = RMSpropOptions())
      : RMSprop(std::vector<ParamGroup>{ParamGroup(params)}, options) {}
  RMSprop(const std::vector<Tensor>& params, const RMSpropOptions& options = RMSpropOptions())
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
