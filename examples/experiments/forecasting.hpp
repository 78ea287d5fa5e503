#pragma once
// Experiment 8, time-series forecasting (synced many-to-many regression): predict the next value
// of a noisy multi-frequency signal from its past. Each cell reads x_t = s_t and predicts
// s_{t+1} at every step (a Linear head on every h_t). Trained on random windows of the first
// part of the series, tested on the rest (run as one stream, warmed up on the steps before it),
// against the naive forecast s_{t+1} ≈ s_t and the noise floor σ².
//   T window length, B batch, H hidden, N series length
#include <cstdint>
#include <string>
#include <vector>

#include "common/table.hpp"

namespace tgexp {

struct ForecastConfig {
  std::size_t length = 4000;      // N: the series
  std::size_t test_length = 1000; // its last part is the test segment
  double noise = 0.1;             // σ of the additive Gaussian noise
  std::size_t window = 50;        // T
  std::size_t batch = 32;         // B
  std::size_t hidden_size = 32;   // H
  std::size_t steps = 1500;       // Adam steps, the same for every cell
  double lr = 3e-3;
  double clip = 1.0;
  std::vector<std::string> cells = {"rnn", "lstm", "gru"};
  std::uint64_t seed = 0;
};

// s_t = Σ_k a_k sin(2π t / P_k + φ_k) + σ ε_t: three periods, phases and noise drawn from tg's RNG.
std::vector<double> make_signal(std::size_t length, double noise);

struct ForecastResult {
  ForecastConfig config;
  std::vector<double> series;                  // [N]
  std::vector<std::vector<double>> prediction; // [cell][test_length]: forecast of series[N - test + i]
  std::vector<double> test_mse;                // [cell]
  double naive_mse = 0;                        // s_{t+1} ≈ s_t on the test targets
  double test_mse_of(const std::string& cell) const;
};

ForecastResult run_forecasting(const ForecastConfig& config);

// cell, test MSE, naive MSE, ratio to naive, noise variance.
tgex::Table forecasting_table(const ForecastResult& result);
// t, truth, naive, one column per cell over the test segment.
tgex::Table forecasting_predictions(const ForecastResult& result);
// One panel per cell: truth and forecast over the first `shown` test steps.
void plot_forecasting(const ForecastResult& result, const std::string& svg_path, std::size_t shown = 200);

}  // namespace tgexp
