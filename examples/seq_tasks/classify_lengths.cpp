#include "classify_lengths.hpp"

#include <algorithm>

#include "recurrent_factory.hpp"
#include "seq_data.hpp"

namespace seqtasks {
namespace {

constexpr int kPad = 0;                       // padding symbol; letters a..d are 1..4
constexpr std::size_t kLetters = 4;
const Tokens kPattern{1, 2, 3};               // "abc"

bool contains_pattern(const Tokens& s) {
  return std::search(s.begin(), s.end(), kPattern.begin(), kPattern.end()) != s.end();
}

// Half the strings contain the pattern (planted at a random place), half do not (redrawn until
// they do not), so the majority class is right half the time at every length.
Tokens random_example(DataRng& rng, const ClassifyConfig& c, int& label) {
  label = int(rng.below(2));
  Tokens s(rng.between(c.min_length, c.max_length));
  for (;;) {
    for (int& letter : s) letter = int(1 + rng.below(kLetters));
    if (label == 1) {
      std::copy(kPattern.begin(), kPattern.end(), s.begin() + long(rng.below(s.size() - kPattern.size() + 1)));
      return s;
    }
    if (!contains_pattern(s)) return s;
  }
}

// Embedding(5, E) -> recurrent layer -> final h [B, H] -> Linear(H, 2).
class Classifier : public tg::Module {
 public:
  Classifier(const std::string& cell, const ClassifyConfig& c)
      : emb_(kLetters + 1, c.embed), rnn_(make_recurrent(cell, c.embed, c.hidden)), head_(c.hidden, 2) {
    register_module("emb", emb_);
    register_module("rnn", *rnn_);
    register_module("head", head_);
  }
  // strings -> logits [B, 2]; with the mask, h is read at each string's own last step.
  tg::Tensor forward(const std::vector<Tokens>& strings, bool masked) const {
    const PaddedBatch x = pad_time_major(strings, kPad);  // [T, B]
    const tg::SequenceMask mask(x.lengths, x.ids.shape()[0]);
    const auto out = masked ? rnn_->forward(emb_(x.ids), mask) : rnn_->forward(emb_(x.ids));
    return head_(out.h(0));  // h [B, H] -> [B, 2]
  }

 private:
  tg::Embedding emb_;  // [5, E]
  std::unique_ptr<tg::Recurrent> rnn_;
  tg::Linear head_;    // [H] -> [2]
};

struct Examples {
  std::vector<Tokens> strings;
  std::vector<int> labels;
};

Examples draw_examples(DataRng& rng, const ClassifyConfig& c, std::size_t n) {
  Examples e;
  for (std::size_t i = 0; i < n; ++i) {
    int label = 0;
    e.strings.push_back(random_example(rng, c, label));
    e.labels.push_back(label);
  }
  return e;
}

// The predicted class of every string, in chunks of 500 under no-grad.
std::vector<int> predict(const Classifier& model, const std::vector<Tokens>& strings, bool masked) {
  tg::NoGradGuard no_grad;
  std::vector<int> out;
  for (std::size_t begin = 0; begin < strings.size(); begin += 500) {
    const std::vector<Tokens> chunk(strings.begin() + long(begin),
                                    strings.begin() + long(std::min(strings.size(), begin + 500)));
    const tg::Tensor logits = model.forward(chunk, masked);  // [b, 2]
    for (std::size_t r = 0; r < chunk.size(); ++r) out.push_back(argmax_row(logits, r));
  }
  return out;
}

double accuracy_where(const std::vector<int>& predicted, const Examples& e, std::size_t lo, std::size_t hi) {
  std::size_t n = 0, right = 0;
  for (std::size_t i = 0; i < predicted.size(); ++i)
    if (e.strings[i].size() >= lo && e.strings[i].size() <= hi) ++n, right += predicted[i] == e.labels[i];
  return n ? double(right) / double(n) : 0.0;
}

}  // namespace

std::vector<std::pair<std::size_t, std::size_t>> classify_length_bins(const ClassifyConfig& c) {
  const std::size_t width = (c.max_length - c.min_length + 1 + 2) / 3;  // three bins
  std::vector<std::pair<std::size_t, std::size_t>> bins;
  for (std::size_t lo = c.min_length; lo <= c.max_length; lo += width)
    bins.emplace_back(lo, std::min(c.max_length, lo + width - 1));
  return bins;
}

ClassifyResult run_classify_lengths(const std::string& cell, bool masked, const ClassifyConfig& c) {
  const RunTimer timer;
  tg::manual_seed(c.seed);
  DataRng train_rng(c.seed * 2 + 1), eval_rng(c.seed * 2 + 2);
  const Examples eval = draw_examples(eval_rng, c, c.eval_strings);
  Classifier model(cell, c);
  const std::vector<tg::Tensor> params = model.parameters();
  tg::Adam opt(params, tg::AdamOptions(c.lr));
  ClassifyResult r;
  r.cell = cell;
  r.masked = masked;
  r.parameters = model.parameter_count();
  std::size_t positives = 0, seen = 0;
  double window_loss = 0;
  std::size_t window = 0;
  std::vector<int> predicted;
  for (std::size_t step = 1; step <= c.steps; ++step) {
    const Examples batch = draw_examples(train_rng, c, c.batch);
    for (int y : batch.labels) positives += std::size_t(y), ++seen;
    const tg::IdTensor labels = xt::adapt(batch.labels, {batch.labels.size()});  // [B]
    window_loss += train_step(tg::cross_entropy(model.forward(batch.strings, masked), labels), opt, params, c.clip);
    ++window;
    if (step % c.eval_every == 0 || step == c.steps) {
      predicted = predict(model, eval.strings, masked);
      r.curve.push_back({step, window_loss / double(window), accuracy_where(predicted, eval, 0, c.max_length)});
      window_loss = 0;
      window = 0;
    }
  }
  r.accuracy = r.curve.back().accuracy;
  const int majority = 2 * positives >= seen ? 1 : 0;
  r.majority_baseline = double(std::count(eval.labels.begin(), eval.labels.end(), majority)) / double(eval.labels.size());
  for (const auto& [lo, hi] : classify_length_bins(c)) r.accuracy_by_length_bin.push_back(accuracy_where(predicted, eval, lo, hi));
  r.wall_seconds = timer.wall_seconds();
  r.cpu_seconds = timer.cpu_seconds();
  return r;
}

}  // namespace seqtasks
