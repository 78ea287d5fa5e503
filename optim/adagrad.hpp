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

class Adagrad : public Optimizer {
 public:
  Adagrad(std::vector<ParamGroup> groups, const AdagradOptions& options = {});
  Adagrad(const NamedTensors& params, const AdagradOptions& options = {})
      : Adagrad(std::vector<ParamGroup>{ParamGroup(params)}, options) {}
  Adagrad(const std::vector<Tensor>& params, const AdagradOptions& options = {})
      : Adagrad(std::vector<ParamGroup>{ParamGroup(params)}, options) {}

  const char* name() const override { return "Adagrad"; }
  const AdagradOptions& options() const { return options_; }

 protected:
  double initial_value(std::size_t) const override { return options_.initial_accumulator_value; }
  void update(Slot& slot, double lr, double weight_decay) override;
  template <class T>
  void update_as(Slot& slot, double lr, double weight_decay);  // for a parameter of T

 private:
  AdagradOptions options_;
};

}  // namespace tg
