#include "session.hpp"

#include "options.hpp"
#include "paths.hpp"

namespace charlm {

const std::string& required(const Metadata& m, const std::string& key, const std::string& path) {
  const auto it = m.find(key);
  if (it == m.end()) throw InputError(path + ": not a char_lm checkpoint (no '" + key + "' in its metadata)");
  return it->second;
}

Vocabulary stored_vocabulary(const Metadata& m, const std::string& path) {
  try {
    return Vocabulary::deserialize(required(m, "vocab", path));
  } catch (const std::invalid_argument& e) {
    throw InputError("checkpoint " + shown(path) + ": metadata 'vocab': " + e.what());
  }
}

void check_stored_shapes(const tg::CheckpointSummary& file, const ModelConfig& config, const std::string& path) {
  for (const auto& [name, shape] : config.parameter_shapes()) {
    const auto it = file.shapes.find(name);
    if (it == file.shapes.end())
      throw InputError("checkpoint " + shown(path) + " has no tensor '" + name + "', which its metadata's model needs");
    if (it->second != shape)
      throw InputError("checkpoint " + shown(path) + ": tensor '" + name + "' has shape " +
                       tg::quote_input(tg::to_string(it->second), 60) + " but the model its metadata describes needs " +
                       tg::quote_input(tg::to_string(shape), 60));
  }
}

LoadedModel load_model(const std::string& path) {
  check_readable_file("--checkpoint", path);
  LoadedModel r;
  const tg::CheckpointSummary summary = tg::read_checkpoint_summary(path);
  r.meta = summary.metadata;
  r.vocab = stored_vocabulary(r.meta, path);
  const ModelConfig config = ModelConfig::from_metadata(r.meta);
  if (config.vocab != r.vocab.size())
    throw InputError("checkpoint " + shown(path) + ": its metadata 'model.vocab' " + std::to_string(config.vocab) +
                     " differs from the stored vocabulary's " + std::to_string(r.vocab.size()) + " characters");
  check_memory(config, 1, 1);
  check_stored_shapes(summary, config, path);  // before the model is built
  r.model = std::make_unique<CharLM>(config);
  tg::load_checkpoint(path, *r.model);
  r.model->eval();  // inference: no dropout
  return r;
}

}  // namespace charlm
