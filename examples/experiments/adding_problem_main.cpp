// adding_problem: experiment 2 (long-term dependency). Writes adding_problem.csv (the learning
// curves; the last row of each cell and T is its final test MSE) and adding_problem.svg, and
// prints the final test MSE per cell and T.
#include <cstdio>

#include "adding_problem.hpp"
#include "common/cli.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Experiment 2: the adding problem for RNN, LSTM and GRU under one token budget"};
  tgex::CommonFlags flags;
  tgex::add_common_flags(app, flags);
  tgexp::AddingProblemConfig config;
  app.add_option("--lengths", config.lengths, "sequence lengths T")->check(CLI::Range(2, 100000))->capture_default_str();
  app.add_option("--cells", config.cells, "cells (rnn, lstm, gru)")->capture_default_str();
  app.add_option("--tokens", config.tokens, "training tokens per cell and T")->capture_default_str();
  app.add_option("--hidden", config.train.hidden_size, "H")->check(CLI::Range(1, 4096))->capture_default_str();
  app.add_option("--batch", config.train.batch, "B")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--lr", config.train.lr, "Adam learning rate")->check(CLI::Range(1e-9, 10.0))->capture_default_str();
  app.add_option("--clip", config.train.clip, "max gradient norm")->check(CLI::Range(1e-9, 1e30))->capture_default_str();
  return tgex::run_main(app, flags, argc, argv, [&] {
    config.train.seed = flags.seed;
    if (flags.quick) {
      config.lengths = {50};
      config.tokens = 4'800'000;
    }
    std::printf("adding problem: %zu training tokens per cell and T, B=%zu, H=%zu, Adam lr %g, clip %g\n",
                config.tokens, config.train.batch, config.train.hidden_size, config.train.lr, config.train.clip);
    const tgexp::AddingProblemResult result = tgexp::run_adding_problem(config, stdout);
    tgexp::adding_problem_curves(result).write_csv(flags.path("adding_problem.csv"));
    tgexp::plot_adding_problem(result, flags.path("adding_problem.svg"));
    std::printf("final test MSE (predict-the-mean baseline %.4f):\n", tgexp::kAddingBaselineMse);
    tgexp::adding_problem_table(result).print(stdout, 3);
    std::printf("wrote %s and %s\n", flags.path("adding_problem.csv").c_str(), flags.path("adding_problem.svg").c_str());
    return 0;
  });
}
