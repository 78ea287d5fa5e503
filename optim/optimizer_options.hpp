#pragma once
// What every optimizer's options share, libtorch's way: the learning rate in the constructor,
// the rest by named setters that chain,
//   tg::AdamW opt(params, tg::AdamWOptions(3e-3).betas({0.9, 0.98}).weight_decay(0.1));
// with a getter of the same name for each. Values are checked when the optimizer is built.
namespace tg {
namespace detail {

// lr and weight_decay; each setter returns the derived options (CRTP), so
// SGDOptions(0.1).weight_decay(1e-4).momentum(0.9) keeps its type along the chain.
template <class Options>
class OptimizerOptionsBase {
 public:
  OptimizerOptionsBase(double lr, double weight_decay) : lr_(lr), weight_decay_(weight_decay) {}

  // γ, the step size before any schedule scales it.
  Options& lr(double value) { lr_ = value; return self(); }
  // λ; each optimizer's header says whether it is L2 (added to the gradient) or decoupled.
  Options& weight_decay(double value) { weight_decay_ = value; return self(); }

  double lr() const { return lr_; }
  double weight_decay() const { return weight_decay_; }

 protected:
  Options& self() { return static_cast<Options&>(*this); }

 private:
  double lr_, weight_decay_;
};

}  // namespace detail
}  // namespace tg
