#pragma once
// The decoder half of an encoder-decoder with attention: TokenDecoder's contract (token 0 starts
// and ends, teacher forcing for training, greedy decoding for evaluation), but every step
// attends to the encoder's outputs through tg::AttentionDecoderCell (an LSTM cell with input
// feeding and Luong's general score).
//   T decoder steps, S source steps, B batch, E embedding, H hidden, D memory width, V vocabulary
#include <vector>

#include <tapegrad/tapegrad.hpp>

#include "seq_data.hpp"

namespace seqtasks {

// What the encoder hands over: its outputs as the memory, the source mask, and its final
// state {h [B, H], c [B, H]} to start the decoder's LSTM cell from.
struct EncodedSource {
  tg::Tensor memory;    // [S, B, D]
  tg::IdTensor mask;    // [S, B], 1 = a real source step
  tg::State final_state;
};

struct AttentionDecoding {
  std::vector<Tokens> tokens;
  std::vector<xt::xarray<double>> weights;  // one [B, S] per decoder step
};

class AttentionTokenDecoder : public tg::Module {
 public:
  AttentionTokenDecoder(std::size_t vocab, std::size_t embed, std::size_t hidden, std::size_t memory);

  // Teacher forcing through tg::run_cell with the memory as the cell's context, so BPTT runs
  // through the attention: the mean cross-entropy of `targets` each followed by the end symbol.
  tg::Tensor loss(const EncodedSource& source, const std::vector<Tokens>& targets) const;
  // Greedy decoding, one step at a time, keeping each step's attention weights.
  AttentionDecoding greedy(const EncodedSource& source, std::size_t max_steps) const;

 private:
  tg::Embedding emb_;           // [V, E]
  tg::AttentionDecoderCell cell_;
  tg::Linear head_;             // [H] -> [V]
};

}  // namespace seqtasks
