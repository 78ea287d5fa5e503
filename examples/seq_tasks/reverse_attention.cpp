#include "reverse_attention.hpp"

#include <algorithm>
#include <memory>

#include "attention_token_decoder.hpp"
#include "token_decoder.hpp"

namespace seqtasks {
namespace {

// Embedding -> bidirectional LSTM (hidden/2 per direction, masked) -> a decoder with or without
// attention. Both decoders start from the encoder's final state, forward and reverse halves
// side by side: {h [B, H], c [B, H]}.
class LengthReverser : public tg::Module {
 public:
  LengthReverser(bool attention, const AttentionLengthConfig& c)
      : emb_(c.alphabet + 1, c.embed),
        encoder_(tg::LSTMOptions(c.embed, c.hidden / 2).bidirectional(true)) {
    register_module("src_emb", emb_);
    register_module("encoder", encoder_);
    if (attention) {
      attending_ = std::make_unique<AttentionTokenDecoder>(c.alphabet + 1, c.embed, c.hidden, c.hidden);
      register_module("decoder", *attending_);
    } else {
      plain_ = std::make_unique<TokenDecoder>("lstm", c.alphabet + 1, c.embed, c.hidden);
      register_module("decoder", *plain_);
    }
  }

  EncodedSource encode(const std::vector<Tokens>& strings) const {
    const PaddedBatch x = pad_time_major(strings, 0);  // [S, B]
    const tg::SequenceMask mask(x.lengths, x.ids.shape()[0]);
    const tg::RecurrentOutput out = encoder_(emb_(x.ids), mask);
    const tg::Direction back = tg::Direction::reverse;
    return {out.output, mask.as_ids(),  // memory [S, B, H]: zeros past each string's end
            {tg::concat({out.h(0), out.h(0, back)}, 1), tg::concat({out.c(0), out.c(0, back)}, 1)}};
  }
  tg::Tensor loss(const std::vector<Tokens>& strings, const std::vector<Tokens>& reversed) const {
    const EncodedSource source = encode(strings);
    return attending_ ? attending_->loss(source, reversed) : plain_->loss({source.final_state}, reversed);
  }
  AttentionDecoding reverse(const std::vector<Tokens>& strings, std::size_t max_length) const {
    tg::NoGradGuard no_grad;
    const EncodedSource source = encode(strings);
    if (attending_) return attending_->greedy(source, max_length + 1);
    return {plain_->greedy(source.final_state, strings.size(), max_length + 1), {}};
  }

 private:
  tg::Embedding emb_;  // [A+1, E]
  tg::LSTM encoder_;
  std::unique_ptr<TokenDecoder> plain_;
  std::unique_ptr<AttentionTokenDecoder> attending_;
};

Tokens random_string(DataRng& rng, const AttentionLengthConfig& c) {
  return random_letters(rng, c.alphabet, c.min_length, c.max_length);
}

// Decodes `strings` in batches (the evaluation set is larger than a training batch).
std::vector<Tokens> reverse_in_batches(const LengthReverser& model, const std::vector<Tokens>& strings,
                                       std::size_t batch, std::size_t max_length) {
  std::vector<Tokens> all;
  for (std::size_t i = 0; i < strings.size(); i += batch) {
    const std::vector<Tokens> part(strings.begin() + long(i), strings.begin() + long(std::min(strings.size(), i + batch)));
    const std::vector<Tokens> decoded = model.reverse(part, max_length).tokens;
    all.insert(all.end(), decoded.begin(), decoded.end());
  }
  return all;
}

std::vector<LengthBucket> by_length(const std::vector<Tokens>& predicted, const std::vector<Tokens>& targets,
                                    const AttentionLengthConfig& c) {
  std::vector<LengthBucket> buckets;
  for (std::size_t lo = c.min_length; lo <= c.max_length; lo += c.bucket_width) {
    const std::size_t hi = std::min(c.max_length, lo + c.bucket_width - 1);
    std::vector<Tokens> p, t;
    for (std::size_t i = 0; i < targets.size(); ++i)
      if (targets[i].size() >= lo && targets[i].size() <= hi) p.push_back(predicted[i]), t.push_back(targets[i]);
    const MatchScore s = score_predictions(p, t);
    buckets.push_back({lo, hi, t.size(), s.exact, s.per_token});
  }
  return buckets;
}

}  // namespace

AttentionLengthConfig reduced_attention_length_config() {
  AttentionLengthConfig c;
  c.max_length = 24;
  c.bucket_width = 5;
  c.steps = 300;
  c.eval_every = 100;
  c.eval_strings = 300;
  return c;
}

AttentionLengthResult run_reverse_attention(bool attention, const AttentionLengthConfig& c) {
  const RunTimer timer;
  tg::manual_seed(c.seed);
  DataRng train_rng(c.seed * 2 + 1), eval_rng(c.seed * 2 + 2);  // the same data for both models
  std::vector<Tokens> eval_strings;
  for (std::size_t i = 0; i < c.eval_strings; ++i) eval_strings.push_back(random_string(eval_rng, c));
  const std::vector<Tokens> eval_targets = reversed_all(eval_strings);

  LengthReverser model(attention, c);
  const std::vector<tg::Tensor> params = model.parameters();
  tg::Adam opt(params, tg::AdamOptions(c.lr));
  AttentionLengthResult r;
  r.attention = attention;
  r.parameters = model.parameter_count();
  double window_loss = 0;
  std::size_t window = 0;
  std::vector<Tokens> predicted;  // the latest evaluation's decodings: after the last step, the final ones
  for (std::size_t step = 1; step <= c.steps; ++step) {
    std::vector<Tokens> batch;
    for (std::size_t b = 0; b < c.batch; ++b) batch.push_back(random_string(train_rng, c));
    window_loss += train_step(model.loss(batch, reversed_all(batch)), opt, params, c.clip);
    ++window;
    if (step % c.eval_every == 0 || step == c.steps) {
      predicted = reverse_in_batches(model, eval_strings, 100, c.max_length);
      r.curve_steps.push_back(step);
      r.curve_loss.push_back(window_loss / double(window));
      r.curve_accuracy.push_back(score_predictions(predicted, eval_targets).per_token);
      window_loss = 0;
      window = 0;
    }
  }
  const MatchScore total = score_predictions(predicted, eval_targets);
  r.exact_match = total.exact;
  r.token_accuracy = total.per_token;
  r.buckets = by_length(predicted, eval_targets, c);
  const auto longest = std::max_element(eval_strings.begin(), eval_strings.end(),
                                        [](const Tokens& a, const Tokens& b) { return a.size() < b.size(); });
  r.example_source = *longest;
  const AttentionDecoding example = model.reverse({*longest}, c.max_length);
  r.example_output = example.tokens[0];
  for (const auto& w : example.weights) r.example_weights.emplace_back(w.begin(), w.end());  // [1, S] -> [S]
  r.wall_seconds = timer.wall_seconds();
  r.cpu_seconds = timer.cpu_seconds();
  return r;
}

}  // namespace seqtasks
