#include "reverse_strings.hpp"

#include <algorithm>

#include "recurrent_factory.hpp"
#include "token_decoder.hpp"

namespace seqtasks {
namespace {

// Embedding(A+1, E) -> encoder (masked) -> final state -> TokenDecoder. Source token 0 pads.
class Reverser : public tg::Module {
 public:
  Reverser(const std::string& cell, const ReverseConfig& c)
      : emb_(c.alphabet + 1, c.embed),
        encoder_(make_recurrent(cell, c.embed, c.hidden)),
        decoder_(cell, c.alphabet + 1, c.embed, c.hidden) {
    register_module("src_emb", emb_);
    register_module("encoder", *encoder_);
    register_module("decoder", decoder_);
  }

  // The encoder's final state, read at each string's own last letter: {h [B, H], (c [B, H])}.
  tg::State encode(const std::vector<Tokens>& strings) const {
    const PaddedBatch x = pad_time_major(strings, 0);  // [S, B]
    const tg::SequenceMask mask(x.lengths, x.ids.shape()[0]);
    return encoder_->forward(emb_(x.ids), mask).state(0);
  }
  tg::Tensor loss(const std::vector<Tokens>& strings, const std::vector<Tokens>& reversed) const {
    return decoder_.loss({encode(strings)}, reversed);
  }
  std::vector<Tokens> reverse(const std::vector<Tokens>& strings, std::size_t max_length) const {
    tg::NoGradGuard no_grad;
    return decoder_.greedy(encode(strings), strings.size(), max_length + 1);
  }

 private:
  tg::Embedding emb_;                       // [A+1, E]
  std::unique_ptr<tg::Recurrent> encoder_;
  TokenDecoder decoder_;
};

Tokens random_string(DataRng& rng, const ReverseConfig& c) {
  return random_letters(rng, c.alphabet, c.min_length, c.max_length);
}

}  // namespace

ReverseResult run_reverse_strings(const std::string& cell, const ReverseConfig& c) {
  const RunTimer timer;
  tg::manual_seed(c.seed);
  DataRng train_rng(c.seed * 2 + 1), eval_rng(c.seed * 2 + 2);  // separate streams
  std::vector<Tokens> eval_strings;
  for (std::size_t i = 0; i < c.eval_strings; ++i) eval_strings.push_back(random_string(eval_rng, c));
  const std::vector<Tokens> eval_targets = reversed_all(eval_strings);

  Reverser model(cell, c);
  const std::vector<tg::Tensor> params = model.parameters();
  tg::Adam opt(params, tg::AdamOptions(c.lr));
  ReverseResult r;
  r.cell = cell;
  r.parameters = model.parameter_count();
  std::vector<Tokens> seen_targets;  // the training strings, for the most-frequent baseline
  double window_loss = 0;
  std::size_t window = 0;
  std::vector<Tokens> predicted;  // the latest evaluation's decodings: after the last step, the final ones
  for (std::size_t step = 1; step <= c.steps; ++step) {
    std::vector<Tokens> batch;
    for (std::size_t b = 0; b < c.batch; ++b) batch.push_back(random_string(train_rng, c));
    const std::vector<Tokens> targets = reversed_all(batch);
    seen_targets.insert(seen_targets.end(), targets.begin(), targets.end());
    window_loss += train_step(model.loss(batch, targets), opt, params, c.clip);
    ++window;
    if (step % c.eval_every == 0 || step == c.steps) {
      predicted = model.reverse(eval_strings, c.max_length);
      const MatchScore s = score_predictions(predicted, eval_targets);
      r.curve.push_back({step, window_loss / double(window), s.exact, s.per_token});
      window_loss = 0;
      window = 0;
    }
  }
  const MatchScore final_score = score_predictions(predicted, eval_targets);
  r.exact_match = final_score.exact;
  r.char_accuracy = final_score.per_token;
  r.baseline = most_frequent_baseline(seen_targets, eval_targets);
  for (std::size_t len = c.min_length; len <= c.max_length; ++len) {
    std::size_t n = 0, right = 0;
    for (std::size_t i = 0; i < eval_targets.size(); ++i)
      if (eval_targets[i].size() == len) ++n, right += predicted[i] == eval_targets[i];
    r.exact_by_length.push_back(n ? double(right) / double(n) : 0.0);
  }
  r.wall_seconds = timer.wall_seconds();
  r.cpu_seconds = timer.cpu_seconds();
  return r;
}

}  // namespace seqtasks
