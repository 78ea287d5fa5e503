#pragma once
// Experiment 2, long-term dependencies: the adding problem (adding_task.hpp) at several lengths
// T for RNN, LSTM and GRU under one budget shared by every cell and every T: the same number of
// training tokens (so steps = tokens / (B*T)), the same optimizer, learning rate and clipping.
#include <cstdint>
#include <string>
#include <vector>

#include "adding_task.hpp"
#include "common/table.hpp"

namespace tgexp {

struct AddingProblemConfig {
  std::vector<std::size_t> lengths = {10, 25, 50, 100};
  std::vector<std::string> cells = {"rnn", "lstm", "gru"};
  std::size_t tokens = 6'400'000;  // training budget per (cell, T): steps = tokens / (batch * T)
  std::size_t evals = 10;          // test MSE this many times along the way (the learning curve)
  AddingTrainConfig train;         // hidden, batch, optimizer, lr, clip, test size, seed (length and steps are set per T)
};

struct AddingProblemCell {
  std::string cell;
  std::size_t length = 0, steps = 0;
  AddingRun run;
};

struct AddingProblemResult {
  AddingProblemConfig config;
  std::vector<AddingProblemCell> runs;  // lengths outer, cells inner
  const AddingProblemCell& at(const std::string& cell, std::size_t length) const;
};

// Prints one line per finished run to `log` (nullptr: silent).
AddingProblemResult run_adding_problem(const AddingProblemConfig& config, std::FILE* log = nullptr);

// T, steps, then the final test MSE of each cell, then the predict-the-mean baseline.
tgex::Table adding_problem_table(const AddingProblemResult& result);
// Every learning-curve point: cell, T, step, tokens, test_mse.
tgex::Table adding_problem_curves(const AddingProblemResult& result);
// One panel per T: test MSE (log) against training tokens, one line per cell, baseline dashed.
void plot_adding_problem(const AddingProblemResult& result, const std::string& svg_path);

}  // namespace tgexp
