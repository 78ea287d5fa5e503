#include "token_decoder.hpp"

#include "recurrent_factory.hpp"

namespace seqtasks {

TokenDecoder::TokenDecoder(const std::string& cell, std::size_t vocab, std::size_t embed, std::size_t hidden)
    : emb_(vocab, embed), rnn_(make_recurrent(cell, embed, hidden)), head_(hidden, vocab) {
  register_module("emb", emb_);
  register_module("rnn", *rnn_);
  register_module("head", head_);
}

tg::Tensor TokenDecoder::loss(const std::vector<tg::State>& initial, const std::vector<Tokens>& targets) const {
  // Inputs are the start symbol then the target shifted right; outputs the target then the end symbol.
  std::vector<Tokens> inputs, outputs;
  for (const Tokens& y : targets) {
    Tokens in{kBoundary}, out = y;
    in.insert(in.end(), y.begin(), y.end());  // the last letter's input predicts the end symbol
    out.push_back(kBoundary);
    inputs.push_back(in);
    outputs.push_back(out);
  }
  const PaddedBatch x = pad_time_major(inputs, kBoundary);   // [T, B]
  const PaddedBatch y = pad_time_major(outputs, kBoundary);  // [T, B]
  const tg::SequenceMask mask(y.lengths, y.ids.shape()[0]);
  const tg::Tensor h = rnn_->forward(emb_(x.ids), initial, mask).output;   // [T, B, H]
  return tg::cross_entropy(head_(h), y.ids, mask.as_ids());                 // logits [T, B, V]
}

std::vector<Tokens> TokenDecoder::greedy(const tg::State& initial, std::size_t batch, std::size_t max_steps) const {
  tg::NoGradGuard no_grad;
  const tg::Cell& cell = rnn_->cell(0);
  tg::State state = initial;
  std::vector<Tokens> out(batch);
  std::vector<bool> done(batch, false);
  xt::xarray<int> previous = xt::zeros<int>({batch});  // [B], the start symbol
  for (std::size_t t = 0; t < max_steps; ++t) {
    state = cell(emb_(previous), state);           // x [B, E] -> {h [B, H], (c)}
    const tg::Tensor logits = head_(state[0]);     // [B, V]
    bool all_done = true;
    for (std::size_t b = 0; b < batch; ++b) {
      previous(b) = argmax_row(logits, b);
      if (done[b]) continue;
      if (previous(b) == kBoundary) done[b] = true;
      else out[b].push_back(previous(b));
      all_done = all_done && done[b];
    }
    if (all_done) break;
  }
  return out;
}

}  // namespace seqtasks
