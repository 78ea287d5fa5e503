#pragma once
// Experiment 6: RNN vs LSTM vs GRU on the character-level language model, and the TBPTT block
// length T. Each run is the real `char_lm train` binary (examples/char_lm) with the same token
// budget: steps x batch x block is equal for every run. The cell comparison uses one block
// length; the block sweep keeps batch x block constant (so every step sees the same number of
// tokens, and longer blocks mean fewer streams).
#include <cstdint>
#include <string>
#include <vector>

namespace seqtasks {

struct CharLmRun {
  std::string cell = "lstm";
  std::size_t block = 32, batch = 64;
};

struct CharLmConfig {
  std::string char_lm;  // path of the char_lm binary
  std::string data;     // UTF-8 text file
  std::string work_dir; // checkpoints and logs of the runs
  std::size_t steps = 1000, hidden = 256, embed = 64;
  std::size_t tokens_per_step = 2048;  // batch x block of every run
  std::size_t cell_block = 32;         // the block length of the cell comparison
  std::vector<std::string> cells{"rnn", "lstm", "gru"};
  std::vector<std::size_t> blocks{8, 32, 128};
  std::string block_cell = "lstm";     // the cell of the block-length sweep
  std::size_t val_every = 125;
  double lr = 2e-3, clip = 5.0;
  std::uint64_t seed = 0;
  int threads = 1;
};

struct CharLmOutcome {
  CharLmRun run;
  std::size_t parameters = 0, tokens = 0;
  double val_bpc = 0, tokens_per_s = 0;
  double train_seconds = 0;  // tokens / tokens_per_s: training only
  double wall_seconds = 0;   // the whole command, validation and start-up included
  double cpu_seconds = 0;    // CPU time of the command (user + system): what other jobs on the machine do not inflate
  std::vector<std::pair<std::size_t, double>> val_curve;  // (training tokens, validation bits/char)
};

// Runs `char_lm train` once; std::runtime_error with the command's output if it fails.
CharLmOutcome run_char_lm(const CharLmConfig& config, const CharLmRun& run);

// The runs of the experiment: every cell at cell_block, then block_cell at every block length
// (a run already made is not repeated).
std::vector<CharLmRun> char_lm_runs(const CharLmConfig& config);

// Bits per character of the validation split (char_lm's: the last `val_fraction` of the code
// points) under the training split's unigram distribution (add-one smoothing over the corpus'
// characters): what a model that ignores context achieves.
double unigram_bits_per_char(const std::string& data_path, double val_fraction = 0.1);

}  // namespace seqtasks
