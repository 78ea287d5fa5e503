#pragma once
// Learning-rate schedules. A scheduler holds a reference to an optimizer, records each group's
// lr when it is created (its base lr), and sets every group's lr from its base lr: on creation
// to lr_at(0, base), and after each step() to lr_at(last_step, base). One call to step() per
// optimizer step, after it (PyTorch's order):
//   opt.step(); sched.step();
// so the k-th optimizer step (k = 0, 1, ...) runs with lr_at(k, base). The schedules:
//   StepLR(step_size, γ)          base · γ^⌊k / step_size⌋
//   ExponentialLR(γ)              base · γ^k
//   CosineAnnealingLR(T, η_min)   η_min + (base - η_min)(1 + cos(π k / T)) / 2
//                                 (PyTorch's closed form: beyond T it rises again, period 2T)
//   LinearWarmup(W[, then])       base · (k + 1) / W for k < W, then `then` from its own step 0
//                                 (k - W), or base without one. = PyTorch's
//                                 SequentialLR([LinearLR(1/W, 1, W - 1), then], [W]).
// The optimizer must outlive its scheduler. A scheduler's position (last_step and base lrs)
// can be saved and restored (load_state);
// save_checkpoint does it for you.
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <tapegrad/optim/optimizer.hpp>

namespace tg {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  virtual std::string name() const = 0;  // "StepLR", "LinearWarmup(CosineAnnealingLR)", ...
  // The lr at step k of a group whose base lr is base_lr (a pure function: preview, plot).
  virtual double lr_at(long k, double base_lr) const = 0;

  // last_step += 1, then every group's lr = lr_at(last_step, its base lr).
  void step();
  long last_step() const { return last_step_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  Optimizer& optimizer() const { return *optimizer_; }
  // Restores a saved position and sets the groups' lrs from it. base_lrs: one per group, or
  // empty to keep the current ones. std::invalid_argument (and no change) if last_step < 0,
  // a base lr is negative or not finite, or the count differs from the optimizer's groups.
  void load_state(long last_step, const std::vector<double>& base_lrs = {});
  // The checks of load_state alone (std::invalid_argument naming the problem).
  void check_state(long last_step, const std::vector<double>& base_lrs = {}) const;

 protected:
  explicit LRScheduler(Optimizer& optimizer);
  // Sets every group's lr for last_step; each concrete scheduler's constructor ends with it.
  void apply();

 private:
  Optimizer* optimizer_;
  long last_step_ = 0;
  std::vector<double> base_lrs_;
};

class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, long step_size, double gamma = 0.1);
  std::string name() const override { return "StepLR"; }
  double lr_at(long k, double base_lr) const override;

 private:
  long step_size_;
  double gamma_;
};

class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);
  std::string name() const override { return "ExponentialLR"; }
  double lr_at(long k, double base_lr) const override;

 private:
  double gamma_;
};

class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, long T_max, double eta_min = 0.0);
  std::string name() const override { return "CosineAnnealingLR"; }
  double lr_at(long k, double base_lr) const override;

 private:
  long T_max_;
  double eta_min_;
};

class LinearWarmup : public LRScheduler {
 public:
  // Warm-up, then constant base lr.
  LinearWarmup(Optimizer& optimizer, long warmup_steps);
  // Warm-up, then `then` (which must drive the same optimizer), e.g.
  //   tg::LinearWarmup sched(opt, 100, tg::CosineAnnealingLR(opt, 900));
  LinearWarmup(Optimizer& optimizer, long warmup_steps, std::unique_ptr<LRScheduler> then);
  template <class S, class = std::enable_if_t<std::is_base_of<LRScheduler, std::decay_t<S>>::value>>
  LinearWarmup(Optimizer& optimizer, long warmup_steps, S&& then)
      : LinearWarmup(optimizer, warmup_steps,
                     std::unique_ptr<LRScheduler>(new std::decay_t<S>(std::forward<S>(then)))) {}

  std::string name() const override;
  double lr_at(long k, double base_lr) const override;

 private:
  long warmup_steps_;
  std::unique_ptr<LRScheduler> then_;
};

}  // namespace tg
