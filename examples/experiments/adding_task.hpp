#pragma once
// The adding problem (Hochreiter & Schmidhuber 1997), many-to-one: each step carries a value
// v_t ~ U(0, 1) and a marker m_t in {0, 1}; exactly two steps are marked, one in each half of
// the sequence, and the target is the sum of the two marked values. Predicting the mean (1)
// scores the variance of a sum of two U(0, 1): 2/12 ≈ 0.167.
// The model: a cell over the sequence, then a Linear head on the last hidden state.
//   T sequence length, B batch, H hidden
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <xtensor/xarray.hpp>

namespace tgexp {

constexpr double kAddingBaselineMse = 2.0 / 12.0;  // predict-the-mean MSE

struct AddingBatch {
  xt::xarray<float> x;  // [T*B, 2], row t*B + b = (v, m) of step t of sequence b
  xt::xarray<float> y;  // [B, 1], the sum of the two marked values
};

// B random sequences of length T (T >= 2) from tg's global RNG.
AddingBatch make_adding_batch(std::size_t length, std::size_t batch);

struct AddingTrainConfig {
  std::size_t length = 50;        // T
  std::size_t hidden_size = 64;   // H
  std::size_t batch = 32;         // B
  std::size_t steps = 1000;       // optimizer steps
  std::string optimizer = "adam"; // adam | sgd
  double lr = 1e-3;
  double clip = 1.0;              // max gradient norm; +inf = no clipping (the norm is still measured)
  double recurrent_scale = 1.0;   // W_hh multiplier after the default init
  std::size_t eval_every = 0;     // test MSE every N steps (0: at the end only)
  std::size_t test_size = 1000;   // held-out sequences (their own seed, the same for every cell)
  std::uint64_t seed = 0;         // init and training batches
};

struct AddingRun {
  std::vector<double> train_loss;   // [steps done] batch MSE before each update
  std::vector<double> grad_norm;    // [steps done] gradient norm before clipping
  std::vector<std::size_t> eval_step;
  std::vector<double> eval_mse;     // test MSE after eval_step[i] steps
  double test_mse = std::numeric_limits<double>::quiet_NaN();  // at the end
  bool diverged = false;            // a non-finite loss or gradient norm stopped training
  std::size_t diverged_at = 0;      // the step that produced it
  double seconds = 0;
};

// Trains cell `cell` (rnn | lstm | gru) on fresh random batches; float32.
AddingRun train_adding(const std::string& cell, const AddingTrainConfig& config);

}  // namespace tgexp
