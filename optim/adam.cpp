#include <tapegrad/optim/adam.hpp>

#include "detail/checks.hpp"

#include <cmath>

namespace tg {

Adam::Adam(const char* who, std::vector<ParamGroup> groups, const AdamOptions& o,
                bool decoupled_weight_decay)
    : Optimizer(who, std::move(groups), o.lr(), o.weight_decay(), {"exp_avg", "exp_avg_sq"}, true),
      options_(o),
      decoupled_(decoupled_weight_decay) {
  const auto [beta1, beta2] = o.betas();
  require(beta1 >= 0.0 && beta1 < 1.0, who, "beta1", "in [0, 1)", beta1);
  require(beta2 >= 0.0 && beta2 < 1.0, who, "beta2", "in [0, 1)", beta2);
  detail::require_finite_nonnegative(who, "eps", o.eps());
}

void Adam::update(Slot& s, double lr, double weight_decay) {
  visit_dtype(s.param.dtype(), [&](auto t) { update_as<decltype(t)>(s, lr, weight_decay); });
}

template <class T>
void Adam::update_as(Slot& s, double lr, double weight_decay) {
  const std::size_t n = s.param.numel();
  T* p = s.param.template mutable_data<T>();
  const T* grad = s.param.template grad_data<T>();
  T* m = s.buffers[0].template mutable_data<T>();
  T* v = s.buffers[1].template mutable_data<T>();
  const double t = double(s.step);
  const auto [b1, b2] = options_.betas();
  const double bias_correction1 = 1.0 - std::pow(b1, t);
  const double bias_correction2 = 1.0 - std::pow(b2, t);
  // m̂/(√v̂ + ε) = (m / bc1) / (√v / √bc2 + ε): the corrections fold into two scalars, as in
  // torch.optim.Adam.
  const T step_size = T(lr / bias_correction1);
  const T inv_sqrt_bc2 = T(1.0 / std::sqrt(bias_correction2));
  const T beta1 = T(b1), beta2 = T(b2);
  const T one_minus_beta1 = T(1.0 - b1), one_minus_beta2 = T(1.0 - b2);
  const T eps = T(options_.eps());
  const T l2 = decoupled_ ? T(0) : T(weight_decay);
  const T decay = decoupled_ ? T(lr * weight_decay) : T(0);
  for (std::size_t i = 0; i < n; ++i) {
    p[i] -= decay * p[i];                                  // AdamW: θ_t = θ_{t-1} - γλ θ_{t-1}
    const T g = grad[i] + l2 * p[i];                       // Adam: g_t = grad + λ θ_{t-1}
    m[i] = beta1 * m[i] + one_minus_beta1 * g;             // m_t = β1 m_{t-1} + (1-β1) g_t
    v[i] = beta2 * v[i] + one_minus_beta2 * g * g;         // v_t = β2 v_{t-1} + (1-β2) g_t²
    p[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);  // θ_t -= γ m̂_t/(√v̂_t+ε)
  }
}

}  // namespace tg
