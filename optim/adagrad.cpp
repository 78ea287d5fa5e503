#include <tapegrad/optim/adagrad.hpp>

#include "detail/checks.hpp"

#include <cmath>

namespace tg {

Adagrad::Adagrad(std::vector<ParamGroup> groups, const AdagradOptions& o)
    : Optimizer("Adagrad", std::move(groups), o.lr(), o.weight_decay(), {"sum"}, true),
      options_(o) {
  detail::require_finite_nonnegative("Adagrad", "lr_decay", o.lr_decay());
  detail::require_finite_nonnegative("Adagrad", "initial_accumulator_value",
                                     o.initial_accumulator_value());
  detail::require_finite_nonnegative("Adagrad", "eps", o.eps());
}

void Adagrad::update(Slot& s, double lr, double weight_decay) {
  visit_dtype(s.param.dtype(), [&](auto t) { update_as<decltype(t)>(s, lr, weight_decay); });
}

template <class T>
void Adagrad::update_as(Slot& s, double lr, double weight_decay) {
  const std::size_t n = s.param.numel();
  T* p = s.param.template mutable_data<T>();
  const T* grad = s.param.template grad_data<T>();
  T* sum = s.buffers[0].template mutable_data<T>();
  const T clr = T(lr / (1.0 + double(s.step - 1) * options_.lr_decay()));  // γ̃ = γ/(1+(t-1)η)
  const T lambda = T(weight_decay), eps = T(options_.eps());
  for (std::size_t i = 0; i < n; ++i) {
    const T g = grad[i] + lambda * p[i];             // g_t = grad + λ θ_{t-1}
    sum[i] += g * g;                                 // s_t = s_{t-1} + g_t²
    p[i] -= clr * g / (std::sqrt(sum[i]) + eps);     // θ_t = θ_{t-1} - γ̃ g_t/(√s_t + ε)
  }
}

}  // namespace tg
