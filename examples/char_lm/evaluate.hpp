#pragma once
// Validation and sampling: run the model without recording (NoGradGuard). Put the model in
// eval mode first (no dropout).
#include <functional>
#include <stdexcept>
#include <vector>

#include "model.hpp"
#include "vocab.hpp"

namespace charlm {

// Mean cross-entropy in nats/char over every next-character prediction of `ids`, as one
// stream (batch 1) in blocks of `block` steps with the hidden state carried across blocks
// (the reference script's protocol). std::invalid_argument if ids has fewer than 2 entries.
// `stop` is asked before each block; when it says yes, evaluate throws Interrupted.
class Interrupted : public std::runtime_error {
 public:
  Interrupted() : std::runtime_error("interrupted") {}
};
double evaluate(const CharLM& model, const std::vector<int>& ids, std::size_t block = 1024,
                const std::function<bool()>& stop = {});

// ids[begin, end) as one stream: a [end - begin, 1] id tensor.
tg::IdTensor stream_column(const std::vector<int>& ids, std::size_t begin, std::size_t end);

struct SamplingOptions {
  std::size_t length = 500;  // characters per sample
  double temperature = 1.0;  // 0 is greedy
  std::size_t top_k = 0;     // 0: all ids
  double top_p = 1.0;        // nucleus: the fewest likeliest ids whose probabilities reach top_p
  std::size_t samples = 1;   // drawn side by side as one batch of streams
};

// `s.samples` texts of `s.length` ids after `prime` (ids; may be empty: then each starts from a
// newline if the vocabulary has one, else from id 0), drawn as one batch of streams from the
// library RNG (tg::manual_seed): stream n draws its step-t id right after stream n - 1's.
std::vector<std::vector<int>> sample(const CharLM& model, const std::vector<int>& prime, const SamplingOptions& s,
                                     int fallback_start);

}  // namespace charlm
