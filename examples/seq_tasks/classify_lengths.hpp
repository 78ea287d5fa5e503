#pragma once
// Experiment 4, sequence classification with variable lengths: does a string over {a, b, c, d}
// contain the pattern "abc"? Lengths 5-50 share one batch, padded to the longest. With a
// SequenceMask the recurrent state freezes at each string's own end and the classifier reads
// it there; the control runs the same model without the mask, so it reads the state after the
// padding (a pad symbol it sees as input).
#include <cstdint>
#include <string>
#include <vector>

namespace seqtasks {

struct ClassifyConfig {
  std::size_t min_length = 5, max_length = 50;
  std::size_t embed = 8, hidden = 64, batch = 32, steps = 1500;
  double lr = 3e-3, clip = 1.0;
  std::size_t eval_every = 100, eval_strings = 2000;
  std::uint64_t seed = 0;
};

struct ClassifyCurvePoint {
  std::size_t step;
  double train_loss;  // mean since the last point
  double accuracy;    // on the evaluation strings
};

struct ClassifyResult {
  std::string cell;
  bool masked = true;
  std::size_t parameters = 0;
  std::vector<ClassifyCurvePoint> curve;
  double accuracy = 0;                // at the end
  double majority_baseline = 0;       // always the majority class of the training labels
  std::vector<double> accuracy_by_length_bin;  // lengths [5,20], [21,35], [36,50]
  double wall_seconds = 0, cpu_seconds = 0;  // training and evaluation
};

// Length bins of the table: {first, last} lengths.
std::vector<std::pair<std::size_t, std::size_t>> classify_length_bins(const ClassifyConfig& config);

ClassifyResult run_classify_lengths(const std::string& cell, bool masked, const ClassifyConfig& config);

// The reduced version ctest runs (and `classify_lengths --quick`).
inline ClassifyConfig reduced_classify_config() {
  ClassifyConfig c;
  c.steps = 400;
  c.eval_strings = 500;
  return c;
}

}  // namespace seqtasks
