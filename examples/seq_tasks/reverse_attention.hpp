#pragma once
// Experiment 9, attention and sequence length: experiment 3's string reversal at lengths 5-60,
// by an encoder-decoder without attention (the decoder starts from the encoder's final state
// and sees nothing else) and one with attention (every decoder step also attends to all the
// encoder's outputs). Same encoder, budget, optimizer and data; accuracy by length bucket.
#include <cstdint>
#include <string>
#include <vector>

#include "seq_data.hpp"

namespace seqtasks {

struct AttentionLengthConfig {
  std::size_t alphabet = 10;  // letters a.. (token ids 1..alphabet)
  std::size_t min_length = 5, max_length = 60, bucket_width = 10;
  std::size_t embed = 16, hidden = 64;  // encoder: bidirectional LSTM of hidden/2 per direction
  std::size_t batch = 32, steps = 1500;
  double lr = 3e-3, clip = 1.0;
  std::size_t eval_every = 250, eval_strings = 600;
  std::uint64_t seed = 0;
};

struct LengthBucket {
  std::size_t min_length, max_length, strings;
  double exact_match, token_accuracy;  // whole strings; positions (MatchScore::per_token)
};

struct AttentionLengthResult {
  bool attention = false;
  std::size_t parameters = 0;
  std::vector<std::size_t> curve_steps;
  std::vector<double> curve_loss;       // mean training loss since the previous point
  std::vector<double> curve_accuracy;   // token accuracy on the evaluation strings
  std::vector<LengthBucket> buckets;
  double exact_match = 0, token_accuracy = 0;
  // The longest evaluation string, its reversal as decoded, and (with attention) the weights
  // of each decoder step over the source [steps][S].
  Tokens example_source, example_output;
  std::vector<std::vector<double>> example_weights;
  double wall_seconds = 0, cpu_seconds = 0;
};

AttentionLengthResult run_reverse_attention(bool attention, const AttentionLengthConfig& config);

// The version ctest runs (and `reverse_attention --quick`), at most about a minute for both models.
AttentionLengthConfig reduced_attention_length_config();

}  // namespace seqtasks
