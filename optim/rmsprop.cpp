#include <tapegrad/optim/rmsprop.hpp>

#include "detail/checks.hpp"

#include <cmath>

namespace tg {
namespace {

std::vector<std::string> rmsprop_state(const RMSpropOptions& o) {
  std::vector<std::string> names = {"square_avg"};
  if (o.momentum() > 0.0) names.push_back("momentum_buffer");
  if (o.centered()) names.push_back("grad_avg");
  return names;
}

}  // namespace

RMSprop::RMSprop(std::vector<ParamGroup> groups, const RMSpropOptions& o)
    : Optimizer("RMSprop", std::move(groups), o.lr(), o.weight_decay(), rmsprop_state(o), true),
      options_(o) {
  require(o.alpha() >= 0.0 && o.alpha() <= 1.0, "RMSprop", "alpha", "in [0, 1]", o.alpha());
  detail::require_finite_nonnegative("RMSprop", "eps", o.eps());
  detail::require_finite_nonnegative("RMSprop", "momentum", o.momentum());
}

void RMSprop::update(Slot& s, double lr, double weight_decay) {
  visit_dtype(s.param.dtype(), [&](auto t) { update_as<decltype(t)>(s, lr, weight_decay); });
}

template <class T>
void RMSprop::update_as(Slot& s, double lr, double weight_decay) {
  const std::size_t n = s.param.numel();
  T* p = s.param.template mutable_data<T>();
  const T* grad = s.param.template grad_data<T>();
  const bool momentum = options_.momentum() > 0.0, centered = options_.centered();
  T* v = s.buffers[0].template mutable_data<T>();
  T* b = momentum ? s.buffers[1].template mutable_data<T>() : nullptr;
  T* g_avg = centered ? s.buffers[momentum ? 2 : 1].template mutable_data<T>() : nullptr;
  const T gamma = T(lr), lambda = T(weight_decay), mu = T(options_.momentum());
  const T alpha = T(options_.alpha()), one_minus_alpha = T(1.0 - options_.alpha());
  const T eps = T(options_.eps());
  for (std::size_t i = 0; i < n; ++i) {
    const T g = grad[i] + lambda * p[i];                        // g_t = grad + λ θ_{t-1}
    v[i] = alpha * v[i] + one_minus_alpha * g * g;              // v_t = α v_{t-1} + (1-α) g_t²
    T v_tilde = v[i];
    if (centered) {
      g_avg[i] = alpha * g_avg[i] + one_minus_alpha * g;        // ḡ_t = α ḡ_{t-1} + (1-α) g_t
      v_tilde -= g_avg[i] * g_avg[i];                           // ṽ_t = v_t - ḡ_t²
    }
    const T denom = std::sqrt(v_tilde) + eps;
    if (momentum) {
      b[i] = mu * b[i] + g / denom;                             // b_t = μ b_{t-1} + g_t/(√ṽ_t+ε)
      p[i] -= gamma * b[i];                                     // θ_t = θ_{t-1} - γ b_t
    } else {
      p[i] -= gamma * g / denom;                                // θ_t = θ_{t-1} - γ g_t/(√ṽ_t+ε)
    }
  }
}

}  // namespace tg
