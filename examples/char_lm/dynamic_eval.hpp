#pragma once
// Dynamic evaluation (Krause, Kahembwe, Murray and Renals 2018, "Dynamic Evaluation of Neural
// Sequence Models"): the text is read as one stream in segments of n steps, the hidden state
// carried from segment to segment; each segment is scored with the current weights, then the
// weights take one gradient step on that segment's loss, so every later segment is predicted
// by weights adapted to the text read so far. Only the model in memory changes.
//
// The update is the paper's best rule, "RMS + decay", per parameter element:
//   θ ← θ − η g / (RMS + ε) + min(1, λ RMS / mean(RMS)) (θ₀ − θ)
// g the gradient of the segment's mean loss; θ₀ the trained weights; RMS the root mean square
// of gradients of n-step segments of the training split under θ₀ (kStatStreams streams at a
// time); mean(RMS) its mean over every parameter element; ε = kEpsilon. With η = 0 the weights
// never move (θ = θ₀ makes the decay term 0), so the loss is the static one.
//   n segment length, S statistics streams, V vocabulary
#include <functional>
#include <string>
#include <vector>

#include "model.hpp"

namespace charlm {

struct DynamicSettings {
  double lr = 0;          // η
  double decay = 0;       // λ
  std::size_t block = 0;  // n
};

// Per parameter element, the RMS of training gradients under the trained weights.
struct GradientStats {
  std::vector<std::vector<float>> rms;  // one per model parameter, its numel
  double mean = 0;                      // over every element of every parameter
  std::size_t characters = 0;           // training predictions the estimate read
};

// The statistics from the first `characters` predictions of the training split (at least one
// [n, S] batch, at most the whole split), read as S contiguous streams in n-step blocks (the
// training batcher's protocol). The model's weights are not changed.
GradientStats gradient_stats(const CharLM& model, const std::vector<int>& train, std::size_t block,
                             std::size_t characters);

struct DynamicResult {
  double loss = 0;     // mean cross-entropy, nats/char, each segment scored before its step
  double seconds = 0;  // the pass, updates included
};

// Dynamic evaluation of `ids` (at least 2) from a zero state; the loss is +inf when the pass
// diverged (a segment's loss not finite or above 10 ln V). The model's weights are the
// trained ones again on return, also when `stop` (asked before each segment) ends the pass
// with Interrupted.
DynamicResult evaluate_dynamic(CharLM& model, const std::vector<int>& ids, const GradientStats& stats,
                               const DynamicSettings& s, const std::function<bool()>& stop = {});

// The search --dynamic-tune runs: η over a grid at λ = `start.decay`, then λ over a grid at
// the best η (lowest dynamic loss of `ids`; the first of equals).
struct TuneResult {
  DynamicSettings best;
  double best_loss = 0;
  std::vector<std::pair<DynamicSettings, double>> tried;  // in order
};
TuneResult tune_dynamic(CharLM& model, const std::vector<int>& ids, const GradientStats& stats,
                        const DynamicSettings& start);

}  // namespace charlm
