#pragma once
// A char_lm checkpoint: the model (PyTorch names), the optimizer and schedule state, the
// carried hidden state ("extra.state.l<k>.h|c"), and metadata that makes the file enough on
// its own: the model's hyperparameters, the vocabulary, the corpus hash, the step, the RNG
// state and every training flag that shapes the trajectory.
#include <map>
#include <memory>
#include <string>

#include "model.hpp"
#include "vocab.hpp"

namespace charlm {

using Metadata = std::map<std::string, std::string>;

// The metadata value of `key`; InputError naming the checkpoint if it is missing.
const std::string& required(const Metadata& m, const std::string& key, const std::string& path);

// The vocabulary stored in a checkpoint's metadata; InputError naming the file if malformed.
Vocabulary stored_vocabulary(const Metadata& m, const std::string& path);

// InputError unless the file holds every parameter of `config` with its shape: checked before
// the model is built, so metadata that promises a huge model never allocates one.
void check_stored_shapes(const tg::CheckpointSummary& file, const ModelConfig& config, const std::string& path);

struct LoadedModel {
  Metadata meta;
  Vocabulary vocab;
  std::unique_ptr<CharLM> model;
};
// For sample and eval: the model and vocabulary of a checkpoint (the optimizer is ignored).
LoadedModel load_model(const std::string& path);

}  // namespace charlm
