#pragma once
// Experiment 5, one to many: a decoder spells a word from one input vector, which sets its
// initial state (h0 = tanh(W x + b), and c0 likewise for an LSTM). Two data sets:
//   digits:  the name of a digit from its one-hot [10] ("seven"); all ten are trained and tested.
//   numbers: the name of 0..99 from a two-hot [20] = one-hot(tens) | one-hot(units)
//            ("forty two"); 20 compositional numbers (21..99, not multiples of ten) are held out,
//            so spelling them needs tens word + units word combined in a way never seen.
#include <cstdint>
#include <string>
#include <vector>

namespace seqtasks {

enum class SpellTask { digits, numbers };

struct SpellConfig {
  std::size_t embed = 16, hidden = 64;
  std::size_t digit_steps = 300, number_steps = 1500;  // full batch: every training word each step
  std::size_t held_out = 20;                           // numbers task only
  double lr = 3e-3, clip = 1.0;
  std::size_t eval_every = 25;
  std::uint64_t seed = 0;
};

struct SpellCurvePoint {
  std::size_t step;
  double train_loss;
  double train_exact, held_out_exact;  // held_out_exact is NaN for digits
};

struct SpellResult {
  std::string cell;
  SpellTask task;
  std::size_t parameters = 0;
  std::vector<SpellCurvePoint> curve;
  double train_exact = 0, train_char = 0;        // at the end
  double held_out_exact = 0, held_out_char = 0;  // numbers only
  double baseline = 0;          // always the most frequent training word: on training words (digits) or held out
  long steps_to_all_train = -1; // first evaluated step with every training word right (-1: never)
  std::vector<std::string> held_out_samples;     // "forty two -> forty two" (numbers only)
  double wall_seconds = 0, cpu_seconds = 0;  // training and evaluation
};

// The English name of n in [0, 99] ("zero", "thirteen", "forty two").
std::string number_name(std::size_t n);

SpellResult run_spell(const std::string& cell, SpellTask task, const SpellConfig& config);

// The reduced version ctest runs (and `spell_numbers --quick`).
inline SpellConfig reduced_spell_config() {
  SpellConfig c;
  c.digit_steps = 150;
  c.number_steps = 400;
  return c;
}

}  // namespace seqtasks
