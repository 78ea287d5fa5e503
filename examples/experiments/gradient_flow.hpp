#pragma once
// Experiment 1, vanishing and exploding gradients: how much of the loss's gradient reaches the
// hidden state k steps back. Each cell (same H, PyTorch init) is unrolled T steps on random
// inputs in double precision; the loss L = <u, h_T> (u a fixed random direction of unit norm,
// so ||dL/dh_T|| = 1 for every cell) is at the last step only, and ||dL/dh_t|| is read for
// every t through retain_grad(). Run with the default init and with W_hh scaled by
// `explode_scale` (chosen so that the vanilla RNN's gradient grows with distance).
//   T time, B batch, I input, H hidden
#include <cstdint>
#include <string>
#include <vector>

#include "common/table.hpp"

namespace tgexp {

struct GradientFlowConfig {
  std::size_t steps = 100;       // T
  std::size_t batch = 8;         // B random sequences per unroll
  std::size_t input_size = 16;   // I, inputs x_t ~ N(0, 1)
  std::size_t hidden_size = 64;  // H, the same for every cell
  std::size_t repeats = 5;       // independent inits; norms are averaged in log space
  double explode_scale = 4.0;    // W_hh multiplier of the second condition (x4: RNN radius ~2.3)
  std::uint64_t seed = 0;
};

struct GradientFlowCurve {
  std::string cell;                // rnn | lstm | gru
  double scale = 1;                // W_hh multiplier
  std::vector<double> norm;        // [T]: geometric mean over repeats of ||dL/dh_{T-1-k}|| at distance k
};

struct GradientFlowResult {
  GradientFlowConfig config;
  std::vector<GradientFlowCurve> curves;  // cells in cell_names() order, default init first
  // The curve of `cell` with the default init (scaled = false) or W_hh scaled.
  const GradientFlowCurve& curve(const std::string& cell, bool scaled) const;
};

GradientFlowResult run_gradient_flow(const GradientFlowConfig& config);

// One row per distance: distance, then one column per curve ("rnn", ..., "rnn_scaled", ...).
tgex::Table gradient_flow_table(const GradientFlowResult& result, const std::vector<std::size_t>& distances);
// Log-scale plot, one panel per condition, one line per cell.
void plot_gradient_flow(const GradientFlowResult& result, const std::string& svg_path);

}  // namespace tgexp
