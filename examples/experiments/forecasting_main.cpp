// forecasting: experiment 8 (next-value forecasting of a noisy multi-frequency signal). Writes
// forecasting.csv (truth, naive and every cell's forecast over the test segment) and
// forecasting.svg, prints the test MSE table.
#include <cstdio>

#include "common/cli.hpp"
#include "forecasting.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Experiment 8: next-value forecasting with RNN, LSTM and GRU vs the last-value baseline"};
  tgex::CommonFlags flags;
  tgex::add_common_flags(app, flags);
  tgexp::ForecastConfig config;
  app.add_option("--steps", config.steps, "Adam steps per cell")->check(CLI::Range(1, 10000000))->capture_default_str();
  app.add_option("--hidden", config.hidden_size, "H")->check(CLI::Range(1, 4096))->capture_default_str();
  app.add_option("--noise", config.noise, "noise sigma")->check(CLI::Range(1e-6, 100.0))->capture_default_str();
  app.add_option("--lr", config.lr, "Adam learning rate")->check(CLI::Range(1e-9, 10.0))->capture_default_str();
  return tgex::run_main(app, flags, argc, argv, [&] {
    config.seed = flags.seed;
    if (flags.quick) config.steps = 300;
    const tgexp::ForecastResult result = tgexp::run_forecasting(config);
    tgexp::forecasting_predictions(result).write_csv(flags.path("forecasting.csv"));
    tgexp::plot_forecasting(result, flags.path("forecasting.svg"));
    std::printf("next-value forecast, %zu Adam steps (lr %g) of B=%zu windows of T=%zu, H=%zu, noise sigma %g "
                "(variance %g); test = last %zu of %zu steps\n",
                config.steps, config.lr, config.batch, config.window, config.hidden_size, config.noise,
                config.noise * config.noise, config.test_length, config.length);
    tgexp::forecasting_table(result).print(stdout, 3);
    std::printf("wrote %s and %s\n", flags.path("forecasting.csv").c_str(), flags.path("forecasting.svg").c_str());
    return 0;
  });
}
