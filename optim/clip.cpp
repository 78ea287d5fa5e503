#include <tapegrad/optim/clip.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <tapegrad/autograd/tape.hpp>

namespace tg {
namespace {

// Both containers seen alike, without copying them (clipping runs every step: no allocation).
const Tensor& tensor_at(const std::vector<Tensor>& ps, std::size_t k) { return ps[k]; }
const Tensor& tensor_at(const NamedTensors& ps, std::size_t k) { return ps[k].second; }
std::string label_at(const std::vector<Tensor>&, std::size_t k) {
  return "#" + std::to_string(k);
}
std::string label_at(const NamedTensors& ps, std::size_t k) {
  return ps[k].first.empty() ? "#" + std::to_string(k) : "'" + ps[k].first + "'";
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// Σ g[i]² in double, over 8 independent partial sums (they vectorise; one chain would not).
template <class T>
double sum_of_squares(const T* g, std::size_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (std::size_t j = 0; j < 8; ++j) acc[j] += double(g[i + j]) * double(g[i + j]);
  for (; i < n; ++i) acc[0] += double(g[i]) * double(g[i]);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Calls f(k, g, n) for every parameter that takes part: a leaf that requires grad and has a
// gradient buffer g of n elements (a float* or double*, the parameter's dtype).
template <class Params, class F>
void for_each_grad(const char* who, const Params& params, F&& f) {
  for (std::size_t k = 0; k < params.size(); ++k) {
    auto p = tensor_at(params, k);
    if (!p.defined())
      throw std::invalid_argument(std::string(who) + ": parameter " + label_at(params, k) +
                                  " is undefined");
    if (!p.requires_grad() || !p.has_grad()) continue;  // frozen, or no gradient yet
    if (!p.is_leaf())
      throw std::invalid_argument(std::string(who) + ": parameter " + label_at(params, k) +
                                  " is not a leaf; clipping acts on parameters' gradients");
    visit_dtype(p.dtype(), [&](auto t) { f(k, p.template grad_data<decltype(t)>(), p.numel()); });
  }
}

template <class Params>
double clip_norm(const Params& params, double max_norm) {
  if (!(max_norm >= 0.0))  // NaN or negative; +inf is allowed: the norm, no clipping
    throw std::invalid_argument("clip_grad_norm: max_norm must be >= 0 (or +inf: no clipping), got " +
                                number(max_norm));
  double sum_sq = 0.0;  // Σ g² over every element of every gradient
  for_each_grad("clip_grad_norm", params, [&](std::size_t, auto* g, std::size_t n) {
    sum_sq += sum_of_squares(g, n);
  });
  double total = std::sqrt(sum_sq);
  if (!std::isfinite(total)) {
    // Note [non-finite gradient norm]: name the culprit, touch nothing.
    for_each_grad("clip_grad_norm", params, [&](std::size_t k, auto* g, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i)
        if (!std::isfinite(g[i]))
          throw NonFiniteError("clip_grad_norm: the gradient of parameter " +
                               label_at(params, k) + " holds " + number(double(g[i])) +
                               " at element " + std::to_string(i) +
                               ", so the total norm is not finite; the gradients were left "
                               "unchanged (skip this step, or stop training)");
    });
    // Every element is finite but Σ g² overflowed (huge doubles): rescale by the largest |g|.
    double scale = 0.0;
    for_each_grad("clip_grad_norm", params, [&](std::size_t, auto* g, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i) scale = std::max(scale, std::fabs(double(g[i])));
    });
    sum_sq = 0.0;
    for_each_grad("clip_grad_norm", params, [&](std::size_t, auto* g, std::size_t n) {
      for (std::size_t i = 0; i < n; ++i) sum_sq += (double(g[i]) / scale) * (double(g[i]) / scale);
    });
    total = scale * std::sqrt(sum_sq);
    if (!std::isfinite(total))
      throw NonFiniteError("clip_grad_norm: the total gradient norm overflows a double; the "
                           "gradients were left unchanged");
  }
  const double clip_coef = max_norm / (total + 1e-6);  // PyTorch's formula
  if (clip_coef < 1.0)
    for_each_grad("clip_grad_norm", params, [&](std::size_t, auto* g, std::size_t n) {
      using T = std::remove_pointer_t<decltype(g)>;
      const T c = T(clip_coef);
      for (std::size_t i = 0; i < n; ++i) g[i] *= c;
    });
  return total;
}

template <class Params>
void clip_value(const Params& params, double clip_value) {
  if (!(clip_value >= 0.0) || !std::isfinite(clip_value))
    throw std::invalid_argument("clip_grad_value: clip_value must be finite and >= 0, got " +
                                number(clip_value));
  // First a check, so that a NaN leaves every gradient unchanged.
  for_each_grad("clip_grad_value", params, [&](std::size_t k, auto* g, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
      if (std::isnan(g[i]))
        throw NonFiniteError("clip_grad_value: the gradient of parameter " + label_at(params, k) +
                             " holds NaN at element " + std::to_string(i) +
                             "; the gradients were left unchanged (skip this step, or stop "
                             "training)");
  });
  for_each_grad("clip_grad_value", params, [&](std::size_t, auto* g, std::size_t n) {
    using T = std::remove_pointer_t<decltype(g)>;
    const T hi = T(clip_value), lo = -hi;
    for (std::size_t i = 0; i < n; ++i) g[i] = std::min(std::max(g[i], lo), hi);
  });
}

}  // namespace

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) { return clip_norm(params, max_norm); }
double clip_grad_norm(const NamedTensors& params, double max_norm) { return clip_norm(params, max_norm); }
void clip_grad_value(const std::vector<Tensor>& params, double v) { clip_value(params, v); }
void clip_grad_value(const NamedTensors& params, double v) { clip_value(params, v); }

}  // namespace tg
