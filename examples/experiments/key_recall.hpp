#pragma once
// Experiment 10, what truncation cannot learn: single-key recall. A sequence is one key (of K),
// D distractors (a separate alphabet), then a query token; at the query step the model must name
// the key, and only that step is scored (chance 1/K). The same LSTM (forget-gate bias 1), init,
// batches, optimizer and number of sequences are trained twice per D: with truncated BPTT over
// blocks of k steps, and with full BPTT through tg::run_checkpointed in segments of k steps.
//
// Dimension letters: B batch, T = D + 2 steps, E embedding, H hidden, V = K + M + 1 tokens.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/table.hpp"

namespace tgexp {

struct KeyRecallConfig {
  std::vector<std::size_t> distractors = {20, 100, 400};  // D
  std::size_t keys = 8;                // K: chance is 1/K
  std::size_t distractor_tokens = 8;   // M
  std::size_t embedding = 32;          // E
  std::size_t hidden_size = 128;       // H
  // The forget gate's bias at init (b_ih's f quarter; b_hh's is 0): each is a separate set of runs.
  std::vector<double> forget_biases = {1.0, 3.0};
  std::size_t k = 50;                  // TBPTT block and checkpoint segment length
  std::size_t batch = 32;              // B
  std::size_t steps = 1500;            // Adam steps per run: steps * batch sequences seen
  double lr = 3e-3;
  double clip = 1.0;
  std::size_t test_sequences = 512;
  std::uint64_t seed = 0;
};

enum class Backprop { truncated, full };

struct KeyRecallRun {
  std::size_t distractors = 0;
  double forget_bias = 1.0;
  Backprop backprop = Backprop::truncated;
  double accuracy = 0;          // on the held-out sequences, at the query step
  double final_loss = 0;        // mean training cross-entropy over the last 10% of steps
  std::size_t peak_bytes = 0;   // the pool's high-water mark over one training step (Note [peak])
  std::size_t graph_bytes = 0;  // bytes the tape held after the forward, before backward
  double wall_seconds = 0, cpu_seconds = 0;
};

// One run: the model is initialised from config.seed, so both methods of a D start alike.
KeyRecallRun train_key_recall(const KeyRecallConfig& config, double forget_bias, std::size_t distractors,
                              Backprop backprop);

// Both methods (truncated first) at every D and forget bias of the config.
std::vector<KeyRecallRun> run_key_recall(const KeyRecallConfig& config);

// One row per run: forget bias, D, method, accuracy, chance, loss, peak and graph bytes, seconds.
tgex::Table key_recall_table(const KeyRecallConfig& config, const std::vector<KeyRecallRun>& runs);
// Accuracy against D (both methods at each forget bias, and chance) beside the peak memory against D.
void plot_key_recall(const KeyRecallConfig& config, const std::vector<KeyRecallRun>& runs, const std::string& svg_path);

}  // namespace tgexp
