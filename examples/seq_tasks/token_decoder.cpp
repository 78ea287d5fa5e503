#include "token_decoder.hpp"

#include "recurrent_factory.hpp"

namespace seqtasks {

TokenDecoder::TokenDecoder(const std::string& cell, std::size_t vocab, std::size_t embed, std::size_t hidden)
    : emb_(vocab, embed), rnn_(make_recurrent(cell, embed, hidden)), head_(hidden, vocab) {
  register_module("emb", emb_);
  register_module("rnn", *rnn_);
  register_module("head", head_);
}

TeacherForcing teacher_forcing(const std::vector<Tokens>& targets) {
  std::vector<Tokens> inputs, outputs;
  for (const Tokens& y : targets) {
    Tokens in{kBoundary}, out = y;
    in.insert(in.end(), y.begin(), y.end());  // the last letter's input predicts the end symbol
    out.push_back(kBoundary);
    inputs.push_back(in);
    outputs.push_back(out);
  }
  PaddedBatch x = pad_time_major(inputs, kBoundary), y = pad_time_major(outputs, kBoundary);  // [T, B]
  tg::SequenceMask mask(y.lengths, y.ids.shape()[0]);
  return {std::move(x), std::move(y), std::move(mask)};
}

GreedyTokens::GreedyTokens(std::size_t batch)
    : tokens_(batch), done_(batch, false), previous_(xt::zeros<int>({batch})) {}

bool GreedyTokens::add(const tg::Tensor& logits) {
  bool all_done = true;
  for (std::size_t b = 0; b < tokens_.size(); ++b) {
    previous_(b) = argmax_row(logits, b);
    if (done_[b]) continue;
    if (previous_(b) == kBoundary) done_[b] = true;
    else tokens_[b].push_back(previous_(b));
    all_done = all_done && done_[b];
  }
  return all_done;
}

tg::Tensor TokenDecoder::loss(const std::vector<tg::State>& initial, const std::vector<Tokens>& targets) const {
  const TeacherForcing tf = teacher_forcing(targets);
  const tg::Tensor h = rnn_->forward(emb_(tf.inputs.ids), initial, tf.mask).output;  // [T, B, H]
  return tg::cross_entropy(head_(h), tf.outputs.ids, tf.mask.as_ids());               // logits [T, B, V]
}

std::vector<Tokens> TokenDecoder::greedy(const tg::State& initial, std::size_t batch, std::size_t max_steps) const {
  tg::NoGradGuard no_grad;
  const tg::Cell& cell = rnn_->cell(0);
  tg::State state = initial;
  GreedyTokens out(batch);
  for (std::size_t t = 0; t < max_steps; ++t) {
    state = cell(emb_(out.next_input()), state);  // x [B, E] -> {h [B, H], (c)}
    if (out.add(head_(state[0]))) break;          // logits [B, V]
  }
  return out.tokens();
}

}  // namespace seqtasks
