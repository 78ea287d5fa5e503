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

namespace tg {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // L2: added to the gradient
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;  // decoupled: θ -= γ λ θ before the Adam step
};

template <class T>
class AdamT : public OptimizerT<T> {
 public:
  AdamT(std::vector<ParamGroupT<T>> groups, const AdamOptions& options = {})
      : AdamT("Adam", std::move(groups), options, false) {}
  AdamT(const NamedTensorsT<T>& params, const AdamOptions& options = {})
      : AdamT(std::vector<ParamGroupT<T>>{ParamGroupT<T>(params)}, options) {}
  AdamT(const std::vector<Tensor>& params, const AdamOptions& options = {})
      : AdamT(std::vector<ParamGroupT<T>>{ParamGroupT<T>(params)}, options) {}

  const char* name() const override { return decoupled_ ? "AdamW" : "Adam"; }
  const AdamOptions& options() const { return options_; }

 protected:
  AdamT(const char* who, std::vector<ParamGroupT<T>> groups, const AdamOptions& options,
        bool decoupled_weight_decay);
  void update(typename OptimizerT<T>::Slot& slot, double lr, double weight_decay) override;

 private:
  AdamOptions options_;
  bool decoupled_;
};

template <class T>
class AdamWT : public AdamT<T> {
 public:
  AdamWT(std::vector<ParamGroupT<T>> groups, const AdamWOptions& options = {})
      : AdamT<T>("AdamW", std::move(groups), to_adam(options), true) {}
  AdamWT(const NamedTensorsT<T>& params, const AdamWOptions& options = {})
      : AdamWT(std::vector<ParamGroupT<T>>{ParamGroupT<T>(params)}, options) {}
  AdamWT(const std::vector<Tensor>& params, const AdamWOptions& options = {})
      : AdamWT(std::vector<ParamGroupT<T>>{ParamGroupT<T>(params)}, options) {}

 private:
  static AdamOptions to_adam(const AdamWOptions& o) {
    return {o.lr, o.beta1, o.beta2, o.eps, o.weight_decay};
  }
};

using Adam = AdamT<float>;
using AdamD = AdamT<double>;
using AdamW = AdamWT<float>;
using AdamWD = AdamWT<double>;

extern template class AdamT<float>;
extern template class AdamT<double>;
extern template class AdamWT<float>;
extern template class AdamWT<double>;

}  // namespace tg
