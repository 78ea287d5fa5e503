#pragma once
// The decoder half of an encoder-decoder: generates a token sequence from an initial recurrent
// state. Token 0 is both the start symbol fed at the first step and the end symbol it must
// emit after the last real token; tokens 1..V-1 are the symbols.
//   T decoder steps (longest target + 1), B batch, E embedding, H hidden, V vocabulary
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.hpp>

#include "seq_data.hpp"

namespace seqtasks {

constexpr int kBoundary = 0;  // start symbol (input) and end symbol (output)

// Teacher forcing's two views of `targets`: the inputs are the start symbol then the target,
// the outputs the target then the end symbol; mask marks each stream's real steps.
struct TeacherForcing {
  PaddedBatch inputs, outputs;  // [T, B] each, T = longest target + 1
  tg::SequenceMask mask;
};
TeacherForcing teacher_forcing(const std::vector<Tokens>& targets);

// Greedy decoding's bookkeeping: each step's logits [B, V] give every stream its next token
// (the argmax), which is fed back; a stream is done once it emits the end symbol.
class GreedyTokens {
 public:
  explicit GreedyTokens(std::size_t batch);
  // Takes the step's logits [B, V]; true once every stream is done.
  bool add(const tg::Tensor& logits);
  const xt::xarray<int>& next_input() const { return previous_; }  // [B], starts as the start symbol
  const std::vector<Tokens>& tokens() const { return tokens_; }

 private:
  std::vector<Tokens> tokens_;
  std::vector<bool> done_;
  xt::xarray<int> previous_;
};

class TokenDecoder : public tg::Module {
 public:
  TokenDecoder(const std::string& cell, std::size_t vocab, std::size_t embed, std::size_t hidden);

  // Teacher forcing: the mean cross-entropy of `targets` (each followed by the end symbol) given
  // the true previous tokens, from `initial` (one state of the one layer). Padded steps are
  // masked out of both the recurrence and the loss.
  tg::Tensor loss(const std::vector<tg::State>& initial, const std::vector<Tokens>& targets) const;

  // Greedy decoding, one cell step at a time (no teacher): each sequence until it emits the end
  // symbol or reaches max_steps tokens.
  std::vector<Tokens> greedy(const tg::State& initial, std::size_t batch, std::size_t max_steps) const;

  const tg::Recurrent& rnn() const { return *rnn_; }

 private:
  tg::Embedding emb_;                  // [V, E]
  std::unique_ptr<tg::Recurrent> rnn_;
  tg::Linear head_;                    // [H] -> [V]
};

}  // namespace seqtasks
