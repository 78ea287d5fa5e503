#pragma once
// Adagrad: torch.optim.Adagrad.
//   γ̃_t = γ / (1 + (t - 1) η)                (η lr_decay)
//   g_t = grad + λ θ_{t-1}
//   s_t = s_{t-1} + g_t²                      (s_0 = initial_accumulator_value)
//   θ_t = θ_{t-1} - γ̃_t g_t / (√s_t + ε)
// State: "step.<name>", "sum.<name>" (s).
#include <tapegrad/optim/optimizer.hpp>
#include <tapegrad/optim/optimizer_options.hpp>

namespace tg {

class AdagradOptions : public detail::OptimizerOptionsBase<AdagradOptions> {
 public:
  explicit AdagradOptions(double lr = 1e-2) : OptimizerOptionsBase(lr, 0.0) {}

  // η (>= 0).
  AdagradOptions& lr_decay(double value) { lr_decay_ = value; return *this; }
  // s_0 (>= 0).
  AdagradOptions& initial_accumulator_value(double value) { initial_accumulator_value_ = value; return *this; }
  // ε (>= 0), added to √s in the denominator.
  AdagradOptions& eps(double value) { eps_ = value; return *this; }

  double lr_decay() const { return lr_decay_; }
  double initial_accumulator_value() const { return initial_accumulator_value_; }
  double eps() const { return eps_; }

 private:
  double lr_decay_ = 0.0;
  double initial_accumulator_value_ = 0.0;
  double eps_ = 1e-10;
};

class Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<ParamGroup> groups, const AdagradOptions& options = AdagradOptions());
  Adagrad(const NamedTensors& params, const AdagradOptions& options = AdagradOptions())
      : Adagrad(std::vector<ParamGroup>{ParamGroup(params)}, options) {}
  Adagrad(const std::vector<Tensor>& params, const AdagradOptions& options = AdagradOptions())
      : Adagrad(std::vector<ParamGroup>{ParamGroup(params)}, options) {}

  const char* name() const override { return "Adagrad"; }
  const AdagradOptions& options() const { return options_; }

 protected:
  double initial_value(std::size_t) const override { return options_.initial_accumulator_value(); }
  void update(Slot& slot, double lr, double weight_decay) override;
  template <class T>
  void update_as(Slot& slot, double lr, double weight_decay);  // for a parameter of T

 private:
  AdagradOptions options_;
};

}  // namespace tg
