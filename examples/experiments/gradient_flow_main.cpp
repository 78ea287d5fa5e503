// gradient_flow: experiment 1 (vanishing/exploding gradients). Writes gradient_flow.csv (every
// distance) and gradient_flow.svg, prints a table at selected distances.
#include <cstdio>

#include "common/cli.hpp"
#include "gradient_flow.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Experiment 1: ||dL/dh_t|| vs distance for RNN, LSTM and GRU (double precision)"};
  tgex::CommonFlags flags;
  tgex::add_common_flags(app, flags);
  tgexp::GradientFlowConfig config;
  app.add_option("--steps", config.steps, "T, unrolled steps")->check(CLI::Range(2, 100000))->capture_default_str();
  app.add_option("--hidden", config.hidden_size, "H")->check(CLI::Range(1, 4096))->capture_default_str();
  app.add_option("--repeats", config.repeats, "independent inits averaged")->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--explode-scale", config.explode_scale, "W_hh multiplier of the exploding condition")
      ->check(CLI::Range(0.0, 1000.0))->capture_default_str();
  return tgex::run_main(app, flags, argc, argv, [&] {
    config.seed = flags.seed;
    // --quick changes nothing: the full experiment takes well under a second.
    const tgexp::GradientFlowResult result = tgexp::run_gradient_flow(config);
    std::vector<std::size_t> all(config.steps);
    for (std::size_t k = 0; k < all.size(); ++k) all[k] = k;
    tgexp::gradient_flow_table(result, all).write_csv(flags.path("gradient_flow.csv"));
    tgexp::plot_gradient_flow(result, flags.path("gradient_flow.svg"));
    std::printf("||dL/dh_(T-k)|| (geometric mean of %zu inits; *_scaled: W_hh x%g), T=%zu H=%zu B=%zu\n", config.repeats,
                config.explode_scale, config.steps, config.hidden_size, config.batch);
    tgexp::gradient_flow_table(result, {0, 1, 5, 10, 25, 50, 75, 99}).print(stdout, 3);
    std::printf("wrote %s and %s\n", flags.path("gradient_flow.csv").c_str(), flags.path("gradient_flow.svg").c_str());
    return 0;
  });
}
