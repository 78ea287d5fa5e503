#include "evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace charlm {
namespace {

// Draws an id from logits [V] at `temperature` among the top_k likeliest, and among those the
// fewest whose probabilities add up to top_p (nucleus sampling; 1 keeps them all).
int draw(const float* logits, std::size_t V, const SamplingOptions& s) {
  const double temperature = s.temperature;
  const std::size_t top_k = s.top_k;
  std::vector<int> order(V);
  std::iota(order.begin(), order.end(), 0);
  // Likeliest first; ties by id, so greedy decoding is deterministic.
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  if (temperature == 0.0) return order[0];
  const std::size_t k = top_k == 0 ? V : std::min(top_k, V);
  // p_i ∝ exp((z_i - z_max) / temperature) over the k likeliest
  std::vector<double> p(k);
  double total = 0;
  for (std::size_t i = 0; i < k; ++i) total += p[i] = std::exp((double(logits[order[i]]) - logits[order[0]]) / temperature);
  std::size_t kept = k;
  if (s.top_p < 1.0) {  // the nucleus: the likeliest ids until their share reaches top_p
    double share = 0;
    for (kept = 0; kept < k && share < s.top_p * total;) share += p[kept++];
    total = share;
  }
  double u = tg::uniform01() * total;
  for (std::size_t i = 0; i < kept; ++i) {
    if (u < p[i]) return order[i];
    u -= p[i];
  }
  return order[kept - 1];
}

}  // namespace

tg::IdTensor stream_column(const std::vector<int>& ids, std::size_t begin, std::size_t end) {
  xt::xarray<int> x = xt::xarray<int>::from_shape({end - begin, 1});  // [T, 1]
  std::copy(ids.begin() + long(begin), ids.begin() + long(end), x.begin());
  return x;
}

double evaluate(const CharLM& model, const std::vector<int>& ids, std::size_t block,
                const std::function<bool()>& stop) {
  if (ids.size() < 2) throw std::invalid_argument("evaluation needs at least 2 characters");
  tg::NoGradGuard no_grad;
  std::vector<tg::State> state;
  double total = 0;
  const std::size_t n = ids.size() - 1;  // predictions
  for (std::size_t s = 0; s < n; s += block) {
    if (stop && stop()) throw Interrupted();
    const std::size_t e = std::min(n, s + block);
    const tg::Tensor logits = model.forward(stream_column(ids, s, e), state);  // [T, 1, V]
    // cross_entropy is a mean over the block; weight it by the block's length.
    total += double(tg::cross_entropy(logits, stream_column(ids, s + 1, e + 1)).item()) * double(e - s);
  }
  return total / double(n);
}

std::vector<std::vector<int>> sample(const CharLM& model, const std::vector<int>& prime, const SamplingOptions& s,
                                     int fallback_start) {
  tg::NoGradGuard no_grad;
  const std::size_t V = model.config().vocab, N = s.samples;
  const std::vector<int> context = prime.empty() ? std::vector<int>{fallback_start} : prime;
  xt::xarray<int> ids = xt::xarray<int>::from_shape({context.size(), N});  // [P, N]: the prime in every stream
  for (std::size_t t = 0; t < context.size(); ++t)
    for (std::size_t n = 0; n < N; ++n) ids(t, n) = context[t];
  std::vector<tg::State> state;
  tg::Tensor logits = model.forward(ids, state);  // [P, N, V]
  std::vector<std::vector<int>> out(N);
  for (std::size_t i = 0; i < s.length; ++i) {
    const float* last = logits.data<float>() + (logits.shape()[0] - 1) * N * V;  // the last step's [N, V]
    xt::xarray<int> next = xt::xarray<int>::from_shape({1, N});
    for (std::size_t n = 0; n < N; ++n) out[n].push_back(next(0, n) = draw(last + n * V, V, s));
    logits = model.forward(next, state);  // [1, N, V]
  }
  return out;
}

}  // namespace charlm
