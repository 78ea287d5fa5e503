#include "seq_data.hpp"

#include <algorithm>
#include <map>

namespace seqtasks {

Tokens random_letters(DataRng& rng, std::size_t alphabet, std::size_t min_length, std::size_t max_length) {
  Tokens s(rng.between(min_length, max_length));
  for (int& letter : s) letter = int(1 + rng.below(alphabet));
  return s;
}

std::vector<Tokens> reversed_all(const std::vector<Tokens>& strings) {
  std::vector<Tokens> out;
  for (const Tokens& s : strings) out.emplace_back(s.rbegin(), s.rend());
  return out;
}

PaddedBatch pad_time_major(const std::vector<Tokens>& sequences, int pad, std::size_t min_steps) {
  std::size_t steps = min_steps;
  for (const auto& s : sequences) steps = std::max(steps, s.size());
  PaddedBatch batch;
  batch.ids = xt::xarray<int>::from_shape({steps, sequences.size()});
  std::fill(batch.ids.begin(), batch.ids.end(), pad);
  for (std::size_t b = 0; b < sequences.size(); ++b) {
    for (std::size_t t = 0; t < sequences[b].size(); ++t) batch.ids(t, b) = sequences[b][t];
    batch.lengths.push_back(sequences[b].size());
  }
  return batch;
}

int argmax_row(const tg::Tensor& logits, std::size_t r) {
  const std::size_t C = logits.shape().back();
  const float* row = logits.data<float>() + r * C;
  return int(std::max_element(row, row + C) - row);
}

MatchScore score_predictions(const std::vector<Tokens>& predicted, const std::vector<Tokens>& targets) {
  MatchScore s;
  std::size_t exact = 0, tokens = 0, right = 0;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    exact += predicted[i] == targets[i];
    const std::size_t n = std::max(predicted[i].size(), targets[i].size());
    tokens += n;
    for (std::size_t t = 0; t < std::min(predicted[i].size(), targets[i].size()); ++t)
      right += predicted[i][t] == targets[i][t];
  }
  s.exact = targets.empty() ? 0.0 : double(exact) / double(targets.size());
  s.per_token = tokens == 0 ? 0.0 : double(right) / double(tokens);
  return s;
}

double most_frequent_baseline(const std::vector<Tokens>& reference, const std::vector<Tokens>& targets) {
  std::map<Tokens, std::size_t> counts;
  for (const auto& r : reference) ++counts[r];
  const Tokens* best = nullptr;
  std::size_t best_count = 0;
  for (const auto& [seq, n] : counts)  // ties: the smallest sequence, deterministic
    if (n > best_count) best = &seq, best_count = n;
  if (!best || targets.empty()) return 0.0;
  return double(std::count(targets.begin(), targets.end(), *best)) / double(targets.size());
}

double train_step(tg::Tensor loss, tg::Optimizer& opt, const std::vector<tg::Tensor>& params, double clip) {
  const double value = loss.item();
  loss.backward();
  tg::clip_grad_norm(params, clip);
  opt.step();
  opt.zero_grad();
  return value;
}

}  // namespace seqtasks
