// clipping: experiment 7 (gradient clipping on/off in the exploding case). Writes clipping.csv
// (loss and gradient norm per step of both runs) and clipping.svg, prints a summary.
#include <cstdio>

#include "clipping.hpp"
#include "common/cli.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Experiment 7: training the exploding RNN with and without gradient clipping"};
  tgex::CommonFlags flags;
  tgex::add_common_flags(app, flags);
  tgexp::ClippingConfig config;
  app.add_option("--cell", config.cell, "rnn, lstm or gru")->check(CLI::IsMember({"rnn", "lstm", "gru"}))->capture_default_str();
  app.add_option("--max-norm", config.max_norm, "clipping threshold")->check(CLI::Range(1e-9, 1e30))->capture_default_str();
  app.add_option("--steps", config.train.steps, "SGD steps per run")->check(CLI::Range(1, 10000000))->capture_default_str();
  app.add_option("--lr", config.train.lr, "SGD learning rate")->check(CLI::Range(1e-9, 100.0))->capture_default_str();
  app.add_option("--length", config.train.length, "adding-problem length T")->check(CLI::Range(2, 100000))->capture_default_str();
  app.add_option("--scale", config.train.recurrent_scale, "W_hh multiplier")->check(CLI::Range(0.0, 1000.0))->capture_default_str();
  return tgex::run_main(app, flags, argc, argv, [&] {
    config.train.seed = flags.seed;
    if (flags.quick) config.train.steps = 600;
    const tgexp::ClippingResult result = tgexp::run_clipping(config);
    tgexp::clipping_curves(result).write_csv(flags.path("clipping.csv"));
    tgexp::plot_clipping(result, flags.path("clipping.svg"));
    std::printf("%s with W_hh x%g on the adding problem (T=%zu), SGD lr %g, %zu steps, B=%zu, H=%zu:\n", config.cell.c_str(),
                config.train.recurrent_scale, config.train.length, config.train.lr, config.train.steps,
                config.train.batch, config.train.hidden_size);
    tgexp::clipping_summary(result).print(stdout, 3);
    std::printf("wrote %s and %s\n", flags.path("clipping.csv").c_str(), flags.path("clipping.svg").c_str());
    return 0;
  });
}
