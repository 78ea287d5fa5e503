#pragma once
// SGD with momentum, dampening, Nesterov momentum and L2 weight decay: torch.optim.SGD.
//   g_t = grad + λ θ_{t-1}                                    (λ weight_decay)
//   b_t = g_t at the first step, else μ b_{t-1} + (1 - τ) g_t  (μ momentum, τ dampening)
//   g_t = g_t + μ b_t (Nesterov) or b_t (when μ ≠ 0)
//   θ_t = θ_{t-1} - γ g_t                                     (γ lr)
// State: "momentum_buffer.<name>" when momentum ≠ 0 (no step count, like PyTorch).
#include <tapegrad/optim/optimizer.hpp>
#include <tapegrad/optim/optimizer_options.hpp>

namespace tg {

class SGDOptions : public detail::OptimizerOptionsBase<SGDOptions> {
 public:
  explicit SGDOptions(double lr = 1e-3) : OptimizerOptionsBase(lr, 0.0) {}

  // μ (>= 0); 0 is plain SGD with no state.
  SGDOptions& momentum(double value) { momentum_ = value; return *this; }
  // τ in [0, 1].
  SGDOptions& dampening(double value) { dampening_ = value; return *this; }
  // Needs momentum > 0 and dampening = 0.
  SGDOptions& nesterov(bool value) { nesterov_ = value; return *this; }

  double momentum() const { return momentum_; }
  double dampening() const { return dampening_; }
  bool nesterov() const { return nesterov_; }

 private:
  double momentum_ = 0.0;
  double dampening_ = 0.0;
  bool nesterov_ = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<ParamGroup> groups, const SGDOptions& options = SGDOptions());
  SGD(const NamedTensors& params, const SGDOptions& options = SGDOptions())
      : SGD(std::vector<ParamGroup>{ParamGroup(params)}, options) {}
  SGD(const std::vector<Tensor>& params, const SGDOptions& options = SGDOptions())
      : SGD(std::vector<ParamGroup>{ParamGroup(params)}, options) {}

  const char* name() const override { return "SGD"; }
  const SGDOptions& options() const { return options_; }

 protected:
  void update(Slot& slot, double lr, double weight_decay) override;
  template <class T>
  void update_as(Slot& slot, double lr, double weight_decay);  // for a parameter of T

 private:
  SGDOptions options_;
};

}  // namespace tg
