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

// `length` characters after `prime` (ids; may be empty: then it starts from a newline if the
// vocabulary has one, else from id 0). temperature 0 is greedy; top_k 0 means all. Draws from
// the library RNG (tg::manual_seed).
std::vector<int> sample(const CharLM& model, const std::vector<int>& prime, std::size_t length,
                        double temperature, std::size_t top_k, int fallback_start);

}  // namespace charlm
