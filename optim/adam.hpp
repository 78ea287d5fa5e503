#pragma once
// Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay):
// torch.optim.Adam and torch.optim.AdamW (amsgrad = False).
//   Adam:   g_t = grad + λ θ_{t-1}
//   AdamW:  θ_t = θ_{t-1} - γ λ θ_{t-1},  g_t = grad
//   m_t = β1 m_{t-1} + (1 - β1) g_t            (first moment)
//   v_t = β2 v_{t-1} + (1 - β2) g_t²           (second moment)
//   m̂_t = m_t / (1 - β1^t),  v̂_t = v_t / (1 - β2^t)   (bias correction)
//   θ_t = θ_t - γ m̂_t / (√v̂_t + ε)
// State: "step.<name>", "exp_avg.<name>" (m), "exp_avg_sq.<name>" (v).
#include <tapegrad/optim/optimizer.hpp>
#include <tapegrad/optim/optimizer_options.hpp>

#include <utility>

namespace tg {

namespace detail {

// Adam's own fields, shared by AdamOptions and AdamWOptions.
template <class Options>
class AdamOptionsBase : public OptimizerOptionsBase<Options> {
 public:
  using OptimizerOptionsBase<Options>::OptimizerOptionsBase;

  // (β1, β2), each in [0, 1).
  Options& betas(std::pair<double, double> value) { betas_ = value; return this->self(); }
  // ε (>= 0), added to √v̂ in the denominator.
  Options& eps(double value) { eps_ = value; return this->self(); }

  std::pair<double, double> betas() const { return betas_; }
  double eps() const { return eps_; }

 private:
  std::pair<double, double> betas_{0.9, 0.999};
  double eps_ = 1e-8;
};

}  // namespace detail

// weight_decay (default 0) is L2: added to the gradient.
class AdamOptions : public detail::AdamOptionsBase<AdamOptions> {
 public:
  explicit AdamOptions(double lr = 1e-3) : AdamOptionsBase(lr, 0.0) {}
};

// weight_decay (default 1e-2) is decoupled: θ -= γ λ θ before the Adam step.
class AdamWOptions : public detail::AdamOptionsBase<AdamWOptions> {
 public:
  explicit AdamWOptions(double lr = 1e-3) : AdamOptionsBase(lr, 1e-2) {}
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<ParamGroup> groups, const AdamOptions& options = AdamOptions())
      : Adam("Adam", std::move(groups), options, false) {}
  Adam(const NamedTensors& params, const AdamOptions& options = AdamOptions())
      : Adam(std::vector<ParamGroup>{ParamGroup(params)}, options) {}
  Adam(const std::vector<Tensor>& params, const AdamOptions& options = AdamOptions())
      : Adam(std::vector<ParamGroup>{ParamGroup(params)}, options) {}

  const char* name() const override { return decoupled_ ? "AdamW" : "Adam"; }
  const AdamOptions& options() const { return options_; }

 protected:
  Adam(const char* who, std::vector<ParamGroup> groups, const AdamOptions& options,
        bool decoupled_weight_decay);
  void update(Slot& slot, double lr, double weight_decay) override;
  template <class T>
  void update_as(Slot& slot, double lr, double weight_decay);  // for a parameter of T

 private:
  AdamOptions options_;
  bool decoupled_;
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<ParamGroup> groups, const AdamWOptions& options = AdamWOptions())
      : Adam("AdamW", std::move(groups), to_adam(options), true) {}
  AdamW(const NamedTensors& params, const AdamWOptions& options = AdamWOptions())
      : AdamW(std::vector<ParamGroup>{ParamGroup(params)}, options) {}
  AdamW(const std::vector<Tensor>& params, const AdamWOptions& options = AdamWOptions())
      : AdamW(std::vector<ParamGroup>{ParamGroup(params)}, options) {}

 private:
  static AdamOptions to_adam(const AdamWOptions& o) {
    return AdamOptions(o.lr()).betas(o.betas()).eps(o.eps()).weight_decay(o.weight_decay());
  }
};

}  // namespace tg
