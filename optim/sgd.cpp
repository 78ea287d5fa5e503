#include <tapegrad/optim/sgd.hpp>

#include "detail/checks.hpp"

#include <cmath>
#include <stdexcept>

namespace tg {

SGD::SGD(std::vector<ParamGroup> groups, const SGDOptions& o)
    : Optimizer("SGD", std::move(groups), o.lr(), o.weight_decay(),
                    o.momentum() != 0.0 ? std::vector<std::string>{"momentum_buffer"}
                                      : std::vector<std::string>{},
                    false),
      options_(o) {
  detail::require_finite_nonnegative("SGD", "momentum", o.momentum());
  require(o.dampening() >= 0.0 && o.dampening() <= 1.0, "SGD", "dampening", "in [0, 1]",
                o.dampening());
  if (o.nesterov() && (o.momentum() <= 0.0 || o.dampening() != 0.0))
    throw std::invalid_argument("SGD: Nesterov momentum needs momentum > 0 and dampening = 0");
}

void SGD::update(Slot& s, double lr, double weight_decay) {
  visit_dtype(s.param.dtype(), [&](auto t) { update_as<decltype(t)>(s, lr, weight_decay); });
}

template <class T>
void SGD::update_as(Slot& s, double lr, double weight_decay) {
  const std::size_t n = s.param.numel();
  T* p = s.param.template mutable_data<T>();
  const T* grad = s.param.template grad_data<T>();
  T* b = s.buffers.empty() ? nullptr : s.buffers[0].template mutable_data<T>();
  const T gamma = T(lr), lambda = T(weight_decay), mu = T(options_.momentum());
  const T one_minus_tau = T(1.0 - options_.dampening());
  const bool momentum = options_.momentum() != 0.0, nesterov = options_.nesterov(), first = s.fresh;
  for (std::size_t i = 0; i < n; ++i) {
    T g = grad[i] + lambda * p[i];                                // g_t = grad + λ θ_{t-1}
    if (momentum) {
      b[i] = first ? g : mu * b[i] + one_minus_tau * g;           // b_t = μ b_{t-1} + (1-τ) g_t
      g = nesterov ? g + mu * b[i] : b[i];                        // g_t = g_t + μ b_t, or b_t
    }
    p[i] -= gamma * g;                                            // θ_t = θ_{t-1} - γ g_t
  }
}

}  // namespace tg
