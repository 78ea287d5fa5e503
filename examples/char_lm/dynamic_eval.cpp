#include "dynamic_eval.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "corpus.hpp"
#include "evaluate.hpp"
#include "report.hpp"

namespace charlm {
namespace {

constexpr std::size_t kStatStreams = 64;  // S: Krause's statistics batch is 100 streams
constexpr float kEpsilon = 2e-5f;         // ε, Krause's

// The --dynamic-tune grids: η first (at the starting λ), then λ at the best η.
constexpr double kLrGrid[] = {1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3};
constexpr double kDecayGrid[] = {0.0, 0.001, 0.002, 0.005, 0.01, 0.02};

// Note [adapted weights]: every write dynamic evaluation makes into parameter values goes
// through AdaptedWeights::values(). The trained values θ₀ are copied at construction and
// written back by the destructor, so the model leaves a pass (finished, interrupted or
// failed) as it entered it, and the next pass (a --dynamic-tune grid point) starts from θ₀.
class AdaptedWeights {
 public:
  explicit AdaptedWeights(CharLM& model) : params_(model.parameters()) {
    for (const tg::Tensor& p : params_) trained_.emplace_back(p.data<float>(), p.data<float>() + p.numel());
  }
  ~AdaptedWeights() { restore(); }
  AdaptedWeights(const AdaptedWeights&) = delete;
  AdaptedWeights& operator=(const AdaptedWeights&) = delete;

  // One step on the gradients backward left, which it then zeroes.
  void step(const GradientStats& stats, const DynamicSettings& s) {
    const float eta = float(s.lr), lambda_over_mean = float(s.decay / stats.mean);
    for (std::size_t i = 0; i < params_.size(); ++i) {
      tg::Tensor& p = params_[i];
      if (!p.has_grad()) continue;
      const float* g = p.grad_data<float>();
      const float* rms = stats.rms[i].data();
      const float* theta0 = trained_[i].data();
      float* theta = values(p);
      for (std::size_t k = 0; k < p.numel(); ++k) {
        const float rate = std::min(1.0f, lambda_over_mean * rms[k]);  // λ RMS / mean(RMS), at most 1: no overshoot
        theta[k] += -eta * g[k] / (rms[k] + kEpsilon) + rate * (theta0[k] - theta[k]);
      }
      p.zero_grad();
    }
  }

 private:
  void restore() {
    for (std::size_t i = 0; i < params_.size(); ++i) std::copy(trained_[i].begin(), trained_[i].end(), values(params_[i]));
  }
  static float* values(tg::Tensor& p) { return p.mutable_data<float>(); }  // a write: bumps the version

  std::vector<tg::Tensor> params_;
  std::vector<std::vector<float>> trained_;  // θ₀
};

}  // namespace

GradientStats gradient_stats(const CharLM& model, const std::vector<int>& train, std::size_t block,
                             std::size_t characters) {
  const std::size_t S = std::min(kStatStreams, train.size() > 1 ? (train.size() - 1) / block : 0);
  if (S == 0)
    throw std::invalid_argument("the training split (" + std::to_string(train.size()) +
                                " characters) is shorter than one --dynamic-block of " + std::to_string(block) +
                                " for the gradient statistics; use a shorter --dynamic-block");
  const StreamBatcher batcher(train, S, block);
  const std::size_t batches = std::clamp<std::size_t>((characters + S * block - 1) / (S * block), 1,
                                                      batcher.blocks_per_epoch());
  std::vector<tg::Tensor> params = model.parameters();
  std::vector<std::vector<double>> sum_sq(params.size());  // Σ g² over the batches
  for (std::size_t i = 0; i < params.size(); ++i) sum_sq[i].assign(params[i].numel(), 0.0);
  tg::TBPTT tbptt(model.rnn(), block);
  for (std::size_t step = 1; step <= batches; ++step) {
    xt::xarray<int> x, y;  // [n, S]
    batcher.block(step, x, y);
    tg::cross_entropy(model.forward(x, tbptt), y).backward();  // g: gradient of the batch's mean loss
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (!params[i].has_grad()) continue;
      const float* g = params[i].grad_data<float>();
      for (std::size_t k = 0; k < params[i].numel(); ++k) sum_sq[i][k] += double(g[k]) * g[k];
      params[i].zero_grad(true);
    }
  }
  GradientStats stats;
  double total = 0, count = 0;
  for (const auto& s : sum_sq) {
    std::vector<float> rms(s.size());
    for (std::size_t k = 0; k < s.size(); ++k) total += rms[k] = float(std::sqrt(s[k] / double(batches)));  // RMS = √(Σ g² / K)
    count += double(s.size());
    stats.rms.push_back(std::move(rms));
  }
  stats.mean = total / count;
  if (!(stats.mean > 0)) throw std::invalid_argument("the training gradients are all zero; dynamic evaluation cannot scale its steps");
  stats.characters = batches * S * block;
  return stats;
}

DynamicResult evaluate_dynamic(CharLM& model, const std::vector<int>& ids, const GradientStats& stats,
                               const DynamicSettings& s, const std::function<bool()>& stop) {
  if (ids.size() < 2) throw std::invalid_argument("evaluation needs at least 2 characters");
  const auto start = Clock::now();
  AdaptedWeights weights(model);
  tg::TBPTT tbptt(model.rnn(), s.block);  // carries the state, detached at each segment
  // Diverged: a non-finite segment loss, or one above 10 ln V (far worse than a uniform guess,
  // the limit training uses); no later segment can recover.
  const double limit = 10 * std::log(double(model.config().vocab));
  double total = 0;
  const std::size_t n = ids.size() - 1;  // predictions
  for (std::size_t b = 0; b < n; b += s.block) {
    if (stop && stop()) throw Interrupted();
    const std::size_t e = std::min(n, b + s.block);
    // The segment's mean cross-entropy, scored with the weights before its step.
    tg::Tensor loss = tg::cross_entropy(model.forward(stream_column(ids, b, e), tbptt), stream_column(ids, b + 1, e + 1));
    const double value = loss.item();
    if (!(value <= limit)) {
      tg::clear_tape();
      return {std::numeric_limits<double>::infinity(), seconds_since(start)};
    }
    total += value * double(e - b);
    loss.backward();
    weights.step(stats, s);
  }
  return {total / double(n), seconds_since(start)};
}

TuneResult tune_dynamic(CharLM& model, const std::vector<int>& ids, const GradientStats& stats,
                        const DynamicSettings& start) {
  TuneResult r;
  r.best = start;
  r.best_loss = std::numeric_limits<double>::infinity();
  auto try_one = [&](DynamicSettings s) {
    const double loss = evaluate_dynamic(model, ids, stats, s).loss;
    r.tried.emplace_back(s, loss);
    if (loss < r.best_loss) r.best = s, r.best_loss = loss;
  };
  for (double lr : kLrGrid) try_one({lr, start.decay, start.block});
  const double lr = r.best.lr;
  for (double decay : kDecayGrid)
    if (decay != start.decay) try_one({lr, decay, start.block});
  return r;
}

}  // namespace charlm
