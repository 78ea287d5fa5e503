#include <tapegrad/optim/schedule.hpp>

#include "detail/checks.hpp"

#include <cmath>
#include <stdexcept>

namespace tg {

using detail::require;
using detail::require_finite_nonnegative;

// ---- LRScheduler ----

LRScheduler::LRScheduler(Optimizer& optimizer) : optimizer_(&optimizer) {
  for (std::size_t g = 0; g < optimizer.num_groups(); ++g) base_lrs_.push_back(optimizer.lr(g));
}

void LRScheduler::apply() {
  for (std::size_t g = 0; g < base_lrs_.size(); ++g)
    optimizer_->set_lr(g, lr_at(last_step_, base_lrs_[g]));
}

void LRScheduler::step() {
  ++last_step_;
  apply();
}

void LRScheduler::check_state(long last_step, const std::vector<double>& base_lrs) const {
  require(last_step >= 0, "LRScheduler::load_state", "last_step", ">= 0", double(last_step));
  if (!base_lrs.empty() && base_lrs.size() != optimizer_->num_groups())
    throw std::invalid_argument("LRScheduler::load_state: got " + std::to_string(base_lrs.size()) +
                                " base lrs for an optimizer with " +
                                std::to_string(optimizer_->num_groups()) + " group(s)");
  for (double b : base_lrs)
    require_finite_nonnegative("LRScheduler::load_state", "a base lr", b);
  // The lrs this position gives must be valid before anything changes.
  const std::vector<double>& bases = base_lrs.empty() ? base_lrs_ : base_lrs;
  for (double b : bases) {
    const double lr = lr_at(last_step, b);
    require_finite_nonnegative("LRScheduler::load_state", "the restored lr", lr);
  }
}

void LRScheduler::load_state(long last_step, const std::vector<double>& base_lrs) {
  check_state(last_step, base_lrs);
  if (!base_lrs.empty()) base_lrs_ = base_lrs;
  last_step_ = last_step;
  apply();
}

// ---- the schedules ----

StepLR::StepLR(Optimizer& optimizer, long step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  require(step_size > 0, "StepLR", "step_size", "> 0", double(step_size));
  require_finite_nonnegative("StepLR", "gamma", gamma);
  apply();
}

double StepLR::lr_at(long k, double base_lr) const {
  return base_lr * std::pow(gamma_, double(k / step_size_));  // base γ^⌊k/step_size⌋
}

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma)
    : LRScheduler(optimizer), gamma_(gamma) {
  require_finite_nonnegative("ExponentialLR", "gamma", gamma);
  apply();
}

double ExponentialLR::lr_at(long k, double base_lr) const {
  return base_lr * std::pow(gamma_, double(k));  // base γ^k
}

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, long T_max, double eta_min)
    : LRScheduler(optimizer), T_max_(T_max), eta_min_(eta_min) {
  require(T_max > 0, "CosineAnnealingLR", "T_max", "> 0", double(T_max));
  require_finite_nonnegative("CosineAnnealingLR", "eta_min", eta_min);
  apply();
}

double CosineAnnealingLR::lr_at(long k, double base_lr) const {
  // η_min + (base - η_min)(1 + cos(π k / T)) / 2
  return eta_min_ + (base_lr - eta_min_) * (1.0 + std::cos(M_PI * double(k) / double(T_max_))) / 2.0;
}

LinearWarmup::LinearWarmup(Optimizer& optimizer, long warmup_steps)
    : LinearWarmup(optimizer, warmup_steps, std::unique_ptr<LRScheduler>()) {}

LinearWarmup::LinearWarmup(Optimizer& optimizer, long warmup_steps,
                           std::unique_ptr<LRScheduler> then)
    : LRScheduler(optimizer), warmup_steps_(warmup_steps), then_(std::move(then)) {
  require(warmup_steps > 0, "LinearWarmup", "warmup_steps", "> 0", double(warmup_steps));
  if (then_ && &then_->optimizer() != &optimizer)
    throw std::invalid_argument("LinearWarmup: the schedule after the warm-up drives a different "
                                "optimizer; build it on the same one");
  apply();
}

std::string LinearWarmup::name() const {
  return then_ ? "LinearWarmup(" + then_->name() + ")" : "LinearWarmup";
}

double LinearWarmup::lr_at(long k, double base_lr) const {
  if (k < warmup_steps_) return base_lr * double(k + 1) / double(warmup_steps_);  // base (k+1)/W
  return then_ ? then_->lr_at(k - warmup_steps_, base_lr) : base_lr;
}

}  // namespace tg
