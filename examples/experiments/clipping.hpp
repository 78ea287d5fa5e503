#pragma once
// Experiment 7, gradient clipping on the exploding case: the vanilla RNN with W_hh scaled as in
// experiment 1 (its gradient grows with distance) trained on the adding problem with plain SGD,
// once without clipping and once with the gradient norm clipped; everything else identical
// (init, batches, learning rate).
#include <string>

#include "adding_task.hpp"
#include "common/table.hpp"

namespace tgexp {

struct ClippingConfig {
  std::string cell = "rnn";
  double max_norm = 1.0;  // the clipped run's threshold
  AddingTrainConfig train = [] {
    AddingTrainConfig t;
    t.length = 50;
    t.steps = 1500;
    t.optimizer = "sgd";
    t.lr = 0.05;
    t.recurrent_scale = 4.0;  // experiment 1's exploding condition
    t.eval_every = 0;
    return t;
  }();
};

struct ClippingResult {
  ClippingConfig config;
  AddingRun unclipped, clipped;
};

ClippingResult run_clipping(const ClippingConfig& config);

// One row per step: step, loss and pre-clip gradient norm of both runs (empty after a divergence).
tgex::Table clipping_curves(const ClippingResult& result);
// One row per run: clipping, final test MSE, steps done, diverged, largest gradient norm, ...
tgex::Table clipping_summary(const ClippingResult& result);
// Two panels side by side: training loss and gradient norm (both log) of both runs.
void plot_clipping(const ClippingResult& result, const std::string& svg_path);

}  // namespace tgexp
