#pragma once
// Helpers the sequence experiments share: a seeded data RNG, padding token sequences into
// time-first id batches, and exact-match scoring.
//   T time steps (the longest sequence), B batch
#include <chrono>
#include <cstdint>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.hpp>

namespace seqtasks {

using Tokens = std::vector<int>;

// The data generator of an experiment: std::mt19937_64 with our own integer transform, so the
// same seed gives the same data sets on every platform (the weights use tg::manual_seed).
class DataRng {
 public:
  explicit DataRng(std::uint64_t seed) : engine_(seed) {}
  // Uniform over [0, n), n >= 1 (the modulo bias is below 2^-50 for the n used here).
  std::size_t below(std::size_t n) { return std::size_t(engine_() % n); }
  // Uniform over [lo, hi].
  std::size_t between(std::size_t lo, std::size_t hi) { return lo + below(hi - lo + 1); }

 private:
  std::mt19937_64 engine_;
};

// A string of uniform length in [min_length, max_length] of letters uniform over 1..alphabet.
Tokens random_letters(DataRng& rng, std::size_t alphabet, std::size_t min_length, std::size_t max_length);
// Each string reversed (the target of experiments 3 and 9).
std::vector<Tokens> reversed_all(const std::vector<Tokens>& strings);

// Sequences of unequal length as a time-first [T, B] id array padded with `pad`, and their lengths.
struct PaddedBatch {
  xt::xarray<int> ids;               // [T, B]
  std::vector<std::size_t> lengths;  // [B]
};
PaddedBatch pad_time_major(const std::vector<Tokens>& sequences, int pad, std::size_t min_steps = 1);

// The index of the largest of row r of a [N, C] tensor (the first one on ties).
int argmax_row(const tg::Tensor& logits, std::size_t r);

// The fraction of predictions equal to their target, as whole sequences and per position
// (positions past the shorter of the two count as wrong).
struct MatchScore {
  double exact = 0, per_token = 0;
};
MatchScore score_predictions(const std::vector<Tokens>& predicted, const std::vector<Tokens>& targets);

// The fraction of `targets` equal to the most frequent sequence of `reference`: the accuracy of
// always answering that one sequence.
double most_frequent_baseline(const std::vector<Tokens>& reference, const std::vector<Tokens>& targets);

// Wall-clock and CPU seconds since construction. CPU time (this process, all threads) is what
// other jobs on a shared machine do not inflate.
class RunTimer {
 public:
  double wall_seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start_).count();
  }
  double cpu_seconds() const { return double(std::clock() - cpu_start_) / CLOCKS_PER_SEC; }

 private:
  std::chrono::steady_clock::time_point wall_start_ = std::chrono::steady_clock::now();
  std::clock_t cpu_start_ = std::clock();
};

// One optimisation step on `loss`: backward, clip the gradient norm to `clip`, step, zero the
// gradients. Returns the loss value.
double train_step(tg::Tensor loss, tg::Optimizer& opt, const std::vector<tg::Tensor>& params, double clip);

}  // namespace seqtasks
