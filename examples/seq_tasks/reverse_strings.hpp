#pragma once
// Experiment 3, sequence to sequence: an encoder-decoder learns to reverse short strings.
// The encoder reads the string (a SequenceMask freezes each string's state at its own end);
// its final state starts the decoder, which emits the string backwards and then an end symbol.
// Exact-match accuracy by greedy decoding on fresh strings, against always answering the most
// frequent training string.
#include <cstdint>
#include <string>
#include <vector>

namespace seqtasks {

struct ReverseConfig {
  std::size_t alphabet = 6;            // letters a.. (token ids 1..alphabet)
  std::size_t min_length = 1, max_length = 12;
  std::size_t embed = 16, hidden = 64, batch = 64, steps = 3000;
  double lr = 3e-3, clip = 1.0;
  std::size_t eval_every = 100, eval_strings = 1000;
  std::uint64_t seed = 0;
};

struct ReverseCurvePoint {
  std::size_t step;
  double train_loss;     // mean over the steps since the last point
  double exact_match;    // on the evaluation strings
  double char_accuracy;
};

struct ReverseResult {
  std::string cell;
  std::size_t parameters = 0;
  std::vector<ReverseCurvePoint> curve;
  double exact_match = 0, char_accuracy = 0;  // at the end
  double baseline = 0;                        // always the most frequent training string
  std::vector<double> exact_by_length;        // [max_length - min_length + 1]
  double wall_seconds = 0, cpu_seconds = 0;  // training and evaluation
};

ReverseResult run_reverse_strings(const std::string& cell, const ReverseConfig& config);

// The reduced version ctest runs (and `reverse_strings --quick`): fewer steps and strings.
inline ReverseConfig reduced_reverse_config() {
  ReverseConfig c;
  c.max_length = 8;
  c.steps = 400;
  c.eval_every = 100;
  c.eval_strings = 500;
  return c;
}

}  // namespace seqtasks
